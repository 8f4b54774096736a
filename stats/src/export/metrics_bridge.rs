//! Publishes registry snapshots into the [`metrics`] facade (cargo feature
//! `metrics`), so a program already exporting through
//! `metrics-exporter-prometheus`, an OpenTelemetry bridge or any other
//! `metrics` recorder sees clockwise's metrics with no extra code.
//!
//! Names and labels are those of the Prometheus exporter (see
//! [`export`](crate::export)). Counters are set with `absolute` (they are
//! already totals), gauges with `set`, and each latency histogram becomes
//! gauges labelled `quantile` (0.5, 0.9, 0.99, 0.999, in seconds) plus a
//! `_count` counter: the facade's histograms take individual values, and the
//! striped histograms have already aggregated theirs.

use super::names::{counter_name, sanitize};
use super::periodic::Periodic;
use crate::registry::Gathered;
use crate::Registry;
use metrics::Label;
use std::time::Duration;

/// Publishes `gathered` to the current `metrics` recorder once.
///
/// ```
/// use clockwise_stats::{export::metrics_bridge, Registry, Snapshot};
/// use std::time::Duration;
/// let registry = Registry::new();
/// let _r = registry.register("cache", "users", || Snapshot::new(Duration::ZERO)).unwrap();
/// metrics_bridge::publish(&registry.gather()); // no recorder installed: a no-op
/// ```
pub fn publish(gathered: &[Gathered]) {
    for g in gathered {
        let key = g.schema.source_label();
        let subsystem = sanitize(&g.subsystem);
        let base = vec![Label::new(key, g.name.clone())];
        for (metric, value) in g.snapshot.counters() {
            let Some((name, extra, _)) = counter_name(&g.subsystem, metric, g.schema) else {
                continue;
            };
            let mut labels = base.clone();
            labels.extend(extra.map(|(k, v)| Label::new(k, v)));
            metrics::counter!(name, labels).absolute(value);
        }
        for (metric, value) in g.snapshot.gauges() {
            let name = format!("clockwise_{subsystem}_{}", sanitize(metric));
            metrics::gauge!(name, base.clone()).set(value as f64);
        }
        for (metric, h) in g.snapshot.histograms() {
            let name = format!("clockwise_{subsystem}_{}_seconds", sanitize(metric));
            let hdr = (!h.is_empty()).then(|| h.to_hdr());
            for q in super::prometheus::QUANTILES {
                let mut labels = base.clone();
                labels.push(Label::new("quantile", q.to_string()));
                let v = hdr.as_ref().map_or(0, |h| h.value_at_quantile(q));
                metrics::gauge!(name.clone(), labels).set(v as f64 / 1e9);
            }
            metrics::counter!(format!("{name}_count"), base.clone()).absolute(h.count());
        }
    }
}

/// A background thread calling [`publish`] for a registry every interval,
/// and once more at [`stop`](Self::stop) or drop.
///
/// ```
/// use clockwise_stats::{export::metrics_bridge::MetricsBridge, Registry};
/// use std::time::Duration;
/// let bridge = MetricsBridge::start(Registry::new(), Duration::from_secs(5)).unwrap();
/// bridge.stop();
/// ```
#[derive(Debug)]
pub struct MetricsBridge {
    periodic: Periodic,
}

impl MetricsBridge {
    /// Starts publishing `registry` every `interval` (at least 10 ms) to the
    /// global `metrics` recorder.
    pub fn start(registry: Registry, interval: Duration) -> std::io::Result<MetricsBridge> {
        let interval = interval.max(Duration::from_millis(10));
        let periodic = Periodic::start("clockwise-metrics-bridge", interval, move || {
            publish(&registry.gather());
        })?;
        Ok(MetricsBridge { periodic })
    }

    /// Publishes a last time and joins the thread (dropping does the same).
    pub fn stop(mut self) {
        self.periodic.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Histogram, HistogramConfig, Snapshot};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::MetricKind;

    #[test]
    fn counters_gauges_and_quantiles_reach_the_recorder() {
        let h = Histogram::new(HistogramConfig::default(), crate::Clock::new()).unwrap();
        h.record(2_000);
        let mut s = Snapshot::new(Duration::ZERO);
        s.set_counter("hit", 7);
        s.set_counter("miss_absent", 2);
        s.set_gauge("entries", 4);
        s.set_histogram("get_latency", h.snapshot());
        let gathered = [Gathered {
            subsystem: "cache".into(),
            name: "users".into(),
            snapshot: s,
            schema: &crate::schema::TEST_CACHE,
        }];
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || publish(&gathered));
        let mut seen: Vec<(MetricKind, String, Vec<String>, String)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let (kind, key) = key.into_parts();
                let labels = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                let value = match value {
                    DebugValue::Counter(c) => c.to_string(),
                    DebugValue::Gauge(g) => g.into_inner().to_string(),
                    DebugValue::Histogram(_) => "histogram".into(),
                };
                (kind, key.name().to_owned(), labels, value)
            })
            .collect();
        seen.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
        let find = |name: &str, label: &str| {
            seen.iter()
                .find(|s| s.1 == name && s.2.iter().any(|l| l == label))
                .map(|s| (s.0, s.3.clone()))
        };
        assert_eq!(
            find("clockwise_cache_requests_total", "result=hit"),
            Some((MetricKind::Counter, "7".into()))
        );
        assert_eq!(
            find("clockwise_cache_requests_total", "result=miss_absent"),
            Some((MetricKind::Counter, "2".into()))
        );
        assert_eq!(
            find("clockwise_cache_entries", "cache=users"),
            Some((MetricKind::Gauge, "4".into()))
        );
        assert_eq!(
            find("clockwise_cache_get_latency_seconds", "quantile=0.5"),
            Some((MetricKind::Gauge, "0.000002".into()))
        );
        assert_eq!(
            find("clockwise_cache_get_latency_seconds_count", "cache=users"),
            Some((MetricKind::Counter, "1".into()))
        );
    }
}
