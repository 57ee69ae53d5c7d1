//! Sealed fixed-size frames on an open link.
//!
//! After the handshake every record on the wire is exactly
//! [`WIRE_FRAME_SIZE`] (1024) bytes: one plaintext [`Frame`] of
//! [`FRAME_SIZE`] (1008) bytes sealed by the Noise transport cipher
//! (ChaCha20-Poly1305, empty associated data, 16-byte tag appended).
//!
//! **Nonces.** Each direction numbers its frames 0, 1, 2, … and seals frame
//! n with nonce n (snow's stateless transport, explicit nonces). A receiver
//! opens the next record with the next number it expects, so a frame that
//! is altered, replayed, reordered, dropped or injected fails to decrypt;
//! that ends the link ([`LinkError::Decrypt`]).
//!
//! **Rekey.** Each direction replaces its key after every
//! [`REKEY_FRAMES`] frames (64 MiB on the wire): the sender after sealing
//! frame n with `(n + 1) % REKEY_FRAMES == 0`, the receiver after opening
//! that same frame, with Noise's `REKEY` (§4.2 of the Noise specification:
//! the new key is the first 32 bytes of encrypting 32 zero bytes under the
//! old key with nonce 2^64 − 1). Nonces keep counting across a rekey. Both
//! sides count the same frames, so no message is needed to agree on when.
//!
//! A direction also rekeys when its key is [`REKEY_TIME`] old (10 minutes),
//! so that a quiet link does not keep one key for days. The receiver cannot
//! know the sender's clock, so this rekey is signalled: the sender seals a
//! rekey frame ([`FRAME_REKEY`]) as the next frame and replaces its key
//! right after it; the receiver, on opening a rekey frame, does the same.
//! The frame is consumed here and never reaches the caller. A sender checks
//! the key's age before each send ([`LinkWriter::send`] and the others), and
//! an idle sender calls [`LinkWriter::rekey_if_due`] at
//! [`LinkWriter::rekey_deadline`]. Any rekey, counted or signalled, restarts
//! the clock.
//!
//! **Halves.** [`Link::into_split`] gives a [`LinkReader`] and a
//! [`LinkWriter`] for two tasks. Each keeps its own nonce counter; they
//! share the cipher pair behind a read-write lock that both take for
//! reading (sealing and opening need only shared access), and that a half
//! takes for writing only for the instant of its own rekey, once every
//! [`REKEY_FRAMES`] frames. The lock is never held across an `.await`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use snow::StatelessTransportState;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::LinkError;
use super::identity::KEY_SIZE;
use crate::wire::{
    FRAME_PADDING, FRAME_REKEY, FRAME_SIZE, Frame, FrameDecoder, Message, WIRE_FRAME_SIZE,
    check_rekey_frame, encode_frames_into, padding_frame, rekey_frame,
};

/// Frames each direction seals under one key before it rekeys: 2^16 frames,
/// 64 MiB on the wire.
pub const REKEY_FRAMES: u64 = 1 << 16;

/// How long a direction keeps one key before it rekeys with a signalled
/// rekey frame, however few frames it sent: 10 minutes.
pub const REKEY_TIME: Duration = Duration::from_secs(600);

/// A deadline far enough away to mean "never" without overflowing.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Bytes read from the socket at a time.
const READ_BUFFER: usize = 64 * 1024;

type Cipher = Arc<RwLock<StatelessTransportState>>;

/// An open, authenticated link to one peer.
///
/// Use it whole from one task, or [`split`](Link::into_split) it into a
/// reader and a writer for two.
pub struct Link {
    reader: LinkReader,
    writer: LinkWriter,
    /// The listening address the initiator announced in handshake message
    /// 3 (known only to a responder, and only if the initiator sent one).
    remote_listen: Option<SocketAddr>,
}

impl Link {
    /// A link over `stream` whose handshake produced `state`.
    pub(super) fn new(
        stream: TcpStream,
        state: StatelessTransportState,
        remote: [u8; KEY_SIZE],
    ) -> Link {
        let peer_addr = stream.peer_addr().ok();
        let (read, write) = stream.into_split();
        let cipher: Cipher = Arc::new(RwLock::new(state));
        Link {
            reader: LinkReader {
                stream: BufReader::with_capacity(READ_BUFFER, read),
                cipher: Arc::clone(&cipher),
                nonce: 0,
                rekey_every: REKEY_FRAMES,
                buf: Box::new([0; WIRE_FRAME_SIZE]),
                filled: 0,
                decoder: FrameDecoder::new(),
                broken: false,
                rekeys: 0,
                padding: 0,
                remote,
                peer_addr,
            },
            writer: LinkWriter {
                stream: write,
                cipher,
                nonce: 0,
                rekey_every: REKEY_FRAMES,
                out: Vec::new(),
                frames: Vec::new(),
                broken: false,
                rekey_after: REKEY_TIME,
                keyed_at: Instant::now(),
                rekeys: 0,
                remote,
                peer_addr,
            },
            remote_listen: None,
        }
    }

    /// Records the listening address the initiator announced.
    pub(super) fn with_remote_listen(mut self, addr: Option<SocketAddr>) -> Link {
        self.remote_listen = addr;
        self
    }

    /// The address the peer says it listens on, from handshake message 3
    /// (protocol §11.2). Only a responder learns it, and only from an
    /// initiator that announced one ([`Link::connect_to_listening`]);
    /// `None` otherwise. It is the peer's claim, authenticated as coming
    /// from the peer's static key but not checked in any other way.
    pub fn remote_listen_addr(&self) -> Option<SocketAddr> {
        self.remote_listen
    }

    /// The peer's static public key: pinned by the initiator, learned by the
    /// responder.
    pub fn remote_static(&self) -> [u8; KEY_SIZE] {
        self.reader.remote
    }

    /// The peer's socket address, if the socket could tell.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.reader.peer_addr
    }

    /// Splits the link into halves that two tasks can use at once.
    pub fn into_split(self) -> (LinkReader, LinkWriter) {
        (self.reader, self.writer)
    }

    /// Rekeys every `frames` frames (at least 1) instead of
    /// [`REKEY_FRAMES`]. Both ends must use the same interval, set before
    /// the first frame; it is not negotiated. For tests, which cannot
    /// afford 2^16 frames in a debug build.
    #[doc(hidden)]
    pub fn with_rekey_interval(mut self, frames: u64) -> Link {
        self.reader.rekey_every = frames.max(1);
        self.writer.rekey_every = frames.max(1);
        self
    }

    /// Rekeys the sending direction whenever its key is `after` old (at
    /// least 1 ms) instead of [`REKEY_TIME`]. Only the sender needs it: the
    /// receiver follows the rekey frames. Tests use a short interval to see
    /// rekeys happen; a node keeps the default.
    pub fn with_rekey_time(mut self, after: Duration) -> Link {
        self.writer.rekey_after = after.max(Duration::from_millis(1));
        self
    }

    /// See [`LinkWriter::send`].
    pub async fn send(&mut self, frame: &Frame) -> Result<(), LinkError> {
        self.writer.send(frame).await
    }

    /// See [`LinkWriter::send_message`].
    pub async fn send_message(&mut self, msg: &Message) -> Result<(), LinkError> {
        self.writer.send_message(msg).await
    }

    /// See [`LinkWriter::send_padding`].
    pub async fn send_padding(&mut self) -> Result<(), LinkError> {
        self.writer.send_padding().await
    }

    /// See [`LinkReader::recv`].
    pub async fn recv(&mut self) -> Result<Frame, LinkError> {
        self.reader.recv().await
    }

    /// See [`LinkReader::recv_message`].
    pub async fn recv_message(&mut self) -> Result<Message, LinkError> {
        self.reader.recv_message().await
    }

    /// See [`LinkWriter::shutdown`].
    pub async fn shutdown(&mut self) -> Result<(), LinkError> {
        self.writer.shutdown().await
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("reader", &self.reader)
            .field("writer", &self.writer)
            .finish()
    }
}

/// The sending half of a link.
pub struct LinkWriter {
    stream: OwnedWriteHalf,
    cipher: Cipher,
    /// Number (and nonce) of the next frame to seal.
    nonce: u64,
    rekey_every: u64,
    /// Sealed records waiting to be written, reused between sends.
    out: Vec<u8>,
    /// Frames of the message being sent, reused between sends.
    frames: Vec<Frame>,
    broken: bool,
    /// How old the key may get before a signalled rekey.
    rekey_after: Duration,
    /// When the current key was put in place.
    keyed_at: Instant,
    /// Rekeys so far, counted and signalled.
    rekeys: u64,
    remote: [u8; KEY_SIZE],
    peer_addr: Option<SocketAddr>,
}

impl LinkWriter {
    /// Seals `frame` and sends it (after a rekey frame, if the key is due
    /// for replacement).
    ///
    /// Not cancel-safe: if the future is dropped before it completes, part
    /// of the record may have been written, and every later call returns
    /// [`LinkError::Broken`].
    pub async fn send(&mut self, frame: &Frame) -> Result<(), LinkError> {
        self.send_frames(std::slice::from_ref(frame)).await
    }

    /// Seals `frames` in order and sends them with one write.
    ///
    /// Not cancel-safe, as [`LinkWriter::send`].
    pub async fn send_frames(&mut self, frames: &[Frame]) -> Result<(), LinkError> {
        if self.broken {
            return Err(LinkError::Broken);
        }
        self.out.clear();
        self.seal_rekey_if_due()?;
        for frame in frames {
            self.seal(frame)?;
        }
        self.flush_out().await
    }

    /// Cuts `msg` into frames ([`encode_frames_into`]) and sends them back
    /// to back. Fails with [`LinkError::Wire`], sending nothing, if the
    /// message cannot be encoded.
    ///
    /// Not cancel-safe, as [`LinkWriter::send`].
    pub async fn send_message(&mut self, msg: &Message) -> Result<(), LinkError> {
        if self.broken {
            return Err(LinkError::Broken);
        }
        let mut frames = std::mem::take(&mut self.frames);
        frames.clear();
        let encoded = encode_frames_into(msg, &mut frames);
        let sealed = encoded.map_err(LinkError::from).and_then(|_| {
            self.out.clear();
            self.seal_rekey_if_due()?;
            frames.iter().try_for_each(|frame| self.seal(frame))
        });
        self.frames = frames;
        sealed?;
        self.flush_out().await
    }

    /// Sends one padding frame ([`padding_frame`]), which the receiver's
    /// [`LinkReader::recv_message`] skips. On the wire it looks like any
    /// other frame.
    pub async fn send_padding(&mut self) -> Result<(), LinkError> {
        self.send(&padding_frame()).await
    }

    /// When the current key becomes due for a signalled rekey. An idle
    /// sender should call [`LinkWriter::rekey_if_due`] then; a busy one
    /// rekeys on its next send anyway.
    pub fn rekey_deadline(&self) -> Instant {
        self.keyed_at
            .checked_add(self.rekey_after)
            .unwrap_or_else(|| Instant::now() + FAR_FUTURE)
    }

    /// If the key is due ([`LinkWriter::rekey_deadline`] has passed), sends
    /// a rekey frame and replaces the key; otherwise does nothing.
    ///
    /// Not cancel-safe, as [`LinkWriter::send`].
    pub async fn rekey_if_due(&mut self) -> Result<(), LinkError> {
        if self.broken {
            return Err(LinkError::Broken);
        }
        self.out.clear();
        self.seal_rekey_if_due()?;
        if self.out.is_empty() {
            return Ok(());
        }
        self.flush_out().await
    }

    /// Times this direction has replaced its key, by frame count or by
    /// time.
    pub fn rekeys(&self) -> u64 {
        self.rekeys
    }

    /// Closes the sending direction cleanly: the peer's next
    /// [`LinkReader::recv`] returns [`LinkError::Closed`].
    pub async fn shutdown(&mut self) -> Result<(), LinkError> {
        self.broken = true;
        self.stream.shutdown().await?;
        Ok(())
    }

    /// Frames sealed so far in this direction.
    pub fn frames_sent(&self) -> u64 {
        self.nonce
    }

    /// The peer's static public key.
    pub fn remote_static(&self) -> [u8; KEY_SIZE] {
        self.remote
    }

    /// Seals `frame` as the next frame and appends the record to `out`,
    /// rekeying after the last frame of a key period and after a rekey
    /// frame.
    fn seal(&mut self, frame: &Frame) -> Result<(), LinkError> {
        if self.nonce == u64::MAX {
            self.broken = true;
            return Err(LinkError::NonceExhausted);
        }
        let start = self.out.len();
        self.out.resize(start + WIRE_FRAME_SIZE, 0);
        let sealed = self
            .cipher
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .write_message(self.nonce, frame, &mut self.out[start..]);
        match sealed {
            Ok(WIRE_FRAME_SIZE) => {}
            Ok(len) => {
                self.broken = true;
                return Err(LinkError::Handshake {
                    stage: "sealing a frame",
                    reason: format!("sealed frame is {len} bytes, not {WIRE_FRAME_SIZE}"),
                });
            }
            Err(e) => {
                self.broken = true;
                return Err(LinkError::noise("sealing a frame", e));
            }
        }
        self.nonce += 1;
        if self.nonce % self.rekey_every == 0 {
            self.rekey_outgoing();
        }
        // Whoever built the frame, a rekey frame means a new key after it:
        // the receiver replaces its key on every one it opens.
        if frame[0] == FRAME_REKEY {
            self.rekey_outgoing();
        }
        Ok(())
    }

    /// Seals a rekey frame (which replaces the key after it), if the key is
    /// [`REKEY_TIME`] old (or as set). If the rekey frame also ends a
    /// counted key period, the key is replaced twice, as the receiver does.
    fn seal_rekey_if_due(&mut self) -> Result<(), LinkError> {
        if self.keyed_at.elapsed() < self.rekey_after {
            return Ok(());
        }
        self.seal(&rekey_frame())
    }

    fn rekey_outgoing(&mut self) {
        self.cipher
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .rekey_outgoing();
        self.rekeys += 1;
        self.keyed_at = Instant::now();
    }

    /// Writes the sealed records in `out`. The link counts as broken while
    /// the write is in progress, so a cancelled write leaves it broken.
    async fn flush_out(&mut self) -> Result<(), LinkError> {
        self.broken = true;
        self.stream.write_all(&self.out).await?;
        self.broken = false;
        Ok(())
    }
}

impl fmt::Debug for LinkWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkWriter")
            .field("peer_addr", &self.peer_addr)
            .field("frames_sent", &self.nonce)
            .field("rekey_every", &self.rekey_every)
            .field("rekey_after", &self.rekey_after)
            .field("rekeys", &self.rekeys)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// The receiving half of a link.
pub struct LinkReader {
    stream: BufReader<OwnedReadHalf>,
    cipher: Cipher,
    /// Number (and nonce) of the next frame to open.
    nonce: u64,
    rekey_every: u64,
    /// The record being read, `filled` bytes of it so far.
    buf: Box<[u8; WIRE_FRAME_SIZE]>,
    filled: usize,
    decoder: FrameDecoder,
    broken: bool,
    /// Rekeys so far, counted and signalled.
    rekeys: u64,
    /// Padding frames skipped by `recv_message`.
    padding: u64,
    remote: [u8; KEY_SIZE],
    peer_addr: Option<SocketAddr>,
}

impl LinkReader {
    /// Receives and opens the next frame. Rekey frames are consumed here
    /// (the key is replaced after each) and never returned.
    ///
    /// Cancel-safe: a partly read record is kept for the next call, so this
    /// can sit in a `tokio::select!` loop.
    ///
    /// Errors, each ending the link: [`LinkError::Closed`] (the peer closed
    /// the connection between frames), [`LinkError::Truncated`] (inside a
    /// frame), [`LinkError::Decrypt`], [`LinkError::Io`]. A rekey frame with
    /// a non-zero byte after its type is [`LinkError::Wire`]; the key is
    /// replaced all the same, so the link stays in step.
    pub async fn recv(&mut self) -> Result<Frame, LinkError> {
        loop {
            let frame = self.recv_any().await?;
            if frame[0] != FRAME_REKEY {
                return Ok(frame);
            }
            self.rekey_incoming();
            check_rekey_frame(&frame)?;
        }
    }

    /// Receives and opens the next frame, whatever its type.
    async fn recv_any(&mut self) -> Result<Frame, LinkError> {
        if self.broken {
            return Err(LinkError::Broken);
        }
        while self.filled < WIRE_FRAME_SIZE {
            let read = self.stream.read(&mut self.buf[self.filled..]).await;
            match read {
                Ok(0) => {
                    self.broken = true;
                    return Err(if self.filled == 0 {
                        LinkError::Closed
                    } else {
                        LinkError::Truncated { got: self.filled }
                    });
                }
                Ok(n) => self.filled += n,
                Err(e) => {
                    self.broken = true;
                    return Err(e.into());
                }
            }
        }
        self.filled = 0;
        self.open()
    }

    /// Receives frames until they complete a message, skipping padding
    /// frames, and returns it.
    ///
    /// Cancel-safe, like [`LinkReader::recv`]. Errors: those of `recv`, and
    /// [`LinkError::Wire`] when authentic frames do not make a valid message
    /// (the link stays usable; the node decides what to do with the peer).
    /// Mixing this with `recv` hands the frames `recv` takes to no one.
    pub async fn recv_message(&mut self) -> Result<Message, LinkError> {
        loop {
            let frame = self.recv().await?;
            if let Some(msg) = self.decoder.push(&frame)? {
                return Ok(msg);
            }
            if frame[0] == FRAME_PADDING {
                self.padding += 1;
            }
        }
    }

    /// Frames opened so far in this direction, of every type.
    pub fn frames_received(&self) -> u64 {
        self.nonce
    }

    /// Padding frames [`LinkReader::recv_message`] has skipped.
    pub fn padding_received(&self) -> u64 {
        self.padding
    }

    /// Times this direction has replaced its key, by frame count or on a
    /// rekey frame.
    pub fn rekeys(&self) -> u64 {
        self.rekeys
    }

    /// The peer's static public key.
    pub fn remote_static(&self) -> [u8; KEY_SIZE] {
        self.remote
    }

    /// Opens the record in `buf` as the next frame, rekeying after the last
    /// frame of a key period.
    fn open(&mut self) -> Result<Frame, LinkError> {
        if self.nonce == u64::MAX {
            self.broken = true;
            return Err(LinkError::NonceExhausted);
        }
        let mut frame = [0u8; FRAME_SIZE];
        let opened = self
            .cipher
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .read_message(self.nonce, &self.buf[..], &mut frame);
        if !matches!(opened, Ok(FRAME_SIZE)) {
            self.broken = true;
            tracing::debug!(frame = self.nonce, peer = ?self.peer_addr, "frame failed to decrypt");
            return Err(LinkError::Decrypt { frame: self.nonce });
        }
        self.nonce += 1;
        if self.nonce % self.rekey_every == 0 {
            self.rekey_incoming();
        }
        Ok(frame)
    }

    fn rekey_incoming(&mut self) {
        self.cipher
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .rekey_incoming();
        self.rekeys += 1;
    }
}

impl fmt::Debug for LinkReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkReader")
            .field("peer_addr", &self.peer_addr)
            .field("frames_received", &self.nonce)
            .field("rekey_every", &self.rekey_every)
            .field("rekeys", &self.rekeys)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}
