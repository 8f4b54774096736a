//! An owned, mergeable copy of a histogram's counts.

use crate::buckets::Buckets;
use crate::MergeError;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// The counts of a [`Histogram`](crate::Histogram) at one moment (or over an
/// interval, after [`delta`](Self::delta)), stored sparsely: only non-empty
/// buckets, so idle histograms and time-window rings cost little memory.
///
/// Counts are estimates of operations: a sampled value carries the sampling
/// period as its weight (see [`crate::histogram`]).
///
/// ```
/// let h = clockwise_stats::Histogram::new(Default::default(), clockwise_stats::Clock::new()).unwrap();
/// for v in [100, 200, 300, 400] {
///     h.record(v);
/// }
/// let s = h.snapshot();
/// assert_eq!(s.count(), 4);
/// assert_eq!(s.max(), 400);
/// assert_eq!(s.quantile(0.5), 200);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Raw", into = "Raw")]
pub struct HistogramSnapshot {
    buckets: Buckets,
    samples: u64,
    saturated: u64,
    /// `(bucket index, count)`, sorted by index, no zero count.
    counts: Vec<(u32, u64)>,
}

/// The serialized form: the layout, the totals, and the non-empty buckets as
/// `[lowest value of the bucket, count]` pairs.
#[derive(Serialize, Deserialize)]
struct Raw {
    highest: u64,
    significant_digits: u8,
    samples: u64,
    saturated: u64,
    buckets: Vec<(u64, u64)>,
}

impl From<HistogramSnapshot> for Raw {
    fn from(s: HistogramSnapshot) -> Raw {
        Raw {
            highest: s.buckets.highest(),
            significant_digits: s.buckets.significant_digits(),
            samples: s.samples,
            saturated: s.saturated,
            buckets: s
                .counts
                .iter()
                .map(|&(i, c)| (s.buckets.lowest_value(i as usize), c))
                .collect(),
        }
    }
}

impl TryFrom<Raw> for HistogramSnapshot {
    type Error = String;

    fn try_from(raw: Raw) -> Result<Self, String> {
        let buckets =
            Buckets::new(raw.highest, raw.significant_digits).map_err(|e| e.to_string())?;
        let mut counts = Vec::with_capacity(raw.buckets.len());
        for (value, count) in raw.buckets {
            if value > raw.highest {
                return Err(format!(
                    "bucket value {value} above highest {}",
                    raw.highest
                ));
            }
            let index = buckets.index(value) as u32;
            if counts.last().is_some_and(|&(last, _)| last >= index) {
                return Err(format!("bucket values not strictly increasing at {value}"));
            }
            if count != 0 {
                counts.push((index, count));
            }
        }
        Ok(HistogramSnapshot {
            buckets,
            samples: raw.samples,
            saturated: raw.saturated,
            counts,
        })
    }
}

/// The usual quantiles of a histogram, computed in one pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Quantiles {
    /// Estimated number of operations.
    pub count: u64,
    /// Mean, in the histogram's unit.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value (highest equivalent of its bucket).
    pub max: u64,
}

impl HistogramSnapshot {
    pub(crate) fn from_dense(
        buckets: Buckets,
        dense: &[u64],
        samples: u64,
        saturated: u64,
    ) -> HistogramSnapshot {
        let counts = dense
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c != 0)
            .map(|(i, &c)| (i as u32, c))
            .collect();
        HistogramSnapshot {
            buckets,
            samples,
            saturated,
            counts,
        }
    }

    /// Estimated number of operations recorded (sampled values count with
    /// their weight).
    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |s, &(_, c)| s.wrapping_add(c))
    }

    /// Number of values actually measured.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Estimated number of operations whose value exceeded the highest
    /// trackable value and was recorded as that value.
    pub fn saturated(&self) -> u64 {
        self.saturated
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The occupied buckets, lowest first, as `(lowest, highest, count)`:
    /// `count` values from `lowest` to `highest` inclusive. The buckets are
    /// the HDR layout's, so their edges are the same in every snapshot of
    /// histograms of one configuration.
    ///
    /// ```
    /// let h = clockwise_stats::Histogram::new(Default::default(), clockwise_stats::Clock::new()).unwrap();
    /// for v in [5, 5, 1000] {
    ///     h.record(v);
    /// }
    /// let b: Vec<_> = h.snapshot().buckets().collect();
    /// assert_eq!(b[0], (5, 5, 2));
    /// assert!(b[1].0 <= 1000 && 1000 <= b[1].1 && b[1].2 == 1);
    /// ```
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.counts.iter().map(|&(index, count)| {
            let index = index as usize;
            let lowest = self.buckets.lowest_value(index);
            (lowest, self.buckets.lowest_value(index + 1) - 1, count)
        })
    }

    /// The same counts as an `hdrhistogram::Histogram`, for any statistic
    /// this type does not offer.
    pub fn to_hdr(&self) -> hdrhistogram::Histogram<u64> {
        let b = &self.buckets;
        let mut h =
            hdrhistogram::Histogram::new_with_bounds(1, b.highest(), b.significant_digits())
                .expect("a Buckets layout is always a valid hdrhistogram layout");
        for &(index, count) in &self.counts {
            h.record_n(b.lowest_value(index as usize), count)
                .expect("every stored index is within the layout");
        }
        h
    }

    /// The value at quantile `q` (0.0 to 1.0); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.is_empty() {
            return 0;
        }
        self.to_hdr().value_at_quantile(q)
    }

    /// The largest recorded value (highest equivalent of its bucket); 0 when empty.
    pub fn max(&self) -> u64 {
        if self.is_empty() {
            return 0;
        }
        self.to_hdr().max()
    }

    /// Count, mean, p50, p90, p99, p99.9 and max in one pass.
    pub fn quantiles(&self) -> Quantiles {
        if self.is_empty() {
            return Quantiles::default();
        }
        let h = self.to_hdr();
        Quantiles {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }

    /// Estimated sum of all values (bucket midpoints times counts).
    pub fn sum(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let h = self.to_hdr();
        h.mean() * h.len() as f64
    }

    fn zip_with(
        &self,
        other: &HistogramSnapshot,
        op: impl Fn(u64, u64) -> u64,
    ) -> Result<HistogramSnapshot, MergeError> {
        if self.buckets != other.buckets {
            return Err(MergeError::HistogramLayout);
        }
        let (mut a, mut b) = (
            self.counts.iter().peekable(),
            other.counts.iter().peekable(),
        );
        let mut counts = Vec::with_capacity(self.counts.len().max(other.counts.len()));
        loop {
            let (index, x, y) = match (a.peek().copied(), b.peek().copied()) {
                (None, None) => break,
                (Some(&(i, x)), None) => {
                    a.next();
                    (i, x, 0)
                }
                (None, Some(&(j, y))) => {
                    b.next();
                    (j, 0, y)
                }
                (Some(&(i, x)), Some(&(j, y))) => match i.cmp(&j) {
                    Ordering::Less => {
                        a.next();
                        (i, x, 0)
                    }
                    Ordering::Greater => {
                        b.next();
                        (j, 0, y)
                    }
                    Ordering::Equal => {
                        a.next();
                        b.next();
                        (i, x, y)
                    }
                },
            };
            let c = op(x, y);
            if c != 0 {
                counts.push((index, c));
            }
        }
        Ok(HistogramSnapshot {
            buckets: self.buckets,
            samples: op(self.samples, other.samples),
            saturated: op(self.saturated, other.saturated),
            counts,
        })
    }

    /// The counts of both (same layout required).
    pub fn merge(&self, other: &HistogramSnapshot) -> Result<HistogramSnapshot, MergeError> {
        self.zip_with(other, u64::wrapping_add)
    }

    /// What was recorded since `earlier`, an earlier snapshot of the same
    /// histogram.
    pub fn delta(&self, earlier: &HistogramSnapshot) -> Result<HistogramSnapshot, MergeError> {
        self.zip_with(earlier, u64::wrapping_sub)
    }
}
