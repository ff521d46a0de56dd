//! Prometheus metrics in OpenMetrics format (prometheus-client). Labels are
//! kinds, operations, decisions, rule ids and modes: never object names or
//! values.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;

use crate::decision::Verdict;
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

/// The decisions a review is counted under.
pub const DECISIONS: [Verdict; 5] = Verdict::ALL;
/// Why a request is not reviewed (`rejected_requests_total{reason}`).
pub const REJECT_REASONS: [&str; 6] = [
    "bad_request",
    "too_large",
    "client_aborted",
    "body_timeout",
    "body_too_slow",
    "overloaded",
];
/// What happens to webhook connections (`connections_total{event}`).
pub const CONNECTION_EVENTS: [&str; 10] = [
    "accepted",
    "refused",
    "evicted",
    "accept_error",
    "tls_timeout",
    "tls_failed",
    "preface_timeout",
    "idle_timeout",
    "write_timeout",
    "ended_with_error",
];

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
    pub audit_runs: Family<ResultLabels, Counter>,
    pub audit_failing: Gauge,
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
             never arrived whole), body_timeout, body_too_slow (under 256 KiB/s after 1 s), overloaded",
            rejected_requests.clone(),
        );
        let connections = Family::<EventLabels, Counter>::default();
        registry.register(
            "connections",
            "Webhook connections, by event: accepted, refused (past --max-connections, none idle), evicted (idle, \
             closed to make room), accept_error, tls_timeout, tls_failed, preface_timeout, idle_timeout, write_timeout, \
             ended_with_error",
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
        let audit_runs = Family::<ResultLabels, Counter>::default();
        registry.register(
            "audit_runs",
            "Periodic audits of the live cluster, by result (ok, failed)",
            audit_runs.clone(),
        );
        let audit_failing = Gauge::default();
        registry.register(
            "audit_failing",
            "1 while the last periodic audit failed (existing_violations then show the last one that ran)",
            audit_failing.clone(),
        );
        let metrics = Metrics {
            registry,
            audit_runs,
            audit_failing,
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
        };
        metrics.known_at_zero();
        metrics
    }

    /// Every known label set of every family, at zero from the start, so
    /// dashboards and alerts (`rate(...)`, `absent(...)`) see each series
    /// before its first event.
    fn known_at_zero(&self) {
        use crate::contract::{Mode, RuleId};
        use crate::model::{Kind, Operation};
        for kind in Kind::ALL {
            for operation in [Operation::Create, Operation::Update, Operation::Delete] {
                for decision in DECISIONS {
                    let _ = self.reviews.get_or_create(&ReviewLabels {
                        kind: kind.as_str(),
                        operation: operation.as_str(),
                        decision: decision.as_str(),
                    });
                }
            }
        }
        for rule in RuleId::ALL {
            for mode in [Mode::Enforce, Mode::Warn, Mode::Audit] {
                let _ = self.violations.get_or_create(&ViolationLabels {
                    rule: rule.as_str(),
                    mode: mode.as_str(),
                });
            }
        }
        for result in ["ok", "failed"] {
            let labels = ResultLabels { result: result.into() };
            let _ = self.contract_reloads.get_or_create(&labels);
            let _ = self.certificate_reloads.get_or_create(&labels);
            let _ = self.audit_runs.get_or_create(&labels);
        }
        for reason in REJECT_REASONS {
            let _ = self
                .rejected_requests
                .get_or_create(&ReasonLabels { reason: reason.into() });
        }
        for event in CONNECTION_EVENTS {
            let _ = self.connections.get_or_create(&EventLabels { event });
        }
    }

    /// `existing_violations{rule}` at zero for every rule: called when the
    /// periodic audit is on (without it, zero would claim a clean cluster).
    pub fn existing_violations_known(&self) {
        for rule in crate::contract::RuleId::ALL {
            let _ = self.existing_violations.get_or_create(&RuleLabels {
                rule: rule.as_str().into(),
            });
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
        let _ = self.connections.get_or_create(&EventLabels { event }).inc();
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
        stable_series_order(&out)
    }
}

/// The families print in the order they were registered, but a family's
/// series in its hash map's order, which changes from one scrape or process
/// to the next. The series of each counter and gauge family are sorted
/// (a histogram's lines keep their `le` order).
fn stable_series_order(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut series: Vec<&str> = Vec::new();
    let mut sortable = false;
    let flush = |series: &mut Vec<&str>, sortable: bool, out: &mut String| {
        if sortable {
            series.sort_unstable();
        }
        for line in series.drain(..) {
            out.push_str(line);
            out.push('\n');
        }
    };
    for line in text.lines() {
        if line.starts_with('#') {
            flush(&mut series, sortable, &mut out);
            if let Some(kind) = line.strip_prefix("# TYPE ") {
                sortable = kind.ends_with(" counter") || kind.ends_with(" gauge");
            }
            out.push_str(line);
            out.push('\n');
        } else {
            series.push(line);
        }
    }
    flush(&mut series, sortable, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::RuleId;
    use crate::model::Kind;

    /// Two registries filled in opposite orders print the same text: families
    /// in registration order, each counter's and gauge's series sorted.
    #[test]
    fn series_print_in_a_stable_order() {
        let (a, b) = (Metrics::new(), Metrics::new());
        for (m, events) in [(&a, ["refused", "accepted"]), (&b, ["accepted", "refused"])] {
            for event in events {
                m.connections.get_or_create(&EventLabels { event }).inc();
            }
        }
        a.latency.observe(0.01);
        b.latency.observe(0.01);
        assert_eq!(a.encode(), b.encode());
        let text = a.encode();
        let connections: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("cnpg_guard_connections_total{"))
            .collect();
        let mut sorted = connections.clone();
        sorted.sort_unstable();
        assert_eq!(connections, sorted);
        let buckets: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("cnpg_guard_review_duration_seconds_bucket"))
            .collect();
        assert!(
            buckets.last().is_some_and(|l| l.contains(r#"le="+Inf""#)),
            "{buckets:?}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    /// Before the first event every family is there, each known label set at zero.
    #[test]
    fn every_family_is_exported_at_zero_from_the_start() {
        let text = Metrics::new().encode();
        for line in [
            r#"cnpg_guard_reviews_total{kind="Database",operation="CREATE",decision="deny"} 0"#,
            r#"cnpg_guard_reviews_total{kind="Secret",operation="DELETE",decision="break-glass"} 0"#,
            r#"cnpg_guard_violations_total{rule="network-posture",mode="audit"} 0"#,
            r#"cnpg_guard_contract_reloads_total{result="failed"} 0"#,
            r#"cnpg_guard_certificate_reloads_total{result="ok"} 0"#,
            r#"cnpg_guard_rejected_requests_total{reason="too_large"} 0"#,
            r#"cnpg_guard_rejected_requests_total{reason="body_timeout"} 0"#,
            r#"cnpg_guard_connections_total{event="refused"} 0"#,
            r#"cnpg_guard_connections_total{event="ended_with_error"} 0"#,
            "cnpg_guard_review_duration_seconds_count 0",
            "cnpg_guard_certificate_expiry_seconds 0.0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        let reviews = text
            .lines()
            .filter(|l| l.starts_with("cnpg_guard_reviews_total{"))
            .count();
        assert_eq!(reviews, Kind::ALL.len() * 3 * DECISIONS.len());
        let violations = text
            .lines()
            .filter(|l| l.starts_with("cnpg_guard_violations_total{"))
            .count();
        assert_eq!(violations, RuleId::ALL.len() * 3);
        // Without a periodic audit, no existing-violations series claims a clean cluster.
        assert!(!text.contains("cnpg_guard_existing_violations{"), "{text}");
        let m = Metrics::new();
        m.existing_violations_known();
        assert!(
            m.encode()
                .contains(r#"cnpg_guard_existing_violations{rule="cluster-identity"} 0"#)
        );
    }
}
