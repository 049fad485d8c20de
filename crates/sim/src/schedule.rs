//! Device wake-ups: one min-heap of `(time, device)` per shard instead of a timer (or a
//! task) per device. Entries are never removed: a device remembers the one time it wants,
//! and entries for any other time are skipped when they come up.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Milliseconds since the start of the run.
pub type Millis = u64;

#[derive(Debug, Default)]
pub struct WakeUps {
    heap: BinaryHeap<Reverse<(Millis, u32)>>,
}

impl WakeUps {
    pub fn push(&mut self, at: Millis, device: u32) {
        self.heap.push(Reverse((at, device)));
    }

    /// The earliest entry's time.
    pub fn next(&self) -> Option<Millis> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The earliest entry due at `now`, if any.
    pub fn pop_due(&mut self, now: Millis) -> Option<(Millis, u32)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_entries_come_out_in_time_order() {
        let mut w = WakeUps::default();
        for (at, d) in [(30, 1), (10, 2), (20, 3), (10, 4)] {
            w.push(at, d);
        }
        assert_eq!(w.next(), Some(10));
        assert_eq!(w.pop_due(5), None);
        assert_eq!(w.pop_due(20), Some((10, 2)));
        assert_eq!(w.pop_due(20), Some((10, 4)));
        assert_eq!(w.pop_due(20), Some((20, 3)));
        assert_eq!(w.pop_due(20), None);
        assert_eq!(w.next(), Some(30));
    }
}
