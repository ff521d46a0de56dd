//! `wgpolicyk8s.io/v1alpha2` PolicyReport / ClusterPolicyReport output, the
//! format Kyverno and the policy working group use, so existing dashboards
//! (Policy Reporter, ...) can show cnpg-guard's findings.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::check::Report;
use crate::decision::Disposition;

#[derive(Default)]
struct Scope {
    results: Vec<Value>,
    pass: usize,
    fail: usize,
    warn: usize,
    skip: usize,
}

fn result_of(d: Disposition) -> &'static str {
    match d {
        Disposition::Denied => "fail",
        _ => "warn",
    }
}

/// One ClusterPolicyReport (cluster-scoped objects) and one PolicyReport per
/// namespace, as a YAML stream `kubectl apply -f -` accepts.
pub fn policy_reports(report: &Report) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut scopes: BTreeMap<String, Scope> = BTreeMap::new();
    scopes.entry(String::new()).or_default();
    for c in &report.checked {
        let scope = scopes.entry(c.namespace.clone()).or_default();
        scope.skip += c.decision.skipped.len();
        if c.decision.findings.is_empty() {
            scope.pass += 1;
        }
        for f in &c.decision.findings {
            let result = result_of(f.disposition);
            if result == "fail" {
                scope.fail += 1;
            } else {
                scope.warn += 1;
            }
            let mut resource = json!({"apiVersion": c.kind.api_version(), "kind": c.kind.as_str(), "name": c.name});
            if !c.namespace.is_empty() {
                resource["namespace"] = Value::String(c.namespace.clone());
            }
            scope.results.push(json!({
                "policy": "cnpg-guard",
                "rule": f.violation.rule.as_str(),
                "result": result,
                "severity": if result == "fail" { "high" } else { "medium" },
                "category": "shared-cluster-contract",
                "source": "cnpg-guard",
                "scored": true,
                "message": f.violation.line(),
                "timestamp": {"seconds": now, "nanos": 0},
                "resources": [resource],
                "properties": {
                    "field": f.violation.field,
                    "mode": f.mode.as_str(),
                    "disposition": f.disposition.as_str(),
                },
            }));
        }
    }
    let mut docs = Vec::new();
    for (ns, scope) in scopes {
        let mut metadata = json!({
            "name": "cnpg-guard",
            "labels": {"app.kubernetes.io/managed-by": "cnpg-guard"},
        });
        let kind = if ns.is_empty() {
            "ClusterPolicyReport"
        } else {
            metadata["namespace"] = Value::String(ns.clone());
            "PolicyReport"
        };
        let doc = json!({
            "apiVersion": "wgpolicyk8s.io/v1alpha2",
            "kind": kind,
            "metadata": metadata,
            "summary": {"pass": scope.pass, "fail": scope.fail, "warn": scope.warn, "error": 0, "skip": scope.skip},
            "results": scope.results,
        });
        docs.push(to_yaml(&doc));
    }
    docs.join("---\n")
}

fn to_yaml<T: Serialize>(v: &T) -> String {
    serde_norway::to_string(v).unwrap_or_default()
}
