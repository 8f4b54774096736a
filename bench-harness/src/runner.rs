//! Runs a workload against a cache on several threads and reports
//! throughput, hit ratio and sampled latency.

use crate::{CacheAdapter, Workload};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Key distribution.
    pub workload: Workload,
    /// Size of the key space.
    pub keys: u64,
    /// Threads issuing operations at once.
    pub threads: usize,
    /// Measured time (ignored when `ops` is set).
    pub duration: Duration,
    /// Measured operations over all threads, instead of a duration; each
    /// thread runs its share (rounded up to a batch of 256).
    pub ops: Option<u64>,
    /// Unmeasured time before it, after the pre-fill.
    pub warmup: Duration,
    /// Percentage of operations that are `get`s; the rest are inserts.
    pub read_pct: u8,
    /// Every operation is a `get`, and each miss inserts the key, as a
    /// server that loads on a miss does (`read_pct` is then ignored).
    pub read_through: bool,
    /// Time one operation in this many (a power of two).
    pub latency_sample_every: u64,
    /// Bytes per value the cache was built for (see
    /// [`EngineOptions::value_size`](crate::adapters::EngineOptions)); only
    /// recorded in the report, since the adapter decides what it stores.
    pub value_size: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            workload: Workload::Zipf(0.99),
            keys: 1_000_000,
            threads: 1,
            duration: Duration::from_secs(1),
            ops: None,
            warmup: Duration::from_millis(300),
            read_pct: 100,
            read_through: false,
            latency_sample_every: 64,
            value_size: 8,
        }
    }
}

/// The outcome of one run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// Engine name.
    pub engine: String,
    /// Workload, as given on the command line.
    pub workload: String,
    /// Key space.
    pub keys: u64,
    /// Cache capacity in entries.
    pub capacity: u64,
    /// Threads.
    pub threads: usize,
    /// Percentage of gets.
    pub read_pct: u8,
    /// Read-through: every operation a get, every miss inserted.
    #[serde(default)]
    pub read_through: bool,
    /// Bytes per value.
    pub value_size: usize,
    /// Operations in the measured phase.
    pub ops: u64,
    /// Length of the measured phase.
    pub seconds: f64,
    /// Million operations per second, over all threads.
    pub mops: f64,
    /// Gets that hit, over all gets.
    pub hit_ratio: f64,
    /// Median latency of sampled operations, in nanoseconds.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Operations timed.
    pub latency_samples: u64,
    /// Rounds this row summarizes (see [`median_of_rounds`]); 1 for a
    /// single run.
    #[serde(default = "one")]
    pub rounds: usize,
    /// The median over rounds of clockwise's throughput in that round
    /// divided by this engine's, where clockwise ran the same mix on as
    /// many threads in every round.
    #[serde(default)]
    pub clockwise_ratio: Option<f64>,
}

fn one() -> usize {
    1
}

/// One row per engine, mix and thread count from several rounds of the
/// same runs: the run with the median throughput (its latency figures come
/// with it), and the median of the per-round ratios of clockwise's
/// throughput to the engine's, so a machine that speeds up or slows down
/// between rounds moves both sides of each ratio alike.
///
/// ```
/// use clockwise_bench::{median_of_rounds, Report};
/// let row = |engine: &str, mops: f64| Report { engine: engine.into(), mops, ..Report::default() };
/// let rounds = vec![
///     vec![row("clockwise", 10.0), row("lru", 5.0)],
///     vec![row("clockwise", 20.0), row("lru", 10.0)],
///     vec![row("clockwise", 30.0), row("lru", 10.0)],
/// ];
/// let rows = median_of_rounds(&rounds);
/// assert_eq!(rows[1].engine, "lru");
/// assert_eq!(rows[1].mops, 10.0);
/// assert_eq!(rows[1].clockwise_ratio, Some(2.0)); // ratios 2, 2, 3
/// assert_eq!(rows[1].rounds, 3);
/// ```
pub fn median_of_rounds(rounds: &[Vec<Report>]) -> Vec<Report> {
    let Some(first) = rounds.first() else {
        return Vec::new();
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    first
        .iter()
        .map(|template| {
            let mut runs: Vec<&Report> = rounds
                .iter()
                .filter_map(|round| {
                    round
                        .iter()
                        .find(|r| r.engine == template.engine && r.same_run_as(template))
                })
                .collect();
            let ratios: Vec<f64> = rounds
                .iter()
                .filter_map(|round| {
                    let this = round
                        .iter()
                        .find(|r| r.engine == template.engine && r.same_run_as(template))?;
                    let ours = round
                        .iter()
                        .find(|r| r.engine == "clockwise" && r.same_run_as(template))?;
                    Some(ours.mops / this.mops)
                })
                .collect();
            runs.sort_by(|a, b| a.mops.total_cmp(&b.mops));
            let mut row = runs[runs.len() / 2].clone();
            row.rounds = runs.len();
            row.clockwise_ratio = (ratios.len() == rounds.len()).then(|| median(ratios));
            row
        })
        .collect()
}

impl Report {
    /// The mix as a table shows it: `90 % gets` or `read-through`.
    pub fn mix(&self) -> String {
        if self.read_through {
            String::from("read-through")
        } else {
            format!("{} % gets", self.read_pct)
        }
    }

    /// clockwise's throughput over this engine's: the median of the
    /// per-round ratios when the row summarizes rounds, else the ratio of
    /// the two runs' throughputs in `reports` (None without a clockwise
    /// run of the same mix and threads).
    pub fn ratio_in(&self, reports: &[Report]) -> Option<f64> {
        self.clockwise_ratio.or_else(|| {
            reports
                .iter()
                .find(|o| o.engine == "clockwise" && o.same_run_as(self))
                .map(|o| o.mops / self.mops)
        })
    }

    /// Whether `other` ran the same mix on as many threads: the row of
    /// another engine to compare this one with.
    pub fn same_run_as(&self, other: &Report) -> bool {
        self.threads == other.threads
            && self.read_pct == other.read_pct
            && self.read_through == other.read_through
    }
}

pub(crate) const STREAM: usize = 1 << 20;

/// Pre-fills `cache` from the workload's distribution, then runs it.
///
/// Latency is sampled in a closed loop: a slow operation delays the next,
/// so the percentiles do not correct for coordinated omission.
///
/// ```
/// use clockwise_bench::{adapters, run, RunConfig, Workload};
/// use std::time::Duration;
/// let cache = adapters::build("clockwise", 1_000).unwrap();
/// let config = RunConfig {
///     keys: 10_000,
///     duration: Duration::from_millis(20),
///     warmup: Duration::from_millis(5),
///     ..RunConfig::default()
/// };
/// let report = run(cache.as_ref(), 1_000, &config);
/// assert!(report.ops > 0 && report.hit_ratio > 0.0);
/// ```
pub fn run(cache: &dyn CacheAdapter, capacity: u64, config: &RunConfig) -> Report {
    let threads = config.threads.max(1);
    let streams: Vec<Vec<u64>> = (0..threads)
        .map(|t| {
            config
                .workload
                .stream(config.keys, STREAM, 0x5EED + t as u64)
        })
        .collect();
    for &k in streams[0]
        .iter()
        .cycle()
        .take((capacity as usize * 2).min(4 * STREAM))
    {
        cache.insert(k, k);
    }
    let mask = config.latency_sample_every.max(1).next_power_of_two() - 1;
    let clock = clockwise::stats::Clock::new();
    let measuring = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(threads + 1);
    let (results, seconds) = std::thread::scope(|s| {
        let workers: Vec<_> = streams
            .iter()
            .map(|stream| {
                let (measuring, stop, barrier, clock) = (&measuring, &stop, &barrier, &clock);
                s.spawn(move || {
                    let mut hist =
                        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
                            .expect("valid bounds");
                    let (mut ops, mut gets, mut hits) = (0u64, 0u64, 0u64);
                    let mut i = 0usize;
                    barrier.wait();
                    let mut measured = false;
                    let share = config.ops.map(|n| n.div_ceil(threads as u64));
                    while !stop.load(Ordering::Relaxed) {
                        if measured && share.is_some_and(|s| ops >= s) {
                            break;
                        }
                        if !measured && measuring.load(Ordering::Relaxed) {
                            measured = true;
                            (ops, gets, hits) = (0, 0, 0);
                            hist.reset();
                        }
                        for _ in 0..256 {
                            let k = stream[i & (STREAM - 1)];
                            let timed = (i as u64) & mask == 0;
                            let start = if timed { clock.raw() } else { 0 };
                            if config.read_through {
                                gets += 1;
                                if cache.get(k).is_some() {
                                    hits += 1;
                                } else {
                                    cache.insert(k, k);
                                }
                            } else if (i % 100) < usize::from(config.read_pct) {
                                gets += 1;
                                hits += u64::from(cache.get(k).is_some());
                            } else {
                                cache.insert(k, k);
                            }
                            if timed {
                                hist.saturating_record(
                                    clock.delta_as_nanos(start, clock.raw()).max(1),
                                );
                            }
                            i += 1;
                        }
                        ops += 256;
                    }
                    (ops, gets, hits, hist)
                })
            })
            .collect();
        barrier.wait();
        std::thread::sleep(config.warmup);
        measuring.store(true, Ordering::Relaxed);
        let start = Instant::now();
        if config.ops.is_none() {
            std::thread::sleep(config.duration);
            stop.store(true, Ordering::Relaxed);
        }
        // With `ops`, each worker stops itself after its share.
        let results: Vec<_> = workers
            .into_iter()
            .map(|w| w.join().expect("worker panicked"))
            .collect();
        let seconds = start.elapsed().as_secs_f64();
        (results, seconds)
    });
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .expect("valid bounds");
    let (mut ops, mut gets, mut hits) = (0, 0, 0);
    for (o, g, h, t) in results {
        ops += o;
        gets += g;
        hits += h;
        hist.add(&t).expect("same bounds");
    }
    Report {
        engine: cache.name().to_owned(),
        workload: config.workload.to_string(),
        keys: config.keys,
        capacity,
        threads,
        read_pct: if config.read_through {
            100
        } else {
            config.read_pct
        },
        read_through: config.read_through,
        value_size: config.value_size,
        ops,
        seconds,
        mops: ops as f64 / seconds / 1e6,
        hit_ratio: if gets == 0 {
            0.0
        } else {
            hits as f64 / gets as f64
        },
        p50_ns: hist.value_at_quantile(0.5),
        p99_ns: hist.value_at_quantile(0.99),
        p999_ns: hist.value_at_quantile(0.999),
        latency_samples: hist.len(),
        rounds: 1,
        clockwise_ratio: None,
    }
}
