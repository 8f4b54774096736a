//! Redis as the source: a local cache in front of it, kept coherent by
//! Redis's server-assisted client-side caching (`CLIENT TRACKING`).
//!
//! Reads go through the local cache; a miss reads Redis on a connection
//! whose tracking redirects invalidations to the link, so Redis promises to
//! say when any key this process read changes. Writes go to Redis and then
//! to the local cache at once. While the link is down nothing is cached:
//! reads go to Redis, and the flushes on either side of the gap leave no
//! value from before it.
//!
//! # Why a write updates the cache while it holds its connection
//!
//! Two threads writing one key must apply their values locally in the
//! order Redis applied them, or the older could be the one left. Every
//! command on a key goes through the connection its hash picks, and a
//! write applies its value locally before it lets go of that connection.

use crate::link::{Events, Link, LinkState};
use crate::metrics::{Counter, Listed, Metrics};
use crate::pool::{Pool, Tracking};
use crate::{codec, Error, RedisConfig};
use clockwise::{Cache, LoadError};
use redis::{FromRedisValue, ToRedisArgs};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

/// The Redis channel that tracking invalidations are redirected to.
const INVALIDATE_CHANNEL: &str = "__redis__:invalidate";

/// Where a near cache's write announces itself, in the bus's format, in
/// the write's own transaction: Redis's invalidations carry no time, and
/// this stamp is what the other caches measure the invalidation delay by.
const STAMP_CHANNEL: &str = "clockwise:near:stamps";

/// Which keys Redis reports changes of.
///
/// ```
/// let mode = clockwise_redis::TrackingMode::Broadcast(vec!["user:".into()]);
/// assert_ne!(mode, clockwise_redis::TrackingMode::Reads);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackingMode {
    /// The keys this process read (Redis remembers them per connection;
    /// its memory grows with them, and `tracking-table-max-keys` bounds it).
    Reads,
    /// Every key under one of these prefixes, read here or not (`BCAST`):
    /// no memory on the server per key, but a message for every write under
    /// the prefixes. An empty list means every key. Keys outside the
    /// prefixes are read from Redis every time, never cached.
    Broadcast(Vec<String>),
}

/// A local [`Cache`] in front of Redis, kept coherent with it.
///
/// Absent keys are cached too (as `None`): tracking reports their creation
/// as it reports any change.
///
/// ```no_run
/// use clockwise_redis::{NearCache, RedisConfig, TrackingMode};
/// let cache = clockwise::Cache::builder().max_capacity(10_000).build();
/// let near: NearCache<String> =
///     NearCache::connect(RedisConfig::new("redis://127.0.0.1:6379/"), cache, TrackingMode::Reads)?;
/// near.wait_linked(std::time::Duration::from_secs(1))?;
/// near.set("greeting", "hello".to_owned())?;
/// assert_eq!(near.get("greeting")?.as_deref(), Some("hello"));
/// # Ok::<(), clockwise_redis::Error>(())
/// ```
pub struct NearCache<V, S = ahash::RandomState> {
    shared: Arc<Shared<V, S>>,
    link: Link,
    _listed: Option<Listed>,
}

impl<V, S> std::fmt::Debug for NearCache<V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCache")
            .field("link", &self.link)
            .field("pool", &self.shared.pool)
            .finish_non_exhaustive()
    }
}

struct Shared<V, S> {
    cache: Cache<String, Option<V>, S>,
    pool: Pool,
    state: LinkState,
    metrics: Arc<Metrics>,
    config: RedisConfig,
    /// Picks a key's connection.
    router: ahash::RandomState,
    /// This cache's id in its stamps, so it skips its own.
    id: u64,
    /// With `TrackingMode::Broadcast`, the prefixes Redis reports; keys
    /// outside them are never cached (nothing would say they changed).
    prefixes: Option<Vec<String>>,
    /// Whether every key is tracked (no prefixes): a miss tests only this.
    every_key: bool,
}

impl<V, S> Shared<V, S> {
    #[inline]
    fn tracked(&self, key: &str) -> bool {
        self.every_key
            || self
                .prefixes
                .iter()
                .flatten()
                .any(|p| key.starts_with(p.as_str()))
    }
}

impl<V, S> Shared<V, S>
where
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// Another near cache's write: its key goes (again, if its tracking
    /// invalidation came first), and the delay from its stamp is recorded.
    /// A stamp that does not decode is counted and reported; tracking
    /// still carries the invalidation, so nothing is flushed for it.
    fn stamp(&self, payload: &[u8]) {
        match codec::decode(payload) {
            Ok(m) if m.publisher == self.id => {}
            Ok(m) => {
                for key in &m.keys {
                    if let Ok(key) = std::str::from_utf8(key) {
                        self.cache.invalidate(key);
                    }
                }
                let delay = codec::unix_nanos().saturating_sub(m.sent_at_nanos);
                self.metrics.delay(Duration::from_nanos(delay));
            }
            Err(e) => {
                self.metrics.count(Counter::Malformed);
                self.config.report(&Error::Decode(e));
            }
        }
    }
}

impl<V, S> Events for Shared<V, S>
where
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn message(&self, msg: &redis::Msg) {
        if msg.get_channel_name() == STAMP_CHANNEL {
            return self.stamp(msg.get_payload_bytes());
        }
        // The payload is the array of keys that changed, or nil when the
        // whole keyspace was flushed.
        match msg.get_payload::<Option<Vec<Vec<u8>>>>() {
            Ok(Some(keys)) => {
                // A key that is not UTF-8 cannot be one of this cache's
                // (broadcast mode reports every key under a prefix).
                let mut named = 0;
                for key in keys.iter().filter_map(|k| std::str::from_utf8(k).ok()) {
                    self.cache.invalidate(key);
                    named += 1;
                }
                self.metrics.add(Counter::KeysInvalidated, named);
            }
            Ok(None) => self.flush(),
            Err(e) => {
                self.metrics.count(Counter::Malformed);
                self.config.report(&Error::from_redis(e));
                // An invalidation we cannot read may have named any key.
                self.flush();
            }
        }
    }

    fn flush(&self) {
        self.metrics.count(Counter::Flushes);
        self.cache.invalidate_all();
    }

    fn state(&self) -> &LinkState {
        &self.state
    }
}

impl<V, S> NearCache<V, S>
where
    V: FromRedisValue + ToRedisArgs + Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// A near cache over the Redis of `config`, caching in `cache`. Returns
    /// at once: the invalidation link is made in the background (see
    /// [`wait_linked`](Self::wait_linked)), and until it is up reads go to
    /// Redis without caching. Fails only on a bad setting (or a metrics
    /// name already registered).
    ///
    /// ```no_run
    /// # use clockwise_redis::*;
    /// let cache = clockwise::Cache::builder().max_capacity(1_000).build();
    /// let near: NearCache<i64> = NearCache::connect(
    ///     RedisConfig::new("redis://127.0.0.1/"),
    ///     cache,
    ///     TrackingMode::Broadcast(vec!["counter:".into()]),
    /// )?;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn connect(
        config: RedisConfig,
        cache: Cache<String, Option<V>, S>,
        mode: TrackingMode,
    ) -> Result<NearCache<V, S>, Error> {
        config.validate()?;
        let metrics = Arc::new(Metrics::new());
        let listed = match &config.registry {
            Some(r) => Some(metrics.register(r, &config.name)?),
            None => None,
        };
        let (tracking, prefixes) = match mode {
            TrackingMode::Reads => (Tracking::Reads, None),
            TrackingMode::Broadcast(p) => (Tracking::Prefixes(p.clone()), Some(p)),
        };
        let shared = Arc::new(Shared {
            cache,
            pool: Pool::new(&config, tracking, Arc::clone(&metrics))?,
            state: LinkState::default(),
            every_key: prefixes.as_ref().is_none_or(Vec::is_empty),
            metrics: Arc::clone(&metrics),
            config: config.clone(),
            router: ahash::RandomState::new(),
            id: codec::random_id(),
            prefixes,
        });
        let link = Link::spawn(
            config,
            vec![INVALIDATE_CHANNEL.to_owned(), STAMP_CHANNEL.to_owned()],
            Arc::clone(&shared) as Arc<dyn Events>,
            metrics,
        )?;
        Ok(NearCache {
            shared,
            link,
            _listed: listed,
        })
    }

    /// Waits up to `timeout` for the invalidation link; [`Error::Timeout`]
    /// if it is not up by then (reads still work, uncached).
    ///
    /// ```no_run
    /// # use clockwise_redis::*;
    /// # let near: NearCache<String> = NearCache::connect(RedisConfig::new("redis://127.0.0.1/"), clockwise::Cache::builder().max_capacity(10).build(), TrackingMode::Reads)?;
    /// near.wait_linked(std::time::Duration::from_secs(2))?;
    /// assert!(near.is_linked());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn wait_linked(&self, timeout: Duration) -> Result<(), Error> {
        self.link.wait_live(timeout)
    }

    /// Whether the invalidation link is up, so reads are cached.
    ///
    /// ```no_run
    /// # use clockwise_redis::*;
    /// # let near: NearCache<String> = NearCache::connect(RedisConfig::new("redis://127.0.0.1/"), clockwise::Cache::builder().max_capacity(10).build(), TrackingMode::Reads)?;
    /// if !near.is_linked() { eprintln!("reading Redis uncached"); }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn is_linked(&self) -> bool {
        self.link.is_live()
    }

    /// The value of `key`: from the local cache, or read from Redis (and
    /// cached, while the link is up). `Ok(None)` when Redis has no such key.
    ///
    /// ```no_run
    /// # use clockwise_redis::*;
    /// # let near: NearCache<String> = NearCache::connect(RedisConfig::new("redis://127.0.0.1/"), clockwise::Cache::builder().max_capacity(10).build(), TrackingMode::Reads)?;
    /// let name: Option<String> = near.get("user:1:name")?;
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn get(&self, key: &str) -> Result<Option<V>, Error> {
        let s = &*self.shared;
        // A hit needs no look at the link (see its state rules).
        if let Some(v) = s.cache.get(key) {
            return Ok(v);
        }
        let tracked = s.tracked(key);
        let got = s.state.load_through(
            &s.cache,
            key.to_owned(),
            tracked,
            || s.metrics.count(Counter::Bypassed),
            // Tracked only if the link was live when the load began.
            || s.fetch(key, s.state.live().map(|_| &s.state).filter(|_| tracked)),
        );
        got.map_err(|e| match e {
            LoadError::Failed(e) => (*e).clone(),
            other => Error::Load(other.to_string()),
        })
    }

    /// Writes `value` to Redis, then, once Redis acknowledged it, to the
    /// local cache. On an error the local entry is removed (whether Redis
    /// applied the write is unknown).
    ///
    /// ```no_run
    /// # use clockwise_redis::*;
    /// # let near: NearCache<String> = NearCache::connect(RedisConfig::new("redis://127.0.0.1/"), clockwise::Cache::builder().max_capacity(10).build(), TrackingMode::Reads)?;
    /// near.set("user:1:name", "Ada".to_owned())?;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn set(&self, key: &str, value: V) -> Result<(), Error> {
        self.shared.write(key, Some(value))
    }

    /// Deletes `key` in Redis, then locally (remembering it as absent).
    ///
    /// ```no_run
    /// # use clockwise_redis::*;
    /// # let near: NearCache<String> = NearCache::connect(RedisConfig::new("redis://127.0.0.1/"), clockwise::Cache::builder().max_capacity(10).build(), TrackingMode::Reads)?;
    /// near.del("user:1:name")?;
    /// assert_eq!(near.get("user:1:name")?, None);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn del(&self, key: &str) -> Result<(), Error> {
        self.shared.write(key, None)
    }

    /// The local cache (to read its stats, or invalidate by hand).
    ///
    /// ```no_run
    /// # use clockwise_redis::*;
    /// # let near: NearCache<String> = NearCache::connect(RedisConfig::new("redis://127.0.0.1/"), clockwise::Cache::builder().max_capacity(10).build(), TrackingMode::Reads)?;
    /// println!("{} entries", near.cache().entry_count());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn cache(&self) -> &Cache<String, Option<V>, S> {
        &self.shared.cache
    }

    /// The link's metrics, merged now.
    ///
    /// ```no_run
    /// # use clockwise_redis::*;
    /// # let near: NearCache<String> = NearCache::connect(RedisConfig::new("redis://127.0.0.1/"), clockwise::Cache::builder().max_capacity(10).build(), TrackingMode::Reads)?;
    /// println!("{} flushes", near.metrics().counter("flushes"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn metrics(&self) -> clockwise_stats::Snapshot {
        self.shared.metrics.snapshot()
    }
}

impl<V, S> Shared<V, S>
where
    V: FromRedisValue + ToRedisArgs + Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// Reads `key` from Redis; tracked when `link` is given.
    fn fetch(&self, key: &str, link: Option<&LinkState>) -> Result<Option<V>, Error> {
        let route = Some(self.router.hash_one(key));
        self.pool.run(route, link, &|| self.flush(), |con| {
            redis::cmd("GET").arg(key).query::<Option<V>>(con)
        })
    }

    fn write(&self, key: &str, value: Option<V>) -> Result<(), Error> {
        let seen = self.state.live().filter(|_| self.tracked(key));
        let mut pipe = redis::pipe();
        pipe.atomic();
        match &value {
            Some(v) => pipe.cmd("SET").arg(key).arg(v).ignore(),
            None => pipe.cmd("DEL").arg(key).ignore(),
        };
        // Read it back inside the transaction: tracking remembers keys
        // read, not keys written, and the local copy must be tracked.
        pipe.cmd("EXISTS").arg(key).ignore();
        pipe.cmd("PUBLISH")
            .arg(STAMP_CHANNEL)
            .arg(codec::encode(
                self.id,
                codec::unix_nanos(),
                &[key.to_owned()],
            ))
            .ignore();
        let route = Some(self.router.hash_one(key));
        let link = seen.map(|_| &self.state);
        let written = self.pool.run(route, link, &|| self.flush(), |con| {
            pipe.exec(con)?;
            // Still holding the key's connection: see the module's notes.
            match seen {
                // `insert` also stops a load of the key that started
                // before it from storing its older value.
                Some(_) => self.cache.insert(key.to_owned(), value.clone()),
                None => self.cache.invalidate(key),
            }
            Ok(())
        });
        let lost = seen.is_some_and(|seen| !self.state.still(seen));
        if written.is_err() || lost {
            // Unknown whether Redis applied it, or the link was lost while
            // it was stored (see the link's state rules).
            self.cache.invalidate(key);
        }
        written
    }
}
