//! Facts taken from a set of manifests: the desired state that `check`
//! sees in a repository.
//!
//! A fact about a shared cluster is known only when the set holds that
//! cluster's own manifest (the platform repository is then being checked as a
//! whole); otherwise it is unknown and the checks that need it are skipped.

use super::store::Store;
use super::{Fact, Facts, WalArchiver};
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
use crate::model::Object;

#[derive(Debug, Default, Clone)]
pub struct OfflineFacts {
    store: Store,
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
        let mut store = Store::default();
        for (namespace, object) in objects {
            let name = object.metadata().name.as_deref().unwrap_or_default();
            store.put(contract, namespace, name, object.kind(), Some(object));
        }
        OfflineFacts { store }
    }

    fn unknown_cluster(cluster: &SharedCluster) -> String {
        format!(
            "the Cluster manifest {}/{} is not among the checked files",
            cluster.namespace, cluster.name
        )
    }
}

impl Facts for OfflineFacts {
    /// A DatabaseRole among the manifests provides its role whether or not
    /// the Cluster is there (a consumer's own repository holds its
    /// DatabaseRole, not the Cluster).
    fn role_provisioned(&self, cluster: &SharedCluster, role: &str) -> Fact<bool> {
        if !self.store.database_roles_for(cluster, role).is_empty() {
            return Fact::Known(true);
        }
        if !self.store.knows_cluster(cluster) {
            return Fact::Unknown(Self::unknown_cluster(cluster));
        }
        Fact::Known(self.store.role_in_cluster(cluster, role))
    }

    fn role_in_cluster(&self, cluster: &SharedCluster, role: &str) -> Fact<bool> {
        if !self.store.knows_cluster(cluster) {
            return Fact::Unknown(Self::unknown_cluster(cluster));
        }
        Fact::Known(self.store.role_in_cluster(cluster, role))
    }

    fn database_roles_for(&self, cluster: &SharedCluster, role: &str) -> Fact<Vec<String>> {
        Fact::Known(self.store.database_roles_for(cluster, role))
    }

    fn database_role(&self, cluster: &SharedCluster, name: &str) -> Fact<Option<String>> {
        Fact::Known(self.store.database_role(cluster, name))
    }

    fn databases_owned_by(&self, cluster: &SharedCluster, role: &str) -> Fact<Vec<String>> {
        if !self.store.knows_cluster(cluster) {
            return Fact::Unknown(Self::unknown_cluster(cluster));
        }
        Fact::Known(self.store.databases_owned_by(cluster, role))
    }

    /// The other manifests of the set are what `check` can know: a
    /// duplicate among them is one, whether or not the Cluster is there.
    fn database_crs_named(&self, cluster: &SharedCluster, database: &str) -> Fact<Vec<String>> {
        Fact::Known(self.store.database_crs_named(cluster, database))
    }

    fn wal_archiver(&self, cluster: &SharedCluster) -> Fact<Option<WalArchiver>> {
        if !self.store.knows_cluster(cluster) {
            return Fact::Unknown(Self::unknown_cluster(cluster));
        }
        Fact::Known(self.store.wal_archiver(cluster))
    }

    fn image_catalog(&self, cluster: &SharedCluster) -> Fact<Option<crate::model::cnpg::ImageCatalogRef>> {
        if !self.store.knows_cluster(cluster) {
            return Fact::Unknown(Self::unknown_cluster(cluster));
        }
        Fact::Known(self.store.image_catalog(cluster))
    }

    fn is_bootstrap_password(&self, cluster: &SharedCluster, value: &[u8]) -> Fact<bool> {
        match self.store.is_bootstrap_password(cluster, value) {
            Some(known) => Fact::Known(known),
            None => Fact::Unknown(format!(
                "the bootstrap Secret {}/{} with a password is not among the checked files",
                cluster.namespace, cluster.bootstrap.secret
            )),
        }
    }
}
