//! Runs one recording operation N times, for instruction counting under
//! callgrind (`scripts/instructions.sh` runs it at two N and divides the
//! difference, so set-up cost cancels out).
//!
//! Usage: `instructions <counter|padded_fetch_add|record|time_1_in_64> <N>`

use clockwise_stats::{CounterSet, Histogram, HistogramConfig};
use crossbeam_utils::CachePadded;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(variant), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: instructions <counter|padded_fetch_add|record|time_1_in_64> <N>");
        std::process::exit(2);
    };
    match variant.as_str() {
        "counter" => {
            let set = CounterSet::new(["hit"]).unwrap();
            for _ in 0..n {
                set.add(0, black_box(1));
            }
            black_box(set.get(0));
        }
        "padded_fetch_add" => {
            let cell = CachePadded::new(AtomicU64::new(0));
            for _ in 0..n {
                cell.fetch_add(black_box(1), Ordering::Relaxed);
            }
            black_box(cell.load(Ordering::Relaxed));
        }
        "record" => {
            let h =
                Histogram::new(HistogramConfig::default(), clockwise_stats::Clock::new()).unwrap();
            for i in 0..n {
                h.record(black_box(i & 0xffff));
            }
        }
        "time_1_in_64" => {
            let config = HistogramConfig::default().sample_every(64);
            let h = Histogram::new(config, clockwise_stats::Clock::new()).unwrap();
            for _ in 0..n {
                black_box(h.time(|| black_box(1)));
            }
        }
        other => {
            eprintln!("unknown variant {other:?}");
            std::process::exit(2);
        }
    }
}
