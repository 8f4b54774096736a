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
///
/// The policy follows the reference simulator's adaptive mode; `clockpro_ref`
/// is the better of that mode and its fixed 5% cold allocation. Of these 17:
/// - 16 are points where the fixed mode beats the adaptive one, and ours
///   equals the adaptive one (2_pools@4000, backf@100/250,
///   cpp@300/400/500/800, gli@1250, multi2@2000, multi3@2500/4000,
///   sprite@200/300/400, zigzag@250/500); backf@100 is 0.12 against the
///   adaptive mode's 0.24, by the difference below;
/// - cs@100 trails by 0.11 because the simulator's cold hand can land on a
///   non-resident page and count it freed a second time; ours skips those.
///
/// Two recorded figures went down when a read's repeat check moved from
/// "the shard's last insert" to "this thread's last access" (which matches
/// the simulator's skipping of repeated requests): multi2@2000 from 70.09 to
/// 69.90 and multi3@4000 from 72.37 to 72.36, both now the adaptive mode's
/// figure exactly, while eight other points rose to the reference.
const KNOWN_SHORTFALLS: &[(&str, u64, f64)] = &[
    ("2_pools", 4000, 68.51), // reference 68.53
    ("backf", 100, 0.12),     // reference 0.61
    ("backf", 250, 0.24),     // reference 1.47
    ("cpp", 300, 85.08),      // reference 85.16
    ("cpp", 400, 85.65),      // reference 85.76
    ("cpp", 500, 85.91),      // reference 85.97
    ("cpp", 800, 86.38),      // reference 86.39
    ("cs", 100, 6.56),        // reference 6.67
    ("gli", 1250, 51.85),     // reference 52.40
    ("multi2", 2000, 69.90),  // reference 70.20
    ("multi3", 2500, 64.58),  // reference 64.73
    ("multi3", 4000, 72.36),  // reference 72.94
    ("sprite", 200, 46.23),   // reference 46.32
    ("sprite", 300, 59.72),   // reference 59.92
    ("sprite", 400, 69.97),   // reference 70.28
    ("zigzag", 250, 0.05),    // reference 0.53
    ("zigzag", 500, 0.19),    // reference 1.15
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

/// Hashes a trace key (all are below 2^32) to a 32-bit value by a
/// bijection, so no two keys share the 32 bits of hash the policy keeps.
/// With a randomly seeded hasher, which keys collide (among the ~260,000 of
/// the largest trace, a few pairs do) changes from run to run, and with it
/// a ghost's fate: points moved by ±0.01 between runs of the same code. The
/// reference simulator tells pages apart by key, never by hash.
#[derive(Clone, Copy, Default)]
struct Exact;

struct ExactHasher(u64);

impl std::hash::BuildHasher for Exact {
    type Hasher = ExactHasher;
    fn build_hasher(&self) -> ExactHasher {
        ExactHasher(0)
    }
}

impl std::hash::Hasher for ExactHasher {
    fn write(&mut self, _: &[u8]) {
        unreachable!("trace keys are u64")
    }
    fn write_u64(&mut self, key: u64) {
        let k = u32::try_from(key).expect("trace keys are below 2^32");
        // Odd multiplications and xor-shifts are bijections on u32.
        let mut x = k.wrapping_mul(0x9E37_79B1);
        x ^= x >> 15;
        x = x.wrapping_mul(0x85EB_CA77);
        x ^= x >> 13;
        self.0 = u64::from(x);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Replays `trace` through a one-shard cache: get, and insert on a miss.
fn hit_ratio(trace: &[u64], capacity: u64) -> f64 {
    let cache: Cache<u64, (), Exact> = Cache::builder()
        .max_capacity(capacity)
        .shards(1)
        .stats(false)
        .hasher(Exact)
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
