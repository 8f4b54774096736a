//! The hit-ratio page's ARC column against the published `arc` anchors of
//! `../shared/traces/anchors.csv`: the implementation must reproduce them
//! at every point. Skips when the traces are absent, unless `CI` is set.

use std::path::{Path, PathBuf};

fn traces_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces");
    if dir.join("anchors.csv").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set and there are no traces at {}",
        dir.display()
    );
    eprintln!("skipped: no traces at {}", dir.display());
    None
}

#[test]
fn arc_reproduces_the_published_anchors() {
    let Some(dir) = traces_dir() else {
        return;
    };
    let anchors = std::fs::read_to_string(dir.join("anchors.csv")).unwrap();
    let mut header = anchors.lines().next().unwrap().split(',');
    let arc_column = header.position(|c| c == "arc").expect("an arc column");
    let mut traces = std::collections::HashMap::new();
    let mut off = Vec::new();
    let mut points = 0;
    for line in anchors.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let (trace, capacity): (&str, usize) = (cols[0], cols[1].parse().unwrap());
        let want: f64 = cols[arc_column].parse().unwrap();
        let keys = traces.entry(trace.to_owned()).or_insert_with(|| {
            let (keys, _) = clockwise_bench::trace::read(
                &dir.join(format!("{trace}.trc")),
                clockwise_bench::trace::Format::Keys,
            )
            .unwrap();
            keys
        });
        let got = 100.0 * clockwise_bench::trace::arc_hit_ratio(keys, capacity);
        points += 1;
        if (got - want).abs() > 0.005 {
            off.push(format!("{trace}@{capacity}: {got:.2} against {want:.2}"));
        }
    }
    assert!(points >= 80, "only {points} anchor points");
    assert!(
        off.is_empty(),
        "{} points off:\n{}",
        off.len(),
        off.join("\n")
    );
}
