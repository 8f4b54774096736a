//! loom models of the engine's memory reclamation (`engine/src/reclaim.rs`):
//! a retired object is never freed while a reader that loaded it is pinned.
//!
//! The object holds a loom `UnsafeCell` that its destructor writes: if a
//! free could race a pinned reader's read, loom reports the two accesses as
//! a causality violation. Under loom, bags hold one object and every seal
//! collects, so each model runs the real pin, retire, heavy-barrier (a
//! `SeqCst` fence under loom) and collect code.
//!
//! Build with `RUSTFLAGS="--cfg clockwise_loom"`.
#![cfg(clockwise_loom)]

use clockwise::reclaim_for_loom::{pin, Atomic, Owned, Shared};
use loom::cell::UnsafeCell;
use loom::sync::atomic::Ordering;
use loom::sync::Arc;

struct Object {
    value: UnsafeCell<u64>,
}

impl Drop for Object {
    fn drop(&mut self) {
        // The free "writes" the object: ordered after every read only if
        // the protocol makes it so.
        // SAFETY: `&mut self`: no other reference to the object exists,
        // which is the claim loom checks.
        self.value.with_mut(|v| unsafe { *v = 0 });
    }
}

fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> loom::thread::JoinHandle<T> {
    loom::thread::spawn(move || {
        let out = f();
        clockwise::release_thread_for_loom();
        out
    })
}

/// Unlinks the slot's object and retires it; the retiring thread collects
/// at its unpin.
fn unlink(slot: &Atomic<Object>) {
    let guard = pin();
    let old = slot.load(Ordering::Acquire, &guard);
    slot.store(Shared::null(), Ordering::Release);
    if !old.is_null() {
        // SAFETY: unlinked just above, by the only writer; allocated by
        // `Atomic::new`.
        unsafe { guard.defer_destroy(old) };
    }
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
        let slot = Arc::new(Atomic::new(Object {
            value: UnsafeCell::new(7),
        }));
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

#[test]
fn two_readers_and_a_replacing_writer() {
    loom::model(|| {
        let slot = Arc::new(Atomic::new(Object {
            value: UnsafeCell::new(1),
        }));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let slot = Arc::clone(&slot);
                spawn(move || read(&slot))
            })
            .collect();
        {
            // Replace, then retire the old object.
            let guard = pin();
            let old = slot.swap(
                Owned::new(Object {
                    value: UnsafeCell::new(2),
                }),
                Ordering::AcqRel,
                &guard,
            );
            // SAFETY: swapped out just above by the only writer.
            unsafe { guard.defer_destroy(old) };
        }
        for r in readers {
            let seen = r.join().unwrap();
            assert!(matches!(seen, Some(1) | Some(2)), "read {seen:?}");
        }
        unlink(&slot);
        clockwise::release_thread_for_loom();
    });
}
