//! `cnpg-guard serve` starting: options refused with the reason, start-up
//! errors in one line naming their source, the listen address, the serving
//! key's permissions, `--facts-from`, and an API server that cannot be
//! reached (up, not ready, quiet). Once running: tests/lifecycle.rs.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::cli::{guard_env, kubeconfig, stderr};
use support::*;

#[cfg(unix)]
#[test]
fn a_world_readable_key_is_warned_about_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path(), "");
    std::fs::set_permissions(&pki.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (port, admin) = (free_port(), free_port());
    let child = serve_command(&guard_bin(), port, admin, &pki.cert, &pki.key)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(20), || admin_ok(admin, "/readyz")),
        "not ready"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("world-readable"), "{logs}");
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
fn serve_listens_on_a_host_name_and_a_failed_start_keeps_the_dev_certificate() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("dev");
    let mut child = Command::new(guard_bin())
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

/// `serve --kubeconfig` with an API server that cannot be reached stays up
/// and not ready (the documented exit codes say so), says its watches cannot sync
/// (not that last known facts are used: none were ever known), once per
/// watch rather than on every retry; an unreadable kubeconfig stops it.
#[test]
fn serve_with_an_unreachable_api_server_stays_up_not_ready_and_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let kubeconfig = kubeconfig(dir.path(), port);
    let admin = free_port();
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(guard_bin())
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
