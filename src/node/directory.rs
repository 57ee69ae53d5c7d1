//! The peer directory: the core's `PeerId`s and the node references they
//! stand for, both ways.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::routing::PeerId;
use crate::wire::NodeRef;

/// `PeerId(0)`: this node, in the core's messages.
pub(super) const ME: PeerId = PeerId(0);

/// A node reference as a map key.
type RefKey = ([u8; 32], SocketAddr);

fn ref_key(node: &NodeRef) -> RefKey {
    (node.identity, node.addr)
}

/// Every peer the node has heard of, each with a stable id for the core.
/// Ids start at 1 and are never reused.
#[derive(Debug)]
pub(super) struct Directory {
    me: NodeRef,
    by_id: BTreeMap<PeerId, NodeRef>,
    by_ref: BTreeMap<RefKey, PeerId>,
    next: u32,
}

impl Directory {
    pub(super) fn new(me: NodeRef) -> Directory {
        Directory {
            me,
            by_id: BTreeMap::new(),
            by_ref: BTreeMap::new(),
            next: 1,
        }
    }

    /// This node's own reference.
    pub(super) fn me(&self) -> NodeRef {
        self.me
    }

    /// The id of `node`, added if new; [`ME`] for this node (any reference
    /// with its key).
    pub(super) fn intern(&mut self, node: NodeRef) -> PeerId {
        if node.identity == self.me.identity {
            return ME;
        }
        if let Some(&id) = self.by_ref.get(&ref_key(&node)) {
            return id;
        }
        let id = PeerId(self.next);
        self.next = self.next.saturating_add(1);
        self.by_id.insert(id, node);
        self.by_ref.insert(ref_key(&node), id);
        id
    }

    /// The reference `peer` stands for; this node's for [`ME`].
    pub(super) fn node_ref(&self, peer: PeerId) -> Option<NodeRef> {
        if peer == ME {
            Some(self.me)
        } else {
            self.by_id.get(&peer).copied()
        }
    }

    /// Some peer with this static key, if any is known.
    pub(super) fn find_identity(&self, identity: &[u8; 32]) -> Option<PeerId> {
        self.by_id
            .iter()
            .find(|(_, node)| node.identity == *identity)
            .map(|(id, _)| *id)
    }

    /// How many peers are known.
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(byte: u8, port: u16) -> NodeRef {
        NodeRef {
            identity: [byte; 32],
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    #[test]
    fn ids_are_stable_and_me_is_zero() {
        let mut dir = Directory::new(node(0, 1));
        let a = dir.intern(node(1, 2));
        let b = dir.intern(node(2, 3));
        assert_eq!((a, b), (PeerId(1), PeerId(2)));
        assert_eq!(dir.intern(node(1, 2)), a);
        assert_eq!(dir.intern(node(0, 9)), ME);
        assert_eq!(dir.node_ref(b), Some(node(2, 3)));
        assert_eq!(dir.node_ref(ME), Some(node(0, 1)));
        assert_eq!(dir.find_identity(&[2; 32]), Some(b));
        assert_eq!(dir.len(), 2);
    }
}
