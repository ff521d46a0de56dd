//! **network-posture**: the default-deny posture of the shared namespace
//! holds, and the shared cluster's pods admit ingress only from the sources
//! the contract names.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Cx, Evidence, RuleId, Violation};
use crate::contract::{Contract, SharedCluster};
use crate::model::Kind;

const NAME_LABEL: &str = "kubernetes.io/metadata.name";
const CLUSTER_LABEL: &str = "cnpg.io/cluster";
const POSTGRES: i32 = 5432;
const OPERATOR_PORTS: &[i32] = &[5432, 8000, 9187];

/// A protected policy of a shared namespace is never deleted.
pub(super) fn deleted(cx: &mut Cx<'_>, _: Option<&NetworkPolicy>) {
    let r = cx.review;
    let contract = cx.contract;
    for cluster in contract.clusters_in(&r.namespace) {
        if cluster.is_protected_policy(&r.name) {
            cx.violation(
                "metadata.name",
                format!(
                    "{} is part of the network posture of {} and cannot be deleted",
                    r.name, cluster.name
                ),
                "keep the policy; change it in place if it must change",
            );
        }
    }
}

/// The default-deny policy denies; every other policy that can select the
/// shared cluster's pods admits only what the contract names.
pub(super) fn written(cx: &mut Cx<'_>, np: &NetworkPolicy) {
    let r = cx.review;
    let contract = cx.contract;
    for cluster in contract.clusters_in(&r.namespace) {
        if r.name == cluster.default_deny_policy {
            default_deny(cx, np);
        } else if can_select(np.spec.as_ref().and_then(|s| s.pod_selector.as_ref()), cluster) {
            let rules = np.spec.as_ref().and_then(|s| s.ingress.as_deref()).unwrap_or_default();
            for (i, rule) in rules.iter().enumerate() {
                ingress_rule(cx, cluster, i, rule);
            }
        }
    }
}

/// The protected policies of the shared namespaces that do not exist: an
/// absence is a violation too (`audit`, which sees the whole live state;
/// a manifest set in `check` may be partial, so it does not ask).
/// `exists(namespace, name)` says whether a NetworkPolicy exists.
pub(crate) fn missing(contract: &Contract, exists: &dyn Fn(&str, &str) -> bool) -> Vec<(String, String, Violation)> {
    let mut out = Vec::new();
    for cluster in &contract.clusters {
        let ns = cluster.namespace.as_str();
        let policies = std::iter::once((&cluster.default_deny_policy, true))
            .chain(cluster.baseline_policies.iter().map(|p| (p, false)));
        for (name, is_default_deny) in policies {
            if exists(ns, name) {
                continue;
            }
            let what = if is_default_deny {
                format!(
                    "the default-deny policy of {ns} does not exist: every pod there, {} included, accepts traffic \
                     the other policies do not name",
                    cluster.name
                )
            } else {
                format!("the baseline policy {name} of {} does not exist", cluster.name)
            };
            let violation = Violation {
                rule: RuleId::NetworkPosture,
                kind: Kind::NetworkPolicy,
                object: [ns, "/", name].concat(),
                field: "(object)".into(),
                what,
                fix: if is_default_deny {
                    "restore it: podSelector {}, policyTypes [Ingress, Egress], no rules".into()
                } else {
                    "restore it from the platform repository (the apps-pg NetworkPolicy triplet)".into()
                },
                fail_closed: false,
                advisory: false,
                evidence: None,
            };
            out.push((ns.to_owned(), name.clone(), violation));
        }
    }
    out
}

/// The offending part of a policy, for ratcheting.
fn fingerprint(part: &impl serde::Serialize) -> Evidence {
    Evidence::of(serde_json::to_string(part).unwrap_or_default())
}

fn is_empty_selector(s: Option<&LabelSelector>) -> bool {
    s.is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
    })
}

/// The default-deny policy must select every pod, keep Ingress, allow nothing.
fn default_deny(cx: &mut Cx<'_>, np: &NetworkPolicy) {
    let spec = np.spec.clone().unwrap_or_default();
    let ev = fingerprint(&spec);
    let fix = "restore the default-deny policy: podSelector {}, policyTypes [Ingress, Egress], no rules";
    if !is_empty_selector(spec.pod_selector.as_ref()) {
        cx.violation_with(
            ev,
            "spec.podSelector",
            "the default-deny policy must select every pod",
            fix,
        );
    }
    let types = spec.policy_types.clone().unwrap_or_else(|| vec!["Ingress".into()]);
    if !types.iter().any(|t| t == "Ingress") {
        cx.violation_with(ev, "spec.policyTypes", "the default-deny policy must keep Ingress", fix);
    }
    if spec.ingress.as_ref().is_some_and(|i| !i.is_empty()) {
        cx.violation_with(
            ev,
            "spec.ingress",
            "the default-deny policy must not allow any ingress",
            fix,
        );
    }
    if types.iter().any(|t| t == "Egress") && spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
        cx.violation_with(
            ev,
            "spec.egress",
            "the default-deny policy must not allow any egress",
            fix,
        );
    }
}

/// Whether a pod selector may select the cluster's pods. Only a pin of
/// `cnpg.io/cluster` to something else proves it cannot; anything else is
/// treated as able to (fail safe).
fn can_select(selector: Option<&LabelSelector>, cluster: &SharedCluster) -> bool {
    let Some(s) = selector else { return true };
    if let Some(v) = s.match_labels.as_ref().and_then(|m| m.get(CLUSTER_LABEL))
        && *v != cluster.name
    {
        return false;
    }
    for e in s.match_expressions.iter().flatten().filter(|e| e.key == CLUSTER_LABEL) {
        let has = e.values.iter().flatten().any(|v| *v == cluster.name);
        match e.operator.as_str() {
            "In" if !has => return false,
            "NotIn" if has => return false,
            "DoesNotExist" => return false,
            _ => {}
        }
    }
    true
}

/// A namespace selector reduced to `key -> allowed values`, or why not.
fn requirements(s: &LabelSelector) -> Result<BTreeMap<&str, BTreeSet<&str>>, String> {
    let mut req: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (k, v) in s.match_labels.iter().flatten() {
        req.entry(k).or_default().insert(v);
    }
    for e in s.match_expressions.iter().flatten() {
        if e.operator != "In" {
            return Err(format!(
                "selects namespaces with {} {}, which can match namespaces that are not registered",
                e.key, e.operator
            ));
        }
        let values: BTreeSet<&str> = e.values.iter().flatten().map(String::as_str).collect();
        let slot = req.entry(&e.key).or_insert_with(|| values.clone());
        *slot = slot.intersection(&values).copied().collect();
    }
    Ok(req)
}

fn port_number(p: &NetworkPolicyPort) -> Option<i32> {
    if p.end_port
        .is_some_and(|e| Some(&IntOrString::Int(e)) != p.port.as_ref())
    {
        return None;
    }
    match p.port.as_ref()? {
        IntOrString::Int(n) => Some(*n),
        // CNPG's container port names.
        IntOrString::String(s) => match s.as_str() {
            "postgresql" => Some(5432),
            "status" => Some(8000),
            "metrics" => Some(9187),
            _ => None,
        },
    }
}

/// True when the rule names ports and every one is in `allowed`.
fn ports_within(rule: &NetworkPolicyIngressRule, allowed: &[i32]) -> bool {
    let ports = rule.ports.as_deref().unwrap_or_default();
    !ports.is_empty()
        && ports
            .iter()
            .all(|p| port_number(p).is_some_and(|n| allowed.contains(&n)))
}

fn ingress_rule(cx: &mut Cx<'_>, cluster: &SharedCluster, i: usize, rule: &NetworkPolicyIngressRule) {
    let at = format!("spec.ingress[{i}]");
    // The whole rule (its peers and ports): widening it in place is new.
    let ev = fingerprint(rule);
    let peers = rule.from.as_deref().unwrap_or_default();
    if peers.is_empty() {
        cx.violation_with(
            ev,
            format!("{at}.from"),
            format!("a rule with no 'from' admits every source to the {} pods", cluster.name),
            format!(
                "name the sources: namespaceSelector {}={} or a registered consumer namespace",
                cluster.client_label, cluster.name
            ),
        );
        return;
    }
    for (j, peer) in peers.iter().enumerate() {
        let peer_at = format!("{at}.from[{j}]");
        if peer.ip_block.is_some() {
            cx.violation_with(
                ev,
                format!("{peer_at}.ipBlock"),
                "ipBlock peers bypass the namespace registry",
                "select consumer namespaces by the client label instead",
            );
            continue;
        }
        let Some(ns_sel) = &peer.namespace_selector else {
            if peer.pod_selector.is_none() {
                cx.violation_with(ev, peer_at, "an empty peer admits every source", "name the sources");
            }
            // A podSelector alone: pods of the shared namespace itself.
            continue;
        };
        let field = format!("{peer_at}.namespaceSelector");
        if is_empty_selector(Some(ns_sel)) {
            cx.violation_with(
                ev,
                field,
                "an empty namespaceSelector admits every namespace",
                format!("select namespaces by {}={}", cluster.client_label, cluster.name),
            );
            continue;
        }
        let req = match requirements(ns_sel) {
            Ok(req) => req,
            Err(what) => {
                cx.violation_with(
                    ev,
                    field,
                    what,
                    format!("select namespaces by {}={}", cluster.client_label, cluster.name),
                );
                continue;
            }
        };
        if let Some(names) = req.get(NAME_LABEL) {
            if names.len() == 1 && names.contains(cluster.operator_namespace.as_str()) {
                if !ports_within(rule, OPERATOR_PORTS) {
                    cx.violation_with(
                        ev,
                        format!("{at}.ports"),
                        format!(
                            "the operator namespace {} may reach only ports 5432, 8000 and 9187",
                            cluster.operator_namespace
                        ),
                        "list the ports 5432, 8000, 9187 explicitly",
                    );
                }
                continue;
            }
            let unregistered: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| cluster.consumer_by_namespace(n).is_none())
                .collect();
            if !unregistered.is_empty() {
                cx.violation_with(
                    ev,
                    field.clone(),
                    format!(
                        "namespace(s) {} are not registered consumers of {}",
                        unregistered.join(", "),
                        cluster.name
                    ),
                    "register the consumer in the contract first (cnpg-guard onboard), or remove the peer",
                );
            }
            if !ports_within(rule, &[POSTGRES]) {
                cx.violation_with(
                    ev,
                    format!("{at}.ports"),
                    "consumer namespaces may reach only port 5432",
                    "restrict the rule to TCP port 5432",
                );
            }
            continue;
        }
        match req.get(cluster.client_label.as_str()) {
            Some(values) if values.len() == 1 && values.contains(cluster.name.as_str()) => {}
            Some(values) => cx.violation_with(
                ev,
                field,
                format!(
                    "selects {}={}, which is not this cluster's client label value",
                    cluster.client_label,
                    values.iter().copied().collect::<Vec<_>>().join("|")
                ),
                format!("select exactly {}={}", cluster.client_label, cluster.name),
            ),
            None => cx.violation_with(
                ev,
                field,
                format!(
                    "selects namespaces by {}, a label the contract does not control",
                    req.keys().copied().collect::<Vec<_>>().join(", ")
                ),
                format!("select namespaces by {}={}", cluster.client_label, cluster.name),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    fn policy(name: &str, spec: &str) -> String {
        format!(
            "{{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {{name: {name}, namespace: databases}}, spec: {spec}}}"
        )
    }

    fn ingress(from: &str, ports: &str) -> String {
        policy(
            "p",
            &format!(
                "{{podSelector: {{matchLabels: {{cnpg.io/cluster: apps-pg}}}}, ingress: [{{from: {from}, ports: {ports}}}]}}"
            ),
        )
    }

    const P5432: &str = "[{protocol: TCP, port: 5432}]";
    const OPERATOR: &str = "[{port: 5432}, {port: 8000}, {port: 9187}]";

    #[rstest]
    #[case::accept_client_label(
        "[{namespaceSelector: {matchLabels: {railiance.io/postgres-client: apps-pg}}}]",
        P5432,
        None
    )]
    #[case::accept_operator(
        "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: cnpg-system}}}]",
        OPERATOR,
        None
    )]
    #[case::accept_same_namespace_pods("[{podSelector: {matchLabels: {cnpg.io/cluster: apps-pg}}}]", P5432, None)]
    #[case::accept_registered_namespace_by_name(
        "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: vergabe-teilnahme}}}]",
        P5432,
        None
    )]
    #[case::accept_registered_namespace_by_in(
        "[{namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [vergabe-teilnahme]}]}}]",
        P5432,
        None
    )]
    #[case::reject_no_from("[]", P5432, Some("spec.ingress[0].from"))]
    #[case::reject_empty_namespace_selector(
        "[{namespaceSelector: {}}]",
        P5432,
        Some("spec.ingress[0].from[0].namespaceSelector")
    )]
    #[case::reject_exists(
        "[{namespaceSelector: {matchExpressions: [{key: railiance.io/postgres-client, operator: Exists}]}}]",
        P5432,
        Some("spec.ingress[0].from[0].namespaceSelector")
    )]
    #[case::reject_ip_block("[{ipBlock: {cidr: 10.0.0.0/8}}]", P5432, Some("spec.ingress[0].from[0].ipBlock"))]
    #[case::reject_unregistered_name(
        "[{podSelector: {}}, {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}}]",
        P5432,
        Some("spec.ingress[0].from[1].namespaceSelector")
    )]
    #[case::reject_registered_name_on_other_ports(
        "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: vergabe-teilnahme}}}]",
        "[{port: 8000}]",
        Some("spec.ingress[0].ports")
    )]
    #[case::reject_operator_on_all_ports(
        "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: cnpg-system}}}]",
        "[]",
        Some("spec.ingress[0].ports")
    )]
    #[case::reject_other_client_value(
        "[{namespaceSelector: {matchLabels: {railiance.io/postgres-client: other-pg}}}]",
        P5432,
        Some("spec.ingress[0].from[0].namespaceSelector")
    )]
    #[case::reject_unknown_label(
        "[{namespaceSelector: {matchLabels: {team: shop}}}]",
        P5432,
        Some("spec.ingress[0].from[0].namespaceSelector")
    )]
    fn ingress_sources(#[case] from: &str, #[case] ports: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&ingress(from, ports))), "network-posture", field);
    }

    #[test]
    fn accept_any_ingress_to_another_clusters_pods() {
        let p = policy(
            "gitea",
            "{podSelector: {matchLabels: {cnpg.io/cluster: gitea-db}}, ingress: [{}]}",
        );
        assert_only(&eval(&create(&p)), "network-posture", None);
    }

    #[test]
    fn reject_any_ingress_to_all_pods() {
        let p = policy("wide", "{podSelector: {}, ingress: [{}]}");
        assert_only(&eval(&create(&p)), "network-posture", Some("spec.ingress[0].from"));
    }

    #[rstest]
    #[case::accept_the_default_deny("{podSelector: {}, policyTypes: [Ingress, Egress]}", None)]
    #[case::reject_allowing_ingress(
        "{podSelector: {}, policyTypes: [Ingress, Egress], ingress: [{}]}",
        Some("spec.ingress")
    )]
    #[case::reject_allowing_egress(
        "{podSelector: {}, policyTypes: [Ingress, Egress], egress: [{}]}",
        Some("spec.egress")
    )]
    #[case::reject_dropping_ingress("{podSelector: {}, policyTypes: [Egress]}", Some("spec.policyTypes"))]
    #[case::reject_narrowing_the_selector(
        "{podSelector: {matchLabels: {a: b}}, policyTypes: [Ingress]}",
        Some("spec.podSelector")
    )]
    fn default_deny(#[case] spec: &str, #[case] field: Option<&str>) {
        assert_only(
            &eval(&create(&policy("default-deny-all", spec))),
            "network-posture",
            field,
        );
    }

    #[rstest]
    #[case::reject_deleting_default_deny("default-deny-all", Some("metadata.name"))]
    #[case::reject_deleting_a_baseline_policy("allow-ingress-from-cnpg-operator-apps-pg", Some("metadata.name"))]
    #[case::accept_deleting_another_policy("temporary-debug", None)]
    fn deleting(#[case] name: &str, #[case] field: Option<&str>) {
        assert_only(
            &eval(&delete(&policy(name, "{podSelector: {}}"))),
            "network-posture",
            field,
        );
    }
}
