//! The contract: which clusters are shared, who may use them, and how each
//! rule is enforced. Loaded once (file or embedded default), validated, and
//! compiled into hash indexes so that no rule scans a list on the hot path.

mod file;
mod load;
mod modes;

use std::collections::{BTreeMap, HashMap, HashSet};

pub use crate::rules::id::RuleId;
pub use file::{API_VERSION, ContractFile, KIND};
pub use load::{ContractError, EMBEDDED_CONTRACT, load, load_file, parse};
pub use modes::Mode;

/// A platform-approved consumer of a shared cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub namespace: String,
    pub role: String,
    pub databases: Vec<String>,
    /// Role memberships the platform grants this consumer (`inRoles` may
    /// name only these).
    pub member_of: Vec<String>,
    /// The role's password Secret in the shared namespace, when the contract
    /// names one (else `<cluster>-role-<role>`, see [`role_secret_name`]).
    pub password_secret: Option<String>,
    /// Publications and Subscriptions may be made in its databases
    /// (the contract's `logicalReplication`, default false).
    pub logical_replication: bool,
    /// Who writes on its behalf.
    pub subjects: Subjects,
}

/// Requesters: user names (a ServiceAccount as
/// `system:serviceaccount:<namespace>:<name>`, as the API server names it)
/// and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subjects {
    pub users: HashSet<String>,
    pub groups: HashSet<String>,
}

impl Subjects {
    /// Whether a requester with `username` and `groups` is one of these.
    pub fn matches(&self, username: &str, groups: &[String]) -> bool {
        self.users.contains(username) || groups.iter().any(|g| self.groups.contains(g))
    }
}

/// Who asks, as the contract knows them (what records name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Identity {
    /// A platform subject: administers the shared clusters.
    Platform,
    /// One of the cluster's own controllers: an exempt user (the CNPG
    /// operator) or one of Kubernetes' ([`KUBERNETES_CONTROLLERS`]).
    Controller,
    /// A subject of the consumer of this namespace.
    Consumer(String),
    /// None of these.
    #[default]
    Unknown,
}

impl Identity {
    /// `platform`, `controller`, `consumer: <namespace>` or `unknown`: how
    /// records and audit annotations name it.
    pub fn label(&self) -> String {
        match self {
            Identity::Platform => "platform".into(),
            Identity::Controller => "controller".into(),
            Identity::Consumer(ns) => format!("consumer: {ns}"),
            Identity::Unknown => "unknown".into(),
        }
    }
}

/// Who asks, as the identity rules (tenant-scoped, platform-only) see it:
/// [`Identity`], with the consumer itself, and [`Requester::Nobody`] for a
/// judgment without a request.
#[derive(Debug, Clone, Copy)]
pub enum Requester<'a> {
    /// No request: `check` without `--as` (judged as the platform),
    /// `audit`, the ratchet's look at the old object. Identity rules do not
    /// apply.
    Nobody,
    Platform,
    Controller,
    Consumer(&'a Consumer),
    Unknown,
}

impl Requester<'_> {
    /// What records name: nobody is judged as the platform.
    pub fn identity(self) -> Identity {
        match self {
            Requester::Nobody | Requester::Platform => Identity::Platform,
            Requester::Controller => Identity::Controller,
            Requester::Consumer(k) => Identity::Consumer(k.namespace.clone()),
            Requester::Unknown => Identity::Unknown,
        }
    }
}

/// Kubernetes' own controllers that write in every namespace: the garbage
/// collector and the namespace controller (deleting what their owner or
/// namespace took with it), as kube-controller-manager names them with
/// `--use-service-account-credentials`, and kube-controller-manager's own
/// user without it. No identity rule locks them out.
pub const KUBERNETES_CONTROLLERS: &[&str] = &[
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:serviceaccount:kube-system:namespace-controller",
    "system:kube-controller-manager",
];

/// The group whose members Kubernetes never asks RBAC about: always the
/// platform's (they could delete the webhook configuration anyway).
pub const SYSTEM_MASTERS: &str = "system:masters";

/// What a requester that is neither the platform, a controller nor a
/// consumer's subject may write of the consumers' objects in the shared
/// namespaces (the contract's `unknownRequesters`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownRequesters {
    /// Nothing: no write in a shared namespace can be tied to a tenant
    /// unless its identity is registered (the default).
    #[default]
    Deny,
    /// What the value rules allow: for a contract whose consumers have no
    /// `subjects` yet.
    Allow,
}

impl Consumer {
    /// The name of this consumer role's own password Secret in the shared
    /// namespace of `cluster`: the contract's `passwordSecret`, else what
    /// `onboard` writes.
    pub fn role_secret(&self, cluster: &str) -> String {
        self.password_secret
            .clone()
            .unwrap_or_else(|| role_secret_name(cluster, &self.role))
    }
}

/// The bootstrap identity of a shared cluster (`spec.bootstrap.initdb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    pub role: String,
    pub database: String,
    pub secret: String,
}

/// One shared cluster with its defaults resolved and its registry indexed.
#[derive(Debug, Clone)]
pub struct SharedCluster {
    pub name: String,
    pub namespace: String,
    pub identity_label: BTreeMap<String, String>,
    pub bootstrap: Bootstrap,
    pub client_label: String,
    pub operator_namespace: String,
    pub default_deny_policy: String,
    pub baseline_policies: Vec<String>,
    /// Extensions a Database CR may create (CNPG creates them as superuser).
    pub allowed_extensions: HashSet<String>,
    /// Where the images that run with the cluster's data may come from:
    /// canonical registry, path or repository prefixes
    /// ([`crate::names::image_prefix`]).
    pub allowed_images: Vec<String>,
    /// Secrets `spec.certificates` may name besides the ones CloudNativePG
    /// generates for the cluster (`allowedCertificateSecrets`).
    pub allowed_certificate_secrets: Vec<String>,
    /// The LDAP and RADIUS servers authentication may be delegated to
    /// (`authServers`), lower case; empty: none.
    pub auth_servers: Vec<String>,
    pub consumers: Vec<Consumer>,
    by_role: HashMap<String, usize>,
    by_namespace: HashMap<String, usize>,
}

impl SharedCluster {
    /// The registered consumer that owns `role`, if any.
    pub fn consumer_by_role(&self, role: &str) -> Option<&Consumer> {
        self.by_role.get(role).map(|&i| &self.consumers[i])
    }

    /// The registered consumer that lives in `namespace`, if any.
    pub fn consumer_by_namespace(&self, namespace: &str) -> Option<&Consumer> {
        self.by_namespace.get(namespace).map(|&i| &self.consumers[i])
    }

    /// The CNPG-generated superuser Secret (`<cluster>-superuser`).
    pub fn superuser_secret(&self) -> String {
        format!("{}-superuser", self.name)
    }

    /// Whether `name` is a Secret CloudNativePG generates for this cluster
    /// (`-superuser`, `-app`, `-replication`, `-ca`, `-server`) or the
    /// bootstrap Secret: credentials that never leave the shared namespace.
    pub fn is_cluster_secret(&self, name: &str) -> bool {
        name == self.bootstrap.secret
            || name
                .strip_prefix(self.name.as_str())
                .is_some_and(|rest| matches!(rest, "-superuser" | "-app" | "-replication" | "-ca" | "-server"))
    }

    /// The consumer whose role's password Secret is `name` in the shared
    /// namespace (the contract's `passwordSecret`, else `<cluster>-role-<role>`,
    /// as `onboard` writes it).
    pub fn consumer_by_role_secret(&self, name: &str) -> Option<&Consumer> {
        if let Some(c) = self
            .consumers
            .iter()
            .find(|c| c.password_secret.as_deref() == Some(name))
        {
            return Some(c);
        }
        let role = name.strip_prefix(self.name.as_str())?.strip_prefix("-role-")?;
        self.consumers
            .iter()
            .find(|c| c.password_secret.is_none() && role_secret_suffix_matches(&c.role, role))
    }

    /// Whether `image` (a reference as a pod spec holds it) comes from one
    /// of [`SharedCluster::allowed_images`]; an invalid reference never does.
    pub fn allows_image(&self, image: &str) -> bool {
        crate::names::image_repository(image)
            .is_some_and(|repo| self.allowed_images.iter().any(|p| crate::names::image_under(&repo, p)))
    }

    /// Whether `spec.certificates.<field>` may name `secret`: the Secret
    /// CloudNativePG generates for that field (`<cluster>-ca` for
    /// `serverCASecret` and `clientCASecret`, `<cluster>-server`,
    /// `<cluster>-replication`; `api/v1/cluster_funcs.go` at v1.30.0,
    /// `GetServerCASecretName` to `GetReplicationSecretName`), or one the
    /// contract lists in `allowedCertificateSecrets`.
    pub fn allows_certificate_secret(&self, field: &str, secret: &str) -> bool {
        let generated = match field {
            "serverCASecret" | "clientCASecret" => "-ca",
            "serverTLSSecret" => "-server",
            "replicationTLSSecret" => "-replication",
            _ => return false,
        };
        secret.strip_prefix(self.name.as_str()) == Some(generated)
            || self.allowed_certificate_secrets.iter().any(|s| s == secret)
    }

    /// Whether the contract names `host` (an LDAP or RADIUS server) in
    /// `authServers`; host names compare without regard to case.
    pub fn allows_auth_server(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.auth_servers.contains(&host)
    }

    /// Whether `name` is one of this cluster's protected NetworkPolicies.
    pub fn is_protected_policy(&self, name: &str) -> bool {
        name == self.default_deny_policy || self.baseline_policies.iter().any(|p| p == name)
    }
}

#[derive(Debug, Clone)]
pub struct BreakGlass {
    pub annotation: String,
    pub groups: HashSet<String>,
}

/// A validated, indexed contract. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Contract {
    pub clusters: Vec<SharedCluster>,
    pub break_glass: BreakGlass,
    pub exempt_users: HashSet<String>,
    /// Who administers the shared clusters (and, always, `system:masters`).
    pub platform: Subjects,
    /// What requesters the contract does not know may write of the
    /// consumers' objects.
    pub unknown_requesters: UnknownRequesters,
    /// Each consumer subject's (cluster, consumer) indexes, by user name
    /// and by group.
    subject_users: HashMap<String, (usize, usize)>,
    subject_groups: HashMap<String, (usize, usize)>,
    modes: HashMap<RuleId, Mode>,
    /// Short content hash of the source, recorded in every decision record.
    pub revision: String,
    shared_namespaces: HashSet<String>,
    /// Legal but worth knowing (`file:line:column: field: what`): printed by
    /// `contract validate`, logged when `serve` loads the contract.
    pub warnings: Vec<String>,
}

impl Contract {
    /// The embedded default: the seed's apps-pg contract.
    pub fn embedded() -> Result<Contract, ContractError> {
        parse(EMBEDDED_CONTRACT, "<embedded>")
    }

    /// Who a requester is: nobody (no user name: no request), a platform
    /// subject (also when it is a consumer's too, through a group), a
    /// controller, a consumer's subject, or unknown.
    pub fn requester(&self, username: &str, groups: &[String]) -> Requester<'_> {
        if username.is_empty() {
            return Requester::Nobody;
        }
        if self.platform.matches(username, groups) || groups.iter().any(|g| g == SYSTEM_MASTERS) {
            return Requester::Platform;
        }
        if self.exempt_users.contains(username) || KUBERNETES_CONTROLLERS.contains(&username) {
            return Requester::Controller;
        }
        self.consumer_of(username, groups)
            .map_or(Requester::Unknown, Requester::Consumer)
    }

    /// [`Contract::requester`] as records name it.
    pub fn identity(&self, username: &str, groups: &[String]) -> Identity {
        self.requester(username, groups).identity()
    }

    /// The consumer a requester is a subject of (the platform's subjects
    /// aside: ask [`Contract::identity`]), by the index built at load: hash
    /// lookups, whatever the registry's size.
    pub fn consumer_of(&self, username: &str, groups: &[String]) -> Option<&Consumer> {
        let found = self
            .subject_users
            .get(username)
            .or_else(|| groups.iter().find_map(|g| self.subject_groups.get(g)))?;
        self.clusters.get(found.0)?.consumers.get(found.1)
    }

    pub fn mode(&self, rule: RuleId) -> Mode {
        self.modes.get(&rule).copied().unwrap_or_default()
    }

    /// The shared cluster `namespace/name`, if it is one. A contract names
    /// a few shared clusters, so a scan beats a map: each Cluster review asks
    /// once per rule, and a map keyed by owned names cost two allocations
    /// and a hash each time.
    pub fn cluster(&self, namespace: &str, name: &str) -> Option<&SharedCluster> {
        self.clusters
            .iter()
            .find(|c| c.name == name && c.namespace == namespace)
    }

    /// A shared cluster called `name` in any namespace (a Database or Pooler
    /// names its cluster without a namespace).
    pub fn cluster_named(&self, name: &str) -> Option<&SharedCluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// Shared clusters living in `namespace`.
    pub fn clusters_in<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a SharedCluster> {
        self.clusters.iter().filter(move |c| c.namespace == namespace)
    }

    pub fn is_shared_namespace(&self, namespace: &str) -> bool {
        self.shared_namespaces.contains(namespace)
    }

    pub(crate) fn build(
        clusters: Vec<SharedCluster>,
        break_glass: BreakGlass,
        exempt_users: HashSet<String>,
        platform: Subjects,
        unknown_requesters: UnknownRequesters,
        modes: HashMap<RuleId, Mode>,
        revision: String,
    ) -> Contract {
        let shared_namespaces = clusters.iter().map(|c| c.namespace.clone()).collect();
        // A subject belongs to one consumer (the loader refuses another).
        let (mut subject_users, mut subject_groups) = (HashMap::new(), HashMap::new());
        for (i, c) in clusters.iter().enumerate() {
            for (j, k) in c.consumers.iter().enumerate() {
                for u in &k.subjects.users {
                    subject_users.entry(u.clone()).or_insert((i, j));
                }
                for g in &k.subjects.groups {
                    subject_groups.entry(g.clone()).or_insert((i, j));
                }
            }
        }
        Contract {
            clusters,
            break_glass,
            exempt_users,
            platform,
            unknown_requesters,
            subject_users,
            subject_groups,
            modes,
            revision,
            shared_namespaces,
            warnings: Vec::new(),
        }
    }
}

impl SharedCluster {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        name: String,
        namespace: String,
        identity_label: BTreeMap<String, String>,
        bootstrap: Bootstrap,
        client_label: String,
        operator_namespace: String,
        default_deny_policy: String,
        baseline_policies: Vec<String>,
        allowed_extensions: HashSet<String>,
        allowed_images: Vec<String>,
        allowed_certificate_secrets: Vec<String>,
        auth_servers: Vec<String>,
        consumers: Vec<Consumer>,
    ) -> SharedCluster {
        let by_role = consumers.iter().enumerate().map(|(i, c)| (c.role.clone(), i)).collect();
        let by_namespace = consumers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.namespace.clone(), i))
            .collect();
        SharedCluster {
            name,
            namespace,
            identity_label,
            bootstrap,
            client_label,
            operator_namespace,
            default_deny_policy,
            baseline_policies,
            allowed_extensions,
            allowed_images,
            allowed_certificate_secrets,
            auth_servers,
            consumers,
            by_role,
            by_namespace,
        }
    }
}

/// A consumer role's password Secret in the shared namespace:
/// `<cluster>-role-<role>`, `_` written as `-` (what `onboard` writes).
pub fn role_secret_name(cluster: &str, role: &str) -> String {
    format!("{cluster}-role-{}", role.replace('_', "-"))
}

/// The role's Secret name suffix is the role with `_` written as `-`.
fn role_secret_suffix_matches(role: &str, suffix: &str) -> bool {
    role.len() == suffix.len()
        && role
            .bytes()
            .zip(suffix.bytes())
            .all(|(r, s)| r == s || (r == b'_' && s == b'-'))
}

/// Where images may come from when the contract lists nothing: CloudNativePG's
/// own registry path, where its default PostgreSQL, pgbouncer and operator
/// images live (`DefaultImageName`, `DefaultPgbouncerImage`,
/// `DefaultOperatorImageName` in `pkg/versions/versions.go`, the same
/// `ghcr.io/cloudnative-pg/...` names at v1.28.4 and v1.30.0).
pub const DEFAULT_ALLOWED_IMAGES: &[&str] = &["ghcr.io/cloudnative-pg/"];

/// The extensions a Database may create when the contract lists none: the
/// contrib modules PostgreSQL 13+ marks trusted, and plpgsql.
pub const DEFAULT_ALLOWED_EXTENSIONS: &[&str] = &[
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "dict_int",
    "earthdistance",
    "fuzzystrmatch",
    "hstore",
    "intarray",
    "isn",
    "lo",
    "ltree",
    "pgcrypto",
    "pg_trgm",
    "plpgsql",
    "seg",
    "tablefunc",
    "tcn",
    "tsm_system_rows",
    "tsm_system_time",
    "unaccent",
    "uuid-ossp",
];
