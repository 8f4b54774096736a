//! Which stripe of every counter set and histogram the calling thread writes.
//!
//! # Protocol and invariants
//!
//! The process has `owned` slot indices and `shared` stripe indices, fixed at
//! first use ([`layout`]). Every [`CounterSet`](crate::CounterSet) and
//! [`Histogram`](crate::Histogram) allocates one cache-padded cell group per
//! index, so "slot `i`" means the same thing in all of them.
//!
//! - An owned index is held by **at most one live thread at a time**. The
//!   free bitmap (`free`, one bit per owned index, set = free) is the only
//!   source of indices: a thread claims index `i` by clearing bit `i` with a
//!   compare-exchange, and sets it again only from its thread-local
//!   destructor, after its last write.
//! - So every owned cell has a single writer, which bumps it with a plain
//!   `Relaxed` load + store: no locked read-modify-write on the hot path.
//! - When an index changes hands, the old holder's writes *happen before* the
//!   new holder's first load: the old holder sets the bit with `Release`, the
//!   new holder clears it with `Acquire` and so reads from that release. The
//!   new holder continues from the exact value the old one left; values are
//!   never reset, which keeps every sum exact.
//! - Claiming and releasing take no lock, so a thread that ends never waits.
//! - A thread that finds no free bit gets a shared stripe (round-robin)
//!   for its whole life and writes it with `fetch_add`, which tolerates any
//!   number of writers.
//! - A thread whose thread-local is already destroyed (a write from another
//!   thread-local's destructor) uses shared stripe 0.

use crate::sync::{global, parallelism, thread_local, AtomicU64, AtomicUsize, Cell, Ordering};

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
        if crate::sync::LOOM {
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

/// The stripe a thread writes: an index into every set's stripes (owned
/// indices first, then shared ones), and whether this thread is its only
/// writer (write with `Relaxed` load + store) or not (write with
/// `fetch_add`). Packed as `index << 1 | shared` so that the hot path reads
/// one word, and one test of its low bit both finds an owned slot and
/// rules out [`UNCLAIMED`] (which is odd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot(usize);

impl Slot {
    fn owned(index: usize) -> Slot {
        Slot(index << 1)
    }

    /// Shared stripe `j`, which follows the owned ones.
    fn shared(j: usize) -> Slot {
        Slot((REGISTRY.layout.owned + j) << 1 | 1)
    }

    /// The stripe's index in a set of [`Layout::total`] stripes.
    #[inline]
    pub(crate) fn index(self) -> usize {
        self.0 >> 1
    }

    /// True if this thread is the stripe's only writer.
    #[inline]
    pub(crate) fn is_owned(self) -> bool {
        self.0 & 1 == 0
    }
}

struct Registry {
    layout: Layout,
    /// Bit `i % 64` of word `i / 64` is set while owned index `i` is free.
    free: Box<[AtomicU64]>,
    /// Round-robin cursor over the shared stripes.
    next_shared: AtomicUsize,
}

global! {
    static REGISTRY: Registry = {
        let layout = Layout::for_parallelism(parallelism());
        Registry {
            layout,
            free: (0..layout.owned.div_ceil(64))
                .map(|w| {
                    let bits = (layout.owned - 64 * w).min(64);
                    AtomicU64::new(if bits == 64 { u64::MAX } else { (1 << bits) - 1 })
                })
                .collect(),
            next_shared: AtomicUsize::new(0),
        }
    };
}

/// The thread's claim on a slot; gives an owned index back when the thread ends.
struct Claim {
    slot: Slot,
    /// Set once [`release_current_for_loom`] has given the index back.
    #[cfg(clockwise_loom)]
    released: Cell<bool>,
}

impl Claim {
    fn new() -> Claim {
        let registry = &*REGISTRY;
        for (w, word) in registry.free.iter().enumerate() {
            // Relaxed: a stale view only costs a failed compare-exchange.
            let mut bits = word.load(Ordering::Relaxed);
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                // Acquire pairs with the Release in `drop`: the previous
                // holder's writes to this index happen before ours.
                match word.compare_exchange_weak(
                    bits,
                    bits & !(1 << bit),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Claim::of(Slot::owned(64 * w + bit)),
                    Err(now) => bits = now,
                }
            }
        }
        // Relaxed: only spreads threads over stripes; any value is correct.
        let n = registry.next_shared.fetch_add(1, Ordering::Relaxed);
        Claim::of(Slot::shared(n % registry.layout.shared))
    }

    fn of(slot: Slot) -> Claim {
        Claim {
            slot,
            #[cfg(clockwise_loom)]
            released: Cell::new(false),
        }
    }
}

/// Gives an owned index back to the free bitmap.
fn release(slot: Slot) {
    if slot.is_owned() {
        let index = slot.index();
        // Release publishes this thread's last writes to the index's next
        // holder, whose claim reads this with Acquire.
        REGISTRY.free[index / 64].fetch_or(1 << (index % 64), Ordering::Release);
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        #[cfg(clockwise_loom)]
        if self.released.get() {
            return;
        }
        // From now on this thread writes shared stripe 0: the owned index
        // may go to another thread as soon as it is released.
        let _ = FAST.try_with(|f| f.set(Slot::shared(0).0));
        release(self.slot);
    }
}

/// Runs the end-of-thread release now, for loom models only.
///
/// loom 0.7 corrupts its own state when a thread-local destructor of a
/// spawned model thread performs an atomic operation (reproduced in
/// `loom-tests/tests/loom_tls_destructor.rs`), so the models call this as the
/// last statement of each thread instead: it runs the same [`release`] the
/// destructor would, and the destructor then does nothing.
#[cfg(clockwise_loom)]
#[doc(hidden)]
pub fn release_current_for_loom() {
    let _ = CLAIM.try_with(|c| {
        if !c.released.replace(true) {
            let _ = FAST.try_with(|f| f.set(Slot::shared(0).0));
            release(c.slot);
        }
    });
}

thread_local! {
    static CLAIM: Claim = Claim::new();
}

/// The process-wide stripe layout.
pub fn layout() -> Layout {
    REGISTRY.layout
}

// A copy of the claimed slot in a thread-local without a destructor and
// with a constant initializer, so the hot path reads it with one
// thread-pointer-relative load and no initialization-state check (`CLAIM`,
// which has a destructor, needs both). `Claim::drop` resets it to shared
// stripe 0 before releasing the owned index.
crate::sync::fast_thread_locals! {
    static FAST: Cell<usize> = Cell::new(UNCLAIMED);
}

/// `FAST` before the thread's first claim (never a valid packed slot: an
/// index that large cannot exist). Odd, like a shared slot, so the hot
/// path's one test for "owned" also sends an unclaimed thread to [`claim`].
const UNCLAIMED: usize = usize::MAX;

/// The calling thread's slot, claimed on its first call.
#[inline]
pub(crate) fn current() -> Slot {
    let fast = Slot(FAST.with(Cell::get));
    if fast.is_owned() {
        return fast;
    }
    claim()
}

/// The slot of a thread that holds no owned index: a shared stripe, or
/// none yet (claim one now).
#[cold]
fn claim() -> Slot {
    let fast = FAST.with(Cell::get);
    if fast != UNCLAIMED {
        return Slot(fast);
    }
    let slot = CLAIM
        .try_with(|c| c.slot)
        .unwrap_or_else(|_| Slot::shared(0));
    FAST.with(|f| f.set(slot.0));
    slot
}
