//! Loading on a miss: `get_with`, `try_get_with`, `optionally_get_with`,
//! with single flight ([`crate::flight`]), negative caching, refresh-ahead
//! and wait timeouts.

use crate::cache::{nanos, Cache};
use crate::flight::{Leader, Outcome};
use crate::guard::{Joined, KeyIn, Look};
use crate::metrics::Counter;
use crate::Equivalent;
use std::any::TypeId;
use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

/// Why a load gave no value.
///
/// ```
/// use clockwise::LoadError;
/// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(10).build();
/// let err = cache.try_get_with(1, || Err::<u32, _>("database down")).unwrap_err();
/// assert!(matches!(&err, LoadError::Failed(e) if **e == "database down"));
/// assert_eq!(cache.get(&1), None); // errors are not cached
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError<E> {
    /// The loader returned this error; every caller that waited for the same
    /// load receives the same `Arc`.
    Failed(Arc<E>),
    /// This caller waited `load_wait_timeout` for another caller's load and
    /// gave up. The load goes on; its value is cached when it arrives.
    WaitTimeout,
    /// The loader this caller waited for panicked. The panic went to the
    /// caller whose loader it was; the key is left absent.
    LoaderPanicked,
    /// The loader of this key asked for the same key (through a loader of
    /// the same kind) on its own thread: waiting for that load would wait
    /// for itself. A programming error; the outer load goes on, and nothing
    /// is left waiting. (`get_with` and `optionally_get_with`, which return
    /// no error, panic with [`RECURSIVE_LOAD`] instead.)
    ///
    /// ```
    /// use clockwise::LoadError;
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(10).build();
    /// let inner = cache.try_get_with(1, || {
    ///     let inner = cache.try_get_with(1, || Ok::<u32, ()>(2));
    ///     assert!(matches!(inner, Err(LoadError::RecursiveLoad)));
    ///     Ok::<u32, ()>(1)
    /// });
    /// assert_eq!(inner.unwrap(), 1);
    /// ```
    RecursiveLoad,
}

/// The panic message of a recursive `get_with` or `optionally_get_with`
/// (see [`LoadError::RecursiveLoad`]).
///
/// ```
/// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(10).build();
/// use std::panic::{catch_unwind, AssertUnwindSafe};
/// let outer = catch_unwind(AssertUnwindSafe(|| cache.get_with(1, || cache.get_with(1, || 2))));
/// let message = *outer.unwrap_err().downcast::<String>().unwrap();
/// assert_eq!(message, clockwise::RECURSIVE_LOAD);
/// assert_eq!(cache.get_with(1, || 3), 3); // nothing is left waiting
/// ```
pub const RECURSIVE_LOAD: &str =
    "clockwise: a loader asked the cache for its own key on its own thread (a recursive load)";

impl<E> Clone for LoadError<E> {
    fn clone(&self) -> Self {
        match self {
            LoadError::Failed(e) => LoadError::Failed(Arc::clone(e)),
            LoadError::WaitTimeout => LoadError::WaitTimeout,
            LoadError::LoaderPanicked => LoadError::LoaderPanicked,
            LoadError::RecursiveLoad => LoadError::RecursiveLoad,
        }
    }
}

impl<E: fmt::Display> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Failed(e) => write!(f, "loader failed: {e}"),
            LoadError::WaitTimeout => f.write_str("gave up waiting for another caller's load"),
            LoadError::LoaderPanicked => f.write_str("the loader this call waited for panicked"),
            LoadError::RecursiveLoad => f.write_str(&RECURSIVE_LOAD["clockwise: ".len()..]),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for LoadError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Failed(e) => Some(&**e),
            _ => None,
        }
    }
}

/// A recursive load's answer: a typed error where the caller takes one,
/// else a panic naming the recursion.
pub(crate) fn recursive<V, E>(fallback: Fallback) -> Result<Option<V>, LoadError<E>> {
    match fallback {
        Fallback::Report => Err(LoadError::RecursiveLoad),
        Fallback::LoadItself => panic!("{RECURSIVE_LOAD}"),
    }
}

/// Flight kinds: callers only join loads whose result type is theirs.
pub(crate) struct ValueKind;
pub(crate) struct OptionKind;
pub(crate) struct ResultKind<E>(std::marker::PhantomData<E>);

/// What a waiter does when its leader panicked or its wait timed out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// Report it (`try_get_with`).
    Report,
    /// Load anyway: retry as a possible leader after a panic, or call its own
    /// loader after a timeout (`get_with`, `optionally_get_with`).
    LoadItself,
}

/// The loader in the common shape: `Ok(None)` means "absent".
pub(crate) type Loaded<V, E> = Result<Option<V>, E>;

impl<K, V, S> Cache<K, V, S>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// The value of `key`, loaded by `load` on a miss. Concurrent misses on
    /// one key run one loader; the others wait for its value
    /// (`coalesced_waiters`). If that loader panics, the panic reaches its
    /// own caller and a waiter loads afresh; a waiter that times out
    /// ([`load_wait_timeout`](crate::CacheBuilder::load_wait_timeout)) calls
    /// its own `load`.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, String> = clockwise::Cache::builder().max_capacity(100).build();
    /// assert_eq!(cache.get_with(1, || "one".to_owned()), "one");
    /// assert_eq!(cache.get_with(1, || unreachable!("cached")), "one");
    /// ```
    pub fn get_with(&self, key: K, load: impl FnOnce() -> V) -> V {
        self.get_with_in::<K>(KeyIn::Owned(key), load)
    }

    /// [`get_with`](Self::get_with) by a borrowed form of the key (`&str`
    /// for `String`), made owned only on a miss.
    ///
    /// ```
    /// let cache: clockwise::Cache<String, usize> = clockwise::Cache::new(100);
    /// assert_eq!(cache.get_with_by_ref("four", || 4), 4); // builds "four" once
    /// assert_eq!(cache.get_with_by_ref("four", || unreachable!("cached")), 4);
    /// ```
    pub fn get_with_by_ref<Q>(&self, key: &Q, load: impl FnOnce() -> V) -> V
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        self.get_with_in(KeyIn::Borrowed(key), load)
    }

    fn get_with_in<Q>(&self, key: KeyIn<'_, K, Q>, load: impl FnOnce() -> V) -> V
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Equivalent<K> + ?Sized,
    {
        let mut load = Some(load);
        let got = self.load(
            key,
            TypeId::of::<ValueKind>(),
            Fallback::LoadItself,
            &mut || Ok::<_, std::convert::Infallible>(Some(take(&mut load)())),
        );
        match got {
            Ok(Some(v)) => v,
            Ok(None) => unreachable!("a value loader never reports absence"),
            Err(LoadError::Failed(e)) => match *e {},
            Err(_) => unreachable!("get_with loads itself instead of failing"),
        }
    }

    /// Like [`get_with`](Self::get_with) for a loader that can fail. Errors
    /// are not cached; every caller that waited for the failed load gets
    /// the same `Arc`'d error. Waiters get [`LoadError::WaitTimeout`] after
    /// `load_wait_timeout` and [`LoadError::LoaderPanicked`] if the loader
    /// panicked.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(100).build();
    /// assert_eq!(cache.try_get_with(1, || "1".parse::<u32>()).unwrap(), 1);
    /// assert!(cache.try_get_with(2, || "x".parse::<u32>()).is_err());
    /// ```
    pub fn try_get_with<E>(
        &self,
        key: K,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, LoadError<E>>
    where
        E: Send + Sync + 'static,
    {
        self.try_get_with_in::<K, E>(KeyIn::Owned(key), load)
    }

    /// [`try_get_with`](Self::try_get_with) by a borrowed form of the key,
    /// made owned only on a miss.
    ///
    /// ```
    /// let cache: clockwise::Cache<String, u32> = clockwise::Cache::new(100);
    /// assert_eq!(cache.try_get_with_by_ref("7", || "7".parse::<u32>()).unwrap(), 7);
    /// assert!(cache.try_get_with_by_ref("x", || "x".parse::<u32>()).is_err());
    /// assert!(!cache.contains_key("x")); // errors are not cached
    /// ```
    pub fn try_get_with_by_ref<Q, E>(
        &self,
        key: &Q,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, LoadError<E>>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
        E: Send + Sync + 'static,
    {
        self.try_get_with_in(KeyIn::Borrowed(key), load)
    }

    fn try_get_with_in<Q, E>(
        &self,
        key: KeyIn<'_, K, Q>,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, LoadError<E>>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Equivalent<K> + ?Sized,
        E: Send + Sync + 'static,
    {
        let mut load = Some(load);
        let got = self.load(
            key,
            TypeId::of::<ResultKind<E>>(),
            Fallback::Report,
            &mut || take(&mut load)().map(Some),
        )?;
        Ok(got.expect("a value loader never reports absence"))
    }

    /// Like [`get_with`](Self::get_with) for a loader that may find nothing.
    /// With [`negative_ttl`](crate::CacheBuilder::negative_ttl), a `None`
    /// is remembered that long (`negative_hit` counts lookups it answers);
    /// only the caller that ran the load records it.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(100).build();
    /// assert_eq!(cache.optionally_get_with(1, || None), None);
    /// assert_eq!(cache.optionally_get_with(1, || Some(5)), Some(5));
    /// ```
    pub fn optionally_get_with(&self, key: K, load: impl FnOnce() -> Option<V>) -> Option<V> {
        self.optionally_get_with_in::<K>(KeyIn::Owned(key), load)
    }

    /// [`optionally_get_with`](Self::optionally_get_with) by a borrowed form
    /// of the key, made owned only on a miss.
    ///
    /// ```
    /// let cache: clockwise::Cache<String, u32> = clockwise::Cache::new(100);
    /// assert_eq!(cache.optionally_get_with_by_ref("a", || None), None);
    /// assert_eq!(cache.optionally_get_with_by_ref("a", || Some(1)), Some(1));
    /// ```
    pub fn optionally_get_with_by_ref<Q>(
        &self,
        key: &Q,
        load: impl FnOnce() -> Option<V>,
    ) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        self.optionally_get_with_in(KeyIn::Borrowed(key), load)
    }

    fn optionally_get_with_in<Q>(
        &self,
        key: KeyIn<'_, K, Q>,
        load: impl FnOnce() -> Option<V>,
    ) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Equivalent<K> + ?Sized,
    {
        let mut load = Some(load);
        let got = self.load(
            key,
            TypeId::of::<OptionKind>(),
            Fallback::LoadItself,
            &mut || Ok::<_, std::convert::Infallible>(take(&mut load)()),
        );
        match got {
            Ok(v) => v,
            Err(LoadError::Failed(e)) => match *e {},
            Err(_) => unreachable!("optionally_get_with loads itself instead of failing"),
        }
    }

    /// The shared path of the blocking loaders, by an owned key or a
    /// borrowed form of it, which is made owned the first time it is needed
    /// (a fresh hit never does). `load` is called at most once.
    pub(crate) fn load<Q, E: Send + Sync + 'static>(
        &self,
        key: KeyIn<'_, K, Q>,
        kind: TypeId,
        fallback: Fallback,
        load: &mut dyn FnMut() -> Loaded<V, E>,
    ) -> Result<Option<V>, LoadError<E>>
    where
        K: Borrow<Q>,
        Q: Hash + Equivalent<K> + ToOwned<Owned = K> + ?Sized,
    {
        let (key, hash) = match self.look(key, kind, true) {
            Look::Answer(found) => return Ok(found),
            Look::Refresh(guard, stale) => {
                let result = guard.call(load);
                return Ok(guard.refresh(result, stale));
            }
            Look::Miss(key, hash) => (key, hash),
        };
        loop {
            let flight = match self.join(&key, hash, kind) {
                Joined::Ready(v) => return Ok(Some(v)),
                Joined::Lead(guard) => {
                    let result = guard.call(load);
                    return guard.settle(result);
                }
                Joined::Recursive => return recursive(fallback),
                Joined::Wait(flight) => flight,
            };
            self.count(Counter::CoalescedWaiters);
            match flight.wait(self.inner.loading.wait_timeout) {
                None => {
                    self.count(Counter::WaitTimeout);
                    if fallback == Fallback::Report {
                        return Err(LoadError::WaitTimeout);
                    }
                    // Load without single flight; the insert supersedes the
                    // slow load.
                    let v = load().unwrap_or_else(|_| unreachable!("infallible loaders only"));
                    if let Some(v) = &v {
                        self.insert(key, v.clone());
                    }
                    return Ok(v);
                }
                Some(outcome) => {
                    if let Some(done) = self.outcome(outcome, fallback) {
                        return done;
                    }
                }
            }
        }
    }

    /// Starts timing a load: every load is timed (loads are slow, so the
    /// clock reads are noise).
    pub(crate) fn start_load(&self) -> Option<clockwise_stats::Sample> {
        self.inner
            .stats_metrics()
            .map(|m| m.load_latency().start_always())
    }

    /// Records the latency of a load timed by [`start_load`](Self::start_load).
    pub(crate) fn finish_load(&self, sample: Option<clockwise_stats::Sample>) {
        if let (Some(m), Some(sample)) = (self.inner.stats_metrics(), sample) {
            m.load_latency().finish(sample);
        }
    }

    /// A waiter's view of a finished flight: `None` means start over.
    pub(crate) fn outcome<E: Send + Sync + 'static>(
        &self,
        outcome: Outcome<V>,
        fallback: Fallback,
    ) -> Option<Result<Option<V>, LoadError<E>>> {
        Some(match outcome {
            Outcome::Value(v) => Ok(Some(v)),
            Outcome::Absent => Ok(None),
            Outcome::Failed(e) => {
                let e = e
                    .downcast::<E>()
                    .unwrap_or_else(|_| unreachable!("flights are joined by result type"));
                Err(LoadError::Failed(e))
            }
            Outcome::Panicked if fallback == Fallback::Report => Err(LoadError::LoaderPanicked),
            // The leader panicked or was dropped: start over, maybe as the
            // next leader.
            Outcome::Panicked | Outcome::Abandoned => return None,
        })
    }

    /// Ends a successful flight: stores the value (or the absence) unless
    /// the key was invalidated meanwhile, then wakes the waiters. Whether
    /// it stored.
    pub(crate) fn finish(&self, leader: Leader<K, V>, found: Option<V>) -> bool {
        let key = leader.key().clone();
        let hash = self.hash(&key);
        // The user's code (clone, weigher) before pinning.
        let outcome = match &found {
            Some(v) => Outcome::Value(v.clone()),
            None => Outcome::Absent,
        };
        let (weight, own_ttl) = self.prepare_write(hash, &key, found.as_ref());
        let guard = crate::reclaim::pin();
        let mut removed = crate::shard::Unlinked::new();
        let (invalidated, ()) = leader.finish(outcome, |invalidated| {
            if invalidated {
                return;
            }
            match found {
                Some(v) => {
                    self.write_with(hash, key, v, weight, own_ttl, &guard, &mut removed, None);
                }
                None => {
                    // The key is absent now: drop a stale entry (a refresh
                    // that found nothing) and remember the absence.
                    let cause = crate::RemovalCause::Explicit;
                    self.remove_hashed(hash, &key, cause, &guard, &mut removed, None);
                    if let Some(negative) = &self.inner.negative {
                        negative.insert(key, ());
                    }
                }
            }
        });
        self.report(removed, guard);
        !invalidated
    }

    /// A write's weight and own time to live, for `key` (hash `hash`) and
    /// the value it writes if any: the user's code (weigher, expiry), run
    /// before the writer pins or locks anything.
    pub(crate) fn prepare_write(
        &self,
        hash: u64,
        key: &K,
        value: Option<&V>,
    ) -> (u32, Option<std::time::Duration>) {
        let weight = value.map_or(1, |v| self.weigh(key, v));
        let own_ttl = match (value, &self.inner.expiry) {
            (Some(v), Some(expiry)) => Some(self.expire_after_write(expiry.as_ref(), hash, key, v)),
            _ => None,
        };
        (weight, own_ttl)
    }

    /// Whether a value written at `written_at` is due for refresh.
    pub(crate) fn due_for_refresh(&self, written_at: u64) -> bool {
        self.inner
            .loading
            .refresh_after
            .is_some_and(|age| self.now().saturating_sub(written_at) >= nanos(age))
    }

    pub(crate) fn count(&self, counter: Counter) {
        if let Some(m) = self.inner.stats_metrics() {
            m.counters.add(counter as usize, 1);
        }
    }
}

fn take<F>(slot: &mut Option<F>) -> F {
    slot.take().expect("a loader is called at most once")
}
