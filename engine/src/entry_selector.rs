//! The entry API: [`Cache::entry`] and [`Cache::entry_by_ref`] select a
//! key; their methods load it if absent (`or_insert_with` and kin, the
//! loaders' single flight) or compute its next state atomically
//! (`and_compute_with` and kin, [`crate::compute`]), and say whether the
//! value is fresh.

use crate::cache::Cache;
use crate::compute::{CompResult, Op};
use crate::guard::KeyIn;
use crate::loading::{Fallback, OptionKind, ResultKind, ValueKind};
use crate::LoadError;
use std::any::TypeId;
use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};

/// A key and its value as an entry-API call left them.
///
/// ```
/// let cache: clockwise::Cache<u32, &str> = clockwise::Cache::new(10);
/// let e = cache.entry(1).or_insert("one");
/// assert_eq!((*e.key(), *e.value(), e.is_fresh()), (1, "one", true));
/// let e = cache.entry(1).or_insert("uno");
/// assert_eq!((*e.value(), e.is_fresh()), ("one", false));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<K, V> {
    key: K,
    value: V,
    is_fresh: bool,
    is_old_value_replaced: bool,
}

impl<K, V> Entry<K, V> {
    pub(crate) fn new(key: K, value: V, is_fresh: bool, is_old_value_replaced: bool) -> Self {
        Entry {
            key,
            value,
            is_fresh,
            is_old_value_replaced,
        }
    }

    /// The key (for [`entry_by_ref`](Cache::entry_by_ref), the borrowed
    /// form it was given).
    ///
    /// ```
    /// let cache: clockwise::Cache<String, u8> = clockwise::Cache::new(10);
    /// assert_eq!(*cache.entry_by_ref("a").or_insert(1).key(), "a");
    /// ```
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The key, by value.
    ///
    /// ```
    /// let cache: clockwise::Cache<String, u8> = clockwise::Cache::new(10);
    /// assert_eq!(cache.entry("a".to_owned()).or_insert(1).into_key(), "a");
    /// ```
    pub fn into_key(self) -> K {
        self.key
    }

    /// The value.
    ///
    /// ```
    /// let cache: clockwise::Cache<u8, u8> = clockwise::Cache::new(10);
    /// assert_eq!(*cache.entry(1).or_insert(2).value(), 2);
    /// ```
    pub fn value(&self) -> &V {
        &self.value
    }

    /// The value, by value.
    ///
    /// ```
    /// let cache: clockwise::Cache<u8, String> = clockwise::Cache::new(10);
    /// assert_eq!(cache.entry(1).or_insert("x".into()).into_value(), "x");
    /// ```
    pub fn into_value(self) -> V {
        self.value
    }

    /// Whether this call stored the value (its loader ran, or its compute
    /// put it), rather than finding it.
    ///
    /// ```
    /// let cache: clockwise::Cache<u8, u8> = clockwise::Cache::new(10);
    /// assert!(cache.entry(1).or_insert_with(|| 1).is_fresh());
    /// assert!(!cache.entry(1).or_insert_with(|| 2).is_fresh());
    /// ```
    pub fn is_fresh(&self) -> bool {
        self.is_fresh
    }

    /// Whether this call replaced a value that was there.
    ///
    /// ```
    /// let cache: clockwise::Cache<u8, u8> = clockwise::Cache::new(10);
    /// assert!(!cache.entry(1).and_upsert_with(|_| 1).is_old_value_replaced());
    /// assert!(cache.entry(1).and_upsert_with(|_| 2).is_old_value_replaced());
    /// ```
    pub fn is_old_value_replaced(&self) -> bool {
        self.is_old_value_replaced
    }
}

/// An owned key selected by [`Cache::entry`].
///
/// ```
/// let cache: clockwise::Cache<u32, u32> = clockwise::Cache::new(10);
/// let selector = cache.entry(1);
/// assert_eq!(selector.or_default().into_value(), 0);
/// ```
#[must_use = "a selector does nothing until one of its methods is called"]
pub struct OwnedKeyEntrySelector<'a, K, V, S> {
    key: K,
    cache: &'a Cache<K, V, S>,
}

/// A borrowed key selected by [`Cache::entry_by_ref`]: the owned key is
/// built only when the call needs it (a miss, or a compute).
///
/// ```
/// let cache: clockwise::Cache<String, u32> = clockwise::Cache::new(10);
/// let selector = cache.entry_by_ref("a");
/// assert_eq!(selector.or_insert(1).into_value(), 1);
/// ```
#[must_use = "a selector does nothing until one of its methods is called"]
pub struct RefKeyEntrySelector<'a, K, Q: ?Sized, V, S> {
    key: &'a Q,
    cache: &'a Cache<K, V, S>,
}

impl<K: fmt::Debug, V, S> fmt::Debug for OwnedKeyEntrySelector<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedKeyEntrySelector")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<K, Q: fmt::Debug + ?Sized, V, S> fmt::Debug for RefKeyEntrySelector<'_, K, Q, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefKeyEntrySelector")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// Selects `key` for an entry-API call.
    ///
    /// ```
    /// use clockwise::{Cache, Op};
    /// let cache: Cache<&str, u32> = Cache::new(10);
    /// let e = cache.entry("a").or_insert_with(|| 1);
    /// assert!(e.is_fresh());
    /// let e = cache.entry("a").and_upsert_with(|old| old.map_or(0, |e| e.into_value() * 10));
    /// assert_eq!(e.into_value(), 10);
    /// ```
    pub fn entry(&self, key: K) -> OwnedKeyEntrySelector<'_, K, V, S> {
        OwnedKeyEntrySelector { key, cache: self }
    }

    /// Selects a borrowed form of a key (`&str` for `String`); the owned
    /// key is built only when the call needs it.
    ///
    /// ```
    /// let cache: clockwise::Cache<String, usize> = clockwise::Cache::new(10);
    /// let e = cache.entry_by_ref("four").or_insert_with(|| 4);
    /// assert_eq!((*e.key(), e.into_value()), ("four", 4));
    /// ```
    pub fn entry_by_ref<'a, Q>(&'a self, key: &'a Q) -> RefKeyEntrySelector<'a, K, Q, V, S>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        RefKeyEntrySelector { key, cache: self }
    }

    /// The loaders' path, telling whether this caller's loader made the
    /// value.
    fn load_entry<Q, E: Send + Sync + 'static>(
        &self,
        key: KeyIn<'_, K, Q>,
        kind: TypeId,
        fallback: Fallback,
        load: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<(V, bool)>, LoadError<E>>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        let mut load = Some(load);
        let mut ran = false;
        let got = self.load(key, kind, fallback, &mut || {
            ran = true;
            load.take().expect("a loader is called at most once")()
        })?;
        Ok(got.map(|v| (v, ran)))
    }
}

/// Unwraps the result of an infallible loader's path.
fn infallible<T>(got: Result<T, LoadError<std::convert::Infallible>>) -> T {
    match got {
        Ok(t) => t,
        Err(LoadError::Failed(e)) => match *e {},
        Err(_) => unreachable!("infallible loaders load themselves instead of failing"),
    }
}

/// The methods of both selectors, written once over three of each
/// selector's own: `key_in` (the key as the loaders take it), `entry_key`
/// (the key an or-method's [`Entry`] carries, of type `$entry_key`) and
/// `owned` (the owned key a compute needs).
macro_rules! selector_methods {
    ($entry_key:ty) => {
        /// The key's value, storing `V::default()` if it is absent.
        ///
        /// ```
        /// let cache: clockwise::Cache<String, Vec<u8>> = clockwise::Cache::new(10);
        /// assert!(cache.entry("a".to_owned()).or_default().value().is_empty());
        /// ```
        pub fn or_default(self) -> Entry<$entry_key, V>
        where
            V: Default,
        {
            self.or_insert_with(V::default)
        }

        /// The key's value, storing `value` if it is absent.
        ///
        /// ```
        /// let cache: clockwise::Cache<u8, u8> = clockwise::Cache::new(10);
        /// assert_eq!(cache.entry(1).or_insert(7).into_value(), 7);
        /// assert_eq!(cache.entry(1).or_insert(8).into_value(), 7);
        /// ```
        pub fn or_insert(self, value: V) -> Entry<$entry_key, V> {
            self.or_insert_with(|| value)
        }

        /// The key's value, loaded by `init` if it is absent, with the
        /// loaders' single flight (as [`Cache::get_with`]: concurrent
        /// callers of the key wait for one `init`).
        ///
        /// ```
        /// let cache: clockwise::Cache<u8, u8> = clockwise::Cache::new(10);
        /// let e = cache.entry(1).or_insert_with(|| 3);
        /// assert!(e.is_fresh() && !e.is_old_value_replaced());
        /// ```
        pub fn or_insert_with(self, init: impl FnOnce() -> V) -> Entry<$entry_key, V> {
            let kind = TypeId::of::<ValueKind>();
            let loaded = self
                .cache
                .load_entry(self.key_in(), kind, Fallback::LoadItself, || {
                    Ok::<_, std::convert::Infallible>(Some(init()))
                });
            let (value, fresh) = infallible(loaded).expect("a value loader never reports absence");
            Entry::new(self.entry_key(), value, fresh, false)
        }

        /// The key's value, loaded by `init` if it is absent; `None` if
        /// `init` found nothing (remembered for
        /// [`negative_ttl`](crate::CacheBuilder::negative_ttl), as
        /// [`Cache::optionally_get_with`]).
        ///
        /// ```
        /// let cache: clockwise::Cache<u8, u8> = clockwise::Cache::new(10);
        /// assert!(cache.entry(1).or_optionally_insert_with(|| None).is_none());
        /// assert_eq!(cache.entry(1).or_optionally_insert_with(|| Some(1)).unwrap().into_value(), 1);
        /// ```
        pub fn or_optionally_insert_with(
            self,
            init: impl FnOnce() -> Option<V>,
        ) -> Option<Entry<$entry_key, V>> {
            let kind = TypeId::of::<OptionKind>();
            let loaded = self
                .cache
                .load_entry(self.key_in(), kind, Fallback::LoadItself, || {
                    Ok::<_, std::convert::Infallible>(init())
                });
            let (value, fresh) = infallible(loaded)?;
            Some(Entry::new(self.entry_key(), value, fresh, false))
        }

        /// The key's value, loaded by the fallible `init` if it is absent
        /// (as [`Cache::try_get_with`]; errors are not cached).
        ///
        /// ```
        /// let cache: clockwise::Cache<u8, u32> = clockwise::Cache::new(10);
        /// assert!(cache.entry(1).or_try_insert_with(|| "x".parse::<u32>()).is_err());
        /// assert_eq!(cache.entry(1).or_try_insert_with(|| "5".parse::<u32>()).unwrap().into_value(), 5);
        /// ```
        pub fn or_try_insert_with<E>(
            self,
            init: impl FnOnce() -> Result<V, E>,
        ) -> Result<Entry<$entry_key, V>, LoadError<E>>
        where
            E: Send + Sync + 'static,
        {
            let kind = TypeId::of::<ResultKind<E>>();
            let loaded = self
                .cache
                .load_entry(self.key_in(), kind, Fallback::Report, || init().map(Some))?;
            let (value, fresh) = loaded.expect("a value loader never reports absence");
            Ok(Entry::new(self.entry_key(), value, fresh, false))
        }

        /// Computes the key's next state from its current entry, atomically:
        /// no other write of the key lands between the read `f` is given
        /// and the [`Op`] applied (a write that races it wins, and the
        /// compute is ordered before it); computes of one key run one at
        /// a time.
        ///
        /// ```
        /// use clockwise::{CompResult, Op};
        /// let cache: clockwise::Cache<u8, u32> = clockwise::Cache::new(10);
        /// cache.insert(1, 1);
        /// // Remove the key once its count reaches 2.
        /// let step = |e: Option<clockwise::Entry<u8, u32>>| match e {
        ///     Some(e) if *e.value() >= 2 => Op::Remove,
        ///     Some(e) => Op::Put(e.into_value() + 1),
        ///     None => Op::Nop,
        /// };
        /// assert!(matches!(cache.entry(1).and_compute_with(step), CompResult::ReplacedWith(_)));
        /// assert!(matches!(cache.entry(1).and_compute_with(step), CompResult::Removed(_)));
        /// assert!(matches!(cache.entry(1).and_compute_with(step), CompResult::StillNone(1)));
        /// ```
        pub fn and_compute_with(
            self,
            f: impl FnOnce(Option<Entry<K, V>>) -> Op<V>,
        ) -> CompResult<K, V> {
            let computed = self
                .cache
                .compute(self.owned(), |e| Ok::<_, std::convert::Infallible>(f(e)));
            match computed {
                Ok(r) => r,
                Err(e) => match e {},
            }
        }

        /// [`and_compute_with`](Self::and_compute_with) with a closure that
        /// may fail: an `Err` leaves the key as it is.
        ///
        /// ```
        /// use clockwise::Op;
        /// let cache: clockwise::Cache<u8, u32> = clockwise::Cache::new(10);
        /// let r = cache.entry(1).and_try_compute_with(|_| "x".parse::<u32>().map(Op::Put));
        /// assert!(r.is_err());
        /// assert!(!cache.contains_key(&1));
        /// ```
        pub fn and_try_compute_with<E>(
            self,
            f: impl FnOnce(Option<Entry<K, V>>) -> Result<Op<V>, E>,
        ) -> Result<CompResult<K, V>, E> {
            self.cache.compute(self.owned(), f)
        }

        /// [`or_insert_with`](Self::or_insert_with) with a future (cargo
        /// feature `async`), as [`Cache::get_with_async`].
        ///
        /// ```
        /// let cache: clockwise::Cache<u8, u8> = clockwise::Cache::new(10);
        /// let e = futures_lite::future::block_on(cache.entry(1).or_insert_with_async(async { 3 }));
        /// assert!(e.is_fresh());
        /// ```
        #[cfg(feature = "async")]
        pub async fn or_insert_with_async(
            self,
            init: impl std::future::Future<Output = V>,
        ) -> Entry<$entry_key, V> {
            let ran = std::sync::atomic::AtomicBool::new(false);
            let loaded = self
                .cache
                .load_async(
                    self.key_in(),
                    TypeId::of::<ValueKind>(),
                    Fallback::LoadItself,
                    async {
                        ran.store(true, std::sync::atomic::Ordering::Relaxed);
                        Ok::<_, std::convert::Infallible>(Some(init.await))
                    },
                )
                .await;
            let value = infallible(loaded).expect("a value loader never reports absence");
            let fresh = ran.load(std::sync::atomic::Ordering::Relaxed);
            Entry::new(self.entry_key(), value, fresh, false)
        }

        /// [`or_optionally_insert_with`](Self::or_optionally_insert_with)
        /// with a future (cargo feature `async`).
        ///
        /// ```
        /// let cache: clockwise::Cache<u8, u8> = clockwise::Cache::new(10);
        /// let e = cache.entry(1).or_optionally_insert_with_async(async { None });
        /// assert!(futures_lite::future::block_on(e).is_none());
        /// ```
        #[cfg(feature = "async")]
        pub async fn or_optionally_insert_with_async(
            self,
            init: impl std::future::Future<Output = Option<V>>,
        ) -> Option<Entry<$entry_key, V>> {
            let ran = std::sync::atomic::AtomicBool::new(false);
            let loaded = self
                .cache
                .load_async(
                    self.key_in(),
                    TypeId::of::<OptionKind>(),
                    Fallback::LoadItself,
                    async {
                        ran.store(true, std::sync::atomic::Ordering::Relaxed);
                        Ok::<_, std::convert::Infallible>(init.await)
                    },
                )
                .await;
            let value = infallible(loaded)?;
            let fresh = ran.load(std::sync::atomic::Ordering::Relaxed);
            Some(Entry::new(self.entry_key(), value, fresh, false))
        }

        /// [`or_try_insert_with`](Self::or_try_insert_with) with a future
        /// (cargo feature `async`).
        ///
        /// ```
        /// let cache: clockwise::Cache<u8, u32> = clockwise::Cache::new(10);
        /// let e = cache.entry(1).or_try_insert_with_async(async { "5".parse::<u32>() });
        /// assert_eq!(futures_lite::future::block_on(e).unwrap().into_value(), 5);
        /// ```
        #[cfg(feature = "async")]
        pub async fn or_try_insert_with_async<E>(
            self,
            init: impl std::future::Future<Output = Result<V, E>>,
        ) -> Result<Entry<$entry_key, V>, LoadError<E>>
        where
            E: Send + Sync + 'static,
        {
            let ran = std::sync::atomic::AtomicBool::new(false);
            let loaded = self
                .cache
                .load_async(
                    self.key_in(),
                    TypeId::of::<ResultKind<E>>(),
                    Fallback::Report,
                    async {
                        ran.store(true, std::sync::atomic::Ordering::Relaxed);
                        init.await.map(Some)
                    },
                )
                .await?;
            let value = loaded.expect("a value loader never reports absence");
            let fresh = ran.load(std::sync::atomic::Ordering::Relaxed);
            Ok(Entry::new(self.entry_key(), value, fresh, false))
        }

        /// [`and_compute_with`](Self::and_compute_with) with an async
        /// closure (cargo feature `async`): a compute of the key running
        /// meanwhile is awaited, not blocked on; a dropped future ends the
        /// compute with nothing written.
        ///
        /// ```
        /// use clockwise::Op;
        /// let cache: clockwise::Cache<u8, u32> = clockwise::Cache::new(10);
        /// let r = cache.entry(1).and_compute_with_async(|_| async { Op::Put(1) });
        /// assert!(matches!(futures_lite::future::block_on(r), clockwise::CompResult::Inserted(_)));
        /// ```
        #[cfg(feature = "async")]
        pub async fn and_compute_with_async<F>(
            self,
            f: impl FnOnce(Option<Entry<K, V>>) -> F,
        ) -> CompResult<K, V>
        where
            F: std::future::Future<Output = Op<V>>,
        {
            let computed = self
                .cache
                .compute_async(self.owned(), |e| {
                    let op = f(e);
                    async move { Ok::<_, std::convert::Infallible>(op.await) }
                })
                .await;
            match computed {
                Ok(r) => r,
                Err(e) => match e {},
            }
        }

        /// [`and_try_compute_with`](Self::and_try_compute_with) with an
        /// async closure (cargo feature `async`).
        ///
        /// ```
        /// use clockwise::Op;
        /// let cache: clockwise::Cache<u8, u32> = clockwise::Cache::new(10);
        /// let r = cache.entry(1).and_try_compute_with_async(|_| async { "x".parse::<u32>().map(Op::Put) });
        /// assert!(futures_lite::future::block_on(r).is_err());
        /// ```
        #[cfg(feature = "async")]
        pub async fn and_try_compute_with_async<E, F>(
            self,
            f: impl FnOnce(Option<Entry<K, V>>) -> F,
        ) -> Result<CompResult<K, V>, E>
        where
            F: std::future::Future<Output = Result<Op<V>, E>>,
        {
            self.cache.compute_async(self.owned(), f).await
        }

        /// [`and_upsert_with`](Self::and_upsert_with) with an async closure
        /// (cargo feature `async`).
        ///
        /// ```
        /// let cache: clockwise::Cache<u8, u32> = clockwise::Cache::new(10);
        /// let add = |e: Option<clockwise::Entry<u8, u32>>| async move { e.map_or(1, |e| e.into_value() + 1) };
        /// futures_lite::future::block_on(cache.entry(1).and_upsert_with_async(add));
        /// let e = futures_lite::future::block_on(cache.entry(1).and_upsert_with_async(add));
        /// assert_eq!(e.into_value(), 2);
        /// ```
        #[cfg(feature = "async")]
        pub async fn and_upsert_with_async<F>(
            self,
            f: impl FnOnce(Option<Entry<K, V>>) -> F,
        ) -> Entry<K, V>
        where
            F: std::future::Future<Output = V>,
        {
            let computed = self
                .cache
                .compute_async(self.owned(), |e| {
                    let v = f(e);
                    async move { Ok::<_, std::convert::Infallible>(Op::Put(v.await)) }
                })
                .await;
            match computed {
                Ok(CompResult::Inserted(e) | CompResult::ReplacedWith(e)) => e,
                Ok(_) => unreachable!("a put inserts or replaces"),
                Err(e) => match e {},
            }
        }

        /// Stores `f`'s value made from the current entry (inserting or
        /// replacing), atomically as
        /// [`and_compute_with`](Self::and_compute_with).
        ///
        /// ```
        /// let cache: clockwise::Cache<u8, u32> = clockwise::Cache::new(10);
        /// let add = |e: Option<clockwise::Entry<u8, u32>>| e.map_or(1, |e| e.into_value() + 1);
        /// cache.entry(1).and_upsert_with(add);
        /// assert_eq!(cache.entry(1).and_upsert_with(add).into_value(), 2);
        /// ```
        pub fn and_upsert_with(self, f: impl FnOnce(Option<Entry<K, V>>) -> V) -> Entry<K, V> {
            let computed = self.cache.compute(self.owned(), |e| {
                Ok::<_, std::convert::Infallible>(Op::Put(f(e)))
            });
            match computed {
                Ok(CompResult::Inserted(e) | CompResult::ReplacedWith(e)) => e,
                Ok(_) => unreachable!("a put inserts or replaces"),
                Err(e) => match e {},
            }
        }
    };
}

impl<'a, K, V, S> OwnedKeyEntrySelector<'a, K, V, S>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn key_in(&self) -> KeyIn<'_, K, K> {
        KeyIn::Borrowed(&self.key)
    }

    fn entry_key(self) -> K {
        self.key
    }

    fn owned(self) -> K {
        self.key
    }

    selector_methods!(K);
}

impl<'a, K, Q, V, S> RefKeyEntrySelector<'a, K, Q, V, S>
where
    K: Eq + Hash + Clone + Send + Sync + 'static + Borrow<Q>,
    Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn key_in(&self) -> KeyIn<'a, K, Q> {
        KeyIn::Borrowed(self.key)
    }

    fn entry_key(self) -> &'a Q {
        self.key
    }

    fn owned(self) -> K {
        self.key.to_owned()
    }

    selector_methods!(&'a Q);
}
