//! clockwise: a lock-free, high-throughput in-process cache with CLOCK-Pro
//! eviction and built-in metrics, whose cost is measured rather than
//! assumed: a hit with metrics writes only the calling thread's own lines
//! (its cost, measured by `clockwise-bench overhead`, is in BENCHMARKS.md).
//!
//! Reads (`get`, `peek`, `contains_key`, `iter`) take no lock; writes lock
//! one shard. See [`Cache`] for the whole API.
//!
//! ```
//! use std::sync::Arc;
//! let cache: clockwise::Cache<u64, Arc<String>> = clockwise::Cache::builder()
//!     .max_capacity(10_000)
//!     .name("users")
//!     .build();
//! cache.insert(7, Arc::new("seven".to_owned()));
//! assert_eq!(cache.get(&7).as_deref().map(String::as_str), Some("seven"));
//! println!("hit ratio {:?}", cache.stats().hit_ratio());
//! ```
#![deny(missing_docs)]

mod adapt;
mod builder;
mod cache;
mod cache_stats;
mod clock_pro;
mod compute;
mod config;
mod entry;
mod entry_selector;
mod expiry;
mod flight;
mod guard;
mod insert_error;
mod iter;
mod lending;
mod loading;
#[cfg(feature = "async")]
mod loading_async;
mod metrics;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod model_support;
#[cfg(feature = "otel")]
pub mod otel;
mod prefetch;
mod reclaim;
mod refresh;
mod shard;
mod stats_source;
pub(crate) mod sync;
mod table;
#[cfg(test)]
mod tests;
mod window_climb;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub use builder::CacheBuilder;
pub use cache::Cache;
pub use cache_stats::CacheStats;
pub use clockwise_stats as stats;
pub use compute::{CompResult, Op};
pub use config::{ConfigError, DEFAULT_GET_SAMPLE_EVERY, DEFAULT_SAMPLE_EVERY};
pub use entry_selector::{Entry, OwnedKeyEntrySelector, RefKeyEntrySelector};
/// Keys a lookup may take in place of `K` (the `equivalent` crate's trait,
/// shared with hashbrown, indexmap and quick_cache). Every `Q` that `K`
/// borrows as is one already; implement it to look up `(String, String)`
/// keys by `(&str, &str)`, for instance, without building the owned key.
/// `Q` must hash as the `K` it is equivalent to.
///
/// ```
/// use clockwise::{Cache, Equivalent};
/// use std::hash::{Hash, Hasher};
///
/// #[derive(PartialEq, Eq, Hash)]
/// struct Route(String, String);
///
/// /// A route by borrowed parts; hashes as `Route` does (two `str`s).
/// struct RouteRef<'a>(&'a str, &'a str);
///
/// impl Hash for RouteRef<'_> {
///     fn hash<H: Hasher>(&self, h: &mut H) {
///         self.0.hash(h);
///         self.1.hash(h);
///     }
/// }
///
/// impl Equivalent<Route> for RouteRef<'_> {
///     fn equivalent(&self, key: &Route) -> bool {
///         self.0 == key.0 && self.1 == key.1
///     }
/// }
///
/// let cache: Cache<Route, u32> = Cache::new(100);
/// cache.insert(Route("GET".into(), "/users".into()), 7);
/// assert_eq!(cache.get(&RouteRef("GET", "/users")), Some(7));
/// assert_eq!(cache.get(&RouteRef("PUT", "/users")), None);
/// ```
pub use equivalent::Equivalent;
pub use expiry::Expiry;
pub use guard::{GuardResult, PlaceholderGuard};
pub use insert_error::InsertError;
pub use iter::Iter;
pub use loading::{LoadError, RECURSIVE_LOAD};

/// Gives back the calling loom model thread's reclamation record and stats slot,
/// as its thread-local destructors would (loom 0.7 cannot run atomic
/// operations in those). For loom models only.
#[cfg(clockwise_loom)]
#[doc(hidden)]
pub fn release_thread_for_loom() {
    reclaim::release_thread_for_loom();
    clockwise_stats::slot::release_current_for_loom();
}

/// The reclamation scheme's own API, for its loom models only.
#[cfg(clockwise_loom)]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod reclaim_for_loom {
    pub use crate::reclaim::{pin, Atomic, Column, Guard, Owned, Shared, Trail};
}

/// Frees, now, every removed entry and replaced table that no reader can
/// still hold, instead of at the next automatic collection: it seals what
/// every thread not pinned right now has retired (idle threads' partly
/// filled bags included) and collects. For memory measurements and tests;
/// caches never need it (see [`RetiredBounds`] for what waits meanwhile).
///
/// ```
/// let cache = clockwise::Cache::<u64, u64>::builder().max_capacity(10).build();
/// for k in 0..100 {
///     cache.insert(k, k);
/// }
/// clockwise::collect_garbage(); // the 90 evicted entries are freed here
/// assert_eq!(clockwise::reclamation_stats().retired_objects, 0);
/// ```
pub fn collect_garbage() {
    reclaim::collect_now();
}

/// The bounds on removed entries (and replaced tables) that wait to be
/// freed, process-wide, whatever threads and callbacks do.
///
/// A removed entry is *retired*: freed once no reader that may have found
/// it is still pinned. Each thread collects what it retires in a bag of at
/// most [`bag_objects`](Self::bag_objects) entries or
/// [`bag_bytes`](Self::bag_bytes) bytes, whichever comes first; a full bag
/// is sealed, and sealed bags are freed by a collection that starts once
/// [`collect_objects`](Self::collect_objects) objects (fewer where the
/// heavy barrier is cheap) or [`collect_bytes`](Self::collect_bytes) bytes
/// wait. A thread that exits seals its bag (collecting if that is due),
/// and [`collect_garbage`] also seals idle threads' bags.
///
/// A collection frees what no reader can hold; a batch that another thread
/// was reading beside (pinned for one lookup or one write, never while a
/// listener, loader or weigher runs) waits for the next collection, while
/// the next batch fills. Each thread's bag, and the bags threads seal while
/// a due collection gets going, add to that. So at any moment, with `T`
/// threads that have used a cache:
///
/// - retired objects waiting ≤ `2 × collect_objects + 3 × bag_objects × T`;
/// - retired bytes waiting ≤ `2 × collect_bytes + 3 × bag_bytes × T`, plus
///   one entry per bag (the one that filled it).
///
/// A single thread stays within `collect_objects + bag_objects` and
/// `collect_bytes + bag_bytes`. The one way past these bounds is a reader
/// descheduled in the middle of a lookup: it holds back the batches
/// collected meanwhile until it runs again.
///
/// Bytes are an entry's size, or its weight when a
/// [`weigher`](CacheBuilder::weigher) says more (a weigher in bytes bounds
/// its values' heap memory too).
///
/// ```
/// let b = clockwise::RetiredBounds::CURRENT;
/// assert!(b.bag_objects <= b.collect_objects && b.bag_bytes <= b.collect_bytes);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetiredBounds {
    /// Objects a thread retires before it seals its bag.
    pub bag_objects: usize,
    /// Bytes a thread retires before it seals its bag.
    pub bag_bytes: usize,
    /// Sealed objects that start a collection, at most.
    pub collect_objects: usize,
    /// Sealed bytes that start a collection.
    pub collect_bytes: usize,
}

impl RetiredBounds {
    /// The bounds this build keeps.
    pub const CURRENT: RetiredBounds = {
        let (bag_objects, bag_bytes, collect_objects, collect_bytes) = reclaim::BOUNDS;
        RetiredBounds {
            bag_objects,
            bag_bytes,
            collect_objects,
            collect_bytes,
        }
    };
}

/// What waits to be freed now, process-wide, and what went wrong freeing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReclamationStats {
    /// Retired objects sealed for a collection or waiting for pinned
    /// readers (not those in threads' own bags: see [`RetiredBounds`]).
    pub retired_objects: usize,
    /// Their bytes, as [`RetiredBounds`] counts them.
    pub retired_bytes: usize,
    /// Destructors of freed keys or values that panicked, ever. Each panic
    /// is caught where the object is freed: its memory is freed all the
    /// same, the rest of the batch too, and the panic reaches no cache
    /// operation (the panic hook still prints it).
    pub drop_panics: u64,
}

/// [`ReclamationStats`] now.
///
/// ```
/// let cache = clockwise::Cache::<u64, u64>::builder().max_capacity(10).build();
/// cache.insert(1, 1);
/// assert_eq!(clockwise::reclamation_stats().drop_panics, 0);
/// ```
pub fn reclamation_stats() -> ReclamationStats {
    let s = reclaim::stats();
    ReclamationStats {
        retired_objects: s.objects,
        retired_bytes: s.bytes,
        drop_panics: s.drop_panics,
    }
}

/// Whether this process's readers pin with only a compiler fence, leaving
/// the store-load barrier to `membarrier(2)` run by the rare collection
/// (`true`, Linux with the syscall available), or pay a full fence on every
/// pin (`false`: other systems, a seccomp filter refusing the syscall, or
/// `CLOCKWISE_NO_MEMBARRIER=1` in the environment before the first cache is
/// built). Decided once per process, when the first cache is built
/// (registering for `membarrier` takes milliseconds once other threads run,
/// and that belongs at start-up, not in the first `get`); worth logging.
///
/// ```
/// println!("clockwise reads use membarrier: {}", clockwise::uses_membarrier());
/// ```
pub fn uses_membarrier() -> bool {
    reclaim::asymmetric()
}

/// Why an entry left the cache, as told to the eviction listener.
///
/// Non-exhaustive: a later version may tell a new cause, so a `match`
/// outside this crate needs a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalCause {
    /// Evicted to make room.
    Capacity,
    /// Its time to live passed.
    Expired,
    /// Removed by `remove`, `retain` or `invalidate_all`.
    Explicit,
    /// Replaced by a newer value for the same key.
    Replaced,
    /// Never stored: written with [`Cache::insert`] (or loaded) with a
    /// weight over the cache's whole capacity. [`Cache::try_insert`] hands
    /// such an entry back instead.
    Rejected,
}

impl RemovalCause {
    /// Whether the cache removed the entry on its own (for room or on
    /// expiry), rather than because a caller removed or replaced it; as
    /// moka's `RemovalCause::was_evicted`.
    ///
    /// ```
    /// use clockwise::RemovalCause;
    /// assert!(RemovalCause::Capacity.was_evicted());
    /// assert!(RemovalCause::Expired.was_evicted());
    /// assert!(!RemovalCause::Explicit.was_evicted());
    /// assert!(!RemovalCause::Replaced.was_evicted());
    /// assert!(RemovalCause::Rejected.was_evicted());
    /// ```
    pub fn was_evicted(self) -> bool {
        matches!(
            self,
            RemovalCause::Capacity | RemovalCause::Expired | RemovalCause::Rejected
        )
    }
}
