//! The placeholder guard: the one state machine of loading.
//!
//! A caller that misses a key either joins the key's running load (a
//! [flight](crate::flight)) and waits for its outcome, or starts one and
//! holds its [`PlaceholderGuard`]. The guard is filled
//! ([`insert`](PlaceholderGuard::insert)) or dropped; dropping it ends the
//! flight as abandoned, and one of its waiters takes the next guard. Every
//! loader, blocking or async, is a front end over these steps:
//! [`look`](Cache::look) (hit, stale hit, remembered absence or miss), then
//! [`join`](Cache::join) (value, guard, wait, or a recursive ask), then the
//! guard's [`settle`](PlaceholderGuard::settle) with what the loader gave.
//! Only waiting differs: a thread blocks on the flight's condition
//! variable, a future parks its waker on the flight.

use crate::cache::Cache;
use crate::flight::{Flight, Leader, Outcome, Role};
use crate::loading::{Loaded, OptionKind, ValueKind};
use crate::metrics::Counter;
use crate::{Equivalent, LoadError};
use std::any::{Any, TypeId};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::panic::resume_unwind;
use std::sync::Arc;

/// The caller that missed a key and loads it: fill it with
/// [`insert`](Self::insert), or drop it to hand the load to the next
/// caller waiting for the key.
///
/// Other callers of the key ([`get_value_or_guard`](Cache::get_value_or_guard),
/// [`get_with`](Cache::get_with), the entry API's `or_insert_with`, and
/// their async twins) wait for it, each at most
/// [`load_wait_timeout`](crate::CacheBuilder::load_wait_timeout). The time
/// from the guard's creation to its `insert` is the load's latency in the
/// metrics.
///
/// ```
/// use clockwise::{Cache, GuardResult};
/// let cache: Cache<String, u32> = Cache::new(100);
/// match cache.get_value_or_guard("a") {
///     GuardResult::Guard(guard) => guard.insert(1).unwrap(),
///     _ => unreachable!("an empty cache"),
/// }
/// assert!(matches!(cache.get_value_or_guard("a"), GuardResult::Value(1)));
/// ```
#[must_use = "dropping the guard hands the load to the next caller"]
pub struct PlaceholderGuard<'a, K, V, S = ahash::RandomState> {
    cache: &'a Cache<K, V, S>,
    leader: Leader<K, V>,
    sample: Option<clockwise_stats::Sample>,
}

impl<K: fmt::Debug, V, S> fmt::Debug for PlaceholderGuard<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaceholderGuard")
            .field("key", self.leader.key())
            .finish_non_exhaustive()
    }
}

/// What [`get_value_or_guard`](Cache::get_value_or_guard) found.
///
/// ```
/// use clockwise::{Cache, GuardResult};
/// let cache: Cache<u32, u32> = Cache::new(100);
/// cache.insert(1, 10);
/// assert!(matches!(cache.get_value_or_guard(&1), GuardResult::Value(10)));
/// assert!(matches!(cache.get_value_or_guard(&2), GuardResult::Guard(_)));
/// ```
#[derive(Debug)]
pub enum GuardResult<'a, K, V, S = ahash::RandomState> {
    /// The key's value: cached, or loaded by the caller this one waited for.
    Value(V),
    /// The key is absent and this caller loads it.
    Guard(PlaceholderGuard<'a, K, V, S>),
    /// Another caller's guard was held longer than
    /// [`load_wait_timeout`](crate::CacheBuilder::load_wait_timeout). Its
    /// load goes on.
    Timeout,
}

/// A loader's key: owned, or a borrowed form of it (the `*_by_ref`
/// loaders and `get_value_or_guard`) made owned only when a miss needs it.
pub(crate) enum KeyIn<'q, K, Q: ?Sized> {
    Owned(K),
    Borrowed(&'q Q),
}

impl<K: Borrow<Q>, Q: ToOwned<Owned = K> + ?Sized> KeyIn<'_, K, Q> {
    pub(crate) fn get(&self) -> &Q {
        match self {
            KeyIn::Owned(k) => Borrow::<Q>::borrow(k),
            KeyIn::Borrowed(q) => q,
        }
    }

    pub(crate) fn into_owned(self) -> K {
        match self {
            KeyIn::Owned(k) => k,
            KeyIn::Borrowed(q) => q.to_owned(),
        }
    }
}

/// What a loader's first look at the cache found.
pub(crate) enum Look<'a, K, V, S> {
    /// The answer: a fresh value, a stale one whose reload is handled
    /// elsewhere (a reloader, or a load already running), or a remembered
    /// absence.
    Answer(Option<V>),
    /// A value due for refresh, which this caller reloads with its own
    /// loader (no reloader is configured): it holds the refresh's guard.
    Refresh(PlaceholderGuard<'a, K, V, S>, V),
    /// A miss on `key`, whose hash is `hash`.
    Miss(K, u64),
}

/// What joining a missed key's flight gave.
pub(crate) enum Joined<'a, K, V, S> {
    /// The value appeared meanwhile.
    Ready(V),
    /// This caller loads the key.
    Lead(PlaceholderGuard<'a, K, V, S>),
    /// Another caller loads it: wait for the flight's outcome.
    Wait(Arc<Flight<K, V>>),
    /// The key's load of this kind runs on this thread, below this call.
    Recursive,
}

impl<K, V, S> Cache<K, V, S>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// `key`'s value, or a guard to load it with; waits for another
    /// caller's guard at most
    /// [`load_wait_timeout`](crate::CacheBuilder::load_wait_timeout). The
    /// key is made owned only on a miss. A value due for
    /// [`refresh_after`](crate::CacheBuilder::refresh_after) is returned
    /// as it is, and reloaded by the reloader if there is one.
    ///
    /// Waiters join the loads of [`get_with`](Self::get_with) (and its
    /// async twin) and they join this guard: one load per key. A thread
    /// that asks again for a key whose guard it holds waits for itself,
    /// until the timeout.
    ///
    /// ```
    /// use clockwise::{Cache, GuardResult};
    /// let cache: Cache<String, String> = Cache::new(100);
    /// let value = match cache.get_value_or_guard("user:7") {
    ///     GuardResult::Value(v) => v,
    ///     GuardResult::Guard(guard) => {
    ///         let v = "Ada".to_owned(); // the slow fetch
    ///         guard.insert(v.clone()).ok();
    ///         v
    ///     }
    ///     GuardResult::Timeout => unreachable!("no wait timeout set"),
    /// };
    /// assert_eq!(value, "Ada");
    /// assert_eq!(cache.get("user:7").as_deref(), Some("Ada"));
    /// ```
    pub fn get_value_or_guard<Q>(&self, key: &Q) -> GuardResult<'_, K, V, S>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        let (key, hash) = match self.look_for_guard(key) {
            Ok(v) => return GuardResult::Value(v),
            Err(miss) => miss,
        };
        loop {
            let flight = match self.join_for_guard(&key, hash) {
                Ok(done) => return done,
                Err(flight) => flight,
            };
            let Some(outcome) = flight.wait(self.inner.loading.wait_timeout) else {
                self.count(Counter::WaitTimeout);
                return GuardResult::Timeout;
            };
            if let Outcome::Value(v) = outcome {
                return GuardResult::Value(v);
            }
            // Abandoned or panicked: start over, maybe as the next guard.
        }
    }

    /// `get_value_or_guard`'s look: the value, or the missed key and its
    /// hash. A value due for refresh is returned as it is.
    pub(crate) fn look_for_guard<Q>(&self, key: &Q) -> Result<V, (K, u64)>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        let kind = TypeId::of::<ValueKind>();
        match self.look(KeyIn::Borrowed(key), kind, false) {
            Look::Answer(v) => Ok(v.expect("values only, no absences")),
            Look::Refresh(..) => unreachable!("a guard's caller refreshes nothing itself"),
            Look::Miss(key, hash) => Err((key, hash)),
        }
    }

    /// `get_value_or_guard`'s join: its answer, or the flight to wait for
    /// (counted as a coalesced wait).
    pub(crate) fn join_for_guard(
        &self,
        key: &K,
        hash: u64,
    ) -> Result<GuardResult<'_, K, V, S>, Arc<Flight<K, V>>> {
        match self.join(key, hash, TypeId::of::<ValueKind>()) {
            Joined::Ready(v) => Ok(GuardResult::Value(v)),
            Joined::Lead(guard) => Ok(GuardResult::Guard(guard)),
            // Only a loader's call is listed as running; a guard is not.
            Joined::Recursive => unreachable!("a guard's caller runs no loader"),
            Joined::Wait(flight) => {
                self.count(Counter::CoalescedWaiters);
                Err(flight)
            }
        }
    }

    /// A loader's first look: a hit (fresh, or stale and handled), a
    /// remembered absence, a stale hit this caller refreshes itself
    /// (`own_refresh`, when no reloader is set), or a miss with the key
    /// made owned.
    pub(crate) fn look<Q>(
        &self,
        key: KeyIn<'_, K, Q>,
        kind: TypeId,
        own_refresh: bool,
    ) -> Look<'_, K, V, S>
    where
        K: Borrow<Q>,
        Q: Hash + Equivalent<K> + ToOwned<Owned = K> + ?Sized,
    {
        let hash = self.hash(key.get());
        let hit = {
            let guard = crate::reclaim::pin();
            self.lookup(hash, key.get(), &guard)
                .map(|e| (e.value.clone(), e.written_at()))
        };
        if let Some((value, written_at)) = hit {
            if !self.due_for_refresh(written_at) {
                return Look::Answer(Some(value));
            }
            self.count(Counter::StaleHit);
            let key = key.into_owned();
            if self.inner.reloader.is_some() {
                self.start_reload(&key, hash);
                return Look::Answer(Some(value));
            }
            if !own_refresh {
                return Look::Answer(Some(value));
            }
            // Reload with the caller's loader, unless a load of the key is
            // running: then the stale value is the answer.
            let shard = self.shard_index(hash);
            let Role::Lead(leader) = self.inner.flights.join(shard, &key, kind, |_| None) else {
                return Look::Answer(Some(value));
            };
            self.count(Counter::RefreshStarted);
            return Look::Refresh(self.guard(leader), value);
        }
        let key = key.into_owned();
        if self.negative_hit(&key, kind) {
            return Look::Answer(None);
        }
        Look::Miss(key, hash)
    }

    /// Joins the flight of a missed `key` (hash `hash`) of `kind`, or
    /// starts it unless the value appeared meanwhile.
    pub(crate) fn join(&self, key: &K, hash: u64, kind: TypeId) -> Joined<'_, K, V, S> {
        let shard = self.shard_index(hash);
        match self
            .inner
            .flights
            .join(shard, key, kind, |k| self.peek_hashed(hash, k))
        {
            Role::Ready(v) => Joined::Ready(v),
            Role::Lead(leader) => Joined::Lead(self.guard(leader)),
            Role::Wait(flight) => Joined::Wait(flight),
            Role::Recursive => Joined::Recursive,
        }
    }

    /// The guard of a flight this caller leads; the load's timing starts.
    pub(crate) fn guard(&self, leader: Leader<K, V>) -> PlaceholderGuard<'_, K, V, S> {
        PlaceholderGuard {
            cache: self,
            leader,
            sample: self.start_load(),
        }
    }

    /// Whether an optional loader's miss on `key` is answered by a
    /// remembered absence (counted as a negative hit).
    fn negative_hit(&self, key: &K, kind: TypeId) -> bool {
        let hit = kind == TypeId::of::<OptionKind>()
            && self
                .inner
                .negative
                .as_ref()
                .is_some_and(|n| n.contains_key(key));
        if hit {
            self.count(Counter::NegativeHit);
        }
        hit
    }
}

impl<'a, K, V, S> PlaceholderGuard<'a, K, V, S>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// The key this guard loads.
    ///
    /// ```
    /// use clockwise::{Cache, GuardResult};
    /// let cache: Cache<String, u32> = Cache::new(10);
    /// let GuardResult::Guard(guard) = cache.get_value_or_guard("k") else { unreachable!() };
    /// assert_eq!(guard.key(), "k");
    /// ```
    pub fn key(&self) -> &K {
        self.leader.key()
    }

    /// Stores `value` and hands it to every caller waiting for the key.
    /// `Err(value)` if the key was written, removed or invalidated since
    /// the guard was made: the waiters still receive `value`, but the
    /// cache keeps the newer state (as a load that an insert overtook).
    ///
    /// ```
    /// use clockwise::{Cache, GuardResult};
    /// let cache: Cache<u32, u32> = Cache::new(10);
    /// let GuardResult::Guard(guard) = cache.get_value_or_guard(&1) else { unreachable!() };
    /// cache.insert(1, 5); // a newer write overtakes the guard
    /// assert_eq!(guard.insert(4), Err(4));
    /// assert_eq!(cache.get(&1), Some(5));
    /// ```
    pub fn insert(self, value: V) -> Result<(), V> {
        let cache = self.cache;
        cache.finish_load(self.sample);
        cache.count(Counter::LoadSuccess);
        if cache.finish(self.leader, Some(value.clone())) {
            Ok(())
        } else {
            Err(value)
        }
    }

    /// Ends the load with its loader's `result`: counts it, stores a value
    /// or absence, shares an error, or re-raises a panic after telling the
    /// waiters.
    pub(crate) fn settle<E: Send + Sync + 'static>(
        self,
        result: std::thread::Result<Loaded<V, E>>,
    ) -> Result<Option<V>, LoadError<E>> {
        let cache = self.cache;
        cache.finish_load(self.sample);
        match result {
            Err(panic) => {
                cache.count(Counter::LoaderPanic);
                self.leader.abandon_with(Outcome::Panicked);
                resume_unwind(panic)
            }
            Ok(Ok(found)) => {
                cache.count(Counter::LoadSuccess);
                cache.finish(self.leader, found.clone());
                Ok(found)
            }
            Ok(Err(e)) => {
                cache.count(Counter::LoadFailure);
                let e = Arc::new(e);
                let shared: Arc<dyn Any + Send + Sync> = e.clone();
                self.leader.abandon_with(Outcome::Failed(shared));
                Err(LoadError::Failed(e))
            }
        }
    }

    /// Ends a refresh with its loader's `result`: the fresh value (or
    /// absence) stored and returned, or, if it failed, `stale` kept and
    /// returned; a panic is re-raised after telling the waiters.
    pub(crate) fn refresh<E: Send + Sync + 'static>(
        self,
        result: std::thread::Result<Loaded<V, E>>,
        stale: V,
    ) -> Option<V> {
        let cache = self.cache;
        cache.finish_load(self.sample);
        match result {
            Err(panic) => {
                cache.count(Counter::RefreshFailed);
                cache.count(Counter::LoaderPanic);
                self.leader.abandon_with(Outcome::Panicked);
                resume_unwind(panic)
            }
            Ok(Ok(found)) => {
                cache.count(Counter::RefreshSucceeded);
                cache.finish(self.leader, found.clone());
                found
            }
            Ok(Err(e)) => {
                // Keep the old value; callers that missed meanwhile and
                // joined this flight get the error.
                cache.count(Counter::RefreshFailed);
                let shared: Arc<dyn Any + Send + Sync> = Arc::new(e);
                self.leader.abandon_with(Outcome::Failed(shared));
                Some(stale)
            }
        }
    }

    /// Calls `load` as this guard's loader, catching a panic. While it
    /// runs, the load is listed as running on this thread, so that the
    /// loader asking for its own key is told, not left waiting.
    pub(crate) fn call<R>(&self, load: impl FnOnce() -> R) -> std::thread::Result<R> {
        let _running = self.leader.running();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(load))
    }

    /// [`call`](Self::call)'s listing for one poll of an async loader.
    #[cfg(feature = "async")]
    pub(crate) fn running(&self) -> crate::flight::LoaderRunning {
        self.leader.running()
    }
}
