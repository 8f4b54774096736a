//! clockwise against its peers on all-hit gets, in short alternating
//! blocks: the comparison the engine's read targets are stated in, made
//! steady on a shared machine. Each round runs one block per engine (the
//! order rotating from round to round); the report gives each engine's
//! median throughput and the median of its per-round ratio
//! clockwise ÷ engine, which is what a "3x quick_cache" target means.

use crate::interleave::{block, median, quantile};
use crate::{adapters, CacheAdapter, Error, Workload};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What to compare.
#[derive(Clone, Debug)]
pub struct VersusConfig {
    /// Threads reading at once.
    pub threads: usize,
    /// Rounds; each runs one block per engine.
    pub rounds: usize,
    /// Length of one block.
    pub block: Duration,
    /// Keys, all resident (each cache's capacity is twice this); read with
    /// Zipf 0.99.
    pub keys: u64,
    /// Engines by [`adapters::NAMES`]; must include `clockwise`.
    pub engines: Vec<String>,
}

impl Default for VersusConfig {
    fn default() -> Self {
        VersusConfig {
            threads: 2,
            rounds: 40,
            block: Duration::from_millis(20),
            keys: 100_000,
            engines: vec!["clockwise".into(), "quick_cache".into(), "moka".into()],
        }
    }
}

/// One engine's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VersusRow {
    /// Engine.
    pub engine: String,
    /// Median million gets per second over the rounds.
    pub mops: f64,
    /// Median over rounds of clockwise's throughput ÷ this engine's.
    pub clockwise_ratio: f64,
    /// 10th percentile of that ratio.
    pub ratio_p10: f64,
    /// 90th percentile of that ratio.
    pub ratio_p90: f64,
}

/// All engines at one thread count.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VersusReport {
    /// Threads.
    pub threads: usize,
    /// Rounds measured.
    pub rounds: usize,
    /// One row per engine, in the order given.
    pub rows: Vec<VersusRow>,
}

/// Compares the engines on all-hit gets, interleaved.
///
/// Every engine is called through [`CacheAdapter`], as in `run`.
///
/// ```
/// use clockwise_bench::versus::{measure, VersusConfig};
/// use std::time::Duration;
/// let config = VersusConfig {
///     threads: 1,
///     rounds: 2,
///     block: Duration::from_millis(5),
///     keys: 1_000,
///     engines: vec!["clockwise".into(), "quick_cache".into()],
/// };
/// let report = measure(&config).unwrap();
/// assert_eq!(report.rows[0].clockwise_ratio, 1.0);
/// ```
pub fn measure(config: &VersusConfig) -> Result<VersusReport, Error> {
    let keys = config.keys.max(1);
    let Some(reference) = config.engines.iter().position(|e| e == "clockwise") else {
        return Err(Error::Config(
            "versus compares against clockwise: list it among the engines".into(),
        ));
    };
    let caches = config
        .engines
        .iter()
        .map(|name| {
            let cache = adapters::build(name, keys * 2)?;
            for k in 0..keys {
                cache.insert(k, k);
            }
            Ok(cache)
        })
        .collect::<Result<Vec<Box<dyn CacheAdapter>>, Error>>()?;
    let stream = Workload::Zipf(0.99).stream(keys, 1 << 20, 0x7E55);
    let threads = config.threads.max(1);
    let rounds = config.rounds.max(1);
    let run = |cache: &dyn CacheAdapter| {
        block(&|k| cache.get(k).is_some(), &stream, threads, config.block)
    };
    // Warm every engine once (caches, branch predictors, thread slots).
    for cache in &caches {
        run(cache.as_ref());
    }
    let n = caches.len();
    let mut mops = vec![Vec::with_capacity(rounds); n];
    let mut ratios = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        let mut this = vec![0.0; n];
        for j in 0..n {
            let i = (round + j) % n;
            this[i] = run(caches[i].as_ref());
        }
        for i in 0..n {
            mops[i].push(this[i]);
            ratios[i].push(this[reference] / this[i]);
        }
    }
    let rows = config
        .engines
        .iter()
        .zip(mops.iter_mut().zip(ratios.iter_mut()))
        .map(|(engine, (m, r))| VersusRow {
            engine: engine.clone(),
            mops: median(m),
            clockwise_ratio: median(r),
            ratio_p10: quantile(r, 0.1),
            ratio_p90: quantile(r, 0.9),
        })
        .collect();
    Ok(VersusReport {
        threads,
        rounds,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(engines: &[&str]) -> VersusConfig {
        VersusConfig {
            threads: 1,
            rounds: 3,
            block: Duration::from_millis(2),
            keys: 1_000,
            engines: engines.iter().map(|e| (*e).to_owned()).collect(),
        }
    }

    #[test]
    fn every_engine_gets_a_row_and_clockwise_is_the_unit() {
        let report = measure(&small(&["quick_cache", "clockwise", "lru"])).unwrap();
        let names: Vec<_> = report.rows.iter().map(|r| r.engine.as_str()).collect();
        assert_eq!(names, ["quick_cache", "clockwise", "lru"]);
        assert_eq!(report.rows[1].clockwise_ratio, 1.0);
        assert!(report
            .rows
            .iter()
            .all(|r| r.mops > 0.0 && r.clockwise_ratio > 0.0));
        assert!(report
            .rows
            .iter()
            .all(|r| r.ratio_p10 <= r.clockwise_ratio && r.clockwise_ratio <= r.ratio_p90));
    }

    #[test]
    fn without_clockwise_or_with_an_unknown_engine_it_refuses() {
        assert!(matches!(
            measure(&small(&["quick_cache", "moka"])),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            measure(&small(&["clockwise", "memcached"])),
            Err(Error::UnknownEngine(_))
        ));
    }
}
