//! Every phase of a webhook connection has a deadline, and the admin port
//! answers while the webhook port is saturated: the real `cnpg-guard serve`
//! over real TLS, with clients that misbehave on purpose.

mod support;

use std::time::{Duration, Instant};

use support::h2raw::{self, ACK, DATA, END_STREAM, GOAWAY, PING, SETTINGS};
use support::*;
use tokio::io::AsyncWriteExt;

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A TLS connection to the webhook with one ALPN protocol.
async fn connect(server: &Server, alpn: &[u8], socket: tokio::net::TcpSocket) -> Tls {
    let tcp = socket
        .connect(format!("127.0.0.1:{}", server.port).parse().unwrap())
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    connector(&server.pki.ca, alpn).connect(name, tcp).await.unwrap()
}

async fn open(server: &Server, alpn: &[u8]) -> Tls {
    connect(server, alpn, tokio::net::TcpSocket::new_v4().unwrap()).await
}

/// Reads HTTP/2 frames until the connection ends, acknowledging SETTINGS
/// and PINGs as a live client would if it has sent its preface (`answer`):
/// (when it ended, GOAWAY seen).
async fn frames_until_closed(tls: &mut Tls, answer: bool, within: Duration) -> (Instant, bool) {
    let mut goaway = false;
    let run = async {
        while let Some((kind, flags, _, payload)) = h2raw::read_frame(tls).await {
            match (kind, flags & ACK) {
                (SETTINGS, 0) if answer => tls.write_all(&h2raw::frame(SETTINGS, ACK, 0, &[])).await.unwrap(),
                (PING, 0) if answer => tls.write_all(&h2raw::frame(PING, ACK, 0, &payload)).await.unwrap(),
                (GOAWAY, _) => goaway = true,
                _ => {}
            }
        }
    };
    assert!(
        tokio::time::timeout(within, run).await.is_ok(),
        "the connection is still open after {within:?}"
    );
    (Instant::now(), goaway)
}

fn server(extra: &[&str]) -> Server {
    Server::start_with(Options {
        extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        log_level: "debug",
        ..Options::default()
    })
}

/// An HTTP/2 client that sends one byte of the preface, or the preface and
/// SETTINGS but no request, is cut at --header-read-timeout.
#[tokio::test]
async fn an_http2_preface_without_a_request_is_cut() {
    let server = server(&["--header-read-timeout", "1", "--idle-timeout", "30"]);
    for (opening, whole) in [(b"P".to_vec(), false), (h2raw::opening(&[]), true)] {
        let mut tls = open(&server, b"h2").await;
        let started = Instant::now();
        tls.write_all(&opening).await.unwrap();
        let (ended, _) = frames_until_closed(&mut tls, whole, Duration::from_secs(5)).await;
        assert!(ended - started < Duration::from_secs(3), "{:?}", ended - started);
    }
    server
        .wait_for_metric_within(
            "cnpg_guard_connections_total{event=\"preface_timeout\"} 2",
            Duration::from_secs(2),
        )
        .await;
}

/// An HTTP/2 connection that answered a review and then stays idle (while
/// acknowledging every PING) gets GOAWAY at --idle-timeout and is closed.
#[tokio::test]
async fn an_idle_http2_connection_gets_goaway() {
    let server = server(&["--idle-timeout", "2"]);
    let mut tls = open(&server, b"h2").await;
    let body = fixture("namespace-create-allowed.json");
    tls.write_all(&h2raw::opening(&[])).await.unwrap();
    tls.write_all(&h2raw::post_headers(1, "/validate?timeout=10s", body.len()))
        .await
        .unwrap();
    tls.write_all(&h2raw::frame(DATA, END_STREAM, 1, body.as_bytes()))
        .await
        .unwrap();
    // Until the answer's end: the connection is then idle.
    loop {
        let (kind, flags, stream, _) = h2raw::read_frame(&mut tls).await.expect("an answer");
        if kind == SETTINGS && flags & ACK == 0 {
            tls.write_all(&h2raw::frame(SETTINGS, ACK, 0, &[])).await.unwrap();
        }
        if stream == 1 && flags & END_STREAM != 0 {
            break;
        }
    }
    let idle_since = Instant::now();
    let (ended, goaway) = frames_until_closed(&mut tls, true, Duration::from_secs(8)).await;
    assert!(goaway, "no GOAWAY before the close");
    let idled = ended - idle_since;
    assert!(
        idled >= Duration::from_millis(1500) && idled < Duration::from_secs(5),
        "{idled:?}"
    );
    server
        .wait_for_metric_within(
            "cnpg_guard_connections_total{event=\"idle_timeout\"} 1",
            Duration::from_secs(2),
        )
        .await;
}

/// An HTTP/2 client whose flow-control window never opens cannot hold its
/// stream (and the answer buffered for it) past --write-timeout.
#[tokio::test]
async fn an_http2_answer_the_client_never_takes_is_cut() {
    let server = server(&["--write-timeout", "1", "--idle-timeout", "30"]);
    let mut tls = open(&server, b"h2").await;
    let body = fixture("namespace-create-denied.json");
    tls.write_all(&h2raw::opening(&[(h2raw::INITIAL_WINDOW_SIZE, 0)]))
        .await
        .unwrap();
    tls.write_all(&h2raw::post_headers(1, "/validate?timeout=10s", body.len()))
        .await
        .unwrap();
    tls.write_all(&h2raw::frame(DATA, END_STREAM, 1, body.as_bytes()))
        .await
        .unwrap();
    let started = Instant::now();
    let (ended, _) = frames_until_closed(&mut tls, true, Duration::from_secs(6)).await;
    assert!(ended - started < Duration::from_secs(4), "{:?}", ended - started);
    server
        .wait_for_metric_within(
            "cnpg_guard_connections_total{event=\"write_timeout\"} 1",
            Duration::from_secs(2),
        )
        .await;
    // The review itself was judged.
    assert_eq!(server.audit_records().len(), 1);
}

/// An HTTP/1.1 client that pipelines reviews and never reads the answers
/// (its receive buffer kept small) is cut at --write-timeout, once the
/// answers have filled the socket buffers.
#[tokio::test]
async fn a_pipelining_client_that_never_reads_is_cut() {
    let server = server(&["--write-timeout", "1"]);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tls = connect(&server, b"http/1.1", socket).await;
    let (_unread, mut writer) = tokio::io::split(tls);
    let body = fixture("namespace-create-denied.json");
    let request = format!(
        "POST /validate?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let batch = request.repeat(500).into_bytes();
    // The server stops reading once its answers back up, and so this write
    // blocks, until the server cuts the connection.
    let writing = tokio::spawn(async move {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if writer.write_all(&batch).await.is_err() {
                return true;
            }
        }
        false
    });
    server
        .wait_for_metric_within(
            "cnpg_guard_connections_total{event=\"write_timeout\"} 1",
            Duration::from_secs(45),
        )
        .await;
    let cut = tokio::time::timeout(Duration::from_secs(5), writing).await;
    assert!(matches!(cut, Ok(Ok(true))), "the connection was not closed: {cut:?}");
    let (status, _) = post(
        &server.client(),
        &server.url(),
        fixture("namespace-create-allowed.json"),
    )
    .await;
    assert_eq!(status, 200);
}

/// With every connection slot taken and the body budget spent by stalled
/// uploads, /healthz, /readyz and /metrics still answer at once; the
/// stalled uploads are cut for their pace within about a second and a
/// valid review gets in.
#[tokio::test]
async fn the_admin_port_answers_while_the_webhook_port_is_saturated() {
    let server = server(&[
        "--max-connections",
        "4",
        "--max-body-bytes",
        "100000",
        "--max-body-bytes-in-flight",
        "131072",
    ]);
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut tls = open(&server, b"http/1.1").await;
        tls.write_all(
            b"POST /validate?timeout=30s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 90000\r\n\r\n{\"apiVersion\"",
        )
        .await
        .unwrap();
        tls.flush().await.unwrap();
        stalled.push(tls);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        let started = Instant::now();
        let (code, _) = admin_get(server.admin, path).expect(path);
        assert_eq!(code, 200, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    // The webhook port is full now; a valid review waits for a slot, which
    // the stalled uploads give up when they are cut for their pace.
    let started = Instant::now();
    let (status, resp) = post(
        &server.client(),
        &server.url(),
        fixture("namespace-create-allowed.json"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(resp["response"]["allowed"], true);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let metrics = server.metrics();
    assert!(
        !metrics.contains("cnpg_guard_rejected_requests_total{reason=\"body_too_slow\"} 0"),
        "{metrics}"
    );
    drop(stalled);
}
