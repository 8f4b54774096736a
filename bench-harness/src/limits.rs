//! What the harness accepts on its command line, and the memory it may
//! allocate before a run starts: a bad value gets a typed error (exit 2),
//! never a panic, an abort or a run that means something else.

use std::time::Duration;

/// Threads one run may use.
pub const MAX_THREADS: usize = 512;
/// Capacity in entries. `lru` and `quick_cache` size their tables from it
/// when built (about 40–60 bytes an entry), so this keeps a peer's table
/// within a few GiB.
pub const MAX_CAPACITY: u64 = 1 << 26;
/// Capacity in bytes of a weighted replay (peers allocate nothing up front
/// for it).
pub const MAX_WEIGHTED_CAPACITY: u64 = 1 << 50;
/// Memory a run allocates before it starts (key streams and the Zipf
/// table), checked before allocating.
pub const MAX_UPFRONT_BYTES: u64 = 4 << 30;
/// Keys of a synthetic workload: its Zipf table takes 8 bytes a key.
pub const MAX_KEYS: u64 = MAX_UPFRONT_BYTES / 16;
/// The longest duration accepted: a week.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses a duration: a number with a unit (`500ms`, `20s`, `2m`, `1h`) or
/// a bare number of seconds (`1.5`). Refuses NaN, infinities, negative
/// values and anything over [`MAX_DURATION`].
///
/// ```
/// use clockwise_bench::limits::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("nan").is_err() && parse_duration("-5").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    // A bare number of seconds first (which also catches `inf`, `nan` and
    // exponents, to be refused below), else a number and a unit.
    let (value, scale) = match t.parse::<f64>() {
        Ok(value) => (value, 1.0),
        Err(_) => {
            let at = t
                .rfind(|c: char| !c.is_ascii_alphabetic())
                .map_or(0, |i| i + 1);
            let (number, unit) = t.split_at(at);
            let scale = match unit {
                "ms" => 1e-3,
                "s" => 1.0,
                "m" | "min" => 60.0,
                "h" => 3600.0,
                _ => {
                    return Err(format!(
                        "{text:?}: unknown unit {unit:?} (use ms, s, m or h)"
                    ))
                }
            };
            let value: f64 = number.trim().parse().map_err(|_| {
                format!("{text:?} is not a duration (e.g. 500ms, 20s, 2m, or seconds)")
            })?;
            (value, scale)
        }
    };
    if !value.is_finite() || value < 0.0 {
        return Err(format!(
            "{text:?}: a duration is a finite number, zero or more"
        ));
    }
    let seconds = value * scale;
    if seconds > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "{text:?}: at most {} s (a week)",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// [`parse_duration`], refusing zero.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err(format!("{text:?}: must be longer than zero"));
    }
    Ok(d)
}

/// Checks what a synthetic run of `threads` threads over `keys` keys
/// allocates before it starts: one key stream a thread, and a Zipf table
/// of 8 bytes a key.
pub fn check_upfront(keys: u64, threads: usize) -> Result<(), crate::Error> {
    let bytes = (threads as u64)
        .saturating_mul(crate::runner::STREAM as u64)
        .saturating_mul(8)
        .saturating_add(keys.saturating_mul(8));
    if bytes > MAX_UPFRONT_BYTES {
        return Err(crate::Error::Config(format!(
            "{threads} threads over {keys} keys need {} MiB of key streams and tables before \
             the run starts; the limit is {} MiB",
            bytes >> 20,
            MAX_UPFRONT_BYTES >> 20
        )));
    }
    Ok(())
}

/// Checks a capacity in entries (or bytes, for a weighted replay).
pub fn check_capacity(capacity: u64, weighted: bool) -> Result<(), crate::Error> {
    let max = if weighted {
        MAX_WEIGHTED_CAPACITY
    } else {
        MAX_CAPACITY
    };
    if capacity == 0 {
        return Err(crate::Error::ZeroCapacity);
    }
    if capacity > max {
        return Err(crate::Error::Config(format!(
            "capacity {capacity} is over the harness's limit of {max} {}",
            if weighted {
                "bytes"
            } else {
                "entries (peers allocate their tables up front)"
            }
        )));
    }
    Ok(())
}
