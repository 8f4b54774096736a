//! How snapshot metric names map to exported families, shared by the
//! Prometheus and `metrics` exporters so both speak the same names.
//!
//! A counter the source's [`Schema`] puts in a family is exported there,
//! with the family's label: a cache's counter `hit` becomes
//! `clockwise_cache_requests_total{cache="users",result="hit"}` because
//! the engine's schema says so. A counter `x` the schema does not describe
//! becomes `clockwise_<subsystem>_x_total`, gauge `x`
//! `clockwise_<subsystem>_x`, histogram `x` (nanoseconds)
//! `clockwise_<subsystem>_x_seconds`, with generic help texts.

use crate::Schema;

/// Help text of a gauge the schema does not describe.
const GAUGE_HELP: &str = "A level reported by this source.";
/// Help text of a histogram the schema does not describe.
const HISTOGRAM_HELP: &str = "A latency distribution reported by this source, in seconds.";
/// Help text of a counter the schema does not describe.
pub(crate) const COUNTER_HELP: &str = "A count reported by this source.";

/// Help text of gauge `metric`.
pub(crate) fn gauge_help(metric: &str, schema: &Schema) -> &'static str {
    schema.gauge_help(metric).unwrap_or(GAUGE_HELP)
}

/// Help text of histogram `metric`.
pub(crate) fn histogram_help(metric: &str, schema: &Schema) -> &'static str {
    schema.histogram_help(metric).unwrap_or(HISTOGRAM_HELP)
}

/// Whether counter `metric` is exported at all: whether it has a
/// [`Family`].
pub(crate) fn exported(metric: &str, schema: &Schema) -> bool {
    family(metric, schema).is_some()
}

/// `name` made a valid Prometheus name part: every byte outside
/// `[a-zA-Z0-9_]` becomes `_`, and a leading digit gets a `_` before it.
/// Names from the engine and from validated counter sets pass unchanged;
/// this guards snapshots deserialized from elsewhere.
pub(crate) fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// A label key and value fixed by the family.
pub(crate) type FixedLabel = Option<(&'static str, &'static str)>;

/// How counter `metric` of a source described by `schema` is grouped, in
/// every exporter's terms: its family's name part (the metric's own name
/// when the schema does not describe it; not yet sanitized), the label
/// telling it apart within the family, the family's help text and unit.
pub(crate) struct Family<'a> {
    pub(crate) part: &'a str,
    pub(crate) label: FixedLabel,
    pub(crate) help: &'static str,
    /// Read by the exporters whose format has units (OpenTelemetry).
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) unit: &'static str,
}

/// Counter `metric`'s [`Family`], `None` if it is not exported.
pub(crate) fn family<'a>(metric: &'a str, schema: &Schema) -> Option<Family<'a>> {
    Some(match schema.counter(metric) {
        Some(spec) => Family {
            part: spec.family()?,
            label: spec.label(),
            help: spec.help(),
            unit: spec.unit(),
        },
        None => Family {
            part: metric,
            label: None,
            help: COUNTER_HELP,
            unit: "",
        },
    })
}

/// The full counter family name, its extra label and its help text, for a
/// source of `subsystem` described by `schema`; `None` if the counter is
/// not exported.
pub(crate) fn counter_name(
    subsystem: &str,
    metric: &str,
    schema: &Schema,
) -> Option<(String, FixedLabel, &'static str)> {
    let f = family(metric, schema)?;
    let name = format!(
        "clockwise_{}_{}_total",
        sanitize(subsystem),
        sanitize(f.part)
    );
    Some((name, f.label, f.help))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CounterSpec, Spec};

    static SCHEMA: Schema = Schema::new(
        "cache",
        &[
            CounterSpec::hidden("get"),
            CounterSpec::labelled("hit", "requests", ("result", "hit"), "By result."),
            CounterSpec::labelled("miss", "requests", ("result", "miss"), "By result."),
        ],
        &[Spec::new("entries", "Held now.")],
        &[],
    );

    #[test]
    fn the_schema_groups_counters_into_families() {
        let (a, la, help) = counter_name("cache", "hit", &SCHEMA).unwrap();
        let (b, lb, _) = counter_name("cache", "miss", &SCHEMA).unwrap();
        assert_eq!(a, "clockwise_cache_requests_total");
        assert_eq!((a, help), (b, "By result."));
        assert_eq!(
            (la, lb),
            (Some(("result", "hit")), Some(("result", "miss")))
        );
        assert_eq!(counter_name("cache", "get", &SCHEMA), None);
        assert!(!exported("get", &SCHEMA) && exported("hit", &SCHEMA));
        assert_eq!(gauge_help("entries", &SCHEMA), "Held now.");
        assert_eq!(gauge_help("other", &SCHEMA), GAUGE_HELP);
    }

    #[test]
    fn without_a_schema_names_are_generic_and_sanitized() {
        let none = &Schema::NONE;
        assert_eq!(
            counter_name("app", "jobs done!", none).unwrap(),
            (
                "clockwise_app_jobs_done__total".to_owned(),
                None,
                COUNTER_HELP
            )
        );
        assert!(exported("anything", none));
        assert_eq!(histogram_help("x", none), HISTOGRAM_HELP);
        assert_eq!(sanitize("9lives"), "_9lives");
    }
}
