//! The error of [`Cache::try_insert`](crate::Cache::try_insert).

use std::fmt;

/// An entry [`Cache::try_insert`](crate::Cache::try_insert) refused: its
/// weight is over the cache's whole capacity, so storing it would leave
/// nothing else, and still not fit. The key and value come back with it.
///
/// ```
/// let cache: clockwise::Cache<u32, Vec<u8>> = clockwise::Cache::builder()
///     .max_capacity(100)
///     .weigher(|_, v: &Vec<u8>| v.len() as u32)
///     .build();
/// let err = cache.try_insert(1, vec![0; 101]).unwrap_err();
/// assert_eq!((err.weight(), err.capacity()), (101, 100));
/// let (key, value) = err.into_parts();
/// assert_eq!((key, value.len()), (1, 101));
/// ```
pub struct InsertError<K, V> {
    key: K,
    value: V,
    weight: u32,
    capacity: u64,
}

impl<K, V> InsertError<K, V> {
    pub(crate) fn new(key: K, value: V, weight: u32, capacity: u64) -> Self {
        InsertError {
            key,
            value,
            weight,
            capacity,
        }
    }

    /// The refused entry's weight, as the weigher gave it.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, Vec<u8>> = clockwise::Cache::builder()
    ///     .max_capacity(2)
    ///     .weigher(|_, v: &Vec<u8>| v.len() as u32)
    ///     .build();
    /// let err = cache.try_insert(7, vec![0; 3]).unwrap_err();
    /// assert_eq!(err.weight(), 3);
    /// ```
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// The cache's capacity.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, Vec<u8>> = clockwise::Cache::builder()
    ///     .max_capacity(2)
    ///     .weigher(|_, v: &Vec<u8>| v.len() as u32)
    ///     .build();
    /// let err = cache.try_insert(7, vec![0; 3]).unwrap_err();
    /// assert_eq!(err.capacity(), 2);
    /// ```
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The key.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, Vec<u8>> = clockwise::Cache::builder()
    ///     .max_capacity(2)
    ///     .weigher(|_, v: &Vec<u8>| v.len() as u32)
    ///     .build();
    /// let err = cache.try_insert(7, vec![0; 3]).unwrap_err();
    /// assert_eq!((*err.key(), err.value().len()), (7, 3));
    /// ```
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The value.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, Vec<u8>> = clockwise::Cache::builder()
    ///     .max_capacity(2)
    ///     .weigher(|_, v: &Vec<u8>| v.len() as u32)
    ///     .build();
    /// let err = cache.try_insert(7, vec![0; 3]).unwrap_err();
    /// assert_eq!(err.value().len(), 3);
    /// ```
    pub fn value(&self) -> &V {
        &self.value
    }

    /// The key and value, given back.
    ///
    /// ```
    /// let cache: clockwise::Cache<u32, Vec<u8>> = clockwise::Cache::builder()
    ///     .max_capacity(2)
    ///     .weigher(|_, v: &Vec<u8>| v.len() as u32)
    ///     .build();
    /// let err = cache.try_insert(7, vec![0; 3]).unwrap_err();
    /// assert_eq!(err.into_parts(), (7, vec![0; 3]));
    /// ```
    pub fn into_parts(self) -> (K, V) {
        (self.key, self.value)
    }
}

impl<K, V> fmt::Debug for InsertError<K, V> {
    // Keys and values need not be `Debug`; the weights say what went wrong.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsertError")
            .field("weight", &self.weight)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K, V> fmt::Display for InsertError<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an entry of weight {} is over the cache's capacity of {}",
            self.weight, self.capacity
        )
    }
}

impl<K, V> std::error::Error for InsertError<K, V> {}
