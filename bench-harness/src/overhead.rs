//! What the metrics cost, measured: the same all-hit workload on two
//! clockwise caches, one with stats and one without, in short alternating
//! blocks, so that whatever else the machine does falls on both alike.
//!
//! A single pair of long runs on a shared machine differs by more than the
//! effect being measured (criterion medians of the two moved by ±20% between
//! runs here); interleaving many short blocks and taking the median of the
//! per-round ratios does not.

use crate::interleave::{median, quantile};
use crate::Workload;
use serde::Serialize;
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

/// Throughput with and without stats, and their ratio.
#[derive(Clone, Debug, Serialize)]
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
    // The same hash seeds for both, so that both tables have the same
    // layout: with a random seed each, probe lengths differ between the two
    // caches by more than the effect measured.
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
    let (mut on_mops, mut off_mops, mut ratios) = (vec![], vec![], vec![]);
    let mut pair = None;
    for round in 0..rounds {
        // A fresh pair every 8 rounds, built in alternating order, so that
        // no one allocation pattern favours either cache throughout.
        if round % 8 == 0 {
            drop(pair.take());
            pair = Some(if (round / 8) % 2 == 0 {
                let on = build(true);
                (on, build(false))
            } else {
                let off = build(false);
                (build(true), off)
            });
        }
        let (on, off) = pair.as_ref().expect("built above");
        let (on, off) = (
            |k: u64| on.get(&k).is_some(),
            |k: u64| off.get(&k).is_some(),
        );
        // Monomorphized per closure: no indirect call in the measured loop.
        macro_rules! block {
            ($get:expr) => {
                crate::interleave::block($get, &stream, threads, config.block)
            };
        }
        if round % 8 == 0 {
            // Warm both (caches, branch predictors, thread slots).
            block!(&on);
            block!(&off);
        }
        let (a, b) = if round % 2 == 0 {
            let a = block!(&on);
            (a, block!(&off))
        } else {
            let b = block!(&off);
            (block!(&on), b)
        };
        on_mops.push(a);
        off_mops.push(b);
        ratios.push(a / b);
    }
    OverheadReport {
        threads,
        rounds,
        stats_on_mops: median(&mut on_mops),
        stats_off_mops: median(&mut off_mops),
        ratio: median(&mut ratios),
        ratio_p10: quantile(&mut ratios, 0.1),
        ratio_p90: quantile(&mut ratios, 0.9),
    }
}
