//! Bytes per entry beyond the key and value, at 1M `u64 -> u64` entries,
//! counted by a global allocator wrapper (exact heap bytes in use).
//!
//! Two states: just filled (1M distinct inserts into capacity 1M), and
//! steady state after churn (3M distinct inserts), where CLOCK-Pro also
//! keeps non-resident metadata (at most one ghost per resident entry). First,
//! the fixed cost of an empty cache with and without stats.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: u64 = 1_000_000;

fn measure(name: &str, build: impl Fn() -> Box<dyn Fn(u64)>, flush: impl Fn()) {
    for (label, inserts) in [("filled", N), ("after churn", 3 * N)] {
        flush();
        let before = IN_USE.load(Ordering::Relaxed);
        let insert = build();
        for k in 0..inserts {
            insert(k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        flush();
        let bytes = IN_USE.load(Ordering::Relaxed) - before;
        println!(
            "{name:<12} {label:<12} {:>8.1} B/entry total, {:>6.1} beyond key+value",
            bytes as f64 / N as f64,
            bytes as f64 / N as f64 - 16.0
        );
        drop(insert);
    }
}

/// Heap bytes of an empty cache of capacity 1,000: the fixed cost (shards,
/// tables, and with stats the counter stripes and latency histograms).
fn fixed_cost(stats: bool) -> usize {
    clockwise::collect_garbage();
    let before = IN_USE.load(Ordering::Relaxed);
    let c = clockwise::Cache::<u64, u64>::builder()
        .max_capacity(1_000)
        .stats(stats)
        .build();
    let bytes = IN_USE.load(Ordering::Relaxed) - before;
    drop(c);
    bytes
}

fn main() {
    println!(
        "clockwise    empty cache  {:>8.1} KiB with stats, {:.1} KiB without",
        fixed_cost(true) as f64 / 1024.0,
        fixed_cost(false) as f64 / 1024.0
    );
    measure(
        "clockwise",
        || {
            let c = clockwise::Cache::<u64, u64>::builder()
                .max_capacity(N)
                .build();
            Box::new(move |k| c.insert(k, k))
        },
        // Frees retired entries now, so they are not counted.
        clockwise::collect_garbage,
    );
    measure(
        "quick_cache",
        || {
            let c = quick_cache::sync::Cache::<u64, u64>::new(N as usize);
            Box::new(move |k| c.insert(k, k))
        },
        || {},
    );
    measure(
        "moka",
        || {
            let c = moka::sync::Cache::<u64, u64>::new(N);
            Box::new(move |k| {
                c.insert(k, k);
                if k % 4096 == 0 {
                    c.run_pending_tasks();
                }
            })
        },
        || {},
    );
}
