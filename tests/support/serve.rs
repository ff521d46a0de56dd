//! The real `cnpg-guard serve` on ephemeral loopback ports with rcgen-made
//! certificates in a temp dir, called over real HTTPS with reqwest (rustls)
//! trusting that CA, as the API server would; its plain-HTTP admin port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::https::{Pki, client, connector, tls_connect, write_pki};
use super::{eventually_async, free_port, guard_bin};

/// `cnpg-guard serve` on 127.0.0.1:`port` (admin port `admin`) with this
/// serving certificate and key, stdin closed; the caller adds the rest.
pub fn serve_command(bin: &Path, port: u16, admin: u16, cert: &Path, key: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .stdin(Stdio::null());
    cmd
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

    /// `serve` with these options and its own PKI, decision records on
    /// stdout and logs on stderr (files in its temp dir); returns once ready.
    pub fn start_with(opts: Options) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let pki = write_pki(dir.path(), "");
        let (port, admin) = (free_port(), free_port());
        let stdout = dir.path().join("stdout.log");
        let stderr = dir.path().join("stderr.log");
        let mut cmd = serve_command(&guard_bin(), port, admin, &pki.cert, &pki.key);
        cmd.args(["--reload-interval", "1", "--drain-timeout", "5"])
            .args(&opts.extra)
            .env("RUST_LOG", opts.log_level)
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
            if admin_ok(self.admin, "/readyz") {
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

    /// The webhook's address, 127.0.0.1:PORT.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A TLS connection to the webhook offering one ALPN protocol
    /// (`b"h2"`, `b"http/1.1"`), for clients that write their own bytes.
    pub async fn tls(&self, alpn: &[u8]) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        tls_connect(&connector(&self.pki.ca, alpn), &self.addr()).await
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
    pub async fn wait_for_metric(&self, line: &str) {
        self.wait_for_metric_within(line, Duration::from_secs(10)).await;
    }

    /// [`Server::wait_for_metric`] for at most `within`.
    pub async fn wait_for_metric_within(&self, line: &str, within: Duration) {
        let held = eventually_async(within, || self.metrics().contains(line)).await;
        assert!(
            held,
            "waited {within:?} for {line}:\n{}\n{}",
            self.metrics(),
            self.logs()
        );
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

/// `GET path` on the admin port answered 200.
pub fn admin_ok(port: u16, path: &str) -> bool {
    admin_get(port, path).is_some_and(|(code, _)| code == 200)
}

/// For the examples: [`guard_bin`] `serve` with the certificate in `dir`
/// (`tls.crt`, `tls.key`, see [`write_pki`]) on loopback ports, output
/// dropped; waits for `/readyz`: (child, webhook port, time to ready).
pub fn spawn_guard(dir: &Path, extra: &[String]) -> (Child, u16, Duration) {
    let (port, admin) = (free_port(), free_port());
    let started = Instant::now();
    let child = serve_command(&guard_bin(), port, admin, &dir.join("tls.crt"), &dir.join("tls.key"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start target/release/cnpg-guard (cargo build --release first)");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !admin_ok(admin, "/readyz") {
        assert!(Instant::now() < deadline, "cnpg-guard did not become ready");
        std::thread::sleep(Duration::from_micros(500));
    }
    (child, port, started.elapsed())
}
