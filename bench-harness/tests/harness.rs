use clockwise_bench::trace::{self, Format};
use clockwise_bench::{adapters, run, Error, RunConfig, Workload};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

fn temp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clockwise-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs the binary with `args` plus `--json`, expecting success, and parses
/// what it printed.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = assert_cmd::Command::cargo_bin("clockwise-bench")
        .unwrap()
        .args(args)
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

/// libCacheSim oracleGeneral records `(time, id, size)`, next access -1.
fn oracle_general(records: impl IntoIterator<Item = (u32, u64, u32)>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (t, id, size) in records {
        bytes.extend(t.to_le_bytes());
        bytes.extend(id.to_le_bytes());
        bytes.extend(size.to_le_bytes());
        bytes.extend((-1i64).to_le_bytes());
    }
    bytes
}

#[test]
fn readers_parse_every_format() {
    let keys = temp("k.trc", b"1\n2\n\n3\n");
    assert_eq!(trace::read(&keys, Format::Keys).unwrap().0, vec![1, 2, 3]);
    let lirs = temp("l.trc", b"5\n*\n6\n");
    assert_eq!(trace::read(&lirs, Format::Lirs).unwrap().0, vec![5, 6]);
    let arc = temp("a.trc", b"100 2 0 1\n7 1 0 2\n");
    assert_eq!(trace::read(&arc, Format::Arc).unwrap().0, vec![100, 101, 7]);
    let csv = temp("c.csv", b"key,size\n9,1\n8,4\n");
    assert_eq!(trace::read(&csv, Format::Csv).unwrap().0, vec![9, 8]);
    let oracle = oracle_general([(1, 42, 100), (2, 43, 7)]);
    let og = temp("o.bin", &oracle);
    assert_eq!(
        trace::read(&og, Format::OracleGeneral).unwrap(),
        (vec![42, 43], vec![100, 7])
    );
}

#[test]
fn malformed_traces_name_file_and_line() {
    let bad = temp("bad.trc", b"1\n2\nthree\n");
    let err = trace::read(&bad, Format::Keys).unwrap_err();
    assert!(matches!(err, Error::Trace { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("bad.trc:3"), "{err}");
    let arc = temp("bad.arc", b"10\n");
    assert!(matches!(
        trace::read(&arc, Format::Arc).unwrap_err(),
        Error::Trace { line: 1, .. }
    ));
    let short = temp("short.bin", &[0u8; 25]);
    assert!(matches!(
        trace::read(&short, Format::OracleGeneral).unwrap_err(),
        Error::Trace { line: 2, .. }
    ));
    let missing = PathBuf::from("/nonexistent/trace");
    assert!(matches!(
        trace::read(&missing, Format::Keys).unwrap_err(),
        Error::Io { .. }
    ));
}

/// Brute-force OPT: at each miss with a full cache, evict the resident key
/// whose next use is farthest (never used again counts as farthest).
fn opt_by_hand(trace: &[u64], capacity: usize) -> f64 {
    let mut resident: Vec<u64> = Vec::new();
    let mut hits = 0;
    for (i, &k) in trace.iter().enumerate() {
        if resident.contains(&k) {
            hits += 1;
            continue;
        }
        if resident.len() == capacity {
            let next_use = |r: u64| {
                trace[i + 1..]
                    .iter()
                    .position(|&x| x == r)
                    .unwrap_or(usize::MAX)
            };
            let (victim, _) = resident
                .iter()
                .enumerate()
                .max_by_key(|&(_, &r)| next_use(r))
                .unwrap();
            resident.remove(victim);
        }
        resident.push(k);
    }
    hits as f64 / trace.len() as f64
}

#[test]
fn opt_matches_hand_worked_traces() {
    // a b c a b d a b, capacity 2: miss a, miss b, miss c (evict b, used
    // after a), hit a, miss b (evict c, never used again), miss d (evict b,
    // used after a), hit a, miss b: 2 hits in 8.
    let t = [1, 2, 3, 1, 2, 4, 1, 2];
    assert_eq!(trace::opt_hit_ratio(&t, 2), opt_by_hand(&t, 2));
    assert_eq!(trace::opt_hit_ratio(&t, 2), 2.0 / 8.0);
    assert_eq!(trace::opt_hit_ratio(&t, 4), 4.0 / 8.0);
    assert_eq!(trace::opt_hit_ratio(&[], 4), 0.0);
    let mut x = 7u64;
    let long: Vec<u64> = (0..2_000)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % 40
        })
        .collect();
    for cap in [1, 5, 10, 39] {
        assert_eq!(
            trace::opt_hit_ratio(&long, cap),
            opt_by_hand(&long, cap),
            "capacity {cap}"
        );
    }
}

#[test]
fn zipf_frequencies_follow_the_law() {
    let n = 1_000u64;
    let keys = Workload::Zipf(0.99).stream(n, 400_000, 3);
    let mut counts: HashMap<u64, usize> = HashMap::new();
    keys.iter()
        .for_each(|&k| *counts.entry(k).or_default() += 1);
    let mut freq: Vec<usize> = counts.into_values().collect();
    freq.sort_unstable_by(|a, b| b.cmp(a));
    let h: f64 = (1..=n).map(|r| 1.0 / (r as f64).powf(0.99)).sum();
    for rank in [1usize, 2, 10, 100] {
        let expected = 400_000.0 / (rank as f64).powf(0.99) / h;
        let got = freq[rank - 1] as f64;
        assert!(
            (got - expected).abs() / expected < 0.1,
            "rank {rank}: {got} vs {expected:.0}"
        );
    }
}

#[test]
fn workloads_parse_and_refuse_nonsense() {
    assert_eq!("uniform".parse::<Workload>().unwrap(), Workload::Uniform);
    assert_eq!(
        "hotspot:0.9".parse::<Workload>().unwrap(),
        Workload::Hotspot(0.9)
    );
    for bad in [
        "zipf",
        "zipf:-1",
        "scan:2",
        "hotspot:x",
        "gauss:1",
        "uniform:3",
    ] {
        assert!(bad.parse::<Workload>().is_err(), "{bad} parsed");
    }
    let scan = Workload::Scan(1.0).stream(100, 300, 1);
    assert!(
        scan.windows(2).all(|w| w[1] == (w[0] + 1) % 100),
        "a full scan is sequential"
    );
}

/// `--rounds` runs every engine that many times in rotating order and
/// reports one row per engine, mix and thread count: the median round, with
/// the median of the per-round ratios to clockwise.
#[test]
fn rounds_give_one_median_row_per_run_with_its_ratio() {
    let rows = bench_json(&[
        "run",
        "--keys",
        "2000",
        "--capacity",
        "500",
        "--threads",
        "1",
        "--duration",
        "20ms",
        "--warmup",
        "0",
        "--engines",
        "clockwise,lru",
        "--read-pct",
        "90,read-through",
        "--rounds",
        "3",
    ]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for r in rows {
        assert_eq!(r["rounds"], 3, "{r}");
        let ratio = r["clockwise_ratio"].as_f64().unwrap();
        if r["engine"] == "clockwise" {
            assert_eq!(ratio, 1.0);
        } else {
            assert!(ratio > 0.0 && ratio.is_finite(), "{r}");
        }
    }
    let mixes: Vec<_> = rows
        .iter()
        .map(|r| r["read_through"].as_bool().unwrap())
        .collect();
    assert_eq!(mixes, [false, false, true, true]);
}

/// Read-through inserts what it misses: each key misses at most once,
/// where the same gets without inserts keep missing the keys the pre-fill
/// did not cover.
#[test]
fn read_through_inserts_each_missed_key_once() {
    let config = |read_through| RunConfig {
        workload: clockwise_bench::Workload::Uniform,
        keys: 5_000,
        threads: 1,
        ops: Some(200_000),
        warmup: Duration::ZERO,
        read_pct: 100,
        read_through,
        ..RunConfig::default()
    };
    for name in adapters::NAMES {
        let misses = |read_through| {
            let cache = adapters::build(name, 10_000).unwrap();
            let r = run(cache.as_ref(), 10_000, &config(read_through));
            assert_eq!(r.read_through, read_through);
            ((1.0 - r.hit_ratio) * r.ops as f64).round() as u64
        };
        let (through, plain) = (misses(true), misses(false));
        // Uniform keys: the pre-fill's 20,000 draws leave about
        // 5,000 / e^4 = 92 keys out.
        assert!(through <= 200, "{name}: {through} misses with read-through");
        assert!(plain > 1_000, "{name}: {plain} misses without inserts");
    }
}

#[test]
fn every_engine_runs_a_tiny_workload() {
    let config = RunConfig {
        keys: 2_000,
        threads: 2,
        duration: Duration::from_millis(30),
        warmup: Duration::from_millis(5),
        read_pct: 90,
        ..RunConfig::default()
    };
    for name in adapters::NAMES {
        let cache = adapters::build(name, 500).unwrap();
        let r = run(cache.as_ref(), 500, &config);
        assert_eq!(r.engine, name);
        assert!(r.ops > 0 && r.mops > 0.0, "{name}: {r:?}");
        assert!(r.hit_ratio > 0.0 && r.hit_ratio <= 1.0, "{name}: {r:?}");
        assert!(
            r.p50_ns <= r.p99_ns && r.p99_ns <= r.p999_ns,
            "{name}: {r:?}"
        );
    }
    assert!(matches!(
        adapters::build("nope", 1),
        Err(Error::UnknownEngine(_))
    ));
    assert!(matches!(
        adapters::build("lru", 0),
        Err(Error::ZeroCapacity)
    ));
}

#[test]
fn replay_through_an_adapter_counts_hits() {
    let lru = adapters::build("lru", 2).unwrap();
    // a b a c b: hit a; c evicts b (LRU); b misses.
    assert_eq!(trace::replay(lru.as_ref(), &[1, 2, 1, 3, 2]), 1.0 / 5.0);
}

mod binary {
    use assert_cmd::Command;

    fn bench() -> Command {
        Command::cargo_bin("clockwise-bench").unwrap()
    }

    #[test]
    fn runs_a_tiny_workload_and_prints_json() {
        let reports = super::bench_json(&[
            "run",
            "--keys",
            "1000",
            "--capacity",
            "100",
            "--threads",
            "1",
            "--duration",
            "0.05",
            "--read-pct",
            "100",
            "--engines",
            "clockwise,lru",
        ]);
        let engines: Vec<&str> = reports
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["engine"].as_str().unwrap())
            .collect();
        assert_eq!(engines, ["clockwise", "lru"]);
    }

    #[test]
    fn replays_a_tiny_trace() {
        let path = super::temp("tiny.trc", b"1\n2\n1\n3\n2\n");
        let out = bench()
            .args([
                "replay",
                "--trace",
                path.to_str().unwrap(),
                "--capacities",
                "2",
                "--engines",
                "lru,opt",
            ])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("20.00%"), "lru hit ratio missing:\n{text}");
        assert!(text.contains("40.00%"), "opt hit ratio missing:\n{text}");
    }

    #[test]
    fn bad_input_is_one_line_and_exit_2() {
        let path = super::temp("bad2.trc", b"1\nx\n");
        for args in [
            vec!["run", "--engines", "nope"],
            vec!["run", "--capacity", "0"],
            vec!["run", "--workload", "zipf:abc"],
            vec![
                "replay",
                "--trace",
                path.to_str().unwrap(),
                "--capacities",
                "4",
            ],
        ] {
            let assert = bench().args(&args).assert().code(2);
            let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
            assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        }
    }
}

#[test]
fn herd_single_flight_engines_load_once_and_lru_once_per_thread() {
    use clockwise_bench::herd::{run, HerdConfig};
    let config = HerdConfig {
        threads: 16,
        rounds: 3,
        load_time: Duration::from_millis(30),
    };
    for engine in ["clockwise", "moka", "quick_cache"] {
        let r = run(engine, &config).unwrap();
        assert_eq!(r.loads_per_key, 1.0, "{engine}");
        // Everyone waited for the one 30 ms load.
        assert!(r.wait_max_us >= 25_000, "{engine}: {r:?}");
    }
    // No single flight: with 16 threads and a 30 ms loader, several load.
    assert!(run("lru", &config).unwrap().loads_per_key > 1.0);
    assert!(matches!(run("nope", &config), Err(Error::UnknownEngine(_))));
}

#[test]
fn binary_runs_the_herd_subcommand() {
    use assert_cmd::Command;
    let rows = bench_json(&[
        "herd",
        "--threads",
        "4",
        "--rounds",
        "2",
        "--load-ms",
        "5",
        "--engines",
        "clockwise,lru",
    ]);
    assert_eq!(rows[0]["engine"], "clockwise");
    assert_eq!(rows[0]["loads_per_key"], 1.0);
    let failed = Command::cargo_bin("clockwise-bench")
        .unwrap()
        .args(["herd", "--engines", "memcached"])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&failed.get_output().stderr).into_owned();
    assert!(stderr.contains("unknown engine \"memcached\""), "{stderr}");
}

#[test]
fn concurrent_replay_counts_every_request_once() {
    // A working set that fits: every request after the first of its key
    // hits, whatever the interleaving, so the ratio is exact.
    let keys: Vec<u64> = (0..20_000).map(|i| i % 50).collect();
    for threads in [1, 2, 4] {
        let cache = adapters::build("clockwise", 1_000).unwrap();
        let ratio = trace::replay_concurrent(cache.as_ref(), &keys, threads);
        // At most one miss per key per thread (two threads may miss one key together).
        assert!(
            ratio >= 1.0 - (50.0 * threads as f64) / 20_000.0,
            "{threads}: {ratio}"
        );
        assert!(ratio <= 1.0 - 50.0 / 20_000.0, "{threads}: {ratio}");
    }
}

#[test]
fn binary_writes_charts_for_runs_and_replays() {
    use assert_cmd::Command;
    let dir = std::env::temp_dir().join(format!("clockwise-bench-charts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Command::cargo_bin("clockwise-bench")
        .unwrap()
        .current_dir(&dir)
        .args([
            "run",
            "--keys",
            "1000",
            "--capacity",
            "100",
            "--threads",
            "1,2",
            "--duration",
            "0.05",
            "--engines",
            "clockwise,lru",
            "--read-pct",
            "100",
        ])
        .assert()
        .success();
    let svg = std::fs::read_to_string(dir.join("target/clockwise-bench/throughput.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("clockwise 100 % gets"));
    let trace = dir.join("t.keys");
    std::fs::write(&trace, "1\n2\n1\n3\n1\n2\n").unwrap();
    Command::cargo_bin("clockwise-bench")
        .unwrap()
        .current_dir(&dir)
        .args([
            "replay",
            "--trace",
            trace.to_str().unwrap(),
            "--capacities",
            "1,2",
            "--engines",
            "clockwise,opt",
            "--threads",
            "2",
        ])
        .assert()
        .success();
    let svg = std::fs::read_to_string(dir.join("target/clockwise-bench/hit-ratio.svg")).unwrap();
    assert!(svg.contains("opt"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_by_operation_count_measures_that_many() {
    let cache = adapters::build("clockwise", 500).unwrap();
    let config = RunConfig {
        keys: 5_000,
        threads: 2,
        ops: Some(100_000),
        warmup: Duration::ZERO,
        ..RunConfig::default()
    };
    let r = run(cache.as_ref(), 500, &config);
    // Each thread runs its 50,000 rounded up to a 256-operation batch.
    assert!(r.ops >= 100_000 && r.ops < 100_000 + 2 * 256, "{}", r.ops);
}

#[test]
fn ttl_runs_on_engines_that_have_one_and_is_refused_elsewhere() {
    use clockwise_bench::adapters::{build_with, EngineOptions};
    let ttl = |capacity| EngineOptions {
        ttl: Some(Duration::from_millis(1)),
        ..EngineOptions::new(capacity)
    };
    let c = build_with("clockwise", &ttl(100)).unwrap();
    c.insert(1, 1);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(c.get(1), None, "expired");
    assert!(matches!(
        build_with("quick_cache", &ttl(100)),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        build_with("moka", &ttl(0)),
        Err(Error::ZeroCapacity)
    ));
}

#[test]
fn large_values_round_trip_on_every_engine() {
    use clockwise_bench::adapters::{build_with, EngineOptions, MAX_VALUE_SIZE};
    for value_size in [0, 8, 9, 4096] {
        for name in adapters::NAMES {
            let options = EngineOptions {
                value_size,
                ..EngineOptions::new(64)
            };
            let cache = build_with(name, &options).unwrap();
            for k in 0..32u64 {
                cache.insert(k, k * 1_000_003 + u64::MAX / 3);
            }
            for k in 0..32u64 {
                // Every engine keeps 32 of 64 entries; the value read back
                // is the one written, through the payload's first 8 bytes.
                assert_eq!(
                    cache.get(k),
                    Some(k * 1_000_003 + u64::MAX / 3),
                    "{name} with {value_size}-byte values, key {k}"
                );
            }
        }
    }
    let huge = EngineOptions {
        value_size: MAX_VALUE_SIZE + 1,
        ..EngineOptions::new(64)
    };
    assert!(matches!(build_with("lru", &huge), Err(Error::Config(_))));
}

#[test]
fn binary_records_the_value_size_in_reports() {
    use assert_cmd::Command;
    let reports = bench_json(&[
        "run",
        "--keys",
        "1000",
        "--capacity",
        "100",
        "--threads",
        "1",
        "--duration",
        "0.05",
        "--read-pct",
        "90",
        "--engines",
        "clockwise,quick_cache",
        "--value-size",
        "1024",
    ]);
    for r in reports.as_array().unwrap() {
        assert_eq!(r["value_size"], 1024, "{r}");
        assert!(r["hit_ratio"].as_f64().unwrap() > 0.1, "{r}");
    }
    Command::cargo_bin("clockwise-bench")
        .unwrap()
        .args(["run", "--value-size", "999999999999"])
        .assert()
        .code(2);
}

#[test]
fn weighted_opt_is_belady_with_unit_sizes_and_keeps_within_capacity() {
    let mut x = 11u64;
    let long: Vec<u64> = (0..3_000)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % 50
        })
        .collect();
    for cap in [1, 7, 20, 49] {
        assert_eq!(
            trace::opt_weighted_hit_ratio(&long, &vec![1; long.len()], cap as u64),
            opt_by_hand(&long, cap),
            "capacity {cap}"
        );
    }
    // Sizes of 0 weigh 1, like the engines' weighers.
    assert_eq!(
        trace::opt_weighted_hit_ratio(&long, &vec![0; long.len()], 20),
        opt_by_hand(&long, 20)
    );
    // An object heavier than the cache never hits; the light one always
    // does after its first request.
    let t = [1, 2, 1, 2, 1, 2];
    assert_eq!(
        trace::opt_weighted_hit_ratio(&t, &[500, 10, 500, 10, 500, 10], 100),
        2.0 / 6.0
    );
    // 40 + 70 > 100 and every miss is fetched: each evicts the other.
    let t = [1, 2, 1, 2, 1];
    assert_eq!(
        trace::opt_weighted_hit_ratio(&t, &[40, 70, 40, 70, 40], 100),
        0.0
    );
    // Heavy 1 and 2 (60) and light 3 (20) at 100: 1 2 3 1 3 2 3 keeps 3
    // and whichever heavy one comes back sooner.
    let t = [1, 2, 3, 1, 3, 2, 3];
    let w = [60, 60, 20, 60, 20, 60, 20];
    // 2 evicts 1; 3 joins; 1 evicts 2 (next used at 5, after 3's at 4);
    // 3 hits; 2 evicts 1 (never used again); 3 hits.
    assert_eq!(trace::opt_weighted_hit_ratio(&t, &w, 100), 2.0 / 7.0);
}

#[test]
fn weighted_engines_bound_the_sum_of_sizes() {
    use clockwise_bench::adapters::{build_with, EngineOptions};
    let weighted = |capacity| EngineOptions {
        weighted: true,
        ..EngineOptions::new(capacity)
    };
    let t = [1, 2, 1, 2, 1, 2, 1, 2];
    for name in ["clockwise", "lru", "quick_cache"] {
        let tight = build_with(name, &weighted(100)).unwrap();
        assert_eq!(
            trace::replay_weighted(tight.as_ref(), &t, &[60; 8], 1),
            0.0,
            "{name}: two 60s never fit in 100"
        );
        let oversize = build_with(name, &weighted(100)).unwrap();
        assert_eq!(
            trace::replay_weighted(oversize.as_ref(), &[5, 5, 5], &[101; 3], 1),
            0.0,
            "{name}: an object over the capacity is not admitted"
        );
    }
    for name in ["clockwise", "lru"] {
        let roomy = build_with(name, &weighted(120)).unwrap();
        assert_eq!(
            trace::replay_weighted(roomy.as_ref(), &t, &[60; 8], 1),
            6.0 / 8.0,
            "{name}: two 60s fit in 120"
        );
    }
    assert!(matches!(
        build_with(
            "lru",
            &EngineOptions {
                value_size: 64,
                ..weighted(10)
            }
        ),
        Err(Error::Config(_))
    ));
}

#[test]
fn binary_replays_an_oracle_general_trace_by_weight() {
    // Objects 1 and 2 weigh 60, object 3 weighs 10: at 100 bytes only one
    // of the heavy two fits beside the light one.
    let ids = [1u64, 3, 2, 3, 1, 3, 2, 3];
    let oracle = oracle_general(
        ids.into_iter()
            .enumerate()
            .map(|(t, id)| (t as u32, id, if id == 3 { 10 } else { 60 })),
    );
    let path = temp("weighted.og", &oracle);
    let rows = bench_json(&[
        "replay",
        "--trace",
        path.to_str().unwrap(),
        "--format",
        "oracle-general",
        "--weighted",
        "--capacities",
        "100,200",
        "--engines",
        "lru,opt",
    ]);
    let ratio = |engine: &str, capacity: u64| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["engine"] == engine && r["capacity"] == capacity)
            .and_then(|r| r["hit_ratio"].as_f64())
            .unwrap()
    };
    // At 100 the heavy ones evict each other under both: 3 hits on the
    // light object.
    assert_eq!(ratio("lru", 100), 3.0 / 8.0);
    assert_eq!(ratio("opt", 100), 3.0 / 8.0);
    // At 200 everything fits: only the three first requests miss.
    assert_eq!(ratio("lru", 200), 5.0 / 8.0);
    assert_eq!(ratio("opt", 200), 5.0 / 8.0);
}

#[test]
fn overhead_interleaves_the_caches_and_reports_consistent_quantiles_and_control() {
    use clockwise_bench::overhead::{measure, OverheadConfig};
    let r = measure(&OverheadConfig {
        threads: 2,
        rounds: 5,
        block: Duration::from_millis(3),
        keys: 2_000,
    });
    assert_eq!((r.threads, r.rounds), (2, 5));
    assert!(r.stats_on_mops > 0.0 && r.stats_off_mops > 0.0, "{r:?}");
    assert!(r.ratio_p10 <= r.ratio && r.ratio <= r.ratio_p90, "{r:?}");
    assert!(r.control > 0.0, "{r:?}");
    assert!(
        r.control_p10 <= r.control && r.control <= r.control_p90,
        "{r:?}"
    );
    let rows = bench_json(&[
        "overhead",
        "--threads",
        "1",
        "--rounds",
        "2",
        "--block-ms",
        "2",
        "--keys",
        "1000",
    ]);
    assert_eq!(rows[0]["rounds"], 2);
    assert!(rows[0]["ratio"].as_f64().unwrap() > 0.0);
    assert!(rows[0]["control"].as_f64().unwrap() > 0.0);
}

#[test]
fn versus_reports_each_engine_against_clockwise_per_thread_count() {
    let reports = bench_json(&[
        "versus",
        "--threads",
        "1,2",
        "--rounds",
        "2",
        "--block-ms",
        "2",
        "--keys",
        "1000",
        "--engines",
        "quick_cache,clockwise",
    ]);
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 2);
    for (report, threads) in reports.iter().zip([1, 2]) {
        assert_eq!(report["threads"], threads);
        let rows = report["rows"].as_array().unwrap();
        assert_eq!(rows[0]["engine"], "quick_cache");
        assert!(rows[0]["clockwise_ratio"].as_f64().unwrap() > 0.0);
        assert_eq!(rows[1]["engine"], "clockwise");
        assert_eq!(rows[1]["clockwise_ratio"], 1.0);
    }
    // Without clockwise there is nothing to compare with: a clear error.
    let failed = assert_cmd::Command::cargo_bin("clockwise-bench")
        .unwrap()
        .args(["versus", "--engines", "quick_cache,moka", "--rounds", "1"])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&failed.get_output().stderr).into_owned();
    assert!(stderr.contains("list it among the engines"), "{stderr}");
}
