//! Shared by the bench, soak and review_cost examples and the criterion
//! bench: the request mix, the webhook's per-request work without HTTP,
//! loopback ports, /proc readings of the server process, and a reqwest
//! client over our own rustls config.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;

const FIXTURES: &str = "tests/fixtures/reviews";

fn fixture(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(std::path::Path::new(FIXTURES).join(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// An AdmissionReview body as kube-apiserver writes it: compact, with the
/// request's fields in its order (`kind` and `operation` before the
/// objects, which the webhook's one-pass parse relies on). A plain
/// `serde_json::to_vec` of a `Value` would sort them.
pub fn apiserver_body(review: &serde_json::Value) -> Vec<u8> {
    let order = cnpg_guard::admission::APISERVER_FIELD_ORDER;
    let request = review["request"].as_object().expect("request");
    assert!(
        request.keys().all(|k| order.contains(&k.as_str())),
        "unknown request field"
    );
    let fields: Vec<String> = order
        .iter()
        .filter_map(|k| request.get(*k).map(|v| format!("{}:{v}", serde_json::Value::from(*k))))
        .collect();
    format!(
        r#"{{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{{{}}}}}"#,
        fields.join(",")
    )
    .into_bytes()
}

/// The request mix of `make bench`, shaped like kube-apiserver's
/// AdmissionReviews: (name, body, weight out of 100).
pub fn mix() -> Vec<(&'static str, Vec<u8>, u32)> {
    use base64::Engine;
    use serde_json::json;
    let mut cluster_update = fixture("cluster-create-allowed.json");
    let object = cluster_update["request"]["object"].clone();
    let mut new = object.clone();
    new["spec"]["instances"] = json!(2);
    cluster_update["request"]["operation"] = json!("UPDATE");
    cluster_update["request"]["options"] = json!({"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"});
    cluster_update["request"]["oldObject"] = object;
    cluster_update["request"]["object"] = new;
    let mut big = fixture("secret-create-allowed.json");
    let blob = base64::engine::general_purpose::STANDARD.encode(vec![b'k'; 1024 * 1024 - 64 * 1024]);
    big["request"]["object"]["data"]["ca-bundle.pem"] = json!(blob);
    let file = |name: &str| apiserver_body(&fixture(name));
    vec![
        ("Namespace CREATE", file("namespace-create-allowed.json"), 15),
        ("Secret CREATE", file("secret-create-allowed.json"), 20),
        ("Secret UPDATE", file("secret-update-allowed.json"), 10),
        ("NetworkPolicy CREATE", file("networkpolicy-create-allowed.json"), 10),
        ("Database CREATE", file("database-create-allowed.json"), 15),
        ("Cluster UPDATE", apiserver_body(&cluster_update), 15),
        ("Secret 1 MiB", apiserver_body(&big), 1),
        ("deny: Namespace", file("namespace-create-denied.json"), 5),
        ("deny: Database", file("database-create-denied.json"), 5),
        ("deny: Secret", file("secret-create-denied.json"), 4),
    ]
}

/// The webhook's whole per-request work minus HTTP/TLS: the pure
/// [`cnpg_guard::admission::answer`] that `serve` calls (parse, decide,
/// response, decision record), with offline facts. Not inlined, so that
/// callgrind can count it alone.
#[inline(never)]
pub fn review_once(body: &[u8], contract: &cnpg_guard::contract::Contract) -> (Vec<u8>, Vec<u8>) {
    use cnpg_guard::admission::{Outcome, answer};
    use cnpg_guard::facts::NoFacts;
    let answer = answer(body, contract, &NoFacts, std::time::Instant::now());
    match answer.outcome {
        Outcome::Reviewed(verdict) => (answer.body, verdict.record),
        _ => panic!("the mix holds covered kinds only"),
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind loopback")
        .local_addr()
        .expect("local address")
        .port()
}

/// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`), 0 if unreadable.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) the process has used, from `/proc/PID/stat`.
pub fn proc_cpu(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A client that trusts exactly `ca_pem`; `keep_alive: false` forces a new
/// TCP+TLS handshake per request. HTTP/1.1, as kube-apiserver calls webhooks.
pub fn client(ca_pem: &str, keep_alive: bool) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA certificate")).expect("CA certificate");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .http1_only()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(if keep_alive { 1024 } else { 0 })
        .build()
        .expect("client")
}

/// A fresh CA and serving certificate for localhost, written as
/// `dir/tls.crt` and `dir/tls.key`; returns the CA bundle (PEM).
pub fn write_cert(dir: &std::path::Path) -> String {
    use cnpg_guard::server::tls;
    let issued = tls::issue(&["localhost".into(), "127.0.0.1".into()], 1).expect("certificate");
    tls::write_file(&dir.join("tls.crt"), &issued.cert_pem, false).expect("write tls.crt");
    tls::write_file(&dir.join("tls.key"), &issued.key_pem, true).expect("write tls.key");
    issued.ca_pem
}

/// `GET path` on the plain-HTTP admin port answered 200.
pub fn http_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

/// Starts the release `cnpg-guard serve` with the certificate in `dir` on
/// loopback ports and waits for `/readyz`: (child, webhook port, time to ready).
pub fn spawn_guard(dir: &std::path::Path, extra: &[String]) -> (std::process::Child, u16, Duration) {
    use std::process::{Command, Stdio};
    let (port, admin) = (free_port(), free_port());
    let started = std::time::Instant::now();
    let child = Command::new("target/release/cnpg-guard")
        .arg("serve")
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ])
        .arg("--tls-cert")
        .arg(dir.join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start target/release/cnpg-guard (cargo build --release first)");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !http_ok(admin, "/readyz") {
        assert!(std::time::Instant::now() < deadline, "cnpg-guard did not become ready");
        std::thread::sleep(Duration::from_micros(500));
    }
    (child, port, started.elapsed())
}
