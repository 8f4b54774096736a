//! The one place where the engine imports atomics, locks and cells.
//!
//! Built with `--cfg clockwise_loom` these are loom's types, so the models
//! in `clockwise-loom-tests` run the engine's real publication, lookup and
//! reclamation code (`crate::reclaim` is built on these too).

#[cfg(not(clockwise_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard, TryLockError};
}

#[cfg(clockwise_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
    pub(crate) use std::sync::TryLockError;
}

pub(crate) use imp::*;

/// A cell shared between threads whose accesses a protocol orders (the
/// reclamation bags, which their owner fills and a collector may empty):
/// loom's under loom, which checks that no two accesses race, else a thin
/// wrapper over std's with the same closure API.
#[cfg(clockwise_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// See the loom build's `UnsafeCell`.
#[cfg(not(clockwise_loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(clockwise_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer for reading or writing the value; the
    /// caller's protocol makes the access exclusive.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
/// Thread-local state only (never shared between threads), so std's in
/// every build.
pub(crate) use std::cell::{Cell, RefCell};
/// Orders only this thread's accesses against the compiler (the light half
/// of `crate::reclaim`'s asymmetric fence; loom builds use full fences).
pub(crate) use std::sync::atomic::compiler_fence;
/// The depot of recycled allocation blocks (`crate::reclaim::recycle`),
/// a `static`, so `const`-built: std's in every build. It is outside every
/// lock-free protocol, and unused under loom, where nothing is recycled.
pub(crate) use std::sync::Mutex as StdMutex;
/// Initialized once, off every read and write path (a loading cache's first
/// load creates its load-latency histogram) and outside every lock-free
/// protocol: std's in every build (loom 0.7 has none).
pub(crate) use std::sync::OnceLock;

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
    fence(Ordering::SeqCst);
}

/// Whether this is a loom build: models shrink the reclamation's batch
/// sizes to what a model can explore, and skip what loom cannot run (the
/// `membarrier` system call, recycled blocks).
pub(crate) const LOOM: bool = cfg!(clockwise_loom);

/// Declares thread-locals: std's with `const` initializers (no lazy-init
/// check on access), or loom's, which a model resets for every execution.
macro_rules! thread_locals {
    ($($(#[$m:meta])* static $name:ident: $t:ty = $init:expr;)*) => {
        #[cfg(not(clockwise_loom))]
        std::thread_local! { $($(#[$m])* static $name: $t = const { $init };)* }
        #[cfg(clockwise_loom)]
        loom::thread_local! { $($(#[$m])* static $name: $t = $init;)* }
    };
}
pub(crate) use thread_locals;

/// Declares a process-wide value: a `static` built at compile time, or under
/// loom a lazily built one that a model resets for every execution. Read it
/// as `&NAME`.
macro_rules! global {
    ($(#[$m:meta])* static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(clockwise_loom))]
        $(#[$m])*
        static $name: $t = $init;
        #[cfg(clockwise_loom)]
        loom::lazy_static! {
            $(#[$m])*
            static ref $name: $t = $init;
        }
    };
}
pub(crate) use global;

/// Items that exist only in builds that check invariants (`validate()`):
/// tests, fuzzing and loom models.
macro_rules! checking {
    ($($item:item)*) => {
        $(
            #[cfg(any(test, fuzzing, clockwise_loom))]
            $item
        )*
    };
}
pub(crate) use checking;

/// A value kept only where invariants are checked (see [`checking`]):
/// zero-sized elsewhere, so release builds pay nothing for it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Checked<T>(
    #[cfg(any(test, fuzzing, clockwise_loom))] T,
    #[cfg(not(any(test, fuzzing, clockwise_loom)))] std::marker::PhantomData<T>,
);

impl<T: Copy> Checked<T> {
    #[inline(always)]
    pub(crate) fn new(value: T) -> Checked<T> {
        #[cfg(any(test, fuzzing, clockwise_loom))]
        return Checked(value);
        #[cfg(not(any(test, fuzzing, clockwise_loom)))]
        {
            let _ = value;
            Checked(std::marker::PhantomData)
        }
    }

    /// The value (only where it is kept).
    #[cfg(any(test, fuzzing, clockwise_loom))]
    pub(crate) fn get(self) -> T {
        self.0
    }
}
