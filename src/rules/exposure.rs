//! **network-posture**, exposure: the shared cluster's pods are reached
//! only through the NetworkPolicy posture of their namespace. A Service of
//! type LoadBalancer or NodePort, or with `externalIPs`, opens them past
//! it: whether CloudNativePG makes it (a Cluster's additional managed
//! services, a Pooler's service template) or anyone writes it in the
//! shared namespace.

use super::{Cx, RuleId};
use crate::model::cnpg::ServiceExposure;
use crate::model::{Object, Operation};

const RULE: RuleId = RuleId::NetworkPosture;

/// The label CloudNativePG puts on every pod of a cluster.
const CLUSTER_LABEL: &str = "cnpg.io/cluster";

pub(super) fn check_cluster(cx: &mut Cx<'_>) {
    let r = cx.review;
    if r.operation == Operation::Delete || cx.contract.cluster(&r.namespace, &r.name).is_none() {
        return;
    }
    let Some(Object::Cluster(c)) = &r.object else { return };
    for (i, service) in c.additional_services().iter().enumerate() {
        if let Some(spec) = &service.service_template.spec {
            check_exposure(
                cx,
                &format!("spec.managed.services.additional[{i}].serviceTemplate.spec"),
                spec.type_.as_deref(),
                !spec.external_ips.is_empty(),
            );
        }
    }
}

pub(super) fn check_pooler(cx: &mut Cx<'_>) {
    let r = cx.review;
    if r.operation == Operation::Delete {
        return;
    }
    let Some(Object::Pooler(p)) = &r.object else { return };
    if cx.referenced_cluster(&p.spec.cluster.name).is_none() {
        return;
    }
    if let Some(ServiceExposure { type_, external_ips }) =
        p.spec.service_template.as_ref().and_then(|t| t.spec.as_ref())
    {
        check_exposure(
            cx,
            "spec.serviceTemplate.spec",
            type_.as_deref(),
            !external_ips.is_empty(),
        );
    }
}

/// A Service in a shared namespace that may select the cluster's pods:
/// any, unless its selector pins `cnpg.io/cluster` to a cluster that is not
/// shared (a Service without a selector can be pointed at any pod by hand).
pub(super) fn check_service(cx: &mut Cx<'_>) {
    let r = cx.review;
    if r.operation == Operation::Delete || !cx.contract.is_shared_namespace(&r.namespace) {
        return;
    }
    let Some(Object::Service(s)) = &r.object else { return };
    let Some(spec) = &s.spec else { return };
    let pinned_elsewhere = spec
        .selector
        .as_ref()
        .and_then(|sel| sel.get(CLUSTER_LABEL))
        .is_some_and(|name| cx.contract.cluster(&r.namespace, name).is_none());
    if pinned_elsewhere {
        return;
    }
    let external_ips = spec.external_ips.as_ref().is_some_and(|ips| !ips.is_empty());
    check_exposure(cx, "spec", spec.type_.as_deref(), external_ips);
}

fn check_exposure(cx: &mut Cx<'_>, at: &str, type_: Option<&str>, external_ips: bool) {
    if let Some(t @ ("LoadBalancer" | "NodePort")) = type_ {
        cx.violation(
            RULE,
            format!("{at}.type"),
            format!(
                "a {t} Service exposes the shared cluster's pods past the NetworkPolicy posture of their namespace"
            ),
            "use type ClusterIP; consumers connect from their registered namespaces",
        );
    }
    if external_ips {
        cx.violation(
            RULE,
            format!("{at}.externalIPs"),
            "externalIPs expose the shared cluster's pods past the NetworkPolicy posture of their namespace",
            "remove externalIPs; consumers connect from their registered namespaces",
        );
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    #[rstest]
    #[case::accept_cluster_ip(
        "{selectorType: rw, serviceTemplate: {metadata: {name: extra}, spec: {type: ClusterIP}}}",
        None
    )]
    #[case::reject_load_balancer(
        "{selectorType: rw, serviceTemplate: {metadata: {name: lb}, spec: {type: LoadBalancer}}}",
        Some("spec.managed.services.additional[0].serviceTemplate.spec.type")
    )]
    #[case::reject_external_ips(
        "{selectorType: r, serviceTemplate: {metadata: {name: x}, spec: {externalIPs: [192.0.2.1]}}}",
        Some("spec.managed.services.additional[0].serviceTemplate.spec.externalIPs")
    )]
    fn cluster_services(#[case] service: &str, #[case] field: Option<&str>) {
        let yaml = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {{name: apps-pg, namespace: databases, \
             labels: {{railiance.io/role: shared-apps-database}}}}, spec: {{managed: {{services: {{additional: [{service}]}}}}}}}}"
        );
        assert_only(&eval(&create(&yaml)), "network-posture", field);
    }

    #[rstest]
    #[case::accept_default("{}", None)]
    #[case::reject_node_port("{spec: {type: NodePort}}", Some("spec.serviceTemplate.spec.type"))]
    fn pooler_service(#[case] template: &str, #[case] field: Option<&str>) {
        let yaml = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {{name: pool, namespace: databases}}, \
             spec: {{cluster: {{name: apps-pg}}, serviceTemplate: {template}}}}}"
        );
        assert_only(&eval(&create(&yaml)), "network-posture", field);
    }

    #[rstest]
    #[case::reject_load_balancer_on_the_cluster(
        "databases",
        "{cnpg.io/cluster: apps-pg}",
        "LoadBalancer",
        Some("spec.type")
    )]
    #[case::reject_node_port_without_selector("databases", "null", "NodePort", Some("spec.type"))]
    #[case::accept_cluster_ip("databases", "{cnpg.io/cluster: apps-pg}", "ClusterIP", None)]
    #[case::accept_another_cluster("databases", "{cnpg.io/cluster: scratch}", "LoadBalancer", None)]
    #[case::accept_outside_the_shared_namespace("shop-frontend", "{app: shop}", "LoadBalancer", None)]
    fn services(#[case] ns: &str, #[case] selector: &str, #[case] type_: &str, #[case] field: Option<&str>) {
        let yaml = format!(
            "{{apiVersion: v1, kind: Service, metadata: {{name: pg, namespace: {ns}}}, \
             spec: {{selector: {selector}, type: {type_}, ports: [{{port: 5432}}]}}}}"
        );
        assert_only(&eval(&create(&yaml)), "network-posture", field);
    }
}
