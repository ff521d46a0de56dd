//! **role-registered**: the shared cluster's roles, whether managed in the
//! Cluster (`spec.managed.roles`) or by a DatabaseRole (CloudNativePG 1.30),
//! are the registry's roles, without elevated privileges or memberships
//! beyond what the platform grants, each with its own password Secret and
//! managed in one place only; and a role that a Database still owns stays.

use std::collections::HashSet;

use super::{Cx, Rule, RuleId, written};
use crate::contract::{Consumer, SharedCluster};
use crate::model::kinds::cluster::RoleConfiguration;
use crate::model::kinds::database_role::DatabaseRole;
use crate::model::{Cluster, Object};
use crate::names::{RESERVED_ROLES, is_reserved_role};

pub(super) const RULE: Rule = Rule {
    id: RuleId::RoleRegistered,
    names: &[],
    checks: &[written!(Cluster, cluster), written!(DatabaseRole, database_role)],
};

fn cluster(cx: &mut Cx<'_>, new: &Cluster) {
    let Some(shared) = cx.shared_cluster() else {
        return;
    };
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
            check_bootstrap_secret(cx, shared, role, &at);
        } else if let Some(consumer) = shared.consumer_by_role(&role.name) {
            check_memberships(cx, shared, consumer, role, &at);
            check_password_secret(cx, shared, consumer, role, roles, &at);
            managed_once_in_cluster(cx, shared, &role.name, &at);
        } else {
            cx.violation(
                format!("{at}.name"),
                format!(
                    "role {:?} is not a registered consumer role of {}",
                    role.name, shared.name
                ),
                "register the consumer in the contract first (cnpg-guard onboard), or remove the role",
            );
        }
        let whose = if role.name == shared.bootstrap.role {
            "the bootstrap role"
        } else {
            "consumer role"
        };
        check_flags(cx, role, whose, &at);
    }

    removed_roles(cx, shared, roles);
}

/// A DatabaseRole of a shared cluster: a registered consumer's role (never
/// the bootstrap role or a reserved one), with what a managed role may
/// have, its own password Secret, and managed nowhere else. Writing one is
/// writing a role as superuser: CloudNativePG adopts an existing role of
/// that name, resets its password from the Secret named and revokes the
/// memberships not listed (`databaserole_controller.go`, v1.30.0).
fn database_role(cx: &mut Cx<'_>, dr: &DatabaseRole) {
    let Some(shared) = cx.referenced_cluster(&dr.spec.cluster.name) else {
        return;
    };
    let role = &dr.spec.role;
    let at = "spec";
    let Some(consumer) = shared.consumer_by_role(&role.name) else {
        let (what, fix) = if role.name == shared.bootstrap.role {
            (
                format!(
                    "{:?} is the bootstrap role of {}: a DatabaseRole would take it over (password, attributes, \
                     memberships)",
                    role.name, shared.name
                ),
                "the bootstrap role is the platform's, managed with the Cluster: remove this DatabaseRole",
            )
        } else if is_reserved_role(&role.name, &shared.bootstrap.role) {
            (
                format!("{:?} is reserved ({RESERVED_ROLES})", role.name),
                "name a registered consumer role here, or remove this DatabaseRole",
            )
        } else {
            (
                format!(
                    "role {:?} is not a registered consumer role of {}",
                    role.name, shared.name
                ),
                "register the consumer in the contract first (cnpg-guard onboard), and name its role here",
            )
        };
        cx.violation("spec.name", what, fix);
        check_flags(cx, role, "role", at);
        return;
    };
    check_flags(cx, role, "consumer role", at);
    check_memberships(cx, shared, consumer, role, at);
    check_password_secret(cx, shared, consumer, role, &[], at);
    // Managed in the Cluster too: the Cluster's entry wins, and this CR
    // takes the role over the moment that entry is removed.
    let fact = cx.facts.role_in_cluster(shared, &role.name);
    if cx.fact(
        "spec.name",
        &format!("role {:?} is not managed in the Cluster", role.name),
        fact,
    ) == Some(true)
    {
        cx.violation(
            "spec.name",
            format!(
                "role {:?} is already managed in Cluster {}/{} (spec.managed.roles): one role is managed in one place",
                role.name, shared.namespace, shared.name
            ),
            "remove the role from the Cluster's spec.managed.roles first (cnpg-guard offboard prints that patch), \
             or keep it there and drop this DatabaseRole",
        );
    }
    let me = format!("{}/{}", cx.review.namespace, cx.review.name);
    let fact = cx.facts.database_roles_for(shared, &role.name);
    if let Some(others) = cx.fact(
        "spec.name",
        &format!("no other DatabaseRole manages role {:?}", role.name),
        fact,
    ) && let Some(other) = others.iter().find(|o| **o != me)
    {
        cx.violation(
            "spec.name",
            format!(
                "role {:?} is already managed by DatabaseRole {other}: one role is managed in one place",
                role.name
            ),
            format!("change DatabaseRole {other} instead, or remove it first"),
        );
    }
}

/// A consumer role in the Cluster's `spec.managed.roles` that a
/// DatabaseRole also manages.
fn managed_once_in_cluster(cx: &mut Cx<'_>, shared: &SharedCluster, role: &str, at: &str) {
    let fact = cx.facts.database_roles_for(shared, role);
    let Some(others) = cx.fact(
        &format!("{at}.name"),
        &format!("no DatabaseRole manages role {role:?}"),
        fact,
    ) else {
        return;
    };
    if let Some(other) = others.first() {
        cx.violation(
            format!("{at}.name"),
            format!("role {role:?} is already managed by DatabaseRole {other}: one role is managed in one place"),
            format!("remove DatabaseRole {other} first, or leave the role out of spec.managed.roles"),
        );
    }
}

/// No superuser, createrole, createdb, replication or bypassrls.
fn check_flags(cx: &mut Cx<'_>, role: &RoleConfiguration, whose: &str, at: &str) {
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
                format!("{at}.{flag}"),
                format!("{whose} {:?} may not have {flag}", role.name),
                format!("set {flag}: false or remove it"),
            );
        }
    }
}

/// `inRoles`: only what the contract's `memberOf` grants this consumer.
fn check_memberships(cx: &mut Cx<'_>, shared: &SharedCluster, consumer: &Consumer, role: &RoleConfiguration, at: &str) {
    for (j, member) in role.in_roles.iter().enumerate() {
        if consumer.member_of.iter().any(|m| m == member) {
            continue;
        }
        let what = if *member == shared.bootstrap.role {
            "the bootstrap role, which owns the cluster's metadata".to_owned()
        } else if member == "postgres" {
            "the superuser".to_owned()
        } else if member == "streaming_replica" {
            "the replication role".to_owned()
        } else if let Some(other) = shared.consumer_by_role(member) {
            format!("the role of consumer {}, with all its data", other.namespace)
        } else if member.starts_with("pg_") {
            "a predefined role: they read all data, read server files or run server programs".to_owned()
        } else {
            "a role the contract does not grant this consumer".to_owned()
        };
        cx.violation(
            format!("{at}.inRoles[{j}]"),
            format!(
                "consumer role {:?} may not be a member of {member:?}: {what}",
                role.name
            ),
            format!(
                "remove {member:?} from inRoles; a membership the platform grants is listed in the contract's \
                 consumers[].memberOf (granted now: {})",
                if consumer.member_of.is_empty() {
                    "none".to_owned()
                } else {
                    consumer.member_of.join(", ")
                }
            ),
        );
    }
}

/// The bootstrap role's `passwordSecret`, if set, is the contract's
/// bootstrap Secret: CNPG would set the role's password from any other.
fn check_bootstrap_secret(cx: &mut Cx<'_>, shared: &SharedCluster, role: &RoleConfiguration, at: &str) {
    let Some(secret) = role.password_secret.as_ref().map(|s| s.name.as_str()) else {
        return;
    };
    if secret != shared.bootstrap.secret {
        cx.violation(
            format!("{at}.passwordSecret.name"),
            format!(
                "the bootstrap role {:?} would take its password from Secret {secret:?}, not from the cluster's \
                 bootstrap Secret",
                role.name
            ),
            format!(
                "set passwordSecret.name to {:?} or remove passwordSecret",
                shared.bootstrap.secret
            ),
        );
    }
}

/// `passwordSecret`: the role's own Secret (the contract's `passwordSecret`
/// for the consumer, else what `onboard` writes), never the cluster's,
/// another role's, or any other Secret (CNPG would set this role's password
/// from it).
fn check_password_secret(
    cx: &mut Cx<'_>,
    shared: &SharedCluster,
    consumer: &Consumer,
    role: &RoleConfiguration,
    roles: &[RoleConfiguration],
    at: &str,
) {
    let Some(secret) = role.password_secret.as_ref().map(|s| s.name.as_str()) else {
        return;
    };
    let own = consumer.role_secret(&shared.name);
    if secret == own {
        return;
    }
    let why = shared_secret(shared, consumer, role, roles, secret)
        .map(|why| format!("Secret {secret:?} {why}, not role {:?}'s own", role.name))
        .unwrap_or_else(|| {
            format!(
                "Secret {secret:?} is not the role's own Secret: whoever writes it sets role {:?}'s password",
                role.name
            )
        });
    cx.violation(
        format!("{at}.passwordSecret.name"),
        why,
        format!(
            "set passwordSecret.name to the role's own Secret {own:?} (cnpg-guard onboard writes it; another \
             name is given in the contract's consumers[].passwordSecret)"
        ),
    );
}

/// Why `secret` is not `role`'s own, if it is a known Secret of someone else.
fn shared_secret(
    shared: &SharedCluster,
    consumer: &Consumer,
    role: &RoleConfiguration,
    roles: &[RoleConfiguration],
    secret: &str,
) -> Option<String> {
    if shared.is_cluster_secret(secret) {
        return Some("is a credential of the cluster itself".to_owned());
    }
    if let Some(other) = shared
        .consumer_by_role_secret(secret)
        .filter(|c| c.role != consumer.role)
    {
        return Some(format!("is the Secret of role {:?}", other.role));
    }
    let other = roles.iter().find(|r| {
        r.name != role.name && !r.is_absent() && r.password_secret.as_ref().is_some_and(|s| s.name == secret)
    })?;
    Some(format!("is also the passwordSecret of role {:?}", other.name))
}

/// Roles that stop existing with this write, while a Database owns them.
fn removed_roles(cx: &mut Cx<'_>, shared: &SharedCluster, roles: &[RoleConfiguration]) {
    let r = cx.review;
    let Some(Object::Cluster(new)) = &r.object else { return };
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
        let Some(owned) = cx.fact(&field, &format!("role {name:?} owns no Database"), fact) else {
            continue;
        };
        if !owned.is_empty() {
            cx.violation(
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

    fn database_role(name: &str, spec: &str) -> String {
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: DatabaseRole, metadata: {{name: {name}, namespace: databases}}, \
             spec: {{cluster: {{name: apps-pg}}{spec}}}}}"
        )
    }

    /// A DatabaseRole gets every check a managed role gets, at `spec.*`.
    #[rstest]
    #[case::accept_registered_role(", name: vergabe, login: true, passwordSecret: {name: apps-pg-role-vergabe}", None)]
    #[case::accept_granted_membership(", name: shop, login: true, inRoles: [pg_monitor]", None)]
    #[case::reject_superuser(", name: vergabe, login: true, superuser: true", Some("spec.superuser"))]
    #[case::reject_createrole(", name: vergabe, createrole: true", Some("spec.createrole"))]
    #[case::reject_createdb(", name: vergabe, createdb: true", Some("spec.createdb"))]
    #[case::reject_replication(", name: vergabe, replication: true", Some("spec.replication"))]
    #[case::reject_bypassrls(", name: vergabe, bypassrls: true", Some("spec.bypassrls"))]
    #[case::reject_unregistered_role(", name: reporting, login: true", Some("spec.name"))]
    #[case::reject_bootstrap_role(", name: apps_admin, superuser: true", Some("spec.name"))]
    #[case::reject_reserved_role(", name: cnpg_pooler_pgbouncer", Some("spec.name"))]
    #[case::reject_read_all_data(", name: vergabe, inRoles: [pg_read_all_data]", Some("spec.inRoles[0]"))]
    #[case::reject_membership_of_another_tenant(", name: vergabe, inRoles: [shop]", Some("spec.inRoles[0]"))]
    #[case::reject_another_roles_secret(
        ", name: vergabe, login: true, passwordSecret: {name: apps-pg-role-shop}",
        Some("spec.passwordSecret.name")
    )]
    #[case::reject_a_secret_the_writer_made(
        ", name: shop, login: true, passwordSecret: {name: my-own-secret}",
        Some("spec.passwordSecret.name")
    )]
    #[case::reject_the_bootstrap_secret(
        ", name: vergabe, login: true, passwordSecret: {name: apps-pg-credentials}",
        Some("spec.passwordSecret.name")
    )]
    #[case::accept_another_cluster(", name: reporting, superuser: true, cluster: {name: other-pg}", None)]
    fn database_roles(#[case] spec: &str, #[case] field: Option<&str>) {
        // A case that names its own cluster writes the whole spec.
        let yaml = if spec.contains("cluster:") {
            format!(
                "{{apiVersion: postgresql.cnpg.io/v1, kind: DatabaseRole, metadata: {{name: r, namespace: databases}}, \
                 spec: {{{}}}}}",
                &spec[2..]
            )
        } else {
            database_role("r", spec)
        };
        assert_only(&eval(&create(&yaml)), "role-registered", field);
    }

    /// One role, one place: a DatabaseRole for a role the Cluster manages,
    /// a Cluster managing a role a DatabaseRole manages, and two
    /// DatabaseRoles for one role are denied, naming the other place.
    #[test]
    fn a_role_is_managed_in_one_place_only() {
        let in_cluster = cluster("[{name: vergabe, login: true}]");
        let dr = database_role("vergabe-role", ", name: vergabe, login: true");
        let found = eval_with(&create(&dr), &facts_from(&[&in_cluster]));
        assert_only(&found, "role-registered", Some("spec.name"));
        assert!(
            found.violations[0].what.contains("Cluster databases/apps-pg"),
            "{:?}",
            found.violations
        );

        let found = eval_with(&create(&in_cluster), &facts_from(&[&dr]));
        assert_only(&found, "role-registered", Some("spec.managed.roles[0].name"));
        assert!(found.violations[0].what.contains("DatabaseRole databases/vergabe-role"));

        let second = database_role("vergabe-again", ", name: vergabe, login: true");
        let found = eval_with(&create(&second), &facts_from(&[&dr, &cluster("[]")]));
        assert_only(&found, "role-registered", Some("spec.name"));
        assert!(found.violations[0].what.contains("DatabaseRole databases/vergabe-role"));

        // Itself is no other place.
        assert_only(
            &eval_with(&create(&dr), &facts_from(&[&dr, &cluster("[]")])),
            "role-registered",
            None,
        );
    }

    #[rstest]
    #[case::accept_no_memberships("[{name: vergabe, inRoles: []}]", None)]
    #[case::accept_granted_membership("[{name: shop, inRoles: [pg_monitor]}]", None)]
    #[case::reject_read_all_data(
        "[{name: vergabe, inRoles: [pg_read_all_data]}]",
        Some("spec.managed.roles[0].inRoles[0]")
    )]
    #[case::reject_server_program(
        "[{name: vergabe, inRoles: [pg_execute_server_program]}]",
        Some("spec.managed.roles[0].inRoles[0]")
    )]
    #[case::reject_membership_granted_to_another(
        "[{name: vergabe, inRoles: [pg_monitor]}]",
        Some("spec.managed.roles[0].inRoles[0]")
    )]
    #[case::reject_bootstrap_role("[{name: vergabe, inRoles: [apps_admin]}]", Some("spec.managed.roles[0].inRoles[0]"))]
    #[case::reject_postgres(
        "[{name: shop, inRoles: [pg_monitor, postgres]}]",
        Some("spec.managed.roles[0].inRoles[1]")
    )]
    #[case::reject_another_tenant("[{name: vergabe, inRoles: [shop]}]", Some("spec.managed.roles[0].inRoles[0]"))]
    #[case::accept_own_secret("[{name: vergabe, passwordSecret: {name: apps-pg-role-vergabe}}]", None)]
    #[case::reject_bootstrap_secret(
        "[{name: vergabe, passwordSecret: {name: apps-pg-credentials}}]",
        Some("spec.managed.roles[0].passwordSecret.name")
    )]
    #[case::reject_superuser_secret(
        "[{name: vergabe, passwordSecret: {name: apps-pg-superuser}}]",
        Some("spec.managed.roles[0].passwordSecret.name")
    )]
    #[case::reject_another_tenants_secret(
        "[{name: vergabe, passwordSecret: {name: apps-pg-role-shop}}]",
        Some("spec.managed.roles[0].passwordSecret.name")
    )]
    #[case::reject_a_shared_secret(
        "[{name: vergabe, passwordSecret: {name: app-pw}}, {name: shop, passwordSecret: {name: app-pw}}]",
        Some("spec.managed.roles[1].passwordSecret.name")
    )]
    #[case::reject_any_other_secret(
        "[{name: vergabe, passwordSecret: {name: some-random-secret}}]",
        Some("spec.managed.roles[0].passwordSecret.name")
    )]
    #[case::reject_an_offboarded_consumers_secret(
        "[{name: vergabe, passwordSecret: {name: apps-pg-role-legacy}}]",
        Some("spec.managed.roles[0].passwordSecret.name")
    )]
    #[case::accept_bootstrap_role_with_its_secret(
        "[{name: apps_admin, passwordSecret: {name: apps-pg-credentials}}]",
        None
    )]
    #[case::reject_bootstrap_role_with_another_secret(
        "[{name: apps_admin, passwordSecret: {name: shop-chosen-password}}]",
        Some("spec.managed.roles[0].passwordSecret.name")
    )]
    #[case::reject_bootstrap_role_superuser(
        "[{name: apps_admin, superuser: true}]",
        Some("spec.managed.roles[0].superuser")
    )]
    #[case::reject_bootstrap_role_createrole(
        "[{name: apps_admin, createrole: true}]",
        Some("spec.managed.roles[0].createrole")
    )]
    #[case::reject_bootstrap_role_createdb(
        "[{name: apps_admin, createdb: true}]",
        Some("spec.managed.roles[0].createdb")
    )]
    #[case::reject_bootstrap_role_replication(
        "[{name: apps_admin, replication: true}]",
        Some("spec.managed.roles[0].replication")
    )]
    #[case::reject_bootstrap_role_bypassrls(
        "[{name: apps_admin, bypassrls: true}]",
        Some("spec.managed.roles[0].bypassrls")
    )]
    fn memberships_and_password_secrets(#[case] roles: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&cluster(roles))), "role-registered", field);
    }

    #[test]
    fn a_secret_named_in_the_contract_is_the_roles_own() {
        let contract = crate::contract::parse(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  \
             namespace: databases\n  bootstrap: {role: apps_admin, database: apps_meta, secret: apps-pg-credentials}\n  \
             consumers:\n  - {namespace: v, role: vergabe, databases: [vergabe_db], \
             passwordSecret: vergabe-login}\n",
            "<test>",
        )
        .unwrap();
        let eval = |secret: &str| {
            crate::rules::evaluate(
                &create(&cluster(&format!(
                    "[{{name: vergabe, passwordSecret: {{name: {secret}}}}}]"
                ))),
                &contract,
                &crate::facts::NoFacts,
            )
        };
        assert_only(&eval("vergabe-login"), "role-registered", None);
        let f = eval("apps-pg-role-vergabe");
        assert_only(&f, "role-registered", Some("spec.managed.roles[0].passwordSecret.name"));
        assert!(
            f.violations[0].fix.contains("\"vergabe-login\""),
            "{}",
            f.violations[0].fix
        );
    }

    #[test]
    fn a_forbidden_membership_says_what_it_hands_out() {
        let f = eval(&create(&cluster("[{name: vergabe, inRoles: [pg_read_all_data]}]")));
        let v = f.violations.iter().find(|v| v.field.ends_with("inRoles[0]")).unwrap();
        assert_eq!(
            v.line(),
            "[role-registered] Cluster databases/apps-pg: spec.managed.roles[0].inRoles[0]: consumer role \"vergabe\" \
             may not be a member of \"pg_read_all_data\": a predefined role: they read all data, read server files or \
             run server programs. Fix: remove \"pg_read_all_data\" from inRoles; a membership the platform grants is \
             listed in the contract's consumers[].memberOf (granted now: none)."
        );
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
        assert_only(&f, "role-registered", None);
        assert_eq!(f.skipped.len(), 1);
        assert_eq!(f.skipped[0].rule.as_str(), "role-registered");
    }
}
