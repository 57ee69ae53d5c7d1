//! Content-hash keys.

use super::{KeyKind, NodeKey, RoutingKey};

/// A content-hash key: the routing key of the block and the key that opens
/// it. Both are fixed by the document's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChkKey {
    /// SHA-256 of the encrypted block.
    pub routing: RoutingKey,
    /// Domain-separated SHA-256 of the padded plaintext.
    pub crypto: [u8; 32],
}

impl ChkKey {
    /// What nodes route by.
    pub fn node_key(&self) -> NodeKey {
        NodeKey {
            kind: KeyKind::Chk,
            routing: self.routing,
        }
    }
}
