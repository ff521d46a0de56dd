//! **network-posture**: the shared cluster's pods are reached only through
//! the NetworkPolicy posture of their namespace: the protected policies
//! hold ([`policies`]), no Service opens the pods past them ([`exposure`]),
//! and no Pooler pod sits on the node's network ([`exposure::pooler_pods`]).

mod exposure;
mod policies;

use super::{Cx, Evidence, Rule, RuleId, Violation, deleted, written};

pub(super) use policies::missing;

pub(super) const RULE: Rule = Rule {
    id: RuleId::NetworkPosture,
    names: &[crate::model::Kind::NetworkPolicy],
    checks: &[
        written!(Cluster, exposure::cluster),
        written!(Pooler, exposure::pooler),
        written!(Pooler, exposure::pooler_pods),
        written!(Service, exposure::service),
        written!(NetworkPolicy, policies::written),
        deleted!(NetworkPolicy, policies::deleted),
    ],
};
