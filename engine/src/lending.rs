//! Whether any shard may have capacity to lend: one cache-wide hint, so
//! that a full cache's evicting writes do not look at every other shard.
//!
//! Shards lend unused capacity to each other (see
//! `docs/design/capacity.md`); a writer short of room looks for a lender
//! only while this hint says one may exist. The hint is a generation count
//! with a "dry" mark in its low bit:
//!
//! # Invariants
//!
//! - A writer marks the hint dry only with the generation it read before
//!   it looked at the shards ([`Lending::look`], [`Lending::dry`]); the mark
//!   is a compare-and-swap from that generation.
//! - A shard that gains lendable capacity other than by borrowing
//!   (removals, expiry, a lighter update) publishes it, then bumps the
//!   generation and clears the mark in one read-modify-write
//!   ([`Lending::freed`]).
//!
//! So a mark set from a look that missed some lender cannot stay: either
//! that lender's bump came first in the word's modification order (the
//! compare-and-swap fails), or it came after (and clears the mark). The
//! hint only says where to look: the lender's own lock decides what it
//! lends.

use crate::sync::{AtomicU64, Ordering};
use crossbeam_utils::CachePadded;

/// The cache-wide lending hint.
pub(crate) struct Lending {
    /// `generation << 1 | dry`. On a line of its own: read by every
    /// evicting write of a full cache, written only by removals.
    word: CachePadded<AtomicU64>,
}

/// A generation read before looking for a lender.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Look(u64);

impl Lending {
    pub(crate) fn new() -> Lending {
        Lending {
            word: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// The generation to look with, or `None` if the last look found no
    /// lender and nothing was freed since.
    #[inline(always)]
    pub(crate) fn look(&self) -> Option<Look> {
        // Acquire pairs with `freed`'s Release: a look that reads a bump
        // (or a later value) sees the lendable gauge published before it.
        let word = self.word.load(Ordering::Acquire);
        (word & 1 == 0).then_some(Look(word))
    }

    /// Marks the hint dry: the look that read `look` found no lender. Fails
    /// (and leaves the hint) if anything was freed since.
    pub(crate) fn dry(&self, look: Look) {
        // Relaxed: the mark publishes nothing; a failed exchange means a
        // bump came between, and the hint stays open.
        let _ =
            self.word
                .compare_exchange(look.0, look.0 | 1, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// A shard gained lendable capacity, already published in its gauge:
    /// a new generation, not dry.
    pub(crate) fn freed(&self) {
        // `(w | 1) + 1` is the next generation with the mark clear, whether
        // or not it was set. Release pairs with `look`'s Acquire.
        let _ = self
            .word
            .fetch_update(Ordering::Release, Ordering::Relaxed, |w| Some((w | 1) + 1));
    }

    crate::sync::checking! {
        /// Whether the hint is marked dry.
        pub(crate) fn is_dry(&self) -> bool {
            self.word.load(Ordering::Relaxed) & 1 == 1
        }
    }
}
