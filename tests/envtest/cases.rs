//! The tests, in the order they run on the one API server. Each leaves the
//! cluster as the next one expects it (the good examples applied, the guard
//! running and its webhook registered), or uses names of its own.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::control_plane::random_token;
use crate::fixture::*;
use crate::guard::{Guard, watch_synced};
use crate::proc::{Out, run, wait_until};
use crate::support::{copy_dir, guard_bin, yaml_docs};

pub type Test = fn(&mut Env);

/// (name, test, foundation): foundation tests run even when a filter
/// leaves them out, because every later test needs what they set up.
pub const TESTS: &[(&str, Test, bool)] = &[
    (
        "self_signed_overlay_renders_and_applies_without_the_webhook",
        self_signed_overlay_renders_and_applies_without_the_webhook,
        true,
    ),
    (
        "guard_syncs_as_the_shipped_service_account",
        guard_syncs_as_the_shipped_service_account,
        true,
    ),
    (
        "webhook_configuration_applies_last_and_reaches_the_guard",
        webhook_configuration_applies_last_and_reaches_the_guard,
        true,
    ),
    (
        "every_good_example_is_admitted_in_order",
        every_good_example_is_admitted_in_order,
        true,
    ),
    (
        "guard_decisions_reach_the_api_server_audit_log",
        guard_decisions_reach_the_api_server_audit_log,
        false,
    ),
    (
        "every_bad_example_is_denied_with_its_rule_by_dry_run_and_server_side_apply",
        every_bad_example_is_denied_with_its_rule_by_dry_run_and_server_side_apply,
        false,
    ),
    (
        "onboard_role_step_applies_to_a_cluster_with_and_without_the_lists",
        onboard_role_step_applies_to_a_cluster_with_and_without_the_lists,
        false,
    ),
    (
        "make_e2e_denies_every_bad_document_on_its_own",
        make_e2e_denies_every_bad_document_on_its_own,
        false,
    ),
    (
        "collection_delete_of_a_database_that_drops_its_data_is_denied_until_break_glass",
        collection_delete_of_a_database_that_drops_its_data_is_denied_until_break_glass,
        false,
    ),
    (
        "services_are_judged_only_in_the_shared_namespace",
        services_are_judged_only_in_the_shared_namespace,
        false,
    ),
    (
        "removing_an_owned_role_is_denied",
        removing_an_owned_role_is_denied,
        false,
    ),
    (
        "database_before_its_role_is_denied_until_the_role_patch",
        database_before_its_role_is_denied_until_the_role_patch,
        false,
    ),
    (
        "secret_with_the_live_bootstrap_password_is_denied_under_any_key_and_in_a_uri",
        secret_with_the_live_bootstrap_password_is_denied_under_any_key_and_in_a_uri,
        false,
    ),
    (
        "collection_delete_of_default_deny_is_denied",
        collection_delete_of_default_deny_is_denied,
        false,
    ),
    (
        "collection_delete_of_a_baseline_policy_is_denied",
        collection_delete_of_a_baseline_policy_is_denied,
        false,
    ),
    (
        "collection_delete_of_the_shared_cluster_is_denied",
        collection_delete_of_the_shared_cluster_is_denied,
        false,
    ),
    (
        "collection_delete_of_the_shared_namespace_is_denied",
        collection_delete_of_the_shared_namespace_is_denied,
        false,
    ),
    (
        "self_protection_denies_eve_changing_or_deleting_the_guard",
        self_protection_denies_eve_changing_or_deleting_the_guard,
        false,
    ),
    (
        "self_protection_admits_alice_of_the_break_glass_group",
        self_protection_admits_alice_of_the_break_glass_group,
        false,
    ),
    (
        "audit_reports_violations_made_while_the_webhook_was_off",
        audit_reports_violations_made_while_the_webhook_was_off,
        false,
    ),
    (
        "audit_policyreport_output_applies",
        audit_policyreport_output_applies,
        false,
    ),
    (
        "webhook_configuration_is_recreated_and_enforces_again",
        webhook_configuration_is_recreated_and_enforces_again,
        false,
    ),
    (
        "watches_resync_after_an_api_server_restart",
        watches_resync_after_an_api_server_restart,
        false,
    ),
    (
        "tenants_write_only_their_own_objects",
        tenants_write_only_their_own_objects,
        false,
    ),
    (
        "database_role_onboarding_and_break_glass_on_cloudnative_pg_1_30",
        database_role_onboarding_and_break_glass_on_cloudnative_pg_1_30,
        false,
    ),
];

const CLUSTERS: &str = "clusters.postgresql.cnpg.io";
const DATABASES: &str = "databases.postgresql.cnpg.io";
const VWC: &str = "validatingwebhookconfiguration";

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}

// ---------------------------------------------------------------------------
// Installing the guard as a platform team would.

fn self_signed_overlay_renders_and_applies_without_the_webhook(env: &mut Env) {
    let root = env.dir.join("repo");
    copy_dir(&env.repo.join("deploy"), &root.join("deploy"));
    let overlay = root.join("deploy/overlays/self-signed");
    // Key material where the overlay reads it (git-ignored in the repository).
    let certs = overlay.join("certs");
    run(
        Command::new(guard_bin()).arg("certs").arg("--out").arg(&certs).args([
            "--service",
            "cnpg-guard",
            "--namespace",
            "cnpg-guard",
        ]),
        None,
        Duration::from_secs(30),
    )
    .expect_ok();
    // kustomize's default options, as `kubectl apply -k` and Argo CD use them.
    let rendered = env.k(&["kustomize", &path(&overlay)]).expect_ok();
    let docs = yaml_docs(&rendered.stdout);

    let (mut webhooks, others): (Vec<Value>, Vec<Value>) = docs
        .into_iter()
        .partition(|d| d["kind"] == "ValidatingWebhookConfiguration");
    assert_eq!(
        webhooks.len(),
        1,
        "the overlay renders one ValidatingWebhookConfiguration"
    );
    let mut webhook = webhooks.remove(0);
    assert_eq!(webhook["metadata"]["name"], "cnpg-guard");

    // kustomize copied the CA that `cnpg-guard certs` wrote into the caBundle.
    let ca = std::fs::read(certs.join("ca.crt")).unwrap();
    let hooks = webhook["webhooks"].as_array_mut().expect("webhooks[]");
    assert!(!hooks.is_empty());
    for hook in hooks.iter_mut() {
        let bundle: String = hook["clientConfig"]["caBundle"]
            .as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(bundle, b64(&ca), "caBundle of {} is the overlay's CA", hook["name"]);
        assert!(
            hook["clientConfig"]["service"].is_object(),
            "the overlay calls the Service"
        );
        // No pods run here: point the API server at the local guard instead.
        hook["clientConfig"] = json!({
            "url": format!("https://127.0.0.1:{}/validate", env.guard_port),
            "caBundle": b64(env.serving.ca.as_bytes()),
        });
    }
    let has_self_protection = others
        .iter()
        .any(|d| d["kind"] == "ValidatingAdmissionPolicy" && d["metadata"]["name"] == SELF_PROTECTION);
    if !has_self_protection {
        note("the rendered overlay has no ValidatingAdmissionPolicy cnpg-guard-self-protection");
    }

    // The shared namespace is a prerequisite (the guard's Roles live in it).
    env.k(&["apply", "-f", &path(&env.example("good/namespace-databases.yaml"))])
        .expect_ok();
    let list = env.write_json(
        "overlay-without-webhook",
        &json!({"apiVersion": "v1", "kind": "List", "items": others}),
    );
    env.k(&["apply", "-f", &path(&list)]).expect_ok();
    env.k(&["get", "-f", &path(&list)]).expect_ok();
    for (kind, ns, name) in [
        ("serviceaccount", "cnpg-guard", "cnpg-guard"),
        ("configmap", "cnpg-guard", "cnpg-guard-contract"),
        ("secret", "cnpg-guard", "cnpg-guard-tls"),
        ("role", "databases", "cnpg-guard-bootstrap-secret"),
    ] {
        env.k(&["get", kind, name, "-n", ns]).expect_ok();
    }
    let webhook = env.write_json("webhook-configuration", &webhook);
    env.rendered = Some(Rendered {
        webhook,
        has_self_protection,
    });
}

fn guard_syncs_as_the_shipped_service_account(env: &mut Env) {
    env.rendered();
    let sa = "system:serviceaccount:cnpg-guard:cnpg-guard";
    // The shipped RBAC, as the API server evaluates it.
    for (args, expect) in [
        (vec!["get", "secret/apps-pg-credentials", "-n", "databases"], "yes"),
        (vec!["list", "secrets", "-n", "databases"], "no"),
        (vec!["list", "secrets", "-n", "vergabe-teilnahme"], "no"),
        (vec!["watch", CLUSTERS, "-n", "databases"], "yes"),
        (vec!["watch", DATABASES, "-n", "databases"], "yes"),
        (vec!["create", "configmaps", "-n", "cnpg-guard"], "no"),
    ] {
        let mut a = vec!["auth", "can-i"];
        a.extend(&args);
        let user = format!("--as={sa}");
        a.push(&user);
        let out = env.k(&a);
        assert_eq!(out.stdout.trim(), expect, "can-i {args:?} as {sa}: {}", out.describe());
    }

    // TokenRequest (served by kube-apiserver itself) for the shipped ServiceAccount.
    let token = env
        .k(&["create", "token", "cnpg-guard", "-n", "cnpg-guard", "--duration=2h"])
        .expect_ok()
        .stdout
        .trim()
        .to_owned();
    let kubeconfig = env.dir.join("guard.kubeconfig");
    cnpg_guard::server::tls::write_file(
        &kubeconfig,
        &crate::control_plane::kubeconfig(
            &env.cp.server(),
            &env.cp.ca_pem,
            "cnpg-guard",
            crate::control_plane::Auth::Token(&token),
        ),
        true,
    )
    .unwrap();
    let guard = Guard::start(
        &env.dir,
        &kubeconfig,
        &env.serving.cert,
        &env.serving.key,
        (env.guard_port, env.guard_admin),
        None,
    );
    let synced = wait_until(
        "cnpg_guard_watch_synced of every watch",
        Duration::from_secs(10),
        || {
            let w = guard.watch_synced();
            if w.len() >= 3 && w.iter().all(|(_, v)| *v == 1.0) {
                Ok(w)
            } else {
                Err(format!("{w:?}"))
            }
        },
    );
    note(&format!("{} watches synced as {sa}", synced.len()));
    assert!(
        !guard.logs().contains("Forbidden"),
        "the guard hit RBAC:\n{}",
        crate::proc::indent(&guard.logs())
    );
    env.guard = Some(guard);
}

fn webhook_configuration_applies_last_and_reaches_the_guard(env: &mut Env) {
    env.guard();
    let webhook = env.rendered().webhook.clone();
    env.k(&["apply", "-f", &path(&webhook)]).expect_ok();
    let (_, random_app) = env.example_doc("bad/client-label-registered.yaml", "random-app");
    let out = wait_until("the API server calls the guard", Duration::from_secs(20), || {
        let out = env.k(&["apply", "--dry-run=server", "-f", &path(&random_app)]);
        if out.text().contains(GUARD_DENIAL) {
            Ok(out)
        } else {
            Err(out.describe())
        }
    });
    assert_denied(
        &out,
        "[client-label-registered] Namespace random-app: metadata.labels[railiance.io/postgres-client]:",
        "first review",
    );
}

fn guard_decisions_reach_the_api_server_audit_log(env: &mut Env) {
    env.guard();
    let (_, other) = env.example_doc("bad/client-label-registered.yaml", "vergabe-teilnahme-2");
    let out = env.k(&["create", "--dry-run=server", "-f", &path(&other)]);
    assert_denied(
        &out,
        "[client-label-registered] Namespace vergabe-teilnahme-2:",
        "create",
    );
    // auditAnnotations of the review, prefixed by the API server with the webhook's name.
    let event = wait_until(
        "the decision in the API server's audit log",
        Duration::from_secs(10),
        || {
            env.cp
                .audit_events()
                .into_iter()
                .find(|e| {
                    e["objectRef"]["resource"] == "namespaces"
                        && e["objectRef"]["name"] == "vergabe-teilnahme-2"
                        && e["annotations"]["cnpg-guard.railiance.io/decision"].is_string()
                })
                .ok_or("no such event".to_owned())
        },
    );
    let a = &event["annotations"];
    assert_eq!(a["cnpg-guard.railiance.io/decision"], "deny", "{event}");
    assert!(
        a["cnpg-guard.railiance.io/rules"]
            .as_str()
            .is_some_and(|r| r.contains("client-label-registered")),
        "{event}"
    );
}

// ---------------------------------------------------------------------------
// The examples.

/// The order a platform team applies the seed in.
const GOOD_ORDER: &[&str] = &[
    "namespace-databases.yaml",
    "consumer-namespace.yaml",
    "apps-pg-credentials.yaml",
    "apps-pg-role-vergabe.yaml",
    "apps-pg-cluster.yaml",
    "apps-pg-networkpolicies.yaml",
    "apps-pg-databases.yaml",
    "apps-pg-backups.yaml",
    "pooler.yaml",
    "vergabe-runtime-secret.yaml",
];

fn every_good_example_is_admitted_in_order(env: &mut Env) {
    env.guard();
    let mut listed: Vec<String> = std::fs::read_dir(env.example("good"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    listed.sort();
    let mut ordered: Vec<String> = GOOD_ORDER.iter().map(|s| s.to_string()).collect();
    ordered.sort();
    assert_eq!(listed, ordered, "every good example has its place in GOOD_ORDER");

    for file in GOOD_ORDER {
        let p = path(&env.example(&format!("good/{file}")));
        let dry = if file.contains("databases.yaml") || file.contains("backups.yaml") {
            // The owner and backup checks read the guard's live facts: the
            // Cluster was written a moment ago, give its watch event time to
            // arrive.
            wait_until(&format!("{file} admitted"), Duration::from_secs(10), || {
                let out = env.k(&["apply", "--dry-run=server", "-f", &p]);
                if out.ok() { Ok(out) } else { Err(out.describe()) }
            })
        } else {
            env.k(&["apply", "--dry-run=server", "-f", &p])
        };
        assert_admitted(&dry, &format!("{file} --dry-run=server"));
        assert_admitted(
            &env.k(&["apply", "--server-side", "--dry-run=server", "-f", &p]),
            &format!("{file} server-side apply --dry-run=server"),
        );
        assert_admitted(
            &env.k(&["apply", "--server-side", "--force-conflicts", "-f", &p]),
            &format!("{file} server-side apply"),
        );
        env.k(&["get", "-f", &p]).expect_ok();
    }
}

/// The field each bad example's denial must name. The API server folds a
/// Secret's `stringData` into `data` before admission, so the webhook names
/// `data.<key>` where `cnpg-guard check` over the file says `stringData.<key>`.
fn expected_field(rule: &str, kind: &str, name: &str, doc: usize) -> &'static str {
    match (rule, kind, name) {
        ("role-registered", "Cluster", _) if doc == 1 => return "spec.managed.roles[0].inRoles[0]",
        ("role-registered", "Cluster", _) if doc == 2 => return "spec.managed.roles[0].superuser",
        ("role-registered", "Cluster", _) if doc == 3 => return "spec.managed.roles[0].passwordSecret.name",
        ("tenant-isolated", "Cluster", _) => return "spec.postgresql.pg_hba",
        ("tenant-isolated", "Database", "vergabe-lockout") => return "spec.name",
        ("auth-posture", "Cluster", _) if doc == 3 => return "spec.postgresql.pg_ident[0]",
        ("auth-posture", "Cluster", _) if doc == 4 => return "spec.enableSuperuserAccess",
        ("auth-posture", "Cluster", _) if doc == 5 => return "spec.certificates.clientCASecret",
        ("auth-posture", "Cluster", _) if doc == 7 => return "spec.postgresql.ldap.server",
        ("bootstrap-secret-confined", "Cluster", _) => return "spec.externalClusters[0].password.name",
        ("image-allowed", "Cluster", _) if doc == 5 => return "spec.env[0].name",
        ("network-posture", "Pooler", _) => return "spec.template.spec.hostNetwork",
        ("bootstrap-secret-confined", "Pooler", "apps-pg-pooler-sa") => return "spec.serviceAccountName",
        ("bootstrap-secret-confined", "Pooler", _) => return "spec.pgbouncer.authQuerySecret.name",
        ("role-registered", "DatabaseRole", "vergabe-superuser") => return "spec.superuser",
        ("role-registered", "DatabaseRole", "vergabe-takeover") => return "spec.passwordSecret.name",
        ("role-registered", "DatabaseRole", "vergabe-reads-all") => return "spec.inRoles[0]",
        ("role-registered", "DatabaseRole", _) => return "spec.name",
        ("tenant-isolated", "Database", "vergabe-clone") => return "spec.template",
        ("tenant-isolated", "Database", "vergabe-untrusted") => return "spec.extensions[0].name",
        ("tenant-isolated", "Secret", _) => return "metadata.annotations[reflector.v1.k8s.emberstack.com/reflects]",
        ("tenant-isolated", "Publication" | "Subscription", _) => return "spec.dbname",
        ("image-allowed", "Cluster", _) if doc == 0 => return "spec.imageName",
        ("image-allowed", "Cluster", _) => return "spec.postgresql.extensions[0].image.reference",
        ("image-allowed", "Pooler", _) => return "spec.template.spec.containers[0].image",
        ("image-allowed", "ImageCatalog" | "ClusterImageCatalog", _) => return "spec.images[0].image",
        ("auth-posture", "Cluster", _) => return "spec.postgresql.pg_hba[0]",
        ("auth-posture", "Pooler", _) => return "spec.pgbouncer.pg_hba[0]",
        ("data-retained", "Database", _) => return "spec.ensure",
        ("data-retained", "Backup", _) => return "spec.online",
        ("backup-confined", "Backup", "apps-pg-other-plugin") => return "spec.pluginConfiguration.name",
        ("backup-confined", _, _) => return "spec.pluginConfiguration.parameters[barmanObjectName]",
        ("data-retained", "Cluster", _) => return "metadata.annotations[cnpg.io/hibernation]",
        ("network-posture", "Service", "apps-pg-rw") => return "metadata.name",
        ("network-posture", "Service", _) => return "spec.type",
        ("bootstrap-secret-confined", "Secret", "replication-certificate") => {
            return "metadata.annotations[reflector.v1.k8s.emberstack.com/reflects]";
        }
        _ => {}
    }
    match (kind, name) {
        ("Secret", "leaked-username") => "data.username",
        ("Secret", "leaked-user-base64") => "data.user",
        ("Secret", "leaked-uri") => "data.DATABASE_URL",
        ("Secret", "leaked-dsn") => "data.dsn",
        ("Secret", "leaked-jdbc") => "data.JDBC_URL",
        ("Secret", "leaked-pgpass") => "data[.pgpass]",
        ("Secret", "mirrored-bootstrap") => "metadata.annotations[reflector.v1.k8s.emberstack.com/reflects]",
        ("Secret", "replicated-superuser") => "metadata.annotations[replicator.v1.mittwald.de/replicate-from]",
        ("Secret", "apps-pg-credentials") => "metadata.annotations[reflector.v1.k8s.emberstack.com/reflection-allowed]",
        ("Namespace", _) => "metadata.labels[railiance.io/postgres-client]",
        ("Cluster", "apps-pg-copy") => "metadata.labels[railiance.io/role]",
        ("Database", "rogue-validation-off") => "metadata.annotations[cnpg.io/validation]",
        ("Pooler", "elsewhere-pooler") => "metadata.namespace",
        ("NetworkPolicy", "default-deny-all") => "spec.ingress",
        ("NetworkPolicy", "allow-all-apps-pg") => "spec.ingress[0].from",
        ("NetworkPolicy", "allow-cidr-apps-pg") => "spec.ingress[0].from[0].ipBlock",
        ("NetworkPolicy", _) => "spec.ingress[0].from[0].namespaceSelector",
        ("Database", "vergabe-other-db") => "spec.name",
        ("Database", _) => "spec.owner",
        ("Cluster", "apps-pg") => "spec.managed.roles[0].name",
        _ => panic!("no expected field for bad example {kind} {name}: add it to expected_field"),
    }
}

/// Bad examples that CloudNativePG's CRD schema (x-kubernetes-validations)
/// refuses before any validating webhook is called: the guard never sees
/// them (its verdict on them is `cnpg-guard check`'s, tests/check.rs).
fn refused_by_the_crd(kind: &str, name: &str) -> Option<&'static str> {
    match (kind, name) {
        ("Database", "template1-db") => Some("spec.name: Invalid value: \"template1\": the name template1 is reserved"),
        _ => None,
    }
}

/// The bad example directories these CRDs can take: `bad/`, and
/// `bad-1.30/` where CloudNativePG 1.30's CRDs (DatabaseRole) are installed.
fn bad_example_dirs(env: &Env) -> Vec<&'static str> {
    let mut dirs = vec!["bad"];
    if env.k(&["get", "crd", "databaseroles.postgresql.cnpg.io"]).ok() {
        dirs.push("bad-1.30");
    } else {
        note("deploy/examples/bad-1.30 skipped: these CRDs have no DatabaseRole (CloudNativePG before 1.30)");
    }
    dirs
}

fn every_bad_example_is_denied_with_its_rule_by_dry_run_and_server_side_apply(env: &mut Env) {
    env.guard();
    let mut files: Vec<_> = bad_example_dirs(env)
        .into_iter()
        .flat_map(|d| std::fs::read_dir(env.example(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "one bad example per rule");
    let mut count = 0;
    for file in files {
        let rule = file.file_stem().unwrap().to_string_lossy().into_owned();
        let docs = yaml_docs(&std::fs::read_to_string(&file).unwrap());
        for (i, doc) in docs.iter().enumerate() {
            let (kind, ns, name) = id(doc);
            let needle = format!(
                "[{rule}] {}: {}:",
                display(&kind, &ns, &name),
                expected_field(&rule, &kind, &name, i)
            );
            let p = env.write_json(&format!("bad-{rule}-{i}"), doc);
            let ps = path(&p);
            let before = env.resource_version(&p);
            for (how, args) in [
                ("apply --dry-run=server", vec!["apply", "--dry-run=server", "-f", &ps]),
                (
                    "apply --server-side --dry-run=server",
                    vec![
                        "apply",
                        "--server-side",
                        "--force-conflicts",
                        "--dry-run=server",
                        "-f",
                        &ps,
                    ],
                ),
                (
                    "apply --server-side",
                    vec!["apply", "--server-side", "--force-conflicts", "-f", &ps],
                ),
            ] {
                let out = env.k(&args);
                let what = format!("bad/{rule}.yaml {kind} {name}, {how}");
                match refused_by_the_crd(&kind, &name) {
                    Some(invalid) => assert!(
                        !out.ok() && out.text().contains(invalid),
                        "{what}: expected the CRD to refuse it ({invalid}); got {}",
                        out.describe()
                    ),
                    None => assert_denied(&out, &needle, &what),
                }
            }
            if let Some(invalid) = refused_by_the_crd(&kind, &name) {
                note(&format!(
                    "bad/{rule}.yaml {kind} {name}: refused by the CNPG CRD before admission ({invalid})"
                ));
            }
            assert_eq!(
                env.resource_version(&p),
                before,
                "bad/{rule}.yaml {kind} {name}: the object changed although denied"
            );
            count += 1;
        }
    }
    note(&format!("{count} bad documents denied three ways each"));
}

/// README's `make e2e`, as written, against this control plane: every
/// document of every bad example is denied on its own (or refused by the
/// CRD where tests/e2e.sh lists it, as [`refused_by_the_crd`] does here).
/// `cnpg-guard onboard --cluster-object` writes step 2 for the Cluster as
/// it is, and `kubectl patch --type=json --patch-file` applies it as
/// written: on a Cluster without spec.managed and spec.postgresql, on one
/// with spec.managed but no roles list, and on one with both lists (the
/// role appended, the two lines put first). A second run has nothing to add.
fn onboard_role_step_applies_to_a_cluster_with_and_without_the_lists(env: &mut Env) {
    env.guard();
    let ns = "onboard-scratch";
    let contract = env.dir.join("objects/onboard-contract.yaml");
    std::fs::write(
        &contract,
        format!(
            "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: scratch\n  \
             namespace: {ns}\n  bootstrap: {{role: app, database: app, secret: scratch-app}}\n  consumers: []\n"
        ),
    )
    .unwrap();
    env.k(&["create", "namespace", ns]).expect_ok();
    let base = json!({"instances": 1, "storage": {"size": "1Gi"}});
    let mut managed_only = base.clone();
    managed_only["managed"] = json!({"services": {"disabledDefaultServices": ["ro"]}});
    let mut both = base.clone();
    both["managed"] = json!({"roles": [{"name": "other", "ensure": "present", "login": true}]});
    both["postgresql"] = json!({"pg_hba": ["hostssl all all 10.0.0.0/8 scram-sha-256"]});
    for (case, spec) in [("bare", base), ("managed-only", managed_only), ("both", both)] {
        let cluster = env.write_json(
            &format!("onboard-{case}"),
            &json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
                    "metadata": {"name": "scratch", "namespace": ns}, "spec": spec}),
        );
        env.k(&["create", "-f", &path(&cluster)]).expect_ok();
        let onboard = |out_dir: &str| {
            let live = env
                .k(&["get", "cluster", "scratch", "-n", ns, "-o", "yaml"])
                .expect_ok();
            let dir = env.dir.join("objects").join(out_dir);
            let out = run(
                Command::new(guard_bin())
                    .args(["onboard", "--contract"])
                    .arg(&contract)
                    .args(["--cluster", "scratch", "--namespace", "shop-frontend", "--role", "shop"])
                    .args(["--database", "shop_db", "--cluster-object", "-", "--out"])
                    .arg(&dir),
                Some(live.stdout.as_bytes()),
                Duration::from_secs(30),
            );
            assert!(out.ok(), "{case}: onboard: {}", out.describe());
            dir.join("02-cluster-role-patch.yaml")
        };
        let patch = onboard(&format!("onboard-{case}-1"));
        env.k(&[
            "patch",
            "cluster",
            "scratch",
            "-n",
            ns,
            "--type=json",
            "--patch-file",
            &path(&patch),
        ])
        .expect_ok();
        let got: Value = serde_json::from_str(
            &env.k(&["get", "cluster", "scratch", "-n", ns, "-o", "json"])
                .expect_ok()
                .stdout,
        )
        .unwrap();
        let roles: Vec<&str> = got["spec"]["managed"]["roles"]
            .as_array()
            .unwrap_or_else(|| panic!("{case}: no roles: {got}"))
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(roles.contains(&"shop"), "{case}: {roles:?}");
        let hba: Vec<&str> = got["spec"]["postgresql"]["pg_hba"]
            .as_array()
            .unwrap_or_else(|| panic!("{case}: no pg_hba: {got}"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            hba[..2],
            ["host shop_db shop all scram-sha-256", "host all shop all reject"],
            "{case}: {hba:?}"
        );
        if case == "both" {
            assert_eq!(roles, ["other", "shop"]);
            assert_eq!(hba[2], "hostssl all all 10.0.0.0/8 scram-sha-256");
        }
        let again = onboard(&format!("onboard-{case}-2"));
        let text = std::fs::read_to_string(&again).unwrap();
        assert!(
            text.lines().any(|l| l == "[]"),
            "{case}: a second run adds nothing:\n{text}"
        );
        env.k(&["delete", "cluster", "scratch", "-n", ns, "--wait=false"])
            .expect_ok();
        wait_until("the scratch Cluster to go", Duration::from_secs(20), || {
            let out = env.k(&["get", "cluster", "scratch", "-n", ns]);
            if out.ok() { Err(out.describe()) } else { Ok(()) }
        });
    }
}

fn make_e2e_denies_every_bad_document_on_its_own(env: &mut Env) {
    env.guard();
    let kubectl = format!(
        "kubectl --kubeconfig={} --request-timeout=20s",
        env.cp.admin_kubeconfig.display()
    );
    let out = run(
        Command::new("make")
            .arg("e2e")
            .arg(format!("KUBECTL={kubectl}"))
            .current_dir(&env.repo),
        None,
        Duration::from_secs(240),
    );
    assert!(out.ok(), "make e2e: {}", out.describe());
    let text = out.text();
    let bad: usize = bad_example_dirs(env)
        .into_iter()
        .flat_map(|d| std::fs::read_dir(env.example(d)).unwrap())
        .map(|e| e.unwrap().path())
        .map(|p| yaml_docs(&std::fs::read_to_string(p).unwrap()).len())
        .sum();
    assert!(
        text.contains(&format!("e2e: every one of {bad} bad documents denied")),
        "{text}"
    );
    assert!(
        text.contains("owner-registered.yaml Database template1-db: refused by CloudNativePG's CRD"),
        "{text}"
    );
    note(&format!("make e2e: {bad} bad documents, each denied on its own"));
}

// ---------------------------------------------------------------------------
// Live facts: roles, Database owners, the bootstrap password.

fn removing_an_owned_role_is_denied(env: &mut Env) {
    env.guard();
    let role0 = env
        .k(&[
            "get",
            CLUSTERS,
            "apps-pg",
            "-n",
            "databases",
            "-o",
            "jsonpath={.spec.managed.roles[0].name}",
        ])
        .expect_ok();
    assert_eq!(role0.stdout.trim(), "vergabe");
    let cluster = env.example("good/apps-pg-cluster.yaml");
    let before = env.resource_version(&cluster);
    for (patch, needle) in [
        (
            r#"[{"op":"remove","path":"/spec/managed/roles/0"}]"#,
            "[role-registered] Cluster databases/apps-pg: spec.managed.roles: role \"vergabe\" still owns the Database(s)",
        ),
        (
            r#"[{"op":"replace","path":"/spec/managed/roles/0/ensure","value":"absent"}]"#,
            "[role-registered] Cluster databases/apps-pg: spec.managed.roles[0].ensure: role \"vergabe\" still owns the Database(s)",
        ),
    ] {
        for dry in [true, false] {
            let mut args = vec![
                "patch",
                CLUSTERS,
                "apps-pg",
                "-n",
                "databases",
                "--type=json",
                "-p",
                patch,
            ];
            if dry {
                args.push("--dry-run=server");
            }
            assert_denied(&env.k(&args), needle, &format!("patch {patch} (dry-run: {dry})"));
        }
    }
    assert_eq!(
        env.resource_version(&cluster),
        before,
        "apps-pg changed although denied"
    );
}

fn database_before_its_role_is_denied_until_the_role_patch(env: &mut Env) {
    env.guard();
    let db = env.example("good/apps-pg-databases.yaml");
    let dbs = path(&db);
    let remove = r#"[{"op":"remove","path":"/spec/managed/roles/0"}]"#;

    // Start from a Cluster without the role: drop its Database, then the role.
    env.k(&["delete", DATABASES, "vergabe-db", "-n", "databases", "--wait=false"])
        .expect_ok();
    wait_until(
        "the guard to see that no Database owns vergabe",
        Duration::from_secs(10),
        || {
            let out = env.k(&[
                "patch",
                CLUSTERS,
                "apps-pg",
                "-n",
                "databases",
                "--type=json",
                "-p",
                remove,
                "--dry-run=server",
            ]);
            if out.ok() { Ok(()) } else { Err(out.describe()) }
        },
    );
    env.k(&[
        "patch",
        CLUSTERS,
        "apps-pg",
        "-n",
        "databases",
        "--type=json",
        "-p",
        remove,
    ])
    .expect_ok();

    let needle = "[owner-registered] Database databases/vergabe-db: spec.owner:";
    let out = wait_until("the guard to see the role gone", Duration::from_secs(10), || {
        let out = env.k(&["apply", "--dry-run=server", "-f", &dbs]);
        if out.text().contains(GUARD_DENIAL) {
            Ok(out)
        } else {
            Err(out.describe())
        }
    });
    for (how, out) in [
        ("apply --dry-run=server", out),
        (
            "apply --server-side",
            env.k(&["apply", "--server-side", "--force-conflicts", "-f", &dbs]),
        ),
    ] {
        assert_denied(&out, needle, how);
        assert!(
            out.text().contains("provision the role first"),
            "{how}: {}",
            out.describe()
        );
    }
    assert_eq!(
        env.resource_version(&db),
        None,
        "the Database was created although denied"
    );

    // The role patch, as `cnpg-guard onboard` step 2 writes it.
    let role = env.example_docs("good/apps-pg-cluster.yaml")[0]["spec"]["managed"]["roles"][0].clone();
    assert_eq!(role["name"], "vergabe");
    let patch = json!([{"op": "add", "path": "/spec/managed/roles", "value": [role]}]).to_string();
    assert_admitted(
        &env.k(&[
            "patch",
            CLUSTERS,
            "apps-pg",
            "-n",
            "databases",
            "--type=json",
            "-p",
            &patch,
        ]),
        "the role patch",
    );
    wait_until(
        "the Database to be admitted after the role patch",
        Duration::from_secs(10),
        || {
            let out = env.k(&["apply", "--dry-run=server", "-f", &dbs]);
            if out.ok() { Ok(()) } else { Err(out.describe()) }
        },
    );
    assert_admitted(
        &env.k(&["apply", "--server-side", "--force-conflicts", "-f", &dbs]),
        "the Database after the role patch",
    );
    env.k(&["get", "-f", &dbs]).expect_ok();
}

fn secret_with_the_live_bootstrap_password_is_denied_under_any_key_and_in_a_uri(env: &mut Env) {
    env.guard();
    // A fresh live password, written as an operator would rotate it.
    let pw = random_token();
    let patch = env.write_json("bootstrap-password-patch", &json!({"stringData": {"password": pw}}));
    env.k(&[
        "patch",
        "secret",
        "apps-pg-credentials",
        "-n",
        "databases",
        "--type=merge",
        "--patch-file",
        &path(&patch),
    ])
    .expect_ok();
    env.bootstrap_password = Some(pw.clone());

    let secret = |name: &str, body: Value| {
        let mut s = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": "vergabe-teilnahme"},
        });
        for (k, v) in body.as_object().unwrap() {
            s[k] = v.clone();
        }
        env.write_json(&format!("secret-{name}"), &s)
    };
    let cases = [
        (
            "under another key",
            "copied-password",
            json!({"stringData": {"token": pw}}),
            "data.token",
        ),
        (
            "base64 under another key",
            "copied-password-b64",
            json!({"data": {"pw": b64(pw.as_bytes())}}),
            "data.pw",
        ),
        (
            "inside a URI of the consumer's role",
            "copied-password-uri",
            json!({"stringData": {"DATABASE_URL":
                format!("postgresql://vergabe:{pw}@apps-pg-rw.databases.svc:5432/vergabe_db")}}),
            "data.DATABASE_URL",
        ),
    ];
    let check = |out: &Out, needle: &str, what: &str| {
        let safe = Out {
            stdout: redact(&out.stdout, &pw),
            stderr: redact(&out.stderr, &pw),
            ..out.clone()
        };
        assert!(!out.text().contains(&pw), "{what}: the password was echoed");
        assert_denied(&safe, needle, what);
        assert!(
            safe.text().contains("holds the bootstrap password"),
            "{what}: {}",
            safe.describe()
        );
    };
    // The guard's watch of the bootstrap Secret picks up the new password.
    let first = secret(cases[0].1, cases[0].2.clone());
    wait_until("the guard to know the new password", Duration::from_secs(10), || {
        let out = env.k(&["apply", "--dry-run=server", "-f", &path(&first)]);
        if out.text().contains(GUARD_DENIAL) {
            Ok(())
        } else {
            Err(redact(&out.describe(), &pw))
        }
    });
    for (what, name, body, field) in &cases {
        let p = secret(name, body.clone());
        let needle = format!("[bootstrap-secret-confined] Secret vergabe-teilnahme/{name}: {field}:");
        check(&env.k(&["apply", "--dry-run=server", "-f", &path(&p)]), &needle, what);
        check(
            &env.k(&["apply", "--server-side", "-f", &path(&p)]),
            &needle,
            &format!("{what}, server-side apply"),
        );
        assert_eq!(env.resource_version(&p), None, "{what}: created although denied");
    }
    // The same shapes with another password are the consumer's own business.
    let own = secret(
        "own-password-uri",
        json!({"stringData": {"token": "not-the-bootstrap-one",
            "DATABASE_URL": "postgresql://vergabe:not-the-bootstrap-one@apps-pg-rw.databases.svc:5432/vergabe_db"}}),
    );
    assert_admitted(
        &env.k(&["apply", "--dry-run=server", "-f", &path(&own)]),
        "a Secret with another password",
    );
}

// ---------------------------------------------------------------------------
// Collection deletes: one review per object, no request.name.

fn collection_delete(env: &Env, url: &str, get: &[&str], needle: &str, restore: Option<&str>) {
    env.guard();
    env.k(get).expect_ok();
    let out = env.k(&["delete", "--raw", url]);
    let still_there = env.k(get).ok();
    if !still_there && let Some(example) = restore {
        // Put it back, so the tests after this one start from the seed.
        env.k(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &path(&env.example(example)),
        ])
        .expect_ok();
    }
    assert!(still_there, "DELETE {url} deleted the object: {}", out.describe());
    assert_denied(&out, needle, &format!("DELETE {url}"));
}

fn collection_delete_of_default_deny_is_denied(env: &mut Env) {
    collection_delete(
        env,
        "/apis/networking.k8s.io/v1/namespaces/databases/networkpolicies?fieldSelector=metadata.name%3Ddefault-deny-all",
        &["get", "networkpolicy", "default-deny-all", "-n", "databases"],
        "[network-posture] NetworkPolicy databases/default-deny-all:",
        Some("good/apps-pg-networkpolicies.yaml"),
    );
}

fn collection_delete_of_a_baseline_policy_is_denied(env: &mut Env) {
    collection_delete(
        env,
        "/apis/networking.k8s.io/v1/namespaces/databases/networkpolicies?fieldSelector=metadata.name%3Dallow-ingress-from-cnpg-operator-apps-pg",
        &[
            "get",
            "networkpolicy",
            "allow-ingress-from-cnpg-operator-apps-pg",
            "-n",
            "databases",
        ],
        "[network-posture] NetworkPolicy databases/allow-ingress-from-cnpg-operator-apps-pg:",
        Some("good/apps-pg-networkpolicies.yaml"),
    );
}

fn collection_delete_of_the_shared_cluster_is_denied(env: &mut Env) {
    // dryRun=All: were it admitted, nothing is lost.
    collection_delete(
        env,
        "/apis/postgresql.cnpg.io/v1/namespaces/databases/clusters?fieldSelector=metadata.name%3Dapps-pg&dryRun=All",
        &["get", CLUSTERS, "apps-pg", "-n", "databases"],
        "[cluster-identity] Cluster databases/apps-pg:",
        None,
    );
}

fn collection_delete_of_the_shared_namespace_is_denied(env: &mut Env) {
    let url = "/api/v1/namespaces?fieldSelector=metadata.name%3Ddatabases&dryRun=All";
    let get = ["get", "namespace", "databases"];
    // kube-apiserver may not serve deletecollection for namespaces at all.
    let discovery = env.k(&["get", "--raw", "/api/v1"]).expect_ok();
    let resources: Value = serde_json::from_str(&discovery.stdout).unwrap();
    let verbs = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "namespaces")
        .map(|r| r["verbs"].clone())
        .unwrap_or_default();
    if verbs
        .as_array()
        .is_some_and(|v| v.iter().any(|v| v == "deletecollection"))
    {
        collection_delete(env, url, &get, "[cluster-identity] Namespace databases:", None);
    } else {
        env.guard();
        let out = env.k(&["delete", "--raw", url]);
        assert!(
            env.k(&get).ok(),
            "DELETE {url} deleted the namespace: {}",
            out.describe()
        );
        assert!(
            !out.ok() && (out.text().contains("MethodNotAllowed") || out.text().contains("not allowed")),
            "expected the API server to refuse the collection delete: {}",
            out.describe()
        );
        note(&format!(
            "kube-apiserver serves no deletecollection for namespaces (verbs {verbs}); it refuses the call itself: {}",
            out.text().trim()
        ));
    }
}

fn collection_delete_of_a_database_that_drops_its_data_is_denied_until_break_glass(env: &mut Env) {
    env.guard();
    let get = ["get", DATABASES, "vergabe-db", "-n", "databases"];
    env.k(&get).expect_ok();
    // Setting reclaim policy delete is allowed with a warning (data-retained).
    let set = env.k(&[
        "patch",
        DATABASES,
        "vergabe-db",
        "-n",
        "databases",
        "--type=merge",
        "-p",
        r#"{"spec":{"databaseReclaimPolicy":"delete"}}"#,
    ]);
    assert_admitted(&set, "set databaseReclaimPolicy: delete");
    assert!(
        set.text().contains("[data-retained] with policy delete"),
        "expected the data-retained warning: {}",
        set.describe()
    );
    let url = "/apis/postgresql.cnpg.io/v1/namespaces/databases/databases?fieldSelector=metadata.name%3Dvergabe-db";
    let out = env.k(&["delete", "--raw", url]);
    let still_there = env.k(&get).ok();
    assert!(still_there, "DELETE {url} deleted the Database: {}", out.describe());
    assert_denied(
        &out,
        "[data-retained] Database databases/vergabe-db: spec.databaseReclaimPolicy: the policy is delete",
        &format!("DELETE {url}"),
    );

    // Break-glass: alice of the break-glass group annotates it and deletes
    // (dry run): allowed, warned, and recorded with the reason.
    let alice = &env.cp.alice;
    let annotate = env.cp.kubectl_as(
        alice,
        &[
            "annotate",
            DATABASES,
            "vergabe-db",
            "-n",
            "databases",
            "cnpg-guard.railiance.io/break-glass=OPS-7 offboarding rehearsal",
        ],
    );
    assert_admitted(&annotate, "alice annotates vergabe-db for break-glass");
    let delete = env.cp.kubectl_as(
        alice,
        &["delete", DATABASES, "vergabe-db", "-n", "databases", "--dry-run=server"],
    );
    assert_admitted(&delete, "alice deletes vergabe-db under break-glass (dry run)");
    assert!(
        delete.text().contains("[data-retained] (break-glass)"),
        "expected the break-glass warning: {}",
        delete.describe()
    );
    let logs = env.guard().decisions();
    assert!(
        logs.lines().any(|l| l.contains("\"decision\":\"break-glass\"")
            && l.contains("OPS-7 offboarding rehearsal")
            && l.contains("data-retained")),
        "no break-glass decision record for vergabe-db"
    );
    // Back to the seed.
    env.k(&[
        "annotate",
        DATABASES,
        "vergabe-db",
        "-n",
        "databases",
        "cnpg-guard.railiance.io/break-glass-",
    ])
    .expect_ok();
    env.k(&[
        "patch",
        DATABASES,
        "vergabe-db",
        "-n",
        "databases",
        "--type=merge",
        "-p",
        r#"{"spec":{"databaseReclaimPolicy":"retain"}}"#,
    ])
    .expect_ok();
}

/// Services outside the shared namespaces never reach the guard (the
/// second webhook entry selects only them); inside, an exposing one is denied.
fn services_are_judged_only_in_the_shared_namespace(env: &mut Env) {
    env.guard();
    let service = |ns: &str| {
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "pg-public", "namespace": ns},
            "spec": {"type": "NodePort", "selector": {"cnpg.io/cluster": "apps-pg"}, "ports": [{"port": 5432}]}})
    };
    let inside = env.write_json("service-databases", &service("databases"));
    assert_denied(
        &env.k(&["apply", "--dry-run=server", "-f", &path(&inside)]),
        "[network-posture] Service databases/pg-public: spec.type: a NodePort Service",
        "a NodePort Service in databases",
    );
    let before = env.guard().decisions().lines().count();
    let outside = env.write_json("service-default", &service("default"));
    assert_admitted(
        &env.k(&["apply", "--dry-run=server", "-f", &path(&outside)]),
        "a NodePort Service in default",
    );
    std::thread::sleep(Duration::from_millis(300));
    let after: Vec<String> = env
        .guard()
        .decisions()
        .lines()
        .skip(before)
        .map(str::to_owned)
        .collect();
    assert!(
        !after
            .iter()
            .any(|l| l.contains("\"kind\":\"Service\"") && l.contains("\"namespace\":\"default\"")),
        "a Service outside the shared namespace reached the guard: {after:?}"
    );
}

// ---------------------------------------------------------------------------
// The self-protecting ValidatingAdmissionPolicy.

fn policy_denial(out: &Out, what: &str) {
    let t = out.text();
    assert!(
        !out.ok()
            && t.to_lowercase()
                .contains(&format!("validatingadmissionpolicy '{SELF_PROTECTION}'"))
            && t.contains("denied request"),
        "{what}: expected a denial by {SELF_PROTECTION}; got {}",
        out.describe()
    );
}

fn self_protection_denies_eve_changing_or_deleting_the_guard(env: &mut Env) {
    env.guard();
    if !env.rendered().has_self_protection {
        panic!("deploy/ renders no ValidatingAdmissionPolicy {SELF_PROTECTION} (deploy/base/self-protection.yaml)");
    }
    let eve = &env.cp.eve;
    wait_until("the policy to be enforced", Duration::from_secs(30), || {
        let out = env.cp.kubectl_as(
            eve,
            &[
                "label",
                VWC,
                "cnpg-guard",
                "envtest.railiance.io/touched=eve",
                "--dry-run=server",
            ],
        );
        if out.ok() { Err(out.describe()) } else { Ok(()) }
    });
    let failure_policy = r#"[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]"#;
    let collection =
        "/api/v1/namespaces/cnpg-guard/configmaps?fieldSelector=metadata.name%3Dcnpg-guard-contract&dryRun=All";
    for (what, target, args) in [
        (
            "label the webhook configuration",
            "UPDATE of ValidatingWebhookConfiguration cnpg-guard",
            vec!["label", VWC, "cnpg-guard", "envtest.railiance.io/touched=eve"],
        ),
        (
            "set failurePolicy Ignore",
            "UPDATE of ValidatingWebhookConfiguration cnpg-guard",
            vec!["patch", VWC, "cnpg-guard", "--type=json", "-p", failure_policy],
        ),
        (
            "delete the webhook configuration",
            "DELETE of ValidatingWebhookConfiguration cnpg-guard",
            vec!["delete", VWC, "cnpg-guard"],
        ),
        (
            "delete the Deployment",
            "DELETE of Deployment cnpg-guard/cnpg-guard",
            vec![
                "delete",
                "deployment",
                "cnpg-guard",
                "-n",
                "cnpg-guard",
                "--dry-run=server",
            ],
        ),
        (
            "edit the contract ConfigMap",
            "UPDATE of ConfigMap cnpg-guard/cnpg-guard-contract",
            vec![
                "label",
                "configmap",
                "cnpg-guard-contract",
                "-n",
                "cnpg-guard",
                "x=y",
                "--dry-run=server",
            ],
        ),
        (
            "delete the contract ConfigMap with a collection delete",
            "DELETE of ConfigMap cnpg-guard/cnpg-guard-contract",
            vec!["delete", "--raw", collection],
        ),
        (
            "delete the namespace",
            "DELETE of Namespace cnpg-guard",
            vec!["delete", "namespace", "cnpg-guard", "--dry-run=server"],
        ),
    ] {
        let out = env.cp.kubectl_as(eve, &args);
        policy_denial(&out, &format!("eve may not {what}"));
        assert!(
            out.text().contains(&format!("{target} denied"))
                && out.text().contains(crate::control_plane::BREAK_GLASS_GROUP),
            "eve may not {what}: the denial names {target:?} and who may: {}",
            out.describe()
        );
    }
    // The API server's audit log records the refusal.
    wait_until(
        "the refusal in the API server's audit log",
        Duration::from_secs(10),
        || {
            env.cp
                .audit_events()
                .into_iter()
                .find(|e| {
                    e["user"]["username"] == "eve"
                        && e["verb"] == "delete"
                        && e["objectRef"]["resource"] == "validatingwebhookconfigurations"
                        && e["annotations"]["validation.policy.admission.k8s.io/validation_failure"]
                            .as_str()
                            .is_some_and(|v| v.contains(SELF_PROTECTION))
                })
                .ok_or("no such event".to_owned())
        },
    );
    env.k(&["get", VWC, "cnpg-guard"]).expect_ok();
    // RBAC alone would let eve do all of it: she is cluster-admin.
    assert_admitted(
        &env.cp.kubectl_as(
            eve,
            &[
                "create",
                "configmap",
                "eve-was-here",
                "-n",
                "default",
                "--dry-run=server",
            ],
        ),
        "eve writes elsewhere",
    );
}

fn self_protection_admits_alice_of_the_break_glass_group(env: &mut Env) {
    env.guard();
    if !env.rendered().has_self_protection {
        panic!("deploy/ renders no ValidatingAdmissionPolicy {SELF_PROTECTION} (deploy/base/self-protection.yaml)");
    }
    let alice = &env.cp.alice;
    for (what, args) in [
        (
            "label the webhook configuration",
            vec!["label", VWC, "cnpg-guard", "envtest.railiance.io/touched=alice"],
        ),
        (
            "remove that label again",
            vec!["label", VWC, "cnpg-guard", "envtest.railiance.io/touched-"],
        ),
        (
            "delete the webhook configuration (dry run)",
            vec!["delete", VWC, "cnpg-guard", "--dry-run=server"],
        ),
        (
            "edit the contract ConfigMap (dry run)",
            vec![
                "label",
                "configmap",
                "cnpg-guard-contract",
                "-n",
                "cnpg-guard",
                "x=y",
                "--dry-run=server",
            ],
        ),
    ] {
        assert_admitted(&env.cp.kubectl_as(alice, &args), &format!("alice may {what}"));
    }
    // ... and the API server's audit log says who, under the policy's key.
    wait_until(
        "alice's change in the API server's audit log",
        Duration::from_secs(10),
        || {
            env.cp
                .audit_events()
                .into_iter()
                .find(|e| {
                    e["user"]["username"] == "alice"
                        && e["objectRef"]["resource"] == "validatingwebhookconfigurations"
                        && e["annotations"][format!("{SELF_PROTECTION}/break-glass")]
                            .as_str()
                            .is_some_and(|v| v.contains("alice UPDATE ValidatingWebhookConfiguration cnpg-guard"))
                })
                .ok_or("no such event".to_owned())
        },
    );
}

// ---------------------------------------------------------------------------
// Audit: what happened while the webhook was off.

fn audit_reports_violations_made_while_the_webhook_was_off(env: &mut Env) {
    env.guard();
    // The emergency path: a break-glass member removes the webhook.
    assert_admitted(
        &env.cp.kubectl_as(&env.cp.alice, &["delete", VWC, "cnpg-guard"]),
        "alice deletes the webhook configuration",
    );
    let (_, random_app) = env.example_doc("bad/client-label-registered.yaml", "random-app");
    wait_until(
        "the API server to stop calling the guard",
        Duration::from_secs(20),
        || {
            let out = env.k(&["apply", "--dry-run=server", "-f", &path(&random_app)]);
            if out.ok() { Ok(()) } else { Err(out.describe()) }
        },
    );
    let (_, leaked) = env.example_doc("bad/bootstrap-secret-confined.yaml", "leaked-username");
    env.k(&["apply", "-f", &path(&random_app)]).expect_ok();
    env.k(&["apply", "-f", &path(&leaked)]).expect_ok();
    env.k(&["delete", "networkpolicy", "default-deny-all", "-n", "databases"])
        .expect_ok();

    let expected = [
        (
            "client-label-registered",
            "Namespace",
            "",
            "random-app",
            "[client-label-registered] Namespace random-app: metadata.labels[railiance.io/postgres-client]:",
        ),
        (
            "bootstrap-secret-confined",
            "Secret",
            "vergabe-teilnahme",
            "leaked-username",
            "[bootstrap-secret-confined] Secret vergabe-teilnahme/leaked-username: data.username:",
        ),
        (
            "network-posture",
            "NetworkPolicy",
            "databases",
            "default-deny-all",
            "[network-posture] NetworkPolicy databases/default-deny-all:",
        ),
    ];

    let text = env.audit("text");
    assert_eq!(
        text.code,
        Some(1),
        "audit exits 1 when something would be denied: {}",
        text.describe()
    );
    for (_, _, _, _, needle) in &expected {
        assert!(
            text.stdout.lines().any(|l| l.starts_with("DENY") && l.contains(needle)),
            "audit --output text has no DENY line with {needle:?}: {}",
            text.describe()
        );
    }
    let denied_lines = text.stdout.lines().filter(|l| l.starts_with("DENY")).count();
    note(&format!("audit --output text: {denied_lines} DENY lines"));

    let json_out = env.audit("json");
    assert_eq!(json_out.code, Some(1), "{}", json_out.describe());
    let findings: Value = serde_json::from_str(&json_out.stdout)
        .unwrap_or_else(|e| panic!("audit --output json is not JSON ({e}): {}", json_out.describe()));
    let findings = findings["findings"].as_array().expect("a findings array");
    for (rule, kind, ns, name, _) in &expected {
        assert!(
            findings.iter().any(|f| f["rule"] == *rule
                && f["kind"] == *kind
                && f["namespace"].as_str().unwrap_or_default() == *ns
                && f["name"] == *name
                && f["disposition"] == "denied"),
            "audit --output json has no denied {rule} finding for {kind} {ns}/{name}: {}",
            json_out.describe()
        );
    }
    // Nothing else: the seed's own objects are clean.
    let mut objects: Vec<String> = findings
        .iter()
        .filter(|f| f["disposition"] == "denied")
        .map(|f| {
            format!(
                "{} {}/{}",
                f["kind"].as_str().unwrap_or(""),
                f["namespace"].as_str().unwrap_or(""),
                f["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    objects.sort();
    objects.dedup();
    let mut want: Vec<String> = expected
        .iter()
        .map(|(_, k, ns, n, _)| format!("{k} {ns}/{n}"))
        .collect();
    want.sort();
    assert_eq!(
        objects, want,
        "exactly the objects written while the webhook was off are denied"
    );
}

fn audit_policyreport_output_applies(env: &mut Env) {
    env.guard();
    let Some(crds) = env.policyreport_crds.clone() else {
        skip("POLICYREPORT_CRDS is not set (the wg-policy PolicyReport CRDs, e.g. ../shared/policyreport-crds)");
    };
    env.install_crds(
        &crds,
        &["policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io"],
    );
    let out = env.audit("policyreport");
    assert_eq!(out.code, Some(1), "{}", out.describe());
    env.k_stdin(&["apply", "-f", "-"], out.stdout.as_bytes()).expect_ok();

    let report = |args: &[&str]| -> Value { serde_json::from_str(&env.k(args).expect_ok().stdout).unwrap() };
    let has = |r: &Value, rule: &str, name: &str| {
        r["results"].as_array().is_some_and(|rs| {
            rs.iter()
                .any(|x| x["rule"] == rule && x["result"] == "fail" && x["resources"][0]["name"] == name)
        })
    };
    let ns = report(&["get", "policyreport", "cnpg-guard", "-n", "databases", "-o", "json"]);
    assert!(
        has(&ns, "network-posture", "default-deny-all"),
        "PolicyReport databases/cnpg-guard: {ns}"
    );
    let cluster = report(&["get", "clusterpolicyreport", "cnpg-guard", "-o", "json"]);
    assert!(
        has(&cluster, "client-label-registered", "random-app"),
        "ClusterPolicyReport cnpg-guard: {cluster}"
    );
    let secrets = report(&[
        "get",
        "policyreport",
        "cnpg-guard",
        "-n",
        "vergabe-teilnahme",
        "-o",
        "json",
    ]);
    assert!(
        has(&secrets, "bootstrap-secret-confined", "leaked-username"),
        "PolicyReport vergabe-teilnahme/cnpg-guard: {secrets}"
    );
}

fn webhook_configuration_is_recreated_and_enforces_again(env: &mut Env) {
    env.guard();
    // Undo what the audit test did while the webhook was off.
    env.k(&[
        "delete",
        "secret",
        "leaked-username",
        "-n",
        "vergabe-teilnahme",
        "--ignore-not-found",
    ])
    .expect_ok();
    env.k(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        &path(&env.example("good/apps-pg-networkpolicies.yaml")),
    ])
    .expect_ok();
    // CREATE is not matched by the self-protection policy: the admin puts it back.
    let webhook = env.rendered().webhook.clone();
    if !env.k(&["get", VWC, "cnpg-guard"]).ok() {
        env.k(&["create", "-f", &path(&webhook)]).expect_ok();
    }
    let (_, other) = env.example_doc("bad/client-label-registered.yaml", "vergabe-teilnahme-2");
    wait_until(
        "the API server to call the guard again",
        Duration::from_secs(20),
        || {
            let out = env.k(&["apply", "--dry-run=server", "-f", &path(&other)]);
            if out.text().contains(GUARD_DENIAL) {
                Ok(())
            } else {
                Err(out.describe())
            }
        },
    );
    // Opting out of the client label is always allowed (random-app cannot be
    // deleted for good here: no namespace controller runs).
    if env.k(&["get", "namespace", "random-app"]).ok() {
        assert_admitted(
            &env.k(&["label", "namespace", "random-app", "railiance.io/postgres-client-"]),
            "removing the client label",
        );
    }
}

// ---------------------------------------------------------------------------
// The guard when the API server goes away and comes back.

/// Seconds since midnight (UTC) of an RFC 3339 timestamp like the guard logs.
fn secs_of_day(ts: &str) -> Option<f64> {
    let (_, t) = ts.split_once('T')?;
    let mut parts = t.trim_end_matches('Z').split(':');
    let (h, m, s): (f64, f64, f64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    Some(h * 3600.0 + m * 60.0 + s)
}

/// Timestamps (seconds of day) of the guard's "watch recovered" log lines.
fn recovered_at(logs: &str) -> Vec<f64> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "watch recovered")
        .filter_map(|l| secs_of_day(l["timestamp"].as_str()?))
        .collect()
}

fn watches_resync_after_an_api_server_restart(env: &mut Env) {
    env.guard();
    let watches = env.guard().watch_synced().len();
    assert!(watches >= 3, "watches: {:?}", env.guard().watch_synced());
    let recovered_before = recovered_at(&env.guard().logs()).len();

    let stopping = std::time::Instant::now();
    env.cp.stop_apiserver();
    note(&format!(
        "kube-apiserver stopped (SIGTERM) in {:.1} s",
        stopping.elapsed().as_secs_f64()
    ));
    wait_until("the guard to notice the outage", Duration::from_secs(30), || {
        let w = env.guard().watch_synced();
        if w.iter().all(|(_, v)| *v == 0.0) {
            Ok(())
        } else {
            Err(format!("{w:?}"))
        }
    });
    let ready = env.cp.start_apiserver();
    let ready_wall = std::time::SystemTime::now() - ready.elapsed();
    let ready_of_day = ready_wall.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() % 86400.0;

    // Every watch re-listed (the guard logs each recovery with its time) ...
    let recovered = wait_until("every watch to recover", Duration::from_secs(30), || {
        let all = recovered_at(&env.guard().logs());
        let new = &all[recovered_before.min(all.len())..];
        if new.len() >= watches {
            Ok(new.iter().cloned().fold(f64::MIN, f64::max) - ready_of_day)
        } else {
            Err(format!("{} of {watches} recovered", new.len()))
        }
    });
    // ... the exported gauges say so ...
    let metrics = wait_until("cnpg_guard_watch_synced all 1", Duration::from_secs(30), || {
        let w = watch_synced(&env.guard().metrics());
        if w.iter().all(|(_, v)| *v == 1.0) {
            Ok(ready.elapsed())
        } else {
            Err(format!("{w:?}"))
        }
    });
    // ... and a decision that needs live facts works on fresh ones: no
    // "facts N s old" warning, the owner is known to be provisioned, and the
    // live Database CR is known to be this one (a dry-run update of it).
    let db = json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Database",
        "metadata": {"name": "vergabe-db", "namespace": "databases"},
        "spec": {"name": "vergabe_db", "owner": "vergabe", "cluster": {"name": "apps-pg"}},
    });
    let db = env.write_json("database-after-restart", &db);
    let decision = wait_until(
        "a fact-dependent decision on fresh facts",
        Duration::from_secs(30),
        || {
            let out = env.k(&["apply", "--dry-run=server", "-f", &path(&db)]);
            if out.ok() && !out.text().contains(" s old") {
                Ok(ready.elapsed())
            } else {
                Err(out.describe())
            }
        },
    );
    if let Some(pw) = &env.bootstrap_password {
        let copy = env.write_json(
            "secret-after-restart",
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "copied-after-restart", "namespace": "vergabe-teilnahme"},
                "stringData": {"token": pw}}),
        );
        let out = env.k(&["apply", "--dry-run=server", "-f", &path(&copy)]);
        assert!(!out.text().contains(pw.as_str()));
        assert_denied(
            &out,
            "[bootstrap-secret-confined] Secret vergabe-teilnahme/copied-after-restart: data.token:",
            "the live password after the restart",
        );
    }
    println!(
        "    measured: the last watch re-synced {recovered:+.2} s from kube-apiserver's /readyz (guard log; negative: before /readyz \
         answered ok); gauges all 1 after {:.2} s; first fact-dependent decision on fresh facts after {:.2} s (target 5 s, limit 10 s)",
        metrics.as_secs_f64(),
        decision.as_secs_f64()
    );
    assert!(
        recovered <= 10.0 && decision <= Duration::from_secs(10),
        "re-sync took {recovered:.2} s, a fresh decision {decision:?}, after the API server was ready (limit 10 s)"
    );
}

/// CloudNativePG 1.30's DatabaseRole (run where its CRD is installed): a
/// consumer the platform registers onboards with its role as a DatabaseRole
/// (`onboard --role-managed-by databaserole`), every step admitted by the
/// webhook on the live cluster; a DatabaseRole that elevates the role or
/// manages a role the Cluster manages is denied; deleting one whose reclaim
/// policy is delete while its role owns a Database is denied, then allowed,
/// warned and recorded under break-glass. Runs last: it restarts the guard
/// with a contract that registers the consumer.
fn database_role_onboarding_and_break_glass_on_cloudnative_pg_1_30(env: &mut Env) {
    const ROLES: &str = "databaseroles.postgresql.cnpg.io";
    if !env.k(&["get", "crd", ROLES]).ok() {
        note("skipped: these CRDs have no DatabaseRole (CloudNativePG before 1.30)");
        return;
    }
    // The platform registers shop (step 1 of onboarding): the guard runs
    // with that contract.
    let contract = restart_guard_with_consumers(
        env,
        "contract-with-shop",
        "      - namespace: shop-frontend\n        role: shop\n        databases: [shop_db]\n        subjects: {serviceAccounts: [shop-frontend:flux]}\n",
    );
    // The guard watches DatabaseRoles where they are served (the gauges are
    // exported once a second).
    wait_until("the DatabaseRole watch synced", Duration::from_secs(10), || {
        let w = env.guard().watch_synced();
        if w.iter()
            .any(|(w, v)| w.contains("databaseroles/databases") && *v == 1.0)
        {
            Ok(())
        } else {
            Err(format!("{w:?}"))
        }
    });

    // Onboarding with the role as a DatabaseRole, against the live Cluster.
    let live = env
        .k(&["get", CLUSTERS, "apps-pg", "-n", "databases", "-o", "yaml"])
        .expect_ok();
    let out_dir = env.dir.join("objects/onboard-shop-databaserole");
    let onboard = run(
        Command::new(guard_bin())
            .args(["onboard", "--contract"])
            .arg(&contract)
            .args(["--cluster", "apps-pg", "--namespace", "shop-frontend", "--role", "shop"])
            .args([
                "--database",
                "shop_db",
                "--role-managed-by",
                "databaserole",
                "--service-account",
                "flux",
                "--cluster-object",
                "-",
            ])
            .arg("--out")
            .arg(&out_dir),
        Some(live.stdout.as_bytes()),
        Duration::from_secs(30),
    );
    assert!(onboard.ok(), "onboard: {}", onboard.describe());
    let step = |file: &str| path(&out_dir.join(file));
    let hba = env.k(&[
        "patch",
        CLUSTERS,
        "apps-pg",
        "-n",
        "databases",
        "--type=json",
        "--patch-file",
        &step("02a-cluster-hba-patch.yaml"),
    ]);
    assert_admitted(&hba, "step 2a: shop's pg_hba lines in the shared Cluster");
    // The rest is shop's own, applied by its Flux ServiceAccount (RBAC lets
    // it write anything: only admission keeps it to shop's objects).
    env.k(&[
        "create",
        "clusterrolebinding",
        "envtest-shop-flux",
        "--clusterrole=cluster-admin",
        "--serviceaccount=shop-frontend:flux",
    ])
    .expect_ok();
    const SHOP_FLUX: &str = "--as=system:serviceaccount:shop-frontend:flux";
    for file in [
        "02b-database-role.yaml",
        "03-role-secret.yaml",
        "04-database.yaml",
        "05-namespace.yaml",
        "06-runtime-secret.yaml",
    ] {
        assert_admitted(
            &env.k(&["apply", "-f", &step(file), SHOP_FLUX]),
            &format!("onboarding step {file} by shop's ServiceAccount"),
        );
    }
    // It cannot do the platform's step, nor touch vergabe's objects.
    assert_denied(
        &env.k(&[
            "patch",
            CLUSTERS,
            "apps-pg",
            "-n",
            "databases",
            "--type=json",
            "--patch-file",
            &step("02a-cluster-hba-patch.yaml"),
            "--dry-run=server",
            SHOP_FLUX,
        ]),
        "[tenant-scoped] Cluster databases/apps-pg: metadata.name: a subject of consumer shop-frontend",
        "shop's ServiceAccount patching the shared Cluster",
    );
    env.k(&["delete", "clusterrolebinding", "envtest-shop-flux"])
        .expect_ok();
    env.k(&["get", ROLES, "apps-pg-shop", "-n", "databases"]).expect_ok();
    // The Database owned by shop is admitted because the guard saw the
    // DatabaseRole provide the role (owner-registered).
    env.k(&["get", DATABASES, "shop-db", "-n", "databases"]).expect_ok();

    // What the guard refuses of a DatabaseRole.
    let elevated = env.k(&[
        "patch",
        ROLES,
        "apps-pg-shop",
        "-n",
        "databases",
        "--type=merge",
        "-p",
        r#"{"spec":{"superuser":true}}"#,
        "--dry-run=server",
    ]);
    assert_denied(
        &elevated,
        "[role-registered] DatabaseRole databases/apps-pg-shop: spec.superuser",
        "a superuser DatabaseRole",
    );
    let vergabe = env.write_json(
        "databaserole-vergabe",
        &json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "DatabaseRole",
                "metadata": {"name": "vergabe-takeover", "namespace": "databases"},
                "spec": {"cluster": {"name": "apps-pg"}, "name": "vergabe", "login": true,
                         "passwordSecret": {"name": "apps-pg-role-vergabe"}}}),
    );
    assert_denied(
        &env.k(&["create", "-f", &path(&vergabe), "--dry-run=server"]),
        "is already managed in Cluster databases/apps-pg",
        "a DatabaseRole for a role the Cluster manages",
    );

    // Deleting it with reclaim policy delete while shop owns shop-db.
    let set = env.k(&[
        "patch",
        ROLES,
        "apps-pg-shop",
        "-n",
        "databases",
        "--type=merge",
        "-p",
        r#"{"spec":{"databaseRoleReclaimPolicy":"delete"}}"#,
    ]);
    assert_admitted(&set, "set databaseRoleReclaimPolicy: delete");
    assert!(
        set.text().contains("[data-retained] with policy delete"),
        "expected the data-retained warning: {}",
        set.describe()
    );
    assert_denied(
        &env.k(&["delete", ROLES, "apps-pg-shop", "-n", "databases", "--dry-run=server"]),
        "[data-retained] DatabaseRole databases/apps-pg-shop: spec.databaseRoleReclaimPolicy: the policy is delete",
        "deleting the DatabaseRole of a role that owns a Database",
    );
    let alice = &env.cp.alice;
    let annotate = env.cp.kubectl_as(
        alice,
        &[
            "annotate",
            ROLES,
            "apps-pg-shop",
            "-n",
            "databases",
            "cnpg-guard.railiance.io/break-glass=OPS-9 shop offboarding",
        ],
    );
    assert_admitted(&annotate, "alice annotates the DatabaseRole for break-glass");
    let delete = env
        .cp
        .kubectl_as(alice, &["delete", ROLES, "apps-pg-shop", "-n", "databases"]);
    assert_admitted(&delete, "alice deletes the DatabaseRole under break-glass");
    assert!(
        delete.text().contains("[data-retained] (break-glass)"),
        "expected the break-glass warning: {}",
        delete.describe()
    );
    assert!(
        !env.k(&["get", ROLES, "apps-pg-shop", "-n", "databases"]).ok(),
        "the DatabaseRole is gone"
    );
    let logs = env.guard().decisions();
    assert!(
        logs.lines().any(|l| l.contains("\"decision\":\"break-glass\"")
            && l.contains("OPS-9 shop offboarding")
            && l.contains("DatabaseRole")),
        "no break-glass decision record for the DatabaseRole"
    );
}

/// vergabe's subject in the shipped contract: its Flux ServiceAccount.
const VERGABE_FLUX: &str = "system:serviceaccount:vergabe-teilnahme:flux";

/// tenant-scoped on the real API server, with `kubectl --as`: the guard
/// restarted with a contract that gives shop a subject too (vergabe's is
/// its Flux ServiceAccount);
/// shop's subject is denied on vergabe's Database and on the shared Cluster
/// and admitted on its own Database; the platform (alice) is admitted.
fn tenants_write_only_their_own_objects(env: &mut Env) {
    restart_guard_with_consumers(
        env,
        "contract-with-subjects",
        "      - namespace: shop-frontend\n        role: shop\n        databases: [shop_db]\n        subjects: {users: [shop-bot]}\n",
    );
    // RBAC lets both tenants' identities write anything: only admission
    // tells them apart (as in a shared namespace, where RBAC cannot).
    env.k(&[
        "create",
        "clusterrolebinding",
        "envtest-tenants-cluster-admin",
        "--clusterrole=cluster-admin",
        "--serviceaccount=vergabe-teilnahme:flux",
        "--user=dev-user",
        "--serviceaccount=cnpg-system:cnpg-manager",
        "--serviceaccount=kube-system:generic-garbage-collector",
        "--serviceaccount=kube-system:namespace-controller",
        "--user=shop-bot",
    ])
    .expect_ok();
    let patch_db = |who: &str, name: &str| {
        env.k(&[
            "patch",
            DATABASES,
            name,
            "-n",
            "databases",
            "--type=merge",
            "-p",
            r#"{"spec":{"allowConnections":false,"connectionLimit":0}}"#,
            "--dry-run=server",
            &format!("--as={who}"),
        ])
    };
    assert_denied(
        &patch_db("shop-bot", "vergabe-db"),
        "[tenant-scoped] Database databases/vergabe-db: spec.owner: a subject of consumer shop-frontend may write only its own objects, and this is a Database owned by consumer vergabe-teilnahme's",
        "shop's subject locking vergabe out of its database",
    );
    assert_admitted(
        &patch_db(VERGABE_FLUX, "vergabe-db"),
        "vergabe's subject on its own Database",
    );
    assert_admitted(
        &env.cp.kubectl_as(
            &env.cp.alice,
            &[
                "patch",
                DATABASES,
                "vergabe-db",
                "-n",
                "databases",
                "--type=merge",
                "-p",
                r#"{"spec":{"connectionLimit":10}}"#,
                "--dry-run=server",
            ],
        ),
        "the platform (alice) on vergabe's Database",
    );
    let cluster = env.k(&[
        "annotate",
        CLUSTERS,
        "apps-pg",
        "-n",
        "databases",
        "example.org/touched=yes",
        "--dry-run=server",
        "--as=shop-bot",
    ]);
    assert_denied(
        &cluster,
        "[tenant-scoped] Cluster databases/apps-pg: metadata.name: a subject of consumer shop-frontend may write only its own objects, and this is a Cluster of the shared cluster, the platform's",
        "shop's subject on the shared Cluster",
    );
    // A platform-only Pooler field: shop's subject is refused the Pooler
    // outright (tenant-scoped); someone the contract does not know, that
    // field (platform-only), but not pgbouncer's pool mode.
    let pooler = |who: &str, pgbouncer: &str| {
        env.k(&[
            "patch",
            "poolers.postgresql.cnpg.io",
            "apps-pg-pooler-rw",
            "-n",
            "databases",
            "--type=merge",
            "-p",
            &format!(r#"{{"spec":{{"pgbouncer":{pgbouncer}}}}}"#),
            "--dry-run=server",
            &format!("--as={who}"),
        ])
    };
    const AUTH_QUERY: &str = r#"{"authQuery":"SELECT usename, passwd FROM pg_shadow WHERE usename=$1"}"#;
    assert_denied(
        &pooler("shop-bot", AUTH_QUERY),
        "[tenant-scoped] Pooler databases/apps-pg-pooler-rw: metadata.name: a subject of consumer shop-frontend",
        "shop's subject on a platform-only Pooler field",
    );
    assert_denied(
        &pooler("dev-user", AUTH_QUERY),
        "[platform-only] Pooler databases/apps-pg-pooler-rw: spec.pgbouncer.authQuery: \"dev-user\", neither the platform nor a consumer's subject",
        "an unknown requester on a platform-only Pooler field",
    );
    assert_admitted(
        &pooler("dev-user", r#"{"poolMode":"transaction"}"#),
        "an unknown requester on a harmless Pooler field",
    );
    assert_admitted(
        &env.cp.kubectl_as(
            &env.cp.alice,
            &[
                "patch",
                "poolers.postgresql.cnpg.io",
                "apps-pg-pooler-rw",
                "-n",
                "databases",
                "--type=merge",
                "-p",
                &format!(r#"{{"spec":{{"pgbouncer":{AUTH_QUERY}}}}}"#),
                "--dry-run=server",
            ],
        ),
        "the platform (alice) on a platform-only Pooler field",
    );
    // The shared Cluster's storage is the platform's; an unknown requester
    // writes no consumer's Database.
    assert_denied(
        &env.k(&[
            "patch",
            CLUSTERS,
            "apps-pg",
            "-n",
            "databases",
            "--type=merge",
            "-p",
            r#"{"spec":{"storage":{"size":"2Gi"}}}"#,
            "--dry-run=server",
            "--as=dev-user",
        ]),
        "[platform-only] Cluster databases/apps-pg: spec.storage",
        "an unknown requester resizing the shared cluster",
    );
    assert_denied(
        &patch_db("dev-user", "vergabe-db"),
        "[tenant-scoped] Database databases/vergabe-db: spec.owner: \"dev-user\" is neither the platform nor a consumer's subject",
        "an unknown requester locking vergabe out of its database",
    );
    the_clusters_controllers_are_never_locked_out(env);
    // The decision record names who asked.
    let logs = env.guard().decisions();
    assert!(
        logs.lines()
            .any(|l| l.contains("\"identity\":\"consumer: shop-frontend\"") && l.contains("tenant-scoped")),
        "no decision record naming consumer shop-frontend"
    );
    assert!(
        logs.lines()
            .any(|l| l.contains("\"identity\":\"unknown\"") && l.contains("platform-only")),
        "no decision record naming an unknown requester"
    );
    env.k(&["delete", "clusterrolebinding", "envtest-tenants-cluster-admin"])
        .expect_ok();
}

/// The CNPG operator makes Backups from a ScheduledBackup; Kubernetes'
/// garbage collector and namespace controller delete what an owner or a
/// namespace took with it: none of them is the platform or a consumer, and
/// none is locked out (each write a dry run; someone the contract does not
/// know is refused the same writes).
fn the_clusters_controllers_are_never_locked_out(env: &mut Env) {
    const OPERATOR: &str = "system:serviceaccount:cnpg-system:cnpg-manager";
    const GARBAGE_COLLECTOR: &str = "system:serviceaccount:kube-system:generic-garbage-collector";
    const NAMESPACE_CONTROLLER: &str = "system:serviceaccount:kube-system:namespace-controller";
    let backup = env.write_json(
        "operator-backup",
        &serde_json::json!({
            "apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
            "metadata": {"name": "apps-pg-nightly-20261207020000", "namespace": "databases"},
            "spec": {"cluster": {"name": "apps-pg"}, "method": "plugin",
                     "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}}
        }),
    );
    let create_backup = |who: &str| {
        env.k(&[
            "create",
            "-f",
            &path(&backup),
            "--dry-run=server",
            &format!("--as={who}"),
        ])
    };
    assert_admitted(
        &create_backup(OPERATOR),
        "the CNPG operator's Backup from a ScheduledBackup",
    );
    assert_denied(
        &create_backup("dev-user"),
        "[platform-only] Backup databases/apps-pg-nightly-20261207020000: metadata.name",
        "an unknown requester's Backup",
    );
    // A NetworkPolicy of the shared namespace that protects nothing (it
    // selects no pod of the cluster), as an owner's garbage.
    let policy = env.write_json(
        "ownerless-policy",
        &serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "envtest-garbage", "namespace": "databases"},
            "spec": {"podSelector": {"matchLabels": {"cnpg.io/cluster": "another"}}, "policyTypes": ["Ingress"]}
        }),
    );
    assert_admitted(&env.k(&["apply", "-f", &path(&policy)]), "the platform's NetworkPolicy");
    let delete_policy = |who: &str| {
        env.k(&[
            "delete",
            "networkpolicy",
            "envtest-garbage",
            "-n",
            "databases",
            "--dry-run=server",
            &format!("--as={who}"),
        ])
    };
    assert_admitted(
        &delete_policy(GARBAGE_COLLECTOR),
        "the garbage collector deleting a NetworkPolicy",
    );
    assert_denied(
        &delete_policy("dev-user"),
        "[platform-only] NetworkPolicy databases/envtest-garbage: metadata.name",
        "an unknown requester deleting a NetworkPolicy of the shared namespace",
    );
    let delete_db = |who: &str| {
        env.k(&[
            "delete",
            DATABASES,
            "vergabe-db",
            "-n",
            "databases",
            "--dry-run=server",
            &format!("--as={who}"),
        ])
    };
    assert_admitted(
        &delete_db(NAMESPACE_CONTROLLER),
        "the namespace controller deleting a Database",
    );
    assert_denied(
        &delete_db("dev-user"),
        "[tenant-scoped] Database databases/vergabe-db: spec.owner",
        "an unknown requester deleting vergabe's Database",
    );
    env.k(&["delete", "-f", &path(&policy)]).expect_ok();
}

/// Restarts the guard (same ports, same ServiceAccount token) with the
/// shipped contract and `consumers` (YAML list items) after vergabe's
/// entry; returns the contract's path.
fn restart_guard_with_consumers(env: &mut Env, name: &str, consumers: &str) -> std::path::PathBuf {
    let base = std::fs::read_to_string(env.repo.join("deploy/base/contract.yaml")).unwrap();
    let anchor = "        databases: [vergabe_db]\n";
    let contract_text = base.replacen(anchor, &format!("{anchor}{consumers}"), 1);
    assert_ne!(contract_text, base, "the contract's consumers list moved");
    let contract = env.dir.join(format!("objects/{name}.yaml"));
    std::fs::write(&contract, contract_text).unwrap();
    env.guard = None;
    env.guard = Some(Guard::start(
        &env.dir,
        &env.dir.join("guard.kubeconfig"),
        &env.serving.cert,
        &env.serving.key,
        (env.guard_port, env.guard_admin),
        Some(&contract),
    ));
    contract
}
