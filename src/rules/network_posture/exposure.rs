//! **network-posture**, exposure: the shared cluster's pods are reached
//! only through the NetworkPolicy posture of their namespace. A Service of
//! type LoadBalancer or NodePort, or with `externalIPs`, opens them past
//! it: whether CloudNativePG makes it (a Cluster's additional managed
//! services, a Pooler's service template) or anyone writes it in the
//! shared namespace.

use super::Cx;
use crate::model::cnpg::ServiceExposure;
use crate::model::kinds::service::Service;
use crate::model::{Cluster, Object, Pooler};

/// The label CloudNativePG puts on every pod of a cluster.
const CLUSTER_LABEL: &str = "cnpg.io/cluster";

pub(super) fn cluster(cx: &mut Cx<'_>, c: &Cluster) {
    if cx.shared_cluster().is_none() {
        return;
    }
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

pub(super) fn pooler(cx: &mut Cx<'_>, p: &Pooler) {
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
pub(super) fn service(cx: &mut Cx<'_>, s: &Service) {
    let r = cx.review;
    if !cx.contract.is_shared_namespace(&r.namespace) {
        return;
    }
    generated_service(cx, s);
    let Some(spec) = &s.spec else { return };
    if spec.type_.as_deref() == Some("ExternalName") {
        cx.violation(
            "spec.type",
            format!(
                "an ExternalName Service in the shared namespace sends whoever resolves its name, with their \
                 credentials, to {:?}",
                spec.external_name.as_deref().unwrap_or_default()
            ),
            "remove it; consumers connect to the shared cluster's own Services",
        );
    }
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

/// A Service CloudNativePG makes for a shared cluster or its Poolers: the
/// name of one of the cluster's (`<cluster>-rw`, `-ro`, `-r`, per
/// `pkg/specs/services.go` at v1.28.4), or one CloudNativePG owns (its
/// controller reference is a Cluster or a Pooler). Applications resolve
/// these names; only the operator (an exempt user) writes them.
fn generated_service(cx: &mut Cx<'_>, s: &k8s_openapi::api::core::v1::Service) {
    let r = cx.review;
    if r.stored {
        return;
    }
    let shared_name = cx.contract.clusters_in(&r.namespace).find(|c| {
        ["-rw", "-ro", "-r"]
            .iter()
            .any(|suffix| r.name == format!("{}{suffix}", c.name))
    });
    if let Some(shared) = shared_name {
        cx.violation(
            "metadata.name",
            format!(
                "{:?} is the name CloudNativePG gives a Service of the shared cluster {}: applications that \
                 resolve it would reach whatever this Service points at",
                r.name, shared.name
            ),
            "leave the cluster's Services to the CloudNativePG operator; give your Service another name",
        );
        return;
    }
    let owners = s.metadata.owner_references.iter().flatten();
    let old_owners = match &r.old_object {
        Some(Object::Service(old)) => old.metadata.owner_references.clone().unwrap_or_default(),
        _ => Vec::new(),
    };
    let owner = owners
        .chain(old_owners.iter())
        .find(|o| o.api_version.starts_with("postgresql.cnpg.io/") && matches!(o.kind.as_str(), "Cluster" | "Pooler"));
    if let Some(o) = owner {
        cx.violation(
            "metadata.ownerReferences",
            format!(
                "this Service belongs to {} {:?}, which CloudNativePG manages: a change by anyone but the operator \
                 redirects the applications that use it",
                o.kind, o.name
            ),
            "change the Service through its CloudNativePG object (the Pooler's serviceTemplate, the Cluster's \
             managed services)",
        );
    }
}

fn check_exposure(cx: &mut Cx<'_>, at: &str, type_: Option<&str>, external_ips: bool) {
    if let Some(t @ ("LoadBalancer" | "NodePort")) = type_ {
        cx.violation(
            format!("{at}.type"),
            format!(
                "a {t} Service exposes the shared cluster's pods past the NetworkPolicy posture of their namespace"
            ),
            "use type ClusterIP; consumers connect from their registered namespaces",
        );
    }
    if external_ips {
        cx.violation(
            format!("{at}.externalIPs"),
            "externalIPs expose the shared cluster's pods past the NetworkPolicy posture of their namespace",
            "remove externalIPs; consumers connect from their registered namespaces",
        );
    }
}

/// A shared cluster's Pooler pods stay off the node's namespaces:
/// `hostNetwork` puts pgbouncer on the node, outside every NetworkPolicy;
/// `hostPID`/`hostIPC` share the node's processes.
pub(super) fn pooler_pods(cx: &mut Cx<'_>, p: &Pooler) {
    if cx.referenced_cluster(&p.spec.cluster.name).is_none() {
        return;
    }
    let Some(spec) = p.spec.template.as_ref().and_then(|t| t.spec.as_ref()) else {
        return;
    };
    let shares = [
        (
            "hostNetwork",
            spec.host_network,
            "listens on the node, outside every NetworkPolicy",
        ),
        ("hostPID", spec.host_pid, "sees and signals every process on the node"),
        ("hostIPC", spec.host_ipc, "shares the node's IPC namespace"),
    ];
    for (field, value, what) in shares {
        if value == Some(true) {
            cx.violation(
                format!("spec.template.spec.{field}"),
                format!("with {field} the shared cluster's pgbouncer {what}"),
                format!("remove {field} or set it to false"),
            );
        }
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
    #[case::reject_external_name("databases", "null", "ExternalName", Some("spec.type"))]
    #[case::accept_external_name_elsewhere("shop-frontend", "null", "ExternalName", None)]
    fn services(#[case] ns: &str, #[case] selector: &str, #[case] type_: &str, #[case] field: Option<&str>) {
        let yaml = format!(
            "{{apiVersion: v1, kind: Service, metadata: {{name: pg, namespace: {ns}}}, \
             spec: {{selector: {selector}, type: {type_}, ports: [{{port: 5432}}]}}}}"
        );
        assert_only(&eval(&create(&yaml)), "network-posture", field);
    }

    #[rstest]
    #[case::reject_the_clusters_rw_name("apps-pg-rw", "{}", Some("metadata.name"))]
    #[case::reject_the_clusters_ro_name("apps-pg-ro", "{}", Some("metadata.name"))]
    #[case::reject_the_clusters_r_name("apps-pg-r", "{}", Some("metadata.name"))]
    #[case::reject_a_poolers_service(
        "apps-pg-pooler-rw",
        "{ownerReferences: [{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, name: apps-pg-pooler-rw, uid: u1}]}",
        Some("metadata.ownerReferences")
    )]
    #[case::accept_another_name("reporting", "{}", None)]
    #[case::accept_another_owner(
        "reporting",
        "{ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: x, uid: u1}]}",
        None
    )]
    fn generated_services(#[case] name: &str, #[case] meta: &str, #[case] field: Option<&str>) {
        let meta = &meta[1..meta.len() - 1];
        let sep = if meta.is_empty() { "" } else { ", " };
        let yaml = format!(
            "{{apiVersion: v1, kind: Service, metadata: {{name: {name}, namespace: databases{sep}{meta}}}, \
             spec: {{selector: {{cnpg.io/cluster: apps-pg}}, type: ClusterIP, ports: [{{port: 5432}}]}}}}"
        );
        assert_only(&eval(&create(&yaml)), "network-posture", field);
    }

    #[test]
    fn audit_does_not_judge_who_wrote_a_stored_service() {
        let yaml = "{apiVersion: v1, kind: Service, metadata: {name: apps-pg-rw, namespace: databases, \
                    ownerReferences: [{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, name: apps-pg, uid: u}]}, \
                    spec: {selector: {cnpg.io/cluster: apps-pg}, type: ClusterIP}}";
        let mut review = create(yaml);
        assert_only(&eval(&review), "network-posture", Some("metadata.name"));
        review.stored = true;
        assert_only(&eval(&review), "network-posture", None);
    }

    #[test]
    fn an_external_name_says_where_it_points() {
        let yaml = "{apiVersion: v1, kind: Service, metadata: {name: apps-pg-pooler-rw, namespace: databases}, \
                    spec: {type: ExternalName, externalName: db.example.net}}";
        let f = eval(&create(yaml));
        let v = f.violations.iter().find(|v| v.field == "spec.type").unwrap();
        assert!(v.what.contains("\"db.example.net\""), "{}", v.what);
    }
}
