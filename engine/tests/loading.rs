//! The loaders' suite, run once through the blocking loaders and once
//! through their async twins (cargo feature `async`, each call driven by
//! `block_on` on its own thread): single flight deterministically (64
//! threads miss one key at once and the loader does not finish until all
//! the others are waiting), errors, panics, timeouts, invalidation,
//! refresh, negative caching, keys by reference, and the placeholder
//! guard the loaders are built on.

mod support;

use clockwise::{Cache, GuardResult, LoadError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use support::{CountedKey, Mode};

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

fn sixty_four_misses_run_one_loader<M: Mode>() {
    let c = cache();
    let loads = AtomicUsize::new(0);
    let got = herd(|| {
        M::get_with(&c, 7, || {
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

fn an_error_is_shared_by_every_waiter_and_not_cached<M: Mode>() {
    let c = cache();
    let loads = AtomicUsize::new(0);
    let got = herd(|| {
        M::try_get_with(&c, 7, || {
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
    assert_eq!(M::try_get_with(&c, 7, || Ok::<_, String>(1)).unwrap(), 1);
}

fn a_panicking_loader_panics_its_caller_and_releases_the_waiters<M: Mode>() {
    let c = cache();
    let got = herd(|| {
        catch_unwind(AssertUnwindSafe(|| {
            M::try_get_with(&c, 7, || -> Result<u64, String> {
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
    assert_eq!(M::try_get_with(&c, 7, || Ok::<_, String>(2)).unwrap(), 2);
}

fn get_with_waiters_load_afresh_after_a_panic<M: Mode>() {
    let c = cache();
    let calls = AtomicUsize::new(0);
    let got = herd(|| {
        catch_unwind(AssertUnwindSafe(|| {
            M::get_with(&c, 7, || {
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

fn waiters_time_out_and_the_load_still_lands<M: Mode>() {
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .load_wait_timeout(Duration::from_millis(20))
        .build();
    let got = herd(|| {
        M::try_get_with(&c, 7, || {
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

fn get_with_runs_its_own_loader_after_a_wait_timeout<M: Mode>() {
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .load_wait_timeout(Duration::from_millis(10))
        .build();
    let release = Barrier::new(2);
    std::thread::scope(|s| {
        let slow = s.spawn(|| {
            M::get_with(&c, 7, || {
                release.wait();
                until("the waiter's timeout", || c.stats().wait_timeouts() == 1);
                1
            })
        });
        release.wait();
        assert_eq!(M::get_with(&c, 7, || 2), 2, "the waiter loaded itself");
        assert_eq!(slow.join().unwrap(), 1);
    });
}

fn invalidation_during_a_load_keeps_its_value_out_of_the_cache<M: Mode>() {
    let c = cache();
    let started = Barrier::new(2);
    let invalidated = Barrier::new(2);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            M::get_with(&c, 7, || {
                started.wait();
                invalidated.wait();
                70
            })
        });
        let waiter = s.spawn(|| {
            started.wait();
            // Join the flight, then let the invalidation happen.
            let w = s.spawn(|| M::get_with(&c, 7, || unreachable!("joins the load")));
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
    assert_eq!(M::get_with(&c, 7, || 71), 71);
}

fn an_insert_during_a_load_is_not_overwritten_by_the_older_loaded_value<M: Mode>() {
    let c = cache();
    let started = Barrier::new(2);
    let inserted = Barrier::new(2);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            M::get_with(&c, 7, || {
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
            M::get_with(&c, 7, || {
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
    assert_eq!(M::get_with(&c, 9, || 90), 90, "a load after them stores");
    assert_eq!(c.get(&9), Some(90));
}

fn refresh_ahead_reloads_once_and_serves_stale_meanwhile<M: Mode>() {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .refresh_after(Duration::from_secs(10))
        .clock(clock)
        .build();
    assert_eq!(M::get_with(&c, 7, || 1), 1);
    mock.increment(Duration::from_secs(11));
    let reloads = AtomicUsize::new(0);
    let got = herd(|| {
        M::get_with(&c, 7, || {
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
    assert_eq!(M::get_with(&c, 7, || unreachable!()), 2);
}

fn a_failed_refresh_keeps_the_old_value<M: Mode>() {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .refresh_after(Duration::from_secs(10))
        .time_to_live(Duration::from_secs(60))
        .clock(clock)
        .build();
    assert_eq!(M::try_get_with(&c, 7, || Ok::<_, String>(1)).unwrap(), 1);
    mock.increment(Duration::from_secs(11));
    assert_eq!(
        M::try_get_with(&c, 7, || Err("down".to_owned())).unwrap(),
        1
    );
    assert_eq!(c.stats().refreshes_failed(), 1);
    assert_eq!(c.get(&7), Some(1));
    // Until its TTL.
    mock.increment(Duration::from_secs(50));
    assert_eq!(c.get(&7), None);
}

fn negative_caching_remembers_absence_for_its_ttl<M: Mode>() {
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
    assert_eq!(M::optionally_get_with(&c, 7, load), None);
    assert_eq!(M::optionally_get_with(&c, 7, load), None);
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(c.stats().negative_hits(), 1);
    // An insert clears the absence.
    c.insert(7, 70);
    assert_eq!(M::optionally_get_with(&c, 7, load), Some(70));
    c.invalidate(&7);
    assert_eq!(M::optionally_get_with(&c, 7, load), None);
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    let _ = mock;
}

fn negative_entries_expire<M: Mode>() {
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
    assert_eq!(M::optionally_get_with(&c, 7, load), None);
    assert_eq!(M::optionally_get_with(&c, 7, load), None);
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(M::optionally_get_with(&c, 7, load), None);
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

fn an_absence_found_before_an_invalidation_is_not_remembered<M: Mode>() {
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .negative_ttl(Duration::from_secs(60))
        .build();
    let started = Barrier::new(2);
    let invalidated = Barrier::new(2);
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            M::optionally_get_with(&c, 7, || {
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
    assert_eq!(M::optionally_get_with(&c, 7, || Some(1)), Some(1));
    assert_eq!(c.stats().negative_hits(), 0);
}

fn different_result_types_do_not_share_a_flight<M: Mode>() {
    let c = cache();
    let started = Barrier::new(2);
    std::thread::scope(|s| {
        let slow = s.spawn(|| {
            M::try_get_with(&c, 7, || {
                started.wait();
                until("the other load", || c.stats().load_successes() == 1);
                Err::<u64, String>("slow error".into())
            })
        });
        started.wait();
        // A loader with another error type does not receive a String error.
        assert_eq!(
            M::try_get_with(&c, 7, || Ok::<_, std::io::Error>(5)).unwrap(),
            5
        );
        assert!(slow.join().unwrap().is_err());
    });
    assert_eq!(c.get(&7), Some(5));
}

fn by_ref_loaders_build_the_owned_key_only_on_a_miss<M: Mode>() {
    let clones = support::key_clones;
    let cache: Cache<CountedKey, u32> = Cache::new(100);
    let before = clones();
    assert_eq!(M::get_with_by_ref(&cache, &CountedKey(1), || 10), 10);
    assert!(clones() > before, "a miss must build the key it inserts");
    let before = clones();
    for _ in 0..10 {
        assert_eq!(
            M::get_with_by_ref(&cache, &CountedKey(1), || unreachable!("cached")),
            10
        );
        let got = M::try_get_with_by_ref(&cache, &CountedKey(1), || Err::<u32, ()>(()));
        assert_eq!(got.unwrap(), 10);
        assert_eq!(
            M::optionally_get_with_by_ref(&cache, &CountedKey(1), || None),
            Some(10)
        );
    }
    assert_eq!(clones(), before, "a hit built the owned key");
    // The other two loaders, on misses.
    assert_eq!(
        M::try_get_with_by_ref(&cache, &CountedKey(2), || Ok::<u32, ()>(20)).unwrap(),
        20
    );
    assert_eq!(
        M::optionally_get_with_by_ref(&cache, &CountedKey(3), || Some(30)),
        Some(30)
    );
    assert_eq!(cache.get(&CountedKey(2)), Some(20));
    assert_eq!(cache.get(&CountedKey(3)), Some(30));
}

/// Remembered absences age on the cache's clock, a mock one included: a
/// `None` is answered from memory until `negative_ttl` has passed on it.
fn remembered_absences_age_on_the_caches_clock<M: Mode>() {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .negative_ttl(Duration::from_secs(5))
        .clock(clock)
        .build();
    assert_eq!(M::optionally_get_with(&c, 1, || None), None);
    mock.increment(Duration::from_secs(4));
    assert_eq!(
        M::optionally_get_with(&c, 1, || unreachable!("remembered")),
        None
    );
    mock.increment(Duration::from_secs(2));
    assert_eq!(M::optionally_get_with(&c, 1, || Some(10)), Some(10));
    assert_eq!(c.stats().negative_hits(), 1);
}

/// Fills or drops the guard `got` holds, or returns its value.
fn filled<V: std::fmt::Debug>(got: GuardResult<'_, u64, V>) -> Option<V> {
    match got {
        GuardResult::Value(v) => Some(v),
        GuardResult::Guard(g) => panic!("expected a value, got {g:?}"),
        GuardResult::Timeout => None,
    }
}

fn sixty_four_callers_share_one_guard<M: Mode>() {
    let c = cache();
    let guards = AtomicUsize::new(0);
    let got = herd(|| match M::get_value_or_guard(&c, &7) {
        GuardResult::Guard(g) => {
            guards.fetch_add(1, Ordering::SeqCst);
            until("63 waiters", || c.stats().coalesced_waiters() == 63);
            g.insert(700).unwrap();
            700
        }
        other => filled(other).expect("no timeout set"),
    });
    assert_eq!(guards.load(Ordering::SeqCst), 1);
    assert!(got.iter().all(|&v| v == 700));
    let s = c.stats();
    assert_eq!(
        (s.load_successes(), s.load_latency().unwrap().count()),
        (1, 1)
    );
    assert_eq!(c.get(&7), Some(700));
}

fn a_dropped_guard_hands_the_load_to_a_waiter<M: Mode>() {
    let c = cache();
    let GuardResult::Guard(first) = M::get_value_or_guard(&c, &7) else {
        panic!("an empty cache gives a guard");
    };
    std::thread::scope(|s| {
        let waiter = s.spawn(|| match M::get_value_or_guard(&c, &7) {
            GuardResult::Guard(g) => {
                g.insert(2).unwrap();
                "took over"
            }
            _ => "did not take over",
        });
        until("the waiter", || c.stats().coalesced_waiters() == 1);
        drop(first);
        assert_eq!(waiter.join().unwrap(), "took over");
    });
    assert_eq!(c.get(&7), Some(2));
}

fn a_guard_filled_after_an_invalidation_reaches_its_waiters_not_the_cache<M: Mode>() {
    let c = cache();
    let GuardResult::Guard(guard) = M::get_value_or_guard(&c, &7) else {
        panic!("an empty cache gives a guard");
    };
    std::thread::scope(|s| {
        let waiter = s.spawn(|| M::get_with(&c, 7, || unreachable!("joins the guard")));
        until("the waiter", || c.stats().coalesced_waiters() == 1);
        c.invalidate(&7);
        assert_eq!(guard.insert(70), Err(70), "superseded by the invalidation");
        assert_eq!(waiter.join().unwrap(), 70, "the waiter still gets it");
    });
    assert_eq!(c.get(&7), None);
}

fn guards_and_loaders_share_one_flight<M: Mode>() {
    let c = cache();
    // A loader's caller waits for a guard...
    let GuardResult::Guard(guard) = M::get_value_or_guard(&c, &7) else {
        panic!("an empty cache gives a guard");
    };
    std::thread::scope(|s| {
        let loader = s.spawn(|| M::get_with(&c, 7, || unreachable!("joins the guard")));
        until("the loader's caller", || c.stats().coalesced_waiters() == 1);
        guard.insert(5).unwrap();
        assert_eq!(loader.join().unwrap(), 5);
    });
    // ...and a guard's caller for a loader.
    let started = Barrier::new(2);
    std::thread::scope(|s| {
        let loader = s.spawn(|| {
            M::get_with(&c, 8, || {
                started.wait();
                until("the guard's caller", || c.stats().coalesced_waiters() == 2);
                80
            })
        });
        started.wait();
        assert_eq!(filled(M::get_value_or_guard(&c, &8)), Some(80));
        assert_eq!(loader.join().unwrap(), 80);
    });
}

fn a_guard_waiter_times_out_and_the_guard_still_lands<M: Mode>() {
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .load_wait_timeout(Duration::from_millis(10))
        .build();
    let GuardResult::Guard(guard) = M::get_value_or_guard(&c, &7) else {
        panic!("an empty cache gives a guard");
    };
    std::thread::scope(|s| {
        let waiter = s.spawn(|| filled(M::get_value_or_guard(&c, &7)));
        assert_eq!(waiter.join().unwrap(), None, "timed out");
    });
    assert_eq!(c.stats().wait_timeouts(), 1);
    guard.insert(1).unwrap();
    assert_eq!(filled(M::get_value_or_guard(&c, &7)), Some(1));
}

suite!(
    sixty_four_misses_run_one_loader,
    an_error_is_shared_by_every_waiter_and_not_cached,
    a_panicking_loader_panics_its_caller_and_releases_the_waiters,
    get_with_waiters_load_afresh_after_a_panic,
    waiters_time_out_and_the_load_still_lands,
    get_with_runs_its_own_loader_after_a_wait_timeout,
    invalidation_during_a_load_keeps_its_value_out_of_the_cache,
    an_insert_during_a_load_is_not_overwritten_by_the_older_loaded_value,
    refresh_ahead_reloads_once_and_serves_stale_meanwhile,
    a_failed_refresh_keeps_the_old_value,
    negative_caching_remembers_absence_for_its_ttl,
    negative_entries_expire,
    an_absence_found_before_an_invalidation_is_not_remembered,
    different_result_types_do_not_share_a_flight,
    by_ref_loaders_build_the_owned_key_only_on_a_miss,
    remembered_absences_age_on_the_caches_clock,
    sixty_four_callers_share_one_guard,
    a_dropped_guard_hands_the_load_to_a_waiter,
    a_guard_filled_after_an_invalidation_reaches_its_waiters_not_the_cache,
    guards_and_loaders_share_one_flight,
    a_guard_waiter_times_out_and_the_guard_still_lands,
);
