//! The field inventory: every field of the CloudNativePG Cluster, Database
//! and Pooler specs (each top-level field, and each field one level below
//! `postgresql`, `managed`, `bootstrap`, `replica` and `pgbouncer`),
//! classified. A test (tests/field_inventory.rs) reads the CRD schemas and
//! fails on a field this table does not classify, so a CloudNativePG
//! upgrade that adds one cannot pass unnoticed.
//!
//! - **harmless**: no tenant gains access, and no data or service is lost,
//!   through it;
//! - **checked**: a rule reads it (which one is named);
//! - **platform-only**: on a shared cluster only the platform team sets it,
//!   in review (the Cluster CR is theirs); the guard does not judge it
//!   because every value can be legitimate, but it is listed so that a
//!   reviewer knows it hands out power.

use crate::contract::RuleId;
use crate::model::Kind;

/// How a field is covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Harmless,
    Checked(RuleId),
    PlatformOnly,
}

impl Class {
    pub fn describe(self) -> String {
        match self {
            Class::Harmless => "harmless".into(),
            Class::Checked(rule) => format!("checked ({rule})"),
            Class::PlatformOnly => "platform-only".into(),
        }
    }
}

use Class::{Checked, Harmless, PlatformOnly};
use RuleId::{
    AuthPosture, BootstrapSecretConfined, ClusterIdentity, DataRetained, NetworkPosture, OwnerRegistered,
    RoleRegistered, TenantIsolated,
};

/// `(kind, path under spec, class)`.
pub const FIELDS: &[(Kind, &str, Class)] = &[
    // Cluster
    (Kind::Cluster, "affinity", Harmless),
    (Kind::Cluster, "backup", PlatformOnly),
    (Kind::Cluster, "bootstrap", Checked(ClusterIdentity)),
    (Kind::Cluster, "bootstrap.initdb", Checked(ClusterIdentity)),
    (Kind::Cluster, "bootstrap.pg_basebackup", PlatformOnly),
    (Kind::Cluster, "bootstrap.recovery", PlatformOnly),
    (Kind::Cluster, "certificates", PlatformOnly),
    (Kind::Cluster, "description", Harmless),
    (Kind::Cluster, "enablePDB", Harmless),
    (Kind::Cluster, "enableSuperuserAccess", PlatformOnly),
    (Kind::Cluster, "env", PlatformOnly),
    (Kind::Cluster, "envFrom", PlatformOnly),
    (Kind::Cluster, "ephemeralVolumeSource", Harmless),
    (Kind::Cluster, "ephemeralVolumesSizeLimit", Harmless),
    (Kind::Cluster, "externalClusters", PlatformOnly),
    (Kind::Cluster, "failoverDelay", Harmless),
    (Kind::Cluster, "imageCatalogRef", PlatformOnly),
    (Kind::Cluster, "imageName", PlatformOnly),
    (Kind::Cluster, "imagePullPolicy", Harmless),
    (Kind::Cluster, "imagePullSecrets", Harmless),
    (Kind::Cluster, "inheritedMetadata", PlatformOnly),
    (Kind::Cluster, "instances", Harmless),
    (Kind::Cluster, "livenessProbeTimeout", Harmless),
    (Kind::Cluster, "logLevel", Harmless),
    (Kind::Cluster, "managed", Checked(RoleRegistered)),
    (Kind::Cluster, "managed.roles", Checked(RoleRegistered)),
    (Kind::Cluster, "managed.services", Checked(NetworkPosture)),
    (Kind::Cluster, "maxSyncReplicas", Harmless),
    (Kind::Cluster, "minSyncReplicas", Harmless),
    (Kind::Cluster, "monitoring", Harmless),
    (Kind::Cluster, "nodeMaintenanceWindow", Harmless),
    (Kind::Cluster, "plugins", PlatformOnly),
    (Kind::Cluster, "podSecurityContext", PlatformOnly),
    (Kind::Cluster, "postgresGID", PlatformOnly),
    (Kind::Cluster, "postgresUID", PlatformOnly),
    (Kind::Cluster, "postgresql", Checked(AuthPosture)),
    (Kind::Cluster, "postgresql.enableAlterSystem", Checked(AuthPosture)),
    (Kind::Cluster, "postgresql.extensions", PlatformOnly),
    (Kind::Cluster, "postgresql.ldap", PlatformOnly),
    (Kind::Cluster, "postgresql.parameters", PlatformOnly),
    (Kind::Cluster, "postgresql.pg_hba", Checked(AuthPosture)),
    (Kind::Cluster, "postgresql.pg_ident", Checked(AuthPosture)),
    (Kind::Cluster, "postgresql.promotionTimeout", Harmless),
    (Kind::Cluster, "postgresql.shared_preload_libraries", PlatformOnly),
    (Kind::Cluster, "postgresql.syncReplicaElectionConstraint", Harmless),
    (Kind::Cluster, "postgresql.synchronous", Harmless),
    (Kind::Cluster, "primaryUpdateMethod", Harmless),
    (Kind::Cluster, "primaryUpdateStrategy", Harmless),
    (Kind::Cluster, "priorityClassName", Harmless),
    (Kind::Cluster, "probes", Harmless),
    (Kind::Cluster, "projectedVolumeTemplate", PlatformOnly),
    (Kind::Cluster, "replica", Checked(DataRetained)),
    (Kind::Cluster, "replica.enabled", Checked(DataRetained)),
    (Kind::Cluster, "replica.minApplyDelay", Harmless),
    (Kind::Cluster, "replica.primary", Checked(DataRetained)),
    (Kind::Cluster, "replica.promotionToken", PlatformOnly),
    (Kind::Cluster, "replica.self", Checked(DataRetained)),
    (Kind::Cluster, "replica.source", PlatformOnly),
    (Kind::Cluster, "replicationSlots", Harmless),
    (Kind::Cluster, "resources", Harmless),
    (Kind::Cluster, "schedulerName", Harmless),
    (Kind::Cluster, "seccompProfile", PlatformOnly),
    (Kind::Cluster, "securityContext", PlatformOnly),
    (Kind::Cluster, "serviceAccountTemplate", PlatformOnly),
    (Kind::Cluster, "smartShutdownTimeout", Harmless),
    (Kind::Cluster, "startDelay", Harmless),
    (Kind::Cluster, "stopDelay", Harmless),
    (Kind::Cluster, "storage", PlatformOnly),
    (Kind::Cluster, "superuserSecret", PlatformOnly),
    (Kind::Cluster, "switchoverDelay", Harmless),
    (Kind::Cluster, "tablespaces", PlatformOnly),
    (Kind::Cluster, "topologySpreadConstraints", Harmless),
    (Kind::Cluster, "walStorage", PlatformOnly),
    // Database
    (Kind::Database, "allowConnections", Harmless),
    (Kind::Database, "builtinLocale", Harmless),
    (Kind::Database, "cluster", Checked(ClusterIdentity)),
    (Kind::Database, "collationVersion", Harmless),
    (Kind::Database, "connectionLimit", Harmless),
    (Kind::Database, "databaseReclaimPolicy", Checked(DataRetained)),
    (Kind::Database, "encoding", Harmless),
    (Kind::Database, "ensure", Checked(DataRetained)),
    (Kind::Database, "extensions", Checked(TenantIsolated)),
    (Kind::Database, "fdws", Checked(TenantIsolated)),
    (Kind::Database, "icuLocale", Harmless),
    (Kind::Database, "icuRules", Harmless),
    (Kind::Database, "isTemplate", Checked(TenantIsolated)),
    (Kind::Database, "locale", Harmless),
    (Kind::Database, "localeCType", Harmless),
    (Kind::Database, "localeCollate", Harmless),
    (Kind::Database, "localeProvider", Harmless),
    (Kind::Database, "name", Checked(OwnerRegistered)),
    (Kind::Database, "owner", Checked(OwnerRegistered)),
    (Kind::Database, "schemas", Checked(TenantIsolated)),
    (Kind::Database, "servers", Checked(TenantIsolated)),
    (Kind::Database, "tablespace", PlatformOnly),
    (Kind::Database, "template", Checked(TenantIsolated)),
    // Pooler
    (Kind::Pooler, "cluster", Checked(ClusterIdentity)),
    (Kind::Pooler, "deploymentStrategy", Harmless),
    (Kind::Pooler, "instances", Harmless),
    (Kind::Pooler, "monitoring", Harmless),
    (Kind::Pooler, "pgbouncer", Checked(AuthPosture)),
    (Kind::Pooler, "pgbouncer.authQuery", PlatformOnly),
    (
        Kind::Pooler,
        "pgbouncer.authQuerySecret",
        Checked(BootstrapSecretConfined),
    ),
    (Kind::Pooler, "pgbouncer.clientCASecret", PlatformOnly),
    (Kind::Pooler, "pgbouncer.clientTLSSecret", PlatformOnly),
    (Kind::Pooler, "pgbouncer.parameters", Harmless),
    (Kind::Pooler, "pgbouncer.paused", Checked(DataRetained)),
    (Kind::Pooler, "pgbouncer.pg_hba", Checked(AuthPosture)),
    (Kind::Pooler, "pgbouncer.poolMode", Harmless),
    (Kind::Pooler, "pgbouncer.serverCASecret", PlatformOnly),
    (Kind::Pooler, "pgbouncer.serverTLSSecret", PlatformOnly),
    (Kind::Pooler, "serviceTemplate", Checked(NetworkPosture)),
    (Kind::Pooler, "template", Checked(NetworkPosture)),
    (Kind::Pooler, "type", Harmless),
];

/// The fields whose children are inventoried too.
pub const NESTED: &[(Kind, &str)] = &[
    (Kind::Cluster, "postgresql"),
    (Kind::Cluster, "managed"),
    (Kind::Cluster, "bootstrap"),
    (Kind::Cluster, "replica"),
    (Kind::Pooler, "pgbouncer"),
];

/// The class of `spec.<path>` of `kind`, if the inventory has it.
pub fn class_of(kind: Kind, path: &str) -> Option<Class> {
    FIELDS
        .iter()
        .find(|(k, p, _)| *k == kind && *p == path)
        .map(|(_, _, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_is_listed_once_and_nested_parents_are_listed() {
        let mut seen = std::collections::HashSet::new();
        for (kind, path, _) in FIELDS {
            assert!(seen.insert((*kind, *path)), "{kind} spec.{path} listed twice");
        }
        for (kind, parent) in NESTED {
            assert!(class_of(*kind, parent).is_some(), "{kind} spec.{parent}");
        }
    }
}
