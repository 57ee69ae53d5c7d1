//! The peer directory: the core's `PeerId`s and the node references they
//! stand for, both ways.
//!
//! A peer is its static key: one key is one peer, whatever addresses it is
//! met under. The first address learned for a key is kept; a reference that
//! names the same key at another address (in a message's `source`, say,
//! which any node on a path may write) maps to the same peer and changes
//! nothing. Only the peer itself can move its address: the listening
//! address it announces in a handshake, authenticated by its key, replaces
//! the one on file ([`Directory::set_addr`]). So a peer reached through a
//! relay or a second interface stays one peer, reached where it was first
//! known, and no third party can redirect it.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::routing::PeerId;
use crate::wire::NodeRef;

/// `PeerId(0)`: this node, in the core's messages.
pub(super) const ME: PeerId = PeerId(0);

/// Every peer the node has heard of, each with a stable id for the core.
/// Ids start at 1 and are never reused.
#[derive(Debug)]
pub(super) struct Directory {
    me: NodeRef,
    by_id: BTreeMap<PeerId, NodeRef>,
    by_key: BTreeMap<[u8; 32], PeerId>,
    next: u32,
}

impl Directory {
    pub(super) fn new(me: NodeRef) -> Directory {
        Directory {
            me,
            by_id: BTreeMap::new(),
            by_key: BTreeMap::new(),
            next: 1,
        }
    }

    /// This node's own reference.
    pub(super) fn me(&self) -> NodeRef {
        self.me
    }

    /// The id of the peer with `node`'s key, added at `node`'s address if
    /// new; [`ME`] for this node (any reference with its key). A known
    /// peer keeps its address.
    pub(super) fn intern(&mut self, node: NodeRef) -> PeerId {
        if node.identity == self.me.identity {
            return ME;
        }
        if let Some(&id) = self.by_key.get(&node.identity) {
            return id;
        }
        let id = PeerId(self.next);
        self.next = self.next.saturating_add(1);
        self.by_id.insert(id, node);
        self.by_key.insert(node.identity, id);
        id
    }

    /// Moves `peer` to `addr`, the listening address it announced itself;
    /// whether that changed anything.
    pub(super) fn set_addr(&mut self, peer: PeerId, addr: SocketAddr) -> bool {
        match self.by_id.get_mut(&peer) {
            Some(node) if node.addr != addr => {
                node.addr = addr;
                true
            }
            _ => false,
        }
    }

    /// The reference `peer` stands for; this node's for [`ME`].
    pub(super) fn node_ref(&self, peer: PeerId) -> Option<NodeRef> {
        if peer == ME {
            Some(self.me)
        } else {
            self.by_id.get(&peer).copied()
        }
    }

    /// The peer with this static key, if it is known.
    pub(super) fn find_identity(&self, identity: &[u8; 32]) -> Option<PeerId> {
        self.by_key.get(identity).copied()
    }

    /// How many peers are known.
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Above `max` peers, forgets the longest-known ones that `in_use` does
    /// not keep, down to three quarters of `max` (or as far as `in_use`
    /// allows); how many it forgot. Ids are never reused, so a forgotten
    /// peer met again gets a new one.
    pub(super) fn prune(&mut self, max: usize, in_use: impl Fn(PeerId) -> bool) -> usize {
        if self.by_id.len() <= max {
            return 0;
        }
        let excess = self.by_id.len() - max * 3 / 4;
        let gone: Vec<PeerId> = self
            .by_id
            .keys()
            .copied()
            .filter(|&id| !in_use(id))
            .take(excess)
            .collect();
        for id in &gone {
            if let Some(node) = self.by_id.remove(id) {
                self.by_key.remove(&node.identity);
            }
        }
        gone.len()
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

    #[test]
    fn pruning_forgets_the_oldest_peers_not_in_use() {
        let mut dir = Directory::new(node(0, 1));
        for i in 1..=100 {
            dir.intern(NodeRef {
                identity: [i; 32],
                addr: node(0, 1).addr,
            });
        }
        assert_eq!(dir.prune(100, |_| false), 0, "at the bound");
        dir.intern(node(200, 5));
        // Ids 1..=10 are in use; 101 peers, down to 75: the 26 oldest of
        // the others go.
        let forgot = dir.prune(100, |id| id.0 <= 10);
        assert_eq!((forgot, dir.len()), (26, 75));
        assert!(dir.node_ref(PeerId(1)).is_some() && dir.node_ref(PeerId(10)).is_some());
        assert!(dir.node_ref(PeerId(11)).is_none() && dir.node_ref(PeerId(36)).is_none());
        assert!(dir.node_ref(PeerId(37)).is_some());
        assert_eq!(dir.find_identity(&[11; 32]), None);
        // Met again: a new id.
        assert_eq!(
            dir.intern(NodeRef {
                identity: [11; 32],
                addr: node(0, 1).addr
            }),
            PeerId(102)
        );
    }

    #[test]
    fn one_key_is_one_peer_and_only_it_moves_its_address() {
        let mut dir = Directory::new(node(0, 1));
        let a = dir.intern(node(1, 2));
        // Met again at another address (a relay, a rewritten source): the
        // same peer, still at the first address.
        assert_eq!(dir.intern(node(1, 7)), a);
        assert_eq!(dir.node_ref(a), Some(node(1, 2)));
        assert_eq!(dir.len(), 1);
        // Its own handshake moves it.
        assert!(dir.set_addr(a, node(1, 7).addr));
        assert!(!dir.set_addr(a, node(1, 7).addr));
        assert_eq!(dir.node_ref(a), Some(node(1, 7)));
        assert!(!dir.set_addr(PeerId(99), node(1, 7).addr));
    }
}
