//! Prometheus metrics in OpenMetrics format (prometheus-client). Labels are
//! kinds, operations, decisions, rule ids and modes: never object names or
//! values.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Per-review labels are static strings: no allocation on the hot path.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    pub kind: &'static str,
    pub operation: &'static str,
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ViolationLabels {
    pub rule: &'static str,
    pub mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatchLabels {
    pub watch: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
}

pub struct Metrics {
    registry: Registry,
    pub reviews: Family<ReviewLabels, Counter>,
    pub violations: Family<ViolationLabels, Counter>,
    pub latency: Histogram,
    pub contract_reloads: Family<ResultLabels, Counter>,
    pub certificate_reloads: Family<ResultLabels, Counter>,
    pub rejected_requests: Family<ReasonLabels, Counter>,
    pub connections: Family<EventLabels, Counter>,
    pub certificate_expiry_seconds: Gauge<f64, AtomicU64>,
    pub watch_synced: Family<WatchLabels, Gauge>,
    pub watch_age_seconds: Family<WatchLabels, Gauge<f64, AtomicU64>>,
    pub existing_violations: Family<RuleLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cnpg_guard");
        let reviews = Family::<ReviewLabels, Counter>::default();
        registry.register(
            "reviews",
            "Admission reviews answered, by kind, operation and decision",
            reviews.clone(),
        );
        let violations = Family::<ViolationLabels, Counter>::default();
        registry.register(
            "violations",
            "Contract violations found, by rule and mode",
            violations.clone(),
        );
        let latency = Histogram::new([0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0]);
        registry.register(
            "review_duration_seconds",
            "Time from a request's arrival (its body read included) to its answer",
            latency.clone(),
        );
        let contract_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "contract_reloads",
            "Contract file reloads, by result (ok, failed)",
            contract_reloads.clone(),
        );
        let certificate_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "certificate_reloads",
            "Serving certificate reloads, by result (ok, failed)",
            certificate_reloads.clone(),
        );
        let rejected_requests = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "rejected_requests",
            "Requests not reviewed, by reason: bad_request (not a review), too_large, client_aborted (the body \
             never arrived whole), body_timeout, overloaded",
            rejected_requests.clone(),
        );
        let connections = Family::<EventLabels, Counter>::default();
        registry.register(
            "connections",
            "Webhook connections, by event: accepted, refused (past --max-connections), accept_error, tls_timeout, \
             tls_failed, preface_timeout, idle_timeout, write_timeout, ended_with_error",
            connections.clone(),
        );
        let certificate_expiry_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "certificate_expiry_seconds",
            "Seconds until the serving certificate expires",
            certificate_expiry_seconds.clone(),
        );
        let watch_synced = Family::<WatchLabels, Gauge>::default();
        registry.register(
            "watch_synced",
            "Live-facts watches: 1 when synced and not broken",
            watch_synced.clone(),
        );
        let watch_age_seconds = Family::<WatchLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "watch_age_seconds",
            "Seconds since a live-facts watch last delivered a good event",
            watch_age_seconds.clone(),
        );
        let existing_violations = Family::<RuleLabels, Gauge>::default();
        registry.register(
            "existing_violations",
            "Violations found in the live cluster by the last periodic audit, by rule",
            existing_violations.clone(),
        );
        Metrics {
            registry,
            watch_synced,
            watch_age_seconds,
            existing_violations,
            reviews,
            violations,
            latency,
            contract_reloads,
            certificate_reloads,
            rejected_requests,
            connections,
            certificate_expiry_seconds,
        }
    }

    pub fn count_result(family: &Family<ResultLabels, Counter>, ok: bool) {
        family
            .get_or_create(&ResultLabels {
                result: if ok { "ok" } else { "failed" }.into(),
            })
            .inc();
    }

    /// Counts a connection event (see [`crate::server::serve_https`]).
    pub fn connection(&self, event: &'static str) {
        self.connections.get_or_create(&EventLabels { event }).inc();
    }

    pub fn reject(&self, reason: &str) {
        self.rejected_requests
            .get_or_create(&ReasonLabels { reason: reason.into() })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
