//! Prints the Prometheus exposition of two busy caches, for
//! `promtool check metrics` in CI:
//!
//! ```text
//! cargo run -q -p clockwise --example exposition | promtool check metrics
//! ```

use clockwise::Cache;
use clockwise_stats::{export::prometheus, Registry};
use std::time::Duration;

fn main() {
    let registry = Registry::new();
    let users: Cache<u64, u64> = Cache::builder()
        .max_capacity(1_000)
        .name("users")
        .registry(&registry)
        .build();
    let sessions: Cache<u64, String> = Cache::builder()
        .max_capacity(10_000)
        .weigher(|_, v: &String| v.len() as u32)
        .time_to_live(Duration::from_millis(1))
        .name("sessions \"eu\\west\"")
        .registry(&registry)
        .build();
    for i in 0..20_000u64 {
        users.insert(i % 3_000, i);
        users.get(&(i % 1_500));
        sessions.insert(i % 500, "x".repeat((i % 40) as usize));
        sessions.get(&(i % 700));
    }
    std::thread::sleep(Duration::from_millis(2));
    for i in 0..500 {
        sessions.get(&i);
    }
    print!("{}", prometheus::render(&registry.gather()));
}
