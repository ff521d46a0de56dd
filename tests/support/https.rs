//! Certificates for `serve` and clients that trust them: a CA and serving
//! certificate made with the guard's own rcgen code, a rustls (ring) client
//! configuration trusting exactly that CA, reqwest over it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

use cnpg_guard::server::tls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

/// A CA with a serving certificate for localhost/127.0.0.1, written to `dir`
/// as `{prefix}ca.crt`, `{prefix}tls.crt` and `{prefix}tls.key`.
pub struct Pki {
    pub ca: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn write_pki(dir: &Path, prefix: &str) -> Pki {
    let issued = tls::issue(&["localhost".into(), "127.0.0.1".into()], 1).unwrap();
    let cert = dir.join(format!("{prefix}tls.crt"));
    let key = dir.join(format!("{prefix}tls.key"));
    tls::write_file(&cert, &issued.cert_pem, false).unwrap();
    tls::write_file(&key, &issued.key_pem, true).unwrap();
    let ca = dir.join(format!("{prefix}ca.crt"));
    tls::write_file(&ca, &issued.ca_pem, false).unwrap();
    Pki {
        ca: issued.ca_pem,
        cert,
        key,
    }
}

static PROVIDER: Once = Once::new();

/// A rustls (ring) client configuration of our own: trust exactly one CA,
/// optionally present a client certificate.
pub fn rustls_config(ca_pem: &str, identity: Option<(&str, &str)>) -> rustls::ClientConfig {
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .map(|c| c.unwrap())
                .collect();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// reqwest over that configuration, as the API server calls the webhook.
pub fn client(ca_pem: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(rustls_config(ca_pem, identity))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A client for the examples' load: HTTP/1.1 only, as kube-apiserver calls
/// webhooks; `keep_alive: false` forces a new TCP+TLS handshake per request.
pub fn bench_client(ca_pem: &str, keep_alive: bool) -> reqwest::Client {
    let mut config = rustls_config(ca_pem, None);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .http1_only()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(if keep_alive { 1024 } else { 0 })
        .build()
        .expect("client")
}

/// Posts a body; returns (HTTP status, JSON body).
pub async fn post(client: &reqwest::Client, url: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let resp = client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

/// A TLS connector trusting `ca_pem` that offers one ALPN protocol
/// (`b"h2"`, `b"http/1.1"`), for clients that write their own bytes.
pub fn connector(ca_pem: &str, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    let mut config = rustls_config(ca_pem, None);
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A TLS connection through `connector` to `addr` (HOST:PORT), verified
/// as `localhost`.
pub async fn tls_connect(
    connector: &tokio_rustls::TlsConnector,
    addr: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    connector.connect(name, tcp).await.unwrap()
}
