//! **client-label-registered**: only registered consumer namespaces carry
//! the opt-in label that the shared cluster's NetworkPolicy admits.

use std::collections::BTreeSet;

use super::{Cx, Rule, RuleId, written};
use crate::model::kinds::namespace::Namespace;

pub(super) const RULE: Rule = Rule {
    id: RuleId::ClientLabelRegistered,
    names: &[],
    checks: &[written!(Namespace, namespace)],
};

fn namespace(cx: &mut Cx<'_>, ns: &Namespace) {
    let r = cx.review;
    let Some(labels) = &ns.metadata.labels else { return };
    // Every client label key in use by some shared cluster (usually one).
    let keys: BTreeSet<&str> = cx.contract.clusters.iter().map(|c| c.client_label.as_str()).collect();
    let contract = cx.contract;
    for key in keys {
        let Some(value) = labels.get(key) else { continue };
        let field = format!("metadata.labels[{key}]");
        let Some(cluster) = contract
            .clusters
            .iter()
            .find(|c| c.client_label == key && c.name == *value)
        else {
            cx.violation(
                field,
                format!("{key}={value} names no shared cluster"),
                format!(
                    "use a shared cluster's name ({}) or remove the label",
                    contract
                        .clusters
                        .iter()
                        .filter(|c| c.client_label == key)
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            continue;
        };
        if cluster.consumer_by_namespace(&r.name).is_none() {
            cx.violation(
                field,
                format!(
                    "namespace {:?} is not a registered consumer of {}",
                    r.name, cluster.name
                ),
                "register the consumer in the contract first (cnpg-guard onboard), or remove the label",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    fn ns(name: &str, labels: &str) -> String {
        format!("{{apiVersion: v1, kind: Namespace, metadata: {{name: {name}, labels: {{{labels}}}}}}}")
    }

    #[rstest]
    #[case::accept_registered_consumer("vergabe-teilnahme", "railiance.io/postgres-client: apps-pg", None)]
    #[case::accept_unlabelled_namespace("shop", "team: shop", None)]
    #[case::reject_unregistered_namespace(
        "shop",
        "railiance.io/postgres-client: apps-pg",
        Some("metadata.labels[railiance.io/postgres-client]")
    )]
    #[case::reject_unknown_cluster_value(
        "vergabe-teilnahme",
        "railiance.io/postgres-client: other-pg",
        Some("metadata.labels[railiance.io/postgres-client]")
    )]
    fn client_label(#[case] name: &str, #[case] labels: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&ns(name, labels))), "client-label-registered", field);
    }

    #[test]
    fn accept_opting_out() {
        let old = ns("shop", "railiance.io/postgres-client: apps-pg");
        let new = ns("shop", "team: shop");
        assert_only(&eval(&update(&old, &new)), "client-label-registered", None);
    }
}
