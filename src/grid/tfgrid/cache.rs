//! A small time-to-live cache for grid reads.
//!
//! The grid proxy is a shared public service and its answers change slowly
//! (nodes report every 40 minutes), so answers are reused for a few seconds.
//! The caller passes `now`, which keeps the cache free of clocks and lets its
//! tests move time by hand.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Entries live for `ttl`; at most `capacity` are kept.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<K, (Instant, V)>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// A `ttl` of zero turns caching off.
    pub fn new(ttl: Duration, capacity: usize) -> TtlCache<K, V> {
        TtlCache {
            ttl,
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// The value stored under `key` if it is younger than the ttl.
    pub fn get(&self, key: &K, now: Instant) -> Option<V> {
        let (stored, value) = self.entries.get(key)?;
        (now.saturating_duration_since(*stored) < self.ttl).then(|| value.clone())
    }

    pub fn put(&mut self, key: K, value: V, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let ttl = self.ttl;
            self.entries
                .retain(|_, (stored, _)| now.saturating_duration_since(*stored) < ttl);
            // Still full of fresh entries: drop the oldest, so memory stays
            // bounded whatever the callers ask.
            if self.entries.len() >= self.capacity
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (stored, _))| *stored)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (now, value));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let t0 = Instant::now();
        let mut cache = TtlCache::new(Duration::from_secs(10), 8);
        cache.put("a", 1, t0);
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(9)), Some(1));
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(10)), None);
        assert_eq!(cache.get(&"b", t0), None);
    }

    #[test]
    fn zero_ttl_caches_nothing() {
        let t0 = Instant::now();
        let mut cache = TtlCache::new(Duration::ZERO, 8);
        cache.put("a", 1, t0);
        assert_eq!(cache.get(&"a", t0), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn a_full_cache_drops_expired_then_oldest() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut cache = TtlCache::new(s(10), 2);
        cache.put(1, "one", t0);
        cache.put(2, "two", t0 + s(5));
        // 1 has expired by t0 + 12: it goes, 2 stays.
        cache.put(3, "three", t0 + s(12));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&2, t0 + s(12)), Some("two"));
        // Both fresh: the oldest (2) goes.
        cache.put(4, "four", t0 + s(13));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&2, t0 + s(13)), None);
        assert_eq!(cache.get(&3, t0 + s(13)), Some("three"));
        assert_eq!(cache.get(&4, t0 + s(13)), Some("four"));
    }
}
