//! **data-retained**: no write silently destroys a tenant's data or the
//! shared service. Dropping a database (`ensure: absent`, or deleting a CR
//! whose reclaim policy is `delete`), hibernating or demoting the shared
//! cluster, pausing its pooler and a cold (offline) snapshot backup, which
//! fences an instance, are break-glass acts.

use super::{Cx, Rule, RuleId, deleted, written};
use crate::model::kinds::backup::{Backup, BackupSpec};
use crate::model::kinds::database_role::DatabaseRole;
use crate::model::kinds::publication::Publication;
use crate::model::kinds::scheduled_backup::ScheduledBackup;
use crate::model::kinds::subscription::Subscription;
use crate::model::{Cluster, Database, Object, Pooler};

pub(super) const RULE: Rule = Rule {
    id: RuleId::DataRetained,
    names: &[],
    checks: &[
        written!(Cluster, cluster),
        written!(Database, database),
        deleted!(Database, database_deleted),
        written!(Pooler, pooler),
        written!(DatabaseRole, database_role),
        deleted!(DatabaseRole, database_role_deleted),
        written!(Backup, backup),
        written!(ScheduledBackup, scheduled_backup),
        written!(Publication, publication),
        written!(Subscription, subscription),
    ],
};

/// CloudNativePG's declarative hibernation annotation.
const HIBERNATION: &str = "cnpg.io/hibernation";

const BREAK_GLASS_FIX: &str =
    "this is a break-glass act: a member of a break-glass group sets the break-glass annotation with the ticket";

/// Deleting a Database CR whose reclaim policy is `delete` drops the
/// database.
fn database_deleted(cx: &mut Cx<'_>, db: Option<&Database>) {
    let Some(db) = db else {
        cx.violation(
            "spec.databaseReclaimPolicy",
            "the request carries no stored object, so the guard cannot tell whether deleting it drops the database",
            "retry; the API server sends the stored object with every DELETE",
        );
        return;
    };
    let Some(shared) = cx.referenced_cluster(&db.spec.cluster.name) else {
        return;
    };
    let name = &db.spec.name;
    if db.spec.reclaims_by_delete() {
        cx.violation(
            "spec.databaseReclaimPolicy",
            format!(
                "the policy is delete, so deleting this Database drops database {name:?} on {} with all its data",
                shared.name
            ),
            format!("set databaseReclaimPolicy: retain first to keep the data, or {BREAK_GLASS_FIX} (offboarding)"),
        );
    }
}

fn database(cx: &mut Cx<'_>, db: &Database) {
    let r = cx.review;
    let Some(shared) = cx.referenced_cluster(&db.spec.cluster.name) else {
        return;
    };
    let name = &db.spec.name;
    if db.spec.is_absent() {
        cx.violation(
            "spec.ensure",
            format!(
                "ensure: absent makes CloudNativePG drop database {name:?} on {} with all its data",
                shared.name
            ),
            format!("remove ensure: absent; dropping a database is offboarding, and {BREAK_GLASS_FIX}"),
        );
    }
    let newly_delete = !matches!(&r.old_object, Some(Object::Database(old)) if old.spec.reclaims_by_delete())
        && db.spec.reclaims_by_delete();
    if newly_delete {
        cx.advisory(
            "spec.databaseReclaimPolicy",
            format!("with policy delete, deleting this CR drops database {name:?} with all its data"),
            "keep the default retain unless the data may go with the CR",
        );
    }
}

fn cluster(cx: &mut Cx<'_>, c: &Cluster) {
    if cx.shared_cluster().is_none() {
        return;
    }
    if c.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(HIBERNATION))
        .is_some_and(|v| v.trim() == "on")
    {
        cx.violation(
            format!("metadata.annotations[{HIBERNATION}]"),
            "hibernation stops every instance of the shared cluster: every consumer loses service",
            format!("remove the annotation, or {BREAK_GLASS_FIX}"),
        );
    }
    if c.is_replica() {
        cx.violation(
            "spec.replica.enabled",
            "a replica cluster demotes the shared primary: every consumer loses writes",
            format!("remove spec.replica.enabled, or {BREAK_GLASS_FIX}"),
        );
    }
    if let Some(primary) = c.primary_elsewhere() {
        cx.violation(
            "spec.replica.primary",
            format!("names {primary:?} as the primary of the topology, which demotes the shared cluster: every consumer loses writes"),
            format!("remove spec.replica.primary or set it to this cluster, or {BREAK_GLASS_FIX}"),
        );
    }
}

fn pooler(cx: &mut Cx<'_>, p: &Pooler) {
    if cx.referenced_cluster(&p.spec.cluster.name).is_none() {
        return;
    }
    if p.spec.pgbouncer.as_ref().and_then(|b| b.paused) == Some(true) {
        cx.violation(
            "spec.pgbouncer.paused",
            "a paused pooler holds every consumer's connections",
            format!("remove paused: true, or {BREAK_GLASS_FIX}"),
        );
    }
}

/// A DatabaseRole newly set to `databaseRoleReclaimPolicy: delete`: a
/// warning, as for a Database.
fn database_role(cx: &mut Cx<'_>, dr: &DatabaseRole) {
    if cx.referenced_cluster(&dr.spec.cluster.name).is_none() || !dr.spec.reclaims_by_delete() {
        return;
    }
    if matches!(&cx.review.old_object, Some(Object::DatabaseRole(old)) if old.spec.reclaims_by_delete()) {
        return;
    }
    cx.advisory(
        "spec.databaseRoleReclaimPolicy",
        format!(
            "with policy delete, deleting this CR drops role {:?} (CloudNativePG's DROP ROLE)",
            dr.spec.role.name
        ),
        "keep the default retain unless the role may go with the CR",
    );
}

/// Deleting a DatabaseRole whose reclaim policy is `delete` drops its role:
/// not while a live Database CR is owned by it (the database would lose its
/// owner's login, and CloudNativePG keeps retrying the drop).
fn database_role_deleted(cx: &mut Cx<'_>, dr: Option<&DatabaseRole>) {
    let Some(dr) = dr else {
        cx.violation(
            "spec.databaseRoleReclaimPolicy",
            "the request carries no stored object, so the guard cannot tell whether deleting it drops a role",
            "retry; the API server sends the stored object with every DELETE",
        );
        return;
    };
    let Some(shared) = cx.referenced_cluster(&dr.spec.cluster.name) else {
        return;
    };
    if !dr.spec.reclaims_by_delete() {
        return;
    }
    let role = dr.spec.role.name.as_str();
    let fact = cx.facts.databases_owned_by(shared, role);
    let Some(owned) = cx.fact(
        "spec.databaseRoleReclaimPolicy",
        &format!("role {role:?} owns no Database"),
        fact,
    ) else {
        return;
    };
    if !owned.is_empty() {
        cx.violation(
            "spec.databaseRoleReclaimPolicy",
            format!(
                "the policy is delete, so deleting this DatabaseRole drops role {role:?} on {}, which still owns the \
                 Database(s) {}",
                shared.name,
                owned.join(", ")
            ),
            format!(
                "set databaseRoleReclaimPolicy: retain first, or remove those Databases first (offboarding), or \
                 {BREAK_GLASS_FIX}"
            ),
        );
    }
}

fn backup(cx: &mut Cx<'_>, b: &Backup) {
    offline_snapshot(cx, &b.spec, "this backup");
}

fn scheduled_backup(cx: &mut Cx<'_>, s: &ScheduledBackup) {
    offline_snapshot(cx, &s.spec, "every backup of this schedule");
}

/// `method: volumeSnapshot` with `online: false`: the operator fences the
/// target instance (PostgreSQL stopped) until the snapshots are taken, the
/// primary included (`pkg/reconciler/backup/volumesnapshot/offline.go@v1.30.0:L58-143`).
/// Only an explicit `online: false` is judged: unset, the Cluster's
/// platform-only `spec.backup.volumeSnapshot.online` decides, else hot
/// (`api/v1/backup_funcs.go@v1.30.0:L262-283`), and a platform that makes
/// cold snapshots its cluster's default has chosen them.
fn offline_snapshot(cx: &mut Cx<'_>, spec: &BackupSpec, which: &str) {
    if !spec.is_offline_snapshot() || cx.referenced_cluster(&spec.cluster.name).is_none() {
        return;
    }
    cx.violation(
        "spec.online",
        format!(
            "online: false with method volumeSnapshot fences the target instance (PostgreSQL stopped) while {which} \
             is taken, the primary if it is the target or the only instance: every consumer loses service"
        ),
        format!("remove online: false (a hot snapshot keeps the instance running), or {BREAK_GLASS_FIX}"),
    );
}

/// A Publication newly set to `publicationReclaimPolicy: delete`: a
/// warning, as for a Database (deleting the CR drops the publication).
fn publication(cx: &mut Cx<'_>, p: &Publication) {
    let was = matches!(&cx.review.old_object, Some(Object::Publication(old))
        if old.spec.publication_reclaim_policy.as_deref() == Some("delete"));
    reclaim_warning(
        cx,
        &p.spec.cluster.name,
        p.spec.publication_reclaim_policy.as_deref(),
        was,
        "publication",
    );
}

/// A Subscription newly set to `subscriptionReclaimPolicy: delete`: a
/// warning, as for a Database.
fn subscription(cx: &mut Cx<'_>, s: &Subscription) {
    let was = matches!(&cx.review.old_object, Some(Object::Subscription(old))
        if old.spec.subscription_reclaim_policy.as_deref() == Some("delete"));
    reclaim_warning(
        cx,
        &s.spec.cluster.name,
        s.spec.subscription_reclaim_policy.as_deref(),
        was,
        "subscription",
    );
}

fn reclaim_warning(cx: &mut Cx<'_>, cluster: &str, policy: Option<&str>, was_delete: bool, what: &str) {
    if cx.referenced_cluster(cluster).is_none() || policy != Some("delete") || was_delete {
        return;
    }
    let field = format!("spec.{what}ReclaimPolicy");
    cx.advisory(
        field,
        format!(
            "with policy delete, deleting this CR drops the {what} (CloudNativePG's DROP {})",
            what.to_uppercase()
        ),
        "keep the default retain unless the object in PostgreSQL may go with the CR",
    );
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    fn database(spec: &str) -> String {
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {{name: vergabe-db, namespace: databases}}, \
             spec: {{name: vergabe_db, owner: vergabe, cluster: {{name: apps-pg}}{spec}}}}}"
        )
    }

    /// Deleting a DatabaseRole with reclaim policy delete drops its role:
    /// denied while a Database CR is owned by it, break-glass as usual.
    #[test]
    fn deleting_a_database_role_that_drops_an_owning_role() {
        let dr = |policy: &str| {
            format!(
                "{{apiVersion: postgresql.cnpg.io/v1, kind: DatabaseRole, metadata: {{name: vergabe, namespace: databases}}, \
                 spec: {{cluster: {{name: apps-pg}}, name: vergabe, login: true, databaseRoleReclaimPolicy: {policy}}}}}"
            )
        };
        let db = "{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {name: vergabe-db, namespace: databases}, \
                  spec: {name: vergabe_db, owner: vergabe, cluster: {name: apps-pg}}}";
        let cluster = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: apps-pg, namespace: databases}, \
                       spec: {managed: {roles: [{name: vergabe, login: true}]}}}";
        let owning = facts_from(&[db, cluster]);
        assert_only(
            &eval_with(&delete(&dr("delete")), &owning),
            "data-retained",
            Some("spec.databaseRoleReclaimPolicy"),
        );
        assert_only(&eval_with(&delete(&dr("retain")), &owning), "data-retained", None);
        assert_only(
            &eval_with(&delete(&dr("delete")), &facts_from(&[cluster])),
            "data-retained",
            None,
        );
        // Newly delete: a warning, never a denial.
        let found = eval(&create(&dr("delete")));
        assert!(found.violations.iter().all(|v| v.advisory), "{:?}", found.violations);
        assert_only(&found, "data-retained", Some("spec.databaseRoleReclaimPolicy"));
    }

    #[rstest]
    #[case::accept_present("", None)]
    #[case::reject_ensure_absent(", ensure: absent", Some("spec.ensure"))]
    fn database_writes(#[case] spec: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&database(spec))), "data-retained", field);
    }

    #[rstest]
    #[case::accept_delete_with_retain(", databaseReclaimPolicy: retain", None)]
    #[case::accept_delete_with_the_default("", None)]
    #[case::reject_delete_with_reclaim_delete(", databaseReclaimPolicy: delete", Some("spec.databaseReclaimPolicy"))]
    fn database_deletes(#[case] spec: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&delete(&database(spec))), "data-retained", field);
    }

    #[test]
    fn setting_reclaim_delete_warns_and_never_denies() {
        let f = eval(&update(&database(""), &database(", databaseReclaimPolicy: delete")));
        assert_eq!(f.violations.len(), 1);
        let v = &f.violations[0];
        assert_eq!(
            (v.rule.as_str(), v.field.as_str(), v.advisory),
            ("data-retained", "spec.databaseReclaimPolicy", true)
        );
        let d = crate::decision::decide(
            &update(&database(""), &database(", databaseReclaimPolicy: delete")),
            &contract(),
            &crate::facts::NoFacts,
        );
        assert!(d.allowed);
        assert_eq!(d.warnings().len(), 1);
        assert!(
            d.warnings()[0].starts_with("[data-retained] with policy delete"),
            "{:?}",
            d.warnings()
        );
        // Kept as it was: nothing to say.
        let same = database(", databaseReclaimPolicy: delete");
        assert!(eval(&update(&same, &same)).violations.is_empty());
    }

    fn cluster(extra: &str, spec: &str) -> String {
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {{name: apps-pg, namespace: databases, \
             labels: {{railiance.io/role: shared-apps-database}}{extra}}}, spec: {{{spec}}}}}"
        )
    }

    #[rstest]
    #[case::accept_plain("", "", None)]
    #[case::reject_hibernation(
        ", annotations: {cnpg.io/hibernation: 'on'}",
        "",
        Some("metadata.annotations[cnpg.io/hibernation]")
    )]
    #[case::accept_hibernation_off(", annotations: {cnpg.io/hibernation: 'off'}", "", None)]
    #[case::reject_replica("", "replica: {enabled: true, source: other}", Some("spec.replica.enabled"))]
    #[case::accept_replica_off("", "replica: {enabled: false}", None)]
    #[case::reject_primary_elsewhere(
        "",
        "replica: {primary: apps-pg-dr, source: apps-pg-dr}",
        Some("spec.replica.primary")
    )]
    #[case::reject_primary_other_than_self("", "replica: {primary: a, self: b}", Some("spec.replica.primary"))]
    #[case::accept_primary_self("", "replica: {primary: apps-pg, self: apps-pg}", None)]
    fn clusters(#[case] extra: &str, #[case] spec: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&cluster(extra, spec))), "data-retained", field);
    }

    #[rstest]
    #[case::accept_running("{pgbouncer: {paused: false}}", None)]
    #[case::reject_paused("{pgbouncer: {paused: true}}", Some("spec.pgbouncer.paused"))]
    fn poolers(#[case] spec: &str, #[case] field: Option<&str>) {
        let spec = &spec[1..spec.len() - 1];
        let yaml = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {{name: pool, namespace: databases}}, \
             spec: {{cluster: {{name: apps-pg}}, {spec}}}}}"
        );
        assert_only(&eval(&create(&yaml)), "data-retained", field);
    }

    #[rstest]
    #[case::reject_an_offline_snapshot(", method: volumeSnapshot, online: false", Some("spec.online"))]
    #[case::reject_an_offline_snapshot_of_a_standby(
        ", method: volumeSnapshot, online: false, target: prefer-standby",
        Some("spec.online")
    )]
    #[case::accept_an_online_snapshot(", method: volumeSnapshot, online: true", None)]
    #[case::accept_the_clusters_default(", method: volumeSnapshot", None)]
    #[case::accept_offline_with_another_method(", method: plugin, online: false", None)]
    #[case::accept_offline_with_the_default_method(", online: false", None)]
    fn backups(#[values("Backup", "ScheduledBackup")] kind: &str, #[case] spec: &str, #[case] field: Option<&str>) {
        let schedule = if kind == "ScheduledBackup" {
            "schedule: '0 0 0 * * *', "
        } else {
            ""
        };
        let yaml = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: {kind}, metadata: {{name: cold, namespace: databases}}, \
             spec: {{{schedule}cluster: {{name: apps-pg}}{spec}}}}}"
        );
        assert_only(&eval(&create(&yaml)), "data-retained", field);
    }

    #[test]
    fn accept_an_offline_snapshot_of_another_cluster() {
        let yaml = "{apiVersion: postgresql.cnpg.io/v1, kind: Backup, metadata: {name: cold, namespace: databases}, \
                    spec: {cluster: {name: gitea-db}, method: volumeSnapshot, online: false}}";
        assert_only(&eval(&create(yaml)), "data-retained", None);
    }

    #[test]
    fn an_offline_snapshot_says_what_stops_and_how_to_fix_it() {
        let yaml = "{apiVersion: postgresql.cnpg.io/v1, kind: ScheduledBackup, metadata: {name: cold, namespace: \
                    databases}, spec: {schedule: '0 0 0 * * *', cluster: {name: apps-pg}, method: volumeSnapshot, \
                    online: false}}";
        let f = eval(&create(yaml));
        assert_eq!(
            f.violations[0].line(),
            "[data-retained] ScheduledBackup databases/cold: spec.online: online: false with method volumeSnapshot \
             fences the target instance (PostgreSQL stopped) while every backup of this schedule is taken, the \
             primary if it is the target or the only instance: every consumer loses service. Fix: remove online: \
             false (a hot snapshot keeps the instance running), or this is a break-glass act: a member of a \
             break-glass group sets the break-glass annotation with the ticket."
        );
    }

    #[test]
    fn an_offline_snapshot_is_allowed_with_break_glass() {
        let yaml = "{apiVersion: postgresql.cnpg.io/v1, kind: Backup, metadata: {name: cold, namespace: databases, \
                    annotations: {cnpg-guard.railiance.io/break-glass: OPS-42}}, \
                    spec: {cluster: {name: apps-pg}, method: volumeSnapshot, online: false}}";
        let mut review = create(yaml);
        let d = crate::decision::decide(&review, &contract(), &crate::facts::NoFacts);
        assert!(!d.allowed, "alice is in no break-glass group");
        review.user.groups.push("railiance:platform-admins".into());
        let d = crate::decision::decide(&review, &contract(), &crate::facts::NoFacts);
        assert!(d.allowed, "{d:?}");
    }
}
