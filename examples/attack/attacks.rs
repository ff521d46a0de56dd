//! The hostile clients, each until `Target::until`, to 127.0.0.1 only.
//! Connection attacks reopen what the guard closes (after a short pause),
//! so the pressure lasts the whole attack.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::h2raw::{self, ACK, PING, SETTINGS};

pub type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

#[derive(Clone)]
pub struct Target {
    pub port: u16,
    pub ca: String,
    pub until: Instant,
}

impl Target {
    fn over(&self) -> bool {
        Instant::now() >= self.until
    }

    fn left(&self) -> Duration {
        self.until.saturating_duration_since(Instant::now())
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}/validate?timeout=10s", self.port)
    }

    /// As the API server calls the shipped webhook (`timeoutSeconds: 5`).
    pub fn valid_url(&self) -> String {
        format!("https://localhost:{}/validate?timeout=5s", self.port)
    }

    /// TCP (optionally with a small receive buffer) and TLS with one ALPN protocol.
    pub async fn tls(&self, alpn: &[u8], recv_buffer: Option<u32>) -> std::io::Result<Tls> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        let tcp = socket.connect(([127, 0, 0, 1], self.port).into()).await?;
        let mut config = crate::support::rustls_config(&self.ca, None);
        config.alpn_protocols = vec![alpn.to_vec()];
        let name = rustls_pki_types::ServerName::try_from("localhost").map_err(std::io::Error::other)?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    }
}

/// What the attack's requests got, by HTTP status or error.
#[derive(Clone, Default)]
pub struct Tally(Arc<Mutex<BTreeMap<String, u64>>>);

impl Tally {
    pub fn add(&self, what: impl Into<String>) {
        self.add_n(what, 1);
    }

    pub fn add_n(&self, what: impl Into<String>, n: u64) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(what.into()).or_default() += n;
    }

    pub fn summary(&self) -> String {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn post_until(t: Target, client: reqwest::Client, body: bytes::Bytes, tally: Tally) {
    while !t.over() {
        match tokio::time::timeout(
            t.left() + Duration::from_secs(2),
            client.post(t.url()).body(body.clone()).send(),
        )
        .await
        {
            Ok(Ok(r)) => {
                tally.add(format!("HTTP {}", r.status().as_u16()));
                let _ = r.bytes().await;
            }
            Ok(Err(_)) => {
                tally.add("error");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => break,
        }
    }
}

/// `clients` connections (one reqwest client each), each with `per_client`
/// requests in flight, posting `body` again and again.
pub async fn bodies(t: Target, clients: Vec<reqwest::Client>, per_client: usize, body: Vec<u8>, tally: Tally) {
    let body = bytes::Bytes::from(body);
    let mut tasks = Vec::new();
    for client in clients {
        for _ in 0..per_client {
            tasks.push(tokio::spawn(post_until(
                t.clone(),
                client.clone(),
                body.clone(),
                tally.clone(),
            )));
        }
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Reopens after `pause` when a connection lasted less than a second (a
/// refused one), so the attacker does not spin.
async fn pause_if_short(opened: Instant) {
    if opened.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `n` connections that announce `announced` bytes and send `per_second` of
/// them a second (in ten steps a second from 10 B/s up), with the longest
/// timeout a webhook may have (30 s).
pub async fn slow_bodies(t: Target, n: usize, announced: usize, per_second: usize, tally: Tally) {
    let (step, every) = if per_second < 10 {
        (per_second.max(1), Duration::from_secs(1))
    } else {
        (per_second / 10, Duration::from_millis(100))
    };
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (t, tally) = (t.clone(), tally.clone());
            tokio::spawn(async move {
                while !t.over() {
                    let opened = Instant::now();
                    let Ok(mut tls) = t.tls(b"http/1.1", None).await else {
                        tally.add("connect failed");
                        pause_if_short(opened).await;
                        continue;
                    };
                    let head = format!(
                        "POST /validate?timeout=30s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {announced}\r\n\r\n"
                    );
                    if tls.write_all(head.as_bytes()).await.is_err() {
                        continue;
                    }
                    let chunk = vec![b' '; step];
                    let mut sent = 0;
                    let mut buf = [0u8; 512];
                    loop {
                        tokio::select! {
                            read = tls.read(&mut buf) => {
                                match read {
                                    Ok(n) if n > 0 => tally.add(format!(
                                        "HTTP {}",
                                        String::from_utf8_lossy(&buf[..n]).split_whitespace().nth(1).unwrap_or("?")
                                    )),
                                    _ => tally.add("closed"),
                                }
                                break;
                            }
                            () = tokio::time::sleep(every) => {
                                if t.over() {
                                    break;
                                }
                                // Once all is sent, only the answer is awaited.
                                let n = step.min(announced - sent);
                                if n > 0 && tls.write_all(&chunk[..n]).await.is_err() {
                                    break;
                                }
                                sent += n;
                            }
                        }
                    }
                    pause_if_short(opened).await;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

/// `n` connections that do `then` after connecting and wait to be closed.
async fn hold<F, Fut>(t: Target, n: usize, tally: Tally, then: F)
where
    F: Fn(Target) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = &'static str> + Send,
{
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (t, tally, then) = (t.clone(), tally.clone(), then.clone());
            tokio::spawn(async move {
                while !t.over() {
                    let opened = Instant::now();
                    if let Ok(outcome) = tokio::time::timeout(t.left(), then(t.clone())).await {
                        tally.add(outcome);
                    }
                    pause_if_short(opened).await;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

/// Plain TCP connections that never send a byte.
pub async fn silent(t: Target, n: usize, tally: Tally) {
    hold(t, n, tally, |t| async move {
        let Ok(mut tcp) = tokio::net::TcpStream::connect(("127.0.0.1", t.port)).await else {
            return "connect failed";
        };
        let _ = tcp.read(&mut [0u8; 64]).await;
        "closed"
    })
    .await
}

/// `workers` clients opening TLS connections as fast as they complete:
/// each handshake done, the connection is held silent until the guard
/// closes it, and the next one opened at once.
pub async fn handshake_flood(t: Target, workers: usize, tally: Tally) {
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (t, tally) = (t.clone(), tally.clone());
            tokio::spawn(async move {
                while !t.over() {
                    match tokio::time::timeout(t.left(), t.tls(b"http/1.1", None)).await {
                        Ok(Ok(mut tls)) => {
                            tally.add("handshakes");
                            let _ = tokio::time::timeout(t.left(), tls.read(&mut [0u8; 64])).await;
                        }
                        Ok(Err(_)) => {
                            tally.add("refused or cut before the handshake ended");
                            tokio::task::yield_now().await;
                        }
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

/// HTTP/2 negotiated, then one byte of the preface.
pub async fn preface_only(t: Target, n: usize, tally: Tally) {
    hold(t, n, tally, |t| async move {
        let Ok(mut tls) = t.tls(b"h2", None).await else {
            return "connect failed";
        };
        if tls.write_all(b"P").await.is_err() {
            return "closed";
        }
        let _ = tls.read(&mut [0u8; 256]).await;
        "closed"
    })
    .await
}

/// HTTP/2 preface and SETTINGS, then idle, acknowledging PINGs.
pub async fn idle_h2(t: Target, n: usize, tally: Tally) {
    hold(t, n, tally, |t| async move {
        let Ok(mut tls) = t.tls(b"h2", None).await else {
            return "connect failed";
        };
        if tls.write_all(&h2raw::opening(&[])).await.is_err() {
            return "closed";
        }
        let mut goaway = false;
        while let Some((kind, flags, _, payload)) = h2raw::read_frame(&mut tls).await {
            let ack = match (kind, flags & ACK) {
                (SETTINGS, 0) => h2raw::frame(SETTINGS, ACK, 0, &[]),
                (PING, 0) => h2raw::frame(PING, ACK, 0, &payload),
                (h2raw::GOAWAY, _) => {
                    goaway = true;
                    continue;
                }
                _ => continue,
            };
            if tls.write_all(&ack).await.is_err() {
                break;
            }
        }
        if goaway { "GOAWAY, closed" } else { "closed" }
    })
    .await
}

/// `n` HTTP/2 connections, each with 16 streams that announce `announced`
/// bytes and never send one (each stream the guard ends is opened anew).
pub async fn headers_only(t: Target, n: usize, announced: usize, tally: Tally) {
    hold(t, n, tally.clone(), move |t| {
        let tally = tally.clone();
        async move {
            let Ok(mut tls) = t.tls(b"h2", None).await else {
                return "connect failed";
            };
            let ended = h2raw::headers_only(&mut tls, 16, "/validate?timeout=30s", announced, t.until).await;
            tally.add_n("streams ended by the guard", ended);
            "connection closed"
        }
    })
    .await
}

/// HTTP/1.1 connections with a small receive buffer that pipeline reviews
/// and never read an answer.
pub async fn pipeliners(t: Target, n: usize, review: Vec<u8>, tally: Tally) {
    let mut request = format!(
        "POST /validate?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        review.len()
    )
    .into_bytes();
    request.extend_from_slice(&review);
    let pipelined = Arc::new(request.repeat(3000));
    hold(t, n, tally, move |t| {
        let pipelined = pipelined.clone();
        async move {
            let Ok(tls) = t.tls(b"http/1.1", Some(4096)).await else {
                return "connect failed";
            };
            let (_unread, mut writer) = tokio::io::split(tls);
            match writer.write_all(&pipelined).await {
                Ok(()) => {
                    // All sent; the answers stay unread until the cut.
                    let _ = tokio::time::timeout(Duration::from_secs(60), std::future::pending::<()>()).await;
                    "sent all"
                }
                Err(_) => "cut",
            }
        }
    })
    .await
}
