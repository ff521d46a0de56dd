//! The body budget (`--max-body-bytes-in-flight`): request bodies held at
//! once, all connections together, in bytes. A body holds only the bytes
//! that have arrived: each frame is counted as it is read, never before, and
//! a review keeps what its body holds until it has finished.
//!
//! Why bytes as they come, and not the announced Content-Length up front:
//! a reservation made before a byte arrives can be held by a client that
//! never sends one. Sixteen HTTP/2 streams announcing 7 MiB each cost a few
//! KB of headers and held all the budget large bodies may use, and the API
//! server's large reviews failed (`failurePolicy: Fail` turns that into
//! refused writes). Counted as they arrive, a stream that sends nothing
//! holds nothing, and a client can hold the budget only with bytes it sends
//! (and keeps sending: `super::body` cuts a body slower than its minimum
//! rate), which is the bandwidth `--client-ca` or a NetworkPolicy keeps out.
//! The other designs leave a door: a per-connection ceiling is beaten by
//! more connections, and would cap the API server, which multiplexes every
//! review on one or two HTTP/2 connections; a first-byte deadline by
//! sending one byte; fair ordering of waiters still lets silent streams
//! hold the budget in turn.
//!
//! What counting as bytes arrive must not do is deadlock: bodies each
//! holding part of the budget and all waiting for more. So a body may read
//! more only if afterwards every body holding bytes can still be read to
//! its end, one after another, each giving back what it held (the banker's
//! algorithm, over bodies rather than processes). The body that needs the
//! least can always go on, so some body always finishes. Bodies that hold
//! nothing yet are not counted: they cannot block anyone.
//!
//! A body is read only when the budget could take its next frame ([`Share::room_for`]);
//! it waits otherwise, holding nothing, and its client's flow control
//! (HTTP/2 window, TCP) holds the rest. A frame read while the room went to
//! another body waits in a small transit share of the budget, so the budget
//! bounds every body byte in memory; when that is full too, the request is
//! refused as overloaded.
//!
//! Two rules carried over: a body takes room whenever the budget has it,
//! not in arrival order, so a small review never queues behind a large one;
//! and a slice of the budget is kept for small reviews, which most are (a
//! Secret, a Namespace, a CNPG object: a few KiB), so that large bodies,
//! even sent at pace, cannot take all of it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;

/// Bodies up to this size (bytes) may use the slice kept for small reviews.
pub const SMALL: usize = 256 * 1024;

/// The budget, shared by every request.
pub struct Budget {
    state: Mutex<State>,
    /// Notified when bytes are given back or a body has all it needs.
    changed: Notify,
    #[cfg(test)]
    total: usize,
    next_id: AtomicU64,
}

struct State {
    /// Bytes of the main share only small bodies may take.
    kept_for_small: usize,
    /// The most free bytes one body can need ([`Holding::need`] of the
    /// largest body): with that much free after a take, every body can
    /// finish.
    largest_need: usize,
    /// Bytes of the main share not held.
    free: usize,
    /// Bytes of the transit share not held (frames waiting for the main share).
    transit: usize,
    /// The bodies holding bytes of the main share.
    bodies: HashMap<u64, Holding>,
    /// The sum of their `rest`.
    rest: usize,
}

/// What one body holds and may still bring.
#[derive(Debug, Clone, Copy)]
struct Holding {
    held: usize,
    /// Bytes still to come: the announced length (else the largest body)
    /// less what has arrived.
    rest: usize,
    large: bool,
}

impl Holding {
    /// `n` more bytes arrived.
    fn plus(self, n: usize) -> Holding {
        Holding {
            held: self.held + n,
            rest: self.rest.saturating_sub(n),
            large: self.large,
        }
    }

    /// Free bytes this body needs to be read to its end: a large one may
    /// not take the slice kept for small ones.
    fn need(&self, kept_for_small: usize) -> usize {
        match (self.rest, self.large) {
            (0, _) => 0,
            (rest, true) => rest + kept_for_small,
            (rest, false) => rest,
        }
    }
}

impl State {
    /// Whether body `id`, holding `now`, may take `n` more bytes: they fit,
    /// a large body leaves the slice kept for small ones, and afterwards the
    /// bodies holding bytes can all be read to their end, one after another.
    fn allows(&self, id: u64, now: Holding, n: usize) -> bool {
        let kept = self.kept_for_small;
        let Some(free) = self.free.checked_sub(n) else {
            return false;
        };
        if now.large && free < kept {
            return false;
        }
        let after = now.plus(n);
        // Room for what any one body needs, or for every body's rest at
        // once: no order needed (the usual case, checked without a look at
        // the other bodies).
        let rest = self.rest - self.bodies.get(&id).map_or(0, |h| h.rest) + after.rest;
        if free >= self.largest_need || free >= rest + kept {
            return true;
        }
        // Otherwise the banker's algorithm: finish the body that needs the
        // least, take back what it held, and so on; the state is safe if
        // every body gets its turn.
        let mut order: Vec<(usize, usize)> = self
            .bodies
            .iter()
            .filter(|(other, _)| **other != id)
            .map(|(_, h)| (h.need(kept), h.held))
            .chain([(after.need(kept), after.held)])
            .collect();
        order.sort_unstable();
        let mut available = free;
        for (need, held) in order {
            if need > available {
                return false;
            }
            available += held;
        }
        true
    }

    /// Takes `n` bytes for body `id` if [`State::allows`] it.
    fn take(&mut self, id: u64, me: &mut Holding, n: usize) -> bool {
        if !self.allows(id, *me, n) {
            return false;
        }
        let after = me.plus(n);
        self.free -= n;
        self.rest = self.rest - self.bodies.insert(id, after).map_or(0, |h| h.rest) + after.rest;
        *me = after;
        true
    }
}

/// One request body's part of the budget: what has arrived of it. Given
/// back (and waiters woken) when dropped, after its review has finished,
/// or when the request is dropped (a client that resets its stream).
pub struct Share {
    budget: Arc<Budget>,
    id: u64,
    me: Holding,
    /// Bytes of a frame waiting in the transit share.
    in_transit: usize,
}

impl Budget {
    /// `total` bytes, of which an eighth (but no more than leaves room for
    /// the largest body, `largest` bytes) is kept for small bodies, and a
    /// sixteenth (within the same limit) is the transit share.
    pub fn new(total: usize, largest: usize) -> Arc<Self> {
        let kept_for_small = (total / 8).min(total.saturating_sub(largest));
        let transit = (total / 16).min(total.saturating_sub(largest + kept_for_small));
        Arc::new(Budget {
            state: Mutex::new(State {
                kept_for_small,
                largest_need: largest + kept_for_small,
                free: total - transit,
                transit,
                bodies: HashMap::new(),
                rest: 0,
            }),
            changed: Notify::new(),
            #[cfg(test)]
            total,
            next_id: AtomicU64::new(0),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A share for a body that announces `length` bytes (else the largest
    /// body it may have: never more, the handler refuses a larger one); it
    /// holds nothing yet.
    pub fn share(self: &Arc<Self>, length: usize) -> Share {
        Share {
            budget: self.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            me: Holding {
                held: 0,
                rest: length,
                large: length > SMALL,
            },
            in_transit: 0,
        }
    }

    /// Waits until `attempt` succeeds on the state, tried again each time
    /// the budget changes; false if it has not by `until`.
    async fn wait_until(&self, until: Instant, mut attempt: impl FnMut(&mut State) -> bool) -> bool {
        let attempts = async {
            loop {
                // Registered before trying, so a change in between is not missed.
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if attempt(&mut self.state()) {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout_at(until, attempts).await.is_ok()
    }

    /// Bytes held, transit share included (tests: the bound).
    #[cfg(test)]
    fn in_use(&self) -> usize {
        let s = self.state();
        self.total - s.free - s.transit
    }
}

impl Share {
    /// Bytes of the body held.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.me.held
    }

    /// Waits until the budget could take `n` more bytes of this body (at
    /// most what is still to come), taking nothing; false if not by `until`.
    pub async fn room_for(&self, n: usize, until: Instant) -> bool {
        let n = n.min(self.me.rest);
        if n == 0 {
            return true;
        }
        let (id, me) = (self.id, self.me);
        self.budget.wait_until(until, |s| s.allows(id, me, n)).await
    }

    /// Counts `n` bytes that have arrived. When the budget has no room for
    /// them, they wait in the transit share until it has; false (the bytes
    /// must be dropped) when the transit share is full too, or by `until`.
    pub async fn take(&mut self, n: usize, until: Instant) -> bool {
        let id = self.id;
        {
            let mut s = self.budget.state();
            if s.take(id, &mut self.me, n) {
                return true;
            }
            match s.transit.checked_sub(n) {
                Some(left) => s.transit = left,
                None => return false,
            }
        }
        // Given back here, or by `drop` if the request is dropped meanwhile.
        self.in_transit = n;
        let me = &mut self.me;
        let taken = self.budget.wait_until(until, |s| s.take(id, me, n)).await;
        self.budget.state().transit += std::mem::take(&mut self.in_transit);
        taken
    }

    /// The body has ended: nothing more is to come.
    pub fn finished(&mut self) {
        self.me.rest = 0;
        let mut s = self.budget.state();
        if let Some(h) = s.bodies.get_mut(&self.id) {
            let rest = std::mem::take(&mut h.rest);
            s.rest -= rest;
            drop(s);
            self.budget.changed.notify_waiters();
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut s = self.budget.state();
        s.transit += self.in_transit;
        if let Some(h) = s.bodies.remove(&self.id) {
            s.free += h.held;
            s.rest -= h.rest;
            drop(s);
            self.budget.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::time::Duration;

    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(10)
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    /// Reads a body of `length` bytes `frame` bytes at a time, as the
    /// handler does; the share, once it is whole.
    async fn read(budget: Arc<Budget>, length: usize, frame: usize) -> Option<Share> {
        let mut share = budget.share(length);
        let mut left = length;
        while left > 0 {
            let n = frame.min(left);
            if !share.room_for(frame, later()).await || !share.take(n, later()).await {
                return None;
            }
            assert!(budget.in_use() <= budget.total, "the budget bounds the bytes held");
            left -= n;
            tokio::task::yield_now().await;
        }
        share.finished();
        Some(share)
    }

    #[tokio::test(start_paused = true)]
    async fn bodies_that_send_nothing_hold_nothing() {
        let budget = Budget::new(16 * MIB, 7 * MIB);
        // 128 streams announcing 7 MiB, none sending a byte, each waiting
        // for its first frame after room was found for it.
        let silent: Vec<Share> = (0..128).map(|_| budget.share(7 * MIB)).collect();
        for s in &silent {
            assert!(s.room_for(16 * KIB, soon()).await);
        }
        assert_eq!(budget.in_use(), 0);
        // Large bodies are read whole beside them.
        let large = read(budget.clone(), 7 * MIB, 16 * KIB).await.expect("room");
        let second = read(budget.clone(), 5 * MIB, 16 * KIB).await.expect("room");
        assert_eq!(large.held() + second.held(), 12 * MIB);
        assert_eq!(budget.in_use(), 12 * MIB);
        drop((large, second));
        assert_eq!(budget.in_use(), 0);
    }

    /// Twenty 1.2 MB bodies read at once, frame by frame, need more than
    /// the budget: they do not all stop half-read (a deadlock), each is
    /// read whole, and the budget is never exceeded.
    #[tokio::test(start_paused = true)]
    async fn bodies_read_at_once_beyond_the_budget_all_finish() {
        let budget = Budget::new(16 * MIB, 7 * MIB);
        let mut tasks = Vec::new();
        for i in 0..20 {
            let budget = budget.clone();
            tasks.push(tokio::spawn(async move {
                let share = read(budget, 1_200_000 + i * 1000, 16 * KIB).await?;
                // Judging takes a while, the body held meanwhile.
                tokio::time::sleep(Duration::from_millis(5)).await;
                Some(share.held())
            }));
        }
        // A 7 MiB body among them, and small ones; each given back once read.
        let largest = tokio::spawn(read(budget.clone(), 7 * MIB, 64 * KIB).map(|s| s.is_some()));
        let small: Vec<_> = (0..50)
            .map(|_| tokio::spawn(read(budget.clone(), 3 * KIB, 3 * KIB).map(|s| s.is_some())))
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().is_some());
        }
        assert!(largest.await.unwrap());
        for s in small {
            assert!(s.await.unwrap());
        }
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn large_bodies_leave_a_slice_for_small_ones() {
        // 1000 KiB: 125 kept for small bodies, 62.5 the transit share.
        let budget = Budget::new(1000 * KIB, 500 * KIB);
        let first = read(budget.clone(), 500 * KIB, 16 * KIB).await.expect("room");
        // 437.5 left, 312.5 of it for large bodies: a second large body
        // takes 300, then waits for room.
        let mut second = budget.share(400 * KIB);
        assert!(second.take(300 * KIB, soon()).await);
        assert!(!second.room_for(16 * KIB, soon()).await);
        // Small bodies take what is left, the kept slice included.
        let small: Vec<_> = futures::future::join_all((0..2).map(|_| read(budget.clone(), 60 * KIB, 16 * KIB))).await;
        assert!(small.iter().all(Option::is_some));
        // A budget no larger than the largest body keeps nothing back.
        drop((first, second, small));
        let tight = Budget::new(500 * KIB, 500 * KIB);
        assert!(read(tight, 500 * KIB, 16 * KIB).await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_body_does_not_queue_behind_a_large_one() {
        let budget = Budget::new(1000 * KIB, 500 * KIB);
        let held = read(budget.clone(), 500 * KIB, 16 * KIB).await.expect("room");
        // 400 more of large does not fit: it reads what room there is, then waits ...
        let large = tokio::spawn(read(budget.clone(), 400 * KIB, 16 * KIB));
        tokio::task::yield_now().await;
        // ... while 30 that fits is read at once.
        assert!(read(budget.clone(), 30 * KIB, 16 * KIB).await.is_some());
        // The large one is read once the first is given back.
        drop(held);
        assert!(large.await.unwrap().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_without_room_waits_in_transit_or_is_refused() {
        // 1600 KiB: 200 kept for small, 100 the transit share.
        let budget = Budget::new(1600 * KIB, 800 * KIB);
        let held = read(budget.clone(), 800 * KIB, 16 * KIB).await.expect("room");
        let mut other = budget.share(600 * KIB);
        assert!(other.take(490 * KIB, soon()).await);
        // No room for 16 more of a large body (the kept slice); room for it
        // in transit. The wait ends at the deadline, the transit share
        // given back.
        let started = Instant::now();
        assert!(!other.take(16 * KIB, started + Duration::from_millis(300)).await);
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        assert_eq!(budget.in_use(), 1290 * KIB);
        // 128 does not fit the transit share: refused at once.
        assert!(!other.take(128 * KIB, later()).await);
        // A frame in transit is counted once the room is back.
        let waiting = tokio::spawn(async move { other.take(16 * KIB, later()).await.then_some(other) });
        tokio::task::yield_now().await;
        assert_eq!(budget.in_use(), 1306 * KIB);
        drop(held);
        let other = waiting.await.unwrap().expect("taken once room is back");
        assert_eq!((other.held(), budget.in_use()), (506 * KIB, 506 * KIB));
    }

    /// A request dropped while its frame waits in transit (a client that
    /// resets its stream) gives the transit share back.
    #[tokio::test(start_paused = true)]
    async fn a_dropped_request_gives_its_transit_share_back() {
        let budget = Budget::new(1600 * KIB, 800 * KIB);
        let held = read(budget.clone(), 800 * KIB, 16 * KIB).await.expect("room");
        let mut other = budget.share(600 * KIB);
        assert!(other.take(490 * KIB, soon()).await);
        let waiting = tokio::spawn(async move { other.take(100 * KIB, later()).await });
        tokio::task::yield_now().await;
        assert_eq!(budget.in_use(), 1390 * KIB);
        waiting.abort();
        assert!(waiting.await.is_err());
        assert_eq!(budget.in_use(), 800 * KIB);
        drop(held);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn more_than_the_whole_budget_never_fits() {
        let budget = Budget::new(100 * KIB, 100 * KIB);
        let share = budget.share(200 * KIB);
        let started = Instant::now();
        assert!(!share.room_for(101 * KIB, started + Duration::from_millis(300)).await);
        assert_eq!(started.elapsed(), Duration::from_millis(300));
    }
}
