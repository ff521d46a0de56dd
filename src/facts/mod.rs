//! Cross-object knowledge the rules need, behind one interface.
//!
//! A rule never guesses: when a fact is not available it gets
//! [`Fact::Unknown`] with a reason, and reports the check as skipped. The
//! facts live in one store (`store.rs`), with the queries written once;
//! [`live::LiveFacts`] folds kube watches into it (`serve`) and answers with
//! how fresh the watches are, [`offline::OfflineFacts`] folds a set of
//! manifests into it (`check`, `audit`, `serve --facts-from`).

pub mod live;
pub mod offline;
mod store;

use std::collections::BTreeMap;

use crate::contract::SharedCluster;
use crate::model::cnpg::ImageCatalogRef;

pub use live::LiveFacts;
pub use offline::{FactsFromError, OfflineFacts};

/// An answer, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact<T> {
    Known(T),
    /// Not available here (offline): the check is skipped and reported.
    Unknown(String),
    /// The last known answer, kept while the guard has lost sight of the
    /// cluster (a broken watch); the string says how old it is. The check
    /// uses it and says so in a warning.
    Aged(T, String),
    /// Cannot be answered safely: never synced, or a fact whose age
    /// matters (a Database that may own a role) broken for longer than
    /// allowed. The check fails closed.
    Stale(String),
}

/// What the rules may ask about the world beyond the object under review.
pub trait Facts: Send + Sync {
    /// Is `role` provided: a managed role (`ensure` not absent) of the
    /// shared Cluster, or the role of a DatabaseRole of it?
    fn role_provisioned(&self, cluster: &SharedCluster, role: &str) -> Fact<bool>;

    /// Is `role` a managed role (`ensure` not absent) of the shared
    /// Cluster's `spec.managed.roles`?
    fn role_in_cluster(&self, cluster: &SharedCluster, role: &str) -> Fact<bool>;

    /// Names (`ns/name`) of the DatabaseRoles of the shared cluster for `role`.
    fn database_roles_for(&self, cluster: &SharedCluster, role: &str) -> Fact<Vec<String>>;

    /// The role of DatabaseRole `name` in the shared cluster's namespace,
    /// if there is one.
    fn database_role(&self, cluster: &SharedCluster, name: &str) -> Fact<Option<String>>;

    /// Names (`ns/name`) of the Database CRs of the shared cluster owned by `role`.
    fn databases_owned_by(&self, cluster: &SharedCluster, role: &str) -> Fact<Vec<String>>;

    /// Names (`ns/name`) of the Database CRs of the shared cluster whose
    /// `spec.name` is `database`.
    fn database_crs_named(&self, cluster: &SharedCluster, database: &str) -> Fact<Vec<String>>;

    /// Is `value` the cluster's bootstrap password? Only a hash is compared.
    fn is_bootstrap_password(&self, cluster: &SharedCluster, value: &[u8]) -> Fact<bool>;

    /// The shared Cluster's WAL-archiving plugin entry (`spec.plugins[]`
    /// with `isWALArchiver: true`, enabled), or `None` when it has none.
    fn wal_archiver(&self, cluster: &SharedCluster) -> Fact<Option<WalArchiver>>;

    /// The image catalog the shared Cluster names (`spec.imageCatalogRef`), if any.
    fn image_catalog(&self, cluster: &SharedCluster) -> Fact<Option<ImageCatalogRef>>;
}

/// A Cluster's WAL-archiving plugin: its name and the parameters of its
/// `spec.plugins[]` entry (an object store's name, not a credential).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalArchiver {
    pub name: String,
    pub parameters: BTreeMap<String, String>,
}

/// No facts at all: every check that needs one is skipped.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFacts;

impl Facts for NoFacts {
    fn role_provisioned(&self, _: &SharedCluster, _: &str) -> Fact<bool> {
        Fact::Unknown("no live cluster facts (offline)".into())
    }
    fn role_in_cluster(&self, _: &SharedCluster, _: &str) -> Fact<bool> {
        Fact::Unknown("no live cluster facts (offline)".into())
    }
    fn database_roles_for(&self, _: &SharedCluster, _: &str) -> Fact<Vec<String>> {
        Fact::Unknown("no live cluster facts (offline)".into())
    }
    fn database_role(&self, _: &SharedCluster, _: &str) -> Fact<Option<String>> {
        Fact::Unknown("no live cluster facts (offline)".into())
    }
    fn databases_owned_by(&self, _: &SharedCluster, _: &str) -> Fact<Vec<String>> {
        Fact::Unknown("no live cluster facts (offline)".into())
    }
    fn database_crs_named(&self, _: &SharedCluster, _: &str) -> Fact<Vec<String>> {
        Fact::Unknown("no live cluster facts (offline)".into())
    }
    fn is_bootstrap_password(&self, _: &SharedCluster, _: &[u8]) -> Fact<bool> {
        Fact::Unknown("no live cluster facts (offline)".into())
    }
    fn wal_archiver(&self, _: &SharedCluster) -> Fact<Option<WalArchiver>> {
        Fact::Unknown("no live cluster facts (offline)".into())
    }
    fn image_catalog(&self, _: &SharedCluster) -> Fact<Option<ImageCatalogRef>> {
        Fact::Unknown("no live cluster facts (offline)".into())
    }
}

/// SHA-256 of a password.
fn password_hash(value: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(value).into()
}

/// A password as the guard keeps it: its length and SHA-256, never the
/// value. The length lets a candidate of another length be ruled out
/// without hashing it (a 1 MiB Secret offers thousands of candidates).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PasswordDigest {
    len: usize,
    sha256: [u8; 32],
}

impl PasswordDigest {
    pub fn of(password: &[u8]) -> Self {
        PasswordDigest {
            len: password.len(),
            sha256: password_hash(password),
        }
    }

    /// Whether `candidate` is the password.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        candidate.len() == self.len && password_hash(candidate) == self.sha256
    }
}

/// Never prints the digest: a password hash in a log invites brute force.
impl std::fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordDigest(<redacted>)")
    }
}
