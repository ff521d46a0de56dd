//! **cluster-identity**: a shared cluster is never renamed, replaced or
//! deleted, and what points at it stays where it belongs.

use super::{Cx, Rule, RuleId, deleted, written};
use crate::model::kinds::database_role::DatabaseRole;
use crate::model::kinds::namespace::Namespace;
use crate::model::kinds::publication::Publication;
use crate::model::kinds::subscription::Subscription;
use crate::model::{Cluster, Database, Kind, Object, Operation, Pooler, annotation, label};

pub(super) const RULE: Rule = Rule {
    id: RuleId::ClusterIdentity,
    names: &[Kind::Cluster, Kind::Namespace],
    checks: &[
        written!(Cluster, cluster),
        deleted!(Cluster, cluster_deleted),
        written!(Database, database),
        written!(Pooler, pooler),
        written!(DatabaseRole, database_role),
        written!(Publication, publication),
        written!(Subscription, subscription),
        deleted!(Namespace, namespace_deleted),
    ],
};
/// CNPG's switch for its own webhook checks.
const VALIDATION: &str = "cnpg.io/validation";

/// A shared Cluster is never deleted.
fn cluster_deleted(cx: &mut Cx<'_>, _: Option<&Cluster>) {
    if cx.shared_cluster().is_some() {
        cx.violation(
            "metadata.name",
            "the shared Cluster cannot be deleted: its PVCs are owned by it and would be garbage-collected, and every consumer DSN names it",
            "keep the Cluster; a rename in GitOps is a delete plus a create. For a planned teardown use break-glass",
        );
    }
}

/// Cluster CREATE/UPDATE.
fn cluster(cx: &mut Cx<'_>, new: &Cluster) {
    let r = cx.review;
    let Some(shared) = cx.shared_cluster() else {
        // Not a contract cluster: it must not pose as one.
        let contract = cx.contract;
        if let Some(original) = contract.clusters.iter().find(|c| carries_identity(new, c))
            && let Some((key, value)) = original.identity_label.iter().next()
        {
            cx.violation(
                format!("metadata.labels[{key}]"),
                format!(
                    "the identity label {key}={value} belongs to the shared cluster {}; this Cluster is not in the contract",
                    original.name
                ),
                "remove the label from this Cluster, or register it as a shared cluster in the contract",
            );
        }
        return;
    };

    for (key, value) in &shared.identity_label {
        let now = label(&new.metadata, key);
        if now != Some(value.as_str()) {
            let what = match now {
                None => format!("the identity label {key}={value} is missing"),
                Some(other) => format!("the identity label {key} is {other:?}, must be {value:?}"),
            };
            cx.violation(
                format!("metadata.labels[{key}]"),
                what,
                format!("keep the label {key}={value} on the shared Cluster"),
            );
        }
    }

    let initdb = new
        .spec
        .bootstrap
        .as_ref()
        .and_then(|b| b.initdb.clone())
        .unwrap_or_default();
    match (r.operation, r.old_object.as_ref()) {
        (Operation::Update, Some(Object::Cluster(old))) => {
            let before = old
                .spec
                .bootstrap
                .as_ref()
                .and_then(|b| b.initdb.clone())
                .unwrap_or_default();
            let pairs = [
                ("database", before.database.clone(), initdb.database.clone()),
                ("owner", before.owner.clone(), initdb.owner.clone()),
                (
                    "secret",
                    before.secret.map(|s| s.name),
                    initdb.secret.clone().map(|s| s.name),
                ),
            ];
            for (field, was, now) in pairs {
                if was != now {
                    cx.violation(
                        format!(
                            "spec.bootstrap.initdb.{field}{}",
                            if field == "secret" { ".name" } else { "" }
                        ),
                        format!(
                            "the bootstrap {field} cannot change (was {}, now {})",
                            show(&was),
                            show(&now)
                        ),
                        format!("restore spec.bootstrap.initdb.{field} to {}", show(&was)),
                    );
                }
            }
        }
        _ => {
            let pairs = [
                ("database", &shared.bootstrap.database, initdb.database.as_ref()),
                ("owner", &shared.bootstrap.role, initdb.owner.as_ref()),
                (
                    "secret",
                    &shared.bootstrap.secret,
                    initdb.secret.as_ref().map(|s| &s.name),
                ),
            ];
            for (field, want, now) in pairs {
                if now != Some(want) {
                    cx.violation(
                        format!(
                            "spec.bootstrap.initdb.{field}{}",
                            if field == "secret" { ".name" } else { "" }
                        ),
                        format!(
                            "the shared cluster must bootstrap with {field} {want:?} (found {})",
                            show(&now.cloned())
                        ),
                        format!("set spec.bootstrap.initdb.{field} to {want:?}, as the contract says"),
                    );
                }
            }
        }
    }
    validation_annotation(cx, annotation(&new.metadata, VALIDATION));
}

fn carries_identity(cluster: &Cluster, shared: &crate::contract::SharedCluster) -> bool {
    shared
        .identity_label
        .iter()
        .all(|(k, v)| label(&cluster.metadata, k) == Some(v.as_str()))
}

fn show(v: &Option<String>) -> String {
    v.as_ref().map(|s| format!("{s:?}")).unwrap_or_else(|| "unset".into())
}

fn validation_annotation(cx: &mut Cx<'_>, value: Option<&str>) {
    // Callers only ask for objects that are or point at a shared cluster.
    if value.is_some_and(|v| v.eq_ignore_ascii_case("disabled")) {
        cx.violation(
            format!("metadata.annotations[{VALIDATION}]"),
            "CNPG's own validation cannot be disabled on the shared cluster or what points at it",
            format!("remove the annotation {VALIDATION}"),
        );
    }
}

/// Namespace DELETE of a shared namespace.
fn namespace_deleted(cx: &mut Cx<'_>, _: Option<&Namespace>) {
    let r = cx.review;
    if cx.contract.is_shared_namespace(&r.name) {
        let clusters: Vec<&str> = cx.contract.clusters_in(&r.name).map(|c| c.name.as_str()).collect();
        cx.violation(
            "metadata.name",
            format!(
                "the shared namespace holds the shared cluster(s) {} and cannot be deleted",
                clusters.join(", ")
            ),
            "keep the namespace; for a planned teardown use break-glass",
        );
    }
}

/// Database and Pooler: where they live, what they point at, and CNPG's
/// validation switch.
fn database(cx: &mut Cx<'_>, d: &Database) {
    cluster_reference(cx, &d.spec.cluster.name, annotation(&d.metadata, VALIDATION));
}

fn pooler(cx: &mut Cx<'_>, p: &Pooler) {
    cluster_reference(cx, &p.spec.cluster.name, annotation(&p.metadata, VALIDATION));
}

fn database_role(cx: &mut Cx<'_>, r: &DatabaseRole) {
    cluster_reference(cx, &r.spec.cluster.name, annotation(&r.metadata, VALIDATION));
}

fn publication(cx: &mut Cx<'_>, p: &Publication) {
    cluster_reference(cx, &p.spec.cluster.name, annotation(&p.metadata, VALIDATION));
}

fn subscription(cx: &mut Cx<'_>, s: &Subscription) {
    cluster_reference(cx, &s.spec.cluster.name, annotation(&s.metadata, VALIDATION));
}

fn cluster_reference(cx: &mut Cx<'_>, target: &str, validation: Option<&str>) {
    let r = cx.review;
    let target = target.to_owned();

    if r.operation == Operation::Update {
        let before = match &r.old_object {
            Some(Object::Database(d)) => Some(d.spec.cluster.name.clone()),
            Some(Object::Pooler(p)) => Some(p.spec.cluster.name.clone()),
            Some(Object::DatabaseRole(d)) => Some(d.spec.cluster.name.clone()),
            Some(Object::Publication(p)) => Some(p.spec.cluster.name.clone()),
            Some(Object::Subscription(s)) => Some(s.spec.cluster.name.clone()),
            _ => None,
        };
        if let Some(before) = before
            && before != target
            && (cx.referenced_cluster(&before).is_some() || cx.referenced_cluster(&target).is_some())
        {
            cx.violation(
                "spec.cluster.name",
                format!("the cluster reference cannot change (was {before:?}, now {target:?})"),
                format!(
                    "restore spec.cluster.name to {before:?}, or create a new {} instead",
                    r.kind
                ),
            );
        }
    }

    let Some(shared) = cx.referenced_cluster(&target) else {
        return;
    };
    if shared.namespace != r.namespace {
        let (ns, name) = (shared.namespace.clone(), shared.name.clone());
        cx.violation(
            "metadata.namespace",
            format!(
                "a {} of the shared cluster {name} must live in its namespace {ns:?}",
                r.kind
            ),
            format!("create it in namespace {ns:?}"),
        );
    }
    validation_annotation(cx, validation);
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    const CLUSTER: &str = r#"
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: apps-pg, namespace: databases, labels: {railiance.io/role: shared-apps-database}}
spec:
  bootstrap: {initdb: {database: apps_meta, owner: apps_admin, secret: {name: apps-pg-credentials}}}
"#;

    #[rstest]
    #[case::accept_the_contract_cluster(CLUSTER, None)]
    #[case::reject_a_second_cluster_with_the_identity_label(
        "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: apps-pg2, namespace: databases, labels: {railiance.io/role: shared-apps-database}}, spec: {}}",
        Some("metadata.labels[railiance.io/role]")
    )]
    #[case::accept_an_unrelated_cluster(
        "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: gitea-db, namespace: databases}, spec: {}}",
        None
    )]
    #[case::reject_the_shared_cluster_with_another_bootstrap_owner(
        &CLUSTER.replace("owner: apps_admin", "owner: someone"),
        Some("spec.bootstrap.initdb.owner")
    )]
    #[case::reject_validation_disabled(
        &CLUSTER.replace("labels:", "annotations: {cnpg.io/validation: disabled}, labels:"),
        Some("metadata.annotations[cnpg.io/validation]")
    )]
    fn cluster_create(#[case] yaml: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(yaml)), "cluster-identity", field);
    }

    #[rstest]
    #[case::reject_removing_the_identity_label(
        &CLUSTER.replace("labels: {railiance.io/role: shared-apps-database}", "labels: {}"),
        Some("metadata.labels[railiance.io/role]")
    )]
    #[case::reject_changing_initdb_database(
        &CLUSTER.replace("database: apps_meta", "database: other"),
        Some("spec.bootstrap.initdb.database")
    )]
    #[case::reject_changing_initdb_secret(
        &CLUSTER.replace("name: apps-pg-credentials", "name: other"),
        Some("spec.bootstrap.initdb.secret.name")
    )]
    #[case::accept_an_unchanged_identity(&CLUSTER.replace("spec:", "spec:\n  instances: 2"), None)]
    fn cluster_update(#[case] new: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&update(CLUSTER, new)), "cluster-identity", field);
    }

    #[test]
    fn reject_deleting_the_shared_cluster_accept_others() {
        assert_only(&eval(&delete(CLUSTER)), "cluster-identity", Some("metadata.name"));
        let other = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: gitea-db, namespace: databases}, spec: {}}";
        assert_only(&eval(&delete(other)), "cluster-identity", None);
    }

    #[test]
    fn reject_deleting_the_shared_namespace_accept_others() {
        let ns = "{apiVersion: v1, kind: Namespace, metadata: {name: databases}}";
        assert_only(&eval(&delete(ns)), "cluster-identity", Some("metadata.name"));
        let ns = "{apiVersion: v1, kind: Namespace, metadata: {name: scratch}}";
        assert_only(&eval(&delete(ns)), "cluster-identity", None);
    }

    const DB: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {name: vergabe-db, namespace: databases}, spec: {name: vergabe_db, owner: vergabe, cluster: {name: apps-pg}}}";
    const POOLER: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {name: p, namespace: databases}, spec: {cluster: {name: apps-pg}}}";

    #[rstest]
    #[case::accept_database_in_the_shared_namespace(DB, None)]
    #[case::reject_database_elsewhere(&DB.replace("namespace: databases", "namespace: shop"), Some("metadata.namespace"))]
    #[case::reject_database_with_validation_disabled(
        &DB.replace("namespace: databases}", "namespace: databases, annotations: {cnpg.io/validation: disabled}}"),
        Some("metadata.annotations[cnpg.io/validation]")
    )]
    #[case::accept_pooler_in_the_shared_namespace(POOLER, None)]
    #[case::reject_pooler_elsewhere(&POOLER.replace("namespace: databases", "namespace: shop"), Some("metadata.namespace"))]
    #[case::reject_pooler_with_validation_disabled(
        &POOLER.replace("namespace: databases}", "namespace: databases, annotations: {cnpg.io/validation: disabled}}"),
        Some("metadata.annotations[cnpg.io/validation]")
    )]
    fn database_and_pooler_placement(#[case] yaml: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(yaml)), "cluster-identity", field);
    }

    #[rstest]
    #[case::reject_database_moving_off_the_shared_cluster(DB, &DB.replace("name: apps-pg", "name: gitea-db"), Some("spec.cluster.name"))]
    #[case::reject_pooler_moving_onto_the_shared_cluster(&POOLER.replace("name: apps-pg", "name: gitea-db"), POOLER, Some("spec.cluster.name"))]
    #[case::accept_unchanged_reference(DB, DB, None)]
    fn cluster_reference_is_immutable(#[case] old: &str, #[case] new: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&update(old, new)), "cluster-identity", field);
    }
}
