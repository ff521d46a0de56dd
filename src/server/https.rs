//! The HTTPS accept loop: TLS (rustls, ALPN h2 and http/1.1), TCP_NODELAY,
//! handshake and header-read timeouts, and a graceful drain on SIGTERM, in
//! the manner of kubert.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

/// The bounds of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// On SIGTERM, how long connections may take to finish.
    pub drain: Duration,
    /// For the TLS handshake, each request's headers (and so an idle
    /// HTTP/1.1 keep-alive connection) and an HTTP/2 client's first bytes.
    pub header_read: Duration,
    /// Connections open at once; past it a new one is closed at once.
    pub max_connections: usize,
}

/// HTTP/2 streams one connection may have open at once.
const H2_MAX_STREAMS: u32 = 16;
/// HTTP/2 flow-control windows: what one connection (and each stream) may
/// send before the guard reads it, so no connection buffers more than this.
const H2_WINDOW: u32 = 256 * 1024;
/// HTTP/2 header block a client may send.
const H2_MAX_HEADERS: u32 = 64 * 1024;

/// Serves `app` over TLS on `listener` until SIGTERM/SIGINT, then drains
/// connections for at most `limits.drain`. HTTP/1.1 and HTTP/2 (ALPN),
/// TCP_NODELAY, a TLS-handshake and a header-read timeout, a connection cap,
/// and HTTP/2 stream, window and keep-alive bounds.
///
/// `event` is told what happens to connections (`accepted`, `refused`,
/// `accept_error`, `tls_timeout`, `tls_failed`, `preface_timeout`,
/// `ended_with_error`), for metrics.
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
        max_connections,
    } = limits;
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    // The protocol comes from ALPN, not from sniffing the first bytes, so
    // HTTP/1's header-read timeout also covers a client that never sends.
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(header_read)
        .keep_alive(true);
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .initial_stream_window_size(H2_WINDOW)
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
        // Past the cap a connection is closed at once: no TLS, no task.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            event("refused");
            drop(tcp);
            continue;
        };
        event("accepted");
        let _ = tcp.set_nodelay(true);
        let event = event.clone();
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        let (http1, http2) = (http1.clone(), http2.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(header_read, acceptor.accept(tcp)).await {
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
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            // HTTP/2 has no header-read timeout: a client that negotiated h2
            // must start sending within the same bound. Plaintext rustls has
            // already buffered (sent with the handshake) counts as started.
            if h2
                && tls.get_ref().1.wants_read()
                && !matches!(
                    tokio::time::timeout(header_read, tls.get_ref().0.readable()).await,
                    Ok(Ok(()))
                )
            {
                event("preface_timeout");
                tracing::debug!(%peer, "no HTTP/2 preface within the header-read timeout");
                return;
            }
            let result = if h2 {
                watcher.watch(http2.serve_connection(TokioIo::new(tls), service)).await
            } else {
                watcher.watch(http1.serve_connection(TokioIo::new(tls), service)).await
            };
            if let Err(e) = result {
                event("ended_with_error");
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    info!(
        drain_seconds = drain.as_secs(),
        "shutting down: no new connections, draining reviews in flight"
    );
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
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
