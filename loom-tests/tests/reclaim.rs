//! loom models of the engine's memory reclamation (`engine/src/reclaim.rs`):
//! a retired object is never freed while a reader that loaded it is pinned.
//!
//! The object holds a loom `UnsafeCell` that its destructor writes: if a
//! free could race a pinned reader's read, loom reports the two accesses as
//! a causality violation. Under loom, an object retired as 16 bytes or more
//! seals its bag at once and every seal collects, so each model runs the
//! real pin, retire, heavy-barrier (a `SeqCst` fence under loom) and collect
//! code; one retired as fewer bytes stays in its thread's bag, for
//! `collect_garbage`'s steal to take.
//!
//! Build with `RUSTFLAGS="--cfg clockwise_loom"`.
#![cfg(clockwise_loom)]

use clockwise::reclaim_for_loom::{pin, Atomic, Column, Owned, Shared, Trail};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;

struct Object {
    value: UnsafeCell<u64>,
    /// Counts the object's drop, where a model checks it.
    drops: Option<Arc<AtomicUsize>>,
}

impl Object {
    fn new(value: u64) -> Object {
        Object {
            value: UnsafeCell::new(value),
            drops: None,
        }
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        // The free "writes" the object: ordered after every read only if
        // the protocol makes it so.
        // SAFETY: `&mut self`: no other reference to the object exists,
        // which is the claim loom checks.
        self.value.with_mut(|v| unsafe { *v = 0 });
        if let Some(d) = &self.drops {
            d.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> loom::thread::JoinHandle<T> {
    loom::thread::spawn(move || {
        let out = f();
        clockwise::release_thread_for_loom();
        out
    })
}

/// Unlinks the slot's object and retires it as `bytes`: 16 seals the bag
/// (and the retiring thread collects at its unpin), fewer leaves it there.
fn unlink_as(slot: &Atomic<Object>, bytes: usize) {
    let guard = pin();
    let old = slot.load(Ordering::Acquire, &guard);
    slot.store(Shared::null(), Ordering::Release);
    if !old.is_null() {
        // SAFETY: unlinked just above, by the only writer; allocated by
        // `Atomic::new`.
        unsafe { guard.defer_destroy(old, bytes) };
    }
}

/// Unlinks the slot's object and retires it; the retiring thread collects
/// at its unpin.
fn unlink(slot: &Atomic<Object>) {
    unlink_as(slot, 16);
}

/// Reads the slot's object, if any, while pinned.
fn read(slot: &Atomic<Object>) -> Option<u64> {
    let guard = pin();
    let p = slot.load(Ordering::Acquire, &guard);
    if p.is_null() {
        return None;
    }
    // SAFETY: loaded under `guard`; the protocol under test keeps it alive.
    let object = unsafe { p.deref() };
    // SAFETY: only the destructor writes the cell; loom checks that it
    // cannot run concurrently with this read.
    Some(object.value.with(|v| unsafe { *v }))
}

#[test]
fn a_pinned_reader_keeps_a_retired_object_alive() {
    loom::model(|| {
        let slot = Arc::new(Atomic::new(Object::new(7)));
        let reader = {
            let slot = Arc::clone(&slot);
            spawn(move || read(&slot))
        };
        unlink(&slot);
        let seen = reader.join().unwrap();
        assert!(seen.is_none() || seen == Some(7), "read {seen:?}");
        clockwise::release_thread_for_loom();
    });
}

/// Each reader gives its record back as it ends, so the second reader may
/// pin on the first one's record. At 4 preemptions this found a free racing
/// the first reader's read while pin stores were `Relaxed`: the collector
/// noted the record pinned, then read the second reader's pin (a different
/// state, from a stale epoch word) and freed without synchronizing with
/// the first reader's unpin.
#[test]
fn two_readers_and_a_replacing_writer() {
    loom::model(|| {
        let slot = Arc::new(Atomic::new(Object::new(1)));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let slot = Arc::clone(&slot);
                spawn(move || read(&slot))
            })
            .collect();
        {
            // Replace, then retire the old object.
            let guard = pin();
            let old = slot.swap(Owned::new(Object::new(2)), Ordering::AcqRel, &guard);
            // SAFETY: swapped out just above by the only writer.
            unsafe { guard.defer_destroy(old, 16) };
        }
        for r in readers {
            let seen = r.join().unwrap();
            assert!(matches!(seen, Some(1) | Some(2)), "read {seen:?}");
        }
        unlink(&slot);
        clockwise::release_thread_for_loom();
    });
}

/// A column's cells live in the records: a record passes to the next thread
/// with its cells (through the records' lock), and a column's sum is exact
/// once the bumping threads are joined, never above the bumps made while
/// they run.
#[test]
fn column_cells_survive_record_hand_over() {
    loom::model(|| {
        let counter = Arc::new(Column::new());
        assert!(counter.exclusive(), "a free column");
        let first = {
            let counter = Arc::clone(&counter);
            spawn(move || {
                let guard = pin();
                guard.bump(&counter);
                guard.bump(&counter)
            })
        };
        let during = counter.sum();
        assert!(during <= 2, "{during} bumps summed, 2 made");
        assert_eq!(first.join().unwrap(), 2, "the thread's own running count");
        // The first thread gave its record back; the second takes it over
        // (the main thread holds none) and goes on from its count.
        let second = {
            let counter = Arc::clone(&counter);
            spawn(move || pin().bump(&counter))
        };
        assert_eq!(second.join().unwrap(), 3, "the record's count carried over");
        assert_eq!(counter.sum(), 3);
    });
}

/// A trail read while a thread notes past its ring's size (two notes under
/// loom): what it keeps is the notes as written, in order, each once (an
/// overwritten slot read as an older note would repeat or reorder one),
/// and a read after the writer is done ends with its last note.
#[test]
fn a_trail_reads_notes_in_order_while_the_ring_wraps() {
    loom::model(|| {
        let trail = Trail::new();
        let tag = trail.tag();
        let writer = spawn(move || {
            let guard = pin();
            for v in 1..=3 {
                guard.note(tag, v);
            }
        });
        let mut trail = trail;
        let mut seen = Vec::new();
        trail.read(&mut seen);
        writer.join().unwrap();
        trail.read(&mut seen);
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "out of order or repeated: {seen:?}"
        );
        assert!(
            seen.iter().all(|v| (1..=3).contains(v)),
            "not a note: {seen:?}"
        );
        assert_eq!(seen.last(), Some(&3), "the last note: {seen:?}");
    });
}

/// `collect_garbage` empties the bag of a thread that is not pinned, while
/// that thread pins again, reads, and retires into the same bag: the steal
/// handshake (`Domain::steal_bags`). loom checks the bag's cell for two
/// unordered accesses and the objects' cells for a free racing a read; at
/// the end every object has been freed exactly once.
#[test]
fn collect_garbage_takes_a_bag_while_its_holder_retires() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let object = |value| {
            Arc::new(Atomic::new(Object {
                value: UnsafeCell::new(value),
                drops: Some(Arc::clone(&drops)),
            }))
        };
        let (a, b) = (object(1), object(2));
        let holder = {
            let (a, b) = (Arc::clone(&a), Arc::clone(&b));
            spawn(move || {
                // Stays in the bag: the thread is idle between the two.
                unlink_as(&a, 1);
                let seen = read(&b);
                unlink_as(&b, 1);
                seen
            })
        };
        clockwise::collect_garbage();
        assert_eq!(holder.join().unwrap(), Some(2));
        // The holder gave its record back (sealing what was left); the
        // main thread is not pinned, so two rounds free everything.
        clockwise::collect_garbage();
        assert_eq!(drops.load(Ordering::Relaxed), 2, "each object freed once");
        clockwise::release_thread_for_loom();
    });
}
