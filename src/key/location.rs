//! Points on the routing ring of 2^64 locations, and the distance between them.

use std::fmt;

/// A point on a ring of 2^64 locations.
///
/// Keys and nodes both have a location; routing moves a request toward the
/// nodes whose locations are closest to its key's.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Location(pub u64);

impl Location {
    /// The location of a 32-byte hash: its first 8 bytes, big-endian.
    pub fn from_hash(hash: &[u8; 32]) -> Self {
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash[..8]);
        Location(u64::from_be_bytes(first))
    }

    /// Ring distance: the shorter way round, so never more than 2^63.
    pub fn distance(self, other: Location) -> u64 {
        let forward = other.0.wrapping_sub(self.0);
        let backward = self.0.wrapping_sub(other.0);
        forward.min(backward)
    }

    /// Clockwise distance from `self` to `other` (Chord's successor order).
    pub fn clockwise_to(self, other: Location) -> u64 {
        other.0.wrapping_sub(self.0)
    }

    /// This location as a fraction of the ring, in `[0, 1)`.
    pub fn as_fraction(self) -> f64 {
        self.0 as f64 / 18_446_744_073_709_551_616.0
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({:#018x})", self.0)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}", self.as_fraction())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn distance_wraps_around_the_ring() {
        assert_eq!(Location(1).distance(Location(u64::MAX)), 2);
        assert_eq!(Location(u64::MAX).distance(Location(1)), 2);
        assert_eq!(Location(0).distance(Location(1 << 63)), 1 << 63);
        assert_eq!(Location(10).distance(Location(10)), 0);
    }

    #[test]
    fn location_is_the_first_eight_bytes_big_endian() {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        hash[8] = 0xff;
        assert_eq!(Location::from_hash(&hash), Location(0x0102_0304_0506_0708));
    }

    proptest! {
        #[test]
        fn distance_is_symmetric_and_bounded(a: u64, b: u64) {
            let (a, b) = (Location(a), Location(b));
            prop_assert_eq!(a.distance(b), b.distance(a));
            prop_assert!(a.distance(b) <= 1 << 63);
            prop_assert_eq!(a.clockwise_to(b).wrapping_add(b.clockwise_to(a)), 0);
        }
    }
}
