//! `wire::decode`: the message codec on untrusted bytes.
//!
//! Properties: decoding never panics; every accepted byte string is exactly
//! the encoding of the message it returns (`encode(decode(b)) == b`, and
//! `encoded_len` agrees), and the message survives being cut into frames and
//! put back together by a `FrameDecoder`.
//!
//! Block-carrying messages need 32 KiB of block, more than the fuzzer's
//! inputs usually hold, so each input is also tried with a zero CHK-sized
//! and a zero SSK-sized block appended: the input then only has to spell the
//! header, ending in the block kind byte.
#![no_main]

use fogstore::block::chk::CHK_BLOCK_SIZE;
use fogstore::block::ssk::SSK_BLOCK_SIZE;
use fogstore::wire::{self, FrameDecoder, Message};
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8]) {
    let Ok(msg) = wire::decode(bytes) else {
        return;
    };
    let encoded = wire::encode(&msg).expect("a decoded message encodes");
    assert_eq!(encoded, bytes, "decode accepted a non-canonical encoding");
    assert_eq!(wire::encoded_len(&msg), bytes.len());
    let mut appended = vec![0xAA];
    wire::encode_into(&msg, &mut appended).expect("a decoded message encodes");
    assert_eq!(&appended[1..], bytes);
    round_trip_frames(&msg, bytes.len());
}

fn round_trip_frames(msg: &Message, len: usize) {
    let frames = wire::encode_frames(msg).expect("a decoded message encodes");
    assert_eq!(frames.len(), wire::frame_count(len));
    let mut decoder = FrameDecoder::new();
    let (last, rest) = frames.split_last().expect("at least one frame");
    for frame in rest {
        assert_eq!(decoder.push(frame), Ok(None));
        assert!(decoder.is_mid_message());
    }
    assert_eq!(decoder.push(last).as_ref(), Ok(&Some(msg.clone())));
    assert!(!decoder.is_mid_message());
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() <= 256 {
        for size in [CHK_BLOCK_SIZE, SSK_BLOCK_SIZE] {
            let mut long = Vec::with_capacity(data.len() + size);
            long.extend_from_slice(data);
            long.resize(data.len() + size, 0);
            check(&long);
        }
    }
});
