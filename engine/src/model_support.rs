//! What the model-based tests (`tests::model`) and the fuzz target `ops`
//! share: a key borrowed by reference and an expiry driven by the value,
//! with the deadlines a reference model gives them. Compiled only for
//! tests and under `cfg(fuzzing)`.

use crate::{Equivalent, Expiry};
use clockwise_stats::Instant;
use std::time::Duration;

/// A `u8` key by reference: hashes as the key and is its [`Equivalent`],
/// though `u8` does not borrow as it.
#[derive(Clone, Copy, Debug)]
pub struct ByRef<'a>(pub &'a u8);

impl std::hash::Hash for ByRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}

impl Equivalent<u8> for ByRef<'_> {
    fn equivalent(&self, key: &u8) -> bool {
        *self.0 == *key
    }
}

/// Times to live from the value: created `v % 8 + 1` s (no limit when
/// `v % 5 == 0`), updated to 2 s when `v % 3 == 0`, read to 4 s when
/// `v % 2 == 0`; otherwise kept.
#[derive(Clone, Copy, Debug)]
pub struct ValueExpiry;

impl ValueExpiry {
    /// The model's deadline, in whole seconds, for a write of `v` at `now`
    /// over a live value with deadline `old` (`None`: no live value).
    pub fn write(v: u16, old: Option<Option<u64>>, now: u64) -> Option<u64> {
        match old {
            Some(_) if v % 3 == 0 => Some(now + 2),
            Some(at) => at,
            None if v % 5 == 0 => None,
            None => Some(now + u64::from(v % 8) + 1),
        }
    }

    /// The model's new deadline after a read of `v` at `now`, if it moves.
    pub fn read(v: u16, now: u64) -> Option<u64> {
        (v % 2 == 0).then_some(now + 4)
    }
}

impl Expiry<u8, u16> for ValueExpiry {
    fn expire_after_create(&self, _: &u8, v: &u16, _: Instant) -> Option<Duration> {
        (v % 5 != 0).then(|| Duration::from_secs(u64::from(v % 8) + 1))
    }
    fn expire_after_update(
        &self,
        _: &u8,
        v: &u16,
        _: Instant,
        left: Option<Duration>,
    ) -> Option<Duration> {
        if v % 3 == 0 {
            Some(Duration::from_secs(2))
        } else {
            left
        }
    }
    fn expire_after_read(
        &self,
        _: &u8,
        v: &u16,
        _: Instant,
        left: Option<Duration>,
        _: Instant,
    ) -> Option<Duration> {
        if v % 2 == 0 {
            Some(Duration::from_secs(4))
        } else {
            left
        }
    }
}
