//! `wire::FrameDecoder`: frame reassembly on untrusted frames.
//!
//! Properties: `push` never panics, and it agrees frame by frame with a
//! small reference model of `docs/protocol.md` ("Messages and frames"): the
//! same frames are accepted, the same ones rejected, the same message bytes
//! completed (and then decoded by `wire::decode`), and `is_mid_message`
//! tells the model's state. `check_rekey_frame` accepts exactly the zero
//! rekey frame. Every completed message encodes back into frames that a
//! fresh decoder turns into the same message.
//!
//! Input: byte 0 picks the layout. Even: the rest is cut into whole frames
//! (the last one zero-filled). Odd: the rest is a list of short frame
//! descriptions `type, n, n bytes`, each frame then zero-filled; this lets
//! small inputs spell the 41 frames of the largest message.
#![no_main]

use fogstore::wire::{
    self, CONTINUATION_PAYLOAD_SIZE, FRAME_CONTINUATION, FRAME_PADDING, FRAME_REKEY, FRAME_SIZE,
    FRAME_START, Frame, FrameDecoder, MAX_MESSAGE_SIZE, START_HEADER_SIZE, START_PAYLOAD_SIZE,
};
use libfuzzer_sys::fuzz_target;

/// At most this many frames per input, enough for the largest message.
const MAX_FRAMES: usize = 64;

fn frames(data: &[u8]) -> Vec<Frame> {
    let Some((&layout, rest)) = data.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if layout.is_multiple_of(2) {
        for chunk in rest.chunks(FRAME_SIZE).take(MAX_FRAMES) {
            let mut frame = [0; FRAME_SIZE];
            frame[..chunk.len()].copy_from_slice(chunk);
            out.push(frame);
        }
    } else {
        let mut rest = rest;
        while let [kind, n, tail @ ..] = rest {
            if out.len() == MAX_FRAMES {
                break;
            }
            let n = usize::from(*n).min(tail.len());
            let mut frame = [0; FRAME_SIZE];
            frame[0] = *kind;
            frame[1..1 + n].copy_from_slice(&tail[..n]);
            out.push(frame);
            rest = &tail[n..];
        }
    }
    out
}

fn zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// The reassembly rules, written out plainly. `Err(())` for every frame the
/// protocol rejects; the message in progress is then dropped.
#[derive(Default)]
struct Model {
    /// The announced length and the bytes so far of the message in progress.
    pending: Option<(usize, Vec<u8>)>,
}

impl Model {
    fn push(&mut self, frame: &Frame) -> Result<Option<Vec<u8>>, ()> {
        let result = self.step(frame);
        if result.is_err() {
            self.pending = None;
        }
        result
    }

    fn step(&mut self, frame: &Frame) -> Result<Option<Vec<u8>>, ()> {
        match frame[0] {
            FRAME_PADDING => zero(&frame[1..]).then_some(None).ok_or(()),
            FRAME_START => {
                if self.pending.is_some() {
                    return Err(());
                }
                let len = u32::from_be_bytes(frame[1..5].try_into().unwrap()) as usize;
                if len == 0 || len > MAX_MESSAGE_SIZE {
                    return Err(());
                }
                let n = len.min(START_PAYLOAD_SIZE);
                if !zero(&frame[START_HEADER_SIZE + n..]) {
                    return Err(());
                }
                let payload = frame[START_HEADER_SIZE..START_HEADER_SIZE + n].to_vec();
                if n == len {
                    return Ok(Some(payload));
                }
                self.pending = Some((len, payload));
                Ok(None)
            }
            FRAME_CONTINUATION => {
                let Some((len, buf)) = self.pending.as_mut() else {
                    return Err(());
                };
                let n = (*len - buf.len()).min(CONTINUATION_PAYLOAD_SIZE);
                if !zero(&frame[1 + n..]) {
                    return Err(());
                }
                buf.extend_from_slice(&frame[1..1 + n]);
                if buf.len() < *len {
                    return Ok(None);
                }
                Ok(self.pending.take().map(|(_, buf)| buf))
            }
            _ => Err(()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut decoder = FrameDecoder::new();
    let mut model = Model::default();
    for frame in frames(data) {
        if frame[0] == FRAME_REKEY {
            assert_eq!(
                wire::check_rekey_frame(&frame).is_ok(),
                zero(&frame[1..]),
                "check_rekey_frame"
            );
        }
        let got = decoder.push(&frame);
        let want = model.push(&frame);
        match (&got, &want) {
            (Ok(None), Ok(None)) => {}
            (Err(_), Err(())) => {}
            (Ok(Some(msg)), Ok(Some(bytes))) => assert_eq!(Ok(msg), wire::decode(bytes).as_ref()),
            (Err(e), Ok(Some(bytes))) => assert_eq!(Err(e), wire::decode(bytes).as_ref()),
            _ => panic!("decoder {got:?}, model {want:?}"),
        }
        assert_eq!(decoder.is_mid_message(), model.pending.is_some());
        if let Ok(Some(msg)) = got {
            let frames = wire::encode_frames(&msg).expect("a decoded message encodes");
            let mut fresh = FrameDecoder::new();
            let (last, rest) = frames.split_last().expect("at least one frame");
            for frame in rest {
                assert_eq!(fresh.push(frame), Ok(None));
            }
            assert_eq!(fresh.push(last), Ok(Some(msg)));
        }
    }
    decoder.reset();
    assert!(!decoder.is_mid_message());
});
