//! The admitted setup, read from the repository's manifests and written by
//! the real `cnpg-guard onboard`; `cnpg-guard check` on any set of objects;
//! applying objects to a server through the CNPG layer.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cnpg;
use crate::proc::run;
use crate::server::{Login, OsUser, Pg};
use crate::support::{guard_bin, root, yaml_file};

pub const CLUSTER: &str = "apps-pg";

/// The consumers onboarded by the suite with `cnpg-guard onboard` (namespace,
/// role, database), on top of `vergabe` of deploy/examples/good.
pub const ONBOARDED: &[(&str, &str, &str)] = &[("shop", "shop", "shop_db"), ("lager", "lager", "lager_db")];

pub fn kind(v: &Value) -> &str {
    v.get("kind").and_then(Value::as_str).unwrap_or("")
}

pub fn name(v: &Value) -> &str {
    v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

/// A consumer as the suite sees it: its role, its database and the
/// password of its role Secret (never printed).
#[derive(Clone, Debug)]
pub struct Tenant {
    pub role: String,
    pub database: String,
    pub password: String,
}

impl Tenant {
    pub fn login<'a>(&'a self, database: &'a str) -> Login<'a> {
        Login {
            user: &self.role,
            database,
            password: Some(&self.password),
        }
    }
}

/// A case's line in the closing table.
pub struct Note {
    pub case: String,
    pub rule: String,
    pub check: String,
    pub harm: String,
}

pub struct Suite {
    pub pg_bin: PathBuf,
    pub os: OsUser,
    pub work: tempfile::TempDir,
    pub contract: PathBuf,
    /// Every object of the admitted setup, the Cluster with onboard's patches applied.
    pub admitted: Vec<Value>,
    /// A stopped server with the admitted Cluster's bootstrap done, copied
    /// for each test.
    template: Pg,
    pub notes: Mutex<Vec<Note>>,
    checks: Mutex<u32>,
}

impl Suite {
    /// deploy/examples/good, then `cnpg-guard onboard` for each of
    /// ONBOARDED: step 1 into the contract (each onboarding sees the
    /// contract with the consumers before it), step 2's JSON patch applied
    /// to the Cluster, steps 3-6 added as objects.
    pub fn prepare(pg_bin: PathBuf) -> Suite {
        let os = OsUser::detect();
        let work = tempfile::Builder::new()
            .prefix("pgtest-suite-")
            .tempdir()
            .expect("temp dir");
        let good = root().join("deploy/examples/good");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&good)
            .expect("deploy/examples/good")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        let mut admitted: Vec<Value> = files.iter().flat_map(|f| yaml_file(f)).collect();

        let contract_path = work.path().join("contract.yaml");
        let mut contract = yaml_file(&root().join("deploy/base/contract.yaml"))
            .pop()
            .expect("deploy/base/contract.yaml holds a contract");
        std::fs::write(
            &contract_path,
            serde_norway::to_string(&contract).expect("contract YAML"),
        )
        .expect("contract");

        for (ns, role, db) in ONBOARDED {
            let out_dir = work.path().join(format!("onboard-{ns}"));
            let out = run(
                Command::new(guard_bin())
                    .args(["onboard", "--namespace", ns, "--role", role, "--database", db, "--out"])
                    .arg(&out_dir)
                    .arg("--generate-password")
                    .arg("--contract")
                    .arg(&contract_path),
                None,
                Duration::from_secs(30),
            );
            assert!(out.ok(), "cnpg-guard onboard for {ns}: {}", out.describe());

            // Step 1: the registry entry, into the contract's consumers of apps-pg.
            let entries = yaml_file(&out_dir.join("01-contract-entry.yaml"));
            let cluster_entry = contract
                .get_mut("sharedClusters")
                .and_then(Value::as_array_mut)
                .and_then(|a| {
                    a.iter_mut()
                        .find(|c| c.get("name").and_then(Value::as_str) == Some(CLUSTER))
                })
                .expect("the contract has apps-pg");
            let consumers = cluster_entry
                .as_object_mut()
                .expect("a shared cluster is a map")
                .entry("consumers")
                .or_insert_with(|| json!([]));
            for entry in entries
                .iter()
                .flat_map(|e| e.as_array().cloned().unwrap_or_else(|| vec![e.clone()]))
            {
                consumers.as_array_mut().expect("consumers is a list").push(entry);
            }
            std::fs::write(
                &contract_path,
                serde_norway::to_string(&contract).expect("contract YAML"),
            )
            .expect("write contract");

            // Step 2: whatever RFC 6902 operations it holds, on the Cluster.
            let ops = yaml_file(&out_dir.join("02-cluster-role-patch.yaml"))
                .pop()
                .expect("02-cluster-role-patch.yaml holds a patch");
            let patch: json_patch::Patch =
                serde_json::from_value(ops).unwrap_or_else(|e| panic!("step 2 of {ns} is not an RFC 6902 patch: {e}"));
            let cluster = admitted
                .iter_mut()
                .find(|d| kind(d) == "Cluster" && name(d) == CLUSTER)
                .expect("deploy/examples/good has Cluster apps-pg");
            json_patch::patch(cluster, &patch)
                .unwrap_or_else(|e| panic!("step 2 of {ns} does not apply to Cluster apps-pg: {e}"));

            // Steps 3-6: Kubernetes objects.
            let mut step_files: Vec<PathBuf> = std::fs::read_dir(&out_dir)
                .expect("onboard --out")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let n = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    n.ends_with(".yaml") && !n.starts_with("01-") && !n.starts_with("02-")
                })
                .collect();
            step_files.sort();
            for f in step_files {
                for doc in yaml_file(&f) {
                    if doc.get("kind").is_some() {
                        admitted.push(doc);
                    }
                }
            }
        }
        let (owner, db) = bootstrap_of(Self::cluster(&admitted));
        let template = Pg::template(&pg_bin, &os, &owner, &db);
        Suite {
            template,
            pg_bin,
            os,
            work,
            contract: contract_path,
            admitted,
            notes: Mutex::new(Vec::new()),
            checks: Mutex::new(0),
        }
    }

    pub fn note(&self, case: &str, rule: &str, check: &str, harm: &str) {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).push(Note {
            case: case.to_owned(),
            rule: rule.to_owned(),
            check: check.to_owned(),
            harm: harm.to_owned(),
        });
    }

    pub fn cluster(docs: &[Value]) -> &Value {
        docs.iter()
            .find(|d| kind(d) == "Cluster" && name(d) == CLUSTER)
            .expect("Cluster apps-pg")
    }

    pub fn cluster_mut(docs: &mut [Value]) -> &mut Value {
        docs.iter_mut()
            .find(|d| kind(d) == "Cluster" && name(d) == CLUSTER)
            .expect("Cluster apps-pg")
    }

    /// The Database object whose spec.name is `db`.
    pub fn database_mut<'a>(docs: &'a mut [Value], db: &str) -> &'a mut Value {
        docs.iter_mut()
            .find(|d| kind(d) == "Database" && d.pointer("/spec/name").and_then(Value::as_str) == Some(db))
            .unwrap_or_else(|| panic!("no Database for {db}"))
    }

    /// The consumers of the contract, with their passwords from the Secrets
    /// their managed roles name.
    pub fn tenants(&self) -> Vec<Tenant> {
        let contract = yaml_file(&self.contract).pop().expect("contract");
        let consumers = contract
            .pointer("/sharedClusters/0/consumers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let cluster = Self::cluster(&self.admitted);
        let roles = cluster
            .pointer("/spec/managed/roles")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        consumers
            .iter()
            .map(|c| {
                let role = c.get("role").and_then(Value::as_str).expect("consumer role").to_owned();
                let database = c
                    .pointer("/databases/0")
                    .and_then(Value::as_str)
                    .expect("consumer database")
                    .to_owned();
                let secret_name = roles
                    .iter()
                    .find(|r| r.get("name").and_then(Value::as_str) == Some(&role))
                    .and_then(|r| r.pointer("/passwordSecret/name"))
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("Cluster apps-pg has no managed role {role} with a passwordSecret"));
                let secret = self
                    .admitted
                    .iter()
                    .find(|d| kind(d) == "Secret" && name(d) == secret_name)
                    .unwrap_or_else(|| panic!("no Secret {secret_name}"));
                let (_, password) = cnpg::basic_auth(secret).unwrap_or_else(|e| panic!("Secret {secret_name}: {e}"));
                Tenant {
                    role,
                    database,
                    password,
                }
            })
            .collect()
    }

    pub fn tenant(&self, role: &str) -> Tenant {
        self.tenants()
            .into_iter()
            .find(|t| t.role == role)
            .unwrap_or_else(|| panic!("no tenant {role}"))
    }

    /// A server set up as CNPG sets up apps-pg's instance.
    pub fn server(&self, docs: &[Value]) -> Pg {
        let (owner, db) = bootstrap_of(Self::cluster(docs));
        if (owner.clone(), db.clone()) == bootstrap_of(Self::cluster(&self.admitted)) {
            Pg::from_template(&self.template)
        } else {
            Pg::start(&self.pg_bin, &self.os, &owner, &db)
        }
    }

    /// `cnpg-guard check --output json` on `docs` (one multi-document file).
    pub fn check(&self, docs: &[Value]) -> Check {
        self.check_with(docs, &self.contract)
    }

    /// A file in the suite's directory.
    pub fn scratch_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.work.path().join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// The suite's contract as a value.
    pub fn contract_value(&self) -> Value {
        yaml_file(&self.contract).pop().expect("contract")
    }

    /// `check` against another contract file.
    pub fn check_with(&self, docs: &[Value], contract: &Path) -> Check {
        let n = {
            let mut c = self.checks.lock().unwrap_or_else(|e| e.into_inner());
            *c += 1;
            *c
        };
        let path = self.work.path().join(format!("check-{n}.yaml"));
        let text: Vec<String> = docs.iter().map(|d| serde_norway::to_string(d).expect("YAML")).collect();
        std::fs::write(&path, text.join("---\n")).expect("write check input");
        let out = run(
            Command::new(guard_bin())
                .args(["check", "--output", "json", "--contract"])
                .arg(contract)
                .arg(&path),
            None,
            Duration::from_secs(30),
        );
        let report: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("check --output json is not JSON ({e}): {}", out.describe()));
        Check {
            code: out.code,
            findings: report
                .get("findings")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// `spec.bootstrap.initdb` owner and database (CNPG's defaults: app, app).
fn bootstrap_of(cluster: &Value) -> (String, String) {
    let get = |p: &str| cluster.pointer(p).and_then(Value::as_str).unwrap_or("app").to_owned();
    (
        get("/spec/bootstrap/initdb/owner"),
        get("/spec/bootstrap/initdb/database"),
    )
}

pub struct Check {
    pub code: Option<i32>,
    pub findings: Vec<Value>,
}

impl Check {
    pub fn lines(&self) -> String {
        if self.findings.is_empty() {
            return "    (none)\n".to_owned();
        }
        self.findings
            .iter()
            .map(|f| {
                format!(
                    "    {} {} {} {} {}\n",
                    f.get("disposition").and_then(Value::as_str).unwrap_or(""),
                    f.get("rule").and_then(Value::as_str).unwrap_or(""),
                    f.get("kind").and_then(Value::as_str).unwrap_or(""),
                    f.get("name").and_then(Value::as_str).unwrap_or(""),
                    f.get("field").and_then(Value::as_str).unwrap_or(""),
                )
            })
            .collect()
    }

    /// A denial by `rule` of object `kind`/`name` on a field starting with `field`.
    pub fn denies(&self, rule: &str, kind: &str, name: &str, field: &str) -> bool {
        self.code == Some(1)
            && self.findings.iter().any(|f| {
                f.get("rule").and_then(Value::as_str) == Some(rule)
                    && f.get("disposition").and_then(Value::as_str) == Some("denied")
                    && f.get("kind").and_then(Value::as_str) == Some(kind)
                    && f.get("name").and_then(Value::as_str) == Some(name)
                    && f.get("field")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.starts_with(field))
            })
    }
}

/// The Cluster, then the Databases in their order: what CNPG does with the
/// objects once the API server has stored them.
pub struct Applied {
    pub role_errors: Vec<(String, String)>,
    pub database_errors: Vec<String>,
}

pub fn apply_cluster(pg: &Pg, docs: &[Value]) -> Vec<(String, String)> {
    let secrets: Vec<Value> = docs.iter().filter(|d| kind(d) == "Secret").cloned().collect();
    cnpg::apply_cluster(pg, Suite::cluster(docs), &secrets).role_errors
}

pub fn apply_all(pg: &Pg, docs: &[Value]) -> Applied {
    let role_errors = apply_cluster(pg, docs);
    let mut database_errors = Vec::new();
    for d in docs.iter().filter(|d| kind(d) == "Database") {
        database_errors.extend(cnpg::apply_database(pg, d).errors);
    }
    Applied {
        role_errors,
        database_errors,
    }
}
