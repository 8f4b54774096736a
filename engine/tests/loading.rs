//! Single-flight loading, deterministically: 64 threads miss one key at
//! once and the loader does not finish until all the others are waiting.

use clockwise::{Cache, LoadError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const THREADS: usize = 64;

fn cache() -> Cache<u64, u64> {
    Cache::builder().max_capacity(1_000).build()
}

/// Spins (bounded) until `cond` holds; panics after 20 s so a broken
/// protocol fails instead of hanging.
fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `call` on 64 threads released together; returns their results.
fn herd<R: Send>(call: impl Fn() -> R + Sync) -> Vec<R> {
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    call()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn sixty_four_misses_run_one_loader() {
    let c = cache();
    let loads = AtomicUsize::new(0);
    let got = herd(|| {
        c.get_with(7, || {
            loads.fetch_add(1, Ordering::SeqCst);
            until("63 waiters", || c.stats().coalesced_waiters() == 63);
            700
        })
    });
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert!(got.iter().all(|&v| v == 700));
    let s = c.stats();
    assert_eq!(s.coalesced_waiters(), 63);
    assert_eq!(s.load_successes(), 1);
    assert_eq!(s.load_latency().unwrap().count(), 1);
    assert_eq!(c.get(&7), Some(700));
}

#[test]
fn an_error_is_shared_by_every_waiter_and_not_cached() {
    let c = cache();
    let loads = AtomicUsize::new(0);
    let got = herd(|| {
        c.try_get_with(7, || {
            loads.fetch_add(1, Ordering::SeqCst);
            until("63 waiters", || c.stats().coalesced_waiters() == 63);
            Err::<u64, String>("database down".into())
        })
    });
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    let errors: Vec<Arc<String>> = got
        .into_iter()
        .map(|r| match r {
            Err(LoadError::Failed(e)) => e,
            other => panic!("expected the loader's error, got {other:?}"),
        })
        .collect();
    assert!(errors.iter().all(|e| Arc::ptr_eq(e, &errors[0])));
    assert_eq!(*errors[0], "database down");
    assert_eq!(c.stats().load_failures(), 1);
    assert_eq!(c.get(&7), None);
    // The next caller loads afresh.
    assert_eq!(c.try_get_with(7, || Ok::<_, String>(1)).unwrap(), 1);
}

#[test]
fn a_panicking_loader_panics_its_caller_and_releases_the_waiters() {
    let c = cache();
    let got = herd(|| {
        catch_unwind(AssertUnwindSafe(|| {
            c.try_get_with(7, || -> Result<u64, String> {
                until("63 waiters", || c.stats().coalesced_waiters() == 63);
                panic!("loader bug")
            })
        }))
    });
    let panicked = got.iter().filter(|r| r.is_err()).count();
    let released = got
        .iter()
        .filter(|r| matches!(r, Ok(Err(LoadError::LoaderPanicked))))
        .count();
    assert_eq!((panicked, released), (1, 63));
    assert_eq!(c.stats().loader_panics(), 1);
    assert_eq!(c.get(&7), None);
    assert_eq!(c.try_get_with(7, || Ok::<_, String>(2)).unwrap(), 2);
}

#[test]
fn get_with_waiters_load_afresh_after_a_panic() {
    let c = cache();
    let calls = AtomicUsize::new(0);
    let got = herd(|| {
        catch_unwind(AssertUnwindSafe(|| {
            c.get_with(7, || {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    until("63 waiters", || c.stats().coalesced_waiters() >= 63);
                    panic!("first load fails");
                }
                70
            })
        }))
    });
    assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
    assert_eq!(got.iter().filter(|r| matches!(r, Ok(70))).count(), 63);
    // The panic's waiters retried; one of them led the second load.
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(c.get(&7), Some(70));
}

#[test]
fn waiters_time_out_and_the_load_still_lands() {
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .load_wait_timeout(Duration::from_millis(20))
        .build();
    let got = herd(|| {
        c.try_get_with(7, || {
            until("63 timeouts", || c.stats().wait_timeouts() == 63);
            Ok::<_, String>(77)
        })
    });
    let timeouts = got
        .iter()
        .filter(|r| matches!(r, Err(LoadError::WaitTimeout)))
        .count();
    assert_eq!(timeouts, 63);
    assert_eq!(got.iter().filter(|r| matches!(r, Ok(77))).count(), 1);
    assert_eq!(c.get(&7), Some(77));
}

#[test]
fn get_with_runs_its_own_loader_after_a_wait_timeout() {
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .load_wait_timeout(Duration::from_millis(10))
        .build();
    let release = Barrier::new(2);
    std::thread::scope(|s| {
        let slow = s.spawn(|| {
            c.get_with(7, || {
                release.wait();
                until("the waiter's timeout", || c.stats().wait_timeouts() == 1);
                1
            })
        });
        release.wait();
        assert_eq!(c.get_with(7, || 2), 2, "the waiter loaded itself");
        assert_eq!(slow.join().unwrap(), 1);
    });
}

#[test]
fn invalidation_during_a_load_keeps_its_value_out_of_the_cache() {
    let c = cache();
    let started = Barrier::new(2);
    let invalidated = Barrier::new(2);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            c.get_with(7, || {
                started.wait();
                invalidated.wait();
                70
            })
        });
        let waiter = s.spawn(|| {
            started.wait();
            // Join the flight, then let the invalidation happen.
            let w = s.spawn(|| c.get_with(7, || unreachable!("joins the load")));
            until("the waiter", || c.stats().coalesced_waiters() == 1);
            c.invalidate(&7);
            invalidated.wait();
            w.join().unwrap()
        });
        assert_eq!(
            leader.join().unwrap(),
            70,
            "the caller still gets its value"
        );
        assert_eq!(waiter.join().unwrap(), 70, "and so does the waiter");
    });
    assert_eq!(
        c.get(&7),
        None,
        "a value loaded before an invalidation is not cached"
    );
    assert_eq!(c.get_with(7, || 71), 71);
}

#[test]
fn an_insert_during_a_load_is_not_overwritten_by_the_older_loaded_value() {
    let c = cache();
    let started = Barrier::new(2);
    let inserted = Barrier::new(2);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            c.get_with(7, || {
                started.wait();
                inserted.wait();
                70 // read from the source before the insert below
            })
        });
        started.wait();
        c.insert(7, 71);
        inserted.wait();
        assert_eq!(
            leader.join().unwrap(),
            70,
            "the loading caller gets its value"
        );
    });
    assert_eq!(c.get(&7), Some(71), "the newer insert stays");
    // Same for a refresh-ahead reload, and inserts of other keys of the
    // shard do not disturb a load.
    let (clock, mock) = clockwise::stats::Clock::mock();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .shards(1)
        .refresh_after(Duration::from_secs(10))
        .clock(clock)
        .build();
    c.insert(7, 1);
    mock.increment(Duration::from_secs(11));
    let started = Barrier::new(2);
    let inserted = Barrier::new(2);
    std::thread::scope(|s| {
        let refresher = s.spawn(|| {
            c.get_with(7, || {
                started.wait();
                inserted.wait();
                2
            })
        });
        started.wait();
        c.insert(8, 80);
        c.insert(7, 3);
        inserted.wait();
        assert_eq!(refresher.join().unwrap(), 2);
    });
    assert_eq!(c.get(&7), Some(3));
    assert_eq!(c.get(&8), Some(80));
    assert_eq!(c.get_with(9, || 90), 90, "a load after them stores");
    assert_eq!(c.get(&9), Some(90));
}

#[test]
fn refresh_ahead_reloads_once_and_serves_stale_meanwhile() {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .refresh_after(Duration::from_secs(10))
        .clock(clock)
        .build();
    assert_eq!(c.get_with(7, || 1), 1);
    mock.increment(Duration::from_secs(11));
    let reloads = AtomicUsize::new(0);
    let got = herd(|| {
        c.get_with(7, || {
            reloads.fetch_add(1, Ordering::SeqCst);
            until("63 stale hits", || c.stats().stale_hits() == 64);
            2
        })
    });
    assert_eq!(reloads.load(Ordering::SeqCst), 1);
    assert_eq!(
        got.iter().filter(|&&v| v == 1).count(),
        63,
        "stale values at once"
    );
    assert_eq!(
        got.iter().filter(|&&v| v == 2).count(),
        1,
        "the reloader's fresh one"
    );
    let s = c.stats();
    assert_eq!((s.refreshes_started(), s.refreshes_succeeded()), (1, 1));
    // Both loads are timed: the first and the refresh.
    assert_eq!(s.load_latency().unwrap().count(), 2);
    assert_eq!(c.get(&7), Some(2));
    // Fresh again: no reload.
    assert_eq!(c.get_with(7, || unreachable!()), 2);
}

#[test]
fn a_failed_refresh_keeps_the_old_value() {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .refresh_after(Duration::from_secs(10))
        .time_to_live(Duration::from_secs(60))
        .clock(clock)
        .build();
    assert_eq!(c.try_get_with(7, || Ok::<_, String>(1)).unwrap(), 1);
    mock.increment(Duration::from_secs(11));
    assert_eq!(c.try_get_with(7, || Err("down".to_owned())).unwrap(), 1);
    assert_eq!(c.stats().refreshes_failed(), 1);
    assert_eq!(c.get(&7), Some(1));
    // Until its TTL.
    mock.increment(Duration::from_secs(50));
    assert_eq!(c.get(&7), None);
}

#[test]
fn negative_caching_remembers_absence_for_its_ttl() {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .negative_ttl(Duration::from_secs(5))
        .clock(clock.clone())
        .build();
    let loads = AtomicUsize::new(0);
    let load = || {
        loads.fetch_add(1, Ordering::SeqCst);
        None
    };
    assert_eq!(c.optionally_get_with(7, load), None);
    assert_eq!(c.optionally_get_with(7, load), None);
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(c.stats().negative_hits(), 1);
    // An insert clears the absence.
    c.insert(7, 70);
    assert_eq!(c.optionally_get_with(7, load), Some(70));
    c.invalidate(&7);
    assert_eq!(c.optionally_get_with(7, load), None);
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    let _ = mock;
}

#[test]
fn negative_entries_expire() {
    // The side cache keeps its own (real) clock: a short TTL and a sleep.
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .negative_ttl(Duration::from_millis(30))
        .build();
    let loads = AtomicUsize::new(0);
    let load = || {
        loads.fetch_add(1, Ordering::SeqCst);
        None
    };
    assert_eq!(c.optionally_get_with(7, load), None);
    assert_eq!(c.optionally_get_with(7, load), None);
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(c.optionally_get_with(7, load), None);
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

#[test]
fn an_absence_found_before_an_invalidation_is_not_remembered() {
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .negative_ttl(Duration::from_secs(60))
        .build();
    let started = Barrier::new(2);
    let invalidated = Barrier::new(2);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            c.optionally_get_with(7, || {
                started.wait();
                invalidated.wait();
                None
            })
        });
        started.wait();
        c.invalidate(&7);
        invalidated.wait();
        assert_eq!(leader.join().unwrap(), None);
    });
    // Not remembered: the next lookup loads.
    assert_eq!(c.optionally_get_with(7, || Some(1)), Some(1));
    assert_eq!(c.stats().negative_hits(), 0);
}

#[test]
fn different_result_types_do_not_share_a_flight() {
    let c = cache();
    let started = Barrier::new(2);
    std::thread::scope(|s| {
        let slow = s.spawn(|| {
            c.try_get_with(7, || {
                started.wait();
                until("the other load", || c.stats().load_successes() == 1);
                Err::<u64, String>("slow error".into())
            })
        });
        started.wait();
        // A loader with another error type does not receive a String error.
        assert_eq!(c.try_get_with(7, || Ok::<_, std::io::Error>(5)).unwrap(), 5);
        assert!(slow.join().unwrap().is_err());
    });
    assert_eq!(c.get(&7), Some(5));
}

/// A key that counts its clones (its `to_owned`).
#[derive(PartialEq, Eq, Hash, Debug)]
struct CountedKey(u32);

static KEY_CLONES: AtomicUsize = AtomicUsize::new(0);

impl Clone for CountedKey {
    fn clone(&self) -> Self {
        KEY_CLONES.fetch_add(1, Ordering::Relaxed);
        CountedKey(self.0)
    }
}

#[test]
fn by_ref_loaders_build_the_owned_key_only_on_a_miss() {
    let clones = || KEY_CLONES.load(Ordering::Relaxed);
    let cache: Cache<CountedKey, u32> = Cache::new(100);
    let before = clones();
    assert_eq!(cache.get_with_by_ref(&CountedKey(1), || 10), 10);
    assert!(clones() > before, "a miss must build the key it inserts");
    let before = clones();
    for _ in 0..10 {
        assert_eq!(
            cache.get_with_by_ref(&CountedKey(1), || unreachable!("cached")),
            10
        );
        let got = cache.try_get_with_by_ref(&CountedKey(1), || Err::<u32, ()>(()));
        assert_eq!(got.unwrap(), 10);
        assert_eq!(
            cache.optionally_get_with_by_ref(&CountedKey(1), || None),
            Some(10)
        );
    }
    assert_eq!(clones(), before, "a hit built the owned key");
    // The other two loaders, on misses.
    assert_eq!(
        cache
            .try_get_with_by_ref(&CountedKey(2), || Ok::<u32, ()>(20))
            .unwrap(),
        20
    );
    assert_eq!(
        cache.optionally_get_with_by_ref(&CountedKey(3), || Some(30)),
        Some(30)
    );
    assert_eq!(cache.get(&CountedKey(2)), Some(20));
    assert_eq!(cache.get(&CountedKey(3)), Some(30));
}

/// Remembered absences age on the cache's clock, a mock one included: a
/// `None` is answered from memory until `negative_ttl` has passed on it.
#[test]
fn remembered_absences_age_on_the_caches_clock() {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .negative_ttl(Duration::from_secs(5))
        .clock(clock)
        .build();
    assert_eq!(c.optionally_get_with(1, || None), None);
    mock.increment(Duration::from_secs(4));
    assert_eq!(
        c.optionally_get_with(1, || unreachable!("remembered")),
        None
    );
    mock.increment(Duration::from_secs(2));
    assert_eq!(c.optionally_get_with(1, || Some(10)), Some(10));
    assert_eq!(c.stats().negative_hits(), 1);
}
