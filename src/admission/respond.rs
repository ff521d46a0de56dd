//! A [`Decision`] as kube-core's AdmissionResponse, and its bytes.

use kube::core::admission::AdmissionResponse;
use kube::core::response::StatusSummary;

use super::parse::Request;
use crate::decision::Decision;

/// The admission response for a decision.
pub fn respond(req: &Request<'_>, decision: &Decision) -> AdmissionResponse {
    let mut resp = AdmissionResponse::from(req);
    if !decision.allowed {
        resp = resp.deny(decision.message());
        resp.result.code = 403;
        resp.result.reason = "Forbidden".into();
        resp.result.status = Some(StatusSummary::Failure);
    }
    let warnings = decision.warnings();
    if !warnings.is_empty() {
        resp.warnings = Some(warnings);
    }
    resp.audit_annotations
        .insert("decision".into(), decision.verdict().as_str().into());
    let rules = decision.rules();
    if !rules.is_empty() {
        resp.audit_annotations.insert(
            "rules".into(),
            rules.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        );
    }
    if let Some(reason) = &decision.break_glass {
        resp.audit_annotations.insert("break-glass".into(), reason.clone());
    }
    resp
}

/// Serializes a response review. Serializing these plain types cannot fail
/// in practice; if it ever did, the API server gets a well-formed error.
pub fn to_body(resp: AdmissionResponse) -> Vec<u8> {
    let mut body = Vec::with_capacity(512);
    match serde_json::to_writer(&mut body, &resp.into_review()) {
        Ok(()) => body,
        Err(e) => serde_json::to_vec(&serde_json::json!({"error": format!("cannot encode the response: {e}")}))
            .unwrap_or_default(),
    }
}
