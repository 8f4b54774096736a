//! clockwise: a lock-free, high-throughput in-process cache with CLOCK-Pro
//! eviction and built-in metrics, whose cost is measured rather than
//! assumed: a hit with metrics writes only the calling thread's own lines,
//! and costs about 5 % of an all-hit `get`'s throughput on the machine the
//! README names (`clockwise-bench overhead`).
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

mod builder;
mod cache;
mod cache_stats;
mod clock_pro;
mod entry;
mod flight;
mod iter;
mod loading;
#[cfg(feature = "async")]
mod loading_async;
mod metrics;
mod prefetch;
mod reclaim;
mod refresh;
mod shard;
pub(crate) mod sync;
mod table;
#[cfg(test)]
mod tests;

pub use builder::{
    CacheBuilder, ConfigError, DEFAULT_CAPACITY, DEFAULT_GET_SAMPLE_EVERY, DEFAULT_SAMPLE_EVERY,
};
pub use cache::Cache;
pub use clockwise_stats as stats;
pub use iter::Iter;
pub use loading::LoadError;

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
    pub use crate::reclaim::{pin, Atomic, CallCounter, Guard, Owned, Shared};
}

/// Frees, now, every removed entry and replaced table that no reader can
/// still hold, instead of at the next automatic collection (which runs once 128
/// to 8,192 removed objects wait, process-wide). For memory measurements and
/// tests; caches never need it.
///
/// ```
/// let cache = clockwise::Cache::<u64, u64>::builder().max_capacity(10).build();
/// for k in 0..100 {
///     cache.insert(k, k);
/// }
/// clockwise::collect_garbage(); // the 90 evicted entries are freed here
/// ```
pub fn collect_garbage() {
    reclaim::collect_now();
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RemovalCause {
    /// Evicted to make room.
    Capacity,
    /// Its time to live passed.
    Expired,
    /// Removed by `remove`, `retain` or `invalidate_all`.
    Explicit,
    /// Replaced by a newer value for the same key.
    Replaced,
}
