//! An optional, bounded guard against replayed nonce counts.

use std::collections::{HashMap, VecDeque};

/// How a nonce count fared against the guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceUse {
    /// Higher than every count seen for the nonce: accepted and recorded.
    Fresh,
    /// Not higher: a replay.
    Replayed,
    /// The guard no longer remembers nonces this old: treat it as stale, so the client
    /// answers a fresh challenge (nothing old can be replayed past the guard's memory).
    Forgotten,
}

/// Remembers the highest nonce count accepted per nonce, and refuses a count that is not
/// higher (RFC 7616 §3.4: "the server can detect request replays by maintaining its own copy
/// of this count").
///
/// Bounded: it holds at most `capacity` nonces. When it must forget one to make room, it
/// forgets the oldest first and from then on answers [`NonceUse::Forgotten`] for every nonce
/// issued no later than that one, so a forgotten nonce can never be replayed; a client
/// holding one just gets a new challenge. One guard can therefore serve a whole server
/// (replays on another connection are caught too) in bounded memory.
#[derive(Debug, Clone)]
pub struct NonceCountGuard {
    capacity: usize,
    counts: HashMap<String, u32>,
    /// Nonces in the order they were first seen, with their issue time.
    order: VecDeque<(String, u64)>,
    /// Nonces issued at or before this time are no longer remembered.
    floor: Option<u64>,
}

impl NonceCountGuard {
    /// A guard for up to `capacity` nonces (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { capacity, counts: HashMap::new(), order: VecDeque::new(), floor: None }
    }

    /// Checks `nc` for `nonce` (issued at `issued_at`, unix seconds) and records it when it
    /// is fresh. Nonces whose lifetime ended (`expired_before`: issue times before it) are
    /// dropped first; the verifier refuses them anyway.
    pub fn check_and_record(&mut self, nonce: &str, nc: u32, issued_at: u64, expired_before: u64) -> NonceUse {
        while self.order.front().is_some_and(|(_, at)| *at < expired_before) {
            if let Some((old, _)) = self.order.pop_front() {
                self.counts.remove(&old);
            }
        }
        if let Some(count) = self.counts.get_mut(nonce) {
            if nc <= *count {
                return NonceUse::Replayed;
            }
            *count = nc;
            return NonceUse::Fresh;
        }
        if self.floor.is_some_and(|floor| issued_at <= floor) {
            return NonceUse::Forgotten;
        }
        if self.order.len() == self.capacity
            && let Some((old, at)) = self.order.pop_front()
        {
            self.counts.remove(&old);
            self.floor = Some(self.floor.map_or(at, |f| f.max(at)));
            if issued_at <= at {
                return NonceUse::Forgotten;
            }
        }
        self.counts.insert(nonce.to_owned(), nc);
        self.order.push_back((nonce.to_owned(), issued_at));
        NonceUse::Fresh
    }

    /// How many nonces are remembered.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_must_increase_per_nonce() {
        let mut g = NonceCountGuard::new(2);
        assert_eq!(g.check_and_record("a", 1, 10, 0), NonceUse::Fresh);
        assert_eq!(g.check_and_record("a", 1, 10, 0), NonceUse::Replayed);
        assert_eq!(g.check_and_record("a", 3, 10, 0), NonceUse::Fresh);
        assert_eq!(g.check_and_record("a", 2, 10, 0), NonceUse::Replayed);
        assert_eq!(g.check_and_record("b", 1, 11, 0), NonceUse::Fresh);
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn bounded_and_never_forgets_into_a_replay() {
        let mut g = NonceCountGuard::new(2);
        assert_eq!(g.check_and_record("a", 5, 10, 0), NonceUse::Fresh);
        assert_eq!(g.check_and_record("b", 1, 11, 0), NonceUse::Fresh);
        // Room for "c" costs "a": from then on nothing issued at 10 or before is accepted.
        assert_eq!(g.check_and_record("c", 1, 12, 0), NonceUse::Fresh);
        assert_eq!(g.len(), 2);
        assert_eq!(g.check_and_record("a", 6, 10, 0), NonceUse::Forgotten);
        assert_eq!(g.check_and_record("z", 1, 9, 0), NonceUse::Forgotten);
        assert_eq!(g.check_and_record("c", 1, 12, 0), NonceUse::Replayed);
        // A nonce issued later still gets in.
        assert_eq!(g.check_and_record("d", 1, 13, 0), NonceUse::Fresh);
        assert_eq!(NonceCountGuard::new(0).check_and_record("x", 1, 1, 0), NonceUse::Fresh);
    }

    #[test]
    fn expired_nonces_make_room_without_raising_the_floor() {
        let mut g = NonceCountGuard::new(2);
        g.check_and_record("a", 1, 10, 0);
        g.check_and_record("b", 1, 11, 0);
        // Both expired (issued before 100): dropped, so the newest gets in freely.
        assert_eq!(g.check_and_record("c", 1, 150, 100), NonceUse::Fresh);
        assert_eq!(g.len(), 1);
        assert_eq!(g.check_and_record("d", 1, 120, 100), NonceUse::Fresh);
    }
}
