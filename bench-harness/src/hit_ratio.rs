//! The hit-ratio page (`docs/hit-ratio.md`): every trace of the shared
//! traces at the capacities their README and `anchors.csv` list, get then
//! insert on a miss, clockwise with its default sharding beside its peers,
//! LRU, ARC and Belady's MIN, and how clockwise stands against the
//! eviction issue's targets.

use crate::{adapters, trace, Error};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// The production traces and the capacities the traces' README gives.
pub const PRODUCTION: [(&str, &[u64]); 3] = [
    ("orm-busy", &[250, 500, 1000, 2000, 4000, 8000]),
    ("w106", &[250, 500, 1000, 2000, 4000, 8000]),
    ("scarab-recs", &[1000, 2500, 5000, 10000, 25000, 50000]),
];

/// The synthetic traces (the others are real workloads).
pub const SYNTHETIC: [&str; 5] = ["2_pools", "loop", "scan", "zigzag", "backf"];

/// The cache engines replayed at each point, in the page's column order.
pub const ENGINES: [&str; 4] = ["clockwise", "quick_cache", "moka", "lru"];

/// Hit ratios at one trace and capacity, in percent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The trace's name (its file stem).
    pub trace: String,
    /// Capacity in entries.
    pub capacity: u64,
    /// [`ENGINES`]' hit ratios, in that order.
    pub engines: Vec<f64>,
    /// ARC ([`trace::arc_hit_ratio`]).
    pub arc: f64,
    /// Belady's MIN ([`trace::opt_hit_ratio`]).
    pub opt: f64,
}

impl Point {
    fn engine(&self, name: &str) -> f64 {
        let i = ENGINES.iter().position(|e| *e == name).expect("an engine");
        self.engines[i]
    }

    /// The better of quick_cache and moka.
    pub fn best_peer(&self) -> f64 {
        self.engine("quick_cache").max(self.engine("moka"))
    }

    /// Whether the trace is synthetic.
    pub fn synthetic(&self) -> bool {
        SYNTHETIC.contains(&self.trace.as_str())
    }

    /// The eviction issue's bar at this point: real traces, the better
    /// peer less 0.1 and LRU less 1; synthetic ones, the best of the
    /// peers and ARC less 1.
    pub fn bar(&self) -> f64 {
        if self.synthetic() {
            self.best_peer().max(self.arc) - 1.0
        } else {
            (self.best_peer() - 0.1).max(self.engine("lru") - 1.0)
        }
    }

    /// Whether clockwise meets [`bar`](Self::bar) (to the hundredth shown).
    pub fn meets_bar(&self) -> bool {
        round2(self.engine("clockwise")) >= round2(self.bar())
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Every point: the traces of `anchors.csv` at its capacities, then the
/// production traces. A trace file that is missing is an error naming it.
pub fn points_to_measure(dir: &Path) -> Result<Vec<(String, u64)>, Error> {
    let path = dir.join("anchors.csv");
    let anchors = std::fs::read_to_string(&path).map_err(|e| Error::Trace {
        file: path.display().to_string(),
        line: 0,
        message: e.to_string(),
    })?;
    let mut points = Vec::new();
    for (n, line) in anchors.lines().enumerate().skip(1) {
        let mut cols = line.split(',');
        let (Some(name), Some(capacity)) = (cols.next(), cols.next()) else {
            continue;
        };
        let capacity = capacity.trim().parse().map_err(|_| Error::Trace {
            file: path.display().to_string(),
            line: n + 1,
            message: format!("capacity {capacity:?} is not a number"),
        })?;
        points.push((name.to_owned(), capacity));
    }
    for (name, capacities) in PRODUCTION {
        points.extend(capacities.iter().map(|&c| (name.to_owned(), c)));
    }
    Ok(points)
}

/// Every point ([`points_to_measure`]) and the keys of each trace they
/// name, read once.
type Traces = std::collections::BTreeMap<String, Vec<u64>>;
fn points_and_traces(dir: &Path) -> Result<(Vec<(String, u64)>, Traces), Error> {
    let points = points_to_measure(dir)?;
    let mut traces = Traces::new();
    for (name, _) in &points {
        if !traces.contains_key(name) {
            let (keys, _) = trace::read(&dir.join(format!("{name}.trc")), trace::Format::Keys)?;
            traces.insert(name.clone(), keys);
        }
    }
    Ok((points, traces))
}

/// Replays every point (in parallel across points; each replay is one
/// thread against one cache, its hash seeds fixed).
pub fn measure(dir: &Path) -> Result<Vec<Point>, Error> {
    let (points, traces) = points_and_traces(dir)?;
    points
        .par_iter()
        .map(|(name, capacity)| {
            let keys = &traces[name];
            let mut engines = Vec::with_capacity(ENGINES.len());
            for engine in ENGINES {
                let cache = adapters::build_seeded(engine, *capacity)?;
                engines.push(100.0 * trace::replay(cache.as_ref(), keys));
            }
            Ok(Point {
                trace: name.clone(),
                capacity: *capacity,
                engines,
                arc: 100.0 * trace::arc_hit_ratio(keys, *capacity as usize),
                opt: 100.0 * trace::opt_hit_ratio(keys, *capacity as usize),
            })
        })
        .collect()
}

/// The peers' figures `engine/tests/hit_ratio.rs` holds clockwise to: at
/// every point, quick_cache on one shard, moka and lru (which have none),
/// and ARC, in percent. One shard, so that the figures are the same on any
/// machine; the test replays clockwise on one shard too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerPoint {
    /// The trace's name (its file stem).
    pub trace: String,
    /// Capacity in entries.
    pub capacity: u64,
    /// quick_cache, one shard.
    pub quick_cache: f64,
    /// moka.
    pub moka: f64,
    /// lru.
    pub lru: f64,
    /// ARC ([`trace::arc_hit_ratio`]).
    pub arc: f64,
}

/// Replays every point for [`PeerPoint`]s (in parallel across points).
pub fn measure_peers(dir: &Path) -> Result<Vec<PeerPoint>, Error> {
    let (points, traces) = points_and_traces(dir)?;
    points
        .par_iter()
        .map(|(name, capacity)| {
            let keys = &traces[name];
            let replay = |engine| -> Result<f64, Error> {
                let cache = adapters::build_seeded_one_shard(engine, *capacity)?;
                Ok(100.0 * trace::replay(cache.as_ref(), keys))
            };
            Ok(PeerPoint {
                trace: name.clone(),
                capacity: *capacity,
                quick_cache: replay("quick_cache")?,
                moka: replay("moka")?,
                lru: replay("lru")?,
                arc: 100.0 * trace::arc_hit_ratio(keys, *capacity as usize),
            })
        })
        .collect()
}

/// The peers' figures as the CSV `engine/tests/hit_ratio.rs` reads: a
/// comment naming `command`, a header, one row per point.
pub fn render_peers(points: &[PeerPoint], command: &str) -> String {
    let mut out = format!(
        "# Written by `{command}`: hit ratios in percent, get then insert on a miss, \
         quick_cache on one shard with a fixed hash seed, moka, lru, ARC.\n\
         trace,capacity,quick_cache,moka,lru,arc\n"
    );
    for p in points {
        let _ = writeln!(
            out,
            "{},{},{:.4},{:.4},{:.4},{:.4}",
            p.trace, p.capacity, p.quick_cache, p.moka, p.lru, p.arc
        );
    }
    out
}

/// The page: `command` (its first line names it), the machine, how
/// clockwise stands against the targets, and one table per trace.
pub fn render(points: &[Point], command: &str, machine: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Hit ratio on the shared traces: `{command}`\n");
    let _ = writeln!(
        out,
        "Percent of requests that hit, each trace replayed from one thread, get \
         then insert on a miss, at the capacities `../shared/traces/anchors.csv` \
         lists (the production traces: those of their README), on {machine}. \
         clockwise runs with its default sharding (shards from the hardware \
         threads, fewer for small caches), quick_cache, moka and lru with their \
         defaults, all but lru with fixed hash seeds, so that a rerun on the \
         same machine gives the same figures. `arc` \
         is ARC (reproducing the anchors' `arc` column), `opt` Belady's MIN. \
         The bar is the eviction issue's: on real traces the better of \
         quick_cache and moka less 0.1 and LRU less 1, on synthetic ones the \
         best of quick_cache, moka and ARC less 1.\n"
    );
    let real: Vec<&Point> = points.iter().filter(|p| !p.synthetic()).collect();
    let synthetic: Vec<&Point> = points.iter().filter(|p| p.synthetic()).collect();
    let meets = |ps: &[&Point]| ps.iter().filter(|p| p.meets_bar()).count();
    let mean = |ps: &[&Point], f: &dyn Fn(&Point) -> f64| {
        ps.iter().map(|p| f(p)).sum::<f64>() / ps.len().max(1) as f64
    };
    let all: Vec<&Point> = points.iter().collect();
    out.push_str("| | points | clockwise at the bar | mean clockwise | mean quick_cache | mean moka | mean lru | mean arc |\n");
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|\n");
    for (label, ps) in [
        ("real traces", &real),
        ("synthetic traces", &synthetic),
        ("all", &all),
    ] {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            ps.len(),
            meets(ps),
            mean(ps, &|p| p.engine("clockwise")),
            mean(ps, &|p| p.engine("quick_cache")),
            mean(ps, &|p| p.engine("moka")),
            mean(ps, &|p| p.engine("lru")),
            mean(ps, &|p| p.arc),
        );
    }
    out.push('\n');
    let mut names: Vec<&str> = Vec::new();
    for p in points {
        if !names.contains(&p.trace.as_str()) {
            names.push(&p.trace);
        }
    }
    for name in names {
        let _ = writeln!(out, "## {name}\n");
        out.push_str("| capacity |");
        for e in ENGINES {
            let _ = write!(out, " {e} |");
        }
        out.push_str(" arc | opt | bar | clockwise − bar |\n|--:|");
        out.push_str(&"--:|".repeat(ENGINES.len() + 4));
        out.push('\n');
        for p in points.iter().filter(|p| p.trace == name) {
            let _ = write!(out, "| {} |", p.capacity);
            for v in &p.engines {
                let _ = write!(out, " {v:.2} |");
            }
            let gap = round2(p.engine("clockwise")) - round2(p.bar());
            let _ = writeln!(
                out,
                " {:.2} | {:.2} | {:.2} | {}{:.2} |",
                p.arc,
                p.opt,
                p.bar(),
                if gap >= 0.0 { "+" } else { "−" },
                gap.abs()
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(trace: &str, engines: [f64; 4], arc: f64) -> Point {
        Point {
            trace: trace.into(),
            capacity: 100,
            engines: engines.to_vec(),
            arc,
            opt: 90.0,
        }
    }

    #[test]
    fn the_bar_is_the_better_peer_on_real_traces_and_arc_counts_on_synthetic_ones() {
        // Real: better peer 50 less 0.1, above LRU 40 less 1.
        let p = point("w106", [49.9, 50.0, 45.0, 40.0], 80.0);
        assert!((p.bar() - 49.9).abs() < 1e-9);
        assert!(p.meets_bar());
        let p = point("w106", [49.89, 50.0, 45.0, 40.0], 80.0);
        assert!(!p.meets_bar());
        // Real, LRU far ahead: LRU less 1 is the bar.
        let p = point("orm-busy", [60.0, 50.0, 45.0, 62.0], 0.0);
        assert!((p.bar() - 61.0).abs() < 1e-9);
        assert!(!p.meets_bar());
        // Synthetic: ARC counts, less 1.
        let p = point("backf", [0.24, 10.0, 12.0, 30.0], 27.8);
        assert!((p.bar() - 26.8).abs() < 1e-9);
        assert!(!p.meets_bar());
    }

    #[test]
    fn the_peers_file_names_its_command_and_holds_one_row_a_point_in_column_order() {
        let points = vec![PeerPoint {
            trace: "w106".into(),
            capacity: 250,
            quick_cache: 63.93126,
            moka: 66.3,
            lru: 69.8,
            arc: 68.31,
        }];
        let csv = render_peers(&points, "cmd");
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].starts_with("# Written by `cmd`"), "{csv}");
        assert_eq!(lines[1], "trace,capacity,quick_cache,moka,lru,arc");
        assert_eq!(lines[2], "w106,250,63.9313,66.3000,69.8000,68.3100");
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn one_shard_peers_replay_like_their_default_builds_on_a_tiny_trace() {
        // A 3-entry cache over a cycle of 3 keys: after the first lap every
        // request hits, whatever the shard count.
        let keys: Vec<u64> = (0..30).map(|i| i % 3).collect();
        for engine in ["clockwise", "quick_cache", "moka", "lru"] {
            let cache = adapters::build_seeded_one_shard(engine, 3).unwrap();
            let ratio = trace::replay(cache.as_ref(), &keys);
            assert!((ratio - 0.9).abs() < 1e-9, "{engine}: {ratio}");
        }
    }

    #[test]
    fn the_page_names_its_command_first_and_counts_points_at_the_bar() {
        let points = vec![
            point("w106", [50.0, 50.0, 45.0, 40.0], 80.0),
            point("w106", [40.0, 50.0, 45.0, 40.0], 80.0),
            point("loop", [90.0, 50.0, 45.0, 40.0], 80.0),
        ];
        let page = render(&points, "cmd", "a machine");
        assert!(page.starts_with("# Hit ratio on the shared traces: `cmd`\n"));
        assert!(
            page.contains("| real traces | 2 | 1 | 45.00 | 50.00 |"),
            "{page}"
        );
        assert!(
            page.contains("| synthetic traces | 1 | 1 | 90.00 |"),
            "{page}"
        );
        assert!(page.contains("## w106\n"));
        assert!(
            page.contains(
                "| 100 | 40.00 | 50.00 | 45.00 | 40.00 | 80.00 | 90.00 | 49.90 | −9.90 |"
            ),
            "{page}"
        );
    }
}
