//! Miniature simulations that choose the cold floor
//! ([`ClockPro::set_cold_floor`]): a few small CLOCK-Pro policies, one per
//! candidate floor, replay the accesses of a spatially sampled subset of
//! the keys (Waldspurger et al., "Cache Modeling and Optimization using
//! Miniature Simulations", USENIX ATC 2017). Every so often the floor whose
//! simulation missed least becomes the cache's, and the miss counts are
//! halved, so the choice follows the workload's phases.
//!
//! A key is sampled when its 32-bit id, scrambled, falls below a limit
//! that keeps about [`TARGET`] pages of the cache's capacity in each
//! simulation; each simulation holds `capacity × sampled share` pages. The
//! simulations are unweighted: a cache with a weigher keeps the default
//! floor. The measurements behind the candidates, the target and the
//! period are in `docs/design/clock-pro.md`.

use super::{ClockPro, EvictionCause, Host, WHOLE};
use std::collections::HashMap;

/// Pages each simulation aims to hold. Replaying the shared traces
/// (`docs/design/clock-pro.md`), 128 chose as well as 256 at half the
/// work per sampled write; 64 chose worse.
pub(crate) const TARGET: u64 = 128;

/// One key in this many at least is sampled: a small cache's simulations
/// hold a quarter of its pages, so that each of its writes replays six
/// simulated accesses a quarter of the time, not every time. The replays
/// chose as well at 4 as at 1, and worse at 8.
const MIN_RATE: u64 = 4;

/// The candidate floors, in 1/65536ths of the capacity: 1% (the default,
/// the simulator's bound), 10%, 25%, 50%, 75% and 99%.
const FLOORS: [u32; 6] = [655, 6554, 16384, 32768, 49152, 64881];

/// Sampled accesses between two choices, per page of a simulation.
const PERIOD: u64 = 8;

/// Scrambles a key's 32-bit id, so that sampling does not pick keys by the
/// bits the table and the shards select with.
#[inline(always)]
fn scramble(id: u32) -> u64 {
    u64::from(id.wrapping_mul(0x9E37_79B1))
}

/// Which keys are sampled: those whose scrambled id is below the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sampler {
    limit: u64,
}

impl Sampler {
    /// The sampler for a cache of `capacity` pages: about one key in
    /// `capacity / TARGET`, and at most one in [`MIN_RATE`].
    pub(crate) fn new(capacity: u64) -> Sampler {
        let rate = (capacity.saturating_add(TARGET / 2) / TARGET).max(MIN_RATE);
        Sampler {
            limit: (1u64 << 32) / rate,
        }
    }

    /// Whether the key with 32-bit id `id` is sampled.
    #[inline(always)]
    pub(crate) fn sampled(self, id: u32) -> bool {
        scramble(id) < self.limit
    }

    /// A simulation's capacity for a cache of `capacity` pages.
    fn scaled(self, capacity: u64) -> u64 {
        (((u128::from(capacity) * u128::from(self.limit) + (1 << 31)) >> 32) as u64).max(1)
    }
}

/// One simulated page: its policy node and reference bit.
#[derive(Debug)]
struct Page {
    /// Read by `validate` only.
    #[cfg_attr(not(any(test, fuzzing, clockwise_loom)), allow(dead_code))]
    node: crate::sync::Checked<u32>,
    referenced: bool,
}

/// The pages of one simulation, as its policy's host.
#[derive(Debug, Default)]
struct Pages(HashMap<u32, Page, ahash::RandomState>);

impl Host<u32> for Pages {
    fn referenced(&mut self, id: &u32) -> bool {
        self.0.get(id).is_some_and(|p| p.referenced)
    }
    fn clear_referenced(&mut self, id: &u32) {
        if let Some(p) = self.0.get_mut(id) {
            p.referenced = false;
        }
    }
    fn mark_referenced(&mut self, id: &u32) {
        if let Some(p) = self.0.get_mut(id) {
            p.referenced = true;
        }
    }
    fn expired(&mut self, _: &u32) -> bool {
        false
    }
    fn removed(&mut self, id: u32, _: u64, _: u64, _: EvictionCause) {
        self.0.remove(&id);
    }
}

#[derive(Debug)]
struct Sim {
    policy: ClockPro<u32>,
    pages: Pages,
    /// Misses since the last choice, plus half the count before.
    misses: u64,
}

/// The simulations of one cache.
#[derive(Debug)]
pub(crate) struct Shadows {
    sampler: Sampler,
    sims: Vec<Sim>,
    /// Accesses since the last choice.
    seen: u64,
    /// The floor chosen last, in 1/65536ths.
    chosen: u32,
    /// Accesses replayed in all (tests read it).
    replayed: u64,
}

impl Shadows {
    /// Simulations of a cache of `capacity` pages, sampling with
    /// `sampler`; the chosen floor starts at the default (0).
    pub(crate) fn new(sampler: Sampler, capacity: u64) -> Shadows {
        let scaled = sampler.scaled(capacity);
        let sims = FLOORS
            .iter()
            .map(|&share| {
                let mut policy = ClockPro::new(scaled);
                policy.set_cold_floor(share);
                Sim {
                    policy,
                    pages: Pages::default(),
                    misses: 0,
                }
            })
            .collect();
        Shadows {
            sampler,
            sims,
            seen: 0,
            chosen: 0,
            replayed: 0,
        }
    }

    /// Starts over for a cache of `capacity` pages (a resize), keeping the
    /// floor chosen last until the next choice.
    pub(crate) fn resize(&mut self, capacity: u64) {
        let (chosen, replayed) = (self.chosen, self.replayed);
        *self = Shadows::new(self.sampler, capacity);
        (self.chosen, self.replayed) = (chosen, replayed);
    }

    /// Replays an access to the sampled key `id` (a hit or a write).
    /// Returns the floor to use if this access completed a period and the
    /// choice changed.
    pub(crate) fn access(&mut self, id: u32) -> Option<u32> {
        debug_assert!(self.sampler.sampled(id));
        for sim in &mut self.sims {
            if let Some(page) = sim.pages.0.get_mut(&id) {
                page.referenced = true;
                continue;
            }
            sim.misses += 1;
            let node = sim.policy.insert(&mut sim.pages, u64::from(id), 1, id);
            sim.pages.0.insert(
                id,
                Page {
                    node: crate::sync::Checked::new(node),
                    referenced: false,
                },
            );
        }
        self.seen += 1;
        self.replayed += 1;
        if self.seen < PERIOD * self.sims[0].policy.capacity() {
            return None;
        }
        self.seen = 0;
        // The first of the least missing: ties keep the smaller floor.
        let best = (0..self.sims.len())
            .min_by_key(|&i| self.sims[i].misses)
            .expect("candidates");
        for sim in &mut self.sims {
            sim.misses /= 2;
        }
        let share = if best == 0 { 0 } else { FLOORS[best] };
        (share != self.chosen).then(|| {
            self.chosen = share;
            share
        })
    }

    /// The floor chosen last, in 1/65536ths (0: the default).
    #[cfg(test)]
    pub(crate) fn chosen(&self) -> u32 {
        self.chosen
    }

    /// Accesses replayed since the simulations were made.
    #[cfg(test)]
    pub(crate) fn replayed(&self) -> u64 {
        self.replayed
    }

    /// Pages the first simulation holds.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.sims[0].pages.0.len()
    }

    #[cfg(any(test, fuzzing, clockwise_loom))]
    pub(crate) fn validate(&self) {
        for sim in &self.sims {
            sim.policy.validate();
            assert_eq!(
                sim.pages.0.len() as u64,
                sim.policy.sizes().hot + sim.policy.sizes().cold
            );
            for (id, page) in &sim.pages.0 {
                assert_eq!(sim.policy.page(page.node.get()), Some(id));
            }
        }
    }
}

const _: () = assert!(FLOORS[FLOORS.len() - 1] < WHOLE);

#[cfg(test)]
mod tests {
    use super::*;

    /// A key's id, as the cache would take it from the key's hash.
    fn id(key: u64) -> u32 {
        let mut x = key as u32;
        x = x.wrapping_mul(0x85EB_CA77);
        x ^ (x >> 13)
    }

    fn replay(shadows: &mut Shadows, keys: impl Iterator<Item = u64>) {
        for (i, key) in keys.enumerate() {
            let id = id(key);
            if shadows.sampler.sampled(id) {
                shadows.access(id);
                if i % 1024 == 0 {
                    shadows.validate();
                }
            }
        }
        shadows.validate();
    }

    #[test]
    fn sampling_keeps_about_the_target_in_each_simulation() {
        assert_eq!(
            Sampler::new(100).scaled(100),
            25,
            "a small cache: a quarter"
        );
        let s = Sampler::new(100_000);
        let sampled = (0..1_000_000u32)
            .filter(|&k| s.sampled(id(k as u64)))
            .count();
        let expected = 1_000_000 / (100_000 / TARGET as usize);
        assert!(
            sampled.abs_diff(expected) < expected / 10,
            "{sampled} sampled"
        );
        assert_eq!(s.scaled(100_000), 128);
    }

    /// A loop over more keys than the cache holds, every key but a few
    /// once per lap: LRU (a floor near the whole capacity) misses all of
    /// them; CLOCK-Pro at the default floor keeps most hot. The
    /// simulations keep the default.
    #[test]
    fn a_loop_keeps_the_default_floor() {
        let mut shadows = Shadows::new(Sampler::new(1000), 1000);
        replay(&mut shadows, (0..40).flat_map(|_| 0..1500u64));
        assert_eq!(shadows.chosen(), 0);
    }

    /// Recency that CLOCK-Pro's small cold allocation fights: each key is
    /// reused a little after it was first seen, at a distance the cache
    /// covers, and never again, so nothing earns hot status for long and a
    /// large cold allocation (LRU's share) wins.
    #[test]
    fn short_reuse_chooses_a_high_floor() {
        let mut shadows = Shadows::new(Sampler::new(1000), 1000);
        // A hot set the warm-up makes hot, then fresh keys each read twice
        // 600 accesses apart.
        replay(&mut shadows, (0..3).flat_map(|_| 0..900u64));
        replay(
            &mut shadows,
            (0..60_000u64).flat_map(|i| [1_000_000 + i, 1_000_000 + i.saturating_sub(600)]),
        );
        assert!(shadows.chosen() >= FLOORS[3], "chose {}", shadows.chosen());
    }
}
