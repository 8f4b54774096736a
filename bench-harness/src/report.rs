//! `clockwise-bench report`: the figures of `BENCHMARKS.md` and of the
//! README's table, from the harness's own JSON.
//!
//! [`sections`] names each measurement as the command line that makes it;
//! the binary runs each one as a child process with `--json` and keeps the
//! output, and [`render`] turns the kept JSON into Markdown. Nothing in the
//! file is typed by hand, so a re-run replaces every table, and each table
//! shows the command that reproduces it.

use crate::herd::HerdReport;
use crate::loops::LoopCost;
use crate::overhead::OverheadReport;
use crate::versus::VersusReport;
use crate::{Error, Report};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// The command that regenerates `BENCHMARKS.md`, as its first line names it.
pub const COMMAND: &str = "cargo run --release -p clockwise-bench -- report";

/// Where the README's copy of the main table starts; the report replaces
/// what lies between this line and [`README_END`].
pub const README_START: &str = "<!-- clockwise-bench report: start -->";
/// Where the README's copy of the main table ends.
pub const README_END: &str = "<!-- clockwise-bench report: end -->";

/// What a section's JSON holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `run`: a list of [`Report`]s.
    Run,
    /// `versus`: a list of [`VersusReport`]s.
    Versus,
    /// `overhead`: a list of [`OverheadReport`]s.
    Overhead,
    /// `herd`: a list of [`HerdReport`]s.
    Herd,
    /// `replay`: a list of [`ReplayRow`]s.
    Replay,
    /// `cachegrind`: a list of [`LoopCost`]s.
    Cachegrind,
    /// clockwise-redis's `coherence` example: a [`CoherenceReport`].
    Coherence,
    /// The API-key service's bench: a list of [`ServiceRow`]s.
    HttpLoad,
    /// The engine's `memory` example: a [`MemoryReport`].
    Memory,
}

/// One measurement: a heading, what it shows, and the arguments that make it.
#[derive(Clone, Debug)]
pub struct Section {
    /// File stem of its kept JSON, unique within a report.
    pub id: String,
    /// Heading in `BENCHMARKS.md`.
    pub title: String,
    /// One paragraph: what is measured and how to read it.
    pub about: String,
    /// Arguments after `clockwise-bench` (without `--json`).
    pub args: Vec<String>,
    /// How to read its JSON.
    pub kind: Kind,
    /// A trace the section needs; when it is missing the section says so
    /// instead of running.
    pub needs: Option<std::path::PathBuf>,
    /// A program the section runs (valgrind); when it is missing the
    /// section says so instead of running.
    pub needs_program: Option<&'static str>,
    /// Run as this cargo command (`--json` is passed after `--`) instead
    /// of as a `clockwise-bench` subcommand: another package's example or
    /// bench, so the harness links no client of a service the main job
    /// does not need.
    pub cargo: Option<&'static [&'static str]>,
}

impl Section {
    /// The command line that reproduces this section, as shown to readers.
    pub fn command(&self) -> String {
        let mut line = match self.cargo {
            Some(args) => format!("cargo {}", args.join(" ")),
            None => String::from("cargo run --release -p clockwise-bench --"),
        };
        if self.cargo.is_some() && !self.args.is_empty() {
            line.push_str(" --");
        }
        for a in &self.args {
            line.push(' ');
            line.push_str(a);
        }
        line
    }
}

/// One point of a trace replay (`replay --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayRow {
    /// Engine, or `opt` for Belady's MIN.
    pub engine: String,
    /// Capacity in entries (bytes for weighted replays).
    pub capacity: u64,
    /// Hits over requests.
    pub hit_ratio: f64,
}

/// The `coherence` example's JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoherenceReport {
    /// The invalidation delay by path.
    pub delays: Vec<DelayRow>,
    /// Bus invalidations one Redis delivered a second.
    pub bus_invalidations_per_sec: f64,
    /// What one Redis fans out, by subscriber count.
    #[serde(default)]
    pub fanout: Vec<FanoutRow>,
}

/// Pipelined one-key messages through one Redis to several subscribers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FanoutRow {
    /// Subscribed connections.
    pub subscribers: u64,
    /// Messages published a second.
    pub publications_per_sec: f64,
    /// Messages received a second, all subscribers together.
    pub deliveries_per_sec: f64,
}

/// One path's invalidation delays, in microseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DelayRow {
    /// Tracking or bus.
    pub path: String,
    /// Writes measured, one after another.
    pub writes: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
}

/// One mode of the API-key service under HTTP load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceRow {
    /// `clockwise cache` or `SQLite only`.
    pub mode: String,
    /// Answered requests a second.
    pub requests_per_sec: f64,
    /// Latency percentiles, in microseconds.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Requests that were not answered 200.
    pub failed: u64,
}

/// The engine's `memory` example's JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// Heap bytes of an empty clockwise cache of 1,000 with stats.
    pub empty_with_stats: u64,
    /// The same without stats.
    pub empty_without_stats: u64,
    /// Bytes per entry by engine and state.
    pub rows: Vec<MemoryRow>,
}

/// Heap bytes per entry of one engine in one state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryRow {
    /// The engine (and its configuration).
    pub engine: String,
    /// `filled` or `after churn`.
    pub state: String,
    /// All heap bytes over the entries.
    pub bytes_per_entry: f64,
    /// Less the 16 bytes of key and value.
    pub beyond_key_value: f64,
}

/// The production traces and the capacities their README gives for them.
const TRACES: [(&str, &str, &str); 3] = [
    (
        "orm-busy",
        "an ORM's object cache in a busy web application",
        "250,500,1000,2000,4000,8000",
    ),
    (
        "w106",
        "a CloudPhysics storage block trace",
        "250,500,1000,2000,4000,8000",
    ),
    (
        "scarab-recs",
        "product-recommendation lookups",
        "1000,2500,5000,10000,25000,50000",
    ),
];

fn args(list: &str) -> Vec<String> {
    list.split_whitespace().map(str::to_owned).collect()
}

/// The report's measurements. `quick` shrinks every one to a fraction of a
/// second (for tests of the report itself; its figures mean nothing).
pub fn sections(traces: &Path, quick: bool) -> Vec<Section> {
    let scale = |full: &str, short: &str| if quick { args(short) } else { args(full) };
    let mut out = vec![
        Section {
            id: "main".into(),
            title: "Gets and inserts, Zipf 0.99 (the main job)".into(),
            about: "The main job (`cargo run --release -p clockwise-bench` runs one round \
                    of it): Zipf 0.99 over \
                    1M keys into a cache of 100k, all-get, 90 % gets (the rest \
                    inserts) and read-through (every operation a get, every miss \
                    inserted, as a server that loads on a miss), on 1 and 2 threads. \
                    Five rounds, the engines in rotating order: each row is the \
                    median round, and its ratio the median of the per-round \
                    ratios. Latency is 1 in 64 operations, timed in a closed loop (not \
                    corrected for coordinated omission)."
                .into(),
            args: scale(
                "run --rounds 5 --duration 1s",
                "run --keys 20000 --capacity 2000 --duration 30ms --warmup 0 --threads 1 --engines clockwise,lru --rounds 2",
            ),
            kind: Kind::Run,
            needs: None,
            needs_program: None,
            cargo: None,
        },
        Section {
            id: "all-hit".into(),
            title: "Nearly all hits".into(),
            about: "100k keys in a cache of 200k: after their first touch every get \
                    hits, so this is the read path alone."
                .into(),
            args: scale(
                "run --keys 100000 --capacity 200000 --read-pct 100 --rounds 5 --duration 1s",
                "run --keys 2000 --capacity 4000 --read-pct 100 --duration 30ms --warmup 0 --threads 1 --engines clockwise,lru",
            ),
            kind: Kind::Run,
            needs: None,
            needs_program: None,
            cargo: None,
        },
        Section {
            id: "inserts".into(),
            title: "Inserts that evict".into(),
            about: "Only inserts, Zipf 0.99 over 1M keys into 100k: most insert an \
                    absent key and evict one. The write path alone."
                .into(),
            args: scale(
                "run --read-pct 0 --rounds 5 --duration 1s",
                "run --keys 20000 --capacity 2000 --read-pct 0 --duration 30ms --warmup 0 --threads 1 --engines clockwise,lru",
            ),
            kind: Kind::Run,
            needs: None,
            needs_program: None,
            cargo: None,
        },
        Section {
            id: "versus".into(),
            title: "All-hit gets, interleaved".into(),
            about: "The engines read the same 100k resident keys in alternating short \
                    blocks, the order rotating each round; the ratio is the median of \
                    the per-round ratios, steadier on a shared machine than separate \
                    runs."
                .into(),
            args: scale(
                "versus --rounds 100",
                "versus --rounds 2 --block-ms 2 --keys 2000",
            ),
            kind: Kind::Versus,
            needs: None,
            needs_program: None,
            cargo: None,
        },
        Section {
            id: "overhead".into(),
            title: "What the metrics cost".into(),
            about: "All-hit gets on three clockwise caches with the same seeds and keys: \
                    stats on, stats off, and a twin of the first, in rotating order. \
                    on/off is the cost of the metrics; A/A (twin ÷ stats on) is the \
                    bench's own bias, 1 on a perfect bench."
                .into(),
            args: scale(
                "overhead --rounds 100",
                "overhead --rounds 2 --block-ms 2 --keys 2000",
            ),
            kind: Kind::Overhead,
            needs: None,
            needs_program: None,
            cargo: None,
        },
        Section {
            id: "herd".into(),
            title: "Thundering herd".into(),
            about: "64 threads miss one cold key at once and load it with a 20 ms \
                    loader, 20 keys in turn; lru is guarded by a mutex and has no \
                    single flight."
                .into(),
            args: scale("herd", "herd --threads 4 --rounds 2 --load-ms 1"),
            kind: Kind::Herd,
            needs: None,
            needs_program: None,
            cargo: None,
        },
    ];
    for (name, what, capacities) in TRACES {
        let path = traces.join(format!("{name}.trc"));
        out.push(Section {
            id: format!("replay-{name}"),
            title: format!("Hit ratio: {name}"),
            about: format!(
                "The production trace `{name}` ({what}), replayed from one thread: get, \
                 and insert on a miss, with each engine's default sharding; `opt` is \
                 Belady's MIN, the bound for any policy."
            ),
            args: args(&format!(
                "replay --trace {} --capacities {capacities}",
                path.display()
            )),
            kind: Kind::Replay,
            needs: Some(path),
            needs_program: None,
            cargo: None,
        });
    }
    out.push(Section {
        id: "cachegrind".into(),
        title: "Instructions and cache misses per operation".into(),
        about: format!(
            "Single-threaded loops under valgrind's cache simulator (callgrind \
             `--cache-sim=yes`), counting only the measured operations, not the \
             cache's fill: `get` (100k resident keys), `miss` (the \
             same cache read with keys it never held), `insert` (uniform keys over ten \
             times a 10k capacity: nearly every insert evicts), `mixed` (90 % gets, \
             Zipf 0.99 over 1M keys into 100k) and `read-through` (the same stream, \
             each miss inserted), each engine built as `run` builds it but with fixed hash \
             seeds (clockwise, quick_cache), so counts repeat. The simulated \
             caches are fixed, not the host's: D1 {} and LL {} (bytes, ways, line), \
             so an LL miss is one that leaves a core's private caches.",
            crate::loops::D1,
            crate::loops::LL
        ),
        args: scale(
            "cachegrind --ops 200000",
            "cachegrind --ops 1000 --loops get,miss --small",
        ),
        kind: Kind::Cachegrind,
        needs: None,
        needs_program: Some("valgrind"),
        cargo: None,
    });
    out.push(Section {
        id: "memory".into(),
        title: "Memory per entry".into(),
        about: "Heap bytes per entry of caches of 1M `u64 -> u64` entries, counted \
                by a global allocator that adds up what is allocated and not yet \
                freed (malloc's own headers not included): filled (1M distinct \
                keys inserted into capacity 1M) and after churn (3M distinct \
                keys), where a policy with ghosts keeps them too. Beyond key and \
                value: less the 16 bytes the pair itself takes. Layout and \
                bytes of each part: `docs/design/memory.md`."
            .into(),
        args: Vec::new(),
        kind: Kind::Memory,
        needs: None,
        needs_program: None,
        cargo: Some(&["run", "--release", "-p", "clockwise", "--example", "memory"]),
    });
    out.push(Section {
        id: "coherence".into(),
        title: "Across processes: clockwise-redis".into(),
        about: "Two caches on one loopback Redis the example starts. The delay runs \
                from a write's acknowledgement on one cache to its key's removal \
                from the other (0 when the invalidation arrived first), writes one \
                after another: through Redis's tracking (`NearCache::set`) and through \
                the bus (`Bus::publish`). Then two threads publish one-key bus \
                messages for a second: the rate the other bus removed keys at, \
                bound by the publishers' round trips, not by Redis. Last, what one \
                Redis carries: one connection publishes one-key messages in \
                pipelined batches of 32 for a second to 2, then 8, subscribed \
                connections (all on the same cores as Redis)."
            .into(),
        args: Vec::new(),
        kind: Kind::Coherence,
        needs: None,
        needs_program: Some("redis-server"),
        cargo: Some(&[
            "run",
            "--release",
            "-p",
            "clockwise-redis",
            "--example",
            "coherence",
        ]),
    });
    out.push(Section {
        id: "api-keys".into(),
        title: "An API-key service over HTTP".into(),
        about: "`examples/api-keys` (axum, SQLite, clockwise, a clockwise-redis bus) \
                resolving 1,000 keys for 8 keep-alive connections of \
                `clockwise-bench http-load`, with the cache and without it \
                (every request reads SQLite): three rounds of 2 s each, \
                alternated, the median round shown. Service, Redis and load \
                share the machine's cores."
            .into(),
        args: Vec::new(),
        kind: Kind::HttpLoad,
        needs: None,
        needs_program: Some("redis-server"),
        cargo: Some(&["bench", "-p", "clockwise-api-keys", "--bench", "http"]),
    });
    out
}

/// The machine and build the figures were measured on.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Hardware threads the process may use.
    pub threads: usize,
    /// Whether the CPU reports a hypervisor.
    pub virtualized: bool,
    /// Memory in GiB.
    pub memory_gib: u64,
    /// Kernel release.
    pub kernel: String,
    /// `rustc --version`.
    pub rustc: String,
    /// `git describe` of the measured tree.
    pub commit: String,
    /// UTC date of the run.
    pub date: String,
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Machine {
    /// This machine, as Linux describes it (fields it cannot read say so).
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0);
        let unknown = || String::from("unknown");
        Machine {
            cpu: field("model name").unwrap_or_else(unknown),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            virtualized: field("flags").is_some_and(|f| f.split(' ').any(|x| x == "hypervisor")),
            memory_gib: (memory_kib + (1 << 19)) >> 20,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| unknown()),
            rustc: command_output("rustc", &["--version"]).unwrap_or_else(unknown),
            commit: command_output("git", &["describe", "--always", "--dirty"])
                .unwrap_or_else(unknown),
            date: command_output("date", &["-u", "+%Y-%m-%d"]).unwrap_or_else(unknown),
        }
    }

    /// One line naming the machine.
    pub fn line(&self) -> String {
        format!(
            "{}, {} hardware threads{}, {} GiB, Linux {}, {}",
            self.cpu,
            self.threads,
            if self.virtualized {
                " under a hypervisor"
            } else {
                ""
            },
            self.memory_gib,
            self.kernel,
            self.rustc
        )
    }
}

/// A section's outcome: its JSON, or why it did not run.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The JSON the command printed.
    Json(String),
    /// Not run, and why (a missing trace).
    Skipped(String),
}

fn parse<T: serde::de::DeserializeOwned>(section: &Section, json: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|e| Error::Io {
        file: format!("{}.json", section.id),
        message: format!("not the JSON of `{}`: {e}", section.command()),
    })
}

fn run_table(out: &mut String, reports: &[Report]) {
    out.push_str(
        "| engine | threads | mix | Mops/s | hit ratio | p50 ns | p99 ns | p99.9 ns | clockwise ÷ this |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for r in reports {
        let ratio = r
            .ratio_in(reports)
            .map_or(String::from("–"), |x| format!("{x:.2}x"));
        let hit = if r.read_pct == 0 && !r.read_through {
            String::from("–")
        } else {
            format!("{:.2} %", 100.0 * r.hit_ratio)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {hit} | {} | {} | {} | {ratio} |",
            r.engine,
            r.threads,
            r.mix(),
            r.mops,
            r.p50_ns,
            r.p99_ns,
            r.p999_ns
        );
    }
}

/// The README's copy of the main table: the machine, then the table.
pub fn readme_table(machine: &Machine, main: &[Report]) -> String {
    let mut out = format!(
        "{} ({}, `{}`):\n\n",
        machine.line(),
        machine.date,
        machine.commit
    );
    run_table(&mut out, main);
    out
}

fn section_body(out: &mut String, section: &Section, json: &str) -> Result<(), Error> {
    match section.kind {
        Kind::Run => run_table(out, &parse::<Vec<Report>>(section, json)?),
        Kind::Versus => {
            out.push_str(
                "| engine | threads | Mops/s | clockwise ÷ this | p10..p90 of rounds |\n\
                 |---|--:|--:|--:|--:|\n",
            );
            for r in parse::<Vec<VersusReport>>(section, json)? {
                for row in &r.rows {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {:.2} | {:.2}x | {:.2}..{:.2} |",
                        row.engine,
                        r.threads,
                        row.mops,
                        row.clockwise_ratio,
                        row.ratio_p10,
                        row.ratio_p90
                    );
                }
            }
        }
        Kind::Overhead => {
            out.push_str(
                "| threads | stats on Mops/s | stats off Mops/s | on/off | p10..p90 | A/A | A/A p10..p90 |\n\
                 |--:|--:|--:|--:|--:|--:|--:|\n",
            );
            for r in parse::<Vec<OverheadReport>>(section, json)? {
                let _ = writeln!(
                    out,
                    "| {} | {:.2} | {:.2} | {:.3}x | {:.3}..{:.3} | {:.3}x | {:.3}..{:.3} |",
                    r.threads,
                    r.stats_on_mops,
                    r.stats_off_mops,
                    r.ratio,
                    r.ratio_p10,
                    r.ratio_p90,
                    r.control,
                    r.control_p10,
                    r.control_p90
                );
            }
        }
        Kind::Herd => {
            out.push_str(
                "| engine | loads per key | wait p50 µs | wait p99 µs | wait max µs |\n\
                 |---|--:|--:|--:|--:|\n",
            );
            for r in parse::<Vec<HerdReport>>(section, json)? {
                let _ = writeln!(
                    out,
                    "| {} | {:.2} | {} | {} | {} |",
                    r.engine, r.loads_per_key, r.wait_p50_us, r.wait_p99_us, r.wait_max_us
                );
            }
        }
        Kind::Cachegrind => {
            out.push_str(
                "| loop | engine | instructions | D1 misses | LL misses |\n\
                 |---|---|--:|--:|--:|\n",
            );
            // Differences of two runs: a count that did not grow can come
            // out a hair below zero.
            let show = |v: f64| if v.abs() < 0.005 { 0.0 } else { v };
            for c in parse::<Vec<LoopCost>>(section, json)? {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.1} | {:.2} | {:.2} |",
                    c.name,
                    c.engine,
                    show(c.instructions),
                    show(c.d1_misses),
                    show(c.ll_misses)
                );
            }
        }
        Kind::Coherence => {
            let r = parse::<CoherenceReport>(section, json)?;
            out.push_str(
                "| path | writes | p50 µs | p99 µs | p99.9 µs | max µs |\n\
                 |---|--:|--:|--:|--:|--:|\n",
            );
            for d in &r.delays {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
                    d.path, d.writes, d.p50_us, d.p99_us, d.p999_us, d.max_us
                );
            }
            let _ = writeln!(
                out,
                "\nBus invalidations delivered: {:.0} a second.",
                r.bus_invalidations_per_sec
            );
            if !r.fanout.is_empty() {
                out.push_str(
                    "\n| subscribers | publications/s | deliveries/s |\n\
                     |--:|--:|--:|\n",
                );
                for f in &r.fanout {
                    let _ = writeln!(
                        out,
                        "| {} | {:.0} | {:.0} |",
                        f.subscribers, f.publications_per_sec, f.deliveries_per_sec
                    );
                }
            }
        }
        Kind::Memory => {
            let r = parse::<MemoryReport>(section, json)?;
            out.push_str(
                "| engine | state | bytes an entry | beyond key and value |\n\
                 |---|---|--:|--:|\n",
            );
            for m in &r.rows {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.1} | {:.1} |",
                    m.engine, m.state, m.bytes_per_entry, m.beyond_key_value
                );
            }
            let _ = writeln!(
                out,
                "\nAn empty clockwise cache (capacity 1,000): {:.1} KiB with stats, \
                 {:.1} KiB without.",
                r.empty_with_stats as f64 / 1024.0,
                r.empty_without_stats as f64 / 1024.0
            );
        }
        Kind::HttpLoad => {
            let rows = parse::<Vec<ServiceRow>>(section, json)?;
            out.push_str(
                "| mode | requests/s | p50 µs | p99 µs | p99.9 µs | not 200 |\n\
                 |---|--:|--:|--:|--:|--:|\n",
            );
            for r in &rows {
                let _ = writeln!(
                    out,
                    "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
                    r.mode, r.requests_per_sec, r.p50_us, r.p99_us, r.p999_us, r.failed
                );
            }
        }
        Kind::Replay => {
            let rows = parse::<Vec<ReplayRow>>(section, json)?;
            let mut engines: Vec<&str> = Vec::new();
            let mut capacities: Vec<u64> = Vec::new();
            for r in &rows {
                if !engines.contains(&r.engine.as_str()) {
                    engines.push(&r.engine);
                }
                if !capacities.contains(&r.capacity) {
                    capacities.push(r.capacity);
                }
            }
            out.push_str("| capacity |");
            for e in &engines {
                let _ = write!(out, " {e} |");
            }
            out.push_str("\n|--:|");
            out.push_str(&"--:|".repeat(engines.len()));
            out.push('\n');
            for c in capacities {
                let _ = write!(out, "| {c} |");
                for e in &engines {
                    match rows.iter().find(|r| r.engine == *e && r.capacity == c) {
                        Some(r) => {
                            let _ = write!(out, " {:.2} % |", 100.0 * r.hit_ratio);
                        }
                        None => out.push_str(" – |"),
                    }
                }
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// `BENCHMARKS.md` from each section's outcome.
/// With `quick`, the page says at its top that its figures mean nothing.
pub fn render(
    machine: &Machine,
    results: &[(Section, Outcome)],
    quick: bool,
) -> Result<String, Error> {
    let mut out = format!(
        "# Benchmarks: regenerate with `{COMMAND}`\n\n\
         Every table below is rendered from the JSON of the command above it, \
         all from one run of the command in the title (which also updates the \
         README's table). Measured on {} on {}, tree `{}`. Figures from \
         separate commands are separate runs; compare rows within a table.\n",
        machine.line(),
        machine.date,
        machine.commit
    );
    if quick {
        out.push_str(
            "\n**Made with `--quick`: every run cut to milliseconds; these figures mean nothing.**\n",
        );
    }
    for (section, outcome) in results {
        let _ = write!(
            out,
            "\n## {}\n\n{}\n\n`{}`\n\n",
            section.title,
            section.about,
            section.command()
        );
        match outcome {
            Outcome::Json(json) => section_body(&mut out, section, json)?,
            Outcome::Skipped(why) => {
                let _ = writeln!(out, "Not measured: {why}.");
            }
        }
    }
    Ok(out)
}

/// `readme` with the text between [`README_START`] and [`README_END`]
/// replaced by `table`; an error if the markers are missing or out of order.
pub fn replace_marked(readme: &str, table: &str) -> Result<String, Error> {
    let missing = || Error::Io {
        file: "README.md".into(),
        message: format!("needs the lines {README_START} and {README_END}, in that order"),
    };
    let start = readme.find(README_START).ok_or_else(missing)? + README_START.len();
    let end = readme[start..].find(README_END).ok_or_else(missing)? + start;
    Ok(format!("{}\n{table}{}", &readme[..start], &readme[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(engine: &str, threads: usize, read_pct: u8, mops: f64) -> Report {
        Report {
            engine: engine.into(),
            workload: "zipf:0.99".into(),
            keys: 10,
            capacity: 5,
            threads,
            read_pct,
            value_size: 8,
            ops: 1,
            seconds: 1.0,
            mops,
            hit_ratio: 0.5,
            p50_ns: 20,
            p99_ns: 70,
            p999_ns: 140,
            latency_samples: 1,
            read_through: false,
            rounds: 1,
            clockwise_ratio: None,
        }
    }

    #[test]
    fn run_tables_compare_with_clockwise_at_the_same_threads_and_mix() {
        let reports = vec![
            report("clockwise", 1, 90, 30.0),
            report("lru", 1, 90, 20.0),
            report("clockwise", 2, 90, 50.0),
            report("lru", 2, 90, 100.0),
            report("lru", 1, 0, 10.0),
        ];
        let mut out = String::new();
        run_table(&mut out, &reports);
        assert!(out.contains("| lru | 1 | 90 % gets | 20.00 | 50.00 % | 20 | 70 | 140 | 1.50x |"));
        assert!(out.contains("| lru | 2 | 90 % gets | 100.00 | 50.00 % | 20 | 70 | 140 | 0.50x |"));
        // No clockwise row at that mix: no ratio; no gets: no hit ratio.
        assert!(out.contains("| lru | 1 | 0 % gets | 10.00 | – | 20 | 70 | 140 | – |"));
    }

    #[test]
    fn replay_tables_put_engines_in_columns_and_mark_gaps() {
        let section = &sections(Path::new("/t"), true)[6];
        assert_eq!(section.kind, Kind::Replay);
        let json = r#"[{"engine":"clockwise","capacity":250,"hit_ratio":0.5},
                       {"engine":"opt","capacity":250,"hit_ratio":0.75},
                       {"engine":"clockwise","capacity":500,"hit_ratio":0.625}]"#;
        let mut out = String::new();
        section_body(&mut out, section, json).unwrap();
        assert_eq!(
            out,
            "| capacity | clockwise | opt |\n|--:|--:|--:|\n\
             | 250 | 50.00 % | 75.00 % |\n| 500 | 62.50 % | – |\n"
        );
    }

    #[test]
    fn the_coherence_section_renders_its_delays_and_rate() {
        let section = sections(Path::new("/none"), false)
            .into_iter()
            .find(|s| s.id == "coherence")
            .unwrap();
        assert_eq!(
            section.command(),
            "cargo run --release -p clockwise-redis --example coherence"
        );
        let json = r#"{"delays":[{"path":"bus","writes":10,"p50_us":21.6,"p99_us":40.0,
            "p999_us":64.2,"max_us":70.0}],"bus_invalidations_per_sec":27727.4}"#;
        let mut out = String::new();
        section_body(&mut out, &section, json).unwrap();
        assert!(out.contains("| bus | 10 | 22 | 40 | 64 | 70 |"), "{out}");
        assert!(out.contains("Bus invalidations delivered: 27727 a second."));
    }

    #[test]
    fn the_memory_section_renders_each_engine_and_state() {
        let section = sections(Path::new("/none"), false)
            .into_iter()
            .find(|s| s.id == "memory")
            .unwrap();
        assert_eq!(
            section.command(),
            "cargo run --release -p clockwise --example memory"
        );
        let json = r#"{"empty_with_stats":381338,"empty_without_stats":7987,"rows":[
            {"engine":"clockwise","state":"filled","bytes_per_entry":68.51,"beyond_key_value":52.51},
            {"engine":"moka","state":"after churn","bytes_per_entry":237.7,"beyond_key_value":221.7}]}"#;
        let mut out = String::new();
        section_body(&mut out, &section, json).unwrap();
        assert!(
            out.contains("| clockwise | filled | 68.5 | 52.5 |"),
            "{out}"
        );
        assert!(
            out.contains("| moka | after churn | 237.7 | 221.7 |"),
            "{out}"
        );
        assert!(
            out.contains("372.4 KiB with stats, 7.8 KiB without"),
            "{out}"
        );
    }

    #[test]
    fn json_of_another_command_is_an_error_naming_the_command() {
        let section = &sections(Path::new("/t"), false)[3];
        let mut out = String::new();
        let err = section_body(&mut out, section, "[{\"engine\":\"x\"}]").unwrap_err();
        assert!(err.to_string().contains("versus --rounds 100"), "{err}");
    }

    #[test]
    fn rendering_names_the_command_machine_and_each_reproducing_command() {
        let machine = Machine {
            cpu: "Some CPU".into(),
            threads: 2,
            virtualized: true,
            memory_gib: 24,
            kernel: "6.18".into(),
            rustc: "rustc 1.95.0".into(),
            commit: "abc1234".into(),
            date: "2026-12-06".into(),
        };
        let all = sections(Path::new("/nowhere"), false);
        let results: Vec<_> = all
            .iter()
            .map(|s| (s.clone(), Outcome::Skipped("trace not found".into())))
            .collect();
        let text = render(&machine, &results, false).unwrap();
        assert!(!text.contains("--quick"));
        assert!(render(&machine, &results, true)
            .unwrap()
            .contains("mean nothing"));
        assert!(text.starts_with(&format!("# Benchmarks: regenerate with `{COMMAND}`\n")));
        assert!(text.contains(
            "Some CPU, 2 hardware threads under a hypervisor, 24 GiB, Linux 6.18, rustc 1.95.0"
        ));
        for s in &all {
            assert!(text.contains(&format!("`{}`", s.command())), "{}", s.id);
        }
        assert!(text
            .contains("`cargo run --release -p clockwise-bench -- run --rounds 5 --duration 1s`"));
    }

    #[test]
    fn the_readme_block_is_replaced_whole_and_only_it() {
        let readme = format!("a\n{README_START}\nold\ntable\n{README_END}\nb\n");
        let new = replace_marked(&readme, "new\n").unwrap();
        assert_eq!(new, format!("a\n{README_START}\nnew\n{README_END}\nb\n"));
        assert_eq!(replace_marked(&new, "new\n").unwrap(), new);
        assert!(replace_marked("a\nb\n", "x").is_err());
        assert!(replace_marked(&format!("{README_END}\n{README_START}\n"), "x").is_err());
    }
}
