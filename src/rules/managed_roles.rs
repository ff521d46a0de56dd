//! **role-registered**: the shared cluster's managed roles are the
//! registry's roles, without elevated privileges, and a role that a
//! Database still owns stays.

use std::collections::HashSet;

use super::{Cx, RuleId};
use crate::model::cnpg::RoleConfiguration;
use crate::model::{Object, Operation};

const RULE: RuleId = RuleId::RoleRegistered;

pub(super) fn check(cx: &mut Cx<'_>) {
    let r = cx.review;
    if r.operation == Operation::Delete {
        return;
    }
    let Some(shared) = cx.contract.cluster(&r.namespace, &r.name) else {
        return;
    };
    let Some(Object::Cluster(new)) = &r.object else { return };
    let roles: &[RoleConfiguration] = new
        .spec
        .managed
        .as_ref()
        .map(|m| m.roles.as_slice())
        .unwrap_or_default();

    for (i, role) in roles.iter().enumerate() {
        if role.is_absent() {
            continue;
        }
        let at = format!("spec.managed.roles[{i}]");
        if role.name == shared.bootstrap.role {
            continue;
        }
        if shared.consumer_by_role(&role.name).is_none() {
            cx.violation(
                RULE,
                format!("{at}.name"),
                format!(
                    "role {:?} is not a registered consumer role of {}",
                    role.name, shared.name
                ),
                "register the consumer in the contract first (cnpg-guard onboard), or remove the role",
            );
        }
        let flags = [
            ("superuser", role.superuser),
            ("createrole", role.createrole),
            ("createdb", role.createdb),
            ("replication", role.replication),
            ("bypassrls", role.bypassrls),
        ];
        for (flag, value) in flags {
            if value == Some(true) {
                cx.violation(
                    RULE,
                    format!("{at}.{flag}"),
                    format!("consumer role {:?} may not have {flag}", role.name),
                    format!("set {flag}: false or remove it"),
                );
            }
        }
    }

    // Roles that stop existing with this write: set absent, or dropped from
    // the list on UPDATE. A Database that still owns one would break.
    let present: HashSet<&str> = new.present_roles().collect();
    let mut going: Vec<(String, String)> = roles
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_absent())
        .map(|(i, r)| (format!("spec.managed.roles[{i}].ensure"), r.name.clone()))
        .collect();
    if let Some(Object::Cluster(old)) = &r.old_object {
        for role in old.spec.managed.iter().flat_map(|m| &m.roles) {
            if !role.is_absent() && !present.contains(role.name.as_str()) && !going.iter().any(|(_, n)| *n == role.name)
            {
                going.push(("spec.managed.roles".into(), role.name.clone()));
            }
        }
    }
    for (field, name) in going {
        let fact = cx.facts.databases_owned_by(shared, &name);
        let Some(owned) = cx.fact(RULE, &field, &format!("role {name:?} owns no Database"), fact) else {
            continue;
        };
        if !owned.is_empty() {
            cx.violation(
                RULE,
                field,
                format!("role {name:?} still owns the Database(s) {}", owned.join(", ")),
                "remove or reassign those Databases first (see cnpg-guard offboard), then remove the role",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    fn cluster(roles: &str) -> String {
        format!(
            r#"
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {{name: apps-pg, namespace: databases, labels: {{railiance.io/role: shared-apps-database}}}}
spec:
  bootstrap: {{initdb: {{database: apps_meta, owner: apps_admin, secret: {{name: apps-pg-credentials}}}}}}
  managed:
    roles: {roles}
"#
        )
    }

    #[rstest]
    #[case::accept_registered_role("[{name: vergabe, login: true}]", None)]
    #[case::accept_bootstrap_role("[{name: apps_admin, login: true}]", None)]
    #[case::accept_unregistered_role_set_absent("[{name: legacy, ensure: absent}]", None)]
    #[case::reject_unregistered_role(
        "[{name: vergabe}, {name: reporting, login: true}]",
        Some("spec.managed.roles[1].name")
    )]
    #[case::reject_superuser("[{name: vergabe, superuser: true}]", Some("spec.managed.roles[0].superuser"))]
    #[case::reject_createrole("[{name: vergabe, createrole: true}]", Some("spec.managed.roles[0].createrole"))]
    #[case::reject_createdb("[{name: vergabe, createdb: true}]", Some("spec.managed.roles[0].createdb"))]
    #[case::reject_replication("[{name: vergabe, replication: true}]", Some("spec.managed.roles[0].replication"))]
    #[case::reject_bypassrls("[{name: vergabe, bypassrls: true}]", Some("spec.managed.roles[0].bypassrls"))]
    fn managed_roles(#[case] roles: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&cluster(roles))), "role-registered", field);
    }

    const VERGABE_DB: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {name: vergabe-db, namespace: databases}, spec: {name: vergabe_db, owner: vergabe, cluster: {name: apps-pg}}}";

    #[rstest]
    #[case::reject_removing_an_owning_role("[]", Some("spec.managed.roles"))]
    #[case::reject_setting_an_owning_role_absent(
        "[{name: vergabe, ensure: absent}]",
        Some("spec.managed.roles[0].ensure")
    )]
    #[case::accept_keeping_the_role("[{name: vergabe}]", None)]
    fn role_still_owning_a_database(#[case] roles: &str, #[case] field: Option<&str>) {
        let old = cluster("[{name: vergabe}]");
        let new = cluster(roles);
        let facts = facts_from(&[&new, VERGABE_DB]);
        assert_only(&eval_with(&update(&old, &new), &facts), "role-registered", field);
    }

    #[test]
    fn removing_a_role_without_database_facts_is_skipped_not_guessed() {
        let f = eval(&update(&cluster("[{name: vergabe}]"), &cluster("[]")));
        assert!(f.violations.is_empty());
        assert_eq!(f.skipped.len(), 1);
        assert_eq!(f.skipped[0].rule.as_str(), "role-registered");
    }
}
