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
use crate::flight::{Flight, Outcome, Role};
use crate::loading::{Fallback, Loaded, OptionKind, ResultKind, ValueKind};
use crate::metrics::Counter;
use crate::LoadError;
use std::any::TypeId;
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
async fn wait_at_most<K, V: Clone>(
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

    async fn load_async<E: Send + Sync + 'static>(
        &self,
        key: K,
        kind: TypeId,
        fallback: Fallback,
        load: impl Future<Output = Loaded<V, E>>,
    ) -> Result<Option<V>, LoadError<E>> {
        let hash = self.hash(&key);
        let hit = {
            let guard = crate::reclaim::pin();
            self.lookup(hash, &key, &guard)
                .map(|e| (e.value.clone(), e.written_at()))
        };
        if let Some((value, written_at)) = hit {
            if !self.due_for_refresh(written_at) {
                return Ok(Some(value));
            }
            self.count(Counter::StaleHit);
            if self.inner.reloader.is_some() {
                self.start_reload(&key, hash);
                return Ok(Some(value));
            }
            // This caller refreshes with its own future, as the blocking
            // loaders do, unless a load of the key is running.
            let Some((leader, sample)) = self.begin_refresh(&key, hash, kind) else {
                return Ok(Some(value));
            };
            let mut load = CatchUnwind(Box::pin(load));
            let result = std::future::poll_fn(|cx| {
                let _running = leader.running();
                Pin::new(&mut load).poll(cx)
            })
            .await;
            return Ok(self.end_refresh(leader, sample, result, value));
        }
        if self.negative_hit(&key, kind) {
            return Ok(None);
        }
        let shard = self.shard_index(hash);
        let mut load = Some(load);
        loop {
            let flight: Arc<Flight<K, V>> = match self
                .inner
                .flights
                .join(shard, &key, kind, |k| self.peek_hashed(hash, k))
            {
                Role::Ready(v) => return Ok(Some(v)),
                Role::Recursive => return crate::loading::recursive(fallback),
                Role::Lead(leader) => {
                    let load = load.take().expect("a loader is awaited at most once");
                    let sample = self.start_load();
                    // Dropping this future here drops `leader`, which
                    // ends the flight as abandoned. Each poll of the loader
                    // is marked as running it on the polling thread.
                    let mut load = CatchUnwind(Box::pin(load));
                    let result = std::future::poll_fn(|cx| {
                        let _running = leader.running();
                        Pin::new(&mut load).poll(cx)
                    })
                    .await;
                    return self.settle(leader, sample, result);
                }
                Role::Wait(flight) => flight,
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
