//! Refresh-ahead through a builder-level reloader, run inline on the thread
//! whose hit found the entry due, or handed to a user-supplied executor.
//!
//! Without a reloader, `refresh_after` reloads with the caller's own loader
//! on the triggering thread ([`crate::loading`]). That loader borrows the
//! caller's stack, so it cannot move to another thread; a reloader given to
//! the builder is `'static` and can. Reloads join single flight under their
//! own kind ([`RefreshKind`]): a stale hit that finds one running returns
//! the current value at once, so exactly one reload runs per key; an
//! insert, `invalidate` or `invalidate_all` meanwhile supersedes it like any
//! other load.

use crate::cache::Cache;
use crate::flight::{Leader, Outcome, Role};
use crate::metrics::Counter;
use std::any::TypeId;
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The flight kind of reloads.
struct RefreshKind;

/// Runs the reload led by `leader` inline, or hands it to the executor.
fn start<K, V, S>(cache: &Cache<K, V, S>, leader: Leader<K, V>)
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    let handle = cache.clone();
    let task = move || handle.reload(leader);
    match &cache.inner.refresh_executor {
        None => task(),
        Some(executor) => {
            // An executor that panics, or drops the task unrun, drops the
            // leader with it, which ends the flight: the next stale hit
            // starts another reload.
            if catch_unwind(AssertUnwindSafe(|| executor(Box::new(task)))).is_err() {
                cache.count(Counter::RefreshFailed);
            }
        }
    }
}

// `S: Send + Sync + 'static`, as a reload may move a handle of the cache
// to another thread (the executor's); moka asks the same of every cache.
impl<K, V, S> Cache<K, V, S>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// A stale hit with a reloader configured: starts the key's reload
    /// unless one is running.
    pub(crate) fn start_reload(&self, key: &K, hash: u64) {
        let shard = self.shard_index(hash);
        let kind = TypeId::of::<RefreshKind>();
        if let Role::Lead(leader) = self.inner.flights.join(shard, key, kind, |_| None) {
            self.count(Counter::RefreshStarted);
            start(self, leader);
        }
    }

    /// Runs the reloader for the leader's key and stores what it found. A
    /// `None` or a panic keeps the old value (until its TTL); the panic is
    /// counted, not propagated, since no caller's code raised it.
    fn reload(&self, leader: Leader<K, V>) {
        let Some(reloader) = &self.inner.reloader else {
            unreachable!("reloads start only with a reloader");
        };
        let sample = self.start_load();
        let result = catch_unwind(AssertUnwindSafe(|| reloader(leader.key())));
        self.finish_load(sample);
        match result {
            Ok(Some(v)) => {
                self.count(Counter::RefreshSucceeded);
                self.finish(leader, Some(v));
            }
            Ok(None) => {
                self.count(Counter::RefreshFailed);
                leader.abandon_with(Outcome::Abandoned);
            }
            Err(_) => {
                self.count(Counter::RefreshFailed);
                self.count(Counter::LoaderPanic);
                leader.abandon_with(Outcome::Abandoned);
            }
        }
    }
}
