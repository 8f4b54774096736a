//! `clockwise-bench`: the project's load-testing harness.
//!
//! Until the engine lands this runs the clockwise-stats micro-workloads: the
//! throughput of each way of counting an event, on 1 and 2 threads at once.

use clockwise_stats::{CounterSet, Histogram, HistogramConfig};
use crossbeam_utils::CachePadded;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_millis(400);
const BATCH: u64 = 1024;

/// Runs `op(thread)` in batches on `threads` threads for [`RUN`]; returns
/// million operations per second over all threads.
fn mops(threads: usize, op: &(impl Fn(usize) + Sync)) -> f64 {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(threads + 1);
    let total: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (stop, barrier) = (&stop, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut done = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..BATCH {
                            op(t);
                        }
                        done += BATCH;
                    }
                    done
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        std::thread::sleep(RUN);
        stop.store(true, Ordering::Relaxed);
        let ops: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        let secs = start.elapsed().as_secs_f64();
        (ops as f64 / secs) as u64
    });
    total as f64 / 1e6
}

/// Prints one table row: `op` on 1 thread, then on 2 at once.
fn row(name: &str, op: impl Fn(usize) + Sync) {
    let one = mops(1, &op);
    let two = mops(2, &op);
    println!("{name:<40} {one:>9.1} M/s {two:>9.1} M/s");
}

fn main() {
    let set = CounterSet::new(["hit"]).expect("valid name");
    let shared = AtomicU64::new(0);
    let padded: Vec<CachePadded<AtomicU64>> = (0..4)
        .map(|_| CachePadded::new(AtomicU64::new(0)))
        .collect();
    let clock = quanta::Clock::new();
    let h64 = Histogram::new(HistogramConfig::default().sample_every(64), clock.clone())
        .expect("valid config");
    let h1 = Histogram::new(HistogramConfig::default(), clock).expect("valid config");

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("clockwise-bench: stats micro-workloads ({cores} hardware threads; the cache comparison arrives with the engine)");
    println!("{:<40} {:>12} {:>12}", "operation", "1 thread", "2 threads");
    row("CounterSet::add (own stripe)", |_| set.add(0, black_box(1)));
    row("fetch_add on own padded stripe", |t| {
        padded[t].fetch_add(black_box(1), Ordering::Relaxed);
    });
    row("fetch_add on one shared AtomicU64", |_| {
        shared.fetch_add(black_box(1), Ordering::Relaxed);
    });
    row("Histogram::time, 1 in 64 sampled", |_| {
        h64.time(|| black_box(1));
    });
    row("Histogram::time, every call", |_| {
        h1.time(|| black_box(1));
    });
    let total = set.get(0);
    println!("(counted {total} CounterSet increments, all accounted for)");
}
