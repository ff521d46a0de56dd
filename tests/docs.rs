//! Every command in the docs' shell blocks (the pages in `DOCS`) is run by
//! a test: here, as written, in a fresh copy of what a clone holds
//! (deploy/, tests/fixtures/), when it needs no cluster; otherwise by the
//! test or script named for it, which is checked to exist. A command added
//! to the docs without either fails
//! `every_documented_command_is_run_somewhere`. The CI snippets' (docs/ci.md)
//! `cnpg-guard check` lines run here too.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::cli::{guard_env, stderr, stdout};
use support::{copy_dir_except, eventually, free_port, guard_bin, root};

const DOCS: [&str; 8] = [
    "README.md",
    "docs/operations.md",
    "docs/ci.md",
    "docs/contract.md",
    "BENCHMARKS.md",
    "deploy/README.md",
    "deploy/overlays/self-signed/README.md",
    "DEVELOPMENT.md",
];

/// Commands run here, in this order (later ones use what earlier ones
/// wrote), with the exit code the docs give them.
const HERE: &[(&str, i32)] = &[
    ("cnpg-guard contract validate deploy/base/contract.yaml", 0),
    (
        "cnpg-guard certs --out deploy/overlays/self-signed/certs --service cnpg-guard --namespace cnpg-guard --days 365",
        0,
    ),
    ("kubectl kustomize deploy/overlays/cert-manager", 0),
    ("kubectl kustomize deploy/overlays/self-signed", 0),
    ("cnpg-guard check deploy/examples/good", 0),
    (
        "cnpg-guard check --contract deploy/base/contract.yaml --as system:serviceaccount:vergabe-teilnahme:flux deploy/examples/good/apps-pg-databases.yaml deploy/examples/good/consumer-namespace.yaml",
        0,
    ),
    ("cnpg-guard check deploy/examples/bad", 1),
    (
        "set -o pipefail; kubectl kustomize deploy/overlays/cert-manager | cnpg-guard check -",
        0,
    ),
    (
        "cnpg-guard check --output json deploy/examples/good deploy/base > findings.json",
        0,
    ),
    (
        "cnpg-guard onboard --cluster apps-pg --namespace vergabe-teilnahme --role vergabe --database vergabe_db --out onboarding/vergabe",
        0,
    ),
    (
        "cnpg-guard onboard --cluster apps-pg --namespace shop --role shop --database shop_db --role-managed-by databaserole --out onboarding/shop",
        0,
    ),
    (
        "cnpg-guard onboard --contract deploy/base/contract.yaml --cluster apps-pg --namespace vergabe-teilnahme --role vergabe --database vergabe_db --out onboarding/vergabe",
        0,
    ),
    (
        "cnpg-guard check --contract deploy/base/contract.yaml deploy/examples/good onboarding/vergabe",
        0,
    ),
    (
        "cnpg-guard offboard --contract deploy/base/contract.yaml --namespace vergabe-teilnahme",
        0,
    ),
];

/// README's curl: run against `cnpg-guard serve` in development mode, on a
/// free port instead of 8443 and with its own --dev-cert-dir (the machine
/// may be running another serve), both substituted into the command.
const CURL: &str = "curl --cacert /tmp/cnpg-guard-dev/ca.crt -H 'Content-Type: application/json' --data @tests/fixtures/reviews/database-create-denied.json 'https://localhost:8443/validate?timeout=10s'";

/// Commands that need more than a test here has (a cluster with running
/// pods, the whole test suite, a release build): the file that runs them,
/// or the same steps, and a text in it that names that test.
const ELSEWHERE: &[(&str, &str, &str)] = &[
    // DEVELOPMENT.md's examples of running one test: the tests they name.
    (
        "cargo test --locked --lib rules::auth_posture",
        "src/rules/auth_posture.rs",
        "fn clusters(",
    ),
    (
        "cargo test --locked --test verdicts verdicts",
        "tests/verdicts.rs",
        "async fn verdicts(",
    ),
    (
        "cargo test --locked --test envtest -- every_bad_example",
        "tests/envtest/cases.rs",
        "fn every_bad_example_is_denied_with_its_rule_by_dry_run_and_server_side_apply(",
    ),
    (
        "cargo test --locked --test pgtest -- denied_hba",
        "tests/pgtest/cases.rs",
        "fn denied_hba_trust_line_logs_in_without_password(",
    ),
    // onboard's step 2 for the Cluster as it is, applied with kubectl to a
    // Cluster with and without the lists (against kube-apiserver).
    (
        "kubectl get cluster apps-pg -n databases -o yaml | cnpg-guard onboard --contract deploy/base/contract.yaml --cluster apps-pg --namespace vergabe-teilnahme --role vergabe --database vergabe_db --cluster-object - --out onboarding/vergabe",
        "tests/envtest/cases.rs",
        "onboard_role_step_applies_to_a_cluster_with_and_without_the_lists",
    ),
    // The whole suite and CI.
    ("make test", ".ci/run", "make test"),
    // BENCHMARKS.md's measurements: never asserted in a test (timings
    // depend on the machine); the Makefile recipe each one runs.
    ("make bench", "Makefile", "target/release/examples/bench --seconds"),
    ("make review-cost", "Makefile", "valgrind --tool=callgrind"),
    ("make peer-bench", "Makefile", "target/release/examples/bench --compare"),
    ("make attack", "Makefile", "target/release/examples/attack --seconds"),
    // serve in development mode with README's review over TLS: the image's
    // smoke test (CI) and the verdict tests; `make run` is `cargo run
    // --release -- serve`, the same serve.
    ("make run", "tests/image.sh", "database-create-denied.json"),
    // A release build and install; README gives its time.
    (
        "cargo install --locked --path .",
        "README.md",
        "`cargo install --path` builds in this repository's `target/`",
    ),
    // Against kube-apiserver (make envtest): the same steps as make deploy
    // (the overlay rendered with kustomize's defaults, applied with the
    // webhook last), as written for make e2e.
    (
        "make deploy",
        "tests/envtest/cases.rs",
        "self_signed_overlay_renders_and_applies_without_the_webhook",
    ),
    (
        "make certs && make deploy OVERLAY=self-signed",
        "tests/envtest/cases.rs",
        "webhook_configuration_applies_last_and_reaches_the_guard",
    ),
    (
        "make status",
        "tests/envtest/cases.rs",
        "guard_syncs_as_the_shipped_service_account",
    ),
    (
        "make e2e",
        "tests/envtest/cases.rs",
        "make_e2e_denies_every_bad_document_on_its_own",
    ),
    (
        "make logs",
        "tests/envtest/cases.rs",
        "guard_decisions_reach_the_api_server_audit_log",
    ),
    (
        "make deploy KUBECTL='kubectl --as=<you> --as-group=railiance:platform-admins'",
        "tests/envtest/cases.rs",
        "self_protection_admits_alice_of_the_break_glass_group",
    ),
    (
        "make undeploy KUBECTL='kubectl --as=<you> --as-group=railiance:platform-admins'",
        "tests/envtest/cases.rs",
        "self_protection_admits_alice_of_the_break_glass_group",
    ),
    (
        "cnpg-guard audit",
        "tests/envtest/cases.rs",
        "audit_reports_violations_made_while_the_webhook_was_off",
    ),
    (
        "cnpg-guard audit --kubeconfig admin.conf --output json",
        "tests/envtest/cases.rs",
        "audit_reports_violations_made_while_the_webhook_was_off",
    ),
    (
        "cnpg-guard audit --output policyreport | kubectl apply -f -",
        "tests/envtest/cases.rs",
        "audit_policyreport_output_applies",
    ),
    (
        "kubectl annotate cluster apps-pg -n databases cnpg-guard.railiance.io/break-glass=\"CHG-1234 planned rebuild\"",
        "tests/verdicts.rs",
        "ratcheting_break_glass_and_exempt_users",
    ),
    (
        "kubectl delete cluster apps-pg -n databases",
        "tests/envtest/cases.rs",
        "collection_delete_of_the_shared_cluster_is_denied",
    ),
    (
        "kubectl delete validatingwebhookconfiguration cnpg-guard",
        "tests/envtest/cases.rs",
        "webhook_configuration_is_recreated_and_enforces_again",
    ),
    (
        "kubectl delete validatingwebhookconfiguration cnpg-guard --as=<you> --as-group=railiance:platform-admins",
        "tests/envtest/cases.rs",
        "self_protection_admits_alice_of_the_break_glass_group",
    ),
    // The self-signed overlay's install and rotation: applying needs a
    // cluster whose pods mount the Secret; the render runs here, the reload
    // of a rotated certificate while serving is a lifecycle test.
    (
        "make certs && make deploy OVERLAY=self-signed",
        "tests/envtest/cases.rs",
        "self_signed_overlay",
    ),
    (
        "kubectl kustomize deploy/overlays/self-signed | kubectl apply -f -",
        "tests/envtest/cases.rs",
        "self_signed_overlay_renders_and_applies_without_the_webhook",
    ),
    (
        "c=deploy/overlays/self-signed/certs",
        "tests/lifecycle.rs",
        "certificate_rotation_while_serving",
    ),
    (
        "cp $c/ca.crt /tmp/cnpg-guard-old-ca.crt",
        "tests/lifecycle.rs",
        "certificate_rotation_while_serving",
    ),
    (
        "make certs",
        "Makefile",
        "$(BIN) certs --out $(CERTS_DIR) --service cnpg-guard --namespace $(NAMESPACE) --days 365",
    ),
    (
        "cat /tmp/cnpg-guard-old-ca.crt >> $c/ca.crt",
        "tests/lifecycle.rs",
        "certificate_rotation_while_serving",
    ),
    (
        "sed -i '/END CERTIFICATE/q' $c/ca.crt",
        "tests/lifecycle.rs",
        "certificate_rotation_while_serving",
    ),
    (
        "rm /tmp/cnpg-guard-old-ca.crt",
        "tests/lifecycle.rs",
        "certificate_rotation_while_serving",
    ),
];

/// The commands of a doc's ```sh blocks: continuation lines joined, each
/// line's trailing `# comment` and comment-only lines left out.
fn commands(doc: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(doc)).unwrap();
    let mut out = Vec::new();
    let mut inside = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.starts_with("```") {
            inside = line == "```sh";
            continue;
        }
        if !inside {
            continue;
        }
        let line = match line.find("  #").or_else(|| line.find("   #")) {
            Some(i) => &line[..i],
            None => line,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        out.push(std::mem::take(&mut pending));
    }
    out
}

#[test]
fn every_documented_command_is_run_somewhere() {
    let mut missing = Vec::new();
    for doc in DOCS {
        for command in commands(doc) {
            let known = command == CURL
                || HERE.iter().any(|(c, _)| *c == command)
                || ELSEWHERE.iter().any(|(c, _, _)| *c == command);
            if !known {
                missing.push(format!("{doc}: {command}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "documented commands no test runs (add them to tests/docs.rs):\n  {}",
        missing.join("\n  ")
    );
    // And the tests named for the others exist.
    for (command, file, needle) in ELSEWHERE {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        assert!(text.contains(needle), "{command}: {file} does not hold {needle:?}");
    }
}

/// Copies a tree as a clone holds it: key material a developer made (the
/// self-signed overlay's certs/) is not part of a clone.
fn copy_dir(from: &Path, to: &Path) {
    copy_dir_except(from, to, &|path| {
        path.file_name().is_some_and(|n| n == "certs") && path.parent().is_some_and(|p| p.ends_with("self-signed"))
    });
}

/// A directory holding what a clone holds for these commands, and a PATH
/// on which `cnpg-guard` is the binary under test.
fn fresh_copy() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("deploy"), &dir.path().join("deploy"));
    copy_dir(&root().join("tests/fixtures"), &dir.path().join("tests/fixtures"));
    let bin = dir.path().join(".bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(guard_bin(), bin.join("cnpg-guard")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    (dir, path)
}

fn has(tool: &str) -> bool {
    Command::new(tool).arg("--help").output().is_ok()
}

fn bash(dir: &Path, path: &str, command: &str) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("CNPG_GUARD_CONTRACT")
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

#[test]
fn documented_commands_run_as_written_on_a_fresh_copy() {
    let (dir, path) = fresh_copy();
    let kubectl = has("kubectl");
    for (command, code) in HERE {
        if command.contains("kubectl") && !kubectl {
            println!("docs: skipped (no kubectl on PATH): {command}");
            continue;
        }
        let out = bash(dir.path(), &path, command);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{command}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The CI snippets' checks (YAML blocks of docs/ci.md's "In CI"), as a
    // job runs them: pipefail on, in the repository's root.
    let page = std::fs::read_to_string(root().join("docs/ci.md")).unwrap();
    let ci = page.split("## In CI").nth(1).unwrap().split("\n## ").next().unwrap();
    let checks: Vec<&str> = ci
        .lines()
        .map(|l| l.trim().trim_start_matches("- ").trim())
        .filter(|l| l.contains("cnpg-guard check") && !l.contains('`'))
        .collect();
    assert_eq!(checks.len(), 2, "{ci}");
    for check in checks {
        if check.contains("kubectl") && !kubectl {
            println!("docs: skipped (no kubectl on PATH): {check}");
            continue;
        }
        let out = bash(dir.path(), &path, &format!("set -o pipefail; {check}"));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{check}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{check}");
    }
    assert!(dir.path().join("cnpg-guard.json").exists());
    let findings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("findings.json")).unwrap()).unwrap();
    assert_eq!(findings["summary"]["exitCode"], 0);
    assert!(dir.path().join("onboarding/vergabe/01-contract-entry.yaml").exists());
    assert!(dir.path().join("onboarding/shop/02b-database-role.yaml").exists());
    assert!(!dir.path().join("onboarding/shop/02-cluster-role-patch.yaml").exists());
}

#[test]
fn readmes_curl_gets_the_documented_denial() {
    if !has("curl") {
        println!("docs: skipped README's curl: no curl on PATH");
        return;
    }
    let (dir, path) = fresh_copy();
    let (port, admin) = (free_port(), free_port());
    let dev: PathBuf = dir.path().join("dev");
    let mut serve = Command::new(guard_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
        .args(["--dev-cert-dir", dev.to_str().unwrap()])
        .env_remove("CNPG_GUARD_CONTRACT")
        .env_remove("KUBECONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The curl below says so if the certificate never came.
    let _ = eventually(std::time::Duration::from_secs(10), || dev.join("ca.crt").exists());
    let command = CURL
        .replace("/tmp/cnpg-guard-dev", dev.to_str().unwrap())
        .replace(":8443/", &format!(":{port}/"));
    let out = bash(dir.path(), &path, &command);
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // README shows the answer; the annotations are a map (any order).
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let response = &answer["response"];
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    assert_eq!(response["status"]["reason"], "Forbidden");
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with(r#"[owner-registered] Database databases/rogue-db: spec.owner: "apps_admin" is reserved"#),
        "{answer}"
    );
    assert_eq!(
        response["auditAnnotations"],
        serde_json::json!({"decision": "deny", "identity": "platform", "rules": "owner-registered"})
    );
}

fn read_doc(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap()
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
    let root = root();
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
    copy_dir(&root().join("deploy"), &dir.path().join("deploy"));
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
        let o = Command::new(guard_bin())
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

/// The lines of docs/ci.md's fenced blocks (```LANG) under the heading `heading`.
fn readme_blocks(heading: &str) -> Vec<String> {
    let readme = read_doc("docs/ci.md");
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

/// docs/contract.md's "What is intercepted" table is the table of kinds:
/// one row per kind, its resource, group/version and operations (and "in
/// the shared namespaces only" where that is where it is intercepted).
#[test]
fn the_intercepted_table_is_the_table_of_kinds() {
    use cnpg_guard::model::kinds::{KINDS, Reach};
    let text = std::fs::read_to_string(root().join("docs/contract.md")).unwrap();
    let section = text
        .split("## What is intercepted")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/contract.md has a \"What is intercepted\" section");
    let rows: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| resource"))
        .map(str::to_owned)
        .collect();
    let want: Vec<String> = KINDS
        .iter()
        .map(|k| {
            let ops = k.operations.iter().map(|o| o.as_str()).collect::<Vec<_>>().join(", ");
            let only = match k.reach {
                Reach::Everywhere => "",
                Reach::SharedNamespaces => ", in the shared namespaces only",
            };
            format!("| {} | {} | {ops}{only} |", k.plural, k.api_version)
        })
        .collect();
    assert_eq!(rows, want, "docs/contract.md's table of intercepted kinds");
}
