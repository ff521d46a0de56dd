//! `cnpg-guard serve`'s arguments and start-up errors.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::contract;
use crate::server::tls;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address of the HTTPS webhook listener (HOST:PORT; a host name such as
    /// localhost is resolved).
    #[arg(long, default_value = "0.0.0.0:8443", value_parser = socket_addr)]
    pub listen: SocketAddr,
    /// Serving certificate (PEM chain). Without it, a development CA and certificate are generated.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Serving private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Only serve clients with a certificate issued by this CA (PEM), e.g. the API server.
    #[arg(long)]
    pub client_ca: Option<PathBuf>,
    /// Address of the plain-HTTP admin listener (/healthz, /readyz, /metrics).
    #[arg(long, default_value = "0.0.0.0:8080", value_parser = socket_addr)]
    pub admin_listen: SocketAddr,
    /// Contract file (default: the embedded apps-pg contract). Reloaded when it changes.
    #[arg(long, env = "CNPG_GUARD_CONTRACT")]
    pub contract: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value = "json")]
    pub log_format: crate::logging::LogFormat,
    /// Largest request body accepted (bytes); larger ones get HTTP 413
    /// before they are read. kube-apiserver refuses objects over 3 MiB, and
    /// an UPDATE's review carries two: 7 MiB holds both and the envelope.
    #[arg(long, default_value_t = 7 * 1024 * 1024, value_parser = at_least_64_kib)]
    pub max_body_bytes: usize,
    /// Request bodies held at once, all connections together (bytes). A
    /// body holds what has arrived of it, counted as it is read (a stream
    /// that announces a body and sends nothing holds nothing), until its
    /// review has finished; it is read when the budget has room for it
    /// (never queued behind a larger one; an eighth is kept for bodies of
    /// 256 KiB or less); one that gets no room within its deadline gets
    /// HTTP 429. At least --max-body-bytes. A body must keep 256 KiB/s
    /// after its first second (time waiting for room aside), or it is cut
    /// (408).
    /// This bounds the guard's memory: a review's working memory is at most
    /// about 8 times its body (docs/operations.md, "Reliability: bounds and sizing").
    /// 16 MiB holds two of the largest UPDATEs the API server can send.
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_parser = at_least_64_kib)]
    pub max_body_bytes_in_flight: usize,
    /// Reviews judged at once. A review that cannot start before its deadline
    /// (the API server's `?timeout=`, less a margin) is denied as overloaded
    /// instead of letting the API server time out.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrent_reviews: u32,
    /// Seconds a client has to complete the TLS handshake and each request's
    /// headers (also bounds idle HTTP/1.1 keep-alive connections, and an
    /// HTTP/2 client's preface, SETTINGS and first request); slow clients
    /// are cut off.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_read_timeout: u64,
    /// Seconds an HTTP/2 connection may stay open with no request in it;
    /// then it gets GOAWAY (HTTP/1.1 idles only --header-read-timeout).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: u64,
    /// Seconds a client may leave its answer untaken: a write to the socket
    /// that stays blocked, or an HTTP/2 answer held back by the client's
    /// flow-control window. Then the connection is cut.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub write_timeout: u64,
    /// Webhook connections open at once. Past it, a connection with no
    /// request open is closed to make room (`evicted`: those that never
    /// carried a request first, once open 0.1 s; a keep-alive one once
    /// quiet for 0.5 s) and the newcomer waits up to 1 s for a slot;
    /// else it is closed (`refused`). Keep it below the open-files limit
    /// (raised to its hard limit at start), so the admin port always has one.
    /// Each may buffer up to about 290 KiB (HTTP/2 window and buffers).
    #[arg(long, default_value_t = 256, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_connections: usize,
    /// How often certificate and contract files are re-read (seconds, at least 1).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub reload_interval: u64,
    /// How long in-flight reviews may take to finish after SIGTERM (seconds).
    #[arg(long, default_value_t = 15)]
    pub drain_timeout: u64,
    /// Where development mode writes its CA bundle, certificate and key.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("cnpg-guard-dev"))]
    pub dev_cert_dir: PathBuf,
    /// Kubeconfig for live facts. In a pod the ServiceAccount is used; without
    /// either, facts are offline and checks that need them are skipped.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Without a cluster: take facts (managed roles, Database owners, the
    /// bootstrap password hash) from these manifests (file or directory).
    #[arg(long, conflicts_with = "kubeconfig")]
    pub facts_from: Option<PathBuf>,
    /// While a live-facts watch is broken its last known facts answer, with
    /// a warning; past this many seconds, removing a role a Database may own
    /// fails closed.
    #[arg(long, default_value_t = 60)]
    pub stale_after: u64,
    /// Audit the live cluster every this many seconds (0 disables).
    #[arg(long, default_value_t = 600)]
    pub audit_interval: u64,
    /// Service name the development certificate is issued for (a DNS label).
    #[arg(long, default_value = "cnpg-guard", value_parser = dns_label)]
    pub service: String,
    /// Namespace the development certificate is issued for (a DNS label).
    #[arg(long, default_value = "cnpg-guard", value_parser = dns_label)]
    pub namespace: String,
}

/// `HOST:PORT`, an IP address or a name that resolves (the first address
/// it resolves to), so `--listen localhost:8443` works.
pub fn socket_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    if s.rsplit_once(':').is_none_or(|(_, port)| port.parse::<u16>().is_err()) {
        return Err("expected HOST:PORT, e.g. 0.0.0.0:8443 or localhost:8443".into());
    }
    match s.to_socket_addrs() {
        Ok(mut addrs) => addrs.next().ok_or_else(|| format!("{s} resolves to no address")),
        Err(e) => Err(format!("cannot resolve {s}: {e}")),
    }
}

/// A byte count of at least 64 KiB (smaller than any real AdmissionReview
/// of an UPDATE could be refused).
fn at_least_64_kib(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("not a number of bytes: {e}"))?;
    if n < 65_536 {
        return Err(format!(
            "{n} is below the minimum of 65536 bytes (64 KiB): real AdmissionReviews would be refused"
        ));
    }
    Ok(n)
}

/// A DNS label (RFC 1123): what a Service name and a namespace must be.
pub fn dns_label(s: &str) -> Result<String, String> {
    if crate::names::is_dns_label(s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a DNS label (RFC 1123: lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit)"
        ))
    }
}

/// How the contract file `path` was named: `CNPG_GUARD_CONTRACT` when the
/// environment names that file, else `--contract`.
pub fn contract_source(path: Option<&std::path::Path>) -> &'static str {
    match (std::env::var_os("CNPG_GUARD_CONTRACT"), path) {
        (Some(v), Some(p)) if v == p.as_os_str() => "CNPG_GUARD_CONTRACT",
        _ => "--contract",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Contract(#[from] contract::ContractError),
    #[error("{from}: {source}")]
    ContractFile {
        from: &'static str,
        #[source]
        source: contract::ContractError,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Connect(#[from] crate::kube_client::ConnectError),
    #[error(transparent)]
    FactsFrom(#[from] crate::facts::FactsFromError),
    #[error(
        "--max-body-bytes-in-flight ({in_flight}) is smaller than --max-body-bytes ({body}): the largest body \
         could never be read; raise the first or lower the second"
    )]
    BudgetBelowBody { in_flight: usize, body: usize },
}
