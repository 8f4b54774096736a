//! Drives [`ClockPro`] directly over a key trace: the hit-ratio harness used
//! by tests (the cache-level tests go through `Cache` itself).

use crate::clock_pro::{ClockPro, Host, Removal};
use std::collections::HashMap;

/// Pages are keys; reference bits live in a map, as in the cache they live
/// in entries.
#[derive(Default)]
pub(crate) struct SimHost {
    referenced: HashMap<u64, bool>,
    removed: Vec<u64>,
}

impl Host<u64> for SimHost {
    fn referenced(&mut self, page: &u64) -> bool {
        self.referenced.get(page).copied().unwrap_or(false)
    }
    fn clear_referenced(&mut self, page: &u64) {
        self.referenced.insert(*page, false);
    }
    fn expired(&mut self, _: &u64) -> bool {
        false
    }
    fn removed(&mut self, page: u64, _: Removal) {
        self.removed.push(page);
    }
}

/// Hit ratio in percent of `trace` at `capacity` entries.
pub(crate) fn hit_ratio(trace: &[u64], capacity: u64) -> f64 {
    let mut policy = ClockPro::new(capacity);
    let mut host = SimHost::default();
    let mut resident: HashMap<u64, u32> = HashMap::new();
    let mut hits = 0u64;
    let mut newest = None;
    for &key in trace {
        if resident.contains_key(&key) {
            hits += 1;
            // As in the cache: a re-reference to the shard's newest insert is
            // correlated with the insert and does not set the bit.
            if newest != Some(key) {
                host.referenced.insert(key, true);
            }
            continue;
        }
        newest = Some(key);
        let node = policy.insert(&mut host, key, 1, key);
        for gone in host.removed.drain(..) {
            resident.remove(&gone);
            host.referenced.remove(&gone);
        }
        resident.insert(key, node);
    }
    100.0 * hits as f64 / trace.len() as f64
}
