//! The registry's sources as observable instruments on a user's
//! [`Meter`], for a service that already runs an OpenTelemetry SDK
//! pipeline: counters and gauges only, since the SDK cannot take a
//! pre-aggregated histogram (see [`encode`](super::encode) for those).

use super::names;
use crate::registry::Gathered;
use crate::{Registry, Schema};
use opentelemetry::metrics::{Meter, ObservableCounter, ObservableGauge};
use opentelemetry::KeyValue;

/// The instruments [`observe`] made. The SDK calls their callbacks at each
/// collection for as long as its meter provider lives; keep this to keep
/// them reachable (dropping it does not unregister them, as the SDK has no
/// such call).
#[derive(Debug)]
pub struct Observed {
    counters: Vec<ObservableCounter<u64>>,
    gauges: Vec<ObservableGauge<i64>>,
}

impl Observed {
    /// How many instruments were made: one per counter family and one per
    /// gauge the schema describes.
    pub fn len(&self) -> usize {
        self.counters.len() + self.gauges.len()
    }

    /// True if the schema described nothing exportable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes one observable counter per counter family of `schema` and one
/// observable gauge per gauge it describes, on `meter`. At each collection
/// they report every source of `subsystem` in `registry`: cumulative
/// counter values and current gauge levels, with the source's name as
/// attribute `schema.source_label()` (`cache="users"`) and the family's
/// own label (`result="hit"`). Nothing runs on the sources' hot paths: a
/// callback gathers merged snapshots, as a scrape does.
///
/// ```
/// use clockwise_stats::{export::otel, CounterSpec, Described, Registry, Schema, Snapshot};
/// use std::time::Duration;
/// static JOBS: Schema = Schema::new(
///     "queue",
///     &[CounterSpec::plain("done", "done", "Jobs done.").with_unit("{job}")],
///     &[],
///     &[],
/// );
/// let registry = Registry::new();
/// let _r = registry
///     .register("worker", "eu", Described(&JOBS, || Snapshot::new(Duration::ZERO)))
///     .unwrap();
/// let meter = opentelemetry::global::meter("my-service");
/// let observed = otel::observe(&meter, &registry, "worker", &JOBS);
/// assert_eq!(observed.len(), 1); // clockwise.worker.done
/// ```
pub fn observe(
    meter: &Meter,
    registry: &Registry,
    subsystem: &str,
    schema: &'static Schema,
) -> Observed {
    let mut counters = Vec::new();
    let mut families: Vec<&'static str> = Vec::new();
    for spec in schema.counters() {
        let Some(family) = spec.family() else {
            continue;
        };
        if families.contains(&family) {
            continue;
        }
        families.push(family);
        let members: Vec<(&'static str, Option<(&'static str, &'static str)>)> = schema
            .counters()
            .iter()
            .filter(|c| c.family() == Some(family))
            .map(|c| (c.name(), c.label()))
            .collect();
        let (registry, subsystem) = (registry.clone(), subsystem.to_owned());
        counters.push(
            meter
                .u64_observable_counter(names::name(&subsystem, family))
                .with_description(spec.help())
                .with_unit(spec.unit())
                .with_callback(move |observer| {
                    for g in gathered(&registry, &subsystem) {
                        for &(metric, label) in &members {
                            let mut attributes =
                                vec![KeyValue::new(schema.source_label(), g.name.clone())];
                            attributes.extend(label.map(|(k, v)| KeyValue::new(k, v)));
                            observer.observe(g.snapshot.counter(metric), &attributes);
                        }
                    }
                })
                .build(),
        );
    }
    let gauges = schema
        .gauges()
        .iter()
        .map(|spec| {
            let (registry, subsystem, metric) =
                (registry.clone(), subsystem.to_owned(), spec.name());
            meter
                .i64_observable_gauge(names::name(&subsystem, metric))
                .with_description(spec.help())
                .with_unit(spec.unit())
                .with_callback(move |observer| {
                    for g in gathered(&registry, &subsystem) {
                        if let Some(level) = g.snapshot.gauge(metric) {
                            observer.observe(
                                names::level(level),
                                &[KeyValue::new(schema.source_label(), g.name.clone())],
                            );
                        }
                    }
                })
                .build()
        })
        .collect();
    Observed { counters, gauges }
}

/// The sources of `subsystem` in `registry`, snapshotted now.
fn gathered(registry: &Registry, subsystem: &str) -> Vec<Gathered> {
    let mut all = registry.gather();
    all.retain(|g| g.subsystem == subsystem);
    all
}
