//! OpenTelemetry names, units and descriptions, from the source's
//! [`Schema`]: dotted and lower case, `clockwise.<subsystem>.<family>`
//! where Prometheus writes `clockwise_<subsystem>_<family>_total`.

use super::super::names::{family, gauge_help, histogram_help, sanitize};
use crate::Schema;

/// What a counter, gauge or histogram is exported as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Named {
    /// The instrument's name.
    pub(crate) name: String,
    /// The attribute telling the family's counters apart, if any.
    pub(crate) label: Option<(&'static str, &'static str)>,
    pub(crate) description: &'static str,
    pub(crate) unit: &'static str,
}

/// `clockwise.<subsystem>.<part>`, lower case, each part made a valid
/// name part (`[a-z0-9_]`).
pub(crate) fn name(subsystem: &str, part: &str) -> String {
    format!(
        "clockwise.{}.{}",
        sanitize(subsystem).to_ascii_lowercase(),
        sanitize(part).to_ascii_lowercase()
    )
}

/// A gauge's level as OpenTelemetry's `i64`, saturated.
pub(crate) fn level(level: i128) -> i64 {
    i64::try_from(level).unwrap_or(if level < 0 { i64::MIN } else { i64::MAX })
}

/// How counter `metric` is exported, `None` if it is not.
pub(crate) fn counter(subsystem: &str, metric: &str, schema: &Schema) -> Option<Named> {
    let f = family(metric, schema)?;
    Some(Named {
        name: name(subsystem, f.part),
        label: f.label,
        description: f.help,
        unit: f.unit,
    })
}

/// How gauge `metric` is exported.
pub(crate) fn gauge(subsystem: &str, metric: &str, schema: &Schema) -> Named {
    Named {
        name: name(subsystem, metric),
        label: None,
        description: gauge_help(metric, schema),
        unit: schema.gauge_unit(metric).unwrap_or(""),
    }
}

/// How histogram `metric` is exported: in seconds, whatever the schema
/// says (the crate's histograms hold nanoseconds).
pub(crate) fn histogram(subsystem: &str, metric: &str, schema: &Schema) -> Named {
    Named {
        name: name(subsystem, metric),
        label: None,
        description: histogram_help(metric, schema),
        unit: "s",
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::names::COUNTER_HELP;
    use super::*;
    use crate::schema::TEST_CACHE;

    #[test]
    fn names_are_dotted_lower_case_and_grouped_by_family() {
        let hit = counter("cache", "hit", &TEST_CACHE).unwrap();
        let miss = counter("cache", "miss_absent", &TEST_CACHE).unwrap();
        assert_eq!(hit.name, "clockwise.cache.requests");
        assert_eq!(miss.name, hit.name);
        assert_eq!(
            (hit.label, miss.label),
            (Some(("result", "hit")), Some(("result", "miss_absent")))
        );
        assert_eq!(hit.unit, "{request}");
        assert_eq!(counter("cache", "get", &TEST_CACHE), None);
        assert_eq!(gauge("cache", "entries", &TEST_CACHE).unit, "{entry}");
        let h = histogram("Cache", "get_latency", &TEST_CACHE);
        assert_eq!(
            (h.name.as_str(), h.unit),
            ("clockwise.cache.get_latency", "s")
        );
        let other = counter("app", "jobs done", &Schema::NONE).unwrap();
        assert_eq!(
            (other.name.as_str(), other.description),
            ("clockwise.app.jobs_done", COUNTER_HELP)
        );
    }
}
