//! Striped `u64` counters: one cache-padded cell group per thread slot.
//!
//! # Invariants
//!
//! - `owned[i]` is written only by the thread currently holding owned slot
//!   `i` (see [`crate::slot`]), with a `Relaxed` load followed by a `Relaxed`
//!   store. No other thread writes it, so no increment is ever lost.
//! - `shared[j]` may be written by several overflow threads, always with
//!   `fetch_add`.
//! - Readers only load. A counter's value is the wrapping sum of its cell in
//!   every stripe.
//!
//! # What a sum guarantees
//!
//! For each counter separately, the value returned by [`CounterSet::get`] lies
//! between the true total when the call started and the true total when it
//! returned (each cell only grows and is read once). Successive sums by one
//! thread never decrease (read-read coherence per cell). Once every writer has
//! been joined, the sum is exact. There is **no atomicity across counters**:
//! [`CounterSet::values`] may see an increment of one counter and miss a later
//! increment of another, so derived ratios are approximate while writers run.

use crate::slot;
use crate::sync::{AtomicU64, Ordering};
use crate::ThreadSlot;
use crate::{NameError, Snapshot};
use crossbeam_utils::CachePadded;
use std::marker::PhantomData;

type Stripe<const N: usize> = CachePadded<[AtomicU64; N]>;

fn stripes<const N: usize>(count: usize) -> Box<[Stripe<N>]> {
    (0..count)
        .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
        .collect()
}

/// A set of `N` named counters striped over the threads that bump them.
///
/// All counters of a set share one cache-padded stripe per thread, so one
/// operation that bumps several counters touches one line, and a line is
/// written by one thread only.
///
/// ```
/// use clockwise_stats::CounterSet;
///
/// let counters = CounterSet::new(["hit", "miss"]).unwrap();
/// counters.add(0, 1);
/// counters.local().add(1, 2); // several bumps with one thread-local lookup
/// assert_eq!(counters.values(), [1, 2]);
/// ```
#[derive(Debug)]
pub struct CounterSet<const N: usize> {
    names: [&'static str; N],
    /// [`Layout::total`](crate::slot::Layout::total) stripes, owned ones first.
    stripes: Box<[Stripe<N>]>,
}

impl<const N: usize> CounterSet<N> {
    /// A set of counters, all zero.
    ///
    /// Names must be non-empty, made of ASCII letters, digits and `_`, not
    /// start with a digit, and be distinct; otherwise a [`NameError`] says
    /// which and why.
    pub fn new(names: [&'static str; N]) -> Result<Self, NameError> {
        for (i, name) in names.iter().enumerate() {
            crate::validate_name(name)?;
            if names[..i].contains(name) {
                return Err(NameError::Duplicate((*name).to_owned()));
            }
        }
        let layout = slot::layout();
        Ok(CounterSet {
            names,
            stripes: stripes(layout.total()),
        })
    }

    /// The counters' names, in index order.
    pub fn names(&self) -> &[&'static str; N] {
        &self.names
    }

    /// Adds `n` to counter `counter` on the calling thread's stripe.
    ///
    /// # Panics
    /// If `counter >= N` (a programming error, like indexing a slice).
    #[inline]
    pub fn add(&self, counter: usize, n: u64) {
        self.local().add(counter, n);
    }

    /// The calling thread's stripe, for several bumps with one thread-local
    /// lookup.
    #[inline]
    pub fn local(&self) -> Local<'_, N> {
        self.at(ThreadSlot::current())
    }

    /// The stripe of `slot`, for a caller that also writes other sets or
    /// histograms and looked its slot up once.
    #[inline]
    pub fn at(&self, slot: ThreadSlot) -> Local<'_, N> {
        Local {
            stripe: &self.stripes[slot.0.index()],
            owned: slot.0.is_owned(),
            _not_send: PhantomData,
        }
    }

    /// The current sum of one counter (see the module docs for what it
    /// guarantees while writers run).
    ///
    /// # Panics
    /// If `counter >= N`.
    pub fn get(&self, counter: usize) -> u64 {
        self.stripes
            .iter()
            // Relaxed: each cell is read once; see "What a sum guarantees".
            .fold(0u64, |sum, s| {
                sum.wrapping_add(s[counter].load(Ordering::Relaxed))
            })
    }

    /// The current sums of all counters, in index order.
    pub fn values(&self) -> [u64; N] {
        let mut out = [0u64; N];
        for stripe in self.stripes.iter() {
            for (o, cell) in out.iter_mut().zip(stripe.iter()) {
                *o = o.wrapping_add(cell.load(Ordering::Relaxed));
            }
        }
        out
    }

    /// Writes every counter into `snapshot` under `prefix` + its name.
    pub fn snapshot_into(&self, prefix: &str, snapshot: &mut Snapshot) {
        for (name, value) in self.names.iter().zip(self.values()) {
            snapshot.set_counter(format!("{prefix}{name}"), value);
        }
    }
}

/// The calling thread's stripe of a [`CounterSet`]; not `Send`, because the
/// stripe belongs to this thread.
///
/// ```
/// let counters = clockwise_stats::CounterSet::new(["a", "b"]).unwrap();
/// let local = counters.local();
/// local.add(0, 1);
/// local.add(1, 1);
/// assert_eq!(counters.get(1), 1);
/// ```
#[derive(Debug)]
pub struct Local<'a, const N: usize> {
    /// The stripe, resolved once so each bump is a load and a store.
    stripe: &'a [AtomicU64; N],
    /// True if this thread is the stripe's only writer.
    owned: bool,
    _not_send: PhantomData<*const ()>,
}

impl<const N: usize> Local<'_, N> {
    /// Adds `n` to counter `counter` and returns this stripe's new value of
    /// it: a per-thread sequence number, for example to sample one call in
    /// 2^k without a separate countdown.
    ///
    /// ```
    /// let counters = clockwise_stats::CounterSet::new(["calls"]).unwrap();
    /// let local = counters.local();
    /// let first = local.add_and_get(0, 1);
    /// assert_eq!(local.add_and_get(0, 1), first + 1);
    /// ```
    ///
    /// # Panics
    /// If `counter >= N`.
    #[inline]
    pub fn add_and_get(&self, counter: usize, n: u64) -> u64 {
        let cell = &self.stripe[counter];
        if self.owned {
            // Single writer: see `add`.
            let new = cell.load(Ordering::Relaxed).wrapping_add(n);
            cell.store(new, Ordering::Relaxed);
            new
        } else {
            cell.fetch_add(n, Ordering::Relaxed).wrapping_add(n)
        }
    }

    /// Adds `n` to counter `counter`.
    ///
    /// # Panics
    /// If `counter >= N`.
    #[inline]
    pub fn add(&self, counter: usize, n: u64) {
        let cell = &self.stripe[counter];
        if self.owned {
            // Relaxed load + store is exact: this thread is the cell's only
            // writer (module invariants), and the hand-over from a previous
            // holder is ordered by the slot bitmap's Release/Acquire.
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        } else {
            // Relaxed: a counter orders nothing else.
            cell.fetch_add(n, Ordering::Relaxed);
        }
    }
}
