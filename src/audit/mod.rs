//! `cnpg-guard audit`: the rules over the objects already in a live cluster.
//!
//! Lists the intercepted kinds, then hands them to the same pipeline as
//! `check` (each object a CREATE, facts from the listed set, which *is* the
//! live state). Nothing here judges.

pub mod periodic;
mod policy_report;

use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, ObjectList, TypeMeta};
use serde::Serialize;
use serde::de::DeserializeOwned;

use std::collections::HashSet;

use crate::check::{self, Checked, Document, Format, Report};
use crate::contract::Contract;
use crate::decision::decide_missing;
use crate::facts::live::api_resource;
use crate::model::Kind;
use crate::model::kinds::KINDS;
use crate::rules;

pub use policy_report::policy_reports;

/// CloudNativePG's API group.
const CNPG_GROUP: &str = "postgresql.cnpg.io";

/// What the live cluster holds, plus what could not be looked at.
#[derive(Debug, Default)]
pub struct Inventory {
    pub documents: Vec<Document>,
    /// Checks that could not run and why (missing permissions, missing CRDs).
    pub notes: Vec<String>,
    /// Whether every Secret was listed (else only the bootstrap Secrets).
    pub secrets_listed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot list {what}: {source}")]
    List {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot connect to the cluster: {0}")]
    Connect(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    Text,
    Json,
    Policyreport,
}

const PAGE: u32 = 500;

fn status_of(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

async fn list_all<K>(api: &Api<K>) -> Result<Vec<K>, kube::Error>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page: ObjectList<K> = api.list(&params).await?;
        let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
        out.extend(page.items);
        match next {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(out),
        }
    }
}

fn push<K: Serialize>(docs: &mut Vec<Document>, objects: Vec<K>) {
    for o in objects {
        if let Ok(value) = serde_json::to_value(&o) {
            docs.push(Document {
                file: "cluster".into(),
                line: None,
                value,
            });
        }
    }
}

async fn list_cnpg(client: &Client, ar: &ApiResource, inv: &mut Inventory) -> Result<(), AuditError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    match list_all(&api).await {
        Ok(mut items) => {
            for o in &mut items {
                o.types = Some(TypeMeta {
                    api_version: ar.api_version.clone(),
                    kind: ar.kind.clone(),
                });
            }
            push(&mut inv.documents, items);
            Ok(())
        }
        Err(e) if status_of(&e) == Some(404) => {
            inv.notes.push(format!(
                "{} ({}) is not served: are the CNPG CRDs installed?",
                ar.plural, ar.group
            ));
            Ok(())
        }
        Err(source) => Err(AuditError::List {
            what: format!("{}.{}", ar.plural, ar.group),
            source,
        }),
    }
}

/// Lists every object of the intercepted kinds that the guard may read.
/// With `list_secrets` false, Secrets are not listed cluster-wide (the
/// guard's own RBAC forbids it) and only the bootstrap Secrets are read.
pub async fn inventory(client: &Client, contract: &Contract, list_secrets: bool) -> Result<Inventory, AuditError> {
    let mut inv = Inventory {
        secrets_listed: list_secrets,
        ..Inventory::default()
    };
    // Every CloudNativePG kind of the table, in all namespaces.
    for k in KINDS.iter().filter(|k| k.group == CNPG_GROUP) {
        list_cnpg(client, &api_resource(k), &mut inv).await?;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let items = list_all(&namespaces).await.map_err(|source| AuditError::List {
        what: "namespaces".into(),
        source,
    })?;
    push(&mut inv.documents, items);

    let shared: std::collections::BTreeSet<&str> = contract.clusters.iter().map(|c| c.namespace.as_str()).collect();
    for ns in &shared {
        let api: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
        let items = list_all(&api).await.map_err(|source| AuditError::List {
            what: format!("networkpolicies in {ns}"),
            source,
        })?;
        push(&mut inv.documents, items);

        // Services that could expose the shared cluster (network-posture).
        let api: Api<Service> = Api::namespaced(client.clone(), ns);
        match list_all(&api).await {
            Ok(items) => push(&mut inv.documents, items),
            Err(e) if status_of(&e) == Some(403) => inv.notes.push(format!(
                "cannot list Services in {ns} (RBAC): exposure of the shared cluster by a Service was not checked"
            )),
            Err(source) => {
                return Err(AuditError::List {
                    what: format!("services in {ns}"),
                    source,
                });
            }
        }
    }

    // Secrets: the guard's own RBAC reads only the bootstrap Secret by name.
    // With a kubeconfig that may list Secrets, every Secret is checked.
    let all: Api<Secret> = Api::all(client.clone());
    let listed = if list_secrets {
        list_all(&all).await.map(Some)
    } else {
        Ok(None)
    };
    match listed {
        Ok(Some(items)) => push(&mut inv.documents, items),
        Err(e) if status_of(&e) != Some(403) => {
            return Err(AuditError::List {
                what: "secrets".into(),
                source: e,
            });
        }
        _ => {
            inv.secrets_listed = false;
            inv.notes.push(
                "cannot list Secrets cluster-wide (RBAC): bootstrap-secret-confined was not checked on Secrets outside \
                 the shared namespaces; run `cnpg-guard audit` with a kubeconfig that may list secrets to include them"
                    .into(),
            );
            for c in &contract.clusters {
                let api: Api<Secret> = Api::namespaced(client.clone(), &c.namespace);
                match api.get_opt(&c.bootstrap.secret).await {
                    Ok(Some(s)) => push(&mut inv.documents, vec![s]),
                    Ok(None) => inv.notes.push(format!(
                        "the bootstrap Secret {}/{} does not exist",
                        c.namespace, c.bootstrap.secret
                    )),
                    Err(e) => inv.notes.push(format!(
                        "cannot read the bootstrap Secret {}/{}: {e}",
                        c.namespace, c.bootstrap.secret
                    )),
                }
            }
        }
    }
    Ok(inv)
}

/// Judges an inventory with the shared pipeline, and reports the
/// protected objects that are missing from it.
pub fn judge(inventory: Inventory, contract: &Contract) -> (Report, Vec<String>) {
    let inputs = check::Inputs {
        documents: inventory.documents,
        unreadable: Vec::new(),
    };
    let mut report = check::check_stored(inputs, contract, "default");
    let present: HashSet<(Kind, &str, &str)> = report
        .checked
        .iter()
        .map(|c| (c.kind, c.namespace.as_str(), c.name.as_str()))
        .collect();
    let missing = rules::missing(contract, &|kind, ns, name| present.contains(&(kind, ns, name)));
    for violation in missing {
        let (namespace, name) = violation.object.split_once('/').unwrap_or(("", &violation.object));
        let (kind, namespace, name) = (violation.kind, namespace.to_owned(), name.to_owned());
        report.checked.push(Checked {
            file: "cluster (missing)".into(),
            line: None,
            kind,
            namespace,
            name,
            decision: decide_missing(violation, contract),
        });
    }
    (report, inventory.notes)
}

/// Renders an audit report.
pub fn render(report: &Report, notes: &[String], format: AuditFormat) -> String {
    match format {
        AuditFormat::Text => {
            let mut out = check::render(report, Format::Text, false);
            for n in notes {
                out.push_str(&format!("NOTE {n}\n"));
            }
            out
        }
        AuditFormat::Json => check::render(report, Format::Json, false),
        AuditFormat::Policyreport => policy_reports(report),
    }
}
