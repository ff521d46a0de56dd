//! The body budget (`--max-body-bytes-in-flight`): request bodies held at
//! once, all connections together, in KiB. A request reserves what its body
//! may hold before reading it and keeps it until its review has finished.
//!
//! A reservation is taken whenever the budget has room for it, not in
//! arrival order: a small review never queues behind a large one that waits
//! for room (a FIFO semaphore would make every review wait behind a client
//! announcing 7 MiB bodies). And a slice of the budget is kept for small
//! reviews, which most are (a Secret, a Namespace, a CNPG object: a few
//! KiB): large bodies, even sent at pace, cannot take all of it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

/// Bodies up to this size (KiB) may use the slice kept for small reviews.
pub const SMALL_KIB: u32 = 256;

/// Bytes in whole KiB, as the budget counts them (at least 1).
pub fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX).max(1)
}

pub struct Budget {
    /// KiB not reserved.
    free: Mutex<u32>,
    /// KiB that only small bodies may take.
    kept_for_small: u32,
    released: Notify,
}

/// A share of the budget; returned (and waiters woken) when dropped.
pub struct Reservation {
    kib: u32,
    budget: Arc<Budget>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        *self.budget.free.lock().unwrap_or_else(PoisonError::into_inner) += self.kib;
        self.budget.released.notify_waiters();
    }
}

impl Budget {
    /// `total` KiB, of which an eighth (but no more than leaves room for
    /// the largest body, `largest` KiB) is kept for small bodies.
    pub fn new(total: u32, largest: u32) -> Arc<Self> {
        Arc::new(Budget {
            free: Mutex::new(total),
            kept_for_small: (total / 8).min(total.saturating_sub(largest)),
            released: Notify::new(),
        })
    }

    fn try_take(&self, kib: u32) -> bool {
        let floor = if kib <= SMALL_KIB { 0 } else { self.kept_for_small };
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let fits = free.checked_sub(kib).is_some_and(|left| left >= floor);
        if fits {
            *free -= kib;
        }
        fits
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
                if self.try_take(kib) {
                    return;
                }
                released.await;
            }
        };
        tokio::time::timeout(within, attempt).await.ok()?;
        Some(Reservation {
            kib,
            budget: self.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_small_reservation_does_not_queue_behind_a_large_one() {
        let budget = Budget::new(1000, 500);
        let held = budget.reserve(600, Duration::ZERO).await.expect("room");
        // 700 does not fit; it waits ...
        let large = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(700, Duration::from_secs(5)).await.is_some() }
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
    async fn large_bodies_leave_a_slice_for_small_ones() {
        // 1000 KiB: 125 kept for bodies of 256 KiB or less.
        let budget = Budget::new(1000, 500);
        let first = budget.reserve(500, Duration::ZERO).await.expect("room");
        // 375 left for large bodies: 300 fits, then 300 more does not.
        let second = budget.reserve(300, Duration::ZERO).await.expect("room");
        assert!(budget.reserve(300, Duration::from_millis(10)).await.is_none());
        // Small bodies use what is left, the kept slice included.
        let small: Vec<_> = futures::future::join_all((0..4).map(|_| budget.reserve(50, Duration::ZERO))).await;
        assert!(small.iter().all(Option::is_some));
        drop((first, second, small));
        // A budget no larger than the largest body keeps nothing back.
        let tight = Budget::new(500, 500);
        assert!(tight.reserve(500, Duration::ZERO).await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reservation_that_never_fits_is_refused_at_its_deadline() {
        let budget = Budget::new(10, 10);
        let held = budget.reserve(10, Duration::ZERO).await.expect("room");
        let started = tokio::time::Instant::now();
        assert!(budget.reserve(1, Duration::from_millis(300)).await.is_none());
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        // More than the whole budget never fits.
        drop(held);
        assert!(budget.reserve(11, Duration::from_millis(10)).await.is_none());
    }
}
