//! Protocol messages and their encoding into fixed-size frames.
//!
//! - [`message`]: the [`Message`] enum (Freenet mode and Chord mode) and the
//!   small types its fields use ([`RequestId`], [`NodeRef`], [`ChordPeer`],
//!   [`Seed`]);
//! - [`codec`]: a message to and from its byte encoding ([`encode`],
//!   [`decode`]); decoding is strict, so every byte string it accepts is the
//!   one encoding of the message it returns;
//! - [`frame`]: an encoded message cut into frames of exactly [`FRAME_SIZE`]
//!   bytes ([`encode_frames`]), padding frames for cover traffic, and the
//!   [`FrameDecoder`] that puts messages back together.
//!
//! `docs/protocol.md` ("Messages and frames") specifies every byte. Nothing
//! here does I/O: the link layer encrypts each frame and sends it, and hands
//! received frames to a [`FrameDecoder`]. Every failure is a [`WireError`].

pub mod codec;
pub mod frame;
pub mod message;

pub use codec::{MAX_MESSAGE_SIZE, decode, encode, encode_into, encoded_len};
pub use frame::{
    CONTINUATION_PAYLOAD_SIZE, FRAME_CONTINUATION, FRAME_PADDING, FRAME_REKEY, FRAME_SIZE,
    FRAME_START, Frame, FrameDecoder, LINK_TAG_SIZE, START_HEADER_SIZE, START_PAYLOAD_SIZE,
    WIRE_FRAME_SIZE, check_rekey_frame, encode_frames, encode_frames_into, frame_count,
    padding_frame, rekey_frame,
};
pub use message::{
    ChordPeer, MAX_OFFER_KEYS, MAX_SEEDS, MAX_SUCCESSORS, Message, NodeRef, RequestId, Seed,
};

use crate::block::BlockError;

/// Why bytes or frames could not be read as a message, or a message could not
/// be written.
///
/// Offsets in decoding errors count from the first byte of the message
/// encoding (its type tag), or from the first byte of the frame for frame
/// errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The message ended before a field was complete.
    #[error("truncated: needed {needed} bytes for {what} at offset {offset}, {left} left")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Where the field starts.
        offset: usize,
        /// Bytes that remained from `offset`.
        left: usize,
    },
    /// Bytes remained after a complete message.
    #[error("{count} trailing bytes after a complete {message} message of {offset} bytes")]
    TrailingBytes {
        /// The message that was complete.
        message: &'static str,
        /// Where the complete message ended.
        offset: usize,
        /// How many bytes followed it.
        count: usize,
    },
    /// The first byte names no message type.
    #[error("unknown message tag {tag:#04x}")]
    UnknownTag {
        /// The tag received.
        tag: u8,
    },
    /// A key or block kind byte other than 1 (CHK) or 2 (SSK).
    #[error("unknown {what} {byte} at offset {offset} (expected 1 = CHK or 2 = SSK)")]
    BadKeyKind {
        /// Which kind byte: of a key or of a block.
        what: &'static str,
        /// The byte received.
        byte: u8,
        /// Where it was.
        offset: usize,
    },
    /// A message carries a block of another kind than its key.
    #[error("{message} carries a {block:?} block under a {key:?} key")]
    KindMismatch {
        /// The message (`Insert` or `StoreTransfer`).
        message: &'static str,
        /// The key's kind.
        key: crate::key::KeyKind,
        /// The block's kind.
        block: crate::key::KeyKind,
    },
    /// An address family byte other than 4 or 6.
    #[error("unknown address family {byte} at offset {offset} (expected 4 or 6)")]
    BadAddressFamily {
        /// The byte received.
        byte: u8,
        /// Where it was.
        offset: usize,
    },
    /// An option byte other than 0 (absent) or 1 (present).
    #[error("option byte {byte} for {what} at offset {offset} (expected 0 or 1)")]
    BadOptionByte {
        /// The optional field.
        what: &'static str,
        /// The byte received.
        byte: u8,
        /// Where it was.
        offset: usize,
    },
    /// A list count over its bound.
    #[error("{count} {what} at offset {offset}, at most {max} allowed")]
    CountTooLarge {
        /// What the list holds.
        what: &'static str,
        /// The count received.
        count: u8,
        /// The bound.
        max: usize,
        /// Where the count was.
        offset: usize,
    },
    /// The block layer refused the block bytes (today it checks only the
    /// size, which the codec already guarantees).
    #[error("block at offset {offset} rejected: {source}")]
    Block {
        /// Where the block's bytes start.
        offset: usize,
        /// The block layer's reason.
        source: BlockError,
    },
    /// A message to encode holds a list longer than the wire allows.
    #[error("cannot encode {count} {what}: at most {max} fit in a message")]
    ListTooLong {
        /// What the list holds.
        what: &'static str,
        /// Its length.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// A frame's type byte is not padding (0), start (1) or continuation (2).
    #[error("unknown frame type {byte:#04x}")]
    UnknownFrameType {
        /// The byte received.
        byte: u8,
    },
    /// A continuation frame arrived with no message in progress.
    #[error("continuation frame with no message in progress")]
    ContinuationWithoutStart,
    /// A start frame arrived before the message in progress was complete.
    #[error(
        "start frame while a message is in progress ({received} of {expected} bytes received); both discarded"
    )]
    StartDuringMessage {
        /// Bytes of the interrupted message received so far.
        received: usize,
        /// Its announced length.
        expected: usize,
    },
    /// A start frame announced a length of zero or over [`MAX_MESSAGE_SIZE`].
    #[error("message length {len} out of range 1..={MAX_MESSAGE_SIZE}")]
    BadMessageLength {
        /// The length announced.
        len: u32,
    },
    /// A byte that must be zero (frame padding) is not.
    #[error(
        "non-zero byte {byte:#04x} at offset {offset} of a {frame} frame, where padding must be zero"
    )]
    NonZeroPadding {
        /// The frame type: `padding`, `start`, `continuation` or `rekey`.
        frame: &'static str,
        /// Where in the frame.
        offset: usize,
        /// The byte found.
        byte: u8,
    },
}
