//! Where Redis is and how long to wait for it.

use crate::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A hook that sees every error of the background link (a failed
/// reconnection, a malformed message), typed, as it happens. Errors of
/// calls reach their callers instead.
pub type ErrorHook = Arc<dyn Fn(&Error) + Send + Sync>;

/// The connection settings shared by [`NearCache`](crate::NearCache) and
/// [`Bus`](crate::Bus).
///
/// ```
/// use clockwise_redis::RedisConfig;
/// use std::time::Duration;
/// let config = RedisConfig::new("redis://127.0.0.1:6379/")
///     .command_timeout(Duration::from_millis(250))
///     .name("users");
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    pub(crate) url: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) ping_every: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) connections: usize,
    pub(crate) name: String,
    pub(crate) registry: Option<clockwise_stats::Registry>,
    pub(crate) on_error: Option<ErrorHook>,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("ping_every", &self.ping_every)
            .field("backoff", &(self.backoff_min, self.backoff_max))
            .field("connections", &self.connections)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RedisConfig {
    /// Settings for the Redis at `url` (`redis://host:port/db`), with one
    /// second to connect and to answer, a ping every second on the
    /// invalidation link, reconnections backing off from 50 ms to 2 s, and
    /// four connections for commands.
    ///
    /// ```
    /// let config = clockwise_redis::RedisConfig::new("redis://127.0.0.1/");
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
            ping_every: Duration::from_secs(1),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            connections: 4,
            name: "default".to_owned(),
            registry: None,
            on_error: None,
        }
    }

    /// How long a connection attempt may take.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = clockwise_redis::RedisConfig::new("redis://127.0.0.1/").connect_timeout(Duration::from_millis(200));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a command may wait for its reply before it fails with
    /// [`Error::Timeout`] (its connection is then dropped and made anew).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = clockwise_redis::RedisConfig::new("redis://127.0.0.1/").command_timeout(Duration::ZERO);
    /// assert!(c.validate().is_err());
    /// ```
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How often the invalidation link pings Redis when no message came.
    /// A ping unanswered within the command timeout counts as a lost link:
    /// the guarded caches are flushed and the link is made anew.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = clockwise_redis::RedisConfig::new("redis://127.0.0.1/").ping_every(Duration::from_millis(100));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn ping_every(mut self, every: Duration) -> Self {
        self.ping_every = every;
        self
    }

    /// The wait before the first reconnection attempt, doubled after each
    /// failed one up to `max`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = clockwise_redis::RedisConfig::new("redis://127.0.0.1/")
    ///     .backoff(Duration::from_millis(10), Duration::from_millis(5));
    /// assert!(c.validate().is_err()); // max below min
    /// ```
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max;
        self
    }

    /// How many connections carry commands (reads on a miss, writes); each
    /// command takes one of them for its round trip.
    ///
    /// ```
    /// let c = clockwise_redis::RedisConfig::new("redis://127.0.0.1/").connections(0);
    /// assert!(c.validate().is_err());
    /// ```
    pub fn connections(mut self, n: usize) -> Self {
        self.connections = n;
        self
    }

    /// The name metrics report under (`source="<name>"` in subsystem
    /// `redis`).
    ///
    /// ```
    /// let c = clockwise_redis::RedisConfig::new("redis://127.0.0.1/").name("carts");
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Lists the link's metrics in `registry` (see [`Metrics`](crate::Metrics)).
    ///
    /// ```
    /// let registry = clockwise_stats::Registry::new();
    /// let c = clockwise_redis::RedisConfig::new("redis://127.0.0.1/").registry(&registry);
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn registry(mut self, registry: &clockwise_stats::Registry) -> Self {
        self.registry = Some(registry.clone());
        self
    }

    /// Called with every error of the background link, on its thread. A
    /// panic in it is caught.
    ///
    /// ```
    /// let c = clockwise_redis::RedisConfig::new("redis://127.0.0.1/")
    ///     .on_error(|e| eprintln!("redis link: {e}"));
    /// assert!(c.validate().is_ok());
    /// ```
    pub fn on_error(mut self, hook: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(hook));
        self
    }

    /// Checks every setting; the constructors of [`NearCache`](crate::NearCache)
    /// and [`Bus`](crate::Bus) call it first.
    ///
    /// ```
    /// assert!(clockwise_redis::RedisConfig::new("http://example.com").validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        redis::Client::open(self.url.as_str())
            .map_err(|e| Error::Config(format!("url {:?}: {e}", self.url)))?;
        for (what, d) in [
            ("connect_timeout", self.connect_timeout),
            ("command_timeout", self.command_timeout),
            ("ping_every", self.ping_every),
            ("backoff min", self.backoff_min),
        ] {
            if d.is_zero() {
                return Err(Error::Config(format!("{what} must not be zero")));
            }
        }
        if self.backoff_max < self.backoff_min {
            return Err(Error::Config(format!(
                "backoff max {:?} is below min {:?}",
                self.backoff_max, self.backoff_min
            )));
        }
        if self.connections == 0 {
            return Err(Error::Config("connections must be at least 1".to_owned()));
        }
        clockwise_stats::validate_source_name(&self.name)
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(())
    }

    /// A new connection of `client`, with this config's timeouts.
    pub(crate) fn connect(&self, client: &redis::Client) -> Result<redis::Connection, Error> {
        let con = client
            .get_connection_with_timeout(self.connect_timeout)
            .map_err(Error::from_redis)?;
        con.set_read_timeout(Some(self.command_timeout))
            .map_err(Error::from_redis)?;
        con.set_write_timeout(Some(self.command_timeout))
            .map_err(Error::from_redis)?;
        Ok(con)
    }

    pub(crate) fn client(&self) -> Result<redis::Client, Error> {
        redis::Client::open(self.url.as_str()).map_err(|e| Error::Config(e.to_string()))
    }

    /// Reports a background error to the hook, if any; a panicking hook is
    /// contained.
    pub(crate) fn report(&self, e: &Error) {
        if let Some(hook) = &self.on_error {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(e)));
        }
    }
}
