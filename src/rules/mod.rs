//! The contract's rules: pure functions from a [`Review`], the [`Contract`]
//! and [`Facts`] to a [`Report`]. One file (or folder) per rule, named after
//! its id; each declares its [`Rule`]: its id, the kinds it protects by
//! name, and one check per kind it judges, over the typed object. [`RULES`]
//! lists them. Nothing here knows about HTTP, TLS, files or kube.

mod auth_posture;
mod backup_confined;
mod bootstrap_secret_confined;
mod client_label_registered;
mod cluster_identity;
mod cx;
mod data_retained;
pub mod id;
mod image_allowed;
mod network_posture;
mod owner_registered;
mod platform_only;
mod report;
mod role_registered;
pub mod tenant_isolated;
mod tenant_scoped;

pub use id::RuleId;
pub use report::{AgedFact, Evidence, RatchetKey, Report, Skipped, Violation};

pub(crate) use cx::Cx;

use crate::contract::Contract;
use crate::facts::Facts;
use crate::model::{Kind, Object, Operation, Review};

/// One rule: its id, the kinds whose objects it protects by name, and its
/// checks.
pub struct Rule {
    pub id: RuleId,
    /// A review of an object of these kinds that names no object is denied
    /// under this rule (never allowed by default).
    pub names: &'static [Kind],
    pub checks: &'static [Check],
}

/// When a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// CREATE and UPDATE: it sees the object as written.
    Written,
    /// DELETE: it sees the stored object, if the request carries one.
    Deleted,
}

/// One check of one kind. Made with [`written!`] or [`deleted!`], which
/// unwrap the object once, so the check is a function over the typed object.
pub struct Check {
    pub kind: Kind,
    pub when: When,
    run: fn(&mut Cx<'_>, Option<&Object>),
}

/// `written!(Kind, f)`: `f(cx, &T)` runs on CREATE and UPDATE of `Kind`,
/// with the object as written.
macro_rules! written {
    ($kind:ident, $check:path) => {
        $crate::rules::Check::new(
            $crate::model::Kind::$kind,
            $crate::rules::When::Written,
            |cx, object| {
                if let Some($crate::model::Object::$kind(o)) = object {
                    $check(cx, o)
                }
            },
        )
    };
}

/// `deleted!(Kind, f)`: `f(cx, Option<&T>)` runs on DELETE of `Kind`, with
/// the stored object when the request carries it.
macro_rules! deleted {
    ($kind:ident, $check:path) => {
        $crate::rules::Check::new(
            $crate::model::Kind::$kind,
            $crate::rules::When::Deleted,
            |cx, object| {
                $check(
                    cx,
                    match object {
                        Some($crate::model::Object::$kind(o)) => Some(&**o),
                        _ => None,
                    },
                )
            },
        )
    };
}
pub(crate) use {deleted, written};

impl Check {
    pub(crate) const fn new(kind: Kind, when: When, run: fn(&mut Cx<'_>, Option<&Object>)) -> Check {
        Check { kind, when, run }
    }
}

/// Every rule, in the order their findings are listed.
pub const RULES: &[&Rule] = &[
    &tenant_scoped::RULE,
    &platform_only::RULE,
    &cluster_identity::RULE,
    &role_registered::RULE,
    &owner_registered::RULE,
    &tenant_isolated::RULE,
    &auth_posture::RULE,
    &network_posture::RULE,
    &image_allowed::RULE,
    &bootstrap_secret_confined::RULE,
    &client_label_registered::RULE,
    &backup_confined::RULE,
    &data_retained::RULE,
];

/// Runs every check that applies to `review`.
pub fn evaluate(review: &Review, contract: &Contract, facts: &dyn Facts) -> Report {
    let mut cx = Cx {
        review,
        contract,
        facts,
        rule: RuleId::ClusterIdentity,
        report: Report::default(),
    };
    if review.name.is_empty()
        && let Some(rule) = RULES.iter().find(|r| r.names.contains(&review.kind))
    {
        cx.rule = rule.id;
        cx.violation(
            "metadata.name",
            "the request names no object (no request.name, no metadata.name), so the guard cannot tell whether \
             it is protected",
            "name the object; a collection write is reviewed per object, by the name in the stored object",
        );
        return cx.report;
    }
    let (when, object) = match review.operation {
        Operation::Delete => (When::Deleted, review.old_object.as_ref()),
        Operation::Create | Operation::Update => (When::Written, review.object.as_ref()),
    };
    for rule in RULES {
        for check in rule.checks {
            if check.kind == review.kind && check.when == when {
                cx.rule = rule.id;
                (check.run)(&mut cx, object);
            }
        }
    }
    cx.report
}

/// Violations by absence: protected objects of the shared namespaces that
/// do not exist, each with its namespace and name. `exists(kind,
/// namespace, name)` answers from a complete view of the cluster (`audit`).
pub fn missing(contract: &Contract, exists: &dyn Fn(Kind, &str, &str) -> bool) -> Vec<(String, String, Violation)> {
    network_posture::missing(contract, &|ns, name| exists(Kind::NetworkPolicy, ns, name))
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_is_listed_once_and_every_id_has_a_rule() {
        let ids: Vec<RuleId> = RULES.iter().map(|r| r.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "a rule listed twice");
        assert_eq!(sorted, RuleId::ALL.to_vec(), "every id has its rule");
    }

    #[test]
    fn checked_fields_name_a_rule_with_a_check_of_that_kind() {
        for k in crate::model::kinds::KINDS {
            for (path, class) in k.fields {
                if let crate::model::kinds::Class::Checked(id) = class {
                    let rule = RULES.iter().find(|r| r.id == *id).expect("registered");
                    assert!(
                        rule.checks.iter().any(|c| c.kind == k.kind),
                        "{} spec.{path} is checked by {id}, which has no {} check",
                        k.name,
                        k.name
                    );
                }
            }
        }
    }

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
