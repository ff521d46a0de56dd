//! `cnpg-guard serve`: the TLS validating admission webhook. Start-up and
//! the shared state live here; HTTP, TLS and reloads have a file each, and
//! verdicts come from [`crate::admission::answer`] unchanged.

mod admin;
mod args;
mod body;
mod budget;
mod conn;
mod handler;
mod https;
pub mod metrics;
mod reload;
mod slots;
pub mod tls;
mod write_deadline;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

pub use args::{ServeArgs, ServeError, contract_source, dns_label, socket_addr};
pub use handler::router;
pub use https::{H1_MAX_BUF, H2_MAX_STREAMS, H2_WINDOW, Limits, serve_https};

use crate::contract::{self, Contract};
use crate::decision_log::DecisionLog;
use crate::facts::{Facts, LiveFacts, NoFacts, OfflineFacts};
use metrics::{Metrics, RuleLabels, WatchLabels};

/// Shared state of the webhook.
pub struct AppState {
    pub contract: ArcSwap<Contract>,
    pub facts: Arc<dyn Facts>,
    pub metrics: Metrics,
    /// Where each decision record goes (stdout).
    pub decision_log: DecisionLog,
    pub ready: AtomicBool,
    /// Live facts, when the guard can see a cluster.
    pub live: Option<Arc<LiveFacts>>,
    /// Reviews judged at once; the rest wait until their deadline.
    pub limiter: Arc<tokio::sync::Semaphore>,
    /// Request bodies in flight (`--max-body-bytes-in-flight`).
    pub body_budget: Arc<budget::Budget>,
    /// `--max-body-bytes`.
    pub max_body_bytes: usize,
}

impl AppState {
    /// Ready: contract loaded, TLS listener up, live watches synced.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.live.as_ref().is_none_or(|l| l.synced())
    }
}

/// Runs the webhook until SIGTERM/SIGINT.
pub async fn run(args: ServeArgs) -> Result<(), ServeError> {
    if args.max_body_bytes_in_flight < args.max_body_bytes {
        return Err(ServeError::BudgetBelowBody {
            in_flight: args.max_body_bytes_in_flight,
            body: args.max_body_bytes,
        });
    }
    // Each connection is a file descriptor: take all the process may have.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => info!(
            open_files = limit,
            max_connections = args.max_connections,
            "file descriptor limit"
        ),
        Err(e) => warn!(error = %e, "cannot raise the file descriptor limit"),
    }
    let contract = contract::load(args.contract.as_deref()).map_err(|source| ServeError::ContractFile {
        from: args::contract_source(args.contract.as_deref()),
        source,
    })?;
    info!(
        revision = %contract.revision,
        source = %args.contract.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "<embedded>".into()),
        clusters = contract.clusters.len(),
        "contract loaded"
    );
    for w in &contract.warnings {
        warn!(warning = %w, "contract");
    }
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

    // Bound before development mode writes its certificate, so a serve that
    // cannot start (the port in use) never replaces the certificate another
    // running serve uses.
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
    let cert_paths = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => tls::CertPaths {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => reload::dev_certificate(&args)?,
    };
    if tls::key_is_world_readable(&cert_paths.key) {
        warn!(path = %cert_paths.key.display(), "the TLS private key file is world-readable; restrict it to mode 0600");
    }
    let loaded = tls::load(&cert_paths)?;
    let facts: Arc<dyn Facts> = match (&live, &args.facts_from) {
        (Some(l), _) => l.clone(),
        (None, Some(path)) => {
            let (facts, count) = OfflineFacts::from_manifests(path, &contract)?;
            info!(path = %path.display(), objects = count, "offline facts loaded from manifests");
            Arc::new(facts)
        }
        (None, None) => Arc::new(NoFacts),
    };
    let state = Arc::new(AppState {
        contract: ArcSwap::from_pointee(contract),
        facts,
        metrics: Metrics::new(),
        decision_log: DecisionLog,
        ready: AtomicBool::new(false),
        live,
        limiter: Arc::new(tokio::sync::Semaphore::new(args.max_concurrent_reviews as usize)),
        body_budget: budget::Budget::new(args.max_body_bytes_in_flight, args.max_body_bytes),
        max_body_bytes: args.max_body_bytes,
    });
    state
        .metrics
        .certificate_expiry_seconds
        .set(reload::seconds_until(loaded.not_after));
    let resolver = tls::Resolver::new(loaded.key.clone());
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(
        resolver.clone(),
        args.client_ca.as_deref(),
    )?));

    info!(listen = %listener.local_addr()?, admin = %admin_listener.local_addr()?, "listening");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let interval = Duration::from_secs(args.reload_interval.max(1));
    tokio::spawn(reload::reload_certificates(
        cert_paths,
        loaded.fingerprint,
        resolver,
        state.clone(),
        interval,
    ));
    if let Some(path) = args.contract.clone() {
        tokio::spawn(reload::reload_contract(path, state.clone(), interval));
    }
    let admin = tokio::spawn(admin::serve(admin_listener, state.clone(), stop_rx.clone()));
    if state.live.is_some() {
        tokio::spawn(watch_metrics(state.clone()));
    }
    if let (Some(client), true) = (client, args.audit_interval > 0) {
        state.metrics.existing_violations_known();
        let (from, to, ran) = (state.clone(), state.clone(), state.clone());
        tokio::spawn(crate::audit::periodic::run(
            client,
            move || from.contract.load_full(),
            move |rule, n| {
                to.metrics
                    .existing_violations
                    .get_or_create(&RuleLabels {
                        rule: rule.as_str().into(),
                    })
                    .set(n);
            },
            move |ok| {
                Metrics::count_result(&ran.metrics.audit_runs, ok);
                ran.metrics.audit_failing.set(i64::from(!ok));
            },
            Duration::from_secs(args.audit_interval),
        ));
    }

    let app = handler::router(state.clone());
    state.ready.store(true, Ordering::SeqCst);
    https::serve_https(
        listener,
        acceptor,
        app,
        Limits {
            drain: Duration::from_secs(args.drain_timeout),
            header_read: Duration::from_secs(args.header_read_timeout),
            idle: Duration::from_secs(args.idle_timeout),
            write: Duration::from_secs(args.write_timeout),
            max_connections: args.max_connections,
        },
        {
            let state = state.clone();
            move |event| state.metrics.connection(event)
        },
    )
    .await;
    state.ready.store(false, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    let _ = admin.await;
    info!("stopped");
    Ok(())
}

/// Exports the live watches' sync state and age every second; a watch
/// that stops existing (an optional kind found not served) loses its series.
async fn watch_metrics(state: Arc<AppState>) {
    let Some(live) = state.live.clone() else { return };
    let mut exported: Vec<String> = Vec::new();
    loop {
        let health = live.health();
        for gone in exported.iter().filter(|w| !health.iter().any(|(h, ..)| h == *w)) {
            let labels = WatchLabels { watch: gone.clone() };
            state.metrics.watch_synced.remove(&labels);
            state.metrics.watch_age_seconds.remove(&labels);
        }
        exported = health.iter().map(|(w, ..)| w.clone()).collect();
        for (watch, synced, age, broken) in health {
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
