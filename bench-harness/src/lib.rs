//! clockwise-bench: drive any cache with synthetic workloads or real traces
//! and compare engines side by side.
//!
//! ```
//! use clockwise_bench::{adapters, run, RunConfig};
//! use std::time::Duration;
//! let config = RunConfig { keys: 5_000, duration: Duration::from_millis(10), warmup: Duration::ZERO, ..Default::default() };
//! for name in ["clockwise", "lru"] {
//!     let cache = adapters::build(name, 500).unwrap();
//!     let report = run(cache.as_ref(), 500, &config);
//!     println!("{} {:.1} Mops/s, hit ratio {:.3}", report.engine, report.mops, report.hit_ratio);
//! }
//! ```
#![deny(missing_docs)]

mod adapter;
pub mod chart;
pub mod herd;
pub mod hit_ratio;
#[cfg(feature = "http")]
pub mod http_load;
mod interleave;
pub mod limits;
pub mod loops;
pub mod overhead;
pub mod report;
mod runner;
pub mod trace;
pub mod versus;
mod workload;

pub use adapter::{adapters, CacheAdapter};
pub use runner::{median_of_rounds, run, Report, RunConfig};
pub use workload::Workload;

use std::fmt;

/// Everything the harness can refuse, with where.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An engine name not in [`adapters::NAMES`].
    UnknownEngine(String),
    /// A capacity of zero.
    ZeroCapacity,
    /// A configuration the engine refused, with its message.
    Config(String),
    /// A workload that does not parse.
    Workload(String),
    /// A malformed trace line.
    Trace {
        /// The file.
        file: String,
        /// 1-based line (record, for binary traces).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file that cannot be read or written.
    Io {
        /// The file.
        file: String,
        /// The system's message.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownEngine(e) => write!(
                f,
                "unknown engine {e:?} (known: {})",
                adapters::NAMES.join(", ")
            ),
            Error::ZeroCapacity => f.write_str("capacity must be at least 1"),
            Error::Config(message) => write!(f, "invalid configuration: {message}"),
            Error::Workload(w) => write!(
                f,
                "bad workload {w:?} (use zipf:S, uniform, scan:FRACTION or hotspot:P)"
            ),
            Error::Trace {
                file,
                line,
                message,
            } => write!(f, "{file}:{line}: {message}"),
            Error::Io { file, message } => write!(f, "{file}: {message}"),
        }
    }
}

impl std::error::Error for Error {}
