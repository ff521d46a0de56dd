//! CloudNativePG's DatabaseRole (1.30): one PostgreSQL role per CR,
//! created, altered and dropped by the operator as superuser
//! (`internal/management/controller/databaserole_controller.go` and
//! `roles/postgres.go`, v1.30.0). Its spec is a managed role's
//! (`RoleConfiguration`, as in `Cluster.spec.managed.roles[]`) plus the
//! cluster it belongs to, its reclaim policy and its client certificate.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use super::Class::{Checked, Harmless};
use super::cluster::RoleConfiguration;
use super::{CNPG_GROUP, CUD, Descriptor, Feeds, Kind, Listed, Reach};
use crate::model::cnpg::LocalObjectReference;
use crate::model::decode::{DecodeError, declared_kind, typed};
use crate::rules::id::RuleId::{ClusterIdentity, DataRetained, RoleRegistered};

pub const DESCRIPTOR: Descriptor = Descriptor {
    kind: Kind::DatabaseRole,
    group: CNPG_GROUP,
    version: "v1",
    api_version: "postgresql.cnpg.io/v1",
    name: "DatabaseRole",
    plural: "databaseroles",
    namespaced: true,
    // DELETE: with databaseRoleReclaimPolicy: delete, deleting the CR drops the role.
    operations: CUD,
    reach: Reach::Everywhere,
    fields: &[
        ("bypassrls", Checked(RoleRegistered)),
        ("clientCertificate", Checked(RoleRegistered)),
        ("cluster", Checked(ClusterIdentity)),
        ("comment", Harmless),
        ("connectionLimit", Harmless),
        ("createdb", Checked(RoleRegistered)),
        ("createrole", Checked(RoleRegistered)),
        ("databaseRoleReclaimPolicy", Checked(DataRetained)),
        // The role's own password: the role is its consumer's (checked by name).
        ("disablePassword", Harmless),
        ("ensure", Harmless),
        ("inRoles", Checked(RoleRegistered)),
        ("inherit", Harmless),
        ("login", Harmless),
        ("name", Checked(RoleRegistered)),
        ("passwordSecret", Checked(RoleRegistered)),
        ("replication", Checked(RoleRegistered)),
        ("superuser", Checked(RoleRegistered)),
        ("validUntil", Harmless),
    ],
    nested: &[],
    // Which roles it provides.
    feeds: Feeds::SharedNamespaces,
    listed: Listed::Everywhere,
    optional: true,
};

pub(super) fn decode<'de, D: serde::Deserializer<'de>>(input: D, track: bool) -> Result<DatabaseRole, DecodeError> {
    let role: DatabaseRole = typed(Kind::DatabaseRole, input, track)?;
    declared_kind(Kind::DatabaseRole, role.kind.as_deref())?;
    Ok(role)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DatabaseRole {
    /// The object's own `kind`, when it states one: checked against the
    /// request's kind after decoding, so the object is read once.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::model::lean_metadata")]
    pub metadata: ObjectMeta,
    pub spec: DatabaseRoleSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseRoleSpec {
    pub cluster: LocalObjectReference,
    /// The role: its name, flags, memberships and password Secret.
    #[serde(flatten)]
    pub role: RoleConfiguration,
    /// `retain` (default) or `delete`: deleting the CR drops the role.
    #[serde(default)]
    pub database_role_reclaim_policy: Option<String>,
    #[serde(default)]
    pub client_certificate: Option<ClientCertificate>,
}

impl DatabaseRoleSpec {
    /// `databaseRoleReclaimPolicy: delete`.
    pub fn reclaims_by_delete(&self) -> bool {
        self.database_role_reclaim_policy.as_deref() == Some("delete")
    }

    /// Whether the operator issues a client certificate for the role
    /// (`clientCertificate` present, `enabled` defaulting to true).
    pub fn issues_certificate(&self) -> bool {
        self.client_certificate.as_ref().is_some_and(|c| c.enabled.unwrap_or(true))
    }
}

/// `spec.clientCertificate`: the operator signs a certificate for the role
/// with the cluster's client CA into Secret `<name>-client-cert`
/// (`internal/controller/databaserole_pki.go`, v1.30.0).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientCertificate {
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// The Secret the operator writes a DatabaseRole's client certificate into.
pub fn client_certificate_secret(database_role: &str) -> String {
    format!("{database_role}-client-cert")
}
