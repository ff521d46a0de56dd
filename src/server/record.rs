//! The audit trail: one JSON line per decision (CONTRACT.md, "Audit trail"),
//! with every Secret value redacted before anything is serialized.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use crate::decision::Decision;
use crate::model::{Kind, Review};

const REDACTED: &str = "<redacted>";
const REDACTED_CHANGED: &str = "<redacted:changed>";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding<'a> {
    pub rule: &'static str,
    pub mode: &'static str,
    pub disposition: &'static str,
    pub field: &'a str,
    pub message: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord<'a> {
    pub time: String,
    pub uid: &'a str,
    pub user: &'a str,
    pub groups: &'a [String],
    pub operation: &'static str,
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub dry_run: bool,
    pub decision: &'static str,
    pub rules: Vec<&'static str>,
    pub findings: Vec<Finding<'a>>,
    pub skipped: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<&'a str>,
    pub contract_revision: &'a str,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<json_patch::Patch>,
}

impl<'a> AuditRecord<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        uid: &'a str,
        gvk: (&'a str, &'a str, &'a str),
        review: &'a Review,
        decision: &'a Decision,
        contract_revision: &'a str,
        latency: std::time::Duration,
        objects: Option<(&str, &str)>,
    ) -> Self {
        let patch = objects.and_then(|(old, new)| update_patch(review.kind, old, new));
        AuditRecord {
            time: now_rfc3339(),
            uid,
            user: &review.user.username,
            groups: &review.user.groups,
            operation: review.operation.as_str(),
            group: gvk.0,
            version: gvk.1,
            kind: gvk.2,
            namespace: &review.namespace,
            name: &review.name,
            dry_run: review.dry_run,
            decision: decision.label(),
            rules: decision.rules().iter().map(|r| r.as_str()).collect(),
            findings: decision
                .findings
                .iter()
                .map(|f| Finding {
                    rule: f.violation.rule.as_str(),
                    mode: f.mode.as_str(),
                    disposition: f.disposition.as_str(),
                    field: &f.violation.field,
                    message: f.violation.line(),
                })
                .collect(),
            skipped: decision
                .skipped
                .iter()
                .map(|s| format!("[{}] {}: {} ({})", s.rule, s.object, s.check, s.reason))
                .collect(),
            break_glass: decision.break_glass.as_deref(),
            contract_revision,
            latency_ms: latency.as_secs_f64() * 1000.0,
            patch,
        }
    }
}

/// The patch from the old to the new object's JSON text. A Secret is
/// parsed whole and redacted first, so no value can reach the patch.
fn update_patch(kind: Kind, old: &str, new: &str) -> Option<json_patch::Patch> {
    if kind != Kind::Secret {
        return super::patch::diff(old, new).ok();
    }
    let mut old: Value = serde_json::from_str(old).ok()?;
    let mut new: Value = serde_json::from_str(new).ok()?;
    redact_pair(&mut old, &mut new);
    Some(json_patch::diff(&old, &new))
}

/// Writes records as JSON lines to stdout (logs go to stderr).
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditSink;

impl AuditSink {
    pub fn write(&self, record: &AuditRecord<'_>) {
        if let Ok(mut line) = serde_json::to_vec(record) {
            line.push(b'\n');
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(&line).and_then(|_| out.flush()) {
                tracing::warn!(error = %e, "cannot write the audit record");
            }
        }
    }
}

/// Redacts a Secret in place: `data`, `stringData` and the last-applied
/// annotation (which holds `stringData` in plain text).
pub fn redact_secret(secret: &mut Value) {
    for field in ["data", "stringData"] {
        if let Some(Value::Object(map)) = secret.get_mut(field) {
            for v in map.values_mut() {
                *v = Value::String(REDACTED.into());
            }
        }
    }
    redact_last_applied(secret);
}

fn redact_last_applied(object: &mut Value) {
    if let Some(Value::Object(annotations)) = object.pointer_mut("/metadata/annotations")
        && let Some(v) = annotations.get_mut(LAST_APPLIED)
    {
        *v = Value::String(REDACTED.into());
    }
}

/// Redacts both sides of an update, keeping visible *that* a value changed.
fn redact_pair(old: &mut Value, new: &mut Value) {
    for field in ["data", "stringData"] {
        let before = old.get(field);
        let marks: Vec<(String, &str)> = new
            .get(field)
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .map(|(k, v)| {
                        let same = before.and_then(|b| b.get(k)) == Some(v);
                        (k.clone(), if same { REDACTED } else { REDACTED_CHANGED })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(Value::Object(map)) = new.get_mut(field) {
            for (k, mark) in marks {
                map.insert(k, Value::String(mark.into()));
            }
        }
    }
    redact_secret(old);
    redact_last_applied(new);
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_covers_data_string_data_and_last_applied() {
        let mut old = serde_json::json!({"metadata": {"annotations": {LAST_APPLIED: "{\"stringData\":{\"password\":\"CANARY\"}}"}}, "data": {"password": "Q0FOQVJZ", "user": "dg=="}});
        let mut new = serde_json::json!({"metadata": {"annotations": {LAST_APPLIED: "{\"stringData\":{\"password\":\"CANARY2\"}}"}}, "data": {"password": "Q0FOQVJZMg==", "user": "dg=="}, "stringData": {"x": "CANARY"}});
        redact_pair(&mut old, &mut new);
        let patch = serde_json::to_string(&json_patch::diff(&old, &new)).unwrap();
        for s in [old.to_string(), new.to_string(), patch.clone()] {
            assert!(!s.contains("CANARY") && !s.contains("Q0FOQVJZ"), "{s}");
        }
        assert!(patch.contains(REDACTED_CHANGED), "{patch}");
        assert_eq!(new["data"]["user"], REDACTED);
    }
}
