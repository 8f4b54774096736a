//! CLOCK-Pro replacement (Jiang, Chen and Zhang, USENIX ATC 2005), in weight.
//!
//! Single-threaded: each shard owns one `ClockPro` behind its write lock.
//! Readers never touch it; they only set an entry's reference bit, which
//! the policy reads, clears and (once, below) sets through [`Host`]. Why
//! the rules are the simulator's, and each departure from the paper:
//! `docs/design/clock-pro.md`.
//!
//! # Structure
//!
//! All tracked pages sit on one circular list ordered by recency of their
//! last move: `head` is the newest, `nodes[head].prev` the oldest. The three
//! hands sweep from old to new, following `prev`, and wrap from the newest
//! page to the oldest:
//! - `hand_cold` rests on the oldest resident cold page: the next page it
//!   examines. No resident cold page lies between the oldest page and it.
//!   Pages turn cold only at the head, so a FIFO of the resident cold pages
//!   (`cold_queue`) is in clock order, and its front is the hand: the
//!   simulator's hand walks over the hot pages and ghosts in between, ours
//!   does not. A page removed from the middle of the queue stays there,
//!   a tombstone, until it reaches the front or the queue is compacted.
//! - `hand_hot` may rest on any page. It turns unreferenced hot pages cold
//!   and moves referenced ones to the head with their bit cleared.
//! - `hand_test` may rest on any page. The hot hand pushes it: whenever the
//!   hot hand leaves the page the test hand rests on, the test hand takes one
//!   step, ending that page's test period (a non-resident page leaves the
//!   list). It also runs on its own to keep the non-resident weight within
//!   the capacity.
//!
//! # The rules, and where they come from
//!
//! The hit ratios of the authors' simulator (Song Jiang's `clock-pro.c`, with
//! its adaptive cold allocation) are the bar in
//! `../shared/traces/anchors.csv`. A reimplementation of the simulator's
//! rules reproduced all 84 published anchors of both of its modes exactly,
//! so this policy follows those rules rather than the paper's prose, which
//! differs in places (`tests/policy.rs` checks it against a restatement of
//! them, hit for hit):
//! - **Warm-up.** While the cache fills, new pages are hot until the free
//!   weight would fall below the minimum cold allocation, then cold in test.
//! - **Hits** only set the page's reference bit (the cache skips even that
//!   for a read right after the same thread's access to the same entry:
//!   the simulator ignores repeated requests).
//! - **A miss on a page in its test period** (a ghost) runs the cold hand
//!   until the page fits, then the hot hand until it demotes a hot page or
//!   reaches the ghost. If it demoted one, the page comes back hot and the
//!   cold allocation owes its weight in "credits" (`+w`); if it reached the
//!   ghost first, the page comes back cold in test.
//! - **Any other miss** runs the cold hand until the page fits and admits
//!   the page cold, in its test period.
//! - **The cold hand** evicts a page that is unreferenced or out of its test
//!   period; an evicted page in its test period stays as a ghost (hash and
//!   weight only). A referenced page in its test period is settled by the
//!   credits, after clearing them if the cold allocation is at its bound:
//!   - credits below zero (cold should shrink): it turns hot without running
//!     the hot hand (`credits += w`);
//!   - credits above zero (cold should grow): the hot hand runs
//!     (`credits -= demoted`), and unless it reached the page, the page
//!     starts a new test period at the head. The simulator then marks the
//!     page the cold hand lands on as referenced, which its comment
//!     suggests was meant for the moved page. The mark stays because it
//!     wins: with it, 17 of the 84 points are below the anchors and the
//!     shortfalls sum to 5.7 points; without it, 34 and 12.7
//!     (`tests/hit_ratio.rs`);
//!   - no credits: the hot hand runs, and the page turns hot if it demoted
//!     a page.
//!
//!   A page the hot hand reached and that was not kept loses its bit and is
//!   evicted at the cold hand's next look.
//! - **A test period that ends unused** costs credits (`-w`) if the page
//!   was a ghost; a resident page just leaves its test period and its
//!   reference bit is cleared.
//! - **The cold allocation** (capacity minus the hot weight) moves within
//!   1% (at least 1) and 99% of the capacity.
//! - **The cold floor** (not in the simulator): the owner may raise the
//!   allocation's lower bound to a share of the capacity
//!   ([`set_cold_floor`](ClockPro::set_cold_floor)); the cache chooses it
//!   with miniature simulations ([`shadows`]). Above 1%, warm-up stops
//!   making pages hot at the floor, credits stop shrinking the allocation
//!   at it, and an insert into a full cache whose allocation is below it
//!   first runs the hot hand until it demotes a page, so the allocation
//!   reaches the floor one page per insert (not with the admission
//!   window on: see `docs/design/clock-pro.md`). At the default share of 0
//!   the floor is the 1% bound and the rules are the simulator's.
//! - **The admission window** (not in the simulator; off until
//!   [`set_window`](ClockPro::set_window)): a new page that is not a ghost
//!   waits in a FIFO off the clock, and enters the clock as above only
//!   if a frequency test lets it ([`window`]). A ghost's page skips the
//!   window, as CLOCK-Pro's test period says it should. The owner may
//!   move the window's share ([`set_window_share`](ClockPro::set_window_share));
//!   the cache climbs it on its hit ratio ([`climb`]).
//! - **Pages moved to the head** have their reference bit cleared.
//! - **Non-resident pages** keep only a hash and a weight, in a node (24
//!   bytes), and a 5-byte bucket of the ghost index. Their total weight is
//!   at most the capacity, so a shard tracks at most twice its capacity.
//! - **Nodes** keep 32 bits of the key's hash (all the shard's table and
//!   the ghost index use: two keys that share them share a ghost, as keys
//!   with one full hash did) and 29-bit links, the status in the top bits
//!   of one. A shard whose every index is taken (over 178 million pages of
//!   weight 1: see [`MAX_NODES`]) frees one before an insert takes one,
//!   rather than let an index wrap.
//!
//! # Work per call
//!
//! Each hand step either clears a reference bit, changes a page's status,
//! moves a page or removes one. The cold hand steps only from one resident
//! cold page to the next (taking tombstones off the queue's front on
//! the way, each once), and each of its steps evicts, promotes or moves the
//! page it examines. The hot hand passes a referenced hot page once per lap
//! (clearing its bit), so it demotes a page within two laps; it and the
//! test hand walk over every kind of page, as in the simulator, because
//! what they pass matters there (the test hand ends test periods; the hot
//! hand pushes it and notes reaching its trigger). One insert is therefore
//! `O(pages tracked)` in the worst case and `O(1)` amortised.
//! Readers may set bits while the hands run, so [`ClockPro::MAX_STEPS`]
//! caps the sparing: past that many steps in one call, the cold hand evicts
//! and the hot hand demotes whatever the bit, so a call takes at most
//! `MAX_STEPS` plus one lap of each hand.

pub(crate) mod climb;
mod ghosts;
mod ring;
pub(crate) mod shadows;
mod sketch;
mod window;
crate::sync::checking! {
    mod validate;
}

use ghosts::Ghosts;
use ring::Ring;
use window::Window;
pub(crate) use window::WINDOW_SHARE;

/// Bits of a node index, the rest of a node's `prev_bits` holding its
/// status (see [`Node`]).
const INDEX_BITS: u32 = 29;

/// The index bits of a node's link words.
const INDEX: u32 = (1 << INDEX_BITS) - 1;

/// No node.
const NIL: u32 = INDEX;

/// The mark bit of a node's `next_bits` (see [`Node::marked`]).
const MARK: u32 = 1 << 31;

/// Node indices are 29-bit and [`NIL`] is none of them: a shard keeps at
/// most this many nodes. Its pages, ghosts and tombstones number at
/// most three times its capacity plus 33, so only a shard of over 178
/// million pages of weight 1 gets here; there, [`ClockPro::insert`] frees a
/// node before taking one (see `free_a_node`), so an index never wraps.
const MAX_NODES: usize = NIL as usize;

/// The part of a key hash the policy keeps: its low 32 bits, which are all
/// the shard's table and the ghost index use.
#[inline(always)]
fn short(hash: u64) -> u64 {
    hash & u64::from(u32::MAX)
}

/// Why the policy removed a resident page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EvictionCause {
    /// Evicted to make room.
    Capacity,
    /// Found expired by the cold hand.
    Expired,
}

/// What the policy needs from the pages' owner.
pub(crate) trait Host<T> {
    /// The page's reference bit.
    fn referenced(&mut self, page: &T) -> bool;
    /// Clears the page's reference bit.
    fn clear_referenced(&mut self, page: &T);
    /// Sets the page's reference bit.
    fn mark_referenced(&mut self, page: &T);
    /// True if the page's time to live has passed.
    fn expired(&mut self, page: &T) -> bool;
    /// The policy has dropped a resident page, whose hash was `hash` and
    /// weight `weight`.
    fn removed(&mut self, page: T, hash: u64, weight: u64, why: EvictionCause);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Hot = 0,
    Cold = 1,
    ColdInTest = 2,
    /// Evicted, still in its test period: only hash and weight remain.
    Ghost = 3,
    /// Removed while cold, neither the oldest nor the newest cold page: off
    /// the clock, but still named in the cold queue, which drops it (and
    /// puts it on the free list) when it reaches the front or is compacted.
    Tombstone = 4,
    /// On the free list.
    Free = 5,
    /// Resident in the admission window, off the clock (see [`window`]).
    Window = 6,
}

impl Status {
    fn resident(self) -> bool {
        matches!(
            self,
            Status::Hot | Status::Cold | Status::ColdInTest | Status::Window
        )
    }
    fn resident_cold(self) -> bool {
        matches!(self, Status::Cold | Status::ColdInTest)
    }
    /// The status whose discriminant is `bits` (a node's top three bits;
    /// 7, never stored, reads as free). A table, not a `match`: one load
    /// on every hand step.
    fn from_bits(bits: u32) -> Status {
        const BY_BITS: [Status; 8] = [
            Status::Hot,
            Status::Cold,
            Status::ColdInTest,
            Status::Ghost,
            Status::Tombstone,
            Status::Free,
            Status::Window,
            Status::Free,
        ];
        BY_BITS[bits as usize & 7]
    }
}

/// One tracked page, 24 bytes with an 8-byte handle: the status rides in
/// the top three bits of the first link word, the admission window's mark
/// in the top bit of the second (see [`window`]), and the hash is the 32
/// bits the policy keeps ([`short`]).
#[derive(Debug)]
struct Node<T> {
    /// The older neighbour's index, and the status in the top bits.
    prev_bits: u32,
    /// The newer neighbour's index, and the mark in the top bit.
    next_bits: u32,
    /// Entries weigh a `u32`; sizes are summed in `u64`.
    weight: u32,
    hash: u32,
    page: Option<T>,
}

// The point of the packing: one node in 24 bytes, not 32.
const _: () = assert!(std::mem::size_of::<Node<std::ptr::NonNull<u8>>>() == 24);

impl<T> Node<T> {
    fn prev(&self) -> u32 {
        self.prev_bits & INDEX
    }
    fn next(&self) -> u32 {
        self.next_bits & INDEX
    }
    fn set_prev(&mut self, n: u32) {
        debug_assert!(n <= INDEX);
        self.prev_bits = (self.prev_bits & !INDEX) | n;
    }
    fn set_next(&mut self, n: u32) {
        debug_assert!(n <= INDEX);
        self.next_bits = (self.next_bits & MARK) | n;
    }
    /// The admission window's mark: on a ghost, the window turned the page
    /// away; on a resident page, the window admitted it over the cold
    /// hand's page.
    fn marked(&self) -> bool {
        self.next_bits & MARK != 0
    }
    fn set_marked(&mut self, on: bool) {
        self.next_bits = (self.next_bits & !MARK) | if on { MARK } else { 0 };
    }
    fn status(&self) -> Status {
        Status::from_bits(self.prev_bits >> INDEX_BITS)
    }
    fn set_status(&mut self, status: Status) {
        self.prev_bits = (self.prev_bits & INDEX) | ((status as u32) << INDEX_BITS);
    }
    fn hash(&self) -> u64 {
        u64::from(self.hash)
    }
}

/// Sizes of the three page classes, in weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sizes {
    pub hot: u64,
    pub cold: u64,
    pub test: u64,
    /// The admission window's pages.
    pub window: u64,
}

/// What one run of the hot hand did.
#[derive(Clone, Copy, Debug)]
struct HotRun {
    /// The hand reached the page that set it going.
    reached: bool,
    /// Weight of the hot page it demoted; 0 if none.
    demoted: u64,
}

/// The replacement state of one shard.
#[derive(Debug)]
pub(crate) struct ClockPro<T> {
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    head: u32,
    hand_hot: u32,
    hand_test: u32,
    /// The resident cold pages in their order on the clock, oldest first,
    /// plus tombstones; never a tombstone at the front. The cold
    /// hand rests on the front (see [`hand_cold`](Self::hand_cold)).
    cold_queue: Ring,
    /// tombstones in `cold_queue`.
    dropped: u64,
    capacity: u64,
    min_cold: u64,
    max_cold: u64,
    max_ghost: u64,
    hot: u64,
    cold: u64,
    ghost: u64,
    hot_count: u64,
    cold_count: u64,
    /// Weight by which the cold allocation should still grow (above zero)
    /// or shrink (below zero).
    credits: i64,
    /// Ghost pages by hash: node indices only, found through the hash in
    /// the node (see [`ghosts`]).
    ghosts: Ghosts,
    /// Hand steps taken by the current call.
    steps: u32,
    /// [`MAX_NODES`], lowered by tests.
    max_nodes: usize,
    /// The cold floor's share of the capacity, in 1/65536ths; 0 leaves
    /// the floor at `min_cold` (see [`set_cold_floor`](Self::set_cold_floor)).
    floor_share: u32,
    /// The admission window, off until [`set_window`](Self::set_window).
    window: Window,
}

/// A share of 1 in [`ClockPro::set_cold_floor`]'s units.
pub(crate) const WHOLE: u32 = 1 << 16;

/// The cold allocation's bounds for `capacity`: 1% (at least 1, at most
/// the capacity) and 99%.
fn cold_bounds(capacity: u64) -> (u64, u64) {
    let min_cold = (capacity / 100).max(1).min(capacity);
    let ninety_nine = (u128::from(capacity) * 99 / 100) as u64;
    let max_cold = ninety_nine.min(capacity - min_cold).max(min_cold);
    (min_cold, max_cold)
}

/// `share` (in 1/65536ths, [`WHOLE`] being all) of `capacity`, rounded
/// down: the cold floor's and the admission window's.
fn share_of(capacity: u64, share: u32) -> u64 {
    ((u128::from(capacity) * u128::from(share)) >> 16) as u64
}

fn signed(w: u64) -> i64 {
    i64::try_from(w).unwrap_or(i64::MAX)
}

impl<T> ClockPro<T> {
    /// Hand steps one call may take before the hands stop sparing
    /// referenced pages.
    pub(crate) const MAX_STEPS: u32 = 4096;

    /// A policy for `capacity` weight, its cold allocation adapting between
    /// 1% (at least 1) and 99% of it, the reference simulator's range. (The
    /// simulator's floor is 2; 1 scores the same or better on every trace.)
    pub(crate) fn new(capacity: u64) -> ClockPro<T> {
        let (min_cold, max_cold) = cold_bounds(capacity);
        ClockPro {
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            hand_hot: NIL,
            hand_test: NIL,
            cold_queue: Ring::default(),
            dropped: 0,
            capacity,
            min_cold,
            max_cold,
            max_ghost: capacity,
            hot: 0,
            cold: 0,
            ghost: 0,
            hot_count: 0,
            cold_count: 0,
            credits: 0,
            ghosts: Ghosts::default(),
            steps: 0,
            max_nodes: MAX_NODES,
            floor_share: 0,
            window: Window::default(),
        }
    }

    /// Raises the cold allocation's lower bound to `share` of the capacity
    /// (in 1/65536ths, at most [`WHOLE`]), within the 1% and 99% bounds; 0
    /// keeps the 1% bound and the simulator's rules (module docs).
    #[inline]
    pub(crate) fn set_cold_floor(&mut self, share: u32) {
        self.floor_share = share.min(WHOLE);
    }

    /// The cold allocation's lower bound now.
    #[inline]
    fn cold_floor(&self) -> u64 {
        if self.floor_share == 0 {
            return self.min_cold;
        }
        share_of(self.capacity, self.floor_share).clamp(self.min_cold, self.max_cold)
    }

    /// A policy that keeps at most `max_nodes` nodes (at least 1), to test
    /// what happens at [`MAX_NODES`] without billions of pages.
    #[cfg(test)]
    pub(crate) fn with_max_nodes(capacity: u64, max_nodes: usize) -> ClockPro<T> {
        ClockPro {
            max_nodes: max_nodes.max(1),
            ..ClockPro::new(capacity)
        }
    }

    /// The weight the resident pages may reach.
    #[inline(always)]
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Resident weight.
    #[inline(always)]
    pub(crate) fn weight(&self) -> u64 {
        self.hot + self.cold + self.window.weight
    }

    /// Gives the policy a new capacity (capacity lent or borrowed, or
    /// taken for a heavy entry elsewhere): the cold allocation's bounds and
    /// the ghosts' follow it; the hands evict until the resident weight
    /// fits, and the test hand until the ghosts' does.
    pub(crate) fn set_capacity(&mut self, host: &mut impl Host<T>, capacity: u64) {
        (self.min_cold, self.max_cold) = cold_bounds(capacity);
        self.capacity = capacity;
        self.max_ghost = capacity;
        self.steps = 0;
        while self.weight() > capacity {
            self.evict_one(host);
        }
        self.trim_ghosts(host);
        // Evictions took cold pages, not the tombstones among them, which
        // must stay within the (fewer) cold pages plus slack.
        self.compact_cold_queue();
        self.organize_hands();
    }

    pub(crate) fn sizes(&self) -> Sizes {
        Sizes {
            hot: self.hot,
            cold: self.cold,
            test: self.ghost,
            window: self.window.weight,
        }
    }

    fn free_weight(&self) -> u64 {
        self.capacity - self.weight()
    }

    fn tail(&self) -> u32 {
        if self.head == NIL {
            NIL
        } else {
            self.nodes[self.head as usize].prev()
        }
    }

    fn node(&self, n: u32) -> &Node<T> {
        &self.nodes[n as usize]
    }

    fn status(&self, n: u32) -> Status {
        self.nodes[n as usize].status()
    }

    /// Node `n`'s weight.
    pub(crate) fn weight_of(&self, n: u32) -> u64 {
        u64::from(self.nodes[n as usize].weight)
    }

    fn alloc(&mut self, hash: u64, weight: u64, page: T) -> u32 {
        let mut node = Node {
            prev_bits: NIL,
            next_bits: NIL,
            weight: u32::try_from(weight).expect("entry weights are u32"),
            hash: hash as u32,
            page: Some(page),
        };
        node.set_status(Status::Free);
        match self.free.pop() {
            Some(n) => {
                self.nodes[n as usize] = node;
                n
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// Moves `n` between statuses, keeping every size in step. A new ghost
    /// takes its hash's place in the index: the older ghost it displaces
    /// (another key with the same hash) is returned, still a ghost.
    #[inline(always)]
    fn set_status(&mut self, n: u32, status: Status) -> Option<u32> {
        let (old, w, hash) = (self.status(n), self.weight_of(n), self.node(n).hash());
        match old {
            Status::Hot => {
                self.hot -= w;
                self.hot_count -= 1;
            }
            Status::Cold | Status::ColdInTest => {
                self.cold -= w;
                self.cold_count -= 1;
                if !status.resident_cold() && status != Status::Tombstone {
                    self.cold_queue_take(n);
                }
            }
            Status::Ghost => {
                self.ghost -= w;
                // The index may name a newer ghost of this hash instead.
                self.ghosts.remove(hash, n);
            }
            Status::Window => {
                self.window.weight -= w;
                self.window.count -= 1;
            }
            Status::Tombstone | Status::Free => {}
        }
        let mut displaced = None;
        match status {
            Status::Hot => {
                self.hot += w;
                self.hot_count += 1;
            }
            Status::Cold | Status::ColdInTest => {
                self.cold += w;
                self.cold_count += 1;
                if !old.resident_cold() {
                    // Pages turn cold only at the head (new, demoted or
                    // moved), so the newest cold page is the newest of all.
                    debug_assert_eq!(self.head, n, "a page turned cold off the head");
                    self.cold_queue.push_back(n);
                }
            }
            Status::Ghost => {
                self.ghost += w;
                let nodes = &self.nodes;
                displaced = self.ghosts.insert(hash, n, |g| nodes[g as usize].hash());
            }
            Status::Window => {
                self.window.weight += w;
                self.window.count += 1;
            }
            Status::Tombstone | Status::Free => {}
        }
        self.nodes[n as usize].set_status(status);
        displaced
    }

    fn link_at_head(&mut self, n: u32) {
        self.link_newest(self.head, n);
        self.head = n;
    }

    /// Links `n` into the circle whose newest node is `newest` ([`NIL`]:
    /// an empty one), between it and the oldest: the clock's or the
    /// admission window's.
    fn link_newest(&mut self, newest: u32, n: u32) {
        if newest == NIL {
            self.nodes[n as usize].set_prev(n);
            self.nodes[n as usize].set_next(n);
        } else {
            let oldest = self.node(newest).prev();
            self.nodes[n as usize].set_next(newest);
            self.nodes[n as usize].set_prev(oldest);
            self.nodes[oldest as usize].set_next(n);
            self.nodes[newest as usize].set_prev(n);
        }
    }

    /// The cold hand: the oldest resident cold page, NIL if there is none.
    ///
    /// Every page turns cold at the head, so no resident cold page is older
    /// than the hand, and the simulator's cold hand, which passes over hot
    /// pages and ghosts to the next resident cold page, always stops on the
    /// oldest one. The cold queue finds it in one step instead of that walk,
    /// which is as long as the clock's non-cold stretch: in a small shard
    /// held at its one-page cold floor, nearly the whole shard per eviction.
    fn hand_cold(&self) -> u32 {
        self.cold_queue.front().unwrap_or(NIL)
    }

    /// Takes the page `n`, which is leaving the cold pages or moving to the
    /// head, out of the cold queue. Pages leave the cold pages in the middle
    /// of the clock only by [`remove`](Self::remove), which drops them in
    /// place instead, so `n` is at one of the queue's ends.
    #[inline]
    fn cold_queue_take(&mut self, n: u32) {
        if self.cold_queue.front() == Some(n) {
            self.cold_queue.pop_front();
            if self.dropped == 0 {
                return;
            }
            while let Some(f) = self.cold_queue.front() {
                if self.status(f) != Status::Tombstone {
                    break;
                }
                self.cold_queue.pop_front();
                self.release_dropped(f);
            }
        } else {
            debug_assert_eq!(self.cold_queue.back(), Some(n), "{n} mid-queue");
            self.cold_queue.pop_back();
        }
    }

    /// Puts a tombstone that has left the cold queue on the free list.
    fn release_dropped(&mut self, n: u32) {
        self.nodes[n as usize].set_status(Status::Free);
        self.free.push(n);
        self.dropped -= 1;
    }

    /// Takes the tombstones out of the cold queue once they outnumber
    /// the cold pages (plus slack), so the queue and the nodes it holds stay
    /// within twice the cold pages and each drop costs `O(1)` amortised.
    fn compact_cold_queue(&mut self) {
        if self.dropped > self.cold_count + 32 {
            self.drain_dropped();
        }
    }

    /// Takes every tombstone out of the cold queue and frees its node.
    fn drain_dropped(&mut self) {
        let (nodes, free) = (&mut self.nodes, &mut self.free);
        self.cold_queue.retain(|n| {
            let node = &mut nodes[n as usize];
            if node.status() != Status::Tombstone {
                return true;
            }
            node.set_status(Status::Free);
            free.push(n);
            false
        });
        self.dropped = 0;
    }

    /// Takes `n` off the list; a hand resting on it moves to the next newer
    /// page, as the simulator moves its hands before it unlinks a page.
    fn unlink(&mut self, n: u32) {
        let (prev, next) = (self.node(n).prev(), self.node(n).next());
        let alone = prev == n;
        for hand in [&mut self.hand_hot, &mut self.hand_test] {
            if *hand == n {
                *hand = if alone { NIL } else { prev };
            }
        }
        if self.head == n {
            self.head = if alone { NIL } else { next };
        }
        if !alone {
            self.nodes[prev as usize].set_next(next);
            self.nodes[next as usize].set_prev(prev);
        }
    }

    fn move_to_head(&mut self, host: &mut impl Host<T>, n: u32, status: Status) {
        // A page alone on the list is already at the head (and unlinking it
        // would take the hands off the list).
        if self.node(n).prev() != n {
            self.unlink(n);
            self.link_at_head(n);
        }
        self.clear_referenced(host, n);
        if self.status(n).resident_cold() && status.resident_cold() {
            // Still cold, and now the newest cold page.
            self.cold_queue_take(n);
            self.cold_queue.push_back(n);
        }
        self.set_status(n, status);
    }

    /// Takes `n` out of the clock for good and returns its page, if resident.
    fn discard(&mut self, n: u32) -> Option<T> {
        if self.status(n) == Status::Window {
            return Some(self.leave_window(n));
        }
        self.unlink(n);
        self.nodes[n as usize].set_marked(false);
        let page = self.nodes[n as usize].page.take();
        let queue = &self.cold_queue;
        if self.status(n).resident_cold() && queue.front() != Some(n) && queue.back() != Some(n) {
            self.set_status(n, Status::Tombstone);
            self.dropped += 1;
            self.compact_cold_queue();
        } else {
            self.set_status(n, Status::Free);
            self.free.push(n);
        }
        page
    }

    fn referenced(&self, host: &mut impl Host<T>, n: u32) -> bool {
        self.node(n)
            .page
            .as_ref()
            .is_some_and(|p| host.referenced(p))
    }

    /// Clears `n`'s reference bit. With the admission window on, a bit
    /// found set is a hit the frequency sketch has not counted yet: it
    /// counts it now (so hits themselves write nothing but the bit).
    fn clear_referenced(&mut self, host: &mut impl Host<T>, n: u32) {
        let node = &self.nodes[n as usize];
        if let Some(page) = &node.page {
            if self.window.on() && host.referenced(page) {
                self.window.sketch.add(node.hash());
            }
            host.clear_referenced(page);
        }
    }

    fn is_ghost_of(&self, n: u32, hash: u64) -> bool {
        self.status(n) == Status::Ghost && self.node(n).hash() == hash
    }

    /// Records an access to a page that is not resident and makes it
    /// resident. Returns its node, to be passed to [`remove`](Self::remove)
    /// or [`replace`](Self::replace) later. `weight` must be at most the
    /// capacity.
    pub(crate) fn insert(
        &mut self,
        host: &mut impl Host<T>,
        hash: u64,
        weight: u64,
        page: T,
    ) -> u32 {
        debug_assert!(weight <= self.capacity && weight > 0);
        let hash = short(hash);
        self.steps = 0;
        if self.free.is_empty() && self.nodes.len() >= self.max_nodes {
            self.free_a_node(host);
        }
        let floor = self.cold_floor();
        if self.floor_share != 0
            && !self.window.on()
            && self.hot_count > 0
            && self.hot + self.cold >= self.capacity
            && self.capacity.saturating_sub(self.hot) < floor
        {
            // The floor rose above the allocation: one hot page steps down.
            // (`NIL` is no page: the hand runs until it demotes one.)
            self.run_hand_hot(host, NIL);
        }
        let nodes = &self.nodes;
        let mut ghost = self.ghosts.get(hash, |g| nodes[g as usize].hash());
        if self.window.on() {
            self.window_sighting(hash);
            if let Some(g) = ghost.filter(|&g| self.node(g).marked()) {
                // Turned away, and back within its test period.
                self.window_returned(g);
                ghost = None;
            }
            if ghost.is_none() {
                return self.enter_window(host, hash, weight, page);
            }
        }
        let status = self.entering_status(host, hash, weight, ghost);
        if let Some(g) = ghost.filter(|&g| self.is_ghost_of(g, hash)) {
            self.discard(g);
        }
        let n = self.alloc(hash, weight, page);
        self.enter_clock(n, status);
        n
    }

    /// The status of a page of `weight` about to enter the clock, after
    /// making room for it: hot while the cache fills above the cold floor,
    /// else cold in its test period, or hot if it is the ghost `ghost` of
    /// `hash` still in its test period once room is made and the hot hand
    /// finds a page to demote for it.
    fn entering_status(
        &mut self,
        host: &mut impl Host<T>,
        hash: u64,
        weight: u64,
        ghost: Option<u32>,
    ) -> Status {
        let free = self.free_weight();
        if free >= weight && free - weight >= self.cold_floor() {
            return Status::Hot;
        }
        while self.free_weight() < weight {
            self.evict_one(host);
        }
        // The cold hand may have ended the ghost's test period.
        match ghost.filter(|&g| free < weight && self.is_ghost_of(g, hash)) {
            Some(g) => {
                let run = self.run_hand_hot(host, g);
                if run.reached && run.demoted == 0 {
                    Status::ColdInTest
                } else {
                    self.credits = self.credits.saturating_add(signed(weight));
                    Status::Hot
                }
            }
            None => Status::ColdInTest,
        }
    }

    /// Puts the resident node `n`, off the clock, on it at the head with
    /// `status`.
    fn enter_clock(&mut self, n: u32, status: Status) {
        self.link_at_head(n);
        self.set_status(n, status);
        self.organize_hands();
    }

    /// The page the cold hand will examine first, and its hash: the next
    /// insert's likely victim, for the owner to prefetch.
    pub(crate) fn next_victim(&self) -> Option<(&T, u64)> {
        let node = self.nodes.get(self.hand_cold() as usize)?;
        Some((node.page.as_ref()?, node.hash()))
    }

    /// Forgets a resident page (explicit removal: no adaptation).
    pub(crate) fn remove(&mut self, n: u32) -> Option<T> {
        let page = self.discard(n);
        self.organize_hands();
        page
    }

    /// Gives a resident page a new handle (an update), in place: it keeps
    /// its status and its place in the clock and in the cold queue.
    /// Returns the old handle.
    pub(crate) fn replace(&mut self, n: u32, page: T) -> T {
        self.nodes[n as usize]
            .page
            .replace(page)
            .expect("a resident page has a handle")
    }

    /// Gives a resident page a new weight (an update that changed it),
    /// then evicts until the weights fit. The page itself may be evicted.
    pub(crate) fn reweigh(&mut self, host: &mut impl Host<T>, n: u32, weight: u64) {
        debug_assert!(weight <= self.capacity && weight > 0);
        let old_weight = self.weight_of(n);
        let class = match self.status(n) {
            Status::Hot => &mut self.hot,
            Status::Cold | Status::ColdInTest => &mut self.cold,
            Status::Window => &mut self.window.weight,
            Status::Ghost | Status::Tombstone | Status::Free => {
                unreachable!("only resident pages are reweighed")
            }
        };
        *class = *class - old_weight + weight;
        self.nodes[n as usize].weight = u32::try_from(weight).expect("entry weights are u32");
        self.steps = 0;
        while self.weight() > self.capacity {
            self.evict_one(host);
        }
        self.organize_hands();
    }

    /// The hash a page was inserted with (kept here, not in the entry), cut
    /// to the bits the policy keeps ([`short`]).
    pub(crate) fn hash(&self, n: u32) -> u64 {
        self.nodes[n as usize].hash()
    }

    /// The handle of a resident page.
    pub(crate) fn page(&self, n: u32) -> Option<&T> {
        let node = self.nodes.get(n as usize)?;
        node.status()
            .resident()
            .then_some(node.page.as_ref())
            .flatten()
    }

    /// Every resident page.
    pub(crate) fn pages(&self) -> impl Iterator<Item = (u32, &T)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.status().resident())
            .filter_map(|(i, n)| n.page.as_ref().map(|p| (i as u32, p)))
    }

    /// Frees one resident page. With weights, the weight to free can exceed
    /// the cold set: when no resident cold page is left, the hot hand first
    /// demotes one (it passes referenced hot pages once, clearing their
    /// bits, so it always finds one).
    fn evict_one(&mut self, host: &mut impl Host<T>) {
        if self.hot_count + self.cold_count == 0 {
            // Only the admission window holds pages.
            self.evict_from_window(host);
            return;
        }
        loop {
            while self.cold_count == 0 {
                self.run_hand_hot(host, NIL);
            }
            if self.run_hand_cold(host) {
                return;
            }
        }
    }

    /// Runs the cold hand until it has freed one page (true) or no resident
    /// cold page is left (false: promotions took the last one).
    fn run_hand_cold(&mut self, host: &mut impl Host<T>) -> bool {
        loop {
            let c = self.hand_cold();
            if c == NIL {
                return false;
            }
            debug_assert!(self.status(c).resident_cold());
            self.steps += 1;
            let forced = self.steps > Self::MAX_STEPS;
            let page = self.node(c).page.as_ref().expect("resident");
            if host.expired(page) {
                let (hash, weight) = (self.node(c).hash(), self.weight_of(c));
                let page = self.discard(c).expect("resident");
                host.removed(page, hash, weight, EvictionCause::Expired);
                return true;
            }
            let in_test = self.status(c) == Status::ColdInTest;
            if forced || !in_test || !self.referenced(host, c) {
                self.evict(host, c);
                return true;
            }
            self.settle_referenced_cold(host, c);
        }
    }

    /// Evicts the resident cold page `c` under the cold hand.
    fn evict(&mut self, host: &mut impl Host<T>, c: u32) {
        let (hash, weight) = (self.node(c).hash(), self.weight_of(c));
        if self.node(c).marked() {
            self.window_admitted_evicted(c);
        }
        if self.status(c) == Status::ColdInTest {
            self.evict_to_ghost(host, c);
        } else {
            let page = self.discard(c).expect("resident");
            host.removed(page, hash, weight, EvictionCause::Capacity);
        }
        self.trim_ghosts(host);
    }

    /// Evicts the resident page `c`, on the clock, keeping it there as a
    /// ghost in its test period.
    fn evict_to_ghost(&mut self, host: &mut impl Host<T>, c: u32) {
        let (hash, weight) = (self.node(c).hash(), self.weight_of(c));
        let page = self.nodes[c as usize].page.take().expect("resident");
        if let Some(older) = self.set_status(c, Status::Ghost) {
            // Two keys with one hash: the older ghost gives way.
            self.discard(older);
        }
        host.removed(page, hash, weight, EvictionCause::Capacity);
    }

    /// The cold hand found `c` referenced in its test period.
    fn settle_referenced_cold(&mut self, host: &mut impl Host<T>, c: u32) {
        // An update that grew a page can leave the hot weight above the
        // capacity until the cold hand has made room.
        let cold_allocation = self.capacity.saturating_sub(self.hot);
        if (self.credits > 0 && cold_allocation >= self.max_cold)
            || (self.credits < 0 && cold_allocation <= self.cold_floor())
        {
            self.credits = 0;
        }
        let w = signed(self.weight_of(c));
        if self.credits < 0 {
            self.move_to_head(host, c, Status::Hot);
            self.credits = self.credits.saturating_add(w);
            return;
        }
        // The branch is chosen before the hot hand runs (its test hand may
        // move the credits).
        let growing = self.credits > 0;
        let run = self.run_hand_hot(host, c);
        if growing {
            self.credits = self.credits.saturating_sub(signed(run.demoted));
        }
        if growing && !run.reached {
            let landing = self.node(c).prev();
            self.move_to_head(host, c, Status::ColdInTest);
            if landing != c {
                if let Some(page) = &self.node(landing).page {
                    // The simulator's mark (see the module notes).
                    host.mark_referenced(page);
                }
            }
        } else if !growing && (!run.reached || run.demoted > 0) {
            self.move_to_head(host, c, Status::Hot);
        } else {
            // The hot hand got here first: `c` goes at the cold hand's next
            // look.
            self.clear_referenced(host, c);
        }
    }

    /// Runs the hot hand until it has demoted a hot page, or has reached
    /// `trigger`, and then on to the next hot page.
    fn run_hand_hot(&mut self, host: &mut impl Host<T>, trigger: u32) -> HotRun {
        let mut run = HotRun {
            reached: false,
            demoted: 0,
        };
        if self.hand_hot == NIL {
            self.hand_hot = self.tail();
        }
        loop {
            let done = run.reached || run.demoted > 0;
            if self.hot_count == 0 || (done && self.status(self.hand_hot) == Status::Hot) {
                return run;
            }
            let h = self.hand_hot;
            self.steps += 1;
            if self.status(h) == Status::Hot {
                let forced = self.steps > Self::MAX_STEPS;
                if !done && (forced || !self.referenced(host, h)) {
                    run.demoted = self.weight_of(h);
                    self.move_to_head(host, h, Status::Cold);
                } else {
                    self.move_to_head(host, h, Status::Hot);
                }
            } else {
                run.reached |= h == trigger;
                self.hand_hot = self.node(h).prev();
            }
            if self.node(self.hand_hot).next() == self.hand_test {
                self.run_hand_test(host);
            }
        }
    }

    /// One step of the test hand: the page under it ends its test period.
    fn run_hand_test(&mut self, host: &mut impl Host<T>) {
        let t = self.hand_test;
        match self.status(t) {
            Status::Ghost => {
                self.credits = self.credits.saturating_sub(signed(self.weight_of(t)));
                self.discard(t);
            }
            status => {
                if status.resident_cold() {
                    self.end_resident_test(host, t);
                }
                self.hand_test = self.node(t).prev();
            }
        }
    }

    /// A resident cold page leaves its test period, its bit cleared.
    fn end_resident_test(&mut self, host: &mut impl Host<T>, n: u32) {
        if self.status(n) == Status::ColdInTest {
            self.set_status(n, Status::Cold);
        }
        self.clear_referenced(host, n);
    }

    /// Keeps the ghosts' weight within `max_ghost`: the test hand moves on
    /// to the next ghost, ending resident test periods on the way, and
    /// drops it.
    fn trim_ghosts(&mut self, host: &mut impl Host<T>) {
        while self.ghost > self.max_ghost {
            self.drop_next_ghost(host);
        }
    }

    /// The test hand moves on to the next ghost, ending resident test
    /// periods on the way, and drops it (an unused test period: it costs
    /// credits). There must be a ghost.
    fn drop_next_ghost(&mut self, host: &mut impl Host<T>) {
        let mut t = self.hand_test;
        while self.status(t) != Status::Ghost {
            if self.status(t).resident_cold() {
                self.end_resident_test(host, t);
            }
            t = self.node(t).prev();
        }
        self.hand_test = t;
        self.credits = self.credits.saturating_sub(signed(self.weight_of(t)));
        self.discard(t);
    }

    /// Every node index is taken (see [`MAX_NODES`]): frees one for the page
    /// being inserted. tombstones go first (they hold nodes and
    /// nothing else), then the next ghost, as if its test period ended;
    /// with neither, the cold hand evicts a page, and a ghost it leaves
    /// goes next.
    #[cold]
    #[inline(never)]
    fn free_a_node(&mut self, host: &mut impl Host<T>) {
        while self.free.is_empty() {
            if self.dropped > 0 {
                self.drain_dropped();
            } else if self.ghost > 0 {
                self.drop_next_ghost(host);
            } else {
                self.evict_one(host);
            }
        }
    }

    /// Restores the hands' invariants after a page was added or removed.
    fn organize_hands(&mut self) {
        if self.head == NIL {
            self.hand_hot = NIL;
            self.hand_test = NIL;
        } else {
            if self.hand_hot == NIL {
                self.hand_hot = self.tail();
            }
            if self.hand_test == NIL {
                self.hand_test = self.tail();
            }
        }
    }
}
