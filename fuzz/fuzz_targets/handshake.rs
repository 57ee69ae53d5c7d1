//! The Noise handshake responder, `link::handshake::answer`: what a node
//! does with the first three records of every inbound connection.
//!
//! Input layout: the first byte picks a mode, the rest is its data.
//!
//! - `0` raw: up to three records of arbitrary bytes (the last may be
//!   short, then the stream ends) as the initiator's messages. Without the
//!   responder's static key nobody completes a handshake, so the responder
//!   must refuse every one.
//! - `1` payload: an honest initiator (built here with `snow`, from the
//!   pattern and prologue in docs/protocol.md §11.2) whose message 3
//!   payload is the data, zero-padded or cut to its 960 bytes. The
//!   responder must accept exactly the payloads the specification allows
//!   (a zero first byte and all zeros; or family 4 or 6, the address, the
//!   port, then zeros), return the initiator's key and the address, and
//!   refuse every other payload as bad padding of message 3.
//! - `2` tamper: an honest initiator whose message 1 or 3 (data byte 0)
//!   has bytes XORed with the data from byte 3 on, starting at the offset
//!   in data bytes 1–2. Any change must be refused; no change must be
//!   accepted.
//!
//! Properties: the responder never panics and never hangs (it is driven
//! over `tokio::io::duplex` on a current-thread runtime); the outcomes are
//! as above.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use fogstore::link::handshake::{HANDSHAKE_PAYLOAD_SIZES, NOISE_PATTERN, PROLOGUE, answer};
use fogstore::link::{Identity, LinkError, WIRE_FRAME_SIZE};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const RESPONDER: [u8; 32] = [0x42; 32];
const INITIATOR: [u8; 32] = [0x17; 32];
/// The initiator's ephemeral private key, fixed so that a run is
/// reproducible (the responder's own is random, and the outcome does not
/// depend on it).
const EPHEMERAL: [u8; 32] = [0x23; 32];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        match mode % 3 {
            0 => raw(data).await,
            1 => payload(data).await,
            _ => tamper(data).await,
        }
    });
});

/// Runs the responder against `initiator`, which gets the other end of the
/// stream; the responder's end is closed as soon as it has answered, as
/// `Link::accept` would on failure.
async fn respond_to<F>(initiator: F) -> Result<([u8; 32], Option<SocketAddr>), LinkError>
where
    F: AsyncFnOnce(DuplexStream),
{
    let responder = Identity::from_private(RESPONDER);
    let (ours, mut theirs) = tokio::io::duplex(4 * WIRE_FRAME_SIZE);
    let (answered, ()) = tokio::join!(
        async {
            let answered = answer(&mut theirs, &responder).await;
            drop(theirs);
            answered
        },
        initiator(ours),
    );
    answered
}

async fn raw(data: &[u8]) {
    let records: Vec<&[u8]> = data.chunks(WIRE_FRAME_SIZE).take(3).collect();
    let answered = respond_to(async |mut stream: DuplexStream| {
        let mut reply = [0u8; WIRE_FRAME_SIZE];
        for record in records {
            if stream.write_all(record).await.is_err() {
                return;
            }
            if record.len() == WIRE_FRAME_SIZE && stream.read_exact(&mut reply).await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(answered.is_err(), "random bytes completed a handshake");
}

/// An honest initiator; `message_3` is its message 3 payload, and
/// `tamper` may change a message (1 or 3) on the wire before it is sent.
async fn honest(
    mut stream: DuplexStream,
    message_3: &[u8; HANDSHAKE_PAYLOAD_SIZES[2]],
    tamper: impl Fn(u8, &mut [u8; WIRE_FRAME_SIZE]),
) {
    let responder = Identity::from_private(RESPONDER).public();
    let mut hs = snow::Builder::new(NOISE_PATTERN.parse().expect("the pattern"))
        .local_private_key(&INITIATOR)
        .and_then(|b| b.remote_public_key(&responder))
        .and_then(|b| b.prologue(PROLOGUE))
        .expect("a builder")
        .fixed_ephemeral_key_for_testing_only(&EPHEMERAL)
        .build_initiator()
        .expect("an initiator");
    let mut buf = [0u8; WIRE_FRAME_SIZE];
    let mut scratch = [0u8; WIRE_FRAME_SIZE];
    let n = hs
        .write_message(&[0u8; HANDSHAKE_PAYLOAD_SIZES[0]], &mut buf)
        .expect("message 1");
    assert_eq!(n, WIRE_FRAME_SIZE);
    tamper(1, &mut buf);
    if stream.write_all(&buf).await.is_err() || stream.read_exact(&mut buf).await.is_err() {
        return;
    }
    hs.read_message(&buf, &mut scratch)
        .expect("message 2 from an honest responder");
    let n = hs.write_message(message_3, &mut buf).expect("message 3");
    assert_eq!(n, WIRE_FRAME_SIZE);
    tamper(3, &mut buf);
    let _ = stream.write_all(&buf).await;
}

/// What the specification says a message 3 payload announces: `Some(None)`
/// for no address, `Some(Some(addr))`, or `None` if the payload is refused.
fn model(payload: &[u8]) -> Option<Option<SocketAddr>> {
    let (addr, used) = match payload[0] {
        0 => (None, 0),
        4 => {
            let ip: [u8; 4] = payload[1..5].try_into().ok()?;
            let port = u16::from_be_bytes([payload[5], payload[6]]);
            (
                Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
                7,
            )
        }
        6 => {
            let ip: [u8; 16] = payload[1..17].try_into().ok()?;
            let port = u16::from_be_bytes([payload[17], payload[18]]);
            (
                Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
                19,
            )
        }
        _ => return None,
    };
    payload[used..].iter().all(|&b| b == 0).then_some(addr)
}

async fn payload(data: &[u8]) {
    let mut message_3 = [0u8; HANDSHAKE_PAYLOAD_SIZES[2]];
    let n = data.len().min(message_3.len());
    message_3[..n].copy_from_slice(&data[..n]);
    let answered = respond_to(async |stream| honest(stream, &message_3, |_, _| {}).await).await;
    match (model(&message_3), answered) {
        (Some(addr), Ok((key, got))) => {
            assert_eq!(key, Identity::from_private(INITIATOR).public());
            assert_eq!(got, addr);
        }
        (None, Err(LinkError::BadHandshakePadding { message: 3, .. })) => {}
        (expected, got) => panic!(
            "payload {:?}: expected {expected:?}, got {got:?}",
            &message_3[..24]
        ),
    }
}

async fn tamper(data: &[u8]) {
    let [which, high, low, mask @ ..] = data else {
        return;
    };
    let which = if which % 2 == 0 { 1 } else { 3 };
    let offset = usize::from(u16::from_be_bytes([*high, *low])) % WIRE_FRAME_SIZE;
    let changes = mask.iter().take(WIRE_FRAME_SIZE - offset).any(|&m| m != 0);
    let change = |number: u8, record: &mut [u8; WIRE_FRAME_SIZE]| {
        if number == which {
            for (byte, m) in record[offset..].iter_mut().zip(mask) {
                *byte ^= m;
            }
        }
    };
    let answered =
        respond_to(async |stream| honest(stream, &[0u8; HANDSHAKE_PAYLOAD_SIZES[2]], change).await)
            .await;
    if changes {
        assert!(answered.is_err(), "a changed message {which} was accepted");
    } else {
        assert_eq!(
            answered.expect("an untouched handshake"),
            (Identity::from_private(INITIATOR).public(), None)
        );
    }
}
