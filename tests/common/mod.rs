//! Test harness: starts the real `cnpg-guard serve` binary on ephemeral
//! loopback ports with rcgen-made certificates in a temp dir, and calls it
//! over real HTTPS with reqwest (rustls) trusting that CA, as the API server
//! would.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use cnpg_guard::server::tls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

pub mod h2raw;

pub const CANARY: &str = "CANARY-pw-4e8a1b";

pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reviews")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A CA with a serving certificate for localhost/127.0.0.1, written to `dir`.
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

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub admin: u16,
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

pub struct Options {
    pub contract: Option<String>,
    pub client_ca: Option<String>,
    pub extra: Vec<String>,
    pub log_level: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            contract: None,
            client_ca: None,
            extra: vec![],
            log_level: "trace",
        }
    }
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let pki = write_pki(dir.path(), "");
        let (port, admin) = (free_port(), free_port());
        let stdout = dir.path().join("stdout.log");
        let stderr = dir.path().join("stderr.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cnpg-guard"));
        cmd.arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
            .arg("--tls-cert")
            .arg(&pki.cert)
            .arg("--tls-key")
            .arg(&pki.key)
            .args(["--reload-interval", "1", "--drain-timeout", "5"])
            .args(&opts.extra)
            .env("RUST_LOG", opts.log_level)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        if let Some(contract) = &opts.contract {
            let path = dir.path().join("contract.yaml");
            std::fs::write(&path, contract).unwrap();
            cmd.arg("--contract").arg(path);
        }
        if let Some(ca) = &opts.client_ca {
            let path = dir.path().join("client-ca.crt");
            std::fs::write(&path, ca).unwrap();
            cmd.arg("--client-ca").arg(path);
        }
        let child = cmd.spawn().expect("start cnpg-guard serve");
        let mut server = Server {
            child,
            port,
            admin,
            dir,
            pki,
            stdout,
            stderr,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("server exited early ({status}): {}", self.logs());
            }
            if admin_get(self.admin, "/readyz").is_some_and(|(code, _)| code == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("server not ready: {}", self.logs());
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}/validate?timeout=10s", self.port)
    }

    pub fn client(&self) -> reqwest::Client {
        client(&self.pki.ca, None)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn audit(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn audit_records(&self) -> Vec<Value> {
        self.audit()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}")))
            .collect()
    }

    pub fn metrics(&self) -> String {
        admin_get(self.admin, "/metrics").map(|(_, b)| b).unwrap_or_default()
    }

    /// Polls `/metrics` until it holds `line` (a reload has run, say), for
    /// at most 10 s.
    #[allow(dead_code)]
    pub async fn wait_for_metric(&self, line: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let metrics = self.metrics();
            if metrics.contains(line) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waited 10 s for {line}:\n{metrics}\n{}",
                self.logs()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Plain-HTTP GET on the admin port: (status, body).
pub fn admin_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((code, body))
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
