//! An in-memory LRU store with a capacity in entries.

use std::num::NonZeroUsize;

use lru::LruCache;

use crate::routing::{Content, Store};

/// An in-memory store of at most `capacity` entries, evicting the least
/// recently used. Space grows with use rather than being reserved up front,
/// so a million mostly-empty stores stay small.
pub struct MemoryStore<C: Content> {
    entries: LruCache<C::Key, C::Data>,
    capacity: NonZeroUsize,
}

impl<C: Content> Clone for MemoryStore<C> {
    fn clone(&self) -> Self {
        // Rebuild in LRU order so the copy evicts in the same order.
        let mut entries = LruCache::unbounded();
        for (k, v) in self.entries.iter().rev() {
            entries.put(*k, v.clone());
        }
        MemoryStore {
            entries,
            capacity: self.capacity,
        }
    }
}

impl<C: Content> std::fmt::Debug for MemoryStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.entries.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<C: Content> MemoryStore<C> {
    /// An empty store of at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        MemoryStore {
            entries: LruCache::unbounded(),
            capacity: NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
        }
    }

    /// The keys held, most recently used first.
    pub fn keys(&self) -> impl Iterator<Item = &C::Key> {
        self.entries.iter().map(|(k, _)| k)
    }
}

impl<C: Content> Store<C> for MemoryStore<C> {
    fn get(&mut self, key: &C::Key) -> Option<C::Data> {
        self.entries.get(key).cloned()
    }

    fn contains(&self, key: &C::Key) -> bool {
        self.entries.contains(key)
    }

    fn put(&mut self, key: C::Key, data: C::Data) {
        self.entries.put(key, data);
        while self.entries.len() > self.capacity.get() {
            self.entries.pop_lru();
        }
    }

    fn all_keys(&self) -> Vec<C::Key> {
        self.keys().copied().collect()
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Location;

    #[derive(Clone, Debug)]
    enum Nums {}
    impl Content for Nums {
        type Key = u64;
        type Data = u32;
        fn location(key: &u64) -> Location {
            Location(*key)
        }
        fn verify(_: &u64, _: &u32) -> bool {
            true
        }
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut s = MemoryStore::<Nums>::new(2);
        s.put(1, 10);
        s.put(2, 20);
        assert_eq!(s.get(&1), Some(10)); // 2 is now least recent
        s.put(3, 30);
        assert!(!s.contains(&2));
        assert!(s.contains(&1) && s.contains(&3));
        assert_eq!(s.len(), 2);
        // A clone evicts in the same order.
        let mut c = s.clone();
        c.put(4, 40);
        s.put(4, 40);
        assert_eq!(c.keys().collect::<Vec<_>>(), s.keys().collect::<Vec<_>>());
    }
}
