//! Connection slots. At most `--max-connections` webhook connections are
//! open; when all are taken, the one quiet longest with no request open (a
//! silent client, an idle keep-alive, a handshake that never ends) is closed
//! to make room for the newcomer. Idle or silent connections therefore
//! cannot lock the API server out; only connections with a review in flight,
//! and those quiet for less than their [`MIN_QUIET`] (0.5 s for a keep-alive
//! connection, 0.1 s for one that never carried a request), keep their slot.
//! A newcomer waits a second at most for a slot, and at most 64 wait at
//! once; past that, new connections are closed at once.
//!
//! [`MIN_QUIET`] protects a busy client. Its connections are quiet for
//! milliseconds between reviews, and its new ones are in their handshake;
//! closing one makes the client reconnect (a TLS handshake, the costliest
//! thing the guard does), and an HTTP/1.1 request sent as it closes fails.
//! Under load that fed itself: the soak example at a high rate, on a CPU
//! shared with busy loops, failed many of the valid reviews; with only
//! keep-alive connections protected, newcomers still closed each other's
//! handshakes (BENCHMARKS.md, "A busy client keeps its connections").

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::conn::Activity;

/// Newcomers that may wait at once for a slot.
const MAX_WAITING: usize = 64;
/// How long a newcomer waits for a slot.
const WAIT_FOR_SLOT: Duration = Duration::from_secs(1);
/// How long a connection must have been quiet before it may be closed to
/// make room.
#[derive(Debug, Clone, Copy)]
struct MinQuiet {
    /// A client's keep-alive connection, with no request open: far longer
    /// than a busy client leaves one between two reviews.
    keep_alive: Duration,
    /// A connection that never carried a request, since it was accepted:
    /// longer than a TLS handshake and a first request take on a loaded
    /// guard, short enough that a client reopening silent connections as
    /// fast as they close holds few slots for long.
    unserved: Duration,
}

impl MinQuiet {
    /// The minimum for a connection that has (or has not) carried a request.
    fn of(&self, unserved: bool) -> Duration {
        if unserved { self.unserved } else { self.keep_alive }
    }
}

/// The minimums the server uses.
const MIN_QUIET: MinQuiet = MinQuiet {
    keep_alive: Duration::from_millis(500),
    unserved: Duration::from_millis(100),
};
/// How often a waiting newcomer looks again for a connection to close, when
/// none was quiet long enough as it came.
const LOOK_AGAIN: Duration = Duration::from_millis(25);

pub struct Slots {
    free: Arc<Semaphore>,
    max: usize,
    min_quiet: MinQuiet,
    open: Mutex<HashMap<u64, Arc<Occupant>>>,
    next: std::sync::atomic::AtomicU64,
    waiting: AtomicUsize,
}

/// What the slots know of one open connection.
pub struct Occupant {
    accepted: Instant,
    /// Set once the connection serves HTTP.
    activity: OnceLock<Arc<Activity>>,
    evicting: AtomicBool,
    /// Notified when the connection must close to make room.
    pub evicted: Notify,
}

impl Occupant {
    /// How long the connection has had no request open, or `None` while a
    /// request is open (its review is protected).
    fn idle_for(&self) -> Option<Duration> {
        match self.activity.get() {
            None => Some(self.accepted.elapsed()),
            Some(a) => a.idle_for(),
        }
    }

    /// Whether the connection has carried a request: a client's keep-alive
    /// connection, which goes only after those that never did.
    fn has_served(&self) -> bool {
        self.activity.get().is_some_and(|a| a.has_served())
    }

    /// The connection now serves HTTP; its activity tells when it is idle.
    pub fn serving(&self, activity: Arc<Activity>) {
        let _ = self.activity.set(activity);
    }
}

/// One open connection's slot; released when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    pub occupant: Arc<Occupant>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.slots.open.lock() {
            open.remove(&self.id);
        }
    }
}

/// What became of a newcomer.
pub enum Admission {
    /// A free slot.
    Now(Slot),
    /// No free slot: an idle connection, if any, is being closed for it;
    /// [`Slots::take_freed`] waits briefly for a slot.
    Wait,
    /// Too many newcomers wait already.
    Refused,
}

impl Slots {
    pub fn new(max: usize) -> Arc<Slots> {
        Self::with_min_quiet(max, MIN_QUIET)
    }

    fn with_min_quiet(max: usize, min_quiet: MinQuiet) -> Arc<Slots> {
        Arc::new(Slots {
            free: Arc::new(Semaphore::new(max)),
            max,
            min_quiet,
            open: Mutex::new(HashMap::new()),
            next: std::sync::atomic::AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
        })
    }

    /// A slot for a new connection, or room made for one.
    pub fn admit(self: &Arc<Self>) -> Admission {
        if let Ok(permit) = self.free.clone().try_acquire_owned() {
            return Admission::Now(self.occupy(permit));
        }
        if self.waiting.load(Ordering::Relaxed) >= MAX_WAITING {
            return Admission::Refused;
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Admission::Wait
    }

    /// Waits (briefly) for a slot to free, closing a quiet connection for
    /// it. With none quiet long enough, a slot may still free: a review
    /// finishes, a slow body is cut (see `super::body`), or a connection
    /// becomes quiet enough while the newcomer waits.
    pub async fn take_freed(self: &Arc<Self>) -> Option<Slot> {
        let acquire = self.free.clone().acquire_owned();
        tokio::pin!(acquire);
        let expiry = tokio::time::sleep(WAIT_FOR_SLOT);
        tokio::pin!(expiry);
        let mut look_again = tokio::time::interval_at(tokio::time::Instant::now() + LOOK_AGAIN, LOOK_AGAIN);
        let mut room_made = self.evict_one();
        let permit = loop {
            tokio::select! {
                permit = &mut acquire => break permit.ok(),
                () = &mut expiry => break None,
                _ = look_again.tick(), if !room_made => room_made = self.evict_one(),
            }
        };
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        permit.map(|permit| self.occupy(permit))
    }

    fn occupy(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let occupant = Arc::new(Occupant {
            accepted: Instant::now(),
            activity: OnceLock::new(),
            evicting: AtomicBool::new(false),
            evicted: Notify::new(),
        });
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, occupant.clone());
        }
        Slot {
            slots: self.clone(),
            id,
            occupant,
            _permit: permit,
        }
    }

    /// Tells a connection with no request open to close: of those that
    /// never carried a request (silent, handshaking, idle since the
    /// preface) the one quiet longest, else the keep-alive connection quiet
    /// longest; but only once it has been quiet for its [`MinQuiet`] (a young
    /// unserved one is waited for rather than a keep-alive one closed).
    /// Whether one was told.
    fn evict_one(&self) -> bool {
        let Ok(open) = self.open.lock() else { return false };
        let victim = open
            .values()
            .filter(|o| !o.evicting.load(Ordering::Relaxed))
            .filter_map(|o| Some(((!o.has_served(), o.idle_for()?), o)))
            .max_by_key(|(rank, _)| *rank)
            .filter(|((unserved, quiet), _)| *quiet >= self.min_quiet.of(*unserved))
            .map(|(_, o)| o.clone());
        drop(open);
        match victim {
            Some(o) => {
                o.evicting.store(true, Ordering::Relaxed);
                o.evicted.notify_one();
                true
            }
            None => false,
        }
    }

    /// Waits until every connection has closed, for at most `drain`.
    pub async fn drained(&self, drain: Duration) -> bool {
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        tokio::time::timeout(drain, self.free.acquire_many(all)).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min_quiet(keep_alive: u64, unserved: u64) -> MinQuiet {
        MinQuiet {
            keep_alive: Duration::from_millis(keep_alive),
            unserved: Duration::from_millis(unserved),
        }
    }

    fn waiter(slots: &Arc<Slots>) -> tokio::task::JoinHandle<Option<Slot>> {
        assert!(matches!(slots.admit(), Admission::Wait));
        let slots = slots.clone();
        tokio::spawn(async move { slots.take_freed().await })
    }

    fn taken(slots: &Arc<Slots>) -> Slot {
        match slots.admit() {
            Admission::Now(slot) => slot,
            _ => panic!("a free slot"),
        }
    }

    /// A slot whose connection has carried one review, now answered.
    fn keep_alive(slots: &Arc<Slots>) -> Slot {
        let slot = taken(slots);
        let activity = Activity::new();
        activity.request_started();
        activity.request_finished();
        slot.occupant.serving(activity);
        slot
    }

    #[tokio::test]
    async fn an_idle_connection_makes_room_and_a_busy_one_keeps_its_slot() {
        let slots = Slots::with_min_quiet(2, min_quiet(0, 0));
        let (busy, idle) = (taken(&slots), taken(&slots));
        let busy_activity = Activity::new();
        busy_activity.request_started();
        busy.occupant.serving(busy_activity.clone());
        idle.occupant.serving(Activity::new());

        // Full: the idle one is told to go, the newcomer gets its slot.
        let third = waiter(&slots);
        tokio::time::timeout(Duration::from_secs(1), idle.occupant.evicted.notified())
            .await
            .expect("the idle connection is evicted");
        drop(idle);
        let third = third.await.expect("task").expect("the freed slot");
        third.occupant.serving(Activity::new());

        // Now one busy, one fresh and idle: the fresh one goes, never the busy one.
        let fourth = waiter(&slots);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(third.occupant.evicting.load(Ordering::Relaxed));
        assert!(!busy.occupant.evicting.load(Ordering::Relaxed));
        // Both busy or being evicted: the newcomer gets nothing if no slot
        // frees within a second.
        let started = Instant::now();
        assert!(fourth.await.expect("task").is_none());
        assert!(started.elapsed() >= Duration::from_millis(900));
        assert!(!busy.occupant.evicting.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn a_keep_alive_connection_goes_after_those_that_never_carried_a_request() {
        let slots = Slots::with_min_quiet(2, min_quiet(0, 0));
        let keep_alive = keep_alive(&slots);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Newer, so quiet for less time than the keep-alive connection.
        let silent = taken(&slots);
        let first = waiter(&slots);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(silent.occupant.evicting.load(Ordering::Relaxed));
        assert!(!keep_alive.occupant.evicting.load(Ordering::Relaxed));
        // With no other choice, the keep-alive connection goes too.
        let second = waiter(&slots);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(keep_alive.occupant.evicting.load(Ordering::Relaxed));
        drop((silent, keep_alive));
        assert!(first.await.expect("task").is_some());
        assert!(second.await.expect("task").is_some());
    }

    /// While a newcomer waits, `slot` keeps its slot for `kept`, then makes
    /// room within `then` (the newcomer looks again while it waits).
    async fn kept_then_evicted(slots: &Arc<Slots>, slot: Slot, kept: u64, then: u64) {
        let newcomer = waiter(slots);
        tokio::time::sleep(Duration::from_millis(kept)).await;
        assert!(!slot.occupant.evicting.load(Ordering::Relaxed), "kept for {kept} ms");
        tokio::time::timeout(Duration::from_millis(then), slot.occupant.evicted.notified())
            .await
            .expect("evicted once quiet long enough");
        drop(slot);
        assert!(newcomer.await.expect("task").is_some());
    }

    #[tokio::test]
    async fn a_busy_clients_connection_between_two_reviews_keeps_its_slot() {
        let slots = Slots::with_min_quiet(1, min_quiet(400, 0));
        let between_reviews = keep_alive(&slots);
        kept_then_evicted(&slots, between_reviews, 300, 500).await;
    }

    #[tokio::test]
    async fn a_young_unserved_connection_is_waited_for_rather_than_a_keep_alive_one_closed() {
        let slots = Slots::with_min_quiet(2, min_quiet(0, 300));
        let keep_alive = keep_alive(&slots);
        let handshaking = taken(&slots);
        kept_then_evicted(&slots, handshaking, 200, 300).await;
        assert!(!keep_alive.occupant.evicting.load(Ordering::Relaxed));
    }
}
