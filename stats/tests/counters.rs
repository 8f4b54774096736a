use clockwise_stats::{slot, CounterSet, NameError};
use proptest::prelude::*;
use std::sync::{Arc, Barrier};
use std::thread;

#[test]
fn sums_are_exact_once_writers_are_joined_even_past_the_owned_slots() {
    let set = Arc::new(CounterSet::new(["a", "b"]).unwrap());
    // More threads than owned slots, all alive at once: some must share.
    let threads = slot::layout().owned * 2 + 1;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let set = Arc::clone(&set);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                for i in 0..10_000u64 {
                    set.add(0, 1);
                    set.add(1, i % 3 + t as u64);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let per_thread_b = |t: u64| (0..10_000u64).map(|i| i % 3 + t).sum::<u64>();
    let expected_b: u64 = (0..threads as u64).map(per_thread_b).sum();
    assert_eq!(set.values(), [10_000 * threads as u64, expected_b]);
}

#[test]
fn a_slot_handed_to_a_new_thread_keeps_its_value() {
    let set = Arc::new(CounterSet::new(["n"]).unwrap());
    for round in 1..=20u64 {
        let s = Arc::clone(&set);
        thread::spawn(move || s.add(0, round)).join().unwrap();
        assert_eq!(set.get(0), (1..=round).sum::<u64>());
    }
}

#[test]
fn concurrent_sums_never_decrease_and_stay_within_bounds() {
    let set = Arc::new(CounterSet::new(["n"]).unwrap());
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let set = Arc::clone(&set);
            thread::spawn(move || {
                for _ in 0..200_000 {
                    set.add(0, 1);
                }
            })
        })
        .collect();
    let mut last = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let now = set.get(0);
        assert!(now >= last, "sum went from {last} down to {now}");
        assert!(now <= 400_000);
        last = now;
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(set.get(0), 400_000);
}

#[test]
fn bad_names_are_typed_errors() {
    assert_eq!(CounterSet::new([""]).unwrap_err(), NameError::Empty);
    assert!(matches!(
        CounterSet::new(["hit ratio"]).unwrap_err(),
        NameError::Invalid { at: 3, .. }
    ));
    assert!(matches!(
        CounterSet::new(["9lives"]).unwrap_err(),
        NameError::Invalid { at: 0, .. }
    ));
    assert_eq!(
        CounterSet::new(["hit", "hit"]).unwrap_err(),
        NameError::Duplicate("hit".into())
    );
    assert!(CounterSet::new(["_ok", "a1_b2"]).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any interleaving of adds by several threads sums to the model's totals.
    #[test]
    fn matches_a_model(ops in prop::collection::vec((0usize..4, 0usize..3, 0u64..1_000_000), 0..200)) {
        let set = Arc::new(CounterSet::new(["a", "b", "c"]).unwrap());
        let mut model = [0u64; 3];
        for &(_, c, n) in &ops {
            model[c] += n;
        }
        let ops = Arc::new(ops);
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (set, ops) = (Arc::clone(&set), Arc::clone(&ops));
                thread::spawn(move || {
                    for &(owner, c, n) in ops.iter() {
                        if owner == t {
                            set.local().add(c, n);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        prop_assert_eq!(set.values(), model);
        for (c, &expected) in model.iter().enumerate() {
            prop_assert_eq!(set.get(c), expected);
        }
    }
}
