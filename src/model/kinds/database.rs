//! CloudNativePG's Database: one PostgreSQL database, created and altered
//! by the operator as superuser.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::Class::{Checked, Harmless, PlatformOnly};
use super::{CNPG_GROUP, CUD, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::cnpg::LocalObjectReference;
use crate::model::print::{Print, Prints};
use crate::model::decode::{DecodeError, declared_kind, typed};
use crate::rules::id::RuleId::{ClusterIdentity, DataRetained, OwnerRegistered, TenantIsolated};

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::Database,
    group: CNPG_GROUP,
    version: "v1",
    api_version: "postgresql.cnpg.io/v1",
    name: "Database",
    plural: "databases",
    namespaced: true,
    operations: CUD,
    reach: Reach::Everywhere,
    fields: &[
        ("allowConnections", Harmless),
        ("builtinLocale", Harmless),
        ("cluster", Checked(ClusterIdentity)),
        ("collationVersion", Harmless),
        ("connectionLimit", Harmless),
        ("databaseReclaimPolicy", Checked(DataRetained)),
        ("encoding", Harmless),
        ("ensure", Checked(DataRetained)),
        ("extensions", Checked(TenantIsolated)),
        ("fdws", Checked(TenantIsolated)),
        ("icuLocale", Harmless),
        ("icuRules", Harmless),
        ("isTemplate", Checked(TenantIsolated)),
        ("locale", Harmless),
        ("localeCType", Harmless),
        ("localeCollate", Harmless),
        ("localeProvider", Harmless),
        ("name", Checked(OwnerRegistered)),
        ("owner", Checked(OwnerRegistered)),
        ("schemas", Checked(TenantIsolated)),
        ("servers", Checked(TenantIsolated)),
        ("tablespace", PlatformOnly),
        ("template", Checked(TenantIsolated)),
    ],
    nested: &[],
    // Its owner and database name: which roles own which databases.
    feeds: Feeds::SharedNamespaces,
    listed: Listed::Everywhere,
    optional: false,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<Database, DecodeError> {
    let database: Database = typed(Kind::Database, input, track)?;
    declared_kind(Kind::Database, database.kind.as_deref())?;
    Ok(database)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Database {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::model::lean_metadata")]
    pub metadata: ObjectMeta,
    pub spec: DatabaseSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSpec {
    pub name: String,
    pub owner: String,
    pub cluster: LocalObjectReference,
    #[serde(default)]
    pub ensure: Option<String>,
    #[serde(default)]
    pub database_reclaim_policy: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub is_template: Option<bool>,
    #[serde(default)]
    pub schemas: Vec<DatabaseObject>,
    #[serde(default)]
    pub extensions: Vec<DatabaseObject>,
    #[serde(default)]
    pub fdws: Vec<DatabaseObject>,
    #[serde(default)]
    pub servers: Vec<DatabaseObject>,
    #[serde(default)]
    pub tablespace: Option<String>,
}

impl Database {
    /// Each platform-only field of the inventory with the print of its
    /// value (`None`: not set).
    pub fn platform_only(&self) -> Prints {
        vec![("tablespace", self.spec.tablespace.as_ref().map(Print::of))]
    }
}

impl DatabaseSpec {
    /// `ensure: absent`: CNPG drops the database.
    pub fn is_absent(&self) -> bool {
        self.ensure.as_deref() == Some("absent")
    }

    /// `databaseReclaimPolicy: delete`: deleting the CR drops the database.
    pub fn reclaims_by_delete(&self) -> bool {
        self.database_reclaim_policy.as_deref() == Some("delete")
    }
}

/// An entry of a Database's `schemas`, `extensions`, `fdws` or `servers`:
/// the fields that decide who owns or may use it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DatabaseObject {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub ensure: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub usage: Vec<UsageGrant>,
}

impl DatabaseObject {
    pub fn is_absent(&self) -> bool {
        self.ensure.as_deref() == Some("absent")
    }
}

/// `usage[]` of an FDW or foreign server: a role granted (or revoked) use.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UsageGrant {
    #[serde(default)]
    pub name: String,
    /// `grant` (default) or `revoke`.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
}

impl UsageGrant {
    pub fn is_revoke(&self) -> bool {
        self.type_.as_deref() == Some("revoke")
    }
}
