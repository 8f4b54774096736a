//! Observability primitives for latency-critical code: per-thread striped
//! counters, sampled HDR latency histograms, snapshots merged only when asked
//! for, and rolling time windows.
//!
//! The recording side never takes a lock, allocates, or makes a syscall; a
//! thread writes only its own cache-padded stripe, with a plain load and
//! store (no locked read-modify-write) while it holds one of the process's
//! owned stripes. Reading ([`CounterSet::values`], [`Histogram::snapshot`])
//! sums the stripes on demand.
//!
//! ```
//! use clockwise_stats::{CounterSet, Histogram, HistogramConfig, Snapshot};
//! use std::time::Duration;
//!
//! let counters = CounterSet::new(["hit", "miss_absent"]).unwrap();
//! let latency = Histogram::new(HistogramConfig::default().sample_every(64), clockwise_stats::Clock::new()).unwrap();
//!
//! // Hot path: one thread-local lookup, then own-stripe writes only.
//! let v = latency.time(|| { counters.add(0, 1); 42 });
//! assert_eq!(v, 42);
//!
//! // Cold path: merge the stripes.
//! let mut snap = Snapshot::new(Duration::from_secs(1));
//! counters.snapshot_into("", &mut snap);
//! snap.set_histogram("get_latency", latency.snapshot());
//! assert_eq!(snap.share("hit", &["miss_absent"]), Some(1.0));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod buckets;
mod clock;
mod error;
pub mod export;
pub mod histogram;
mod histogram_snapshot;
#[cfg(any(clockwise_loom, miri))]
mod loom_clock;
mod registry;
mod schema;
pub mod slot;
mod snapshot;
pub mod striped;
mod sync;
mod ticker;
mod window;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use clock::{Clock, Instant, Mock};
pub(crate) use error::validate_name;
pub use error::{ConfigError, MergeError, NameError};
pub use histogram::{Histogram, HistogramConfig, Sample};
pub use histogram_snapshot::{HistogramSnapshot, Quantiles};
pub use registry::{
    validate_source_name, Gathered, Registration, Registry, RegistryError, Source, MAX_NAME_LEN,
};
pub use schema::{CounterSpec, Described, Schema, Spec};
pub use snapshot::Snapshot;
pub use striped::{CounterSet, Local};
pub use ticker::Ticker;
pub use window::{Span, Windows};

/// The calling thread's stripe, looked up once and passed to several
/// recording calls ([`CounterSet::at`], [`Histogram::start_at`]). Not `Send`:
/// the stripe belongs to this thread.
///
/// ```
/// use clockwise_stats::{CounterSet, ThreadSlot};
/// let a = CounterSet::new(["x"]).unwrap();
/// let b = CounterSet::new(["y"]).unwrap();
/// let slot = ThreadSlot::current();
/// a.at(slot).add(0, 1);
/// b.at(slot).add(0, 1);
/// assert_eq!(a.get(0) + b.get(0), 2);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ThreadSlot(slot::Slot, std::marker::PhantomData<*const ()>);

impl ThreadSlot {
    /// The calling thread's slot, claimed on first use.
    #[inline]
    pub fn current() -> ThreadSlot {
        ThreadSlot(slot::current(), std::marker::PhantomData)
    }
}
