//! loom models of the lock-free protocols of `clockwise` and `clockwise-stats`.
//!
//! The models live in `tests/` and compile only with `--cfg clockwise_loom`,
//! which also switches the crates' `src/sync.rs` shims to loom, so the models
//! run the real code:
//!
//! ```text
//! RUSTFLAGS="--cfg clockwise_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p clockwise-loom-tests --release
//! ```
#![deny(missing_docs)]
