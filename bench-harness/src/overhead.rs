//! What the metrics cost, measured: the same all-hit workload on clockwise
//! caches with stats and without, in short alternating blocks, so that
//! whatever else the machine does falls on all alike.
//!
//! A single pair of long runs on a shared machine differs by more than the
//! effect being measured (criterion medians of the two moved by ±20% between
//! runs here); interleaving many short blocks and taking the median of the
//! per-round ratios does not.
//!
//! A third cache, a twin of the one with stats, runs in the same rounds as
//! an A/A control: its ratio to the first would be 1 on a perfect bench, so
//! its distance from 1 is how far `ratio` can be trusted.

use crate::interleave::{median, quantile};
use crate::Workload;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What to measure.
#[derive(Clone, Debug)]
pub struct OverheadConfig {
    /// Threads reading at once.
    pub threads: usize,
    /// Rounds; each runs one block per cache, in alternating order.
    pub rounds: usize,
    /// Length of one block.
    pub block: Duration,
    /// Keys, all resident (capacity is twice this).
    pub keys: u64,
}

impl Default for OverheadConfig {
    fn default() -> Self {
        OverheadConfig {
            threads: 1,
            rounds: 40,
            block: Duration::from_millis(40),
            keys: 100_000,
        }
    }
}

/// Throughput with and without stats, and their ratio, beside an A/A
/// control: the ratio of two caches that both keep stats.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OverheadReport {
    /// Threads.
    pub threads: usize,
    /// Rounds measured.
    pub rounds: usize,
    /// Median Mops/s over rounds, stats on.
    pub stats_on_mops: f64,
    /// Median Mops/s over rounds, stats off.
    pub stats_off_mops: f64,
    /// Median of the per-round ratios on / off.
    pub ratio: f64,
    /// 10th percentile of the per-round ratios.
    pub ratio_p10: f64,
    /// 90th percentile of the per-round ratios.
    pub ratio_p90: f64,
    /// Median of the per-round ratios of a twin cache with stats to the
    /// cache with stats: 1 but for the bench's own bias, so `ratio` is
    /// only known to within this figure's distance from 1.
    pub control: f64,
    /// 10th percentile of the control's per-round ratios.
    pub control_p10: f64,
    /// 90th percentile of the control's per-round ratios.
    pub control_p90: f64,
}

/// A lookup of `cache` that reports a hit: one type for every cache.
fn reader(cache: &clockwise::Cache<u64, u64>) -> impl Fn(u64) -> bool + Sync + '_ {
    move |k| cache.get(&k).is_some()
}

/// Measures stats on against stats off, interleaved.
///
/// ```
/// use clockwise_bench::overhead::{measure, OverheadConfig};
/// use std::time::Duration;
/// let r = measure(&OverheadConfig { rounds: 2, block: Duration::from_millis(5), keys: 1_000, ..Default::default() });
/// assert!(r.stats_on_mops > 0.0 && r.stats_off_mops > 0.0);
/// ```
pub fn measure(config: &OverheadConfig) -> OverheadReport {
    let keys = config.keys.max(1);
    let stream = Workload::Zipf(0.99).stream(keys, 1 << 20, 0x0E7E);
    // The same hash seeds for all, so that every table has the same layout:
    // with a random seed each, probe lengths differ between the caches by
    // more than the effect measured.
    let build = |stats| {
        let cache = clockwise::Cache::<u64, u64>::builder()
            .max_capacity(keys * 2)
            .stats(stats)
            .hasher(ahash::RandomState::with_seeds(1, 2, 3, 4))
            .build();
        for k in 0..keys {
            cache.insert(k, k);
        }
        cache
    };
    let threads = config.threads.max(1);
    let rounds = config.rounds.max(1);
    let (mut on_mops, mut off_mops) = (vec![], vec![]);
    let (mut ratios, mut controls) = (vec![], vec![]);
    // Stats on, stats off, and the control: a twin of the first.
    const STATS: [bool; 3] = [true, false, true];
    let mut trio: Option<[clockwise::Cache<u64, u64>; 3]> = None;
    for round in 0..rounds {
        // A fresh trio every 8 rounds, built in a rotating order, so that
        // no one allocation pattern favours any cache throughout.
        if round % 8 == 0 {
            drop(trio.take());
            let mut built = [None, None, None];
            for i in 0..3 {
                let which = (round / 8 + i) % 3;
                built[which] = Some(build(STATS[which]));
            }
            trio = Some(built.map(|c| c.expect("built above")));
        }
        let caches = trio.as_ref().expect("built above");
        // One closure type for all, so all run the same machine code: a
        // closure each would get its own copy of the measured loop, and
        // where each copy lands moved the control by up to 5 %.
        let readers: Vec<_> = caches.iter().map(reader).collect();
        let run = |i: usize| crate::interleave::block(&readers[i], &stream, threads, config.block);
        if round % 8 == 0 {
            // Warm all three (caches, branch predictors, thread slots).
            for i in 0..3 {
                run(i);
            }
        }
        // Every order of the three in turn: each runs first, second and
        // third, after each other, equally often.
        const ORDERS: [[usize; 3]; 6] = [
            [0, 1, 2],
            [1, 2, 0],
            [2, 0, 1],
            [0, 2, 1],
            [2, 1, 0],
            [1, 0, 2],
        ];
        let mut mops = [0.0; 3];
        for i in ORDERS[round % 6] {
            mops[i] = run(i);
        }
        on_mops.push(mops[0]);
        off_mops.push(mops[1]);
        ratios.push(mops[0] / mops[1]);
        controls.push(mops[2] / mops[0]);
    }
    OverheadReport {
        threads,
        rounds,
        stats_on_mops: median(&mut on_mops),
        stats_off_mops: median(&mut off_mops),
        ratio: median(&mut ratios),
        ratio_p10: quantile(&mut ratios, 0.1),
        ratio_p90: quantile(&mut ratios, 0.9),
        control: median(&mut controls),
        control_p10: quantile(&mut controls, 0.1),
        control_p90: quantile(&mut controls, 0.9),
    }
}
