//! **platform-only**: only the platform hands out the shared cluster. A
//! requester that is not the platform (a platform subject, `system:masters`),
//! not one of the cluster's controllers (an exempt user such as the CNPG
//! operator; Kubernetes' garbage collector and namespace controller) and
//! without break-glass may not:
//!
//! - change a platform-only field (the field inventory's class) of a shared
//!   Cluster or of a Pooler of one, or of a Database or Subscription on one:
//!   on CREATE, set it; on UPDATE, give it another value;
//! - write the platform's kinds on a shared cluster: NetworkPolicies,
//!   Services, Backups, ScheduledBackups and ImageCatalogs in the shared
//!   namespaces, and a ClusterImageCatalog a shared cluster uses.
//!
//! A consumer's subject is held to its own objects by `tenant-scoped`,
//! which already refuses it the shared Cluster, its Poolers and the
//! platform's kinds; here it is judged only on the platform-only fields of
//! its own Databases and Subscriptions. Requests of nobody (`check`
//! without `--as`, `audit`) are not judged: who asks is known only at
//! admission.

use super::{Cx, Rule, RuleId, deleted, written};
use crate::contract::Requester;
use crate::model::kinds::backup::Backup;
use crate::model::kinds::cluster_image_catalog::ClusterImageCatalog;
use crate::model::kinds::image_catalog::ImageCatalog;
use crate::model::kinds::network_policy::NetworkPolicy;
use crate::model::kinds::scheduled_backup::ScheduledBackup;
use crate::model::kinds::service::Service;
use crate::model::kinds::subscription::Subscription;
use crate::model::print::Prints;
use crate::model::{Cluster, Database, Object, Pooler};

pub(super) const RULE: Rule = Rule {
    id: RuleId::PlatformOnly,
    names: &[],
    checks: &[
        written!(Cluster, cluster),
        written!(Pooler, pooler),
        written!(Database, database),
        written!(Subscription, subscription),
        written!(NetworkPolicy, platforms::<NetworkPolicy>),
        deleted!(NetworkPolicy, platforms_deleted::<NetworkPolicy>),
        written!(Service, platforms::<Service>),
        written!(Backup, platforms::<Backup>),
        written!(ScheduledBackup, platforms::<ScheduledBackup>),
        written!(ImageCatalog, platforms::<ImageCatalog>),
        deleted!(ImageCatalog, platforms_deleted::<ImageCatalog>),
        written!(ClusterImageCatalog, cluster_catalog),
        deleted!(ClusterImageCatalog, cluster_catalog_deleted),
    ],
};

/// The requester in words when it is one this rule judges: an unknown
/// one, and a consumer's subject where `consumers` (its own objects).
fn outsider(cx: &Cx<'_>, consumers: bool) -> Option<String> {
    match cx.requester() {
        Requester::Unknown => Some(format!(
            "{:?}, neither the platform nor a consumer's subject in the contract,",
            cx.review.user.username
        )),
        Requester::Consumer(k) if consumers => Some(format!("a subject of consumer {}", k.namespace)),
        _ => None,
    }
}

/// One violation per platform-only field whose value `new` differs from
/// `old` (on CREATE: that is set).
fn changed(cx: &mut Cx<'_>, who: &str, whose: &str, new: Prints, old: Option<Prints>) {
    for (i, (path, value)) in new.into_iter().enumerate() {
        let before = old.as_ref().and_then(|o| o.get(i)).and_then(|(_, v)| *v);
        if value == before {
            continue;
        }
        let verb = if before.is_none() {
            "sets"
        } else if value.is_none() {
            "removes"
        } else {
            "changes"
        };
        cx.violation(
            format!("spec.{path}"),
            format!("{who} {verb} spec.{path}, a platform-only field of {whose}: only the platform changes it"),
            format!(
                "leave spec.{path} as it was, and ask the platform team to make this change (the contract's \
                 `platform` subjects), or use break-glass"
            ),
        );
    }
}

/// Judges the platform-only fields of `new` against those of the old
/// object on the shared object `whose` names in words (`None`: not a
/// shared one); a consumer's subject is judged where `consumers`. The
/// platform's requests cost a lookup.
fn fields<T>(
    cx: &mut Cx<'_>,
    consumers: bool,
    new: &T,
    prints: fn(&T) -> Prints,
    whose: impl FnOnce(&Cx<'_>) -> Option<String>,
) where
    for<'a> &'a T: TryFrom<&'a Object>,
{
    let Some(who) = outsider(cx, consumers) else { return };
    let Some(whose) = whose(cx) else { return };
    let old = cx.review.old_object.as_ref().and_then(|o| <&T>::try_from(o).ok());
    let before = old.map(prints);
    changed(cx, &who, &whose, prints(new), before);
}

fn cluster(cx: &mut Cx<'_>, c: &Cluster) {
    fields(cx, false, c, Cluster::platform_only, |cx| {
        cx.shared_cluster()
            .map(|s| format!("shared cluster {}/{}", s.namespace, s.name))
    });
}

fn pooler(cx: &mut Cx<'_>, p: &Pooler) {
    fields(cx, false, p, Pooler::platform_only, |cx| {
        cx.referenced_cluster(&p.spec.cluster.name)
            .map(|s| format!("a Pooler of shared cluster {}", s.name))
    });
}

fn database(cx: &mut Cx<'_>, d: &Database) {
    fields(cx, true, d, Database::platform_only, |cx| {
        cx.referenced_cluster(&d.spec.cluster.name)
            .map(|s| format!("a Database on shared cluster {}", s.name))
    });
}

fn subscription(cx: &mut Cx<'_>, s: &Subscription) {
    fields(cx, true, s, Subscription::platform_only, |cx| {
        cx.referenced_cluster(&s.spec.cluster.name).map(|c| {
            format!(
                "a Subscription on shared cluster {} (it pulls data from a server outside the cluster)",
                c.name
            )
        })
    });
}

/// An object of the platform's kinds in a shared namespace.
fn platforms<T>(cx: &mut Cx<'_>, _: &T) {
    platforms_deleted::<T>(cx, None);
}

fn platforms_deleted<T>(cx: &mut Cx<'_>, _: Option<&T>) {
    if !cx.contract.is_shared_namespace(&cx.review.namespace) {
        return;
    }
    let Some(who) = outsider(cx, false) else { return };
    let (kind, namespace) = (cx.review.kind, cx.review.namespace.clone());
    not_the_platform(cx, &who, &format!("a {kind} in shared namespace {namespace}"));
}

fn not_the_platform(cx: &mut Cx<'_>, who: &str, what: &str) {
    let verb = match cx.review.operation {
        crate::model::Operation::Delete => "deletes",
        _ => "writes",
    };
    cx.violation(
        "metadata.name",
        format!("{who} {verb} {what}, which is the platform's"),
        "ask the platform team to apply it (the contract's `platform` subjects), or use break-glass",
    );
}

/// A ClusterImageCatalog a shared cluster takes its image from (the fact
/// `image_catalog`): the platform's.
fn cluster_catalog(cx: &mut Cx<'_>, _: &ClusterImageCatalog) {
    cluster_catalog_deleted(cx, None);
}

fn cluster_catalog_deleted(cx: &mut Cx<'_>, _: Option<&ClusterImageCatalog>) {
    let Some(who) = outsider(cx, false) else { return };
    let contract = cx.contract;
    let name = cx.review.name.clone();
    for shared in &contract.clusters {
        let fact = cx.facts.image_catalog(shared);
        let check = format!("{} does not use ClusterImageCatalog {name:?}", shared.name);
        let Some(used) = cx.fact("metadata.name", &check, fact) else {
            continue;
        };
        if used.is_some_and(|r| r.kind == "ClusterImageCatalog" && r.name == name) {
            let what = format!(
                "the ClusterImageCatalog shared cluster {}/{} takes its image from",
                shared.namespace, shared.name
            );
            return not_the_platform(cx, &who, &what);
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::facts::NoFacts;
    use crate::model::kinds::{Class, KINDS, Kind};
    use crate::rules::evaluate;
    use crate::rules::testing::*;

    /// Every kind's platform-only fields are the ones its inventory names,
    /// in its order: the class is what this rule enforces.
    #[test]
    fn the_prints_are_the_inventorys_platform_only_fields() {
        let empty = |kind: Kind| -> Vec<&'static str> {
            let o = match kind {
                Kind::Cluster => Cluster::default().platform_only(),
                Kind::Pooler => Pooler::default().platform_only(),
                Kind::Database => Database::default().platform_only(),
                Kind::Subscription => Subscription::default().platform_only(),
                _ => Vec::new(),
            };
            o.into_iter().map(|(p, _)| p).collect()
        };
        for d in KINDS {
            let inventory: Vec<&str> = d
                .fields
                .iter()
                .filter(|(_, c)| *c == Class::PlatformOnly)
                .map(|(p, _)| *p)
                .collect();
            let mut printed = empty(d.kind);
            printed.sort_unstable();
            let mut inventory = inventory;
            inventory.sort_unstable();
            assert_eq!(printed, inventory, "{}", d.name);
        }
    }

    const CLUSTER: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: apps-pg, namespace: databases}, spec: {instances: 3, storage: {size: 10Gi}}}";
    const POOLER: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {name: p, namespace: databases}, spec: {cluster: {name: apps-pg}, pgbouncer: {poolMode: session}}}";
    const DEV: &str = "dev";
    const FLUX: &str = "system:serviceaccount:vergabe-teilnahme:flux";
    const ADMIN: &str = "railiance:platform-admins";

    fn with(base: &str, from: &str, to: &str) -> String {
        assert!(base.contains(from));
        base.replacen(from, to, 1)
    }

    #[rstest]
    #[case::reject_an_unknown_requester_resizing_storage(DEV, &[], CLUSTER, with(CLUSTER, "10Gi", "20Gi"), Some("spec.storage"))]
    #[case::reject_a_client_ca_swap_by_auth_posture_not_here(
        DEV,
        &[],
        CLUSTER,
        with(CLUSTER, "instances: 3", "instances: 3, certificates: {clientCASecret: mine}"),
        None
    )]
    #[case::reject_an_unknown_requester_setting_a_preload_library(
        DEV,
        &[],
        CLUSTER,
        with(CLUSTER, "instances: 3", "instances: 3, postgresql: {shared_preload_libraries: [evil]}"),
        Some("spec.postgresql.shared_preload_libraries")
    )]
    #[case::reject_an_unknown_requester_adding_a_plugin(
        DEV,
        &[],
        CLUSTER,
        with(CLUSTER, "instances: 3", "instances: 3, plugins: [{name: x}]"),
        Some("spec.plugins")
    )]
    #[case::accept_an_unknown_requester_scaling(DEV, &[], CLUSTER, with(CLUSTER, "instances: 3", "instances: 4"), None)]
    #[case::accept_the_platform_resizing_storage(DEV, &[ADMIN], CLUSTER, with(CLUSTER, "10Gi", "20Gi"), None)]
    #[case::accept_system_masters(DEV, &["system:masters"], CLUSTER, with(CLUSTER, "10Gi", "20Gi"), None)]
    #[case::accept_the_cnpg_operator(
        "system:serviceaccount:cnpg-system:cnpg-manager",
        &[],
        CLUSTER,
        with(CLUSTER, "10Gi", "20Gi"),
        None
    )]
    #[case::reject_an_unknown_requester_on_a_pooler_ca(
        DEV,
        &[],
        POOLER,
        with(POOLER, "poolMode: session", "poolMode: session, clientCASecret: {name: mine}"),
        Some("spec.pgbouncer.clientCASecret")
    )]
    #[case::accept_an_unknown_requester_on_a_pooler_mode(
        DEV,
        &[],
        POOLER,
        with(POOLER, "session", "transaction"),
        None
    )]
    fn only_the_platform_changes_platform_only_fields(
        #[case] user: &str,
        #[case] groups: &[&str],
        #[case] old: &str,
        #[case] new: String,
        #[case] field: Option<&str>,
    ) {
        let review = as_user(update(old, &new), user, groups);
        let found = evaluate(&review, &contract_with_subjects(), &NoFacts);
        assert_only(&found, "platform-only", field);
        // The rule about values still judges whoever asks.
        if new.contains("clientCASecret: mine}") && old == CLUSTER {
            assert!(found.violations.iter().any(|v| v.rule == RuleId::AuthPosture));
        }
    }

    #[test]
    fn an_unknown_requester_creating_the_shared_cluster_is_denied_each_platform_only_field() {
        let review = as_user(create(CLUSTER), DEV, &[]);
        let found = evaluate(&review, &contract_with_subjects(), &NoFacts);
        assert_only(&found, "platform-only", Some("spec.storage"));
        let v = found
            .violations
            .iter()
            .find(|v| v.rule == RuleId::PlatformOnly)
            .unwrap();
        assert!(
            v.what
                .contains("\"dev\", neither the platform nor a consumer's subject"),
            "{}",
            v.what
        );
        assert!(v.what.contains("sets spec.storage"), "{}", v.what);
    }

    #[test]
    fn a_key_order_is_no_change() {
        let old = with(
            CLUSTER,
            "storage: {size: 10Gi}",
            "storage: {size: 10Gi, storageClass: fast}",
        );
        let new = with(
            CLUSTER,
            "storage: {size: 10Gi}",
            "storage: {storageClass: fast, size: 10Gi}",
        );
        let found = evaluate(
            &as_user(update(&old, &new), DEV, &[]),
            &contract_with_subjects(),
            &NoFacts,
        );
        assert_only(&found, "platform-only", None);
    }

    const DB: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {name: vergabe-db, namespace: databases}, spec: {name: vergabe_db, owner: vergabe, cluster: {name: apps-pg}}}";

    #[rstest]
    #[case::reject_a_consumer_setting_a_tablespace(FLUX, &[], with(DB, "owner: vergabe", "owner: vergabe, tablespace: fast"), Some("spec.tablespace"))]
    #[case::accept_a_consumer_without_one(FLUX, &[], DB.to_owned(), None)]
    #[case::accept_the_platform_setting_one(DEV, &[ADMIN], with(DB, "owner: vergabe", "owner: vergabe, tablespace: fast"), None)]
    fn a_databases_tablespace_is_the_platforms(
        #[case] user: &str,
        #[case] groups: &[&str],
        #[case] new: String,
        #[case] field: Option<&str>,
    ) {
        let found = evaluate(
            &as_user(update(DB, &new), user, groups),
            &contract_with_subjects(),
            &NoFacts,
        );
        assert_only(&found, "platform-only", field);
    }

    /// A consumer keeps updating its Database once the platform set its
    /// tablespace: what did not change is not judged.
    #[test]
    fn an_unchanged_platform_only_field_is_not_judged() {
        let placed = with(DB, "owner: vergabe", "owner: vergabe, tablespace: fast");
        let more = with(
            &placed,
            "tablespace: fast",
            "tablespace: fast, schemas: [{name: app, owner: vergabe}]",
        );
        let found = evaluate(
            &as_user(update(&placed, &more), FLUX, &[]),
            &contract_with_subjects(),
            &NoFacts,
        );
        assert_only(&found, "platform-only", None);
    }

    const NETPOL: &str = "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: allow-x, namespace: databases}, spec: {podSelector: {}}}";
    const BACKUP: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Backup, metadata: {name: b, namespace: databases}, spec: {cluster: {name: apps-pg}}}";
    const SERVICE: &str =
        "{apiVersion: v1, kind: Service, metadata: {name: s, namespace: databases}, spec: {ports: [{port: 5432}]}}";

    #[rstest]
    #[case::reject_an_unknown_requesters_network_policy(DEV, &[], NETPOL, Some("metadata.name"))]
    #[case::reject_an_unknown_requesters_backup(DEV, &[], BACKUP, Some("metadata.name"))]
    #[case::reject_an_unknown_requesters_service(DEV, &[], SERVICE, Some("metadata.name"))]
    #[case::accept_the_operators_backup("system:serviceaccount:cnpg-system:cnpg-manager", &[], BACKUP, None)]
    #[case::accept_the_platforms_network_policy(DEV, &[ADMIN], NETPOL, None)]
    #[case::accept_the_same_policy_elsewhere(DEV, &[], &NETPOL.replace("databases", "shop"), None)]
    fn the_platforms_kinds_are_written_by_the_platform(
        #[case] user: &str,
        #[case] groups: &[&str],
        #[case] yaml: &str,
        #[case] field: Option<&str>,
    ) {
        let found = evaluate(
            &as_user(create(yaml), user, groups),
            &contract_with_subjects(),
            &NoFacts,
        );
        assert_only(&found, "platform-only", field);
    }

    #[rstest]
    #[case::the_garbage_collector("system:serviceaccount:kube-system:generic-garbage-collector")]
    #[case::the_namespace_controller("system:serviceaccount:kube-system:namespace-controller")]
    fn kubernetes_controllers_delete_what_they_must(#[case] user: &str) {
        let found = evaluate(&as_user(delete(NETPOL), user, &[]), &contract_with_subjects(), &NoFacts);
        assert_only(&found, "platform-only", None);
        let found = evaluate(&as_user(delete(NETPOL), DEV, &[]), &contract_with_subjects(), &NoFacts);
        assert_only(&found, "platform-only", Some("metadata.name"));
    }

    /// Who asks is known only at admission: `audit` and `check` without
    /// `--as` judge values only.
    #[test]
    fn nobody_is_not_judged() {
        let mut review = as_user(create(BACKUP), DEV, &[]);
        review.stored = true;
        assert_only(
            &evaluate(&review, &contract_with_subjects(), &NoFacts),
            "platform-only",
            None,
        );
        let review = as_user(create(BACKUP), "", &[]);
        assert_only(
            &evaluate(&review, &contract_with_subjects(), &NoFacts),
            "platform-only",
            None,
        );
    }

    #[test]
    fn a_cluster_image_catalog_a_shared_cluster_uses_is_the_platforms() {
        let cluster = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: apps-pg, namespace: databases}, spec: {imageCatalogRef: {apiGroup: postgresql.cnpg.io, kind: ClusterImageCatalog, name: pg}}}";
        let facts = facts_from(&[cluster]);
        let catalog = |name: &str| {
            format!(
                "{{apiVersion: postgresql.cnpg.io/v1, kind: ClusterImageCatalog, metadata: {{name: {name}}}, spec: {{images: []}}}}"
            )
        };
        let found = evaluate(
            &as_user(create(&catalog("pg")), DEV, &[]),
            &contract_with_subjects(),
            &facts,
        );
        assert_only(&found, "platform-only", Some("metadata.name"));
        let found = evaluate(
            &as_user(create(&catalog("other")), DEV, &[]),
            &contract_with_subjects(),
            &facts,
        );
        assert_only(&found, "platform-only", None);
    }
}
