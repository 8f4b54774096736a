//! Per-entry expiry: [`Expiry`], set with
//! [`CacheBuilder::expire_after`](crate::CacheBuilder::expire_after).

use clockwise_stats::Instant;
use std::time::Duration;

/// Decides each entry's time to live when it is created, updated and
/// read, as moka's `Expiry` does. Each method returns how long from its
/// instant the entry may live, `None` for no limit; the defaults keep
/// whatever the entry had (and give a new entry no limit).
///
/// The methods are the caller's thread's code, run outside the cache's
/// locks: on a write before the entry is stored, on a read (a `get` or a
/// loader's hit) while the reading thread holds back memory reclamation,
/// as `V::clone` does, so they should be quick. A loaded value is
/// `created` or `updated` like an inserted one; an entry written with
/// [`insert_with_ttl`](crate::Cache::insert_with_ttl) gets that time to
/// live instead of `expire_after_create`'s, and its reads are still
/// told here.
///
/// ```
/// use clockwise::{stats::{Clock, Instant}, Cache, Expiry};
/// use std::time::Duration;
///
/// /// Logins live 30 minutes from their last read; tokens 5 minutes
/// /// from their creation, read or not.
/// struct Policy;
/// impl Expiry<String, u64> for Policy {
///     fn expire_after_create(&self, key: &String, _: &u64, _: Instant) -> Option<Duration> {
///         Some(Duration::from_secs(if key.starts_with("login:") { 1_800 } else { 300 }))
///     }
///     fn expire_after_read(
///         &self,
///         key: &String,
///         _: &u64,
///         _: Instant,
///         left: Option<Duration>,
///         _: Instant,
///     ) -> Option<Duration> {
///         if key.starts_with("login:") { Some(Duration::from_secs(1_800)) } else { left }
///     }
/// }
///
/// let (clock, mock) = Clock::mock();
/// let cache: Cache<String, u64> = Cache::builder()
///     .max_capacity(100)
///     .expire_after(Policy)
///     .clock(clock)
///     .build();
/// cache.insert("login:a".into(), 1);
/// cache.insert("token:b".into(), 2);
/// mock.increment(Duration::from_secs(290));
/// assert_eq!(cache.get("login:a"), Some(1));
/// assert_eq!(cache.get("token:b"), Some(2));
/// mock.increment(Duration::from_secs(20));
/// assert_eq!(cache.get("token:b"), None);
/// mock.increment(Duration::from_secs(1_700));
/// assert_eq!(cache.get("login:a"), Some(1), "read 1,720 s ago at most");
/// ```
pub trait Expiry<K, V>: Send + Sync {
    /// The time to live of `key`'s first value, written at `created_at`.
    fn expire_after_create(&self, key: &K, value: &V, created_at: Instant) -> Option<Duration> {
        let _ = (key, value, created_at);
        None
    }

    /// The time to live of `key`'s new value, written at `updated_at` over
    /// one that had `duration_until_expiry` left.
    fn expire_after_update(
        &self,
        key: &K,
        value: &V,
        updated_at: Instant,
        duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        let _ = (key, value, updated_at);
        duration_until_expiry
    }

    /// What `key`'s value, last written at `last_modified_at`, has left
    /// after a read at `read_at` that found it with `duration_until_expiry`
    /// left.
    fn expire_after_read(
        &self,
        key: &K,
        value: &V,
        read_at: Instant,
        duration_until_expiry: Option<Duration>,
        last_modified_at: Instant,
    ) -> Option<Duration> {
        let _ = (key, value, read_at, last_modified_at);
        duration_until_expiry
    }
}
