//! The invalidation link: one pub/sub connection, on a thread of its own,
//! that carries invalidations and is made anew with backoff when lost.
//!
//! # The state word, and what readers may conclude from it
//!
//! [`LinkState::word`] is `epoch << 1 | LIVE`. The epoch grows by one each
//! time the link is made; `LIVE` is set once the link is subscribed and the
//! guarded caches were flushed, and cleared as soon as the link is lost,
//! before they are flushed again. So:
//!
//! - While the bit is clear, local caching is off: readers go to the
//!   source, and nothing they read is stored.
//! - A load through the cache checks the word again at the end of its
//!   loader, after the engine registered it as in flight. If the word
//!   moved, the loader's value is handed to the callers but not stored:
//!   the flush may have run before the load was registered. If it did not
//!   move, any later flush marks the registered load and the engine does
//!   not store it either (the engine's loader rule). The two cannot both
//!   miss: the flush takes the flights lock the registration took, after
//!   the word's Release store, so a registration after the flush is
//!   followed by a check that sees the moved word.
//! - So a hit needs no look at the word: the flush at a loss empties the
//!   cache, and nothing is stored after it.
//! - A connection that reads with tracking must point its redirect at the
//!   link's current client id; it records the epoch it did so at and does
//!   it again when the epoch moved ([`LinkState::live_id`]).

use crate::metrics::{Counter, Metrics};
use crate::sync::{AtomicU64, Ordering};
use crate::{Error, RedisConfig};
use clockwise::{Cache, LoadError};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const LIVE: u64 = 1;

/// How long the link thread blocks on a read before it looks at the
/// shutdown flag and at whether a ping is due: bounds how long dropping a
/// cache waits for its link thread.
const POLL: Duration = Duration::from_millis(50);

/// What the link tells its owner.
pub(crate) trait Events: Send + Sync + 'static {
    /// A message on one of the link's channels.
    fn message(&self, msg: &redis::Msg);
    /// Flush every guarded cache (the link was made, or lost).
    fn flush(&self);
    /// The state word this link publishes (the owner keeps it inline,
    /// next to what its reads touch anyway).
    fn state(&self) -> &LinkState;
}

/// Why a load through the cache stored nothing: the loader failed, or the
/// link moved while it ran (its value is still the callers').
enum Unstored<V, E> {
    Moved(V),
    Failed(Arc<E>),
}

/// The link's state, read on every miss of its owner.
#[derive(Debug, Default)]
pub struct LinkState {
    word: AtomicU64,
    client_id: AtomicU64,
}

impl LinkState {
    /// Opens epoch `epoch` (the link is subscribed as client `id`, and the
    /// caches were flushed): caching resumes.
    pub fn open(&self, epoch: u64, id: u64) {
        // Relaxed: published by the Release store below.
        self.client_id.store(id, Ordering::Relaxed);
        // Release: pairs with `live`'s Acquire.
        self.word.store(epoch << 1 | LIVE, Ordering::Release);
    }

    /// Closes epoch `epoch` (the link is lost); the caller flushes next.
    pub fn close(&self, epoch: u64) {
        // Release: readers that see the cleared bit stop caching; pairs
        // with `live` and `still`.
        self.word.store(epoch << 1, Ordering::Release);
    }

    /// `key` through `cache`'s loader while the link is live (and
    /// `cacheable`), so a hit, refresh-ahead and single flight work as the
    /// engine does them; straight from `load` otherwise (`bypassed` runs
    /// then). A loader that finds the link moved by its end does not store
    /// its value (the module's second rule).
    pub fn load_through<K, V, S, E>(
        &self,
        cache: &Cache<K, V, S>,
        key: K,
        cacheable: bool,
        bypassed: impl FnOnce(),
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, LoadError<E>>
    where
        K: Eq + Hash + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        S: BuildHasher + Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        let Some(seen) = self.live().filter(|_| cacheable) else {
            bypassed();
            return load().map_err(|e| LoadError::Failed(Arc::new(e)));
        };
        let got = cache.try_get_with(key, || match load() {
            Ok(v) if self.still(seen) => Ok(v),
            Ok(v) => Err(Unstored::Moved(v)),
            Err(e) => Err(Unstored::Failed(Arc::new(e))),
        });
        got.or_else(|e| match e {
            LoadError::Failed(e) => match &*e {
                Unstored::Moved(v) => Ok(v.clone()),
                Unstored::Failed(e) => Err(LoadError::Failed(Arc::clone(e))),
            },
            LoadError::WaitTimeout => Err(LoadError::WaitTimeout),
            LoadError::LoaderPanicked => Err(LoadError::LoaderPanicked),
            LoadError::RecursiveLoad => Err(LoadError::RecursiveLoad),
            // A variant a newer engine adds: reported as its caller's
            // panic would be, never as a value.
            _ => Err(LoadError::LoaderPanicked),
        })
    }

    /// The state word while the link is live, to compare after a store.
    #[inline]
    pub fn live(&self) -> Option<u64> {
        // Acquire: pairs with the Release store that set LIVE, after the
        // flush that opened the epoch and the client id it publishes.
        let w = self.word.load(Ordering::Acquire);
        (w & LIVE != 0).then_some(w)
    }

    /// Whether the word still is `seen` (no loss since).
    #[inline]
    pub fn still(&self, seen: u64) -> bool {
        // Acquire: see the module's second rule.
        self.word.load(Ordering::Acquire) == seen
    }

    /// The live epoch and the client id a tracking redirect must name.
    pub(crate) fn live_id(&self) -> Option<(u64, u64)> {
        let w = self.live()?;
        // Relaxed: written before the Release store of `w`, which the
        // Acquire load in `live` read.
        Some((w >> 1, self.client_id.load(Ordering::Relaxed)))
    }
}

/// The running link; dropping it stops the thread and waits for it.
pub(crate) struct Link {
    events: Arc<dyn Events>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Link {
    pub(crate) fn spawn(
        config: RedisConfig,
        channels: Vec<String>,
        events: Arc<dyn Events>,
        metrics: Arc<Metrics>,
    ) -> Result<Link, Error> {
        let shutdown = Arc::new(AtomicBool::new(false));
        let runner = Runner {
            client: config.client()?,
            config,
            channels,
            events: Arc::clone(&events),
            metrics,
            shutdown: Arc::clone(&shutdown),
        };
        let thread = std::thread::Builder::new()
            .name("clockwise-redis-link".to_owned())
            .spawn(move || runner.run())
            .map_err(|e| Error::Config(format!("cannot start the link thread: {e}")))?;
        Ok(Link {
            events,
            shutdown,
            thread: Some(thread),
        })
    }

    /// Waits until the link is live, up to `timeout`; [`Error::Timeout`]
    /// if it is not by then.
    pub(crate) fn wait_live(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.is_live() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Whether the link is up.
    pub(crate) fn is_live(&self) -> bool {
        self.events.state().live().is_some()
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("live", &self.events.state().live().is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Relaxed: the join below is the synchronisation; the flag only has
        // to be seen eventually, within one POLL.
        self.shutdown
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Runner {
    client: redis::Client,
    config: RedisConfig,
    channels: Vec<String>,
    events: Arc<dyn Events>,
    metrics: Arc<Metrics>,
    shutdown: Arc<AtomicBool>,
}

impl Runner {
    fn stopping(&self) -> bool {
        // Relaxed: see `Link::drop`.
        self.shutdown.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn run(self) {
        let mut epoch = 0u64;
        let mut backoff = self.config.backoff_min;
        while !self.stopping() {
            match self.connect() {
                Ok((mut con, id)) => {
                    if epoch > 0 {
                        self.metrics.count(Counter::Reconnects);
                    }
                    epoch += 1;
                    let ended = self.serve(&mut con, || {
                        // Whatever a racing reader stored while the link
                        // was down goes before caching resumes.
                        self.events.flush();
                        self.events.state().open(epoch, id);
                        self.metrics.set_linked(true);
                    });
                    backoff = self.config.backoff_min;
                    self.events.state().close(epoch);
                    self.metrics.set_linked(false);
                    if self.stopping() {
                        return;
                    }
                    self.events.flush();
                    self.metrics.count(Counter::LinkFailures);
                    if let Err(e) = ended {
                        self.config.report(&e);
                    }
                }
                Err(e) => {
                    self.metrics.count(Counter::LinkFailures);
                    self.config.report(&e);
                }
            }
            self.sleep(backoff);
            backoff = (backoff * 2).min(self.config.backoff_max);
        }
    }

    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopping() {
            let now = Instant::now();
            if now >= until {
                return;
            }
            std::thread::sleep((until - now).min(POLL));
        }
    }

    fn connect(&self) -> Result<(redis::Connection, u64), Error> {
        let mut con = self.config.connect(&self.client)?;
        let id: u64 = redis::cmd("CLIENT")
            .arg("ID")
            .query(&mut con)
            .map_err(Error::from_redis)?;
        Ok((con, id))
    }

    /// Subscribes, then runs `live` and delivers messages until the
    /// connection fails or the link stops. The one `PubSub` lives as long
    /// as the subscription: dropping it unsubscribes.
    fn serve(&self, con: &mut redis::Connection, live: impl FnOnce()) -> Result<(), Error> {
        let mut ps = con.as_pubsub();
        ps.subscribe(&self.channels).map_err(Error::from_redis)?;
        live();
        ps.set_read_timeout(Some(POLL.min(self.config.ping_every)))
            .map_err(Error::from_redis)?;
        let mut last_heard = Instant::now();
        while !self.stopping() {
            match ps.get_message() {
                Ok(msg) => {
                    last_heard = Instant::now();
                    self.metrics.count(Counter::Messages);
                    self.events.message(&msg);
                }
                Err(e) if e.is_timeout() => {
                    if last_heard.elapsed() >= self.config.ping_every {
                        ps.set_read_timeout(Some(self.config.command_timeout))
                            .map_err(Error::from_redis)?;
                        let _: redis::Value = ps.ping().map_err(Error::from_redis)?;
                        ps.set_read_timeout(Some(POLL.min(self.config.ping_every)))
                            .map_err(Error::from_redis)?;
                        last_heard = Instant::now();
                    }
                }
                Err(e) => return Err(Error::from_redis(e)),
            }
        }
        Ok(())
    }
}
