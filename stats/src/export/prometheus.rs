//! Prometheus text exposition format 0.0.4.
//!
//! Every family gets `# HELP` and `# TYPE`; counters end in `_total` and are
//! exported raw (never as rates), so `sum by (cache)` aggregates instances
//! in PromQL; latency histograms are summaries with quantiles 0.5, 0.9, 0.99
//! and 0.999 plus `_sum` and `_count`, in seconds. Family names are listed in
//! [`export`](crate::export). Label values are escaped as the format demands.

use super::names::{counter_name, gauge_help, histogram_help, sanitize};
use crate::registry::Gathered;
use crate::HistogramSnapshot;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Quantiles written for every latency summary.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Summary,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
        }
    }
}

struct Family {
    kind: Kind,
    help: &'static str,
    /// Sample lines, each complete with its trailing newline.
    samples: String,
}

/// Escapes a label value: backslash, double quote and line feed.
///
/// ```
/// use clockwise_stats::export::prometheus::escape_label_value;
/// assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
/// ```
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `# HELP` text: backslash and line feed.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", escape_label_value(v));
    }
    out.push('}');
    out
}

fn seconds(nanos: f64) -> f64 {
    nanos / 1e9
}

fn family<'a>(
    families: &'a mut BTreeMap<String, Family>,
    name: String,
    kind: Kind,
    help: &'static str,
) -> &'a mut String {
    &mut families
        .entry(name)
        .or_insert_with(|| Family {
            kind,
            help,
            samples: String::new(),
        })
        .samples
}

fn summary(out: &mut String, name: &str, base: &[(&str, &str)], h: &HistogramSnapshot) {
    let hdr = (!h.is_empty()).then(|| h.to_hdr());
    for q in QUANTILES {
        let value = hdr.as_ref().map_or(0, |h| h.value_at_quantile(q));
        let q = q.to_string();
        let mut pairs = base.to_vec();
        pairs.push(("quantile", &q));
        let _ = writeln!(out, "{name}{} {}", labels(&pairs), seconds(value as f64));
    }
    let _ = writeln!(out, "{name}_sum{} {}", labels(base), seconds(h.sum()));
    let _ = writeln!(out, "{name}_count{} {}", labels(base), h.count());
}

/// Renders gathered snapshots as one exposition document. Families,
/// labels and help texts are the sources' [`Schema`](crate::Schema)s'
/// (see [`Described`](crate::Described)); a source without one gets
/// generic names, as here.
///
/// ```
/// use clockwise_stats::{export::prometheus, Registry, Snapshot};
/// use std::time::Duration;
///
/// let registry = Registry::new();
/// let _r = registry
///     .register("worker", "eu", || {
///         let mut s = Snapshot::new(Duration::ZERO);
///         s.set_counter("jobs_done", 9);
///         s.set_gauge("queued", 5);
///         s
///     })
///     .unwrap();
/// let text = prometheus::render(&registry.gather());
/// assert!(text.contains("# TYPE clockwise_worker_jobs_done_total counter\n"));
/// assert!(text.contains("clockwise_worker_jobs_done_total{source=\"eu\"} 9\n"));
/// assert!(text.contains("clockwise_worker_queued{source=\"eu\"} 5\n"));
/// ```
pub fn render(gathered: &[Gathered]) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for g in gathered {
        let key = g.schema.source_label();
        let subsystem = sanitize(&g.subsystem);
        let snap = &g.snapshot;
        for (metric, value) in snap.counters() {
            let Some((name, extra, help)) = counter_name(&g.subsystem, metric, g.schema) else {
                continue;
            };
            let mut pairs = vec![(key, g.name.as_str())];
            pairs.extend(extra);
            let out = family(&mut families, name.clone(), Kind::Counter, help);
            let _ = writeln!(out, "{name}{} {value}", labels(&pairs));
        }
        for (metric, value) in snap.gauges() {
            let name = format!("clockwise_{subsystem}_{}", sanitize(metric));
            let help = gauge_help(metric, g.schema);
            let out = family(&mut families, name.clone(), Kind::Gauge, help);
            let _ = writeln!(out, "{name}{} {value}", labels(&[(key, &g.name)]));
        }
        for (metric, h) in snap.histograms() {
            let name = format!("clockwise_{subsystem}_{}_seconds", sanitize(metric));
            let out = family(
                &mut families,
                name.clone(),
                Kind::Summary,
                histogram_help(metric, g.schema),
            );
            summary(out, &name, &[(key, &g.name)], h);
        }
    }
    let mut text = String::new();
    for (name, f) in families {
        let _ = writeln!(text, "# HELP {name} {}", escape_help(f.help));
        let _ = writeln!(text, "# TYPE {name} {}", f.kind.as_str());
        text.push_str(&f.samples);
    }
    text
}

/// [`render`] of everything in `registry`.
///
/// ```
/// let text = clockwise_stats::export::prometheus::render_registry(&clockwise_stats::Registry::new());
/// assert!(text.is_empty());
/// ```
pub fn render_registry(registry: &crate::Registry) -> String {
    render(&registry.gather())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Histogram, HistogramConfig, Schema, Snapshot};
    use std::time::Duration;

    const REQUESTS: &str = "Lookups by result.";
    const REMOVALS: &str = "Entries removed, by cause.";
    use crate::schema::TEST_CACHE as CACHE;

    /// Subsystem `cache` with the schema above; any other with none.
    fn gathered(subsystem: &str, name: &str, snapshot: Snapshot) -> Gathered {
        Gathered {
            subsystem: subsystem.into(),
            name: name.into(),
            snapshot,
            schema: if subsystem == "cache" {
                &CACHE
            } else {
                &Schema::NONE
            },
        }
    }

    fn cache_snapshot(hit: u64) -> Snapshot {
        let mut s = Snapshot::new(Duration::from_secs(1));
        for (name, v) in [
            ("get", hit + 3),
            ("hit", hit),
            ("miss_absent", 2),
            ("miss_expired", 1),
            ("insert", 4),
            ("removed_capacity", 1),
            ("removed_replaced", 0),
        ] {
            s.set_counter(name, v);
        }
        s.set_gauge("entries", 3);
        s.set_gauge("capacity", 10);
        s
    }

    /// The whole document for two caches, byte for byte.
    #[test]
    fn golden_two_caches() {
        let text = render(&[
            gathered("cache", "b", cache_snapshot(7)),
            gathered("cache", "a", cache_snapshot(5)),
        ]);
        let expected = format!(
            "# HELP clockwise_cache_capacity Most total weight the cache holds.
# TYPE clockwise_cache_capacity gauge
clockwise_cache_capacity{{cache=\"b\"}} 10
clockwise_cache_capacity{{cache=\"a\"}} 10
# HELP clockwise_cache_entries Entries held now.
# TYPE clockwise_cache_entries gauge
clockwise_cache_entries{{cache=\"b\"}} 3
clockwise_cache_entries{{cache=\"a\"}} 3
# HELP clockwise_cache_inserts_total New entries inserted.
# TYPE clockwise_cache_inserts_total counter
clockwise_cache_inserts_total{{cache=\"b\"}} 4
clockwise_cache_inserts_total{{cache=\"a\"}} 4
# HELP clockwise_cache_removals_total {removals}
# TYPE clockwise_cache_removals_total counter
clockwise_cache_removals_total{{cache=\"b\",cause=\"capacity\"}} 1
clockwise_cache_removals_total{{cache=\"b\",cause=\"replaced\"}} 0
clockwise_cache_removals_total{{cache=\"a\",cause=\"capacity\"}} 1
clockwise_cache_removals_total{{cache=\"a\",cause=\"replaced\"}} 0
# HELP clockwise_cache_requests_total {requests}
# TYPE clockwise_cache_requests_total counter
clockwise_cache_requests_total{{cache=\"b\",result=\"hit\"}} 7
clockwise_cache_requests_total{{cache=\"b\",result=\"miss_absent\"}} 2
clockwise_cache_requests_total{{cache=\"b\",result=\"miss_expired\"}} 1
clockwise_cache_requests_total{{cache=\"a\",result=\"hit\"}} 5
clockwise_cache_requests_total{{cache=\"a\",result=\"miss_absent\"}} 2
clockwise_cache_requests_total{{cache=\"a\",result=\"miss_expired\"}} 1
",
            removals = REMOVALS,
            requests = REQUESTS,
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn summaries_are_in_seconds_with_sum_and_count() {
        let h = Histogram::new(HistogramConfig::default(), crate::Clock::new()).unwrap();
        for v in [1_000u64, 2_000, 3_000, 1_000_000] {
            h.record(v);
        }
        let mut s = Snapshot::new(Duration::ZERO);
        s.set_histogram("get_latency", h.snapshot());
        let text = render(&[gathered("cache", "c", s)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "# TYPE clockwise_cache_get_latency_seconds summary"
        );
        assert_eq!(
            lines[2],
            "clockwise_cache_get_latency_seconds{cache=\"c\",quantile=\"0.5\"} 0.000002"
        );
        assert!(lines[5].starts_with(
            "clockwise_cache_get_latency_seconds{cache=\"c\",quantile=\"0.999\"} 0.0010"
        ));
        let sum: f64 = lines[6].rsplit(' ').next().unwrap().parse().unwrap();
        assert!((sum - 0.001006).abs() < 0.000002, "{sum}");
        assert_eq!(
            lines[7],
            "clockwise_cache_get_latency_seconds_count{cache=\"c\"} 4"
        );
    }

    #[test]
    fn hostile_label_values_are_escaped() {
        let hostile = "x\"} 1\nclockwise_fake_total 99 \\";
        let text = render(&[gathered("cache", hostile, cache_snapshot(1))]);
        assert!(
            !text.lines().any(|l| l.starts_with("clockwise_fake")),
            "{text}"
        );
        assert!(text.contains(
            "clockwise_cache_entries{cache=\"x\\\"} 1\\nclockwise_fake_total 99 \\\\\"} 3\n"
        ));
        // Every line is a comment or one sample: no line was injected.
        for line in text.lines() {
            assert!(
                line.starts_with("# ") || line.starts_with("clockwise_cache_"),
                "{line}"
            );
        }
    }

    #[test]
    fn other_subsystems_use_a_source_label_and_sanitized_names() {
        let mut s = Snapshot::new(Duration::ZERO);
        s.set_counter("jobs", 2);
        s.set_counter("bad-name", 1);
        let text = render(&[gathered("app", "worker", s)]);
        assert!(text.contains("clockwise_app_jobs_total{source=\"worker\"} 2\n"));
        assert!(text.contains("clockwise_app_bad_name_total{source=\"worker\"} 1\n"));
    }
}
