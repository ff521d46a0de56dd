//! Connection slots. At most `--max-connections` webhook connections are
//! open; when all are taken, the one quiet longest with no request open (a
//! silent client, an idle keep-alive, a handshake that never ends) is closed
//! to make room for the newcomer. Idle or silent connections therefore
//! cannot lock the API server out; only connections with a review in flight
//! keep their slot. A newcomer waits a second at most for a slot, and at
//! most 64 wait at once; past that, new connections are closed at once.

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

pub struct Slots {
    free: Arc<Semaphore>,
    max: usize,
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
        Arc::new(Slots {
            free: Arc::new(Semaphore::new(max)),
            max,
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
        // With no idle connection to close, a slot still frees soon: a
        // review finishes, or a slow body is cut (see `super::body`).
        self.evict_one();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Admission::Wait
    }

    /// Waits (briefly) for a slot to free.
    pub async fn take_freed(self: &Arc<Self>) -> Option<Slot> {
        let permit = tokio::time::timeout(WAIT_FOR_SLOT, self.free.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        match permit {
            Ok(Ok(permit)) => Some(self.occupy(permit)),
            _ => None,
        }
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
    /// longest.
    fn evict_one(&self) -> bool {
        let Ok(open) = self.open.lock() else { return false };
        let victim = open
            .values()
            .filter(|o| !o.evicting.load(Ordering::Relaxed))
            .filter_map(|o| Some(((!o.has_served(), o.idle_for()?), o)))
            .max_by_key(|(rank, _)| *rank)
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

    #[tokio::test]
    async fn an_idle_connection_makes_room_and_a_busy_one_keeps_its_slot() {
        let slots = Slots::new(2);
        let Admission::Now(busy) = slots.admit() else {
            panic!("free slot")
        };
        let Admission::Now(idle) = slots.admit() else {
            panic!("free slot")
        };
        let busy_activity = Activity::new();
        busy_activity.request_started();
        busy.occupant.serving(busy_activity.clone());
        idle.occupant.serving(Activity::new());

        // Full: the idle one is told to go, the newcomer waits for its slot.
        assert!(matches!(slots.admit(), Admission::Wait));
        tokio::time::timeout(Duration::from_secs(1), idle.occupant.evicted.notified())
            .await
            .expect("the idle connection is evicted");
        drop(idle);
        let third = slots.take_freed().await.expect("the freed slot");
        third.occupant.serving(Activity::new());

        // Now one busy, one fresh and idle: the fresh one goes, never the busy one.
        assert!(matches!(slots.admit(), Admission::Wait));
        assert!(third.occupant.evicting.load(Ordering::Relaxed));
        assert!(!busy.occupant.evicting.load(Ordering::Relaxed));
        // Both busy or being evicted: the newcomer waits, and gets nothing
        // if no slot frees within a second.
        assert!(matches!(slots.admit(), Admission::Wait));
        assert!(slots.take_freed().await.is_none());
        let _ = slots.take_freed().await;
    }

    #[tokio::test]
    async fn a_keep_alive_connection_goes_after_those_that_never_carried_a_request() {
        let slots = Slots::new(2);
        let Admission::Now(keep_alive) = slots.admit() else {
            panic!("free slot")
        };
        let served = Activity::new();
        served.request_started();
        served.request_finished();
        keep_alive.occupant.serving(served);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Newer, so quiet for less time than the keep-alive connection.
        let Admission::Now(silent) = slots.admit() else {
            panic!("free slot")
        };
        assert!(matches!(slots.admit(), Admission::Wait));
        assert!(silent.occupant.evicting.load(Ordering::Relaxed));
        assert!(!keep_alive.occupant.evicting.load(Ordering::Relaxed));
        // With no other choice, the keep-alive connection goes too.
        assert!(matches!(slots.admit(), Admission::Wait));
        assert!(keep_alive.occupant.evicting.load(Ordering::Relaxed));
    }
}
