//! Every answer the webhook gives, as kube-core's AdmissionResponse: a
//! [`Decision`] ([`respond`]), or a refusal to judge ([`refusal`]: a body
//! that cannot be read, is too large, or cannot be reviewed in time), and
//! their bytes.

use std::borrow::Cow;

use serde::Deserialize;

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
    resp.audit_annotations
        .insert("identity".into(), decision.identity.label());
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

/// A request the guard does not judge, denied with `code` and `reason`
/// (`status.message` says why), with the request's uid when it could be
/// read (the API server matches the answer to its request by it).
pub fn refusal(code: u16, reason: &str, message: &str, uid: Option<&str>) -> AdmissionResponse {
    let mut resp = AdmissionResponse::invalid(message);
    resp.result.code = code;
    resp.result.reason = reason.to_owned();
    if let Some(uid) = uid {
        resp.uid = uid.to_owned();
    }
    resp
}

/// `request.uid`, read by a parse that skips everything else (in any field
/// order), or `None`.
pub fn uid_of(body: &[u8]) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        request: Option<RequestHead<'a>>,
    }
    #[derive(Deserialize)]
    struct RequestHead<'a> {
        #[serde(borrow)]
        uid: Cow<'a, str>,
    }
    serde_json::from_slice::<Head<'_>>(body)
        .ok()
        .and_then(|h| h.request)
        .map(|r| r.uid)
        .filter(|u| !u.is_empty())
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
