//! Refresh-ahead through a builder-level reloader, inline and on a
//! user-supplied executor, with a mock clock so ages are exact.

use clockwise::{Cache, ConfigError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

type Task = Box<dyn FnOnce() + Send>;

/// A cache whose entries are due for refresh after 10 s, reloading
/// `key * 100 + reloads so far`, with its reloads queued on a channel.
fn queued() -> (
    Cache<u64, u64>,
    Arc<clockwise::stats::Mock>,
    mpsc::Receiver<Task>,
    Arc<AtomicUsize>,
) {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let (tx, rx) = mpsc::channel::<Task>();
    let tx = Mutex::new(tx);
    let reloads = Arc::new(AtomicUsize::new(0));
    let counted = reloads.clone();
    let cache = Cache::builder()
        .max_capacity(100)
        .refresh_after(Duration::from_secs(10))
        .reloader(move |k: &u64| {
            let n = counted.fetch_add(1, Ordering::SeqCst) as u64 + 1;
            Some(k * 100 + n)
        })
        .refresh_executor(move |task| tx.lock().unwrap().send(task).unwrap())
        .clock(clock)
        .build();
    (cache, mock, rx, reloads)
}

#[test]
fn sixty_four_stale_hits_queue_one_reload_and_return_at_once() {
    let (c, mock, rx, reloads) = queued();
    assert_eq!(c.get_with(7, || 1), 1);
    mock.increment(Duration::from_secs(11));
    let barrier = Barrier::new(64);
    let got: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..64)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    c.get_with(7, || unreachable!("hits never load"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        got.iter().all(|&v| v == 1),
        "every caller got the stale value"
    );
    let task = rx.try_recv().expect("one reload queued");
    assert!(rx.try_recv().is_err(), "and only one");
    assert_eq!(reloads.load(Ordering::SeqCst), 0, "not run by any caller");
    let stats = c.stats();
    assert_eq!(stats.stale_hits(), 64);
    assert_eq!(stats.refreshes_started(), 1);
    // The executor runs it on another thread.
    std::thread::spawn(task).join().unwrap();
    assert_eq!(c.get(&7), Some(701));
    assert_eq!(c.stats().refreshes_succeeded(), 1);
    // Fresh again: no reload until it ages.
    assert_eq!(c.get_with(7, || unreachable!()), 701);
    assert!(rx.try_recv().is_err());
}

#[test]
fn a_dropped_or_panicking_executor_ends_the_reload_and_the_next_hit_retries() {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .refresh_after(Duration::from_secs(10))
        .reloader(|k: &u64| Some(k + 1))
        .refresh_executor(move |task| match seen.fetch_add(1, Ordering::SeqCst) {
            0 => drop(task),
            1 => panic!("executor bug"),
            _ => task(),
        })
        .clock(clock)
        .build();
    c.insert(7, 0);
    mock.increment(Duration::from_secs(11));
    assert_eq!(c.get_with(7, || unreachable!()), 0, "dropped: stale kept");
    assert_eq!(c.get_with(7, || unreachable!()), 0, "panicked: stale kept");
    assert_eq!(c.stats().refreshes_failed(), 1, "the panic counted");
    assert_eq!(c.get_with(7, || unreachable!()), 0, "ran inline this time");
    assert_eq!(c.get(&7), Some(8));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(c.stats().refreshes_started(), 3);
}

#[test]
fn a_failed_or_panicking_reload_keeps_the_old_value() {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(100)
        .time_to_live(Duration::from_secs(100))
        .refresh_after(Duration::from_secs(10))
        .reloader(
            move |_: &u64| match counted.fetch_add(1, Ordering::SeqCst) {
                0 => None,
                _ => panic!("reloader bug"),
            },
        )
        .clock(clock)
        .build();
    c.insert(7, 70);
    mock.increment(Duration::from_secs(11));
    // Inline (no executor): the triggering caller runs the reload, gets the
    // stale value, and never sees the reloader's panic.
    assert_eq!(c.get_with(7, || unreachable!()), 70);
    assert_eq!(c.get_with(7, || unreachable!()), 70);
    let stats = c.stats();
    assert_eq!(stats.refreshes_failed(), 2);
    assert_eq!(stats.loader_panics(), 1);
    assert_eq!(c.get(&7), Some(70), "old value kept");
    mock.increment(Duration::from_secs(90));
    assert_eq!(c.get(&7), None, "until its TTL");
}

#[test]
fn an_invalidation_or_insert_while_a_reload_is_queued_wins() {
    let (c, mock, rx, _) = queued();
    c.insert(7, 1);
    c.insert(8, 2);
    mock.increment(Duration::from_secs(11));
    assert_eq!(c.get_with(7, || unreachable!()), 1);
    assert_eq!(c.get_with(8, || unreachable!()), 2);
    let (reload7, reload8) = (rx.try_recv().unwrap(), rx.try_recv().unwrap());
    c.invalidate(&7);
    c.insert(8, 3);
    reload7();
    reload8();
    assert_eq!(
        c.get(&7),
        None,
        "a reload queued before an invalidation is not stored"
    );
    assert_eq!(c.get(&8), Some(3), "nor over a newer insert");
}

#[test]
fn incomplete_refresh_configurations_are_refused() {
    let refused =
        |b: clockwise::CacheBuilder<u64, u64>| b.max_capacity(10).try_build().unwrap_err();
    assert_eq!(
        refused(Cache::builder().refresh_executor(|t| t())),
        ConfigError::Refresh("refresh_executor needs a reloader")
    );
    assert_eq!(
        refused(Cache::builder().reloader(|_| None)),
        ConfigError::Refresh("reloader needs refresh_after")
    );
    // build() panics on them, naming the setting.
    let panic = std::panic::catch_unwind(|| {
        Cache::<u64, u64>::builder()
            .max_capacity(10)
            .reloader(|_| None)
            .build()
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(
        message.contains("reloader needs refresh_after"),
        "{message}"
    );
}

#[test]
fn the_reloader_and_the_hasher_may_be_set_in_either_order() {
    type Std = std::collections::hash_map::RandomState;
    let (clock, mock) = clockwise::stats::Clock::mock();
    let late_hasher: Cache<u64, u64, Std> = Cache::builder()
        .max_capacity(10)
        .refresh_after(Duration::from_secs(1))
        .reloader(|k| Some(k + 100))
        .hasher(Std::new())
        .clock(clock.clone())
        .build();
    let early_hasher: Cache<u64, u64, Std> = Cache::builder()
        .hasher(Std::new())
        .max_capacity(10)
        .refresh_after(Duration::from_secs(1))
        .reloader(|k| Some(k + 100))
        .clock(clock)
        .build();
    for c in [&late_hasher, &early_hasher] {
        c.insert(1, 1);
    }
    mock.increment(Duration::from_secs(2));
    for c in [&late_hasher, &early_hasher] {
        // The stale hit returns the old value and reloads inline with the
        // builder's reloader, not the caller's loader.
        assert_eq!(c.get_with(1, || unreachable!()), 1);
        assert_eq!(c.get(&1), Some(101));
    }
}
