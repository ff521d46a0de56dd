//! **tenant-isolated**: one consumer never reaches another's data or
//! credentials. CloudNativePG runs a Database's statements as superuser, so
//! a template, an owner or a usage grant in the CR is a copy or a grant the
//! operator will make; and a mirroring controller copies whatever Secret it
//! is told to.

pub mod reach;

use super::{Cx, Rule, RuleId, written};
use crate::contract::{Consumer, SharedCluster};
use crate::model::Database;
use crate::model::kinds::publication::Publication;
use crate::model::kinds::secret::Secret;
use crate::model::kinds::subscription::Subscription;
use crate::model::mirror::{self, Targets};

pub(super) const RULE: Rule = Rule {
    id: RuleId::TenantIsolated,
    names: &[],
    checks: &[
        written!(Cluster, reach::cluster),
        written!(Cluster, statement_log),
        written!(Database, database),
        written!(Secret, secret),
        written!(Publication, publication),
        written!(Subscription, subscription),
    ],
};

/// A shared Cluster that logs every statement (`log_statement` `all` or
/// `mod`, `log_min_duration_statement` `0`): every tenant's statements and
/// their literals (values, `PASSWORD '...'` clauses) land in one server
/// log, which whoever reads the instances' logs sees. A warning, not a
/// denial: the platform may turn it on to debug, for a while.
fn statement_log(cx: &mut Cx<'_>, c: &crate::model::Cluster) {
    if cx.shared_cluster().is_none() {
        return;
    }
    for (name, value) in &c.postgresql().parameters {
        let v = value.trim().trim_matches(['\'', '"']).to_ascii_lowercase();
        let logs_all = match name.as_str() {
            "log_statement" => matches!(v.as_str(), "all" | "mod"),
            "log_min_duration_statement" => matches!(v.as_str(), "0" | "0ms" | "0s"),
            _ => false,
        };
        if logs_all {
            cx.advisory(
                format!("spec.postgresql.parameters[{name}]"),
                format!(
                    "{name} = {value} writes every tenant's statements, with their literals (values, passwords \
                     set with ALTER ROLE ... PASSWORD), into the shared server log"
                ),
                format!(
                    "remove {name} (or set log_statement to ddl or none, log_min_duration_statement to a threshold \
                     such as 1000) once the investigation it serves is over"
                ),
            );
        }
    }
}

/// A Database of a shared cluster: no copy of another database, no
/// template, nothing in it owned by or granted to another role, only
/// trusted extensions.
/// One Database CR per database: a second CR for the same cluster and
/// `spec.name` could lock the tenant out (`allowConnections: false`,
/// `connectionLimit: 0`) or drop the database, and two CRs fight over it.
fn one_cr_per_database(cx: &mut Cx<'_>, shared: &SharedCluster, database: &str) {
    let fact = cx.facts.database_crs_named(shared, database);
    let check = format!("no other Database CR manages database {database:?}");
    let Some(crs) = cx.fact("spec.name", &check, fact) else {
        return;
    };
    let r = cx.review;
    let me = format!("{}/{}", r.namespace, r.name);
    let others: Vec<&String> = crs.iter().filter(|cr| **cr != me).collect();
    if let Some(other) = others.first() {
        cx.violation(
            "spec.name",
            format!(
                "database {database:?} of cluster {} is already managed by Database {other}: two CRs would fight \
                 over it, and either could lock its tenant out",
                shared.name
            ),
            format!("change Database {other} instead, or remove it first"),
        );
    }
}

fn database(cx: &mut Cx<'_>, db: &Database) {
    let Some(shared) = cx.referenced_cluster(&db.spec.cluster.name) else {
        return;
    };
    let spec = &db.spec;
    if let Some(template) = spec
        .template
        .as_deref()
        .filter(|t| !matches!(*t, "template0" | "template1"))
    {
        cx.violation(
            "spec.template",
            format!(
                "the new database would be a copy of database {template:?}, made by CloudNativePG's superuser \
                 whoever owns it"
            ),
            "remove spec.template, or set it to template0 or template1",
        );
    }
    if spec.is_template == Some(true) {
        cx.violation(
            "spec.isTemplate",
            "a template database on a shared cluster can be copied by any role with CREATEDB or by another \
             Database CR",
            "remove spec.isTemplate or set it to false",
        );
    }
    check_owned_objects(cx, db);
    one_cr_per_database(cx, shared, &spec.name);
    for (i, ext) in spec.extensions.iter().enumerate() {
        if ext.is_absent() || shared.allowed_extensions.contains(&ext.name) {
            continue;
        }
        cx.violation(
            format!("spec.extensions[{i}].name"),
            format!(
                "extension {:?} is not in {}'s allowedExtensions: CloudNativePG creates it as superuser, and an \
                 untrusted extension reaches the server or other databases",
                ext.name, shared.name
            ),
            "remove the extension, or ask the platform team to add it to allowedExtensions in the contract",
        );
    }
}

/// Schemas and foreign-data wrappers owned by, and usage granted to, the
/// Database's own owner only.
fn check_owned_objects(cx: &mut Cx<'_>, db: &Database) {
    let owner = db.spec.owner.as_str();
    let lists = [
        ("schemas", &db.spec.schemas),
        ("fdws", &db.spec.fdws),
        ("servers", &db.spec.servers),
    ];
    for (list, objects) in lists {
        for (i, object) in objects.iter().enumerate() {
            if object.is_absent() {
                continue;
            }
            if let Some(other) = object.owner.as_deref().filter(|o| *o != owner) {
                cx.violation(
                    format!("spec.{list}[{i}].owner"),
                    format!(
                        "{:?} would be owned by role {other:?}, not by the database's owner {owner:?}",
                        object.name
                    ),
                    format!("set owner to {owner:?} or remove it (the database's owner is the default)"),
                );
            }
            for (j, grant) in object.usage.iter().enumerate() {
                if grant.is_revoke() || grant.name == owner {
                    continue;
                }
                cx.violation(
                    format!("spec.{list}[{i}].usage[{j}].name"),
                    format!(
                        "grants usage of {:?} to {:?}, which is not the database's owner {owner:?}",
                        object.name, grant.name
                    ),
                    format!("grant usage to {owner:?} only, or remove the grant"),
                );
            }
        }
    }
}

/// Consumer role Secrets travel only to their own consumer: a Secret
/// outside the shared namespace may mirror one only into that consumer's
/// namespace; on the role's Secret itself, mirror-out annotations may name
/// only that namespace.
/// The consumer whose credential Secret `name` of the shared namespace is:
/// its role's password Secret, or the client certificate the operator
/// issues for its DatabaseRole (`<databaserole>-client-cert`,
/// `databaserole_pki.go`, v1.30.0).
fn credential_owner<'a>(cx: &mut Cx<'_>, shared: &'a SharedCluster, name: &str) -> Option<&'a Consumer> {
    if let Some(consumer) = shared.consumer_by_role_secret(name) {
        return Some(consumer);
    }
    let database_role = name.strip_suffix("-client-cert")?;
    let fact = cx.facts.database_role(shared, database_role);
    let check = format!("Secret {name:?} is no DatabaseRole's client certificate");
    let role = cx.fact("metadata.name", &check, fact)??;
    shared.consumer_by_role(&role)
}

fn secret(cx: &mut Cx<'_>, s: &Secret) {
    let r = cx.review;
    let contract = cx.contract;
    if contract.is_shared_namespace(&r.namespace) {
        for shared in contract.clusters_in(&r.namespace) {
            let Some(consumer) = credential_owner(cx, shared, &r.name) else {
                continue;
            };
            for (key, reach) in mirror::mirror_out(s.metadata.annotations.as_ref()) {
                let stray = match reach {
                    Targets::Only(names) => names.into_iter().find(|n| *n != consumer.namespace).map(str::to_owned),
                    Targets::Open => Some("any namespace".to_owned()),
                };
                if let Some(stray) = stray {
                    cx.violation(
                        format!("metadata.annotations[{key}]"),
                        format!(
                            "lets a controller mirror role {:?}'s Secret into {stray}, not only into its consumer's \
                             namespace {}",
                            consumer.role, consumer.namespace
                        ),
                        format!(
                            "name only {} (exactly, no pattern), or remove the annotation",
                            consumer.namespace
                        ),
                    );
                }
            }
        }
        return;
    }
    for shared in &contract.clusters {
        for (key, value) in s.metadata.annotations.iter().flatten() {
            let Some((ns, name)) = mirror::source_of(value) else {
                continue;
            };
            if ns != shared.namespace {
                continue;
            }
            let Some(owner) = credential_owner(cx, shared, name) else {
                continue;
            };
            if owner.namespace != r.namespace {
                cx.violation(
                    format!("metadata.annotations[{key}]"),
                    format!(
                        "mirrors {}, the credential of role {:?}, into {}: only its consumer's namespace {} may hold it",
                        value.trim(),
                        owner.role,
                        r.namespace,
                        owner.namespace
                    ),
                    own_secret_fix(shared, &r.namespace),
                );
            }
        }
    }
}

/// How a namespace gets a credential of its own.
fn own_secret_fix(shared: &SharedCluster, namespace: &str) -> String {
    match shared.consumer_by_namespace(namespace) {
        Some(c) => format!(
            "mirror your own role's Secret {}/{} instead",
            shared.namespace,
            c.role_secret(&shared.name)
        ),
        None => "register this namespace as a consumer (cnpg-guard onboard) and use its own role's Secret".to_owned(),
    }
}

/// A Publication on a shared cluster publishes from a registered
/// consumer's database only, and only where the contract allows that
/// consumer logical replication: the operator creates it as superuser, so
/// one in another database (the bootstrap database, `postgres`, another
/// tenant's) hands that database's tables to whoever subscribes.
fn publication(cx: &mut Cx<'_>, p: &Publication) {
    logical_replication(cx, &p.spec.cluster.name, &p.spec.dbname, "publication", "publish from");
}

/// A Subscription on a shared cluster writes into a registered consumer's
/// database only, and only where the contract allows that consumer logical
/// replication: the operator runs it as superuser, so one into another
/// database writes rows into another tenant's tables.
fn subscription(cx: &mut Cx<'_>, s: &Subscription) {
    logical_replication(
        cx,
        &s.spec.cluster.name,
        &s.spec.dbname,
        "subscription",
        "subscribe into",
    );
}

fn logical_replication(cx: &mut Cx<'_>, cluster: &str, dbname: &str, what: &str, verb: &str) {
    let Some(shared) = cx.referenced_cluster(cluster) else {
        return;
    };
    match shared
        .consumers
        .iter()
        .find(|c| c.databases.iter().any(|d| d == dbname))
    {
        None => cx.violation(
            "spec.dbname",
            format!(
                "{dbname:?} is no registered consumer's database on {}: the {what}, made by CloudNativePG's \
                 superuser, would reach into a database no tenant owns",
                shared.name
            ),
            format!("{verb} only a consumer's own database, as registered in the contract"),
        ),
        Some(consumer) if !consumer.logical_replication => cx.violation(
            "spec.dbname",
            format!(
                "logical replication is not allowed for consumer {} (database {dbname:?}): a {what} is made by \
                 CloudNativePG's superuser",
                consumer.namespace
            ),
            format!(
                "the platform allows it in the contract (consumers[].logicalReplication: true for {})",
                consumer.namespace
            ),
        ),
        Some(_) => {}
    }
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

    #[rstest]
    #[case::accept_ddl("{log_statement: ddl, log_min_duration_statement: '1000'}", None)]
    #[case::warn_all("{log_statement: all}", Some("spec.postgresql.parameters[log_statement]"))]
    #[case::warn_mod("{log_statement: mod}", Some("spec.postgresql.parameters[log_statement]"))]
    #[case::warn_every_duration(
        "{log_min_duration_statement: '0'}",
        Some("spec.postgresql.parameters[log_min_duration_statement]")
    )]
    #[case::warn_every_duration_unquoted(
        "{log_min_duration_statement: 0}",
        Some("spec.postgresql.parameters[log_min_duration_statement]")
    )]
    fn statement_log(#[case] parameters: &str, #[case] field: Option<&str>) {
        let yaml = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {{name: apps-pg, namespace: databases, \
             labels: {{railiance.io/role: shared-apps-database}}}}, spec: {{postgresql: {{parameters: {parameters}, \
             pg_hba: ['host vergabe_db vergabe all scram-sha-256', 'host all vergabe all reject', \
             'host shop_db shop all scram-sha-256', 'host all shop all reject']}}}}}}"
        );
        let f = eval(&create(&yaml));
        assert_only(&f, "tenant-isolated", field);
        let mine = f.violations.iter().filter(|v| v.rule.as_str() == "tenant-isolated");
        assert!(mine.clone().all(|v| v.advisory), "{:#?}", mine.collect::<Vec<_>>());
    }

    #[rstest]
    #[case::reject_without_logical_replication("vergabe_db", "apps-pg", Some("spec.dbname"))]
    #[case::accept_a_consumer_allowed_logical_replication("shop_db", "apps-pg", None)]
    #[case::reject_the_bootstrap_database("apps_meta", "apps-pg", Some("spec.dbname"))]
    #[case::reject_postgres("postgres", "apps-pg", Some("spec.dbname"))]
    #[case::accept_another_cluster("postgres", "other-pg", None)]
    fn publications_and_subscriptions(#[case] dbname: &str, #[case] cluster: &str, #[case] field: Option<&str>) {
        let publication = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Publication, metadata: {{name: pub, namespace: databases}}, \
             spec: {{name: pub, dbname: {dbname}, cluster: {{name: {cluster}}}, target: {{allTables: true}}}}}}"
        );
        assert_only(&eval(&create(&publication)), "tenant-isolated", field);
        let subscription = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Subscription, metadata: {{name: sub, namespace: databases}}, \
             spec: {{name: sub, dbname: {dbname}, cluster: {{name: {cluster}}}, externalClusterName: source, \
             publicationName: pub}}}}"
        );
        assert_only(&eval(&create(&subscription)), "tenant-isolated", field);
    }

    #[rstest]
    #[case::accept_plain("", None)]
    #[case::accept_template0(", template: template0", None)]
    #[case::accept_template1(", template: template1", None)]
    #[case::reject_template_clone(", template: shop_db", Some("spec.template"))]
    #[case::reject_is_template(", isTemplate: true", Some("spec.isTemplate"))]
    #[case::accept_is_template_false(", isTemplate: false", None)]
    #[case::accept_own_schema(", schemas: [{name: app, owner: vergabe}]", None)]
    #[case::accept_schema_without_owner(", schemas: [{name: app}]", None)]
    #[case::reject_schema_of_another_tenant(", schemas: [{name: app, owner: shop}]", Some("spec.schemas[0].owner"))]
    #[case::accept_dropping_a_foreign_schema(", schemas: [{name: app, owner: shop, ensure: absent}]", None)]
    #[case::reject_fdw_owner(", fdws: [{name: postgres_fdw, owner: apps_admin}]", Some("spec.fdws[0].owner"))]
    #[case::reject_fdw_usage(
        ", fdws: [{name: postgres_fdw, usage: [{name: vergabe}, {name: shop, type: grant}]}]",
        Some("spec.fdws[0].usage[1].name")
    )]
    #[case::accept_fdw_usage_revoke(", fdws: [{name: postgres_fdw, usage: [{name: shop, type: revoke}]}]", None)]
    #[case::reject_server_usage_public(
        ", servers: [{name: remote, fdw: postgres_fdw, usage: [{name: public}]}]",
        Some("spec.servers[0].usage[0].name")
    )]
    #[case::accept_trusted_extension(", extensions: [{name: pgcrypto}, {name: uuid-ossp}]", None)]
    #[case::reject_plpython(", extensions: [{name: plpython3u}]", Some("spec.extensions[0].name"))]
    #[case::reject_dblink(", extensions: [{name: pg_trgm}, {name: dblink}]", Some("spec.extensions[1].name"))]
    #[case::accept_dropping_an_untrusted_extension(", extensions: [{name: dblink, ensure: absent}]", None)]
    fn databases(#[case] spec: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&database(spec))), "tenant-isolated", field);
    }

    const LOCKOUT: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {name: shop-lockout, \
                           namespace: databases}, spec: {name: shop_db, owner: shop, cluster: {name: apps-pg}, \
                           allowConnections: false, connectionLimit: 0}}";
    const SHOP_DB: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {name: shop-db, \
                           namespace: databases}, spec: {name: shop_db, owner: shop, cluster: {name: apps-pg}}}";
    const OTHER_CLUSTER: &str = "{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {name: shop-db, \
                           namespace: databases}, spec: {name: shop_db, owner: shop, cluster: {name: scratch}}}";

    #[rstest]
    #[case::reject_a_second_cr_for_the_same_database(&[SHOP_DB, LOCKOUT], LOCKOUT, Some("spec.name"))]
    #[case::accept_the_only_cr(&[SHOP_DB], SHOP_DB, None)]
    #[case::accept_the_cr_itself_on_update(&[LOCKOUT], LOCKOUT, None)]
    #[case::accept_same_name_on_another_cluster(&[OTHER_CLUSTER, LOCKOUT], LOCKOUT, None)]
    fn one_database_cr_per_database(#[case] set: &[&str], #[case] under_review: &str, #[case] field: Option<&str>) {
        let f = eval_with(&create(under_review), &facts_from(set));
        assert_only(&f, "tenant-isolated", field);
        if field.is_some() {
            assert!(
                f.violations
                    .iter()
                    .any(|v| v.what.contains("Database databases/shop-db")),
                "{f:?}"
            );
        }
    }

    #[test]
    fn a_template_clone_says_which_database_and_how_to_fix() {
        let f = eval(&create(&database(", template: shop_db")));
        let line = f.violations.iter().find(|v| v.field == "spec.template").unwrap().line();
        assert_eq!(
            line,
            "[tenant-isolated] Database databases/vergabe-db: spec.template: the new database would be a copy of \
             database \"shop_db\", made by CloudNativePG's superuser whoever owns it. Fix: remove spec.template, or \
             set it to template0 or template1."
        );
    }

    #[test]
    fn allowed_extensions_come_from_the_contract() {
        let c = tenants_contract_with("    allowedExtensions: [pgcrypto, dblink]\n");
        let f = crate::rules::evaluate(
            &create(&database(", extensions: [{name: dblink}, {name: citext}]")),
            &c,
            &crate::facts::NoFacts,
        );
        assert_only(&f, "tenant-isolated", Some("spec.extensions[1].name"));
        assert_eq!(f.violations.len(), 1);
    }

    /// The client certificate the operator issues for a consumer's
    /// DatabaseRole (`<databaserole>-client-cert`) is that consumer's
    /// credential: mirrored only into its own namespace.
    #[rstest]
    #[case::accept_into_its_consumers_namespace("vergabe-teilnahme", None)]
    #[case::reject_into_another_tenant(
        "shop-frontend",
        Some("metadata.annotations[reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces]")
    )]
    fn a_database_roles_client_certificate_is_its_consumers(#[case] to: &str, #[case] field: Option<&str>) {
        let dr = "{apiVersion: postgresql.cnpg.io/v1, kind: DatabaseRole, metadata: {name: vergabe-role, namespace: databases}, \
                  spec: {cluster: {name: apps-pg}, name: vergabe, login: true, clientCertificate: {enabled: true}}}";
        let cert = format!(
            "{{apiVersion: v1, kind: Secret, metadata: {{name: vergabe-role-client-cert, namespace: databases, annotations: \
             {{reflector.v1.k8s.emberstack.com/reflection-allowed: 'true', \
             reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces: {to}}}}}}}"
        );
        assert_only(&eval_with(&create(&cert), &facts_from(&[dr])), "tenant-isolated", field);
        // Pulled from outside the shared namespace, likewise.
        let pulled = mirrored(
            to,
            "{reflector.v1.k8s.emberstack.com/reflects: databases/vergabe-role-client-cert}",
        );
        let field = field.map(|_| "metadata.annotations[reflector.v1.k8s.emberstack.com/reflects]");
        assert_only(
            &eval_with(&create(&pulled), &facts_from(&[dr])),
            "tenant-isolated",
            field,
        );
    }

    fn mirrored(ns: &str, annotations: &str) -> String {
        format!("{{apiVersion: v1, kind: Secret, metadata: {{name: db, namespace: {ns}, annotations: {annotations}}}}}")
    }

    #[rstest]
    #[case::accept_own_role_secret(
        "vergabe-teilnahme",
        "{reflector.v1.k8s.emberstack.com/reflects: databases/apps-pg-role-vergabe}",
        None
    )]
    #[case::reject_another_tenants_role_secret(
        "shop-frontend",
        "{reflector.v1.k8s.emberstack.com/reflects: databases/apps-pg-role-vergabe}",
        Some("metadata.annotations[reflector.v1.k8s.emberstack.com/reflects]")
    )]
    #[case::reject_into_an_unregistered_namespace(
        "elsewhere",
        "{replicator.v1.mittwald.de/replicate-from: databases/apps-pg-role-shop}",
        Some("metadata.annotations[replicator.v1.mittwald.de/replicate-from]")
    )]
    #[case::accept_a_secret_of_another_namespace(
        "shop-frontend",
        "{reflector.v1.k8s.emberstack.com/reflects: other/apps-pg-role-vergabe}",
        None
    )]
    fn mirroring_in(#[case] ns: &str, #[case] annotations: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&mirrored(ns, annotations))), "tenant-isolated", field);
    }

    #[rstest]
    #[case::accept_own_namespace(
        "apps-pg-role-vergabe",
        "{reflector.v1.k8s.emberstack.com/reflection-allowed: 'true', reflector.v1.k8s.emberstack.com/reflection-allowed-namespaces: vergabe-teilnahme}",
        None
    )]
    #[case::reject_allowed_everywhere(
        "apps-pg-role-vergabe",
        "{reflector.v1.k8s.emberstack.com/reflection-allowed: 'true'}",
        Some("metadata.annotations[reflector.v1.k8s.emberstack.com/reflection-allowed]")
    )]
    #[case::reject_another_tenant(
        "apps-pg-role-vergabe",
        "{replicator.v1.mittwald.de/replicate-to: 'vergabe-teilnahme,shop-frontend'}",
        Some("metadata.annotations[replicator.v1.mittwald.de/replicate-to]")
    )]
    #[case::reject_a_pattern(
        "apps-pg-role-shop",
        "{replicator.v1.mittwald.de/replication-allowed: 'true', replicator.v1.mittwald.de/replication-allowed-namespaces: 'shop-.*'}",
        Some("metadata.annotations[replicator.v1.mittwald.de/replication-allowed-namespaces]")
    )]
    #[case::accept_on_an_unrelated_secret("tls", "{reflector.v1.k8s.emberstack.com/reflection-allowed: 'true'}", None)]
    fn mirroring_out(#[case] name: &str, #[case] annotations: &str, #[case] field: Option<&str>) {
        let yaml = format!(
            "{{apiVersion: v1, kind: Secret, metadata: {{name: {name}, namespace: databases, annotations: {annotations}}}}}"
        );
        assert_only(&eval(&create(&yaml)), "tenant-isolated", field);
    }
}
