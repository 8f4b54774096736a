//! Bytes per entry beyond the key and value, at 1M `u64 -> u64` entries,
//! counted by a global allocator wrapper (exact heap bytes in use).
//!
//! Two states: just filled (1M distinct inserts into capacity 1M), and
//! steady state after churn (3M distinct inserts), where CLOCK-Pro also
//! keeps non-resident metadata (at most one ghost per resident entry). First,
//! the fixed cost of an empty cache with and without stats. A cache with a
//! time to live is measured too: its entries carry two timestamps.
//!
//! `cargo run --release -p clockwise --example memory [-- --json]`: `--json`
//! prints the rows as JSON (for `clockwise-bench report`).

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

/// One engine in one state: bytes per entry, in all and beyond the 16 of
/// key and value.
struct Row {
    engine: &'static str,
    state: &'static str,
    total: f64,
}

fn measure(
    rows: &mut Vec<Row>,
    engine: &'static str,
    build: impl Fn() -> Box<dyn Fn(u64)>,
    flush: impl Fn(),
) {
    for (state, inserts) in [("filled", N), ("after churn", 3 * N)] {
        flush();
        let before = IN_USE.load(Ordering::Relaxed);
        let insert = build();
        for k in 0..inserts {
            insert(k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        flush();
        let bytes = IN_USE.load(Ordering::Relaxed) - before;
        rows.push(Row {
            engine,
            state,
            total: bytes as f64 / N as f64,
        });
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
    let json = std::env::args().any(|a| a == "--json");
    let (with_stats, without) = (fixed_cost(true), fixed_cost(false));
    let mut rows = Vec::new();
    measure(
        &mut rows,
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
        &mut rows,
        "clockwise, time to live",
        || {
            let c = clockwise::Cache::<u64, u64>::builder()
                .max_capacity(N)
                .time_to_live(std::time::Duration::from_secs(3600))
                .build();
            Box::new(move |k| c.insert(k, k))
        },
        clockwise::collect_garbage,
    );
    measure(
        &mut rows,
        "quick_cache",
        || {
            let c = quick_cache::sync::Cache::<u64, u64>::new(N as usize);
            Box::new(move |k| c.insert(k, k))
        },
        || {},
    );
    measure(
        &mut rows,
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
    if json {
        let items: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"engine\":\"{}\",\"state\":\"{}\",\"bytes_per_entry\":{:.2},\"beyond_key_value\":{:.2}}}",
                    r.engine,
                    r.state,
                    r.total,
                    r.total - 16.0
                )
            })
            .collect();
        println!(
            "{{\"empty_with_stats\":{with_stats},\"empty_without_stats\":{without},\"rows\":[{}]}}",
            items.join(",")
        );
        return;
    }
    println!(
        "clockwise empty cache: {:.1} KiB with stats, {:.1} KiB without",
        with_stats as f64 / 1024.0,
        without as f64 / 1024.0
    );
    for r in &rows {
        println!(
            "{:<24} {:<12} {:>8.1} B/entry total, {:>6.1} beyond key+value",
            r.engine,
            r.state,
            r.total,
            r.total - 16.0
        );
    }
}
