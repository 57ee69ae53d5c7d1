//! Messages cut into fixed-size frames, and put back together.
//!
//! Every frame has exactly [`FRAME_SIZE`] bytes, whatever it carries, so an
//! observer of the (encrypted) link learns nothing from frame sizes, and
//! padding frames are indistinguishable from message frames once encrypted.
//! Byte 0 is the frame type:
//!
//! - [`FRAME_PADDING`] (0x00): cover traffic; every other byte is zero;
//! - [`FRAME_START`] (0x01): bytes 1..5 are the message length L (u32
//!   big-endian, `1..=MAX_MESSAGE_SIZE`), then the first
//!   `min(L, START_PAYLOAD_SIZE)` bytes of the encoded message, then zeros;
//! - [`FRAME_CONTINUATION`] (0x02): the next `min(remaining,
//!   CONTINUATION_PAYLOAD_SIZE)` bytes of the message from byte 1, then zeros;
//! - [`FRAME_REKEY`] (0x03): the sender replaces its key right after this
//!   frame; every other byte is zero. It belongs to the link layer, which
//!   consumes it ([`check_rekey_frame`]): a [`FrameDecoder`] never sees one,
//!   and rejects it as an unknown type if it does.
//!
//! The length is only ever sent inside a start frame. This module does no
//! I/O and no encryption: the link layer seals each frame with an AEAD that
//! adds [`LINK_TAG_SIZE`] bytes, giving [`WIRE_FRAME_SIZE`] bytes on the wire.

use super::WireError;
use super::codec::{
    LARGEST_CONTROL_MESSAGE, MAX_MESSAGE_SIZE, Sink, check, decode, encoded_len, write_message,
};
use super::message::Message;

/// Bytes the link layer's AEAD adds to each frame (a Poly1305 tag).
pub const LINK_TAG_SIZE: usize = 16;
/// Bytes of one frame on the wire, after the link layer's encryption.
pub const WIRE_FRAME_SIZE: usize = 1024;
/// Bytes of one plaintext frame, as this module produces and consumes them.
pub const FRAME_SIZE: usize = WIRE_FRAME_SIZE - LINK_TAG_SIZE;

/// Frame type byte of a padding (cover traffic) frame.
pub const FRAME_PADDING: u8 = 0x00;
/// Frame type byte of the first frame of a message.
pub const FRAME_START: u8 = 0x01;
/// Frame type byte of every later frame of a message.
pub const FRAME_CONTINUATION: u8 = 0x02;
/// Frame type byte of a rekey frame: the link layer's signal that the
/// sender rekeys after it (protocol §11.4).
pub const FRAME_REKEY: u8 = 0x03;

/// Bytes before the payload in a start frame: type and message length.
pub const START_HEADER_SIZE: usize = 1 + 4;
/// Message bytes a start frame carries at most.
pub const START_PAYLOAD_SIZE: usize = FRAME_SIZE - START_HEADER_SIZE;
/// Message bytes a continuation frame carries at most.
pub const CONTINUATION_PAYLOAD_SIZE: usize = FRAME_SIZE - 1;

const _: () = assert!(FRAME_SIZE + LINK_TAG_SIZE == WIRE_FRAME_SIZE);
const _: () = assert!(
    START_HEADER_SIZE < FRAME_SIZE,
    "a start frame must carry at least one message byte"
);
const _: () = assert!(
    MAX_MESSAGE_SIZE <= u32::MAX as usize,
    "the length field is a u32"
);
const _: () = assert!(
    LARGEST_CONTROL_MESSAGE <= START_PAYLOAD_SIZE,
    "every message without a block must fit in one frame"
);
const _: () = assert!(
    WIRE_FRAME_SIZE <= 65_535,
    "a sealed frame must fit in one Noise transport message"
);

/// One plaintext frame.
pub type Frame = [u8; FRAME_SIZE];

/// A frame of cover traffic: type 0x00 and zeros.
pub fn padding_frame() -> Frame {
    [0; FRAME_SIZE]
}

/// A rekey frame: type 0x03 and zeros.
pub fn rekey_frame() -> Frame {
    let mut frame = [0; FRAME_SIZE];
    frame[0] = FRAME_REKEY;
    frame
}

/// Checks that a frame of type [`FRAME_REKEY`] is zero after its type byte.
pub fn check_rekey_frame(frame: &Frame) -> Result<(), WireError> {
    zero_from(frame, 1, "rekey")
}

/// How many frames a message whose encoding is `message_len` bytes takes:
/// one start frame, then as many continuation frames as the rest needs.
/// (Encodings are never empty; `frame_count(0)` is 1.)
pub const fn frame_count(message_len: usize) -> usize {
    1 + message_len
        .saturating_sub(START_PAYLOAD_SIZE)
        .div_ceil(CONTINUATION_PAYLOAD_SIZE)
}

/// Encodes `msg` into [`frame_count`]`(encoded_len(msg))` frames.
///
/// Fails only as [`super::encode`] does, for an over-long list.
pub fn encode_frames(msg: &Message) -> Result<Vec<Frame>, WireError> {
    let mut frames = Vec::new();
    encode_frames_into(msg, &mut frames)?;
    Ok(frames)
}

/// Appends the frames of `msg` to `out` and returns how many it appended.
/// The message is written straight into the frames, with no intermediate
/// buffer; reusing `out` makes encoding allocation-free. On error `out` is
/// unchanged.
pub fn encode_frames_into(msg: &Message, out: &mut Vec<Frame>) -> Result<usize, WireError> {
    check(msg)?;
    let len = encoded_len(msg);
    let count = frame_count(len);
    let first = out.len();
    out.reserve(count);
    let mut start = [0; FRAME_SIZE];
    start[0] = FRAME_START;
    // `len` is at most the largest message, which a compile-time assert in
    // the codec keeps below MAX_MESSAGE_SIZE, itself below u32::MAX.
    start[1..START_HEADER_SIZE].copy_from_slice(&(len as u32).to_be_bytes());
    out.push(start);
    let mut writer = FrameWriter {
        out,
        used: START_HEADER_SIZE,
    };
    write_message(msg, &mut writer);
    debug_assert_eq!(out.len() - first, count);
    Ok(count)
}

/// Fills frames in place: the current frame is the last one in `out`, with
/// `used` bytes written; a continuation frame is added only when there are
/// bytes to put in it.
struct FrameWriter<'a> {
    out: &'a mut Vec<Frame>,
    used: usize,
}

impl Sink for FrameWriter<'_> {
    fn put(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.used == FRAME_SIZE {
                let mut next = [0; FRAME_SIZE];
                next[0] = FRAME_CONTINUATION;
                self.out.push(next);
                self.used = 1;
            }
            let Some(frame) = self.out.last_mut() else {
                return; // The start frame is pushed before any write.
            };
            let n = bytes.len().min(FRAME_SIZE - self.used);
            frame[self.used..self.used + n].copy_from_slice(&bytes[..n]);
            self.used += n;
            bytes = &bytes[n..];
        }
    }
}

/// Reassembles messages from frames, one link's frames in order.
///
/// A message that fits in its start frame is decoded straight from the
/// frame. A longer one is gathered in a buffer that is reused from message
/// to message and never grows past the announced length, itself at most
/// [`MAX_MESSAGE_SIZE`]. Padding frames may come between the frames of a
/// message and do not disturb it.
///
/// On any error the message in progress, if any, is discarded and the
/// decoder is ready for a new start frame.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    /// Bytes of the message in progress.
    buf: Vec<u8>,
    /// Its announced length; 0 when no message is in progress.
    expected: usize,
}

impl FrameDecoder {
    /// A decoder with no message in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next frame. Returns the message it completes, or `Ok(None)`
    /// for a padding frame or a frame of a message not yet complete.
    ///
    /// Errors: an unknown frame type; a continuation frame with no message in
    /// progress; a start frame while a message is in progress (both messages
    /// are dropped); a length of 0 or over [`MAX_MESSAGE_SIZE`]; a non-zero
    /// byte where a frame must be zero; or the completed message failing to
    /// decode.
    pub fn push(&mut self, frame: &Frame) -> Result<Option<Message>, WireError> {
        let result = self.step(frame);
        if result.is_err() {
            self.reset();
        }
        result
    }

    /// Whether part of a message has arrived and the rest is awaited.
    pub fn is_mid_message(&self) -> bool {
        self.expected != 0
    }

    /// Drops the message in progress, if any.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.expected = 0;
    }

    fn step(&mut self, frame: &Frame) -> Result<Option<Message>, WireError> {
        match frame[0] {
            FRAME_PADDING => {
                zero_from(frame, 1, "padding")?;
                Ok(None)
            }
            FRAME_START => {
                if self.is_mid_message() {
                    return Err(WireError::StartDuringMessage {
                        received: self.buf.len(),
                        expected: self.expected,
                    });
                }
                let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]);
                let size = len as usize;
                if size == 0 || size > MAX_MESSAGE_SIZE {
                    return Err(WireError::BadMessageLength { len });
                }
                let n = size.min(START_PAYLOAD_SIZE);
                zero_from(frame, START_HEADER_SIZE + n, "start")?;
                let payload = &frame[START_HEADER_SIZE..START_HEADER_SIZE + n];
                if n == size {
                    return decode(payload).map(Some);
                }
                self.buf.clear();
                self.buf.reserve_exact(size);
                self.buf.extend_from_slice(payload);
                self.expected = size;
                Ok(None)
            }
            FRAME_CONTINUATION => {
                if !self.is_mid_message() {
                    return Err(WireError::ContinuationWithoutStart);
                }
                let n = (self.expected - self.buf.len()).min(CONTINUATION_PAYLOAD_SIZE);
                zero_from(frame, 1 + n, "continuation")?;
                self.buf.extend_from_slice(&frame[1..1 + n]);
                if self.buf.len() < self.expected {
                    return Ok(None);
                }
                let msg = decode(&self.buf);
                self.reset();
                msg.map(Some)
            }
            byte => Err(WireError::UnknownFrameType { byte }),
        }
    }
}

/// Checks that `frame[from..]` is all zero.
fn zero_from(frame: &Frame, from: usize, kind: &'static str) -> Result<(), WireError> {
    let tail = &frame[from..];
    // A branch-free OR over the tail (vectorised); find the byte only on error.
    if tail.iter().fold(0u8, |acc, &b| acc | b) == 0 {
        return Ok(());
    }
    let i = tail.iter().position(|&b| b != 0).unwrap_or(0);
    Err(WireError::NonZeroPadding {
        frame: kind,
        offset: from + i,
        byte: tail.get(i).copied().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::RequestId;

    #[test]
    fn frame_count_follows_the_payload_sizes() {
        assert_eq!(START_PAYLOAD_SIZE, 1003);
        assert_eq!(CONTINUATION_PAYLOAD_SIZE, 1007);
        assert_eq!(frame_count(1), 1);
        assert_eq!(frame_count(1003), 1);
        assert_eq!(frame_count(1004), 2);
        assert_eq!(frame_count(1003 + 1007), 2);
        assert_eq!(frame_count(1003 + 1007 + 1), 3);
        assert_eq!(frame_count(MAX_MESSAGE_SIZE), 41);
    }

    /// A DataFound carrying a CHK block: 32833 bytes, 33 frames.
    fn data_found() -> Message {
        let (_, block) = crate::block::chk::encode(b"frames").expect("fits one block");
        Message::DataFound {
            id: RequestId(3),
            source: crate::wire::NodeRef {
                identity: [5; 32],
                addr: "127.0.0.1:9".parse().expect("a valid address"),
            },
            block: crate::block::Block::Chk(block),
        }
    }

    #[test]
    fn writer_appends_exactly_frame_count_frames() {
        for msg in [Message::Ping { nonce: 1 }, data_found()] {
            let frames = frame_count(encoded_len(&msg));
            let mut out = vec![padding_frame()];
            assert_eq!(encode_frames_into(&msg, &mut out).unwrap(), frames);
            assert_eq!(out.len(), 1 + frames);
            assert_eq!(
                out[0],
                padding_frame(),
                "frames are appended after existing ones"
            );
            // The last frame carries message bytes: no empty trailing frame.
            assert_ne!(out[frames][1..], padding_frame()[1..]);
        }
    }

    #[test]
    fn decoder_resets_after_an_error() {
        let mut decoder = FrameDecoder::new();
        let msg = data_found();
        let frames = encode_frames(&msg).unwrap();
        assert_eq!(decoder.push(&frames[0]), Ok(None));
        assert!(decoder.is_mid_message());
        let mut bad = padding_frame();
        bad[0] = 0x7f;
        assert!(decoder.push(&bad).is_err());
        assert!(!decoder.is_mid_message());
        let (last, rest) = frames.split_last().unwrap();
        for frame in rest {
            assert_eq!(decoder.push(frame), Ok(None));
        }
        assert_eq!(decoder.push(last), Ok(Some(msg)));
    }
}
