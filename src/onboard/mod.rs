//! `cnpg-guard onboard` and `cnpg-guard offboard`: the seed's consumer
//! recipe (a–f) written by the guard itself, already on contract.
//!
//! Every input is validated against the contract before anything is
//! generated; nothing is printed or written when one is wrong. The generated
//! set is what `cnpg-guard check` accepts once the registry entry (step 1) is
//! rolled out and the role (step 2) is provisioned.

mod manifests;
mod offboard;
mod output;

use std::path::PathBuf;

use crate::contract::{Consumer, Contract, ContractError, SharedCluster};
use crate::names::{is_dns_label, is_pg_identifier};
use crate::names::{is_reserved_database, is_reserved_role};

/// What stands for the role's password when it is not generated. Distinct
/// from the bootstrap template's placeholder, so the guard never mistakes
/// one for the other.
pub const PASSWORD_PLACEHOLDER: &str = "REPLACE_WITH_ROLE_PASSWORD";

/// The port of the cluster's `-rw` Service.
pub const POSTGRES_PORT: u16 = 5432;

#[derive(Debug, clap::Args)]
pub struct OnboardArgs {
    /// The shared cluster (its name in the contract).
    #[arg(long, default_value = "apps-pg")]
    pub cluster: String,
    /// The consumer's namespace (a DNS label).
    #[arg(long)]
    pub namespace: String,
    /// The consumer's PostgreSQL role (a plain identifier).
    #[arg(long)]
    pub role: String,
    /// The consumer's database (a plain identifier).
    #[arg(long)]
    pub database: String,
    /// Contract file (default: the embedded apps-pg contract).
    #[arg(long, env = "CNPG_GUARD_CONTRACT")]
    pub contract: Option<PathBuf>,
    /// Write numbered files (01-…07-) into DIR instead of printing one stream.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Generate the role's password (32 random bytes, base64url) into the two
    /// Secret files, mode 0600. Needs --out: it is never printed.
    #[arg(long)]
    pub generate_password: bool,
    /// Overwrite files in --out whose content differs (a generated password always does).
    #[arg(long)]
    pub force: bool,
    /// An extension to create in the database (repeatable). It must be in the
    /// shared cluster's allowedExtensions (default: PostgreSQL's trusted
    /// contrib modules): CloudNativePG creates it as superuser.
    #[arg(long = "extension", value_name = "NAME")]
    pub extensions: Vec<String>,
    /// The shared Cluster as it is now: a manifest file, or - for
    /// `kubectl get cluster <name> -n <namespace> -o yaml` on stdin. Step 2's
    /// patch then applies whether or not the Cluster has spec.managed.roles
    /// and spec.postgresql.pg_hba yet, and leaves out what it already has.
    #[arg(long, value_name = "FILE")]
    pub cluster_object: Option<PathBuf>,
    /// Where the role is managed: `cluster`, an entry in the shared Cluster's
    /// spec.managed.roles (CloudNativePG 1.28 and later), or `databaserole`,
    /// its own DatabaseRole CR `<cluster>-<role>` in the shared namespace
    /// (CloudNativePG 1.30 and later). The role's two pg_hba lines stay in the
    /// Cluster either way: CloudNativePG has no per-role pg_hba object.
    #[arg(long, value_enum, value_name = "WHERE", default_value_t = RoleManagedBy::Cluster)]
    pub role_managed_by: RoleManagedBy,
    /// The ServiceAccount in --namespace that applies the consumer's
    /// manifests (its Flux Kustomization's `serviceAccountName`, the account
    /// Argo CD impersonates for its project): step 1 registers it as the
    /// consumer's subject, and steps 3 to 6 are then its to apply.
    #[arg(long, value_name = "NAME")]
    pub service_account: Option<String>,
}

/// Where a consumer's role is managed. One role is managed in one place:
/// the guard (role-registered) denies a DatabaseRole for a role in the
/// Cluster's `spec.managed.roles`, and the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RoleManagedBy {
    /// An entry in the shared Cluster's `spec.managed.roles`.
    #[default]
    Cluster,
    /// A DatabaseRole CR of its own (CloudNativePG 1.30).
    #[value(name = "databaserole")]
    DatabaseRole,
}

impl RoleManagedBy {
    /// The flag as it is typed.
    pub fn flag(self) -> &'static str {
        match self {
            RoleManagedBy::Cluster => "--role-managed-by cluster",
            RoleManagedBy::DatabaseRole => "--role-managed-by databaserole",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct OffboardArgs {
    /// The consumer's namespace.
    #[arg(long)]
    pub namespace: String,
    /// The shared cluster (its name in the contract).
    #[arg(long, default_value = "apps-pg")]
    pub cluster: String,
    /// Contract file (default: the embedded apps-pg contract).
    #[arg(long, env = "CNPG_GUARD_CONTRACT")]
    pub contract: Option<PathBuf>,
    /// Where the consumer's role was managed when it was onboarded: `cluster`
    /// (spec.managed.roles) or `databaserole` (its DatabaseRole `<cluster>-<role>`).
    #[arg(long, value_enum, value_name = "WHERE", default_value_t = RoleManagedBy::Cluster)]
    pub role_managed_by: RoleManagedBy,
}

/// Why onboarding or offboarding refuses to produce anything.
#[derive(Debug, thiserror::Error)]
pub enum OnboardError {
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error("unknown cluster {name:?}: the contract's shared clusters are {known}")]
    UnknownCluster { name: String, known: String },
    #[error(
        "--namespace {0:?} is not a valid namespace name (a DNS label: a-z, 0-9 and '-', a letter or digit at both ends, at most 63 characters)"
    )]
    InvalidNamespace(String),
    #[error(
        "--{flag} {value:?} is not a plain PostgreSQL identifier (a-z or '_' first, then a-z, 0-9, '_'; at most 63 bytes)"
    )]
    InvalidIdentifier { flag: &'static str, value: String },
    #[error(
        "--service-account {0:?} is not a valid ServiceAccount name (a DNS subdomain: a-z, 0-9, '-' and '.', at most 253 characters)"
    )]
    InvalidServiceAccount(String),
    #[error("--role {role:?} is reserved ({why}); choose another role")]
    ReservedRole { role: String, why: String },
    #[error("--database {database:?} is reserved ({why}); choose another database name")]
    ReservedDatabase { database: String, why: String },
    #[error("--namespace {namespace:?} is the shared namespace of {cluster}: a consumer lives in its own namespace")]
    SharedNamespace { namespace: String, cluster: String },
    #[error(
        "role {role:?} is already registered to consumer {owner:?} of {cluster}: choose another role for {namespace:?}"
    )]
    RoleTaken {
        role: String,
        owner: String,
        cluster: String,
        namespace: String,
    },
    #[error(
        "namespace {namespace:?} is already registered to {cluster} with role {owner:?}: one namespace is one consumer (to re-run its onboarding, pass --role {owner})"
    )]
    NamespaceTaken {
        namespace: String,
        owner: String,
        cluster: String,
    },
    #[error(
        "database {database:?} is already registered to consumer {owner:?} of {cluster}: choose another database name"
    )]
    DatabaseTaken {
        database: String,
        owner: String,
        cluster: String,
    },
    #[error(
        "namespace {namespace:?} is already a consumer of {other}: its label {label} can name only one cluster, so it cannot also use {cluster}"
    )]
    NamespaceOfOtherCluster {
        namespace: String,
        other: String,
        label: String,
        cluster: String,
    },
    #[error(
        "consumer {namespace:?} (role {role:?}) is already registered with database(s) {databases}; onboard registers new consumers only: to add {database:?}, add it to the consumer's databases in the contract, then create its Database CR"
    )]
    AnotherDatabase {
        namespace: String,
        role: String,
        databases: String,
        database: String,
    },
    #[error(
        "--{flag} {value:?} gives the {what} name {name:?}, which is not a valid Kubernetes object name ('_' becomes '-', and a name may not start or end with '-'); choose another {flag}"
    )]
    DerivedName {
        flag: &'static str,
        value: String,
        what: &'static str,
        name: String,
    },
    #[error(
        "--generate-password needs --out DIR: the password is only ever written into files with mode 0600, never printed"
    )]
    PasswordNeedsOut,
    #[error(
        "{path} already exists with other content; nothing was written: pass --force to overwrite it (with --generate-password, that replaces the password)"
    )]
    WouldOverwrite { path: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialize the manifests: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("cannot generate a password: the system random number generator failed")]
    Random,
    #[error("--cluster-object {path}: {why}")]
    ClusterObject { path: String, why: String },
    #[error(
        "--extension {extension:?} is not in {cluster}'s allowedExtensions ({allowed}): CloudNativePG creates extensions as superuser; ask the platform team to add it to the contract"
    )]
    ExtensionNotAllowed {
        extension: String,
        cluster: String,
        allowed: String,
    },
    #[error(
        "{path} already exists: an onboarding with {other} was written into this directory, and role {role:?} \
         would then be managed in two places (a DatabaseRole and the Cluster's spec.managed.roles), which the \
         guard denies (role-registered); nothing was written: remove {path} first, or pass {other} again"
    )]
    RoleInTwoPlaces {
        path: String,
        other: &'static str,
        role: String,
    },
    #[error(
        "--cluster-object {path}: role {role:?} is already in spec.managed.roles of Cluster {cluster}: a DatabaseRole \
         for it would manage the role in two places, which the guard denies (role-registered); keep \
         --role-managed-by cluster, or remove the role from spec.managed.roles first"
    )]
    RoleInCluster {
        path: String,
        role: String,
        cluster: String,
    },
    #[error("namespace {namespace:?} is not a registered consumer of {cluster} (registered: {known})")]
    UnknownConsumer {
        namespace: String,
        cluster: String,
        known: String,
    },
}

/// A validated onboarding: every name checked, nothing conflicting.
#[derive(Debug)]
pub(crate) struct Plan<'c> {
    pub cluster: &'c SharedCluster,
    pub namespace: String,
    pub role: String,
    pub database: String,
    /// The consumer as already registered, when this is a re-run for it.
    pub registered: Option<&'c Consumer>,
    /// Extensions to create in the database (each in allowedExtensions).
    pub extensions: Vec<String>,
    /// The Cluster's `spec` as it is now (`--cluster-object`), if given.
    pub current: Option<serde_json::Value>,
    /// Where the role is managed.
    pub managed_by: RoleManagedBy,
    /// The consumer's GitOps ServiceAccount in its namespace, if named.
    pub service_account: Option<String>,
}

impl Plan<'_> {
    /// The role memberships the contract grants the consumer (`memberOf`):
    /// the only ones its managed role may have.
    pub fn member_of(&self) -> &[String] {
        self.registered.map_or(&[], |c| c.member_of.as_slice())
    }
}

impl Plan<'_> {
    pub fn role_secret(&self) -> String {
        self.registered
            .map(|c| c.role_secret(&self.cluster.name))
            .unwrap_or_else(|| role_secret_name(&self.cluster.name, &self.role))
    }

    /// The pg_hba lines that keep the role to its databases (the registered
    /// ones and the one being onboarded): see [`crate::rules::tenant_isolated::reach`].
    pub fn hba_lines(&self) -> [String; 2] {
        let mut databases: Vec<String> = self.registered.map(|c| c.databases.clone()).unwrap_or_default();
        if !databases.contains(&self.database) {
            databases.push(self.database.clone());
        }
        crate::rules::tenant_isolated::reach::consumer_lines(&self.role, &databases)
    }

    pub fn database_object(&self) -> String {
        database_object_name(&self.database)
    }

    pub fn database_role_object(&self) -> String {
        database_role_name(&self.cluster.name, &self.role)
    }

    pub fn runtime_secret(&self) -> String {
        runtime_secret_name(&self.database)
    }

    pub fn host(&self) -> String {
        rw_host(self.cluster)
    }
}

/// The role's password Secret in the shared namespace: `<cluster>-role-<role>`.
pub(crate) use crate::contract::role_secret_name;

/// The Database CR's object name (`vergabe_db` -> `vergabe-db`, as in the seed).
pub(crate) fn database_object_name(database: &str) -> String {
    database.replace('_', "-")
}

/// The DatabaseRole's object name: `<cluster>-<role>`, `_` as `-`
/// (`apps-pg`, `shop_app` -> `apps-pg-shop-app`). The cluster in the name
/// keeps two shared clusters of one namespace apart; a role has no `-`, so
/// no two roles share a name.
pub(crate) fn database_role_name(cluster: &str, role: &str) -> String {
    format!("{cluster}-{}", role.replace('_', "-"))
}

/// The runtime Secret in the consumer namespace (`vergabe_db` -> `vergabe-db-app`).
pub(crate) fn runtime_secret_name(database: &str) -> String {
    format!("{}-app", database.replace('_', "-"))
}

/// The read-write Service CNPG creates: `<cluster>-rw.<namespace>.svc`.
pub(crate) fn rw_host(cluster: &SharedCluster) -> String {
    format!("{}-rw.{}.svc", cluster.name, cluster.namespace)
}

/// A Kubernetes object name (RFC 1123 subdomain as the API server checks it).
fn is_object_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The shared cluster `name`, or an error naming the ones there are.
fn find_cluster<'c>(contract: &'c Contract, name: &str) -> Result<&'c SharedCluster, OnboardError> {
    contract
        .cluster_named(name)
        .ok_or_else(|| OnboardError::UnknownCluster {
            name: name.to_owned(),
            known: contract
                .clusters
                .iter()
                .map(|c| format!("{}/{}", c.namespace, c.name))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Checks every input of `onboard` against the contract. All problems are
/// returned at once, so one run shows everything to fix.
pub(crate) fn validate<'c>(args: &OnboardArgs, contract: &'c Contract) -> Result<Plan<'c>, Vec<OnboardError>> {
    let cluster = find_cluster(contract, &args.cluster).map_err(|e| vec![e])?;
    let (ns, role, db) = (&args.namespace, &args.role, &args.database);
    let mut errors = Vec::new();

    let ns_ok = is_dns_label(ns);
    if !ns_ok {
        errors.push(OnboardError::InvalidNamespace(ns.clone()));
    }
    let role_ok = is_pg_identifier(role);
    if !role_ok {
        errors.push(OnboardError::InvalidIdentifier {
            flag: "role",
            value: role.clone(),
        });
    } else if is_reserved_role(role, &cluster.bootstrap.role) {
        let why = if *role == cluster.bootstrap.role {
            format!("the bootstrap role of {}", cluster.name)
        } else {
            "CNPG reserves postgres, streaming_replica, cnpg_* and pg_*".to_owned()
        };
        errors.push(OnboardError::ReservedRole {
            role: role.clone(),
            why,
        });
    }
    let db_ok = is_pg_identifier(db);
    if !db_ok {
        errors.push(OnboardError::InvalidIdentifier {
            flag: "database",
            value: db.clone(),
        });
    } else if is_reserved_database(db, &cluster.bootstrap.database) {
        let why = if *db == cluster.bootstrap.database {
            format!("the bootstrap database of {}", cluster.name)
        } else {
            "postgres, template0, template1, cnpg_* and pg_* belong to PostgreSQL and CNPG".to_owned()
        };
        errors.push(OnboardError::ReservedDatabase {
            database: db.clone(),
            why,
        });
    }
    for extension in &args.extensions {
        if !cluster.allowed_extensions.contains(extension) {
            let mut allowed: Vec<&str> = cluster.allowed_extensions.iter().map(String::as_str).collect();
            allowed.sort_unstable();
            errors.push(OnboardError::ExtensionNotAllowed {
                extension: extension.clone(),
                cluster: cluster.name.clone(),
                allowed: allowed.join(", "),
            });
        }
    }
    if ns_ok && contract.is_shared_namespace(ns) {
        errors.push(OnboardError::SharedNamespace {
            namespace: ns.clone(),
            cluster: cluster.name.clone(),
        });
    }

    // Derived object names must be valid too (a trailing '_' would end one with '-').
    if role_ok {
        let mut derived = vec![("password Secret", role_secret_name(&cluster.name, role))];
        if args.role_managed_by == RoleManagedBy::DatabaseRole {
            derived.push(("DatabaseRole", database_role_name(&cluster.name, role)));
        }
        if let Some((what, name)) = derived.into_iter().find(|(_, name)| !is_object_name(name)) {
            errors.push(OnboardError::DerivedName {
                flag: "role",
                value: role.clone(),
                what,
                name,
            });
        }
    }
    if db_ok {
        for (what, name) in [
            ("Database CR", database_object_name(db)),
            ("runtime Secret", runtime_secret_name(db)),
        ] {
            if !is_object_name(&name) {
                errors.push(OnboardError::DerivedName {
                    flag: "database",
                    value: db.clone(),
                    what,
                    name,
                });
                break;
            }
        }
    }

    // The registry: a role, namespace or database belongs to one consumer.
    let by_role = cluster.consumer_by_role(role);
    let by_ns = cluster.consumer_by_namespace(ns);
    let by_db = cluster.consumers.iter().find(|c| c.databases.iter().any(|d| d == db));
    let mut registered = None;
    match (by_ns, by_role) {
        (Some(a), Some(b)) if a.namespace == b.namespace => {
            if a.databases.iter().any(|d| d == db) {
                registered = Some(a);
            } else {
                errors.push(OnboardError::AnotherDatabase {
                    namespace: a.namespace.clone(),
                    role: a.role.clone(),
                    databases: a.databases.join(", "),
                    database: db.clone(),
                });
            }
        }
        (by_ns, by_role) => {
            if let Some(other) = by_role {
                errors.push(OnboardError::RoleTaken {
                    role: role.clone(),
                    owner: other.namespace.clone(),
                    cluster: cluster.name.clone(),
                    namespace: ns.clone(),
                });
            }
            if let Some(other) = by_ns {
                errors.push(OnboardError::NamespaceTaken {
                    namespace: ns.clone(),
                    owner: other.role.clone(),
                    cluster: cluster.name.clone(),
                });
            }
        }
    }
    if let Some(other) = by_db
        && other.namespace != *ns
    {
        errors.push(OnboardError::DatabaseTaken {
            database: db.clone(),
            owner: other.namespace.clone(),
            cluster: cluster.name.clone(),
        });
    }
    // A namespace opts in with `clientLabel=<cluster>`: one value, one cluster.
    for other in contract
        .clusters
        .iter()
        .filter(|c| !std::ptr::eq(*c, cluster) && c.client_label == cluster.client_label)
    {
        if other.consumer_by_namespace(ns).is_some() {
            errors.push(OnboardError::NamespaceOfOtherCluster {
                namespace: ns.clone(),
                other: other.name.clone(),
                label: cluster.client_label.clone(),
                cluster: cluster.name.clone(),
            });
        }
    }

    if args.generate_password && args.out.is_none() {
        errors.push(OnboardError::PasswordNeedsOut);
    }
    if let Some(sa) = &args.service_account
        && !crate::names::is_dns_subdomain(sa)
    {
        errors.push(OnboardError::InvalidServiceAccount(sa.clone()));
    }

    if errors.is_empty() {
        Ok(Plan {
            cluster,
            namespace: ns.clone(),
            role: role.clone(),
            database: db.clone(),
            registered,
            extensions: args.extensions.clone(),
            current: None,
            managed_by: args.role_managed_by,
            service_account: args.service_account.clone(),
        })
    } else {
        Err(errors)
    }
}

/// 32 random bytes from the operating system's CSPRNG (ring's
/// `SystemRandom`, through rustls' ring provider), base64url without
/// padding: 43 characters that need no escaping in a URI.
fn generate_password() -> Result<String, OnboardError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| OnboardError::Random)?;
    let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    bytes.fill(0);
    Ok(password)
}

/// The `spec` of the shared Cluster from a manifest (`-`: stdin), checked
/// to be that Cluster.
fn read_cluster_object(path: &std::path::Path, cluster: &SharedCluster) -> Result<serde_json::Value, OnboardError> {
    let error = |why: String| OnboardError::ClusterObject {
        path: path.display().to_string(),
        why,
    };
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| error(e.to_string()))?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?
    };
    let object: serde_json::Value = serde_norway::from_str(&text).map_err(|e| error(e.to_string()))?;
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    if kind != "Cluster" || name != cluster.name || (!namespace.is_empty() && namespace != cluster.namespace) {
        return Err(error(format!(
            "expected Cluster {}/{}, found {} {namespace}/{name}",
            cluster.namespace,
            cluster.name,
            if kind.is_empty() { "no kind" } else { kind }
        )));
    }
    Ok(object.get("spec").cloned().unwrap_or_else(|| serde_json::json!({})))
}

/// Whether the Cluster `spec` manages `role` in `spec.managed.roles` (an
/// entry set `ensure: absent` is on its way out, but CloudNativePG still
/// prefers it to a DatabaseRole until it is removed).
fn in_managed_roles(spec: &serde_json::Value, role: &str) -> bool {
    spec.pointer("/managed/roles")
        .and_then(|r| r.as_array())
        .is_some_and(|roles| roles.iter().any(|r| r["name"] == role))
}

/// An `--out` directory that already holds the other way's role step: the
/// two together manage one role in two places, which the guard denies.
/// Refused even with `--force`, which overwrites files but removes none.
fn other_way_written(dir: &std::path::Path, plan: &Plan<'_>) -> Result<(), OnboardError> {
    let (file, other) = match plan.managed_by {
        RoleManagedBy::Cluster => (manifests::DATABASE_ROLE_FILE, RoleManagedBy::DatabaseRole),
        RoleManagedBy::DatabaseRole => (manifests::CLUSTER_ROLE_PATCH_FILE, RoleManagedBy::Cluster),
    };
    let path = dir.join(file);
    if path.exists() {
        return Err(OnboardError::RoleInTwoPlaces {
            path: path.display().to_string(),
            other: other.flag(),
            role: plan.role.clone(),
        });
    }
    Ok(())
}

fn load(path: Option<&std::path::Path>) -> Result<Contract, OnboardError> {
    Ok(crate::contract::load(path)?)
}

/// The contract file named in instructions.
fn contract_display(path: Option<&std::path::Path>) -> String {
    path.map(|p| p.display().to_string())
        .unwrap_or_else(|| "deploy/base/contract.yaml".to_owned())
}

fn onboard(args: &OnboardArgs) -> Result<(), Vec<OnboardError>> {
    let contract = load(args.contract.as_deref()).map_err(|e| vec![e])?;
    let mut plan = validate(args, &contract)?;
    if let Some(path) = &args.cluster_object {
        let spec = read_cluster_object(path, plan.cluster).map_err(|e| vec![e])?;
        if plan.managed_by == RoleManagedBy::DatabaseRole && in_managed_roles(&spec, &plan.role) {
            return Err(vec![OnboardError::RoleInCluster {
                path: path.display().to_string(),
                role: plan.role.clone(),
                cluster: format!("{}/{}", plan.cluster.namespace, plan.cluster.name),
            }]);
        }
        plan.current = Some(spec);
    }
    if let Some(dir) = &args.out {
        other_way_written(dir, &plan).map_err(|e| vec![e])?;
    }
    if let Some(c) = plan.registered {
        eprintln!(
            "note: {} is already registered with role {} and database(s) {} in {}: re-running is idempotent; \
             step 1 has nothing to add, and the other steps show what must be in place",
            c.namespace,
            c.role,
            c.databases.join(", "),
            plan.cluster.name
        );
    }
    let password = if args.generate_password {
        Some(generate_password().map_err(|e| vec![e])?)
    } else {
        None
    };
    let contract_file = contract_display(args.contract.as_deref());
    let steps = manifests::steps(&plan, password.as_deref(), &contract_file).map_err(|e| vec![e])?;
    match &args.out {
        None => {
            print!("{}", manifests::render_stream(&plan, &steps));
            Ok(())
        }
        Some(dir) => {
            let report = output::write_steps(dir, &steps, args.force).map_err(|e| vec![e])?;
            print!("{}", output::summary(dir, &steps, &report, password.is_some()));
            Ok(())
        }
    }
}

/// `cnpg-guard onboard`: 0 when everything was printed or written, 2 when
/// an input, the contract or the output directory is refused (nothing is
/// written then).
pub fn run_onboard(args: OnboardArgs) -> i32 {
    match onboard(&args) {
        Ok(()) => 0,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            2
        }
    }
}

fn offboard(args: &OffboardArgs) -> Result<String, OnboardError> {
    let contract = load(args.contract.as_deref())?;
    let cluster = find_cluster(&contract, &args.cluster)?;
    if !is_dns_label(&args.namespace) {
        return Err(OnboardError::InvalidNamespace(args.namespace.clone()));
    }
    let consumer = cluster
        .consumer_by_namespace(&args.namespace)
        .ok_or_else(|| OnboardError::UnknownConsumer {
            namespace: args.namespace.clone(),
            cluster: cluster.name.clone(),
            known: match cluster.consumers.len() {
                0 => "none".to_owned(),
                _ => cluster
                    .consumers
                    .iter()
                    .map(|c| c.namespace.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            },
        })?;
    Ok(offboard::plan(
        cluster,
        consumer,
        &contract.break_glass,
        &contract_display(args.contract.as_deref()),
        args.role_managed_by,
    ))
}

/// `cnpg-guard offboard`: prints the reverse steps; 2 when the namespace is
/// not a registered consumer or the contract cannot be read.
pub fn run_offboard(args: OffboardArgs) -> i32 {
    match offboard(&args) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_follow_the_seed() {
        assert_eq!(role_secret_name("apps-pg", "vergabe"), "apps-pg-role-vergabe");
        assert_eq!(role_secret_name("apps-pg", "shop_app"), "apps-pg-role-shop-app");
        assert_eq!(database_object_name("vergabe_db"), "vergabe-db");
        assert_eq!(runtime_secret_name("vergabe_db"), "vergabe-db-app");
        assert_eq!(database_role_name("apps-pg", "shop_app"), "apps-pg-shop-app");
        assert!(is_object_name("apps-pg-role-shop"));
        assert!(!is_object_name("apps-pg-role-shop-"));
        assert!(!is_object_name("-db"));
    }

    #[test]
    fn generated_passwords_are_long_distinct_and_uri_safe() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
