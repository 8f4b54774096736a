//! Keeps [`clockwise`] caches coherent across processes through a real
//! Redis.
//!
//! A cache embedded in a server is per process: without help, a change
//! made through one instance is seen by another only when its copy
//! expires. This crate offers two ways to close that gap:
//!
//! - **Redis is the source** ([`NearCache`]): reads go through a local
//!   cache and, on a miss, to Redis with server-assisted client-side
//!   caching on (`CLIENT TRACKING`), so Redis reports every change of a key
//!   this process read (or, with [`TrackingMode::Broadcast`], of every key
//!   under some prefixes). Writes go to Redis and then to the local cache.
//! - **Another source**, such as a database ([`Bus`]): after its commit a
//!   writer publishes the keys it changed on a Redis pub/sub channel; every
//!   instance removes them from the caches it guards ([`Coherent`]), the
//!   writer's own at once.
//!
//! Both carry invalidations on one pub/sub connection, the link, on a
//! thread of its own. When the link is lost, the guarded caches are
//! flushed and stop caching until it is made anew (with backoff) and they
//! are flushed again: an instance that may have missed invalidations serves
//! nothing from before the gap. A load in flight when its key is
//! invalidated does not store its value (the engine's loader rule).
//!
//! Metrics ([`Metrics`]) go through `clockwise-stats`: messages and keys
//! invalidated, flushes, reconnections, failures, and the invalidation
//! delay as an HDR histogram.
//!
//! ```no_run
//! use clockwise_redis::{Bus, RedisConfig};
//! use std::time::Duration;
//!
//! let bus = Bus::connect(RedisConfig::new("redis://127.0.0.1:6379/"), "app:invalidate")?;
//! bus.wait_linked(Duration::from_secs(1))?;
//! let accounts = bus.guard(clockwise::Cache::<String, u64>::builder().max_capacity(100_000).build())?;
//! let balance = accounts.get_with("acct:1".to_owned(), || 100 /* SELECT ... */);
//! // UPDATE ...; COMMIT; then:
//! bus.publish(&["acct:1".to_owned()])?;
//! # Ok::<(), clockwise_redis::Error>(())
//! ```
//!
//! The design, its guarantees and what it costs are in
//! `docs/design/redis.md`; `examples/api-keys` is a service built on it.
//!
//! # Scaling
//!
//! - **What one Redis carries.** Every bus message, and every near cache's
//!   write stamp, is delivered to each subscribed instance, so the load is
//!   messages times instances: deliveries a second, not publications, are
//!   what to compare with what one Redis fans out (`BENCHMARKS.md`, "Across
//!   processes", measures it for 2 and 8 subscribers with
//!   `cargo run --release -p clockwise-redis --example coherence`). Tracking
//!   invalidations go only to the instances that read a key. One
//!   `Bus::publish` is one round trip: publish every key a commit changed
//!   in one call.
//! - **When broadcast pays.** [`TrackingMode::Reads`] makes Redis remember,
//!   per connection, every key an instance read (its tracking table, capped
//!   by `tracking-table-max-keys`, past which Redis invalidates keys early),
//!   and tells only the instances that read a key. [`TrackingMode::Broadcast`]
//!   keeps nothing per key on the server, but sends every write under the
//!   prefixes to every instance. Broadcast pays when instances read most of
//!   the keys under their prefixes and writes are rare; tracking reads pays
//!   when each instance reads a small share of a large, often-written
//!   keyspace.
//! - **Replicas and Cluster.** This crate talks to one endpoint. Behind a
//!   failover (Sentinel, a managed Redis's endpoint), the link drops with
//!   the old primary: the caches are flushed and reads go to the source
//!   until it reconnects, so nothing stale survives the switch. In Redis
//!   Cluster, tracking is per node (an instance needs a link to every node
//!   it reads from) and a plain `PUBLISH` is forwarded to every node of the
//!   cluster; sharded pub/sub (`SPUBLISH`, Redis 7) keeps a bus message on
//!   one shard. Neither is supported here yet: point the crate at one node
//!   or at a standalone Redis kept for invalidations.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod bus;
pub mod codec;
mod config;
mod error;
mod link;
mod metrics;
mod near;
mod pool;
mod sync;

/// The link's state word and its guarded load, for the loom models only.
#[cfg(clockwise_loom)]
#[doc(hidden)]
pub mod link_for_loom {
    pub use crate::link::LinkState;
}

pub use bus::{Bus, Coherent};
pub use codec::BusKey;
pub use config::{ErrorHook, RedisConfig};
pub use error::{DecodeError, Error};
pub use metrics::{Metrics, INVALIDATION_DELAY, LINKED};
pub use near::{NearCache, TrackingMode};
