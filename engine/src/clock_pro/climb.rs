//! Hill climbing the admission window's share of the capacity on the
//! cache's hit ratio, as Caffeine sizes its window (Einziger, Eytan,
//! Friedman and Manes, "Adaptive Software Cache Management", Middleware
//! 2018): after each sample of requests, the share moves one step in the
//! direction that last raised the hit ratio, and turns back when the ratio
//! fell. The step shrinks by [`DECAY`] a sample, so the share settles,
//! and starts over at its full size when the ratio jumps by [`RESTART`]
//! (a new phase of the workload).
//!
//! Three departures from Caffeine keep the share where it is unless the
//! hit ratio says otherwise. The first sample only sets the baseline
//! (Caffeine compares it with 0). A change under [`START_BAND`] does not
//! start a climb, and one under [`MOVING_BAND`] ends it: on a steady
//! workload samples differ by noise and slow drift, and stepping on them
//! walks the share at random. And the first step is down: a cache's hit
//! ratio goes on rising after it is full, while its contents settle
//! (`window_climb` starts sampling only once it is full), and the first step
//! takes that rise for its own doing, so it had better be the one that
//! costs less when wrong: toward a small window, where CLOCK-Pro's own
//! test period still catches what the window misses.
//!
//! The window is where recency wins (a page used again soon after its
//! first use is a hit there whatever its frequency), the clock behind it
//! where frequency does; the production traces replayed in
//! `docs/hit-ratio.md` score best with 5 to 20 % in the window, the
//! LIRS-paper traces with 1 to 2 %. Why samples of [`SAMPLE`] gets per
//! entry: `docs/design/clock-pro.md`, "Climbing the window".

use super::WHOLE;

/// Gets per sample, per entry the cache holds. Shorter samples climb on
/// noise: at 10 (Caffeine's) the synthetic traces lost 1 to 2.5 points
/// on average; 30 to 200 scored within 0.06 points of each other.
pub(crate) const SAMPLE: u64 = 60;

/// The first step, and the step after a restart: 1/16 of the capacity
/// (Caffeine's 6.25 %).
const STEP: f64 = WHOLE as f64 / 16.0;

/// What a step is multiplied by after each sample (Caffeine's).
const DECAY: f64 = 0.98;

/// A change of the hit ratio this large starts the steps over (Caffeine's).
const RESTART: f64 = 0.05;

/// A change of the hit ratio smaller than this (1 point) does not start
/// a climb.
const START_BAND: f64 = 0.01;

/// A change smaller than this (0.1 point) after a step ends the climb.
const MOVING_BAND: f64 = 0.001;

/// The least share: 0.5 %. Caffeine's window may shrink to nothing; a
/// floor keeps some room for recency in a cache whose workload turns
/// (the climber moves again only on a change of a point). Other floors
/// were not measured.
const MIN_SHARE: f64 = WHOLE as f64 / 200.0;

/// The largest share: 80 %, leaving the clock room to keep what the
/// frequency test admits. (Capped at 50 % instead, Caffeine's rules
/// scored the same on every trace.)
const MAX_SHARE: f64 = WHOLE as f64 * 0.8;

/// A climber's state (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Climber {
    /// The window's share, in 1/65536ths of the capacity.
    share: f64,
    /// The next move, signed, in the same units.
    step: f64,
    /// The hit ratio of the previous sample; `None` before the first.
    last_ratio: Option<f64>,
    /// Whether the previous sample moved the share.
    moving: bool,
}

impl Climber {
    /// A climber starting at `share` (1/65536ths), to move down first.
    pub(crate) fn new(share: u32) -> Climber {
        Climber {
            share: f64::from(share),
            step: -STEP,
            last_ratio: None,
            moving: false,
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
        let Some(last) = self.last_ratio.replace(ratio) else {
            return self.share();
        };
        let change = ratio - last;
        let band = if self.moving { MOVING_BAND } else { START_BAND };
        self.moving = change.abs() >= band;
        if !self.moving {
            return self.share();
        }
        let amount = if change >= 0.0 { self.step } else { -self.step };
        self.step = if change.abs() >= RESTART {
            STEP.copysign(amount)
        } else {
            DECAY * amount
        };
        self.share = (self.share + amount).clamp(MIN_SHARE, MAX_SHARE);
        self.share()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: u32 = WHOLE / 2;

    /// A climber at `share` past its baseline sample of `ratio` percent.
    fn started(share: u32, ratio: u64) -> Climber {
        let mut c = Climber::new(share);
        assert_eq!(
            c.sample(ratio, 100),
            share,
            "the first sample sets the baseline"
        );
        c
    }

    #[test]
    fn steps_down_first_and_on_while_the_ratio_rises() {
        let mut c = started(HALF, 30);
        let mut last = c.share();
        for i in 1..=5 {
            let share = c.sample(30 + 2 * i, 100);
            assert!(share < last, "step {i}: {share} after {last}");
            last = share;
        }
    }

    #[test]
    fn turns_back_when_the_ratio_falls() {
        let mut c = started(HALF, 40);
        let down = c.sample(42, 100);
        let lower = c.sample(44, 100);
        assert!(lower < down && down < HALF);
        let back = c.sample(42, 100);
        assert!(back > lower, "{back} after {lower}");
        // Falling again after moving back up reverses again: down.
        let again = c.sample(40, 100);
        assert!(again < back, "{again} after {back}");
    }

    #[test]
    fn small_changes_neither_start_nor_continue_a_climb() {
        let mut c = started(HALF, 50);
        // Under a point: no start.
        assert_eq!(c.sample(50_990, 100_000), HALF);
        assert_eq!(c.sample(50_000, 100_000), HALF);
        let moved = c.sample(51_000, 100_000);
        assert!(moved < HALF, "a point starts it");
        // Moving, a tenth of a point goes on; less ends the climb.
        let on = c.sample(51_100, 100_000);
        assert!(on < moved, "{on} after {moved}");
        assert_eq!(c.sample(51_190, 100_000), on, "under a tenth: stop");
        assert_eq!(c.sample(51_500, 100_000), on, "stopped: a point to start");
    }

    #[test]
    fn steps_shrink_and_restart_on_a_jump() {
        let mut c = started(HALF, 48);
        let a = c.sample(50, 100);
        let b = c.sample(52, 100);
        let c2 = c.sample(54, 100);
        assert!(b - c2 < a - b, "steps {} then {}", a - b, b - c2);
        // A jump of 10 points: the next step is a full one again.
        let d = c.sample(64, 100);
        let e = c.sample(66, 100);
        assert_eq!(d - e, STEP as u32, "a full step after the jump");
    }

    #[test]
    fn stays_within_its_bounds() {
        let mut c = started(HALF, 0);
        for i in 1..=100 {
            c.sample(i, 100);
        }
        assert_eq!(c.share(), MIN_SHARE as u32);
        // One fall turns it up; rises from there keep it going up.
        let mut c = started(HALF, 90);
        c.sample(10, 100);
        for i in 1..=80 {
            c.sample(10 + i, 100);
        }
        assert_eq!(c.share(), MAX_SHARE as u32);
        assert_eq!(c.sample(0, 0), c.share(), "no requests: no move");
        assert_eq!(c.sample(5, 0), c.share());
    }
}
