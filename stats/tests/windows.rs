use clockwise_stats::{CounterSet, Snapshot, Span, Ticker, Windows};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Rig {
    counters: Arc<CounterSet<1>>,
    windows: Windows,
    clock: clockwise_stats::Clock,
    mock: Arc<clockwise_stats::Mock>,
}

impl Rig {
    fn new() -> Rig {
        let counters = Arc::new(CounterSet::new(["hit"]).unwrap());
        let source = Arc::clone(&counters);
        let windows = Windows::new(move || {
            let mut s = Snapshot::new(Duration::ZERO);
            source.snapshot_into("", &mut s);
            s
        });
        let (clock, mock) = clockwise_stats::Clock::mock();
        let mut rig = Rig {
            counters,
            windows,
            clock,
            mock,
        };
        rig.tick();
        rig
    }

    fn tick(&mut self) {
        self.windows.tick(self.clock.now()).unwrap();
    }

    /// Adds `hits`, advances the clock by `secs`, ticks.
    fn step(&mut self, hits: u64, secs: u64) {
        self.counters.add(0, hits);
        self.mock.increment(Duration::from_secs(secs));
        self.tick();
    }

    fn hits(&self, span: Span) -> u64 {
        self.windows.view(span).unwrap().counter("hit")
    }
}

#[test]
fn the_first_tick_is_only_a_baseline() {
    let counters = CounterSet::new(["hit"]).unwrap();
    counters.add(0, 1_000);
    let counters = Arc::new(counters);
    let source = Arc::clone(&counters);
    let mut w = Windows::new(move || {
        let mut s = Snapshot::new(Duration::ZERO);
        source.snapshot_into("", &mut s);
        s
    });
    let (clock, mock) = clockwise_stats::Clock::mock();
    w.tick(clock.now()).unwrap();
    counters.add(0, 1);
    mock.increment(Duration::from_secs(1));
    w.tick(clock.now()).unwrap();
    assert_eq!(w.view(Span::Minute).unwrap().counter("hit"), 1);
}

#[test]
fn each_window_keeps_exactly_its_span() {
    let mut rig = Rig::new();
    for _ in 0..120 {
        rig.step(1, 1);
    }
    // 120 one-second steps: the minute holds the last 60, the hour all 120.
    assert_eq!(rig.hits(Span::Minute), 60);
    assert_eq!(rig.hits(Span::Hour), 120);
    assert_eq!(rig.hits(Span::Day), 120);
    let minute = rig.windows.view(Span::Minute).unwrap();
    assert_eq!(minute.interval(), Duration::from_secs(60));
    assert_eq!(minute.rate("hit"), 1.0);
}

#[test]
fn a_gap_longer_than_a_window_empties_it() {
    let mut rig = Rig::new();
    rig.step(7, 1);
    rig.step(0, 2 * 3600); // two idle hours
    assert_eq!(rig.hits(Span::Minute), 0);
    assert_eq!(rig.hits(Span::Hour), 0);
    assert_eq!(rig.hits(Span::Day), 7);
    rig.step(0, 25 * 3600); // more than a day
    assert_eq!(rig.hits(Span::Day), 0);
    rig.step(3, 1);
    assert_eq!(rig.hits(Span::Minute), 3);
}

#[test]
fn a_clock_that_does_not_advance_accumulates_into_the_current_slot() {
    let mut rig = Rig::new();
    rig.step(2, 0);
    rig.step(5, 0);
    let minute = rig.windows.view(Span::Minute).unwrap();
    assert_eq!(minute.counter("hit"), 7);
    assert_eq!(minute.interval(), Duration::ZERO);
    assert_eq!(minute.rate("hit"), 0.0);
}

#[test]
fn a_clock_that_goes_back_counts_at_the_latest_tick() {
    let mut rig = Rig::new();
    rig.step(1, 10);
    rig.counters.add(0, 4);
    rig.mock.decrement(Duration::from_secs(5));
    rig.tick();
    assert_eq!(rig.hits(Span::Minute), 5);
    // Nothing is lost when time moves on again.
    rig.step(0, 61);
    assert_eq!(rig.hits(Span::Hour), 5);
}

#[test]
fn memory_is_fixed_however_long_it_runs() {
    let mut rig = Rig::new();
    for _ in 0..2 * 3600 {
        rig.step(1, 1); // two hours, one tick a second
    }
    // Ticks at t = 1..=7200 s fall in hours 0, 1 and 2 of the day ring.
    assert_eq!(rig.windows.retained(), 60 + 60 + 3);
    for _ in 0..3 * 24 {
        rig.step(1, 3600); // three days, one tick an hour
    }
    assert_eq!(rig.windows.retained(), 144);
    assert_eq!(rig.hits(Span::Day), 24);
}

#[test]
fn the_ticker_ticks_until_stopped() {
    let counters = Arc::new(CounterSet::new(["hit"]).unwrap());
    let source = Arc::clone(&counters);
    let windows = Arc::new(Mutex::new(Windows::new(move || {
        let mut s = Snapshot::new(Duration::ZERO);
        source.snapshot_into("", &mut s);
        s
    })));
    let clock = clockwise_stats::Clock::new();
    // Take the baseline before the hits, so the ticker must record them.
    windows.lock().unwrap().tick(clock.now()).unwrap();
    counters.add(0, 9);
    let ticker = Ticker::start(Arc::clone(&windows), clock, Duration::from_millis(2)).unwrap();
    // Bounded wait for an event, not a timing assertion.
    let seen = (0..5_000).any(|_| {
        std::thread::sleep(Duration::from_millis(1));
        windows
            .lock()
            .unwrap()
            .view(Span::Minute)
            .unwrap()
            .counter("hit")
            == 9
    });
    ticker.stop();
    assert!(seen, "the ticker never recorded the hits");
}
