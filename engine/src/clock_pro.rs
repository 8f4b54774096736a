//! CLOCK-Pro replacement (Jiang, Chen and Zhang, USENIX ATC 2005), in weight.
//!
//! Single-threaded: each shard owns one `ClockPro` behind its write lock.
//! Readers never touch it; they only set an entry's reference bit, which
//! the policy reads and clears through [`Host`].
//!
//! # Structure
//!
//! All tracked pages sit on one circular list ordered by recency of their
//! last move: `head` is the newest, `nodes[head].prev` the oldest. The three
//! hands sweep from old to new, following `prev`:
//! - `hand_cold` rests on the oldest resident cold page: the next victim;
//! - `hand_hot` on the oldest hot page: hot pages it passes unreferenced
//!   turn cold;
//! - `hand_test` on the oldest page in its test period: pages it passes end
//!   their test period (non-resident ones leave the list).
//!
//! Conventions (the authors' reference simulator's, whose hit ratios are the
//! bar in `../shared/traces/anchors.csv`):
//! - While the cache fills, new pages are hot until the free weight falls to
//!   the minimum cold allocation, then cold in test (the warm-up).
//! - A page moved to the head has its reference bit cleared.
//! - The cold target moves by the page's weight: `+` when a page in its test
//!   period is re-accessed (once per promotion attempt), `-` when a test
//!   period ends unused. It stays within `[min_cold, max_cold]`.
//! - A re-accessed cold page is promoted only if the hot hand can demote a
//!   hot page before reaching it; otherwise it stays cold in a new test period.
//! - Non-resident pages keep only a hash and a weight; their total weight is
//!   at most the capacity, so a shard tracks at most twice its capacity.
//!
//! # Work per call
//!
//! Each hand step either clears a reference bit, changes a page's status or
//! removes a page. A hand passes a page at most twice per lap (the second time
//! its bit is clear), so one insert does at most `O(pages tracked)` steps in
//! the worst case and `O(1)` amortised. Readers may set bits while the hands
//! run, so [`ClockPro::MAX_STEPS`] caps the sparing: past that many steps in
//! one call, the cold hand evicts and the hot hand demotes whatever the bit.
//! A call therefore takes at most `MAX_STEPS` plus one lap of the hot hand
//! plus the test-hand steps needed to end surplus test periods.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const NIL: u32 = u32::MAX;

/// The ghost index's keys are already 64-bit hashes from the cache's
/// (randomly seeded) hasher, so hashing them again would only cost time.
#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type GhostIndex = HashMap<u64, u32, BuildHasherDefault<KeyIsHash>>;

/// Why the policy removed a resident page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Removal {
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
    /// True if the page's time to live has passed.
    fn expired(&mut self, page: &T) -> bool;
    /// The policy has dropped a resident page, whose hash was `hash`.
    fn removed(&mut self, page: T, hash: u64, why: Removal);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Hot,
    Cold,
    ColdInTest,
    /// Evicted, still in its test period: only hash and weight remain.
    Ghost,
    /// On the free list.
    Free,
}

impl Status {
    fn resident(self) -> bool {
        matches!(self, Status::Hot | Status::Cold | Status::ColdInTest)
    }
    fn resident_cold(self) -> bool {
        matches!(self, Status::Cold | Status::ColdInTest)
    }
    fn in_test(self) -> bool {
        matches!(self, Status::ColdInTest | Status::Ghost)
    }
}

#[derive(Debug)]
struct Node<T> {
    prev: u32,
    next: u32,
    status: Status,
    /// Entries weigh a `u32`; sizes are summed in `u64`.
    weight: u32,
    hash: u64,
    page: Option<T>,
}

/// Sizes of the three page classes, in weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sizes {
    pub hot: u64,
    pub cold: u64,
    pub test: u64,
}

/// The replacement state of one shard.
#[derive(Debug)]
pub(crate) struct ClockPro<T> {
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    head: u32,
    hand_hot: u32,
    hand_cold: u32,
    hand_test: u32,
    capacity: u64,
    min_cold: u64,
    max_cold: u64,
    cold_target: u64,
    max_ghost: u64,
    hot: u64,
    cold: u64,
    ghost: u64,
    hot_count: u64,
    cold_count: u64,
    in_test_count: u64,
    /// Ghost pages by hash.
    ghosts: GhostIndex,
    /// Hand steps taken by the current call.
    steps: u32,
    /// The page whose promotion is being decided: its re-access has already
    /// moved the cold target, so ending its test period must not move it again.
    candidate: u32,
}

impl<T> ClockPro<T> {
    /// Hand steps one call may take before the cold hand stops sparing
    /// referenced pages.
    pub(crate) const MAX_STEPS: u32 = 4096;

    /// A policy for `capacity` weight, its cold target adapting between 1%
    /// and 99% of it (at least 1, and leaving the hot set at least the
    /// minimum), the reference simulator's range. A floor of 2 instead cost
    /// 0.3 to 0.45 points on cpp@50, cpp@100 and sprite@100.
    pub(crate) fn new(capacity: u64) -> ClockPro<T> {
        let min_cold = (capacity / 100).max(1).min(capacity);
        let max_cold = (capacity * 99 / 100).min(capacity - min_cold).max(min_cold);
        ClockPro {
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            hand_hot: NIL,
            hand_cold: NIL,
            hand_test: NIL,
            capacity,
            min_cold,
            max_cold,
            cold_target: min_cold,
            max_ghost: capacity,
            hot: 0,
            cold: 0,
            ghost: 0,
            hot_count: 0,
            cold_count: 0,
            in_test_count: 0,
            ghosts: GhostIndex::default(),
            steps: 0,
            candidate: NIL,
        }
    }

    #[cfg(any(test, fuzzing, clockwise_loom))]
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Resident weight.
    #[cfg(any(test, fuzzing, clockwise_loom))]
    pub(crate) fn weight(&self) -> u64 {
        self.hot + self.cold
    }

    pub(crate) fn sizes(&self) -> Sizes {
        Sizes {
            hot: self.hot,
            cold: self.cold,
            test: self.ghost,
        }
    }

    fn free_weight(&self) -> u64 {
        self.capacity - self.hot - self.cold
    }

    fn tail(&self) -> u32 {
        if self.head == NIL {
            NIL
        } else {
            self.nodes[self.head as usize].prev
        }
    }

    fn node(&self, n: u32) -> &Node<T> {
        &self.nodes[n as usize]
    }

    fn status(&self, n: u32) -> Status {
        self.nodes[n as usize].status
    }

    fn alloc(&mut self, hash: u64, weight: u64, page: T) -> u32 {
        let node = Node {
            prev: NIL,
            next: NIL,
            status: Status::Free,
            weight: u32::try_from(weight).expect("entry weights are u32"),
            hash,
            page: Some(page),
        };
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
        let (old, w, hash) = (
            self.status(n),
            u64::from(self.node(n).weight),
            self.node(n).hash,
        );
        match old {
            Status::Hot => {
                self.hot -= w;
                self.hot_count -= 1;
            }
            Status::Cold | Status::ColdInTest => {
                self.cold -= w;
                self.cold_count -= 1;
            }
            Status::Ghost => {
                self.ghost -= w;
                // One probe: the index may name a newer ghost of this hash.
                if let Entry::Occupied(e) = self.ghosts.entry(hash) {
                    if *e.get() == n {
                        e.remove();
                    }
                }
            }
            Status::Free => {}
        }
        if old.in_test() {
            self.in_test_count -= 1;
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
            }
            Status::Ghost => {
                self.ghost += w;
                displaced = self.ghosts.insert(hash, n).filter(|&o| o != n);
            }
            Status::Free => {}
        }
        if status.in_test() {
            self.in_test_count += 1;
        }
        self.nodes[n as usize].status = status;
        displaced
    }

    fn link_at_head(&mut self, n: u32) {
        if self.head == NIL {
            self.nodes[n as usize].prev = n;
            self.nodes[n as usize].next = n;
        } else {
            let (head, tail) = (self.head, self.tail());
            self.nodes[n as usize].next = head;
            self.nodes[n as usize].prev = tail;
            self.nodes[tail as usize].next = n;
            self.nodes[head as usize].prev = n;
        }
        self.head = n;
    }

    /// Takes `n` off the list; a hand resting on it moves to the next newer page.
    fn unlink(&mut self, n: u32) {
        let Node { prev, next, .. } = *self.node(n);
        let alone = prev == n;
        for hand in [&mut self.hand_hot, &mut self.hand_cold, &mut self.hand_test] {
            if *hand == n {
                *hand = if alone { NIL } else { prev };
            }
        }
        if self.head == n {
            self.head = if alone { NIL } else { next };
        }
        if !alone {
            self.nodes[prev as usize].next = next;
            self.nodes[next as usize].prev = prev;
        }
    }

    fn move_to_head(&mut self, host: &mut impl Host<T>, n: u32, status: Status) {
        self.unlink(n);
        if let Some(page) = &self.nodes[n as usize].page {
            host.clear_referenced(page);
        }
        self.link_at_head(n);
        self.set_status(n, status);
    }

    /// Takes `n` out of the clock for good and returns its page, if resident.
    fn discard(&mut self, n: u32) -> Option<T> {
        self.unlink(n);
        self.set_status(n, Status::Free);
        self.free.push(n);
        self.nodes[n as usize].page.take()
    }

    fn referenced(&self, host: &mut impl Host<T>, n: u32) -> bool {
        self.node(n)
            .page
            .as_ref()
            .is_some_and(|p| host.referenced(p))
    }

    fn adjust_cold_target(&mut self, up: bool, w: u64) {
        self.cold_target = if up {
            self.cold_target.saturating_add(w).min(self.max_cold)
        } else {
            self.cold_target.saturating_sub(w).max(self.min_cold)
        };
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
        self.steps = 0;
        let ghost = self.ghosts.get(&hash).copied();
        let free = self.free_weight();
        let status = if free >= weight && free - weight >= self.min_cold {
            Status::Hot
        } else if free >= weight {
            Status::ColdInTest
        } else {
            while self.free_weight() < weight {
                self.evict_one(host);
            }
            // The eviction may have ended the ghost's test period.
            match ghost {
                Some(g) if self.status(g) == Status::Ghost && self.node(g).hash == hash => {
                    if self.can_promote(host, g) {
                        Status::Hot
                    } else {
                        Status::ColdInTest
                    }
                }
                _ => Status::ColdInTest,
            }
        };
        if let Some(g) = ghost {
            if self.status(g) == Status::Ghost && self.node(g).hash == hash {
                self.discard(g);
            }
        }
        let n = self.alloc(hash, weight, page);
        self.link_at_head(n);
        self.set_status(n, status);
        self.organize_hands(host);
        n
    }

    /// The page the cold hand will examine first, and its hash: the next
    /// insert's likely victim, for the owner to prefetch.
    pub(crate) fn next_victim(&self) -> Option<(&T, u64)> {
        let node = self.nodes.get(self.hand_cold as usize)?;
        Some((node.page.as_ref()?, node.hash))
    }

    /// Forgets a resident page (explicit removal: no adaptation).
    pub(crate) fn remove(&mut self, host: &mut impl Host<T>, n: u32) -> Option<T> {
        let page = self.discard(n);
        self.organize_hands(host);
        page
    }

    /// Gives a resident page a new handle and weight (an update), then evicts
    /// until the weight fits. The page itself may be evicted.
    pub(crate) fn replace(&mut self, host: &mut impl Host<T>, n: u32, page: T, weight: u64) -> T {
        debug_assert!(weight <= self.capacity && weight > 0);
        if u64::from(self.nodes[n as usize].weight) == weight {
            // Same weight (every unweighted update): no size changes, so
            // nothing to evict and no hand to move.
            return self.nodes[n as usize]
                .page
                .replace(page)
                .expect("a resident page has a handle");
        }
        let status = self.status(n);
        self.set_status(n, Status::Free);
        self.nodes[n as usize].weight = u32::try_from(weight).expect("entry weights are u32");
        self.set_status(n, status);
        let old = self.nodes[n as usize]
            .page
            .replace(page)
            .expect("a resident page has a handle");
        self.steps = 0;
        while self.free_weight_signed() < 0 {
            self.evict_one(host);
        }
        self.organize_hands(host);
        old
    }

    fn free_weight_signed(&self) -> i128 {
        self.capacity as i128 - self.hot as i128 - self.cold as i128
    }

    /// The hash a page was inserted with (kept here, not in the entry).
    pub(crate) fn hash(&self, n: u32) -> u64 {
        self.nodes[n as usize].hash
    }

    /// The handle of a resident page.
    pub(crate) fn page(&self, n: u32) -> Option<&T> {
        let node = self.nodes.get(n as usize)?;
        node.status
            .resident()
            .then_some(node.page.as_ref())
            .flatten()
    }

    /// Every resident page.
    pub(crate) fn pages(&self) -> impl Iterator<Item = (u32, &T)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.status.resident())
            .filter_map(|(i, n)| n.page.as_ref().map(|p| (i as u32, p)))
    }

    /// A cold page re-accessed in its test period asks to turn hot.
    fn can_promote(&mut self, host: &mut impl Host<T>, c: u32) -> bool {
        if !self.status(c).in_test() {
            return false;
        }
        let w = u64::from(self.node(c).weight);
        self.adjust_cold_target(true, w);
        self.candidate = c;
        let mut promoted = true;
        while self.hot + w > self.capacity - self.cold_target {
            if !self.status(c).in_test() || !self.run_hand_hot(host, c) {
                promoted = false;
                break;
            }
        }
        self.candidate = NIL;
        promoted
    }

    /// Runs the cold hand once. With weights, the weight to free can exceed
    /// the cold set: when no resident cold page is left, the hot hand first
    /// demotes one (it passes referenced hot pages once, clearing their bits,
    /// so it always finds one).
    fn evict_one(&mut self, host: &mut impl Host<T>) {
        while self.cold_count == 0 {
            self.run_hand_hot(host, NIL);
        }
        self.next_hand_cold();
        self.run_hand_cold(host);
    }

    fn run_hand_cold(&mut self, host: &mut impl Host<T>) {
        let n = self.hand_cold;
        debug_assert!(n != NIL && self.status(n).resident_cold());
        self.steps += 1;
        let forced = self.steps > Self::MAX_STEPS;
        let page = self.node(n).page.as_ref().expect("resident");
        if host.expired(page) {
            let hash = self.node(n).hash;
            let page = self.discard(n).expect("resident");
            host.removed(page, hash, Removal::Expired);
        } else if self.referenced(host, n) && !forced {
            let status = if self.status(n) == Status::ColdInTest && self.can_promote(host, n) {
                Status::Hot
            } else {
                Status::ColdInTest
            };
            self.move_to_head(host, n, status);
        } else {
            if self.status(n) == Status::ColdInTest {
                // Two keys with one hash: the older ghost gives way.
                let page = self.nodes[n as usize].page.take().expect("resident");
                let older = self.set_status(n, Status::Ghost);
                self.hand_cold = self.node(n).prev;
                if let Some(older) = older {
                    self.terminate_test(host, older);
                }
                host.removed(page, self.node(n).hash, Removal::Capacity);
            } else {
                let hash = self.node(n).hash;
                let page = self.discard(n).expect("resident");
                host.removed(page, hash, Removal::Capacity);
            }
            while self.ghost > self.max_ghost {
                self.run_hand_test(host);
            }
        }
        self.next_hand_cold();
    }

    /// Demotes one hot page between the hot hand and `trigger`; false if the
    /// hand reached `trigger` first.
    fn run_hand_hot(&mut self, host: &mut impl Host<T>, trigger: u32) -> bool {
        let mut demoted = false;
        while self.hand_hot != trigger && self.hand_hot != NIL {
            let n = self.hand_hot;
            self.steps += 1;
            let forced = self.steps > Self::MAX_STEPS;
            if self.status(n) == Status::Hot {
                if self.referenced(host, n) && !forced {
                    self.move_to_head(host, n, Status::Hot);
                } else {
                    self.move_to_head(host, n, Status::Cold);
                    demoted = true;
                    break;
                }
            } else {
                self.hand_hot = self.node(n).prev;
                self.terminate_test(host, n);
            }
        }
        self.next_hand_hot(host);
        demoted
    }

    fn run_hand_test(&mut self, host: &mut impl Host<T>) {
        let n = self.hand_test;
        debug_assert!(n != NIL && self.status(n).in_test());
        self.steps += 1;
        self.terminate_test(host, n);
        self.next_hand_test();
    }

    fn terminate_test(&mut self, host: &mut impl Host<T>, n: u32) {
        let status = self.status(n);
        if !status.in_test() {
            return;
        }
        let (w, up) = (u64::from(self.node(n).weight), self.referenced(host, n));
        if status == Status::ColdInTest {
            self.set_status(n, Status::Cold);
        } else {
            self.discard(n);
        }
        if n != self.candidate {
            self.adjust_cold_target(up, w);
        }
    }

    fn next_hand_cold(&mut self) {
        if self.cold_count == 0 {
            self.hand_cold = NIL;
            return;
        }
        if self.hand_cold == NIL {
            self.hand_cold = self.tail();
        }
        while !self.status(self.hand_cold).resident_cold() {
            self.hand_cold = self.node(self.hand_cold).prev;
        }
    }

    fn next_hand_hot(&mut self, host: &mut impl Host<T>) {
        if self.hot_count == 0 {
            self.hand_hot = NIL;
            return;
        }
        if self.hand_hot == NIL {
            self.hand_hot = self.tail();
        }
        while self.status(self.hand_hot) != Status::Hot {
            let n = self.hand_hot;
            self.hand_hot = self.node(n).prev;
            self.terminate_test(host, n);
        }
        self.next_hand_test();
    }

    fn next_hand_test(&mut self) {
        if self.in_test_count == 0 {
            self.hand_test = NIL;
            return;
        }
        if self.hand_test == NIL {
            self.hand_test = if self.hand_hot == NIL {
                self.tail()
            } else {
                self.hand_hot
            };
        }
        while !self.status(self.hand_test).in_test() {
            self.hand_test = self.node(self.hand_test).prev;
        }
    }

    /// Checks every structural invariant; panics with what is broken.
    #[cfg(any(test, fuzzing, clockwise_loom))]
    pub(crate) fn validate(&self) {
        let (mut hot, mut cold, mut ghost) = (0, 0, 0);
        let (mut hot_count, mut cold_count, mut in_test, mut linked) = (0, 0, 0, 0);
        if self.head != NIL {
            let mut n = self.head;
            loop {
                let node = self.node(n);
                assert_ne!(node.status, Status::Free, "free node {n} on the list");
                assert_eq!(self.node(node.next).prev, n, "broken links at {n}");
                match node.status {
                    Status::Hot => {
                        hot += u64::from(node.weight);
                        hot_count += 1;
                    }
                    Status::Cold | Status::ColdInTest => {
                        cold += u64::from(node.weight);
                        cold_count += 1;
                    }
                    Status::Ghost => {
                        ghost += u64::from(node.weight);
                        assert!(node.page.is_none(), "ghost {n} holds a page");
                        assert_eq!(
                            self.ghosts.get(&node.hash),
                            Some(&n),
                            "ghost {n} not indexed"
                        );
                    }
                    Status::Free => unreachable!(),
                }
                if node.status.resident() {
                    assert!(node.page.is_some(), "resident node {n} without a page");
                }
                in_test += u64::from(node.status.in_test());
                linked += 1;
                n = node.next;
                if n == self.head {
                    break;
                }
                assert!(linked <= self.nodes.len(), "the list does not close");
            }
        }
        assert_eq!(
            (hot, cold, ghost),
            (self.hot, self.cold, self.ghost),
            "weights"
        );
        assert_eq!(
            (hot_count, cold_count, in_test),
            (self.hot_count, self.cold_count, self.in_test_count),
            "counts"
        );
        assert_eq!(linked + self.free.len(), self.nodes.len(), "nodes lost");
        assert!(self.free.iter().all(|&f| self.status(f) == Status::Free));
        assert_eq!(
            self.ghosts.len() as u64,
            self.nodes
                .iter()
                .filter(|n| n.status == Status::Ghost)
                .count() as u64
        );
        assert!(
            hot + cold <= self.capacity,
            "resident weight {} over capacity {}",
            hot + cold,
            self.capacity
        );
        assert!(
            ghost <= self.max_ghost,
            "ghost weight {ghost} over {}",
            self.max_ghost
        );
        assert!((self.min_cold..=self.max_cold).contains(&self.cold_target));
        let check = |hand: u32, present: bool, ok: fn(Status) -> bool, what: &str| {
            assert_eq!(hand != NIL, present, "{what} hand presence");
            if hand != NIL {
                assert!(
                    ok(self.status(hand)),
                    "{what} hand on a {:?} page",
                    self.status(hand)
                );
            }
        };
        check(self.hand_hot, hot_count > 0, |s| s == Status::Hot, "hot");
        check(
            self.hand_cold,
            cold_count > 0,
            Status::resident_cold,
            "cold",
        );
        check(self.hand_test, in_test > 0, Status::in_test, "test");
        // Between the oldest page and each hand, nothing the hand is for.
        let older_than = |hand: u32, bad: fn(Status) -> bool, what: &str| {
            if hand == NIL {
                return;
            }
            let mut n = self.tail();
            while n != hand {
                assert!(
                    !bad(self.status(n)),
                    "{what} hand passed over a {:?} page",
                    self.status(n)
                );
                n = self.node(n).prev;
            }
        };
        older_than(self.hand_cold, Status::resident_cold, "cold");
        older_than(self.hand_hot, Status::in_test, "hot");
        older_than(self.hand_test, Status::in_test, "test");
    }

    fn organize_hands(&mut self, host: &mut impl Host<T>) {
        self.next_hand_cold();
        self.next_hand_hot(host);
        self.next_hand_test();
    }
}
