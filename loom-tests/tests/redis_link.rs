//! loom models of `clockwise-redis`'s link state word against the engine's
//! real cache: what a load racing the loss of the invalidation link may
//! leave behind (the crate's `src/sync.rs` switches its atomics to loom).
//!
//! Build with `RUSTFLAGS="--cfg clockwise_loom"`.
#![cfg(clockwise_loom)]

use clockwise::Cache;
use clockwise_redis::link_for_loom::LinkState;
use loom::sync::Arc;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

type Fixed = BuildHasherDefault<DefaultHasher>;

fn cache() -> Cache<u64, u64, Fixed> {
    Cache::builder()
        .max_capacity(4)
        .shards(1)
        .stats(false)
        .hasher(Fixed::default())
        .build()
}

/// The link is lost (word closed, caches flushed) while a reader misses
/// and loads through the cache. Whatever the interleaving, once both are
/// done the cache holds nothing: a value read at the loss may be returned
/// to its reader, but never left to be served after it.
#[test]
fn a_load_racing_the_loss_of_the_link_leaves_nothing_cached() {
    loom::model(|| {
        let state = Arc::new(LinkState::default());
        state.open(1, 7);
        let c = Arc::new(cache());
        let link = {
            let (state, c) = (Arc::clone(&state), Arc::clone(&c));
            loom::thread::spawn(move || {
                state.close(1);
                c.invalidate_all();
                clockwise::release_thread_for_loom();
            })
        };
        let got = state.load_through(&c, 1, true, || {}, || Ok::<u64, ()>(10));
        assert_eq!(got.unwrap(), 10);
        link.join().unwrap();
        assert_eq!(
            c.get(&1),
            None,
            "a value stored across the loss survived it"
        );
        assert!(state.live().is_none());
        clockwise::release_thread_for_loom();
    });
}

/// A reader that finds the link down loads from the source and stores
/// nothing, even while the link is being made anew (flush, then open).
#[test]
fn a_load_while_the_link_is_made_anew_stores_only_after_the_flush() {
    loom::model(|| {
        let state = Arc::new(LinkState::default());
        let c = Arc::new(cache());
        let link = {
            let (state, c) = (Arc::clone(&state), Arc::clone(&c));
            loom::thread::spawn(move || {
                c.invalidate_all();
                state.open(1, 7);
                clockwise::release_thread_for_loom();
            })
        };
        let mut bypassed = false;
        let got = state.load_through(&c, 1, true, || bypassed = true, || Ok::<u64, ()>(10));
        assert_eq!(got.unwrap(), 10);
        link.join().unwrap();
        // Cached only by a load that began once the link was open.
        assert_eq!(c.get(&1).is_some(), !bypassed);
        clockwise::release_thread_for_loom();
    });
}
