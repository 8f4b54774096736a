//! loom models of clockwise-stats' protocols: striped counters, the
//! thread-to-slot hand-over, and histogram recording against snapshots.
//!
//! Under `cfg(clockwise_loom)` the process has one owned slot and one shared
//! stripe (see `stats/src/slot.rs`), so two concurrent writers exercise both
//! the single-writer load+store path and the `fetch_add` path.
#![cfg(clockwise_loom)]

use clockwise_stats::{CounterSet, Histogram, HistogramConfig};
use loom::sync::Arc;

/// Spawns a model thread that gives its stats slot back when `f` returns, as
/// its thread-local destructor would (see `loom_tls_destructor.rs`).
fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> loom::thread::JoinHandle<T> {
    loom::thread::spawn(move || {
        let out = f();
        clockwise_stats::slot::release_current_for_loom();
        out
    })
}

#[test]
fn concurrent_adds_with_a_concurrent_sum() {
    loom::model(|| {
        let set = Arc::new(CounterSet::new(["n"]).unwrap());
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let set = Arc::clone(&set);
                spawn(move || {
                    set.add(0, 1);
                    set.add(0, 1);
                })
            })
            .collect();
        // Sums taken while the writers run: bounded and monotonic.
        let first = set.get(0);
        let second = set.get(0);
        assert!(first <= second, "sum went down: {first} then {second}");
        assert!(second <= 4);
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(set.get(0), 4, "a sum after the writers are joined is exact");
    });
}

#[test]
fn an_exiting_thread_hands_its_slot_to_the_next_owner_while_a_reader_sums() {
    loom::model(|| {
        let set = Arc::new(CounterSet::new(["n"]).unwrap());
        let reader = {
            let set = Arc::clone(&set);
            spawn(move || {
                let a = set.get(0);
                let b = set.get(0);
                assert!(a <= b && b <= 3, "reader saw {a} then {b}");
            })
        };
        // Two writers run concurrently, with nothing ordering them but the
        // slot bitmap: in the executions where the first releases the owned
        // slot before the second claims it, the second must continue from
        // the first's value.
        let first = {
            let set = Arc::clone(&set);
            spawn(move || set.add(0, 1))
        };
        let second = {
            let set = Arc::clone(&set);
            spawn(move || set.add(0, 2))
        };
        first.join().unwrap();
        second.join().unwrap();
        reader.join().unwrap();
        assert_eq!(set.get(0), 3);
    });
}

#[test]
fn concurrent_slot_claims_lose_no_increment() {
    loom::model(|| {
        let a = Arc::new(CounterSet::new(["n"]).unwrap());
        let b = Arc::new(CounterSet::new(["m"]).unwrap());
        let writers: Vec<_> = (1..=2u64)
            .map(|k| {
                let (a, b) = (Arc::clone(&a), Arc::clone(&b));
                // Both threads claim a slot at once; one gets the owned
                // slot, the other the shared stripe, in every set alike.
                spawn(move || {
                    a.add(0, k);
                    b.add(0, 10 * k);
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!((a.get(0), b.get(0)), (3, 30));
    });
}

#[test]
fn histogram_records_racing_a_snapshot_lose_and_duplicate_nothing() {
    loom::model(|| {
        // A tiny layout (32 buckets) keeps the model small.
        let config = HistogramConfig::default().highest(8).significant_digits(1);
        let h = Arc::new(Histogram::new(config, clockwise_stats::Clock::new()).unwrap());
        let writers: Vec<_> = [3u64, 5]
            .into_iter()
            .map(|v| {
                let h = Arc::clone(&h);
                spawn(move || {
                    h.record(v);
                    h.record(100); // saturates at 8
                })
            })
            .collect();
        let during = h.snapshot();
        assert!(during.count() <= 4 && during.saturated() <= 2);
        for w in writers {
            w.join().unwrap();
        }
        let after = h.snapshot();
        assert_eq!(
            (after.count(), after.samples(), after.saturated()),
            (4, 4, 2)
        );
        let hdr = after.to_hdr();
        assert_eq!(
            (hdr.count_at(3), hdr.count_at(5), hdr.count_at(8)),
            (1, 1, 2)
        );
    });
}
