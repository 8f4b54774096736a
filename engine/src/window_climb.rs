//! The admission window's climb for a whole cache: when the cache looks
//! at its hit ratio, and how a new share reaches the shards. The
//! climber's rules are `clock_pro::climb`'s.
//!
//! The climber needs the hit ratio of the whole cache, which the cache's
//! metrics count on each thread's own line, so a hit writes nothing for
//! it. One insert of a new key in [`DUE`] (picked by its hash) counts
//! itself here, if no other writer holds the climb; every [`CHECK`]th of
//! those reads the cache's gauges and, once the cache is full, sums the
//! threads' counts.
//! A sample ends when [`SAMPLE`] gets per entry held went by; the
//! climber then moves the share, and each shard's next insert hands it to
//! the policy, as the cold floor is handed. Samples start once the shards
//! hold 15/16 of the capacity: while a cache fills, its hit ratio rises
//! whatever the window. Without metrics (or with every metrics column
//! taken) the window keeps its share.

use crate::clock_pro::climb::{Climber, SAMPLE};
use crate::clock_pro::WINDOW_SHARE;
use crate::shard::Shard;
use crate::sync::{try_lock, Mutex};

/// One insert in this many (a power of two, picked by the key's hash)
/// counts toward a look.
const DUE: u64 = 16;

/// Counted inserts between two looks: a look every `DUE * CHECK` inserts
/// (256), so that summing every thread's counts costs nothing per insert,
/// while a sample (60 gets per entry) is overshot by little.
const CHECK: u32 = 16;

/// Cumulative counts of a cache's requests: `(gets, gets that missed)`,
/// or `None` when the cache does not count them.
pub(crate) type Requests = Option<(u64, u64)>;

/// What a cache holds, from its gauges.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    /// Entries: a sample's length counts them.
    pub(crate) entries: u64,
    /// Their weight: whether the cache is full.
    pub(crate) weight: u64,
}

/// A cache's window climb.
pub(crate) struct WindowClimb {
    climb: Mutex<Climb>,
}

/// The climber and where its sample started.
struct Climb {
    climber: Climber,
    /// Counted writes since the last look.
    writes: u32,
    /// The counts when the sample started and the gets it lasts; `None`
    /// until the first look at a full cache.
    start: Option<((u64, u64), u64)>,
}

impl WindowClimb {
    pub(crate) fn new() -> WindowClimb {
        WindowClimb {
            climb: Mutex::new(Climb::new()),
        }
    }

    /// Whether an insert of the key hashed to `hash` counts toward a look.
    /// (Bits the shard and table choices hardly use.)
    #[inline(always)]
    pub(crate) fn due(hash: u64) -> bool {
        (hash >> 32) & (DUE - 1) == 0
    }

    /// An insert that was [`due`](Self::due), to a cache of `capacity`
    /// holding `held` (read only at a look): counts it unless another
    /// writer holds the climb, and at a look that ends a sample stores the
    /// new share in every shard.
    pub(crate) fn write<K, V>(
        &self,
        shards: &[Shard<K, V>],
        capacity: u64,
        held: impl FnOnce() -> Held,
        requests: impl FnOnce() -> Requests,
    ) {
        let Some(mut climb) = try_lock(&self.climb) else {
            return;
        };
        if let Some(share) = climb.write(capacity, held, requests) {
            for shard in shards {
                shard.set_window_share(share);
            }
        }
    }

    /// The share the climber chose last.
    #[cfg(test)]
    pub(crate) fn share(&self) -> u32 {
        crate::sync::lock(&self.climb).climber.share()
    }
}

impl Climb {
    fn new() -> Climb {
        Climb {
            climber: Climber::new(WINDOW_SHARE),
            writes: 0,
            start: None,
        }
    }

    /// A counted write to a cache of `capacity` holding `held` (both read
    /// only at a look): returns a new share if it ended a sample.
    fn write(
        &mut self,
        capacity: u64,
        held: impl FnOnce() -> Held,
        requests: impl FnOnce() -> Requests,
    ) -> Option<u32> {
        self.writes += 1;
        if self.writes < CHECK {
            return None;
        }
        self.writes = 0;
        let held = held();
        if held.weight.saturating_mul(16) < capacity.saturating_mul(15) {
            // Still filling: the next sample starts once full.
            self.start = None;
            return None;
        }
        let now @ (gets, misses) = requests()?;
        let next = Some((now, SAMPLE.saturating_mul(held.entries.max(1))));
        let Some(((gets_then, misses_then), length)) = self.start else {
            self.start = next;
            return None;
        };
        let gets = gets.wrapping_sub(gets_then);
        if gets < length {
            return None;
        }
        let hits = gets.saturating_sub(misses.wrapping_sub(misses_then));
        self.start = next;
        Some(self.climber.sample(hits, gets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPACITY: u64 = 100;
    const SAMPLE_GETS: u64 = SAMPLE * CAPACITY;

    /// Feeds `climb` [`CHECK`] counted writes with the counts `requests`
    /// and the cache of [`CAPACITY`] holding `held`; returns what the last
    /// one returned.
    fn look_holding(climb: &mut Climb, requests: (u64, u64), held: Held) -> Option<u32> {
        (0..CHECK)
            .map(|_| climb.write(CAPACITY, || held, || Some(requests)))
            .last()
            .flatten()
    }

    /// [`look_holding`] with `weight` held in as many entries.
    fn look(climb: &mut Climb, requests: (u64, u64), weight: u64) -> Option<u32> {
        let held = Held {
            entries: weight,
            weight,
        };
        look_holding(climb, requests, held)
    }

    #[test]
    fn samples_start_once_the_cache_is_full() {
        let mut climb = Climb::new();
        // Filling: however many requests go by, no sample starts.
        for i in 1..=5 {
            assert_eq!(look(&mut climb, (i * SAMPLE_GETS, 0), 90), None);
        }
        assert!(climb.start.is_none());
        // Full: the first look starts a sample, which ends a sample later
        // (the climber's baseline: no move yet).
        assert_eq!(look(&mut climb, (10 * SAMPLE_GETS, 0), 94), None);
        assert_eq!(climb.start, Some(((10 * SAMPLE_GETS, 0), SAMPLE * 94)));
        assert_eq!(
            look(&mut climb, (10 * SAMPLE_GETS + SAMPLE * 94 - 1, 0), 100),
            None
        );
        let baseline = look(&mut climb, (11 * SAMPLE_GETS, SAMPLE_GETS / 2), 100);
        assert_eq!(baseline, Some(WINDOW_SHARE));
        // Emptied (an invalidation): sampling stops until full again.
        assert_eq!(
            look(&mut climb, (12 * SAMPLE_GETS, SAMPLE_GETS / 2), 10),
            None
        );
        assert!(climb.start.is_none());
        // Without counts (no metrics), nothing either.
        for _ in 0..CHECK {
            assert_eq!(
                climb.write(
                    CAPACITY,
                    || Held {
                        entries: 100,
                        weight: 100
                    },
                    || None
                ),
                None
            );
        }
        assert!(climb.start.is_none());
    }

    #[test]
    fn a_sample_lasts_sixty_gets_per_entry_held() {
        // Weighted: 10 entries fill the capacity of 100.
        let mut climb = Climb::new();
        let held = Held {
            entries: 10,
            weight: 100,
        };
        let mut at = |gets: u64, misses: u64| look_holding(&mut climb, (gets, misses), held);
        assert_eq!(at(0, 0), None);
        assert_eq!(at(SAMPLE * 10 - 1, 0), None);
        assert_eq!(
            at(SAMPLE * 10, SAMPLE * 5),
            Some(WINDOW_SHARE),
            "the baseline"
        );
        // 50 % then 60 %: a rise of 10 points moves the share.
        let moved = at(SAMPLE * 20, SAMPLE * 9);
        assert!(
            moved.is_some_and(|share| share != WINDOW_SHARE),
            "{moved:?}"
        );
    }

    #[test]
    fn one_write_in_sixteen_is_due() {
        let due = (0..1_600u64)
            .filter(|&k| WindowClimb::due(k.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .count();
        assert!((60..=140).contains(&due), "{due} of 1600");
    }
}
