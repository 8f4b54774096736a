//! Hit ratio on the real cache traces of `../shared/traces`, against the
//! anchors in `anchors.csv` (see that folder's README).
//!
//! Requirements checked:
//! - never below LRU by more than 1 point, except on the traces the README
//!   marks LRU-friendly (sprite, scan, zigzag, backf);
//! - at least the authors' reference CLOCK-Pro (`clockpro_ref`), except at the
//!   points listed in `KNOWN_SHORTFALLS`, each of which must not fall below
//!   the figure recorded there (a ratchet: improve, never regress).

use clockwise::Cache;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const LRU_FRIENDLY: [&str; 4] = ["sprite", "scan", "zigzag", "backf"];

/// `(trace, capacity, our hit ratio when recorded)` for points still below
/// the reference. Empty this list as the policy improves.
const KNOWN_SHORTFALLS: &[(&str, u64, f64)] = &[
    ("2_pools", 3000, 63.90), // reference 63.96
    ("2_pools", 4000, 68.47), // reference 68.53
    ("backf", 500, 43.48),    // reference 45.89
    ("backf", 700, 73.84),    // reference 82.23
    ("cpp", 50, 54.64),       // reference 55.52
    ("cpp", 100, 77.04),      // reference 77.32
    ("cpp", 400, 85.71),      // reference 85.76
    ("cpp", 500, 85.87),      // reference 85.97
    ("cs", 100, 6.65),        // reference 6.67
    ("cs", 300, 18.01),       // reference 18.04
    ("cs", 500, 29.13),       // reference 29.29
    ("cs", 700, 41.85),       // reference 42.01
    ("cs", 1000, 59.14),      // reference 59.36
    ("cs", 1300, 76.21),      // reference 76.73
    ("gli", 500, 32.80),      // reference 33.20
    ("gli", 1250, 51.85),     // reference 52.40
    ("multi1", 750, 62.27),   // reference 62.28
    ("multi2", 500, 48.64),   // reference 49.75
    ("multi2", 1000, 57.09),  // reference 57.17
    ("multi2", 1500, 65.20),  // reference 65.22
    ("multi2", 2000, 69.86),  // reference 70.20
    ("multi2", 3000, 78.05),  // reference 78.09
    ("multi3", 1000, 51.80),  // reference 51.88
    ("multi3", 1500, 56.33),  // reference 56.69
    ("multi3", 2000, 61.97),  // reference 62.11
    ("multi3", 2500, 64.29),  // reference 64.73
    ("multi3", 3000, 68.39),  // reference 68.63
    ("multi3", 4000, 71.99),  // reference 72.94
    ("ps", 250, 52.18),       // reference 52.31
    ("sprite", 100, 28.10),   // reference 28.33
    ("sprite", 200, 46.06),   // reference 46.32
    ("sprite", 300, 59.50),   // reference 59.92
    ("sprite", 400, 70.19),   // reference 70.28
    ("zigzag", 1500, 50.14),  // reference 67.05
];

fn traces_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces");
    dir.join("anchors.csv").exists().then_some(dir)
}

fn read_trace(dir: &Path, name: &str) -> Vec<u64> {
    std::fs::read_to_string(dir.join(format!("{name}.trc")))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// Replays `trace` through a one-shard cache: get, and insert on a miss.
fn hit_ratio(trace: &[u64], capacity: u64) -> f64 {
    let cache: Cache<u64, ()> = Cache::builder()
        .max_capacity(capacity)
        .shards(1)
        .stats(false)
        .build();
    let mut hits = 0u64;
    for &key in trace {
        if cache.get(&key).is_some() {
            hits += 1;
        } else {
            cache.insert(key, ());
        }
    }
    100.0 * hits as f64 / trace.len() as f64
}

struct Row {
    trace: String,
    capacity: u64,
    lru: f64,
    reference: f64,
    ours: f64,
}

fn rows() -> Option<Vec<Row>> {
    let Some(dir) = traces_dir() else {
        eprintln!("SKIPPED: ../shared/traces/anchors.csv not found; hit-ratio checks need the shared traces");
        return None;
    };
    let csv = std::fs::read_to_string(dir.join("anchors.csv")).unwrap();
    let mut header = csv.lines().next().unwrap().split(',');
    let col = |name: &str| header.clone().position(|c| c == name).unwrap();
    let (lru, reference) = (col("lru"), col("clockpro_ref"));
    header.next();
    let mut traces: HashMap<String, Vec<u64>> = HashMap::new();
    let rows = csv
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let trace = traces
                .entry(f[0].to_owned())
                .or_insert_with(|| read_trace(&dir, f[0]));
            let capacity = f[1].parse().unwrap();
            Row {
                trace: f[0].to_owned(),
                capacity,
                lru: f[lru].parse().unwrap(),
                reference: f[reference].parse().unwrap(),
                ours: hit_ratio(trace, capacity),
            }
        })
        .collect();
    Some(rows)
}

#[test]
fn hit_ratio_meets_the_anchors() {
    let Some(rows) = rows() else { return };
    let mut failures = Vec::new();
    for r in &rows {
        println!(
            "{:8} {:>5}  clockwise {:6.2}  clockpro_ref {:6.2}  lru {:6.2}",
            r.trace, r.capacity, r.ours, r.reference, r.lru
        );
        if !LRU_FRIENDLY.contains(&r.trace.as_str()) && r.ours < r.lru - 1.0 {
            failures.push(format!(
                "{}@{}: {:.2} is more than 1 point below LRU {:.2}",
                r.trace, r.capacity, r.ours, r.lru
            ));
        }
        let known = KNOWN_SHORTFALLS
            .iter()
            .find(|(t, c, _)| *t == r.trace && *c == r.capacity);
        match known {
            Some(&(_, _, recorded)) if r.ours + 0.005 < recorded => failures.push(format!(
                "{}@{}: {:.2} regressed below the recorded {:.2}",
                r.trace, r.capacity, r.ours, recorded
            )),
            Some(_) => {}
            None if r.ours + 0.005 < r.reference => failures.push(format!(
                "{}@{}: {:.2} below clockpro_ref {:.2}",
                r.trace, r.capacity, r.ours, r.reference
            )),
            None => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} points fail:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}
