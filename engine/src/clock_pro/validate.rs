//! [`ClockPro::validate`]: every structural invariant, checked in tests and
//! fuzzing after each operation.

use super::window::BIAS_LIMIT;
use super::{ClockPro, Status, NIL};

impl<T> ClockPro<T> {
    /// Resident cold pages, and entries in the cold queue (theirs and the
    /// tombstones').
    #[cfg(test)]
    pub(crate) fn cold_queue_lengths(&self) -> (u64, u64) {
        (self.cold_count, self.cold_queue.len() as u64)
    }

    /// The admission window's bias now.
    #[cfg(test)]
    pub(crate) fn window_bias(&self) -> i32 {
        self.window.bias
    }

    /// Counts a sighting of `hash` in the window's sketch, as an insert
    /// does.
    #[cfg(test)]
    pub(crate) fn window_sighting_for_test(&mut self, hash: u64) {
        self.window_sighting(hash);
    }

    /// Nodes in the arena, whatever their status.
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Checks every structural invariant; panics with what is broken.
    pub(crate) fn validate(&self) {
        let (mut hot, mut cold, mut ghost) = (0, 0, 0);
        let (mut hot_count, mut cold_count, mut linked) = (0, 0, 0);
        if self.head != NIL {
            let mut n = self.head;
            loop {
                let node = self.node(n);
                assert!(
                    !matches!(
                        node.status(),
                        Status::Free | Status::Tombstone | Status::Window
                    ),
                    "{:?} node {n} on the clock",
                    node.status()
                );
                assert_eq!(self.node(node.next()).prev(), n, "broken links at {n}");
                match node.status() {
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
                            self.ghosts
                                .get(node.hash(), |g| self.nodes[g as usize].hash()),
                            Some(n),
                            "ghost {n} not indexed"
                        );
                    }
                    Status::Tombstone | Status::Free | Status::Window => unreachable!(),
                }
                if node.status().resident() {
                    assert!(node.page.is_some(), "resident node {n} without a page");
                }
                linked += 1;
                n = node.next();
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
            (hot_count, cold_count),
            (self.hot_count, self.cold_count),
            "counts"
        );
        let windowed = self.validate_window();
        assert_eq!(
            linked + windowed + self.free.len() + self.dropped as usize,
            self.nodes.len(),
            "nodes lost"
        );
        assert!(self.free.iter().all(|&f| self.status(f) == Status::Free));
        assert_eq!(
            self.ghosts.len() as u64,
            self.nodes
                .iter()
                .filter(|n| n.status() == Status::Ghost)
                .count() as u64
        );
        assert!(
            self.weight() <= self.capacity,
            "resident weight {} over capacity {}",
            self.weight(),
            self.capacity
        );
        assert!(
            ghost <= self.max_ghost,
            "ghost weight {ghost} over {}",
            self.max_ghost
        );
        assert!(self.min_cold <= self.max_cold && self.max_cold <= self.capacity);
        assert!(
            self.nodes.len() <= self.max_nodes,
            "{} nodes, over the limit of {}",
            self.nodes.len(),
            self.max_nodes
        );
        let listed = |hand: u32| hand != NIL && self.status(hand) != Status::Free;
        assert_eq!(listed(self.hand_hot), linked > 0, "hot hand on the list");
        assert_eq!(listed(self.hand_test), linked > 0, "test hand on the list");
        // The cold queue holds the resident cold pages in their order on the
        // clock (oldest first from the tail), so the cold hand rests on the
        // oldest of them, and between them the tombstones, none first.
        let mut on_clock = Vec::new();
        if self.head != NIL {
            let mut n = self.tail();
            loop {
                if self.status(n).resident_cold() {
                    on_clock.push(n);
                }
                n = self.node(n).prev();
                if n == self.tail() {
                    break;
                }
            }
        }
        let queued: Vec<u32> = self
            .cold_queue
            .iter()
            .filter(|&n| self.status(n) != Status::Tombstone)
            .collect();
        assert_eq!(queued, on_clock, "the cold queue and the clock disagree");
        let dropped = self.cold_queue.len() - queued.len();
        assert_eq!(dropped as u64, self.dropped, "dropped pages");
        assert_eq!(
            dropped,
            self.nodes
                .iter()
                .filter(|n| n.status() == Status::Tombstone)
                .count(),
            "a dropped page outside the cold queue"
        );
        let mut distinct: Vec<u32> = self.cold_queue.iter().collect();
        distinct.sort_unstable();
        assert!(
            distinct
                .iter()
                .zip(distinct.iter().skip(1))
                .all(|(a, b)| a != b),
            "a page queued twice"
        );
        if let Some(f) = self.cold_queue.front() {
            assert_ne!(
                self.status(f),
                Status::Tombstone,
                "a dropped page at the front"
            );
        }
        // Compacted on a drop past the cold pages plus 32, and cold pages
        // weigh at least 1 each.
        assert!(
            self.dropped <= self.capacity + 32,
            "{} dropped pages",
            self.dropped
        );
    }

    /// The admission window's invariants (`window`'s module docs); returns
    /// how many pages it holds.
    fn validate_window(&self) -> usize {
        let window = &self.window;
        let (mut weight, mut count) = (0, 0);
        let mut n = window.newest;
        while n != NIL {
            let node = self.node(n);
            assert_eq!(node.status(), Status::Window, "node {n} in the window");
            assert!(node.page.is_some(), "window page {n} without a page");
            assert_eq!(self.node(node.next()).prev(), n, "window links at {n}");
            weight += u64::from(node.weight);
            count += 1;
            assert!(count <= self.nodes.len(), "the window does not close");
            n = node.next();
            if n == window.newest {
                break;
            }
        }
        assert_eq!(
            (weight, count as u64),
            (window.weight, window.count),
            "window sizes"
        );
        assert_eq!(
            count,
            self.nodes
                .iter()
                .filter(|n| n.status() == Status::Window)
                .count(),
            "a window page outside the window"
        );
        assert!(window.on() || count == 0, "pages in a window that is off");
        assert!(window.bias.abs() <= BIAS_LIMIT, "bias {}", window.bias);
        for (i, node) in self.nodes.iter().enumerate() {
            if node.marked() {
                assert!(
                    matches!(
                        node.status(),
                        Status::Ghost | Status::Hot | Status::Cold | Status::ColdInTest
                    ),
                    "{:?} node {i} marked",
                    node.status()
                );
            }
        }
        count
    }
}
