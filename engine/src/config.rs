//! What a cache is configured with: the settings the builder collects and
//! the cache keeps, their defaults, and the errors `try_build` reports.
//! Plain data, so that the builder and the cache both depend on it and not
//! on each other.

use crate::RemovalCause;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> u32 + Send + Sync>;
pub(crate) type Listener<K, V> = Arc<dyn Fn(&K, &V, RemovalCause) + Send + Sync>;
pub(crate) type ExpiryRef<K, V> = Arc<dyn crate::Expiry<K, V>>;
/// Runs reload tasks: the user's executor.
pub(crate) type Executor = Arc<dyn Fn(Box<dyn FnOnce() + Send>) + Send + Sync>;

/// Entries per shard below which fewer shards are used by default.
const MIN_SHARD_CAPACITY: u64 = 64;
/// Insert-latency sampling period used unless
/// [`CacheBuilder::latency_sample_every`](crate::CacheBuilder::latency_sample_every) says otherwise.
pub const DEFAULT_SAMPLE_EVERY: u32 = 64;
/// Get-latency sampling period used unless
/// [`CacheBuilder::latency_sample_every`](crate::CacheBuilder::latency_sample_every) says otherwise: rarer than for
/// inserts, because a timed call reads the clock twice, and a clock read
/// is about as long as a whole hit. Timing 1 in 64 hits cost 5 % of the
/// all-hit throughput (`clockwise-bench overhead`); 1 in 1,024 still times
/// 50,000 calls a second at 50M gets/s.
///
/// ```
/// let cache: clockwise::Cache<u64, u64> = clockwise::Cache::builder()
///     .max_capacity(1_000)
///     // Time every 64th get, as every 64th insert is by default.
///     .latency_sample_every(clockwise::DEFAULT_SAMPLE_EVERY)
///     .build();
/// assert!(clockwise::DEFAULT_GET_SAMPLE_EVERY > clockwise::DEFAULT_SAMPLE_EVERY);
/// # let _ = cache;
/// ```
pub const DEFAULT_GET_SAMPLE_EVERY: u32 = 1024;

/// A configuration `try_build` refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No `max_capacity` was set.
    MissingCapacity,
    /// `max_capacity(0)`: the cache could hold nothing.
    ZeroCapacity,
    /// `shards(n)` with `n` zero or above 65,536.
    Shards(usize),
    /// A zero time to live.
    ZeroTimeToLive,
    /// A zero latency sampling period.
    ZeroSampleEvery,
    /// A zero `negative_ttl`, `refresh_after` or `load_wait_timeout` (named).
    ZeroDuration(&'static str),
    /// An incomplete refresh configuration: a `refresh_executor` without a
    /// `reloader`, or a `reloader` without `refresh_after`.
    Refresh(&'static str),
    /// The registry refused the cache's name (empty, a control character,
    /// over 128 bytes, or already used by a live cache).
    Registry(clockwise_stats::RegistryError),
    /// `expire_after` with `time_to_live` or `time_to_idle`: an
    /// [`Expiry`](crate::Expiry) decides every entry's time to live alone.
    ExpiryWithTimeToLive,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingCapacity => f.write_str("max_capacity was not set"),
            ConfigError::ZeroCapacity => f.write_str("max_capacity must be at least 1"),
            ConfigError::Shards(n) => write!(f, "shards must be 1 to 65536, not {n}"),
            ConfigError::ZeroTimeToLive => f.write_str("time_to_live must be longer than zero"),
            ConfigError::ZeroSampleEvery => f.write_str("latency_sample_every must be at least 1"),
            ConfigError::ZeroDuration(what) => write!(f, "{what} must be longer than zero"),
            ConfigError::Refresh(what) => f.write_str(what),
            ConfigError::ExpiryWithTimeToLive => {
                f.write_str("expire_after cannot be combined with time_to_live or time_to_idle")
            }
            ConfigError::Registry(e) => {
                write!(f, "registry refused the cache's name: {e}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Loader settings (see the `*_get_with` methods).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Loading {
    pub(crate) negative_ttl: Option<Duration>,
    pub(crate) refresh_after: Option<Duration>,
    pub(crate) wait_timeout: Option<Duration>,
}

/// The name a cache was registered under, and the registration keeping it
/// listed.
pub(crate) struct Registered {
    pub(crate) name: String,
    pub(crate) registration: Option<clockwise_stats::Registration>,
}

impl Registered {
    /// Not in any registry.
    pub(crate) fn unlisted(name: &str) -> Registered {
        Registered {
            name: name.to_owned(),
            registration: None,
        }
    }
}

/// The shard count for `capacity`: a requested count rounded up to a power
/// of two, or four per hardware thread while shards keep at least
/// [`MIN_SHARD_CAPACITY`] each.
pub(crate) fn shard_count(requested: Option<usize>, capacity: u64) -> usize {
    // Never more shards than capacity: every shard holds at least one entry.
    let at_most = 1u64 << (63 - capacity.max(1).leading_zeros());
    match requested {
        Some(n) => (n.next_power_of_two() as u64).min(at_most) as usize,
        None => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let wanted = (cores * 4).next_power_of_two() as u64;
            let most = (capacity / MIN_SHARD_CAPACITY).max(1);
            // The largest power of two at most `most`.
            let most = 1u64 << (63 - most.leading_zeros());
            wanted.min(most) as usize
        }
    }
}
