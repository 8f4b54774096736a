//! What the metrics cost, measured: the same all-hit workload on two
//! clockwise caches, one with stats and one without, in short alternating
//! blocks, so that whatever else the machine does falls on both alike.
//!
//! A single pair of long runs on a shared machine differs by more than the
//! effect being measured (criterion medians of the two moved by ±20% between
//! runs here); interleaving many short blocks and taking the median of the
//! per-round ratios does not.

use crate::Workload;
use serde::Serialize;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

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

/// Gets per thread between looks at the clock.
const BATCH: usize = 1024;

/// Runs one block: every thread reads `keys` (its own offset) until
/// `block` has passed; returns million gets per second.
fn block(cache: &clockwise::Cache<u64, u64>, keys: &[u64], threads: usize, block: Duration) -> f64 {
    let barrier = Barrier::new(threads);
    let mask = keys.len() - 1;
    let (ops, seconds) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let (mut i, mut ops) = (t * 4099, 0u64);
                    while start.elapsed() < block {
                        for _ in 0..BATCH {
                            black_box(cache.get(&keys[i & mask]));
                            i = i.wrapping_add(7);
                        }
                        ops += BATCH as u64;
                    }
                    (ops, start.elapsed().as_secs_f64())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("reader panicked"))
            .fold((0u64, 0f64), |(o, s), (ho, hs)| (o + ho, s.max(hs)))
    });
    ops as f64 / seconds / 1e6
}

fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
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
        if round % 8 == 0 {
            // Warm both (caches, branch predictors, thread slots).
            block(on, &stream, threads, config.block);
            block(off, &stream, threads, config.block);
        }
        let (a, b) = if round % 2 == 0 {
            let a = block(on, &stream, threads, config.block);
            (a, block(off, &stream, threads, config.block))
        } else {
            let b = block(off, &stream, threads, config.block);
            (block(on, &stream, threads, config.block), b)
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
