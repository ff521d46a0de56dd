//! `POST /validate`: the HTTP side of a review (body limit, concurrency
//! permit, deadline, metrics) around the pure [`admission::answer`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tracing::warn;

use super::AppState;
use super::body::BodyError;
use super::metrics::{ReviewLabels, ViolationLabels};
use crate::admission::{self, Outcome};

/// The webhook routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .layer(axum::middleware::from_fn_with_state(state.clone(), timed))
        .with_state(state)
}

/// When a request arrived: the start of its deadline and of its duration.
#[derive(Clone, Copy)]
struct Arrived(Instant);

/// Times every review from its arrival (before its body is read) to its
/// answer: `review_duration_seconds` covers the whole request. Requests that
/// are not reviews (another method, another path: 405, 404) are not timed.
async fn timed(State(state): State<Arc<AppState>>, mut request: axum::extract::Request, next: Next) -> Response {
    let arrived = Instant::now();
    let is_review = request.method() == axum::http::Method::POST && request.uri().path() == "/validate";
    request.extensions_mut().insert(Arrived(arrived));
    let response = next.run(request).await;
    if is_review {
        state.metrics.latency.observe(arrived.elapsed().as_secs_f64());
    }
    response
}

/// Bodies at least this large are judged on the blocking pool (see
/// [`validate`]); below it, a review costs tens of microseconds.
const JUDGE_IN_PLACE_BELOW: usize = 256 * 1024;

/// The API server's webhook timeout (`?timeout=10s`, a Go duration), or 10 s;
/// at most 30 s, the largest `timeoutSeconds` a webhook may have, so a client
/// cannot hold its share of the budgets longer than the API server could.
fn requested_timeout(query: Option<&str>) -> Duration {
    let value = query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("timeout="))
        .unwrap_or("10s");
    parse_go_duration(value).unwrap_or(Duration::from_secs(10))
}

/// The largest `timeoutSeconds` of a webhook (admissionregistration/v1).
const MAX_TIMEOUT_SECS: f64 = 30.0;

fn parse_go_duration(s: &str) -> Option<Duration> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let n: f64 = number.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0 && secs <= 3600.0).then(|| Duration::from_secs_f64(secs.min(MAX_TIMEOUT_SECS)))
}

/// How long a review may wait for a slot: most of the API server's budget,
/// keeping a margin to answer in.
fn review_deadline(timeout: Duration) -> Duration {
    (timeout * 4 / 5)
        .saturating_sub(Duration::from_millis(100))
        .max(Duration::from_millis(10))
}

/// `POST /validate`: one AdmissionReview in, one out. HTTP concerns only:
/// the body limit, a concurrency permit within the request's deadline, and
/// metrics; the answer comes from [`admission::answer`].
async fn validate(
    State(state): State<Arc<AppState>>,
    Extension(Arrived(started)): Extension<Arrived>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    request: axum::extract::Request,
) -> Response {
    let deadline = review_deadline(requested_timeout(query.as_deref()));
    let left = || deadline.saturating_sub(started.elapsed());
    // A body that says it is too large is refused before a byte of it is
    // read (no `100 Continue` is sent for it).
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let version = request.version();
    if let Some(announced) = announced.filter(|&n| n > state.max_body_bytes) {
        state.metrics.reject("too_large");
        if version == axum::http::Version::HTTP_2 {
            // Read and drop the rest, so the stream ends as the client
            // expects (curl reports a reset stream as a framing error).
            tokio::spawn(drain(request.into_body(), announced, left()));
        }
        return too_large(version);
    }
    // Bodies in flight are bounded as a whole: each frame is counted in the
    // body budget as it arrives, and read only when the budget has room for
    // it (see `super::budget`); what the body holds is kept until its
    // review has finished.
    let mut share = state.body_budget.share(announced.unwrap_or(state.max_body_bytes));
    let body = match super::body::read(request.into_body(), state.max_body_bytes, &mut share, started, deadline).await {
        Ok(body) => body,
        Err(BodyError::TooLarge(_)) => {
            state.metrics.reject("too_large");
            return too_large(version);
        }
        Err(BodyError::Overloaded) => {
            state.metrics.reject("overloaded");
            warn!(
                waited_ms = started.elapsed().as_millis() as u64,
                "overloaded: the body budget had no room for the body in time"
            );
            return json(
                StatusCode::TOO_MANY_REQUESTS,
                admission::refused(
                    429,
                    "TooManyRequests",
                    "the guard is overloaded (request bodies in flight); retry",
                ),
            );
        }
        Err(e @ BodyError::Aborted(_)) => {
            // The body did not arrive whole: the client gave up or was cut.
            state.metrics.reject("client_aborted");
            return json(
                StatusCode::BAD_REQUEST,
                admission::refused(400, "BadRequest", &e.to_string()),
            );
        }
        Err(e @ (BodyError::Timeout | BodyError::TooSlow)) => {
            state.metrics.reject(if matches!(e, BodyError::TooSlow) {
                "body_too_slow"
            } else {
                "body_timeout"
            });
            return json(
                StatusCode::REQUEST_TIMEOUT,
                admission::refused(408, "Timeout", &e.to_string()),
            );
        }
    };
    // A free slot is taken without arming a timer; only a wait is bounded.
    let permit = match state.limiter.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => match tokio::time::timeout(left(), state.limiter.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                state.metrics.reject("overloaded");
                warn!(
                    waited_ms = started.elapsed().as_millis() as u64,
                    "overloaded: denying instead of letting the API server time out"
                );
                return reply(admission::overloaded(&body));
            }
        },
    };
    let contract = state.contract.load_full();
    // A small review is judged in place: it takes microseconds. A large one
    // (a big UPDATE to diff, a long Secret to scan) runs on the blocking
    // pool, so it cannot hold up the accept loop and the other connections'
    // tasks, and gets the overloaded answer if it cannot finish in time.
    // It keeps its body's share of the budget and its slot until it has
    // finished, answered or not: memory stays bounded by the budget.
    let answer = if body.len() < JUDGE_IN_PLACE_BELOW {
        let answer = admission::answer(&body, &contract, state.facts.as_ref(), started);
        drop((permit, share));
        answer
    } else {
        let facts = state.facts.clone();
        let work = tokio::task::spawn_blocking({
            let body = body.clone();
            move || {
                let answer = admission::answer(&body, &contract, facts.as_ref(), started);
                drop((permit, share));
                answer
            }
        });
        match tokio::time::timeout(deadline.saturating_sub(started.elapsed()), work).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                warn!(error = %e, "a review task failed");
                return reply(admission::overloaded(&body));
            }
            Err(_) => {
                state.metrics.reject("overloaded");
                warn!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "a large review did not finish within its deadline: denying as overloaded"
                );
                return reply(admission::overloaded(&body));
            }
        }
    };
    let m = &state.metrics;
    match &answer.outcome {
        Outcome::Reviewed(judged) => {
            m.reviews
                .get_or_create(&ReviewLabels {
                    kind: judged.kind.as_str(),
                    operation: judged.operation.as_str(),
                    decision: judged.verdict.as_str(),
                })
                .inc();
            for (rule, mode) in &judged.findings {
                m.violations
                    .get_or_create(&ViolationLabels {
                        rule: rule.as_str(),
                        mode: mode.as_str(),
                    })
                    .inc();
            }
            state.decision_log.write(&judged.record);
        }
        Outcome::Bad(e) => {
            m.reject("bad_request");
            warn!(error = %e, "bad admission review");
        }
        Outcome::NotCovered | Outcome::Overloaded => {}
    }
    reply(answer)
}

/// The most of an oversize HTTP/2 body read (and dropped at once) after its
/// 413, so that the stream ends normally; a larger one is reset.
const DRAIN_AT_MOST: usize = 64 * 1024 * 1024;

/// Reads an oversize body to its end and drops it, frame by frame (memory
/// stays within the stream's window), within `time` and [`DRAIN_AT_MOST`];
/// past either the body is dropped, which resets the stream (NO_ERROR).
async fn drain(body: Body, announced: usize, time: Duration) {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut left = announced.min(DRAIN_AT_MOST);
    let until = tokio::time::Instant::now() + time;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(until, body.frame()).await {
        let n = frame.data_ref().map_or(0, |d| d.len());
        if n > left {
            break;
        }
        left -= n;
    }
}

fn too_large(version: axum::http::Version) -> Response {
    let mut response = json(
        StatusCode::PAYLOAD_TOO_LARGE,
        admission::refused(
            413,
            "RequestEntityTooLarge",
            "the request body is larger than --max-body-bytes",
        ),
    );
    // HTTP/1.1: the rest of the body is not read; close rather than drain
    // it. HTTP/2 has no `Connection` header (a response carrying one is
    // malformed): the rest of the body is drained on its stream alone
    // ([`drain`]), the connection stays open.
    if version < axum::http::Version::HTTP_2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    response
}

/// An answer as the HTTP response.
fn reply(answer: admission::Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, answer.body)
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::super::metrics::Metrics;
    use super::*;
    use crate::contract::Contract;
    use crate::decision_log::DecisionLog;
    use crate::facts::NoFacts;
    use arc_swap::ArcSwap;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn timeouts_and_deadlines() {
        assert_eq!(requested_timeout(Some("timeout=10s")), Duration::from_secs(10));
        assert_eq!(requested_timeout(Some("a=b&timeout=500ms")), Duration::from_millis(500));
        assert_eq!(requested_timeout(Some("timeout=1m")), Duration::from_secs(30));
        for bad in ["timeout=", "timeout=abc", "timeout=-1s", "timeout=2h", "timeout=0s"] {
            assert_eq!(requested_timeout(Some(bad)), Duration::from_secs(10), "{bad}");
        }
        assert_eq!(review_deadline(Duration::from_secs(10)), Duration::from_millis(7900));
        assert_eq!(review_deadline(Duration::from_millis(50)), Duration::from_millis(10));
    }

    /// With no slot free, a review is denied as overloaded (429) within its
    /// deadline instead of hanging until the API server gives up.
    #[tokio::test]
    async fn overload_denies_within_the_deadline() {
        use tower::ServiceExt;
        let state = Arc::new(AppState {
            contract: ArcSwap::from_pointee(Contract::embedded().unwrap()),
            facts: Arc::new(NoFacts),
            metrics: Metrics::new(),
            decision_log: DecisionLog,
            ready: AtomicBool::new(true),
            live: None,
            limiter: Arc::new(tokio::sync::Semaphore::new(0)),
            body_budget: crate::server::budget::Budget::new(1024 * 1024, 1024),
            max_body_bytes: 1024,
        });
        let body = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1"}}"#;
        let request = axum::http::Request::post("/validate?timeout=300ms")
            .body(Body::from(body))
            .unwrap();
        let started = Instant::now();
        let response = router(state.clone()).oneshot(request).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(300));
        let status = response.status();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["response"]["uid"], "u-1");
        assert_eq!(v["response"]["allowed"], false);
        assert_eq!(v["response"]["status"]["code"], 429);
        assert!(
            v["response"]["status"]["message"]
                .as_str()
                .unwrap()
                .contains("overloaded")
        );
        assert!(
            state
                .metrics
                .encode()
                .contains("rejected_requests_total{reason=\"overloaded\"} 1")
        );
    }
}
