//! `cnpg-guard serve`: the TLS validating admission webhook.
//!
//! HTTP, TLS, reloads and shutdown live here; verdicts come from
//! [`crate::decision::decide`] unchanged.

mod admin;
pub mod admission;
pub mod metrics;
pub mod patch;
pub mod record;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug_span, info, warn};

use crate::contract::{self, Contract};
use crate::decision::decide;
use crate::facts::{Facts, LiveFacts, NoFacts};
use admission::Parsed;
use metrics::{Metrics, ReviewLabels, RuleLabels, ViolationLabels, WatchLabels};
use record::{AuditRecord, AuditSink};

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address of the HTTPS webhook listener.
    #[arg(long, default_value = "0.0.0.0:8443")]
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
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub admin_listen: SocketAddr,
    /// Contract file (default: the embedded apps-pg contract). Reloaded when it changes.
    #[arg(long, env = "CNPG_GUARD_CONTRACT")]
    pub contract: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value = "json")]
    pub log_format: crate::cli::LogFormat,
    /// Largest request body accepted (bytes); larger ones get HTTP 413.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Reviews judged at once. A review that cannot start before its deadline
    /// (the API server's `?timeout=`, less a margin) is denied as overloaded
    /// instead of letting the API server time out.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrent_reviews: u32,
    /// Seconds a client has to complete the TLS handshake and each request's
    /// headers (also bounds idle keep-alive connections); slow clients are cut off.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_read_timeout: u64,
    /// How often certificate and contract files are re-read (seconds).
    #[arg(long, default_value_t = 5)]
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
    /// Service name and namespace the development certificate is issued for.
    #[arg(long, default_value = "cnpg-guard")]
    pub service: String,
    #[arg(long, default_value = "cnpg-guard")]
    pub namespace: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Contract(#[from] contract::ContractError),
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
}

/// Shared state of the webhook.
pub struct AppState {
    pub contract: ArcSwap<Contract>,
    pub facts: Arc<dyn Facts>,
    pub metrics: Metrics,
    pub audit: AuditSink,
    pub ready: AtomicBool,
    /// Live facts, when the guard can see a cluster.
    pub live: Option<Arc<LiveFacts>>,
    /// Reviews judged at once; the rest wait until their deadline.
    pub limiter: tokio::sync::Semaphore,
}

impl AppState {
    /// Ready: contract loaded, TLS listener up, live watches synced.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.live.as_ref().is_none_or(|l| l.synced())
    }
}

/// Runs the webhook until SIGTERM/SIGINT.
pub async fn run(args: ServeArgs) -> Result<(), ServeError> {
    let contract = crate::cli::load_contract(args.contract.as_deref())?;
    info!(
        revision = %contract.revision,
        source = %args.contract.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "<embedded>".into()),
        clusters = contract.clusters.len(),
        "contract loaded"
    );
    let client = crate::kube_client::connect(args.kubeconfig.as_deref(), false).await?;
    let live = match &client {
        Some(client) => {
            let live = LiveFacts::new(Arc::new(contract.clone()), Duration::from_secs(args.stale_after));
            live.spawn_watches(client.clone());
            info!(
                stale_after_seconds = args.stale_after,
                "live facts: watching the shared Clusters, their Databases and bootstrap Secrets"
            );
            Some(live)
        }
        None => {
            info!(
                "offline facts: no kubeconfig and not in a cluster; checks that need live cluster state are skipped and recorded as skipped"
            );
            None
        }
    };

    let cert_paths = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => tls::CertPaths {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => dev_certificate(&args)?,
    };
    if tls::key_is_world_readable(&cert_paths.key) {
        warn!(path = %cert_paths.key.display(), "the TLS private key file is world-readable; restrict it to mode 0600");
    }
    let loaded = tls::load(&cert_paths)?;
    let facts: Arc<dyn Facts> = match (&live, &args.facts_from) {
        (Some(l), _) => l.clone(),
        (None, Some(path)) => {
            let docs = crate::check::input::read_all(&[path.display().to_string()]).map_err(std::io::Error::other)?;
            let count = docs.len();
            let (facts, errors) = crate::check::facts_from(docs, &contract);
            for e in errors {
                warn!(error = %e, "--facts-from: object ignored");
            }
            info!(path = %path.display(), documents = count, "offline facts loaded from manifests");
            Arc::new(facts)
        }
        (None, None) => Arc::new(NoFacts),
    };
    let state = Arc::new(AppState {
        contract: ArcSwap::from_pointee(contract),
        facts,
        metrics: Metrics::new(),
        audit: AuditSink,
        ready: AtomicBool::new(false),
        live,
        limiter: tokio::sync::Semaphore::new(args.max_concurrent_reviews as usize),
    });
    state
        .metrics
        .certificate_expiry_seconds
        .set(seconds_until(loaded.not_after));
    let resolver = tls::Resolver::new(loaded.key.clone());
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(
        resolver.clone(),
        args.client_ca.as_deref(),
    )?));

    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: args.listen,
            source,
        })?;
    let admin_listener = TcpListener::bind(args.admin_listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: args.admin_listen,
            source,
        })?;
    info!(listen = %listener.local_addr()?, admin = %admin_listener.local_addr()?, "listening");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let interval = Duration::from_secs(args.reload_interval.max(1));
    tokio::spawn(reload_certificates(
        cert_paths,
        loaded.fingerprint,
        resolver,
        state.clone(),
        interval,
    ));
    if let Some(path) = args.contract.clone() {
        tokio::spawn(reload_contract(path, state.clone(), interval));
    }
    let admin = tokio::spawn(admin::serve(admin_listener, state.clone(), stop_rx.clone()));
    if state.live.is_some() {
        tokio::spawn(watch_metrics(state.clone()));
    }
    if let (Some(client), true) = (client, args.audit_interval > 0) {
        tokio::spawn(periodic_audit(
            client,
            state.clone(),
            Duration::from_secs(args.audit_interval),
        ));
    }

    let app = router(state.clone(), args.max_body_bytes);
    state.ready.store(true, Ordering::SeqCst);
    serve_https(
        listener,
        acceptor,
        app,
        Duration::from_secs(args.drain_timeout),
        Duration::from_secs(args.header_read_timeout),
    )
    .await;
    state.ready.store(false, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    let _ = admin.await;
    info!("stopped");
    Ok(())
}

/// The webhook routes.
pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

fn dev_certificate(args: &ServeArgs) -> Result<tls::CertPaths, ServeError> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    names.extend(tls::service_names(&args.service, &args.namespace));
    let issued = tls::issue(&names, 30)?;
    std::fs::create_dir_all(&args.dev_cert_dir)?;
    let paths = tls::CertPaths {
        cert: args.dev_cert_dir.join("tls.crt"),
        key: args.dev_cert_dir.join("tls.key"),
    };
    let ca = args.dev_cert_dir.join("ca.crt");
    tls::write_file(&ca, &issued.ca_pem, false)?;
    tls::write_file(&paths.cert, &issued.cert_pem, false)?;
    tls::write_file(&paths.key, &issued.key_pem, true)?;
    warn!(
        ca_bundle = %ca.display(),
        "development mode: serving a self-signed certificate for localhost and the in-cluster service names; \
         trust the CA bundle to call it (curl --cacert). Use --tls-cert/--tls-key in production"
    );
    Ok(paths)
}

fn seconds_until(epoch: i64) -> f64 {
    (epoch - time::OffsetDateTime::now_utc().unix_timestamp()) as f64
}

/// Serves `app` over TLS on `listener` until SIGTERM/SIGINT, then drains
/// connections for at most `drain`. HTTP/1.1 and HTTP/2 (ALPN), TCP_NODELAY,
/// a TLS-handshake and a header-read timeout.
pub async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    drain: Duration,
    header_read: Duration,
) {
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
        .keep_alive_interval(Duration::from_secs(30));
    let (http1, http2) = (Arc::new(http1), Arc::new(http2));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        let (http1, http2) = (http1.clone(), http2.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(header_read, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
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
                tracing::debug!(%peer, "no HTTP/2 preface within the header-read timeout");
                return;
            }
            let result = if h2 {
                watcher.watch(http2.serve_connection(TokioIo::new(tls), service)).await
            } else {
                watcher.watch(http1.serve_connection(TokioIo::new(tls), service)).await
            };
            if let Err(e) = result {
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

async fn reload_certificates(
    paths: tls::CertPaths,
    mut fingerprint: Vec<u8>,
    resolver: Arc<tls::Resolver>,
    state: Arc<AppState>,
    every: Duration,
) {
    let mut failing = false;
    loop {
        tokio::time::sleep(every).await;
        let loaded = tokio::task::spawn_blocking({
            let paths = paths.clone();
            move || tls::load(&paths)
        })
        .await;
        match loaded {
            Ok(Ok(loaded)) => {
                state
                    .metrics
                    .certificate_expiry_seconds
                    .set(seconds_until(loaded.not_after));
                if loaded.fingerprint != fingerprint {
                    resolver.swap(loaded.key);
                    fingerprint = loaded.fingerprint;
                    Metrics::count_result(&state.metrics.certificate_reloads, true);
                    info!(cert = %paths.cert.display(), "serving certificate reloaded");
                }
                failing = false;
            }
            Ok(Err(e)) => {
                // Keep serving the last good certificate; say so once per failure run.
                if !failing {
                    Metrics::count_result(&state.metrics.certificate_reloads, false);
                    warn!(error = %e, "cannot reload the serving certificate; keeping the last good one");
                }
                failing = true;
            }
            Err(e) => warn!(error = %e, "certificate reload task failed"),
        }
    }
}

async fn reload_contract(path: PathBuf, state: Arc<AppState>, every: Duration) {
    let mut last = std::fs::read(&path).map(|b| crate::facts::password_hash(&b)).ok();
    loop {
        tokio::time::sleep(every).await;
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) => {
                let digest = None;
                if last != digest {
                    Metrics::count_result(&state.metrics.contract_reloads, false);
                    warn!(path = %path.display(), error = %e, "cannot read the contract; keeping the last good one");
                    last = digest;
                }
                continue;
            }
        };
        let digest = Some(crate::facts::password_hash(&bytes));
        if digest == last {
            continue;
        }
        last = digest;
        let text = String::from_utf8_lossy(&bytes);
        match contract::parse(&text, &path.display().to_string()) {
            Ok(c) => {
                info!(revision = %c.revision, "contract reloaded");
                state.contract.store(Arc::new(c));
                Metrics::count_result(&state.metrics.contract_reloads, true);
            }
            Err(e) => {
                Metrics::count_result(&state.metrics.contract_reloads, false);
                warn!(error = %e, revision = %state.contract.load().revision, "contract reload failed; keeping the last good contract");
            }
        }
    }
}

/// Exports the live watches' sync state and age every second.
async fn watch_metrics(state: Arc<AppState>) {
    let Some(live) = state.live.clone() else { return };
    loop {
        for (watch, synced, age, broken) in live.health() {
            let labels = WatchLabels { watch };
            state
                .metrics
                .watch_synced
                .get_or_create(&labels)
                .set(i64::from(synced && !broken));
            state.metrics.watch_age_seconds.get_or_create(&labels).set(age);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The same audit as `cnpg-guard audit`, every `every`: a gauge of existing
/// violations per rule, and each finding logged once per change.
async fn periodic_audit(client: kube::Client, state: Arc<AppState>, every: Duration) {
    let mut known: std::collections::BTreeSet<String> = Default::default();
    let mut notes_logged = false;
    // Try listing Secrets once; after a 403 (the shipped RBAC) stop asking.
    let mut list_secrets = true;
    loop {
        let contract = state.contract.load_full();
        match crate::audit::inventory(&client, &contract, list_secrets).await {
            Ok(inventory) => {
                list_secrets = inventory.secrets_listed;
                let (report, notes) = crate::audit::judge(inventory, &contract);
                if !notes_logged {
                    for n in &notes {
                        info!(note = %n, "periodic audit limitation");
                    }
                    notes_logged = true;
                }
                let mut per_rule: std::collections::BTreeMap<&'static str, i64> =
                    crate::rules::RuleId::ALL.iter().map(|r| (r.as_str(), 0)).collect();
                let mut now = std::collections::BTreeSet::new();
                for c in &report.checked {
                    for f in &c.decision.findings {
                        *per_rule.entry(f.violation.rule.as_str()).or_default() += 1;
                        let line = f.violation.line();
                        if !known.contains(&line) {
                            warn!(rule = f.violation.rule.as_str(), kind = %c.kind, ns = %c.namespace, name = %c.name,
                                field = %f.violation.field, finding = %line, "existing violation in the cluster");
                        }
                        now.insert(line);
                    }
                }
                for gone in known.difference(&now) {
                    info!(finding = %gone, "existing violation resolved");
                }
                known = now;
                for (rule, n) in per_rule {
                    state
                        .metrics
                        .existing_violations
                        .get_or_create(&RuleLabels { rule: rule.into() })
                        .set(n);
                }
                info!(
                    objects = report.checked.len(),
                    violations = known.len(),
                    "periodic audit done"
                );
            }
            Err(e) => warn!(error = %e, "periodic audit failed"),
        }
        tokio::time::sleep(every).await;
    }
}

fn json_error(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({ "error": message, "code": status.as_u16() });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// `POST /validate`: one AdmissionReview in, one out.
/// The API server's webhook timeout (`?timeout=10s`, a Go duration), or 10 s.
fn requested_timeout(query: Option<&str>) -> Duration {
    let value = query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("timeout="))
        .unwrap_or("10s");
    parse_go_duration(value).unwrap_or(Duration::from_secs(10))
}

fn parse_go_duration(s: &str) -> Option<Duration> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let n: f64 = number.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0 && secs <= 60.0).then(|| Duration::from_secs_f64(secs))
}

/// How long a review may wait for a slot: most of the API server's budget,
/// keeping a margin to answer in.
fn review_deadline(timeout: Duration) -> Duration {
    (timeout * 4 / 5)
        .saturating_sub(Duration::from_millis(100))
        .max(Duration::from_millis(10))
}

/// The uid of a request body found without parsing it (for answering when
/// the guard is too busy to parse).
fn cheap_uid(body: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"uid\":\"";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let len = body[at..].iter().take(64).position(|&b| b == b'"')?;
    std::str::from_utf8(&body[at..at + len])
        .ok()
        .filter(|u| u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// A denial on the guard's own terms when it cannot review in time.
fn overloaded(state: &AppState, body: &[u8], waited: Duration) -> Response {
    state.metrics.reject("overloaded");
    warn!(
        waited_ms = waited.as_millis() as u64,
        "overloaded: denying instead of letting the API server time out"
    );
    let Some(uid) = cheap_uid(body) else {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "the guard is overloaded".into());
    };
    let body = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": uid,
            "allowed": false,
            "status": {
                "status": "Failure",
                "code": 429,
                "reason": "TooManyRequests",
                "message": "[cnpg-guard] the guard is overloaded and could not review this request in time. \
                            Fix: retry; if it persists, check the cnpg-guard pods (CPU, replicas, --max-concurrent-reviews)."
            },
            "auditAnnotations": {"decision": "overloaded"}
        }
    });
    json_ok(body.to_string().into_bytes())
}

async fn validate(
    State(state): State<Arc<AppState>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let started = Instant::now();
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            state.metrics.reject("too_large");
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is larger than --max-body-bytes".into(),
            );
        }
        Err(e) => {
            state.metrics.reject("bad_request");
            return json_error(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}"));
        }
    };
    let deadline = review_deadline(requested_timeout(query.as_deref()));
    // A free slot is taken without arming a timer; only a wait is bounded.
    let _permit = match state.limiter.try_acquire() {
        Ok(permit) => permit,
        Err(_) => match tokio::time::timeout(deadline.saturating_sub(started.elapsed()), state.limiter.acquire()).await
        {
            Ok(Ok(permit)) => permit,
            _ => return overloaded(&state, &body, started.elapsed()),
        },
    };
    let parsed = match admission::parse(&body) {
        Ok(p) => p,
        Err(e) => {
            state.metrics.reject("bad_request");
            warn!(error = %e, "bad admission review");
            return json_error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    let (req, review, objects) = match parsed {
        Parsed::NotCovered(req) => {
            let resp = kube::core::admission::AdmissionResponse::from(req.as_ref());
            return json_ok(admission::to_body(resp));
        }
        Parsed::Review(req, review, objects) => (req, review, objects),
    };
    let contract = state.contract.load_full();
    // Debug level: the audit record is the per-decision trail, and nothing
    // inside `decide` logs at info, so at the default level the span costs
    // nothing (an enabled span formats its fields on every review).
    let span = debug_span!("review", uid = %req.uid, kind = %review.kind, operation = review.operation.as_str(),
        ns = %review.namespace, name = %review.name, decision = tracing::field::Empty);
    let decision = span.in_scope(|| decide(&review, &contract, state.facts.as_ref()));
    let resp = admission::respond(&req, &decision);
    let latency = started.elapsed();

    let m = &state.metrics;
    m.reviews
        .get_or_create(&ReviewLabels {
            kind: review.kind.as_str(),
            operation: review.operation.as_str(),
            decision: decision.label(),
        })
        .inc();
    for f in &decision.findings {
        m.violations
            .get_or_create(&ViolationLabels {
                rule: f.violation.rule.as_str(),
                mode: f.mode.as_str(),
            })
            .inc();
    }
    m.latency.observe(latency.as_secs_f64());

    let record = AuditRecord::new(
        &req.uid,
        (&req.kind.group, &req.kind.version, &req.kind.kind),
        &review,
        &decision,
        &contract.revision,
        latency,
        objects,
    );
    state.audit.write(&record);
    async {
        tracing::Span::current().record("decision", decision.label());
        // The audit record on stdout is the per-decision log; this is for debugging.
        tracing::debug!(
            decision = decision.label(),
            rules = ?decision.rules().iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            dry_run = review.dry_run,
            latency_us = latency.as_micros() as u64,
            "reviewed"
        );
    }
    .instrument(span)
    .await;
    json_ok(admission::to_body(resp))
}

fn json_ok(body: Vec<u8>) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_deadlines() {
        assert_eq!(requested_timeout(Some("timeout=10s")), Duration::from_secs(10));
        assert_eq!(requested_timeout(Some("a=b&timeout=500ms")), Duration::from_millis(500));
        assert_eq!(requested_timeout(Some("timeout=1m")), Duration::from_secs(60));
        for bad in ["timeout=", "timeout=abc", "timeout=-1s", "timeout=1h", "timeout=0s"] {
            assert_eq!(requested_timeout(Some(bad)), Duration::from_secs(10), "{bad}");
        }
        assert_eq!(review_deadline(Duration::from_secs(10)), Duration::from_millis(7900));
        assert_eq!(review_deadline(Duration::from_millis(50)), Duration::from_millis(10));
        assert_eq!(cheap_uid(br#"{"request":{"uid":"ab-12","x":1}}"#), Some("ab-12"));
        assert_eq!(cheap_uid(br#"{"request":{"uid":"a\"b"}}"#), None);
        assert_eq!(cheap_uid(b"nothing"), None);
    }

    /// With no slot free, a review is denied as overloaded (429) within its
    /// deadline instead of hanging until the API server gives up.
    #[tokio::test]
    async fn overload_denies_within_the_deadline() {
        use tower::ServiceExt;
        let state = Arc::new(AppState {
            contract: ArcSwap::from_pointee(Contract::embedded().unwrap()),
            facts: Arc::new(NoFacts),
            metrics: Metrics::new(),
            audit: AuditSink,
            ready: AtomicBool::new(true),
            live: None,
            limiter: tokio::sync::Semaphore::new(0),
        });
        let body = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1"}}"#;
        let request = axum::http::Request::post("/validate?timeout=300ms")
            .body(Body::from(body))
            .unwrap();
        let started = Instant::now();
        let response = router(state.clone(), 1024).oneshot(request).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(300));
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["response"]["uid"], "u-1");
        assert_eq!(v["response"]["allowed"], false);
        assert_eq!(v["response"]["status"]["code"], 429);
        assert!(
            v["response"]["status"]["message"]
                .as_str()
                .unwrap()
                .contains("overloaded")
        );
        assert!(
            state
                .metrics
                .encode()
                .contains("rejected_requests_total{reason=\"overloaded\"} 1")
        );
    }
}
