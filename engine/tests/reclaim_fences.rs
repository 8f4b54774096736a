//! The full-fence fallback of the engine's reclamation, in a process of its
//! own (the choice is made once per process): `CLOCKWISE_NO_MEMBARRIER=1`
//! before the first cache operation, then readers, writers and removers at
//! once, values checked on every read, and every value freed exactly once.

use clockwise::Cache;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

/// A value that encodes its key and counts its live copies.
struct Tracked {
    key: u64,
    live: Arc<AtomicUsize>,
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        self.live.fetch_add(1, Ordering::SeqCst);
        Tracked {
            key: self.key,
            live: Arc::clone(&self.live),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

fn tracked(key: u64, live: &Arc<AtomicUsize>) -> Tracked {
    live.fetch_add(1, Ordering::SeqCst);
    Tracked {
        key,
        live: Arc::clone(live),
    }
}

#[test]
fn full_fences_when_membarrier_is_refused() {
    // Before anything in this process pins.
    std::env::set_var("CLOCKWISE_NO_MEMBARRIER", "1");
    assert!(
        !clockwise::uses_membarrier(),
        "CLOCKWISE_NO_MEMBARRIER=1 must select the full-fence fallback"
    );

    let live = Arc::new(AtomicUsize::new(0));
    let cache: Cache<u64, Tracked> = Cache::builder().max_capacity(256).build();
    let threads = 2;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (cache, barrier, live) = (cache.clone(), Arc::clone(&barrier), Arc::clone(&live));
            std::thread::spawn(move || {
                barrier.wait();
                let mut x = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t as u64 + 1);
                for _ in 0..100_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = x % 1024;
                    match x % 10 {
                        0..=5 => {
                            if let Some(v) = cache.get(&key) {
                                assert_eq!(v.key, key, "read another key's value");
                            }
                        }
                        6..=8 => cache.insert(key, tracked(key, &live)),
                        _ => {
                            if let Some(v) = cache.remove(&key) {
                                assert_eq!(v.key, key);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(cache.len() <= 256);
    drop(cache);
    clockwise::collect_garbage();
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "every value is freed exactly once (none leaked, none freed twice)"
    );
}
