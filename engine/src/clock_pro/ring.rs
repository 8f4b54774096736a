//! A FIFO of node indices on a power-of-two ring: the cold queue.
//!
//! `std`'s `VecDeque` wraps its indices with a compare and a subtraction;
//! here the head and tail only count up and are masked on use, and the
//! indices are 4 bytes.

/// Node indices, oldest at the front.
#[derive(Debug, Default, Clone)]
pub(super) struct Ring {
    /// A power of two long, or empty.
    slots: Vec<u32>,
    /// Items ever popped from the front, wrapping: the front is at
    /// `head & mask`.
    head: usize,
    /// Items ever pushed, less those popped from the back, wrapping.
    tail: usize,
}

impl Ring {
    pub(super) fn len(&self) -> usize {
        self.tail.wrapping_sub(self.head)
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    pub(super) fn front(&self) -> Option<u32> {
        (self.head != self.tail).then(|| self.slots[self.head & self.mask()])
    }

    pub(super) fn back(&self) -> Option<u32> {
        (self.head != self.tail).then(|| self.slots[self.tail.wrapping_sub(1) & self.mask()])
    }

    #[inline]
    pub(super) fn push_back(&mut self, n: u32) {
        if self.len() == self.slots.len() {
            self.grow();
        }
        let at = self.tail & self.mask();
        self.slots[at] = n;
        self.tail = self.tail.wrapping_add(1);
    }

    /// Doubles the slots, moving the items to the start of the new ones.
    #[cold]
    fn grow(&mut self) {
        let len = self.len();
        let mut slots = vec![0; (self.slots.len() * 2).max(8)];
        for (slot, n) in slots.iter_mut().zip(self.iter()) {
            *slot = n;
        }
        self.slots = slots;
        self.head = 0;
        self.tail = len;
    }

    pub(super) fn pop_front(&mut self) -> Option<u32> {
        let n = self.front()?;
        self.head = self.head.wrapping_add(1);
        Some(n)
    }

    pub(super) fn pop_back(&mut self) -> Option<u32> {
        let n = self.back()?;
        self.tail = self.tail.wrapping_sub(1);
        Some(n)
    }

    /// The items, front to back.
    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len()).map(|i| self.slots[self.head.wrapping_add(i) & self.mask()])
    }

    /// Keeps the items `keep` returns true for, in order.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let mut kept = self.head;
        for i in 0..self.len() {
            let n = self.slots[self.head.wrapping_add(i) & self.mask()];
            if keep(n) {
                let at = kept & self.mask();
                self.slots[at] = n;
                kept = kept.wrapping_add(1);
            }
        }
        self.tail = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[derive(Clone, Debug)]
    enum Op {
        Push(u32),
        PopFront,
        PopBack,
        /// Keeps the items not divisible by this.
        Retain(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<u32>().prop_map(Op::Push),
            2 => Just(Op::PopFront),
            1 => Just(Op::PopBack),
            1 => (2u32..5).prop_map(Op::Retain),
        ]
    }

    proptest! {
        /// The ring against `VecDeque`, through growth while wrapped.
        #[test]
        fn ring_behaves_as_a_deque(ops in prop::collection::vec(op(), 0..300)) {
            let (mut ring, mut model) = (Ring::default(), VecDeque::new());
            for op in ops {
                match op {
                    Op::Push(n) => {
                        ring.push_back(n);
                        model.push_back(n);
                    }
                    Op::PopFront => prop_assert_eq!(ring.pop_front(), model.pop_front()),
                    Op::PopBack => prop_assert_eq!(ring.pop_back(), model.pop_back()),
                    Op::Retain(d) => {
                        ring.retain(|n| n % d != 0);
                        model.retain(|n| n % d != 0);
                    }
                }
                prop_assert_eq!(ring.len(), model.len());
                prop_assert_eq!(ring.front(), model.front().copied());
                prop_assert_eq!(ring.back(), model.back().copied());
                prop_assert!(ring.iter().eq(model.iter().copied()));
            }
        }
    }
}
