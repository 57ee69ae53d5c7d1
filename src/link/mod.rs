//! Encrypted, authenticated links between two nodes.
//!
//! This module owns the TCP connection between two nodes and everything that
//! happens on it below the message layer:
//!
//! - [`identity`]: a node's static X25519 key pair ([`Identity`]) and the
//!   owner-only file that keeps it across restarts;
//! - [`noderef`]: node references, `fog:<public key>@<host>:<port>`, parsed
//!   into and printed from [`NodeRef`](crate::wire::NodeRef);
//! - [`handshake`]: the Noise handshake `Noise_XK_25519_ChaChaPoly_SHA256`
//!   ([`NOISE_PATTERN`], prologue [`PROLOGUE`]), in which the initiator pins
//!   the responder's static key and the responder learns the initiator's,
//!   and where it listens ([`Link::connect`], [`Link::connect_to_listening`],
//!   [`Link::accept`], [`Link::remote_listen_addr`]). Every handshake message is padded
//!   to [`WIRE_FRAME_SIZE`] bytes;
//! - [`transport`]: after the handshake, every plaintext
//!   [`Frame`](crate::wire::Frame) is sealed with the Noise transport cipher
//!   into exactly [`WIRE_FRAME_SIZE`] bytes, each direction with its own
//!   nonce counter and its own rekey schedule (every [`REKEY_FRAMES`]
//!   frames, and when its key is [`REKEY_TIME`] old, signalled by a rekey
//!   frame). A [`Link`] splits into a [`LinkReader`] and a [`LinkWriter`]
//!   that two tasks drive independently.
//!
//! So an observer of a link sees a stream of equal 1024-byte records from
//! the first byte to the last: three for the handshake, then one per frame.
//! `docs/protocol.md` §11 specifies every byte; `docs/threat-model.md`
//! ("Links") says what this does and does not hide.
//!
//! The link knows nothing of routing: it carries frames and messages between
//! two authenticated static keys, and leaves what they mean, and what to do
//! with a peer whose messages make no sense, to the node.

pub mod handshake;
pub mod identity;
pub mod noderef;
pub mod transport;

use std::path::PathBuf;
use std::time::Duration;

pub use handshake::{DEFAULT_HANDSHAKE_TIMEOUT, HANDSHAKE_PAYLOAD_SIZES, NOISE_PATTERN, PROLOGUE};
pub use identity::{Identity, is_small_order};
pub use noderef::{NODE_REF_PREFIX, NodeRefError};
pub use transport::{Link, LinkReader, LinkWriter, REKEY_FRAMES, REKEY_TIME};

pub use crate::wire::WIRE_FRAME_SIZE;
use crate::wire::WireError;

/// Why a link could not be set up or can no longer be used.
///
/// Every error from a handshake, and every error from [`LinkReader::recv`]
/// or [`LinkWriter::send`] except [`LinkError::Wire`], ends the link: later
/// calls on the same half return [`LinkError::Broken`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The socket failed (connection refused, reset, ...).
    #[error("link I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The handshake (including the TCP connection, for
    /// [`Link::connect_to`]) did not complete within its time limit.
    #[error("handshake timed out after {after:?}")]
    Timeout {
        /// The time limit that ran out.
        after: Duration,
    },
    /// The Noise handshake failed: a message did not decrypt or was
    /// malformed (the text is `snow`'s), or the handshake could not be set up.
    #[error("Noise handshake failed at {stage}: {reason}")]
    Handshake {
        /// Which step failed, e.g. `"reading message 2"`.
        stage: &'static str,
        /// What `snow` reported.
        reason: String,
    },
    /// A handshake message decrypted, but its payload was not the expected
    /// number of zero bytes (§11.2: every handshake payload is zero
    /// padding, except that message 3's may start with the initiator's
    /// listening address).
    #[error("handshake message {message} carries a payload other than {expected} zero bytes")]
    BadHandshakePadding {
        /// The message number, 1 to 3.
        message: u8,
        /// The payload length the message must carry.
        expected: usize,
    },
    /// A key of the handshake (the pinned or the received static key, or
    /// a received ephemeral key) is an X25519 point of small order, whose
    /// Diffie-Hellman results are all zeros whoever computes them
    /// ([`is_small_order`]); the handshake is abandoned.
    #[error("handshake refused: the {which} is a small-order X25519 point")]
    SmallOrderKey {
        /// Which key, e.g. `"initiator's static key"`.
        which: &'static str,
    },
    /// The initiator's pinned key is not the responder's static key.
    ///
    /// Noise XK gives each side one signal of it. The responder: message 1
    /// does not decrypt under its static key (so the initiator pinned another
    /// key, or is not a fogstore peer at all). The initiator: the responder
    /// closed the connection after message 1 instead of answering, which is
    /// what a responder does in that case.
    #[error("handshake rejected: {detail}")]
    PeerKeyMismatch {
        /// What this side observed.
        detail: &'static str,
    },
    /// A transport frame failed authentication: it was altered, replayed,
    /// reordered, dropped or injected on the way.
    #[error("frame {frame} failed to decrypt (tampered, replayed, reordered or injected)")]
    Decrypt {
        /// The frame's number in its direction (its nonce).
        frame: u64,
    },
    /// The peer closed the connection cleanly, at a frame boundary.
    #[error("link closed by the peer")]
    Closed,
    /// The connection ended in the middle of a frame or handshake message.
    #[error("link cut mid-frame: {got} of {WIRE_FRAME_SIZE} bytes received")]
    Truncated {
        /// Bytes of the incomplete frame that arrived.
        got: usize,
    },
    /// The identity file could not be read, created or written.
    #[error("identity file {}: {source}", path.display())]
    IdentityFile {
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        source: std::io::Error,
    },
    /// The identity file does not hold exactly 32 bytes.
    #[error("identity file {}: {len} bytes, expected exactly 32 (a raw X25519 private key)", path.display())]
    IdentityLength {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The identity file can be read or written by group or others.
    #[error(
        "identity file {}: mode {mode:o} gives access to group or others; it must be owner-only (chmod 600)",
        path.display()
    )]
    IdentityPermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The frames received do not make a valid message. The link itself is
    /// intact (the frames were authentic); what to do with a peer that sends
    /// them is the node's decision.
    #[error("peer sent an invalid message: {0}")]
    Wire(#[from] WireError),
    /// A direction has sealed 2^64 − 1 frames; Noise forbids the last nonce.
    #[error("nonce space exhausted; the link must be re-established")]
    NonceExhausted,
    /// A write could not finish within `after`: the peer reads nothing of
    /// what it is sent. The link is given up.
    #[error("the peer read nothing of what it was sent for {after:?}; link given up")]
    Stalled {
        /// How long the write waited.
        after: Duration,
    },
    /// An earlier error on this half ended the link (or a send was cancelled
    /// midway, leaving the byte stream out of step).
    #[error("link is unusable after an earlier error")]
    Broken,
}

impl LinkError {
    /// A `snow` failure at `stage`.
    pub(crate) fn noise(stage: &'static str, err: snow::Error) -> Self {
        LinkError::Handshake {
            stage,
            reason: err.to_string(),
        }
    }
}
