//! The one place where `clockwise-stats` imports atomics, locks, thread-locals,
//! lazily initialised globals and threads.
//!
//! Built normally, these are the `std` types. Built with `--cfg clockwise_loom`
//! they are loom's, so the models in `clockwise-loom-tests` run the real
//! protocol code of this crate under loom's scheduler instead of a copy of it.
//! Nothing else in the crate may name `std::sync`, `std::thread` or
//! `std::cell` directly.

#[cfg(not(clockwise_loom))]
mod imp {
    pub(crate) use std::cell::Cell;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
    pub(crate) use std::thread;
    pub(crate) use std::thread_local;

    /// How many hardware threads the process may run on.
    pub(crate) fn parallelism() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// Declares a process-wide value built on first use.
    macro_rules! global {
        ($(#[$m:meta])* static $name:ident: $t:ty = $init:expr;) => {
            $(#[$m])*
            static $name: std::sync::LazyLock<$t> = std::sync::LazyLock::new(|| $init);
        };
    }
    pub(crate) use global;
}

#[cfg(clockwise_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    // Locks, condvars, shared pointers and threads stay `std`'s: their users
    // (the registry, the window `Ticker`, the exporters) are cold paths, not
    // lock-free protocols, and no model runs them.
    pub(crate) use loom::thread_local;
    /// Thread-local only (never shared), so loom need not track it.
    pub(crate) use std::cell::Cell;
    pub(crate) use std::sync::atomic::AtomicBool;
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
    pub(crate) use std::thread;

    /// Under loom the machine is pretended to have one core, so the models
    /// need only two threads to exercise both owned and shared slots.
    pub(crate) fn parallelism() -> usize {
        1
    }

    /// Declares a value that loom resets for every explored execution.
    macro_rules! global {
        ($(#[$m:meta])* static $name:ident: $t:ty = $init:expr;) => {
            loom::lazy_static! {
                $(#[$m])*
                static ref $name: $t = $init;
            }
        };
    }
    pub(crate) use global;
}

pub(crate) use imp::*;

/// Locks `m`, ignoring poisoning.
///
/// Every mutex in this crate guards data that is consistent between
/// statements (a free list, a ring of snapshots), so a panic elsewhere while
/// it was held cannot leave it half-updated; refusing to use it afterwards
/// would only turn one panic into many.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether this is a loom build (the models run with one owned slot).
pub(crate) const LOOM: bool = cfg!(clockwise_loom);

/// Declares thread-locals without destructors: std's with `const`
/// initializers (one thread-pointer-relative load, no initialization
/// check), or loom's, which a model resets for every execution.
macro_rules! fast_thread_locals {
    ($($(#[$m:meta])* static $name:ident: $t:ty = $init:expr;)*) => {
        #[cfg(not(clockwise_loom))]
        std::thread_local! { $($(#[$m])* static $name: $t = const { $init };)* }
        #[cfg(clockwise_loom)]
        loom::thread_local! { $($(#[$m])* static $name: $t = $init;)* }
    };
}
pub(crate) use fast_thread_locals;
