use clockwise_stats::{Histogram, HistogramConfig, Snapshot};
use proptest::prelude::*;
use std::time::Duration;

fn histogram_of(values: &[u64]) -> clockwise_stats::HistogramSnapshot {
    let h = Histogram::new(HistogramConfig::default(), clockwise_stats::Clock::new()).unwrap();
    values.iter().for_each(|&v| h.record(v));
    h.snapshot()
}

/// A snapshot with counters and histograms drawn from a small name pool, so
/// that pairs share some names and not others.
fn snapshot() -> impl Strategy<Value = Snapshot> {
    (
        prop::collection::btree_map("[abc]", any::<u64>(), 0..3),
        prop::collection::btree_map("[xy]", prop::collection::vec(0u64..10_000_000, 0..20), 0..2),
        0u64..1_000_000,
    )
        .prop_map(|(counters, histograms, uptime)| {
            let mut s = Snapshot::new(Duration::from_nanos(uptime));
            counters.into_iter().for_each(|(k, v)| s.set_counter(k, v));
            histograms
                .into_iter()
                .for_each(|(k, v)| s.set_histogram(k, histogram_of(&v)));
            s
        })
}

/// Counters and histograms only: gauges and times do not follow the algebra
/// by design (see `Snapshot`'s docs), and are tested separately below.
type Data = (
    Vec<(String, u64)>,
    Vec<(String, clockwise_stats::HistogramSnapshot)>,
);

fn data(s: &Snapshot) -> Data {
    (
        s.counters()
            .filter(|&(_, v)| v != 0)
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        s.histograms()
            .filter(|(_, h)| !h.is_empty() || h.samples() != 0)
            .map(|(k, h)| (k.to_owned(), h.clone()))
            .collect(),
    )
}

proptest! {
    #[test]
    fn merge_then_delta_gives_back_the_original(a in snapshot(), b in snapshot()) {
        let back = a.merge(&b).unwrap().delta(&b).unwrap();
        prop_assert_eq!(data(&back), data(&a));
    }

    #[test]
    fn merge_is_commutative_and_associative(a in snapshot(), b in snapshot(), c in snapshot()) {
        prop_assert_eq!(a.merge(&b).unwrap(), b.merge(&a).unwrap());
        let left = a.merge(&b).unwrap().merge(&c).unwrap();
        let right = a.merge(&b.merge(&c).unwrap()).unwrap();
        prop_assert_eq!(left, right);
    }

    #[test]
    fn delta_of_itself_is_empty(a in snapshot()) {
        let d = a.delta(&a).unwrap();
        prop_assert!(d.counters().all(|(_, v)| v == 0));
        prop_assert!(d.histograms().all(|(_, h)| h.is_empty() && h.samples() == 0));
        prop_assert_eq!(d.interval(), Duration::ZERO);
    }

    #[test]
    fn json_round_trip_is_lossless(a in snapshot()) {
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(serde_json::from_str::<Snapshot>(&json).unwrap(), a);
    }
}

#[test]
fn gauges_and_time_follow_their_documented_rules() {
    let mut a = Snapshot::new(Duration::from_secs(10));
    a.set_gauge("entries", 5);
    a.set_counter("hit", 10);
    let mut b = Snapshot::new(Duration::from_secs(12));
    b.set_gauge("entries", 7);
    b.set_counter("hit", 30);

    let merged = a.merge(&b).unwrap();
    assert_eq!(
        merged.gauge("entries"),
        Some(12),
        "levels of two sources add"
    );
    assert_eq!(merged.uptime(), Duration::from_secs(12));

    let d = b.delta(&a).unwrap();
    assert_eq!(d.gauge("entries"), Some(7), "a delta keeps the later level");
    assert_eq!(d.counter("hit"), 20);
    assert_eq!(d.interval(), Duration::from_secs(2));
    assert_eq!(d.rate("hit"), 10.0);
}

#[test]
fn derived_values() {
    let mut s = Snapshot::new(Duration::ZERO);
    assert_eq!(s.share("hit", &["miss_absent", "miss_expired"]), None);
    assert_eq!(s.rate("hit"), 0.0, "an empty interval has no rate");
    s.set_counter("hit", 3);
    s.set_counter("miss_absent", 1);
    s.set_counter("miss_expired", 0);
    s.set_counter("misses_total_unrelated", 100);
    assert_eq!(s.share("hit", &["miss_absent", "miss_expired"]), Some(0.75));
    assert_eq!(s.share("miss_absent", &["hit"]), Some(0.25));
    s.set_histogram("get", histogram_of(&(1..=1000).collect::<Vec<_>>()));
    let q = s.histogram("get").unwrap().quantiles();
    assert_eq!(
        (q.count, q.p50, q.p90, q.p99, q.p999, q.max),
        (1000, 500, 900, 990, 999, 1000)
    );
}
