//! Every command-line value that used to panic, abort or mislead gets a
//! typed error and exit status 2, before anything is allocated or run;
//! durations accept units. Each case runs the real binary, bounded in time.

use std::time::Duration;

fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("clockwise-inputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs the binary; its status code (None if killed) and stderr.
fn bench(args: &[&str]) -> (Option<i32>, String) {
    let out = assert_cmd::Command::cargo_bin("clockwise-bench")
        .unwrap()
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_values_get_a_typed_error_and_exit_2() {
    let empty = temp("empty.trc", b"");
    let empty = empty.to_str().unwrap();
    let one = temp("one.trc", b"1\n2\n1\n");
    let one = one.to_str().unwrap();
    // (arguments, a word the error must contain)
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--duration", "inf"], "finite"),
        (&["run", "--duration", "1e20"], "at most"),
        (&["run", "--duration", "nan"], "finite"),
        (&["run", "--duration=-1"], "finite"),
        (&["run", "--duration", "0"], "longer than zero"),
        (&["run", "--duration", "5parsecs"], "unit"),
        (&["run", "--ttl", "nan"], "finite"),
        (&["serve", "--duration", "inf"], "finite"),
        (&["serve", "--duration", "1e20"], "at most"),
        (&["serve", "--duration", "nan"], "finite"),
        (&["serve", "--duration=-5"], "finite"),
        (&["run", "--capacity", "18446744073709551615"], "limit"),
        (&["run", "--capacity", "0"], "at least 1"),
        (
            &[
                "replay",
                "--trace",
                one,
                "--capacities",
                "18446744073709551615",
            ],
            "limit",
        ),
        (
            &[
                "replay",
                "--trace",
                one,
                "--capacities",
                "10",
                "--threads",
                "100000",
            ],
            "512",
        ),
        (&["run", "--threads", "100000"], "512"),
        (&["run", "--threads", "0"], "threads"),
        (&["run", "--threads", "512", "--keys", "100"], "MiB"),
        (&["run", "--keys", "10000000000"], "keys"),
        (&["run", "--keys", "0"], "keys"),
        (&["run", "--read-pct", "150"], "read-pct"),
        (&["run", "--read-pct", "rt"], "read-through"),
        (&["overhead", "--rounds", "0"], "rounds"),
        (&["versus", "--rounds", "0"], "rounds"),
        (&["herd", "--threads", "0"], "threads"),
        (
            &["replay", "--trace", empty, "--capacities", "10"],
            "no requests",
        ),
    ];
    let mut wrong = Vec::new();
    for (args, word) in cases {
        let (code, stderr) = bench(args);
        if code != Some(2) || !stderr.contains(word) {
            wrong.push(format!("{args:?}: exit {code:?}, stderr {stderr:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cases wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn durations_take_units() {
    for d in ["200ms", "0.2s", "0.2"] {
        let (code, stderr) = bench(&[
            "run",
            "--duration",
            d,
            "--threads",
            "1",
            "--read-pct",
            "100",
            "--engines",
            "clockwise",
            "--keys",
            "1000",
            "--capacity",
            "100",
            "--json",
        ]);
        assert_eq!(code, Some(0), "--duration {d}: {stderr}");
    }
    // serve for a bounded time, with a unit, and exit 0 on its own.
    let (code, stderr) = bench(&[
        "serve",
        "--duration",
        "300ms",
        "--port",
        "0",
        "--keys",
        "1000",
        "--capacity",
        "100",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
}
