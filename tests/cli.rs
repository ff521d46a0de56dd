//! The real binary's other commands: `contract validate`, `audit` without
//! a cluster, `certs`; and which contract every judging command (`check`,
//! `onboard`, `offboard`, `audit`) says it judges against. `check` itself:
//! tests/check.rs; onboard/offboard: tests/onboard.rs; `serve`:
//! tests/startup.rs.

mod support;

use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use support::cli::{guard, guard_env, kubeconfig, stderr, stdout};
use support::free_port;

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
    let port = free_port();
    let kubeconfig = kubeconfig(home.path(), port);
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

/// `audit --output json` prints one JSON object on every exit, as `check`
/// does: no kubeconfig, an unreachable API server, an unreadable contract.
#[test]
fn audit_json_is_one_object_on_every_exit() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let kubeconfig = kubeconfig(home.path(), port);
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
fn certs_writes_key_material_for_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let out = guard_env(
        &[
            "certs",
            "--out",
            dir.path().to_str().unwrap(),
            "--service",
            "guard",
            "--namespace",
            "sec",
            "--days",
            "7",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cert = std::fs::read(dir.path().join("tls.crt")).unwrap();
    let der = rustls_pki_types::CertificateDer::from_pem_slice(&cert).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
    let sans = format!("{:?}", parsed.subject_alternative_name().unwrap().unwrap().value);
    for name in ["guard.sec.svc", "guard.sec.svc.cluster.local"] {
        assert!(sans.contains(name), "{sans}");
    }
    let days = (parsed.validity().not_after.timestamp() - parsed.validity().not_before.timestamp()) / 86400;
    assert!((7..=8).contains(&days));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("tls.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "tls.key must be private");
    }
    use base64::Engine;
    let bundle = std::fs::read_to_string(dir.path().join("ca-bundle.b64")).unwrap();
    let ca = base64::engine::general_purpose::STANDARD.decode(bundle.trim()).unwrap();
    assert_eq!(ca, std::fs::read(dir.path().join("ca.crt")).unwrap());
    assert!(!dir.path().join("ca.key").exists());
}
