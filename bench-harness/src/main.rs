//! `clockwise-bench`: compare caches under load, or replay traces.
//!
//! With no arguments it runs the default comparison (about a minute on two
//! cores) and prints one table.

use clap::{Parser, Subcommand};
use clockwise_bench::{adapters, limits, run, trace, Error, Report, RunConfig, Workload};
use rayon::prelude::*;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    version,
    about = "Load-test clockwise against peer caches, or replay cache traces"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Print results as JSON on stdout instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run a synthetic workload against several engines.
    Run(RunArgs),
    /// Replay a trace for hit ratio at several capacities.
    Replay(ReplayArgs),
    /// Many threads miss one cold key at once with a slow loader: loads per
    /// key and waiting-time percentiles, per engine.
    Herd(HerdArgs),
    /// Run a workload on clockwise and serve live metrics on /metrics for
    /// Prometheus to scrape while it runs.
    Serve(ServeArgs),
    /// What the metrics cost: all-hit gets on clockwise with stats on and
    /// off, in alternating short blocks, and the median ratio.
    Overhead(OverheadArgs),
    /// clockwise against its peers on all-hit gets, in alternating short
    /// blocks, and the median ratio of clockwise's throughput to each.
    Versus(VersusArgs),
    /// Run every measurement of BENCHMARKS.md (each as `clockwise-bench
    /// ... --json`, several minutes), keep the JSON, and write
    /// BENCHMARKS.md and the README's table from it.
    Report(ReportArgs),
    /// Instructions and cache misses per operation of single-threaded
    /// loops (get, miss, insert, mixed, read-through), by valgrind's cache
    /// simulator counting only the measured operations. Needs valgrind.
    Cachegrind(CachegrindArgs),
    /// Hit ratio on every shared trace at the capacities it lists:
    /// clockwise, quick_cache, moka and lru replayed, ARC and Belady's MIN
    /// computed; writes docs/hit-ratio.md.
    HitRatio(HitRatioArgs),
    /// One loop, for cachegrind or perf (what `cachegrind` runs).
    #[command(hide = true)]
    Loop(LoopArgs),
    /// Closed-loop HTTP GETs on loopback: N keep-alive connections for a
    /// fixed time, HDR latency (built with `--features http`).
    #[cfg(feature = "http")]
    HttpLoad(HttpLoadArgs),
}

#[cfg(feature = "http")]
#[derive(clap::Args)]
struct HttpLoadArgs {
    /// An http:// URL on a loopback address.
    url: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// How long to send.
    #[arg(long, default_value = "5s", value_parser = limits::parse_positive_duration)]
    duration: Duration,
    /// Stop after this many requests.
    #[arg(long, default_value_t = 10_000_000)]
    max_requests: u64,
    /// A file of API keys, one a line, sent in turn as bearer tokens.
    #[arg(long)]
    bearer_file: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct HitRatioArgs {
    /// Where the shared traces and their anchors.csv are.
    #[arg(long, default_value = "../shared/traces")]
    traces: PathBuf,
    /// Where to write the page.
    #[arg(long, default_value = "docs/hit-ratio.md")]
    out: PathBuf,
    /// Where to write the peers' one-shard figures that
    /// `engine/tests/hit_ratio.rs` checks clockwise against.
    #[arg(long, default_value = "engine/tests/hit_ratio_peers.csv")]
    peers_out: PathBuf,
}

#[derive(clap::Args)]
struct CachegrindArgs {
    /// Loops, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "get,miss,insert,mixed,read-through"
    )]
    loops: Vec<String>,
    /// Engines, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "clockwise,quick_cache")]
    engines: Vec<String>,
    /// Operations measured per loop.
    #[arg(long, default_value_t = 500_000, value_parser = clap::value_parser!(u64).range(1_000..=100_000_000))]
    ops: u64,
    /// Every cache and key space a hundredth of its size: checks the
    /// plumbing; its figures mean nothing.
    #[arg(long)]
    small: bool,
}

#[derive(clap::Args)]
struct LoopArgs {
    /// The loop.
    name: String,
    /// Operations.
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    ops: u64,
    /// The engine.
    #[arg(long, default_value = "clockwise")]
    engine: String,
    /// Every size a hundredth.
    #[arg(long)]
    small: bool,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// Where to write the benchmarks page.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// README whose marked table to replace; `none` leaves it alone.
    #[arg(long, default_value = "README.md")]
    readme: PathBuf,
    /// Where the production traces are.
    #[arg(long, default_value = "../shared/traces")]
    traces: PathBuf,
    /// Where each command's JSON is kept.
    #[arg(long, default_value = "target/clockwise-bench/report")]
    json_dir: PathBuf,
    /// Render from the JSON already in --json-dir instead of measuring.
    #[arg(long)]
    from_json: bool,
    /// Every measurement cut to a fraction of a second: checks the
    /// report's plumbing; its figures mean nothing.
    #[arg(long)]
    quick: bool,
}

#[derive(clap::Args)]
struct VersusArgs {
    /// Thread counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_parser = threads())]
    threads: Vec<usize>,
    /// Rounds (one block per engine each).
    #[arg(long, default_value_t = 40, value_parser = at_least_one())]
    rounds: usize,
    /// Milliseconds per block.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    block_ms: u64,
    /// Keys, all resident (Zipf 0.99 over them).
    #[arg(long, default_value_t = 100_000, value_parser = keys())]
    keys: u64,
    /// Engines, comma-separated; must include clockwise.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "clockwise,quick_cache,moka"
    )]
    engines: Vec<String>,
}

#[derive(clap::Args)]
struct OverheadArgs {
    /// Thread counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_parser = threads())]
    threads: Vec<usize>,
    /// Rounds (one block per cache each).
    #[arg(long, default_value_t = 40, value_parser = at_least_one())]
    rounds: usize,
    /// Milliseconds per block.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    block_ms: u64,
    /// Keys, all resident (Zipf 0.99 over them).
    #[arg(long, default_value_t = 100_000, value_parser = keys())]
    keys: u64,
}

/// The workload's keys and the cache's size, shared by `run` and `serve`.
#[derive(clap::Args)]
struct KeySpace {
    /// zipf:S, uniform, scan:FRACTION or hotspot:P.
    #[arg(long, default_value = "zipf:0.99")]
    workload: String,
    /// Size of the key space.
    #[arg(long, default_value_t = 1_000_000, value_parser = keys())]
    keys: u64,
    /// Cache capacity in entries.
    #[arg(long, default_value_t = 100_000)]
    capacity: u64,
}

#[derive(clap::Args)]
struct HerdArgs {
    /// Threads released together on each cold key.
    #[arg(long, default_value_t = 64, value_parser = threads())]
    threads: usize,
    /// Cold keys, one after another.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    rounds: u64,
    /// Milliseconds the loader takes.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    load_ms: u64,
    /// Engines, comma-separated (clockwise, moka, quick_cache, lru).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "clockwise,moka,quick_cache,lru"
    )]
    engines: Vec<String>,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    space: KeySpace,
    /// Threads issuing operations.
    #[arg(long, default_value_t = 1, value_parser = threads())]
    threads: usize,
    /// Percentage of gets (the rest are inserts).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(0..=100))]
    read_pct: u8,
    /// How long to run (`90s`, `5m`, `500ms`, or seconds); 0 runs until
    /// interrupted.
    #[arg(long, default_value = "0", value_parser = limits::parse_duration)]
    duration: Duration,
    /// Port of the metrics endpoint (0 picks a free one).
    #[arg(long, default_value_t = 9898)]
    port: u16,
    /// Interface to listen on. Loopback by default; anything else exposes
    /// the metrics to the network.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// The cache's name in the metrics (label `cache`).
    #[arg(long, default_value = "bench")]
    name: String,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    space: KeySpace,
    /// Thread counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_parser = threads())]
    threads: Vec<usize>,
    /// Measured time per run (`1.5s`, `500ms`, `2m`, or seconds).
    #[arg(long, default_value = "1.5", value_parser = limits::parse_positive_duration)]
    duration: Duration,
    /// Unmeasured time per run after the pre-fill, before measuring.
    #[arg(long, default_value = "300ms", value_parser = limits::parse_duration)]
    warmup: Duration,
    /// Rounds of every run, engines in rotating order; each row is then the
    /// median round, and its ratio the median of the per-round ratios.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100))]
    rounds: usize,
    /// Measured operations per run (all threads together), instead of --duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    ops: Option<u64>,
    /// Time to live of every entry (`30s`, `500ms`, or seconds; clockwise
    /// and moka only).
    #[arg(long, value_parser = limits::parse_positive_duration)]
    ttl: Option<Duration>,
    /// Bytes per value: up to 8 stores a plain u64, more an Arc<[u8]>
    /// payload allocated on every insert and shared on every hit.
    #[arg(long, default_value_t = 8)]
    value_size: usize,
    /// Mixes to run, comma-separated: a percentage of gets (the rest are
    /// inserts), or `read-through` (every operation a get, every miss
    /// inserted, as a server that loads on a miss does).
    #[arg(long, value_delimiter = ',', default_value = "100,90,read-through", value_parser = parse_mix)]
    read_pct: Vec<Mix>,
    /// Engines, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "clockwise,moka,quick_cache,lru"
    )]
    engines: Vec<String>,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The trace file.
    #[arg(long)]
    trace: PathBuf,
    /// Its format.
    #[arg(long, value_enum, default_value = "keys")]
    format: trace::Format,
    /// Capacities in entries (in bytes with --weighted), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    capacities: Vec<u64>,
    /// Bound caches by the sum of object sizes (oracle-general records carry
    /// them; other formats weigh every object 1): capacities are in bytes,
    /// and `opt` evicts farthest-next-use objects until the new one fits.
    #[arg(long)]
    weighted: bool,
    /// Engines, comma-separated; `opt` is Belady's MIN.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "clockwise,moka,quick_cache,lru,opt"
    )]
    engines: Vec<String>,
    /// Replay from this many threads at once against each cache (requests
    /// dealt round-robin), to see whether hit ratio drops with threads.
    #[arg(long, default_value_t = 1, value_parser = threads())]
    threads: usize,
}

/// One mix of operations for `run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mix {
    /// This percentage of gets, the rest inserts.
    Gets(u8),
    /// Gets, and an insert after each miss.
    ReadThrough,
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mix::Gets(p) => write!(f, "{p}% gets"),
            Mix::ReadThrough => f.write_str("read-through"),
        }
    }
}

fn parse_mix(s: &str) -> Result<Mix, String> {
    if s == "read-through" {
        return Ok(Mix::ReadThrough);
    }
    match s.parse::<u8>() {
        Ok(p) if p <= 100 => Ok(Mix::Gets(p)),
        _ => Err(format!(
            "{s:?} is neither a percentage of gets (0 to 100) nor read-through"
        )),
    }
}

/// Thread counts: 1 to [`limits::MAX_THREADS`].
fn threads() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=limits::MAX_THREADS as u64)
}

/// A count of at least one.
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

/// Key counts: 1 to [`limits::MAX_KEYS`].
fn keys() -> clap::builder::RangedU64ValueParser<u64> {
    clap::builder::RangedU64ValueParser::<u64>::new().range(1..=limits::MAX_KEYS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => synthetic(&RunArgs::default_comparison(), cli.json),
        Some(Command::Run(args)) => synthetic(&args, cli.json),
        Some(Command::Replay(args)) => replay(&args, cli.json),
        Some(Command::Serve(args)) => serve(&args),
        Some(Command::Herd(args)) => herd(&args, cli.json),
        Some(Command::Overhead(args)) => overhead(&args, cli.json),
        Some(Command::Versus(args)) => versus(&args, cli.json),
        Some(Command::Report(args)) => report(&args),
        Some(Command::Cachegrind(args)) => cachegrind(&args, cli.json),
        Some(Command::HitRatio(args)) => hit_ratio(&args, cli.json),
        #[cfg(feature = "http")]
        Some(Command::HttpLoad(args)) => http_load(&args, cli.json),
        Some(Command::Loop(args)) => {
            clockwise_bench::loops::run_loop(&args.name, &args.engine, args.ops, args.small).map(
                |found| {
                    println!("{found}");
                },
            )
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

impl RunArgs {
    /// `run` with every default: the comparison the README's main command
    /// prints. Parsed, so the defaults live only in the attributes above.
    fn default_comparison() -> RunArgs {
        match Cli::parse_from(["clockwise-bench", "run"]).command {
            Some(Command::Run(args)) => args,
            _ => unreachable!("`run` parses as the run command"),
        }
    }
}

fn synthetic(args: &RunArgs, json: bool) -> Result<(), Error> {
    let workload: Workload = args.space.workload.parse()?;
    limits::check_capacity(args.space.capacity, false)?;
    let most_threads = args.threads.iter().copied().max().unwrap_or(1);
    limits::check_upfront(args.space.keys, most_threads)?;
    let ttl = args.ttl;
    let options = |capacity| adapters::EngineOptions {
        capacity,
        ttl,
        value_size: args.value_size,
        weighted: false,
    };
    for name in &args.engines {
        adapters::build_with(name, &options(1))?;
    }
    if !json {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!(
            "{workload} over {} keys, capacity {}, {}-byte values, {:.1} s per run, {cores} hardware threads",
            args.space.keys, args.space.capacity, args.value_size.max(8), args.duration.as_secs_f64()
        );
    }
    let mut rounds = Vec::new();
    let runs = (args.rounds * args.read_pct.len() * args.threads.len() * args.engines.len()) as u64;
    let bar = progress(runs, "runs", json);
    for round in 0..args.rounds {
        let mut reports = Vec::new();
        for &mix in &args.read_pct {
            for &threads in &args.threads {
                // Each round starts the engines one further along, so every
                // engine runs first, last and in between alike.
                let order = args.engines.iter().cycle().skip(round % args.engines.len());
                for name in order.take(args.engines.len()) {
                    let cache = adapters::build_with(name, &options(args.space.capacity))?;
                    let config = RunConfig {
                        workload,
                        keys: args.space.keys,
                        threads,
                        duration: args.duration,
                        warmup: args.warmup,
                        ops: args.ops,
                        read_pct: match mix {
                            Mix::Gets(p) => p,
                            Mix::ReadThrough => 100,
                        },
                        read_through: mix == Mix::ReadThrough,
                        value_size: args.value_size,
                        ..RunConfig::default()
                    };
                    bar.set_message(format!("{name}, {threads} thr, {mix}"));
                    let report = run(cache.as_ref(), args.space.capacity, &config);
                    bar.inc(1);
                    reports.push(report);
                }
            }
        }
        rounds.push(reports);
    }
    let reports = if args.rounds == 1 {
        rounds.pop().unwrap_or_default()
    } else {
        clockwise_bench::median_of_rounds(&rounds)
    };
    if json {
        print_json(&reports);
    } else {
        bar.finish_and_clear();
        print_table(&reports);
    }
    write_results(&reports)
}

/// `value` as pretty JSON on stdout (`--json`).
#[cfg(feature = "http")]
fn http_load(args: &HttpLoadArgs, json: bool) -> Result<(), Error> {
    let bearer = match &args.bearer_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(io(path))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    let report = clockwise_bench::http_load::HttpLoad {
        url: args.url.clone(),
        connections: args.connections,
        duration: args.duration,
        max_requests: args.max_requests,
        bearer,
    }
    .run()?;
    if json {
        print_json(&report);
    } else {
        println!(
            "{} connections, {:.1} s: {:.0} requests/s ({} 2xx, {} other, {} failed); \
             p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us",
            report.connections,
            report.seconds,
            report.requests_per_sec,
            report.ok,
            report.non_2xx,
            report.errors,
            report.p50_us,
            report.p99_us,
            report.p999_us,
            report.max_us
        );
    }
    Ok(())
}

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("reports serialize")
    );
}

/// A bar on stderr counting `len` steps, hidden for `--json` (stdout is
/// then for machines) and by indicatif itself when stderr is not a
/// terminal. It appears once a step has taken a second, so short runs
/// print nothing.
/// Runs `f` on each item behind a progress bar (see [`progress`]) whose
/// message names the item; stops at the first error.
fn each_with_progress<T: std::fmt::Display, R>(
    items: &[T],
    unit: &str,
    json: bool,
    mut f: impl FnMut(&T) -> Result<R, Error>,
) -> Result<Vec<R>, Error> {
    let bar = progress(items.len() as u64, unit, json);
    let out = items
        .iter()
        .map(|item| {
            bar.set_message(item.to_string());
            let r = f(item);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    out
}

fn progress(len: u64, unit: &str, json: bool) -> indicatif::ProgressBar {
    if json {
        return indicatif::ProgressBar::hidden();
    }
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{msg}} ({{eta}} left)");
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::hidden(),
    )
    .with_style(indicatif::ProgressStyle::with_template(&template).expect("valid template"));
    let shown = bar.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        if !shown.is_finished() {
            shown.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
    });
    bar
}

fn herd(args: &HerdArgs, json: bool) -> Result<(), Error> {
    use clockwise_bench::herd;
    for name in &args.engines {
        if !herd::ENGINES.contains(&name.as_str()) {
            return Err(Error::UnknownEngine(name.clone()));
        }
    }
    let config = herd::HerdConfig {
        threads: args.threads,
        rounds: args.rounds,
        load_time: Duration::from_millis(args.load_ms),
    };
    let reports = each_with_progress(&args.engines, "engines", json, |e| herd::run(e, &config))?;
    if json {
        print_json(&reports);
        return Ok(());
    }
    println!(
        "{} threads miss one cold key at once, {} keys, loader takes {} ms",
        config.threads, config.rounds, args.load_ms
    );
    println!(
        "{:<12} {:>14} {:>12} {:>12} {:>12}",
        "engine", "loads per key", "wait p50 us", "wait p99 us", "wait max us"
    );
    for r in &reports {
        println!(
            "{:<12} {:>14.2} {:>12} {:>12} {:>12}",
            r.engine, r.loads_per_key, r.wait_p50_us, r.wait_p99_us, r.wait_max_us
        );
    }
    Ok(())
}

fn overhead(args: &OverheadArgs, json: bool) -> Result<(), Error> {
    use clockwise_bench::overhead::{measure, OverheadConfig};
    let reports = each_with_progress(&args.threads, "thread counts", json, |&threads| {
        Ok(measure(&OverheadConfig {
            threads,
            rounds: args.rounds,
            block: Duration::from_millis(args.block_ms),
            keys: args.keys,
        }))
    })?;
    if json {
        print_json(&reports);
        return Ok(());
    }
    println!(
        "all-hit gets, Zipf 0.99 over {} keys; {} rounds of {} ms blocks, stats on and off alternating",
        args.keys, args.rounds, args.block_ms
    );
    println!("A/A: a twin of the cache with stats against it (1 on a perfect bench)");
    println!(
        "{:>4} {:>14} {:>15} {:>12} {:>18} {:>8} {:>14}",
        "thr",
        "stats on Mops",
        "stats off Mops",
        "on/off",
        "on/off p10..p90",
        "A/A",
        "A/A p10..p90"
    );
    for r in &reports {
        println!(
            "{:>4} {:>14.2} {:>15.2} {:>11.3}x {:>10.3}..{:.3} {:>7.3}x {:>6.3}..{:.3}",
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
    Ok(())
}

fn versus(args: &VersusArgs, json: bool) -> Result<(), Error> {
    use clockwise_bench::versus::{measure, VersusConfig};
    let reports = each_with_progress(&args.threads, "thread counts", json, |&threads| {
        measure(&VersusConfig {
            threads,
            rounds: args.rounds,
            block: Duration::from_millis(args.block_ms),
            keys: args.keys,
            engines: args.engines.clone(),
        })
    })?;
    if json {
        print_json(&reports);
        return Ok(());
    }
    println!(
        "all-hit gets, Zipf 0.99 over {} keys; {} rounds of {} ms blocks, engines alternating",
        args.keys, args.rounds, args.block_ms
    );
    println!(
        "{:<12} {:>4} {:>10} {:>16} {:>20}",
        "engine", "thr", "Mops/s", "clockwise/this", "p10..p90 of rounds"
    );
    for r in &reports {
        for row in &r.rows {
            println!(
                "{:<12} {:>4} {:>10.2} {:>15.2}x {:>12.2}..{:.2}",
                row.engine, r.threads, row.mops, row.clockwise_ratio, row.ratio_p10, row.ratio_p90
            );
        }
    }
    Ok(())
}

fn hit_ratio(args: &HitRatioArgs, json: bool) -> Result<(), Error> {
    let points = clockwise_bench::hit_ratio::measure(&args.traces)?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&points).map_err(|e| Error::Config(e.to_string()))?
        );
        return Ok(());
    }
    let machine = clockwise_bench::report::Machine::detect();
    let page = clockwise_bench::hit_ratio::render(
        &points,
        "cargo run --release -p clockwise-bench -- hit-ratio",
        &format!("{}, tree `{}`", machine.line(), machine.commit),
    );
    std::fs::write(&args.out, page).map_err(io(&args.out))?;
    eprintln!("wrote {}", args.out.display());
    let peers = clockwise_bench::hit_ratio::measure_peers(&args.traces)?;
    let csv = clockwise_bench::hit_ratio::render_peers(
        &peers,
        "cargo run --release -p clockwise-bench -- hit-ratio",
    );
    std::fs::write(&args.peers_out, csv).map_err(io(&args.peers_out))?;
    eprintln!("wrote {}", args.peers_out.display());
    Ok(())
}

fn cachegrind(args: &CachegrindArgs, json: bool) -> Result<(), Error> {
    use clockwise_bench::loops;
    for name in &args.loops {
        if !loops::LOOPS.contains(&name.as_str()) {
            return Err(Error::Config(format!(
                "unknown loop {name:?} (known: {})",
                loops::LOOPS.join(", ")
            )));
        }
    }
    for name in &args.engines {
        adapters::build(name, 1)?;
    }
    let exe = std::env::current_exe().map_err(io(std::path::Path::new("clockwise-bench")))?;
    let jobs: Vec<(&str, &str)> = args
        .loops
        .iter()
        .flat_map(|l| args.engines.iter().map(move |e| (l.as_str(), e.as_str())))
        .collect();
    let labels: Vec<String> = jobs.iter().map(|(l, e)| format!("{l} on {e}")).collect();
    let mut costs = Vec::new();
    let mut next = jobs.iter();
    each_with_progress(&labels, "loops", json, |_| {
        let (name, engine) = next.next().expect("one job per label");
        costs.push(loops::cachegrind(&exe, name, engine, args.ops, args.small)?);
        Ok(())
    })?;
    if json {
        print_json(&costs);
        return Ok(());
    }
    println!(
        "per operation, by valgrind's cache simulator over {} operations (D1 {}, LL {})",
        args.ops,
        loops::D1,
        loops::LL
    );
    println!(
        "{:<14} {:<12} {:>14} {:>11} {:>11}",
        "loop", "engine", "instructions", "D1 misses", "LL misses"
    );
    for c in &costs {
        println!(
            "{:<14} {:<12} {:>14.1} {:>11.2} {:>11.2}",
            c.name, c.engine, c.instructions, c.d1_misses, c.ll_misses
        );
    }
    Ok(())
}

fn report(args: &ReportArgs) -> Result<(), Error> {
    use clockwise_bench::report::{self, Outcome};
    std::fs::create_dir_all(&args.json_dir).map_err(io(&args.json_dir))?;
    let exe = std::env::current_exe().map_err(io(std::path::Path::new("clockwise-bench")))?;
    let sections = report::sections(&args.traces, args.quick);
    let mut results = Vec::new();
    for (i, section) in sections.iter().enumerate() {
        let kept = args.json_dir.join(format!("{}.json", section.id));
        let missing_program = section.needs_program.filter(|p| {
            std::process::Command::new(p)
                .arg("--version")
                .output()
                .is_err()
        });
        let outcome = match &section.needs {
            Some(trace) if !trace.exists() => {
                Outcome::Skipped(format!("no trace at {}", trace.display()))
            }
            _ if missing_program.is_some() => Outcome::Skipped(format!(
                "{} is not installed",
                missing_program.unwrap_or_default()
            )),
            // A cargo build of another package inside a quick run (a test
            // of the report's plumbing) would dwarf it.
            _ if args.quick && section.cargo.is_some() => {
                Outcome::Skipped("other packages' runs are not made with --quick".into())
            }
            _ if args.from_json => {
                Outcome::Json(std::fs::read_to_string(&kept).map_err(io(&kept))?)
            }
            _ => {
                eprintln!("[{}/{}] {}", i + 1, sections.len(), section.command());
                let mut command = match section.cargo {
                    Some(cargo) => {
                        let mut c = std::process::Command::new("cargo");
                        c.args(cargo).args(["-q", "--", "--json"]);
                        c
                    }
                    None => {
                        let mut c = std::process::Command::new(&exe);
                        c.arg("--json");
                        c
                    }
                };
                let out = command
                    .args(&section.args)
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .map_err(io(&exe))?;
                if !out.status.success() {
                    return Err(Error::Config(format!(
                        "`{}` failed ({})",
                        section.command(),
                        out.status
                    )));
                }
                let json = String::from_utf8_lossy(&out.stdout).into_owned();
                std::fs::write(&kept, &json).map_err(io(&kept))?;
                Outcome::Json(json)
            }
        };
        results.push((section.clone(), outcome));
    }
    let machine = report::Machine::detect();
    let page = report::render(&machine, &results, args.quick)?;
    std::fs::write(&args.out, page).map_err(io(&args.out))?;
    eprintln!("wrote {}", args.out.display());
    if args.readme.as_os_str() != "none" {
        let main = match &results[0].1 {
            Outcome::Json(json) => serde_json::from_str::<Vec<Report>>(json)
                .map_err(|e| Error::Config(format!("the main run's JSON does not parse: {e}")))?,
            Outcome::Skipped(why) => return Err(Error::Config(why.clone())),
        };
        let readme = std::fs::read_to_string(&args.readme).map_err(io(&args.readme))?;
        let table = report::readme_table(&machine, &main);
        std::fs::write(&args.readme, report::replace_marked(&readme, &table)?)
            .map_err(io(&args.readme))?;
        eprintln!("replaced the table in {}", args.readme.display());
    }
    Ok(())
}

fn serve(args: &ServeArgs) -> Result<(), Error> {
    use clockwise_stats::export::http::MetricsServer;
    use std::io::Write;
    let workload: Workload = args.space.workload.parse()?;
    limits::check_capacity(args.space.capacity, false)?;
    limits::check_upfront(args.space.keys, args.threads)?;
    let registry = clockwise_stats::Registry::new();
    let cache = adapters::clockwise_in(&registry, &args.name, args.space.capacity)?;
    let server = MetricsServer::bind(registry, (args.bind, args.port)).map_err(|e| Error::Io {
        file: format!("{}:{}", args.bind, args.port),
        message: e.to_string(),
    })?;
    // The first stdout line names the endpoint; scripts and tests read it.
    println!("serving http://{}/metrics", server.local_addr());
    let _ = std::io::stdout().flush();
    let forever = args.duration.is_zero();
    let mut left = args.duration;
    let chunk = Duration::from_secs(10);
    while forever || !left.is_zero() {
        let this = if forever { chunk } else { left.min(chunk) };
        let config = RunConfig {
            workload,
            keys: args.space.keys,
            threads: args.threads,
            duration: this,
            warmup: Duration::ZERO,
            read_pct: args.read_pct,
            ..RunConfig::default()
        };
        let r = run(cache.as_ref(), args.space.capacity, &config);
        eprintln!(
            "{:.2} Mops/s, hit ratio {:.4}, scrapes so far {}",
            r.mops,
            r.hit_ratio,
            server.scrapes()
        );
        left = left.saturating_sub(this);
    }
    server.shutdown();
    Ok(())
}

fn print_table(reports: &[Report]) {
    println!(
        "{:<12} {:>4} {:>12} {:>9} {:>7} {:>8} {:>8} {:>9} {:>16}",
        "engine", "thr", "mix", "Mops/s", "hit%", "p50 ns", "p99 ns", "p99.9 ns", "clockwise/this"
    );
    for r in reports {
        let ratio = r
            .ratio_in(reports)
            .map_or(String::from("-"), |x| format!("{x:.2}x"));
        println!(
            "{:<12} {:>4} {:>12} {:>9.2} {:>7.2} {:>8} {:>8} {:>9} {:>16}",
            r.engine,
            r.threads,
            r.mix(),
            r.mops,
            100.0 * r.hit_ratio,
            r.p50_ns,
            r.p99_ns,
            r.p999_ns,
            ratio
        );
    }
    println!(
        "Latency: 1 in 64 operations timed, closed loop (not corrected for coordinated omission)."
    );
}

/// Maps an I/O error on `file` to the harness's error, naming the file.
fn io(file: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error {
    let file = file.display().to_string();
    move |e| Error::Io {
        file,
        message: e.to_string(),
    }
}

fn write_results(reports: &[Report]) -> Result<(), Error> {
    let dir = PathBuf::from("target/clockwise-bench");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let json = dir.join("results.json");
    std::fs::write(
        &json,
        serde_json::to_string_pretty(reports).expect("reports serialize"),
    )
    .map_err(io(&json))?;
    let csv = dir.join("results.csv");
    let mut text = String::from("engine,workload,keys,capacity,value_size,threads,read_pct,read_through,ops,seconds,mops,hit_ratio,p50_ns,p99_ns,p999_ns\n");
    for r in reports {
        text += &format!(
            "{},{},{},{},{},{},{},{},{},{:.3},{:.3},{:.5},{},{},{}\n",
            r.engine,
            r.workload,
            r.keys,
            r.capacity,
            r.value_size,
            r.threads,
            r.read_pct,
            r.read_through,
            r.ops,
            r.seconds,
            r.mops,
            r.hit_ratio,
            r.p50_ns,
            r.p99_ns,
            r.p999_ns
        );
    }
    std::fs::write(&csv, text).map_err(io(&csv))?;
    let svg = dir.join("throughput.svg");
    let mut lines: Vec<clockwise_bench::chart::Line> = Vec::new();
    for r in reports {
        let label = format!("{} {}", r.engine, r.mix());
        match lines.iter_mut().find(|(l, _)| *l == label) {
            Some((_, points)) => points.push((r.threads as f64, r.mops)),
            None => lines.push((label, vec![(r.threads as f64, r.mops)])),
        }
    }
    clockwise_bench::chart::lines_svg(&svg, "Throughput", "threads", "Mops/s", &lines)?;
    eprintln!(
        "wrote {}, {} and {}",
        json.display(),
        csv.display(),
        svg.display()
    );
    Ok(())
}

fn replay(args: &ReplayArgs, json: bool) -> Result<(), Error> {
    for &capacity in &args.capacities {
        limits::check_capacity(capacity, args.weighted)?;
    }
    let options = |capacity| adapters::EngineOptions {
        weighted: args.weighted,
        ..adapters::EngineOptions::new(capacity)
    };
    for name in args.engines.iter().filter(|n| *n != "opt") {
        adapters::build_with(name, &options(1))?;
    }
    let (keys, sizes) = trace::read(&args.trace, args.format)?;
    if keys.is_empty() {
        return Err(Error::Trace {
            file: args.trace.display().to_string(),
            line: 0,
            message: "the trace has no requests: a hit ratio of it means nothing".into(),
        });
    }
    let jobs: Vec<(&str, u64)> = args
        .engines
        .iter()
        .flat_map(|e| args.capacities.iter().map(move |&c| (e.as_str(), c)))
        .collect();
    let bar = progress(jobs.len() as u64, "replays", json);
    let results: Vec<(String, u64, f64)> = jobs
        .par_iter()
        .map(|&(engine, capacity)| {
            let ratio = match (engine, args.weighted) {
                ("opt", false) => trace::opt_hit_ratio(&keys, capacity as usize),
                ("opt", true) => trace::opt_weighted_hit_ratio(&keys, &sizes, capacity),
                _ => {
                    let cache = adapters::build_with(engine, &options(capacity))?;
                    if args.weighted {
                        trace::replay_weighted(cache.as_ref(), &keys, &sizes, args.threads)
                    } else {
                        trace::replay_concurrent(cache.as_ref(), &keys, args.threads)
                    }
                }
            };
            bar.inc(1);
            Ok((engine.to_owned(), capacity, ratio))
        })
        .collect::<Result<_, Error>>()?;
    bar.finish_and_clear();
    if json {
        let rows: Vec<_> = results
            .iter()
            .map(|(e, c, r)| clockwise_bench::report::ReplayRow {
                engine: e.clone(),
                capacity: *c,
                hit_ratio: *r,
            })
            .collect();
        print_json(&rows);
        return Ok(());
    }
    let dir = PathBuf::from("target/clockwise-bench");
    let svg = dir.join("hit-ratio.svg");
    let lines: Vec<clockwise_bench::chart::Line> = args
        .engines
        .iter()
        .map(|e| {
            let points = args
                .capacities
                .iter()
                .filter_map(|&c| {
                    results
                        .iter()
                        .find(|(re, rc, _)| re == e && *rc == c)
                        .map(|r| (c as f64, 100.0 * r.2))
                })
                .collect();
            (e.clone(), points)
        })
        .collect();
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let title = format!("Hit ratio: {}", args.trace.display());
    let x = if args.weighted {
        "capacity (bytes)"
    } else {
        "capacity (entries)"
    };
    clockwise_bench::chart::lines_svg(&svg, &title, x, "hit ratio %", &lines)?;
    println!(
        "{}: {} requests, {} thread(s), capacities in {}; chart {}",
        args.trace.display(),
        keys.len(),
        args.threads.max(1),
        if args.weighted { "bytes" } else { "entries" },
        svg.display()
    );
    print!("{:<12}", "capacity");
    for e in &args.engines {
        print!(" {e:>12}");
    }
    println!();
    for &c in &args.capacities {
        print!("{c:<12}");
        for e in &args.engines {
            let r = results
                .iter()
                .find(|(re, rc, _)| re == e && *rc == c)
                .map_or(0.0, |x| x.2);
            print!(" {:>11.2}%", 100.0 * r);
        }
        println!();
    }
    Ok(())
}
