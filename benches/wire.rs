//! Throughput of the wire layer: messages to frames and back.
//!
//! Throughput is counted in plaintext frame bytes (frames × `FRAME_SIZE`),
//! what the link layer encrypts and sends.

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use fogstore::block::{Block, chk};
use fogstore::key::{KeyKind, NodeKey, RoutingKey};
use fogstore::wire::{
    FRAME_SIZE, FrameDecoder, Message, NodeRef, RequestId, encode_frames, encode_frames_into,
};

fn request() -> Message {
    Message::Request {
        id: RequestId(0x0123_4567_89ab_cdef),
        key: NodeKey {
            kind: KeyKind::Chk,
            routing: RoutingKey([0xab; 32]),
        },
        htl: 18,
    }
}

fn data_found() -> Message {
    let (_, block) = chk::encode(&[42u8; 30_000]).expect("fits one block");
    Message::DataFound {
        id: RequestId(7),
        source: NodeRef {
            identity: [0x5a; 32],
            addr: "198.51.100.7:9000".parse().expect("valid address"),
        },
        block: Block::Chk(block),
    }
}

fn bench_message(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, msg: &Message) {
    let frames = encode_frames(msg).expect("encodable");
    group.throughput(Throughput::Bytes((frames.len() * FRAME_SIZE) as u64));

    let mut out = Vec::with_capacity(frames.len());
    group.bench_function(format!("encode_frames/{name}"), |b| {
        b.iter(|| {
            out.clear();
            encode_frames_into(black_box(msg), &mut out).expect("encodable");
            black_box(&out);
        })
    });

    let mut decoder = FrameDecoder::new();
    group.bench_function(format!("decode_frames/{name}"), |b| {
        b.iter(|| {
            let mut got = None;
            for frame in black_box(&frames) {
                got = decoder.push(frame).expect("valid frames");
            }
            black_box(got.expect("message completes"))
        })
    });
}

fn wire(c: &mut Criterion) {
    let mut group = c.benchmark_group("wire");
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    bench_message(&mut group, "request", &request());
    bench_message(&mut group, "data_found_chk", &data_found());
    group.finish();
}

criterion_group!(benches, wire);
criterion_main!(benches);
