//! The body budget (`--max-body-bytes-in-flight`): request bodies held at
//! once, all connections together, in KiB. A request reserves what its body
//! may hold before reading it and keeps it until its review has finished.
//!
//! A reservation is taken whenever the budget has room for it, not in
//! arrival order: a small review never queues behind a large one that waits
//! for room (a FIFO semaphore would make every review wait behind a client
//! announcing 7 MiB bodies). A large review waits until enough is free;
//! within its deadline, or it is refused as overloaded.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

pub struct Budget {
    free: Arc<Semaphore>,
    released: Notify,
}

/// A share of the budget; returned (and waiters woken) when dropped.
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
    budget: Arc<Budget>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.budget.released.notify_waiters();
    }
}

impl Budget {
    pub fn new(kib: usize) -> Arc<Self> {
        Arc::new(Budget {
            free: Arc::new(Semaphore::new(kib)),
            released: Notify::new(),
        })
    }

    /// Takes `kib` as soon as the budget has room for it, or `None` if it
    /// has not within `within`.
    pub async fn reserve(self: &Arc<Self>, kib: u32, within: Duration) -> Option<Reservation> {
        let attempt = async {
            loop {
                // Registered before trying, so a release in between is not missed.
                let released = self.released.notified();
                tokio::pin!(released);
                released.as_mut().enable();
                if let Ok(permit) = self.free.clone().try_acquire_many_owned(kib) {
                    return permit;
                }
                released.await;
            }
        };
        let permit = tokio::time::timeout(within, attempt).await.ok()?;
        Some(Reservation {
            permit: Some(permit),
            budget: self.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_small_reservation_does_not_queue_behind_a_large_one() {
        let budget = Budget::new(100);
        let held = budget.reserve(60, Duration::ZERO).await.expect("room");
        // 70 does not fit; it waits ...
        let large = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(70, Duration::from_secs(5)).await.is_some() }
        });
        tokio::task::yield_now().await;
        // ... while 30 that fits is taken at once.
        let small = budget.reserve(30, Duration::ZERO).await;
        assert!(small.is_some());
        drop(small);
        // The large one gets its share once the first is returned.
        drop(held);
        assert!(large.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reservation_that_never_fits_is_refused_at_its_deadline() {
        let budget = Budget::new(10);
        let _held = budget.reserve(10, Duration::ZERO).await.expect("room");
        let started = tokio::time::Instant::now();
        assert!(budget.reserve(1, Duration::from_millis(300)).await.is_none());
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        // More than the whole budget never fits.
        drop(_held);
        assert!(budget.reserve(11, Duration::from_millis(10)).await.is_none());
    }
}
