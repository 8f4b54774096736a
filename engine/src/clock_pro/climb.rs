//! Hill climbing the admission window's share of the capacity on the
//! cache's hit ratio, as Caffeine sizes its window (Einziger, Eytan,
//! Friedman and Manes, "Adaptive Software Cache Management", Middleware
//! 2018): after each sample of requests, the share moves one step in the
//! direction that last raised the hit ratio, and turns back when the ratio
//! fell. The step shrinks by [`DECAY`] a sample, so the share settles,
//! and starts over at its full size when the ratio jumps by [`RESTART`]
//! (a new phase of the workload).
//!
//! The window is where recency wins (a page used again soon after its
//! first use is a hit there whatever its frequency), the clock behind it
//! where frequency does; the production traces replayed in
//! `docs/hit-ratio.md` score best with 5 to 20 % in the window, the
//! LIRS-paper traces with 1 to 2 %. Why samples of [`SAMPLE`] times the
//! capacity: `docs/design/clock-pro.md`, "Climbing the window".

use super::WHOLE;

/// Requests per sample, per unit of capacity. Shorter samples climb on
/// noise: at 10 (Caffeine's) the synthetic traces lost 1 to 2.5 points
/// on average; 30 to 100 scored within 0.05 points of each other.
pub(crate) const SAMPLE: u64 = 60;

/// The first step, and the step after a restart: 1/16 of the capacity
/// (Caffeine's 6.25 %).
const STEP: f64 = WHOLE as f64 / 16.0;

/// What a step is multiplied by after each sample (Caffeine's).
const DECAY: f64 = 0.98;

/// A change of the hit ratio this large starts the steps over (Caffeine's).
const RESTART: f64 = 0.05;

/// The least share: 0.5 %, so that a page used twice in a row still meets
/// its first use in the window.
const MIN_SHARE: f64 = WHOLE as f64 / 200.0;

/// The largest share: 80 %, leaving the clock room to keep what the
/// frequency test admits.
const MAX_SHARE: f64 = WHOLE as f64 * 0.8;

/// A climber's state (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Climber {
    /// The window's share, in 1/65536ths of the capacity.
    share: f64,
    /// The next move, signed, in the same units.
    step: f64,
    /// The hit ratio of the previous sample.
    last_ratio: f64,
}

impl Climber {
    /// A climber starting at `share` (1/65536ths), first moving up.
    pub(crate) fn new(share: u32) -> Climber {
        Climber {
            share: f64::from(share),
            step: STEP,
            last_ratio: 0.0,
        }
    }

    /// The share now, in 1/65536ths of the capacity.
    pub(crate) fn share(&self) -> u32 {
        self.share as u32
    }

    /// A sample ended with `hits` of `requests` hits: moves the share, and
    /// returns it. A sample without requests changes nothing.
    pub(crate) fn sample(&mut self, hits: u64, requests: u64) -> u32 {
        if requests == 0 {
            return self.share();
        }
        let ratio = hits.min(requests) as f64 / requests as f64;
        let change = ratio - self.last_ratio;
        let amount = if change >= 0.0 { self.step } else { -self.step };
        self.step = if change.abs() >= RESTART {
            STEP.copysign(amount)
        } else {
            DECAY * amount
        };
        self.last_ratio = ratio;
        self.share = (self.share + amount).clamp(MIN_SHARE, MAX_SHARE);
        self.share()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: u32 = WHOLE / 50;

    #[test]
    fn keeps_climbing_while_the_ratio_rises() {
        let mut c = Climber::new(START);
        let mut last = c.share();
        for i in 1..=5 {
            let share = c.sample(40 + i, 100);
            assert!(share > last, "step {i}: {share} after {last}");
            last = share;
        }
    }

    #[test]
    fn turns_back_when_the_ratio_falls() {
        let mut c = Climber::new(START);
        let up = c.sample(40, 100);
        let higher = c.sample(41, 100);
        assert!(higher > up);
        let back = c.sample(39, 100);
        assert!(back < higher, "{back} after {higher}");
        // Falling again after moving back down reverses again: up.
        let again = c.sample(38, 100);
        assert!(again > back, "{again} after {back}");
    }

    #[test]
    fn steps_shrink_and_restart_on_a_jump() {
        let mut c = Climber::new(WHOLE / 4);
        let a = c.sample(50, 100);
        let b = c.sample(51, 100);
        let c2 = c.sample(52, 100);
        assert!(c2 - b < b - a, "steps {} then {}", b - a, c2 - b);
        // A jump of 10 points: the next step is a full one again.
        let d = c.sample(62, 100);
        let e = c.sample(63, 100);
        assert_eq!(e - d, STEP as u32, "a full step after the jump");
    }

    #[test]
    fn stays_within_its_bounds() {
        let mut c = Climber::new(START);
        for i in 0..200 {
            c.sample(i.min(100), 100);
        }
        assert_eq!(c.share(), MAX_SHARE as u32);
        // One fall turns it down; rises from there keep it going down.
        let mut c = Climber::new(WHOLE / 4);
        c.sample(90, 100);
        c.sample(10, 100);
        for i in 11..100 {
            c.sample(i, 100);
        }
        assert_eq!(c.share(), MIN_SHARE as u32);
        assert_eq!(c.sample(0, 0), c.share(), "no requests: no move");
        assert_eq!(c.sample(5, 0), c.share());
    }
}
