//! Zipf-distributed keys, shared by the engine's criterion bench and its
//! profiling examples (each includes this file with `#[path]`), so that
//! both draw from the same law.

/// Zipf(`s`) over ranks `0..n` (rank 0 the most popular), mapped to keys
/// scrambled so that popular keys are not adjacent integers.
pub struct Zipf {
    /// `cdf[k]`: the unnormalized weight of ranks `0..=k`.
    cdf: Vec<f64>,
    n: u64,
}

impl Zipf {
    pub fn new(n: u64, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut total = 0.0;
        for k in 1..=n {
            total += 1.0 / (k as f64).powf(s);
            cdf.push(total);
        }
        Zipf { cdf, n }
    }

    /// The key for `u`, a uniform draw from `[0, 1)`.
    pub fn key(&self, u: f64) -> u64 {
        let total = self.cdf.last().copied().unwrap_or(0.0);
        let target = u * total;
        let rank = self.cdf.partition_point(|&c| c < target) as u64;
        rank.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (self.n * 7919)
    }
}
