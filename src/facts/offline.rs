//! Facts taken from a set of manifests: the desired state that `check`
//! sees in a repository.
//!
//! A fact about a shared cluster is known only when the set holds that
//! cluster's own manifest (the platform repository is then being checked as a
//! whole); otherwise it is unknown and the checks that need it are skipped.

use std::collections::{HashMap, HashSet};

use super::{Fact, Facts, PasswordDigest};
use crate::contract::{Contract, SharedCluster};
use crate::manifests::{self, Unreadable};

/// Why `serve --facts-from` cannot start: a fact silently missing would
/// switch a check off, so nothing unreadable is ignored.
#[derive(Debug, thiserror::Error)]
pub enum FactsFromError {
    #[error("--facts-from: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Unreadable(Vec<Unreadable>),
    #[error("--facts-from {0}: no Kubernetes objects found")]
    Empty(String),
}
use crate::model::{Object, secret};

type Key = (String, String);

#[derive(Debug, Default, Clone)]
pub struct OfflineFacts {
    /// Shared clusters whose manifest is in the set, with their present roles.
    roles: HashMap<Key, HashSet<String>>,
    /// Database owners per shared cluster: role -> Database CRs.
    owners: HashMap<Key, HashMap<String, Vec<String>>>,
    /// Database CRs per shared cluster and database name.
    names: HashMap<Key, HashMap<String, Vec<String>>>,
    /// SHA-256 of the bootstrap password, where the set holds it.
    bootstrap: HashMap<Key, PasswordDigest>,
}

fn key(c: &SharedCluster) -> Key {
    (c.namespace.clone(), c.name.clone())
}

impl OfflineFacts {
    /// Facts from the manifests at `path` (a file or directory), as
    /// `serve --facts-from` reads them: the facts and how many objects were
    /// read. Any input or object that cannot be read is an error.
    pub fn from_manifests(path: &std::path::Path, contract: &Contract) -> Result<(Self, usize), FactsFromError> {
        let inputs = manifests::read_all(&[path.display().to_string()]);
        let mut unreadable: Vec<Unreadable> = inputs.unreadable.iter().map(Unreadable::from).collect();
        let objects = inputs.object_count();
        let decoded = manifests::decode(inputs.documents, "default");
        unreadable.extend(decoded.errors);
        if !unreadable.is_empty() {
            return Err(FactsFromError::Unreadable(unreadable));
        }
        if objects == 0 {
            return Err(FactsFromError::Empty(path.display().to_string()));
        }
        let facts = OfflineFacts::from_objects(
            contract,
            decoded.objects.iter().map(|o| (o.namespace.as_str(), &o.object)),
        );
        Ok((facts, objects))
    }

    /// Builds facts from `(namespace, object)` pairs.
    pub fn from_objects<'a>(contract: &Contract, objects: impl IntoIterator<Item = (&'a str, &'a Object)>) -> Self {
        let mut facts = OfflineFacts::default();
        for (namespace, object) in objects {
            let name = object.metadata().name.as_deref().unwrap_or_default();
            match object {
                Object::Cluster(c) => {
                    if let Some(shared) = contract.cluster(namespace, name) {
                        let roles = c.present_roles().map(str::to_owned).collect();
                        facts.roles.insert(key(shared), roles);
                    }
                }
                Object::Database(d) => {
                    if let Some(shared) = contract.cluster(namespace, &d.spec.cluster.name) {
                        facts
                            .names
                            .entry(key(shared))
                            .or_default()
                            .entry(d.spec.name.clone())
                            .or_default()
                            .push(format!("{namespace}/{name}"));
                        facts
                            .owners
                            .entry(key(shared))
                            .or_default()
                            .entry(d.spec.owner.clone())
                            .or_default()
                            .push(format!("{namespace}/{name}"));
                    }
                }
                Object::Secret(s) => {
                    for shared in contract.clusters_in(namespace) {
                        if shared.bootstrap.secret == name
                            && let Some(pw) = secret::value(s, "password").filter(|p| !p.is_empty())
                        {
                            facts.bootstrap.insert(key(shared), PasswordDigest::of(pw));
                        }
                    }
                }
                _ => {}
            }
        }
        facts
    }

    fn unknown_cluster(cluster: &SharedCluster) -> String {
        format!(
            "the Cluster manifest {}/{} is not among the checked files",
            cluster.namespace, cluster.name
        )
    }
}

impl Facts for OfflineFacts {
    fn role_provisioned(&self, cluster: &SharedCluster, role: &str) -> Fact<bool> {
        match self.roles.get(&key(cluster)) {
            Some(roles) => Fact::Known(roles.contains(role)),
            None => Fact::Unknown(Self::unknown_cluster(cluster)),
        }
    }

    fn databases_owned_by(&self, cluster: &SharedCluster, role: &str) -> Fact<Vec<String>> {
        if !self.roles.contains_key(&key(cluster)) {
            return Fact::Unknown(Self::unknown_cluster(cluster));
        }
        Fact::Known(
            self.owners
                .get(&key(cluster))
                .and_then(|o| o.get(role))
                .cloned()
                .unwrap_or_default(),
        )
    }

    /// The other manifests of the set are what `check` can know: a
    /// duplicate among them is one, whether or not the Cluster is there.
    fn database_crs_named(&self, cluster: &SharedCluster, database: &str) -> Fact<Vec<String>> {
        Fact::Known(
            self.names
                .get(&key(cluster))
                .and_then(|n| n.get(database))
                .cloned()
                .unwrap_or_default(),
        )
    }

    fn is_bootstrap_password(&self, cluster: &SharedCluster, value: &[u8]) -> Fact<bool> {
        match self.bootstrap.get(&key(cluster)) {
            Some(digest) => Fact::Known(digest.matches(value)),
            None => Fact::Unknown(format!(
                "the bootstrap Secret {}/{} with a password is not among the checked files",
                cluster.namespace, cluster.bootstrap.secret
            )),
        }
    }
}
