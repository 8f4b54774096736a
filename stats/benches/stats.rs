//! Cost of recording and reading metrics.
//!
//! `counter_add/*` compares, per increment, on 1 and 2 threads at once:
//! - `clockwise`: `CounterSet::add` (own stripe, Relaxed load + store),
//! - `padded_fetch_add`: a `fetch_add` on the thread's own padded stripe,
//! - `shared_atomic`: one `AtomicU64` `fetch_add` shared by all threads,
//! - `unpadded_stripes`: per-thread `AtomicU64`s packed in one line.
//!
//! The time reported is wall time per increment of each thread while all
//! threads run, so lower is better and equal times on 1 and 2 threads mean
//! perfect scaling.

use clockwise_stats::{CounterSet, Histogram, HistogramConfig, Snapshot};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `op(thread_index)` `iters` times on each of `threads` threads at once
/// and returns the wall time of the slowest.
fn parallel(threads: usize, iters: u64, op: &(impl Fn(usize) + Sync)) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        op(t);
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

fn counter_add(c: &mut Criterion) {
    let mut group = c.benchmark_group("counter_add");
    let set = CounterSet::new(["hit", "miss"]).unwrap();
    let shared = AtomicU64::new(0);
    let padded: Vec<CachePadded<AtomicU64>> = (0..8)
        .map(|_| CachePadded::new(AtomicU64::new(0)))
        .collect();
    let unpadded: Vec<AtomicU64> = (0..8).map(|_| AtomicU64::new(0)).collect();
    for threads in [1usize, 2] {
        group.bench_function(BenchmarkId::new("clockwise", threads), |b| {
            b.iter_custom(|iters| parallel(threads, iters, &|_| set.add(0, black_box(1))))
        });
        group.bench_function(BenchmarkId::new("padded_fetch_add", threads), |b| {
            b.iter_custom(|iters| {
                parallel(threads, iters, &|t| {
                    padded[t].fetch_add(black_box(1), Ordering::Relaxed);
                })
            })
        });
        group.bench_function(BenchmarkId::new("shared_atomic", threads), |b| {
            b.iter_custom(|iters| {
                parallel(threads, iters, &|_| {
                    shared.fetch_add(black_box(1), Ordering::Relaxed);
                })
            })
        });
        group.bench_function(BenchmarkId::new("unpadded_stripes", threads), |b| {
            b.iter_custom(|iters| {
                parallel(threads, iters, &|t| {
                    unpadded[t].fetch_add(black_box(1), Ordering::Relaxed);
                })
            })
        });
    }
    group.finish();
}

fn histogram_record(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram");
    let clock = clockwise_stats::Clock::new();
    let every =
        |n| Histogram::new(HistogramConfig::default().sample_every(n), clock.clone()).unwrap();
    let (h1, h64) = (every(1), every(64));
    group.bench_function("record_value", |b| b.iter(|| h1.record(black_box(12_345))));
    group.bench_function("time_every_call", |b| b.iter(|| h1.time(|| black_box(1))));
    group.bench_function("time_1_in_64", |b| b.iter(|| h64.time(|| black_box(1))));
    group.finish();
}

fn snapshot_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    let set = CounterSet::new(["a", "b", "c", "d", "e", "f", "g", "h"]).unwrap();
    set.add(3, 1);
    group.bench_function("counter_set_8_values", |b| {
        b.iter(|| black_box(set.values()))
    });
    let h = Histogram::new(HistogramConfig::default(), clockwise_stats::Clock::new()).unwrap();
    (0..10_000u64).for_each(|i| h.record(i * 997 % 5_000_000));
    group.bench_function("histogram_snapshot", |b| b.iter(|| black_box(h.snapshot())));
    let hs = h.snapshot();
    group.bench_function("histogram_merge", |b| {
        b.iter(|| black_box(hs.merge(&hs).unwrap()))
    });
    group.bench_function("histogram_quantiles", |b| {
        b.iter(|| black_box(hs.quantiles()))
    });
    let mut snap = Snapshot::new(Duration::from_secs(1));
    set.snapshot_into("", &mut snap);
    snap.set_histogram("get", hs.clone());
    snap.set_histogram("insert", hs);
    group.bench_function("snapshot_merge", |b| {
        b.iter(|| black_box(snap.merge(&snap).unwrap()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = counter_add, histogram_record, snapshot_cost
}
criterion_main!(benches);
