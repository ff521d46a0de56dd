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

pub use parse::{APISERVER_FIELD_ORDER, BadReview, Parsed, Request, parse};
pub use respond::{refusal, respond, to_body, uid_of};

use crate::contract::{Contract, Mode};
use crate::decision::{Verdict, decide};
use crate::decision_log::DecisionRecord;
use crate::facts::Facts;
use crate::model::{Kind, Operation};
use crate::rules::RuleId;

/// What the guard answers to one request body.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status: 200, or 400 for a body that is not a review (its
    /// AdmissionReview says why), 503 for an overloaded guard that cannot
    /// tell which request it refuses.
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
            let resp = refusal(400, "BadRequest", &e.to_string(), uid_of(body).as_deref());
            return Answer {
                status: 400,
                body: to_body(resp),
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
/// for its timeout; a body without a uid gets a 503.
pub fn overloaded(body: &[u8]) -> Answer {
    const MESSAGE: &str = "[cnpg-guard] the guard is overloaded and could not review this request in time. \
                           Fix: retry; if it persists, check the cnpg-guard pods (CPU, replicas, --max-concurrent-reviews).";
    let (status, mut resp) = match uid_of(body) {
        Some(uid) => (200, refusal(429, "TooManyRequests", MESSAGE, Some(&uid))),
        None => (503, refusal(503, "ServiceUnavailable", MESSAGE, None)),
    };
    resp.audit_annotations.insert("decision".into(), "overloaded".into());
    Answer {
        status,
        body: to_body(resp),
        outcome: Outcome::Overloaded,
    }
}

/// A refusal's bytes, for the HTTP errors the server answers before a
/// review is read (a body too large, too slow, or over the budget).
pub fn refused(code: u16, reason: &str, message: &str) -> Vec<u8> {
    to_body(refusal(code, reason, message, None))
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
