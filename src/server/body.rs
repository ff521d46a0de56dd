//! Reading a request body within bounds: at most `limit` bytes, each frame
//! counted in the body budget as it arrives and read only when the budget
//! has room for it ([`super::budget`]), whole by the request's deadline, and
//! at a minimum rate after a short grace, so a client that trickles a body
//! cannot hold what it sent of it (and its connection slot) for long. The
//! API server sends a body at network speed; the rate is far below that.
//! Time spent waiting for the budget is the guard's, not the client's: it
//! does not count against the rate.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;

use super::budget::Share;

/// Time a body may take before the minimum rate applies.
pub const GRACE: Duration = Duration::from_secs(1);
/// The minimum average rate after the grace, in bytes per second.
pub const MIN_RATE: u64 = 256 * 1024;
/// How often the rate is checked.
const TICK: Duration = Duration::from_millis(250);
/// The most one read of a body brings: an HTTP/1.1 read buffer (an HTTP/2
/// DATA frame is at most its stream's 16 KiB window). A body is read when
/// the budget has room for this much.
const READ_AT_MOST: usize = super::https::H1_MAX_BUF;

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
    #[error("the body budget had no room for the request body within the request's deadline")]
    Overloaded,
}

/// Whether `received` bytes `elapsed` after the start keep the minimum rate.
fn keeps_pace(received: usize, elapsed: Duration) -> bool {
    let due = elapsed.saturating_sub(GRACE).as_millis() as u64 * MIN_RATE / 1000;
    received as u64 >= due
}

/// Reads `body` whole into `share`: at most `limit` bytes, within
/// `deadline` of `started`, keeping [`MIN_RATE`] after [`GRACE`] (time
/// waiting for the budget left out).
pub async fn read(
    body: Body,
    limit: usize,
    share: &mut Share,
    started: Instant,
    deadline: Duration,
) -> Result<Bytes, BodyError> {
    let mut body = http_body_util::Limited::new(body, limit);
    let reading = Instant::now();
    let until = tokio::time::Instant::from_std(started) + deadline;
    // Time spent waiting for the budget.
    let mut waited = Duration::ZERO;
    let mut buf: Vec<u8> = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let expiry = tokio::time::sleep_until(until);
    tokio::pin!(expiry);
    loop {
        let waiting = Instant::now();
        if !share.room_for(READ_AT_MOST, until).await {
            return Err(BodyError::Overloaded);
        }
        waited += waiting.elapsed();
        let data = tokio::select! {
            frame = body.frame() => match frame {
                None => {
                    share.finished();
                    return Ok(Bytes::from(buf));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue,
                },
                Some(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Err(BodyError::TooLarge(limit)),
                Some(Err(e)) => return Err(BodyError::Aborted(e.to_string())),
            },
            _ = tick.tick() => {
                if !keeps_pace(buf.len(), reading.elapsed().saturating_sub(waited)) {
                    return Err(BodyError::TooSlow);
                }
                continue;
            }
            () = &mut expiry => return Err(BodyError::Timeout),
        };
        let waiting = Instant::now();
        if !share.take(data.len(), until).await {
            return Err(BodyError::Overloaded);
        }
        waited += waiting.elapsed();
        buf.extend_from_slice(&data);
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
