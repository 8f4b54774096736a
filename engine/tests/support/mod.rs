//! What the loader suites share: the two ways of calling the loaders.

#![allow(dead_code)] // each test file uses its own part

use clockwise::{Cache, GuardResult, LoadError};
use std::borrow::Borrow;
use std::hash::Hash;

/// A key that counts its clones (its `to_owned`), on the cloning thread:
/// tests run side by side, and the clones a test counts happen on its own
/// thread.
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct CountedKey(pub u32);

thread_local! {
    static KEY_CLONES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Clone for CountedKey {
    fn clone(&self) -> Self {
        KEY_CLONES.with(|c| c.set(c.get() + 1));
        CountedKey(self.0)
    }
}

/// The clones of [`CountedKey`] made on this thread so far.
pub fn key_clones() -> usize {
    KEY_CLONES.with(|c| c.get())
}

/// A key or value the loaders take.
pub trait Item: Eq + Hash + Clone + Send + Sync + 'static {}
impl<T: Eq + Hash + Clone + Send + Sync + 'static> Item for T {}

/// The loaders, called blocking or async: one suite runs against both.
pub trait Mode {
    fn get_with<K: Item, V: Item>(c: &Cache<K, V>, k: K, f: impl FnOnce() -> V) -> V;
    fn try_get_with<K: Item, V: Item, E: Send + Sync + 'static>(
        c: &Cache<K, V>,
        k: K,
        f: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, LoadError<E>>;
    fn optionally_get_with<K: Item, V: Item>(
        c: &Cache<K, V>,
        k: K,
        f: impl FnOnce() -> Option<V>,
    ) -> Option<V>;
    fn get_with_by_ref<K, V, Q>(c: &Cache<K, V>, k: &Q, f: impl FnOnce() -> V) -> V
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized;
    fn try_get_with_by_ref<K, V, Q, E>(
        c: &Cache<K, V>,
        k: &Q,
        f: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, LoadError<E>>
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
        E: Send + Sync + 'static;
    fn optionally_get_with_by_ref<K, V, Q>(
        c: &Cache<K, V>,
        k: &Q,
        f: impl FnOnce() -> Option<V>,
    ) -> Option<V>
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized;
    fn get_value_or_guard<'a, K, V, Q>(c: &'a Cache<K, V>, k: &Q) -> GuardResult<'a, K, V>
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized;
}

/// The blocking loaders.
pub struct Blocking;

impl Mode for Blocking {
    fn get_with<K: Item, V: Item>(c: &Cache<K, V>, k: K, f: impl FnOnce() -> V) -> V {
        c.get_with(k, f)
    }
    fn try_get_with<K: Item, V: Item, E: Send + Sync + 'static>(
        c: &Cache<K, V>,
        k: K,
        f: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, LoadError<E>> {
        c.try_get_with(k, f)
    }
    fn optionally_get_with<K: Item, V: Item>(
        c: &Cache<K, V>,
        k: K,
        f: impl FnOnce() -> Option<V>,
    ) -> Option<V> {
        c.optionally_get_with(k, f)
    }
    fn get_with_by_ref<K, V, Q>(c: &Cache<K, V>, k: &Q, f: impl FnOnce() -> V) -> V
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        c.get_with_by_ref(k, f)
    }
    fn try_get_with_by_ref<K, V, Q, E>(
        c: &Cache<K, V>,
        k: &Q,
        f: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, LoadError<E>>
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
        E: Send + Sync + 'static,
    {
        c.try_get_with_by_ref(k, f)
    }
    fn optionally_get_with_by_ref<K, V, Q>(
        c: &Cache<K, V>,
        k: &Q,
        f: impl FnOnce() -> Option<V>,
    ) -> Option<V>
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        c.optionally_get_with_by_ref(k, f)
    }
    fn get_value_or_guard<'a, K, V, Q>(c: &'a Cache<K, V>, k: &Q) -> GuardResult<'a, K, V>
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        c.get_value_or_guard(k)
    }
}

/// The async loaders, each call driven to completion by `block_on` on the
/// calling thread; the loader is a future that runs the closure.
#[cfg(feature = "async")]
pub struct Async;

#[cfg(feature = "async")]
use futures_lite::future::block_on;

#[cfg(feature = "async")]
impl Mode for Async {
    fn get_with<K: Item, V: Item>(c: &Cache<K, V>, k: K, f: impl FnOnce() -> V) -> V {
        block_on(c.get_with_async(k, async move { f() }))
    }
    fn try_get_with<K: Item, V: Item, E: Send + Sync + 'static>(
        c: &Cache<K, V>,
        k: K,
        f: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, LoadError<E>> {
        block_on(c.try_get_with_async(k, async move { f() }))
    }
    fn optionally_get_with<K: Item, V: Item>(
        c: &Cache<K, V>,
        k: K,
        f: impl FnOnce() -> Option<V>,
    ) -> Option<V> {
        block_on(c.optionally_get_with_async(k, async move { f() }))
    }
    fn get_with_by_ref<K, V, Q>(c: &Cache<K, V>, k: &Q, f: impl FnOnce() -> V) -> V
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        block_on(c.get_with_by_ref_async(k, async move { f() }))
    }
    fn try_get_with_by_ref<K, V, Q, E>(
        c: &Cache<K, V>,
        k: &Q,
        f: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, LoadError<E>>
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
        E: Send + Sync + 'static,
    {
        block_on(c.try_get_with_by_ref_async(k, async move { f() }))
    }
    fn optionally_get_with_by_ref<K, V, Q>(
        c: &Cache<K, V>,
        k: &Q,
        f: impl FnOnce() -> Option<V>,
    ) -> Option<V>
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        block_on(c.optionally_get_with_by_ref_async(k, async move { f() }))
    }
    fn get_value_or_guard<'a, K, V, Q>(c: &'a Cache<K, V>, k: &Q) -> GuardResult<'a, K, V>
    where
        K: Item + Borrow<Q>,
        V: Item,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        block_on(c.get_value_or_guard_async(k))
    }
}

/// Runs each named generic test `fn name<M: Mode>()` once per mode: in a
/// module `blocking`, and (with the `async` feature) `asynchronous`.
#[macro_export]
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod blocking {
            $(#[test] fn $name() { super::$name::<super::support::Blocking>() })*
        }
        #[cfg(feature = "async")]
        mod asynchronous {
            $(#[test] fn $name() { super::$name::<super::support::Async>() })*
        }
    };
}
