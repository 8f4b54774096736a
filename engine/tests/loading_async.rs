//! The async loaders on a real multi-threaded runtime (tokio, a
//! dev-dependency only: the engine itself depends on no executor).
#![cfg(feature = "async")]

use clockwise::{Cache, LoadError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_tasks_await_one_load() {
    let c: Arc<Cache<u64, u64>> = Arc::new(Cache::builder().max_capacity(100).build());
    let loads = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (c, loads) = (c.clone(), loads.clone());
            tokio::spawn(async move {
                let c2 = c.clone();
                c.get_with_async(7, async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    until("63 waiters", || c2.stats().coalesced_waiters() == 63).await;
                    700
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 700);
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(c.stats().coalesced_waiters(), 63);
    assert_eq!(c.get(&7), Some(700));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_loader_hands_the_load_to_a_waiter() {
    let c: Arc<Cache<u64, u64>> = Arc::new(Cache::builder().max_capacity(100).build());
    let leader = {
        let c = c.clone();
        tokio::spawn(async move { c.get_with_async(7, std::future::pending()).await })
    };
    until("the leader to start", || c.stats().misses_absent() == 1).await;
    let waiter = {
        let c = c.clone();
        tokio::spawn(async move { c.get_with_async(7, async { 8 }).await })
    };
    until("the waiter to join", || c.stats().coalesced_waiters() == 1).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    assert_eq!(
        waiter.await.unwrap(),
        8,
        "the waiter took over with its own future"
    );
    assert_eq!(c.get(&7), Some(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_of_a_panicking_future_get_loader_panicked() {
    let c: Arc<Cache<u64, u64>> = Arc::new(Cache::builder().max_capacity(100).build());
    let leader = {
        let c = c.clone();
        tokio::spawn(async move {
            let c2 = c.clone();
            c.try_get_with_async(7, async move {
                until("the waiter", || c2.stats().coalesced_waiters() == 1).await;
                if true {
                    panic!("loader bug");
                }
                Ok::<u64, String>(0)
            })
            .await
        })
    };
    until("the leader to start", || c.stats().misses_absent() == 1).await;
    let waiter = {
        let c = c.clone();
        tokio::spawn(async move {
            c.try_get_with_async(7, async { Ok::<u64, String>(1) })
                .await
        })
    };
    assert!(leader.await.unwrap_err().is_panic());
    assert!(matches!(
        waiter.await.unwrap(),
        Err(LoadError::LoaderPanicked)
    ));
    assert_eq!(c.get(&7), None);
    assert_eq!(c.stats().loader_panics(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_waiters_stop_waiting_after_the_load_wait_timeout() {
    let c: Arc<Cache<u64, u64>> = Arc::new(
        Cache::builder()
            .max_capacity(100)
            .load_wait_timeout(Duration::from_millis(50))
            .build(),
    );
    let release = Arc::new(tokio::sync::Notify::new());
    let leader = {
        let (c, release) = (c.clone(), release.clone());
        tokio::spawn(async move {
            c.try_get_with_async(7, async move {
                release.notified().await;
                Ok::<u64, String>(70)
            })
            .await
        })
    };
    until("the leader to start", || c.stats().misses_absent() == 1).await;
    // A reporting waiter gets the typed error; a get_with_async waiter
    // loads itself once its wait is over. The load still runs.
    let started = tokio::time::Instant::now();
    let timed_out = c
        .try_get_with_async(7, async { Ok::<u64, String>(1) })
        .await;
    assert!(
        matches!(timed_out, Err(LoadError::WaitTimeout)),
        "{timed_out:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(c.stats().wait_timeouts(), 1);
    let other = c.clone();
    let own = tokio::spawn(async move { other.get_with_async(8, async { 80 }).await });
    assert_eq!(own.await.unwrap(), 80, "an unrelated key does not wait");
    // A value waiter on key 7 joins a *value* flight, not the Result one:
    // start one that hangs, then time out behind it.
    let hang = {
        let c = c.clone();
        tokio::spawn(async move { c.get_with_async(9, std::future::pending()).await })
    };
    until("the second leader", || c.stats().misses_absent() == 4).await;
    assert_eq!(c.get_with_async(9, async { 90 }).await, 90);
    assert_eq!(c.stats().wait_timeouts(), 2);
    assert_eq!(
        c.get(&9),
        Some(90),
        "the timed-out waiter's own value is stored"
    );
    hang.abort();
    release.notify_one();
    assert_eq!(leader.await.unwrap().unwrap(), 70);
    assert_eq!(c.get(&7), Some(70), "the slow load still lands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_loader_that_reenters_its_key_is_told_not_left_waiting() {
    let c: Arc<Cache<u64, u64>> = Arc::new(Cache::builder().max_capacity(10).build());
    // try_: a typed error from the inner call; the outer load goes on.
    let inner = {
        let c = c.clone();
        async move {
            match c.try_get_with_async(1, async { Ok::<u64, ()>(2) }).await {
                Err(LoadError::RecursiveLoad) => Ok::<u64, ()>(5),
                _ => Err(()),
            }
        }
    };
    let outer = tokio::time::timeout(Duration::from_secs(20), c.try_get_with_async(1, inner));
    assert_eq!(outer.await.expect("no hang").unwrap(), 5);
    // The plain loader panics, naming the recursion, and nothing is wedged.
    let task = {
        let c = c.clone();
        tokio::spawn(async move {
            let c2 = c.clone();
            c.get_with_async(2, async move { c2.get_with_async(2, async { 3 }).await })
                .await
        })
    };
    let joined = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("no hang");
    let panic = joined.unwrap_err().into_panic();
    assert_eq!(
        panic.downcast_ref::<String>().map(String::as_str),
        Some(clockwise::RECURSIVE_LOAD)
    );
    assert_eq!(c.get_with_async(2, async { 4 }).await, 4);
}

/// `refresh_after` applies to the async loaders as to the blocking ones: a
/// stale hit without a reloader awaits the caller's future, which
/// refreshes the value; with a reloader, the stale value comes back at
/// once and the reloader runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_loaders_refresh_after_their_age() {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .refresh_after(Duration::from_secs(10))
        .clock(clock)
        .build();
    assert_eq!(c.get_with_async(7, async { 70 }).await, 70);
    assert_eq!(
        c.get_with_async(7, async { unreachable!("fresh") }).await,
        70
    );
    mock.increment(Duration::from_secs(11));
    assert_eq!(c.get_with_async(7, async { 71 }).await, 71, "refreshed");
    assert_eq!(c.get(&7), Some(71));
    let stats = c.stats();
    assert_eq!(
        (
            stats.stale_hits(),
            stats.refreshes_started(),
            stats.refreshes_succeeded()
        ),
        (1, 1, 1)
    );
    // A failed refresh keeps the old value.
    mock.increment(Duration::from_secs(11));
    let r = c
        .try_get_with_async(7, async { Err::<u64, _>("down") })
        .await;
    assert_eq!(r.unwrap(), 71);
    assert_eq!(c.stats().refreshes_failed(), 1);

    let (clock, mock) = clockwise::stats::Clock::mock();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .refresh_after(Duration::from_secs(10))
        .reloader(|k: &u64| Some(k * 100))
        .clock(clock)
        .build();
    c.insert(7, 1);
    mock.increment(Duration::from_secs(11));
    assert_eq!(
        c.get_with_async(7, async { unreachable!("reloaded") })
            .await,
        1
    );
    assert_eq!(c.get(&7), Some(700), "the reloader ran");
}

/// `optionally_get_with_async` remembers an absence for `negative_ttl`, as
/// `optionally_get_with` does, and counts the lookups it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_optional_loads_remember_absence() {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .negative_ttl(Duration::from_secs(5))
        .clock(clock)
        .build();
    assert_eq!(c.optionally_get_with_async(1, async { None }).await, None);
    assert_eq!(
        c.optionally_get_with_async(1, async { unreachable!("remembered") })
            .await,
        None
    );
    // The blocking loader sees the same absence.
    assert_eq!(
        c.optionally_get_with(1, || unreachable!("remembered")),
        None
    );
    assert_eq!(c.stats().negative_hits(), 2);
    mock.increment(Duration::from_secs(6));
    assert_eq!(
        c.optionally_get_with_async(1, async { Some(10) }).await,
        Some(10)
    );
    assert_eq!(c.get(&1), Some(10));
}

/// The async guard may cross tasks and threads: a task that got it hands
/// it to another, which fills it; the caller waiting meanwhile gets the
/// value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_moves_to_another_task_and_is_filled_there() {
    use clockwise::GuardResult;
    let c: Arc<Cache<u64, u64>> = Arc::new(Cache::builder().max_capacity(10).build());
    let GuardResult::Guard(guard) = c.get_value_or_guard_async(&1).await else {
        panic!("an empty cache gives a guard");
    };
    let waiter = {
        let c = c.clone();
        tokio::spawn(async move { c.get_with_async(1, async { unreachable!("joins") }).await })
    };
    until("the waiter", || c.stats().coalesced_waiters() == 1).await;
    std::thread::scope(|s| {
        s.spawn(move || guard.insert(10).unwrap());
    });
    assert_eq!(waiter.await.unwrap(), 10);
    assert_eq!(c.get(&1), Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_async_or_insert_with_callers_run_one_init_and_one_is_fresh() {
    let c: Arc<Cache<u64, u64>> = Arc::new(Cache::new(100));
    let inits = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (c, inits) = (c.clone(), inits.clone());
            tokio::spawn(async move {
                let c2 = c.clone();
                c.entry(7)
                    .or_insert_with_async(async move {
                        inits.fetch_add(1, Ordering::SeqCst);
                        until("63 waiters", || c2.stats().coalesced_waiters() == 63).await;
                        70
                    })
                    .await
            })
        })
        .collect();
    let mut fresh = 0;
    for t in tasks {
        let e = t.await.unwrap();
        assert_eq!(*e.value(), 70);
        fresh += usize::from(e.is_fresh());
    }
    assert_eq!((inits.load(Ordering::SeqCst), fresh), (1, 1));
}

/// Async computes that await inside the closure still serialize per key:
/// no increment is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn async_upserts_that_await_lose_no_update() {
    let c: Arc<Cache<u64, u64>> = Arc::new(Cache::new(100));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    c.entry(1)
                        .and_upsert_with_async(|e| async move {
                            tokio::task::yield_now().await;
                            e.map_or(1, |e| e.into_value() + 1)
                        })
                        .await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(c.get(&1), Some(800));
}

/// A compute whose future is dropped mid-closure writes nothing and does
/// not hold up the next compute of its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_async_compute_writes_nothing_and_blocks_nothing() {
    let c: Arc<Cache<u64, u64>> = Arc::new(Cache::new(100));
    c.insert(1, 1);
    let started = Arc::new(tokio::sync::Notify::new());
    let stuck = {
        let (c, started) = (c.clone(), started.clone());
        tokio::spawn(async move {
            c.entry(1)
                .and_compute_with_async(|_| async move {
                    started.notify_one();
                    std::future::pending::<clockwise::Op<u64>>().await
                })
                .await
        })
    };
    started.notified().await;
    stuck.abort();
    assert!(stuck.await.unwrap_err().is_cancelled());
    let next = c
        .entry(1)
        .and_upsert_with_async(|e| async move { e.unwrap().into_value() + 1 });
    let e = tokio::time::timeout(Duration::from_secs(20), next)
        .await
        .expect("the cancelled compute held up the next");
    assert_eq!(e.into_value(), 2);
    c.insert(1, 5);
    assert_eq!(c.get(&1), Some(5));
}
