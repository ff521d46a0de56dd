//! The decision log: one JSON line per decision (docs/operations.md,
//! "Decision log"), with every Secret value redacted before anything is serialized.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use crate::decision::{Decision, Finding, Verdict};
use crate::model::{Kind, LAST_APPLIED, Review, UpdateTexts};
use crate::rules::Skipped;

const REDACTED: &str = "<redacted>";
const REDACTED_CHANGED: &str = "<redacted:changed>";

/// The findings a record lists, their messages cut to `max_message`
/// characters when the record is over its bound.
#[derive(Debug)]
pub struct Findings<'a> {
    pub listed: Vec<&'a Finding>,
    pub max_message: Option<usize>,
}

impl Serialize for Findings<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Cut<'a>(&'a Finding, Option<usize>);
        impl Serialize for Cut<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.serialize_cut(s, self.1)
            }
        }
        s.collect_seq(self.listed.iter().map(|f| Cut(f, self.max_message)))
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord<'a> {
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
    /// Who asked: `platform`, `consumer: <namespace>` or `unknown`.
    pub identity: String,
    pub decision: Verdict,
    pub rules: Vec<&'static str>,
    pub findings: Findings<'a>,
    /// Findings beyond the record's bound ([`MAX_FINDINGS`]), not listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub findings_omitted: usize,
    pub skipped: Vec<String>,
    /// Checks answered from facts kept while a watch was broken, with their age.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aged_facts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<&'a str>,
    pub contract_revision: &'a str,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<json_patch::Patch>,
    /// The patch was cut: `{kept, total}` operations ([`MAX_PATCH_OPS`],
    /// and the record's byte bound [`MAX_RECORD_BYTES`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_truncated: Option<Truncated>,
    /// Why an UPDATE has no patch (never silently dropped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_error: Option<String>,
}

/// How much of a list a record kept.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Truncated {
    pub kept: usize,
    pub total: usize,
}

/// At most this many findings are listed in a record.
pub const MAX_FINDINGS: usize = 50;
/// At most this many patch operations are kept in a record.
pub const MAX_PATCH_OPS: usize = 100;
/// A record line stays below this (container runtimes split log lines at
/// 16 KiB): past it the patch is cut, then dropped, then the findings'
/// messages shortened.
pub const MAX_RECORD_BYTES: usize = 15 * 1024;
/// A finding's message in a record that had to be shortened.
const SHORT_MESSAGE_CHARS: usize = 160;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl<'a> DecisionRecord<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        uid: &'a str,
        gvk: (&'a str, &'a str, &'a str),
        review: &'a Review,
        decision: &'a Decision,
        contract_revision: &'a str,
        latency: std::time::Duration,
        objects: Option<UpdateTexts<'_>>,
    ) -> Self {
        let (patch, patch_error) = match objects.map(|sources| update_patch(review.kind, sources)) {
            None => (None, None),
            Some(Ok(patch)) => (Some(patch), None),
            Some(Err(e)) => (None, Some(e.to_string())),
        };
        let findings_total = decision.findings.len();
        DecisionRecord {
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
            identity: decision.identity.label(),
            decision: decision.verdict(),
            rules: decision.rules().iter().map(|r| r.as_str()).collect(),
            findings: Findings {
                listed: decision.findings.iter().take(MAX_FINDINGS).collect(),
                max_message: None,
            },
            findings_omitted: findings_total.saturating_sub(MAX_FINDINGS),
            skipped: decision.skipped.iter().take(MAX_FINDINGS).map(Skipped::line).collect(),
            aged_facts: decision
                .aged
                .iter()
                .map(|a| ["[", a.rule.as_str(), "] ", &a.check, " (facts ", &a.age, ")"].concat())
                .collect(),
            break_glass: decision.break_glass.as_deref(),
            contract_revision,
            latency_ms: latency.as_secs_f64() * 1000.0,
            patch,
            patch_truncated: None,
            patch_error,
        }
        .cut_patch(MAX_PATCH_OPS)
    }

    /// Keeps at most `ops` operations of the patch, marking the cut.
    fn cut_patch(mut self, ops: usize) -> Self {
        if let Some(patch) = self.patch.as_mut()
            && patch.0.len() > ops
        {
            let total = self.patch_truncated.map_or(patch.0.len(), |t| t.total);
            patch.0.truncate(ops);
            self.patch_truncated = Some(Truncated { kept: ops, total });
        }
        self
    }
}

/// The patch from the old to the new object. A Secret's operations are
/// redacted as they come out of the diff (see [`redact_secret_ops`]), so
/// no value can reach the patch.
fn update_patch(kind: Kind, texts: UpdateTexts<'_>) -> Result<json_patch::Patch, crate::json_diff::PatchError> {
    let mut patch = match texts {
        UpdateTexts::Texts { old, new } => crate::json_diff::diff(old, new)?,
        UpdateTexts::InReview(body) => crate::json_diff::diff_in_review(body)?,
    };
    if kind == Kind::Secret {
        redact_secret_ops(&mut patch);
    }
    Ok(patch)
}

/// Redacts a Secret's patch to what diffing the two redacted objects
/// ([`redact_pair`]) gives: every value written under `data` or
/// `stringData` becomes `<redacted:changed>`, the last-applied annotation
/// `<redacted>`, and a change of that annotation alone disappears.
fn redact_secret_ops(patch: &mut json_patch::Patch) {
    use json_patch::PatchOperation as Op;
    patch.0.retain_mut(|op| {
        let (path, value, replace) = match op {
            Op::Add(o) => (&o.path, &mut o.value, false),
            Op::Replace(o) => (&o.path, &mut o.value, true),
            Op::Remove(_) => return true,
            // The diff writes only add, remove and replace.
            Op::Move(_) | Op::Copy(_) | Op::Test(_) => return false,
        };
        let tokens: Vec<String> = path.tokens().map(|t| t.decoded().into_owned()).collect();
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        match tokens.as_slice() {
            ["data" | "stringData", _, ..] => *value = Value::String(REDACTED_CHANGED.into()),
            ["data" | "stringData"] => mark_values(Some(value), REDACTED_CHANGED),
            ["metadata", "annotations", key, ..] if *key == LAST_APPLIED => {
                if replace || tokens.len() > 3 {
                    return false;
                }
                *value = Value::String(REDACTED.into());
            }
            ["metadata", "annotations"] => redact_last_applied(Some(value)),
            ["metadata"] => redact_last_applied(value.get_mut("annotations")),
            [] => {
                // The whole object (only when one side is not an object).
                for field in ["data", "stringData"] {
                    mark_values(value.get_mut(field), REDACTED_CHANGED);
                }
                redact_last_applied(value.pointer_mut("/metadata/annotations"));
            }
            _ => {}
        }
        true
    });
}

/// Sets every value of a map (`data`, `stringData`) to `mark`.
fn mark_values(map: Option<&mut Value>, mark: &str) {
    if let Some(Value::Object(map)) = map {
        for v in map.values_mut() {
            *v = Value::String(mark.into());
        }
    }
}

/// Redacts the last-applied annotation in an annotations map.
fn redact_last_applied(annotations: Option<&mut Value>) {
    if let Some(v) = annotations
        .and_then(Value::as_object_mut)
        .and_then(|a| a.get_mut(LAST_APPLIED))
    {
        *v = Value::String(REDACTED.into());
    }
}

impl DecisionRecord<'_> {
    /// The record as one JSON line (with its newline), below
    /// [`MAX_RECORD_BYTES`]: a record over it loses its patch's tail, then
    /// its patch, then the length of its findings' messages, each cut marked.
    pub fn to_line(mut self) -> Vec<u8> {
        let mut line = self.encode();
        if line.len() <= MAX_RECORD_BYTES {
            return line;
        }
        let mut ops = self.patch.as_ref().map_or(0, |p| p.0.len());
        while ops > 0 && line.len() > MAX_RECORD_BYTES {
            ops /= 2;
            self = self.cut_patch(ops);
            line = self.encode();
        }
        if line.len() > MAX_RECORD_BYTES {
            self.findings.max_message = Some(SHORT_MESSAGE_CHARS);
            line = self.encode();
        }
        line
    }

    fn encode(&self) -> Vec<u8> {
        // One allocation for a typical record (no growth while encoding).
        let mut line = Vec::with_capacity(1024);
        match serde_json::to_writer(&mut line, self) {
            Ok(()) => line.push(b'\n'),
            Err(e) => tracing::warn!(error = %e, "cannot encode the decision record"),
        }
        line
    }
}

/// Writes decision records as JSON lines to stdout (logs go to stderr).
#[derive(Debug, Clone, Copy, Default)]
pub struct DecisionLog;

impl DecisionLog {
    pub fn write(&self, line: &[u8]) {
        if line.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(line).and_then(|_| out.flush()) {
            tracing::warn!(error = %e, "cannot write the decision record");
        }
    }
}

/// Redacts a Secret in place: `data`, `stringData` and the last-applied
/// annotation (which holds `stringData` in plain text). The reference for
/// [`redact_secret_ops`] (tests).
#[cfg(test)]
fn redact_secret(secret: &mut Value) {
    for field in ["data", "stringData"] {
        mark_values(secret.get_mut(field), REDACTED);
    }
    redact_last_applied(secret.pointer_mut("/metadata/annotations"));
}

/// Redacts both sides of an update, keeping visible *that* a value changed.
#[cfg(test)]
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
    redact_last_applied(new.pointer_mut("/metadata/annotations"));
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UpdateTexts;

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

    /// The reference: diff the two Secrets after redacting both.
    fn reference_patch(old: &Value, new: &Value) -> json_patch::Patch {
        let (mut old, mut new) = (old.clone(), new.clone());
        redact_pair(&mut old, &mut new);
        json_patch::diff(&old, &new)
    }

    fn secret_patch(old: &Value, new: &Value) -> json_patch::Patch {
        let (old, new) = (old.to_string(), serde_json::to_string_pretty(new).unwrap());
        let from_texts = update_patch(Kind::Secret, UpdateTexts::Texts { old: &old, new: &new }).unwrap();
        // The same from a review body holding both, as the one pass leaves it.
        let body = format!(r#"{{"request":{{"uid":"u","object":{new},"oldObject":{old}}}}}"#);
        let from_body = update_patch(Kind::Secret, UpdateTexts::InReview(body.as_bytes())).unwrap();
        assert_eq!(from_texts, from_body);
        from_texts
    }

    #[test]
    fn secret_update_patch_equals_diffing_redacted_objects() {
        let la = |pw: &str| serde_json::json!({LAST_APPLIED: format!("{{\"stringData\":{{\"password\":\"{pw}\"}}}}"), "team": "a"});
        let base = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "annotations": la("CANARY1")},
            "data": {"password": "Q0FOQVJZMQ==", "user": "dg=="}, "stringData": {"x": "CANARY1"}});
        let mut changed = base.clone();
        changed["metadata"]["annotations"] = la("CANARY2");
        changed["data"]["password"] = serde_json::json!("Q0FOQVJZMg==");
        changed["data"]["new"] = serde_json::json!("Q0FOQVJZMw==");
        changed["stringData"] = serde_json::json!({"x": "CANARY2", "y": "CANARY3"});
        let mut no_annotations = changed.clone();
        no_annotations["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        let mut no_data = base.clone();
        no_data.as_object_mut().unwrap().remove("data");
        no_data["stringData"] = Value::Null;
        let mut no_metadata = base.clone();
        no_metadata["metadata"] = Value::Null;
        let cases = [&base, &changed, &no_annotations, &no_data, &no_metadata];
        for old in cases {
            for new in cases {
                let ours = secret_patch(old, new);
                assert_eq!(ours, reference_patch(old, new), "{old} -> {new}");
                let text = serde_json::to_string(&ours).unwrap();
                assert!(!text.contains("CANARY") && !text.contains("Q0FOQVJZ"), "{text}");
            }
        }
    }

    use proptest::prelude::*;

    fn secret_value() -> impl Strategy<Value = Value> {
        let text = || "[a-c]{0,2}".prop_map(Value::String);
        let map = move || {
            prop::option::of(prop::collection::btree_map(
                "[ab]",
                prop_oneof![text(), Just(Value::Null)],
                0..3,
            ))
            .prop_map(|m| m.map(|m| Value::Object(m.into_iter().collect())).unwrap_or(Value::Null))
        };
        let annotations = prop::option::of(prop::collection::btree_map(
            prop_oneof![Just(LAST_APPLIED.to_owned()), "[ab]"],
            text(),
            0..3,
        ));
        (map(), map(), annotations, prop::option::of(text())).prop_map(|(data, string_data, annotations, other)| {
            let mut o = serde_json::json!({"kind": "Secret", "data": data, "stringData": string_data});
            o["metadata"] = match annotations {
                Some(a) => serde_json::json!({"name": "s", "annotations": Value::Object(a.into_iter().collect())}),
                None => serde_json::json!({"name": "s"}),
            };
            if let Some(t) = other {
                o["type"] = t;
            }
            o
        })
    }

    proptest! {
        // Shrunk failures are kept with the others in tests/regressions/.
        #![proptest_config(proptest::test_runner::Config {
            failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
                "tests/regressions/decision_log.txt",
            ))),
            ..proptest::test_runner::Config::default()
        })]
        #[test]
        fn secret_update_patch_equals_the_reference_on_any_pair(old in secret_value(), new in secret_value()) {
            prop_assert_eq!(secret_patch(&old, &new), reference_patch(&old, &new));
        }
    }
}
