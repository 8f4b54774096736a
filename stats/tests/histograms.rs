use clockwise_stats::{ConfigError, Histogram, HistogramConfig, HistogramSnapshot};
use proptest::prelude::*;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

fn histogram(config: HistogramConfig) -> Histogram {
    Histogram::new(config, clockwise_stats::Clock::new()).unwrap()
}

/// The value at `q` as HdrHistogram defines it (rank `ceil(q * n)`, at least 1).
fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn quantiles_are_within_the_hdr_error_bound_of_exact(
        values in prop::collection::vec(0u64..60_000_000_000, 1..500),
    ) {
        let h = histogram(HistogramConfig::default());
        for &v in &values {
            h.record(v);
        }
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let snap = h.snapshot();
        prop_assert_eq!(snap.count(), values.len() as u64);
        for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let exact = exact_quantile(&sorted, q);
            let got = snap.quantile(q);
            // 3 significant digits: a bucket is at most 1/1024 of its values
            // wide, and the answer is an end of the exact value's bucket.
            prop_assert!(got.abs_diff(exact) <= exact / 1024,
                "q={} exact={} got={}", q, exact, got);
        }
        let max = *sorted.last().unwrap();
        prop_assert!(snap.max() >= max && snap.max() - max <= max / 1024);
    }

    #[test]
    fn snapshot_equals_hdrhistogram_fed_the_same_values(
        values in prop::collection::vec(any::<u64>(), 0..300),
        highest in 2u64..1_000_000_000_000,
        digits in 1u8..=4,
    ) {
        let h = histogram(HistogramConfig::default().highest(highest).significant_digits(digits));
        let mut reference = hdrhistogram::Histogram::<u64>::new_with_bounds(1, highest, digits).unwrap();
        let mut saturated = 0;
        for &v in &values {
            h.record(v);
            if v > highest {
                saturated += 1;
            }
            reference.saturating_record(v.min(highest));
        }
        let snap = h.snapshot();
        prop_assert_eq!(snap.saturated(), saturated);
        prop_assert_eq!(snap.to_hdr(), reference);
    }

    #[test]
    fn json_round_trip_is_lossless(values in prop::collection::vec(0u64..1_000_000, 0..200)) {
        let h = histogram(HistogramConfig::default());
        values.iter().for_each(|&v| h.record(v));
        let snap = h.snapshot();
        let json = serde_json::to_string(&snap).unwrap();
        let back: HistogramSnapshot = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, snap);
    }
}

#[test]
fn sampling_times_one_call_in_n_and_scales_counts() {
    let (clock, mock) = clockwise_stats::Clock::mock();
    let h = Histogram::new(HistogramConfig::default().sample_every(4), clock).unwrap();
    let mut sampled = 0;
    for _ in 0..100 {
        if let Some(s) = h.start() {
            sampled += 1;
            mock.increment(Duration::from_micros(10));
            h.finish(s);
        }
    }
    assert_eq!(sampled, 25);
    let snap = h.snapshot();
    assert_eq!(snap.samples(), 25);
    assert_eq!(snap.count(), 100, "each sample stands for 4 operations");
    let p50 = snap.quantile(0.5);
    assert!((9_990..=10_010).contains(&p50), "p50 {p50}");
}

#[test]
fn out_of_range_values_saturate_and_are_counted() {
    let h = histogram(HistogramConfig::default().highest(1_000));
    h.record(5);
    h.record(1_000_000);
    h.record(u64::MAX);
    let snap = h.snapshot();
    assert_eq!(snap.count(), 3);
    assert_eq!(snap.saturated(), 2);
    assert_eq!(snap.max(), 1_000);
}

#[test]
fn bad_configs_are_typed_errors() {
    let new = |c| Histogram::new(c, clockwise_stats::Clock::new()).map(|_| ());
    assert_eq!(
        new(HistogramConfig::default().sample_every(0)),
        Err(ConfigError::SampleEvery)
    );
    assert_eq!(
        new(HistogramConfig::default().significant_digits(7)),
        Err(ConfigError::SignificantDigits(7))
    );
    assert_eq!(
        new(HistogramConfig::default().highest(0)),
        Err(ConfigError::Highest(0))
    );
}

#[test]
fn concurrent_recording_loses_and_duplicates_nothing() {
    let h = Arc::new(histogram(HistogramConfig::default()));
    let threads = clockwise_stats::slot::layout().owned + 3;
    let handles: Vec<_> = (0..threads as u64)
        .map(|t| {
            let h = Arc::clone(&h);
            thread::spawn(move || (0..5_000u64).for_each(|i| h.record(t * 1_000 + i)))
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let mut reference =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    for t in 0..threads as u64 {
        (0..5_000u64).for_each(|i| reference.record(t * 1_000 + i).unwrap());
    }
    assert_eq!(h.snapshot().to_hdr(), reference);
}

#[test]
fn malformed_json_is_rejected() {
    let unsorted = r#"{"highest":1000,"significant_digits":3,"samples":2,"saturated":0,"buckets":[[5,1],[4,1]]}"#;
    assert!(serde_json::from_str::<HistogramSnapshot>(unsorted).is_err());
    let out_of_range =
        r#"{"highest":1000,"significant_digits":3,"samples":1,"saturated":0,"buckets":[[5000,1]]}"#;
    assert!(serde_json::from_str::<HistogramSnapshot>(out_of_range).is_err());
    let bad_layout =
        r#"{"highest":1000,"significant_digits":9,"samples":0,"saturated":0,"buckets":[]}"#;
    assert!(serde_json::from_str::<HistogramSnapshot>(bad_layout).is_err());
}

#[test]
fn merging_different_layouts_is_an_error() {
    let a = histogram(HistogramConfig::default()).snapshot();
    let b = histogram(HistogramConfig::default().significant_digits(2)).snapshot();
    assert!(a.merge(&b).is_err());
    assert!(a.delta(&b).is_err());
}
