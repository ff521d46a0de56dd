//! `cnpg-guard check`: the rules over manifests, before a merge.
//!
//! Each object enters the shared pipeline as a CREATE; facts come from the
//! whole set ([`OfflineFacts`]). Nothing here judges: it reads, calls
//! [`decide`], and reports.

pub mod input;
mod report;

use serde_json::Value;

pub use input::{Document, InputError};
pub use report::{Format, render};

use crate::contract::Contract;
use crate::decision::{Decision, decide};
use crate::facts::OfflineFacts;
use crate::model::{Kind, Object, Review};

/// One checked object and its verdict.
#[derive(Debug)]
pub struct Checked {
    pub file: String,
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub decision: Decision,
}

/// Everything `check` found.
#[derive(Debug, Default)]
pub struct Report {
    pub checked: Vec<Checked>,
    /// Documents that are not Kubernetes objects, or of kinds not covered.
    pub skipped_documents: usize,
    /// Objects of covered kinds that cannot be read (exit 2).
    pub errors: Vec<String>,
}

impl Report {
    pub fn denied(&self) -> usize {
        self.checked.iter().filter(|c| !c.decision.allowed).count()
    }

    pub fn warned(&self) -> usize {
        self.checked
            .iter()
            .filter(|c| c.decision.allowed && c.decision.label() != "allow")
            .count()
    }

    /// 0: nothing denied; 1: something denied; 2: something unreadable.
    pub fn exit_code(&self) -> i32 {
        if !self.errors.is_empty() {
            2
        } else if self.denied() > 0 {
            1
        } else {
            0
        }
    }
}

/// Typed objects from documents: `(file, namespace, name, object)`, plus
/// how many documents were skipped and which could not be read.
pub struct Decoded {
    pub objects: Vec<(String, String, String, Object)>,
    pub skipped: usize,
    pub errors: Vec<String>,
}

/// Decodes the documents of covered kinds. Namespaced objects without a
/// namespace are taken to be in `default_namespace`, as kubectl would.
pub fn decode(documents: Vec<Document>, default_namespace: &str) -> Decoded {
    let mut out = Decoded {
        objects: Vec::new(),
        skipped: 0,
        errors: Vec::new(),
    };
    for doc in documents {
        let Some((kind, namespace, name)) = identify(&doc.value, default_namespace) else {
            out.skipped += 1;
            continue;
        };
        match Object::decode(kind, doc.value) {
            Ok(object) => out.objects.push((doc.file, namespace, name, object)),
            Err(e) => out.errors.push(format!(
                "{}: {kind} {}: cannot be read: {e}",
                doc.file,
                show(&namespace, &name)
            )),
        }
    }
    out
}

/// Offline facts from manifests (`serve --facts-from`).
pub fn facts_from(documents: Vec<Document>, contract: &Contract) -> (OfflineFacts, Vec<String>) {
    let decoded = decode(documents, "default");
    let facts = OfflineFacts::from_objects(contract, decoded.objects.iter().map(|(_, ns, _, o)| (ns.as_str(), o)));
    (facts, decoded.errors)
}

/// Checks `documents` against `contract`. Namespaced objects without a
/// namespace are taken to be in `default_namespace`, as kubectl would.
pub fn check(documents: Vec<Document>, contract: &Contract, default_namespace: &str) -> Report {
    let decoded = decode(documents, default_namespace);
    let mut report = Report {
        skipped_documents: decoded.skipped,
        errors: decoded.errors,
        ..Report::default()
    };
    let objects = decoded.objects;
    let facts = OfflineFacts::from_objects(contract, objects.iter().map(|(_, ns, _, o)| (ns.as_str(), o)));
    for (file, namespace, name, object) in objects {
        let kind = object.kind();
        let review = Review::create(object, namespace.clone(), name.clone());
        let decision = decide(&review, contract, &facts);
        report.checked.push(Checked {
            file,
            kind,
            namespace,
            name,
            decision,
        });
    }
    report
}

/// The covered kind, namespace and name of a document, or `None` to skip it.
fn identify(value: &Value, default_namespace: &str) -> Option<(Kind, String, String)> {
    let api_version = value.get("apiVersion")?.as_str()?;
    let kind = Kind::from_api_version(api_version, value.get("kind")?.as_str()?)?;
    let meta = value.get("metadata")?;
    let name = meta.get("name")?.as_str()?.to_owned();
    let namespace = if kind.is_namespaced() {
        meta.get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(default_namespace)
            .to_owned()
    } else {
        String::new()
    };
    Some((kind, namespace, name))
}

fn show(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}
