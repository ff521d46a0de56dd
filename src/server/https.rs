//! The HTTPS accept loop: TLS (rustls, ALPN h2 and http/1.1), TCP_NODELAY,
//! a connection cap, handshake and header-read timeouts, each connection
//! under its deadlines ([`super::conn`]), and a graceful drain on SIGTERM,
//! in the manner of kubert.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use super::conn::{self, Activity, Deadlines, Ended, Tracked};
use super::slots::{Admission, Slots};
use super::write_deadline::WriteDeadline;

/// The bounds of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// On SIGTERM, how long connections may take to finish.
    pub drain: Duration,
    /// For the TLS handshake, each request's headers (and so an idle
    /// HTTP/1.1 keep-alive connection) and an HTTP/2 client's first request.
    pub header_read: Duration,
    /// An HTTP/2 connection with no request open this long gets GOAWAY.
    pub idle: Duration,
    /// A blocked write, or an answer the client does not take (HTTP/2 flow
    /// control), for this long: the connection is cut.
    pub write: Duration,
    /// Connections open at once; past it a new one is closed at once.
    pub max_connections: usize,
}

/// HTTP/2 streams one connection may have open at once.
pub const H2_MAX_STREAMS: u32 = 16;
/// HTTP/2 flow-control window of a connection: what it may send before the
/// guard reads it, so no connection buffers more than this.
pub const H2_WINDOW: u32 = 256 * 1024;
/// Each stream's window is its share of the connection's: streams whose
/// body waits for room in the body budget cannot take the whole connection
/// window and starve the streams being read (measured: `make attack`,
/// h2-max-bodies).
const H2_STREAM_WINDOW: u32 = H2_WINDOW / H2_MAX_STREAMS;
/// HTTP/2 header block a client may send.
const H2_MAX_HEADERS: u32 = 64 * 1024;
/// HTTP/1.1 read buffer (headers, and body bytes read ahead of the handler).
pub const H1_MAX_BUF: usize = 64 * 1024;

/// Serves `app` over TLS on `listener` until SIGTERM/SIGINT, then drains
/// connections for at most `limits.drain`. HTTP/1.1 and HTTP/2 (ALPN),
/// TCP_NODELAY, a TLS-handshake and a header-read timeout, a connection cap,
/// HTTP/2 stream, window and keep-alive bounds, idle and write deadlines.
///
/// `event` is told what happens to connections (`accepted`, `refused`,
/// `evicted`, `accept_error`, `tls_timeout`, `tls_failed`, `preface_timeout`,
/// `idle_timeout`, `write_timeout`, `ended_with_error`), for metrics.
pub async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    limits: Limits,
    event: impl Fn(&'static str) + Clone + Send + Sync + 'static,
) {
    let Limits {
        drain,
        header_read,
        idle,
        write,
        max_connections,
    } = limits;
    let slots = Slots::new(max_connections);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    // The protocol comes from ALPN, not from sniffing the first bytes.
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(header_read)
        .max_buf_size(H1_MAX_BUF)
        .keep_alive(true);
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_WINDOW)
        .max_header_list_size(H2_MAX_HEADERS)
        // A peer that stops answering PINGs is dropped.
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let (http1, http2) = (Arc::new(http1), Arc::new(http2));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    event("accept_error");
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Past the cap the connection idle longest makes room and the new one
        // waits a second at most for a slot; when too many wait already, it
        // is closed at once: no TLS, no task.
        let admitted = slots.admit();
        if let Admission::Refused = admitted {
            event("refused");
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let event = event.clone();
        let acceptor = acceptor.clone();
        let app = app.clone();
        let (http1, http2) = (http1.clone(), http2.clone());
        let stopping = stopping.clone();
        let slots = slots.clone();
        tokio::spawn(async move {
            let slot = match admitted {
                Admission::Now(slot) => slot,
                _ => match slots.take_freed().await {
                    Some(slot) => slot,
                    None => {
                        event("refused");
                        return;
                    }
                },
            };
            event("accepted");
            let evicted = &slot.occupant.evicted;
            let handshake = tokio::time::timeout(header_read, acceptor.accept(tcp));
            let tls = tokio::select! {
                result = handshake => match result {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        event("tls_failed");
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        event("tls_timeout");
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
                () = evicted.notified() => {
                    event("evicted");
                    return;
                }
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            let activity = Activity::new();
            slot.occupant.serving(activity.clone());
            let io = TokioIo::new(WriteDeadline::new(tls, write, activity.clone()));
            let service = Tracked {
                inner: TowerToHyperService::new(app),
                activity: activity.clone(),
            };
            let deadlines = Deadlines {
                // HTTP/2 has no header-read timeout of its own.
                first_request: h2.then_some(header_read),
                idle,
                write,
            };
            let ended = if h2 {
                conn::drive(
                    http2.serve_connection(io, service),
                    &activity,
                    deadlines,
                    stopping,
                    evicted,
                )
                .await
            } else {
                conn::drive(
                    http1.serve_connection(io, service),
                    &activity,
                    deadlines,
                    stopping,
                    evicted,
                )
                .await
            };
            match ended {
                Ended::Closed => {}
                Ended::Cut(why) => {
                    event(why);
                    tracing::debug!(%peer, event = why, "connection closed by a deadline");
                }
                Ended::Failed(e) => {
                    event("ended_with_error");
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            }
        });
    }
    drop(listener);
    info!(
        drain_seconds = drain.as_secs(),
        "shutting down: no new connections, draining reviews in flight"
    );
    let _ = stop.send(true);
    // Every connection holds a slot: all slots back means all closed.
    if !slots.drained(drain).await {
        warn!("drain timeout: closing the remaining connections");
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
