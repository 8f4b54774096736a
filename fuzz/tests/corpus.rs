//! Replays the checked-in corpus through the fuzz bodies on stable:
//! `RUSTFLAGS="--cfg fuzzing" cargo test` in this folder.
#![cfg(fuzzing)]

use std::path::Path;

#[test]
fn ops_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/ops");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus/ops exists") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        clockwise_fuzz::ops(&data);
        inputs += 1;
    }
    assert!(
        inputs >= 10,
        "only {inputs} corpus inputs in {}",
        dir.display()
    );
    println!("replayed {inputs} inputs");
}
