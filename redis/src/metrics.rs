//! What the link reports through `clockwise-stats`: counters on the
//! threads' own stripes and the invalidation delay as an HDR histogram,
//! merged only when a snapshot is asked for.

use clockwise_stats::{
    Clock, CounterSet, CounterSpec, Histogram, HistogramConfig, Registration, Registry, Schema,
    Snapshot, Source, Spec,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A registration, and the source it lists (the registry holds it weakly).
pub(crate) type Listed = (Registration, Arc<dyn Source>);

/// The counters, in [`Metrics::COUNTERS`] order.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Counter {
    Messages,
    KeysInvalidated,
    Flushes,
    Reconnects,
    LinkFailures,
    Malformed,
    CommandErrors,
    Timeouts,
    Bypassed,
}

const NAMES: [&str; 9] = [
    "invalidation_messages",
    "keys_invalidated",
    "flushes",
    "reconnects",
    "link_failures",
    "malformed_messages",
    "command_errors",
    "command_timeouts",
    "bypassed_reads",
];

/// The histogram of invalidation delays, in nanoseconds.
pub const INVALIDATION_DELAY: &str = "invalidation_delay";
/// The gauge that is 1 while the invalidation link is up.
pub const LINKED: &str = "linked";

static SCHEMA: Schema = Schema::new(
    "source",
    &[
        CounterSpec::plain(
            "invalidation_messages",
            "invalidation_messages",
            "Invalidation messages received on the link (tracking or bus).",
        ),
        CounterSpec::plain(
            "keys_invalidated",
            "keys_invalidated",
            "Keys an invalidation received or published here named, each removed from the local cache if present.",
        ),
        CounterSpec::plain(
            "flushes",
            "flushes",
            "Local caches flushed whole: the link was lost or made anew, or Redis flushed.",
        ),
        CounterSpec::plain(
            "reconnects",
            "reconnects",
            "Times the invalidation link was made anew after a loss.",
        ),
        CounterSpec::plain(
            "link_failures",
            "link_failures",
            "Invalidation links lost, and attempts to make one that failed.",
        ),
        CounterSpec::plain(
            "malformed_messages",
            "malformed_messages",
            "Invalidation messages that could not be decoded (nothing was removed for them).",
        ),
        CounterSpec::plain(
            "command_errors",
            "command_errors",
            "Commands that failed with a connection or Redis error.",
        ),
        CounterSpec::plain(
            "command_timeouts",
            "command_timeouts",
            "Commands that got no reply within the command timeout.",
        ),
        CounterSpec::plain(
            "bypassed_reads",
            "bypassed_reads",
            "Misses sent to the source without the cache: the link was down, or the key is outside the tracked prefixes.",
        ),
    ],
    &[Spec::new(
        LINKED,
        "1 while the invalidation link is up and local caching is on.",
    )],
    &[Spec::new(
        INVALIDATION_DELAY,
        "Nanoseconds from another instance's write (a bus message, or a near cache's write stamp) to the removal of its keys here.",
    )],
);

/// The counters and the delay histogram of one link.
///
/// Registered in the [`RedisConfig::registry`](crate::RedisConfig::registry)
/// under subsystem `redis` and the config's name; read directly with
/// [`NearCache::metrics`](crate::NearCache::metrics) or
/// [`Bus::metrics`](crate::Bus::metrics).
///
/// ```
/// let m = clockwise_redis::Metrics::new();
/// assert_eq!(m.snapshot().counter("flushes"), 0);
/// ```
pub struct Metrics {
    counters: CounterSet<9>,
    delay: Histogram,
    linked: AtomicBool,
    clock: Clock,
    origin: clockwise_stats::Instant,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("counters", &self.counters.values())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The counter names, as snapshots report them.
    pub const COUNTERS: [&'static str; 9] = NAMES;

    /// Zeroed metrics.
    ///
    /// ```
    /// let m = clockwise_redis::Metrics::new();
    /// assert!(m.snapshot().histogram(clockwise_redis::INVALIDATION_DELAY).unwrap().is_empty());
    /// ```
    pub fn new() -> Metrics {
        let clock = Clock::new();
        Metrics {
            counters: CounterSet::new(NAMES).expect("valid metric names"),
            delay: Histogram::new(HistogramConfig::default(), clock.clone())
                .expect("the default histogram layout is valid"),
            linked: AtomicBool::new(false),
            origin: clock.now(),
            clock,
        }
    }

    pub(crate) fn count(&self, c: Counter) {
        self.counters.add(c as usize, 1);
    }

    pub(crate) fn add(&self, c: Counter, n: u64) {
        self.counters.add(c as usize, n);
    }

    pub(crate) fn delay(&self, d: Duration) {
        self.delay
            .record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    pub(crate) fn set_linked(&self, up: bool) {
        // Relaxed: a level for exporters; the link's own state word is what
        // the read path trusts.
        self.linked.store(up, Ordering::Relaxed);
    }

    /// Every metric, merged now.
    ///
    /// ```
    /// let m = clockwise_redis::Metrics::new();
    /// assert_eq!(m.snapshot().gauge(clockwise_redis::LINKED), Some(0));
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = Snapshot::new(self.clock.now().saturating_duration_since(self.origin));
        self.counters.snapshot_into("", &mut snap);
        snap.set_histogram(INVALIDATION_DELAY, self.delay.snapshot());
        snap.set_gauge(LINKED, i128::from(self.linked.load(Ordering::Relaxed)));
        snap
    }

    pub(crate) fn register(
        self: &Arc<Self>,
        registry: &Registry,
        name: &str,
    ) -> Result<Listed, crate::Error> {
        let source: Arc<dyn Source> = Arc::new(Reporter(Arc::clone(self)));
        let registration = registry
            .register_source("redis", name, &source)
            .map_err(|e| crate::Error::Config(e.to_string()))?;
        Ok((registration, source))
    }
}

struct Reporter(Arc<Metrics>);

impl Source for Reporter {
    fn snapshot(&self) -> Snapshot {
        self.0.snapshot()
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }
}
