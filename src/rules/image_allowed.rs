//! **image-allowed**: every image that runs with a shared cluster's data
//! comes from where its contract allows (`allowedImages`, by default
//! CloudNativePG's own `ghcr.io/cloudnative-pg/`): the Cluster's
//! PostgreSQL image and extension images, its Poolers' pgbouncer and
//! sidecar images, and the image catalogs it can name.
//!
//! A catalog is judged where it is written, without knowing which Clusters
//! name it: every ImageCatalog in a shared namespace against the shared
//! clusters of that namespace, every ClusterImageCatalog against every
//! shared cluster (each image must be allowed by all of them, since any of
//! them may name it). A shared Cluster's `imageCatalogRef` then only has to
//! name a catalog kind CloudNativePG resolves; whatever it names is clean.
//! Deleting the catalog a live shared Cluster names is refused: CloudNativePG
//! then stops reconciling it (`reconcileImage` fails first thing,
//! `internal/controller/cluster_controller.go` L345 at v1.30.0, L317 at
//! v1.28.4, phase "Cluster has incomplete or invalid image catalog").

use super::{Cx, Rule, RuleId, deleted, written};
use crate::contract::SharedCluster;
use crate::model::cnpg::{ExtensionConfiguration, ImageCatalogRef};
use crate::model::kinds::cluster_image_catalog::ClusterImageCatalog;
use crate::model::kinds::image_catalog::{ImageCatalog, ImageCatalogSpec};
use crate::model::{Cluster, Pooler};

pub(super) const RULE: Rule = Rule {
    id: RuleId::ImageAllowed,
    names: &[],
    checks: &[
        written!(Cluster, cluster),
        written!(Pooler, pooler),
        written!(ImageCatalog, image_catalog),
        written!(ClusterImageCatalog, cluster_image_catalog),
        deleted!(ImageCatalog, image_catalog_deleted),
        deleted!(ClusterImageCatalog, cluster_image_catalog_deleted),
    ],
};

const CNPG_GROUP: &str = crate::model::kinds::CNPG_GROUP;

/// A shared Cluster: its PostgreSQL image, its catalog's kind, its
/// extension images.
fn cluster(cx: &mut Cx<'_>, c: &Cluster) {
    let Some(shared) = cx.shared_cluster() else { return };
    if let Some(image) = c.spec.image_name.as_deref() {
        judge(cx, &[shared], "spec.imageName", image);
    }
    if let Some(r) = &c.spec.image_catalog_ref {
        catalog_ref(cx, "spec.imageCatalogRef", r);
    }
    extensions(cx, &[shared], "spec.postgresql.extensions", &c.postgresql().extensions);
    loader_variables(cx, c);
}

/// The dynamic loader's variables that choose native code for every
/// process of the container, the PostgreSQL server included: a library to
/// load first (`LD_PRELOAD`), auditing libraries (`LD_AUDIT`), and where
/// libraries are looked for (`LD_LIBRARY_PATH`). CloudNativePG passes
/// `spec.env` to the PostgreSQL container as it is.
const LOADER_VARIABLES: &[&str] = &["LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH"];

fn loader_variables(cx: &mut Cx<'_>, c: &Cluster) {
    for (i, var) in c.spec.env.iter().enumerate() {
        let name = var.name.as_str();
        if !LOADER_VARIABLES.contains(&name) {
            continue;
        }
        cx.violation(
            format!("spec.env[{i}].name"),
            format!(
                "{name} makes the dynamic loader put native code the image does not choose into the PostgreSQL \
                 server, which runs as the superuser over every tenant's data files"
            ),
            format!(
                "remove {name} from spec.env; code for the server comes in the allowed image or an extension image"
            ),
        );
    }
}

/// A shared cluster's Pooler: every container image of its template (the
/// `pgbouncer` container's wins over everything else,
/// `internal/controller/pooler_image.go` at v1.30.0), and from 1.30
/// `pgbouncer.image` and `pgbouncer.imageCatalogRef`.
fn pooler(cx: &mut Cx<'_>, p: &Pooler) {
    let Some(shared) = cx.referenced_cluster(&p.spec.cluster.name) else {
        return;
    };
    if let Some(pod) = p.spec.template.as_ref().and_then(|t| t.spec.as_ref()) {
        for (list, containers) in [
            ("containers", &pod.containers),
            ("initContainers", &pod.init_containers),
        ] {
            for (i, c) in containers.iter().enumerate() {
                if let Some(image) = c.image.as_deref() {
                    judge(cx, &[shared], &format!("spec.template.spec.{list}[{i}].image"), image);
                }
            }
        }
    }
    if let Some(pgbouncer) = &p.spec.pgbouncer {
        if let Some(image) = pgbouncer.image.as_deref() {
            judge(cx, &[shared], "spec.pgbouncer.image", image);
        }
        if let Some(r) = &pgbouncer.image_catalog_ref {
            catalog_ref(cx, "spec.pgbouncer.imageCatalogRef", r);
        }
    }
}

/// An ImageCatalog in a shared namespace: a shared cluster there (or its
/// Pooler) may name it.
fn image_catalog(cx: &mut Cx<'_>, c: &ImageCatalog) {
    let contract = cx.contract;
    let clusters: Vec<&SharedCluster> = contract.clusters_in(&cx.review.namespace).collect();
    catalog(cx, &clusters, &c.spec);
}

/// A ClusterImageCatalog: any shared cluster may name it.
fn cluster_image_catalog(cx: &mut Cx<'_>, c: &ClusterImageCatalog) {
    let contract = cx.contract;
    let clusters: Vec<&SharedCluster> = contract.clusters.iter().collect();
    catalog(cx, &clusters, &c.spec);
}

fn catalog(cx: &mut Cx<'_>, clusters: &[&SharedCluster], spec: &ImageCatalogSpec) {
    if clusters.is_empty() {
        return;
    }
    for (i, entry) in spec.images.iter().enumerate() {
        judge(cx, clusters, &format!("spec.images[{i}].image"), &entry.image);
        extensions(cx, clusters, &format!("spec.images[{i}].extensions"), &entry.extensions);
    }
    for (i, entry) in spec.component_images.iter().enumerate() {
        judge(cx, clusters, &format!("spec.componentImages[{i}].image"), &entry.image);
    }
}

/// DELETE of an ImageCatalog a live shared Cluster of its namespace names.
fn image_catalog_deleted(cx: &mut Cx<'_>, _: Option<&ImageCatalog>) {
    let contract = cx.contract;
    let clusters: Vec<&SharedCluster> = contract.clusters_in(&cx.review.namespace).collect();
    catalog_deleted(cx, &clusters, "ImageCatalog");
}

/// DELETE of a ClusterImageCatalog a live shared Cluster names.
fn cluster_image_catalog_deleted(cx: &mut Cx<'_>, _: Option<&ClusterImageCatalog>) {
    let contract = cx.contract;
    let clusters: Vec<&SharedCluster> = contract.clusters.iter().collect();
    catalog_deleted(cx, &clusters, "ClusterImageCatalog");
}

fn catalog_deleted(cx: &mut Cx<'_>, clusters: &[&SharedCluster], kind: &str) {
    let name = cx.review.name.clone();
    for shared in clusters {
        let fact = cx.facts.image_catalog(shared);
        let check = format!("{} does not use {kind} {name:?}", shared.name);
        let Some(used) = cx.fact("metadata.name", &check, fact) else {
            continue;
        };
        if used.is_some_and(|r| r.kind == kind && r.name == name) {
            cx.violation(
                "metadata.name",
                format!(
                    "shared cluster {}/{} takes its PostgreSQL image from this catalog (spec.imageCatalogRef): \
                     without it CloudNativePG stops reconciling the cluster (\"Cluster has incomplete or invalid \
                     image catalog\")",
                    shared.namespace, shared.name
                ),
                format!(
                    "point {} at another catalog or an allowed imageName first, then delete this one",
                    shared.name
                ),
            );
        }
    }
}

/// `imageCatalogRef` names a catalog kind CloudNativePG resolves: an
/// ImageCatalog of the same namespace or a ClusterImageCatalog, both of
/// which this rule judges where they are written.
fn catalog_ref(cx: &mut Cx<'_>, field: &str, r: &ImageCatalogRef) {
    if r.api_group.as_deref() != Some(CNPG_GROUP) {
        cx.violation(
            format!("{field}.apiGroup"),
            format!(
                "{:?} is not CloudNativePG's group: the catalog would not be one this rule judges",
                r.api_group.as_deref().unwrap_or_default()
            ),
            format!("set apiGroup: {CNPG_GROUP}"),
        );
    }
    if !matches!(r.kind.as_str(), "ImageCatalog" | "ClusterImageCatalog") {
        cx.violation(
            format!("{field}.kind"),
            format!(
                "{:?} is not an image catalog kind: CloudNativePG resolves ImageCatalog (in this namespace) and \
                 ClusterImageCatalog",
                r.kind
            ),
            "name an ImageCatalog or a ClusterImageCatalog",
        );
    }
}

fn extensions(cx: &mut Cx<'_>, clusters: &[&SharedCluster], at: &str, list: &[ExtensionConfiguration]) {
    for (i, e) in list.iter().enumerate() {
        if let Some(reference) = e.image.as_ref().and_then(|image| image.reference.as_deref()) {
            judge(cx, clusters, &format!("{at}[{i}].image.reference"), reference);
        }
    }
}

/// `image` at `field` must be allowed by every cluster of `clusters`. An
/// empty value is no image (CloudNativePG then uses another source).
fn judge(cx: &mut Cx<'_>, clusters: &[&SharedCluster], field: &str, image: &str) {
    if image.is_empty() {
        return;
    }
    let refusing: Vec<&&SharedCluster> = clusters.iter().filter(|c| !c.allows_image(image)).collect();
    if refusing.is_empty() {
        return;
    }
    let allowed = |c: &SharedCluster| match c.allowed_images.as_slice() {
        [] => "none: only the operator's default images".to_owned(),
        list => list.join(", "),
    };
    let lists = refusing
        .iter()
        .map(|c| format!("{} allows {}", c.name, allowed(c)))
        .collect::<Vec<_>>()
        .join("; ");
    let what = if crate::names::image_repository(image).is_none() {
        format!("{image:?} is not a valid image reference ({lists})")
    } else {
        format!("image {image:?} does not come from an allowed registry or repository ({lists})")
    };
    cx.violation(
        field,
        what,
        "use an image from an allowed prefix (mirror it there first), or have the platform team add its registry or \
         repository to the shared cluster's allowedImages in the contract",
    );
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::facts::NoFacts;
    use crate::rules::evaluate;
    use crate::rules::testing::*;

    const RULE: &str = "image-allowed";

    fn cluster(spec: &str) -> String {
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {{name: apps-pg, namespace: databases, \
             labels: {{railiance.io/role: shared-apps-database}}}}, spec: {{instances: 1, bootstrap: {{initdb: \
             {{database: apps_meta, owner: apps_admin, secret: {{name: apps-pg-credentials}}}}}}, {spec}}}}}"
        )
    }

    #[rstest]
    #[case::accept_other_variables("[{name: TZ, value: UTC}]", None)]
    #[case::reject_ld_preload(
        "[{name: TZ, value: UTC}, {name: LD_PRELOAD, value: /tmp/x.so}]",
        Some("spec.env[1].name")
    )]
    #[case::reject_ld_library_path(
        "[{name: LD_LIBRARY_PATH, value: /var/lib/postgresql/data}]",
        Some("spec.env[0].name")
    )]
    #[case::reject_ld_audit(
        "[{name: LD_AUDIT, valueFrom: {configMapKeyRef: {name: c, key: k}}}]",
        Some("spec.env[0].name")
    )]
    fn loader_variables(#[case] env: &str, #[case] field: Option<&str>) {
        let yaml = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {{name: apps-pg, namespace: databases, \
             labels: {{railiance.io/role: shared-apps-database}}}}, spec: {{env: {env}}}}}"
        );
        assert_only(&eval(&create(&yaml)), "image-allowed", field);
    }

    #[rstest]
    #[case::accept_cnpg_image("imageName: ghcr.io/cloudnative-pg/postgresql:16", None)]
    #[case::accept_default_port("imageName: 'ghcr.io:443/cloudnative-pg/postgresql:16'", None)]
    #[case::accept_upper_case_host("imageName: GHCR.IO/cloudnative-pg/postgresql:16", None)]
    #[case::accept_no_image("storage: {size: 1Gi}", None)]
    #[case::reject_foreign_registry("imageName: registry.attacker.example/postgresql:16", Some("spec.imageName"))]
    #[case::reject_look_alike_path(
        "imageName: ghcr.io/cloudnative-pg.evil.example/postgresql:16",
        Some("spec.imageName")
    )]
    #[case::reject_docker_hub("imageName: postgres:16", Some("spec.imageName"))]
    #[case::reject_other_port("imageName: 'ghcr.io:8443/cloudnative-pg/postgresql:16'", Some("spec.imageName"))]
    #[case::accept_catalog_ref(
        "imageCatalogRef: {apiGroup: postgresql.cnpg.io, kind: ClusterImageCatalog, name: postgresql, major: 16}",
        None
    )]
    #[case::reject_catalog_kind(
        "imageCatalogRef: {apiGroup: postgresql.cnpg.io, kind: ConfigMap, name: postgresql, major: 16}",
        Some("spec.imageCatalogRef.kind")
    )]
    #[case::reject_catalog_group(
        "imageCatalogRef: {apiGroup: example.com, kind: ImageCatalog, name: postgresql, major: 16}",
        Some("spec.imageCatalogRef.apiGroup")
    )]
    #[case::accept_extension_image(
        "postgresql: {extensions: [{name: pgvector, image: {reference: 'ghcr.io/cloudnative-pg/pgvector:0.8.1'}}]}",
        None
    )]
    #[case::accept_extension_from_catalog("postgresql: {extensions: [{name: pgvector}]}", None)]
    #[case::reject_extension_image(
        "postgresql: {extensions: [{name: pgvector, image: {reference: 'registry.attacker.example/pgvector:1'}}]}",
        Some("spec.postgresql.extensions[0].image.reference")
    )]
    fn shared_cluster(#[case] spec: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&cluster(spec))), RULE, field);
    }

    #[test]
    fn accept_another_cluster_with_any_image() {
        let other = "{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {name: shop-pg, namespace: shop}, \
                     spec: {instances: 1, imageName: 'postgres:16'}}";
        assert_only(&eval(&create(other)), RULE, None);
    }

    #[test]
    fn the_contract_names_what_is_allowed() {
        let contract = tenants_contract_with("    allowedImages: [mirror.example.net/cnpg/]\n");
        let mirrored = create(&cluster("imageName: mirror.example.net/cnpg/postgresql:16"));
        assert_only(&evaluate(&mirrored, &contract, &NoFacts), RULE, None);
        let cnpg = create(&cluster("imageName: ghcr.io/cloudnative-pg/postgresql:16"));
        let report = evaluate(&cnpg, &contract, &NoFacts);
        assert_only(&report, RULE, Some("spec.imageName"));
        let line = report
            .violations
            .iter()
            .find(|v| v.rule.as_str() == RULE)
            .expect("a violation")
            .line();
        assert!(
            line.contains("\"ghcr.io/cloudnative-pg/postgresql:16\"")
                && line.contains("apps-pg allows mirror.example.net/cnpg/"),
            "{line}"
        );
    }

    fn pooler(spec: &str) -> String {
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {{name: apps-pg-pooler, namespace: \
             databases}}, spec: {{cluster: {{name: apps-pg}}, instances: 1, type: rw, {spec}}}}}"
        )
    }

    #[rstest]
    #[case::accept_cnpg_pgbouncer(
        "template: {spec: {containers: [{name: pgbouncer, image: 'ghcr.io/cloudnative-pg/pgbouncer:1.25.1'}]}}",
        None
    )]
    #[case::accept_no_template("pgbouncer: {poolMode: session}", None)]
    #[case::reject_foreign_container(
        "template: {spec: {containers: [{name: pgbouncer, image: 'registry.attacker.example/pgbouncer:1'}]}}",
        Some("spec.template.spec.containers[0].image")
    )]
    #[case::reject_foreign_init_container(
        "template: {spec: {containers: [], initContainers: [{name: x, image: 'busybox:1'}]}}",
        Some("spec.template.spec.initContainers[0].image")
    )]
    #[case::accept_pgbouncer_image("pgbouncer: {image: 'ghcr.io/cloudnative-pg/pgbouncer:1.25.1'}", None)]
    #[case::reject_pgbouncer_image(
        "pgbouncer: {image: 'registry.attacker.example/pgbouncer:1'}",
        Some("spec.pgbouncer.image")
    )]
    #[case::accept_pgbouncer_catalog(
        "pgbouncer: {imageCatalogRef: {apiGroup: postgresql.cnpg.io, kind: ImageCatalog, name: pg, key: pgbouncer}}",
        None
    )]
    #[case::reject_pgbouncer_catalog_kind(
        "pgbouncer: {imageCatalogRef: {apiGroup: postgresql.cnpg.io, kind: Secret, name: pg, key: pgbouncer}}",
        Some("spec.pgbouncer.imageCatalogRef.kind")
    )]
    fn shared_clusters_pooler(#[case] spec: &str, #[case] field: Option<&str>) {
        assert_only(&eval(&create(&pooler(spec))), RULE, field);
    }

    #[test]
    fn accept_another_clusters_pooler() {
        let other = "{apiVersion: postgresql.cnpg.io/v1, kind: Pooler, metadata: {name: p, namespace: shop}, spec: \
                     {cluster: {name: shop-pg}, template: {spec: {containers: [{name: pgbouncer, image: 'x/y:1'}]}}}}";
        assert_only(&eval(&create(other)), RULE, None);
    }

    fn catalog(kind: &str, namespace: &str, spec: &str) -> String {
        let ns = if namespace.is_empty() {
            String::new()
        } else {
            format!(", namespace: {namespace}")
        };
        format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: {kind}, metadata: {{name: postgresql{ns}}}, spec: {{{spec}}}}}"
        )
    }

    #[rstest]
    #[case::accept_cnpg_images(
        "ImageCatalog",
        "databases",
        "images: [{major: 16, image: 'ghcr.io/cloudnative-pg/postgresql:16'}, {major: 17, image: 'ghcr.io/cloudnative-pg/postgresql:17'}]",
        None
    )]
    #[case::reject_foreign_image(
        "ImageCatalog",
        "databases",
        "images: [{major: 16, image: 'ghcr.io/cloudnative-pg/postgresql:16'}, {major: 17, image: 'registry.attacker.example/postgresql:17'}]",
        Some("spec.images[1].image")
    )]
    #[case::accept_elsewhere(
        "ImageCatalog",
        "shop",
        "images: [{major: 16, image: 'registry.attacker.example/postgresql:16'}]",
        None
    )]
    #[case::reject_foreign_extension(
        "ImageCatalog",
        "databases",
        "images: [{major: 18, image: 'ghcr.io/cloudnative-pg/postgresql:18', extensions: [{name: pgvector, image: {reference: 'docker.io/evil/pgvector:1'}}]}]",
        Some("spec.images[0].extensions[0].image.reference")
    )]
    #[case::reject_foreign_component(
        "ImageCatalog",
        "databases",
        "images: [{major: 16, image: 'ghcr.io/cloudnative-pg/postgresql:16'}], componentImages: [{key: pgbouncer, image: 'registry.attacker.example/pgbouncer:1'}]",
        Some("spec.componentImages[0].image")
    )]
    #[case::accept_cluster_catalog(
        "ClusterImageCatalog",
        "",
        "images: [{major: 16, image: 'ghcr.io/cloudnative-pg/postgresql:16'}], componentImages: [{key: pgbouncer, image: 'ghcr.io/cloudnative-pg/pgbouncer:1.25.1'}]",
        None
    )]
    #[case::reject_cluster_catalog(
        "ClusterImageCatalog",
        "",
        "images: [{major: 16, image: 'registry.attacker.example/postgresql:16'}]",
        Some("spec.images[0].image")
    )]
    fn catalogs(#[case] kind: &str, #[case] namespace: &str, #[case] spec: &str, #[case] field: Option<&str>) {
        let review = create(&catalog(kind, namespace, spec));
        assert_only(&eval(&review), RULE, field);
    }

    /// A ClusterImageCatalog must be allowed by every shared cluster, since
    /// any of them may name it; an ImageCatalog only by those of its namespace.
    #[test]
    fn a_cluster_catalog_is_judged_for_every_shared_cluster() {
        let contract = crate::contract::parse(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  \
             namespace: databases\n  allowedImages: [mirror.example.net/]\n  consumers: []\n- name: shop-pg\n  \
             namespace: shop\n  consumers: []\n",
            "two.yaml",
        )
        .unwrap();
        let spec = "images: [{major: 16, image: 'mirror.example.net/postgresql:16'}]";
        let report = evaluate(&create(&catalog("ClusterImageCatalog", "", spec)), &contract, &NoFacts);
        assert_only(&report, RULE, Some("spec.images[0].image"));
        let line = report.violations[0].line();
        assert!(line.contains("shop-pg allows ghcr.io/cloudnative-pg/"), "{line}");
        assert!(!line.contains("apps-pg allows"), "{line}");
        let report = evaluate(
            &create(&catalog("ImageCatalog", "databases", spec)),
            &contract,
            &NoFacts,
        );
        assert_only(&report, RULE, None);
    }

    #[rstest]
    #[case::reject_used_catalog("ImageCatalog", "databases", "ImageCatalog", Some("metadata.name"))]
    #[case::reject_used_cluster_catalog("ClusterImageCatalog", "", "ClusterImageCatalog", Some("metadata.name"))]
    #[case::accept_other_kind("ImageCatalog", "databases", "ClusterImageCatalog", None)]
    #[case::accept_elsewhere("ImageCatalog", "shop", "ImageCatalog", None)]
    fn deleting_a_catalog(
        #[case] kind: &str,
        #[case] namespace: &str,
        #[case] used_kind: &str,
        #[case] field: Option<&str>,
    ) {
        let live = cluster(&format!(
            "imageCatalogRef: {{apiGroup: postgresql.cnpg.io, kind: {used_kind}, name: postgresql, major: 16}}"
        ));
        let facts = facts_from(&[&live]);
        let old = catalog(
            kind,
            namespace,
            "images: [{major: 16, image: 'ghcr.io/cloudnative-pg/postgresql:16'}]",
        );
        assert_only(&eval_with(&delete(&old), &facts), RULE, field);
    }

    #[test]
    fn accept_deleting_an_unused_catalog_and_skip_without_the_cluster() {
        let old = catalog(
            "ImageCatalog",
            "databases",
            "images: [{major: 16, image: 'ghcr.io/cloudnative-pg/postgresql:16'}]",
        );
        let facts = facts_from(&[&cluster("imageName: ghcr.io/cloudnative-pg/postgresql:16")]);
        assert_only(&eval_with(&delete(&old), &facts), RULE, None);
        let report = eval(&delete(&old));
        assert_only(&report, RULE, None);
        assert!(
            report.skipped.iter().any(|s| s.rule.as_str() == RULE),
            "{:?}",
            report.skipped
        );
    }
}
