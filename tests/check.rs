//! `cnpg-guard check` as CI runs it: the real binary over the shipped
//! examples, stdin, every output format and exit code.

mod support;

use std::process::Output;

use serde_json::Value;
use support::cli::{guard, stderr, stdout};
use support::wrapped_base64;

/// `check` against the repository's contract (deploy/base/contract.yaml).
fn check_repo(args: &[&str], stdin: Option<&str>) -> Output {
    guard(
        &[&["check", "--contract", "deploy/base/contract.yaml"], args].concat(),
        stdin,
    )
}

const CANARY: &str = "CANARY-s3cr3t-7f1d9c";

#[test]
fn the_seeds_own_manifests_pass() {
    let out = guard(&["check", "deploy/examples/good"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains(" 0 denied"), "{}", stdout(&out));
}

/// The bad examples that need CloudNativePG 1.30's CRDs: every document is
/// denied by the rule its file is named after.
#[test]
fn the_bad_examples_of_cloudnative_pg_1_30_are_denied_by_their_rules() {
    let out = guard(&["check", "--output", "json", "deploy/examples/bad-1.30"], None);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let items = report["findings"].as_array().expect("findings");
    for file in std::fs::read_dir(support::root().join("deploy/examples/bad-1.30")).unwrap() {
        let path = file.unwrap().path();
        let rule = path.file_stem().unwrap().to_string_lossy().into_owned();
        let rel = format!(
            "deploy/examples/bad-1.30/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let docs = support::yaml_docs(&std::fs::read_to_string(&path).unwrap());
        for doc in docs {
            let name = doc["metadata"]["name"].as_str().unwrap();
            assert!(
                items.iter().any(|i| i["file"] == rel.as_str()
                    && i["name"] == name
                    && i["rule"] == rule.as_str()
                    && i["disposition"] == "denied"),
                "{rel} {name}: not denied by {rule}"
            );
        }
    }
}

#[test]
fn the_bad_examples_break_every_rule() {
    let out = guard(&["check", "--output", "json", "deploy/examples/bad"], None);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let items = report["findings"].as_array().expect("findings");
    for rule in [
        "cluster-identity",
        "role-registered",
        "owner-registered",
        "bootstrap-secret-confined",
        "client-label-registered",
        "network-posture",
        "tenant-isolated",
        "auth-posture",
        "backup-confined",
        "data-retained",
        "image-allowed",
    ] {
        assert!(
            items.iter().any(|i| i["rule"] == rule && i["disposition"] == "denied"),
            "no denial of {rule}"
        );
    }
    for item in items {
        for key in [
            "file",
            "line",
            "apiVersion",
            "kind",
            "namespace",
            "name",
            "rule",
            "mode",
            "field",
            "message",
        ] {
            assert!(item.get(key).is_some(), "{key} missing in {item}");
        }
        let msg = item["message"].as_str().unwrap();
        assert!(
            msg.starts_with(&format!("[{}] ", item["rule"].as_str().unwrap())),
            "{msg}"
        );
        assert!(msg.contains(". Fix: "), "{msg}");
    }
    let pooler = items
        .iter()
        .find(|i| i["kind"] == "Pooler" && i["rule"] == "cluster-identity")
        .expect("pooler finding");
    assert_eq!(pooler["field"], "metadata.namespace");
    assert_eq!(pooler["apiVersion"], "postgresql.cnpg.io/v1");
}

#[test]
fn stdin_multi_document_and_skips() {
    let input = "\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {railiance.io/postgres-client: apps-pg}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-covered}
---
just: a value
---
";
    let out = guard(&["check", "-"], Some(input));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(
            "DENY <stdin>:1: [client-label-registered] Namespace shop: metadata.labels[railiance.io/postgres-client]"
        ),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("1 objects, 1 denied, 0 warned, 2 skipped"),
        "{text}"
    );
}

#[test]
fn warn_mode_prints_but_passes() {
    let dir = tempfile::tempdir().unwrap();
    let contract = dir.path().join("contract.yaml");
    let src = cnpg_guard::contract::EMBEDDED_CONTRACT.replace("rules: {}", "rules: {client-label-registered: warn}");
    std::fs::write(&contract, src).unwrap();
    let input =
        "{apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {railiance.io/postgres-client: apps-pg}}}";
    let out = guard(&["check", "--contract", contract.to_str().unwrap(), "-"], Some(input));
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("WARN <stdin>:1: [client-label-registered]"));
}

#[test]
fn github_annotations() {
    let out = guard(
        &[
            "check",
            "-o",
            "github",
            "deploy/examples/bad/client-label-registered.yaml",
        ],
        None,
    );
    let text = stdout(&out);
    assert!(
        text.contains("::error file=deploy/examples/bad/client-label-registered.yaml,line=3,title=cnpg-guard client-label-registered::[client-label-registered]"),
        "{text}"
    );
}

/// GitHub annotations of stdin input name no file (there is none in the
/// repository to annotate): the message says where in stdin.
#[test]
fn github_annotations_on_stdin_say_so() {
    let input =
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {railiance.io/postgres-client: apps-pg}}\n";
    let out = check_repo(&["--output", "github", "-"], Some(input));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(!text.contains("file="), "{text}");
    assert!(
        text.contains(
            "::error title=cnpg-guard client-label-registered::<stdin>:1: [client-label-registered] Namespace shop"
        ),
        "{text}"
    );
}

#[test]
fn unreadable_input_and_contract_exit_2() {
    let out = guard(&["check", "-"], Some("a: [unclosed"));
    assert_eq!(out.status.code(), Some(2));
    let out = guard(&["check", "does/not/exist.yaml"], None);
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("c.yaml");
    std::fs::write(&bad, "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: Apps_PG\n  namespace: databases\n  consumers: []\n").unwrap();
    let out = guard(
        &["check", "--contract", bad.to_str().unwrap(), "deploy/examples/good"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("c.yaml:4:9: sharedClusters[0].name"), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("error: ")).count(), 2, "{err}");
    // A covered kind that does not decode is an input error, not a verdict.
    let out = guard(
        &["check", "-"],
        Some(
            "{apiVersion: postgresql.cnpg.io/v1, kind: Database, metadata: {name: d, namespace: databases}, spec: {owner: [1]}}",
        ),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("spec.owner"), "{}", stdout(&out));
}

#[test]
fn no_secret_value_in_any_output() {
    let bootstrap = format!(
        "{{apiVersion: v1, kind: Secret, metadata: {{name: apps-pg-credentials, namespace: databases}}, stringData: {{username: apps_admin, password: {CANARY}}}}}"
    );
    let leaks = [
        format!(
            "{{apiVersion: v1, kind: Secret, metadata: {{name: a, namespace: shop}}, stringData: {{username: apps_admin, password: {CANARY}}}}}"
        ),
        format!(
            "{{apiVersion: v1, kind: Secret, metadata: {{name: b, namespace: shop}}, stringData: {{url: 'postgresql://apps_admin:{CANARY}@h/db'}}}}"
        ),
        format!(
            "{{apiVersion: v1, kind: Secret, metadata: {{name: c, namespace: shop}}, stringData: {{dsn: 'host=h user=apps_admin password={CANARY}'}}}}"
        ),
        format!(
            "{{apiVersion: v1, kind: Secret, metadata: {{name: d, namespace: shop}}, stringData: {{pgpass: 'h:5432:db:apps_admin:{CANARY}'}}}}"
        ),
        format!(
            "{{apiVersion: v1, kind: Secret, metadata: {{name: e, namespace: shop}}, stringData: {{copy: {CANARY}}}}}"
        ),
        // An undecodable Secret: the error must not echo the value either.
        format!("{{apiVersion: v1, kind: Secret, metadata: {{name: f, namespace: shop}}, data: {{x: '{CANARY}!'}}}}"),
    ];
    let input = std::iter::once(bootstrap)
        .chain(leaks)
        .collect::<Vec<_>>()
        .join("\n---\n");
    for format in ["text", "json", "github"] {
        let out = guard(&["check", "-o", format, "-"], Some(&input));
        let all = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert!(!all.contains(CANARY), "{format} output leaks the canary:\n{all}");
        assert!(all.contains("bootstrap-secret-confined"), "{all}");
    }
}

fn json_of(o: &Output) -> Value {
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)));
    for key in ["findings", "skipped", "unreadable"] {
        assert!(v[key].is_array(), "{key} missing: {v}");
    }
    assert!(v["summary"].is_object(), "summary missing: {v}");
    v
}

#[test]
fn wrapped_base64_in_secret_data_decodes_as_kubernetes_decodes_it() {
    let password = "a-rather-long-bootstrap-password-that-wraps-over-lines";
    for eol in ["\n", "\r\n"] {
        let b64 = wrapped_base64(password, 16, eol)
            .replace('\n', "\\n")
            .replace('\r', "\\r");
        let input = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: apps-pg-credentials, namespace: databases}}\ndata:\n  username: YXBwc19hZG1pbg==\n  password: \"{b64}\"\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: copy, namespace: shop}}\ndata:\n  pw: \"{b64}\"\n"
        );
        let out = guard(&["check", "-"], Some(&input));
        let text = stdout(&out);
        // Both decode; the copy is found because the bootstrap password was read.
        assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
        assert!(
            text.contains("DENY <stdin>:8: [bootstrap-secret-confined] Secret shop/copy"),
            "{text}"
        );
        assert!(!text.contains(password), "{text}");
    }
    // A literal block wraps the value over real lines, as kustomize writes it.
    let input = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: tls, namespace: shop}}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: |\n    {}\n",
        wrapped_base64(&"-----BEGIN CERTIFICATE-----\n".repeat(8), 76, "\n    ")
    );
    let out = guard(&["check", "-"], Some(&input));
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    // Not base64 at all is still unreadable, without echoing the value.
    let out = guard(
        &["check", "-"],
        Some("{apiVersion: v1, kind: Secret, metadata: {name: x, namespace: shop}, data: {pw: 'no t\\nbase64'}}"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!stdout(&out).contains("no t"), "{}", stdout(&out));
}

#[test]
fn duplicate_keys_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ns.yaml");
    // The client label hides behind a second `labels:` key: kubectl refuses this.
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {railiance.io/postgres-client: apps-pg}\n  labels: {team: shop}\n",
    )
    .unwrap();
    let out = guard(&["check", file.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let expected = format!(
        "ERROR {}:6: metadata: mapping key \"labels\" already defined (duplicate key)",
        file.display()
    );
    assert!(stdout(&out).contains(&expected), "{}", stdout(&out));
    let out = guard(&["check", "-o", "json", file.to_str().unwrap()], None);
    let json = json_of(&out);
    assert_eq!(json["unreadable"][0]["line"], 6);
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let out = guard(
        &["check", "-"],
        Some("\u{feff}apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1 objects, 0 denied"), "{}", stdout(&out));
}

#[test]
fn no_objects_is_exit_2_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let empty_file = dir.path().join("empty.yaml");
    std::fs::write(&empty_file, "# nothing rendered\n").unwrap();
    let empty_dir = dir.path().join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    for (args, input) in [
        (vec!["check", empty_file.to_str().unwrap()], None),
        (vec!["check", empty_dir.to_str().unwrap()], None),
        (vec!["check", "-"], Some("")),
        (vec!["check", "-"], Some("just: a value\n")),
    ] {
        let out = guard(&args, input);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
        assert!(stderr(&out).contains("no Kubernetes objects found"), "{}", stderr(&out));
        let mut allowed = args.clone();
        allowed.insert(1, "--allow-empty");
        let out = guard(&allowed, input);
        assert_eq!(out.status.code(), Some(0), "{allowed:?}: {}", stderr(&out));
        let mut json = args.clone();
        json.extend(["-o", "json"]);
        let out = guard(&json, input);
        assert_eq!(out.status.code(), Some(2));
        let v = json_of(&out);
        assert!(
            v["summary"]["error"]
                .as_str()
                .unwrap()
                .contains("no Kubernetes objects found"),
            "{v}"
        );
    }
}

#[test]
fn a_syntax_error_hides_no_verdict_on_other_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-broken.yaml"), "apiVersion: v1\nkind: [unclosed\n").unwrap();
    std::fs::write(
        dir.path().join("b-label.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {railiance.io/postgres-client: apps-pg}}\n",
    )
    .unwrap();
    let out = guard(&["check", dir.path().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("a-broken.yaml:3: "), "{text}");
    assert!(text.contains("b-label.yaml:1: [client-label-registered]"), "{text}");
    let out = guard(&["check", "-o", "json", dir.path().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let v = json_of(&out);
    assert_eq!(v["findings"][0]["rule"], "client-label-registered", "{v}");
    assert_eq!(v["findings"][0]["line"], 1, "{v}");
    assert!(
        v["unreadable"][0]["file"].as_str().unwrap().ends_with("a-broken.yaml"),
        "{v}"
    );
    assert_eq!(v["summary"]["exitCode"], 2);
    let out = guard(&["check", "-o", "github", dir.path().to_str().unwrap()], None);
    assert!(stdout(&out).contains("::error file="), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("a-broken.yaml,line=3,title=cnpg-guard::"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn json_output_is_json_when_the_contract_is_unreadable() {
    let out = guard(
        &[
            "check",
            "-o",
            "json",
            "--contract",
            "does/not/exist.yaml",
            "deploy/examples/good",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let v = json_of(&out);
    assert!(
        v["summary"]["error"].as_str().unwrap().contains("does/not/exist.yaml"),
        "{v}"
    );
    assert!(stderr(&out).contains("does/not/exist.yaml"), "{}", stderr(&out));
}

#[test]
fn deep_nesting_is_refused_in_under_a_second() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("deep.yaml", format!("a: {}", "[".repeat(200_000))),
        ("deep.json", "[".repeat(200_000)),
        (
            "deep-closed.json",
            format!("{}{}", "[".repeat(200_000), "]".repeat(200_000)),
        ),
        ("deep-map.yaml", "{a: ".repeat(100_000)),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, &text).unwrap();
        let started = std::time::Instant::now();
        let out = guard(&["check", file.to_str().unwrap()], None);
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(
            stdout(&out).contains("nested deeper than 128 levels"),
            "{name}: {}",
            stdout(&out)
        );
        assert!(took < std::time::Duration::from_secs(1), "{name}: {took:?}");
    }
    // Stdin gets the same bound.
    let started = std::time::Instant::now();
    let out = guard(&["check", "-"], Some(&"[".repeat(200_000)));
    assert_eq!(out.status.code(), Some(2));
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn skipped_checks_are_grouped_and_reported_in_every_format() {
    let input = (0..3)
        .map(|i| {
            format!("apiVersion: postgresql.cnpg.io/v1\nkind: Database\nmetadata: {{name: db{i}, namespace: databases}}\nspec: {{name: vergabe_db, owner: vergabe, cluster: {{name: apps-pg}}}}\n")
        })
        .collect::<Vec<_>>()
        .join("---\n");
    let out = guard(&["check", "-"], Some(&input));
    let text = stdout(&out);
    assert_eq!(text.matches("SKIP ").count(), 1, "{text}");
    assert!(
        text.contains(": 3 objects, e.g. <stdin>:1 Database databases/db0"),
        "{text}"
    );
    let out = guard(&["check", "--verbose", "-"], Some(&input));
    assert_eq!(stdout(&out).matches("SKIP ").count(), 3, "{}", stdout(&out));
    let out = guard(&["check", "-o", "json", "-"], Some(&input));
    let v = json_of(&out);
    let skipped = v["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 3, "{v}");
    assert_eq!(skipped[1]["name"], "db1");
    assert_eq!(skipped[1]["line"], 6);
    assert!(
        skipped[1]["reason"]
            .as_str()
            .unwrap()
            .contains("not among the checked files")
    );
    let out = guard(&["check", "-o", "github", "-"], Some(&input));
    assert_eq!(
        stdout(&out).matches("::notice title=cnpg-guard skipped").count(),
        1,
        "{}",
        stdout(&out)
    );
}

/// A document of CloudNativePG's group with a kind CloudNativePG does not
/// have (a misspelling) is an error naming the kind it likely meant, never
/// a silent skip; CloudNativePG's other kinds are skipped as uncovered.
#[test]
fn a_misspelt_cnpg_kind_is_an_error_not_a_skip() {
    let input = "\
apiVersion: postgresql.cnpg.io/v1
kind: Databse
metadata: {name: shop-db, namespace: databases}
spec: {cluster: {name: apps-pg}, name: shop_db, owner: apps_admin}
---
apiVersion: postgresql.cnpg.io/v1
kind: FailoverQuorum
metadata: {name: nightly, namespace: databases}
---
apiVersion: postgresql.cnpg.io/v2
kind: Cluster
metadata: {name: apps-pg, namespace: databases}
";
    let out = check_repo(&["-"], Some(input));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("ERROR <stdin>:1: postgresql.cnpg.io/v1 has no kind \"Databse\" (did you mean Database?)"),
        "{text}"
    );
    assert!(
        text.contains(
            "ERROR <stdin>:10: postgresql.cnpg.io/v2 Cluster: CloudNativePG serves postgresql.cnpg.io/v1 only"
        ),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("0 objects, 0 denied, 0 warned, 1 skipped, 2 unreadable"),
        "{text}"
    );
}

/// A directory holding a Helm chart is named as one, with how to check it
/// (render it first); a templated file outside a chart says the same.
#[test]
fn a_helm_chart_must_be_rendered_first() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("charts/shop");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(chart.join("Chart.yaml"), "apiVersion: v2\nname: shop\nversion: 0.1.0\n").unwrap();
    std::fs::write(
        chart.join("templates/secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-db\n  labels:\n    {{- include \"shop.labels\" . | nindent 4 }}\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "replicas: 1\n").unwrap();
    let out = check_repo(&[dir.path().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "ERROR {}: a Helm chart (Chart.yaml): its templates are not manifests until rendered; check the rendering: helm template RELEASE {} | cnpg-guard check -",
            chart.display(),
            chart.display()
        )),
        "{text}"
    );
    assert!(!text.contains("invalid type"), "{text}");
    // One templated file, not in a chart.
    let out = check_repo(&[chart.join("templates/secret.yaml").to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("it holds {{ … }}: a template must be rendered first"),
        "{}",
        stdout(&out)
    );
}

/// `--list-skipped` names every skipped document and why; JSON lists them
/// always (`skippedDocuments`).
#[test]
fn skipped_documents_can_be_listed() {
    let input = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
---
just: a value
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
";
    let out = check_repo(&["-"], Some(input));
    assert!(!stdout(&out).contains("SKIPPED"), "{}", stdout(&out));
    let out = check_repo(&["--list-skipped", "-"], Some(input));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("SKIPPED <stdin>:1: v1 ConfigMap settings: a kind the contract does not cover"),
        "{text}"
    );
    assert!(
        text.contains("SKIPPED <stdin>:5: not a Kubernetes object (no apiVersion or kind)"),
        "{text}"
    );
    let out = check_repo(&["--output", "json", "-"], Some(input));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped = report["skippedDocuments"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{report}");
    assert_eq!(skipped[0]["kind"], "ConfigMap");
    assert_eq!(skipped[0]["line"], 1);
    assert_eq!(report["summary"]["skippedDocuments"], 2);
    let out = check_repo(&["--output", "github", "--list-skipped", "-"], Some(input));
    assert!(
        stdout(&out).contains("::notice title=cnpg-guard skipped document::<stdin>:1: v1 ConfigMap settings"),
        "{}",
        stdout(&out)
    );
}

/// A contract that names no `bootstrap` protects CloudNativePG's default
/// owner, `app` (database `app`, Secret `<cluster>-app`): a Secret that
/// hands `app`'s connection string to another namespace is denied.
#[test]
fn without_bootstrap_the_contract_protects_cnpgs_default_owner() {
    let dir = tempfile::tempdir().unwrap();
    let contract = dir.path().join("contract.yaml");
    std::fs::write(
        &contract,
        "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: shop-pg\n  namespace: db\n  consumers: [{namespace: shop, role: shop, databases: [shop]}]\n",
    )
    .unwrap();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: leak, namespace: shop}\nstringData: {uri: 'postgresql://app:x@shop-pg-rw.db.svc:5432/app'}\n";
    let out = guard(&["check", "--contract", contract.to_str().unwrap(), "-"], Some(secret));
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("DENY <stdin>:1: [bootstrap-secret-confined] Secret shop/leak"),
        "{}",
        stdout(&out)
    );
}

/// `check --as` judges the manifests as that identity's writes: a tenant
/// repository's CI fails on what the webhook would refuse its GitOps
/// identity (tenant-scoped); without `--as`, as the platform's, and the
/// report says which.
#[test]
fn check_as_a_tenant_judges_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(support::root().join("deploy/base/contract.yaml")).unwrap();
    // vergabe's subject in the shipped contract is its Flux ServiceAccount.
    let path = dir.path().join("contract.yaml");
    std::fs::write(&path, base).unwrap();
    let contract = path.to_str().unwrap();
    let theirs = "\
apiVersion: postgresql.cnpg.io/v1
kind: Pooler
metadata: {name: apps-pg-pooler-rw, namespace: databases}
spec: {cluster: {name: apps-pg}, instances: 1, type: rw}
";
    let flux = "system:serviceaccount:vergabe-teilnahme:flux";
    let out = guard(&["check", "--contract", contract, "--as", flux, "-"], Some(theirs));
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(
            "[tenant-scoped] Pooler databases/apps-pg-pooler-rw: metadata.name: a subject of consumer vergabe-teilnahme"
        ),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains(&format!("check: judged as {flux} (consumer: vergabe-teilnahme)")),
        "{}",
        stderr(&out)
    );
    let out = guard(&["check", "--contract", contract, "-"], Some(theirs));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("check: judged as the platform (no --as)"),
        "{}",
        stderr(&out)
    );
    let json = guard(
        &["check", "--contract", contract, "--output", "json", "--as", flux, "-"],
        Some(theirs),
    );
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        report["summary"]["judgedAs"],
        format!("{flux} (consumer: vergabe-teilnahme)")
    );
}
