//! The seven onboarding steps, in the order they must be applied.
//!
//! Kubernetes objects are k8s-openapi types; the CNPG pieces are small
//! serializable structs, so the YAML keeps the field order people expect.

use std::collections::BTreeMap;
use std::fmt::Write;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::{OnboardError, PASSWORD_PLACEHOLDER, POSTGRES_PORT, Plan};

/// One step: its file under `--out`, a title, comment lines and the body.
#[derive(Debug)]
pub(crate) struct Step {
    pub number: u8,
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
    /// The file's content: YAML with comments, or the Markdown note.
    pub fn file_text(&self) -> String {
        if self.markdown {
            return format!("# Step {}: {}\n\n{}", self.number, self.title, self.body);
        }
        let mut out = format!("# step {}: {}\n", self.number, self.title);
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
        let mut out = format!("# step {}: {}\n", self.number, self.title);
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
    databases: &'a [String],
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

/// Step 2's JSON patch: the role appended to `spec.managed.roles` and the
/// role's lines put first in `spec.postgresql.pg_hba`. With the Cluster's
/// current `spec`, only what it lacks is added, and a list (or its parent)
/// it does not have yet is created (RFC 6902 `add` needs the parent).
fn cluster_patch(
    current: Option<&serde_json::Value>,
    role: ManagedRole<'_>,
    lines: [&str; 2],
) -> Result<String, OnboardError> {
    let mut ops: Vec<String> = Vec::new();
    let at = |path: &str| current.and_then(|spec| spec.pointer(path));
    let has_role = at("/managed/roles")
        .and_then(|r| r.as_array())
        .is_some_and(|roles| roles.iter().any(|r| r["name"] == role.name));
    if !has_role {
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
        file: "01-contract-entry.yaml",
        title: format!("register {ns} as a consumer of {} in the contract", c.name),
        notes,
        body: yaml(&entry)?,
        markdown: false,
        secret: false,
    });

    // 2. The managed role and its pg_hba lines, as an RFC 6902 patch of the Cluster.
    let role_secret = plan.role_secret();
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
        password_secret: NameRef { name: &role_secret },
    };
    let body = cluster_patch(plan.current.as_ref(), role_entry, [&own_line, &reject_line])?;
    steps.push(Step {
        number: 2,
        file: "02-cluster-role-patch.yaml",
        title: format!("provision role {role} and its pg_hba lines in Cluster {cluster_ref}"),
        notes: vec![
            "A JSON patch (RFC 6902). Apply step 3's Secret with it: CNPG reads the role's password from it."
                .to_owned(),
            format!(
                "The two pg_hba lines keep {role} to its own databases: `{own_line}`, then `{reject_line}` \
                 (CNPG creates databases that PUBLIC may connect to; the guard's tenant-isolated rule demands them)."
            ),
            format!(
                "  kubectl patch cluster {} -n {} --type=json --patch-file 02-cluster-role-patch.yaml  # this document",
                c.name, c.namespace
            ),
            "GitOps: append the role to spec.managed.roles and put the two lines first in spec.postgresql.pg_hba \
             in the Cluster manifest instead."
                .to_owned(),
            match plan.current {
                Some(_) => "Written for the Cluster given with --cluster-object: it adds only what that Cluster \
                            lacks, creating spec.managed.roles and spec.postgresql.pg_hba where they are missing."
                    .to_owned(),
                None => format!(
                    "Written for a Cluster that has spec.managed.roles and spec.postgresql.pg_hba. For any Cluster, \
                     pass it: kubectl get cluster {} -n {} -o yaml | cnpg-guard onboard ... --cluster-object -",
                    c.name, c.namespace
                ),
            },
        ],
        body,
        markdown: false,
        secret: false,
    });

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
        file: "03-role-secret.yaml",
        title: format!("password Secret of role {role} in {}", c.namespace),
        notes: [
            vec![format!(
                "Named by the role's passwordSecret; cnpg.io/reload makes CNPG pick up a changed password."
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
        file: "07-dsn-wiring.md",
        title: format!("wire the DSN into the Helm values of the app in {ns}"),
        notes: Vec::new(),
        body: wiring_note(plan, &runtime_secret),
        markdown: true,
        secret: false,
    });
    Ok(steps)
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
