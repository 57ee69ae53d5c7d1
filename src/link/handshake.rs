//! The Noise handshake that opens a link.
//!
//! Pattern [`NOISE_PATTERN`] (`Noise_XK_25519_ChaChaPoly_SHA256`), prologue
//! [`PROLOGUE`]:
//!
//! ```text
//! XK:
//!   <- s                 (the initiator knows the responder's static key)
//!   ...
//!   -> e, es             message 1
//!   <- e, ee             message 2
//!   -> s, se             message 3
//! ```
//!
//! The initiator pins the responder's static key (from its node reference);
//! the responder learns the initiator's static key from message 3. Every
//! message is padded to exactly [`WIRE_FRAME_SIZE`] bytes on the wire by
//! giving it a payload of zeros ([`HANDSHAKE_PAYLOAD_SIZES`]); a receiver
//! requires the decrypted payload to be exactly that many zeros. So the
//! handshake looks like three transport frames to an observer.
//!
//! One exception: message 3's payload may start with the initiator's
//! listening address (the encoding of a wire node reference's address:
//! family byte 4 or 6, the address, the port big-endian), the rest still
//! zeros. A responder cannot learn it otherwise (the TCP source port is
//! ephemeral), and needs it to name the initiator to others. A payload
//! starting with a zero byte announces no address.
//!
//! TCP_NODELAY is set on the socket: frames are written whole, and Nagle's
//! algorithm would only delay them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use snow::{Builder, HandshakeState, StatelessTransportState};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::LinkError;
use super::identity::{Identity, KEY_SIZE, is_small_order};
use super::transport::Link;
use crate::wire::{LINK_TAG_SIZE, NodeRef, WIRE_FRAME_SIZE};

/// The Noise protocol name of the handshake.
pub const NOISE_PATTERN: &str = "Noise_XK_25519_ChaChaPoly_SHA256";

/// The Noise prologue: both sides mix it into the handshake hash, so a peer
/// speaking another protocol or version fails the handshake.
pub const PROLOGUE: &[u8] = b"fogstore/link/v1";

/// How long [`Link::connect`] and [`Link::accept`] wait for the whole
/// handshake, unless told otherwise.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of an X25519 public key in a handshake message (`e` or `s`).
const DH_LEN: usize = KEY_SIZE;

/// Zero-payload sizes of handshake messages 1, 2 and 3, chosen so that each
/// message is exactly [`WIRE_FRAME_SIZE`] bytes:
///
/// - message 1 (`e, es`): 32 bytes of `e`, then the payload encrypted (+16);
/// - message 2 (`e, ee`): the same;
/// - message 3 (`s, se`): 48 bytes of encrypted `s` (32 + 16), then the
///   payload encrypted (+16).
pub const HANDSHAKE_PAYLOAD_SIZES: [usize; 3] = [
    WIRE_FRAME_SIZE - DH_LEN - LINK_TAG_SIZE,
    WIRE_FRAME_SIZE - DH_LEN - LINK_TAG_SIZE,
    WIRE_FRAME_SIZE - (DH_LEN + LINK_TAG_SIZE) - LINK_TAG_SIZE,
];

const _: () = assert!(HANDSHAKE_PAYLOAD_SIZES[0] == 976);
const _: () = assert!(HANDSHAKE_PAYLOAD_SIZES[2] == 960);

impl Link {
    /// Opens a link as the initiator over an established TCP connection,
    /// pinning the responder's static public key `remote`.
    ///
    /// Fails with [`LinkError::Timeout`] if the handshake takes longer than
    /// `timeout`, and with [`LinkError::PeerKeyMismatch`] if the responder
    /// hangs up after message 1 (its key is not `remote`).
    pub async fn connect(
        mut stream: TcpStream,
        identity: &Identity,
        remote: &[u8; KEY_SIZE],
        timeout: Duration,
    ) -> Result<Link, LinkError> {
        stream.set_nodelay(true)?;
        let state = tokio::time::timeout(timeout, initiate(&mut stream, identity, remote, None))
            .await
            .map_err(|_| LinkError::Timeout { after: timeout })??;
        tracing::debug!(peer = ?stream.peer_addr().ok(), "link handshake complete (initiator)");
        Ok(Link::new(stream, state, *remote))
    }

    /// Connects to `node` over TCP and opens a link as the initiator, pinning
    /// `node.identity`. `timeout` bounds the TCP connection and the handshake
    /// together.
    pub async fn connect_to(
        node: &NodeRef,
        identity: &Identity,
        timeout: Duration,
    ) -> Result<Link, LinkError> {
        Link::connect_to_listening(node, identity, None, timeout).await
    }

    /// As [`Link::connect_to`], and tells the responder where this node
    /// listens: `listening` goes at the start of handshake message 3's
    /// payload (protocol §11.2), and the responder reads it back with
    /// [`Link::remote_listen_addr`]. `None` sends the all-zero payload.
    pub async fn connect_to_listening(
        node: &NodeRef,
        identity: &Identity,
        listening: Option<SocketAddr>,
        timeout: Duration,
    ) -> Result<Link, LinkError> {
        // Before connecting: such a key could be anyone's.
        refuse_small_order(&node.identity, "pinned static key")?;
        let addr: SocketAddr = node.addr;
        let work = async {
            let mut stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let state = initiate(&mut stream, identity, &node.identity, listening).await?;
            Ok::<_, LinkError>((stream, state))
        };
        let (stream, state) = tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| LinkError::Timeout { after: timeout })??;
        tracing::debug!(%addr, "link handshake complete (initiator)");
        Ok(Link::new(stream, state, node.identity))
    }

    /// Answers a link opened by an initiator on an accepted TCP connection.
    /// Returns the link and the initiator's static public key, which only
    /// the handshake reveals. The initiator's listening address, if it
    /// announced one, is [`Link::remote_listen_addr`].
    ///
    /// Bytes that are not a handshake for this identity fail with
    /// [`LinkError::PeerKeyMismatch`], [`LinkError::Handshake`],
    /// [`LinkError::BadHandshakePadding`], [`LinkError::Truncated`] or
    /// [`LinkError::Closed`]; a silent peer with [`LinkError::Timeout`].
    pub async fn accept(
        mut stream: TcpStream,
        identity: &Identity,
        timeout: Duration,
    ) -> Result<(Link, [u8; KEY_SIZE]), LinkError> {
        stream.set_nodelay(true)?;
        let (state, remote, listening) =
            tokio::time::timeout(timeout, respond(&mut stream, identity))
                .await
                .map_err(|_| LinkError::Timeout { after: timeout })??;
        tracing::debug!(peer = ?stream.peer_addr().ok(), ?listening, "link handshake complete (responder)");
        let link = Link::new(stream, state, remote).with_remote_listen(listening);
        Ok((link, remote))
    }
}

/// A handshake state for `identity` with the protocol's pattern and prologue.
fn builder<'a>(identity: &'a Identity) -> Result<Builder<'a>, LinkError> {
    let params = NOISE_PATTERN
        .parse()
        .map_err(|e| LinkError::noise("setting up", e))?;
    Builder::new(params)
        .local_private_key(identity.private())
        .and_then(|b| b.prologue(PROLOGUE))
        .map_err(|e| LinkError::noise("setting up", e))
}

async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &Identity,
    remote: &[u8; KEY_SIZE],
    listening: Option<SocketAddr>,
) -> Result<StatelessTransportState, LinkError> {
    refuse_small_order(remote, "pinned static key")?;
    let mut hs = builder(identity)?
        .remote_public_key(remote)
        .and_then(|b| b.build_initiator())
        .map_err(|e| LinkError::noise("setting up", e))?;
    let mut buf = [0u8; WIRE_FRAME_SIZE];

    write_padded_with(&mut hs, 1, &[], &mut buf)?;
    stream.write_all(&buf).await?;

    match read_record(stream, &mut buf).await {
        Err(LinkError::Closed) => {
            return Err(LinkError::PeerKeyMismatch {
                detail: "the responder closed the connection after message 1: \
                         its static key is not the pinned one",
            });
        }
        other => other?,
    }
    refuse_small_order(&ephemeral(&buf), "responder's ephemeral key")?;
    read_padded(&mut hs, 2, &buf)?;

    let prefix = listening.map(encode_addr).unwrap_or_default();
    write_padded_with(&mut hs, 3, &prefix, &mut buf)?;
    stream.write_all(&buf).await?;

    hs.into_stateless_transport_mode()
        .map_err(|e| LinkError::noise("entering transport mode", e))
}

/// Answers a handshake as the responder over any byte stream, and returns
/// what the initiator proved and announced: its static public key and its
/// listening address, if any. The transport keys are dropped; this is the
/// whole of what [`Link::accept`] checks, without a socket, so that tests
/// and the `handshake` fuzz target (docs/fuzzing.md) can drive the
/// responder from memory (for example over `tokio::io::duplex`). It fails
/// as [`Link::accept`] does, and has no deadline of its own.
pub async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &Identity,
) -> Result<([u8; KEY_SIZE], Option<SocketAddr>), LinkError> {
    let (_, remote, listening) = respond(stream, identity).await?;
    Ok((remote, listening))
}

async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    identity: &Identity,
) -> Result<(StatelessTransportState, [u8; KEY_SIZE], Option<SocketAddr>), LinkError> {
    let mut hs = builder(identity)?
        .build_responder()
        .map_err(|e| LinkError::noise("setting up", e))?;
    let mut buf = [0u8; WIRE_FRAME_SIZE];

    read_record(stream, &mut buf).await?;
    read_padded(&mut hs, 1, &buf)?;
    // Checked after message 1 decrypted, so that bytes that are no
    // handshake for this node still read as one (PeerKeyMismatch).
    refuse_small_order(&ephemeral(&buf), "initiator's ephemeral key")?;

    write_padded_with(&mut hs, 2, &[], &mut buf)?;
    stream.write_all(&buf).await?;

    read_record(stream, &mut buf).await?;
    let listening = read_padded(&mut hs, 3, &buf)?;

    let remote: [u8; KEY_SIZE] = hs
        .get_remote_static()
        .and_then(|s| s.try_into().ok())
        .ok_or(LinkError::Handshake {
            stage: "reading message 3",
            reason: "no 32-byte initiator static key after message 3".into(),
        })?;
    refuse_small_order(&remote, "initiator's static key")?;
    let state = hs
        .into_stateless_transport_mode()
        .map_err(|e| LinkError::noise("entering transport mode", e))?;
    Ok((state, remote, listening))
}

/// The ephemeral key a handshake message 1 or 2 starts with, in clear.
fn ephemeral(record: &[u8; WIRE_FRAME_SIZE]) -> [u8; KEY_SIZE] {
    std::array::from_fn(|i| record[i])
}

/// [`LinkError::SmallOrderKey`] if `key` is of small order.
fn refuse_small_order(key: &[u8; KEY_SIZE], which: &'static str) -> Result<(), LinkError> {
    if is_small_order(key) {
        return Err(LinkError::SmallOrderKey { which });
    }
    Ok(())
}

const WRITE_STAGES: [&str; 3] = [
    "writing message 1",
    "writing message 2",
    "writing message 3",
];
const READ_STAGES: [&str; 3] = [
    "reading message 1",
    "reading message 2",
    "reading message 3",
];

/// Writes handshake message `number` (1 to 3) into `buf`, with the zero
/// payload that makes it exactly [`WIRE_FRAME_SIZE`] bytes.
#[cfg(test)]
fn write_padded(
    hs: &mut HandshakeState,
    number: u8,
    buf: &mut [u8; WIRE_FRAME_SIZE],
) -> Result<(), LinkError> {
    write_padded_with(hs, number, &[], buf)
}

/// Writes handshake message `number` (1 to 3) into `buf`, its payload
/// `prefix` followed by the zeros that make it exactly [`WIRE_FRAME_SIZE`]
/// bytes. Only message 3 carries a non-empty prefix.
fn write_padded_with(
    hs: &mut HandshakeState,
    number: u8,
    prefix: &[u8],
    buf: &mut [u8; WIRE_FRAME_SIZE],
) -> Result<(), LinkError> {
    let i = usize::from(number - 1);
    let mut payload = [0u8; WIRE_FRAME_SIZE];
    payload[..prefix.len()].copy_from_slice(prefix);
    let len = hs
        .write_message(&payload[..HANDSHAKE_PAYLOAD_SIZES[i]], buf)
        .map_err(|e| LinkError::noise(WRITE_STAGES[i], e))?;
    if len != WIRE_FRAME_SIZE {
        // Cannot happen with this pattern; refuse rather than send a
        // message of a telling size.
        return Err(LinkError::Handshake {
            stage: WRITE_STAGES[i],
            reason: format!("message is {len} bytes, not {WIRE_FRAME_SIZE}"),
        });
    }
    Ok(())
}

/// Reads handshake message `number` (1 to 3) from `buf` and checks that its
/// payload is exactly the expected number of zeros, except that message 3
/// may start with a listening address, which is returned.
fn read_padded(
    hs: &mut HandshakeState,
    number: u8,
    buf: &[u8; WIRE_FRAME_SIZE],
) -> Result<Option<SocketAddr>, LinkError> {
    let i = usize::from(number - 1);
    let mut payload = [0u8; WIRE_FRAME_SIZE];
    let len = hs.read_message(buf, &mut payload).map_err(|e| match e {
        // Only the responder's static key (and `e`) go into message 1's
        // cipher key, so this is the responder's signal of a wrong pin.
        snow::Error::Decrypt if number == 1 => LinkError::PeerKeyMismatch {
            detail: "message 1 does not decrypt under this node's static key \
                     (the initiator pinned another key, or is not a fogstore peer)",
        },
        e => LinkError::noise(READ_STAGES[i], e),
    })?;
    let expected = HANDSHAKE_PAYLOAD_SIZES[i];
    let bad = LinkError::BadHandshakePadding {
        message: number,
        expected,
    };
    if len != expected {
        return Err(bad);
    }
    let (listening, used) = if number == 3 {
        decode_addr(&payload[..len]).ok_or(bad)?
    } else {
        (None, 0)
    };
    if payload[used..len].iter().any(|&b| b != 0) {
        return Err(LinkError::BadHandshakePadding {
            message: number,
            expected,
        });
    }
    Ok(listening)
}

/// A listening address as message 3's payload starts with it: the address
/// part of a wire node reference (§9): family byte 4 or 6, the address
/// bytes, the port big-endian.
fn encode_addr(addr: SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(19);
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

/// The listening address at the start of `payload` and the bytes it takes:
/// `(None, 0)` if the first byte is 0 (no address), `None` if the family
/// byte is unknown.
fn decode_addr(payload: &[u8]) -> Option<(Option<SocketAddr>, usize)> {
    let port = |at: usize| {
        Some(u16::from_be_bytes(
            payload.get(at..at + 2)?.try_into().ok()?,
        ))
    };
    match payload.first()? {
        0 => Some((None, 0)),
        4 => {
            let ip: [u8; 4] = payload.get(1..5)?.try_into().ok()?;
            Some((
                Some(SocketAddr::new(Ipv4Addr::from(ip).into(), port(5)?)),
                7,
            ))
        }
        6 => {
            let ip: [u8; 16] = payload.get(1..17)?.try_into().ok()?;
            Some((
                Some(SocketAddr::new(Ipv6Addr::from(ip).into(), port(17)?)),
                19,
            ))
        }
        _ => None,
    }
}

/// Reads exactly one [`WIRE_FRAME_SIZE`]-byte record: [`LinkError::Closed`]
/// if the stream ends before its first byte, [`LinkError::Truncated`] if it
/// ends inside it.
pub(super) async fn read_record<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut [u8; WIRE_FRAME_SIZE],
) -> Result<(), LinkError> {
    let mut filled = 0;
    while filled < WIRE_FRAME_SIZE {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(if filled == 0 {
                LinkError::Closed
            } else {
                LinkError::Truncated { got: filled }
            });
        }
        filled += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An initiator identity and the handshake states of an initiator and a
    /// responder whose private keys are all `a` and all `b` bytes.
    fn pair(a: u8, b: u8) -> (Identity, snow::HandshakeState, snow::HandshakeState) {
        let initiator = Identity::from_private([a; 32]);
        let responder = Identity::from_private([b; 32]);
        let i = builder(&initiator)
            .unwrap()
            .remote_public_key(&responder.public())
            .unwrap()
            .build_initiator()
            .unwrap();
        let r = builder(&responder).unwrap().build_responder().unwrap();
        (initiator, i, r)
    }

    /// The padding sizes agree with what `snow` actually produces: run the
    /// three messages with empty payloads and measure the overhead.
    #[test]
    fn payload_sizes_follow_snows_message_overhead() {
        let (initiator, mut i, mut r) = pair(1, 2);
        let mut msg = [0u8; 200];
        let mut out = [0u8; 200];
        let mut overhead = [0; 3];
        overhead[0] = i.write_message(&[], &mut msg).unwrap();
        assert_eq!(r.read_message(&msg[..overhead[0]], &mut out).unwrap(), 0);
        overhead[1] = r.write_message(&[], &mut msg).unwrap();
        assert_eq!(i.read_message(&msg[..overhead[1]], &mut out).unwrap(), 0);
        overhead[2] = i.write_message(&[], &mut msg).unwrap();
        assert_eq!(r.read_message(&msg[..overhead[2]], &mut out).unwrap(), 0);
        assert_eq!(overhead, [48, 48, 64]);
        for (o, p) in overhead.iter().zip(HANDSHAKE_PAYLOAD_SIZES) {
            assert_eq!(o + p, WIRE_FRAME_SIZE);
        }
        assert_eq!(r.get_remote_static(), Some(&initiator.public()[..]));
    }

    /// Every padded handshake message is exactly one wire frame, and a
    /// non-zero payload is refused.
    #[test]
    fn padded_messages_are_frame_sized_and_payload_is_checked() {
        let (_, mut i, mut r) = pair(3, 4);
        let mut buf = [0u8; WIRE_FRAME_SIZE];
        write_padded(&mut i, 1, &mut buf).unwrap();
        read_padded(&mut r, 1, &buf).unwrap();

        // Message 2 with one non-zero payload byte, otherwise well formed.
        let mut payload = [0u8; HANDSHAKE_PAYLOAD_SIZES[1]];
        payload[500] = 1;
        assert_eq!(
            r.write_message(&payload, &mut buf).unwrap(),
            WIRE_FRAME_SIZE
        );
        assert!(matches!(
            read_padded(&mut i, 2, &buf),
            Err(LinkError::BadHandshakePadding {
                message: 2,
                expected: 976
            })
        ));
    }

    /// Message 3 carries an optional listening address, and nothing else.
    #[test]
    fn message_3_carries_a_listening_address() {
        for addr in ["127.0.0.1:9000", "[2001:db8::1]:443"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let bytes = encode_addr(addr);
            let mut payload = [0u8; HANDSHAKE_PAYLOAD_SIZES[2]];
            payload[..bytes.len()].copy_from_slice(&bytes);
            assert_eq!(decode_addr(&payload), Some((Some(addr), bytes.len())));
        }
        assert_eq!(decode_addr(&[0u8; 960]), Some((None, 0)));
        assert_eq!(decode_addr(&[5u8; 960]), None);
        assert_eq!(decode_addr(&[4, 1, 2]), None);
        // The address without its port: refused, never read past the end.
        assert_eq!(decode_addr(&[4, 1, 2, 3, 4, 5]), None);
        assert_eq!(decode_addr(&[6; 18]), None);
    }

    /// [`answer`] runs the responder over an in-memory stream: an honest
    /// initiator is answered with its key and address, one that pinned
    /// another key is told apart from a broken handshake.
    #[tokio::test]
    async fn answer_drives_the_responder_from_memory() {
        let initiator = Identity::from_private([5; 32]);
        let responder = Identity::from_private([6; 32]);
        let listening: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let (pinned, wrong) = (responder.public(), Identity::from_private([7; 32]).public());
        let (mut a, mut b) = tokio::io::duplex(4 * WIRE_FRAME_SIZE);
        let (dialled, answered) = tokio::join!(
            initiate(&mut a, &initiator, &pinned, Some(listening)),
            answer(&mut b, &responder),
        );
        dialled.unwrap();
        assert_eq!(answered.unwrap(), (initiator.public(), Some(listening)));

        let (mut a, mut b) = tokio::io::duplex(4 * WIRE_FRAME_SIZE);
        let (_, answered) = tokio::join!(initiate(&mut a, &initiator, &wrong, None), async {
            let answered = answer(&mut b, &responder).await;
            drop(b);
            answered
        },);
        assert!(matches!(answered, Err(LinkError::PeerKeyMismatch { .. })));
    }
}
