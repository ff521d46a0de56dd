//! The one store of facts: folded from watch events in `serve`
//! ([`super::LiveFacts`]) and from manifests in `check` and `audit`
//! ([`super::OfflineFacts`]). It keeps only what the rules ask (the present
//! managed roles, WAL-archiving plugin and image catalog of each shared
//! Cluster, the Database CRs and DatabaseRoles of each shared cluster, and
//! the SHA-256 of each bootstrap password), and answers in hash lookups.
//! Each source says how far its
//! answers can be trusted; the queries are written here once.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{PasswordDigest, WalArchiver};
use crate::contract::{Contract, SharedCluster};
use crate::model::cnpg::ImageCatalogRef;
use crate::model::kinds::database_role::DatabaseRole;
use crate::model::{Cluster, Database, Kind, Object, secret};

/// A shared cluster: (namespace, name).
pub(crate) type Key = (String, String);

pub(crate) fn key(c: &SharedCluster) -> Key {
    (c.namespace.clone(), c.name.clone())
}

/// What one DatabaseRole says that the rules ask about.
#[derive(Debug, Clone)]
struct DatabaseRoleCr {
    cluster: String,
    role: String,
}

/// What one Database CR says that the rules ask about.
#[derive(Debug, Clone)]
struct DatabaseCr {
    cluster: String,
    owner: String,
    database: String,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Store {
    /// Present managed roles of each shared Cluster seen (absent: no entry).
    roles: HashMap<Key, HashSet<String>>,
    /// The WAL-archiving plugin of each shared Cluster seen that has one.
    archivers: HashMap<Key, WalArchiver>,
    /// The `spec.imageCatalogRef` of each shared Cluster seen that has one.
    catalogs: HashMap<Key, ImageCatalogRef>,
    /// Per shared namespace: Database CR name -> what it says.
    databases: HashMap<String, HashMap<String, DatabaseCr>>,
    /// Per shared cluster: owner -> Database CRs (`ns/name`).
    owners: HashMap<Key, HashMap<String, BTreeSet<String>>>,
    /// Per shared cluster: database (`spec.name`) -> Database CRs (`ns/name`).
    names: HashMap<Key, HashMap<String, BTreeSet<String>>>,
    /// SHA-256 of each shared cluster's bootstrap password.
    bootstrap: HashMap<Key, PasswordDigest>,
    /// Per shared namespace: DatabaseRole name -> what it says.
    database_roles: HashMap<String, HashMap<String, DatabaseRoleCr>>,
    /// Per shared cluster: role -> DatabaseRoles (`ns/name`).
    role_crs: HashMap<Key, HashMap<String, BTreeSet<String>>>,
}

impl Store {
    /// An object of namespace `ns` as it is now (`None`: gone, or
    /// unreadable), from a watch or a manifest: what it says that the rules
    /// ask about is kept (see each kind's `feeds` in the table of kinds).
    pub fn put(&mut self, contract: &Contract, ns: &str, name: &str, kind: Kind, object: Option<&Object>) {
        match kind {
            Kind::Cluster => {
                if let Some(shared) = contract.cluster(ns, name) {
                    let cluster = match object {
                        Some(Object::Cluster(c)) => Some(&**c),
                        _ => None,
                    };
                    self.put_cluster(shared, cluster);
                }
            }
            Kind::Database => {
                let database = match object {
                    Some(Object::Database(d)) => Some(&**d),
                    _ => None,
                };
                self.put_database(contract, ns, name, database);
            }
            Kind::DatabaseRole => {
                let role = match object {
                    Some(Object::DatabaseRole(r)) => Some(&**r),
                    _ => None,
                };
                self.put_database_role(contract, ns, name, role);
            }
            Kind::Secret => {
                for shared in contract.clusters_in(ns).filter(|c| c.bootstrap.secret == name) {
                    let password = match object {
                        Some(Object::Secret(s)) => secret::value(s, "password"),
                        _ => None,
                    };
                    self.put_bootstrap(shared, password);
                }
            }
            // The kinds that feed no fact (their descriptors say `Feeds::Nothing`).
            _ => {}
        }
    }

    /// Forgets what the objects of `kind` in `ns` fed (a watch starting
    /// over with a full list).
    pub fn forget(&mut self, contract: &Contract, ns: &str, kind: Kind) {
        match kind {
            Kind::Cluster => self.forget_clusters(contract, ns),
            Kind::Database => self.forget_databases(contract, ns),
            Kind::DatabaseRole => {
                self.database_roles.remove(ns);
                let ours: HashSet<Key> = contract.clusters_in(ns).map(key).collect();
                self.role_crs.retain(|k, _| !ours.contains(k));
            }
            Kind::Secret => {
                for shared in contract.clusters_in(ns) {
                    self.put_bootstrap(shared, None);
                }
            }
            // The kinds that feed no fact (their descriptors say `Feeds::Nothing`).
            _ => {}
        }
    }

    /// A shared Cluster as it is now (`None`: gone, or unreadable).
    fn put_cluster(&mut self, shared: &SharedCluster, cluster: Option<&Cluster>) {
        match cluster {
            Some(c) => {
                let roles = c.present_roles().map(str::to_owned).collect();
                self.roles.insert(key(shared), roles);
                match c.wal_archiver() {
                    Some(p) => {
                        let archiver = WalArchiver {
                            name: p.name.clone(),
                            parameters: p.parameters.clone(),
                        };
                        self.archivers.insert(key(shared), archiver);
                    }
                    None => {
                        self.archivers.remove(&key(shared));
                    }
                }
                match &c.spec.image_catalog_ref {
                    Some(r) => self.catalogs.insert(key(shared), r.clone()),
                    None => self.catalogs.remove(&key(shared)),
                };
            }
            None => {
                self.roles.remove(&key(shared));
                self.archivers.remove(&key(shared));
                self.catalogs.remove(&key(shared));
            }
        }
    }

    /// Forgets the shared Clusters of namespace `ns`.
    fn forget_clusters(&mut self, contract: &Contract, ns: &str) {
        let ours: HashSet<Key> = contract.clusters_in(ns).map(key).collect();
        self.roles.retain(|k, _| !ours.contains(k));
        self.archivers.retain(|k, _| !ours.contains(k));
        self.catalogs.retain(|k, _| !ours.contains(k));
    }

    /// A Database CR of namespace `ns` as it is now (`None`: gone, or
    /// unreadable). Only CRs of a shared cluster are kept.
    fn put_database(&mut self, contract: &Contract, ns: &str, name: &str, db: Option<&Database>) {
        let id = format!("{ns}/{name}");
        if let Some(old) = self.databases.entry(ns.to_owned()).or_default().remove(name) {
            let k = (ns.to_owned(), old.cluster);
            if let Some(crs) = self.owners.get_mut(&k).and_then(|o| o.get_mut(&old.owner)) {
                crs.remove(&id);
            }
            if let Some(crs) = self.names.get_mut(&k).and_then(|n| n.get_mut(&old.database)) {
                crs.remove(&id);
            }
        }
        let Some(d) = db else { return };
        let Some(shared) = contract.cluster(ns, &d.spec.cluster.name) else {
            return;
        };
        let k = key(shared);
        self.owners
            .entry(k.clone())
            .or_default()
            .entry(d.spec.owner.clone())
            .or_default()
            .insert(id.clone());
        self.names
            .entry(k)
            .or_default()
            .entry(d.spec.name.clone())
            .or_default()
            .insert(id);
        self.databases.entry(ns.to_owned()).or_default().insert(
            name.to_owned(),
            DatabaseCr {
                cluster: d.spec.cluster.name.clone(),
                owner: d.spec.owner.clone(),
                database: d.spec.name.clone(),
            },
        );
    }

    /// A DatabaseRole of namespace `ns` as it is now (`None`: gone, or
    /// unreadable). Only DatabaseRoles of a shared cluster are kept.
    fn put_database_role(&mut self, contract: &Contract, ns: &str, name: &str, role: Option<&DatabaseRole>) {
        let id = format!("{ns}/{name}");
        if let Some(old) = self.database_roles.entry(ns.to_owned()).or_default().remove(name) {
            let k = (ns.to_owned(), old.cluster);
            if let Some(crs) = self.role_crs.get_mut(&k).and_then(|r| r.get_mut(&old.role)) {
                crs.remove(&id);
            }
        }
        let Some(r) = role else { return };
        let Some(shared) = contract.cluster(ns, &r.spec.cluster.name) else {
            return;
        };
        self.role_crs
            .entry(key(shared))
            .or_default()
            .entry(r.spec.role.name.clone())
            .or_default()
            .insert(id);
        self.database_roles.entry(ns.to_owned()).or_default().insert(
            name.to_owned(),
            DatabaseRoleCr {
                cluster: r.spec.cluster.name.clone(),
                role: r.spec.role.name.clone(),
            },
        );
    }

    /// Forgets the Database CRs of namespace `ns`.
    fn forget_databases(&mut self, contract: &Contract, ns: &str) {
        self.databases.remove(ns);
        let ours: HashSet<Key> = contract.clusters_in(ns).map(key).collect();
        self.owners.retain(|k, _| !ours.contains(k));
        self.names.retain(|k, _| !ours.contains(k));
    }

    /// The bootstrap password of `shared` (`None` or empty: unknown). Only
    /// its hash is kept.
    fn put_bootstrap(&mut self, shared: &SharedCluster, password: Option<&[u8]>) {
        match password.filter(|p| !p.is_empty()) {
            Some(pw) => {
                self.bootstrap.insert(key(shared), PasswordDigest::of(pw));
            }
            None => {
                self.bootstrap.remove(&key(shared));
            }
        }
    }

    /// Whether the store has seen the shared Cluster itself.
    pub fn knows_cluster(&self, cluster: &SharedCluster) -> bool {
        self.roles.contains_key(&key(cluster))
    }

    /// Is `role` a present managed role of the shared Cluster?
    pub fn role_in_cluster(&self, cluster: &SharedCluster, role: &str) -> bool {
        self.roles.get(&key(cluster)).is_some_and(|r| r.contains(role))
    }

    /// The DatabaseRoles (`ns/name`) of the shared cluster for `role`.
    pub fn database_roles_for(&self, cluster: &SharedCluster, role: &str) -> Vec<String> {
        Self::listed(&self.role_crs, cluster, role)
    }

    /// The role of DatabaseRole `name` in the shared cluster's namespace.
    pub fn database_role(&self, cluster: &SharedCluster, name: &str) -> Option<String> {
        self.database_roles
            .get(&cluster.namespace)
            .and_then(|r| r.get(name))
            .filter(|r| r.cluster == cluster.name)
            .map(|r| r.role.clone())
    }

    /// The WAL-archiving plugin of the shared Cluster (`None`: it has none,
    /// or the store has not seen it: ask [`Store::knows_cluster`]).
    pub fn wal_archiver(&self, cluster: &SharedCluster) -> Option<WalArchiver> {
        self.archivers.get(&key(cluster)).cloned()
    }

    /// The image catalog the shared Cluster names (`spec.imageCatalogRef`).
    pub fn image_catalog(&self, cluster: &SharedCluster) -> Option<ImageCatalogRef> {
        self.catalogs.get(&key(cluster)).cloned()
    }

    /// The Database CRs (`ns/name`) of the shared cluster owned by `role`.
    pub fn databases_owned_by(&self, cluster: &SharedCluster, role: &str) -> Vec<String> {
        Self::listed(&self.owners, cluster, role)
    }

    /// The Database CRs (`ns/name`) of the shared cluster for `database`.
    pub fn database_crs_named(&self, cluster: &SharedCluster, database: &str) -> Vec<String> {
        Self::listed(&self.names, cluster, database)
    }

    /// Whether `value` is the bootstrap password, if the store knows it.
    pub fn is_bootstrap_password(&self, cluster: &SharedCluster, value: &[u8]) -> Option<bool> {
        self.bootstrap.get(&key(cluster)).map(|d| d.matches(value))
    }

    fn listed(index: &HashMap<Key, HashMap<String, BTreeSet<String>>>, c: &SharedCluster, by: &str) -> Vec<String> {
        index
            .get(&key(c))
            .and_then(|i| i.get(by))
            .map(|crs| crs.iter().cloned().collect())
            .unwrap_or_default()
    }
}
