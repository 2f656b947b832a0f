//! The memory of logins that already completed, so each state signs in once.
//!
//! A state is only accepted until it expires (its issue time is part of the
//! state, see `state.rs`), so a consumed state needs remembering only until
//! then: after that it is refused as expired anyway. The memory is capped;
//! when it is full of unexpired states it refuses new sign-ins rather than
//! forgetting a used one, which would reopen that login to a replay.
//!
//! The memory lives in the process: a restart forgets it, and the website
//! removing the state from the browser's session is the second line.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use super::LoginError;

/// How many unexpired consumed states are remembered at most: at a 15
/// minute lifetime this allows about 70 completed sign-ins a second.
pub const MAX_CONSUMED_STATES: usize = 65_536;

/// States that completed a sign-in, each with the time it stops mattering.
#[derive(Debug)]
pub struct ConsumedStates {
    capacity: usize,
    /// A std mutex: nothing awaits while it is held.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    states: HashSet<String>,
    /// (expires_at, state), oldest expiry first, to forget in order.
    by_expiry: BTreeSet<(u64, String)>,
}

impl ConsumedStates {
    pub fn new(capacity: usize) -> ConsumedStates {
        ConsumedStates {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Whether `state` already completed a sign-in.
    pub fn contains(&self, state: &str) -> bool {
        self.lock().states.contains(state)
    }

    /// Records `state` as used until `expires_at`. Exactly one of several
    /// concurrent callers for the same state gets `Ok`; the others get
    /// [`LoginError::Replayed`].
    pub fn consume(&self, state: &str, expires_at: u64, now: u64) -> Result<(), LoginError> {
        let mut inner = self.lock();
        inner.forget_expired(now);
        if inner.states.contains(state) {
            return Err(LoginError::Replayed);
        }
        if inner.states.len() >= self.capacity {
            return Err(LoginError::Busy);
        }
        inner.states.insert(state.to_owned());
        inner.by_expiry.insert((expires_at, state.to_owned()));
        Ok(())
    }

    /// How many states are remembered (expired ones included until the next
    /// `consume` forgets them).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().states.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the two sets out of
        // step in a way that matters (both are only ever added to together
        // or drained together), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn forget_expired(&mut self, now: u64) {
        while let Some((expires_at, _)) = self.by_expiry.first() {
            if *expires_at > now {
                break;
            }
            if let Some((_, state)) = self.by_expiry.pop_first() {
                self.states.remove(&state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_consumed_once() {
        let consumed = ConsumedStates::new(10);
        assert!(!consumed.contains("abc"));
        assert_eq!(consumed.consume("abc", 100, 0), Ok(()));
        assert!(consumed.contains("abc"));
        assert_eq!(consumed.consume("abc", 100, 50), Err(LoginError::Replayed));
    }

    #[test]
    fn expired_states_are_forgotten() {
        let consumed = ConsumedStates::new(10);
        consumed.consume("old", 100, 0).unwrap();
        consumed.consume("new", 200, 0).unwrap();
        consumed.consume("other", 300, 100).unwrap();
        assert!(!consumed.contains("old"), "expired at 100");
        assert!(consumed.contains("new"));
        assert_eq!(consumed.len(), 2);
    }

    #[test]
    fn a_full_memory_refuses_instead_of_forgetting() {
        let consumed = ConsumedStates::new(2);
        consumed.consume("a", 100, 0).unwrap();
        consumed.consume("b", 100, 0).unwrap();
        assert_eq!(consumed.consume("c", 100, 10), Err(LoginError::Busy));
        assert!(consumed.contains("a") && consumed.contains("b"));
        // Once the remembered states expire there is room again.
        assert_eq!(consumed.consume("c", 200, 100), Ok(()));
        assert_eq!(consumed.len(), 1);
    }
}
