//! Another source (a database): an invalidation bus on Redis pub/sub.
//!
//! After its own commit, a writer publishes the keys it changed
//! ([`Bus::publish`]); every bus on the channel removes them from the
//! caches it guards, the writer's own at once, before the message is sent.
//! Keys travel in the format of [`crate::codec`]; a message that
//! does not decode flushes the guarded caches (it may have named any key).
//!
//! A guarded cache is read through [`Coherent`], which caches only while
//! the link is up: when it is lost the caches are flushed and reads go to
//! the source uncached, and they are flushed again before caching resumes,
//! so no value read before or during the gap outlives it.

use crate::codec::{self, unix_nanos, BusKey};
use crate::link::{Events, Link, LinkState};
use crate::metrics::{Counter, Listed, Metrics};
use crate::pool::{Pool, Tracking};
use crate::{Error, RedisConfig};
use clockwise::{Cache, LoadError};
use std::any::TypeId;
use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// A cache the bus removes keys from.
trait Target: Send + Sync {
    /// Removes the keys; `Err` if one does not decode (nothing removed).
    fn invalidate(&self, keys: &[&[u8]]) -> Result<(), crate::DecodeError>;
    fn flush(&self);
}

struct Guarded<K, V, S> {
    cache: Cache<K, V, S>,
    state: Arc<LinkState>,
    metrics: Arc<Metrics>,
}

impl<K, V, S> Target for Guarded<K, V, S>
where
    K: BusKey + Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn invalidate(&self, keys: &[&[u8]]) -> Result<(), crate::DecodeError> {
        let keys = keys
            .iter()
            .map(|k| K::decode(k))
            .collect::<Result<Vec<K>, _>>()?;
        for k in &keys {
            self.cache.invalidate(k);
        }
        Ok(())
    }

    fn flush(&self) {
        self.cache.invalidate_all();
    }
}

struct Shared {
    /// This bus's id in the messages it sends: its own echo is skipped.
    id: u64,
    channel: String,
    key_type: Mutex<Option<TypeId>>,
    targets: Mutex<Vec<Weak<dyn Target>>>,
    state: Arc<LinkState>,
    metrics: Arc<Metrics>,
    config: RedisConfig,
}

impl Shared {
    fn targets(&self) -> Vec<Arc<dyn Target>> {
        let mut list = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|t| t.strong_count() > 0);
        list.iter().filter_map(Weak::upgrade).collect()
    }

    fn apply(&self, keys: &[&[u8]]) -> Result<(), crate::DecodeError> {
        for t in self.targets() {
            t.invalidate(keys)?;
        }
        self.metrics
            .add(Counter::KeysInvalidated, keys.len() as u64);
        Ok(())
    }
}

impl Events for Shared {
    fn message(&self, msg: &redis::Msg) {
        let decoded = codec::decode(msg.get_payload_bytes()).and_then(|m| {
            if m.publisher != self.id {
                self.apply(&m.keys)?;
                let delay = unix_nanos().saturating_sub(m.sent_at_nanos);
                self.metrics.delay(Duration::from_nanos(delay));
            }
            Ok(())
        });
        if let Err(e) = decoded {
            self.metrics.count(Counter::Malformed);
            self.config.report(&Error::Decode(e));
            // A message we cannot read may have named any key (a newer
            // format, say): losing it silently could leave a value stale.
            self.flush();
        }
    }

    fn flush(&self) {
        self.metrics.count(Counter::Flushes);
        for t in self.targets() {
            t.flush();
        }
    }

    fn state(&self) -> &LinkState {
        &self.state
    }
}

/// An invalidation bus on one Redis pub/sub channel.
///
/// ```no_run
/// use clockwise_redis::{Bus, RedisConfig};
/// let bus = Bus::connect(RedisConfig::new("redis://127.0.0.1/"), "app:invalidate")?;
/// let users = bus.guard(clockwise::Cache::<u64, String>::builder().max_capacity(10_000).build())?;
/// let name = users.get_with(7, || "Ada".to_owned()); // loaded from the database
/// // After a commit that changed user 7:
/// bus.publish(&[7u64])?;
/// # Ok::<(), clockwise_redis::Error>(())
/// ```
pub struct Bus {
    shared: Arc<Shared>,
    publisher: Pool,
    link: Link,
    _listed: Option<Listed>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("channel", &self.shared.channel)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// A bus on `channel` of the Redis of `config`. Returns at once: the
    /// link is made in the background ([`wait_linked`](Self::wait_linked)),
    /// and until it is up guarded caches cache nothing. Fails only on a bad
    /// setting (or a metrics name already registered).
    ///
    /// ```no_run
    /// let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
    /// # Ok::<(), clockwise_redis::Error>(())
    /// ```
    pub fn connect(config: RedisConfig, channel: impl Into<String>) -> Result<Bus, Error> {
        config.validate()?;
        let channel = channel.into();
        if channel.is_empty() {
            return Err(Error::Config("the channel name is empty".to_owned()));
        }
        let metrics = Arc::new(Metrics::new());
        let listed = match &config.registry {
            Some(r) => Some(metrics.register(r, &config.name)?),
            None => None,
        };
        let shared = Arc::new(Shared {
            id: codec::random_id(),
            channel: channel.clone(),
            key_type: Mutex::new(None),
            targets: Mutex::new(Vec::new()),
            state: Arc::new(LinkState::default()),
            metrics: Arc::clone(&metrics),
            config: config.clone(),
        });
        let publisher = Pool::new(&config, Tracking::Off, Arc::clone(&metrics))?;
        let link = Link::spawn(
            config,
            vec![channel],
            Arc::clone(&shared) as Arc<dyn Events>,
            metrics,
        )?;
        Ok(Bus {
            shared,
            publisher,
            link,
            _listed: listed,
        })
    }

    /// Guards `cache`: the bus removes published keys from it, and flushes
    /// it when the link is lost. All caches of one bus share one key type
    /// (the messages do not name it); a second type is [`Error::Config`].
    ///
    /// ```no_run
    /// # let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
    /// let a = bus.guard(clockwise::Cache::<String, u32>::builder().max_capacity(10).build())?;
    /// let b = bus.guard(clockwise::Cache::<u64, u32>::builder().max_capacity(10).build());
    /// assert!(b.is_err());
    /// # Ok::<(), clockwise_redis::Error>(())
    /// ```
    pub fn guard<K, V, S>(&self, cache: Cache<K, V, S>) -> Result<Coherent<K, V, S>, Error>
    where
        K: BusKey + Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        S: BuildHasher + Send + Sync + 'static,
    {
        self.check_key_type::<K>()?;
        let guarded = Arc::new(Guarded {
            cache,
            state: Arc::clone(&self.shared.state),
            metrics: Arc::clone(&self.shared.metrics),
        });
        // Cached values from before the guard are from before the link.
        guarded.cache.invalidate_all();
        let target: Arc<dyn Target> = Arc::clone(&guarded) as _;
        self.shared
            .targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&target));
        Ok(Coherent { inner: guarded })
    }

    fn check_key_type<K: 'static>(&self) -> Result<(), Error> {
        let mut t = self
            .shared
            .key_type
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *t {
            None => {
                *t = Some(TypeId::of::<K>());
                Ok(())
            }
            Some(id) if id == TypeId::of::<K>() => Ok(()),
            Some(_) => Err(Error::Config(format!(
                "this bus carries another key type than {}",
                std::any::type_name::<K>()
            ))),
        }
    }

    /// Removes `keys` from this process's guarded caches, then publishes
    /// them to every other bus on the channel. Call it after the commit
    /// that changed them. An error means the other processes may not have
    /// heard (their caches are flushed when their link is lost, but a
    /// Redis that is up and refusing the PUBLISH does not lose links).
    ///
    /// ```no_run
    /// # let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
    /// bus.publish(&["user:7".to_owned(), "user:8".to_owned()])?;
    /// # Ok::<(), clockwise_redis::Error>(())
    /// ```
    pub fn publish<K: BusKey + 'static>(&self, keys: &[K]) -> Result<(), Error> {
        self.check_key_type::<K>()?;
        let bytes = codec::encode(self.shared.id, unix_nanos(), keys);
        let decoded = codec::decode(&bytes).expect("an encoded message decodes");
        self.shared.apply(&decoded.keys)?;
        self.publisher.run(None, None, &|| {}, |con| {
            redis::cmd("PUBLISH")
                .arg(&self.shared.channel)
                .arg(&bytes)
                .exec(con)
        })
    }

    /// Waits up to `timeout` for the link; [`Error::Timeout`] if it is not
    /// up by then.
    ///
    /// ```no_run
    /// # let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
    /// bus.wait_linked(std::time::Duration::from_secs(1))?;
    /// # Ok::<(), clockwise_redis::Error>(())
    /// ```
    pub fn wait_linked(&self, timeout: Duration) -> Result<(), Error> {
        self.link.wait_live(timeout)
    }

    /// Whether the link is up, so guarded caches cache.
    ///
    /// ```no_run
    /// # let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
    /// let _ = bus.is_linked();
    /// # Ok::<(), clockwise_redis::Error>(())
    /// ```
    pub fn is_linked(&self) -> bool {
        self.link.is_live()
    }

    /// The link's metrics, merged now.
    ///
    /// ```no_run
    /// # let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
    /// let p999 = bus.metrics().histogram(clockwise_redis::INVALIDATION_DELAY).map(|h| h.quantile(0.999));
    /// # Ok::<(), clockwise_redis::Error>(())
    /// ```
    pub fn metrics(&self) -> clockwise_stats::Snapshot {
        self.shared.metrics.snapshot()
    }
}

/// A cache guarded by a [`Bus`]: the engine's loaders, caching only while
/// the link is up.
///
/// ```no_run
/// # let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
/// let users = bus.guard(clockwise::Cache::<u64, String>::builder().max_capacity(100).build())?;
/// assert_eq!(users.get_with(1, || "Ada".to_owned()), "Ada");
/// # Ok::<(), clockwise_redis::Error>(())
/// ```
pub struct Coherent<K, V, S = ahash::RandomState> {
    inner: Arc<Guarded<K, V, S>>,
}

impl<K, V, S> Clone for Coherent<K, V, S> {
    fn clone(&self) -> Self {
        Coherent {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V, S> std::fmt::Debug for Coherent<K, V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coherent")
            .field("linked", &self.inner.state.live().is_some())
            .finish_non_exhaustive()
    }
}

impl<K, V, S> Coherent<K, V, S>
where
    K: BusKey + Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// The cached value of `key`; `None` on a miss (and while the link is
    /// down, when the cache is kept empty).
    ///
    /// ```no_run
    /// # let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
    /// # let users = bus.guard(clockwise::Cache::<u64, String>::builder().max_capacity(100).build())?;
    /// assert_eq!(users.get(&1), None);
    /// # Ok::<(), clockwise_redis::Error>(())
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // A hit needs no look at the link (see its state rules).
        self.inner.cache.get(key)
    }

    /// The value of `key`, loaded by `load` on a miss (cached while the
    /// link is up; straight from `load` while it is down).
    ///
    /// ```no_run
    /// # let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
    /// # let users = bus.guard(clockwise::Cache::<u64, String>::builder().max_capacity(100).build())?;
    /// let name = users.get_with(7, || "Ada".to_owned());
    /// # Ok::<(), clockwise_redis::Error>(())
    /// ```
    pub fn get_with(&self, key: K, load: impl FnOnce() -> V) -> V {
        let mut load = Some(load);
        let got = self.try_get_with(key, || {
            Ok::<V, std::convert::Infallible>(load.take().expect("called once")())
        });
        match got {
            Ok(v) => v,
            Err(LoadError::Failed(e)) => match *e {},
            Err(LoadError::RecursiveLoad) => panic!("{}", clockwise::RECURSIVE_LOAD),
            // As the engine's `get_with`: a caller that gave up waiting for
            // another's load, or whose awaited loader panicked, loads
            // itself (without storing: its flight is not the cache's).
            Err(_) => match load.take() {
                Some(load) => load(),
                None => unreachable!("a loader that ran returned its value or panicked"),
            },
        }
    }

    /// As [`Cache::try_get_with`] (refresh-ahead and single flight
    /// included), caching only while the link is up.
    ///
    /// ```no_run
    /// # let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
    /// # let users = bus.guard(clockwise::Cache::<u64, String>::builder().max_capacity(100).build())?;
    /// let name = users.try_get_with(7, || Ok::<_, std::io::Error>("Ada".to_owned()));
    /// # Ok::<(), clockwise_redis::Error>(())
    /// ```
    pub fn try_get_with<E>(
        &self,
        key: K,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, LoadError<E>>
    where
        E: Send + Sync + 'static,
    {
        let g = &*self.inner;
        g.state.load_through(
            &g.cache,
            key,
            true,
            || g.metrics.count(Counter::Bypassed),
            load,
        )
    }

    /// Removes `key` from this process's cache only (see [`Bus::publish`]
    /// to tell the others).
    ///
    /// ```no_run
    /// # let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
    /// # let users = bus.guard(clockwise::Cache::<u64, String>::builder().max_capacity(100).build())?;
    /// users.invalidate(&7);
    /// # Ok::<(), clockwise_redis::Error>(())
    /// ```
    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.cache.invalidate(key);
    }

    /// The guarded cache.
    ///
    /// ```no_run
    /// # let bus = clockwise_redis::Bus::connect(clockwise_redis::RedisConfig::new("redis://127.0.0.1/"), "inv")?;
    /// # let users = bus.guard(clockwise::Cache::<u64, String>::builder().max_capacity(100).build())?;
    /// println!("{}", users.cache().entry_count());
    /// # Ok::<(), clockwise_redis::Error>(())
    /// ```
    pub fn cache(&self) -> &Cache<K, V, S> {
        &self.inner.cache
    }
}
