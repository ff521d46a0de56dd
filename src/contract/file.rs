//! The contract file as written by people: field names are an interface
//! (docs/contract.md, "The file"), so they are spelled exactly here and
//! unknown fields are refused rather than silently ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::RuleId;
use crate::contract::Mode;

pub const API_VERSION: &str = "cnpg-guard.railiance.io/v1alpha1";
pub const KIND: &str = "Contract";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContractFile {
    pub api_version: String,
    pub kind: String,
    pub shared_clusters: Vec<SharedClusterFile>,
    #[serde(default)]
    pub break_glass: Option<BreakGlassFile>,
    #[serde(default)]
    pub exempt_users: Option<Vec<String>>,
    /// Who administers the shared clusters (default: the break-glass groups).
    #[serde(default)]
    pub platform: Option<SubjectsFile>,
    /// What requesters neither the platform, a controller nor a consumer's
    /// subject may write of the consumers' objects (default `deny`).
    #[serde(default)]
    pub unknown_requesters: Option<super::UnknownRequesters>,
    #[serde(default)]
    pub rules: BTreeMap<RuleId, Mode>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharedClusterFile {
    pub name: String,
    pub namespace: String,
    #[serde(default)]
    pub identity_label: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub bootstrap: Option<BootstrapFile>,
    #[serde(default)]
    pub client_label: Option<String>,
    #[serde(default)]
    pub operator_namespace: Option<String>,
    #[serde(default)]
    pub default_deny_policy: Option<String>,
    #[serde(default)]
    pub baseline_policies: Option<Vec<String>>,
    #[serde(default)]
    pub allowed_extensions: Option<Vec<String>>,
    /// Where the images that run with the cluster's data may come from.
    #[serde(default)]
    pub allowed_images: Option<Vec<String>>,
    /// Secrets the Cluster's `spec.certificates` may name besides the ones
    /// CloudNativePG generates for it.
    #[serde(default)]
    pub allowed_certificate_secrets: Option<Vec<String>>,
    /// The LDAP and RADIUS servers pg_hba `ldap`/`radius` lines and
    /// `spec.postgresql.ldap` may name (default none).
    #[serde(default)]
    pub auth_servers: Option<Vec<String>>,
    pub consumers: Vec<ConsumerFile>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootstrapFile {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsumerFile {
    pub namespace: String,
    pub role: String,
    pub databases: Vec<String>,
    #[serde(default)]
    pub member_of: Vec<String>,
    /// The role's password Secret in the shared namespace, when it is not
    /// `<cluster>-role-<role>` (what `onboard` writes).
    #[serde(default)]
    pub password_secret: Option<String>,
    /// Whether Publications and Subscriptions may be made in this
    /// consumer's databases (default false).
    #[serde(default)]
    pub logical_replication: bool,
    /// Who writes on this consumer's behalf (its GitOps identity).
    #[serde(default)]
    pub subjects: Option<SubjectsFile>,
}

/// Requesters as the API server names them: users, groups, and
/// ServiceAccounts as `namespace:name`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubjectsFile {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub service_accounts: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakGlassFile {
    #[serde(default)]
    pub annotation: Option<String>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}
