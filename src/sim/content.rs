//! Virtual content: keys that are bare locations and data that is nothing,
//! so a simulated block costs 8 bytes wherever it is cached.

use crate::key::Location;
use crate::routing::Content;

/// A simulated key: its location on the ring.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct VirtualKey(pub u64);

/// Keys without payload. Every datum verifies: the simulator studies
/// routing and caching, not forgery (the real node's tests cover that).
#[derive(Clone, Copy, Debug)]
pub enum VirtualContent {}

impl Content for VirtualContent {
    type Key = VirtualKey;
    type Data = ();

    fn location(key: &VirtualKey) -> Location {
        Location(key.0)
    }

    fn verify(_: &VirtualKey, _: &()) -> bool {
        true
    }
}
