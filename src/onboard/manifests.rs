//! The seven onboarding steps, in the order they must be applied.
//!
//! Step 2 provisions the role where `--role-managed-by` says: in the
//! Cluster (one patch: the `spec.managed.roles` entry and the role's two
//! pg_hba lines), or as a DatabaseRole (2a: a patch of the Cluster's
//! pg_hba only, which CloudNativePG keeps nowhere else; 2b: the
//! DatabaseRole).
//!
//! Kubernetes objects are k8s-openapi types; the CNPG pieces are small
//! serializable structs, so the YAML keeps the field order people expect.

use std::collections::BTreeMap;
use std::fmt::Write;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::{OnboardError, PASSWORD_PLACEHOLDER, POSTGRES_PORT, Plan, RoleManagedBy};

/// Step 2 with `--role-managed-by cluster`: the role and its pg_hba lines.
pub(crate) const CLUSTER_ROLE_PATCH_FILE: &str = "02-cluster-role-patch.yaml";
/// Step 2a with `--role-managed-by databaserole`: the pg_hba lines only.
pub(crate) const CLUSTER_HBA_PATCH_FILE: &str = "02a-cluster-hba-patch.yaml";
/// Step 2b with `--role-managed-by databaserole`: the DatabaseRole.
pub(crate) const DATABASE_ROLE_FILE: &str = "02b-database-role.yaml";

/// One step: its file under `--out`, a title, comment lines and the body.
#[derive(Debug)]
pub(crate) struct Step {
    pub number: u8,
    /// `a`, `b` when a step is written as two files (2a, 2b).
    pub part: Option<char>,
    pub file: &'static str,
    pub title: String,
    /// Comment lines printed under the title (without `# `).
    pub notes: Vec<String>,
    /// YAML, or Markdown for the wiring note.
    pub body: String,
    pub markdown: bool,
    /// Holds the generated password: written with mode 0600.
    pub secret: bool,
}

impl Step {
    /// `2`, or `2a` for a part.
    pub fn label(&self) -> String {
        match self.part {
            Some(part) => format!("{}{part}", self.number),
            None => self.number.to_string(),
        }
    }

    /// The file's content: YAML with comments, or the Markdown note.
    pub fn file_text(&self) -> String {
        if self.markdown {
            return format!("# Step {}: {}\n\n{}", self.label(), self.title, self.body);
        }
        let mut out = format!("# step {}: {}\n", self.label(), self.title);
        for n in &self.notes {
            push_comment(&mut out, n);
        }
        out.push_str(&self.body);
        out
    }

    /// The step inside the stdout stream: a YAML document (the note as comments).
    fn stream_text(&self) -> String {
        if !self.markdown {
            return self.file_text();
        }
        let mut out = format!("# step {}: {}\n", self.label(), self.title);
        for line in self.body.lines() {
            push_comment(&mut out, line);
        }
        out
    }
}

fn push_comment(out: &mut String, line: &str) {
    if line.is_empty() {
        out.push_str("#\n");
    } else {
        let _ = writeln!(out, "# {line}");
    }
}

#[derive(Serialize)]
struct RegistryEntry<'a> {
    namespace: &'a str,
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subjects: Option<SubjectsEntry>,
    databases: &'a [String],
}

/// `consumers[].subjects` with the consumer's ServiceAccount.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubjectsEntry {
    service_accounts: [String; 1],
}

#[derive(Serialize)]
struct NameRef<'a> {
    name: &'a str,
}

/// A `spec.managed.roles[]` entry: login, nothing elevated.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManagedRole<'a> {
    name: &'a str,
    ensure: &'static str,
    login: bool,
    superuser: bool,
    createdb: bool,
    createrole: bool,
    replication: bool,
    bypassrls: bool,
    /// Only what the contract's `memberOf` grants (role-registered).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    in_roles: &'a [String],
    password_secret: NameRef<'a>,
}

/// A DatabaseRole (CloudNativePG 1.30): the same role as the managed
/// entry, in a CR of its own. No `ensure`: its CRD refuses `absent`, and
/// `present` is the default.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DatabaseRoleCr<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: DatabaseRoleSpec<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DatabaseRoleSpec<'a> {
    cluster: NameRef<'a>,
    name: &'a str,
    login: bool,
    superuser: bool,
    createdb: bool,
    createrole: bool,
    replication: bool,
    bypassrls: bool,
    /// Only what the contract's `memberOf` grants (role-registered).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    in_roles: &'a [String],
    password_secret: NameRef<'a>,
    /// `retain`: deleting the CR keeps the role (offboard sets `delete` first).
    database_role_reclaim_policy: &'static str,
}

/// One RFC 6902 operation.
#[derive(Serialize)]
struct PatchOp<'a, T> {
    op: &'static str,
    path: &'a str,
    value: T,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DatabaseCr<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: DatabaseSpec<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DatabaseSpec<'a> {
    name: &'a str,
    owner: &'a str,
    cluster: NameRef<'a>,
    ensure: &'static str,
    database_reclaim_policy: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extensions: Vec<Extension<'a>>,
}

/// A `spec.extensions[]` entry.
#[derive(Serialize)]
struct Extension<'a> {
    name: &'a str,
    ensure: &'static str,
}

fn meta(name: &str, namespace: Option<&str>, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: (!labels.is_empty()).then(|| labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
        ..ObjectMeta::default()
    }
}

fn yaml<T: Serialize>(value: &T) -> Result<String, OnboardError> {
    Ok(serde_norway::to_string(value)?)
}

#[derive(Serialize)]
struct ManagedRoles<'a> {
    roles: [ManagedRole<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PgHba<'a> {
    #[serde(rename = "pg_hba")]
    pg_hba: Vec<&'a str>,
}

/// Step 2's JSON patch: the role appended to `spec.managed.roles` (none
/// when a DatabaseRole manages it) and the role's lines put first in
/// `spec.postgresql.pg_hba`. With the Cluster's current `spec`, only what
/// it lacks is added, and a list (or its parent) it does not have yet is
/// created (RFC 6902 `add` needs the parent).
fn cluster_patch(
    current: Option<&serde_json::Value>,
    role: Option<ManagedRole<'_>>,
    lines: [&str; 2],
) -> Result<String, OnboardError> {
    let mut ops: Vec<String> = Vec::new();
    let at = |path: &str| current.and_then(|spec| spec.pointer(path));
    let role = role.filter(|role| {
        !at("/managed/roles")
            .and_then(|r| r.as_array())
            .is_some_and(|roles| roles.iter().any(|r| r["name"] == role.name))
    });
    if let Some(role) = role {
        ops.push(match (current, at("/managed/roles"), at("/managed")) {
            (Some(_), None, None) => yaml(&[PatchOp {
                op: "add",
                path: "/spec/managed",
                value: ManagedRoles { roles: [role] },
            }])?,
            (Some(_), None, Some(_)) => yaml(&[PatchOp {
                op: "add",
                path: "/spec/managed/roles",
                value: [role],
            }])?,
            _ => yaml(&[PatchOp {
                op: "add",
                path: "/spec/managed/roles/-",
                value: role,
            }])?,
        });
    }
    let present: Vec<&str> = at("/postgresql/pg_hba")
        .and_then(|l| l.as_array())
        .map(|l| l.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let missing: Vec<&str> = lines.into_iter().filter(|l| !present.contains(l)).collect();
    if !missing.is_empty() {
        ops.push(match (current, at("/postgresql/pg_hba"), at("/postgresql")) {
            (Some(_), None, None) => yaml(&[PatchOp {
                op: "add",
                path: "/spec/postgresql",
                value: PgHba { pg_hba: missing },
            }])?,
            (Some(_), None, Some(_)) => yaml(&[PatchOp {
                op: "add",
                path: "/spec/postgresql/pg_hba",
                value: missing,
            }])?,
            // Inserted at the top, own databases first: PostgreSQL takes the
            // first matching line, so no broader line can let the role in
            // elsewhere.
            _ => yaml(
                &missing
                    .iter()
                    .rev()
                    .map(|line| PatchOp {
                        op: "add",
                        path: "/spec/postgresql/pg_hba/0",
                        value: *line,
                    })
                    .collect::<Vec<_>>(),
            )?,
        });
    }
    if ops.is_empty() {
        return Ok("[]\n".to_owned());
    }
    Ok(ops.concat())
}

/// The DSN of the role, with the password or its placeholder.
pub(crate) fn uri(plan: &Plan<'_>, password: &str) -> String {
    format!(
        "postgresql://{}:{password}@{}:{POSTGRES_PORT}/{}",
        plan.role,
        plan.host(),
        plan.database
    )
}

/// Builds the seven steps. `password` is the generated one, if any.
pub(crate) fn steps(plan: &Plan<'_>, password: Option<&str>, contract_file: &str) -> Result<Vec<Step>, OnboardError> {
    let c = plan.cluster;
    let (ns, role, db) = (plan.namespace.as_str(), plan.role.as_str(), plan.database.as_str());
    let cluster_ref = format!("{}/{}", c.namespace, c.name);
    let pw = password.unwrap_or(PASSWORD_PLACEHOLDER);
    let generated = password.is_some();
    let password_notes = if generated {
        vec![
            "The password was generated (32 random bytes, base64url); steps 3 and 6 hold the same one.".to_owned(),
            "This file has mode 0600: encrypt it with SOPS before committing, never commit the plaintext.".to_owned(),
        ]
    } else {
        vec![
            format!("Replace {PASSWORD_PLACEHOLDER} with the role's password (the same in steps 3 and 6), then"),
            "encrypt it (sops --encrypt --encrypted-regex '^(data|stringData)$') or render this Secret".to_owned(),
            "from your external secret store. Never commit the plaintext.".to_owned(),
        ]
    };
    let mut steps = Vec::with_capacity(7);

    // 1. The registry entry.
    let databases = match plan.registered {
        Some(existing) => existing.databases.clone(),
        None => vec![db.to_owned()],
    };
    let entry = [RegistryEntry {
        namespace: ns,
        role,
        subjects: plan.service_account.as_ref().map(|sa| SubjectsEntry {
            service_accounts: [format!("{ns}:{sa}")],
        }),
        databases: &databases,
    }];
    let notes = match plan.registered {
        Some(_) => vec![format!(
            "Already registered in {contract_file}: nothing to add; shown for reference."
        )],
        None => vec![
            format!(
                "Add this entry to sharedClusters[name: {}].consumers in {contract_file}, then run",
                c.name
            ),
            format!("  cnpg-guard contract validate {contract_file}"),
            "and roll the contract out before the steps below: until then the guard refuses them.".to_owned(),
        ],
    };
    steps.push(Step {
        number: 1,
        part: None,
        file: "01-contract-entry.yaml",
        title: format!("register {ns} as a consumer of {} in the contract", c.name),
        notes,
        body: yaml(&entry)?,
        markdown: false,
        secret: false,
    });

    // 2. The role, and its pg_hba lines in the Cluster.
    let role_secret = plan.role_secret();
    match plan.managed_by {
        RoleManagedBy::Cluster => steps.push(cluster_role_step(plan, &role_secret)?),
        RoleManagedBy::DatabaseRole => {
            steps.push(hba_step(plan)?);
            steps.push(database_role_step(plan, &role_secret)?);
        }
    }

    // 3. The role's password Secret in the shared namespace.
    let role_secret_obj = Secret {
        metadata: meta(&role_secret, Some(&c.namespace), &[("cnpg.io/reload", "true")]),
        type_: Some("kubernetes.io/basic-auth".to_owned()),
        string_data: Some(BTreeMap::from([
            ("username".to_owned(), role.to_owned()),
            ("password".to_owned(), pw.to_owned()),
        ])),
        ..Secret::default()
    };
    steps.push(Step {
        number: 3,
        part: None,
        file: "03-role-secret.yaml",
        title: format!("password Secret of role {role} in {}", c.namespace),
        notes: [
            vec![format!(
                "Named by the role's passwordSecret; cnpg.io/reload makes CNPG pick up a changed password{}.",
                match plan.managed_by {
                    RoleManagedBy::Cluster => "",
                    RoleManagedBy::DatabaseRole => " (and lets the operator watch it for the DatabaseRole)",
                }
            )],
            password_notes.clone(),
        ]
        .concat(),
        body: yaml(&role_secret_obj)?,
        markdown: false,
        secret: generated,
    });

    // 4. The Database CR.
    let database = DatabaseCr {
        api_version: "postgresql.cnpg.io/v1",
        kind: "Database",
        metadata: meta(&plan.database_object(), Some(&c.namespace), &[]),
        spec: DatabaseSpec {
            name: db,
            owner: role,
            cluster: NameRef { name: &c.name },
            ensure: "present",
            database_reclaim_policy: "retain",
            extensions: plan
                .extensions
                .iter()
                .map(|name| Extension {
                    name,
                    ensure: "present",
                })
                .collect(),
        },
    };
    steps.push(Step {
        number: 4,
        part: None,
        file: "04-database.yaml",
        title: format!("Database {db} owned by {role} in Cluster {cluster_ref}"),
        notes: vec![
            "The guard refuses it until step 2 has provisioned the role.".to_owned(),
            "databaseReclaimPolicy: retain keeps the PostgreSQL database if this CR is ever deleted (see cnpg-guard offboard)."
                .to_owned(),
        ],
        body: yaml(&database)?,
        markdown: false,
        secret: false,
    });

    // 5. The namespace's opt-in label.
    let namespace = Namespace {
        metadata: meta(ns, None, &[(&c.client_label, &c.name)]),
        ..Namespace::default()
    };
    steps.push(Step {
        number: 5,
        part: None,
        file: "05-namespace.yaml",
        title: format!("label namespace {ns} {}={}", c.client_label, c.name),
        notes: vec![
            format!(
                "Lets {ns} reach {}:{POSTGRES_PORT}; the guard refuses it until step 1 is rolled out.",
                plan.host()
            ),
            format!("  kubectl label namespace {ns} {}={}", c.client_label, c.name),
            "GitOps: add the label to the Namespace manifest (or apply this one).".to_owned(),
        ],
        body: yaml(&namespace)?,
        markdown: false,
        secret: false,
    });

    // 6. The runtime Secret in the consumer namespace.
    let runtime_secret = plan.runtime_secret();
    let runtime = Secret {
        metadata: meta(&runtime_secret, Some(ns), &[]),
        type_: Some("Opaque".to_owned()),
        string_data: Some(BTreeMap::from([
            ("uri".to_owned(), uri(plan, pw)),
            ("host".to_owned(), plan.host()),
            ("port".to_owned(), POSTGRES_PORT.to_string()),
            ("dbname".to_owned(), db.to_owned()),
            ("user".to_owned(), role.to_owned()),
            ("username".to_owned(), role.to_owned()),
            ("password".to_owned(), pw.to_owned()),
        ])),
        ..Secret::default()
    };
    steps.push(Step {
        number: 6,
        part: None,
        file: "06-runtime-secret.yaml",
        title: format!(
            "runtime Secret {runtime_secret} in {ns} (role {role}, never {})",
            c.bootstrap.role
        ),
        notes: password_notes,
        body: yaml(&runtime)?,
        markdown: false,
        secret: generated,
    });

    // 7. The DSN wiring note.
    steps.push(Step {
        number: 7,
        part: None,
        file: "07-dsn-wiring.md",
        title: format!("wire the DSN into the Helm values of the app in {ns}"),
        notes: Vec::new(),
        body: wiring_note(plan, &runtime_secret),
        markdown: true,
        secret: false,
    });
    if let Some(sa) = &plan.service_account {
        whose_steps(&mut steps, ns, sa);
    }
    Ok(steps)
}

/// Says who applies each step when the consumer's ServiceAccount is
/// registered: the contract and the shared Cluster are the platform's
/// (tenant-scoped denies them the consumer); the rest is the consumer's.
fn whose_steps(steps: &mut [Step], ns: &str, sa: &str) {
    for step in steps.iter_mut().filter(|s| !s.markdown) {
        let shared_cluster = step.file == CLUSTER_ROLE_PATCH_FILE || step.file == CLUSTER_HBA_PATCH_FILE;
        step.notes.push(if step.number == 1 || shared_cluster {
            "Applied by the platform: it changes the contract or the shared Cluster.".to_owned()
        } else {
            format!("The consumer's ServiceAccount {ns}:{sa} may apply this step (kubectl --as system:serviceaccount:{ns}:{sa}).")
        });
    }
}

/// How step 2's patch fits the Cluster: the one given, or one with both lists.
fn fit_note(plan: &Plan<'_>, lists: &str) -> String {
    let c = plan.cluster;
    match plan.current {
        Some(_) => format!(
            "Written for the Cluster given with --cluster-object: it adds only what that Cluster lacks, creating \
             {lists} where they are missing."
        ),
        None => format!(
            "Written for a Cluster that has {lists}. For any Cluster, pass it: kubectl get cluster {} -n {} -o yaml \
             | cnpg-guard onboard ... --cluster-object -",
            c.name, c.namespace
        ),
    }
}

/// Step 2 with `--role-managed-by cluster`: the managed role and its pg_hba
/// lines, as one RFC 6902 patch of the Cluster.
fn cluster_role_step(plan: &Plan<'_>, role_secret: &str) -> Result<Step, OnboardError> {
    let c = plan.cluster;
    let role = plan.role.as_str();
    let [own_line, reject_line] = plan.hba_lines();
    let role_entry = ManagedRole {
        name: role,
        ensure: "present",
        login: true,
        superuser: false,
        createdb: false,
        createrole: false,
        replication: false,
        bypassrls: false,
        in_roles: plan.member_of(),
        password_secret: NameRef { name: role_secret },
    };
    let body = cluster_patch(plan.current.as_ref(), Some(role_entry), [&own_line, &reject_line])?;
    Ok(Step {
        number: 2,
        part: None,
        file: CLUSTER_ROLE_PATCH_FILE,
        title: format!(
            "provision role {role} and its pg_hba lines in Cluster {}/{}",
            c.namespace, c.name
        ),
        notes: vec![
            "A JSON patch (RFC 6902). Apply step 3's Secret with it: CNPG reads the role's password from it."
                .to_owned(),
            format!(
                "The two pg_hba lines keep {role} to its own databases: `{own_line}`, then `{reject_line}` \
                 (CNPG creates databases that PUBLIC may connect to; the guard's tenant-isolated rule demands them)."
            ),
            format!(
                "  kubectl patch cluster {} -n {} --type=json --patch-file {CLUSTER_ROLE_PATCH_FILE}  # this document",
                c.name, c.namespace
            ),
            "GitOps: append the role to spec.managed.roles and put the two lines first in spec.postgresql.pg_hba \
             in the Cluster manifest instead."
                .to_owned(),
            fit_note(plan, "spec.managed.roles and spec.postgresql.pg_hba"),
        ],
        body,
        markdown: false,
        secret: false,
    })
}

/// Step 2a with `--role-managed-by databaserole`: only the role's two
/// pg_hba lines, the one change to the shared Cluster. CloudNativePG has no
/// per-role pg_hba object; without them the role logs in everywhere.
fn hba_step(plan: &Plan<'_>) -> Result<Step, OnboardError> {
    let c = plan.cluster;
    let role = plan.role.as_str();
    let [own_line, reject_line] = plan.hba_lines();
    let body = cluster_patch(plan.current.as_ref(), None, [&own_line, &reject_line])?;
    Ok(Step {
        number: 2,
        part: Some('a'),
        file: CLUSTER_HBA_PATCH_FILE,
        title: format!(
            "pg_hba lines of role {role} in Cluster {}/{} (the one change to a shared object, the platform's)",
            c.namespace, c.name
        ),
        notes: vec![
            "A JSON patch (RFC 6902) of spec.postgresql.pg_hba only: the role itself is step 2b's DatabaseRole, \
             never in spec.managed.roles. CloudNativePG has no per-role pg_hba object, so these lines live in \
             the Cluster, and only the platform can put them there."
                .to_owned(),
            format!(
                "They keep {role} to its own databases: `{own_line}`, then `{reject_line}`. Without them {role} logs \
                 in to every database (CNPG creates databases that PUBLIC may connect to and ends pg_hba with \
                 `host all all all scram-sha-256`), and the guard's tenant-isolated rule denies the Cluster."
            ),
            "Apply it before step 2b, so the role never exists without them (lines for a role that does not exist \
             yet match nobody)."
                .to_owned(),
            format!(
                "  kubectl patch cluster {} -n {} --type=json --patch-file {CLUSTER_HBA_PATCH_FILE}  # this document",
                c.name, c.namespace
            ),
            "GitOps: put the two lines first in spec.postgresql.pg_hba in the Cluster manifest instead.".to_owned(),
            fit_note(plan, "spec.postgresql.pg_hba"),
        ],
        body,
        markdown: false,
        secret: false,
    })
}

/// Step 2b with `--role-managed-by databaserole`: the role as a DatabaseRole
/// in the shared namespace, as the managed entry would be.
fn database_role_step(plan: &Plan<'_>, role_secret: &str) -> Result<Step, OnboardError> {
    let c = plan.cluster;
    let role = plan.role.as_str();
    let object = DatabaseRoleCr {
        api_version: "postgresql.cnpg.io/v1",
        kind: "DatabaseRole",
        metadata: meta(&plan.database_role_object(), Some(&c.namespace), &[]),
        spec: DatabaseRoleSpec {
            cluster: NameRef { name: &c.name },
            name: role,
            login: true,
            superuser: false,
            createdb: false,
            createrole: false,
            replication: false,
            bypassrls: false,
            in_roles: plan.member_of(),
            password_secret: NameRef { name: role_secret },
            database_role_reclaim_policy: "retain",
        },
    };
    Ok(Step {
        number: 2,
        part: Some('b'),
        file: DATABASE_ROLE_FILE,
        title: format!(
            "provision role {role} as DatabaseRole {}/{} (CloudNativePG 1.30 or later)",
            c.namespace,
            plan.database_role_object()
        ),
        notes: vec![
            "Apply step 3's Secret with it: CNPG reads the role's password from it.".to_owned(),
            format!(
                "One role is managed in one place: the guard denies this DatabaseRole while {role} is in the \
                 Cluster's spec.managed.roles, and the reverse."
            ),
            "databaseRoleReclaimPolicy: retain keeps the PostgreSQL role if this CR is deleted; cnpg-guard offboard \
             --role-managed-by databaserole drops it."
                .to_owned(),
        ],
        body: yaml(&object)?,
        markdown: false,
        secret: false,
    })
}

fn wiring_note(plan: &Plan<'_>, secret: &str) -> String {
    let c = plan.cluster;
    let (ns, role, db, host) = (&plan.namespace, &plan.role, &plan.database, plan.host());
    format!(
        "The app in `{ns}` connects as role `{role}` to database `{db}` on Cluster `{cns}/{cname}`:\n\
         host `{host}`, port `{POSTGRES_PORT}`. Everything is in Secret `{ns}/{secret}` (step 6):\n\
         `uri`, `host`, `port`, `dbname`, `user`, `password`.\n\
         \n\
         Helm values (key names depend on the chart):\n\
         \n\
         ```yaml\n\
         database:\n\
         \x20 host: {host}\n\
         \x20 port: {POSTGRES_PORT}\n\
         \x20 name: {db}\n\
         \x20 user: {role}\n\
         \x20 existingSecret: {secret}   # keys: password, uri\n\
         env:\n\
         \x20 - name: DATABASE_URL\n\
         \x20   valueFrom:\n\
         \x20     secretKeyRef: {{name: {secret}, key: uri}}\n\
         ```\n\
         \n\
         Never point the app at `{bootstrap}`, `{bsecret}` or `{superuser}`: the guard refuses\n\
         any Secret outside `{cns}` that carries them.\n",
        cns = c.namespace,
        cname = c.name,
        bootstrap = c.bootstrap.role,
        bsecret = c.bootstrap.secret,
        superuser = c.superuser_secret(),
    )
}

/// Everything on stdout: one YAML stream, a `# step N:` comment on each document.
pub(crate) fn render_stream(plan: &Plan<'_>, steps: &[Step]) -> String {
    let c = plan.cluster;
    let mut out = format!(
        "# cnpg-guard onboard: namespace {} -> role {}, database {} on Cluster {}/{}\n\
         # Apply the steps in this order; `cnpg-guard check` refuses a step taken before the one it needs.\n",
        plan.namespace, plan.role, plan.database, c.namespace, c.name
    );
    for step in steps {
        out.push_str("---\n");
        out.push_str(&step.stream_text());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{OnboardArgs, RoleManagedBy, validate};
    use super::*;
    use crate::rules::testing::{assert_only, contract, create, eval_with, facts_from};

    fn args(managed_by: RoleManagedBy) -> OnboardArgs {
        OnboardArgs {
            cluster: "apps-pg".into(),
            namespace: "shop-frontend".into(),
            role: "shop".into(),
            database: "shop_db".into(),
            contract: None,
            out: None,
            generate_password: false,
            force: false,
            extensions: Vec::new(),
            cluster_object: None,
            role_managed_by: managed_by,
            service_account: None,
        }
    }

    fn body(steps: &[Step], file: &str) -> String {
        steps.iter().find(|s| s.file == file).expect(file).body.clone()
    }

    const CLUSTER: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: apps-pg, namespace: databases}, \
                           spec: {managed: {roles: [{name: vergabe, login: true, passwordSecret: {name: apps-pg-role-vergabe}}]}}}";

    /// The DatabaseRole onboard writes for the registered consumer shop
    /// (granted pg_monitor) decodes as a DatabaseRole and is judged by
    /// role-registered: nothing found, nothing skipped, next to a Cluster
    /// that does not manage shop; denied next to the Cluster that step 2 of
    /// `--role-managed-by cluster` makes (one role in one place).
    #[test]
    fn the_database_role_is_on_contract_and_managed_in_one_place() {
        let contract = contract();
        let plan = validate(&args(RoleManagedBy::DatabaseRole), &contract).expect("valid");
        let steps = steps(&plan, None, "contract.yaml").unwrap();
        let files: Vec<&str> = steps.iter().map(|s| s.file).collect();
        assert!(!files.contains(&CLUSTER_ROLE_PATCH_FILE), "{files:?}");
        assert_eq!(files[1..3], [CLUSTER_HBA_PATCH_FILE, DATABASE_ROLE_FILE]);
        let hba = body(&steps, CLUSTER_HBA_PATCH_FILE);
        assert!(!hba.contains("managed"), "{hba}");
        let role = body(&steps, DATABASE_ROLE_FILE);
        assert!(role.contains("inRoles:\n  - pg_monitor\n"), "{role}");

        let review = create(&role);
        assert_eq!(review.kind.as_str(), "DatabaseRole");
        let found = eval_with(&review, &facts_from(&[CLUSTER]));
        assert_only(&found, "role-registered", None);
        assert!(found.violations.is_empty(), "{:?}", found.violations);
        assert!(found.skipped.is_empty(), "{:?}", found.skipped);

        // The Cluster as `--role-managed-by cluster` patches it: two places.
        let plan = validate(&args(RoleManagedBy::Cluster), &contract).expect("valid");
        let patch = body(&steps_of(&plan), CLUSTER_ROLE_PATCH_FILE);
        let mut cluster: serde_json::Value = serde_norway::from_str(CLUSTER).unwrap();
        cluster["spec"]["postgresql"] = serde_json::json!({"pg_hba": []});
        let ops: json_patch::Patch = serde_norway::from_str(&patch).unwrap();
        json_patch::patch(&mut cluster, &ops).unwrap();
        let both = serde_norway::to_string(&cluster).unwrap();
        let found = eval_with(&review, &facts_from(&[&both]));
        assert_only(&found, "role-registered", Some("spec.name"));
        assert!(
            found.violations[0].what.contains("one role is managed in one place"),
            "{:?}",
            found.violations
        );
    }

    fn steps_of(plan: &Plan<'_>) -> Vec<Step> {
        steps(plan, None, "contract.yaml").unwrap()
    }
}
