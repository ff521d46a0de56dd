//! **bootstrap-secret-confined**: the bootstrap credential (`apps_admin`)
//! never leaves the shared namespace: not by name, not inside a DSN, not by
//! a mirroring controller, not as a copied password. Nor does any other
//! credential the cluster holds (the Secrets CloudNativePG generates:
//! superuser, app, replication client certificate, CA, server).
//!
//! No message built here contains a Secret value: only keys, field paths,
//! the (public) bootstrap role name and the form a credential was found in.

mod pooler;

use super::{Cx, Evidence, Rule, RuleId, written};
use crate::contract::SharedCluster;
use crate::dsn;
use crate::model::kinds::secret::Secret;
use crate::model::mirror::{self, MIRROR_OUT};
use crate::model::secret::{self, Entry};

pub(super) const RULE: Rule = Rule {
    id: RuleId::BootstrapSecretConfined,
    names: &[crate::model::Kind::Secret],
    checks: &[
        written!(Secret, secret),
        written!(Pooler, pooler::pooler),
        written!(Cluster, cluster),
    ],
};

/// A shared Cluster runs as the ServiceAccount CloudNativePG names after
/// it: the operator binds the cluster's Secret-reading Role (superuser,
/// replication, CA and role password Secrets) to whatever account
/// `serviceAccountName` names (1.30, `pkg/specs/rolebinding.go`), so another
/// name hands those Secrets to that account's pods.
///
/// Nor does it send its own credentials to another server:
/// `spec.externalClusters[]` naming the bootstrap Secret or one
/// CloudNativePG generates for the cluster as `password`, `sslCert` or
/// `sslKey` logs in to that host with it (the password goes to whoever
/// answers there: a server asking for `password` authentication gets it in
/// clear text).
fn cluster(cx: &mut Cx<'_>, c: &crate::model::Cluster) {
    let Some(shared) = cx.shared_cluster() else {
        return;
    };
    own_service_account(cx, c.spec.service_account_name.as_deref(), "Cluster");
    for (i, external) in c.spec.external_clusters.iter().enumerate() {
        for (key, selector, sent) in [
            (
                "password",
                &external.password,
                "the cluster sends its password to that host, which can then log in with it (libpq hands it over \
                 in clear text to a server that asks for password authentication)",
            ),
            (
                "sslCert",
                &external.ssl_cert,
                "the cluster logs in to that host with its own certificate, not one made for that connection",
            ),
            (
                "sslKey",
                &external.ssl_key,
                "the cluster logs in to that host with its own private key, not one made for that connection",
            ),
        ] {
            let Some(secret) = selector.as_ref().map(|s| s.name.as_str()) else {
                continue;
            };
            if !shared.is_cluster_secret(secret) {
                continue;
            }
            cx.violation(
                format!("spec.externalClusters[{i}].{key}.name"),
                format!(
                    "Secret {secret:?} is a credential of {} itself (the bootstrap Secret, or one CloudNativePG \
                     generates: superuser, app, replication, CA, server), named for external cluster {:?}, another \
                     host: {sent}",
                    shared.name, external.name
                ),
                "give the external cluster its own Secret, with a role made for that connection",
            );
        }
    }
}

/// `serviceAccountName` unset or the object's own name (CloudNativePG's
/// default for a Cluster and a Pooler).
pub(super) fn own_service_account(cx: &mut Cx<'_>, named: Option<&str>, kind: &str) {
    let own = cx.review.name.as_str();
    let Some(named) = named.filter(|n| *n != own) else {
        return;
    };
    cx.violation(
        "spec.serviceAccountName",
        format!(
            "the operator would bind the shared cluster's Secret-reading Role (superuser, replication, CA and role \
             passwords) to ServiceAccount {named:?}, which this {kind} does not own"
        ),
        format!("remove serviceAccountName (CloudNativePG then uses {own:?}, the {kind}'s own)"),
    );
}

/// Candidate passwords longer than this are not hashed.
const MAX_CANDIDATE: usize = 1024;
/// Lines longer than this are not split into candidates.
const MAX_SCANNED_LINE: usize = 4096;

fn secret(cx: &mut Cx<'_>, s: &Secret) {
    let r = cx.review;
    if s.type_.as_deref() == Some("kubernetes.io/service-account-token") {
        return;
    }
    let contract = cx.contract;

    if contract.is_shared_namespace(&r.namespace) {
        for cluster in contract.clusters_in(&r.namespace) {
            if !cluster.is_cluster_secret(&r.name) {
                continue;
            }
            for (key, value) in s.metadata.annotations.iter().flatten() {
                if MIRROR_OUT.contains(&key.as_str()) && !value.trim().eq_ignore_ascii_case("false") {
                    cx.violation(
                        format!("metadata.annotations[{key}]"),
                        format!(
                            "this annotation lets a controller mirror {}, a credential of {}, out of {}",
                            r.name, cluster.name, cluster.namespace
                        ),
                        "remove the annotation; consumers get their own role's Secret (cnpg-guard onboard)",
                    );
                }
            }
        }
        return;
    }

    for cluster in &contract.clusters {
        // `namespace/name` of a credential Secret of the cluster.
        let names_a_credential = |value: &str| {
            mirror::source_of(value)
                .is_some_and(|(ns, name)| ns == cluster.namespace && cluster.is_cluster_secret(name))
        };
        for (key, value) in s.metadata.annotations.iter().flatten() {
            if names_a_credential(value) {
                cx.violation(
                    format!("metadata.annotations[{key}]"),
                    format!(
                        "mirrors {}, a credential of {}, out of {}",
                        value.trim(),
                        cluster.name,
                        cluster.namespace
                    ),
                    "remove the annotation; use the consumer role's own Secret",
                );
            }
        }

        let mut password_known = true;
        for entry in secret::entries(s) {
            check_entry(cx, cluster, &entry, &mut password_known);
        }
    }
}

fn is_user_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    matches!(k.as_str(), "username" | "user" | "pguser") || k.ends_with("_user") || k.ends_with("_username")
}

fn check_entry(cx: &mut Cx<'_>, cluster: &SharedCluster, entry: &Entry<'_>, password_known: &mut bool) {
    let role = cluster.bootstrap.role.as_str();
    let Some(text) = entry.text() else {
        // Binary values hold no DSN; only the password hash can match.
        probe_password(cx, cluster, entry, std::iter::once(&*entry.value), password_known);
        return;
    };

    if is_user_key(entry.key) && text.trim() == role {
        cx.violation_with(
            Evidence::of(&*entry.value),
            entry.field(),
            format!(
                "the user is the bootstrap role {role}, which must not leave {}",
                cluster.namespace
            ),
            "use the consumer's own role (cnpg-guard onboard), never the bootstrap credential",
        );
    }

    let creds = dsn::credentials(text);
    if let Some(c) = creds.iter().find(|c| c.user.as_deref() == Some(role)) {
        cx.violation_with(
            Evidence::of(&*entry.value),
            entry.field(),
            format!("{} connects as the bootstrap role {role}", c.form.describe()),
            "connect as the consumer's own role (cnpg-guard onboard), never the bootstrap credential",
        );
    }

    // Where the bootstrap password could hide: the whole value, each line,
    // the right side of `k=v` / `k: v`, each word, and DSN passwords. Lines
    // longer than a few KiB (certificates, blobs) hold no such token worth a
    // scan: they are skipped, keeping a 1 MiB value cheap.
    if !*password_known {
        return;
    }
    // The lines are found once (a value can be a 1 MiB bundle).
    let short_lines: Vec<&str> = dsn::lines(text)
        .map(str::trim)
        .filter(|l| l.len() <= MAX_SCANNED_LINE)
        .collect();
    let sides = short_lines.iter().filter_map(|l| {
        l.split_once(['=', ':'])
            .map(|(_, v)| v.trim().trim_matches(['"', '\'']))
    });
    let words = short_lines.iter().flat_map(|l| l.split_ascii_whitespace());
    let dsn_passwords = creds.iter().filter_map(|c| c.password.as_deref());
    let candidates = std::iter::once(text.trim())
        .chain(short_lines.iter().copied())
        .chain(sides)
        .chain(words)
        .chain(dsn_passwords)
        .map(str::as_bytes);
    probe_password(cx, cluster, entry, candidates, password_known);
}

fn probe_password<'v>(
    cx: &mut Cx<'_>,
    cluster: &SharedCluster,
    entry: &Entry<'_>,
    candidates: impl Iterator<Item = &'v [u8]>,
    password_known: &mut bool,
) {
    if !*password_known {
        return;
    }
    for candidate in candidates.filter(|c| !c.is_empty() && c.len() <= MAX_CANDIDATE) {
        let fact = cx.facts.is_bootstrap_password(cluster, candidate);
        match cx.fact(entry.field(), "no value holds the bootstrap password", fact) {
            None => {
                *password_known = false;
                return;
            }
            Some(true) => {
                cx.violation_with(
                    Evidence::of(&*entry.value),
                    entry.field(),
                    format!("holds the bootstrap password of {}", cluster.name),
                    format!(
                        "remove the value now and rotate the {} password in {}/{}: it has been copied",
                        cluster.bootstrap.role, cluster.namespace, cluster.bootstrap.secret
                    ),
                );
                return;
            }
            Some(false) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use crate::rules::testing::*;

    fn secret(ns: &str, body: &str) -> String {
        format!("{{apiVersion: v1, kind: Secret, metadata: {{name: s, namespace: {ns}}}, {body}}}")
    }

    #[rstest]
    #[case::accept_consumer_credentials("stringData: {username: vergabe, password: x}", None)]
    #[case::reject_username_in_string_data("stringData: {username: apps_admin}", Some("stringData.username"))]
    #[case::reject_user_in_base64_data("data: {user: YXBwc19hZG1pbg==}", Some("data.user"))]
    #[case::reject_env_style_user_key("stringData: {POSTGRES_USER: apps_admin}", Some("stringData.POSTGRES_USER"))]
    #[case::reject_uri(
        "stringData: {url: 'postgresql://apps_admin:x@apps-pg-rw.databases.svc/apps_meta'}",
        Some("stringData.url")
    )]
    #[case::reject_base64_uri("data: {url: cG9zdGdyZXM6Ly9hcHBzX2FkbWluQGgvZGI=}", Some("data.url"))]
    #[case::reject_key_value_dsn(
        "stringData: {dsn: 'host=apps-pg-rw user=apps_admin dbname=apps_meta'}",
        Some("stringData.dsn")
    )]
    #[case::reject_jdbc(
        "stringData: {jdbc: 'jdbc:postgresql://h:5432/apps_meta?user=apps_admin'}",
        Some("stringData.jdbc")
    )]
    #[case::reject_pgpass(
        "stringData: {.pgpass: 'h:5432:apps_meta:apps_admin:x'}",
        Some("stringData[.pgpass]")
    )]
    #[case::accept_consumer_uri(
        "stringData: {url: 'postgresql://vergabe:x@apps-pg-rw.databases.svc/vergabe_db'}",
        None
    )]
    #[case::reject_reflector_copy(
        "metadata: {name: s, namespace: shop, annotations: {reflector.v1.k8s.emberstack.com/reflects: databases/apps-pg-credentials}}",
        Some("metadata.annotations[reflector.v1.k8s.emberstack.com/reflects]")
    )]
    #[case::reject_replicator_superuser_copy(
        "metadata: {name: s, namespace: shop, annotations: {replicator.v1.mittwald.de/replicate-from: databases/apps-pg-superuser}}",
        Some("metadata.annotations[replicator.v1.mittwald.de/replicate-from]")
    )]
    #[case::reject_replication_certificate_copy(
        "metadata: {name: s, namespace: shop, annotations: {reflector.v1.k8s.emberstack.com/reflects: databases/apps-pg-replication}}",
        Some("metadata.annotations[reflector.v1.k8s.emberstack.com/reflects]")
    )]
    #[case::reject_ca_copy(
        "metadata: {name: s, namespace: shop, annotations: {replicator.v1.mittwald.de/replicate-from: databases/apps-pg-ca}}",
        Some("metadata.annotations[replicator.v1.mittwald.de/replicate-from]")
    )]
    #[case::reject_app_secret_copy(
        "metadata: {name: s, namespace: shop, annotations: {reflector.v1.k8s.emberstack.com/reflects: databases/apps-pg-app}}",
        Some("metadata.annotations[reflector.v1.k8s.emberstack.com/reflects]")
    )]
    #[case::accept_mirroring_something_else(
        "metadata: {name: s, namespace: shop, annotations: {reflector.v1.k8s.emberstack.com/reflects: databases/apps-pg-role-vergabe}}",
        None
    )]
    fn outside_the_shared_namespace(#[case] body: &str, #[case] field: Option<&str>) {
        let yaml = if body.starts_with("metadata") {
            format!("{{apiVersion: v1, kind: Secret, {body}}}")
        } else {
            secret("shop", body)
        };
        assert_only(&eval(&create(&yaml)), "bootstrap-secret-confined", field);
    }

    #[rstest]
    #[case::accept_the_bootstrap_secret_itself("apps-pg-credentials", "{}", None)]
    #[case::reject_reflection_allowed(
        "apps-pg-credentials",
        "{reflector.v1.k8s.emberstack.com/reflection-allowed: 'true'}",
        Some("metadata.annotations[reflector.v1.k8s.emberstack.com/reflection-allowed]")
    )]
    #[case::reject_replicate_to_on_superuser(
        "apps-pg-superuser",
        "{replicator.v1.mittwald.de/replicate-to: shop}",
        Some("metadata.annotations[replicator.v1.mittwald.de/replicate-to]")
    )]
    #[case::reject_replicate_to_on_the_ca(
        "apps-pg-ca",
        "{replicator.v1.mittwald.de/replicate-to: shop}",
        Some("metadata.annotations[replicator.v1.mittwald.de/replicate-to]")
    )]
    #[case::reject_reflection_on_the_server_certificate(
        "apps-pg-server",
        "{reflector.v1.k8s.emberstack.com/reflection-auto-enabled: 'true'}",
        Some("metadata.annotations[reflector.v1.k8s.emberstack.com/reflection-auto-enabled]")
    )]
    #[case::accept_reflection_on_a_consumer_secret(
        "apps-pg-role-vergabe",
        "{reflector.v1.k8s.emberstack.com/reflection-allowed: 'true'}",
        None
    )]
    fn inside_the_shared_namespace(#[case] name: &str, #[case] annotations: &str, #[case] field: Option<&str>) {
        let yaml = format!(
            "{{apiVersion: v1, kind: Secret, metadata: {{name: {name}, namespace: databases, annotations: {annotations}}}, stringData: {{username: apps_admin, password: x}}}}"
        );
        assert_only(&eval(&create(&yaml)), "bootstrap-secret-confined", field);
    }

    #[rstest]
    #[case::accept_own_secrets(
        "{name: origin, password: {name: origin-password, key: password}, sslCert: {name: origin-tls, key: tls.crt}, sslKey: {name: origin-tls, key: tls.key}}",
        None
    )]
    #[case::reject_bootstrap_password(
        "{name: origin, password: {name: apps-pg-credentials, key: password}}",
        Some("spec.externalClusters[0].password.name")
    )]
    #[case::reject_superuser_password(
        "{name: origin, password: {name: apps-pg-superuser, key: password}}",
        Some("spec.externalClusters[0].password.name")
    )]
    #[case::reject_replication_certificate(
        "{name: origin, sslCert: {name: apps-pg-replication, key: tls.crt}}",
        Some("spec.externalClusters[0].sslCert.name")
    )]
    #[case::reject_replication_key(
        "{name: origin, sslKey: {name: apps-pg-replication, key: tls.key}}",
        Some("spec.externalClusters[0].sslKey.name")
    )]
    fn external_clusters(#[case] external: &str, #[case] field: Option<&str>) {
        let yaml = format!(
            "{{apiVersion: postgresql.cnpg.io/v1, kind: Cluster, metadata: {{name: apps-pg, namespace: databases, \
             labels: {{railiance.io/role: shared-apps-database}}}}, spec: {{externalClusters: [{external}]}}}}"
        );
        assert_only(&eval(&create(&yaml)), "bootstrap-secret-confined", field);
    }

    const BOOTSTRAP: &str = "{apiVersion: v1, kind: Secret, metadata: {name: apps-pg-credentials, namespace: databases}, stringData: {username: apps_admin, password: Sup3r-Secret-Canary}}";

    #[rstest]
    #[case::reject_copied_password("stringData: {pw: Sup3r-Secret-Canary}", Some("stringData.pw"))]
    #[case::reject_password_in_env_file(
        "stringData: {.env: \"A=1\\nDB_PASSWORD=Sup3r-Secret-Canary\\n\"}",
        Some("stringData[.env]")
    )]
    #[case::reject_password_in_a_dsn(
        "stringData: {url: 'postgresql://someone:Sup3r-Secret-Canary@h/db'}",
        Some("stringData.url")
    )]
    #[case::accept_other_password("stringData: {pw: other}", None)]
    fn bootstrap_password(#[case] body: &str, #[case] field: Option<&str>) {
        let s = secret("shop", body);
        let f = eval_with(&create(&s), &facts_from(&[BOOTSTRAP, &s]));
        assert_only(&f, "bootstrap-secret-confined", field);
        for v in &f.violations {
            assert!(!v.line().contains("Sup3r-Secret-Canary"), "{}", v.line());
        }
    }

    #[test]
    fn password_check_is_skipped_without_the_bootstrap_secret() {
        let f = eval(&create(&secret("shop", "stringData: {a: x, b: y}")));
        assert!(f.violations.is_empty());
        assert_eq!(f.skipped.len(), 1, "{:?}", f.skipped);
    }
}
