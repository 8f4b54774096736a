//! The admission window: W-TinyLFU's shape in front of the clock, with an
//! ARC-style bias on its test. Why, and what the alternatives measured:
//! `docs/design/clock-pro.md`, "The admission window as built".
//!
//! With the window on, a new page (not a ghost) enters a FIFO of a share
//! of the capacity instead of the clock, and waits there. The share starts
//! at [`WINDOW_SHARE`]; the cache's climber (`climb`) moves it on the hit
//! ratio, and a smaller share drains the window at its next insert.
//! When the window overflows, its oldest page enters the clock as a new
//! page would (hot while the cache fills, cold in its test period after)
//! if it was referenced in the window (its bit cleared), if the clock has
//! room for it or no cold page to displace, or if the sketch has seen it
//! more often than the cold hand's page, plus the bias. Otherwise it is
//! turned away: evicted, and kept as a ghost marked turned away. (On one
//! shard, giving a referenced page another round in the window instead
//! scored 0.03 points less on average, and admitting it with its bit
//! still set 0.4 less.)
//!
//! The bias tunes the test by its outcomes: a turned-away page that comes
//! back within its test period raises it by [`BIAS_UP`] (the test was too
//! strict), and a page the test admitted over the cold hand's page that
//! the cold hand then evicts lowers it by 1 (too lax), within
//! ±[`BIAS_LIMIT`]. The frequencies come from a [`Sketch`] fed under the
//! lock: by every insert (a miss), and by every reference bit the policy
//! finds set and clears (a hit that set it). Hits write nothing more.
//!
//! # Invariants
//! - Window pages have status [`Status::Window`] and are off the clock;
//!   they link among themselves through their nodes' links, in a circle
//!   whose newest page is `newest` (oldest: its `prev`).
//! - `weight` and `count` are the window pages' weight and number.
//! - A node's mark is set only on a turned-away ghost or on a resident
//!   page admitted over the cold hand's page; a page loses it when it is
//!   evicted.

use super::sketch::Sketch;
use super::{share_of, ClockPro, EvictionCause, Host, Status, NIL, WHOLE};

/// The window's share of the capacity to start with (and to keep, where
/// the cache does not climb it), in 1/65536ths: 2 %. Of the fixed shares
/// measured with the bias (1 % to 5 %), 2 % scored best or within 0.03
/// points of the best (docs/design/clock-pro.md).
pub(crate) const WINDOW_SHARE: u32 = WHOLE / 50;

/// What a turned-away page's return adds to the bias.
const BIAS_UP: i32 = 6;

/// The bias stays within ±this: a sketch counter's range.
pub(super) const BIAS_LIMIT: i32 = 15;

/// The window's state (see the module docs).
#[derive(Debug)]
pub(super) struct Window {
    /// Share of the capacity, in 1/65536ths; 0 when off.
    pub(super) share: u32,
    /// The newest window page; [`NIL`] when empty.
    pub(super) newest: u32,
    pub(super) weight: u64,
    pub(super) count: u64,
    /// Added to the candidate's frequency in the test.
    pub(super) bias: i32,
    pub(super) sketch: Sketch,
}

impl Default for Window {
    fn default() -> Window {
        Window {
            share: 0,
            newest: NIL,
            weight: 0,
            count: 0,
            bias: 0,
            sketch: Sketch::default(),
        }
    }
}

impl Window {
    #[inline(always)]
    pub(super) fn on(&self) -> bool {
        self.share != 0
    }
}

impl<T> ClockPro<T> {
    /// Puts an admission window of `share` of the capacity (in 1/65536ths,
    /// at most [`WHOLE`]) in front of the clock. Called before the first
    /// insert.
    pub(crate) fn set_window(&mut self, share: u32) {
        debug_assert!(self.nodes.is_empty(), "the window is set up front");
        self.window.share = share.min(WHOLE);
    }

    /// Moves the window's share to `share` (1/65536ths, within 1 and
    /// [`WHOLE`]) if the window is on, as the cache's climber decides
    /// (`climb`). A smaller window drains to its new limit at the next
    /// insert that enters it.
    pub(crate) fn set_window_share(&mut self, share: u32) {
        if self.window.on() {
            self.window.share = share.clamp(1, WHOLE);
        }
    }

    /// The window's weight limit: its share of the capacity, at least 1.
    /// (Rounding down scored 0.02 points better than rounding to nearest.)
    fn window_limit(&self) -> u64 {
        share_of(self.capacity, self.window.share).max(1)
    }

    /// Counts an access to `hash` (an insert: a miss) in the sketch, sized
    /// to the pages resident.
    pub(super) fn window_sighting(&mut self, hash: u64) {
        let pages = self.hot_count + self.cold_count + self.window.count + 1;
        self.window.sketch.fit(pages);
        self.window.sketch.add(hash);
    }

    /// A turned-away page came back while its ghost `g` was in its test
    /// period: the test was too strict. The ghost goes; the page enters
    /// the window again.
    pub(super) fn window_returned(&mut self, g: u32) {
        self.window.bias = (self.window.bias + BIAS_UP).min(BIAS_LIMIT);
        self.discard(g);
        self.organize_hands();
    }

    /// The cold hand evicts `c`, which the window admitted over the cold
    /// hand's page: the test was too lax.
    pub(super) fn window_admitted_evicted(&mut self, c: u32) {
        self.window.bias = (self.window.bias - 1).max(-BIAS_LIMIT);
        self.nodes[c as usize].set_marked(false);
    }

    /// A new page enters the window, which first makes room (its oldest
    /// pages move on), and then the clock makes room for the total.
    pub(super) fn enter_window(
        &mut self,
        host: &mut impl Host<T>,
        hash: u64,
        weight: u64,
        page: T,
    ) -> u32 {
        self.drain_window(host, weight);
        // After the drain, the window alone plus `weight` fits the
        // capacity, so this stops before the clock runs out of pages.
        while self.weight() + weight > self.capacity && self.hot_count + self.cold_count > 0 {
            self.evict_one(host);
        }
        let n = self.alloc(hash, weight, page);
        self.set_status(n, Status::Window);
        self.window_link(n);
        n
    }

    /// Links `n` into the window as its newest page.
    fn window_link(&mut self, n: u32) {
        self.link_newest(self.window.newest, n);
        self.window.newest = n;
    }

    /// Takes `n` out of the window's circle (its status unchanged).
    fn window_unlink(&mut self, n: u32) {
        let (prev, next) = (self.node(n).prev(), self.node(n).next());
        if prev == n {
            self.window.newest = NIL;
        } else {
            self.nodes[prev as usize].set_next(next);
            self.nodes[next as usize].set_prev(prev);
            if self.window.newest == n {
                self.window.newest = next;
            }
        }
    }

    /// The window's oldest page; [`NIL`] when empty.
    fn window_oldest(&self) -> u32 {
        match self.window.newest {
            NIL => NIL,
            newest => self.node(newest).prev(),
        }
    }

    /// Takes the window page `n` out for good (removed, evicted or turned
    /// away) and returns its page; its node goes to the free list.
    pub(super) fn leave_window(&mut self, n: u32) -> T {
        self.window_unlink(n);
        let page = self.nodes[n as usize].page.take().expect("resident");
        self.set_status(n, Status::Free);
        self.free.push(n);
        page
    }

    /// Evicts the window's oldest page, untested: only the window holds
    /// pages, and the capacity shrank below them.
    pub(super) fn evict_from_window(&mut self, host: &mut impl Host<T>) {
        let c = self.window_oldest();
        debug_assert_ne!(c, NIL, "evicting from an empty cache");
        let (hash, weight) = (self.node(c).hash(), self.weight_of(c));
        let page = self.leave_window(c);
        host.removed(page, hash, weight, EvictionCause::Capacity);
    }

    /// Moves the window's oldest pages on until `incoming` more fits in it.
    fn drain_window(&mut self, host: &mut impl Host<T>, incoming: u64) {
        let limit = self.window_limit();
        while self.window.weight + incoming > limit {
            let c = self.window_oldest();
            if c == NIL {
                return;
            }
            let (hash, w) = (self.node(c).hash(), self.weight_of(c));
            let page = self.node(c).page.as_ref().expect("resident");
            if host.expired(page) {
                let page = self.leave_window(c);
                host.removed(page, hash, w, EvictionCause::Expired);
                continue;
            }
            let used = self.referenced(host, c);
            if used {
                // Counted in the sketch as it is cleared.
                self.clear_referenced(host, c);
            }
            self.window_unlink(c);
            self.set_status(c, Status::Free);
            let room = self.free_weight() >= w + incoming;
            let victim = self.hand_cold();
            let admit = used
                || room
                || victim == NIL
                || i32::from(self.window.sketch.estimate(hash)) + self.window.bias
                    > i32::from(self.window.sketch.estimate(self.node(victim).hash()));
            if admit {
                self.nodes[c as usize].set_marked(!used && !room && victim != NIL);
                self.admit(host, c);
            } else {
                self.turn_away(host, c);
            }
        }
    }

    /// The window's page `c`, out of the window, enters the clock as a new
    /// page would.
    fn admit(&mut self, host: &mut impl Host<T>, c: u32) {
        let status = self.entering_status(host, self.node(c).hash(), self.weight_of(c), None);
        self.enter_clock(c, status);
    }

    /// The window's page `c`, out of the window, failed the test: evicted,
    /// it stays as a ghost marked turned away.
    fn turn_away(&mut self, host: &mut impl Host<T>, c: u32) {
        self.link_at_head(c);
        self.nodes[c as usize].set_marked(true);
        self.evict_to_ghost(host, c);
        self.organize_hands();
        self.trim_ghosts(host);
    }
}
