//! The routing table: bounded `(location, peer)` references, evicted least
//! recently used first.
//!
//! Entries are kept sorted by location, so the closest reference to a key
//! is found by a binary search and a walk outward in both directions, which
//! stops at the first peer not excluded. Each entry is 16 bytes; a million
//! full tables of 250 entries fit in 4 GB. Recency is a per-table counter,
//! not a clock, so the table stays deterministic.

use super::PeerId;
use crate::key::Location;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    location: u64,
    peer: PeerId,
    stamp: u32,
}

/// Bounded references from key locations to the peers to ask for them.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    entries: Vec<Entry>,
    capacity: u32,
    clock: u32,
}

impl RoutingTable {
    /// An empty table holding at most `capacity` references (at least 1).
    pub fn new(capacity: usize) -> Self {
        RoutingTable {
            entries: Vec::new(),
            capacity: capacity.clamp(1, u32::MAX as usize) as u32,
            clock: 0,
        }
    }

    /// How many references are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The references, in location order.
    pub fn iter(&self) -> impl Iterator<Item = (Location, PeerId)> + '_ {
        self.entries.iter().map(|e| (Location(e.location), e.peer))
    }

    /// Adds or refreshes the reference `location → peer`, replacing any
    /// other peer held for the same location, and evicting the least
    /// recently used reference if the table is full.
    pub fn add(&mut self, location: Location, peer: PeerId) {
        self.clock = self.clock.wrapping_add(1);
        let stamp = self.clock;
        let at = self.entries.partition_point(|e| e.location < location.0);
        if let Some(e) = self
            .entries
            .get_mut(at)
            .filter(|e| e.location == location.0)
        {
            e.peer = peer;
            e.stamp = stamp;
            return;
        }
        let mut at = at;
        if self.entries.len() >= self.capacity as usize {
            // Oldest by wrapping age, so the order survives the counter
            // wrapping around.
            let oldest = (0..self.entries.len())
                .max_by_key(|&i| {
                    (
                        stamp.wrapping_sub(self.entries[i].stamp),
                        std::cmp::Reverse(i),
                    )
                })
                .expect("a full table is not empty");
            self.entries.remove(oldest);
            if oldest < at {
                at -= 1;
            }
        }
        self.entries.insert(
            at,
            Entry {
                location: location.0,
                peer,
                stamp,
            },
        );
    }

    /// Forgets every reference through `peer`.
    pub fn remove_peer(&mut self, peer: PeerId) {
        self.entries.retain(|e| e.peer != peer);
    }

    /// The peer of the reference closest to `target` whose peer is not
    /// excluded. Ties go to the reference clockwise of the target.
    pub fn closest(&self, target: Location, excluded: impl Fn(PeerId) -> bool) -> Option<PeerId> {
        let n = self.entries.len();
        if n == 0 {
            return None;
        }
        let start = self.entries.partition_point(|e| e.location < target.0) % n;
        // Two cursors walk away from the target; each step takes the nearer
        // front, so references come in order of ring distance and each is
        // seen once.
        let (mut right, mut left) = (start, (start + n - 1) % n);
        for _ in 0..n {
            let r = &self.entries[right];
            let l = &self.entries[left];
            let take_right = target.clockwise_to(Location(r.location))
                <= Location(l.location).clockwise_to(target);
            let e = if take_right {
                right = (right + 1) % n;
                r
            } else {
                left = (left + n - 1) % n;
                l
            };
            if !excluded(e.peer) {
                return Some(e.peer);
            }
        }
        None
    }

    /// A uniformly chosen peer among the references whose peer is not
    /// excluded (a peer with more references is likelier).
    pub fn random_peer<R: rand::Rng + ?Sized>(
        &self,
        rng: &mut R,
        excluded: impl Fn(PeerId) -> bool,
    ) -> Option<PeerId> {
        let candidates: Vec<PeerId> = self
            .entries
            .iter()
            .map(|e| e.peer)
            .filter(|&p| !excluded(p))
            .collect();
        if candidates.is_empty() {
            None
        } else {
            Some(candidates[rng.gen_range(0..candidates.len())])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn closest_wraps_around_the_ring() {
        let mut t = RoutingTable::new(10);
        t.add(Location(10), PeerId(1));
        t.add(Location(u64::MAX - 5), PeerId(2));
        t.add(Location(1 << 62), PeerId(3));
        assert_eq!(t.closest(Location(0), |_| false), Some(PeerId(2)));
        assert_eq!(t.closest(Location(8), |_| false), Some(PeerId(1)));
        assert_eq!(t.closest(Location(0), |p| p == PeerId(2)), Some(PeerId(1)));
        assert_eq!(t.closest(Location(0), |p| p != PeerId(3)), Some(PeerId(3)));
        assert_eq!(t.closest(Location(0), |_| true), None);
    }

    #[test]
    fn the_least_recently_added_reference_is_evicted() {
        let mut t = RoutingTable::new(3);
        t.add(Location(100), PeerId(1));
        t.add(Location(200), PeerId(2));
        t.add(Location(300), PeerId(3));
        t.add(Location(100), PeerId(1)); // refresh: now 200 is oldest
        t.add(Location(400), PeerId(4));
        let locs: Vec<u64> = t.iter().map(|(l, _)| l.0).collect();
        assert_eq!(locs, vec![100, 300, 400]);
    }

    #[test]
    fn a_location_holds_one_peer() {
        let mut t = RoutingTable::new(3);
        t.add(Location(7), PeerId(1));
        t.add(Location(7), PeerId(2));
        assert_eq!(t.len(), 1);
        assert_eq!(t.closest(Location(7), |_| false), Some(PeerId(2)));
        t.remove_peer(PeerId(2));
        assert!(t.is_empty());
    }

    proptest! {
        #[test]
        fn closest_agrees_with_a_linear_scan(
            refs in prop::collection::vec((any::<u64>(), 0u32..8), 1..60),
            target: u64,
            excluded in prop::collection::vec(0u32..8, 0..6),
        ) {
            let mut t = RoutingTable::new(40);
            for &(l, p) in &refs {
                t.add(Location(l), PeerId(p));
            }
            prop_assert!(t.len() <= 40);
            let is_excluded = |p: PeerId| excluded.contains(&p.0);
            let best = t
                .iter()
                .filter(|&(_, p)| !is_excluded(p))
                .map(|(l, _)| l.distance(Location(target)))
                .min();
            let got = t.closest(Location(target), is_excluded);
            match (best, got) {
                (None, None) => {}
                (Some(d), Some(p)) => {
                    // The chosen peer holds a reference at the best distance.
                    prop_assert!(t.iter().any(|(l, q)| q == p && l.distance(Location(target)) == d));
                }
                other => prop_assert!(false, "mismatch {:?}", other),
            }
        }
    }
}
