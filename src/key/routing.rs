//! Routing keys: what nodes see of a key, and all they need to route and verify.

use std::fmt;

use super::Location;

/// A 32-byte SHA-256 output naming a block on the network.
///
/// Nodes route by it and verify blocks against it; it reveals nothing of the
/// document or of the key needed to decrypt it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoutingKey(pub [u8; 32]);

impl RoutingKey {
    /// The key's position on the ring.
    pub fn location(&self) -> Location {
        Location::from_hash(&self.0)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RoutingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoutingKey({self})")
    }
}

impl fmt::Display for RoutingKey {
    /// Lower-case hex, the form used in logs and in `keys/` vectors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Which kind of block a routing key names, and so how a node verifies it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum KeyKind {
    /// A content-hash block: its routing key is the SHA-256 of the block.
    Chk,
    /// A signed block: its routing key binds a public key and a name.
    Ssk,
}

impl KeyKind {
    /// The byte that stands for this kind on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            KeyKind::Chk => 1,
            KeyKind::Ssk => 2,
        }
    }

    /// The kind a wire byte stands for, if any.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(KeyKind::Chk),
            2 => Some(KeyKind::Ssk),
            _ => None,
        }
    }
}

/// A routing key together with its block kind: what requests and inserts carry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NodeKey {
    /// How a block under this key is verified.
    pub kind: KeyKind,
    /// Where the block lives on the ring.
    pub routing: RoutingKey,
}

impl NodeKey {
    /// The key's position on the ring.
    pub fn location(&self) -> Location {
        self.routing.location()
    }
}
