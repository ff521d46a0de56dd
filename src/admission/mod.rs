//! The webhook's pipeline as one pure function: the bytes of an
//! AdmissionReview in; the bytes of the answer and the decision record out.
//! The HTTP handler, the tests and the benches all call [`answer`]; the
//! handler adds only HTTP concerns (body limit, concurrency, deadline,
//! metrics).
//!
//! ```text
//! bytes -> parse (kube-core's AdmissionRequest) -> Review -> decide -> respond + DecisionRecord
//! ```

mod parse;
mod respond;

use std::time::Instant;

use serde::Deserialize;

pub use parse::{APISERVER_FIELD_ORDER, BadReview, Parsed, Request, parse};
pub use respond::{respond, to_body};

use crate::contract::{Contract, Mode};
use crate::decision::{Verdict, decide};
use crate::decision_log::DecisionRecord;
use crate::facts::Facts;
use crate::model::{Kind, Operation};
use crate::rules::RuleId;

/// What the guard answers to one request body.
#[derive(Debug)]
pub struct Answer {
    /// 200 with an AdmissionReview, or 400 with `{"error", "code"}`.
    pub status: u16,
    pub body: Vec<u8>,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Outcome {
    /// A covered kind was judged.
    Reviewed(Judged),
    /// A kind, operation or subresource the contract does not cover: allowed untouched.
    NotCovered,
    /// Not a review the guard can judge (the reason is in the body).
    Bad(BadReview),
    /// Not judged in time: denied as overloaded.
    Overloaded,
}

/// A judged review: what the decision log and the metrics need.
#[derive(Debug)]
pub struct Judged {
    pub kind: Kind,
    pub operation: Operation,
    pub verdict: Verdict,
    /// Each finding's rule and mode.
    pub findings: Vec<(RuleId, Mode)>,
    /// The decision record: one JSON line, Secret values redacted.
    pub record: Vec<u8>,
}

/// Answers one AdmissionReview body against `contract` and `facts`. No
/// I/O: the caller writes the record and counts the verdict. `received` is
/// when the request arrived (the record's latency is measured from it).
pub fn answer(body: &[u8], contract: &Contract, facts: &dyn Facts, received: Instant) -> Answer {
    let (req, review, objects) = match parse(body) {
        Ok(Parsed::Covered(req, review, objects)) => (req, review, objects),
        Ok(Parsed::NotCovered(req)) => {
            let resp = kube::core::admission::AdmissionResponse::from(req.as_ref());
            return Answer {
                status: 200,
                body: to_body(resp),
                outcome: Outcome::NotCovered,
            };
        }
        Err(e) => {
            return Answer {
                status: 400,
                body: error_body(400, &e.to_string()),
                outcome: Outcome::Bad(e),
            };
        }
    };
    let decision = decide(&review, contract, facts);
    let body = to_body(respond(&req, &decision));
    let record = DecisionRecord::new(
        &req.uid,
        (&req.kind.group, &req.kind.version, &req.kind.kind),
        &review,
        &decision,
        &contract.revision,
        received.elapsed(),
        objects,
    )
    .to_line();
    tracing::debug!(uid = %req.uid, kind = %review.kind, operation = review.operation.as_str(),
        ns = %review.namespace, name = %review.name, decision = decision.verdict().as_str(), "reviewed");
    Answer {
        status: 200,
        body,
        outcome: Outcome::Reviewed(Judged {
            kind: review.kind,
            operation: review.operation,
            verdict: decision.verdict(),
            findings: decision.findings.iter().map(|f| (f.violation.rule, f.mode)).collect(),
            record,
        }),
    }
}

/// The answer when the guard cannot review in time: a denial on its own
/// terms (code 429) with the request's uid, so the API server does not wait
/// for its timeout. The uid is read from `request.uid` by a parse that
/// skips everything else (any field order); a body without one gets a 503.
pub fn overloaded(body: &[u8]) -> Answer {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        request: Option<RequestHead<'a>>,
    }
    #[derive(Deserialize)]
    struct RequestHead<'a> {
        #[serde(borrow)]
        uid: std::borrow::Cow<'a, str>,
    }
    let uid = serde_json::from_slice::<Head<'_>>(body)
        .ok()
        .and_then(|h| h.request)
        .map(|r| r.uid)
        .filter(|u| !u.is_empty());
    let Some(uid) = uid else {
        return Answer {
            status: 503,
            body: error_body(503, "the guard is overloaded"),
            outcome: Outcome::Overloaded,
        };
    };
    let body = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": uid,
            "allowed": false,
            "status": {
                "status": "Failure",
                "code": 429,
                "reason": "TooManyRequests",
                "message": "[cnpg-guard] the guard is overloaded and could not review this request in time. \
                            Fix: retry; if it persists, check the cnpg-guard pods (CPU, replicas, --max-concurrent-reviews)."
            },
            "auditAnnotations": {"decision": "overloaded"}
        }
    });
    Answer {
        status: 200,
        body: body.to_string().into_bytes(),
        outcome: Outcome::Overloaded,
    }
}

/// `{"error": message, "code": status}`: what an HTTP error carries.
pub fn error_body(status: u16, message: &str) -> Vec<u8> {
    serde_json::json!({ "error": message, "code": status })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overload_answer_finds_the_request_uid_in_any_field_order() {
        for body in [
            r#"{"request":{"uid":"ab-12","x":1}}"#,
            r#"{"request":{"object":{"metadata":{"uid":"not-this"}},"uid":"ab-12"}}"#,
            r#"{"kind":"AdmissionReview","request":{"oldObject":{"uid":"no"},"uid":"ab-12"},"apiVersion":"admission.k8s.io/v1"}"#,
        ] {
            let a = overloaded(body.as_bytes());
            let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
            assert_eq!(v["response"]["uid"], "ab-12", "{body}");
            assert_eq!(v["response"]["status"]["code"], 429);
        }
        for body in [r#"{"request":{}}"#, "nothing", r#"{"request":{"uid":""}}"#] {
            assert_eq!(overloaded(body.as_bytes()).status, 503, "{body}");
        }
    }
}
