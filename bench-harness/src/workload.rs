//! Key streams: Zipf, uniform, scan and hot-spot distributions.

use rand::{Rng, SeedableRng};
use std::str::FromStr;

/// A key distribution over `0..keys`.
///
/// ```
/// use clockwise_bench::Workload;
/// let w: Workload = "zipf:0.99".parse().unwrap();
/// let keys = w.stream(1_000, 10_000, 1);
/// assert_eq!(keys.len(), 10_000);
/// assert!(keys.iter().all(|&k| k < 1_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Workload {
    /// Rank `r` (1-based) drawn with probability proportional to `1 / r^s`.
    Zipf(f64),
    /// Every key equally likely.
    Uniform,
    /// A Zipf(0.99) stream in which this fraction of requests is instead a
    /// sequential scan over all keys (a cache-polluting batch job).
    Scan(f64),
    /// This fraction of requests goes to the hottest 1% of keys; the rest
    /// is uniform.
    Hotspot(f64),
}

impl FromStr for Workload {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, crate::Error> {
        let bad = || crate::Error::Workload(s.to_owned());
        let (kind, arg) = s.split_once(':').map_or((s, None), |(k, a)| (k, Some(a)));
        let fraction = |a: Option<&str>| -> Result<f64, crate::Error> {
            let f: f64 = a.ok_or_else(bad)?.parse().map_err(|_| bad())?;
            if (0.0..=1.0).contains(&f) {
                Ok(f)
            } else {
                Err(bad())
            }
        };
        match kind {
            "zipf" => {
                let e: f64 = arg.ok_or_else(bad)?.parse().map_err(|_| bad())?;
                if e.is_finite() && e >= 0.0 {
                    Ok(Workload::Zipf(e))
                } else {
                    Err(bad())
                }
            }
            "uniform" if arg.is_none() => Ok(Workload::Uniform),
            "scan" => Ok(Workload::Scan(fraction(arg)?)),
            "hotspot" => Ok(Workload::Hotspot(fraction(arg)?)),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Workload::Zipf(s) => write!(f, "zipf:{s}"),
            Workload::Uniform => f.write_str("uniform"),
            Workload::Scan(p) => write!(f, "scan:{p}"),
            Workload::Hotspot(p) => write!(f, "hotspot:{p}"),
        }
    }
}

/// Cumulative Zipf weights of ranks `1..=n`.
fn zipf_cdf(n: u64, s: f64) -> Vec<f64> {
    let mut total = 0.0;
    (1..=n)
        .map(|r| {
            total += 1.0 / (r as f64).powf(s);
            total
        })
        .collect()
}

/// Spreads rank `r` over the key space so that popular keys are not
/// neighbours (a bijection on `0..n`).
fn scramble(rank: u64, n: u64) -> u64 {
    // An odd multiplier coprime with n permutes 0..n when n is a power of
    // two; otherwise fall back to the rank itself.
    if n.is_power_of_two() {
        rank.wrapping_mul(0x9E37_79B9_7F4A_7C15) & (n - 1)
    } else {
        rank
    }
}

impl Workload {
    /// `len` keys from this distribution over `0..keys`, deterministic in
    /// `seed`.
    pub fn stream(&self, keys: u64, len: usize, seed: u64) -> Vec<u64> {
        let keys = keys.max(1);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let zipf = |rng: &mut rand::rngs::StdRng, cdf: &[f64]| {
            let u = rng.gen::<f64>() * cdf[cdf.len() - 1];
            scramble(cdf.partition_point(|&c| c < u) as u64, keys)
        };
        match *self {
            Workload::Zipf(s) => {
                let cdf = zipf_cdf(keys, s);
                (0..len).map(|_| zipf(&mut rng, &cdf)).collect()
            }
            Workload::Uniform => (0..len).map(|_| rng.gen_range(0..keys)).collect(),
            Workload::Scan(p) => {
                let cdf = zipf_cdf(keys, 0.99);
                let mut cursor = seed.wrapping_mul(7919) % keys;
                (0..len)
                    .map(|_| {
                        if rng.gen::<f64>() < p {
                            cursor = (cursor + 1) % keys;
                            cursor
                        } else {
                            zipf(&mut rng, &cdf)
                        }
                    })
                    .collect()
            }
            Workload::Hotspot(p) => {
                let hot = (keys / 100).max(1);
                (0..len)
                    .map(|_| {
                        if rng.gen::<f64>() < p {
                            rng.gen_range(0..hot)
                        } else {
                            rng.gen_range(0..keys)
                        }
                    })
                    .map(|k| scramble(k, keys))
                    .collect()
            }
        }
    }
}
