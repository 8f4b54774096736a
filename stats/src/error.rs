//! Typed errors of this crate.

use std::fmt;

/// A histogram configuration that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Significant digits must be 1 to 5.
    SignificantDigits(u8),
    /// The highest trackable value must be at least 2.
    Highest(u64),
    /// The sampling period must be at least 1.
    SampleEvery,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::SignificantDigits(d) => {
                write!(f, "significant digits must be 1 to 5, not {d}")
            }
            ConfigError::Highest(h) => {
                write!(f, "highest trackable value must be at least 2, not {h}")
            }
            ConfigError::SampleEvery => f.write_str("sampling period must be at least 1"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A metric name that cannot be used.
///
/// Names follow the Prometheus rule `[a-zA-Z_][a-zA-Z0-9_]*`, so every
/// exporter can use them unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name has a character outside `[a-zA-Z0-9_]`, or starts with a digit.
    Invalid {
        /// The rejected name.
        name: String,
        /// Byte offset of the first offending character.
        at: usize,
    },
    /// Two metrics of one set have this name.
    Duplicate(String),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("metric name is empty"),
            NameError::Invalid { name, at } => write!(
                f,
                "metric name {name:?} has an invalid character at byte {at} \
                 (allowed: [a-zA-Z_][a-zA-Z0-9_]*)"
            ),
            NameError::Duplicate(name) => write!(f, "metric name {name:?} is used twice"),
        }
    }
}

impl std::error::Error for NameError {}

/// Two snapshots that cannot be combined.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MergeError {
    /// Two histograms of the same name have different bucket layouts.
    HistogramLayout,
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::HistogramLayout => {
                f.write_str("histograms with different ranges or precision cannot be combined")
            }
        }
    }
}

impl std::error::Error for MergeError {}

/// Checks `name` against `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let bad = name
        .bytes()
        .enumerate()
        .find(|&(i, b)| !(b.is_ascii_alphabetic() || b == b'_' || (i > 0 && b.is_ascii_digit())));
    match bad {
        Some((at, _)) => Err(NameError::Invalid {
            name: name.to_owned(),
            at,
        }),
        None => Ok(()),
    }
}
