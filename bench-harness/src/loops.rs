//! Single-threaded operation loops, and what each operation costs in
//! instructions and cache misses, counted by cachegrind.
//!
//! Each loop builds its cache, fills it, then runs `n` operations of one
//! kind in a function of its own. [`cachegrind`] runs the harness's own
//! binary under valgrind's cache simulator counting only inside that
//! function, so process start-up, the fill and the clock's calibration
//! stay out of the counts. The
//! simulated caches are fixed ([`D1`], [`LL`]) rather than the host's, so
//! figures compare across machines: "LL" is then a miss of a core's
//! private caches, the kind a lookup waits on.

use crate::{adapters, CacheAdapter, Error, Workload};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::path::Path;

/// The loops by name.
pub const LOOPS: [&str; 5] = ["get", "miss", "insert", "mixed", "read-through"];

/// The simulated first-level data cache: 32 KiB, 8-way, 64-byte lines.
pub const D1: &str = "32768,8,64";
/// The simulated last level: 2 MiB, 16-way, 64-byte lines.
pub const LL: &str = "2097152,16,64";

/// Keys resident in the `get` and `miss` loops.
const RESIDENT: u64 = 100_000;

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Runs loop `name` on `engine` for `n` operations; returns what it found
/// (so that nothing is optimized away), or an error for an unknown name.
/// `small` divides every size by 100 (for tests of the plumbing).
///
/// - `get`: 100k resident keys read in a scrambled order (all hits).
/// - `miss`: the same cache, read with keys it never held.
/// - `insert`: uniform keys over ten times a 10k capacity: nearly every
///   insert evicts.
/// - `mixed`: 90 % gets, 10 % inserts, Zipf 0.99 over 1M keys into 100k.
/// - `read-through`: Zipf 0.99 over 1M keys into 100k, each miss inserted.
///
/// ```
/// let found = clockwise_bench::loops::run_loop("get", "clockwise", 1_000, false).unwrap();
/// assert_eq!(found, 1_000);
/// ```
pub fn run_loop(name: &str, engine: &str, n: u64, small: bool) -> Result<u64, Error> {
    let div = if small { 100 } else { 1 };
    let build = |capacity: u64| adapters::build_seeded(engine, capacity / div);
    let resident = RESIDENT / div;
    Ok(match name {
        "get" | "miss" => {
            let cache = build(2 * RESIDENT)?;
            for k in 0..resident {
                cache.insert(k, k);
            }
            // Absent keys: above every resident one.
            let offset = if name == "miss" { 1 << 40 } else { 0 };
            let hits = measured_gets(cache.as_ref(), n, offset, resident);
            if name == "miss" {
                n - hits
            } else {
                hits
            }
        }
        "insert" => {
            let cache = build(10_000)?;
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            let keys = 100_000 / div;
            for _ in 0..200_000 / div {
                let k = xorshift(&mut x);
                cache.insert(k % keys, k);
            }
            measured_inserts(cache.as_ref(), n, x, keys)
        }
        "mixed" | "read-through" => {
            let cache = build(100_000)?;
            let stream = Workload::Zipf(0.99).stream((1 << 20) / div, 1 << 20, 0x5EED);
            let fill = 200_000 / div as usize;
            for &k in &stream[..fill] {
                cache.insert(k, k);
            }
            // Measured from where the fill stopped: the fill's own keys
            // would all hit.
            measured_mix(cache.as_ref(), n, &stream, fill, name == "read-through")
        }
        other => {
            return Err(Error::Config(format!(
                "unknown loop {other:?} (known: {})",
                LOOPS.join(", ")
            )))
        }
    })
}

// The measured parts, apart and never inlined: `cachegrind` counts only
// what runs inside functions named `measured_*`, so the fill, the stream's
// generation and the clock's start-up calibration (whose length varies from
// run to run) stay out of the counts.

/// `n` gets of scrambled keys `offset + 0..resident`; returns the hits.
#[inline(never)]
fn measured_gets(cache: &dyn CacheAdapter, n: u64, offset: u64, resident: u64) -> u64 {
    let mut hits = 0;
    for i in 0..n {
        let k = offset + i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % resident;
        hits += u64::from(black_box(cache.get(black_box(k))).is_some());
    }
    hits
}

/// `n` inserts of xorshift keys below `keys`, continuing from state `x`.
#[inline(never)]
fn measured_inserts(cache: &dyn CacheAdapter, n: u64, mut x: u64, keys: u64) -> u64 {
    for _ in 0..n {
        let k = xorshift(&mut x);
        cache.insert(black_box(k % keys), k);
    }
    n
}

/// `n` operations over `stream` from `start` on: one insert in ten
/// (`read_through` false) or an insert after each miss; returns the hits.
#[inline(never)]
fn measured_mix(
    cache: &dyn CacheAdapter,
    n: u64,
    stream: &[u64],
    start: usize,
    read_through: bool,
) -> u64 {
    let mut hits = 0;
    for i in 0..n as usize {
        let k = stream[(start + i) % stream.len()];
        if !read_through && i % 10 == 9 {
            cache.insert(k, k);
        } else if black_box(cache.get(k)).is_some() {
            hits += 1;
        } else if read_through {
            cache.insert(k, k);
        }
    }
    hits
}

/// What one operation of a loop costs, by cachegrind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopCost {
    /// The loop.
    pub name: String,
    /// The engine.
    pub engine: String,
    /// Operations counted.
    pub ops: u64,
    /// Instructions per operation.
    pub instructions: f64,
    /// First-level data cache misses (reads and writes) per operation.
    pub d1_misses: f64,
    /// Last-level data misses (reads and writes) per operation.
    pub ll_misses: f64,
}

/// Totals of one cachegrind run, by event name.
fn totals(file: &Path) -> Result<Vec<(String, u64)>, Error> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::Io {
        file: file.display().to_string(),
        message: e.to_string(),
    })?;
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::split_whitespace)
    };
    let bad = |what: &str| Error::Io {
        file: file.display().to_string(),
        message: format!("no {what} line: not a cachegrind output file"),
    };
    let events = field("events:").ok_or_else(|| bad("events"))?;
    let summary = field("summary:")
        .or_else(|| field("totals:"))
        .ok_or_else(|| bad("summary"))?;
    events
        .zip(summary)
        .map(|(e, v)| {
            v.parse()
                .map(|v| (e.to_owned(), v))
                .map_err(|_| bad("numeric summary"))
        })
        .collect()
}

fn event(totals: &[(String, u64)], names: &[&str]) -> u64 {
    names
        .iter()
        .map(|n| totals.iter().find(|(e, _)| e == n).map_or(0, |(_, v)| *v))
        .sum()
}

/// Runs `exe loop NAME N --engine ENGINE` under valgrind's cache
/// simulator, counting only inside the loop's `measured_*` function, and
/// returns the cost of one operation.
///
/// Callgrind rather than cachegrind: it can count one function alone
/// (`--toggle-collect`), and its cache simulation is cachegrind's.
pub fn cachegrind(
    exe: &Path,
    name: &str,
    engine: &str,
    n: u64,
    small: bool,
) -> Result<LoopCost, Error> {
    let out = std::env::temp_dir().join(format!(
        "clockwise-cachegrind-{}-{name}-{engine}",
        std::process::id()
    ));
    let status = std::process::Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--cache-sim=yes")
        .arg(format!("--D1={D1}"))
        .arg(format!("--LL={LL}"))
        .arg("--toggle-collect=*measured_*")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args(["loop", name, &n.to_string(), "--engine", engine])
        .args(small.then_some("--small"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| Error::Io {
            file: "valgrind".into(),
            message: format!("{e} (is valgrind installed?)"),
        })?;
    if !status.success() {
        return Err(Error::Config(format!(
            "valgrind on loop {name} ({engine}, {n}) failed: {status}"
        )));
    }
    let t = totals(&out);
    let _ = std::fs::remove_file(&out);
    let t = t?;
    let per = |names: &[&str]| event(&t, names) as f64 / n as f64;
    Ok(LoopCost {
        name: name.into(),
        engine: engine.into(),
        ops: n,
        instructions: per(&["Ir"]),
        d1_misses: per(&["D1mr", "D1mw"]),
        ll_misses: per(&["DLmr", "DLmw"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_loop_runs_on_every_engine_and_finds_what_it_should() {
        for engine in adapters::NAMES {
            assert_eq!(
                run_loop("get", engine, 1_000, true).unwrap(),
                1_000,
                "{engine}"
            );
            assert_eq!(
                run_loop("miss", engine, 1_000, true).unwrap(),
                1_000,
                "{engine}"
            );
            assert_eq!(
                run_loop("insert", engine, 1_000, true).unwrap(),
                1_000,
                "{engine}"
            );
            // Zipf 0.99 into a tenth of the keys: most gets hit, not all.
            for name in ["mixed", "read-through"] {
                let hits = run_loop(name, engine, 10_000, true).unwrap();
                assert!(hits > 3_000 && hits < 10_000, "{name} {engine}: {hits}");
            }
        }
        assert!(run_loop("nope", "clockwise", 1, false).is_err());
        assert!(run_loop("get", "nope", 1, false).is_err());
    }

    #[test]
    fn cachegrind_totals_are_read_by_event_name() {
        let file = std::env::temp_dir().join(format!("cg-parse-{}", std::process::id()));
        std::fs::write(
            &file,
            "desc: x\ncmd: y\nevents: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw\n\
             fl=a\n1 2 3\nsummary: 100 1 1 40 7 3 20 5 2\n",
        )
        .unwrap();
        let t = totals(&file).unwrap();
        assert_eq!(event(&t, &["Ir"]), 100);
        assert_eq!(event(&t, &["D1mr", "D1mw"]), 12);
        assert_eq!(event(&t, &["DLmr", "DLmw"]), 5);
        std::fs::write(&file, "events: Ir\n").unwrap();
        assert!(totals(&file).is_err());
        let _ = std::fs::remove_file(&file);
    }
}
