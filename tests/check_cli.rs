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
    let items: Vec<Value> = serde_json::from_slice(&out.stdout).expect("one JSON array");
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
    for item in &items {
        for key in [
            "file",
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
            "DENY <stdin>: [client-label-registered] Namespace shop: metadata.labels[railiance.io/postgres-client]"
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
    assert!(stdout(&out).contains("WARN <stdin>: [client-label-registered]"));
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
        text.contains("::error file=deploy/examples/bad/client-label-registered.yaml,title=cnpg-guard client-label-registered::[client-label-registered]"),
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
    assert!(err.contains("c.yaml:4: sharedClusters[0].name"), "{err}");
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
