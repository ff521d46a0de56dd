//! `cnpg-guard check`: the rules over manifests, before a merge.
//!
//! Each object enters the shared pipeline as a CREATE; facts come from the
//! whole set ([`OfflineFacts`]). Nothing here judges: it reads, calls
//! [`decide`], and reports.

mod report;

pub use crate::manifests::{Document, InputError, Inputs, Located, Unreadable};
pub use report::{Format, render, render_listing};

use crate::contract::Contract;
use crate::decision::{Decision, Verdict, decide};
use crate::facts::OfflineFacts;
use crate::manifests;
use crate::model::{Kind, Review, User};

/// What `check` says when the input holds no Kubernetes object at all
/// (an empty file or directory, an empty stdin from a failed command).
pub const NO_OBJECTS: &str = "no Kubernetes objects found in the input (an empty file, directory or stdin?); pass --allow-empty if that is expected";

/// One checked object and its verdict.
#[derive(Debug)]
pub struct Checked {
    pub file: String,
    /// The line where the object's document starts, where known.
    pub line: Option<usize>,
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
    pub skipped_documents: Vec<crate::manifests::SkippedDocument>,
    /// Inputs and objects of covered kinds that cannot be read (exit 2).
    pub unreadable: Vec<Unreadable>,
    /// Why nothing could be checked at all (the contract cannot be read,
    /// no object in the input): exit 2.
    pub error: Option<String>,
    /// Whose writes the objects were judged as: `the platform (no --as)`,
    /// or the `--as` user and the identity the contract gives it.
    pub judged_as: String,
}

/// How a report names whose writes it judged.
fn judged_as(contract: &Contract, requester: &User) -> String {
    if requester.username.is_empty() && requester.groups.is_empty() {
        return "the platform (no --as)".into();
    }
    let identity = contract.identity(&requester.username, &requester.groups);
    format!("{} ({})", requester.username, identity.label())
}

impl Report {
    /// A report of a check that could not run.
    pub fn failed(error: String) -> Self {
        Report {
            error: Some(error),
            ..Report::default()
        }
    }

    pub fn denied(&self) -> usize {
        self.checked.iter().filter(|c| !c.decision.allowed).count()
    }

    pub fn warned(&self) -> usize {
        self.checked
            .iter()
            .filter(|c| c.decision.allowed && c.decision.verdict() != Verdict::Allow)
            .count()
    }

    pub fn skipped_checks(&self) -> usize {
        self.checked.iter().map(|c| c.decision.skipped.len()).sum()
    }

    /// 2: something unreadable or nothing checked; 1: something denied; 0: otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.error.is_some() || !self.unreadable.is_empty() {
            2
        } else if self.denied() > 0 {
            1
        } else {
            0
        }
    }
}

/// Checks the documents read from the inputs against `contract`; inputs
/// that could not be read are reported and the rest is checked all the
/// same. Namespaced objects without a namespace are taken to be in
/// `default_namespace`, as kubectl would. Without any Kubernetes object in
/// the input the report carries [`NO_OBJECTS`] unless `allow_empty`.
/// Every object is judged as `requester`'s write (`--as`, `--as-group`;
/// without them, anonymous: the platform's review).
pub fn check(
    inputs: Inputs,
    contract: &Contract,
    default_namespace: &str,
    allow_empty: bool,
    requester: &User,
) -> Report {
    judge(inputs, contract, default_namespace, allow_empty, requester)
}

fn judge(inputs: Inputs, contract: &Contract, default_namespace: &str, allow_empty: bool, requester: &User) -> Report {
    let no_objects = inputs.unreadable.is_empty() && inputs.object_count() == 0 && !allow_empty;
    let mut unreadable: Vec<Unreadable> = inputs.unreadable.iter().map(Unreadable::from).collect();
    let decoded = manifests::decode(inputs.documents, default_namespace);
    unreadable.extend(decoded.errors);
    let mut report = Report {
        skipped_documents: decoded.skipped,
        unreadable,
        error: no_objects.then(|| NO_OBJECTS.to_owned()),
        ..Report::default()
    };
    report.checked = judge_objects(decoded.objects, contract, false, requester);
    report.judged_as = judged_as(contract, requester);
    report
}

/// Each object as a CREATE, with facts from the whole set: the pipeline
/// behind `check` (manifests) and `audit` (objects `stored` in the cluster).
pub fn judge_objects(objects: Vec<Located>, contract: &Contract, stored: bool, requester: &User) -> Vec<Checked> {
    let facts = OfflineFacts::from_objects(contract, objects.iter().map(|o| (o.namespace.as_str(), &o.object)));
    objects
        .into_iter()
        .map(|located| {
            let kind = located.object.kind();
            let mut review = Review::create(located.object, located.namespace.clone(), located.name.clone());
            review.stored = stored;
            review.user = requester.clone();
            let decision = decide(&review, contract, &facts);
            Checked {
                file: located.file,
                line: located.line,
                kind,
                namespace: located.namespace,
                name: located.name,
                decision,
            }
        })
        .collect()
}
