//! Sampled, striped HDR latency histograms.
//!
//! # Invariants
//!
//! - Every stripe ([`crate::slot`]) has its own bucket array and head
//!   (sampling countdown, sample count, saturation count). An owned stripe is
//!   written only by its holder thread, with `Relaxed` load + store; a shared
//!   stripe only with `fetch_add`.
//! - A snapshot only loads. Once recording threads are joined, it sees every
//!   recorded sample exactly once; while they run, each bucket it reads lies
//!   between its values at the start and the end of the snapshot.
//!
//! # Sampling
//!
//! With `sample_every = N`, the recording thread's countdown makes every N-th
//! call of [`Histogram::start`] return a [`Sample`]; the others return `None`
//! and read no clock. A finished sample is recorded with weight N, so
//! [`HistogramSnapshot::count`] estimates the number of operations and the
//! quantiles are those of the sampled operations (a uniform weight does not
//! move a quantile). [`HistogramSnapshot::samples`] is the number of values
//! actually measured, which says how much to trust the tail.
//!
//! # Why not `hdrhistogram::sync`
//!
//! Its recorders send their data to the reader only when the reader calls
//! `refresh`, which waits for every recorder to reach a synchronisation point:
//! an idle recorder thread (one parked in a pool, say) stalls the reader, and
//! recorders pay a channel hand-off. Here the reader simply sums stripes.

use crate::buckets::Buckets;
use crate::slot::Slot;
use crate::sync::{AtomicU64, Ordering};
use crate::{ConfigError, HistogramSnapshot, ThreadSlot};
use crossbeam_utils::CachePadded;

/// How a [`Histogram`] buckets and samples values.
///
/// ```
/// let config = clockwise_stats::HistogramConfig::default().sample_every(16);
/// assert_eq!(config.sampling(), 16);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramConfig {
    highest: u64,
    significant_digits: u8,
    sample_every: u32,
}

impl Default for HistogramConfig {
    /// 1 ns to 60 s, 3 significant digits, every operation timed.
    fn default() -> Self {
        HistogramConfig {
            highest: 60_000_000_000,
            significant_digits: 3,
            sample_every: 1,
        }
    }
}

impl HistogramConfig {
    /// The highest value tracked exactly; larger values are recorded as this
    /// value and counted as saturated.
    pub fn highest(mut self, highest: u64) -> Self {
        self.highest = highest;
        self
    }

    /// Decimal digits of precision, 1 to 5.
    pub fn significant_digits(mut self, digits: u8) -> Self {
        self.significant_digits = digits;
        self
    }

    /// Time one operation in `n` (`n >= 1`).
    pub fn sample_every(mut self, n: u32) -> Self {
        self.sample_every = n;
        self
    }

    /// The configured sampling period.
    pub fn sampling(&self) -> u32 {
        self.sample_every
    }
}

#[derive(Debug)]
struct Head {
    /// Calls of `start` left until the next sample (owned: single writer).
    countdown: AtomicU64,
    /// Values recorded into this stripe.
    samples: AtomicU64,
    /// Weight of the values clamped to `highest`.
    saturated: AtomicU64,
}

#[derive(Debug)]
struct Stripe {
    head: CachePadded<Head>,
    counts: Box<[AtomicU64]>,
}

impl Stripe {
    fn new(len: usize, countdown: u64) -> Stripe {
        Stripe {
            head: CachePadded::new(Head {
                countdown: AtomicU64::new(countdown),
                samples: AtomicU64::new(0),
                saturated: AtomicU64::new(0),
            }),
            counts: (0..len).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Adds `n` to `cell`, which only this thread writes when `owned`.
#[inline]
fn bump(cell: &AtomicU64, n: u64, owned: bool) {
    if owned {
        // Single writer (module invariants): load + store loses nothing.
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    } else {
        cell.fetch_add(n, Ordering::Relaxed);
    }
}

/// A started measurement, returned by [`Histogram::start`] for sampled calls.
#[derive(Debug)]
#[must_use = "a sample records nothing until it is finished"]
pub struct Sample {
    start: u64,
}

/// A lock-free latency histogram in nanoseconds, striped per thread.
///
/// Recording touches only the calling thread's stripe: no allocation, lock or
/// syscall, and a clock read only for sampled calls. Memory:
/// `stripes × buckets × 8` bytes, allocated up front (1 ns to 60 s at 3
/// digits is 27,648 buckets, 216 KiB per stripe).
///
/// ```
/// use clockwise_stats::{Histogram, HistogramConfig};
/// use std::time::Duration;
///
/// let (clock, mock) = clockwise_stats::Clock::mock();
/// let h = Histogram::new(HistogramConfig::default(), clock).unwrap();
/// let sample = h.start().expect("every call is sampled by default");
/// mock.increment(Duration::from_micros(250));
/// h.finish(sample);
/// let snap = h.snapshot();
/// assert_eq!(snap.count(), 1);
/// assert!((249_000..=251_000).contains(&snap.quantile(0.5)));
/// ```
#[derive(Debug)]
pub struct Histogram {
    buckets: Buckets,
    sample_every: u64,
    clock: crate::Clock,
    /// [`Layout::total`](crate::slot::Layout::total) stripes, owned ones first.
    stripes: Box<[Stripe]>,
}

impl Histogram {
    /// An empty histogram timed with `clock`.
    pub fn new(config: HistogramConfig, clock: crate::Clock) -> Result<Histogram, ConfigError> {
        if config.sample_every == 0 {
            return Err(ConfigError::SampleEvery);
        }
        let buckets = Buckets::new(config.highest, config.significant_digits)?;
        let layout = crate::slot::layout();
        let every = u64::from(config.sample_every);
        // Owned countdowns count down from N; shared ones count calls up from 0.
        let stripes = (0..layout.total())
            .map(|i| Stripe::new(buckets.len(), if i < layout.owned { every } else { 0 }))
            .collect();
        Ok(Histogram {
            buckets,
            sample_every: every,
            clock,
            stripes,
        })
    }

    fn stripe(&self, slot: Slot) -> (&Stripe, bool) {
        (&self.stripes[slot.index()], slot.is_owned())
    }

    /// Starts timing this call if it is the sampled one in N.
    #[inline]
    pub fn start(&self) -> Option<Sample> {
        self.start_at(ThreadSlot::current())
    }

    /// [`start`](Self::start) with a slot the caller already looked up.
    #[inline]
    pub fn start_at(&self, slot: ThreadSlot) -> Option<Sample> {
        if self.sample_every == 1 {
            return Some(Sample {
                start: self.clock.raw(),
            });
        }
        let (stripe, owned) = self.stripe(slot.0);
        let countdown = &stripe.head.countdown;
        let due = if owned {
            let left = countdown.load(Ordering::Relaxed);
            let due = left <= 1;
            let next = if due { self.sample_every } else { left - 1 };
            countdown.store(next, Ordering::Relaxed);
            due
        } else {
            // Shared stripe: a counter of calls, sampled at multiples of N.
            (countdown.fetch_add(1, Ordering::Relaxed) + 1) % self.sample_every == 0
        };
        due.then(|| Sample {
            start: self.clock.raw(),
        })
    }

    /// Starts timing unconditionally, for a caller that makes its own
    /// sampling decision (one call in N, where N is this histogram's
    /// `sample_every`, so that [`finish`](Self::finish)'s weight is right).
    #[inline]
    pub fn start_always(&self) -> Sample {
        Sample {
            start: self.clock.raw(),
        }
    }

    /// Records the time since `sample` started, with weight N.
    #[inline]
    pub fn finish(&self, sample: Sample) {
        self.finish_at(ThreadSlot::current(), sample);
    }

    /// [`finish`](Self::finish) with a slot the caller already looked up.
    #[inline]
    pub fn finish_at(&self, slot: ThreadSlot, sample: Sample) {
        let nanos = self.clock.delta_as_nanos(sample.start, self.clock.raw());
        self.record_at(slot, nanos, self.sample_every);
    }

    /// Times `f` if this call is sampled.
    ///
    /// ```
    /// let h = clockwise_stats::Histogram::new(Default::default(), clockwise_stats::Clock::new()).unwrap();
    /// assert_eq!(h.time(|| 2 + 2), 4);
    /// assert_eq!(h.snapshot().samples(), 1);
    /// ```
    #[inline]
    pub fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let slot = ThreadSlot::current();
        let sample = self.start_at(slot);
        let out = f();
        if let Some(sample) = sample {
            self.finish_at(slot, sample);
        }
        out
    }

    /// Records one value (in nanoseconds) with weight 1, whatever the sampling.
    #[inline]
    pub fn record(&self, nanos: u64) {
        self.record_at(ThreadSlot::current(), nanos, 1);
    }

    /// Records `nanos` with weight `weight`. Values above the configured
    /// highest are recorded as the highest and counted as saturated.
    #[inline]
    pub fn record_at(&self, slot: ThreadSlot, nanos: u64, weight: u64) {
        let (stripe, owned) = self.stripe(slot.0);
        let value = if nanos > self.buckets.highest() {
            bump(&stripe.head.saturated, weight, owned);
            self.buckets.highest()
        } else {
            nanos
        };
        bump(&stripe.counts[self.buckets.index(value)], weight, owned);
        bump(&stripe.head.samples, 1, owned);
    }

    /// The snapshot of a histogram of this layout that has recorded
    /// nothing, without allocating one: for a source that creates its
    /// histogram on first use but reports a stable set of metrics.
    ///
    /// ```
    /// use clockwise_stats::{Histogram, HistogramConfig};
    /// let config = HistogramConfig::default().significant_digits(2);
    /// let empty = Histogram::empty_snapshot(config).unwrap();
    /// assert!(empty.is_empty());
    /// let h = Histogram::new(config, clockwise_stats::Clock::new()).unwrap();
    /// assert_eq!(h.snapshot(), empty);
    /// ```
    pub fn empty_snapshot(config: HistogramConfig) -> Result<HistogramSnapshot, ConfigError> {
        let buckets = Buckets::new(config.highest, config.significant_digits)?;
        Ok(HistogramSnapshot::from_dense(buckets, &[], 0, 0))
    }

    /// Merges all stripes into an owned snapshot.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut counts = vec![0u64; self.buckets.len()];
        let mut samples = 0u64;
        let mut saturated = 0u64;
        for stripe in self.stripes.iter() {
            // Relaxed loads: see the module invariants for what a snapshot
            // taken while writers run may see.
            samples = samples.wrapping_add(stripe.head.samples.load(Ordering::Relaxed));
            saturated = saturated.wrapping_add(stripe.head.saturated.load(Ordering::Relaxed));
            for (sum, cell) in counts.iter_mut().zip(stripe.counts.iter()) {
                *sum = sum.wrapping_add(cell.load(Ordering::Relaxed));
            }
        }
        HistogramSnapshot::from_dense(self.buckets, &counts, samples, saturated)
    }
}
