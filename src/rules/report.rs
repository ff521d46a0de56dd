//! What a rule reports: a [`Violation`] (a broken promise), a [`Skipped`]
//! check (a fact it needs is not available here), an [`AgedFact`] (a check
//! answered from facts kept while a watch is broken), and all of them for
//! one review ([`Report`]).

use std::fmt;

use serde::Serialize;

use super::RuleId;
use crate::model::Kind;

/// One broken promise of the contract, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: RuleId,
    pub kind: Kind,
    /// `ns/name` or `name`.
    pub object: String,
    /// Field path in the object (`spec.owner`, `metadata.labels[...]`).
    pub field: String,
    /// What is wrong; never contains a Secret value.
    pub what: String,
    /// What to do about it.
    pub fix: String,
    /// Raised because live facts were stale (fail closed), not by the
    /// object itself: never ratcheted.
    #[serde(skip)]
    pub fail_closed: bool,
    /// Worth a warning, never a denial (a risky but legitimate setting).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub advisory: bool,
    /// A fingerprint of the offending value where `field` and `what` do not
    /// already pin it (a NetworkPolicy rule, a Secret value): ratcheting
    /// matches it too. Never serialized.
    #[serde(skip)]
    pub evidence: Option<Evidence>,
}

/// A fingerprint of an offending value, for ratcheting only. It may be
/// taken of a Secret value, so it is never printed or serialized.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Evidence(u64);

impl Evidence {
    pub fn of(value: impl std::hash::Hash) -> Evidence {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        Evidence(BuildHasherDefault::<DefaultHasher>::default().hash_one(value))
    }
}

impl fmt::Debug for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Evidence(<redacted>)")
    }
}

impl Violation {
    /// `[rule-id] Kind ns/name: field: what is wrong. Fix: what to do.`
    pub fn line(&self) -> String {
        [
            "[",
            self.rule.as_str(),
            "] ",
            self.kind.as_str(),
            " ",
            &self.object,
            ": ",
            &self.field,
            ": ",
            &self.what,
            ". Fix: ",
            &self.fix,
            ".",
        ]
        .concat()
    }

    /// `[rule-id] what`, at most 120 characters: an admission warning.
    pub fn short(&self) -> String {
        self.short_with("")
    }

    /// `[rule-id] <note>what`, at most 120 characters.
    pub fn short_with(&self, note: &str) -> String {
        truncate(format!("[{}] {note}{}", self.rule, self.what), 120)
    }

    /// Identity for ratcheting: the same rule, at the same field, finding
    /// the same offending value. A violation widened in place, or repeated
    /// at another field, has another key.
    pub fn ratchet_key(&self) -> RatchetKey {
        (self.rule, self.field.clone(), self.what.clone(), self.evidence)
    }
}

/// See [`Violation::ratchet_key`].
pub type RatchetKey = (RuleId, String, String, Option<Evidence>);

fn truncate(mut s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let cut = s.char_indices().nth(max - 3).map(|(i, _)| i).unwrap_or(s.len());
    s.truncate(cut);
    s.push_str("...");
    s
}

/// A check that could not run because a fact it needs is not available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub rule: RuleId,
    pub object: String,
    pub check: String,
    pub reason: String,
}

impl Skipped {
    /// `[rule-id] Kind ns/name: check (reason)`: how a skipped check reads
    /// in the decision log and in `check`'s output.
    pub fn line(&self) -> String {
        [
            "[",
            self.rule.as_str(),
            "] ",
            &self.object,
            ": ",
            &self.check,
            " (",
            &self.reason,
            ")",
        ]
        .concat()
    }
}

/// A check answered from the last known facts while a watch is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgedFact {
    pub rule: RuleId,
    pub check: String,
    /// How old the facts are, and why.
    pub age: String,
}

impl AgedFact {
    /// `[rule-id] checked with facts <age>: <check>`, at most 120 characters:
    /// an admission warning.
    pub fn short(&self) -> String {
        truncate(format!("[{}] facts {}: {}", self.rule, self.age, self.check), 120)
    }
}

/// Everything the rules report about one review.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub violations: Vec<Violation>,
    pub skipped: Vec<Skipped>,
    /// Checks that used facts kept from before a watch broke.
    pub aged: Vec<AgedFact>,
}
