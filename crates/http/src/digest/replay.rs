//! An optional, bounded guard against replayed nonce counts.

use std::collections::VecDeque;

/// Remembers the highest nonce count accepted for the last few nonces, and refuses a count
/// that is not higher (RFC 7616 §3.4: "the server can detect request replays by maintaining
/// its own copy of this count").
///
/// Bounded: it holds at most `capacity` nonces and forgets the oldest first. The ACS keeps
/// one per connection, where one or two nonces are live at a time; lookups are linear in
/// `capacity`. A forgotten nonce starts over, so keep the capacity above the number of
/// nonces a connection uses at once.
#[derive(Debug, Clone)]
pub struct NonceCountGuard {
    capacity: usize,
    seen: VecDeque<(String, u32)>,
}

impl NonceCountGuard {
    /// A guard for up to `capacity` nonces (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { capacity, seen: VecDeque::with_capacity(capacity) }
    }

    /// Records `nc` for `nonce` and returns `true` if it is higher than every count seen
    /// before for that nonce; returns `false` (and records nothing) for a replay.
    pub fn check_and_record(&mut self, nonce: &str, nc: u32) -> bool {
        if let Some(entry) = self.seen.iter_mut().find(|(n, _)| n == nonce) {
            if nc <= entry.1 {
                return false;
            }
            entry.1 = nc;
            return true;
        }
        if self.seen.len() == self.capacity {
            self.seen.pop_front();
        }
        self.seen.push_back((nonce.to_owned(), nc));
        true
    }

    /// How many nonces are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_must_increase_per_nonce() {
        let mut g = NonceCountGuard::new(2);
        assert!(g.check_and_record("a", 1));
        assert!(!g.check_and_record("a", 1));
        assert!(g.check_and_record("a", 3));
        assert!(!g.check_and_record("a", 2));
        assert!(g.check_and_record("b", 1));
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn bounded_and_forgets_oldest() {
        let mut g = NonceCountGuard::new(2);
        assert!(g.check_and_record("a", 5));
        assert!(g.check_and_record("b", 1));
        assert!(g.check_and_record("c", 1));
        assert_eq!(g.len(), 2);
        // "a" was forgotten, so it starts over; "b" and "c" are still tracked.
        assert!(g.check_and_record("a", 1));
        assert!(!g.check_and_record("c", 1));
        assert!(NonceCountGuard::new(0).check_and_record("x", 1));
        assert!(NonceCountGuard::new(0).is_empty());
    }
}
