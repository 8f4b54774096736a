//! The one place where the engine imports atomics, locks, threads and the
//! epoch-reclamation crate.
//!
//! Built with `--cfg clockwise_loom` (and `--cfg crossbeam_loom`, which makes
//! crossbeam-epoch use loom too) these are loom's types, so the models in
//! `clockwise-loom-tests` run the engine's real publication, lookup and
//! reclamation code.

#[cfg(not(clockwise_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::sync::{Mutex, MutexGuard, TryLockError};
}

#[cfg(clockwise_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use loom::sync::{Mutex, MutexGuard};
    pub(crate) use std::sync::TryLockError;
}

pub(crate) use crossbeam_epoch as epoch;
pub(crate) use imp::*;

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
