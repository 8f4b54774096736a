//! Gathered snapshots as one OTLP `ExportMetricsServiceRequest`, encoded
//! with opentelemetry-proto's types: counters as cumulative monotonic sums,
//! gauges as gauges, latency histograms as explicit-bucket histograms built
//! from the merged HDR counts (the SDK has no way to take a pre-aggregated
//! histogram, so the export builds the message itself).

use super::names::{self, Named};
use crate::registry::Gathered;
use crate::HistogramSnapshot;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// The instrumentation scope every export names.
pub(crate) const SCOPE: &str = "clockwise";

/// A string attribute.
fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Each instrument's description and its points from every source, by
/// name, for one kind of metric.
type ByName<P> = BTreeMap<String, (Named, Vec<P>)>;

fn add<P>(metrics: &mut ByName<P>, named: Named, point: P) {
    metrics
        .entry(named.name.clone())
        .or_insert_with(|| (named, Vec::new()))
        .1
        .push(point);
}

fn metric(named: Named, data: metric::Data) -> Metric {
    Metric {
        name: named.name,
        description: named.description.to_owned(),
        unit: named.unit.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

/// `h`'s occupied HDR buckets as explicit bounds, in seconds: each
/// bucket's highest value is a bound, so OTLP's bucket `i`, the values in
/// `(bounds[i-1], bounds[i]]`, holds exactly HDR bucket `i` (the buckets
/// between two occupied ones are empty), and the bucket past the last
/// bound is empty.
pub(crate) fn histogram_point(
    h: &HistogramSnapshot,
    attributes: Vec<KeyValue>,
    start: u64,
    time: u64,
) -> HistogramDataPoint {
    let (mut bounds, mut counts) = (Vec::new(), Vec::new());
    for (_, highest, count) in h.buckets() {
        bounds.push(highest as f64 / 1e9);
        counts.push(count);
    }
    counts.push(0);
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        count: h.count(),
        sum: Some(h.sum() / 1e9),
        bucket_counts: counts,
        explicit_bounds: bounds,
        ..Default::default()
    }
}

/// Everything in `gathered` as one request at time `now`, under a resource
/// with `resource`'s attributes. Each source's points start when the source
/// did (`now` less its snapshot's uptime), so backends see cumulative
/// series that restart when a cache is made anew.
///
/// ```
/// use clockwise_stats::{export::otel, Registry, Snapshot};
/// use std::time::{Duration, SystemTime};
/// let registry = Registry::new();
/// let _r = registry.register("cache", "users", || {
///     let mut s = Snapshot::new(Duration::from_secs(5));
///     s.set_counter("hit", 3);
///     s
/// }).unwrap();
/// let request = otel::encode(&registry.gather(), &[("service.name".into(), "api".into())], SystemTime::now());
/// let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
/// assert_eq!(metric.name, "clockwise.cache.hit");
/// ```
pub fn encode(
    gathered: &[Gathered],
    resource: &[(String, String)],
    now: SystemTime,
) -> ExportMetricsServiceRequest {
    let time = nanos(now);
    // By kind and name, so a family's points from every source are one
    // metric (a counter and a gauge of one name stay two).
    let mut sums: ByName<NumberDataPoint> = BTreeMap::new();
    let mut gauges: ByName<NumberDataPoint> = BTreeMap::new();
    let mut histograms: ByName<HistogramDataPoint> = BTreeMap::new();
    for g in gathered {
        let start = nanos(now.checked_sub(g.snapshot.uptime()).unwrap_or(UNIX_EPOCH));
        let source = attribute(g.schema.source_label(), &g.name);
        let attributes = |label: Option<(&str, &str)>| {
            let mut a = vec![source.clone()];
            a.extend(label.map(|(k, v)| attribute(k, v)));
            a
        };
        let number = |label, value: i64| NumberDataPoint {
            attributes: attributes(label),
            start_time_unix_nano: start,
            time_unix_nano: time,
            value: Some(number_data_point::Value::AsInt(value)),
            ..Default::default()
        };
        for (metric, value) in g.snapshot.counters() {
            if let Some(named) = names::counter(&g.subsystem, metric, g.schema) {
                let value = i64::try_from(value).unwrap_or(i64::MAX);
                let point = number(named.label, value);
                add(&mut sums, named, point);
            }
        }
        for (metric, level) in g.snapshot.gauges() {
            let point = number(None, names::level(level));
            add(
                &mut gauges,
                names::gauge(&g.subsystem, metric, g.schema),
                point,
            );
        }
        for (metric, h) in g.snapshot.histograms() {
            let point = histogram_point(h, attributes(None), start, time);
            add(
                &mut histograms,
                names::histogram(&g.subsystem, metric, g.schema),
                point,
            );
        }
    }
    let cumulative = AggregationTemporality::Cumulative as i32;
    let sums = sums.into_values().map(|(named, data_points)| {
        let sum = Sum {
            data_points,
            aggregation_temporality: cumulative,
            is_monotonic: true,
        };
        metric(named, metric::Data::Sum(sum))
    });
    let gauges = gauges
        .into_values()
        .map(|(named, data_points)| metric(named, metric::Data::Gauge(Gauge { data_points })));
    let histograms = histograms.into_values().map(|(named, data_points)| {
        let histogram = Histogram {
            data_points,
            aggregation_temporality: cumulative,
        };
        metric(named, metric::Data::Histogram(histogram))
    });
    let mut metrics: Vec<Metric> = sums.chain(gauges).chain(histograms).collect();
    metrics.sort_by(|a, b| a.name.cmp(&b.name));
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| attribute(k, v)).collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SCOPE.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Seconds since the epoch.
    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }
    use crate::schema::TEST_CACHE;
    use crate::{Clock, Described, Histogram as Hdr, Registry, Snapshot};

    fn request(registry: &Registry) -> Vec<Metric> {
        let mut r = encode(
            &registry.gather(),
            &[("service.name".into(), "t".into())],
            at(100),
        );
        assert_eq!(r.resource_metrics.len(), 1);
        let rm = r.resource_metrics.remove(0);
        assert_eq!(
            rm.resource.unwrap().attributes,
            [attribute("service.name", "t")]
        );
        let mut sm = rm.scope_metrics;
        assert_eq!(sm[0].scope.as_ref().unwrap().name, SCOPE);
        sm.remove(0).metrics
    }

    fn string(kv: &KeyValue) -> (&str, &str) {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => (&kv.key, s),
            other => panic!("not a string attribute: {other:?}"),
        }
    }

    #[test]
    fn counters_of_a_family_are_one_sum_with_a_point_per_source_and_label() {
        let registry = Registry::new();
        let source = |hits, uptime| {
            Described(&TEST_CACHE, move || {
                let mut s = Snapshot::new(Duration::from_secs(uptime));
                s.set_counter("get", hits + 2);
                s.set_counter("hit", hits);
                s.set_counter("miss_absent", 2);
                s.set_gauge("entries", -4);
                s
            })
        };
        let _a = registry.register("cache", "a", source(7, 10)).unwrap();
        let _b = registry.register("cache", "b", source(9, 40)).unwrap();
        let metrics = request(&registry);
        let names: Vec<_> = metrics.iter().map(|m| m.name.as_str()).collect();
        // `get` is hidden by the schema.
        assert_eq!(
            names,
            ["clockwise.cache.entries", "clockwise.cache.requests"]
        );
        let requests = &metrics[1];
        assert_eq!(requests.unit, "{request}");
        let Some(metric::Data::Sum(sum)) = &requests.data else {
            panic!("requests is not a sum")
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let points: Vec<_> = sum
            .data_points
            .iter()
            .map(|p| {
                let attrs: Vec<_> = p.attributes.iter().map(string).collect();
                (attrs, p.value, p.start_time_unix_nano, p.time_unix_nano)
            })
            .collect();
        let s = 1_000_000_000;
        let int = |v| Some(number_data_point::Value::AsInt(v));
        assert_eq!(
            points,
            [
                (
                    vec![("cache", "a"), ("result", "hit")],
                    int(7),
                    90 * s,
                    100 * s
                ),
                (
                    vec![("cache", "a"), ("result", "miss_absent")],
                    int(2),
                    90 * s,
                    100 * s
                ),
                (
                    vec![("cache", "b"), ("result", "hit")],
                    int(9),
                    60 * s,
                    100 * s
                ),
                (
                    vec![("cache", "b"), ("result", "miss_absent")],
                    int(2),
                    60 * s,
                    100 * s
                ),
            ]
        );
        let Some(metric::Data::Gauge(g)) = &metrics[0].data else {
            panic!("entries is not a gauge")
        };
        assert_eq!(g.data_points[0].value, int(-4));
    }

    #[test]
    fn a_histogram_keeps_the_hdr_counts_in_seconds() {
        let h = Hdr::new(Default::default(), Clock::new()).unwrap();
        for v in [100, 100, 100, 2_000, 1_000_000] {
            h.record(v);
        }
        let snap = h.snapshot();
        let point = histogram_point(&snap, vec![], 1, 2);
        assert_eq!(point.count, 5);
        assert_eq!(point.bucket_counts, [3, 1, 1, 0]);
        assert_eq!(point.explicit_bounds.len(), 3);
        // Each value is at most its bucket's bound and above the previous.
        for (v, i) in [(100u64, 0usize), (2_000, 1), (1_000_000, 2)] {
            let secs = v as f64 / 1e9;
            assert!(secs <= point.explicit_bounds[i], "{v} above its bound");
            assert!(
                i == 0 || secs > point.explicit_bounds[i - 1],
                "{v} in a lower bucket"
            );
        }
        let sum = point.sum.unwrap();
        assert!(
            (sum - 1_002_300e-9).abs() < 1_002_300e-9 * 0.01,
            "sum {sum}"
        );
        let empty = histogram_point(
            &Hdr::new(Default::default(), Clock::new())
                .unwrap()
                .snapshot(),
            vec![],
            1,
            2,
        );
        assert_eq!(
            (empty.count, empty.bucket_counts, empty.explicit_bounds),
            (0, vec![0], vec![])
        );
    }
}
