//! **owner-registered**: a Database of a shared cluster is owned by a
//! registered, provisioned consumer role and named as the registry says.

use super::{Cx, Rule, RuleId, written};
use crate::model::Database;
use crate::names::{RESERVED_DATABASES, RESERVED_ROLES, is_reserved_database, is_reserved_role};

pub(super) const RULE: Rule = Rule {
    id: RuleId::OwnerRegistered,
    names: &[],
    checks: &[written!(Database, database)],
};

fn database(cx: &mut Cx<'_>, db: &Database) {
    let Some(shared) = cx.referenced_cluster(&db.spec.cluster.name) else {
        return;
    };
    let (owner, name) = (db.spec.owner.as_str(), db.spec.name.as_str());

    let owner_reserved = is_reserved_role(owner, &shared.bootstrap.role);
    if owner_reserved {
        cx.violation(
            "spec.owner",
            format!("{owner:?} is reserved ({RESERVED_ROLES})"),
            "set spec.owner to the consumer's registered role",
        );
    }
    let name_reserved = is_reserved_database(name, &shared.bootstrap.database);
    if name_reserved {
        cx.violation(
            "spec.name",
            format!("database name {name:?} is reserved ({RESERVED_DATABASES})"),
            "set spec.name to one of the consumer's registered databases",
        );
    }
    if owner_reserved {
        return;
    }

    match shared.consumer_by_role(owner) {
        None => cx.violation(
            "spec.owner",
            format!("role {owner:?} is not a registered consumer of {}", shared.name),
            "register the consumer in the contract first (cnpg-guard onboard)",
        ),
        Some(consumer) => {
            if !name_reserved && !consumer.databases.iter().any(|d| d == name) {
                cx.violation(
                    "spec.name",
                    format!(
                        "database {name:?} is not registered for role {owner:?} (registered: {})",
                        consumer.databases.join(", ")
                    ),
                    "use a registered database name, or add it to the consumer's databases in the contract",
                );
            }
            let fact = cx.facts.role_provisioned(shared, owner);
            if let Some(false) = cx.fact("spec.owner", &format!("role {owner:?} is provisioned"), fact) {
                cx.violation(
                    "spec.owner",
                    format!(
                        "role {owner:?} is not yet provisioned on {}: no managed role of the Cluster, no \
                         DatabaseRole",
                        shared.name
                    ),
                    format!(
                        "provision the role first: add it to spec.managed.roles of Cluster {}/{}, or (CloudNativePG \
                         1.30) apply its DatabaseRole",
                        shared.namespace, shared.name
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    fn db(owner: &str, name: &str) -> String {
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {{name: d, namespace: databases}}, spec: {{name: {name}, owner: {owner}, cluster: {{name: apps-pg}}}}}}"
        )
    }

    #[rstest]
    #[case::accept_registered_owner_and_database("vergabe", "vergabe_db", None)]
    #[case::reject_unregistered_owner("reporting", "reporting_db", Some("spec.owner"))]
    #[case::reject_unregistered_database("vergabe", "other_db", Some("spec.name"))]
    #[case::reject_bootstrap_owner("apps_admin", "vergabe_db", Some("spec.owner"))]
    #[case::reject_postgres_owner("postgres", "vergabe_db", Some("spec.owner"))]
    #[case::reject_streaming_replica_owner("streaming_replica", "vergabe_db", Some("spec.owner"))]
    #[case::reject_pg_prefixed_owner("pg_monitor", "vergabe_db", Some("spec.owner"))]
    #[case::reject_cnpg_prefixed_owner("cnpg_pooler_pgbouncer", "vergabe_db", Some("spec.owner"))]
    #[case::reject_bootstrap_database("vergabe", "apps_meta", Some("spec.name"))]
    #[case::reject_template1("vergabe", "template1", Some("spec.name"))]
    #[case::reject_template0("vergabe", "template0", Some("spec.name"))]
    #[case::reject_postgres_database("vergabe", "postgres", Some("spec.name"))]
    fn owner_and_name(#[case] owner: &str, #[case] name: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&db(owner, name))), "owner-registered", field);
    }

    #[test]
    fn accept_databases_of_other_clusters() {
        let other = "{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {name: d, namespace: databases}, spec: {name: gitea, owner: gitea, cluster: {name: gitea-db}}}";
        assert_only(&eval(&create(other)), "owner-registered", None);
    }

    const CLUSTER_WITHOUT_VERGABE: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: apps-pg, namespace: databases}, spec: {managed: {roles: [{name: other, ensure: present}]}}}";
    const DATABASE_ROLE_VERGABE: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: DatabaseRole, metadata: {name: vergabe, namespace: databases}, spec: {cluster: {name: apps-pg}, name: vergabe, login: true}}";
    const CLUSTER_WITH_VERGABE: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: apps-pg, namespace: databases}, spec: {managed: {roles: [{name: vergabe}]}}}";

    #[rstest]
    #[case::reject_owner_not_yet_provisioned(CLUSTER_WITHOUT_VERGABE, Some("spec.owner"))]
    #[case::accept_provisioned_owner(CLUSTER_WITH_VERGABE, None)]
    #[case::accept_owner_provided_by_a_database_role(DATABASE_ROLE_VERGABE, None)]
    fn owner_must_be_provisioned(#[case] cluster: &str, #[case] field: Option<&str>) {
        let d = db("vergabe", "vergabe_db");
        let f = eval_with(&create(&d), &facts_from(&[cluster, &d]));
        assert_only(&f, "owner-registered", field);
        if field.is_some() {
            assert!(f.violations[0].fix.contains("provision the role first"));
        }
    }

    #[test]
    fn provisioning_is_skipped_without_cluster_facts() {
        let f = eval(&create(&db("vergabe", "vergabe_db")));
        assert!(f.violations.is_empty());
        let mine: Vec<_> = f
            .skipped
            .iter()
            .filter(|s| s.rule.as_str() == "owner-registered")
            .collect();
        assert_eq!(mine.len(), 1);
        assert!(mine[0].check.contains("provisioned"));
    }
}
