//! Retired memory stays bounded whatever threads and callbacks do: threads
//! that live for a few inserts, a listener that blocks, an idle thread
//! holding a partly filled bag, values whose `Drop` panics, and values of a
//! megabyte each.
//!
//! Every value here is a [`Tracked`], which counts itself (objects and
//! bytes) while alive, so each test reads exactly how many of its own
//! values are still allocated, whatever other tests do. The bounds come
//! from [`clockwise::RetiredBounds`], the documented ones.
//!
//! The tests run one at a time (a lock): a test that blocks a listener on
//! purpose must not delay another test's collections.

use clockwise::{Cache, RemovalCause};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// What one test's values add up to while alive.
#[derive(Default, Debug)]
struct Live {
    objects: AtomicUsize,
    bytes: AtomicUsize,
}

impl Live {
    fn objects(&self) -> usize {
        self.objects.load(Ordering::SeqCst)
    }
    fn bytes(&self) -> usize {
        self.bytes.load(Ordering::SeqCst)
    }
}

/// A value that counts itself in its test's [`Live`] while allocated; its
/// `Drop` panics if `panics` is set.
struct Tracked {
    live: Arc<Live>,
    bytes: usize,
    panics: bool,
}

impl Tracked {
    fn new(live: &Arc<Live>, bytes: usize) -> Tracked {
        live.objects.fetch_add(1, Ordering::SeqCst);
        live.bytes.fetch_add(bytes, Ordering::SeqCst);
        Tracked {
            live: Arc::clone(live),
            bytes,
            panics: false,
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        let mut t = Tracked::new(&self.live, self.bytes);
        t.panics = self.panics;
        t
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.objects.fetch_sub(1, Ordering::SeqCst);
        self.live.bytes.fetch_sub(self.bytes, Ordering::SeqCst);
        if self.panics {
            panic!("a value's Drop panics (on purpose)");
        }
    }
}

fn cache(capacity: u64) -> Cache<u64, Tracked> {
    Cache::builder().max_capacity(capacity).build()
}

/// Retired objects that may wait with `threads` threads using caches, as
/// `RetiredBounds` documents it: a batch waiting for readers, one filling,
/// and bags.
fn object_bound(threads: usize) -> usize {
    let b = clockwise::RetiredBounds::CURRENT;
    if threads == 1 {
        b.collect_objects + b.bag_objects
    } else {
        2 * b.collect_objects + 3 * b.bag_objects * threads
    }
}

/// Runs `f` on a thread, and fails the test if it has not ended in `secs`.
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what}: still running after {secs} s"))
}

#[test]
fn short_lived_threads_do_not_strand_what_they_retire() {
    let _serial = serial();
    let live = Arc::new(Live::default());
    let capacity = 1_000;
    let c = cache(capacity);
    let (threads, per_thread) = (4_000u64, 50u64);
    let peak = within(120, "thread churn", {
        let (c, live) = (c.clone(), Arc::clone(&live));
        move || {
            let mut peak = 0;
            // Two at a time, each fewer inserts than a bag holds: no thread
            // ever fills one, as in a thread-per-task server.
            for t in 0..threads / 2 {
                let spawned: Vec<_> = (0..2)
                    .map(|i| {
                        let (c, live) = (c.clone(), Arc::clone(&live));
                        std::thread::spawn(move || {
                            for k in 0..per_thread {
                                c.insert((t * 2 + i) * per_thread + k, Tracked::new(&live, 8));
                            }
                        })
                    })
                    .collect();
                for s in spawned {
                    s.join().unwrap();
                }
                peak = peak.max(live.objects());
            }
            peak
        }
    });
    // No `collect_garbage`: the threads' own exits must get the memory back.
    let bound = capacity as usize + object_bound(3);
    assert!(
        peak <= bound,
        "{peak} values alive at the worst point, bound {bound} ({} inserted)",
        threads * per_thread
    );
    assert!(c.len() <= capacity);
}

#[test]
fn caches_created_used_and_dropped_on_threads_free_what_they_retired() {
    let _serial = serial();
    let live = Arc::new(Live::default());
    let peak = within(120, "cache churn", {
        let live = Arc::clone(&live);
        move || {
            let mut peak = 0;
            for round in 0..2_000u64 {
                let task_live = Arc::clone(&live);
                // One cache a task, on the task's own thread: made, used
                // (50 evictions) and dropped there.
                std::thread::spawn(move || {
                    let c: Cache<u64, Tracked> = Cache::builder().max_capacity(8).build();
                    for k in 0..58 {
                        c.insert(round * 100 + k, Tracked::new(&task_live, 8));
                    }
                })
                .join()
                .unwrap();
                peak = peak.max(live.objects());
            }
            peak
        }
    });
    let bound = object_bound(2);
    assert!(
        peak <= bound,
        "{peak} values alive at the worst point, bound {bound}"
    );
    clockwise::collect_garbage();
    assert_eq!(live.objects(), 0, "every value of a dropped cache is freed");
}

/// A listener that blocks until told, on one cache, while another thread
/// churns another cache: the churn's memory comes back meanwhile.
fn blocked_listener_holds_nothing_back(
    name: &str,
    trigger: impl FnOnce(&Cache<u64, Tracked>) + Send + 'static,
) {
    blocked_listener_holds_nothing_back_with(name, None, trigger);
}

/// As above; with `expire`, the slow cache runs on a mock clock, its
/// entries have a time to live, and the clock passes it before `trigger`.
fn blocked_listener_holds_nothing_back_with(
    name: &str,
    expire: Option<Duration>,
    trigger: impl FnOnce(&Cache<u64, Tracked>) + Send + 'static,
) {
    let _serial = serial();
    let live = Arc::new(Live::default());
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let entered_tx = Mutex::new(entered_tx);
    let (clock, mock) = clockwise::stats::Clock::mock();
    let mut builder = Cache::builder().max_capacity(4);
    if let Some(ttl) = expire {
        builder = builder.clock(clock).time_to_live(ttl);
    }
    let slow: Cache<u64, Tracked> = builder
        .eviction_listener(move |_k, _v, _cause| {
            let _ = entered_tx.lock().unwrap().send(());
            // Bounded: the test fails, not hangs, if nobody releases it.
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
        })
        .build();
    for k in 0..4 {
        slow.insert(k, Tracked::new(&live, 8));
    }
    if let Some(ttl) = expire {
        mock.increment(ttl);
    }
    let blocked = std::thread::spawn({
        let slow = slow.clone();
        move || trigger(&slow)
    });
    entered_rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{name}: the listener was never called"));
    // The listener is blocked now. Churn another cache.
    let other_live = Arc::new(Live::default());
    let other = cache(1_000);
    for k in 0..200_000 {
        other.insert(k, Tracked::new(&other_live, 8));
    }
    clockwise::collect_garbage();
    let alive = other_live.objects();
    for _ in 0..16 {
        let _ = release_tx.send(());
    }
    blocked.join().unwrap();
    let bound = 1_000 + object_bound(2);
    assert!(
        alive <= bound,
        "{name}: {alive} values of another cache still allocated while the listener blocked, \
         bound {bound}"
    );
}

#[test]
fn a_blocked_eviction_listener_holds_back_no_memory() {
    blocked_listener_holds_nothing_back("insert", |c| {
        c.insert(100, Tracked::new(&Arc::default(), 8))
    });
}

#[test]
fn a_blocked_listener_of_an_expired_get_holds_back_no_memory() {
    // A `get` that finds its entry expired removes it under its pin; the
    // listener runs at the unpin.
    blocked_listener_holds_nothing_back_with(
        "get of an expired entry",
        Some(Duration::from_secs(1)),
        |c| {
            assert!(c.get(&1).is_none());
        },
    );
}

#[test]
fn a_blocked_listener_of_remove_holds_back_no_memory() {
    blocked_listener_holds_nothing_back("remove", |c| {
        c.remove(&1);
    });
}

#[test]
fn a_blocked_listener_of_invalidate_all_holds_back_no_memory() {
    blocked_listener_holds_nothing_back("invalidate_all", |c| c.invalidate_all());
}

#[test]
fn a_blocked_listener_of_retain_holds_back_no_memory() {
    blocked_listener_holds_nothing_back("retain", |c| c.retain(|k, _| *k % 2 == 0));
}

#[test]
fn a_panicking_drop_is_counted_and_the_rest_still_freed() {
    let _serial = serial();
    let live = Arc::new(Live::default());
    let before = clockwise::reclamation_stats().drop_panics;
    let c = cache(100);
    for k in 0..1_000 {
        let mut v = Tracked::new(&live, 8);
        v.panics = k % 10 == 3;
        c.insert(k, v);
    }
    // Another cache's inserts collect; no panic may reach them.
    let other_live = Arc::new(Live::default());
    let other = cache(100);
    let churn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for k in 0..50_000 {
            other.insert(k, Tracked::new(&other_live, 8));
        }
        clockwise::collect_garbage();
    }));
    assert!(
        churn.is_ok(),
        "a value's panicking Drop reached another cache's insert"
    );
    // Everything evicted was freed, the panicking ones included.
    assert_eq!(live.objects(), c.len() as usize);
    let panicked = clockwise::reclamation_stats().drop_panics - before;
    // 900 evicted, one in ten panicking.
    assert!(
        (85..=100).contains(&panicked),
        "{panicked} panicking drops counted"
    );
    c.invalidate_all();
    clockwise::collect_garbage();
    assert_eq!(live.objects(), 0);
}

#[test]
fn a_dropped_cache_frees_every_value_even_when_a_drop_panics() {
    let _serial = serial();
    let live = Arc::new(Live::default());
    let c = cache(100);
    for k in 0..50 {
        let mut v = Tracked::new(&live, 8);
        v.panics = k == 7;
        c.insert(k, v);
    }
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(c)));
    assert!(dropped.is_ok(), "dropping the cache panicked");
    assert_eq!(live.objects(), 0);
}

#[test]
fn retired_bytes_are_bounded_as_well_as_objects() {
    let _serial = serial();
    let live = Arc::new(Live::default());
    const MIB: usize = 1 << 20;
    let capacity = 16 * MIB as u64;
    let c: Cache<u64, Tracked> = Cache::builder()
        .max_capacity(capacity)
        .weigher(|_k, v: &Tracked| v.bytes as u32)
        .build();
    let mut peak = 0;
    for k in 0..2_000 {
        c.insert(k, Tracked::new(&live, MIB));
        peak = peak.max(live.bytes());
    }
    let b = clockwise::RetiredBounds::CURRENT;
    // One thread (`RetiredBounds`): what it seals waits for a collection,
    // and its own bag; each may overshoot its mark by the object that
    // reached it.
    let bound = capacity as usize + b.collect_bytes + b.bag_bytes + 2 * MIB;
    assert!(
        peak <= bound,
        "{} MiB of values alive at the worst point, bound {} MiB",
        peak / MIB,
        bound / MIB
    );
}

#[test]
fn collect_garbage_frees_an_idle_threads_partial_bag() {
    let _serial = serial();
    let live = Arc::new(Live::default());
    let c = cache(1_000);
    for k in 0..50 {
        c.insert(k, Tracked::new(&live, 8));
    }
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let idle = std::thread::spawn({
        let c = c.clone();
        move || {
            // Fewer removals than a bag holds, then idle: its bag is never
            // sealed by the thread itself while it lives.
            for k in 0..50 {
                c.remove(&k);
            }
            done_tx.send(()).unwrap();
            let _ = exit_rx.recv_timeout(Duration::from_secs(30));
        }
    });
    done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // `remove` returns a clone: the removed originals are what waits.
    clockwise::collect_garbage();
    let alive = live.objects();
    exit_tx.send(()).unwrap();
    idle.join().unwrap();
    assert_eq!(
        alive, 0,
        "values removed by an idle live thread still allocated"
    );
}

#[test]
fn removal_causes_still_reach_the_listener_unpinned() {
    // The listener now runs after the writer unpinned: it still sees each
    // removed entry's key and value, and may use the cache again.
    let _serial = serial();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(2)
        .shards(1)
        .eviction_listener({
            let seen = Arc::clone(&seen);
            move |k, v, cause| seen.lock().unwrap().push((*k, *v, cause))
        })
        .build();
    c.insert(1, 10);
    c.insert(1, 11);
    c.remove(&1);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (1, 10, RemovalCause::Replaced),
            (1, 11, RemovalCause::Explicit)
        ]
    );
}
