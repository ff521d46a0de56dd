//! The contract's rules: pure functions from a [`Review`], the [`Contract`]
//! and [`Facts`] to [`Violation`]s. One file per rule family, named after
//! what it protects. Nothing here knows about HTTP, TLS, files or kube.

mod auth_posture;
mod bootstrap_secret;
mod client_label;
mod cluster_identity;
pub mod coverage;
mod data_retention;
mod database_owner;
mod exposure;
mod managed_roles;
mod mirror;
mod network_policy;
mod pooler_pods;
mod tenant_isolation;
pub mod tenant_reach;

use std::fmt;

use serde::Serialize;

pub use crate::contract::RuleId;
use crate::contract::{Contract, SharedCluster};
use crate::facts::{Fact, Facts};
use crate::model::{Cluster, Kind, Object, Operation, Pooler, Review};

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

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
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

/// Everything the rules found about one review.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub violations: Vec<Violation>,
    pub skipped: Vec<Skipped>,
    /// Checks that used facts kept from before a watch broke.
    pub aged: Vec<AgedFact>,
}

/// Runs every rule family that applies to `review`.
pub fn evaluate(review: &Review, contract: &Contract, facts: &dyn Facts) -> Findings {
    let mut cx = Cx {
        review,
        contract,
        facts,
        findings: Findings::default(),
    };
    if review.name.is_empty()
        && let Some(rule) = rule_needing_name(review.kind)
    {
        cx.violation(
            rule,
            "metadata.name",
            "the request names no object (no request.name, no metadata.name), so the guard cannot tell whether \
             it is protected",
            "name the object; a collection write is reviewed per object, by the name in the stored object",
        );
        return cx.findings;
    }
    match review.kind {
        Kind::Cluster => {
            cluster_identity::check_cluster(&mut cx);
            managed_roles::check(&mut cx);
            tenant_reach::check(&mut cx);
            auth_posture::check_cluster(&mut cx);
            exposure::check_cluster(&mut cx);
            data_retention::check_cluster(&mut cx);
        }
        Kind::Database => {
            cluster_identity::check_cluster_reference(&mut cx);
            database_owner::check(&mut cx);
            tenant_isolation::check_database(&mut cx);
            data_retention::check_database(&mut cx);
        }
        Kind::Pooler => {
            cluster_identity::check_cluster_reference(&mut cx);
            auth_posture::check_pooler(&mut cx);
            exposure::check_pooler(&mut cx);
            pooler_pods::check(&mut cx);
            data_retention::check_pooler(&mut cx);
        }
        Kind::Namespace => {
            cluster_identity::check_namespace(&mut cx);
            client_label::check(&mut cx);
        }
        Kind::NetworkPolicy => network_policy::check(&mut cx),
        Kind::Secret => {
            bootstrap_secret::check(&mut cx);
            tenant_isolation::check_secret(&mut cx);
        }
        Kind::Service => exposure::check_service(&mut cx),
    }
    cx.findings
}

/// Violations by absence: protected objects of the shared namespaces that
/// do not exist. `exists(kind, namespace, name)` answers from a complete
/// view of the cluster (`audit`).
pub fn missing(contract: &Contract, exists: &dyn Fn(Kind, &str, &str) -> bool) -> Vec<Violation> {
    network_policy::missing(contract, &|ns, name| exists(Kind::NetworkPolicy, ns, name))
}

/// The rule that protects objects of `kind` by name, if any: a review of
/// such an object without a name is denied, never allowed by default.
fn rule_needing_name(kind: Kind) -> Option<RuleId> {
    match kind {
        Kind::Cluster | Kind::Namespace => Some(RuleId::ClusterIdentity),
        Kind::NetworkPolicy => Some(RuleId::NetworkPosture),
        Kind::Secret => Some(RuleId::BootstrapSecretConfined),
        Kind::Database | Kind::Pooler | Kind::Service => None,
    }
}

/// The context a rule family works in, and how it reports.
pub(crate) struct Cx<'a> {
    pub review: &'a Review,
    pub contract: &'a Contract,
    pub facts: &'a dyn Facts,
    pub findings: Findings,
}

impl<'a> Cx<'a> {
    pub fn violation(
        &mut self,
        rule: RuleId,
        field: impl Into<String>,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.findings.violations.push(Violation {
            rule,
            kind: self.review.kind,
            object: self.review.display_name(),
            field: field.into(),
            what: what.into(),
            fix: fix.into(),
            fail_closed: false,
            advisory: false,
            evidence: None,
        });
    }

    /// A finding worth a warning that never denies (see [`Violation::advisory`]).
    pub fn advisory(
        &mut self,
        rule: RuleId,
        field: impl Into<String>,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.violation(rule, field, what, fix);
        if let Some(v) = self.findings.violations.last_mut() {
            v.advisory = true;
        }
    }

    /// A violation whose offending value `evidence` fingerprints (see
    /// [`Violation::evidence`]).
    pub fn violation_with(
        &mut self,
        evidence: Evidence,
        rule: RuleId,
        field: impl Into<String>,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.violation(rule, field, what, fix);
        if let Some(v) = self.findings.violations.last_mut() {
            v.evidence = Some(evidence);
        }
    }

    /// Unwraps a fact: an aged one is used and noted; an unknown one
    /// records a skipped check; a stale one fails closed with a violation
    /// at `field`.
    pub fn fact<T>(&mut self, rule: RuleId, field: &str, check: &str, fact: Fact<T>) -> Option<T> {
        match fact {
            Fact::Known(v) => Some(v),
            Fact::Aged(v, age) => {
                if !self.findings.aged.iter().any(|a| a.rule == rule && a.check == check) {
                    self.findings.aged.push(AgedFact {
                        rule,
                        check: check.to_owned(),
                        age,
                    });
                }
                Some(v)
            }
            Fact::Stale(reason) => {
                self.violation(
                    rule,
                    field,
                    format!("cannot verify that {check}: the guard cannot see the cluster state ({reason})"),
                    "check that cnpg-guard reaches the API server and that its ServiceAccount may watch the CNPG \
                     objects (kubectl -n cnpg-guard logs deploy/cnpg-guard); this clears when the watch recovers",
                );
                if let Some(v) = self.findings.violations.last_mut() {
                    v.fail_closed = true;
                }
                None
            }
            Fact::Unknown(reason) => {
                self.findings.skipped.push(Skipped {
                    rule,
                    object: [self.review.kind.as_str(), " ", &self.review.display_name()].concat(),
                    check: check.to_owned(),
                    reason,
                });
                None
            }
        }
    }

    /// The shared Cluster this review writes (CREATE or UPDATE), with its
    /// contract entry: where every Cluster rule starts.
    pub fn written_shared_cluster(&self) -> Option<(&'a SharedCluster, &'a Cluster)> {
        let r: &'a Review = self.review;
        if r.operation == Operation::Delete {
            return None;
        }
        let contract: &'a Contract = self.contract;
        let shared = contract.cluster(&r.namespace, &r.name)?;
        match &r.object {
            Some(Object::Cluster(c)) => Some((shared, c)),
            _ => None,
        }
    }

    /// A Pooler this review writes (CREATE or UPDATE) for a shared cluster,
    /// with that cluster's contract entry: where every Pooler rule starts.
    pub fn written_shared_pooler(&self) -> Option<(&'a SharedCluster, &'a Pooler)> {
        let r: &'a Review = self.review;
        if r.operation == Operation::Delete {
            return None;
        }
        let Some(Object::Pooler(p)) = &r.object else {
            return None;
        };
        Some((self.referenced_cluster(&p.spec.cluster.name)?, p))
    }

    /// The shared cluster a Database or Pooler in this review points at by
    /// `spec.cluster.name`: the one in its own namespace, else any of that name.
    pub fn referenced_cluster(&self, cluster_name: &str) -> Option<&'a SharedCluster> {
        let contract: &'a Contract = self.contract;
        contract
            .cluster(&self.review.namespace, cluster_name)
            .or_else(|| contract.cluster_named(cluster_name))
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_reads_as_one_line() {
        let v = Violation {
            rule: RuleId::BootstrapSecretConfined,
            kind: Kind::Secret,
            object: "apps/s".into(),
            field: "data.k".into(),
            what: "it is wrong".into(),
            fix: "do this".into(),
            fail_closed: false,
            advisory: false,
            evidence: None,
        };
        assert_eq!(
            v.line(),
            "[bootstrap-secret-confined] Secret apps/s: data.k: it is wrong. Fix: do this."
        );
    }
}
