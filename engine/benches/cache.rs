//! clockwise against moka and quick_cache, in the same benchmark groups.
//!
//! - `get_hit`: all-hit gets, Zipf(0.99) over 100k `u64` keys, all resident,
//!   on 1 and 2 threads at once; also clockwise with stats off.
//! - `insert_evict`: inserts of uniform keys over 10x the capacity.
//! - `read_through`: get, and insert on a miss; Zipf(0.99) over 10x capacity.
//!
//! Times are wall time per operation of each thread while all threads run:
//! throughput over all threads is `threads / time`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

const KEYS: u64 = 10_000;
const STREAM: usize = 1 << 20;

#[path = "common/zipf.rs"]
mod zipf;

/// `len` keys drawn from Zipf(`s`) over `0..n`, from a seeded `StdRng`.
fn zipf(n: u64, s: f64, len: usize, seed: u64) -> Vec<u64> {
    let law = zipf::Zipf::new(n, s);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len).map(|_| law.key(rng.gen::<f64>())).collect()
}

trait Bench: Sync {
    fn get(&self, k: u64) -> Option<u64>;
    fn insert(&self, k: u64, v: u64);
}

impl Bench for clockwise::Cache<u64, u64> {
    fn get(&self, k: u64) -> Option<u64> {
        clockwise::Cache::get(self, &k)
    }
    fn insert(&self, k: u64, v: u64) {
        clockwise::Cache::insert(self, k, v)
    }
}

impl Bench for quick_cache::sync::Cache<u64, u64> {
    fn get(&self, k: u64) -> Option<u64> {
        quick_cache::sync::Cache::get(self, &k)
    }
    fn insert(&self, k: u64, v: u64) {
        quick_cache::sync::Cache::insert(self, k, v)
    }
}

impl Bench for moka::sync::Cache<u64, u64> {
    fn get(&self, k: u64) -> Option<u64> {
        moka::sync::Cache::get(self, &k)
    }
    fn insert(&self, k: u64, v: u64) {
        moka::sync::Cache::insert(self, k, v)
    }
}

/// A read-only `HashMap` shared by all threads: what the machine allows
/// for a lookup that writes nothing (the calibration row).
impl Bench for std::collections::HashMap<u64, u64, ahash::RandomState> {
    fn get(&self, k: u64) -> Option<u64> {
        std::collections::HashMap::get(self, &k).copied()
    }
    fn insert(&self, _: u64, _: u64) {}
}

/// Calls `$f(group, name, cache, keys)` for every engine under test, each
/// call monomorphized (no dynamic dispatch in the measured loops).
macro_rules! each_engine {
    ($f:ident, $group:expr, $capacity:expr, $keys:expr) => {{
        let capacity: u64 = $capacity;
        let builder = || clockwise::Cache::<u64, u64>::builder().max_capacity(capacity);
        $f($group, "clockwise", builder().build(), $keys);
        $f(
            $group,
            "clockwise_nostats",
            builder().stats(false).build(),
            $keys,
        );
        $f(
            $group,
            "quick_cache",
            quick_cache::sync::Cache::<u64, u64>::new(capacity as usize),
            $keys,
        );
        $f(
            $group,
            "moka",
            moka::sync::Cache::<u64, u64>::new(capacity),
            $keys,
        );
    }};
}

/// Runs `op(thread, i)` for `iters` iterations on each of `threads`
/// threads at once; the slowest thread's wall time.
fn parallel(threads: usize, iters: u64, op: &(impl Fn(usize, u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        op(t, i);
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

fn get_hit(c: &mut Criterion) {
    let keys = zipf(KEYS, 0.99, STREAM, 1);
    let mut group = c.benchmark_group("get_hit");
    fn one<C: Bench>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        cache: C,
        keys: &[u64],
    ) {
        for &k in keys {
            cache.insert(k, k);
        }
        assert!(
            keys.iter().all(|&k| cache.get(k) == Some(k)),
            "{name}: not all resident"
        );
        for threads in [1usize, 2] {
            group.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    parallel(threads, iters, &|t, i| {
                        let k = keys
                            [(i as usize).wrapping_mul(7).wrapping_add(t * 4099) & (STREAM - 1)];
                        black_box(cache.get(k));
                    })
                })
            });
        }
    }
    let map: std::collections::HashMap<u64, u64, ahash::RandomState> =
        keys.iter().map(|&k| (k, k)).collect();
    one(&mut group, "hashmap_readonly", map, &keys);
    let capacity = KEYS * 2;
    each_engine!(one, &mut group, capacity, &keys);
    group.finish();
}

fn insert_evict(c: &mut Criterion) {
    let capacity = 10_000;
    let mut group = c.benchmark_group("insert_evict");
    let mut one = |name: &str, cache: &dyn Bench| {
        group.bench_function(BenchmarkId::new(name, 1), |b| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(2);
            b.iter(|| {
                let k = rng.gen_range(0..capacity * 10);
                cache.insert(k, k);
            })
        });
    };
    one(
        "clockwise",
        &clockwise::Cache::<u64, u64>::builder()
            .max_capacity(capacity)
            .build(),
    );
    one(
        "clockwise_nostats",
        &clockwise::Cache::<u64, u64>::builder()
            .max_capacity(capacity)
            .stats(false)
            .build(),
    );
    one(
        "quick_cache",
        &quick_cache::sync::Cache::<u64, u64>::new(capacity as usize),
    );
    one("moka", &moka::sync::Cache::<u64, u64>::new(capacity));
    group.finish();
}

fn read_through(c: &mut Criterion) {
    let capacity = 10_000;
    let keys = zipf(capacity * 10, 0.99, STREAM, 3);
    let mut group = c.benchmark_group("read_through");
    fn one<C: Bench>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        cache: C,
        keys: &[u64],
    ) {
        for threads in [1usize, 2] {
            group.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    parallel(threads, iters, &|t, i| {
                        let k = keys
                            [(i as usize).wrapping_mul(7).wrapping_add(t * 4099) & (STREAM - 1)];
                        if cache.get(k).is_none() {
                            cache.insert(k, k);
                        }
                    })
                })
            });
        }
    }
    each_engine!(one, &mut group, capacity, &keys);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = get_hit, insert_evict, read_through
}
criterion_main!(benches);
