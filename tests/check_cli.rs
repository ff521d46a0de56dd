//! `cnpg-guard check` as CI runs it: the real binary over the shipped
//! examples, stdin, every output format and exit code.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const CANARY: &str = "CANARY-s3cr3t-7f1d9c";

fn guard(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cnpg-guard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cnpg-guard");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or("").as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_seeds_own_manifests_pass() {
    let out = guard(&["check", "deploy/examples/good"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains(" 0 denied"), "{}", stdout(&out));
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
        "data-retained",
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
fn contract_validate() {
    let out = guard(&["contract", "validate", "deploy/base/contract.yaml"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("valid"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.yaml");
    std::fs::write(&bad, "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  consumers:\n  - namespace: a\n    role: b\n    databases: 7\n").unwrap();
    let out = guard(&["contract", "validate", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.yaml:9:") && err.contains("sharedClusters[0].consumers[0].databases"),
        "{err}"
    );
    // Semantic errors: every one at once, each at its value's line and column.
    std::fs::write(&bad, "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters:\n- name: apps-pg\n  namespace: databases\n  consumers:\n  - {namespace: a, role: shop, databases: [a]}\n  - {namespace: b, role: shop, databases: [postgres]}\n").unwrap();
    let out = guard(&["contract", "validate", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("error: ")
            && lines[0].contains("broken.yaml:8:26: sharedClusters[0].consumers[1].role: role \"shop\""),
        "{err}"
    );
    assert!(
        lines[1].contains(
            "broken.yaml:8:44: sharedClusters[0].consumers[1].databases[0]: database \"postgres\" is reserved"
        ),
        "{err}"
    );
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_of(o: &Output) -> Value {
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)));
    for key in ["findings", "skipped", "unreadable"] {
        assert!(v[key].is_array(), "{key} missing: {v}");
    }
    assert!(v["summary"].is_object(), "summary missing: {v}");
    v
}

/// base64 of `text`, wrapped every `width` characters as kustomize and
/// `kubectl create secret -o yaml` write long values.
fn wrapped_base64(text: &str, width: usize, eol: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    b64.as_bytes()
        .chunks(width)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(eol)
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
fn serve_facts_from_reads_a_wrapped_bootstrap_secret() {
    use cnpg_guard::facts::{Fact, Facts, OfflineFacts};
    let dir = tempfile::tempdir().unwrap();
    let b64 = wrapped_base64("wrapped-bootstrap-password-0123456789", 8, "\n    ");
    std::fs::write(
        dir.path().join("secret.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: apps-pg-credentials, namespace: databases}}\ndata:\n  password: |\n    {b64}\n"
        ),
    )
    .unwrap();
    let contract = cnpg_guard::contract::Contract::embedded().unwrap();
    let (facts, objects) = OfflineFacts::from_manifests(dir.path(), &contract).unwrap();
    assert_eq!(objects, 1);
    let apps = contract.cluster("databases", "apps-pg").unwrap();
    assert!(matches!(
        facts.is_bootstrap_password(apps, b"wrapped-bootstrap-password-0123456789"),
        Fact::Known(true)
    ));
    // Anything unreadable in --facts-from stops the start instead of switching a check off.
    std::fs::write(dir.path().join("broken.yaml"), "a: [unclosed").unwrap();
    let e = OfflineFacts::from_manifests(dir.path(), &contract)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("--facts-from: ") && e.contains("broken.yaml:"), "{e}");
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

/// The real binary with `envs` set, stdin closed, output collected.
fn guard_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cnpg-guard"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CNPG_GUARD_CONTRACT")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run cnpg-guard")
}

#[test]
fn start_up_errors_are_one_line_without_colour_and_name_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("dev");
    let common = [
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--dev-cert-dir",
        dev.to_str().unwrap(),
    ];
    let serve = |extra: &[&str], envs: &[(&str, &str)]| {
        let mut args = vec!["serve"];
        args.extend(common);
        args.extend(extra);
        guard_env(&args, envs)
    };
    let out = serve(
        &["--log-format", "text"],
        &[("CNPG_GUARD_CONTRACT", "/no/such/contract.yaml")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches("/no/such/contract.yaml").count(), 1, "{err}");
    assert!(err.contains("CNPG_GUARD_CONTRACT: /no/such/contract.yaml"), "{err}");
    assert!(!err.contains('\u{1b}'), "colour codes in a non-terminal log: {err:?}");
    let out = serve(&["--contract", "/no/such/contract.yaml"], &[]);
    assert!(
        stderr(&out).contains("--contract: /no/such/contract.yaml"),
        "{}",
        stderr(&out)
    );
    let out = serve(&["--facts-from", "/no/such/manifests"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--facts-from: /no/such/manifests"),
        "{}",
        stderr(&out)
    );
    // check names the variable too.
    let out = guard_env(
        &["check", "deploy/examples/good"],
        &[("CNPG_GUARD_CONTRACT", "/no/such/contract.yaml")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("error: CNPG_GUARD_CONTRACT: /no/such/contract.yaml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn audit_says_what_is_missing_and_where_it_could_not_connect() {
    let home = tempfile::tempdir().unwrap();
    let out = guard_env(&["audit"], &[("HOME", home.path().to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no kubeconfig: set KUBECONFIG or pass --kubeconfig"),
        "{}",
        stderr(&out)
    );
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = home.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\nusers: [{{name: u, user: {{token: t}}}}]\n"),
    )
    .unwrap();
    let out = guard_env(&["audit", "--kubeconfig", kubeconfig.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("https://127.0.0.1:{port}")),
        "{}",
        stderr(&out)
    );
    let errors = stderr(&out).lines().filter(|l| l.starts_with("error: ")).count();
    assert_eq!(errors, 1, "one line per error: {}", stderr(&out));
}

#[test]
fn certs_options_are_checked_and_add_sans() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = guard_env(&["certs", "--out", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--out") && stderr(&out).contains("must be a directory"),
        "{}",
        stderr(&out)
    );
    let out_dir = dir.path().join("certs");
    for bad in [["--service", "Cnpg_Guard"], ["--namespace", "a.b"]] {
        let out = guard_env(&["certs", "--out", out_dir.to_str().unwrap(), bad[0], bad[1]], &[]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(stderr(&out).contains("is not a DNS label"), "{}", stderr(&out));
        assert!(!out_dir.exists());
    }
    let out = guard_env(
        &[
            "certs",
            "--out",
            out_dir.to_str().unwrap(),
            "--ip",
            "127.0.0.1",
            "--ip",
            "::1",
            "--dns",
            "guard.example.org",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pem = std::fs::read(out_dir.join("tls.crt")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = pem.parse_x509().unwrap();
    let sans = format!(
        "{:?}",
        cert.subject_alternative_name().unwrap().unwrap().value.general_names
    );
    for want in [
        "IPAddress([127, 0, 0, 1])",
        "guard.example.org",
        "cnpg-guard.cnpg-guard.svc",
    ] {
        assert!(sans.contains(want), "{want} not in {sans}");
    }
    let out = guard_env(&["certs", "--out", out_dir.to_str().unwrap(), "--ip", "localhost"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn serve_options_are_refused_with_the_reason() {
    for (args, reason) in [
        (
            ["--max-body-bytes", "1000"],
            "below the minimum of 65536 bytes (64 KiB)",
        ),
        (["--max-body-bytes", "7MiB"], "not a number of bytes"),
        (["--reload-interval", "0"], "0 is not in 1..=86400"),
        (["--reload-interval", "5s"], "invalid digit"),
        (["--listen", "8443"], "expected HOST:PORT"),
        (["--service", "Guard"], "is not a DNS label"),
    ] {
        let out = guard_env(&["serve", args[0], args[1]], &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(reason), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_body_budget_below_the_largest_body_stops_the_start() {
    let out = guard_env(
        &[
            "serve",
            "--max-body-bytes-in-flight",
            "100000",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--max-body-bytes-in-flight (100000) is smaller than --max-body-bytes (7340032)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_listens_on_a_host_name_and_a_failed_start_keeps_the_dev_certificate() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("dev");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cnpg-guard"))
        .args([
            "serve",
            "--listen",
            "localhost:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--log-format",
            "text",
        ])
        .args(["--dev-cert-dir", dev.to_str().unwrap()])
        .env_remove("CNPG_GUARD_CONTRACT")
        .env_remove("KUBECONFIG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("listening"))
        .unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening.contains("listen="), "{listening}");
    let ca = std::fs::read(dev.join("ca.crt")).unwrap();

    // A second serve whose port is taken fails without touching that certificate.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = guard_env(
        &[
            "serve",
            "--listen",
            &addr,
            "--admin-listen",
            "127.0.0.1:0",
            "--dev-cert-dir",
            dev.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("cannot listen on {addr}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(dev.join("ca.crt")).unwrap(),
        ca,
        "the running serve's CA was replaced"
    );
}

fn read_doc(rel: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// The `serve` table of docs/operations.md has a row, with a description,
/// for every flag `serve --help` shows.
#[test]
fn readme_lists_every_serve_flag() {
    let help = stdout(&guard_env(&["serve", "--help"], &[]));
    let readme = read_doc("docs/operations.md");
    let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `--")).collect();
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|f| !matches!(*f, "help" | "version"))
        .collect();
    assert!(flags.len() >= 20, "{help}");
    for flag in flags {
        let row = rows
            .iter()
            .find(|r| r.contains(&format!("`--{flag}`")))
            .unwrap_or_else(|| panic!("--{flag} is not in docs/operations.md's serve table"));
        let description = row.rsplit('|').nth(1).unwrap_or_default().trim();
        assert!(description.len() > 10, "--{flag} has no description: {row}");
    }
}

/// Commands in the docs' code blocks name only paths the repository has
/// (or that a documented step writes first).
#[test]
fn docs_commands_name_paths_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in [
        "README.md",
        "deploy/README.md",
        "docs/operations.md",
        "docs/ci.md",
        "docs/contract.md",
    ] {
        let text = read_doc(doc);
        let mut in_block = false;
        for line in text.lines() {
            if line.starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if !in_block {
                continue;
            }
            for word in line.split(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == '=') {
                let word = word.trim_end_matches(['.', ',', ')', ';', ':']);
                let generated = word.contains("/certs") || word.starts_with("onboarding/");
                if (word.starts_with("deploy/") || word.starts_with("tests/")) && !word.contains('<') && !generated {
                    assert!(root.join(word).exists(), "{doc}: {word} does not exist: {line}");
                }
            }
        }
    }
}

/// deploy/README's onboarding block, run as written (each line's comment
/// dropped) in a directory holding a copy of deploy/: onboard writes the set,
/// the pre-merge check passes, offboard prints the reverse.
#[test]
fn deploy_readme_onboarding_commands_run_as_written() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy"),
        &dir.path().join("deploy"),
    );
    let readme = read_doc("deploy/README.md");
    let block = readme
        .split("## Onboarding and offboarding a consumer")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("deploy/README's onboarding block");
    let lines: Vec<&str> = block
        .lines()
        .map(|l| l.split("   #").next().unwrap_or(l).trim())
        .collect();
    assert_eq!(lines.len(), 3, "{block}");
    for (line, first) in lines.iter().zip(["onboard", "check", "offboard"]) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&words[..2], ["cnpg-guard", first], "{line}");
        let o = Command::new(env!("CARGO_BIN_EXE_cnpg-guard"))
            .args(&words[1..])
            .current_dir(dir.path())
            .env_remove("CNPG_GUARD_CONTRACT")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{line}: {}{}", stdout(&o), stderr(&o));
        assert!(!stderr(&o).contains("warning"), "{line}: {}", stderr(&o));
    }
    assert!(dir.path().join("onboarding/vergabe/04-database.yaml").exists());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `check`, `onboard`, `offboard` and `audit` say on stderr which contract
/// they judge against, and warn when it is the one built into the binary
/// (older than the repository's once a consumer has been registered).
#[test]
fn every_judging_command_names_its_contract_and_warns_about_the_built_in_one() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_str().unwrap();
    let commands: [&[&str]; 4] = [
        &["check", "deploy/examples/good"],
        &[
            "onboard",
            "--namespace",
            "shop",
            "--role",
            "shop",
            "--database",
            "shop_db",
        ],
        &["offboard", "--namespace", "vergabe-teilnahme"],
        &["audit"],
    ];
    for command in commands {
        let name = command[0];
        let out = guard_env(command, &[("HOME", home)]);
        let err = stderr(&out);
        assert!(
            err.lines().next().is_some_and(|l| l.starts_with(&format!(
                "warning: {name}: judging against the contract built into this binary (revision "
            )) && l
                .ends_with("pass --contract deploy/base/contract.yaml (or set CNPG_GUARD_CONTRACT)")),
            "{command:?}: {err}"
        );
        let mut with_file = command.to_vec();
        with_file.extend(["--contract", "deploy/base/contract.yaml"]);
        let out = guard_env(&with_file, &[("HOME", home)]);
        let err = stderr(&out);
        assert!(
            err.lines().next() == Some(&format!("{name}: contract deploy/base/contract.yaml (--contract)")),
            "{with_file:?}: {err}"
        );
        assert!(!err.contains("warning: "), "{with_file:?}: {err}");
        let out = guard_env(
            command,
            &[("HOME", home), ("CNPG_GUARD_CONTRACT", "deploy/base/contract.yaml")],
        );
        assert!(
            stderr(&out)
                .lines()
                .next()
                .is_some_and(|l| l == format!("{name}: contract deploy/base/contract.yaml (CNPG_GUARD_CONTRACT)")),
            "{command:?}: {}",
            stderr(&out)
        );
        // stdout stays the command's own output.
        assert!(!stdout(&out).contains("contract deploy/base"), "{}", stdout(&out));
    }
}

/// The lines of docs/ci.md's fenced blocks (```LANG) under the heading `heading`.
fn readme_blocks(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ci.md")).unwrap();
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("docs/ci.md has no {heading}"));
    let section = &readme[start + heading.len()..];
    let end = section.find("\n#").unwrap_or(section.len());
    let mut lines = Vec::new();
    let mut inside = false;
    for line in section[..end].lines() {
        if line.starts_with("```") {
            inside = !inside;
        } else if inside {
            lines.push(line.to_owned());
        }
    }
    lines
}

/// Every CI snippet of docs/ci.md judges against the repository's contract: a
/// pre-merge check of a newly registered consumer must not be judged by the
/// binary's built-in contract.
#[test]
fn every_ci_snippet_passes_the_repositorys_contract() {
    let lines = readme_blocks("## In CI\n");
    let checks: Vec<&String> = lines.iter().filter(|l| l.contains("cnpg-guard check")).collect();
    assert!(checks.len() >= 2, "{lines:?}");
    for line in checks {
        assert!(line.contains("--contract deploy/base/contract.yaml"), "{line}");
    }
}

/// `audit --output json` prints one JSON object on every exit, as `check`
/// does: no kubeconfig, an unreachable API server, an unreadable contract.
#[test]
fn audit_json_is_one_object_on_every_exit() {
    let home = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = home.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\nusers: [{{name: u, user: {{token: t}}}}]\n"),
    )
    .unwrap();
    let kubeconfig = kubeconfig.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["audit", "--output", "json"], "no kubeconfig"),
        (
            &["audit", "--output", "json", "--kubeconfig", kubeconfig],
            "https://127.0.0.1:",
        ),
        (
            &["audit", "--output", "json", "--contract", "/no/such/contract.yaml"],
            "--contract: /no/such/contract.yaml",
        ),
    ];
    for (args, reason) in cases {
        let out = guard_env(args, &[("HOME", home.path().to_str().unwrap())]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON object ({e}): {}", stdout(&out)));
        assert_eq!(report["summary"]["exitCode"], 2, "{report}");
        assert!(
            report["summary"]["error"].as_str().is_some_and(|e| e.contains(reason)),
            "{args:?}: {report}"
        );
        assert_eq!(report["findings"], serde_json::json!([]));
        assert!(stderr(&out).contains(reason), "{args:?}: {}", stderr(&out));
    }
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
kind: ScheduledBackup
metadata: {name: nightly, namespace: databases}
---
apiVersion: postgresql.cnpg.io/v2
kind: Cluster
metadata: {name: apps-pg, namespace: databases}
";
    let out = guard(&["check", "--contract", "deploy/base/contract.yaml", "-"], Some(input));
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
    let out = guard(
        &[
            "check",
            "--contract",
            "deploy/base/contract.yaml",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
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
    let out = guard(
        &[
            "check",
            "--contract",
            "deploy/base/contract.yaml",
            chart.join("templates/secret.yaml").to_str().unwrap(),
        ],
        None,
    );
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
    let args = ["check", "--contract", "deploy/base/contract.yaml"];
    let out = guard(&[&args[..], &["-"]].concat(), Some(input));
    assert!(!stdout(&out).contains("SKIPPED"), "{}", stdout(&out));
    let out = guard(&[&args[..], &["--list-skipped", "-"]].concat(), Some(input));
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
    let out = guard(&[&args[..], &["--output", "json", "-"]].concat(), Some(input));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped = report["skippedDocuments"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{report}");
    assert_eq!(skipped[0]["kind"], "ConfigMap");
    assert_eq!(skipped[0]["line"], 1);
    assert_eq!(report["summary"]["skippedDocuments"], 2);
    let out = guard(
        &[&args[..], &["--output", "github", "--list-skipped", "-"]].concat(),
        Some(input),
    );
    assert!(
        stdout(&out).contains("::notice title=cnpg-guard skipped document::<stdin>:1: v1 ConfigMap settings"),
        "{}",
        stdout(&out)
    );
}

/// GitHub annotations of stdin input name no file (there is none in the
/// repository to annotate): the message says where in stdin.
#[test]
fn github_annotations_on_stdin_say_so() {
    let input =
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {railiance.io/postgres-client: apps-pg}}\n";
    let out = guard(
        &[
            "check",
            "--contract",
            "deploy/base/contract.yaml",
            "--output",
            "github",
            "-",
        ],
        Some(input),
    );
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

/// `serve --kubeconfig` with an API server that cannot be reached stays up
/// and not ready (the documented exit codes say so), says its watches cannot sync
/// (not that last known facts are used: none were ever known), once per
/// watch rather than on every retry; an unreadable kubeconfig stops it.
#[test]
fn serve_with_an_unreachable_api_server_stays_up_not_ready_and_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\nusers: [{{name: u, user: {{token: t}}}}]\n"),
    )
    .unwrap();
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cnpg-guard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "text"])
        .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
        .args(["--dev-cert-dir", dir.path().join("dev").to_str().unwrap()])
        .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
        .env_remove("CNPG_GUARD_CONTRACT")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // The watches retry every 2 s at most: 4 s is several retries.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let running = child.try_wait().unwrap().is_none();
    let ready = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{admin}/readyz"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(running, "serve exited: {text}");
    if let Ok(code) = ready {
        assert_eq!(code, "503", "{text}");
    }
    assert!(!text.contains("last known facts"), "{text}");
    let cannot_sync = text.lines().filter(|l| l.contains("watch cannot sync")).count();
    assert_eq!(
        cannot_sync, 3,
        "once per watch (2 shared-cluster watches and the bootstrap Secret): {text}"
    );
    assert!(!text.contains("ERROR kube_client"), "{text}");

    // A kubeconfig that cannot be read is a start-up error: exit 1.
    let out = guard_env(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--kubeconfig",
            "/no/such/kubeconfig",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
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
