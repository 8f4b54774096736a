//! The one place this crate imports the atomics its link state is made of:
//! loom's under `--cfg clockwise_loom`, so the models in
//! `clockwise-loom-tests` run the real state word against the engine.

#[cfg(not(clockwise_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(clockwise_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
