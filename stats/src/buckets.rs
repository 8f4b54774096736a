//! HDR bucket arithmetic, identical to `hdrhistogram`'s for a lowest
//! discernible value of 1, so that a bucket index computed here names the same
//! value range as in an `hdrhistogram::Histogram` with the same bounds.

use crate::ConfigError;

/// The layout of an HDR histogram tracking `1..=highest` with
/// `significant_digits` decimal digits of precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Buckets {
    highest: u64,
    significant_digits: u8,
    half_count_magnitude: u32,
    leading_zero_count_base: u32,
    sub_bucket_mask: u64,
    len: usize,
}

impl Buckets {
    pub(crate) fn new(highest: u64, significant_digits: u8) -> Result<Buckets, ConfigError> {
        if !(1..=5).contains(&significant_digits) {
            return Err(ConfigError::SignificantDigits(significant_digits));
        }
        if highest < 2 {
            return Err(ConfigError::Highest(highest));
        }
        let largest_single_unit = 2 * 10u64.pow(u32::from(significant_digits));
        // ceil(log2(largest_single_unit)), as hdrhistogram computes it.
        let count_magnitude = 64 - (largest_single_unit - 1).leading_zeros();
        let half_count_magnitude = count_magnitude.max(1) - 1;
        let sub_bucket_count = 1u64 << (half_count_magnitude + 1);
        let mut smallest_untrackable = sub_bucket_count;
        let mut bucket_count = 1usize;
        while smallest_untrackable <= highest {
            if smallest_untrackable > u64::MAX / 2 {
                bucket_count += 1;
                break;
            }
            smallest_untrackable <<= 1;
            bucket_count += 1;
        }
        Ok(Buckets {
            highest,
            significant_digits,
            half_count_magnitude,
            leading_zero_count_base: 64 - half_count_magnitude - 1,
            sub_bucket_mask: sub_bucket_count - 1,
            len: (bucket_count + 1) << half_count_magnitude,
        })
    }

    pub(crate) fn highest(&self) -> u64 {
        self.highest
    }

    pub(crate) fn significant_digits(&self) -> u8 {
        self.significant_digits
    }

    /// Number of counts a histogram of this layout holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The index counting `value`, which must be at most `highest`.
    #[inline]
    pub(crate) fn index(&self, value: u64) -> usize {
        debug_assert!(value <= self.highest);
        let bucket = self.leading_zero_count_base - (value | self.sub_bucket_mask).leading_zeros();
        let sub_bucket = (value >> bucket) as usize;
        let half_count = 1usize << self.half_count_magnitude;
        ((bucket as usize + 1) << self.half_count_magnitude) + sub_bucket - half_count
    }

    /// The lowest value counted at `index`.
    pub(crate) fn lowest_value(&self, index: usize) -> u64 {
        let half_count = 1usize << self.half_count_magnitude;
        let mut bucket = (index >> self.half_count_magnitude) as i64 - 1;
        let mut sub_bucket = (index & (half_count - 1)) + half_count;
        if bucket < 0 {
            sub_bucket -= half_count;
            bucket = 0;
        }
        (sub_bucket as u64) << bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_bad_config() {
        assert_eq!(
            Buckets::new(1000, 0),
            Err(ConfigError::SignificantDigits(0))
        );
        assert_eq!(
            Buckets::new(1000, 6),
            Err(ConfigError::SignificantDigits(6))
        );
        assert_eq!(Buckets::new(1, 3), Err(ConfigError::Highest(1)));
    }

    #[test]
    fn default_layout_matches_hdrhistogram_length() {
        let b = Buckets::new(60_000_000_000, 3).unwrap();
        let h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        assert_eq!(b.len(), h.distinct_values());
    }

    proptest! {
        #[test]
        fn index_names_the_same_range_as_hdrhistogram(
            highest in 2u64..u64::MAX / 4,
            digits in 1u8..=5,
            raw in any::<u64>(),
        ) {
            let b = Buckets::new(highest, digits).unwrap();
            let h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, highest, digits).unwrap();
            prop_assert_eq!(b.len(), h.distinct_values());
            let value = raw % (highest + 1);
            let index = b.index(value);
            prop_assert!(index < b.len());
            prop_assert_eq!(b.lowest_value(index), h.lowest_equivalent(value));
            // The next index starts right after this one's range, the
            // last index's too (`HistogramSnapshot::buckets` reads it so).
            if index + 1 < b.len() {
                prop_assert_eq!(b.lowest_value(index + 1), h.next_non_equivalent(value));
            }
            prop_assert_eq!(b.lowest_value(index + 1) - 1, h.highest_equivalent(value));
        }
    }
}
