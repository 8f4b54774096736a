//! The thundering-herd scenario: many threads miss one cold key at the same
//! moment and each asks its cache to load it with a slow loader. A cache
//! with single-flight loading runs the loader once per key; one without
//! runs it once per thread.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// Engines with a loading API, and how each is called.
pub const ENGINES: [&str; 4] = ["clockwise", "moka", "quick_cache", "lru"];

/// What to run.
#[derive(Clone, Debug)]
pub struct HerdConfig {
    /// Threads released together on each cold key.
    pub threads: usize,
    /// Cold keys, one after another.
    pub rounds: u64,
    /// How long the loader takes (a database call, say).
    pub load_time: Duration,
}

impl Default for HerdConfig {
    fn default() -> Self {
        HerdConfig {
            threads: 64,
            rounds: 20,
            load_time: Duration::from_millis(20),
        }
    }
}

/// The outcome for one engine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HerdReport {
    /// Engine name.
    pub engine: String,
    /// Threads per key.
    pub threads: usize,
    /// Keys loaded.
    pub rounds: u64,
    /// Loader calls over keys: 1.0 is perfect single flight.
    pub loads_per_key: f64,
    /// Time from release to value, per caller, in microseconds.
    pub wait_p50_us: u64,
    /// 99th percentile.
    pub wait_p99_us: u64,
    /// Longest.
    pub wait_max_us: u64,
}

enum Engine {
    Clockwise(clockwise::Cache<u64, u64>),
    Moka(moka::sync::Cache<u64, u64>),
    QuickCache(quick_cache::sync::Cache<u64, u64>),
    /// `lru` behind a mutex: get, and on a miss load and insert (no single flight).
    Lru(Mutex<lru::LruCache<u64, u64>>),
}

impl Engine {
    fn get_with(&self, key: u64, load: impl FnOnce() -> u64) -> u64 {
        match self {
            Engine::Clockwise(c) => c.get_with(key, load),
            Engine::Moka(c) => c.get_with(key, load),
            Engine::QuickCache(c) => c.get_or_insert_with(&key, || Ok::<_, ()>(load())).unwrap(),
            Engine::Lru(c) => {
                let hit = c
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&key)
                    .copied();
                hit.unwrap_or_else(|| {
                    let v = load();
                    c.lock().unwrap_or_else(|e| e.into_inner()).put(key, v);
                    v
                })
            }
        }
    }
}

/// Runs the scenario on `engine` (one of [`ENGINES`]).
///
/// ```
/// use clockwise_bench::herd::{run, HerdConfig};
/// use std::time::Duration;
/// let config = HerdConfig { threads: 8, rounds: 2, load_time: Duration::from_millis(5) };
/// let report = run("clockwise", &config).unwrap();
/// assert_eq!(report.loads_per_key, 1.0);
/// ```
pub fn run(engine: &str, config: &HerdConfig) -> Result<HerdReport, crate::Error> {
    let capacity = 10_000;
    let cache = match engine {
        "clockwise" => {
            Engine::Clockwise(clockwise::Cache::builder().max_capacity(capacity).build())
        }
        "moka" => Engine::Moka(moka::sync::Cache::new(capacity)),
        "quick_cache" => Engine::QuickCache(quick_cache::sync::Cache::new(capacity as usize)),
        "lru" => Engine::Lru(Mutex::new(lru::LruCache::new(
            std::num::NonZeroUsize::new(capacity as usize).expect("non-zero"),
        ))),
        other => return Err(crate::Error::UnknownEngine(other.to_owned())),
    };
    let threads = config.threads.max(1);
    let loads = AtomicU64::new(0);
    let mut waits =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
    for key in 0..config.rounds {
        let barrier = Barrier::new(threads);
        let round: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let start = Instant::now();
                        let v = cache.get_with(key, || {
                            loads.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(config.load_time);
                            key * 10
                        });
                        assert_eq!(v, key * 10, "{engine} returned a foreign value");
                        start.elapsed().as_micros() as u64
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("caller panicked"))
                .collect()
        });
        for us in round {
            waits.saturating_record(us.max(1));
        }
    }
    Ok(HerdReport {
        engine: engine.to_owned(),
        threads,
        rounds: config.rounds,
        loads_per_key: loads.load(Ordering::Relaxed) as f64 / config.rounds.max(1) as f64,
        wait_p50_us: waits.value_at_quantile(0.5),
        wait_p99_us: waits.value_at_quantile(0.99),
        wait_max_us: waits.max(),
    })
}
