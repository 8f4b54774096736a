//! `clockwise-bench report` end to end, on the real binary in `--quick`
//! mode: every section measured and rendered from the JSON it kept, the
//! README's marked table replaced, and `--from-json` rendering the same
//! page again without measuring.

use std::time::Duration;

#[test]
fn report_writes_every_section_and_the_readme_table_from_kept_json() {
    let dir = std::env::temp_dir().join(format!("clockwise-report-{}", std::process::id()));
    let traces = dir.join("traces");
    std::fs::create_dir_all(&traces).unwrap();
    // One of the three production traces present, tiny; the others absent.
    std::fs::write(traces.join("w106.trc"), "1\n2\n1\n3\n1\n2\n").unwrap();
    let readme = dir.join("README.md");
    std::fs::write(
        &readme,
        "intro\n<!-- clockwise-bench report: start -->\nstale\n<!-- clockwise-bench report: end -->\nafter\n",
    )
    .unwrap();
    let page = dir.join("BENCHMARKS.md");
    let json_dir = dir.join("json");
    let run = |extra: &[&str]| {
        let out = assert_cmd::Command::cargo_bin("clockwise-bench")
            .unwrap()
            .arg("report")
            .arg("--quick")
            .arg("--out")
            .arg(&page)
            .arg("--readme")
            .arg(&readme)
            .arg("--traces")
            .arg(&traces)
            .arg("--json-dir")
            .arg(&json_dir)
            .args(extra)
            .timeout(Duration::from_secs(300))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[]);
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(text.starts_with(
        "# Benchmarks: regenerate with `cargo run --release -p clockwise-bench -- report`\n"
    ));
    assert!(text.contains("mean nothing"));
    for title in [
        "## Gets and inserts, Zipf 0.99 (the main job)",
        "## Nearly all hits",
        "## Inserts that evict",
        "## All-hit gets, interleaved",
        "## What the metrics cost",
        "## Thundering herd",
        "## Hit ratio: w106",
    ] {
        assert!(text.contains(title), "missing {title}");
    }
    // Each engine of the quick runs has its row in the run tables: 3 mixes
    // in the main run, 1 in each other, on one thread.
    for engine in ["clockwise", "lru"] {
        let rows = text
            .lines()
            .filter(|l| {
                l.starts_with(&format!("| {engine} | 1 | "))
                    && (l.contains(" % gets | ") || l.contains(" | read-through | "))
            })
            .count();
        assert_eq!(rows, 5, "{engine}");
    }
    assert!(text.contains("| lru | 1 | 0 % gets |"));
    assert!(text.contains("| lru | 1 | read-through |"));
    // The present trace replayed at its capacities, with opt; the absent ones say so.
    assert!(text.contains("| capacity | clockwise | moka | quick_cache | lru | opt |"));
    assert!(text.contains("| 8000 | 50.00 % | 50.00 % | 50.00 % | 50.00 % | 50.00 % |"));
    assert!(text.contains(&format!(
        "Not measured: no trace at {}.",
        traces.join("orm-busy.trc").display()
    )));
    // The cachegrind section runs where valgrind is, and says so where not.
    let valgrind = std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok();
    assert!(text.contains("## Instructions and cache misses per operation"));
    if valgrind {
        assert!(text.contains("| loop | engine | instructions | D1 misses | LL misses |"));
        for row in ["| get | clockwise |", "| miss | quick_cache |"] {
            assert!(text.contains(row), "missing {row}");
        }
    } else {
        assert!(text.contains("Not measured: valgrind is not installed."));
    }
    assert!(text.contains("## Memory per entry\n\n"));
    assert!(text.contains("`cargo run --release -p clockwise --example memory`\n\nNot measured: "));
    assert!(text.contains("## Across processes: clockwise-redis\n\n"));
    assert!(text.contains(
        "`cargo run --release -p clockwise-redis --example coherence`\n\nNot measured: "
    ));
    let readme_text = std::fs::read_to_string(&readme).unwrap();
    assert!(!readme_text.contains("stale"));
    assert!(readme_text.starts_with("intro\n<!-- clockwise-bench report: start -->\n"));
    assert!(readme_text.ends_with("<!-- clockwise-bench report: end -->\nafter\n"));
    assert!(readme_text.contains("| clockwise | 1 | 90 % gets |"));

    // Rendering again from the kept JSON gives the same page.
    std::fs::write(&page, "").unwrap();
    run(&["--from-json"]);
    assert_eq!(std::fs::read_to_string(&page).unwrap(), text);
    let _ = std::fs::remove_dir_all(&dir);
}
