//! How reviews reach the webhook: TLS (versions, client certificates),
//! HTTP/1.1 and HTTP/2 (the 413 on both, the connection kept), a 1 MiB
//! body, slow clients cut off at the header deadline, and the metrics that
//! name what happened to a connection. The real `cnpg-guard serve` over
//! real TLS. Connection deadlines per phase: tests/deadlines.rs; limits
//! under load: tests/overload.rs.

mod support;

use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use support::*;

/// A body over --max-body-bytes gets the 413 over HTTP/1.1 and over HTTP/2
/// (where the answer may not carry `Connection: close`, and the rest of the
/// body is read and dropped so the stream ends as the client expects); the
/// HTTP/2 connection keeps serving.
#[tokio::test]
async fn oversize_body_is_413() {
    let server = Server::start_with(Options {
        extra: vec!["--max-body-bytes".into(), "65536".into()],
        ..Options::default()
    });
    let mut review: Value = serde_json::from_str(&fixture("secret-create-allowed.json")).unwrap();
    let big = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 100 * 1024]);
    review["request"]["object"]["data"]["blob"] = Value::String(big);
    let (status, resp) = post(&server.client(), &server.url(), review.to_string()).await;
    assert_eq!(status, 413);
    assert!(
        resp["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-body-bytes")
    );
    assert_eq!(
        (&resp["response"]["allowed"], &resp["response"]["status"]["code"]),
        (&Value::Bool(false), &Value::from(413))
    );

    let h2 = reqwest::Client::builder()
        .tls_backend_preconfigured({
            let mut c = rustls_config(&server.pki.ca, None);
            c.alpn_protocols = vec![b"h2".to_vec()];
            c
        })
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for _ in 0..2 {
        let resp = h2
            .post(server.url())
            .header("Content-Type", "application/json")
            .body(review.to_string())
            .send()
            .await
            .expect("the 413, not a reset stream");
        assert_eq!(resp.version(), reqwest::Version::HTTP_2);
        assert_eq!(resp.status().as_u16(), 413);
        assert!(resp.headers().get("connection").is_none());
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["response"]["status"]["message"]
                .as_str()
                .unwrap()
                .contains("--max-body-bytes"),
            "{body}"
        );
    }
    // The same connection still judges reviews.
    let resp = h2
        .post(server.url())
        .header("Content-Type", "application/json")
        .body(fixture("namespace-create-allowed.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (resp.version(), resp.status().as_u16()),
        (reqwest::Version::HTTP_2, 200)
    );
    assert!(
        server
            .metrics()
            .contains("cnpg_guard_connections_total{event=\"accepted\"} 2"),
        "one HTTP/1.1 and one HTTP/2 connection: {}",
        server.metrics()
    );
}

#[tokio::test]
async fn a_one_mib_secret_is_judged() {
    let server = Server::start();
    let mut review: Value = serde_json::from_str(&fixture("secret-create-denied.json")).unwrap();
    let big = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 1024 * 1024]);
    review["request"]["object"]["data"]["blob"] = Value::String(big);
    let (status, resp) = post(&server.client(), &server.url(), review.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(resp["response"]["allowed"], false);
}

#[tokio::test]
async fn client_certificates_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let clients = cnpg_guard::server::tls::issue(&["kube-apiserver".into()], 1).unwrap();
    let server = Server::start_with(Options {
        client_ca: Some(clients.ca_pem.clone()),
        ..Options::default()
    });
    // No certificate: refused.
    let anonymous = client(&server.pki.ca, None);
    assert!(anonymous.post(server.url()).body("{}").send().await.is_err());
    // A certificate from another CA: refused.
    let other = write_pki(dir.path(), "other-");
    let other_cert = std::fs::read_to_string(&other.cert).unwrap();
    let other_key = std::fs::read_to_string(&other.key).unwrap();
    let stranger = client(&server.pki.ca, Some((&other_cert, &other_key)));
    assert!(stranger.post(server.url()).body("{}").send().await.is_err());
    // The API server's certificate: served.
    let apiserver = client(&server.pki.ca, Some((&clients.cert_pem, &clients.key_pem)));
    let (status, _) = post(&apiserver, &server.url(), fixture("namespace-create-allowed.json")).await;
    assert_eq!(status, 200);
}

/// TLS 1.0/1.1 are refused; TLS 1.2 is served (positive control), with the
/// client's own floor lowered so only the server can say no.
#[tokio::test]
async fn old_tls_versions_are_refused() {
    if std::process::Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl not installed: skipping");
        return;
    }
    let server = Server::start();
    let port = server.port;
    let probe = move |version: &'static str| {
        let out = std::process::Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                version,
                "-cipher",
                "DEFAULT@SECLEVEL=0",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let ok = tokio::task::spawn_blocking(move || probe("-tls1_2")).await.unwrap();
    assert!(ok.contains("New, TLSv1.2"), "TLS 1.2 must be served:\n{ok}");
    for version in ["-tls1_1", "-tls1"] {
        let out = tokio::task::spawn_blocking(move || probe(version)).await.unwrap();
        // No session: no certificate was sent, no cipher agreed.
        assert!(
            out.contains("New, (NONE), Cipher is (NONE)") && out.contains("no peer certificate available"),
            "{version} was not refused:\n{out}"
        );
    }
}

/// Slow clients cannot hold connections: a silent TCP connection (no TLS
/// handshake), a TLS connection that never sends headers, and one that
/// sends half a header are all closed after --header-read-timeout.
#[tokio::test]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start_with(Options {
        extra: vec!["--header-read-timeout".into(), "1".into()],
        ..Options::default()
    });
    let addr = format!("127.0.0.1:{}", server.port);
    let closed_within = |mut stream: tokio::net::TcpStream| async move {
        let mut buf = [0u8; 64];
        let started = std::time::Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
        assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "connection still open: {r:?}");
        started.elapsed()
    };
    // No handshake at all.
    let silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(closed_within(silent).await < Duration::from_secs(3));

    // HTTP/2 negotiated, then silence.
    let mut tls = server.tls(b"h2").await;
    // The guard's own SETTINGS may come first; then the close.
    let mut rest = Vec::new();
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut rest)).await;
    assert!(r.is_ok(), "silent h2 connection still open after 5 s");
    assert!(started.elapsed() < Duration::from_secs(3));

    // TLS done, then silence / half a header.
    for partial in [&b""[..], b"POST /validate HTTP/1.1\r\nHost: local"] {
        let mut tls = server.tls(b"http/1.1").await;
        tls.write_all(partial).await.unwrap();
        let mut buf = [0u8; 256];
        let started = std::time::Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await;
        let closed = match r {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            // hyper may answer 408 before closing.
            Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).contains("408"),
            Err(_) => false,
        };
        assert!(
            closed,
            "partial {:?}: still open after 5 s",
            String::from_utf8_lossy(partial)
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    // An idle keep-alive connection after a complete request is closed too.
    let mut tls = server.tls(b"http/1.1").await;
    let body = fixture("namespace-create-allowed.json");
    let request = format!(
        "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 8192];
    let n = tls.read(&mut response).await.unwrap();
    assert!(String::from_utf8_lossy(&response[..n]).starts_with("HTTP/1.1 200"));
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut rest)).await;
    assert!(r.is_ok(), "idle keep-alive connection still open after 5 s");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Metrics say what happened: connections accepted and cut at the TLS
/// handshake and the HTTP/2 preface, a client that aborts its upload
/// (`client_aborted`, not `bad_request`), a body that is not a review
/// (`bad_request`), and every review request in `review_duration_seconds`.
#[tokio::test]
async fn metrics_name_what_happened() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start_with(Options {
        extra: vec!["--header-read-timeout".into(), "1".into()],
        ..Options::default()
    });
    let addr = format!("127.0.0.1:{}", server.port);
    // Not TLS at all.
    let mut plain = tokio::net::TcpStream::connect(&addr).await.unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(3), plain.read(&mut [0u8; 64])).await;
    // HTTP/2 negotiated, then silence.
    let mut silent = server.tls(b"h2").await;
    let _ = tokio::time::timeout(Duration::from_secs(3), silent.read(&mut [0u8; 64])).await;
    // An upload announced as 100,000 bytes, abandoned after 10.
    let mut upload = server.tls(b"http/1.1").await;
    upload
        .write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"apiVersi")
        .await
        .unwrap();
    upload.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(upload);
    // Not a review; and a good one.
    let (status, _) = post(&server.client(), &server.url(), "not json").await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &server.client(),
        &server.url(),
        fixture("namespace-create-allowed.json"),
    )
    .await;
    assert_eq!(status, 200);

    let want = [
        "cnpg_guard_connections_total{event=\"tls_failed\"} 1",
        "cnpg_guard_connections_total{event=\"preface_timeout\"} 1",
        "cnpg_guard_rejected_requests_total{reason=\"client_aborted\"} 1",
        "cnpg_guard_rejected_requests_total{reason=\"bad_request\"} 1",
    ];
    let _ = eventually_async(Duration::from_secs(5), || {
        let metrics = server.metrics();
        want.iter().all(|w| metrics.contains(w))
    })
    .await;
    let metrics = server.metrics();
    for w in want {
        assert!(metrics.contains(w), "{w} missing in:\n{metrics}");
    }
    let accepted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cnpg_guard_connections_total{event=\"accepted\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(accepted >= 4, "{metrics}");
    // The aborted upload, the 400 and the review are all timed; requests
    // that are not reviews (another method or path) are not.
    for (path, status) in [("/validate", 405), ("/other", 404)] {
        let resp = server
            .client()
            .get(format!("https://localhost:{}{path}", server.port))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
    }
    let timed = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("cnpg_guard_review_duration_seconds_count "))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let _ = eventually_async(Duration::from_secs(5), || timed(&server.metrics()) >= 3).await;
    // A moment more: no fourth request is timed late.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let metrics = server.metrics();
    assert_eq!(timed(&metrics), 3, "{metrics}");
}
