//! The audit of `cnpg-guard audit`, run by `serve` every `--audit-interval`:
//! each finding logged once when it appears and once when it is resolved,
//! and the number of existing violations per rule published.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::contract::Contract;
use crate::rules::RuleId;

/// Audits every `every`, reading the contract in force from `contract`
/// each time, and hands the count of existing violations per rule to
/// `publish`.
pub async fn run(
    client: kube::Client,
    contract: impl Fn() -> Arc<Contract>,
    publish: impl Fn(RuleId, i64),
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
