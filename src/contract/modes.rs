//! The stable rule ids and the modes a contract sets per rule id.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a rule's violations are acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny the request.
    #[default]
    Enforce,
    /// Allow, and return an admission warning.
    Warn,
    /// Allow, and record only.
    Audit,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        }
    }
}

/// The stable rule ids: they appear in messages, metrics, decision records and
/// mode overrides.
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
    DataRetained,
}

impl RuleId {
    pub const ALL: [RuleId; 9] = [
        RuleId::ClusterIdentity,
        RuleId::RoleRegistered,
        RuleId::OwnerRegistered,
        RuleId::BootstrapSecretConfined,
        RuleId::ClientLabelRegistered,
        RuleId::NetworkPosture,
        RuleId::TenantIsolated,
        RuleId::AuthPosture,
        RuleId::DataRetained,
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
            RuleId::DataRetained => "data-retained",
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
