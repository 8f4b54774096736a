//! The policy's admission window (`clock_pro::window`): what enters the
//! clock, what is turned away, how the test's bias moves, and every
//! structural invariant under arbitrary operations.

use crate::clock_pro::{ClockPro, EvictionCause, Host, WHOLE, WINDOW_SHARE};
use proptest::prelude::*;
use std::collections::HashMap;

/// Pages are keys; reference bits, weights and residency live here.
#[derive(Default)]
struct Keys {
    referenced: HashMap<u64, bool>,
    resident: HashMap<u64, u32>,
    removed: Vec<(u64, EvictionCause)>,
}

impl Host<u64> for Keys {
    fn referenced(&mut self, page: &u64) -> bool {
        self.referenced.get(page).copied().unwrap_or(false)
    }
    fn clear_referenced(&mut self, page: &u64) {
        self.referenced.insert(*page, false);
    }
    fn mark_referenced(&mut self, page: &u64) {
        self.referenced.insert(*page, true);
    }
    fn expired(&mut self, _: &u64) -> bool {
        false
    }
    fn removed(&mut self, page: u64, hash: u64, _: u64, why: EvictionCause) {
        assert_eq!(page, hash, "the page's hash");
        assert!(
            self.resident.remove(&page).is_some(),
            "{page} removed twice"
        );
        self.removed.push((page, why));
    }
}

/// A policy with the window on, and its pages.
struct Policy {
    policy: ClockPro<u64>,
    keys: Keys,
    nodes: HashMap<u64, u32>,
}

impl Policy {
    fn new(capacity: u64) -> Policy {
        let mut policy = ClockPro::new(capacity);
        policy.set_window(WINDOW_SHARE);
        Policy {
            policy,
            keys: Keys::default(),
            nodes: HashMap::new(),
        }
    }

    /// A get of `key`, then an insert on a miss; true on a hit.
    fn access(&mut self, key: u64) -> bool {
        if self.keys.resident.contains_key(&key) {
            self.keys.referenced.insert(key, true);
            return true;
        }
        let node = self.policy.insert(&mut self.keys, key, 1, key);
        self.keys.resident.insert(key, 1);
        self.keys.referenced.insert(key, false);
        self.nodes.insert(key, node);
        self.policy.validate();
        false
    }

    fn resident(&self, key: u64) -> bool {
        self.keys.resident.contains_key(&key)
    }
}

#[test]
fn new_pages_wait_in_the_window_and_enter_the_clock_while_it_has_room() {
    let mut p = Policy::new(100);
    let limit = (100 * u64::from(WINDOW_SHARE)) >> 16;
    for k in 0..100 {
        p.access(k);
        let sizes = p.policy.sizes();
        assert_eq!(sizes.window, (k + 1).min(limit), "after {k}");
        assert_eq!(sizes.hot + sizes.cold + sizes.window, k + 1);
    }
    assert!(p.keys.removed.is_empty(), "nothing evicted while filling");
}

/// A full policy of capacity 1000 whose clock holds cold pages, every key
/// seen six times but the window's oldest, which is returned.
fn full_with_a_fresh_page_in_the_window() -> (Policy, u64) {
    let mut p = Policy::new(1000);
    for k in 0..2000 {
        p.access(k);
    }
    assert!(p.policy.sizes().cold > 0, "the clock has a cold hand");
    let oldest = 2000 - p.policy.sizes().window;
    for _ in 0..5 {
        for k in (0..2000).filter(|&k| k != oldest) {
            p.policy.window_sighting_for_test(k);
        }
    }
    p.keys.removed.clear();
    (p, oldest)
}

#[test]
fn a_page_the_sketch_saw_less_often_than_the_victim_is_turned_away() {
    let (mut p, fresh) = full_with_a_fresh_page_in_the_window();
    let bias = p.policy.window_bias();
    let window = p.policy.sizes().window;
    // The window's oldest page leaves it for a new one, against the cold
    // hand's page.
    p.access(5000);
    assert!(!p.resident(fresh), "{fresh} was turned away");
    assert_eq!(p.keys.removed, [(fresh, EvictionCause::Capacity)]);
    assert_eq!(p.policy.window_bias(), bias);
    // Back within its test period (as a ghost): the test was too strict.
    p.access(fresh);
    assert!(
        p.policy.window_bias() > bias,
        "bias {} after a turned-away page came back",
        p.policy.window_bias()
    );
    assert!(p.resident(fresh));
    assert_eq!(
        p.policy.sizes().window,
        window,
        "{fresh} waits in the window"
    );
}

#[test]
fn a_page_referenced_in_the_window_enters_the_clock_untested() {
    let (mut p, fresh) = full_with_a_fresh_page_in_the_window();
    assert!(p.access(fresh), "a hit in the window");
    p.access(5000);
    assert!(p.resident(fresh), "a referenced window page is admitted");
    assert!(p.keys.removed.iter().all(|&(k, _)| k != fresh));
}

#[test]
fn an_admitted_page_evicted_unused_lowers_the_bias() {
    let (mut p, _) = full_with_a_fresh_page_in_the_window();
    // New keys the sketch saw often pass the test against the cold hand's
    // pages, and then go unused.
    for k in 10_000..10_100 {
        for _ in 0..10 {
            p.policy.window_sighting_for_test(k);
        }
    }
    let bias = p.policy.window_bias();
    for k in 10_000..10_100 {
        p.access(k);
    }
    assert!(
        p.policy.window_bias() < bias,
        "bias {} (from {bias}) after admitted pages went unused",
        p.policy.window_bias()
    );
}

#[test]
fn removal_reweighing_and_a_smaller_capacity_reach_window_pages() {
    let mut policy: ClockPro<u64> = ClockPro::new(100);
    policy.set_window(WINDOW_SHARE);
    let mut keys = Keys::default();
    // Weight 2 overflows the window's limit of 1: it waits there alone,
    // the clock empty.
    let a = policy.insert(&mut keys, 1, 2, 1);
    keys.resident.insert(1, 2);
    policy.validate();
    assert_eq!(policy.sizes().window, 2);
    policy.reweigh(&mut keys, a, 3);
    policy.validate();
    assert_eq!(policy.sizes().window, 3);
    assert_eq!(policy.remove(a), Some(1));
    keys.resident.remove(&1);
    policy.validate();
    assert_eq!(policy.weight(), 0);
    // A capacity below the window's weight, with the clock empty, evicts
    // from the window.
    policy.insert(&mut keys, 2, 3, 2);
    keys.resident.insert(2, 3);
    policy.set_capacity(&mut keys, 2);
    policy.validate();
    assert_eq!(keys.removed, [(2, EvictionCause::Capacity)]);
    assert_eq!(policy.weight(), 0);
}

#[derive(Clone, Debug)]
enum Op {
    Access(u64),
    Remove(u64),
    Reweigh(u64, u32),
    Capacity(u64),
    Share(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..60u64).prop_map(Op::Access),
        1 => (0..60u64).prop_map(Op::Remove),
        1 => (0..60u64, 1..4u32).prop_map(|(k, w)| Op::Reweigh(k, w)),
        1 => (1..80u64).prop_map(Op::Capacity),
        1 => (0..=WHOLE).prop_map(Op::Share),
    ]
}

proptest! {
    /// Any mix of accesses, removals, reweighs, capacity changes and window
    /// shares (the climber's) keeps every invariant, and the policy's
    /// resident pages are the host's.
    #[test]
    fn every_operation_keeps_the_window_consistent(ops in proptest::collection::vec(op(), 1..400)) {
        let mut p = Policy::new(40);
        for op in ops {
            match op {
                Op::Access(k) => {
                    p.access(k);
                }
                Op::Remove(k) => {
                    if p.keys.resident.remove(&k).is_some() {
                        let node = p.nodes[&k];
                        prop_assert_eq!(p.policy.remove(node), Some(k));
                    }
                }
                Op::Reweigh(k, w) => {
                    if p.resident(k) && u64::from(w) <= p.policy.capacity() {
                        p.policy.reweigh(&mut p.keys, p.nodes[&k], u64::from(w));
                        if let Some(weight) = p.keys.resident.get_mut(&k) {
                            *weight = w;
                        }
                    }
                }
                Op::Capacity(c) => {
                    let heaviest = p.keys.resident.values().copied().max().unwrap_or(1);
                    p.policy.set_capacity(&mut p.keys, c.max(u64::from(heaviest)));
                }
                Op::Share(share) => p.policy.set_window_share(share),
            }
            p.policy.validate();
            let resident: u64 = p.keys.resident.values().map(|&w| u64::from(w)).sum();
            prop_assert_eq!(p.policy.weight(), resident);
            for (&k, &node) in &p.nodes {
                prop_assert_eq!(p.policy.page(node) == Some(&k), p.resident(k));
            }
        }
    }
}
