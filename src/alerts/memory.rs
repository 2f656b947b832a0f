//! The bounded memory of delivered alert keys that makes re-raising an alert
//! (typically after a restart) a no-op.
//!
//! A key is remembered while its alert was raised at most
//! [`REMEMBER_DELIVERED_SECS`] before the newest alert seen, and at most
//! [`REMEMBER_DELIVERED_MAX`] keys are kept (the oldest go first). Time is
//! measured by `raised_at`, i.e. by the service's clock, so the memory needs
//! no clock of its own and behaves the same under a simulated one.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Delivered keys are remembered for a week of `raised_at` time: background
/// loops re-raise a condition within minutes to hours, never weeks later.
pub const REMEMBER_DELIVERED_SECS: u64 = 7 * 24 * 3600;
/// Hard cap on remembered keys (about 30 MB at most), so a flood of unique
/// alerts cannot grow memory or the journal without bound.
pub const REMEMBER_DELIVERED_MAX: usize = 200_000;

#[derive(Default)]
pub(super) struct Memory {
    by_key: HashMap<Arc<str>, u64>,
    /// The same keys by age, to forget the oldest first.
    by_age: BTreeSet<(u64, Arc<str>)>,
    /// The newest `raised_at` seen on any alert: "now" for forgetting.
    newest: u64,
}

impl Memory {
    pub fn contains(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Moves the memory's notion of now forward (never back).
    pub fn saw(&mut self, raised_at: u64) {
        if raised_at > self.newest {
            self.newest = raised_at;
            self.prune();
        }
    }

    pub fn remember(&mut self, key: &str, raised_at: u64) {
        self.forget(key);
        let key: Arc<str> = Arc::from(key);
        self.by_key.insert(key.clone(), raised_at);
        self.by_age.insert((raised_at, key));
        self.saw(raised_at);
        self.prune();
    }

    pub fn forget(&mut self, key: &str) {
        if let Some((key, raised_at)) = self.by_key.remove_entry(key) {
            self.by_age.remove(&(raised_at, key));
        }
    }

    /// Remembered keys with their `raised_at`, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.by_age.iter().map(|(at, key)| (&**key, *at))
    }

    fn prune(&mut self) {
        let horizon = self.newest.saturating_sub(REMEMBER_DELIVERED_SECS);
        while let Some((at, _)) = self.by_age.first()
            && (*at < horizon || self.by_age.len() > REMEMBER_DELIVERED_MAX)
        {
            if let Some((_, key)) = self.by_age.pop_first() {
                self.by_key.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_older_than_the_horizon_are_forgotten() {
        let mut memory = Memory::default();
        memory.remember("old", 1_000);
        memory.remember("new", 1_000 + REMEMBER_DELIVERED_SECS);
        assert!(memory.contains("old"));
        memory.saw(1_001 + REMEMBER_DELIVERED_SECS);
        assert!(!memory.contains("old"));
        assert!(memory.contains("new"));
        assert_eq!(memory.iter().count(), 1);
    }

    #[test]
    fn the_count_is_capped_oldest_first() {
        let mut memory = Memory::default();
        for i in 0..(REMEMBER_DELIVERED_MAX as u64 + 5) {
            memory.remember(&format!("k{i}"), i);
        }
        assert_eq!(memory.len(), REMEMBER_DELIVERED_MAX);
        assert!(!memory.contains("k4"));
        assert!(memory.contains("k5"));
    }
}
