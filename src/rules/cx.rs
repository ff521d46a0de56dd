//! The context a rule's check works in: the review, the contract, the
//! facts, and where its findings go. The dispatcher sets the rule, so a
//! check reports without naming its own id.

use super::RuleId;
use super::report::{AgedFact, Evidence, Report, Skipped, Violation};
use crate::contract::{Contract, Requester, SharedCluster};
use crate::facts::{Fact, Facts};
use crate::model::Review;

pub(crate) struct Cx<'a> {
    pub review: &'a Review,
    pub contract: &'a Contract,
    pub facts: &'a dyn Facts,
    /// The rule whose check runs (set by the dispatcher).
    pub(super) rule: RuleId,
    pub(super) report: Report,
}

impl<'a> Cx<'a> {
    pub fn violation(&mut self, field: impl Into<String>, what: impl Into<String>, fix: impl Into<String>) {
        self.report.violations.push(Violation {
            rule: self.rule,
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
    pub fn advisory(&mut self, field: impl Into<String>, what: impl Into<String>, fix: impl Into<String>) {
        self.violation(field, what, fix);
        if let Some(v) = self.report.violations.last_mut() {
            v.advisory = true;
        }
    }

    /// A violation whose offending value `evidence` fingerprints (see
    /// [`Violation::evidence`]).
    pub fn violation_with(
        &mut self,
        evidence: Evidence,
        field: impl Into<String>,
        what: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.violation(field, what, fix);
        if let Some(v) = self.report.violations.last_mut() {
            v.evidence = Some(evidence);
        }
    }

    /// Unwraps a fact: an aged one is used and noted; an unknown one
    /// records a skipped check; a stale one fails closed with a violation
    /// at `field`.
    pub fn fact<T>(&mut self, field: &str, check: &str, fact: Fact<T>) -> Option<T> {
        let rule = self.rule;
        match fact {
            Fact::Known(v) => Some(v),
            Fact::Aged(v, age) => {
                if !self.report.aged.iter().any(|a| a.rule == rule && a.check == check) {
                    self.report.aged.push(AgedFact {
                        rule,
                        check: check.to_owned(),
                        age,
                    });
                }
                Some(v)
            }
            Fact::Stale(reason) => {
                self.violation(
                    field,
                    format!("cannot verify that {check}: the guard cannot see the cluster state ({reason})"),
                    "check that cnpg-guard reaches the API server and that its ServiceAccount may watch the CNPG \
                     objects (kubectl -n cnpg-guard logs deploy/cnpg-guard); this clears when the watch recovers",
                );
                if let Some(v) = self.report.violations.last_mut() {
                    v.fail_closed = true;
                }
                None
            }
            Fact::Unknown(reason) => {
                self.report.skipped.push(Skipped {
                    rule,
                    object: [self.review.kind.as_str(), " ", &self.review.display_name()].concat(),
                    check: check.to_owned(),
                    reason,
                });
                None
            }
        }
    }

    /// Who sends the request, for the rules about the writer: nobody when
    /// there is no request (`audit` judges stored objects; `check` without
    /// `--as`; the ratchet's look at the old object).
    pub fn requester(&self) -> Requester<'a> {
        if self.review.stored {
            return Requester::Nobody;
        }
        let contract: &'a Contract = self.contract;
        contract.requester(&self.review.user.username, &self.review.user.groups)
    }

    /// The contract's entry for the Cluster under review, if it is a shared
    /// cluster: where every Cluster check starts.
    pub fn shared_cluster(&self) -> Option<&'a SharedCluster> {
        let contract: &'a Contract = self.contract;
        contract.cluster(&self.review.namespace, &self.review.name)
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
