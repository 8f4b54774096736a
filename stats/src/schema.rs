//! How a source's metrics are named and described when exported. The
//! source gives its own [`Schema`] (the engine describes its caches'), so
//! this crate knows no source's vocabulary: without one, a metric `x` of
//! subsystem `s` is exported under generic names (`clockwise_s_x_total`
//! for a counter) with a generic help text.

/// A source's description of its metrics, for exporters.
///
/// ```
/// use clockwise_stats::{CounterSpec, Schema, Spec};
/// static SCHEMA: Schema = Schema::new(
///     "queue",
///     &[
///         CounterSpec::labelled("done", "jobs", ("result", "done"), "Jobs by result."),
///         CounterSpec::labelled("failed", "jobs", ("result", "failed"), "Jobs by result."),
///         CounterSpec::hidden("started"),
///     ],
///     &[Spec::new("depth", "Jobs waiting.")],
///     &[],
/// );
/// assert_eq!(SCHEMA.counter("failed").unwrap().family(), Some("jobs"));
/// assert_eq!(SCHEMA.gauge_help("depth"), Some("Jobs waiting."));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Schema {
    source_label: &'static str,
    counters: &'static [CounterSpec],
    gauges: &'static [Spec],
    histograms: &'static [Spec],
}

/// How one counter is exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterSpec {
    name: &'static str,
    family: Option<&'static str>,
    label: Option<(&'static str, &'static str)>,
    help: &'static str,
    unit: &'static str,
}

/// A gauge's or histogram's name, help text and unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    name: &'static str,
    help: &'static str,
    unit: &'static str,
}

impl Schema {
    /// No description: generic names, label key `source`.
    pub const NONE: Schema = Schema::new("source", &[], &[], &[]);

    /// A schema whose exports name the source with label `source_label`
    /// (`cache="users"`).
    pub const fn new(
        source_label: &'static str,
        counters: &'static [CounterSpec],
        gauges: &'static [Spec],
        histograms: &'static [Spec],
    ) -> Schema {
        Schema {
            source_label,
            counters,
            gauges,
            histograms,
        }
    }

    /// The label key naming the source.
    pub fn source_label(&self) -> &'static str {
        self.source_label
    }

    /// How counter `name` is exported, if described.
    pub fn counter(&self, name: &str) -> Option<&CounterSpec> {
        self.counters.iter().find(|c| c.name == name)
    }

    /// Every described counter.
    pub fn counters(&self) -> &'static [CounterSpec] {
        self.counters
    }

    /// Help text of gauge `name`, if described.
    pub fn gauge_help(&self, name: &str) -> Option<&'static str> {
        self.gauges.iter().find(|g| g.name == name).map(|g| g.help)
    }

    /// Help text of histogram `name`, if described.
    pub fn histogram_help(&self, name: &str) -> Option<&'static str> {
        self.histograms
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.help)
    }

    /// Every described gauge.
    pub fn gauges(&self) -> &'static [Spec] {
        self.gauges
    }

    /// Every described histogram.
    pub fn histograms(&self) -> &'static [Spec] {
        self.histograms
    }

    /// Unit of gauge `name` (UCUM, as OpenTelemetry writes units), if
    /// described; `""` when its spec gives none.
    pub fn gauge_unit(&self, name: &str) -> Option<&'static str> {
        self.gauges.iter().find(|g| g.name == name).map(|g| g.unit)
    }
}

impl CounterSpec {
    /// Counter `name` exported as its own family `family`.
    pub const fn plain(name: &'static str, family: &'static str, help: &'static str) -> Self {
        CounterSpec {
            name,
            family: Some(family),
            label: None,
            help,
            unit: "",
        }
    }

    /// Counter `name` exported in family `family`, told apart from the
    /// family's other counters by `label` (`("result", "hit")`).
    pub const fn labelled(
        name: &'static str,
        family: &'static str,
        label: (&'static str, &'static str),
        help: &'static str,
    ) -> Self {
        CounterSpec {
            name,
            family: Some(family),
            label: Some(label),
            help,
            unit: "",
        }
    }

    /// Counter `name`, not exported (it is derived from others).
    pub const fn hidden(name: &'static str) -> Self {
        CounterSpec {
            name,
            family: None,
            label: None,
            help: "",
            unit: "",
        }
    }

    /// The same, counting in `unit`: a UCUM annotation such as
    /// `"{request}"`, as OpenTelemetry writes the unit of a count.
    /// Exporters whose format has no units (Prometheus, StatsD) ignore it.
    ///
    /// ```
    /// use clockwise_stats::CounterSpec;
    /// const HITS: CounterSpec =
    ///     CounterSpec::labelled("hit", "requests", ("result", "hit"), "By result.").with_unit("{request}");
    /// assert_eq!(HITS.unit(), "{request}");
    /// ```
    pub const fn with_unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// The counter's unit, `""` if none was given.
    pub const fn unit(&self) -> &'static str {
        self.unit
    }

    /// The counter's name in snapshots.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Its family's name part, or `None` if it is not exported.
    pub fn family(&self) -> Option<&'static str> {
        self.family
    }

    /// The label telling it apart within its family.
    pub fn label(&self) -> Option<(&'static str, &'static str)> {
        self.label
    }

    /// The family's help text.
    pub fn help(&self) -> &'static str {
        self.help
    }
}

impl Spec {
    /// Metric `name`, described by `help`.
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Spec {
            name,
            help,
            unit: "",
        }
    }

    /// The same, measured in `unit` (UCUM, as OpenTelemetry writes units:
    /// `"By"`, `"{entry}"`). Histograms hold durations in nanoseconds,
    /// which exporters write in seconds (`"s"`) whatever the spec says, so
    /// a histogram's unit is not read.
    pub const fn with_unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// The metric's name in snapshots.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Its help text.
    pub const fn help(&self) -> &'static str {
        self.help
    }

    /// Its unit, `""` if none was given.
    pub const fn unit(&self) -> &'static str {
        self.unit
    }
}

/// A closure source with a [`Schema`], for sources that are not types of
/// their own.
///
/// ```
/// use clockwise_stats::{export::prometheus, CounterSpec, Described, Registry, Schema, Snapshot};
/// use std::time::Duration;
/// static JOBS: Schema = Schema::new(
///     "queue",
///     &[CounterSpec::labelled("done", "jobs", ("result", "done"), "Jobs by result.")],
///     &[],
///     &[],
/// );
/// let registry = Registry::new();
/// let _r = registry
///     .register("worker", "eu", Described(&JOBS, || {
///         let mut s = Snapshot::new(Duration::ZERO);
///         s.set_counter("done", 3);
///         s
///     }))
///     .unwrap();
/// let text = prometheus::render(&registry.gather());
/// assert!(text.contains("clockwise_worker_jobs_total{queue=\"eu\",result=\"done\"} 3\n"));
/// ```
pub struct Described<F>(pub &'static Schema, pub F);

impl<F> std::fmt::Debug for Described<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Described")
            .field(self.0)
            .finish_non_exhaustive()
    }
}

impl<F: Fn() -> crate::Snapshot + Send + Sync> crate::Source for Described<F> {
    fn snapshot(&self) -> crate::Snapshot {
        (self.1)()
    }

    fn schema(&self) -> &'static Schema {
        self.0
    }
}

/// A schema of the shape the engine gives its caches, for this crate's
/// tests of the exporters.
#[cfg(test)]
pub(crate) static TEST_CACHE: Schema = Schema::new(
    "cache",
    &[
        CounterSpec::hidden("get"),
        CounterSpec::labelled("hit", "requests", ("result", "hit"), "Lookups by result.")
            .with_unit("{request}"),
        CounterSpec::labelled(
            "miss_absent",
            "requests",
            ("result", "miss_absent"),
            "Lookups by result.",
        )
        .with_unit("{request}"),
        CounterSpec::labelled(
            "miss_expired",
            "requests",
            ("result", "miss_expired"),
            "Lookups by result.",
        ),
        CounterSpec::plain("insert", "inserts", "New entries inserted."),
        CounterSpec::labelled(
            "removed_capacity",
            "removals",
            ("cause", "capacity"),
            "Entries removed, by cause.",
        ),
        CounterSpec::labelled(
            "removed_replaced",
            "removals",
            ("cause", "replaced"),
            "Entries removed, by cause.",
        ),
    ],
    &[
        Spec::new("entries", "Entries held now.").with_unit("{entry}"),
        Spec::new("capacity", "Most total weight the cache holds."),
    ],
    &[Spec::new("get_latency", "Latency of get, in seconds.")],
);
