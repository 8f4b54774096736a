//! `get_with_async`, `try_get_with_async` and `optionally_get_with_async`
//! (cargo feature `async`): single-flight loading from futures, with no
//! executor dependency.
//!
//! Waiters park on the flight's waker list, not a thread. If the future of
//! the caller running the load is dropped (cancelled), the flight ends as
//! abandoned and a waiter takes over with its own future, so no waiter
//! hangs. `load_wait_timeout` bounds a waiter's wait as for the blocking
//! loaders, timed by `futures-timer` (one helper thread for the process, so
//! any executor works); dropping a waiting future is always safe too.
//! `refresh_after` (a reloader's or the caller's future) and negative
//! caching apply as to the blocking loaders.

use crate::cache::Cache;
use crate::flight::{Flight, Outcome};
use crate::guard::{GuardResult, Joined, KeyIn, Look, PlaceholderGuard};
use crate::loading::{Fallback, Loaded, OptionKind, ResultKind, ValueKind};
use crate::metrics::Counter;
use crate::Equivalent;
use crate::LoadError;
use std::any::TypeId;
use std::borrow::Borrow;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Polls a boxed future, turning a panic into `Err`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// Resolves when a flight has an outcome.
struct Wait<'a, K, V>(&'a Flight<K, V>);

impl<K, V: Clone> Future for Wait<'_, K, V> {
    type Output = Outcome<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<V>> {
        match self.0.poll(cx.waker()) {
            Some(outcome) => Poll::Ready(outcome),
            None => Poll::Pending,
        }
    }
}

/// The flight's outcome, or `None` once `timeout` has passed.
pub(crate) async fn wait_at_most<K, V: Clone>(
    flight: &Flight<K, V>,
    timeout: Option<std::time::Duration>,
) -> Option<Outcome<V>> {
    let mut wait = Wait(flight);
    // A timeout past what the clock can represent waits without one.
    let timeout = timeout.filter(|&t| std::time::Instant::now().checked_add(t).is_some());
    let Some(timeout) = timeout else {
        return Some(wait.await);
    };
    let mut delay = futures_timer::Delay::new(timeout);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(outcome) = Pin::new(&mut wait).poll(cx) {
            return Poll::Ready(Some(outcome));
        }
        Pin::new(&mut delay).poll(cx).map(|()| None)
    })
    .await
}

/// Awaits `load` as `guard`'s loader, catching a panic; each poll is
/// listed as running the guard's load on the polling thread.
async fn poll_as<K, V, S, T>(
    guard: &PlaceholderGuard<'_, K, V, S>,
    load: impl Future<Output = T>,
) -> std::thread::Result<T>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    poll_listed(|| guard.running(), load).await
}

/// Awaits `fut`, catching a panic, with the mark `listed` makes held
/// across each poll (a flight listed as running on the polling thread).
pub(crate) async fn poll_listed<T>(
    listed: impl Fn() -> crate::flight::LoaderRunning,
    fut: impl Future<Output = T>,
) -> std::thread::Result<T> {
    let mut fut = CatchUnwind(Box::pin(fut));
    std::future::poll_fn(|cx| {
        let _running = listed();
        Pin::new(&mut fut).poll(cx)
    })
    .await
}

impl<K, V, S> Cache<K, V, S>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// The value of `key`, awaiting `load` on a miss; concurrent misses on
    /// one key await one load. If the loading caller's future is dropped, a
    /// waiter loads with its own future instead.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(10).build();
    /// let v = futures_lite::future::block_on(cache.get_with_async(1, async { 10 }));
    /// assert_eq!(v, 10);
    /// ```
    pub async fn get_with_async(&self, key: K, load: impl Future<Output = V>) -> V {
        self.get_with_async_in::<K>(KeyIn::Owned(key), load).await
    }

    /// [`get_with_async`](Self::get_with_async) by a borrowed form of the
    /// key, made owned only on a miss.
    ///
    /// ```
    /// let cache: clockwise::Cache<String, usize> = clockwise::Cache::new(10);
    /// let v = futures_lite::future::block_on(cache.get_with_by_ref_async("four", async { 4 }));
    /// assert_eq!(v, 4);
    /// ```
    pub async fn get_with_by_ref_async<Q>(&self, key: &Q, load: impl Future<Output = V>) -> V
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        self.get_with_async_in(KeyIn::Borrowed(key), load).await
    }

    async fn get_with_async_in<Q>(&self, key: KeyIn<'_, K, Q>, load: impl Future<Output = V>) -> V
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Equivalent<K> + ?Sized,
    {
        let got = self
            .load_async(
                key,
                TypeId::of::<ValueKind>(),
                Fallback::LoadItself,
                async { Ok::<_, std::convert::Infallible>(Some(load.await)) },
            )
            .await;
        match got {
            Ok(v) => v.expect("a value loader never reports absence"),
            Err(LoadError::Failed(e)) => match *e {},
            Err(_) => unreachable!("get_with_async loads itself instead of failing"),
        }
    }

    /// Like [`get_with_async`](Self::get_with_async) for a fallible future;
    /// errors are shared by every waiter and not cached, and waiters get
    /// [`LoadError::LoaderPanicked`] if the loading future panicked.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder().max_capacity(10).build();
    /// let r = futures_lite::future::block_on(cache.try_get_with_async(1, async { Err::<u32, _>("down") }));
    /// assert!(r.is_err());
    /// ```
    pub async fn try_get_with_async<E>(
        &self,
        key: K,
        load: impl Future<Output = Result<V, E>>,
    ) -> Result<V, LoadError<E>>
    where
        E: Send + Sync + 'static,
    {
        self.try_get_with_async_in::<K, E>(KeyIn::Owned(key), load)
            .await
    }

    /// [`try_get_with_async`](Self::try_get_with_async) by a borrowed form
    /// of the key, made owned only on a miss.
    ///
    /// ```
    /// let cache: clockwise::Cache<String, u32> = clockwise::Cache::new(10);
    /// let r = cache.try_get_with_by_ref_async("7", async { "7".parse::<u32>() });
    /// assert_eq!(futures_lite::future::block_on(r).unwrap(), 7);
    /// ```
    pub async fn try_get_with_by_ref_async<Q, E>(
        &self,
        key: &Q,
        load: impl Future<Output = Result<V, E>>,
    ) -> Result<V, LoadError<E>>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
        E: Send + Sync + 'static,
    {
        self.try_get_with_async_in(KeyIn::Borrowed(key), load).await
    }

    async fn try_get_with_async_in<Q, E>(
        &self,
        key: KeyIn<'_, K, Q>,
        load: impl Future<Output = Result<V, E>>,
    ) -> Result<V, LoadError<E>>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Equivalent<K> + ?Sized,
        E: Send + Sync + 'static,
    {
        let got = self
            .load_async(
                key,
                TypeId::of::<ResultKind<E>>(),
                Fallback::Report,
                async { load.await.map(Some) },
            )
            .await?;
        Ok(got.expect("a value loader never reports absence"))
    }

    /// Like [`get_with_async`](Self::get_with_async) for a future that may
    /// find nothing; with
    /// [`negative_ttl`](crate::CacheBuilder::negative_ttl), a `None` is
    /// remembered that long.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::builder()
    ///     .max_capacity(10)
    ///     .negative_ttl(std::time::Duration::from_secs(60))
    ///     .build();
    /// let none = futures_lite::future::block_on(cache.optionally_get_with_async(1, async { None }));
    /// assert_eq!(none, None);
    /// // Remembered: this future is not awaited.
    /// let again = cache.optionally_get_with_async(1, async { unreachable!("absent") });
    /// assert_eq!(futures_lite::future::block_on(again), None);
    /// ```
    pub async fn optionally_get_with_async(
        &self,
        key: K,
        load: impl Future<Output = Option<V>>,
    ) -> Option<V> {
        self.optionally_get_with_async_in::<K>(KeyIn::Owned(key), load)
            .await
    }

    /// [`optionally_get_with_async`](Self::optionally_get_with_async) by a
    /// borrowed form of the key, made owned only on a miss.
    ///
    /// ```
    /// let cache: clockwise::Cache<String, u32> = clockwise::Cache::new(10);
    /// let found = cache.optionally_get_with_by_ref_async("a", async { Some(1) });
    /// assert_eq!(futures_lite::future::block_on(found), Some(1));
    /// ```
    pub async fn optionally_get_with_by_ref_async<Q>(
        &self,
        key: &Q,
        load: impl Future<Output = Option<V>>,
    ) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        self.optionally_get_with_async_in(KeyIn::Borrowed(key), load)
            .await
    }

    async fn optionally_get_with_async_in<Q>(
        &self,
        key: KeyIn<'_, K, Q>,
        load: impl Future<Output = Option<V>>,
    ) -> Option<V>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Equivalent<K> + ?Sized,
    {
        let got = self
            .load_async(
                key,
                TypeId::of::<OptionKind>(),
                Fallback::LoadItself,
                async { Ok::<_, std::convert::Infallible>(load.await) },
            )
            .await;
        match got {
            Ok(v) => v,
            Err(LoadError::Failed(e)) => match *e {},
            Err(_) => unreachable!("optionally_get_with_async loads itself instead of failing"),
        }
    }

    /// `key`'s value, or a guard to load it with, as
    /// [`get_value_or_guard`](Self::get_value_or_guard) but awaiting
    /// another caller's guard (at most
    /// [`load_wait_timeout`](crate::CacheBuilder::load_wait_timeout))
    /// instead of blocking. The guard may move between threads.
    ///
    /// ```
    /// use clockwise::{Cache, GuardResult};
    /// let cache: Cache<String, u32> = Cache::new(100);
    /// futures_lite::future::block_on(async {
    ///     let GuardResult::Guard(guard) = cache.get_value_or_guard_async("n").await else {
    ///         unreachable!("an empty cache")
    ///     };
    ///     guard.insert(3).unwrap();
    ///     assert!(matches!(cache.get_value_or_guard_async("n").await, GuardResult::Value(3)));
    /// });
    /// ```
    pub async fn get_value_or_guard_async<Q>(&self, key: &Q) -> GuardResult<'_, K, V, S>
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
            let Some(outcome) = wait_at_most(&flight, self.inner.loading.wait_timeout).await else {
                self.count(Counter::WaitTimeout);
                return GuardResult::Timeout;
            };
            if let Outcome::Value(v) = outcome {
                return GuardResult::Value(v);
            }
        }
    }

    /// The shared path of the async loaders: the blocking loaders' steps
    /// ([`crate::guard`]), with the loader a future and the wait a parked
    /// waker.
    pub(crate) async fn load_async<Q, E: Send + Sync + 'static>(
        &self,
        key: KeyIn<'_, K, Q>,
        kind: TypeId,
        fallback: Fallback,
        load: impl Future<Output = Loaded<V, E>>,
    ) -> Result<Option<V>, LoadError<E>>
    where
        K: Borrow<Q>,
        Q: Hash + Equivalent<K> + ToOwned<Owned = K> + ?Sized,
    {
        let (key, hash) = match self.look(key, kind, true) {
            Look::Answer(found) => return Ok(found),
            Look::Refresh(guard, stale) => {
                let result = poll_as(&guard, load).await;
                return Ok(guard.refresh(result, stale));
            }
            Look::Miss(key, hash) => (key, hash),
        };
        let mut load = Some(load);
        loop {
            let flight = match self.join(&key, hash, kind) {
                Joined::Ready(v) => return Ok(Some(v)),
                Joined::Recursive => return crate::loading::recursive(fallback),
                Joined::Lead(guard) => {
                    // Dropping this future here drops the guard, which ends
                    // the flight as abandoned.
                    let load = load.take().expect("a loader is awaited at most once");
                    let result = poll_as(&guard, load).await;
                    return guard.settle(result);
                }
                Joined::Wait(flight) => flight,
            };
            self.count(Counter::CoalescedWaiters);
            let Some(outcome) = wait_at_most(&flight, self.inner.loading.wait_timeout).await else {
                self.count(Counter::WaitTimeout);
                if fallback == Fallback::Report {
                    return Err(LoadError::WaitTimeout);
                }
                // Load without single flight, as the blocking loaders do;
                // the insert supersedes the slow load.
                let load = load.take().expect("a loader is awaited at most once");
                return match load.await {
                    Ok(found) => {
                        if let Some(v) = &found {
                            self.insert(key, v.clone());
                        }
                        Ok(found)
                    }
                    Err(e) => Err(LoadError::Failed(Arc::new(e))),
                };
            };
            if let Some(done) = self.outcome(outcome, fallback) {
                return done;
            }
        }
    }
}
