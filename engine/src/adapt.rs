//! The cold floor's adaptation for a whole cache: which keys its miniature
//! simulations follow (`clock_pro::shadows`), how their accesses reach the
//! simulations, and how a chosen floor reaches the shards.
//!
//! A hit on a sampled entry must not write a shared line, so it only
//! [`note`](crate::reclaim::Guard::note)s the key's id in its thread's
//! ring, under this cache's tag, and only when it sets the entry's
//! reference bit: once per lap of the hands, which is all a simulated
//! CLOCK needs to see of a resident page, and few enough notes that a
//! thread's run of hits between two writes fits in its ring. A write of a sampled key notes it the same
//! way (keeping the thread's order of hits and writes), then replays every
//! thread's notes into the simulations if no other writer is doing so;
//! when a simulation period ends with a new floor, it stores the floor in
//! each shard, whose next insert hands it to the policy. Notes a ring lost
//! before a writer came by are accesses the simulations never see, at
//! worst a noisier choice.

use crate::clock_pro::shadows::{Sampler, Shadows};
use crate::reclaim::{Guard, Trail};
use crate::shard::Shard;
use crate::sync::{lock, try_lock, Mutex};

/// A cache's sampler and simulations.
pub(crate) struct Adapt {
    sampler: Sampler,
    tag: u32,
    replay: Mutex<Replay>,
}

/// What a replay holds: where it stopped in each ring, the simulations,
/// and a buffer for the notes it takes.
struct Replay {
    trail: Trail,
    shadows: Shadows,
    notes: Vec<u32>,
}

impl Adapt {
    /// The adaptation of a cache of `capacity` entries of weight 1.
    pub(crate) fn new(capacity: u64) -> Adapt {
        let sampler = Sampler::new(capacity);
        let trail = Trail::new();
        Adapt {
            sampler,
            tag: trail.tag(),
            replay: Mutex::new(Replay {
                trail,
                shadows: Shadows::new(sampler, capacity),
                notes: Vec::new(),
            }),
        }
    }

    /// Whether the simulations follow the key hashed to `hash`.
    #[inline(always)]
    pub(crate) fn sampled(&self, hash: u64) -> bool {
        self.sampler.sampled(hash as u32)
    }

    /// A hit that set the reference bit of a sampled entry, whose key
    /// hashed to `hash`: a note in this thread's ring.
    #[inline]
    pub(crate) fn hit(&self, hash: u64, guard: &Guard) {
        guard.note(self.tag, hash as u32);
    }

    /// A write of the sampled key hashed to `hash`: a note, then a replay
    /// of every thread's notes unless another writer is replaying; a new
    /// floor goes to every shard.
    pub(crate) fn write<K, V>(&self, hash: u64, guard: &Guard, shards: &[Shard<K, V>]) {
        guard.note(self.tag, hash as u32);
        let Some(mut replay) = try_lock(&self.replay) else {
            return;
        };
        let Replay {
            trail,
            shadows,
            notes,
        } = &mut *replay;
        notes.clear();
        trail.read(notes);
        let mut chosen = None;
        for &id in notes.iter() {
            chosen = shadows.access(id).or(chosen);
        }
        if let Some(share) = chosen {
            for shard in shards {
                shard.set_cold_floor(share);
            }
        }
    }

    /// The cache's capacity became `capacity`: the simulations start over
    /// at their new size.
    pub(crate) fn resize(&self, capacity: u64) {
        lock(&self.replay).shadows.resize(capacity);
    }

    /// The floor chosen last, in `ClockPro::set_cold_floor`'s units.
    #[cfg(test)]
    pub(crate) fn chosen(&self) -> u32 {
        lock(&self.replay).shadows.chosen()
    }

    /// Accesses the simulations have replayed.
    #[cfg(test)]
    pub(crate) fn replayed(&self) -> u64 {
        lock(&self.replay).shadows.replayed()
    }

    /// Pages the first simulation holds.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        lock(&self.replay).shadows.held()
    }

    #[cfg(any(test, fuzzing, clockwise_loom))]
    pub(crate) fn validate(&self) {
        lock(&self.replay).shadows.validate();
    }
}
