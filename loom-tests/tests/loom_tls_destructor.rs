//! Why the models end each thread with `release_current_for_loom()`: in loom
//! 0.7 an atomic operation inside a spawned model thread's thread-local
//! destructor corrupts loom's object store (an out-of-bounds object index or
//! a heap-corruption abort). This model reproduces it; it is ignored so the
//! suite stays green, and can be run with `--ignored` to see whether a newer
//! loom fixes it.
#![cfg(clockwise_loom)]

use loom::sync::atomic::{AtomicU64, Ordering};

loom::lazy_static! {
    static ref COUNT: AtomicU64 = AtomicU64::new(0);
}

struct BumpOnDrop;

impl Drop for BumpOnDrop {
    fn drop(&mut self) {
        COUNT.fetch_add(1, Ordering::Release);
    }
}

loom::thread_local! {
    static GUARD: BumpOnDrop = BumpOnDrop;
}

#[test]
#[ignore = "loom 0.7 bug: atomic operations in thread-local destructors"]
fn atomic_op_in_a_thread_local_destructor() {
    loom::model(|| {
        let threads: Vec<_> = (0..2)
            .map(|_| loom::thread::spawn(|| GUARD.with(|_| ())))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}
