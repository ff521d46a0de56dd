//! The stable rule ids: they appear in messages, metrics, decision records
//! and the contract's mode overrides. This file imports nothing of the
//! crate, so the contract (which maps an id to a mode) and the table of
//! kinds (whose field inventory names the rule that checks a field) can
//! name a rule without depending on the rules.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A rule's id; each rule's file (`rules/<id>.rs`) declares its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleId {
    ClusterIdentity,
    RoleRegistered,
    OwnerRegistered,
    BootstrapSecretConfined,
    ClientLabelRegistered,
    NetworkPosture,
    TenantIsolated,
    AuthPosture,
    BackupConfined,
    DataRetained,
    ImageAllowed,
    TenantScoped,
    PlatformOnly,
}

impl RuleId {
    pub const ALL: [RuleId; 13] = [
        RuleId::ClusterIdentity,
        RuleId::RoleRegistered,
        RuleId::OwnerRegistered,
        RuleId::BootstrapSecretConfined,
        RuleId::ClientLabelRegistered,
        RuleId::NetworkPosture,
        RuleId::TenantIsolated,
        RuleId::AuthPosture,
        RuleId::BackupConfined,
        RuleId::DataRetained,
        RuleId::ImageAllowed,
        RuleId::TenantScoped,
        RuleId::PlatformOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::ClusterIdentity => "cluster-identity",
            RuleId::RoleRegistered => "role-registered",
            RuleId::OwnerRegistered => "owner-registered",
            RuleId::BootstrapSecretConfined => "bootstrap-secret-confined",
            RuleId::ClientLabelRegistered => "client-label-registered",
            RuleId::NetworkPosture => "network-posture",
            RuleId::TenantIsolated => "tenant-isolated",
            RuleId::AuthPosture => "auth-posture",
            RuleId::BackupConfined => "backup-confined",
            RuleId::DataRetained => "data-retained",
            RuleId::ImageAllowed => "image-allowed",
            RuleId::TenantScoped => "tenant-scoped",
            RuleId::PlatformOnly => "platform-only",
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
