//! A [`Message`] to and from its byte encoding.
//!
//! The encoding is a type tag byte followed by the message's fields in
//! declaration order, with fixed-width big-endian integers and no padding or
//! length prefixes except list counts (see `docs/protocol.md`). Decoding is
//! strict: it rejects truncation, trailing bytes, unknown tags and any kind,
//! family, option or count byte the encoder would not write, so every byte
//! string [`decode`] accepts is exactly `encode` of the message it returns.
//! The reader is bounds-checked and never panics on any input.
//!
//! This module does no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::WireError;
use super::message::{
    ChordPeer, MAX_OFFER_KEYS, MAX_SEEDS, MAX_SUCCESSORS, Message, NodeRef, RequestId,
};
use crate::block::Block;
use crate::block::chk::CHK_BLOCK_SIZE;
use crate::block::ssk::SSK_BLOCK_SIZE;
use crate::key::{KeyKind, Location, NodeKey, RoutingKey};

/// The largest message encoding a peer may send or a decoder will accept:
/// 40 KiB, room for a block with its largest envelope.
pub const MAX_MESSAGE_SIZE: usize = 40 * 1024;

const REQUEST_ID_SIZE: usize = 8;
const NODE_KEY_SIZE: usize = 1 + 32;
const NODE_REF_MAX: usize = 32 + 1 + 16 + 2;
const CHORD_PEER_MAX: usize = 8 + NODE_REF_MAX;
const SEED_SIZE: usize = 32;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// The longest encoding of a message without a block: the list-carrying
/// ones at their bounds, with IPv6 addresses. The list bounds are chosen so
/// that this fits one frame (asserted in `frame.rs`).
pub(super) const LARGEST_CONTROL_MESSAGE: usize = {
    let seeds = 1 + REQUEST_ID_SIZE + 1 + MAX_SEEDS * SEED_SIZE;
    let successors = 1 + REQUEST_ID_SIZE + 1 + MAX_SUCCESSORS * CHORD_PEER_MAX;
    let leave = 1 + 1 + CHORD_PEER_MAX + 1 + MAX_SUCCESSORS * CHORD_PEER_MAX;
    let offer = 1 + REQUEST_ID_SIZE + 1 + MAX_OFFER_KEYS * NODE_KEY_SIZE;
    max(max(seeds, offer), max(successors, leave))
};

/// The longest encoding of any message: every shape at its largest (SSK
/// blocks, IPv6 addresses, full lists). Today that is an `Insert` with an SSK
/// block and an IPv6 source, which carries both a key and a `NodeRef`.
const LARGEST_MESSAGE: usize = {
    let block = 1 + max(CHK_BLOCK_SIZE, SSK_BLOCK_SIZE);
    let insert = 1 + REQUEST_ID_SIZE + NODE_KEY_SIZE + 1 + NODE_REF_MAX + block;
    let data_found = 1 + REQUEST_ID_SIZE + NODE_REF_MAX + block;
    let store_transfer = 1 + REQUEST_ID_SIZE + NODE_KEY_SIZE + block;
    max(
        max(insert, data_found),
        max(store_transfer, LARGEST_CONTROL_MESSAGE),
    )
};

const _: () = assert!(
    LARGEST_MESSAGE <= MAX_MESSAGE_SIZE,
    "the largest message must fit in MAX_MESSAGE_SIZE"
);
const _: () = assert!(
    1 + REQUEST_ID_SIZE + NODE_KEY_SIZE + 1 + NODE_REF_MAX + 1 + SSK_BLOCK_SIZE <= MAX_MESSAGE_SIZE,
    "an Insert with an SSK block and an IPv6 source must fit"
);
const _: () = assert!(
    1 + REQUEST_ID_SIZE + NODE_REF_MAX + 1 + SSK_BLOCK_SIZE <= MAX_MESSAGE_SIZE,
    "a DataFound with an SSK block and an IPv6 source must fit"
);
// List counts travel in one byte.
const _: () = assert!(MAX_SEEDS < 256 && MAX_SUCCESSORS < 256 && MAX_OFFER_KEYS < 256);

/// Where encoded bytes go: a `Vec<u8>`, or frames being filled in place.
pub(crate) trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Encodes `msg` into a new buffer of exactly [`encoded_len`] bytes.
///
/// Fails only with [`WireError::ListTooLong`], when a seed or successor list
/// is over its bound.
pub fn encode(msg: &Message) -> Result<Vec<u8>, WireError> {
    check(msg)?;
    let mut out = Vec::with_capacity(encoded_len(msg));
    write_message(msg, &mut out);
    Ok(out)
}

/// Appends the encoding of `msg` to `out`. On error `out` is unchanged.
pub fn encode_into(msg: &Message, out: &mut Vec<u8>) -> Result<(), WireError> {
    check(msg)?;
    out.reserve(encoded_len(msg));
    write_message(msg, out);
    Ok(())
}

/// The length of `msg`'s encoding (when [`encode`] accepts it), without
/// encoding it.
pub fn encoded_len(msg: &Message) -> usize {
    use Message::*;
    let id = REQUEST_ID_SIZE;
    1 + match msg {
        Request { .. } => id + NODE_KEY_SIZE + 1,
        StemRequest { .. } => id + NODE_KEY_SIZE,
        Insert { source, block, .. } => {
            id + NODE_KEY_SIZE + 1 + node_ref_len(source) + block_len(block)
        }
        InsertOffer { source, .. } => id + NODE_KEY_SIZE + 1 + node_ref_len(source),
        DataFound { source, block, .. } => id + node_ref_len(source) + block_len(block),
        InsertData { block, .. } => id + block_len(block),
        DataNotFound { .. } | RejectedLoop { .. } | InsertReply { .. } | InsertAccepted { .. } => {
            id
        }
        RouteNotFound { .. } => id + 1,
        Announce { joiner, .. } => id + 1 + node_ref_len(joiner) + 32,
        AnnounceReply { seeds, .. } | AnnounceComplete { seeds, .. } => {
            id + 1 + seeds.len() * SEED_SIZE
        }
        Ping { .. } | Pong { .. } => 8,
        FindSuccessor { .. } => id + 8 + 1,
        SuccessorFound { node, .. } => id + chord_peer_len(node) + 1,
        Notify { node } => chord_peer_len(node),
        GetPredecessor { .. } | GetSuccessorList { .. } | TransferAck { .. } => id,
        Predecessor { node, .. } => id + 1 + node.as_ref().map_or(0, chord_peer_len),
        SuccessorList { nodes, .. } => id + 1 + nodes.iter().map(chord_peer_len).sum::<usize>(),
        StemInsert { block, .. } | StoreTransfer { block, .. } => {
            id + NODE_KEY_SIZE + block_len(block)
        }
        Leave {
            predecessor,
            successors,
        } => {
            1 + predecessor.as_ref().map_or(0, chord_peer_len)
                + 1
                + successors.iter().map(chord_peer_len).sum::<usize>()
        }
        StoreOffer { keys, .. } | StoreWant { keys, .. } => id + 1 + keys.len() * NODE_KEY_SIZE,
    }
}

fn block_len(block: &Block) -> usize {
    1 + block.as_bytes().len()
}

fn node_ref_len(node: &NodeRef) -> usize {
    32 + 1
        + match node.addr {
            SocketAddr::V4(_) => 4,
            SocketAddr::V6(_) => 16,
        }
        + 2
}

fn chord_peer_len(peer: &ChordPeer) -> usize {
    8 + node_ref_len(&peer.node)
}

/// Checks what the types allow but the wire does not: list lengths.
pub(crate) fn check(msg: &Message) -> Result<(), WireError> {
    let bound = |what, count, max| {
        if count > max {
            Err(WireError::ListTooLong { what, count, max })
        } else {
            Ok(())
        }
    };
    match msg {
        Message::AnnounceReply { seeds, .. } | Message::AnnounceComplete { seeds, .. } => {
            bound("seeds", seeds.len(), MAX_SEEDS)
        }
        Message::SuccessorList { nodes, .. } => bound("successors", nodes.len(), MAX_SUCCESSORS),
        Message::Leave { successors, .. } => bound("successors", successors.len(), MAX_SUCCESSORS),
        Message::StoreOffer { keys, .. } | Message::StoreWant { keys, .. } => {
            bound("keys", keys.len(), MAX_OFFER_KEYS)
        }
        _ => Ok(()),
    }
}

/// Writes a message that [`check`] accepted.
pub(crate) fn write_message<S: Sink>(msg: &Message, out: &mut S) {
    use Message::*;
    out.put(&[msg.tag()]);
    match msg {
        Request { id, key, htl } => {
            put_id(out, *id);
            put_node_key(out, key);
            out.put(&[*htl]);
        }
        Insert {
            id,
            key,
            htl,
            source,
            block,
        } => {
            put_id(out, *id);
            put_node_key(out, key);
            out.put(&[*htl]);
            put_node_ref(out, source);
            put_block(out, block);
        }
        DataFound { id, source, block } => {
            put_id(out, *id);
            put_node_ref(out, source);
            put_block(out, block);
        }
        StemRequest { id, key } => {
            put_id(out, *id);
            put_node_key(out, key);
        }
        StemInsert { id, key, block } | StoreTransfer { id, key, block } => {
            put_id(out, *id);
            put_node_key(out, key);
            put_block(out, block);
        }
        InsertOffer {
            id,
            key,
            htl,
            source,
        } => {
            put_id(out, *id);
            put_node_key(out, key);
            out.put(&[*htl]);
            put_node_ref(out, source);
        }
        InsertData { id, block } => {
            put_id(out, *id);
            put_block(out, block);
        }
        DataNotFound { id } | RejectedLoop { id } | InsertReply { id } | InsertAccepted { id } => {
            put_id(out, *id)
        }
        RouteNotFound { id, htl } => {
            put_id(out, *id);
            out.put(&[*htl]);
        }
        Announce {
            id,
            htl,
            joiner,
            commitment,
        } => {
            put_id(out, *id);
            out.put(&[*htl]);
            put_node_ref(out, joiner);
            out.put(commitment);
        }
        AnnounceReply { id, seeds } | AnnounceComplete { id, seeds } => {
            put_id(out, *id);
            put_count(out, seeds.len());
            seeds.iter().for_each(|seed| out.put(seed));
        }
        Ping { nonce } | Pong { nonce } => out.put(&nonce.to_be_bytes()),
        FindSuccessor { id, target, hops } => {
            put_id(out, *id);
            out.put(&target.0.to_be_bytes());
            out.put(&[*hops]);
        }
        SuccessorFound { id, node, hops } => {
            put_id(out, *id);
            put_chord_peer(out, node);
            out.put(&[*hops]);
        }
        Notify { node } => put_chord_peer(out, node),
        GetPredecessor { id } | GetSuccessorList { id } | TransferAck { id } => put_id(out, *id),
        Predecessor { id, node } => {
            put_id(out, *id);
            put_option_peer(out, node.as_ref());
        }
        SuccessorList { id, nodes } => {
            put_id(out, *id);
            put_peers(out, nodes);
        }
        Leave {
            predecessor,
            successors,
        } => {
            put_option_peer(out, predecessor.as_ref());
            put_peers(out, successors);
        }
        StoreOffer { id, keys } | StoreWant { id, keys } => {
            put_id(out, *id);
            put_count(out, keys.len());
            keys.iter().for_each(|key| put_node_key(out, key));
        }
    }
}

fn put_id<S: Sink>(out: &mut S, id: RequestId) {
    out.put(&id.0.to_be_bytes());
}

fn put_count<S: Sink>(out: &mut S, count: usize) {
    // `check` bounded every list under 256, so the count fits in a byte.
    out.put(&[u8::try_from(count).unwrap_or(u8::MAX)]);
}

fn put_node_key<S: Sink>(out: &mut S, key: &NodeKey) {
    out.put(&[key.kind.to_byte()]);
    out.put(&key.routing.0);
}

fn put_block<S: Sink>(out: &mut S, block: &Block) {
    out.put(&[block.kind().to_byte()]);
    out.put(block.as_bytes());
}

fn put_node_ref<S: Sink>(out: &mut S, node: &NodeRef) {
    out.put(&node.identity);
    match node.addr.ip() {
        IpAddr::V4(ip) => {
            out.put(&[4]);
            out.put(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.put(&[6]);
            out.put(&ip.octets());
        }
    }
    out.put(&node.addr.port().to_be_bytes());
}

fn put_chord_peer<S: Sink>(out: &mut S, peer: &ChordPeer) {
    out.put(&peer.location.0.to_be_bytes());
    put_node_ref(out, &peer.node);
}

fn put_option_peer<S: Sink>(out: &mut S, peer: Option<&ChordPeer>) {
    match peer {
        None => out.put(&[0]),
        Some(peer) => {
            out.put(&[1]);
            put_chord_peer(out, peer);
        }
    }
}

fn put_peers<S: Sink>(out: &mut S, peers: &[ChordPeer]) {
    put_count(out, peers.len());
    peers.iter().for_each(|peer| put_chord_peer(out, peer));
}

/// Decodes one message that fills `bytes` exactly.
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    use Message::*;
    let mut r = Reader { bytes, pos: 0 };
    let tag = r.u8("message tag")?;
    let msg = match tag {
        0x01 => Request {
            id: r.id()?,
            key: r.node_key()?,
            htl: r.u8("htl")?,
        },
        0x02 => {
            let (id, key, htl) = (r.id()?, r.node_key()?, r.u8("htl")?);
            let source = r.node_ref()?;
            let block = r.block()?;
            kinds_match("Insert", &key, &block)?;
            Insert {
                id,
                key,
                htl,
                source,
                block,
            }
        }
        0x03 => DataFound {
            id: r.id()?,
            source: r.node_ref()?,
            block: r.block()?,
        },
        0x04 => DataNotFound { id: r.id()? },
        0x05 => RouteNotFound {
            id: r.id()?,
            htl: r.u8("htl")?,
        },
        0x06 => RejectedLoop { id: r.id()? },
        0x07 => InsertReply { id: r.id()? },
        0x08 => Announce {
            id: r.id()?,
            htl: r.u8("htl")?,
            joiner: r.node_ref()?,
            commitment: r.array("commitment")?,
        },
        0x09 => AnnounceReply {
            id: r.id()?,
            seeds: r.list("seeds", MAX_SEEDS, |r| r.array::<SEED_SIZE>("seed"))?,
        },
        0x0A => AnnounceComplete {
            id: r.id()?,
            seeds: r.list("seeds", MAX_SEEDS, |r| r.array::<SEED_SIZE>("seed"))?,
        },
        0x0D => StemRequest {
            id: r.id()?,
            key: r.node_key()?,
        },
        0x0E => {
            let (id, key) = (r.id()?, r.node_key()?);
            let block = r.block()?;
            kinds_match("StemInsert", &key, &block)?;
            StemInsert { id, key, block }
        }
        0x0F => InsertOffer {
            id: r.id()?,
            key: r.node_key()?,
            htl: r.u8("htl")?,
            source: r.node_ref()?,
        },
        0x10 => InsertAccepted { id: r.id()? },
        0x11 => InsertData {
            id: r.id()?,
            block: r.block()?,
        },
        0x0B => Ping {
            nonce: r.u64("nonce")?,
        },
        0x0C => Pong {
            nonce: r.u64("nonce")?,
        },
        0x20 => FindSuccessor {
            id: r.id()?,
            target: Location(r.u64("target location")?),
            hops: r.u8("hops")?,
        },
        0x21 => SuccessorFound {
            id: r.id()?,
            node: r.chord_peer()?,
            hops: r.u8("hops")?,
        },
        0x22 => Notify {
            node: r.chord_peer()?,
        },
        0x23 => GetPredecessor { id: r.id()? },
        0x24 => Predecessor {
            id: r.id()?,
            node: r.option_peer("predecessor")?,
        },
        0x25 => GetSuccessorList { id: r.id()? },
        0x26 => SuccessorList {
            id: r.id()?,
            nodes: r.list("successors", MAX_SUCCESSORS, Reader::chord_peer)?,
        },
        0x27 => {
            let (id, key) = (r.id()?, r.node_key()?);
            let block = r.block()?;
            kinds_match("StoreTransfer", &key, &block)?;
            StoreTransfer { id, key, block }
        }
        0x28 => TransferAck { id: r.id()? },
        0x29 => Leave {
            predecessor: r.option_peer("predecessor")?,
            successors: r.list("successors", MAX_SUCCESSORS, Reader::chord_peer)?,
        },
        0x2A => StoreOffer {
            id: r.id()?,
            keys: r.list("keys", MAX_OFFER_KEYS, Reader::node_key)?,
        },
        0x2B => StoreWant {
            id: r.id()?,
            keys: r.list("keys", MAX_OFFER_KEYS, Reader::node_key)?,
        },
        tag => return Err(WireError::UnknownTag { tag }),
    };
    r.finish(msg.name())?;
    Ok(msg)
}

fn kinds_match(message: &'static str, key: &NodeKey, block: &Block) -> Result<(), WireError> {
    if key.kind == block.kind() {
        Ok(())
    } else {
        Err(WireError::KindMismatch {
            message,
            key: key.kind,
            block: block.kind(),
        })
    }
}

/// A cursor over a message's bytes; every read is bounds-checked and a short
/// read is a [`WireError::Truncated`] naming the field.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, needed: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let left = self.bytes.len().saturating_sub(self.pos);
        let field = self
            .pos
            .checked_add(needed)
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or(WireError::Truncated {
                what,
                needed,
                offset: self.pos,
                left,
            })?;
        self.pos += needed;
        Ok(field)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    fn id(&mut self) -> Result<RequestId, WireError> {
        Ok(RequestId(self.u64("request id")?))
    }

    fn kind(&mut self, what: &'static str) -> Result<KeyKind, WireError> {
        let offset = self.pos;
        let byte = self.u8(what)?;
        KeyKind::from_byte(byte).ok_or(WireError::BadKeyKind { what, byte, offset })
    }

    fn node_key(&mut self) -> Result<NodeKey, WireError> {
        let kind = self.kind("key kind")?;
        let routing = RoutingKey(self.array("routing key")?);
        Ok(NodeKey { kind, routing })
    }

    fn block(&mut self) -> Result<Block, WireError> {
        let kind = self.kind("block kind")?;
        let offset = self.pos;
        let what = match kind {
            KeyKind::Chk => "CHK block",
            KeyKind::Ssk => "SSK block",
        };
        let bytes = self.take(Block::size_of(kind), what)?;
        Block::from_bytes(kind, bytes).map_err(|source| WireError::Block { offset, source })
    }

    fn node_ref(&mut self) -> Result<NodeRef, WireError> {
        let identity = self.array("node identity")?;
        let offset = self.pos;
        let ip = match self.u8("address family")? {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>("IPv4 address")?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>("IPv6 address")?)),
            byte => return Err(WireError::BadAddressFamily { byte, offset }),
        };
        let port = u16::from_be_bytes(self.array("port")?);
        // An IPv6 address decodes with flow label and scope id zero.
        Ok(NodeRef {
            identity,
            addr: SocketAddr::new(ip, port),
        })
    }

    fn chord_peer(&mut self) -> Result<ChordPeer, WireError> {
        let location = Location(self.u64("location")?);
        let node = self.node_ref()?;
        Ok(ChordPeer { location, node })
    }

    fn option_peer(&mut self, what: &'static str) -> Result<Option<ChordPeer>, WireError> {
        let offset = self.pos;
        match self.u8(what)? {
            0 => Ok(None),
            1 => Ok(Some(self.chord_peer()?)),
            byte => Err(WireError::BadOptionByte { what, byte, offset }),
        }
    }

    fn list<T>(
        &mut self,
        what: &'static str,
        max: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, WireError>,
    ) -> Result<Vec<T>, WireError> {
        let offset = self.pos;
        let count = self.u8(what)?;
        if usize::from(count) > max {
            return Err(WireError::CountTooLarge {
                what,
                count,
                max,
                offset,
            });
        }
        (0..count).map(|_| item(self)).collect()
    }

    fn finish(self, message: &'static str) -> Result<(), WireError> {
        match self.bytes.len() - self.pos {
            0 => Ok(()),
            count => Err(WireError::TrailingBytes {
                message,
                offset: self.pos,
                count,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_names_the_field_offset_and_remainder() {
        // Tag, request id, key kind, then 4 of the routing key's 32 bytes.
        let mut bytes = vec![0x01, 0, 0, 0, 0, 0, 0, 0, 7, 1];
        bytes.extend_from_slice(&[0xaa; 4]);
        let err = decode(&bytes).unwrap_err();
        assert_eq!(
            err,
            WireError::Truncated {
                what: "routing key",
                needed: 32,
                offset: 10,
                left: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "truncated: needed 32 bytes for routing key at offset 10, 4 left"
        );
    }

    #[test]
    fn empty_input_is_truncated_at_the_tag() {
        assert_eq!(
            decode(&[]).unwrap_err().to_string(),
            "truncated: needed 1 bytes for message tag at offset 0, 0 left"
        );
    }

    #[test]
    fn largest_message_is_an_insert_with_an_ssk_block_and_an_ipv6_source() {
        // Tag, request id, node key, htl, IPv6 NodeRef, block kind, SSK block.
        assert_eq!(LARGEST_MESSAGE, 1 + 8 + 33 + 1 + 51 + 1 + SSK_BLOCK_SIZE);
        assert_eq!(LARGEST_MESSAGE, 33_019);
        let block = Block::from_bytes(KeyKind::Ssk, &[7; SSK_BLOCK_SIZE]).unwrap();
        let source = NodeRef {
            identity: [1; 32],
            addr: "[2001:db8::1]:443".parse().unwrap(),
        };
        let insert = Message::Insert {
            id: RequestId(1),
            key: NodeKey {
                kind: KeyKind::Ssk,
                routing: RoutingKey([2; 32]),
            },
            htl: 18,
            source,
            block: block.clone(),
        };
        // The constant is what the encoder really writes for that message,
        // and the largest DataFound is shorter (it carries no key or htl).
        assert_eq!(encoded_len(&insert), LARGEST_MESSAGE);
        assert_eq!(encode(&insert).unwrap().len(), LARGEST_MESSAGE);
        let data_found = Message::DataFound {
            id: RequestId(1),
            source,
            block,
        };
        assert_eq!(encoded_len(&data_found), LARGEST_MESSAGE - 34);
    }

    #[test]
    fn reader_take_is_bounds_checked() {
        let mut r = Reader {
            bytes: &[1, 2, 3],
            pos: 2,
        };
        assert!(r.take(usize::MAX, "huge").is_err());
        assert_eq!(r.take(1, "one").unwrap(), &[3]);
        assert!(r.take(1, "past the end").is_err());
        assert!(r.finish("test").is_ok());
    }

    #[test]
    fn encode_refuses_an_over_long_list_and_leaves_the_buffer_alone() {
        let msg = Message::AnnounceReply {
            id: RequestId(1),
            seeds: vec![[0; 32]; MAX_SEEDS + 1],
        };
        let mut out = vec![9];
        assert_eq!(
            encode_into(&msg, &mut out),
            Err(WireError::ListTooLong {
                what: "seeds",
                count: 31,
                max: 30
            })
        );
        assert_eq!(out, [9]);
    }
}
