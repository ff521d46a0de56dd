//! Reading a request body within bounds: at most `limit` bytes, whole by
//! the request's deadline, and at a minimum rate after a short grace, so a
//! client that announces a large body and trickles it cannot hold its share
//! of the body budget (and its connection slot) for long. The API server
//! sends a body at network speed; the rate is far below that.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;

/// Time a body may take before the minimum rate applies.
pub const GRACE: Duration = Duration::from_secs(1);
/// The minimum average rate after the grace, in bytes per second.
pub const MIN_RATE: u64 = 256 * 1024;
/// How often the rate is checked.
const TICK: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("cannot read the request body: {0}")]
    Aborted(String),
    #[error("the request body did not arrive within the request's deadline")]
    Timeout,
    #[error("the request body arrives slower than {} KiB/s", MIN_RATE / 1024)]
    TooSlow,
}

/// Whether `received` bytes `elapsed` after the start keep the minimum rate.
fn keeps_pace(received: usize, elapsed: Duration) -> bool {
    let due = elapsed.saturating_sub(GRACE).as_millis() as u64 * MIN_RATE / 1000;
    received as u64 >= due
}

/// Reads `body` whole: at most `limit` bytes, within `deadline` of `started`,
/// keeping [`MIN_RATE`] after [`GRACE`].
pub async fn read(body: Body, limit: usize, started: Instant, deadline: Duration) -> Result<Bytes, BodyError> {
    let mut body = http_body_util::Limited::new(body, limit);
    let reading = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let expiry = tokio::time::sleep(deadline.saturating_sub(started.elapsed()));
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            frame = body.frame() => match frame {
                None => return Ok(Bytes::from(buf)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Err(BodyError::TooLarge(limit)),
                Some(Err(e)) => return Err(BodyError::Aborted(e.to_string())),
            },
            _ = tick.tick() => {
                if !keeps_pace(buf.len(), reading.elapsed()) {
                    return Err(BodyError::TooSlow);
                }
            }
            () = &mut expiry => return Err(BodyError::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_starts_after_the_grace() {
        assert!(keeps_pace(0, Duration::from_millis(999)));
        assert!(!keeps_pace(1, Duration::from_secs(2)));
        assert!(keeps_pace(256 * 1024, Duration::from_secs(2)));
        // A 7 MiB body at 100 MiB/s is nowhere near the bound.
        assert!(keeps_pace(7 << 20, Duration::from_millis(70)));
    }
}
