//! The protocol's messages and the small types their fields use.
//!
//! This module owns what a message *is*; [`super::codec`] owns how it is
//! written as bytes. Nothing here does I/O.
//!
//! Two routing modes share one message set. Freenet mode routes requests and
//! inserts greedily by location with hops-to-live, and nodes join by
//! announcement. Chord mode keeps a ring with successor lists; its key
//! lookups reuse [`Message::Request`], [`Message::Insert`],
//! [`Message::DataFound`] and the other Freenet-mode replies, so both modes
//! run exactly the same workload and differ only in how a node picks the
//! next hop and maintains its neighbours.

use std::fmt;
use std::net::SocketAddr;

use crate::block::Block;
use crate::key::{Location, NodeKey};

/// The most seeds an [`Message::AnnounceReply`] or
/// [`Message::AnnounceComplete`] carries.
pub const MAX_SEEDS: usize = 30;

/// The most peers a [`Message::SuccessorList`] or [`Message::Leave`] carries.
pub const MAX_SUCCESSORS: usize = 15;

/// The most keys a [`Message::StoreOffer`] or [`Message::StoreWant`]
/// carries: as many as fit one frame.
pub const MAX_OFFER_KEYS: usize = 30;

/// Names one request and every reply to it, so a node can match replies
/// to the requests it forwarded. Chosen at random by the originator.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    /// Sixteen lower-case hex digits, the form used in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A peer: its X25519 public key (its identity on links) and where it
/// listens.
///
/// On the wire an IPv6 address carries only its 16 address bytes and port:
/// its flow label and scope id are not sent and decode as zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct NodeRef {
    /// The peer's X25519 static public key.
    pub identity: [u8; 32],
    /// The peer's listening address.
    pub addr: SocketAddr,
}

/// A Chord ring member: its location on the ring and how to reach it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChordPeer {
    /// Where the node sits on the ring.
    pub location: Location,
    /// How to reach it.
    pub node: NodeRef,
}

/// A 32-byte random value one node contributes to a joining node's location.
///
/// During an announcement each hop commits to its seed (the joiner commits
/// with [`Message::Announce`]'s `commitment`), then all seeds are revealed
/// and the new location is derived from them, so no single node chooses it
/// (commit-reveal, after Clarke et al. 2001).
pub type Seed = [u8; 32];

/// A protocol message. Byte 0 of its encoding is its type tag, given with
/// each variant.
///
/// Requests and replies carry the [`RequestId`] of the request they belong
/// to; `htl` is hops-to-live, decremented at each hop.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    // ---- Freenet mode (Chord mode reuses the key operations) ----
    /// `0x01` Asks for the block under `key`.
    Request {
        /// The request.
        id: RequestId,
        /// The key wanted.
        key: NodeKey,
        /// Hops-to-live.
        htl: u8,
    },
    /// `0x02` Stores `block` under `key` along the path. The block's kind must
    /// be the key's kind.
    ///
    /// Like [`Message::DataFound`] it names a data source: each node on the
    /// path adds a routing reference from `key` to `source` (Clarke et al.
    /// 2001).
    Insert {
        /// The insert.
        id: RequestId,
        /// The key to store under.
        key: NodeKey,
        /// Hops-to-live.
        htl: u8,
        /// Who claims to insert it; every hop references it for the key, and
        /// any hop may put itself here.
        source: NodeRef,
        /// The block.
        block: Block,
    },
    /// `0x03` The block a request asked for, passed back along the path.
    ///
    /// Also the answer to an [`Message::Insert`] that reaches a node already
    /// holding a block under the key: the insert stops and the existing block
    /// comes back, so the inserter learns of the collision.
    DataFound {
        /// The request or insert answered.
        id: RequestId,
        /// The node that held the block (nodes on the way back may replace
        /// it with themselves).
        source: NodeRef,
        /// The block.
        block: Block,
    },
    /// `0x04` The request ran out of hops-to-live without finding the key.
    DataNotFound {
        /// The request answered.
        id: RequestId,
    },
    /// `0x05` Every route was tried (dead ends, loops) before hops-to-live ran
    /// out.
    RouteNotFound {
        /// The request answered.
        id: RequestId,
        /// Hops-to-live left unused.
        htl: u8,
    },
    /// `0x06` The node has already seen this request; try another route.
    RejectedLoop {
        /// The request refused.
        id: RequestId,
    },
    /// `0x07` The insert was stored along the whole path.
    InsertReply {
        /// The insert answered.
        id: RequestId,
    },
    /// `0x08` A new node asks to join, committing to its location seed.
    Announce {
        /// The announcement.
        id: RequestId,
        /// Hops-to-live.
        htl: u8,
        /// The node joining.
        joiner: NodeRef,
        /// SHA-256 commitment to the joiner's seed.
        commitment: [u8; 32],
    },
    /// `0x09` Seeds revealed back up the announcement's path: each hop
    /// appends its own.
    AnnounceReply {
        /// The announcement answered.
        id: RequestId,
        /// Seeds revealed so far (at most [`MAX_SEEDS`]).
        seeds: Vec<Seed>,
    },
    /// `0x0A` The joiner sends every seed, its own included, down the path so
    /// each hop computes the new location.
    AnnounceComplete {
        /// The announcement.
        id: RequestId,
        /// All seeds (at most [`MAX_SEEDS`]).
        seeds: Vec<Seed>,
    },
    /// `0x0D` A request on its stem, the anonymity phase before routing:
    /// the receiver passes it on to a random peer or ends the stem and
    /// routes it. No hops to live; the id is new on every hop.
    StemRequest {
        /// The request, on this hop.
        id: RequestId,
        /// The key wanted.
        key: NodeKey,
    },
    /// `0x0E` An insert on its stem, as [`Message::StemRequest`]. It names
    /// no source: the node that ends the stem puts itself there. The
    /// block's kind must be the key's kind.
    StemInsert {
        /// The insert, on this hop.
        id: RequestId,
        /// The key to store under.
        key: NodeKey,
        /// The block.
        block: Block,
    },
    /// `0x0F` Freenet mode's insert: offers to store a block under `key`
    /// along the path; the block follows in [`Message::InsertData`] once
    /// the receiver answers [`Message::InsertAccepted`], so that no block
    /// travels to a node that refuses it (a loop, a collision). Names a data
    /// source, as [`Message::Insert`].
    InsertOffer {
        /// The insert.
        id: RequestId,
        /// The key to store under.
        key: NodeKey,
        /// Hops-to-live.
        htl: u8,
        /// Who claims to insert it; every hop references it for the key, and
        /// any hop may put itself here.
        source: NodeRef,
    },
    /// `0x10` The receiver takes the insert offered: send the block.
    InsertAccepted {
        /// The insert.
        id: RequestId,
    },
    /// `0x11` The block of an accepted insert. Its kind must be the offered
    /// key's kind (the receiver checks it against the key).
    InsertData {
        /// The insert.
        id: RequestId,
        /// The block.
        block: Block,
    },
    /// `0x0B` Liveness probe.
    Ping {
        /// Echoed in the [`Message::Pong`].
        nonce: u64,
    },
    /// `0x0C` Answer to a [`Message::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },

    // ---- Chord mode ----
    /// `0x20` Asks for the node that succeeds `target` on the ring.
    FindSuccessor {
        /// The lookup.
        id: RequestId,
        /// The location looked up.
        target: Location,
        /// Hops taken so far.
        hops: u8,
    },
    /// `0x21` The successor of a [`Message::FindSuccessor`]'s target.
    SuccessorFound {
        /// The lookup answered.
        id: RequestId,
        /// The successor.
        node: ChordPeer,
        /// Hops the lookup took.
        hops: u8,
    },
    /// `0x22` "I may be your predecessor" (Chord stabilisation).
    Notify {
        /// The sender.
        node: ChordPeer,
    },
    /// `0x23` Asks a node for its predecessor.
    GetPredecessor {
        /// The query.
        id: RequestId,
    },
    /// `0x24` A node's predecessor, if it knows one.
    Predecessor {
        /// The query answered.
        id: RequestId,
        /// The predecessor.
        node: Option<ChordPeer>,
    },
    /// `0x25` Asks a node for its successor list.
    GetSuccessorList {
        /// The query.
        id: RequestId,
    },
    /// `0x26` A node's successors, nearest first.
    SuccessorList {
        /// The query answered.
        id: RequestId,
        /// The successors (at most [`MAX_SUCCESSORS`]).
        nodes: Vec<ChordPeer>,
    },
    /// `0x27` Hands a stored block to the node now responsible for it, when a
    /// node joins or leaves. The block's kind must be the key's kind.
    StoreTransfer {
        /// The transfer.
        id: RequestId,
        /// The key the block is stored under.
        key: NodeKey,
        /// The block.
        block: Block,
    },
    /// `0x28` The transferred block is stored.
    TransferAck {
        /// The transfer answered.
        id: RequestId,
    },
    /// `0x29` The sender leaves the ring gracefully, telling its neighbours
    /// whom to link to instead.
    Leave {
        /// The sender's predecessor, if known.
        predecessor: Option<ChordPeer>,
        /// The sender's successors (at most [`MAX_SUCCESSORS`]).
        successors: Vec<ChordPeer>,
    },
    /// `0x2A` The sender, responsible for these keys, holds them and offers
    /// them to a successor that should replicate them.
    StoreOffer {
        /// The offer.
        id: RequestId,
        /// The keys (at most [`MAX_OFFER_KEYS`]).
        keys: Vec<NodeKey>,
    },
    /// `0x2B` The offered keys the receiver lacks; the offerer sends each in
    /// a `StoreTransfer`.
    StoreWant {
        /// The offer answered.
        id: RequestId,
        /// The keys (at most [`MAX_OFFER_KEYS`]).
        keys: Vec<NodeKey>,
    },
}

impl Message {
    /// The request this message starts or answers, if it belongs to one.
    pub fn request_id(&self) -> Option<RequestId> {
        use Message::*;
        match self {
            Request { id, .. }
            | Insert { id, .. }
            | DataFound { id, .. }
            | DataNotFound { id }
            | RouteNotFound { id, .. }
            | RejectedLoop { id }
            | InsertReply { id }
            | Announce { id, .. }
            | StemRequest { id, .. }
            | StemInsert { id, .. }
            | InsertOffer { id, .. }
            | InsertAccepted { id }
            | InsertData { id, .. }
            | AnnounceReply { id, .. }
            | AnnounceComplete { id, .. }
            | FindSuccessor { id, .. }
            | SuccessorFound { id, .. }
            | GetPredecessor { id }
            | Predecessor { id, .. }
            | GetSuccessorList { id }
            | SuccessorList { id, .. }
            | StoreTransfer { id, .. }
            | TransferAck { id }
            | StoreOffer { id, .. }
            | StoreWant { id, .. } => Some(*id),
            Ping { .. } | Pong { .. } | Notify { .. } | Leave { .. } => None,
        }
    }

    /// The variant's name, for logs and error messages.
    pub fn name(&self) -> &'static str {
        use Message::*;
        match self {
            Request { .. } => "Request",
            Insert { .. } => "Insert",
            DataFound { .. } => "DataFound",
            DataNotFound { .. } => "DataNotFound",
            RouteNotFound { .. } => "RouteNotFound",
            RejectedLoop { .. } => "RejectedLoop",
            InsertReply { .. } => "InsertReply",
            Announce { .. } => "Announce",
            AnnounceReply { .. } => "AnnounceReply",
            AnnounceComplete { .. } => "AnnounceComplete",
            StemRequest { .. } => "StemRequest",
            StemInsert { .. } => "StemInsert",
            InsertOffer { .. } => "InsertOffer",
            InsertAccepted { .. } => "InsertAccepted",
            InsertData { .. } => "InsertData",
            Ping { .. } => "Ping",
            Pong { .. } => "Pong",
            FindSuccessor { .. } => "FindSuccessor",
            SuccessorFound { .. } => "SuccessorFound",
            Notify { .. } => "Notify",
            GetPredecessor { .. } => "GetPredecessor",
            Predecessor { .. } => "Predecessor",
            GetSuccessorList { .. } => "GetSuccessorList",
            SuccessorList { .. } => "SuccessorList",
            StoreTransfer { .. } => "StoreTransfer",
            TransferAck { .. } => "TransferAck",
            Leave { .. } => "Leave",
            StoreOffer { .. } => "StoreOffer",
            StoreWant { .. } => "StoreWant",
        }
    }

    /// The type tag: byte 0 of the message's encoding.
    pub fn tag(&self) -> u8 {
        use Message::*;
        match self {
            Request { .. } => 0x01,
            Insert { .. } => 0x02,
            DataFound { .. } => 0x03,
            DataNotFound { .. } => 0x04,
            RouteNotFound { .. } => 0x05,
            RejectedLoop { .. } => 0x06,
            InsertReply { .. } => 0x07,
            Announce { .. } => 0x08,
            AnnounceReply { .. } => 0x09,
            AnnounceComplete { .. } => 0x0A,
            Ping { .. } => 0x0B,
            Pong { .. } => 0x0C,
            StemRequest { .. } => 0x0D,
            StemInsert { .. } => 0x0E,
            InsertOffer { .. } => 0x0F,
            InsertAccepted { .. } => 0x10,
            InsertData { .. } => 0x11,
            FindSuccessor { .. } => 0x20,
            SuccessorFound { .. } => 0x21,
            Notify { .. } => 0x22,
            GetPredecessor { .. } => 0x23,
            Predecessor { .. } => 0x24,
            GetSuccessorList { .. } => 0x25,
            SuccessorList { .. } => 0x26,
            StoreTransfer { .. } => 0x27,
            TransferAck { .. } => 0x28,
            Leave { .. } => 0x29,
            StoreOffer { .. } => 0x2A,
            StoreWant { .. } => 0x2B,
        }
    }

    /// The block this message carries, if any.
    pub fn block(&self) -> Option<&Block> {
        match self {
            Message::Insert { block, .. }
            | Message::StemInsert { block, .. }
            | Message::InsertData { block, .. }
            | Message::DataFound { block, .. }
            | Message::StoreTransfer { block, .. } => Some(block),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_is_absent_only_for_unsolicited_messages() {
        let peer = ChordPeer {
            location: Location(7),
            node: NodeRef {
                identity: [1; 32],
                addr: "127.0.0.1:9".parse().unwrap(),
            },
        };
        assert_eq!(Message::Ping { nonce: 1 }.request_id(), None);
        assert_eq!(Message::Notify { node: peer }.request_id(), None);
        assert_eq!(
            Message::Leave {
                predecessor: None,
                successors: vec![]
            }
            .request_id(),
            None
        );
        assert_eq!(
            Message::TransferAck { id: RequestId(5) }.request_id(),
            Some(RequestId(5))
        );
        assert_eq!(
            Message::TransferAck { id: RequestId(5) }.name(),
            "TransferAck"
        );
        assert_eq!(Message::TransferAck { id: RequestId(5) }.tag(), 0x28);
    }

    #[test]
    fn request_id_displays_as_hex() {
        assert_eq!(RequestId(0xab).to_string(), "00000000000000ab");
    }
}
