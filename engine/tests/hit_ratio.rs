//! Hit ratio on the cache traces of `../shared/traces` (see that folder's
//! README), clockwise on one shard, get then insert on a miss.
//!
//! Two checks:
//! - `hit_ratio_meets_the_anchors`: the policy with its cold floor fixed
//!   and no admission window (`adapt_cold_floor(false)`,
//!   `admission_window(false)`: the CLOCK-Pro authors' simulator's rules)
//!   at the points of `anchors.csv`, never
//!   below LRU by more than 1 point, except on the traces the README marks
//!   LRU-friendly (sprite, scan, zigzag, backf); at least the authors'
//!   reference CLOCK-Pro (`clockpro_ref`), except at the points listed in
//!   `KNOWN_SHORTFALLS`, each of which must not fall below the figure
//!   recorded there (a ratchet: improve, never regress).
//! - `hit_ratio_meets_the_peers`: the default cache (its cold floor
//!   adapting, its admission window on) at every point of every trace, the
//!   eviction issue's bar against the peers' figures stored in
//!   `hit_ratio_peers.csv` (quick_cache on one shard, moka, lru, ARC:
//!   written by `cargo run --release -p clockwise-bench -- hit-ratio`), so
//!   that the check holds on any machine. On real traces the bar is the
//!   better of quick_cache and moka less 0.1 and LRU less 1; on synthetic
//!   ones the best of quick_cache, moka and ARC less 1. The points still
//!   below it are listed in `BELOW_THE_BAR`, a ratchet as above; a listed
//!   point that reaches its bar fails too, until it is taken off the list.
//!
//! Without the traces both checks skip, with a message; with `CI` set they
//! fail instead, so a CI run cannot pass without having checked.

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

/// The shared traces, or `None` (with a message) when they are absent;
/// absent with `CI` set is a failure.
fn traces_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces");
    if dir.join("anchors.csv").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set and {} holds no anchors.csv: the hit-ratio checks need the shared traces",
        dir.display()
    );
    eprintln!(
        "SKIPPED: ../shared/traces/anchors.csv not found; hit-ratio checks need the shared traces"
    );
    None
}

/// `anchors.csv`, read once for both checks.
fn anchors_csv(dir: &Path) -> &'static str {
    static CSV: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSV.get_or_init(|| std::fs::read_to_string(dir.join("anchors.csv")).unwrap())
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

/// Replays `trace` through a one-shard cache, the default one or
/// (`defaults` false) one that follows the simulator's rules: get, and
/// insert on a miss. The default one keeps its metrics, on whose hit
/// ratio its admission window climbs.
fn hit_ratio(trace: &[u64], capacity: u64, defaults: bool) -> f64 {
    let cache: Cache<u64, (), Exact> = Cache::builder()
        .max_capacity(capacity)
        .shards(1)
        .adapt_cold_floor(defaults)
        .admission_window(defaults)
        .stats(defaults)
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
    let dir = traces_dir()?;
    let ours = ours(&dir);
    let csv = anchors_csv(&dir);
    let mut header = csv.lines().next().unwrap().split(',');
    let col = |name: &str| header.clone().position(|c| c == name).unwrap();
    let (lru, reference) = (col("lru"), col("clockpro_ref"));
    header.next();
    let rows = csv
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let capacity = f[1].parse().unwrap();
            Row {
                trace: f[0].to_owned(),
                capacity,
                lru: f[lru].parse().unwrap(),
                reference: f[reference].parse().unwrap(),
                ours: ours[&(f[0].to_owned(), capacity, false)],
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

/// The traces the README calls synthetic; the others are real workloads.
const SYNTHETIC: [&str; 5] = ["2_pools", "loop", "scan", "zigzag", "backf"];

/// `(trace, capacity, our hit ratio when recorded)` for the points still
/// below the peers' bar (`hit_ratio_meets_the_peers`). Empty this list as the
/// policy improves; `docs/design/clock-pro.md` says what was measured: "The
/// cold floor's simulations as built" where the simulations' choice costs,
/// "The admission window as built" which points the window lowered on
/// one shard while it raised the means, and "Climbing the window" which
/// ones its climb lowered.
const BELOW_THE_BAR: &[(&str, u64, f64)] = &[
    ("backf", 700, 84.47),     // bar 84.49
    ("cpp", 50, 55.97),        // bar 58.48
    ("cpp", 100, 77.03),       // bar 78.05
    ("cpp", 200, 83.98),       // bar 84.30
    ("cpp", 300, 84.66),       // bar 84.94
    ("cs", 700, 41.48),        // bar 42.15
    ("gli", 1250, 52.40),      // bar 52.52
    ("gli", 1750, 55.05),      // bar 57.84
    ("loop", 750, 72.44),      // bar 73.01
    ("loop", 1000, 97.05),     // bar 97.69
    ("multi1", 1000, 67.76),   // bar 68.24
    ("multi2", 500, 46.33),    // bar 50.23
    ("multi2", 1000, 57.04),   // bar 58.26
    ("multi2", 1500, 62.86),   // bar 64.42
    ("multi2", 2000, 70.08),   // bar 70.25
    ("multi2", 2500, 75.08),   // bar 75.19
    ("multi2", 3000, 77.76),   // bar 77.86
    ("multi3", 500, 38.90),    // bar 44.35
    ("multi3", 1000, 51.37),   // bar 51.46
    ("multi3", 2000, 61.29),   // bar 61.30
    ("multi3", 2500, 64.56),   // bar 65.08
    ("ps", 100, 18.34),        // bar 28.54
    ("ps", 500, 56.66),        // bar 57.21
    ("scan", 1500, 68.65),     // bar 70.42
    ("sprite", 100, 28.82),    // bar 34.69
    ("sprite", 200, 47.68),    // bar 51.30
    ("sprite", 300, 60.16),    // bar 61.83
    ("sprite", 500, 76.79),    // bar 77.30
    ("sprite", 600, 81.52),    // bar 82.19
    ("sprite", 800, 85.67),    // bar 87.55
    ("sprite", 1000, 87.76),   // bar 89.64
    ("orm-busy", 4000, 85.64), // bar 85.67
    ("w106", 250, 67.21),      // bar 68.80
];

/// The stored peer figures at one point, in percent.
struct Peers {
    trace: String,
    capacity: u64,
    quick_cache: f64,
    moka: f64,
    lru: f64,
    arc: f64,
}

impl Peers {
    /// The eviction issue's bar (as `clockwise-bench`'s page computes it).
    fn bar(&self) -> f64 {
        let best_peer = self.quick_cache.max(self.moka);
        if SYNTHETIC.contains(&self.trace.as_str()) {
            best_peer.max(self.arc) - 1.0
        } else {
            (best_peer - 0.1).max(self.lru - 1.0)
        }
    }
}

fn stored_peers() -> Vec<Peers> {
    include_str!("hit_ratio_peers.csv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| -> f64 { f[i].parse().expect("a figure") };
            Peers {
                trace: f[0].to_owned(),
                capacity: f[1].parse().expect("a capacity"),
                quick_cache: num(2),
                moka: num(3),
                lru: num(4),
                arc: num(5),
            }
        })
        .collect()
}

/// A point of a check: trace, capacity, and whether the cache has its
/// defaults (else the simulator's rules).
type Point = (String, u64, bool);

/// clockwise's hit ratio at every point of both checks (the peers' with the
/// defaults, the anchors' with the simulator's rules), replayed once (the two tests
/// share it) on every hardware thread: the points are independent.
fn ours(dir: &Path) -> &'static HashMap<Point, f64> {
    static OURS: std::sync::OnceLock<HashMap<Point, f64>> = std::sync::OnceLock::new();
    OURS.get_or_init(|| {
        let mut points: Vec<Point> = stored_peers()
            .into_iter()
            .map(|p| (p.trace, p.capacity, true))
            .collect();
        let anchors = anchors_csv(dir);
        for line in anchors.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            points.push((f[0].to_owned(), f[1].parse().unwrap(), false));
        }
        let mut traces: HashMap<&str, Vec<u64>> = HashMap::new();
        for (trace, _, _) in &points {
            traces
                .entry(trace)
                .or_insert_with(|| read_trace(dir, trace));
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((trace, capacity, defaults)) = points.get(i) else {
                                break done;
                            };
                            let r = hit_ratio(&traces[trace.as_str()], *capacity, *defaults);
                            done.push(((trace.clone(), *capacity, *defaults), r));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("a replay panicked"))
                .collect()
        })
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[test]
fn hit_ratio_meets_the_peers() {
    let Some(dir) = traces_dir() else { return };
    let peers = stored_peers();
    assert!(!peers.is_empty(), "hit_ratio_peers.csv holds no points");
    let ours = ours(&dir);
    let mut failures = Vec::new();
    for p in &peers {
        let ours = ours[&(p.trace.clone(), p.capacity, true)];
        let bar = p.bar();
        println!(
            "{:12} {:>6}  clockwise {:6.2}  bar {:6.2}  quick_cache {:6.2}  moka {:6.2}  lru {:6.2}  arc {:6.2}",
            p.trace, p.capacity, ours, bar, p.quick_cache, p.moka, p.lru, p.arc
        );
        let meets = round2(ours) >= round2(bar);
        let listed = BELOW_THE_BAR
            .iter()
            .find(|(t, c, _)| *t == p.trace && *c == p.capacity);
        match listed {
            Some(&(_, _, recorded)) if ours + 0.005 < recorded => failures.push(format!(
                "{}@{}: {:.2} regressed below the recorded {:.2}",
                p.trace, p.capacity, ours, recorded
            )),
            Some(_) if meets => failures.push(format!(
                "{}@{}: {:.2} now meets the bar {:.2}: take it off BELOW_THE_BAR",
                p.trace, p.capacity, ours, bar
            )),
            Some(_) => {}
            None if !meets => failures.push(format!(
                "{}@{}: {:.2} below the bar {:.2}",
                p.trace, p.capacity, ours, bar
            )),
            None => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} points fail:\n{}",
        failures.len(),
        peers.len(),
        failures.join("\n")
    );
}
