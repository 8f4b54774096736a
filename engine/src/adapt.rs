//! The policy's adaptation for a whole cache: which keys the cold floor's
//! miniature simulations follow (`clock_pro::shadows`), how their accesses
//! reach the simulations, and how a chosen floor reaches the shards; and
//! the admission window's share, climbed on the cache's hit ratio
//! (`clock_pro::climb`).
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
//!
//! The window's climber needs the hit ratio of the whole cache, which the
//! cache's metrics count on each thread's own line; so every
//! [`CHECK`]th sampled write (with the replay's lock) sums them, and once
//! [`SAMPLE`] requests per unit of capacity went by since the last sample,
//! the climber moves the share and stores it in each shard, whose next
//! insert hands it to the policy. Samples start once the shards are full
//! (their weight gauges sum to 15/16 of the capacity): while a cache
//! fills, its hit ratio rises whatever the window. Without metrics (or
//! with every metrics column taken), the window keeps its share.

use crate::clock_pro::climb::{Climber, SAMPLE};
use crate::clock_pro::shadows::{Sampler, Shadows};
use crate::clock_pro::WINDOW_SHARE;
use crate::reclaim::{Guard, Trail};
use crate::shard::Shard;
use crate::sync::{lock, try_lock, Mutex};

/// Sampled writes between two looks at the cache's request counts: few
/// enough that summing every thread's counts costs nothing per write,
/// many enough that a sample of a cache with few misses is not overshot
/// by much.
const CHECK: u32 = 16;

/// Cumulative counts of a cache's requests: `(gets, gets that missed)`,
/// or `None` when the cache does not count them.
pub(crate) type Requests = Option<(u64, u64)>;

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
    climb: Climb,
}

/// The window's climber and where its sample started.
struct Climb {
    climber: Climber,
    /// The cache's capacity.
    capacity: u64,
    /// Sampled writes since the last look at the counts.
    writes: u32,
    /// The counts when the sample started (`None` before the first look).
    start: Requests,
}

impl Climb {
    fn new(capacity: u64) -> Climb {
        Climb {
            climber: Climber::new(WINDOW_SHARE),
            capacity,
            writes: 0,
            start: None,
        }
    }

    /// A sampled write to a cache holding `weight` (read only when used):
    /// every [`CHECK`]th looks at the counts, and returns a new share if
    /// a sample ended.
    fn write(
        &mut self,
        requests: impl FnOnce() -> Requests,
        weight: impl FnOnce() -> u64,
    ) -> Option<u32> {
        self.writes += 1;
        if self.writes < CHECK {
            return None;
        }
        self.writes = 0;
        if weight().saturating_mul(16) < self.capacity.saturating_mul(15) {
            // Still filling: the next sample starts once full.
            self.start = None;
            return None;
        }
        let now @ (gets, misses) = requests()?;
        let Some((gets_then, misses_then)) = self.start else {
            self.start = Some(now);
            return None;
        };
        let gets = gets.wrapping_sub(gets_then);
        if gets < SAMPLE.saturating_mul(self.capacity) {
            return None;
        }
        let hits = gets.saturating_sub(misses.wrapping_sub(misses_then));
        self.start = Some(now);
        Some(self.climber.sample(hits, gets))
    }
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
                climb: Climb::new(capacity),
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
    /// floor goes to every shard, and so does a new window share if the
    /// write ended a sample of `requests`.
    pub(crate) fn write<K, V>(
        &self,
        hash: u64,
        guard: &Guard,
        shards: &[Shard<K, V>],
        requests: impl FnOnce() -> Requests,
    ) {
        guard.note(self.tag, hash as u32);
        let Some(mut replay) = try_lock(&self.replay) else {
            return;
        };
        let Replay {
            trail,
            shadows,
            notes,
            climb,
        } = &mut *replay;
        let weight = || shards.iter().map(Shard::weight).sum();
        if let Some(share) = climb.write(requests, weight) {
            for shard in shards {
                shard.set_window_share(share);
            }
        }
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
        let mut replay = lock(&self.replay);
        replay.shadows.resize(capacity);
        replay.climb.capacity = capacity;
    }

    /// The window share the climber chose last.
    #[cfg(test)]
    pub(crate) fn window_share(&self) -> u32 {
        lock(&self.replay).climb.climber.share()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `climb` [`CHECK`] sampled writes with the counts `requests`
    /// and the cache holding `weight`; returns what the last one returned.
    fn check(climb: &mut Climb, requests: (u64, u64), weight: u64) -> Option<u32> {
        (0..CHECK)
            .map(|_| climb.write(|| Some(requests), || weight))
            .last()
            .flatten()
    }

    #[test]
    fn samples_start_once_the_cache_is_full() {
        let capacity = 100;
        let sample = SAMPLE * capacity;
        let mut climb = Climb::new(capacity);
        // Filling: however many requests go by, no sample starts.
        for i in 1..=5 {
            assert_eq!(check(&mut climb, (i * sample, 0), 90), None);
        }
        assert_eq!(climb.start, None);
        // Full: the first look starts a sample, which ends a sample later
        // (the climber's baseline: no move yet).
        assert_eq!(check(&mut climb, (10 * sample, 0), 94), None);
        assert_eq!(climb.start, Some((10 * sample, 0)));
        assert_eq!(check(&mut climb, (11 * sample - 1, 0), 100), None);
        let baseline = check(&mut climb, (11 * sample, sample / 2), 100);
        assert_eq!(baseline, Some(WINDOW_SHARE));
        // Emptied (an invalidation): sampling stops until full again.
        assert_eq!(check(&mut climb, (12 * sample, sample / 2), 10), None);
        assert_eq!(climb.start, None);
        // Without counts (no metrics), nothing either.
        for _ in 0..CHECK {
            assert_eq!(climb.write(|| None, || 100), None);
        }
        assert_eq!(climb.start, None);
    }

    #[test]
    fn a_sample_moves_the_share_by_its_hit_ratio() {
        let capacity = 100;
        let sample = SAMPLE * capacity;
        let mut climb = Climb::new(capacity);
        check(&mut climb, (0, 0), 100);
        // Hit ratios 50 %, then 60 %: a rise of 10 points moves the share.
        check(&mut climb, (sample, sample / 2), 100);
        let moved = check(&mut climb, (2 * sample, sample / 2 + 4 * sample / 10), 100);
        assert!(
            moved.is_some_and(|share| share != WINDOW_SHARE),
            "{moved:?}"
        );
    }
}
