//! Certificate and contract files re-read on a timer (cert-manager
//! renewals, kubelet's `..data` symlink swaps, ConfigMap updates); a broken
//! new file keeps the last good one. Also the development certificate.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::args::{ServeArgs, ServeError};
use super::metrics::Metrics;
use super::{AppState, tls};
use crate::contract;

pub(super) fn dev_certificate(args: &ServeArgs) -> Result<tls::CertPaths, ServeError> {
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

pub(super) fn seconds_until(epoch: i64) -> f64 {
    (epoch - time::OffsetDateTime::now_utc().unix_timestamp()) as f64
}

pub(super) async fn reload_certificates(
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

pub(super) async fn reload_contract(path: PathBuf, state: Arc<AppState>, every: Duration) {
    let mut last = std::fs::read(&path).map(|b| tls::sha256(&b)).ok();
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
        let digest = Some(tls::sha256(&bytes));
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
