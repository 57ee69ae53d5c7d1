//! Block crypto: the primitives (SHA-256, ChaCha20-Poly1305 over 32 KiB) and
//! the CHK and SSK block operations built on them, each credited with one
//! 32 KiB block. `cargo bench --bench crypto`; `docs/performance.md` records
//! the figures, and `fog bench chk` the ratio of CHK encode to its primitives
//! (which criterion cannot compute across benchmarks).

use std::hint::black_box;
use std::time::Duration;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use ed25519_dalek::SigningKey;
use fogstore::block::{BLOCK_CAPACITY, BLOCK_SIZE, chk, ssk};
use fogstore::key::{DocName, SskInsertKey};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// A document that fills a block, pseudo-random so that nothing compresses.
fn document() -> Vec<u8> {
    random_bytes(&mut StdRng::seed_from_u64(1), BLOCK_CAPACITY)
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(BLOCK_SIZE as u64));
    group
}

fn primitives(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let data = random_bytes(&mut rng, BLOCK_SIZE);
    let mut buf = random_bytes(&mut rng, BLOCK_SIZE);
    let key: [u8; 32] = random_bytes(&mut rng, 32).try_into().unwrap();
    let cipher = ChaCha20Poly1305::new(&key.into());

    let mut g = group(c, "primitives");
    g.bench_function("sha256_32k", |b| {
        b.iter(|| Sha256::digest(black_box(&data)))
    });
    // In place with a detached tag, as blocks are sealed; the buffer is
    // re-encrypted each time, which costs the same.
    g.bench_function("chacha20poly1305_seal_32k", |b| {
        b.iter(|| {
            cipher
                .encrypt_in_place_detached(
                    Nonce::from_slice(&[0; 12]),
                    &[],
                    black_box(&mut buf[..]),
                )
                .unwrap()
        })
    });
    g.finish();
}

fn chk(c: &mut Criterion) {
    let doc = document();
    let (key, block) = chk::encode(&doc).unwrap();
    assert_eq!(chk::decode(&key, &block).unwrap().bytes, doc);

    let mut g = group(c, "chk");
    g.bench_function("encode", |b| {
        b.iter(|| chk::encode(black_box(&doc)).unwrap())
    });
    g.bench_function("decode", |b| {
        b.iter(|| chk::decode(black_box(&key), black_box(&block)).unwrap())
    });
    // What every node does before storing or forwarding: one SHA-256.
    g.bench_function("verify", |b| {
        b.iter(|| black_box(&block).verify(black_box(&key.routing)).unwrap())
    });
    g.finish();
}

fn ssk(c: &mut Criterion) {
    let doc = document();
    let insert = SskInsertKey {
        signing: SigningKey::from_bytes(&[0x42; 32]),
        crypto: [0x24; 32],
        name: DocName::parse("site/1").unwrap(),
    };
    let (key, block) = ssk::encode(&insert, &doc).unwrap();
    let routing = key.node_key().routing;
    assert_eq!(ssk::decode(&key, &block).unwrap().bytes, doc);

    let mut g = group(c, "ssk");
    g.bench_function("encode", |b| {
        b.iter(|| ssk::encode(black_box(&insert), black_box(&doc)).unwrap())
    });
    // What every node does: the routing key and a strict Ed25519 verify
    // over the whole block.
    g.bench_function("verify", |b| {
        b.iter(|| black_box(&block).verify(black_box(&routing)).unwrap())
    });
    g.bench_function("decode", |b| {
        b.iter(|| ssk::decode(black_box(&key), black_box(&block)).unwrap())
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = primitives, chk, ssk
}
criterion_main!(benches);
