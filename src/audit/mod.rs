//! `cnpg-guard audit`: the rules over the objects already in a live cluster.
//!
//! Lists the intercepted kinds, then hands them to the same pipeline as
//! `check` (each object a CREATE, facts from the listed set, which *is* the
//! live state). Nothing here judges.

pub mod periodic;
mod policy_report;

use std::collections::{BTreeSet, HashSet};

use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, ObjectList, TypeMeta};
use serde::de::DeserializeOwned;

use crate::check::{self, Checked, Format, Report};
use crate::contract::Contract;
use crate::decision::decide_missing;
use crate::facts::live::api_resource;
use crate::manifests::{Located, Unreadable};
use crate::model::kinds::{Descriptor, KINDS, Listed};
use crate::model::{Kind, Object};
use crate::rules;

pub use policy_report::policy_reports;

/// What the live cluster holds, plus what could not be looked at.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Every object of a covered kind that was listed, decoded.
    pub objects: Vec<Located>,
    /// Listed objects that do not decode as their kind.
    pub unreadable: Vec<Unreadable>,
    /// The kinds listed in full (where the table of kinds lists them):
    /// only for these can an object's absence be judged.
    pub complete: HashSet<Kind>,
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

impl Inventory {
    /// Decodes listed objects of `d`'s kind into the inventory.
    fn add(&mut self, d: &Descriptor, objects: Vec<DynamicObject>) {
        for mut o in objects {
            o.types = Some(TypeMeta {
                api_version: d.api_version.to_owned(),
                kind: d.name.to_owned(),
            });
            let namespace = o.metadata.namespace.clone().unwrap_or_default();
            let name = o.metadata.name.clone().unwrap_or_default();
            let decoded = serde_json::to_value(o)
                .map_err(|e| e.to_string())
                .and_then(|value| Object::decode(d.kind, value).map_err(|e| e.to_string()));
            match decoded {
                Ok(object) => self.objects.push(Located {
                    file: "cluster".into(),
                    line: None,
                    namespace,
                    name,
                    object,
                }),
                Err(message) => self.unreadable.push(Unreadable {
                    file: "cluster".into(),
                    line: None,
                    message: format!(
                        "{} {}: {message}",
                        d.name,
                        crate::model::display_name(&namespace, &name)
                    ),
                }),
            }
        }
    }
}

/// Lists every object of the covered kinds that the guard may read, where
/// the table of kinds says each is listed. With `list_secrets` false,
/// Secrets are not listed cluster-wide (the guard's own RBAC forbids it)
/// and only the bootstrap Secrets are read.
pub async fn inventory(client: &Client, contract: &Contract, list_secrets: bool) -> Result<Inventory, AuditError> {
    let mut inv = Inventory::default();
    let shared: BTreeSet<&str> = contract.clusters.iter().map(|c| c.namespace.as_str()).collect();
    for d in KINDS {
        let ar = api_resource(d);
        let listed = match d.listed {
            Listed::Everywhere => list_kind(&mut inv, d, Api::all_with(client.clone(), &ar), "").await?,
            Listed::SharedNamespaces => {
                let mut all = true;
                for ns in &shared {
                    let api = Api::namespaced_with(client.clone(), ns, &ar);
                    all &= list_kind(&mut inv, d, api, ns).await?;
                }
                all
            }
            Listed::BootstrapSecrets => bootstrap_secrets(&mut inv, d, client, contract, list_secrets).await?,
        };
        if listed {
            inv.complete.insert(d.kind);
        }
    }
    Ok(inv)
}

/// Lists one kind through `api` (in namespace `ns`, or everywhere): false,
/// with a note, when the kind is not served (its CRD is not installed) or
/// the guard may not list it there.
async fn list_kind(inv: &mut Inventory, d: &Descriptor, api: Api<DynamicObject>, ns: &str) -> Result<bool, AuditError> {
    let whereabouts = if ns.is_empty() {
        String::new()
    } else {
        format!(" in {ns}")
    };
    match list_all(&api).await {
        Ok(items) => {
            inv.add(d, items);
            Ok(true)
        }
        Err(e) if status_of(&e) == Some(404) => {
            inv.notes.push(format!(
                "{} ({}) is not served: are the CNPG CRDs installed?",
                d.plural, d.group
            ));
            Ok(false)
        }
        Err(e) if status_of(&e) == Some(403) => {
            inv.notes.push(format!(
                "cannot list {}{whereabouts} (RBAC): the rules on {} were not checked there",
                d.plural, d.name
            ));
            Ok(false)
        }
        Err(source) => Err(AuditError::List {
            what: format!("{}{whereabouts}", d.plural),
            source,
        }),
    }
}

/// Secrets: the guard's own RBAC reads only the bootstrap Secret by name.
/// With a kubeconfig that may list Secrets, every Secret is checked.
async fn bootstrap_secrets(
    inv: &mut Inventory,
    d: &Descriptor,
    client: &Client,
    contract: &Contract,
    list_secrets: bool,
) -> Result<bool, AuditError> {
    let ar = api_resource(d);
    if list_secrets {
        match list_all(&Api::<DynamicObject>::all_with(client.clone(), &ar)).await {
            Ok(items) => {
                inv.add(d, items);
                inv.secrets_listed = true;
                return Ok(true);
            }
            Err(e) if status_of(&e) != Some(403) => {
                return Err(AuditError::List {
                    what: "secrets".into(),
                    source: e,
                });
            }
            Err(_) => {}
        }
    }
    inv.notes.push(
        "cannot list Secrets cluster-wide (RBAC): bootstrap-secret-confined was not checked on Secrets outside \
         the shared namespaces; run `cnpg-guard audit` with a kubeconfig that may list secrets to include them"
            .into(),
    );
    for c in &contract.clusters {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &c.namespace, &ar);
        match api.get_opt(&c.bootstrap.secret).await {
            Ok(Some(s)) => inv.add(d, vec![s]),
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
    Ok(false)
}

/// Judges an inventory with the shared pipeline, and reports the
/// protected objects that are missing from it (of the kinds listed in full).
pub fn judge(inventory: Inventory, contract: &Contract) -> (Report, Vec<String>) {
    let mut report = Report {
        checked: check::judge_objects(inventory.objects, contract, true, &crate::model::User::default()),
        unreadable: inventory.unreadable,
        ..Report::default()
    };
    let present: HashSet<(Kind, &str, &str)> = report
        .checked
        .iter()
        .map(|c| (c.kind, c.namespace.as_str(), c.name.as_str()))
        .collect();
    let complete = &inventory.complete;
    let missing = rules::missing(contract, &|kind, ns, name| {
        !complete.contains(&kind) || present.contains(&(kind, ns, name))
    });
    for (namespace, name, violation) in missing {
        report.checked.push(Checked {
            file: "cluster (missing)".into(),
            line: None,
            kind: violation.kind,
            namespace,
            name,
            decision: decide_missing(violation, contract),
        });
    }
    let mut notes = inventory.notes;
    notes.push(IDENTITY_NOTE.into());
    (report, notes)
}

/// Why `audit` says nothing about who wrote an object.
pub const IDENTITY_NOTE: &str = "who wrote each object is not known to an audit: tenant-scoped and platform-only \
                                 (who may write what) are enforced at admission; the audit judges the objects' values";

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
