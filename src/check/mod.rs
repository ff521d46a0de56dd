//! `cnpg-guard check`: the rules over manifests, before a merge.
//!
//! Each object enters the shared pipeline as a CREATE; facts come from the
//! whole set ([`OfflineFacts`]). Nothing here judges: it reads, calls
//! [`decide`], and reports.

mod report;

pub use crate::manifests::{Document, InputError};
pub use report::{Format, render};

use crate::contract::Contract;
use crate::decision::{Decision, decide};
use crate::facts::OfflineFacts;
use crate::manifests;
use crate::model::{Kind, Review};

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

/// Checks `documents` against `contract`. Namespaced objects without a
/// namespace are taken to be in `default_namespace`, as kubectl would.
pub fn check(documents: Vec<Document>, contract: &Contract, default_namespace: &str) -> Report {
    let decoded = manifests::decode(documents, default_namespace);
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
