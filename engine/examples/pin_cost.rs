//! What a pin costs: crossbeam-epoch's `pin()` + unpin against a whole
//! clockwise hit (whose pin is two plain stores), on one resident key, in
//! alternating rounds. Run it once as is and once with
//! `CLOCKWISE_NO_MEMBARRIER=1` (every pin then pays a full fence) to see
//! what the asymmetric fence saves on the machine at hand.
//! Usage: `pin_cost [ROUNDS] [PER_ROUND]`.

use std::hint::black_box;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(21);
    let n: u32 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    let cache = clockwise::Cache::<u64, u64>::builder()
        .max_capacity(16)
        .stats(false)
        .build();
    cache.insert(1, 1);
    let per_op = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        start.elapsed().as_nanos() as f64 / f64::from(n)
    };
    let (mut epoch, mut hit) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        epoch.push(per_op(&mut || drop(black_box(crossbeam_epoch::pin()))));
        hit.push(per_op(&mut || {
            black_box(cache.get(black_box(&1)));
        }));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "crossbeam-epoch pin+unpin {:.2} ns; clockwise hit (pin included) {:.2} ns; asymmetric fences: {}",
        median(&mut epoch),
        median(&mut hit),
        clockwise::uses_membarrier()
    );
}
