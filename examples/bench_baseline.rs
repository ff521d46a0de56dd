//! The floor for `make bench`: the least a webhook can do on the same TLS
//! and HTTP stack as `cnpg-guard serve` (rustls, hyper, axum, the same
//! accept loop). It reads the body, finds the uid by a byte search (no JSON
//! parsing of the object) and answers a fixed allow.
//!
//! Usage: bench_baseline --listen 127.0.0.1:PORT --tls-cert FILE --tls-key FILE

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use clap::Parser;
use cnpg_guard::server::{Limits, serve_https, tls};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    listen: SocketAddr,
    #[arg(long)]
    tls_cert: PathBuf,
    #[arg(long)]
    tls_key: PathBuf,
}

fn uid(body: &[u8]) -> &[u8] {
    const KEY: &[u8] = b"\"uid\":\"";
    body.windows(KEY.len())
        .position(|w| w == KEY)
        .map(|i| {
            let rest = &body[i + KEY.len()..];
            &rest[..rest.iter().position(|&b| b == b'"').unwrap_or(0)]
        })
        .unwrap_or_default()
}

async fn validate(body: Bytes) -> impl IntoResponse {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":""#);
    out.extend_from_slice(uid(&body));
    out.extend_from_slice(br#"","allowed":true}}"#);
    ([(header::CONTENT_TYPE, "application/json")], out)
}

/// The same allocator as the guard: the floor differs only in not judging.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let loaded = tls::load(&tls::CertPaths {
        cert: args.tls_cert,
        key: args.tls_key,
    })
    .expect("certificate");
    let config = tls::server_config(tls::Resolver::new(loaded.key), None).expect("tls config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(args.listen).await.expect("bind");
    let app = axum::Router::new()
        .route("/validate", post(validate))
        .layer(axum::extract::DefaultBodyLimit::max(8 * 1024 * 1024));
    serve_https(
        listener,
        acceptor,
        app,
        Limits {
            drain: Duration::from_secs(1),
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(30),
            write: Duration::from_secs(10),
            max_connections: 4096,
        },
        |_| {},
    )
    .await;
}
