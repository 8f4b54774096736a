//! No wedged key, no lost notification, expiry told as expiry: each test
//! reproduces a defect found from outside the project, bounded in time by a
//! watchdog (a hang fails the test instead of stalling the suite).

use clockwise::{Cache, LoadError, RemovalCause, RECURSIVE_LOAD};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs `f` on a thread; fails the test if it has not ended in `secs`.
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: still running after {secs} s (a hang)"),
    }
}

/// The panic message of `result`'s error.
fn message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast::<String>()
        .map(|s| *s)
        .or_else(|p| p.downcast::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// What a listener was told, in order.
type Seen = Arc<Mutex<Vec<(u32, RemovalCause)>>>;

fn events() -> (
    Seen,
    impl Fn(&u32, &u32, RemovalCause) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = {
        let seen = Arc::clone(&seen);
        move |k: &u32, _v: &u32, cause| seen.lock().unwrap().push((*k, cause))
    };
    (seen, listener)
}

#[test]
fn a_loader_that_reenters_its_key_panics_and_leaves_nothing_wedged() {
    within(20, "recursive get_with", || {
        let c: Cache<u32, u32> = Cache::builder().max_capacity(10).build();
        let outer = catch_unwind(AssertUnwindSafe(|| c.get_with(1, || c.get_with(1, || 2))));
        assert_eq!(message(outer.unwrap_err()), RECURSIVE_LOAD);
        assert_eq!(c.stats().loader_panics(), 1);
        // The flight is gone: another thread loads the key at once.
        let other = {
            let c = c.clone();
            std::thread::spawn(move || c.get_with(1, || 3))
        };
        assert_eq!(other.join().unwrap(), 3);
        assert_eq!(c.get(&1), Some(3));
    });
}

#[test]
fn optionally_get_with_reentering_its_key_panics_too() {
    within(20, "recursive optionally_get_with", || {
        let c: Cache<u32, u32> = Cache::builder().max_capacity(10).build();
        let outer = catch_unwind(AssertUnwindSafe(|| {
            c.optionally_get_with(1, || c.optionally_get_with(1, || Some(2)))
        }));
        assert_eq!(message(outer.unwrap_err()), RECURSIVE_LOAD);
        assert_eq!(c.optionally_get_with(1, || Some(4)), Some(4));
    });
}

#[test]
fn try_get_with_reentering_its_key_gets_a_typed_error() {
    within(20, "recursive try_get_with", || {
        let c: Cache<u32, u32> = Cache::builder().max_capacity(10).build();
        let outer = c.try_get_with(1, || match c.try_get_with(1, || Ok::<u32, String>(2)) {
            Err(LoadError::RecursiveLoad) => Ok(5),
            other => Err(format!("inner call gave {other:?}")),
        });
        assert_eq!(outer.unwrap(), 5);
        assert_eq!(c.get(&1), Some(5));
        // A loader of another kind for the same key is no recursion: it
        // loads on its own.
        let outer = c.try_get_with(2, || Ok::<u32, ()>(c.get_with(2, || 7) + 1));
        assert_eq!(outer.unwrap(), 8);
    });
}

#[test]
fn a_waiter_on_another_thread_is_no_recursion() {
    // The check is per thread: a second thread waiting for the load is an
    // ordinary waiter and gets the leader's value.
    within(20, "waiter", || {
        let c: Cache<u32, u32> = Cache::builder().max_capacity(10).build();
        let (started_tx, started_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let leader = {
            let c = c.clone();
            std::thread::spawn(move || {
                c.get_with(1, move || {
                    started_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    9
                })
            })
        };
        started_rx.recv().unwrap();
        let waiter = {
            let c = c.clone();
            std::thread::spawn(move || c.get_with(1, || unreachable!("the leader loads")))
        };
        std::thread::sleep(Duration::from_millis(20));
        go_tx.send(()).unwrap();
        assert_eq!((leader.join().unwrap(), waiter.join().unwrap()), (9, 9));
    });
}

#[test]
fn an_unrepresentable_wait_timeout_waits_without_one() {
    within(20, "Duration::MAX wait", || {
        let c: Cache<u32, u32> = Cache::builder()
            .max_capacity(10)
            .load_wait_timeout(Duration::MAX)
            .build();
        let (started_tx, started_rx) = mpsc::channel();
        let leader = {
            let c = c.clone();
            std::thread::spawn(move || {
                c.get_with(1, move || {
                    started_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                    4
                })
            })
        };
        started_rx.recv().unwrap();
        // A waiter: before, `Instant::now() + Duration::MAX` panicked here.
        assert_eq!(c.get_with(1, || unreachable!("waits for the leader")), 4);
        assert_eq!(c.try_get_with(2, || Ok::<u32, ()>(6)).unwrap(), 6);
        assert_eq!(leader.join().unwrap(), 4);
    });
}

/// A value whose `clone` panics while `PANIC` is set.
#[derive(Debug)]
struct Fragile(u32);

static PANIC: AtomicBool = AtomicBool::new(false);

impl Clone for Fragile {
    fn clone(&self) -> Self {
        if PANIC.load(Ordering::SeqCst) {
            panic!("Fragile::clone panics (on purpose)");
        }
        Fragile(self.0)
    }
}

#[test]
fn a_panicking_clone_in_remove_still_notifies_counts_and_clears_the_negative_entry() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let c: Cache<u32, Fragile> = Cache::builder()
        .max_capacity(10)
        .negative_ttl(Duration::from_secs(60))
        .eviction_listener({
            let seen = Arc::clone(&seen);
            move |k, _v, cause| seen.lock().unwrap().push((*k, cause))
        })
        .build();
    // Remember 1 as absent, then insert it (which clears that) and 2.
    assert!(c.optionally_get_with(1, || None).is_none());
    c.insert(2, Fragile(2));
    PANIC.store(true, Ordering::SeqCst);
    let removed = catch_unwind(AssertUnwindSafe(|| c.remove(&2)));
    PANIC.store(false, Ordering::SeqCst);
    assert!(removed.is_err(), "the clone panicked");
    assert_eq!(c.get(&2).map(|f| f.0), None, "removed");
    assert_eq!(*seen.lock().unwrap(), vec![(2, RemovalCause::Explicit)]);
    assert_eq!(c.stats().removals(RemovalCause::Explicit), 1);
    // The negative entry of 1 is cleared by a remove of 1 even if that
    // remove's clone panics: prove the clear runs before the clone.
    c.insert(3, Fragile(3));
    assert!(c.optionally_get_with(4, || None).is_none());
    PANIC.store(true, Ordering::SeqCst);
    let _ = catch_unwind(AssertUnwindSafe(|| c.remove(&4)));
    PANIC.store(false, Ordering::SeqCst);
    assert_eq!(
        c.optionally_get_with(4, || Some(Fragile(40))).map(|f| f.0),
        Some(40),
        "the remembered absence was cleared"
    );
}

/// A cache on a mock clock whose entry 1 is past its time to live.
fn expired_entry() -> (Cache<u32, u32>, Seen) {
    let (clock, mock) = clockwise::stats::Clock::mock();
    let (seen, listener) = events();
    let c = Cache::builder()
        .max_capacity(10)
        .clock(clock)
        .eviction_listener(listener)
        .build();
    c.insert_with_ttl(1, 10, Duration::from_secs(1));
    c.insert(2, 20);
    mock.increment(Duration::from_secs(2));
    (c, seen)
}

#[test]
fn an_expired_entry_leaves_as_expired_whatever_removes_it() {
    type Remover = fn(&Cache<u32, u32>);
    let removers: [(&str, Remover); 6] = [
        ("insert over it", |c| c.insert(1, 11)),
        ("insert_with_ttl over it", |c| {
            c.insert_with_ttl(1, 11, Duration::from_secs(9))
        }),
        ("remove", |c| {
            assert_eq!(c.remove(&1), Some(10), "remove returns an expired value");
        }),
        ("invalidate", |c| c.invalidate(&1)),
        ("retain", |c| c.retain(|_, _| false)),
        ("invalidate_all", |c| c.invalidate_all()),
    ];
    for (what, remove) in removers {
        let (c, seen) = expired_entry();
        remove(&c);
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.contains(&(1, RemovalCause::Expired)),
            "{what}: entry 1 left as {seen:?}"
        );
        assert!(
            !seen.contains(&(2, RemovalCause::Expired)),
            "{what}: live entry 2 told as expired: {seen:?}"
        );
        let s = c.stats();
        assert_eq!(s.removals(RemovalCause::Expired), 1, "{what}");
        assert_eq!(
            s.removals(RemovalCause::Replaced),
            0,
            "{what}: an expired entry counted as replaced"
        );
    }
}

#[test]
fn the_capacity_gauge_is_the_configured_capacity() {
    let c: Cache<u32, u32> = Cache::builder().max_capacity(u64::MAX).build();
    assert_eq!(c.stats().capacity(), u64::MAX);
    let c: Cache<u32, u32> = Cache::builder().max_capacity(1_000).build();
    assert_eq!(c.stats().capacity(), 1_000);
}
