//! The reclamation scheme on its own: what is freed, when, and what is not.

use crate::reclaim::{self, pin, Atomic, Shared};
use crate::sync::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts its drops.
struct Counted {
    value: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn counted(value: u64, drops: &Arc<AtomicUsize>) -> Atomic<Counted> {
    Atomic::new(Counted {
        value,
        drops: Arc::clone(drops),
    })
}

/// Unlinks and retires the slot's object.
fn retire(slot: &Atomic<Counted>) {
    let guard = pin();
    let old = slot.load(Ordering::Acquire, &guard);
    slot.store(Shared::null(), Ordering::Release);
    // SAFETY: unlinked above by the only writer; allocated by `Atomic::new`.
    unsafe { guard.defer_destroy(old, 8) };
}

/// Collects until `drops` reaches `n`: other tests' readers, pinned for a
/// moment at a collection, can delay a free by a round. Bounded.
fn collect_until(drops: &AtomicUsize, n: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        reclaim::collect_now();
        if drops.load(Ordering::SeqCst) >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn a_retired_object_is_freed_once_collected() {
    let drops = Arc::new(AtomicUsize::new(0));
    let slot = counted(1, &drops);
    retire(&slot);
    assert!(collect_until(&drops, 1), "never freed");
    reclaim::collect_now();
    assert_eq!(drops.load(Ordering::SeqCst), 1, "freed exactly once");
}

/// A reader pins with `pin_reader`, loads the slot's object and holds it
/// until told to read it: no collection meanwhile may free it, and it is
/// freed once the reader has unpinned.
fn assert_the_reader_holds(value: u64, pin_reader: fn() -> crate::reclaim::Guard) {
    let drops = Arc::new(AtomicUsize::new(0));
    let slot = Arc::new(counted(value, &drops));
    let (loaded_tx, loaded_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let reader = {
        let slot = Arc::clone(&slot);
        std::thread::spawn(move || {
            let guard = pin_reader();
            let p = slot.load(Ordering::Acquire, &guard);
            loaded_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            // SAFETY: loaded under `guard`, still pinned.
            unsafe { p.deref() }.value
        })
    };
    loaded_rx.recv().unwrap();
    retire(&slot);
    for _ in 0..5 {
        reclaim::collect_now();
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "freed while a pinned reader held it"
    );
    go_tx.send(()).unwrap();
    assert_eq!(reader.join().unwrap(), value);
    assert!(
        collect_until(&drops, 1),
        "never freed after the reader unpinned"
    );
}

#[test]
fn a_pinned_reader_delays_the_free_until_it_unpins() {
    assert_the_reader_holds(7, || {
        let outer = pin();
        // A nested pin's end must not unpin the thread.
        drop(pin());
        outer
    });
}

#[test]
fn guards_may_end_in_any_order() {
    assert_the_reader_holds(9, || {
        let first = pin();
        let second = pin();
        // The first guard ends first: the thread stays pinned for the
        // second.
        drop(first);
        second
    });
}

/// Retires its object when its thread's locals are destroyed, after the
/// reclamation's own thread-local (registered later, destroyed earlier).
struct RetireAtExit(Option<Atomic<Counted>>);

impl Drop for RetireAtExit {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            // A pin here finds the thread's record already given back: it
            // takes one for the guard's lifetime only.
            retire(&slot);
        }
    }
}

thread_local! {
    static RETIRE_AT_EXIT: std::cell::RefCell<RetireAtExit> =
        const { std::cell::RefCell::new(RetireAtExit(None)) };
}

#[test]
#[cfg_attr(miri, ignore = "thread-local destructor order is the platform's")]
fn a_pin_during_thread_teardown_still_protects_and_frees() {
    let drops = Arc::new(AtomicUsize::new(0));
    let records = reclaim::record_count();
    let thread_drops = Arc::clone(&drops);
    std::thread::spawn(move || {
        // Registered before the first pin, so destroyed after it.
        RETIRE_AT_EXIT.with(|r| r.borrow_mut().0 = Some(counted(3, &thread_drops)));
        drop(pin());
    })
    .join()
    .unwrap();
    assert!(collect_until(&drops, 1), "retired at teardown, never freed");
    // The teardown pin gave its record back: other tests' threads reuse it.
    assert!(reclaim::record_count() - records < 32);
}

#[test]
#[cfg_attr(miri, ignore = "200 threads: minutes under Miri")]
fn exited_threads_give_their_records_back() {
    let before = reclaim::record_count();
    for _ in 0..200 {
        std::thread::spawn(|| drop(pin())).join().unwrap();
    }
    let grown = reclaim::record_count() - before;
    // Other tests start threads meanwhile; 200 leaked records would show.
    assert!(
        grown < 32,
        "{grown} new records for 200 short-lived threads"
    );
}

#[test]
#[cfg_attr(miri, ignore = "100k allocations: minutes under Miri")]
fn retired_objects_are_freed_without_explicit_collections() {
    let drops = Arc::new(AtomicUsize::new(0));
    let n = 100_000;
    for i in 0..n {
        retire(&counted(i, &drops));
    }
    // Sealed-but-uncollected objects are bounded by MAX_COLLECT plus a bag
    // per thread, and collected ones are freed a few per unpin; a batch
    // waits only for readers pinned at its collection. Another test may
    // hold a reader pinned for a moment (the domain is process-wide), so
    // further retirements, never an explicit collection, get a few seconds
    // to bring the count under the bound.
    let others = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    let live = || n as usize - drops.load(Ordering::SeqCst);
    while live() >= 10_000 && Instant::now() < deadline {
        for i in 0..1_000 {
            retire(&counted(i, &others));
        }
    }
    assert!(
        live() < 10_000,
        "{} of {n} retired objects still allocated",
        live()
    );
}

#[test]
fn a_thread_exit_hands_its_partial_bag_over() {
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let drops = Arc::clone(&drops);
        std::thread::spawn(move || retire(&counted(1, &drops)))
            .join()
            .unwrap();
    }
    assert!(collect_until(&drops, 1), "the exited thread's bag was lost");
}

#[test]
fn the_collection_threshold_follows_the_barrier_cost() {
    let at = |ns| reclaim::collect_at_for(Duration::from_nanos(ns));
    // A cheap barrier (no other thread running): small, cache-warm batches.
    assert_eq!(at(140), 128);
    // 10.6 µs (one other busy CPU): 8 ns of barrier per object.
    assert_eq!(at(10_600), 1325);
    // A pathological barrier never lets garbage grow without bound.
    assert_eq!(at(1_000_000_000), 8192);
}

/// A value whose destructor writes to another cache.
#[derive(Clone)]
struct Reenter(Arc<crate::Cache<u64, u64>>, u64);

impl Drop for Reenter {
    fn drop(&mut self) {
        self.0.insert(self.1, self.1);
        let _ = self.0.get(&self.1);
    }
}

#[test]
#[cfg_attr(miri, ignore = "20k inserts: minutes under Miri")]
fn a_freed_value_may_use_a_cache_in_its_destructor() {
    let inner = Arc::new(crate::Cache::<u64, u64>::builder().max_capacity(50).build());
    let outer = crate::Cache::<u64, Reenter>::builder()
        .max_capacity(10)
        .build();
    // A reader pinned throughout keeps every evicted value waiting, so
    // the collection below frees them all at once.
    let (pinned_tx, pinned_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let _guard = pin();
        pinned_tx.send(()).unwrap();
        done_rx.recv().unwrap();
    });
    pinned_rx.recv().unwrap();
    for k in 0..20_000 {
        outer.insert(k, Reenter(Arc::clone(&inner), k));
    }
    done_tx.send(()).unwrap();
    reader.join().unwrap();
    // The next collections (at these inserts' unpins) find all of them
    // freeable at once: more than one thread's list holds.
    for k in 20_000..20_500 {
        outer.insert(k, Reenter(Arc::clone(&inner), k));
    }
    // Other tests' readers, pinned for a moment, can hold a batch back for
    // a round: collect until the destructors have run (bounded).
    let written = || inner.stats().inserts() + inner.stats().updates();
    let deadline = Instant::now() + Duration::from_secs(10);
    while written() < 20_000 && Instant::now() < deadline {
        reclaim::collect_now();
        std::thread::sleep(Duration::from_millis(1));
    }
    // Every evicted value's destructor ran and wrote to `inner`, from
    // inside the reclamation code, without tripping over its state.
    assert!(written() >= 20_000, "{} destructors ran", written());
    assert!(
        inner.len() <= 50 && !inner.is_empty(),
        "{} entries",
        inner.len()
    );
    inner.validate();
}

#[test]
fn deferred_work_runs_at_the_outermost_unpin_unpinned() {
    use std::cell::Cell;
    use std::rc::Rc;
    let ran = Rc::new(Cell::new(0));
    let outer = pin();
    {
        let inner = pin();
        let ran = Rc::clone(&ran);
        inner.defer_unpinned(Box::new(move || {
            // Unpinned: a pin here is the outermost again, and work it
            // defers runs at its own unpin.
            let again = pin();
            let ran2 = Rc::clone(&ran);
            again.defer_unpinned(Box::new(move || ran2.set(ran2.get() + 10)));
            ran.set(ran.get() + 1);
        }));
    }
    assert_eq!(ran.get(), 0, "ran while an outer pin was held");
    drop(outer);
    assert_eq!(
        ran.get(),
        11,
        "runs once at the outermost unpin, then its own deferral"
    );
    drop(pin());
    assert_eq!(ran.get(), 11, "runs once");
}
