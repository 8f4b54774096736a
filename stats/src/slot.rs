//! Which stripe of every counter set and histogram the calling thread writes.
//!
//! # Protocol and invariants
//!
//! The process has `owned` slot indices and `shared` stripe indices, fixed at
//! first use ([`layout`]). Every [`CounterSet`](crate::CounterSet) and
//! [`Histogram`](crate::Histogram) allocates one cache-padded cell group per
//! index, so "slot `i`" means the same thing in all of them.
//!
//! - An owned index is held by **at most one live thread at a time**. Indices
//!   come only from the free list (under its mutex) and go back to it only from
//!   the holder's thread-local destructor, after the holder's last write.
//! - So every owned cell has a single writer, which bumps it with a plain
//!   `Relaxed` load + store: no locked read-modify-write on the hot path.
//! - When an index changes hands, the old holder's writes *happen before* the
//!   new holder's first load: the old holder releases the free-list mutex after
//!   pushing the index, the new holder acquires it before popping it. The new
//!   holder therefore continues from the exact value the old one left; values
//!   are never reset, which keeps every sum exact.
//! - A thread that finds the free list empty gets a shared stripe (round-robin)
//!   for its whole life and writes it with `fetch_add`, which tolerates any
//!   number of writers.
//! - A thread whose thread-local is already destroyed (a write from another
//!   thread-local's destructor) uses shared stripe 0.

use crate::sync::{global, lock, parallelism, thread_local, AtomicUsize, Mutex, Ordering};

/// How many stripes each counter set and histogram has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Stripes owned by one thread at a time, written without read-modify-write.
    pub owned: usize,
    /// Stripes shared by overflow threads, written with `fetch_add`.
    pub shared: usize,
}

impl Layout {
    fn for_parallelism(cores: usize) -> Layout {
        let p = cores.max(1).next_power_of_two();
        if cfg!(clockwise_loom) {
            // One owned slot: the second writer of a model overflows.
            return Layout {
                owned: 1,
                shared: 1,
            };
        }
        Layout {
            owned: (2 * p).max(4),
            shared: p,
        }
    }

    /// Owned plus shared stripes.
    pub fn total(self) -> usize {
        self.owned + self.shared
    }
}

/// The stripe a thread writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Exclusively this thread's: write with `Relaxed` load + store.
    Owned(usize),
    /// Possibly written by other threads too: write with `fetch_add`.
    Shared(usize),
}

struct Registry {
    layout: Layout,
    /// Owned indices nobody holds. Popped from the end, so an index freed by
    /// an exiting thread is the next one handed out.
    free: Mutex<Vec<usize>>,
    /// Round-robin cursor over the shared stripes.
    next_shared: AtomicUsize,
}

global! {
    static REGISTRY: Registry = {
        let layout = Layout::for_parallelism(parallelism());
        Registry {
            layout,
            free: Mutex::new((0..layout.owned).rev().collect()),
            next_shared: AtomicUsize::new(0),
        }
    };
}

/// The thread's claim on a slot; gives an owned index back when the thread ends.
struct Claim(Slot);

impl Claim {
    fn new() -> Claim {
        let registry = &*REGISTRY;
        if let Some(index) = lock(&registry.free).pop() {
            return Claim(Slot::Owned(index));
        }
        // Relaxed: only spreads threads over stripes; any value is correct.
        let n = registry.next_shared.fetch_add(1, Ordering::Relaxed);
        Claim(Slot::Shared(n % registry.layout.shared))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Slot::Owned(index) = self.0 {
            // The mutex release publishes this thread's last writes to the
            // index's next holder (see the module invariants).
            lock(&REGISTRY.free).push(index);
        }
    }
}

thread_local! {
    static CLAIM: Claim = Claim::new();
}

/// The process-wide stripe layout.
pub fn layout() -> Layout {
    REGISTRY.layout
}

/// The calling thread's slot, claimed on its first call.
#[inline]
pub(crate) fn current() -> Slot {
    CLAIM.try_with(|c| c.0).unwrap_or(Slot::Shared(0))
}
