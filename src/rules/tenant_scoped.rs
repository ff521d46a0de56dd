//! **tenant-scoped**: a consumer's subject (its GitOps identity, as the
//! contract's `consumers[].subjects` names it) writes only that consumer's
//! objects. In a shared namespace, where Kubernetes RBAC cannot tell one
//! team's Database CRs from another's, that is: Database CRs whose owner is
//! its role and whose name is one of its databases, its DatabaseRole, its
//! role's password Secret, and its Publications and Subscriptions; every
//! other object there is the platform's. Outside, it labels only its own
//! namespace for the shared cluster.
//!
//! A requester the contract does not know (neither the platform, a
//! controller nor a consumer's subject) writes none of the consumers'
//! objects while the contract's `unknownRequesters` is `deny`, the default:
//! such a write cannot be tied to the tenant whose data it touches. The
//! platform's objects are `platform-only`'s. Requests of the platform, of
//! a controller and of nobody (`check` without `--as`, `audit`) are not
//! judged here.

use super::{Cx, Rule, RuleId, deleted, written};
use crate::contract::{Consumer, Requester, SharedCluster, UnknownRequesters};
use crate::model::kinds::backup::Backup;
use crate::model::kinds::cluster_image_catalog::ClusterImageCatalog;
use crate::model::kinds::database_role::DatabaseRole;
use crate::model::kinds::image_catalog::ImageCatalog;
use crate::model::kinds::namespace::Namespace;
use crate::model::kinds::network_policy::NetworkPolicy;
use crate::model::kinds::publication::Publication;
use crate::model::kinds::scheduled_backup::ScheduledBackup;
use crate::model::kinds::secret::Secret;
use crate::model::kinds::service::Service;
use crate::model::kinds::subscription::Subscription;
use crate::model::{Cluster, Database, Pooler};

pub(super) const RULE: Rule = Rule {
    id: RuleId::TenantScoped,
    names: &[],
    checks: &[
        written!(Database, database),
        deleted!(Database, database_deleted),
        written!(DatabaseRole, database_role),
        deleted!(DatabaseRole, database_role_deleted),
        written!(Secret, secret),
        written!(Publication, publication),
        deleted!(Publication, publication_deleted),
        written!(Subscription, subscription),
        deleted!(Subscription, subscription_deleted),
        written!(Cluster, platforms::<Cluster>),
        deleted!(Cluster, platforms_deleted::<Cluster>),
        written!(Pooler, platforms::<Pooler>),
        written!(NetworkPolicy, platforms::<NetworkPolicy>),
        deleted!(NetworkPolicy, platforms_deleted::<NetworkPolicy>),
        written!(Service, platforms::<Service>),
        written!(Backup, platforms::<Backup>),
        written!(ScheduledBackup, platforms::<ScheduledBackup>),
        written!(ImageCatalog, platforms::<ImageCatalog>),
        written!(ClusterImageCatalog, platforms::<ClusterImageCatalog>),
        written!(Namespace, namespace),
    ],
};

/// Whom this rule judges.
enum Judged<'a> {
    /// A consumer's subject: only its own objects.
    Consumer(&'a Consumer),
    /// A requester the contract does not know, under `unknownRequesters:
    /// deny`: none of the consumers' objects.
    Unknown,
}

fn judged<'a>(cx: &Cx<'a>) -> Option<Judged<'a>> {
    match cx.requester() {
        Requester::Consumer(k) => Some(Judged::Consumer(k)),
        Requester::Unknown if cx.contract.unknown_requesters == UnknownRequesters::Deny => Some(Judged::Unknown),
        _ => None,
    }
}

/// The consumer whose subject sends this request, if a consumer's does.
fn requester<'a>(cx: &Cx<'a>) -> Option<&'a Consumer> {
    match cx.requester() {
        Requester::Consumer(k) => Some(k),
        _ => None,
    }
}

/// The shared cluster of the review's namespace where `consumer` is one.
fn shared_of<'a>(cx: &Cx<'a>, consumer: &Consumer) -> Option<&'a SharedCluster> {
    let contract: &'a crate::contract::Contract = cx.contract;
    contract
        .clusters_in(&cx.review.namespace)
        .find(|c| c.consumers.iter().any(|k| k.namespace == consumer.namespace))
}

/// Denies the write: `whose` says whose the object is.
fn not_its(cx: &mut Cx<'_>, field: &str, consumer: &Consumer, whose: String) {
    let what = format!(
        "a subject of consumer {} may write only its own objects, and this is {whose}",
        consumer.namespace
    );
    cx.violation(
        field,
        what,
        "write it from the identity that owns it (the platform's, or that consumer's), or change it to one of \
         the consumer's own",
    );
}

/// Denies an unknown requester's write of `whose`, a consumer's object.
fn unknown(cx: &mut Cx<'_>, field: &str, whose: String) {
    let what = format!(
        "{:?} is neither the platform nor a consumer's subject in the contract, which lets no such requester \
         write the consumers' objects (unknownRequesters: deny), and this is {whose}",
        cx.review.user.username
    );
    cx.violation(
        field,
        what,
        "apply it with the consumer's own identity, or have the platform add this one to that consumer's \
         subjects in the contract",
    );
}

/// `what` (a kind) of the consumer whose role is `role`, in words, for an
/// unknown requester.
fn consumers_object(shared: &SharedCluster, role: &str, what: &str) -> String {
    match shared.consumer_by_role(role) {
        Some(k) => format!("consumer {}'s {what}", k.namespace),
        None => format!("a {what} on shared cluster {}", shared.name),
    }
}

/// Whose role `role` is, in words.
fn role_owner(shared: Option<&SharedCluster>, role: &str) -> String {
    match shared.and_then(|s| s.consumer_by_role(role)) {
        Some(other) => format!("consumer {}'s (role {role:?})", other.namespace),
        None => format!("not a consumer's (role {role:?}): the platform's"),
    }
}

fn database(cx: &mut Cx<'_>, db: &Database) {
    let Some(who) = judged(cx) else { return };
    let Some(shared) = cx.referenced_cluster(&db.spec.cluster.name) else {
        return;
    };
    let me = match who {
        Judged::Consumer(me) => me,
        Judged::Unknown => {
            let whose = consumers_object(shared, &db.spec.owner, "Database");
            return unknown(cx, "spec.owner", whose);
        }
    };
    if db.spec.owner != me.role {
        let whose = role_owner(Some(shared), &db.spec.owner);
        return not_its(cx, "spec.owner", me, format!("a Database owned by {whose}"));
    }
    if !me.databases.contains(&db.spec.name) {
        let whose = match shared.consumers.iter().find(|k| k.databases.contains(&db.spec.name)) {
            Some(other) => format!("consumer {}'s database {:?}", other.namespace, db.spec.name),
            None => format!("database {:?}, which the contract gives no consumer", db.spec.name),
        };
        not_its(cx, "spec.name", me, whose);
    }
}

fn database_deleted(cx: &mut Cx<'_>, db: Option<&Database>) {
    if let Some(db) = db {
        database(cx, db);
    }
}

fn database_role(cx: &mut Cx<'_>, r: &DatabaseRole) {
    let Some(who) = judged(cx) else { return };
    let Some(shared) = cx.referenced_cluster(&r.spec.cluster.name) else {
        return;
    };
    match who {
        Judged::Unknown => {
            let whose = consumers_object(shared, &r.spec.role.name, "DatabaseRole");
            unknown(cx, "spec.name", whose);
        }
        Judged::Consumer(me) if r.spec.role.name != me.role => {
            let whose = format!("a DatabaseRole of {}", role_owner(Some(shared), &r.spec.role.name));
            not_its(cx, "spec.name", me, whose);
        }
        Judged::Consumer(_) => {}
    }
}

fn database_role_deleted(cx: &mut Cx<'_>, r: Option<&DatabaseRole>) {
    if let Some(r) = r {
        database_role(cx, r);
    }
}

fn secret(cx: &mut Cx<'_>, _: &Secret) {
    let Some(who) = judged(cx) else { return };
    if !cx.contract.is_shared_namespace(&cx.review.namespace) {
        return;
    }
    let me = match who {
        Judged::Consumer(me) => me,
        Judged::Unknown => {
            // Only the consumers' password Secrets: the namespace's other
            // Secrets (the operator's, a certificate issuer's) are judged
            // by their values.
            let contract = cx.contract;
            let owner = contract
                .clusters_in(&cx.review.namespace)
                .find_map(|c| c.consumer_by_role_secret(&cx.review.name));
            if let Some(owner) = owner {
                let whose = format!("consumer {}'s password Secret", owner.namespace);
                unknown(cx, "metadata.name", whose);
            }
            return;
        }
    };
    let Some(shared) = shared_of(cx, me) else {
        return not_its(
            cx,
            "metadata.name",
            me,
            "a Secret of a shared cluster it is no consumer of".into(),
        );
    };
    if cx.review.name != me.role_secret(&shared.name) {
        let whose = match shared.consumer_by_role_secret(&cx.review.name) {
            Some(other) => format!("consumer {}'s password Secret", other.namespace),
            None => "a Secret of the shared namespace, the platform's".into(),
        };
        not_its(cx, "metadata.name", me, whose);
    }
}

fn replication(cx: &mut Cx<'_>, cluster: &str, dbname: &str, what: &str) {
    let Some(who) = judged(cx) else { return };
    let Some(shared) = cx.referenced_cluster(cluster) else {
        return;
    };
    let owner = shared
        .consumers
        .iter()
        .find(|k| k.databases.iter().any(|d| d == dbname));
    let whose = match owner {
        Some(other) => format!("a {what} in consumer {}'s database {dbname:?}", other.namespace),
        None => format!("a {what} in database {dbname:?}, which the contract gives no consumer"),
    };
    match who {
        Judged::Unknown => unknown(cx, "spec.dbname", whose),
        Judged::Consumer(me) if !me.databases.iter().any(|d| d == dbname) => not_its(cx, "spec.dbname", me, whose),
        Judged::Consumer(_) => {}
    }
}

fn publication(cx: &mut Cx<'_>, p: &Publication) {
    replication(cx, &p.spec.cluster.name, &p.spec.dbname, "publication");
}

fn publication_deleted(cx: &mut Cx<'_>, p: Option<&Publication>) {
    if let Some(p) = p {
        publication(cx, p);
    }
}

fn subscription(cx: &mut Cx<'_>, s: &Subscription) {
    replication(cx, &s.spec.cluster.name, &s.spec.dbname, "subscription");
}

fn subscription_deleted(cx: &mut Cx<'_>, s: Option<&Subscription>) {
    if let Some(s) = s {
        subscription(cx, s);
    }
}

/// Any other object in a shared namespace (the shared Cluster, its Poolers,
/// NetworkPolicies, Services, backups, image catalogs), and every
/// ClusterImageCatalog: the platform's.
fn platforms<T>(cx: &mut Cx<'_>, _: &T) {
    let Some(me) = requester(cx) else { return };
    let kind = cx.review.kind;
    if kind.is_namespaced() && !cx.contract.is_shared_namespace(&cx.review.namespace) {
        return;
    }
    not_its(
        cx,
        "metadata.name",
        me,
        format!("a {kind} of the shared cluster, the platform's"),
    );
}

fn platforms_deleted<T>(cx: &mut Cx<'_>, object: Option<&T>) {
    let Some(me) = requester(cx) else { return };
    let _ = object;
    if !cx.contract.is_shared_namespace(&cx.review.namespace) {
        return;
    }
    let kind = cx.review.kind;
    not_its(
        cx,
        "metadata.name",
        me,
        format!("a {kind} of the shared cluster, the platform's"),
    );
}

/// A consumer's subject labels no other namespace for a shared cluster.
fn namespace(cx: &mut Cx<'_>, ns: &Namespace) {
    let Some(me) = requester(cx) else { return };
    if cx.review.name == me.namespace {
        return;
    }
    let contract = cx.contract;
    let labelled = contract.clusters.iter().any(|c| {
        ns.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(&c.client_label))
    });
    if labelled {
        let whose = format!("namespace {}, not its own", cx.review.name);
        not_its(cx, "metadata.labels", me, whose);
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::facts::NoFacts;
    use crate::rules::evaluate;
    use crate::rules::testing::*;

    const VERGABE: &str = "system:serviceaccount:vergabe-teilnahme:flux";

    fn db(name: &str, owner: &str, database: &str) -> String {
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {{name: {name}, namespace: databases}}, \
             spec: {{name: {database}, owner: {owner}, cluster: {{name: apps-pg}}}}}}"
        )
    }

    #[rstest]
    #[case::accept_its_own_database(VERGABE, &[], db("vergabe-db", "vergabe", "vergabe_db"), None)]
    #[case::reject_anothers_database_by_owner(VERGABE, &[], db("x", "shop", "shop_db"), Some("spec.owner"))]
    #[case::reject_anothers_database_by_name(VERGABE, &[], db("x", "vergabe", "shop_db"), Some("spec.name"))]
    #[case::reject_a_group_members_write_of_the_other(
        "carol",
        &["team-shop"],
        db("vergabe-db", "vergabe", "vergabe_db"),
        Some("spec.owner")
    )]
    #[case::accept_the_platform("alice", &["railiance:platform-admins"], db("x", "shop", "shop_db"), None)]
    #[case::reject_an_unknown_requester("dave", &[], db("x", "shop", "shop_db"), Some("spec.owner"))]
    #[case::reject_an_unknown_requester_on_a_role_secret(
        "dave",
        &[],
        "{apiVersion: v1, kind: Secret, metadata: {name: apps-pg-role-shop, namespace: databases}}".to_owned(),
        Some("metadata.name")
    )]
    #[case::accept_an_unknown_requester_on_another_secret(
        "cert-manager",
        &[],
        "{apiVersion: v1, kind: Secret, metadata: {name: apps-pg-client-ca, namespace: databases}}".to_owned(),
        None
    )]
    #[case::accept_a_controller("system:serviceaccount:kube-system:generic-garbage-collector", &[], db("x", "shop", "shop_db"), None)]
    #[case::reject_the_shared_cluster(
        VERGABE,
        &[],
        "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: apps-pg, namespace: databases}, spec: {}}".to_owned(),
        Some("metadata.name")
    )]
    #[case::reject_a_pooler(
        VERGABE,
        &[],
        "{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {name: p, namespace: databases}, spec: {cluster: {name: apps-pg}}}".to_owned(),
        Some("metadata.name")
    )]
    #[case::accept_its_own_secret(
        VERGABE,
        &[],
        "{apiVersion: v1, kind: Secret, metadata: {name: apps-pg-role-vergabe, namespace: databases}}".to_owned(),
        None
    )]
    #[case::reject_anothers_secret(
        VERGABE,
        &[],
        "{apiVersion: v1, kind: Secret, metadata: {name: apps-pg-role-shop, namespace: databases}}".to_owned(),
        Some("metadata.name")
    )]
    #[case::accept_its_own_database_role(
        VERGABE,
        &[],
        "{apiVersion: postgresql.cnpg.io/v1, kind: DatabaseRole, metadata: {name: r, namespace: databases}, spec: {cluster: {name: apps-pg}, name: vergabe}}".to_owned(),
        None
    )]
    #[case::reject_anothers_database_role(
        VERGABE,
        &[],
        "{apiVersion: postgresql.cnpg.io/v1, kind: DatabaseRole, metadata: {name: r, namespace: databases}, spec: {cluster: {name: apps-pg}, name: shop}}".to_owned(),
        Some("spec.name")
    )]
    #[case::reject_labelling_another_namespace(
        VERGABE,
        &[],
        "{apiVersion: v1, kind: Namespace, metadata: {name: shop-frontend, labels: {railiance.io/postgres-client: apps-pg}}}".to_owned(),
        Some("metadata.labels")
    )]
    #[case::accept_labelling_its_own_namespace(
        VERGABE,
        &[],
        "{apiVersion: v1, kind: Namespace, metadata: {name: vergabe-teilnahme, labels: {railiance.io/postgres-client: apps-pg}}}".to_owned(),
        None
    )]
    fn tenants_write_only_their_own_objects(
        #[case] user: &str,
        #[case] groups: &[&str],
        #[case] yaml: String,
        #[case] field: Option<&str>,
    ) {
        let review = as_user(create(&yaml), user, groups);
        let found = evaluate(&review, &contract_with_subjects(), &NoFacts);
        assert_only(&found, "tenant-scoped", field);
        if field.is_some() {
            let v = found
                .violations
                .iter()
                .find(|v| v.rule.as_str() == "tenant-scoped")
                .unwrap();
            assert!(
                v.what.contains("a subject of consumer") || v.what.contains("unknownRequesters: deny"),
                "{}",
                v.what
            );
        }
    }

    /// `unknownRequesters: allow` leaves an unknown requester's writes of
    /// the consumers' objects to the value rules.
    #[test]
    fn unknown_requesters_may_be_allowed() {
        let source =
            crate::contract::EMBEDDED_CONTRACT.replacen("unknownRequesters: deny", "unknownRequesters: allow", 1);
        let contract = crate::contract::parse(&source, "<allow>").unwrap();
        let review = as_user(create(&db("x", "vergabe", "vergabe_db")), "dave", &[]);
        assert_only(&evaluate(&review, &contract, &NoFacts), "tenant-scoped", None);
        let found = evaluate(&review, &contract_with_subjects(), &NoFacts);
        assert_only(&found, "tenant-scoped", Some("spec.owner"));
    }

    /// An UPDATE of another consumer's object is denied, not ratcheted as
    /// pre-existing: the rule is about the writer, not the object.
    #[test]
    fn an_update_of_anothers_object_is_never_pre_existing() {
        let theirs = db("vergabe-db", "vergabe", "vergabe_db");
        let review = as_user(update(&theirs, &theirs), "carol", &["team-shop"]);
        let decision = crate::decision::decide(&review, &contract_with_subjects(), &NoFacts);
        assert!(!decision.allowed, "{:?}", decision.findings);
        assert!(
            decision
                .denied()
                .any(|v| v.rule.as_str() == "tenant-scoped" && v.field == "spec.owner")
        );
    }

    /// A DELETE is judged by the stored object: a consumer deletes only its own.
    #[test]
    fn a_tenant_deletes_only_its_own() {
        let theirs = db("shop-db", "shop", "shop_db");
        let found = evaluate(
            &as_user(delete(&theirs), VERGABE, &[]),
            &contract_with_subjects(),
            &NoFacts,
        );
        assert_only(&found, "tenant-scoped", Some("spec.owner"));
        let mine = db("vergabe-db", "vergabe", "vergabe_db");
        let found = evaluate(
            &as_user(delete(&mine), VERGABE, &[]),
            &contract_with_subjects(),
            &NoFacts,
        );
        assert_only(&found, "tenant-scoped", None);
    }
}
