//! A shared cluster's Pooler pods do not read the cluster's own
//! credentials: no template volume or variable that reads the bootstrap
//! Secret or a Secret CloudNativePG generates for the cluster, and no
//! `authQuerySecret` that logs pgbouncer in with one. (Its tests also
//! cover network-posture's `hostNetwork`/`hostPID`/`hostIPC` checks of the
//! same template.)

use super::Cx;
use crate::contract::SharedCluster;
use crate::model::Pooler;
use crate::model::cnpg::{Container, PodSpec};

pub(super) fn pooler(cx: &mut Cx<'_>, p: &Pooler) {
    let Some(shared) = cx.referenced_cluster(&p.spec.cluster.name) else {
        return;
    };
    super::own_service_account(cx, p.spec.service_account_name.as_deref(), "Pooler");
    if let Some(secret) = p.spec.pgbouncer.as_ref().and_then(|b| b.auth_query_secret.as_ref())
        && shared.is_cluster_secret(&secret.name)
    {
        cx.violation(
            "spec.pgbouncer.authQuerySecret.name",
            format!(
                "pgbouncer would log in with {:?}, a credential of the shared cluster {} itself",
                secret.name, shared.name
            ),
            "remove authQuerySecret: CloudNativePG then authenticates pgbouncer with its own certificate \
             (cnpg_pooler_pgbouncer)",
        );
    }
    let Some(spec) = p.spec.template.as_ref().and_then(|t| t.spec.as_ref()) else {
        return;
    };
    credentials(cx, shared, spec);
}

/// Every place a pod template names a Secret: volumes (plain and
/// projected), and each container's `env` and `envFrom`.
fn secret_reads(spec: &PodSpec) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    for (i, v) in spec.volumes.iter().enumerate() {
        if let Some(name) = v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) {
            out.push((format!("volumes[{i}].secret.secretName"), name));
        }
        for (j, source) in v.projected.iter().flat_map(|p| &p.sources).enumerate() {
            if let Some(s) = &source.secret {
                out.push((
                    format!("volumes[{i}].projected.sources[{j}].secret.name"),
                    s.name.as_str(),
                ));
            }
        }
    }
    let groups: [(&str, &[Container]); 2] = [
        ("initContainers", &spec.init_containers),
        ("containers", &spec.containers),
    ];
    for (group, containers) in groups {
        for (i, c) in containers.iter().enumerate() {
            for (j, e) in c.env.iter().enumerate() {
                if let Some(s) = e.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()) {
                    out.push((
                        format!("{group}[{i}].env[{j}].valueFrom.secretKeyRef.name"),
                        s.name.as_str(),
                    ));
                }
            }
            for (j, e) in c.env_from.iter().enumerate() {
                if let Some(s) = &e.secret_ref {
                    out.push((format!("{group}[{i}].envFrom[{j}].secretRef.name"), s.name.as_str()));
                }
            }
        }
    }
    out
}

fn credentials(cx: &mut Cx<'_>, shared: &SharedCluster, spec: &PodSpec) {
    for (field, name) in secret_reads(spec) {
        if shared.is_cluster_secret(name) {
            cx.violation(
                format!("spec.template.spec.{field}"),
                format!(
                    "the Pooler's pods would read {name:?}, a credential of the shared cluster {} itself",
                    shared.name
                ),
                "remove it: pgbouncer needs none of the cluster's Secrets (CloudNativePG mounts what it needs)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    fn pooler(spec: &str) -> String {
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {{name: apps-pg-pooler-rw, namespace: databases}}, \
             spec: {{cluster: {{name: apps-pg}}, instances: 1, type: rw, {spec}}}}}"
        )
    }

    /// 1.30's serviceAccountName: unset or the object's own name, on the
    /// shared Cluster and its Poolers.
    #[rstest]
    #[case::accept_unset_on_a_pooler("kind: Pooler", "apps-pg-pooler-rw", "", None)]
    #[case::accept_its_own_on_a_pooler("kind: Pooler", "apps-pg-pooler-rw", "apps-pg-pooler-rw", None)]
    #[case::reject_the_clusters_on_a_pooler(
        "kind: Pooler",
        "apps-pg-pooler-rw",
        "apps-pg",
        Some("spec.serviceAccountName")
    )]
    #[case::accept_its_own_on_the_cluster("kind: Cluster", "apps-pg", "apps-pg", None)]
    #[case::reject_another_on_the_cluster("kind: Cluster", "apps-pg", "reader", Some("spec.serviceAccountName"))]
    fn service_account_names(
        #[case] kind: &str,
        #[case] name: &str,
        #[case] account: &str,
        #[case] field: Option<&str>,
    ) {
        let account = if account.is_empty() {
            String::new()
        } else {
            format!(", serviceAccountName: {account}")
        };
        let yaml = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, {kind}, metadata: {{name: {name}, namespace: databases}}, \
             spec: {{cluster: {{name: apps-pg}}{account}}}}}"
        );
        assert_only(&eval(&create(&yaml)), "bootstrap-secret-confined", field);
    }

    #[rstest]
    #[case::accept_plain_template("template: {spec: {containers: []}}", "network-posture", None)]
    #[case::reject_host_network(
        "template: {spec: {hostNetwork: true, containers: []}}",
        "network-posture",
        Some("spec.template.spec.hostNetwork")
    )]
    #[case::reject_host_pid(
        "template: {spec: {hostPID: true, containers: []}}",
        "network-posture",
        Some("spec.template.spec.hostPID")
    )]
    #[case::reject_host_ipc(
        "template: {spec: {hostIPC: true, containers: []}}",
        "network-posture",
        Some("spec.template.spec.hostIPC")
    )]
    #[case::accept_host_network_false(
        "template: {spec: {hostNetwork: false, containers: []}}",
        "network-posture",
        None
    )]
    #[case::reject_bootstrap_secret_volume(
        "template: {spec: {containers: [], volumes: [{name: v, secret: {secretName: apps-pg-credentials}}]}}",
        "bootstrap-secret-confined",
        Some("spec.template.spec.volumes[0].secret.secretName")
    )]
    #[case::reject_ca_secret_projected(
        "template: {spec: {containers: [], volumes: [{name: v, projected: {sources: [{configMap: {name: c}}, {secret: {name: apps-pg-ca}}]}}]}}",
        "bootstrap-secret-confined",
        Some("spec.template.spec.volumes[0].projected.sources[1].secret.name")
    )]
    #[case::reject_replication_secret_env(
        "template: {spec: {containers: [{name: x, image: evil, env: [{name: K, valueFrom: {secretKeyRef: {name: apps-pg-replication, key: tls.key}}}]}]}}",
        "bootstrap-secret-confined",
        Some("spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.name")
    )]
    #[case::reject_superuser_secret_env_from(
        "template: {spec: {initContainers: [{name: x, image: evil, envFrom: [{secretRef: {name: apps-pg-superuser}}]}], containers: []}}",
        "bootstrap-secret-confined",
        Some("spec.template.spec.initContainers[0].envFrom[0].secretRef.name")
    )]
    #[case::accept_another_secret(
        "template: {spec: {containers: [], volumes: [{name: v, secret: {secretName: pgbouncer-extra}}]}}",
        "bootstrap-secret-confined",
        None
    )]
    #[case::reject_auth_query_bootstrap(
        "pgbouncer: {authQuerySecret: {name: apps-pg-credentials}}",
        "bootstrap-secret-confined",
        Some("spec.pgbouncer.authQuerySecret.name")
    )]
    #[case::reject_auth_query_superuser(
        "pgbouncer: {authQuerySecret: {name: apps-pg-superuser}}",
        "bootstrap-secret-confined",
        Some("spec.pgbouncer.authQuerySecret.name")
    )]
    #[case::accept_auth_query_own(
        "pgbouncer: {authQuerySecret: {name: pooler-auth}}",
        "bootstrap-secret-confined",
        None
    )]
    fn poolers(#[case] spec: &str, #[case] rule: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&pooler(spec))), rule, field);
    }

    #[test]
    fn a_pooler_of_another_cluster_is_not_judged() {
        let yaml = "{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {name: p, namespace: team}, \
                    spec: {cluster: {name: scratch}, template: {spec: {hostNetwork: true, containers: []}}}}";
        assert_only(&eval(&create(yaml)), "network-posture", None);
    }
}
