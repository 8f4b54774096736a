//! The connections that carry commands, each made on first use and made
//! anew after a failure, and (for a tracking near cache) each pointing its
//! invalidations at the link.
//!
//! A near cache sends every command on a key through the connection its
//! hash picks. So one connection reads and writes a key: its `NOLOOP`
//! spares the cache the echo of its own writes (which would evict the
//! value it just stored), and holding the connection orders a key's writes
//! and their local updates as Redis applied them.
//!
//! Redis tracks the keys a connection read for that connection: when one
//! is lost, nothing will ever say that a key it read changed. So a
//! tracking connection that is dropped calls `lost`, and its owner flushes
//! the cache before any value read through it could be served stale.

use crate::link::LinkState;
use crate::metrics::{Counter, Metrics};
use crate::{Error, RedisConfig};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What a connection asks Redis to track for the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tracking {
    /// No tracking (the bus's publisher).
    Off,
    /// The keys this connection reads.
    Reads,
    /// Every key under these prefixes, read here or not (`BCAST`).
    Prefixes(Vec<String>),
}

struct Slot {
    con: Option<redis::Connection>,
    /// The link epoch whose client id this connection's tracking redirect
    /// names; 0 when tracking is not on.
    tracked: u64,
}

pub(crate) struct Pool {
    client: redis::Client,
    config: RedisConfig,
    tracking: Tracking,
    slots: Box<[Mutex<Slot>]>,
    next: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("connections", &self.slots.len())
            .field("tracking", &self.tracking)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub(crate) fn new(
        config: &RedisConfig,
        tracking: Tracking,
        metrics: Arc<Metrics>,
    ) -> Result<Pool, Error> {
        Ok(Pool {
            client: config.client()?,
            config: config.clone(),
            tracking,
            slots: (0..config.connections)
                .map(|_| {
                    Mutex::new(Slot {
                        con: None,
                        tracked: 0,
                    })
                })
                .collect(),
            next: AtomicUsize::new(0),
            metrics,
        })
    }

    fn slot(&self, route: Option<u64>) -> MutexGuard<'_, Slot> {
        let i = match route {
            Some(hash) => (hash % self.slots.len() as u64) as usize,
            // Relaxed: only spreads commands over the connections.
            None => self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len(),
        };
        // A command that panicked (a value's `FromRedisValue`) leaves the
        // slot as it was: the connection is dropped below on any error, and
        // a panic mid-reply is caught by `run`.
        self.slots[i].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on a connection, holding it: the connection of `route` (a
    /// key's hash), or the next one. With `link` live and tracking on, the
    /// connection's invalidations go to the link's current client first.
    /// If a tracking connection is dropped, `lost` runs before this returns.
    ///
    /// A connection kept from an earlier command may have died meanwhile
    /// (Redis restarted): if it fails with a connection error, the command
    /// runs once more on a new one. Every command sent here may run twice
    /// (reads, a write of one value, a publication).
    pub(crate) fn run<R>(
        &self,
        route: Option<u64>,
        link: Option<&LinkState>,
        lost: &dyn Fn(),
        mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<R>,
    ) -> Result<R, Error> {
        let mut slot = self.slot(route);
        let reused = slot.con.is_some();
        let mut out = self.attempt(&mut slot, link, lost, &mut f);
        if reused && matches!(out, Err(Error::Connection(_))) {
            out = self.attempt(&mut slot, link, lost, &mut f);
        }
        if let Err(e) = &out {
            self.metrics.count(match e {
                Error::Timeout => Counter::Timeouts,
                _ => Counter::CommandErrors,
            });
        }
        out
    }

    /// One try; a connection it leaves in an unknown state is dropped.
    fn attempt<R>(
        &self,
        slot: &mut Slot,
        link: Option<&LinkState>,
        lost: &dyn Fn(),
        f: &mut impl FnMut(&mut redis::Connection) -> redis::RedisResult<R>,
    ) -> Result<R, Error> {
        let out = self.run_on(slot, link, f);
        if let Err(e) = &out {
            if e.breaks_connection() {
                slot.con = None;
                if std::mem::take(&mut slot.tracked) != 0 {
                    lost();
                }
            }
        }
        out
    }

    fn run_on<R>(
        &self,
        slot: &mut Slot,
        link: Option<&LinkState>,
        f: &mut impl FnMut(&mut redis::Connection) -> redis::RedisResult<R>,
    ) -> Result<R, Error> {
        if slot.con.is_none() {
            slot.con = Some(self.config.connect(&self.client)?);
            slot.tracked = 0;
        }
        let con = slot.con.as_mut().expect("connected above");
        if self.tracking != Tracking::Off {
            if let Some((epoch, id)) = link.and_then(LinkState::live_id) {
                if slot.tracked != epoch {
                    if slot.tracked != 0 {
                        // A redirect cannot be moved while tracking is on.
                        redis::cmd("CLIENT")
                            .arg("TRACKING")
                            .arg("OFF")
                            .exec(con)
                            .map_err(Error::from_redis)?;
                        slot.tracked = 0;
                    }
                    let mut cmd = redis::cmd("CLIENT");
                    cmd.arg("TRACKING").arg("ON").arg("REDIRECT").arg(id);
                    if let Tracking::Prefixes(prefixes) = &self.tracking {
                        cmd.arg("BCAST");
                        for p in prefixes {
                            cmd.arg("PREFIX").arg(p);
                        }
                    }
                    // This connection's own writes are applied locally
                    // when acknowledged; their echo would only evict them.
                    cmd.arg("NOLOOP");
                    cmd.exec(con).map_err(Error::from_redis)?;
                    slot.tracked = epoch;
                }
            }
        }
        f(con).map_err(Error::from_redis)
    }
}
