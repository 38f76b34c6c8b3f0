//! The event queue every discrete-event loop of `wva` runs on: the simulator's open-loop fleet
//! and closed loop ([`crate::sim`]), the replay's autoscaled fleet ([`crate::replay`]) and the
//! merged arrival streams of several workloads ([`crate::load::Generator`]). A bottom layer: it
//! uses no other module.
//!
//! Events are ordered by time, earliest first, and ties by a key the loop chooses (a replica,
//! a request id, a workload), so a run is deterministic whatever the order events were pushed
//! in. Generic over the key, not boxed: the queue costs what a hand-written heap costs.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A time, ms, with a key breaking ties; ordered by time (IEEE total order), then key.
#[derive(Clone, Copy, Debug)]
struct Timed<K> {
    time_ms: f64,
    key: K,
}

impl<K: Ord> PartialEq for Timed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<K: Ord> Eq for Timed<K> {}

impl<K: Ord> Ord for Timed<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.time_ms
            .total_cmp(&other.time_ms)
            .then_with(|| self.key.cmp(&other.key))
    }
}

impl<K: Ord> PartialOrd for Timed<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Pending events: `(time_ms, key)`, popped earliest first, ties by the smaller key.
#[derive(Clone, Debug)]
pub struct EventQueue<K> {
    heap: BinaryHeap<Reverse<Timed<K>>>,
}

impl<K: Ord> Default for EventQueue<K> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> EventQueue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `key` at `time_ms`.
    pub fn push(&mut self, time_ms: f64, key: K) {
        self.heap.push(Reverse(Timed { time_ms, key }));
    }

    /// The earliest event, removed.
    pub fn pop(&mut self) -> Option<(f64, K)> {
        self.heap.pop().map(|Reverse(t)| (t.time_ms, t.key))
    }

    /// The earliest event, left in place.
    pub fn peek(&self) -> Option<(f64, K)> {
        self.heap.peek().map(|Reverse(t)| (t.time_ms, t.key))
    }

    /// The time of the earliest event.
    pub fn next_time_ms(&self) -> Option<f64> {
        self.heap.peek().map(|Reverse(t)| t.time_ms)
    }

    /// Pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// No pending event.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn earliest_first_then_smallest_key() {
        let mut q = EventQueue::new();
        q.push(5.0, 2u32);
        q.push(1.0, 9);
        q.push(5.0, 1);
        q.push(-0.0, 3);
        q.push(0.0, 0);
        assert_eq!(q.len(), 5);
        assert_eq!(q.peek(), Some((-0.0, 3)));
        let order: Vec<(f64, u32)> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![(-0.0, 3), (0.0, 0), (1.0, 9), (5.0, 1), (5.0, 2)]
        );
        assert!(q.is_empty());
        assert_eq!(q.next_time_ms(), None);
    }

    proptest! {
        /// Pops come out sorted by (time, key), whatever the push order: a permutation of the
        /// pushes.
        #[test]
        fn pops_are_the_pushes_sorted(events in prop::collection::vec((0u32..50, 0u8..4), 0..200)) {
            let mut q = EventQueue::new();
            for &(t, k) in &events {
                q.push(f64::from(t) * 0.5, k);
            }
            let popped: Vec<(f64, u8)> = std::iter::from_fn(|| q.pop()).collect();
            let mut expected: Vec<(f64, u8)> =
                events.iter().map(|&(t, k)| (f64::from(t) * 0.5, k)).collect();
            expected.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            prop_assert_eq!(popped, expected);
        }
    }
}
