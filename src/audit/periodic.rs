//! The audit of `cnpg-guard audit`, run by `serve` every `--audit-interval`:
//! each finding logged once when it appears and once when it is resolved,
//! and the number of existing violations per rule published. A failed audit
//! is logged as an error, reported to `outcome` (the metrics
//! `audit_runs_total{result="failed"}` and `audit_failing`), and tried again
//! within a minute.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info, warn};

use crate::contract::Contract;
use crate::rules::RuleId;

/// How soon a failed audit is tried again (at most `--audit-interval`).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// Audits every `every`, reading the contract in force from `contract`
/// each time, hands the count of existing violations per rule to
/// `publish`, and whether the audit could run to `outcome`.
pub async fn run(
    client: kube::Client,
    contract: impl Fn() -> Arc<Contract>,
    publish: impl Fn(RuleId, i64),
    outcome: impl Fn(bool),
    every: Duration,
) {
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut notes_logged = false;
    // Try listing Secrets once; after a 403 (the shipped RBAC) stop asking.
    let mut list_secrets = true;
    loop {
        let contract = contract();
        match super::inventory(&client, &contract, list_secrets).await {
            Ok(inventory) => {
                list_secrets = inventory.secrets_listed;
                let (report, notes) = super::judge(inventory, &contract);
                if !notes_logged {
                    for n in &notes {
                        info!(note = %n, "periodic audit limitation");
                    }
                    notes_logged = true;
                }
                let mut per_rule: BTreeMap<RuleId, i64> = RuleId::ALL.iter().map(|r| (*r, 0)).collect();
                let mut now = BTreeSet::new();
                for c in &report.checked {
                    for f in &c.decision.findings {
                        *per_rule.entry(f.violation.rule).or_default() += 1;
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
                    publish(rule, n);
                }
                outcome(true);
                info!(
                    objects = report.checked.len(),
                    violations = known.len(),
                    "periodic audit done"
                );
                tokio::time::sleep(every).await;
            }
            Err(e) => {
                outcome(false);
                let retry = every.min(RETRY_AFTER_FAILURE);
                error!(error = %e, retry_in_seconds = retry.as_secs(),
                    "periodic audit failed: existing_violations still show the last audit that ran");
                tokio::time::sleep(retry).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An audit that cannot reach the API server reports the failure at once.
    #[tokio::test]
    async fn a_failed_audit_is_reported() {
        // A port nothing listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let url: http::Uri = format!("http://127.0.0.1:{port}").parse().unwrap_or_default();
        let client = kube::Client::try_from(kube::Config::new(url)).unwrap();
        let contract = Arc::new(Contract::embedded().unwrap());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let audit = tokio::spawn(run(
            client,
            move || contract.clone(),
            |_, _| {},
            move |ok| {
                let _ = tx.send(ok);
            },
            Duration::from_secs(600),
        ));
        let first = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
        audit.abort();
        assert_eq!(first.ok().flatten(), Some(false));
    }
}
