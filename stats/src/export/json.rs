//! JSON of gathered snapshots, through serde.
//!
//! The document is an object keyed by subsystem, then source name, each
//! holding that source's [`Snapshot`] as serde writes it
//! (which deserializes back into the same snapshot):
//! `{"cache": {"users": {"uptime_nanos": .., "counters": {..}, ..}}}`.

use crate::registry::Gathered;
use crate::Snapshot;
use std::collections::BTreeMap;

/// Renders `gathered` as one JSON object.
///
/// ```
/// use clockwise_stats::{export::json, Registry, Snapshot};
/// use std::time::Duration;
/// let registry = Registry::new();
/// let _r = registry.register("cache", "users", || {
///     let mut s = Snapshot::new(Duration::ZERO);
///     s.set_counter("hit", 2);
///     s
/// }).unwrap();
/// let text = json::render(&registry.gather());
/// let back = json::parse(&text).unwrap();
/// assert_eq!(back["cache"]["users"].counter("hit"), 2);
/// ```
pub fn render(gathered: &[Gathered]) -> String {
    let mut doc: BTreeMap<&str, BTreeMap<&str, &Snapshot>> = BTreeMap::new();
    for g in gathered {
        doc.entry(&g.subsystem)
            .or_default()
            .insert(&g.name, &g.snapshot);
    }
    serde_json::to_string(&doc).expect("snapshots always serialize")
}

/// Reads a document written by [`render`]: subsystem, then source name, to
/// snapshot. Fails on anything else, including invalid histograms.
pub fn parse(
    text: &str,
) -> Result<BTreeMap<String, BTreeMap<String, Snapshot>>, serde_json::Error> {
    serde_json::from_str(text)
}
