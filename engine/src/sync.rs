//! The one place where the engine imports atomics, locks, threads and the
//! epoch-reclamation crate.
//!
//! Built with `--cfg clockwise_loom` (and `--cfg crossbeam_loom`, which makes
//! crossbeam-epoch use loom too) these are loom's types, so the models in
//! `clockwise-loom-tests` run the engine's real publication, lookup and
//! reclamation code.

#[cfg(not(clockwise_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{
        AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard, TryLockError};
}

#[cfg(clockwise_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{
        AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
    pub(crate) use std::sync::TryLockError;
}

pub(crate) use crossbeam_epoch as epoch;
pub(crate) use imp::*;

/// Pins the current thread for epoch-protected reads.
#[cfg(not(clockwise_loom))]
#[inline(always)]
pub(crate) fn pin() -> epoch::Guard {
    epoch::pin()
}

#[cfg(clockwise_loom)]
loom::lazy_static! {
    static ref COLLECTOR: epoch::Collector = epoch::Collector::new();
}

#[cfg(clockwise_loom)]
loom::thread_local! {
    static HANDLE: std::cell::RefCell<Option<epoch::LocalHandle>> = std::cell::RefCell::new(None);
}

/// Under loom, the default collector keeps each thread's handle in a
/// thread-local whose destructor does atomic operations, which loom 0.7
/// cannot model (see `loom-tests/tests/loom_tls_destructor.rs`). Here each
/// model thread registers one handle with a model-scoped collector, and gives
/// it back through [`release_thread_for_loom`] as its last act.
#[cfg(clockwise_loom)]
pub(crate) fn pin() -> epoch::Guard {
    HANDLE.with(|h| {
        h.borrow_mut()
            .get_or_insert_with(|| COLLECTOR.register())
            .pin()
    })
}

/// Drops the calling model thread's epoch handle (loom builds only).
#[cfg(clockwise_loom)]
pub fn release_thread_for_loom() {
    HANDLE.with(|h| drop(h.borrow_mut().take()));
}

/// Locks `m`, ignoring poisoning: every shard mutation is written so that a
/// panic (in a user's predicate, say) leaves the shard consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Locks `m` if no one holds it; never waits.
pub(crate) fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Stands in, under loom, for the single total order of `SeqCst` accesses,
/// which loom does not model (it treats them as `AcqRel`; tokio-rs/loom#180):
/// a `SeqCst` fence placed between a `SeqCst` store and a later `SeqCst`
/// load of another location gives loom the same store-buffering guarantee.
/// Compiles to nothing otherwise, where the `SeqCst` accesses provide it.
#[inline(always)]
pub(crate) fn seqcst_fence_for_loom() {
    #[cfg(clockwise_loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}
