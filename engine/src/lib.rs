//! The clockwise cache engine.
#![deny(missing_docs)]
#![allow(dead_code)] // while the engine is being assembled

mod clock_pro;
#[cfg(test)]
mod clock_pro_sim;
#[cfg(test)]
mod sim_tests {
    #[test]
    #[ignore]
    fn print_anchor_table() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces");
        let anchors = std::fs::read_to_string(dir.join("anchors.csv")).unwrap();
        let mut traces = std::collections::HashMap::new();
        let (mut worse, mut total) = (0, 0);
        for line in anchors.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let trace: &Vec<u64> = traces.entry(f[0].to_owned()).or_insert_with(|| {
                std::fs::read_to_string(dir.join(format!("{}.trc", f[0])))
                    .unwrap()
                    .lines()
                    .map(|l| l.trim().parse().unwrap())
                    .collect()
            });
            let cap: u64 = f[1].parse().unwrap();
            let ours = super::clock_pro_sim::hit_ratio(trace, cap);
            let (lru, fixed, adapt, reference): (f64, f64, f64, f64) = (
                f[3].parse().unwrap(),
                f[7].parse().unwrap(),
                f[8].parse().unwrap(),
                f[9].parse().unwrap(),
            );
            total += 1;
            let bad = ours + 0.005 < reference;
            worse += bad as usize;
            println!(
                "{:8} {:>5} ours={:6.2} ref={:6.2} adapt={:6.2} fixed={:6.2} lru={:6.2} {}",
                f[0],
                cap,
                ours,
                reference,
                adapt,
                fixed,
                lru,
                if bad { "BELOW" } else { "" }
            );
        }
        println!("{worse} of {total} below the reference");
    }
}
