//! The webhook as kube-apiserver sees it: the real `cnpg-guard serve` over
//! real HTTPS, fixtures shaped like real AdmissionReviews.

mod support;

use std::time::Duration;

use base64::Engine;
use rstest::rstest;
use serde_json::Value;
use support::*;

fn rules_of(resp: &Value) -> Vec<String> {
    resp["response"]["auditAnnotations"]["rules"]
        .as_str()
        .map(|s| s.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[rstest]
#[case::namespace_allowed("namespace-create-allowed.json", true, &[], None)]
#[case::namespace_denied("namespace-create-denied.json", false, &["client-label-registered"], Some("metadata.labels[railiance.io/postgres-client]"))]
#[case::namespace_delete_shared("namespace-delete-databases.json", false, &["cluster-identity"], Some("metadata.name"))]
#[case::cluster_allowed("cluster-create-allowed.json", true, &[], None)]
#[case::cluster_update_denied("cluster-update-denied.json", false, &["cluster-identity", "role-registered"], Some("spec.managed.roles[1].name"))]
#[case::cluster_delete_denied("cluster-delete-denied.json", false, &["cluster-identity"], Some("metadata.name"))]
#[case::database_allowed("database-create-allowed.json", true, &[], None)]
#[case::database_denied("database-create-denied.json", false, &["owner-registered"], Some("spec.owner"))]
#[case::pooler_denied("pooler-create-denied.json", false, &["cluster-identity"], Some("metadata.namespace"))]
#[case::networkpolicy_allowed("networkpolicy-create-allowed.json", true, &[], None)]
#[case::networkpolicy_denied("networkpolicy-create-denied.json", false, &["network-posture"], Some("spec.ingress[0].from[0].ipBlock"))]
#[case::networkpolicy_delete_denied("networkpolicy-delete-denied.json", false, &["network-posture"], Some("metadata.name"))]
#[case::secret_allowed("secret-create-allowed.json", true, &[], None)]
#[case::secret_denied("secret-create-denied.json", false, &["bootstrap-secret-confined"], Some("data.username"))]
#[case::secret_update_allowed("secret-update-allowed.json", true, &[], None)]
#[case::uncovered_kind_allowed("configmap-create.json", true, &[], None)]
#[tokio::test]
async fn verdicts(#[case] name: &str, #[case] allowed: bool, #[case] rules: &[&str], #[case] field: Option<&str>) {
    let server = Server::start();
    let body = fixture(name);
    let uid = serde_json::from_str::<Value>(&body).unwrap()["request"]["uid"].clone();
    let (status, resp) = post(&server.client(), &server.url(), body).await;
    assert_eq!(status, 200);
    assert_eq!(resp["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(resp["kind"], "AdmissionReview");
    let r = &resp["response"];
    assert_eq!(r["uid"], uid);
    assert_eq!(r["allowed"], allowed, "{resp:#}");
    let mut got = rules_of(&resp);
    got.sort();
    assert_eq!(got, rules, "{resp:#}");
    if !allowed {
        assert_eq!(r["status"]["code"], 403);
        assert_eq!(r["status"]["reason"], "Forbidden");
        let message = r["status"]["message"].as_str().unwrap();
        for line in message.lines() {
            assert!(line.starts_with('[') && line.contains(". Fix: "), "{line}");
        }
        assert!(message.contains(&format!(": {}: ", field.unwrap())), "{message}");
        assert_eq!(r["auditAnnotations"]["decision"], "deny");
    }
    // One audit record per decision, for covered kinds.
    let records = server.audit_records();
    if name != "configmap-create.json" {
        assert_eq!(records.len(), 1, "{}", server.audit());
        assert_eq!(records[0]["uid"], uid);
        assert_eq!(records[0]["decision"], if allowed { "allow" } else { "deny" });
    }
}

#[tokio::test]
async fn dry_run_gets_the_same_verdict() {
    let server = Server::start();
    let client = server.client();
    let (_, real) = post(&client, &server.url(), fixture("database-create-denied.json")).await;
    let (_, dry) = post(&client, &server.url(), fixture("database-create-denied-dryrun.json")).await;
    assert_eq!(real["response"]["allowed"], false);
    assert_eq!(dry["response"]["allowed"], false);
    assert_eq!(
        real["response"]["status"]["message"],
        dry["response"]["status"]["message"]
    );
    let records = server.audit_records();
    assert_eq!(records[1]["dryRun"], true);
}

#[tokio::test]
async fn ratcheting_break_glass_and_exempt_users() {
    let server = Server::start();
    let client = server.client();

    let (_, r) = post(&client, &server.url(), fixture("namespace-update-ratchet.json")).await;
    assert_eq!(r["response"]["allowed"], true, "{r:#}");
    let warnings = r["response"]["warnings"].as_array().expect("warnings");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("[client-label-registered] (pre-existing)"),
        "{warnings:?}"
    );

    let (_, r) = post(&client, &server.url(), fixture("cluster-delete-breakglass.json")).await;
    assert_eq!(r["response"]["allowed"], true, "{r:#}");
    assert_eq!(r["response"]["auditAnnotations"]["decision"], "break-glass");
    assert_eq!(
        r["response"]["auditAnnotations"]["break-glass"],
        "CHG-1234 planned rebuild"
    );
    assert!(
        r["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("[cluster-identity] (break-glass)")
    );

    let (_, r) = post(
        &client,
        &server.url(),
        fixture("cluster-delete-breakglass-wrong-group.json"),
    )
    .await;
    assert_eq!(r["response"]["allowed"], false);
    assert!(
        r["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("no break-glass group")
    );

    let (_, r) = post(&client, &server.url(), fixture("exempt-operator-update.json")).await;
    assert_eq!(r["response"]["allowed"], true, "{r:#}");
    assert_eq!(r["response"]["auditAnnotations"]["decision"], "exempt");

    let records = server.audit_records();
    assert_eq!(records.len(), 4);
    assert_eq!(records[1]["breakGlass"], "CHG-1234 planned rebuild");
    assert_eq!(records[1]["user"], "bob");
    // UPDATE records carry an RFC 6902 patch from old to new.
    let patch = records[0]["patch"].as_array().expect("patch");
    assert!(
        patch
            .iter()
            .any(|op| op["op"] == "add" && op["path"] == "/metadata/labels/team"),
        "{patch:?}"
    );
}

#[rstest]
#[case::not_json("this is not json", "not a JSON AdmissionReview")]
#[case::wrong_api_version(
    r#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#,
    "apiVersion must be admission.k8s.io/v1"
)]
#[case::missing_request(r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, "has no request")]
#[tokio::test]
async fn bad_input_is_a_clear_400(#[case] body: &str, #[case] says: &str) {
    let server = Server::start();
    let (status, resp) = post(&server.client(), &server.url(), body.to_owned()).await;
    assert_eq!(status, 400);
    assert!(resp["error"].as_str().unwrap().contains(says), "{resp}");
}

#[tokio::test]
async fn missing_uid_and_mismatched_kind_are_400() {
    let server = Server::start();
    let client = server.client();
    let mut review: Value = serde_json::from_str(&fixture("namespace-create-allowed.json")).unwrap();
    review["request"]["uid"] = Value::String(String::new());
    let (status, resp) = post(&client, &server.url(), review.to_string()).await;
    assert_eq!(status, 400);
    assert!(resp["error"].as_str().unwrap().contains("uid"), "{resp}");

    review["request"].as_object_mut().unwrap().remove("uid");
    let (status, _) = post(&client, &server.url(), review.to_string()).await;
    assert_eq!(status, 400);

    let (status, resp) = post(&client, &server.url(), fixture("mismatch-kind.json")).await;
    assert_eq!(status, 400);
    assert!(
        resp["error"].as_str().unwrap().contains("does not match request.kind"),
        "{resp}"
    );
    assert!(!resp.to_string().contains(CANARY));
    assert!(
        server
            .metrics()
            .contains("cnpg_guard_rejected_requests_total{reason=\"bad_request\"} 3")
    );
}

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
    assert!(resp["error"].as_str().unwrap().contains("--max-body-bytes"));

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
        assert!(body["error"].as_str().unwrap().contains("--max-body-bytes"), "{body}");
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

/// A large review is judged off the async workers, within the request's
/// deadline: one that cannot finish in time gets the overloaded answer
/// (429, allowed: false) rather than leaving the API server to time out,
/// and a small review sent meanwhile is answered at once.
#[tokio::test]
async fn a_large_review_past_its_deadline_is_denied_as_overloaded() {
    let server = Server::start();
    // 50,000 unregistered superuser roles: 2.8 MB that a debug build reads
    // in about 0.3 s and judges in about 0.8 s more.
    let mut review: Value = serde_json::from_str(&fixture("cluster-update-denied.json")).unwrap();
    let roles: Vec<Value> = (0..50_000)
        .map(|i| serde_json::json!({"name": format!("intruder_{i}"), "login": true, "superuser": true}))
        .collect();
    review["request"]["object"]["spec"]["managed"]["roles"] = Value::Array(roles);
    // HTTP/1.1: the body arrives at socket speed (HTTP/2's 16 KiB stream
    // window makes a debug build read it slowly).
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(rustls_config(&server.pki.ca, None))
        .http1_only()
        .build()
        .unwrap();
    // timeout=1s: 0.7 s to read and judge it.
    let large = tokio::spawn({
        let url = format!("https://localhost:{}/validate?timeout=1s", server.port);
        let body = review.to_string();
        async move { post(&client, &url, body).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let small = std::time::Instant::now();
    let (status, resp) = post(
        &server.client(),
        &server.url(),
        fixture("namespace-create-allowed.json"),
    )
    .await;
    assert_eq!((status, &resp["response"]["allowed"]), (200, &Value::Bool(true)));
    assert!(small.elapsed() < Duration::from_millis(300), "{:?}", small.elapsed());

    let (status, resp) = large.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(resp["response"]["allowed"], false);
    assert_eq!(
        resp["response"]["status"]["code"], 429,
        "{}",
        resp["response"]["status"]
    );
    assert!(
        resp["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("overloaded")
    );
    assert!(
        server
            .metrics()
            .contains("cnpg_guard_rejected_requests_total{reason=\"overloaded\"} 1")
    );
}

/// Output is bounded whatever the object holds: a Cluster UPDATE that adds
/// 2,000 unregistered managed roles and drops a 20,000-element array gets a
/// denial listing 20 violations and how many more, and a decision record
/// line under 16 KiB whose patch is cut and marked.
#[tokio::test]
async fn output_is_bounded() {
    let server = Server::start();
    let mut review: Value = serde_json::from_str(&fixture("cluster-update-denied.json")).unwrap();
    let roles: Vec<Value> = (0..2000)
        .map(|i| serde_json::json!({"name": format!("intruder_{i}"), "login": true}))
        .collect();
    review["request"]["object"]["spec"]["managed"]["roles"] = Value::Array(roles);
    review["request"]["oldObject"]["spec"]["extra"] = Value::Array((0..20_000).map(Value::from).collect());
    let (status, resp) = post(&server.client(), &server.url(), review.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(resp["response"]["allowed"], false);
    let message = resp["response"]["status"]["message"].as_str().unwrap();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 21, "{message}");
    assert!(
        lines[20].starts_with("… and ") && lines[20].ends_with(" more (see the decision log)"),
        "{}",
        lines[20]
    );
    assert!(message.len() < 8 * 1024, "{} bytes", message.len());

    let raw = server.audit();
    let line = raw.lines().last().unwrap();
    assert!(line.len() < 16 * 1024, "a record line of {} bytes", line.len());
    let record: Value = serde_json::from_str(line).unwrap();
    assert_eq!(record["decision"], "deny");
    assert!(
        record["findingsOmitted"].as_u64().unwrap() > 1900,
        "{}",
        record["findingsOmitted"]
    );
    let cut = &record["patchTruncated"];
    assert!(cut["total"].as_u64().unwrap() > 2000, "{cut}");
    assert_eq!(
        cut["kept"].as_u64().unwrap() as usize,
        record["patch"].as_array().unwrap().len()
    );
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
    let h2 = tokio_rustls::TlsConnector::from(std::sync::Arc::new({
        let mut c = rustls_config(&server.pki.ca, None);
        c.alpn_protocols = vec![b"h2".to_vec()];
        c
    }));
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut silent = h2
        .connect(name.clone(), tokio::net::TcpStream::connect(&addr).await.unwrap())
        .await
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(3), silent.read(&mut [0u8; 64])).await;
    // An upload announced as 100,000 bytes, abandoned after 10.
    let h1 = tokio_rustls::TlsConnector::from(std::sync::Arc::new({
        let mut c = rustls_config(&server.pki.ca, None);
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        c
    }));
    let mut upload = h1
        .connect(name, tokio::net::TcpStream::connect(&addr).await.unwrap())
        .await
        .unwrap();
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

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let want = [
        "cnpg_guard_connections_total{event=\"tls_failed\"} 1",
        "cnpg_guard_connections_total{event=\"preface_timeout\"} 1",
        "cnpg_guard_rejected_requests_total{reason=\"client_aborted\"} 1",
        "cnpg_guard_rejected_requests_total{reason=\"bad_request\"} 1",
    ];
    let mut metrics = server.metrics();
    while want.iter().any(|w| !metrics.contains(w)) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = server.metrics();
    }
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
    while timed(&metrics) < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = server.metrics();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(timed(&server.metrics()), 3, "{metrics}");
}

/// Request bodies are bounded before they are read: a body announced over
/// --max-body-bytes is refused at once (413, no `100 Continue`); the bytes
/// in flight are a budget that a stalled upload holds and a second request
/// cannot exceed (429 within its deadline); a body that trickles is cut at
/// the request's deadline (408); then the budget is free again.
#[tokio::test]
async fn request_bodies_are_bounded_before_they_are_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start_with(Options {
        extra: vec![
            "--max-body-bytes".into(),
            "100000".into(),
            "--max-body-bytes-in-flight".into(),
            "131072".into(),
        ],
        ..Options::default()
    });
    let addr = format!("127.0.0.1:{}", server.port);
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new({
        let mut c = rustls_config(&server.pki.ca, None);
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        c
    }));
    let open = || async {
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        connector
            .connect(name, tokio::net::TcpStream::connect(&addr).await.unwrap())
            .await
            .unwrap()
    };
    let head = |timeout: &str, length: usize, expect: bool| {
        format!(
            "POST /validate?timeout={timeout} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n{}\r\n",
            if expect { "Expect: 100-continue\r\n" } else { "" }
        )
    };
    let status_of = |text: &str| text.split_whitespace().nth(1).unwrap_or("").to_owned();

    // Announced too large: 413 at once, without a 100 Continue.
    let mut big = open().await;
    big.write_all(head("10s", 10 * 1024 * 1024, true).as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), big.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), "413");

    // A stalled upload of 90,000 bytes holds most of the 128 KiB budget ...
    let mut stalled = open().await;
    stalled.write_all(head("3s", 90_000, false).as_bytes()).await.unwrap();
    stalled.write_all(b"{\"apiVersion\"").await.unwrap();
    stalled.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ... so a second request of 60,000 waits, and is refused in its deadline.
    let mut second = open().await;
    let started = std::time::Instant::now();
    second.write_all(head("1s", 60_000, false).as_bytes()).await.unwrap();
    // Meanwhile a small review, which fits in what is left, does not queue
    // behind the one waiting for room.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let small = std::time::Instant::now();
    let (status, resp) = post(
        &server.client(),
        &server.url(),
        fixture("namespace-create-allowed.json"),
    )
    .await;
    assert_eq!((status, &resp["response"]["allowed"]), (200, &serde_json::json!(true)));
    assert!(small.elapsed() < Duration::from_millis(400), "{:?}", small.elapsed());
    let n = tokio::time::timeout(Duration::from_secs(3), second.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), "429");
    assert!(started.elapsed() < Duration::from_secs(1));

    // The stalled upload falls below the minimum rate once its first second
    // of grace is over, and is cut well before its deadline (3 s).
    let started = std::time::Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(status_of(&text), "408");
    assert!(text.contains("slower than 256 KiB/s"), "{text}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    // A short deadline (timeout=1s: 0.7 s to read the body) ends before the
    // grace: that upload is cut at its deadline.
    let mut short = open().await;
    short.write_all(head("1s", 1_000, false).as_bytes()).await.unwrap();
    short.write_all(b"{").await.unwrap();
    short.flush().await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(3), short.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(status_of(&text), "408");
    assert!(text.contains("within the request's deadline"), "{text}");

    // The budget is free again: a real review is answered.
    let (status, resp) = post(
        &server.client(),
        &server.url(),
        fixture("namespace-create-allowed.json"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(resp["response"]["allowed"], true);
    let metrics = server.metrics();
    for reason in ["too_large", "overloaded", "body_too_slow", "body_timeout"] {
        assert!(
            metrics.contains(&format!("cnpg_guard_rejected_requests_total{{reason=\"{reason}\"}} 1")),
            "{reason}: {metrics}"
        );
    }
}

/// Past --max-connections a new connection is closed at once, the admin
/// port keeps answering, and a freed slot serves reviews again.
#[tokio::test]
async fn connections_past_the_cap_make_room_or_are_refused_cheaply() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start_with(Options {
        extra: vec!["--max-connections".into(), "3".into()],
        ..Options::default()
    });
    let addr = format!("127.0.0.1:{}", server.port);
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new({
        let mut c = rustls_config(&server.pki.ca, None);
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        c
    }));
    let connect = || async {
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        connector.connect(name, tcp).await.unwrap()
    };

    // Three idle connections fill the cap; a valid review still gets in:
    // the connection quiet longest is closed to make room.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, resp) = post(
        &server.client(),
        &server.url(),
        fixture("namespace-create-allowed.json"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(resp["response"]["allowed"], true);
    let r = tokio::time::timeout(Duration::from_secs(3), idle[0].read(&mut [0u8; 16])).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_))),
        "the oldest idle one is closed: {r:?}"
    );
    assert!(
        server
            .metrics()
            .contains("cnpg_guard_connections_total{event=\"evicted\"} 1"),
        "{}",
        server.metrics()
    );
    drop(idle);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Three connections with a review open (a body still arriving, above the
    // minimum rate) keep their slots: a fourth waits a second at most for
    // one, then is closed; the admin port still answers.
    let mut busy = Vec::new();
    for _ in 0..3 {
        let mut c = connect().await;
        c.write_all(b"POST /validate?timeout=10s HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 4000000\r\n\r\n{")
            .await
            .unwrap();
        c.flush().await.unwrap();
        busy.push(tokio::spawn(async move {
            // 640 KiB/s, over 2.5 times the minimum rate.
            let chunk = vec![b' '; 32 * 1024];
            loop {
                if c.write_all(&chunk).await.is_err() || c.flush().await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(3), fourth.read(&mut [0u8; 16])).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "not closed: {r:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(1900),
        "{waited:?}"
    );
    assert_eq!(admin_get(server.admin, "/healthz").map(|(code, _)| code), Some(200));
    assert!(
        server
            .metrics()
            .contains("cnpg_guard_connections_total{event=\"refused\"} 1"),
        "{}",
        server.metrics()
    );
    for uploader in busy {
        uploader.abort();
    }
}

/// Making room past the cap, connections that never carried a request go
/// before a client's keep-alive connection, however long that one is quiet.
#[tokio::test]
async fn a_keep_alive_connection_outlasts_silent_ones_past_the_cap() {
    let server = Server::start_with(Options {
        extra: vec!["--max-connections".into(), "3".into()],
        ..Options::default()
    });
    let keep_alive = server.client();
    let review = || fixture("namespace-create-allowed.json");
    assert_eq!(post(&keep_alive, &server.url(), review()).await.0, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Two silent connections fill the cap, both quiet for less time.
    let addr = format!("127.0.0.1:{}", server.port);
    let _silent: Vec<_> = futures::future::join_all((0..2).map(|_| tokio::net::TcpStream::connect(&addr))).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Three newcomers in turn each take a silent one's slot, or, once the
    // silent ones are gone, the first newcomer's when it has been quiet for
    // 0.5 s (it is quiet longer than the keep-alive connection, used since);
    // the keep-alive connection stays and keeps serving.
    let mut newcomers = Vec::new();
    for _ in 0..3 {
        let newcomer = server.client();
        assert_eq!(post(&newcomer, &server.url(), review()).await.0, 200);
        newcomers.push(newcomer);
        assert_eq!(post(&keep_alive, &server.url(), review()).await.0, 200);
    }
    let metrics = server.metrics();
    // 1 keep-alive + 2 silent + 3 newcomers, no reconnection.
    assert!(
        metrics.contains("cnpg_guard_connections_total{event=\"accepted\"} 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cnpg_guard_connections_total{event=\"evicted\"} 3"),
        "{metrics}"
    );
}

/// A busy client's connections are quiet only for moments between reviews;
/// past the cap, newcomers do not close them (which would make the client
/// reconnect, a TLS handshake each, and fail a request sent as one closes:
/// under load that fed itself). The newcomers are refused instead.
#[tokio::test]
async fn a_busy_clients_connections_keep_their_slots_past_the_cap() {
    let server = Server::start_with(Options {
        extra: vec!["--max-connections".into(), "4".into()],
        ..Options::default()
    });
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (server.client(), server.url());
            tokio::spawn(async move {
                let until = std::time::Instant::now() + Duration::from_millis(1800);
                let mut answered = 0;
                while std::time::Instant::now() < until {
                    let (status, resp) = post(&client, &url, fixture("namespace-create-allowed.json")).await;
                    assert_eq!((status, resp["response"]["allowed"].as_bool()), (200, Some(true)));
                    answered += 1;
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                answered
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Three newcomers while every slot is taken by a client between reviews.
    let addr = format!("127.0.0.1:{}", server.port);
    let newcomers = futures::future::join_all((0..3).map(|_| async {
        use tokio::io::AsyncReadExt;
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut [0u8; 16])).await
    }))
    .await;
    for r in newcomers {
        assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "a newcomer is closed: {r:?}");
    }
    for client in busy {
        let answered = client.await.expect("every review of the busy clients is answered");
        assert!(answered >= 10, "{answered}");
    }
    let metrics = server.metrics();
    for line in [
        "cnpg_guard_connections_total{event=\"accepted\"} 4",
        "cnpg_guard_connections_total{event=\"evicted\"} 0",
        "cnpg_guard_connections_total{event=\"refused\"} 3",
    ] {
        assert!(metrics.contains(line), "{line}: {metrics}");
    }
}

#[tokio::test]
async fn certificate_rotation_while_serving() {
    let server = Server::start();
    let old_client = server.client();
    let (status, _) = post(&old_client, &server.url(), fixture("namespace-create-allowed.json")).await;
    assert_eq!(status, 200);

    // Garbage first: the last good certificate keeps being served.
    std::fs::write(&server.pki.cert, "not a certificate").unwrap();
    server
        .wait_for_metric("cnpg_guard_certificate_reloads_total{result=\"failed\"} 1")
        .await;
    let fresh_old = client(&server.pki.ca, None);
    assert_eq!(
        post(&fresh_old, &server.url(), fixture("namespace-create-allowed.json"))
            .await
            .0,
        200
    );
    assert!(server.logs().contains("cannot reload the serving certificate"));
    assert!(
        server
            .metrics()
            .contains("cnpg_guard_certificate_reloads_total{result=\"failed\"} 1")
    );

    // A renewed certificate from a new CA, as cert-manager would write it.
    let renewed = write_pki(server.dir.path(), "renewed-");
    std::fs::copy(&renewed.cert, &server.pki.cert).unwrap();
    std::fs::copy(&renewed.key, &server.pki.key).unwrap();
    server
        .wait_for_metric("cnpg_guard_certificate_reloads_total{result=\"ok\"} 1")
        .await;

    // The connection in use keeps working (it was established before).
    let (status, _) = post(&old_client, &server.url(), fixture("namespace-create-allowed.json")).await;
    assert_eq!(status, 200);
    // New connections get the renewed certificate.
    let new_client = client(&renewed.ca, None);
    assert_eq!(
        post(&new_client, &server.url(), fixture("namespace-create-allowed.json"))
            .await
            .0,
        200
    );
    let stale = client(&server.pki.ca, None);
    assert!(
        stale.post(server.url()).body("{}").send().await.is_err(),
        "old CA must no longer verify"
    );
    assert!(
        server
            .metrics()
            .contains("cnpg_guard_certificate_reloads_total{result=\"ok\"} 1")
    );
    assert!(server.metrics().contains("cnpg_guard_certificate_expiry_seconds"));
}

#[tokio::test]
async fn contract_reload_keeps_the_last_good_contract() {
    let contract = cnpg_guard::contract::EMBEDDED_CONTRACT.to_owned();
    let server = Server::start_with(Options {
        contract: Some(contract.clone()),
        ..Options::default()
    });
    let client = server.client();
    let (_, r) = post(&client, &server.url(), fixture("namespace-create-denied.json")).await;
    assert_eq!(r["response"]["allowed"], false);

    // Register random-app: the same request is now allowed.
    let path = server.dir.path().join("contract.yaml");
    let with_consumer = contract.replace(
        "        databases: [vergabe_db]\n",
        "        databases: [vergabe_db]\n      - namespace: random-app\n        role: random\n        databases: [random_db]\n",
    );
    std::fs::write(&path, &with_consumer).unwrap();
    server
        .wait_for_metric("cnpg_guard_contract_reloads_total{result=\"ok\"} 1")
        .await;
    let (_, r) = post(&client, &server.url(), fixture("namespace-create-denied.json")).await;
    assert_eq!(r["response"]["allowed"], true, "{}", server.logs());

    // A broken contract is refused, logged and counted; the last good one stays.
    std::fs::write(
        &path,
        "apiVersion: cnpg-guard.railiance.io/v1alpha1\nkind: Contract\nsharedClusters: [oops\n",
    )
    .unwrap();
    server
        .wait_for_metric("cnpg_guard_contract_reloads_total{result=\"failed\"} 1")
        .await;
    let (_, r) = post(&client, &server.url(), fixture("namespace-create-denied.json")).await;
    assert_eq!(r["response"]["allowed"], true);
    assert!(server.logs().contains("contract reload failed"), "{}", server.logs());
    let metrics = server.metrics();
    assert!(
        metrics.contains("cnpg_guard_contract_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cnpg_guard_contract_reloads_total{result=\"failed\"} 1"),
        "{metrics}"
    );
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

#[tokio::test]
async fn admin_port_health_readiness_and_metrics() {
    // Started with a lower soft open-files limit than the hard one, it
    // raises its own (below).
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, soft.min(4096), hard);
    let server = Server::start();
    let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard);
    assert_eq!(admin_get(server.admin, "/healthz").unwrap().0, 200);
    assert_eq!(admin_get(server.admin, "/readyz").unwrap().0, 200);
    let client = server.client();
    post(&client, &server.url(), fixture("database-create-denied.json")).await;
    post(&client, &server.url(), fixture("namespace-create-allowed.json")).await;
    let m = server.metrics();
    for needle in [
        "cnpg_guard_reviews_total{kind=\"Database\",operation=\"CREATE\",decision=\"deny\"} 1",
        "cnpg_guard_reviews_total{kind=\"Namespace\",operation=\"CREATE\",decision=\"allow\"} 1",
        "cnpg_guard_violations_total{rule=\"owner-registered\",mode=\"enforce\"}",
        "cnpg_guard_review_duration_seconds_count 2",
        "# EOF",
    ] {
        assert!(m.contains(needle), "{needle} not in\n{m}");
    }
    // The open-files limit was raised to the hard limit at start.
    let logs = server.logs();
    let raised = logs
        .lines()
        .filter(|l| l.contains("file descriptor limit"))
        .find_map(|l| serde_json::from_str::<Value>(l).ok()?["open_files"].as_u64())
        .unwrap_or_else(|| panic!("no file descriptor limit line in\n{logs}"));
    if hard <= 1 << 20 {
        assert_eq!(raised, hard);
    }
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let mut server = Server::start();
    let client = server.client();
    let url = server.url();
    let load = tokio::spawn(async move {
        let mut answered = 0;
        for _ in 0..400 {
            match client
                .post(&url)
                .body(fixture("database-create-denied.json"))
                .send()
                .await
            {
                Ok(resp) => {
                    let v: Value = resp.json().await.expect("a complete, valid answer");
                    assert_eq!(v["response"]["allowed"], false);
                    answered += 1;
                }
                Err(_) => break, // the listener is closed: no new connections
            }
        }
        answered
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || {
        let s = server.terminate();
        (s, server.logs())
    })
    .await
    .unwrap();
    assert!(status.0.success(), "exit {:?}: {}", status.0, status.1);
    assert!(status.1.contains("shutting down"));
    assert!(load.await.unwrap() > 0);
}

#[tokio::test]
async fn no_secret_value_in_responses_logs_audit_or_metrics() {
    let server = Server::start(); // RUST_LOG=trace: every level is checked
    let client = server.client();
    let encoded = base64::engine::general_purpose::STANDARD.encode(CANARY);
    let mut responses = String::new();
    // A Secret declared as another kind: the 400 must not echo it.
    let mut mismatch: Value = serde_json::from_str(&fixture("secret-create-denied.json")).unwrap();
    mismatch["request"]["kind"]["kind"] = Value::String("Namespace".into());
    // A Secret whose data does not decode: neither must that error.
    let mut undecodable: Value = serde_json::from_str(&fixture("secret-create-denied.json")).unwrap();
    undecodable["request"]["object"]["data"]["password"] = Value::String(format!("{CANARY}!!"));
    for (name, body) in [
        ("secret-create-allowed.json", fixture("secret-create-allowed.json")),
        ("secret-create-denied.json", fixture("secret-create-denied.json")),
        ("secret-update-allowed.json", fixture("secret-update-allowed.json")),
        ("mismatch", mismatch.to_string()),
        ("undecodable", undecodable.to_string()),
    ] {
        assert!(
            body.contains(CANARY) || body.contains(&encoded),
            "{name} must carry the canary"
        );
        let (_, resp) = post(&client, &server.url(), body).await;
        responses.push_str(&resp.to_string());
    }
    let everything = format!(
        "{responses}\n{}\n{}\n{}",
        server.logs(),
        server.audit(),
        server.metrics()
    );
    assert!(
        server.logs().contains("\"level\":\"DEBUG\""),
        "logs must be at debug/trace level for this test"
    );
    for needle in [CANARY, encoded.as_str(), &encoded[..encoded.len() - 4]] {
        assert!(
            !everything.contains(needle),
            "the canary {needle:?} leaked:\n{everything}"
        );
    }
    // The audit records exist and are redacted, not empty.
    let audit = server.audit();
    assert!(audit.contains("<redacted"), "{audit}");
    // The update's patch shows that the password changed, not to what.
    assert!(
        audit.contains(r#""path":"/data/password","value":"<redacted:changed>""#),
        "{audit}"
    );
}

#[tokio::test]
async fn contract_deleted_truncated_or_garbage_keeps_the_last_good_one() {
    let server = Server::start_with(Options {
        contract: Some(cnpg_guard::contract::EMBEDDED_CONTRACT.to_owned()),
        ..Options::default()
    });
    let client = server.client();
    let path = server.dir.path().join("contract.yaml");
    let contract = cnpg_guard::contract::EMBEDDED_CONTRACT;
    let faults: [(&str, Option<String>); 3] = [
        ("deleted", None),
        ("truncated", Some(contract[..contract.len() / 3].to_owned())),
        ("garbage", Some("\u{0}\u{1}{{{{ not yaml".to_owned())),
    ];
    for (n, (fault, content)) in faults.into_iter().enumerate() {
        match content {
            None => std::fs::remove_file(&path).unwrap(),
            Some(c) => std::fs::write(&path, c).unwrap(),
        }
        server
            .wait_for_metric(&format!(
                "cnpg_guard_contract_reloads_total{{result=\"failed\"}} {}",
                n + 1
            ))
            .await;
        // Every valid review still gets a correct verdict.
        let (_, denied) = post(&client, &server.url(), fixture("namespace-create-denied.json")).await;
        assert_eq!(denied["response"]["allowed"], false, "{fault}");
        let (_, allowed) = post(&client, &server.url(), fixture("namespace-create-allowed.json")).await;
        assert_eq!(allowed["response"]["allowed"], true, "{fault}");
        // Still ready (it has a good contract), and the failure is visible.
        assert_eq!(admin_get(server.admin, "/readyz").unwrap().0, 200, "{fault}");
        let metrics = server.metrics();
        let want = format!("cnpg_guard_contract_reloads_total{{result=\"failed\"}} {}", n + 1);
        assert!(metrics.contains(&want), "{fault}: {want} not in\n{metrics}");
    }
    assert!(server.logs().contains("cannot read the contract"));
    assert!(server.logs().contains("contract reload failed"));
    assert!(server.child.id() > 0);
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
    let h2 = tokio_rustls::TlsConnector::from(std::sync::Arc::new({
        let mut c = rustls_config(&server.pki.ca, None);
        c.alpn_protocols = vec![b"h2".to_vec()];
        c
    }));
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut tls = h2
        .connect(rustls_pki_types::ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    // The guard's own SETTINGS may come first; then the close.
    let mut rest = Vec::new();
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut rest)).await;
    assert!(r.is_ok(), "silent h2 connection still open after 5 s");
    assert!(started.elapsed() < Duration::from_secs(3));

    // TLS done, then silence / half a header.
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new({
        let mut c = rustls_config(&server.pki.ca, None);
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        c
    }));
    for partial in [&b""[..], b"POST /validate HTTP/1.1\r\nHost: local"] {
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
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
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
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

#[cfg(unix)]
#[test]
fn a_world_readable_key_is_warned_about_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path(), "");
    std::fs::set_permissions(&pki.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (port, admin) = (free_port(), free_port());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_cnpg-guard"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ])
        .arg("--tls-cert")
        .arg(&pki.cert)
        .arg("--tls-key")
        .arg(&pki.key)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while admin_get(admin, "/readyz").is_none_or(|(c, _)| c != 200) {
        assert!(std::time::Instant::now() < deadline, "not ready");
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("world-readable"), "{logs}");
}

/// Without a cluster, `--facts-from` manifests answer the checks that need
/// facts: the provisioning check runs instead of being skipped.
#[tokio::test]
async fn facts_from_manifests_replace_skipped_checks() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/good");
    let plain = Server::start();
    let with_facts = Server::start_with(Options {
        extra: vec!["--facts-from".into(), examples.display().to_string()],
        ..Options::default()
    });
    for server in [&plain, &with_facts] {
        let (_, r) = post(&server.client(), &server.url(), fixture("database-create-allowed.json")).await;
        assert_eq!(r["response"]["allowed"], true);
    }
    let skipped = |s: &Server| s.audit_records()[0]["skipped"].as_array().unwrap().len();
    assert_eq!(skipped(&plain), 2, "{}", plain.audit());
    assert_eq!(
        plain.audit_records()[0]["skipped"][0],
        "[owner-registered] Database databases/vergabe-db: role \"vergabe\" is provisioned \
         (no live cluster facts (offline))"
    );
    assert_eq!(
        plain.audit_records()[0]["skipped"][1],
        "[tenant-isolated] Database databases/vergabe-db: no other Database CR manages database \"vergabe_db\" \
         (no live cluster facts (offline))"
    );
    assert_eq!(skipped(&with_facts), 0, "{}", with_facts.audit());
    assert!(with_facts.logs().contains("offline facts loaded from manifests"));
}
