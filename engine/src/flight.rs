//! Single-flight loading: at most one load per key and kind at a time, with
//! every other caller for that key waiting for its outcome.
//!
//! # Who writes what
//!
//! - `Flights::shards[i]` (one mutex per cache shard, index by the same hash
//!   bits) lists the running loads of that shard. A caller that misses locks
//!   it, and either joins the flight for its key and kind, or (after
//!   re-checking the cache under the lock) pushes a new flight and leads it.
//!   Only the leader removes its flight, under the same lock.
//! - `Flight::invalidated`: set under the shard's flights lock by
//!   `invalidate`, `remove`, `invalidate_all` and `insert`, and by a
//!   leader that stores (for the key's other flights: a store is a write);
//!   read by the leader under that lock. The leader inserts its value into the cache, and the
//!   invalidation removes the key from the cache, *inside* that lock, so one
//!   of the two orders holds: the insert happens first and the invalidation
//!   removes it, or the flag is set first and the leader does not insert.
//!   The lock order is flights lock, then shard lock; nothing takes a flights
//!   lock while holding a shard lock, and listeners run after both are
//!   released.
//! - `Flight::state`: `Running` until the leader (or, if the leader is
//!   dropped mid-load, its guard) stores the outcome once and notifies the
//!   condvar and every registered waker. Waiters only read it.
//!
//! - `Flights::running[i]`: the length of shard `i`'s list, stored under
//!   its lock after every push and removal; `insert` reads it without the
//!   lock. At 0 the insert takes no flights lock; otherwise it marks the
//!   key's loads superseded and writes its value under the lock, exactly as
//!   an invalidation does, so a load that registered before the insert
//!   never stores its older value over the inserted one. Both sides are
//!   `SeqCst`: the caller updates its source, then inserts (which reads the
//!   count); a leader stores the count, then its loader reads the source.
//!   That is the store-buffering pattern, and only a single total order
//!   rules out both reading the old value (the insert seeing no load while
//!   the load sees the old source). On x86 the load is a plain `mov`; the
//!   store, an `xchg`, happens once per load, not per insert. Under loom,
//!   which does not model `SeqCst` accesses, a fence after the store and
//!   before the load stands in for that order
//!   ([`seqcst_fence_for_loom`](crate::sync::seqcst_fence_for_loom)).
//!
//! - Recursion: a loader that asks for its own key (same kind) on its own
//!   thread would join its own flight and wait for itself. While a leader's
//!   loader runs (the whole call, or each poll of an async loader), the
//!   flight's address sits in this thread's [`RUNNING`] list; a join that
//!   finds a flight listed there answers [`Role::Recursive`] instead of
//!   waiting. Only that thread reads or writes its list, and an entry lives
//!   exactly as long as the loader's frame, so the check has no false
//!   positive (an async leader suspended between polls is not listed).
//!
//! A flight is removed from the list before its outcome is published, so a
//! caller arriving after the removal never joins a finished flight; it finds
//! the inserted value in the cache (or the negative entry), or starts a new
//! load.

use crate::sync::{lock, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering};
use crate::Equivalent;
use std::any::{Any, TypeId};
use std::sync::Arc;
use std::time::Duration;

/// How a load ended, as waiters see it.
pub(crate) enum Outcome<V> {
    Value(V),
    /// The loader found nothing (`optionally_get_with`).
    Absent,
    /// The loader's error, shared by every waiter; its type is the flight's
    /// kind, so a waiter of that kind can downcast it.
    Failed(Arc<dyn Any + Send + Sync>),
    Panicked,
    /// The leader was dropped before finishing (a cancelled future):
    /// waiters start over, and one of them leads the next load.
    Abandoned,
}

impl<V: Clone> Clone for Outcome<V> {
    fn clone(&self) -> Self {
        match self {
            Outcome::Value(v) => Outcome::Value(v.clone()),
            Outcome::Absent => Outcome::Absent,
            Outcome::Failed(e) => Outcome::Failed(Arc::clone(e)),
            Outcome::Panicked => Outcome::Panicked,
            Outcome::Abandoned => Outcome::Abandoned,
        }
    }
}

struct State<V> {
    outcome: Option<Outcome<V>>,
    wakers: Vec<std::task::Waker>,
}

/// One running load.
pub(crate) struct Flight<K, V> {
    key: K,
    /// The result type of the loader (value, error type), so callers of
    /// `try_get_with::<E1>` never receive another call's `E2`.
    kind: TypeId,
    /// Relaxed: written and read only under the shard's flights lock.
    invalidated: AtomicBool,
    state: Mutex<State<V>>,
    done: Condvar,
}

impl<K, V: Clone> Flight<K, V> {
    /// The outcome, waiting at most `timeout` (forever if `None`); `None`
    /// if the wait timed out.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Option<Outcome<V>> {
        let mut state = lock(&self.state);
        // A timeout past what the clock can represent waits without one.
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        loop {
            if let Some(outcome) = &state.outcome {
                return Some(outcome.clone());
            }
            state = match deadline {
                None => self.done.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.done
                        .wait_timeout(state, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    #[cfg(feature = "async")]
    /// The outcome if there is one; otherwise registers `waker` to be woken
    /// when it is published.
    pub(crate) fn poll(&self, waker: &std::task::Waker) -> Option<Outcome<V>> {
        let mut state = lock(&self.state);
        if let Some(outcome) = &state.outcome {
            return Some(outcome.clone());
        }
        if !state.wakers.iter().any(|w| w.will_wake(waker)) {
            state.wakers.push(waker.clone());
        }
        None
    }
}

impl<K, V> Flight<K, V> {
    /// Stores the outcome (the first one wins) and wakes every waiter.
    fn publish(&self, outcome: Outcome<V>) {
        let wakers = {
            let mut state = lock(&self.state);
            if state.outcome.is_some() {
                return;
            }
            state.outcome = Some(outcome);
            std::mem::take(&mut state.wakers)
        };
        self.done.notify_all();
        wakers.into_iter().for_each(std::task::Waker::wake);
    }
}

/// The running loads of one shard.
type FlightList<K, V> = Vec<Arc<Flight<K, V>>>;

/// The running loads of a cache, one list per cache shard.
pub(crate) struct Flights<K, V> {
    shards: Box<[Mutex<FlightList<K, V>>]>,
    /// Each list's length, readable without its lock (see the module top).
    running: Box<[AtomicUsize]>,
}

/// What a caller that missed should do.
pub(crate) enum Role<K, V> {
    /// Run the loader: this caller leads the flight.
    Lead(Leader<K, V>),
    /// Wait for another caller's load.
    Wait(Arc<Flight<K, V>>),
    /// The value appeared in the cache meanwhile (re-checked under the lock).
    Ready(V),
    /// The key's flight is this thread's own running loader: waiting would
    /// wait for itself.
    Recursive,
}

crate::sync::thread_locals! {
    /// Flights (by address) whose loader runs on this thread right now,
    /// innermost last.
    static RUNNING: crate::sync::RefCell<Vec<usize>> = crate::sync::RefCell::new(Vec::new());
}

/// Lists a flight in [`RUNNING`] while it lives.
pub(crate) struct LoaderRunning(usize);

impl Drop for LoaderRunning {
    fn drop(&mut self) {
        let _ = RUNNING.try_with(|r| {
            let mut r = r.borrow_mut();
            if let Some(i) = r.iter().rposition(|&f| f == self.0) {
                r.remove(i);
            }
        });
    }
}

/// Whether `flight`'s loader is running on this thread, below this call.
fn running_here<K, V>(flight: &Arc<Flight<K, V>>) -> bool {
    let address = Arc::as_ptr(flight) as usize;
    RUNNING
        .try_with(|r| r.borrow().contains(&address))
        .unwrap_or(false)
}

impl<K, V> Flights<K, V> {
    pub(crate) fn new(shards: usize) -> Flights<K, V> {
        Flights {
            shards: (0..shards).map(|_| Mutex::new(Vec::new())).collect(),
            running: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// True if a load of shard `shard` may be running.
    pub(crate) fn running(&self, shard: usize) -> bool {
        crate::sync::seqcst_fence_for_loom();
        // SeqCst: see the module top (store buffering against loaders).
        self.running[shard].load(Ordering::SeqCst) != 0
    }

    /// Publishes the length of shard `shard`'s list; called under its lock.
    fn set_running(&self, shard: usize, list: &FlightList<K, V>) {
        // SeqCst: see the module top (store buffering against inserts).
        self.running[shard].store(list.len(), Ordering::SeqCst);
        crate::sync::seqcst_fence_for_loom();
    }
}

impl<K: Eq + Clone, V: Clone> Flights<K, V> {
    /// Joins the running load of `key` of this `kind`, or becomes its leader
    /// if `recheck` (run under the lock) does not find the value.
    pub(crate) fn join(
        self: &Arc<Self>,
        shard: usize,
        key: &K,
        kind: TypeId,
        recheck: impl FnOnce(&K) -> Option<V>,
    ) -> Role<K, V> {
        let mut list = lock(&self.shards[shard]);
        if let Some(f) = list.iter().find(|f| f.kind == kind && f.key == *key) {
            if running_here(f) {
                return Role::Recursive;
            }
            return Role::Wait(Arc::clone(f));
        }
        if let Some(v) = recheck(key) {
            return Role::Ready(v);
        }
        let flight = Arc::new(Flight {
            key: key.clone(),
            kind,
            invalidated: AtomicBool::new(false),
            state: Mutex::new(State {
                outcome: None,
                wakers: Vec::new(),
            }),
            done: Condvar::new(),
        });
        list.push(Arc::clone(&flight));
        self.set_running(shard, &list);
        Role::Lead(Leader {
            flights: Arc::clone(self),
            shard,
            flight,
            finished: false,
        })
    }
}

impl<K, V> Flights<K, V> {
    /// Marks the running loads of `key` invalidated and runs `remove` (the
    /// cache removal), both under the shard's flights lock.
    pub(crate) fn invalidate<Q, R>(&self, shard: usize, key: &Q, remove: impl FnOnce() -> R) -> R
    where
        Q: Equivalent<K> + ?Sized,
    {
        let list = lock(&self.shards[shard]);
        for f in list.iter().filter(|f| key.equivalent(&f.key)) {
            f.invalidated.store(true, Ordering::Relaxed);
        }
        remove()
    }

    /// Marks the running loads of `key` superseded, then runs `write(key)`
    /// (the insert) under the shard's flights lock.
    pub(crate) fn supersede<R>(&self, shard: usize, key: K, write: impl FnOnce(K) -> R) -> R
    where
        K: Eq,
    {
        let list = lock(&self.shards[shard]);
        for f in list.iter().filter(|f| f.key == key) {
            f.invalidated.store(true, Ordering::Relaxed);
        }
        write(key)
    }

    /// Marks every running load of the shard invalidated and runs `clear`
    /// under the shard's flights lock.
    pub(crate) fn invalidate_shard<R>(&self, shard: usize, clear: impl FnOnce() -> R) -> R {
        let list = lock(&self.shards[shard]);
        for f in list.iter() {
            f.invalidated.store(true, Ordering::Relaxed);
        }
        clear()
    }
}

/// The caller running a load. Dropping it without [`finish`](Self::finish)
/// (a panic or a cancelled future) publishes [`Outcome::Abandoned`] or
/// what [`abandon_with`](Self::abandon_with) chose, so no waiter hangs.
pub(crate) struct Leader<K, V> {
    flights: Arc<Flights<K, V>>,
    shard: usize,
    flight: Arc<Flight<K, V>>,
    finished: bool,
}

impl<K, V> Leader<K, V> {
    pub(crate) fn key(&self) -> &K {
        &self.flight.key
    }

    /// Marks this flight's loader as running on this thread until the mark
    /// is dropped: hold it across the loader's call (or one poll).
    pub(crate) fn running(&self) -> LoaderRunning {
        let address = Arc::as_ptr(&self.flight) as usize;
        let _ = RUNNING.try_with(|r| r.borrow_mut().push(address));
        LoaderRunning(address)
    }

    /// Ends the flight: under the flights lock, calls `store(invalidated)`
    /// (which writes the value or the absence unless invalidated) and
    /// removes the flight; then publishes `outcome` to the waiters. A store
    /// is a write like an insert: unless this flight was invalidated, the
    /// key's other flights (other kinds, a compute) are marked superseded,
    /// so none of them writes what it read before this store over it.
    /// Returns whether the flight was invalidated, with `store`'s result.
    pub(crate) fn finish<R>(
        mut self,
        outcome: Outcome<V>,
        store: impl FnOnce(bool) -> R,
    ) -> (bool, R)
    where
        K: Eq,
    {
        let (invalidated, result) = {
            let mut list = lock(&self.flights.shards[self.shard]);
            let invalidated = self.flight.invalidated.load(Ordering::Relaxed);
            let result = store(invalidated);
            list.retain(|f| !Arc::ptr_eq(f, &self.flight));
            if !invalidated {
                for f in list.iter().filter(|f| f.key == self.flight.key) {
                    f.invalidated.store(true, Ordering::Relaxed);
                }
            }
            self.flights.set_running(self.shard, &list);
            (invalidated, result)
        };
        self.finished = true;
        self.flight.publish(outcome);
        (invalidated, result)
    }

    /// Ends the flight with `outcome` and stores nothing.
    pub(crate) fn abandon_with(mut self, outcome: Outcome<V>) {
        self.remove();
        self.finished = true;
        self.flight.publish(outcome);
    }

    fn remove(&self) {
        let mut list = lock(&self.flights.shards[self.shard]);
        list.retain(|f| !Arc::ptr_eq(f, &self.flight));
        self.flights.set_running(self.shard, &list);
    }
}

impl<K, V> Drop for Leader<K, V> {
    fn drop(&mut self) {
        if !self.finished {
            self.remove();
            self.flight.publish(Outcome::Abandoned);
        }
    }
}
