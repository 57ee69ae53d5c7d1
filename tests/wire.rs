//! The wire format: messages round-trip through bytes and frames, decoding
//! never panics and rejects everything the encoder would not produce, and the
//! bytes match `docs/protocol.md` ("Messages and frames").

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use fogstore::block::{Block, chk};
use fogstore::key::{KeyKind, Location, NodeKey, RoutingKey};
use fogstore::wire::{
    CONTINUATION_PAYLOAD_SIZE, ChordPeer, FRAME_SIZE, Frame, FrameDecoder, LINK_TAG_SIZE,
    MAX_MESSAGE_SIZE, MAX_OFFER_KEYS, MAX_SEEDS, MAX_SUCCESSORS, Message, NodeRef, RequestId,
    START_PAYLOAD_SIZE, WIRE_FRAME_SIZE, WireError, decode, encode, encode_frames,
    encode_frames_into, encoded_len, frame_count, padding_frame,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Building blocks and strategies
// ---------------------------------------------------------------------------

/// A block of `kind` whose bytes come from a cheap generator (splitmix64)
/// seeded with `seed`: sized right, contents arbitrary.
fn block_from_seed(kind: KeyKind, seed: u64) -> Block {
    let mut state = seed;
    let mut bytes = vec![0u8; Block::size_of(kind)];
    for chunk in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
    }
    Block::from_bytes(kind, &bytes).expect("generated at the right size")
}

fn kind() -> impl Strategy<Value = KeyKind> {
    prop_oneof![Just(KeyKind::Chk), Just(KeyKind::Ssk)]
}

fn id() -> impl Strategy<Value = RequestId> {
    any::<u64>().prop_map(RequestId)
}

fn node_key() -> impl Strategy<Value = NodeKey> {
    (kind(), any::<[u8; 32]>()).prop_map(|(kind, routing)| NodeKey {
        kind,
        routing: RoutingKey(routing),
    })
}

fn block() -> impl Strategy<Value = Block> {
    (kind(), any::<u64>()).prop_map(|(kind, seed)| block_from_seed(kind, seed))
}

/// A key and a block of the same kind, as Insert and StoreTransfer need.
fn key_and_block() -> impl Strategy<Value = (NodeKey, Block)> {
    (node_key(), any::<u64>()).prop_map(|(key, seed)| (key, block_from_seed(key.kind, seed)))
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(Ipv4Addr::from(ip).into(), port)),
        // Flow label and scope id are not sent, so only zero round-trips.
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(Ipv6Addr::from(ip).into(), port)),
    ]
}

fn node_ref() -> impl Strategy<Value = NodeRef> {
    (any::<[u8; 32]>(), addr()).prop_map(|(identity, addr)| NodeRef { identity, addr })
}

fn peer() -> impl Strategy<Value = ChordPeer> {
    (any::<u64>(), node_ref()).prop_map(|(location, node)| ChordPeer {
        location: Location(location),
        node,
    })
}

fn seeds() -> impl Strategy<Value = Vec<[u8; 32]>> {
    prop::collection::vec(any::<[u8; 32]>(), 0..=MAX_SEEDS)
}

fn offer_keys() -> impl Strategy<Value = Vec<NodeKey>> {
    prop::collection::vec(node_key(), 0..=MAX_OFFER_KEYS)
}

fn peers() -> impl Strategy<Value = Vec<ChordPeer>> {
    prop::collection::vec(peer(), 0..=MAX_SUCCESSORS)
}

/// Every variant of [`Message`], with IPv4 and IPv6 addresses, both block
/// kinds, empty and full lists.
fn message() -> impl Strategy<Value = Message> {
    use Message::*;
    prop_oneof![
        (id(), node_key(), any::<u8>()).prop_map(|(id, key, htl)| Request { id, key, htl }),
        (id(), key_and_block(), any::<u8>(), node_ref()).prop_map(
            |(id, (key, block), htl, source)| Insert {
                id,
                key,
                htl,
                source,
                block
            }
        ),
        (id(), node_ref(), block()).prop_map(|(id, source, block)| DataFound { id, source, block }),
        id().prop_map(|id| DataNotFound { id }),
        (id(), any::<u8>()).prop_map(|(id, htl)| RouteNotFound { id, htl }),
        id().prop_map(|id| RejectedLoop { id }),
        id().prop_map(|id| InsertReply { id }),
        (id(), node_key()).prop_map(|(id, key)| StemRequest { id, key }),
        (id(), key_and_block()).prop_map(|(id, (key, block))| StemInsert { id, key, block }),
        (id(), node_key(), any::<u8>(), node_ref()).prop_map(|(id, key, htl, source)| {
            InsertOffer {
                id,
                key,
                htl,
                source,
            }
        }),
        id().prop_map(|id| InsertAccepted { id }),
        (id(), block()).prop_map(|(id, block)| InsertData { id, block }),
        (id(), any::<u8>(), node_ref(), any::<[u8; 32]>()).prop_map(
            |(id, htl, joiner, commitment)| Announce {
                id,
                htl,
                joiner,
                commitment
            }
        ),
        (id(), seeds()).prop_map(|(id, seeds)| AnnounceReply { id, seeds }),
        (id(), seeds()).prop_map(|(id, seeds)| AnnounceComplete { id, seeds }),
        any::<u64>().prop_map(|nonce| Ping { nonce }),
        any::<u64>().prop_map(|nonce| Pong { nonce }),
        (id(), any::<u64>(), any::<u8>()).prop_map(|(id, target, hops)| FindSuccessor {
            id,
            target: Location(target),
            hops
        }),
        (id(), peer(), any::<u8>()).prop_map(|(id, node, hops)| SuccessorFound { id, node, hops }),
        peer().prop_map(|node| Notify { node }),
        id().prop_map(|id| GetPredecessor { id }),
        (id(), proptest::option::of(peer())).prop_map(|(id, node)| Predecessor { id, node }),
        id().prop_map(|id| GetSuccessorList { id }),
        (id(), peers()).prop_map(|(id, nodes)| SuccessorList { id, nodes }),
        (id(), key_and_block()).prop_map(|(id, (key, block))| StoreTransfer { id, key, block }),
        id().prop_map(|id| TransferAck { id }),
        (proptest::option::of(peer()), peers()).prop_map(|(predecessor, successors)| Leave {
            predecessor,
            successors
        }),
        (id(), offer_keys()).prop_map(|(id, keys)| StoreOffer { id, keys }),
        (id(), offer_keys()).prop_map(|(id, keys)| StoreWant { id, keys }),
    ]
}

/// Whether a message carries a list.
fn has_list(msg: &Message) -> bool {
    matches!(
        msg,
        Message::AnnounceReply { .. }
            | Message::AnnounceComplete { .. }
            | Message::SuccessorList { .. }
            | Message::Leave { .. }
            | Message::StoreOffer { .. }
            | Message::StoreWant { .. }
    )
}

/// Feeds `frames` to a fresh decoder; expects `Ok(None)` for all but the last
/// and returns what the last gave.
fn reassemble(frames: &[Frame]) -> Result<Option<Message>, WireError> {
    let mut decoder = FrameDecoder::new();
    let (last, rest) = frames.split_last().expect("at least one frame");
    for frame in rest {
        assert_eq!(decoder.push(frame), Ok(None));
    }
    decoder.push(last)
}

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::new(a, b, c, d).into(), port)
}

fn v6_peer(i: u8) -> ChordPeer {
    ChordPeer {
        location: Location(u64::from(i) << 56),
        node: NodeRef {
            identity: [i; 32],
            addr: SocketAddr::new(
                Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(i)).into(),
                4000,
            ),
        },
    }
}

fn chk_data_found() -> Message {
    let (_, block) = chk::encode(&[42u8; 30_000]).expect("fits one block");
    Message::DataFound {
        id: RequestId(0x1111_2222_3333_4444),
        source: NodeRef {
            identity: [0x5a; 32],
            addr: v4(198, 51, 100, 7, 9000),
        },
        block: Block::Chk(block),
    }
}

/// The largest message there is: an Insert with an SSK block and an IPv6
/// source.
fn ssk_insert() -> Message {
    Message::Insert {
        id: RequestId(77),
        key: NodeKey {
            kind: KeyKind::Ssk,
            routing: RoutingKey([0xcd; 32]),
        },
        htl: 18,
        source: v6_peer(0x77).node,
        block: block_from_seed(KeyKind::Ssk, 1),
    }
}

/// The Insert whose header the specification's example encodes: a CHK block
/// and an IPv4 source.
fn chk_insert() -> Message {
    Message::Insert {
        id: RequestId(0x0102_0304_0506_0708),
        key: NodeKey {
            kind: KeyKind::Chk,
            routing: RoutingKey([0xab; 32]),
        },
        htl: 18,
        source: NodeRef {
            identity: [0x11; 32],
            addr: v4(192, 0, 2, 1, 8080),
        },
        block: block_from_seed(KeyKind::Chk, 9),
    }
}

fn start_frame(len: u32, payload: &[u8]) -> Frame {
    let mut frame = padding_frame();
    frame[0] = 0x01;
    frame[1..5].copy_from_slice(&len.to_be_bytes());
    frame[5..5 + payload.len()].copy_from_slice(payload);
    frame
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn every_message_round_trips_through_bytes(msg in message()) {
        let bytes = encode(&msg).unwrap();
        prop_assert_eq!(bytes.len(), encoded_len(&msg));
        prop_assert!(bytes.len() <= MAX_MESSAGE_SIZE);
        prop_assert_eq!(bytes[0], msg.tag());
        prop_assert_eq!(decode(&bytes), Ok(msg));
    }

    #[test]
    fn every_message_round_trips_through_frames(
        msg in message(),
        pads in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let frames = encode_frames(&msg).unwrap();
        let len = encoded_len(&msg);
        prop_assert_eq!(frames.len(), frame_count(len));
        for frame in &frames {
            prop_assert_eq!(frame.len(), FRAME_SIZE);
        }
        if msg.block().is_none() && !has_list(&msg) {
            prop_assert_eq!(frames.len(), 1, "control message {} spans frames", msg.name());
        }
        if msg.block().is_none() {
            prop_assert!(frames.len() <= 2);
        }
        prop_assert_eq!(reassemble(&frames), Ok(Some(msg.clone())));

        // Padding frames between a message's frames change nothing.
        let mut decoder = FrameDecoder::new();
        let mut got = None;
        for (i, frame) in frames.iter().enumerate() {
            if pads[i % pads.len()] {
                prop_assert_eq!(decoder.push(&padding_frame()), Ok(None));
            }
            prop_assert!(got.is_none(), "message completed before its last frame");
            got = decoder.push(frame).unwrap();
        }
        prop_assert_eq!(got, Some(msg));
        prop_assert!(!decoder.is_mid_message());
    }

    #[test]
    fn encode_frames_into_appends_to_a_reused_buffer(a in message(), b in message()) {
        let mut out = Vec::new();
        let na = encode_frames_into(&a, &mut out).unwrap();
        let nb = encode_frames_into(&b, &mut out).unwrap();
        prop_assert_eq!(out.len(), na + nb);
        let mut decoder = FrameDecoder::new();
        let got: Vec<Message> = out.iter().filter_map(|f| decoder.push(f).unwrap()).collect();
        prop_assert_eq!(got, vec![a, b]);
    }
}

// ---------------------------------------------------------------------------
// Robustness: never panic, reject what the encoder would not write
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_of_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        // Decoding is strict, so whatever it accepts is a canonical encoding.
        if let Ok(msg) = decode(&bytes) {
            prop_assert_eq!(encode(&msg).unwrap(), bytes);
        }
    }

    #[test]
    fn decode_of_arbitrary_bytes_with_a_valid_tag_never_panics(
        tag in prop::sample::select(vec![
            0x01u8, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
            0x0d, 0x0e, 0x0f, 0x10, 0x11,
            0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b,
        ]),
        rest in prop::collection::vec(any::<u8>(), 0..2000),
    ) {
        let mut bytes = vec![tag];
        bytes.extend_from_slice(&rest);
        if let Ok(msg) = decode(&bytes) {
            prop_assert_eq!(encode(&msg).unwrap(), bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn decode_of_a_mutated_encoding_never_panics(
        msg in message(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = encode(&msg).unwrap();

        let mut flipped = bytes.clone();
        let i = at.index(flipped.len());
        flipped[i] ^= flip;
        // Accepted only if it is another message's exact encoding.
        if let Ok(other) = decode(&flipped) {
            prop_assert_ne!(&other, &msg);
            prop_assert_eq!(encode(&other).unwrap(), flipped);
        }

        // Any strict prefix is an error.
        let len = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..len]).is_err(), "prefix of {} bytes accepted", len);
        if bytes.len() <= 2100 {
            for len in 0..bytes.len() {
                prop_assert!(decode(&bytes[..len]).is_err(), "prefix of {} bytes accepted", len);
            }
        }

        // A longer input is an error too.
        let mut longer = bytes.clone();
        longer.push(flip);
        let trailing = matches!(decode(&longer), Err(WireError::TrailingBytes { count: 1, .. }));
        prop_assert!(trailing);
    }

    #[test]
    fn frame_decoder_survives_mutated_frames(
        msg in message(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut frames = encode_frames(&msg).unwrap();
        let n = frames.len() * FRAME_SIZE;
        let i = at.index(n);
        frames[i / FRAME_SIZE][i % FRAME_SIZE] ^= flip;
        let mut decoder = FrameDecoder::new();
        for frame in &frames {
            let result = decoder.push(frame);
            if result.is_err() {
                prop_assert!(!decoder.is_mid_message(), "decoder kept state after {:?}", result);
            }
        }
        // Usable afterwards.
        decoder.reset();
        let ping = Message::Ping { nonce: 5 };
        prop_assert_eq!(reassemble_with(&mut decoder, &ping), Ok(Some(ping)));
    }
}

fn reassemble_with(
    decoder: &mut FrameDecoder,
    msg: &Message,
) -> Result<Option<Message>, WireError> {
    let frames = encode_frames(msg).unwrap();
    let mut last = Ok(None);
    for frame in &frames {
        last = decoder.push(frame);
    }
    last
}

/// Frames worth feeding a decoder: mostly-plausible headers with random or
/// zero tails, so that pushes reach every branch.
fn arbitrary_frame() -> impl Strategy<Value = Frame> {
    let frame_type = prop_oneof![4 => 0u8..=2, 1 => any::<u8>()];
    let length = prop_oneof![
        3 => 1u32..=(2 * FRAME_SIZE) as u32,
        1 => 0u32..=MAX_MESSAGE_SIZE as u32 + 1,
        1 => any::<u32>(),
    ];
    (
        frame_type,
        length,
        any::<u64>(),
        0..=FRAME_SIZE,
        any::<bool>(),
    )
        .prop_map(|(frame_type, length, seed, filled, keep_length)| {
            let mut frame = padding_frame();
            let random = block_from_seed(KeyKind::Chk, seed);
            frame[1..filled.max(1)].copy_from_slice(&random.as_bytes()[1..filled.max(1)]);
            frame[0] = frame_type;
            if frame_type == 1 && keep_length {
                frame[1..5].copy_from_slice(&length.to_be_bytes());
            }
            frame
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn frame_decoder_push_on_arbitrary_frames_never_panics(
        frames in prop::collection::vec(arbitrary_frame(), 1..12),
    ) {
        let mut decoder = FrameDecoder::new();
        for frame in &frames {
            let result = decoder.push(frame);
            if *frame == padding_frame() {
                prop_assert_eq!(result, Ok(None));
            } else if result.is_err() {
                prop_assert!(!decoder.is_mid_message());
            }
        }
        if !decoder.is_mid_message() {
            let ping = Message::Pong { nonce: 8 };
            prop_assert_eq!(reassemble_with(&mut decoder, &ping), Ok(Some(ping)));
        }
    }
}

#[test]
fn every_prefix_of_block_messages_is_an_error() {
    let mut v6 = chk_data_found();
    if let Message::DataFound { source, .. } = &mut v6 {
        source.addr = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, 0, 0));
    }
    let transfer = Message::StoreTransfer {
        id: RequestId(3),
        key: NodeKey {
            kind: KeyKind::Chk,
            routing: RoutingKey([1; 32]),
        },
        block: block_from_seed(KeyKind::Chk, 3),
    };
    for msg in [ssk_insert(), chk_insert(), chk_data_found(), v6, transfer] {
        let bytes = encode(&msg).unwrap();
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "{} prefix of {len} bytes accepted",
                msg.name()
            );
        }
        assert_eq!(decode(&bytes), Ok(msg));
    }
}

// ---------------------------------------------------------------------------
// Frame counts and layout
// ---------------------------------------------------------------------------

#[test]
fn constants_relate_as_documented() {
    assert_eq!(WIRE_FRAME_SIZE, 1024);
    assert_eq!(LINK_TAG_SIZE, 16);
    assert_eq!(FRAME_SIZE, 1008);
    assert_eq!(START_PAYLOAD_SIZE, 1003);
    assert_eq!(CONTINUATION_PAYLOAD_SIZE, 1007);
    assert_eq!(MAX_MESSAGE_SIZE, 40_960);
    assert_eq!(MAX_SEEDS, 30);
    assert_eq!(MAX_SUCCESSORS, 15);
    assert_eq!(MAX_OFFER_KEYS, 30);
}

#[test]
fn a_padding_frame_is_all_zero_and_yields_nothing() {
    let frame = padding_frame();
    assert_eq!(frame.len(), FRAME_SIZE);
    assert!(frame.iter().all(|&b| b == 0));
    let mut decoder = FrameDecoder::new();
    assert_eq!(decoder.push(&frame), Ok(None));
    assert!(!decoder.is_mid_message());
}

#[test]
fn a_control_message_is_exactly_one_frame() {
    let msg = Message::Request {
        id: RequestId(1),
        key: NodeKey {
            kind: KeyKind::Ssk,
            routing: RoutingKey([9; 32]),
        },
        htl: 18,
    };
    assert_eq!(encoded_len(&msg), 43);
    let frames = encode_frames(&msg).unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(frame_count(43), 1);
    assert_eq!(reassemble(&frames), Ok(Some(msg)));
}

#[test]
fn every_control_message_fits_one_frame_even_at_its_list_bounds() {
    let one = |msg: &Message| encode_frames(msg).unwrap().len();
    let seeds = |n| Message::AnnounceReply {
        id: RequestId(1),
        seeds: vec![[3; 32]; n],
    };
    let list = |n| Message::SuccessorList {
        id: RequestId(1),
        nodes: (0..n).map(v6_peer).collect(),
    };
    let leave = |n| Message::Leave {
        predecessor: Some(v6_peer(0xff)),
        successors: (0..n).map(v6_peer).collect(),
    };
    assert_eq!(one(&seeds(MAX_SEEDS)), 1);
    assert_eq!(one(&list(MAX_SUCCESSORS as u8)), 1);
    assert_eq!(
        encoded_len(&leave(MAX_SUCCESSORS as u8)),
        1 + 1 + 59 + 1 + 15 * 59
    );
    assert_eq!(one(&leave(MAX_SUCCESSORS as u8)), 1);
    // The bounds are tight for the leave message: one more would not fit.
    assert!(encoded_len(&leave(MAX_SUCCESSORS as u8)) + 59 > START_PAYLOAD_SIZE);
    let offer = |n| Message::StoreOffer {
        id: RequestId(1),
        keys: vec![
            NodeKey {
                kind: KeyKind::Ssk,
                routing: RoutingKey([7; 32])
            };
            n
        ],
    };
    assert_eq!(encoded_len(&offer(MAX_OFFER_KEYS)), 10 + 30 * 33);
    assert_eq!(one(&offer(MAX_OFFER_KEYS)), 1);
    // Tight: one more key would not fit.
    assert!(encoded_len(&offer(MAX_OFFER_KEYS)) + 33 > START_PAYLOAD_SIZE);
}

#[test]
fn a_chk_data_found_takes_33_frames() {
    let msg = chk_data_found();
    let len = encode(&msg).unwrap().len();
    // tag, request id, NodeRef with IPv4, block kind, CHK block.
    assert_eq!(len, 1 + 8 + (32 + 1 + 4 + 2) + 1 + 32_784);
    assert_eq!(len, 32_833);
    assert_eq!(frame_count(len), 33);
    let frames = encode_frames(&msg).unwrap();
    assert_eq!(frames.len(), 33);
    assert_eq!(reassemble(&frames), Ok(Some(msg)));
}

#[test]
fn every_insert_takes_33_frames() {
    // tag, request id, node key, htl, NodeRef, block kind, block.
    let (chk, ssk) = (32_784, 32_924);
    for (msg, len, last) in [
        (chk_insert(), 1 + 8 + 33 + 1 + 39 + 1 + chk, 647),
        (ssk_insert(), 1 + 8 + 33 + 1 + 51 + 1 + ssk, 799),
    ] {
        assert_eq!(encoded_len(&msg), len);
        assert_eq!(frame_count(len), 33);
        // Message bytes in the last frame, as docs/protocol.md states.
        assert_eq!(
            len - START_PAYLOAD_SIZE - 31 * CONTINUATION_PAYLOAD_SIZE,
            last
        );
        let frames = encode_frames(&msg).unwrap();
        assert_eq!(frames.len(), 33);
        assert_eq!(reassemble(&frames), Ok(Some(msg)));
    }
    // The SSK Insert with an IPv6 source is the largest message there is.
    let largest = encoded_len(&ssk_insert());
    assert_eq!(largest, 33_019);
    assert!(largest <= MAX_MESSAGE_SIZE);
}

#[test]
fn frames_of_a_message_are_laid_out_exactly() {
    let msg = chk_data_found();
    let bytes = encode(&msg).unwrap();
    let len = bytes.len();
    let frames = encode_frames(&msg).unwrap();

    // Start frame: type, length, the first 1003 message bytes.
    assert_eq!(frames[0][0], 0x01);
    assert_eq!(frames[0][1..5], (len as u32).to_be_bytes());
    assert_eq!(frames[0][5..], bytes[..START_PAYLOAD_SIZE]);

    // Continuations: type, then the next 1007 bytes; the last is zero-padded.
    let mut pos = START_PAYLOAD_SIZE;
    for frame in &frames[1..] {
        assert_eq!(frame[0], 0x02);
        let n = (len - pos).min(CONTINUATION_PAYLOAD_SIZE);
        assert_eq!(frame[1..1 + n], bytes[pos..pos + n]);
        assert!(frame[1 + n..].iter().all(|&b| b == 0));
        pos += n;
    }
    assert_eq!(pos, len, "frames carry the whole message and nothing else");
    let last_used = 1 + (len - START_PAYLOAD_SIZE - (frames.len() - 2) * CONTINUATION_PAYLOAD_SIZE);
    assert_eq!(
        last_used,
        1 + 613,
        "the last frame carries 613 message bytes"
    );

    // The length appears in no frame except at bytes 1..5 of the first.
    let needle = (len as u32).to_be_bytes();
    for (i, frame) in frames.iter().enumerate() {
        for (at, window) in frame.windows(4).enumerate() {
            if window == needle {
                assert_eq!((i, at), (0, 1), "length found in frame {i} at byte {at}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Known answers (the examples in docs/protocol.md)
// ---------------------------------------------------------------------------

fn hex_of(spec: &str) -> Vec<u8> {
    hex::decode(spec.split_whitespace().collect::<String>()).expect("valid hex")
}

#[test]
fn request_encoding_matches_the_specification() {
    let msg = Message::Request {
        id: RequestId(0x0102_0304_0506_0708),
        key: NodeKey {
            kind: KeyKind::Chk,
            routing: RoutingKey([0xab; 32]),
        },
        htl: 18,
    };
    let expected = hex_of(&format!("01 0102030405060708 01 {} 12", "ab".repeat(32)));
    assert_eq!(encode(&msg).unwrap(), expected);
    assert_eq!(decode(&expected), Ok(msg));
}

#[test]
fn insert_header_matches_the_specification() {
    let msg = chk_insert();
    let bytes = encode(&msg).unwrap();
    // tag, id, key kind, routing key, htl, source (identity, family, IPv4
    // address, port), block kind; the block's bytes start at offset 83.
    let header = hex_of(&format!(
        "02 0102030405060708 01 {} 12 {} 04 c0000201 1f90 01",
        "ab".repeat(32),
        "11".repeat(32)
    ));
    assert_eq!(header.len(), 83);
    assert_eq!(bytes[..83], header[..]);
    let Message::Insert { block, .. } = &msg else {
        unreachable!()
    };
    assert_eq!(bytes[83..], block.as_bytes()[..]);
    assert_eq!(bytes.len(), 83 + 32_784);
    assert_eq!(bytes.len(), 32_867);
    assert_eq!(decode(&bytes), Ok(msg));
}

#[test]
fn stem_and_two_phase_insert_encodings_match_the_specification() {
    let key = NodeKey {
        kind: KeyKind::Chk,
        routing: RoutingKey([0xab; 32]),
    };
    let id = RequestId(0x0102_0304_0506_0708);
    let stem = Message::StemRequest { id, key };
    let expected = hex_of(&format!("0d 0102030405060708 01 {}", "ab".repeat(32)));
    assert_eq!(encode(&stem).unwrap(), expected);
    assert_eq!(decode(&expected), Ok(stem));

    let offer = Message::InsertOffer {
        id,
        key,
        htl: 18,
        source: NodeRef {
            identity: [0x11; 32],
            addr: v4(192, 0, 2, 1, 8080),
        },
    };
    let expected = hex_of(&format!(
        "0f 0102030405060708 01 {} 12 {} 04 c0000201 1f90",
        "ab".repeat(32),
        "11".repeat(32)
    ));
    assert_eq!(expected.len(), 82);
    assert_eq!(encode(&offer).unwrap(), expected);
    assert_eq!(decode(&expected), Ok(offer));

    let accepted = Message::InsertAccepted { id };
    assert_eq!(encode(&accepted).unwrap(), hex_of("10 0102030405060708"));

    // The block messages: a CHK block after the id (InsertData), or after
    // the node key (StemInsert).
    let (_, block) = chk::encode(b"spec").unwrap();
    let data = Message::InsertData {
        id,
        block: Block::Chk(block.clone()),
    };
    let bytes = encode(&data).unwrap();
    assert_eq!(bytes[..10], hex_of("11 0102030405060708 01")[..]);
    assert_eq!(bytes.len(), 10 + 32_784);
    assert_eq!(decode(&bytes), Ok(data));
    let stem_insert = Message::StemInsert {
        id,
        key,
        block: Block::Chk(block),
    };
    let bytes = encode(&stem_insert).unwrap();
    assert_eq!(
        bytes[..43],
        hex_of(&format!("0e 0102030405060708 01 {} 01", "ab".repeat(32)))[..]
    );
    assert_eq!(bytes.len(), 43 + 32_784);
    // A stem insert whose block kind is not its key's is refused.
    let mut wrong = bytes.clone();
    wrong[42] = 2;
    assert!(decode(&wrong).is_err());
}

/// The Announce message the specification's example encodes.
fn announce() -> Message {
    Message::Announce {
        id: RequestId(1),
        htl: 10,
        joiner: NodeRef {
            identity: [0x11; 32],
            addr: v4(192, 0, 2, 1, 8080),
        },
        commitment: [0x22; 32],
    }
}

#[test]
fn announce_encoding_matches_the_specification() {
    let msg = announce();
    let expected = hex_of(&format!(
        "08 0000000000000001 0a {} 04 c0000201 1f90 {}",
        "11".repeat(32),
        "22".repeat(32)
    ));
    assert_eq!(encode(&msg).unwrap(), expected);
    assert_eq!(decode(&expected), Ok(msg));
}

#[test]
fn predecessor_encoding_matches_the_specification() {
    let msg = Message::Predecessor {
        id: RequestId(2),
        node: Some(ChordPeer {
            location: Location(0x8000_0000_0000_0000),
            node: NodeRef {
                identity: [0x33; 32],
                addr: "[2001:db8::1]:443".parse().unwrap(),
            },
        }),
    };
    let expected = hex_of(&format!(
        "24 0000000000000002 01 8000000000000000 {} 06 20010db8000000000000000000000001 01bb",
        "33".repeat(32)
    ));
    assert_eq!(encode(&msg).unwrap(), expected);
    assert_eq!(decode(&expected), Ok(msg));

    let none = Message::Predecessor {
        id: RequestId(2),
        node: None,
    };
    assert_eq!(encode(&none).unwrap(), hex_of("24 0000000000000002 00"));
}

#[test]
fn list_encodings_match_the_specification() {
    let leave = Message::Leave {
        predecessor: None,
        successors: vec![],
    };
    assert_eq!(encode(&leave).unwrap(), hex_of("29 00 00"));
    let offer = Message::StoreOffer {
        id: RequestId(3),
        keys: vec![NodeKey {
            kind: KeyKind::Chk,
            routing: RoutingKey([0xab; 32]),
        }],
    };
    let expected = hex_of(&format!("2a 0000000000000003 01 01 {}", "ab".repeat(32)));
    assert_eq!(encode(&offer).unwrap(), expected);
    assert_eq!(decode(&expected), Ok(offer));
    let want = Message::StoreWant {
        id: RequestId(3),
        keys: vec![],
    };
    assert_eq!(encode(&want).unwrap(), hex_of("2b 0000000000000003 00"));
    let reply = Message::AnnounceReply {
        id: RequestId(0xff),
        seeds: vec![[0x44; 32], [0x55; 32]],
    };
    let expected = hex_of(&format!(
        "09 00000000000000ff 02 {}{}",
        "44".repeat(32),
        "55".repeat(32)
    ));
    assert_eq!(encode(&reply).unwrap(), expected);
}

#[test]
fn ping_frame_matches_the_specification() {
    let frames = encode_frames(&Message::Ping {
        nonce: 0x0102_0304_0506_0708,
    })
    .unwrap();
    assert_eq!(frames.len(), 1);
    let head = hex_of("01 00000009 0b 0102030405060708");
    assert_eq!(frames[0][..head.len()], head[..]);
    assert!(frames[0][head.len()..].iter().all(|&b| b == 0));
}

// ---------------------------------------------------------------------------
// Explicit rejections
// ---------------------------------------------------------------------------

#[test]
fn rejects_an_unknown_frame_type() {
    for byte in [0x03, 0x80, 0xff] {
        let mut frame = padding_frame();
        frame[0] = byte;
        assert_eq!(
            FrameDecoder::new().push(&frame),
            Err(WireError::UnknownFrameType { byte })
        );
    }
}

#[test]
fn rejects_a_continuation_without_a_start() {
    let mut frame = padding_frame();
    frame[0] = 0x02;
    assert_eq!(
        FrameDecoder::new().push(&frame),
        Err(WireError::ContinuationWithoutStart)
    );
}

#[test]
fn rejects_a_start_during_a_message_and_drops_both() {
    let frames = encode_frames(&chk_data_found()).unwrap();
    let len = encoded_len(&chk_data_found());
    let mut decoder = FrameDecoder::new();
    assert_eq!(decoder.push(&frames[0]), Ok(None));
    assert_eq!(decoder.push(&frames[1]), Ok(None));
    assert_eq!(
        decoder.push(&frames[0]),
        Err(WireError::StartDuringMessage {
            received: START_PAYLOAD_SIZE + CONTINUATION_PAYLOAD_SIZE,
            expected: len,
        })
    );
    assert!(!decoder.is_mid_message());
    assert_eq!(
        decoder.push(&frames[1]),
        Err(WireError::ContinuationWithoutStart)
    );
    // And it recovers with the next whole message.
    let ping = Message::Ping { nonce: 1 };
    assert_eq!(reassemble_with(&mut decoder, &ping), Ok(Some(ping)));
}

#[test]
fn rejects_a_zero_length() {
    assert_eq!(
        FrameDecoder::new().push(&start_frame(0, &[])),
        Err(WireError::BadMessageLength { len: 0 })
    );
}

#[test]
fn rejects_a_length_over_the_maximum() {
    for len in [MAX_MESSAGE_SIZE as u32 + 1, u32::MAX] {
        assert_eq!(
            FrameDecoder::new().push(&start_frame(len, &[0x01])),
            Err(WireError::BadMessageLength { len })
        );
    }
    // The maximum itself is accepted as the start of a long message.
    let mut decoder = FrameDecoder::new();
    assert_eq!(
        decoder.push(&start_frame(MAX_MESSAGE_SIZE as u32, &[0x01])),
        Ok(None)
    );
    assert!(decoder.is_mid_message());
}

#[test]
fn rejects_non_zero_padding_in_every_frame_type() {
    // Start frame: a Ping is 9 bytes, so bytes 14.. must be zero.
    let mut frame = encode_frames(&Message::Ping { nonce: 1 }).unwrap()[0];
    frame[FRAME_SIZE - 1] = 0x01;
    assert_eq!(
        FrameDecoder::new().push(&frame),
        Err(WireError::NonZeroPadding {
            frame: "start",
            offset: FRAME_SIZE - 1,
            byte: 0x01
        })
    );
    let mut frame = encode_frames(&Message::Ping { nonce: 1 }).unwrap()[0];
    frame[14] = 0x80;
    assert!(matches!(
        FrameDecoder::new().push(&frame),
        Err(WireError::NonZeroPadding { offset: 14, .. })
    ));

    // Padding frame.
    let mut frame = padding_frame();
    frame[500] = 0x10;
    assert_eq!(
        FrameDecoder::new().push(&frame),
        Err(WireError::NonZeroPadding {
            frame: "padding",
            offset: 500,
            byte: 0x10
        })
    );

    // Last continuation frame's tail.
    let mut frames = encode_frames(&chk_data_found()).unwrap();
    let last = frames.len() - 1;
    frames[last][FRAME_SIZE - 1] = 0x02;
    let mut decoder = FrameDecoder::new();
    for frame in &frames[..last] {
        assert_eq!(decoder.push(frame), Ok(None));
    }
    assert!(matches!(
        decoder.push(&frames[last]),
        Err(WireError::NonZeroPadding {
            frame: "continuation",
            ..
        })
    ));
    assert!(!decoder.is_mid_message());
}

#[test]
fn rejects_an_unknown_message_tag() {
    for tag in [0x00, 0x12, 0x1f, 0x2c, 0xff] {
        assert_eq!(
            decode(&[tag, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(WireError::UnknownTag { tag })
        );
    }
    // Through frames as well; the decoder is then idle.
    let mut decoder = FrameDecoder::new();
    assert_eq!(
        decoder.push(&start_frame(1, &[0xee])),
        Err(WireError::UnknownTag { tag: 0xee })
    );
    assert!(!decoder.is_mid_message());
}

#[test]
fn rejects_an_insert_whose_block_kind_differs_from_its_key() {
    let mut bytes = encode(&ssk_insert()).unwrap();
    assert_eq!(bytes[9], 2, "key kind byte follows the tag and request id");
    bytes[9] = 1;
    assert_eq!(
        decode(&bytes),
        Err(WireError::KindMismatch {
            message: "Insert",
            key: KeyKind::Chk,
            block: KeyKind::Ssk
        })
    );
    let err = decode(&bytes).unwrap_err().to_string();
    assert_eq!(err, "Insert carries a Ssk block under a Chk key");

    // The block kind byte follows the htl and the source (IPv6, 51 bytes):
    // changing it instead is the same error the other way round.
    let mut bytes = encode(&ssk_insert()).unwrap();
    let block_kind = 1 + 8 + 33 + 1 + 51;
    assert_eq!(bytes[block_kind], 2);
    bytes[block_kind] = 1;
    assert_eq!(
        decode(&bytes),
        Err(WireError::KindMismatch {
            message: "Insert",
            key: KeyKind::Ssk,
            block: KeyKind::Chk
        })
    );

    let transfer = Message::StoreTransfer {
        id: RequestId(1),
        key: NodeKey {
            kind: KeyKind::Ssk,
            routing: RoutingKey([0; 32]),
        },
        block: block_from_seed(KeyKind::Ssk, 2),
    };
    let mut bytes = encode(&transfer).unwrap();
    bytes[9] = 1;
    assert!(matches!(
        decode(&bytes),
        Err(WireError::KindMismatch {
            message: "StoreTransfer",
            ..
        })
    ));
}

#[test]
fn rejects_a_bad_key_kind() {
    let mut bytes = encode(&Message::Request {
        id: RequestId(1),
        key: NodeKey {
            kind: KeyKind::Chk,
            routing: RoutingKey([0; 32]),
        },
        htl: 1,
    })
    .unwrap();
    for byte in [0, 3, 0xff] {
        bytes[9] = byte;
        assert_eq!(
            decode(&bytes),
            Err(WireError::BadKeyKind {
                what: "key kind",
                byte,
                offset: 9
            })
        );
    }
}

#[test]
fn rejects_a_count_over_the_bound() {
    let mut bytes = hex_of("09 0000000000000001 1f");
    bytes.extend(std::iter::repeat_n(0x44, 31 * 32));
    assert_eq!(
        decode(&bytes),
        Err(WireError::CountTooLarge {
            what: "seeds",
            count: 31,
            max: MAX_SEEDS,
            offset: 9
        })
    );
    assert_eq!(
        decode(&bytes).unwrap_err().to_string(),
        "31 seeds at offset 9, at most 30 allowed"
    );
    // The bound itself is accepted.
    let mut ok = hex_of("09 0000000000000001 1e");
    ok.extend(std::iter::repeat_n(0x44, 30 * 32));
    assert!(decode(&ok).is_ok());

    let successors = hex_of("26 0000000000000001 ff");
    assert!(matches!(
        decode(&successors),
        Err(WireError::CountTooLarge {
            what: "successors",
            count: 255,
            ..
        })
    ));
    for tag in ["2a", "2b"] {
        let mut keys = hex_of(&format!("{tag} 0000000000000001 1f"));
        keys.extend(std::iter::repeat_n(0x01, 31 * 33));
        assert_eq!(
            decode(&keys),
            Err(WireError::CountTooLarge {
                what: "keys",
                count: 31,
                max: MAX_OFFER_KEYS,
                offset: 9
            })
        );
    }
}

#[test]
fn refuses_to_encode_an_over_long_list() {
    let msg = Message::AnnounceComplete {
        id: RequestId(1),
        seeds: vec![[0; 32]; MAX_SEEDS + 1],
    };
    let err = || WireError::ListTooLong {
        what: "seeds",
        count: 31,
        max: 30,
    };
    assert_eq!(encode(&msg), Err(err()));
    let mut out = Vec::new();
    assert_eq!(encode_frames_into(&msg, &mut out), Err(err()));
    assert!(out.is_empty());
    let leave = Message::Leave {
        predecessor: None,
        successors: (0..=MAX_SUCCESSORS as u8).map(v6_peer).collect(),
    };
    assert!(matches!(
        encode_frames(&leave),
        Err(WireError::ListTooLong {
            what: "successors",
            ..
        })
    ));
}

#[test]
fn rejects_a_bad_address_family() {
    let msg = announce();
    let mut bytes = encode(&msg).unwrap();
    let family = 1 + 8 + 1 + 32;
    assert_eq!(bytes[family], 4);
    for byte in [0, 5, 46] {
        bytes[family] = byte;
        assert_eq!(
            decode(&bytes),
            Err(WireError::BadAddressFamily {
                byte,
                offset: family
            })
        );
    }
}

#[test]
fn rejects_an_option_byte_of_two() {
    let bytes = hex_of("24 0000000000000002 02");
    assert_eq!(
        decode(&bytes),
        Err(WireError::BadOptionByte {
            what: "predecessor",
            byte: 2,
            offset: 9
        })
    );
    assert!(matches!(
        decode(&hex_of("29 07 00")),
        Err(WireError::BadOptionByte {
            byte: 7,
            offset: 1,
            ..
        })
    ));
}

#[test]
fn rejects_a_trailing_byte() {
    let mut bytes = encode(&Message::Ping { nonce: 1 }).unwrap();
    bytes.push(0);
    assert_eq!(
        decode(&bytes),
        Err(WireError::TrailingBytes {
            message: "Ping",
            offset: 9,
            count: 1
        })
    );
    // Inside a frame the length decides, so a longer L is the same error.
    let mut decoder = FrameDecoder::new();
    assert!(matches!(
        decoder.push(&start_frame(10, &bytes)),
        Err(WireError::TrailingBytes { .. })
    ));
}

#[test]
fn rejects_truncation_with_a_precise_message() {
    let bytes = encode(&ssk_insert()).unwrap();
    let err = decode(&bytes[..13]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "truncated: needed 32 bytes for routing key at offset 10, 3 left"
    );
    let err = decode(&bytes[..bytes.len() - 1]).unwrap_err();
    assert_eq!(
        err,
        WireError::Truncated {
            what: "SSK block",
            needed: Block::size_of(KeyKind::Ssk),
            // Tag, id, node key, htl, IPv6 source, block kind.
            offset: 1 + 8 + 33 + 1 + 51 + 1,
            left: Block::size_of(KeyKind::Ssk) - 1
        }
    );
}
