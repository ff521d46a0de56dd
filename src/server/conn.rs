//! One webhook connection's deadlines after the TLS handshake: an HTTP/2
//! client must start its first request in time (preface, SETTINGS and
//! HEADERS), an idle connection is closed (GOAWAY for HTTP/2), an answer
//! must be taken by the client in time (HTTP/2 flow control can stall it
//! without the socket ever blocking), and SIGTERM starts a graceful close.
//! Writes that block on the socket are cut by [`super::write_deadline`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::server::graceful::GracefulConnection;

/// The per-connection bounds, from the flags.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// HTTP/2 only: the first request's HEADERS must arrive within this
    /// (HTTP/1.1's header-read timeout does the same for HTTP/1.1).
    pub first_request: Option<Duration>,
    /// No request open for this long: the connection is closed gracefully.
    pub idle: Duration,
    /// An answer not taken by the client within this: the connection is cut.
    pub write: Duration,
}

/// What one connection is doing, shared by its service, its answers' bodies,
/// its socket and its watchdog.
#[derive(Debug)]
pub struct Activity {
    born: Instant,
    /// Milliseconds after `born` of the last progress: a request started, an
    /// answer ready or fully handed to the connection.
    last: AtomicU64,
    requests: AtomicU64,
    /// Requests started whose answer's body has not been fully sent.
    open: AtomicUsize,
    /// Of those, the ones whose answer is ready and waits for the client.
    writing: AtomicUsize,
    write_timed_out: AtomicBool,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            born: Instant::now(),
            last: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            writing: AtomicUsize::new(0),
            write_timed_out: AtomicBool::new(false),
        })
    }

    fn progress(&self) {
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    fn quiet(&self) -> Duration {
        self.born
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last.load(Ordering::Relaxed)))
    }

    /// Whether a request has started on the connection.
    pub fn has_served(&self) -> bool {
        self.requests.load(Ordering::Relaxed) > 0
    }

    /// How long no request has been open, or `None` while one is.
    pub fn idle_for(&self) -> Option<Duration> {
        (self.open.load(Ordering::Relaxed) == 0).then(|| self.quiet())
    }

    /// Marks a request open (tests of the slots).
    #[cfg(test)]
    pub fn request_started(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks the open request answered (tests of the slots).
    #[cfg(test)]
    pub fn request_finished(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.progress();
    }

    /// A socket write made no progress within the write deadline.
    pub fn write_timed_out(&self) {
        self.write_timed_out.store(true, Ordering::Relaxed);
    }

    /// Which deadline has passed, if any, and otherwise how long to wait
    /// before looking again: until the deadline that applies now, but at most
    /// half the write deadline, since an answer may become ready meanwhile
    /// (so a stalled answer is cut within 1.5 times the write deadline).
    fn due(&self, d: &Deadlines) -> Result<Duration, Overdue> {
        self.overdue(d).map(|left| left.min(d.write / 2))
    }

    fn overdue(&self, d: &Deadlines) -> Result<Duration, Overdue> {
        let quiet = self.quiet();
        let (bound, overdue) = if self.writing.load(Ordering::Relaxed) > 0 {
            (d.write, Overdue::Write)
        } else if self.open.load(Ordering::Relaxed) > 0 {
            // A review being judged: the handler's own deadline bounds it.
            return Ok(d.idle);
        } else if let (0, Some(first)) = (self.requests.load(Ordering::Relaxed), d.first_request) {
            (first.min(d.idle), Overdue::FirstRequest)
        } else {
            (d.idle, Overdue::Idle)
        };
        match bound.checked_sub(quiet) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(overdue),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overdue {
    FirstRequest,
    Idle,
    Write,
}

/// How a connection ended.
#[derive(Debug)]
pub enum Ended {
    /// Closed by the client or after a graceful close.
    Closed,
    /// Ended by the protocol with an error (logged at debug).
    Failed(String),
    /// Cut by a deadline: `preface_timeout`, `write_timeout`; closed
    /// gracefully for `idle_timeout`; or closed to make room for a new
    /// connection while no request was open, `evicted`. The name is the
    /// metric's event.
    Cut(&'static str),
}

/// How long an evicted keep-alive connection may take to close gracefully:
/// the newcomer waits at most a second for its slot.
const EVICTION_GRACE: Duration = Duration::from_millis(500);

/// Serves `conn` to its end under `deadlines`; on `shutdown`, closes it
/// gracefully (the drain timeout bounds the rest).
pub async fn drive<C>(
    conn: C,
    activity: &Activity,
    deadlines: Deadlines,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    evicted: &tokio::sync::Notify,
) -> Ended
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    tokio::pin!(conn);
    let mut closing: Option<&'static str> = None;
    let mut signalled = *shutdown.borrow();
    if signalled {
        conn.as_mut().graceful_shutdown();
    }
    let mut next = Duration::ZERO;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                return match (activity.write_timed_out.load(Ordering::Relaxed), closing, result) {
                    (true, _, _) => Ended::Cut("write_timeout"),
                    (false, Some(event), _) => Ended::Cut(event),
                    (false, None, Ok(())) => Ended::Closed,
                    (false, None, Err(e)) => Ended::Failed(e.to_string()),
                };
            }
            () = evicted.notified(), if closing.is_none() => {
                // Chosen while no request was open; one that opened since
                // keeps the connection (the slots pick another next time).
                if activity.idle_for().is_some() {
                    if !activity.has_served() {
                        return Ended::Cut("evicted");
                    }
                    // A client's keep-alive connection: GOAWAY for HTTP/2,
                    // so a request it sends meanwhile is retried on a new
                    // connection rather than failed; HTTP/1.1 closes at once.
                    closing = Some("evicted");
                    conn.as_mut().graceful_shutdown();
                    next = EVICTION_GRACE;
                }
            }
            _ = shutdown.changed(), if !signalled => {
                signalled = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep(next) => {
                if let Some(event) = closing {
                    // Closing for idleness or eviction: what is still in flight had its
                    // write deadline.
                    return Ended::Cut(event);
                }
                match activity.due(&deadlines) {
                    Ok(left) => next = left,
                    Err(Overdue::Write) => return Ended::Cut("write_timeout"),
                    Err(Overdue::FirstRequest) => return Ended::Cut("preface_timeout"),
                    Err(Overdue::Idle) => {
                        // GOAWAY for HTTP/2; HTTP/1.1 closes at once.
                        closing = Some("idle_timeout");
                        conn.as_mut().graceful_shutdown();
                        next = deadlines.write;
                    }
                }
            }
        }
    }
}

/// A hyper service that tells `activity` when requests start and when their
/// answers have been handed over.
#[derive(Clone)]
pub struct Tracked<S> {
    pub inner: S,
    pub activity: Arc<Activity>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: Body + Unpin,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let activity = self.activity.clone();
        activity.requests.fetch_add(1, Ordering::Relaxed);
        activity.open.fetch_add(1, Ordering::Relaxed);
        activity.progress();
        // Counted open until the body is dropped, even if the service fails.
        let guard = OpenGuard(Some(activity));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut guard = guard;
            let response = answer.await?;
            let activity = guard.0.take();
            if let Some(a) = &activity {
                a.writing.fetch_add(1, Ordering::Relaxed);
                a.progress();
            }
            Ok(response.map(|inner| TrackedBody { inner, activity }))
        })
    }
}

/// Closes a request's count when its answer never came (service error,
/// dropped future).
struct OpenGuard(Option<Arc<Activity>>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if let Some(a) = self.0.take() {
            a.open.fetch_sub(1, Ordering::Relaxed);
            a.progress();
        }
    }
}

/// An answer's body; dropped once fully handed to the connection (or reset).
pub struct TrackedBody<B> {
    inner: B,
    activity: Option<Arc<Activity>>,
}

impl<B> Drop for TrackedBody<B> {
    fn drop(&mut self) {
        if let Some(a) = self.activity.take() {
            a.writing.fetch_sub(1, Ordering::Relaxed);
            a.open.fetch_sub(1, Ordering::Relaxed);
            a.progress();
        }
    }
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadlines() -> Deadlines {
        Deadlines {
            first_request: Some(Duration::from_secs(10)),
            idle: Duration::from_secs(30),
            write: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_deadline_that_applies_follows_the_state() {
        let a = Activity::new();
        // Fresh: the first request's deadline.
        assert!(a.overdue(&deadlines()).unwrap() <= Duration::from_secs(10));
        a.requests.fetch_add(1, Ordering::Relaxed);
        assert!(a.overdue(&deadlines()).unwrap() > Duration::from_secs(10));
        a.open.fetch_add(1, Ordering::Relaxed);
        a.writing.fetch_add(1, Ordering::Relaxed);
        assert!(a.overdue(&deadlines()).unwrap() <= Duration::from_secs(5));
        // Never a longer look-away than half the write deadline.
        a.writing.fetch_sub(1, Ordering::Relaxed);
        assert!(a.due(&deadlines()).unwrap() <= Duration::from_millis(2500));
        a.writing.fetch_add(1, Ordering::Relaxed);
        let zero = Deadlines {
            first_request: None,
            idle: Duration::ZERO,
            write: Duration::ZERO,
        };
        assert_eq!(a.due(&zero), Err(Overdue::Write));
        a.writing.fetch_sub(1, Ordering::Relaxed);
        assert!(a.due(&zero).is_ok(), "a review being judged is not idle");
        a.open.fetch_sub(1, Ordering::Relaxed);
        assert_eq!(a.due(&zero), Err(Overdue::Idle));
    }
}
