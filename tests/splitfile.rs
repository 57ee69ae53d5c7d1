//! Splitfiles: streaming encoding, strict decoding, the node's put/get of
//! large documents, `fog key` on a large file, and the `keys/splitfile.json`
//! vectors.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fogstore::block::{BLOCK_CAPACITY, ContentKind, chk};
use fogstore::client::splitfile::{
    self, BlockSource, Blocks, ENTRY_SIZE, Encoder, FecManifest, FetchOptions, Layout,
    MANIFEST_HEADER_SIZE, MAX_DEPTH, MAX_DOCUMENT_SIZE, MAX_ENTRIES, MAX_SEGMENTS, Manifest,
    ManifestError, MemorySource, Place, SourceError, SourceFuture, SplitfileError, segments_per,
    span,
};
use fogstore::key::{ChkKey, Key};
use proptest::prelude::*;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const CAP: usize = BLOCK_CAPACITY;

/// `len` deterministic pseudo-random bytes (fast: ChaCha20).
fn random_doc(seed: u64, len: usize) -> Vec<u8> {
    let mut doc = vec![0u8; len];
    ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut doc);
    doc
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

fn fetch(top: &ChkKey, source: MemorySource) -> Result<Vec<u8>, SplitfileError> {
    rt().block_on(splitfile::fetch_to_vec(top, Arc::new(source)))
}

/// The level of the manifest at the top (0 for a single data block).
fn top_level(top: &ChkKey, blocks: &[(ChkKey, fogstore::block::chk::ChkBlock)]) -> u8 {
    let (_, block) = blocks.iter().find(|(k, _)| k == top).unwrap();
    let doc = chk::decode(top, block).unwrap();
    match doc.kind {
        ContentKind::Data => 0,
        ContentKind::Manifest => FecManifest::parse(&doc.bytes).unwrap().level,
    }
}

#[test]
fn constants_follow_from_the_block_size() {
    assert_eq!(MANIFEST_HEADER_SIZE, 20);
    assert_eq!(ENTRY_SIZE, 64);
    assert_eq!(MAX_ENTRIES, 511);
    assert_eq!(MAX_DEPTH, 4);
    assert_eq!(span(0), 32760);
    assert_eq!(span(1), 511 * 32760);
    assert_eq!(span(4), 32760 * 511u64.pow(4));
    // A level-4 top lists 511 manifests of 511 of 511 segment manifests.
    assert_eq!(segments_per(1), 1);
    assert_eq!(segments_per(MAX_DEPTH), 511u64.pow(3));
    assert_eq!(MAX_SEGMENTS, 511u64.pow(3));
    assert!(MAX_SEGMENTS < u64::from(u32::MAX));
    assert_eq!(MAX_DOCUMENT_SIZE, 511u64.pow(3) * 128 * 32760);
    assert_eq!(Layout::new(MAX_DOCUMENT_SIZE).top_level(), MAX_DEPTH);
}

/// Encodes a document of `size` pseudo-random bytes, checks the block count
/// and the top level, and fetches it back from memory.
fn round_trip(seed: u64, size: usize, blocks_expected: usize, level: u8) {
    let doc = random_doc(seed, size);
    let (top, blocks) = splitfile::encode_all(&doc).unwrap();
    assert_eq!(blocks.len(), blocks_expected, "size {size}");
    assert_eq!(top_level(&top, &blocks), level, "size {size}");
    // Data blocks come first, manifests last; the top is the last block.
    assert_eq!(blocks.last().unwrap().0, top);
    if size <= CAP {
        assert_eq!(top, chk::encode(&doc).unwrap().0, "size {size}");
    }
    if size <= 5 * CAP {
        // Convergent: the same bytes give the same key (the larger sizes
        // are covered by keys/splitfile.json; debug-mode crypto is slow).
        assert_eq!(splitfile::key_of(&doc[..]).unwrap(), top);
    }
    let source: MemorySource = blocks.into_iter().collect();
    assert!(fetch(&top, source).unwrap() == doc, "size {size}");
}

#[test]
fn round_trips_at_block_boundaries() {
    // (size, blocks: data, check and manifests, top level)
    round_trip(0, 0, 1, 0);
    round_trip(1, 1, 1, 0);
    round_trip(2, CAP, 1, 0);
    // 2 data + 2 check blocks, one segment manifest.
    round_trip(3, CAP + 1, 5, 1);
    round_trip(4, 5 * CAP, 11, 1);
    // One full segment: 128 + 128 blocks and its manifest.
    round_trip(16, 128 * CAP, 257, 1);
}

#[test]
fn round_trip_of_512_blocks_nests_manifests() {
    // 512 data blocks in 4 segments of 128, each with 128 check blocks,
    // under 4 segment manifests and a level-2 top.
    round_trip(5, 511 * CAP + 1, 512 + 512 + 5, 2);
}

#[test]
fn round_trip_of_5_mib() {
    // 161 data blocks: two segments (81 + 80) with as many check blocks,
    // two segment manifests and a level-2 top.
    round_trip(6, 5 * 1024 * 1024, 161 + 161 + 3, 2);
}

#[test]
fn segments_hold_128_data_blocks_but_the_last_two_share_the_rest() {
    let sizes = |n: u64| {
        let layout = Layout::new(n * CAP as u64);
        (0..layout.segments)
            .map(|j| layout.segment_data(j))
            .collect::<Vec<_>>()
    };
    assert_eq!(sizes(2), [2]);
    assert_eq!(sizes(128), [128]);
    assert_eq!(sizes(129), [65, 64]);
    assert_eq!(sizes(256), [128, 128]);
    assert_eq!(sizes(257), [128, 65, 64]);
    assert_eq!(sizes(300), [128, 86, 86]);
    assert_eq!(sizes(640), [128, 128, 128, 128, 128]);
    assert_eq!(Layout::new(CAP as u64 + 1).top_level(), 1);
    assert_eq!(Layout::new(129 * CAP as u64).top_level(), 2);
    assert_eq!(Layout::new(511 * 128 * CAP as u64).top_level(), 2);
    assert_eq!(Layout::new(511 * 128 * CAP as u64 + 1).top_level(), 3);
    // The bytes of every segment add up to the document.
    let layout = Layout::new(300 * CAP as u64 - 7);
    let sum: u64 = (0..3).map(|j| layout.bytes(j, j + 1)).sum();
    assert_eq!(sum, layout.len);
}

#[test]
fn redundancy_sets_the_check_blocks_and_the_key() {
    let doc = random_doc(17, 10 * CAP);
    for (redundancy, blocks) in [(0u8, 11usize), (1, 12), (30, 14), (100, 21)] {
        let (top, all) = splitfile::encode_all_with(&doc, redundancy).unwrap();
        assert_eq!(all.len(), blocks, "redundancy {redundancy}");
        assert_eq!(splitfile::key_of_with(&doc[..], redundancy).unwrap(), top);
        let source: MemorySource = all.into_iter().collect();
        assert!(fetch(&top, source).unwrap() == doc);
    }
    assert_ne!(
        splitfile::key_of_with(&doc[..], 0).unwrap(),
        splitfile::key_of(&doc[..]).unwrap()
    );
    assert!(matches!(
        Encoder::with_redundancy(101),
        Err(SplitfileError::BadRedundancy(101))
    ));
}

#[test]
fn feeding_in_odd_chunks_gives_the_same_blocks() {
    let doc = random_doc(7, 3 * CAP + 12345);
    let (top, blocks) = splitfile::encode_all(&doc).unwrap();
    let mut encoder = Encoder::new();
    let mut got = Vec::new();
    for chunk in doc.chunks(7777) {
        let mut input = chunk;
        while let Some(block) = encoder.push(&mut input).unwrap() {
            got.push(block);
        }
        assert!(encoder.buffered() < CAP);
    }
    let mut finish = encoder.finish().unwrap();
    got.extend(finish.by_ref());
    assert_eq!(finish.top(), Some(top));
    assert_eq!(got, blocks);
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: Arc<std::sync::atomic::AtomicUsize>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[test]
fn the_encoder_holds_at_most_one_data_block() {
    let doc = random_doc(9, 20 * CAP + 5);
    let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut blocks = Blocks::new(Counting {
        inner: &doc[..],
        read: read.clone(),
    });
    let mut sealed = 0usize;
    while let Some(block) = blocks.next() {
        let (key, block) = block.unwrap();
        if let Some(encoder) = blocks.encoder() {
            assert!(encoder.held_pieces() <= Encoder::MAX_HELD_PIECES);
            // One fixed buffer, never more than one block ahead of what it
            // has handed out.
            assert_eq!(encoder.buffer_capacity(), CAP);
            assert!(encoder.buffered() < CAP);
            sealed += chk::decode(&key, &block).unwrap().bytes.len();
            let ahead = read.load(std::sync::atomic::Ordering::Relaxed) - sealed;
            assert!(ahead <= CAP, "read {ahead} bytes ahead");
            assert_eq!(encoder.data_blocks() * CAP, sealed);
        }
    }
    assert!(blocks.top().is_some());
}

// ---- Malformed splitfiles ------------------------------------------------

/// A two-block document's data blocks, for hand-made manifests.
fn two_data_blocks() -> (Vec<u8>, MemorySource, Vec<ChkKey>) {
    static ONCE: std::sync::OnceLock<(Vec<u8>, MemorySource, Vec<ChkKey>)> =
        std::sync::OnceLock::new();
    ONCE.get_or_init(make_two_data_blocks).clone()
}

fn make_two_data_blocks() -> (Vec<u8>, MemorySource, Vec<ChkKey>) {
    let doc = random_doc(11, CAP + 100);
    let mut source = MemorySource::new();
    let mut keys = Vec::new();
    for chunk in doc.chunks(CAP) {
        let (k, b) = chk::encode(chunk).unwrap();
        source.insert(k, b);
        keys.push(k);
    }
    (doc, source, keys)
}

fn manifest_block(source: &mut MemorySource, bytes: &[u8]) -> ChkKey {
    let (k, b) = chk::encode_kind(ContentKind::Manifest, bytes).unwrap();
    source.insert(k, b);
    k
}

fn manifest_error(err: SplitfileError) -> ManifestError {
    match err {
        SplitfileError::Manifest { source, .. } => source,
        other => panic!("expected a manifest error, got {other}"),
    }
}

#[test]
fn a_hand_made_manifest_equal_to_the_encoders_round_trips() {
    let (doc, mut source, keys) = two_data_blocks();
    let manifest = FecManifest {
        level: 1,
        redundancy: 0,
        total: doc.len() as u64,
        entries: keys,
    };
    let top = manifest_block(&mut source, &manifest.to_bytes());
    assert_eq!(splitfile::key_of_with(&doc[..], 0).unwrap(), top);
    assert_eq!(fetch(&top, source).unwrap(), doc);
}

#[test]
fn a_version_1_splitfile_still_decodes() {
    // As the encoder wrote them before check blocks: version 1, one
    // level-1 manifest listing the data blocks.
    let (doc, mut source, keys) = two_data_blocks();
    let manifest = Manifest {
        level: 1,
        total: doc.len() as u64,
        entries: keys,
    };
    let bytes = manifest.to_bytes();
    assert_eq!(bytes[4], 1);
    let top = manifest_block(&mut source, &bytes);
    assert_eq!(fetch(&top, source).unwrap(), doc);
}

#[test]
fn manifest_total_reads_either_version() {
    let (doc, _, keys) = two_data_blocks();
    let total = doc.len() as u64;
    let v1 = Manifest {
        level: 1,
        total,
        entries: keys.clone(),
    };
    let v2 = FecManifest {
        level: 1,
        redundancy: 0,
        total,
        entries: keys,
    };
    assert_eq!(splitfile::manifest_total(&v1.to_bytes()), Ok(total));
    assert_eq!(splitfile::manifest_total(&v2.to_bytes()), Ok(total));
    let mut bad = v2.to_bytes();
    bad[4] = 3;
    assert_eq!(
        splitfile::manifest_total(&bad),
        Err(ManifestError::UnsupportedVersion(3))
    );
}

#[test]
fn malformed_manifests_are_clear_errors() {
    let (doc, source, keys) = two_data_blocks();
    let good = Manifest {
        level: 1,
        total: doc.len() as u64,
        entries: keys.clone(),
    }
    .to_bytes();
    let try_bytes = |bytes: &[u8]| {
        let mut source = source.clone();
        let top = manifest_block(&mut source, bytes);
        fetch(&top, source).unwrap_err()
    };

    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(manifest_error(try_bytes(&bad)), ManifestError::BadMagic);

    let mut bad = good.clone();
    bad[4] = 3;
    assert_eq!(
        manifest_error(try_bytes(&bad)),
        ManifestError::UnsupportedVersion(3)
    );

    let mut bad = good.clone();
    bad[5] = 9;
    let err = try_bytes(&bad);
    assert!(err.to_string().contains("depth 9"), "{err}");
    assert_eq!(manifest_error(err), ManifestError::BadDepth(9));

    let mut bad = good.clone();
    bad[7] = 1;
    assert_eq!(
        manifest_error(try_bytes(&bad)),
        ManifestError::ReservedNotZero
    );

    // Entry count tampered: 3 entries claimed, 2 carried.
    let mut bad = good.clone();
    bad[19] = 3;
    assert_eq!(
        manifest_error(try_bytes(&bad)),
        ManifestError::LengthMismatch {
            count: 3,
            bytes: 128
        }
    );
    let mut bad = good.clone();
    bad[16..20].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(manifest_error(try_bytes(&bad)), ManifestError::BadCount(0));

    // A total that needs three blocks, with two listed.
    let mut bad = good.clone();
    bad[8..16].copy_from_slice(&(2 * CAP as u64 + 1).to_be_bytes());
    assert!(matches!(
        manifest_error(try_bytes(&bad)),
        ManifestError::CountMismatch { expected: 3, .. }
    ));

    // A total that needs two blocks but not these: the last data block is
    // longer than the total leaves it.
    let mut bad = good.clone();
    bad[8..16].copy_from_slice(&(CAP as u64 + 50).to_be_bytes());
    let err = try_bytes(&bad);
    assert!(
        matches!(
            err,
            SplitfileError::WrongDataLength {
                expected: 50,
                got: 100,
                ..
            }
        ),
        "{err}"
    );

    // Trailing bytes after the entries.
    let mut bad = good.clone();
    bad.push(0);
    assert!(matches!(
        manifest_error(try_bytes(&bad)),
        ManifestError::LengthMismatch { .. }
    ));

    // Too short for a header.
    assert_eq!(
        manifest_error(try_bytes(b"FOGM")),
        ManifestError::TooShort { len: 4 }
    );

    // A top-level manifest with one entry is not canonical.
    let single = Manifest {
        level: 1,
        total: CAP as u64,
        entries: vec![keys[0]],
    };
    assert_eq!(
        manifest_error(try_bytes(&single.to_bytes())),
        ManifestError::NotMinimal
    );
}

#[test]
fn wrong_kinds_and_inconsistent_levels_are_errors() {
    let (doc, source, keys) = two_data_blocks();
    let total = doc.len() as u64;

    // A level-2 manifest whose entries are data blocks: data where a
    // manifest belongs. (Level 2 with total ≤ span(1) would fail the count;
    // give it a total needing two level-1 children.)
    let mut s = source.clone();
    let bad = Manifest {
        level: 2,
        total: span(1) + 1,
        entries: keys.clone(),
    };
    let top = manifest_block(&mut s, &bad.to_bytes());
    let err = fetch(&top, s).unwrap_err();
    assert!(
        matches!(
            err,
            SplitfileError::UnexpectedKind {
                expected: ContentKind::Manifest,
                got: ContentKind::Data,
                ..
            }
        ),
        "{err}"
    );

    // A level-1 manifest listing a manifest: a manifest where data belongs.
    let mut s = source.clone();
    let inner = manifest_block(
        &mut s,
        &Manifest {
            level: 1,
            total,
            entries: keys.clone(),
        }
        .to_bytes(),
    );
    let top = manifest_block(
        &mut s,
        &Manifest {
            level: 1,
            total,
            entries: vec![inner, keys[1]],
        }
        .to_bytes(),
    );
    let err = fetch(&top, s).unwrap_err();
    assert!(
        matches!(
            err,
            SplitfileError::UnexpectedKind {
                expected: ContentKind::Data,
                got: ContentKind::Manifest,
                ..
            }
        ),
        "{err}"
    );

    // A level-2 manifest whose first child covers less than a full span.
    let mut s = source.clone();
    let child = manifest_block(
        &mut s,
        &Manifest {
            level: 1,
            total,
            entries: keys.clone(),
        }
        .to_bytes(),
    );
    let top = manifest_block(
        &mut s,
        &Manifest {
            level: 2,
            total: span(1) + 1,
            entries: vec![child, child],
        }
        .to_bytes(),
    );
    assert_eq!(
        manifest_error(fetch(&top, s).unwrap_err()),
        ManifestError::WrongTotal {
            expected: span(1),
            got: total
        }
    );

    // A level-2 manifest whose child claims level 2 too.
    let mut s = source.clone();
    let child = manifest_block(
        &mut s,
        &Manifest {
            level: 2,
            total: span(1) + 1,
            entries: keys.clone(),
        }
        .to_bytes(),
    );
    let top = manifest_block(
        &mut s,
        &Manifest {
            level: 2,
            total: span(1) + 1,
            entries: vec![child, child],
        }
        .to_bytes(),
    );
    assert_eq!(
        manifest_error(fetch(&top, s).unwrap_err()),
        ManifestError::WrongLevel {
            expected: 1,
            got: 2
        }
    );
}

/// Options that retry quickly, for tests of lost blocks.
const QUICK: FetchOptions = FetchOptions {
    attempts: 3,
    backoff: Duration::from_millis(5),
};

fn fetch_quick<S: BlockSource>(top: &ChkKey, source: S) -> Result<Vec<u8>, SplitfileError> {
    rt().block_on(async {
        let mut out = Vec::new();
        splitfile::fetch_with(top, Arc::new(source), &mut out, &QUICK).await?;
        Ok(out)
    })
}

#[test]
fn a_missing_or_corrupt_block_names_its_key() {
    // Without check blocks, one lost data block loses its segment.
    let doc = random_doc(12, 4 * CAP);
    let (top, blocks) = splitfile::encode_all_with(&doc, 0).unwrap();
    let victim = blocks[2].0;
    let mut source: MemorySource = blocks.iter().cloned().collect();
    source.remove(&victim);
    let err = fetch_quick(&top, source).unwrap_err();
    assert!(
        matches!(err, SplitfileError::Missing { key, place: Place::Segment { index: 1, of: 1, found: 3, blocks: 4, needed: 4, .. }, .. } if key == victim),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "segment 1 of 1 (data blocks 1-4): 3 of its 4 blocks found, 4 needed; last missing ({}): not found",
            Key::Chk(victim)
        )
    );

    // A block stored under another block's key fails verification: lost
    // too.
    let mut source: MemorySource = blocks.iter().cloned().collect();
    source.insert(victim, blocks[0].1.clone());
    let err = fetch_quick(&top, source).unwrap_err();
    assert!(
        matches!(err, SplitfileError::Missing { key, source: SourceError::Other(_), .. } if key == victim),
        "{err}"
    );

    // With check blocks, both are rebuilt.
    let (top, blocks) = splitfile::encode_all(&doc).unwrap();
    let mut source: MemorySource = blocks.iter().cloned().collect();
    source.remove(&blocks[2].0);
    source.insert(blocks[1].0, blocks[0].1.clone());
    assert!(fetch_quick(&top, source).unwrap() == doc);

    // The top itself missing.
    let err = fetch_quick(&top, MemorySource::new()).unwrap_err();
    assert!(matches!(err, SplitfileError::Missing { key, .. } if key == top));
}

/// Bytes that look like a manifest header (right magic and version), with
/// random level, total, count and entries, or plain random bytes.
fn manifest_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2000),
        (
            0u8..8,
            any::<u64>(),
            0u32..600,
            proptest::collection::vec(any::<u8>(), 0..(64 * 8 + 3)),
            any::<bool>(),
        )
            .prop_map(|(level, total, count, entries, small)| {
                let total = if small { total % (4 * span(1)) } else { total };
                let mut out = b"FOGM\x01".to_vec();
                out.push(level);
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&total.to_be_bytes());
                out.extend_from_slice(&count.to_be_bytes());
                out.extend_from_slice(&entries);
                out
            }),
    ]
}

/// Fetches a splitfile whose top manifest is `bytes`, over the data blocks
/// of [`two_data_blocks`], with the quick retries of [`QUICK`].
fn fetch_hand_made_top(bytes: &[u8]) -> Result<Vec<u8>, SplitfileError> {
    let (_, mut source, _) = two_data_blocks();
    let top = manifest_block(&mut source, bytes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut out = Vec::new();
        splitfile::fetch_with(&top, Arc::new(source), &mut out, &QUICK).await?;
        Ok(out)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_manifests_are_errors_not_panics(bytes in manifest_like()) {
        let _ = Manifest::parse(&bytes);
        if bytes.len() <= CAP {
            prop_assert!(fetch_hand_made_top(&bytes).is_err());
        }
    }
}

// ---- Lost blocks and FEC ------------------------------------------------

/// The data and check blocks of an encoding (everything but manifests).
fn leaf_blocks(blocks: &[(ChkKey, fogstore::block::chk::ChkBlock)]) -> Vec<ChkKey> {
    blocks
        .iter()
        .filter(|(k, b)| chk::decode(k, b).unwrap().kind == ContentKind::Data)
        .map(|(k, _)| *k)
        .collect()
}

/// A 300-block document (segments of 128, 86 and 86 data blocks, as many
/// check blocks), its key and its blocks.
type Encoded = (
    Vec<u8>,
    ChkKey,
    Vec<(ChkKey, fogstore::block::chk::ChkBlock)>,
);

fn three_segments() -> Encoded {
    static ONCE: std::sync::OnceLock<Encoded> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let doc = random_doc(21, 300 * CAP - 1234);
        let (top, blocks) = splitfile::encode_all(&doc).unwrap();
        (doc, top, blocks)
    })
    .clone()
}

#[test]
fn a_splitfile_that_lost_30_percent_of_its_blocks_is_fetched_whole() {
    let (doc, top, blocks) = three_segments();
    let leaves = leaf_blocks(&blocks);
    assert_eq!(leaves.len(), 600);
    // Lose 30% of the data and check blocks, chosen at random (fixed seed).
    let mut rng = ChaCha20Rng::seed_from_u64(30);
    let lost: Vec<ChkKey> = rand::seq::index::sample(&mut rng, leaves.len(), 180)
        .into_iter()
        .map(|i| leaves[i])
        .collect();
    let mut source: MemorySource = blocks.iter().cloned().collect();
    for key in &lost {
        source.remove(key).unwrap();
    }
    assert_eq!(source.len(), blocks.len() - 180);
    // Every segment lost some of its data blocks: each has to be rebuilt.
    let mut manifests = segment_manifests(&blocks);
    manifests.sort_by_key(|m| std::cmp::Reverse(m.total));
    assert_eq!(manifests.len(), 3);
    for m in &manifests {
        let data = &m.entries[..m.data_count()];
        assert!(data.iter().any(|key| lost.contains(key)));
    }
    let got = fetch_quick(&top, source).unwrap();
    assert!(got == doc, "the document came back different");
}

#[test]
fn a_segment_that_lost_more_than_its_check_blocks_names_itself() {
    let (_, top, blocks) = three_segments();
    let leaves = leaf_blocks(&blocks);
    // Segment 2: data blocks 129..=214, its 86 check blocks after segment
    // 1's 128. Lose 87 of its 172 blocks, leaving 85 where 86 are needed.
    let layout = Layout::new(300 * CAP as u64 - 1234);
    assert_eq!(layout.first_block(1), 128);
    let segment_2: Vec<ChkKey> = blocks
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| leaves.contains(k))
        .collect();
    // Insertion order: 257 data blocks, segment 1's checks, the other 43
    // data blocks, then segments 2's and 3's checks.
    let data_2: Vec<ChkKey> = segment_2[128..257]
        .iter()
        .chain(&segment_2[385..385 + 43])
        .take(86)
        .copied()
        .collect();
    let checks_2: Vec<ChkKey> = segment_2[428..428 + 86].to_vec();
    let mut source: MemorySource = blocks.iter().cloned().collect();
    for key in data_2.iter().step_by(2).chain(checks_2.iter().take(44)) {
        source.remove(key).unwrap();
    }
    let err = fetch_quick(&top, source).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "segment 2 of 3 (data blocks 129-214): 85 of its 172 blocks found, 86 needed; last missing (CHK@"
        ),
        "{text}"
    );
    assert!(text.ends_with("): not found"), "{text}");
    let SplitfileError::Missing {
        key,
        place: Place::Segment { found, needed, .. },
        source: SourceError::NotFound,
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!((found, needed), (85, 86));
    assert!(data_2.contains(&key) || checks_2.contains(&key));
}

/// A store in memory that keeps what the fetch gives back to heal.
struct Healing {
    inner: MemorySource,
    healed: Arc<std::sync::Mutex<Vec<(ChkKey, fogstore::block::chk::ChkBlock)>>>,
}

impl BlockSource for Healing {
    fn fetch(&self, key: ChkKey) -> SourceFuture<'_> {
        self.inner.fetch(key)
    }

    fn heal(&self, key: ChkKey, block: fogstore::block::chk::ChkBlock) {
        self.healed.lock().unwrap().push((key, block));
    }
}

#[test]
fn a_fetch_heals_exactly_the_blocks_it_lost_and_rebuilt() {
    let (doc, top, blocks) = three_segments();
    let segment_1 = segment_manifests(&blocks)
        .into_iter()
        .find(|m| m.data_count() == 128)
        .unwrap();
    // Lose 40 of its data blocks and its first 10 check blocks: the fetch
    // asks for the data, then for checks in order, so it meets all 50.
    let lost: Vec<ChkKey> = segment_1.entries[..40]
        .iter()
        .chain(&segment_1.entries[128..138])
        .copied()
        .collect();
    let mut source: MemorySource = blocks.iter().cloned().collect();
    for key in &lost {
        source.remove(key).unwrap();
    }
    let run = |inner: MemorySource| {
        let healed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let source = Healing {
            inner,
            healed: Arc::clone(&healed),
        };
        let got = fetch_quick(&top, source).unwrap();
        assert!(got == doc, "the document came back different");
        std::mem::take(&mut *healed.lock().unwrap())
    };
    let healed = run(source.clone());
    let mut healed_keys: Vec<ChkKey> = healed.iter().map(|(k, _)| *k).collect();
    let mut want = lost.clone();
    healed_keys.sort_by_key(|k| k.routing);
    want.sort_by_key(|k| k.routing);
    assert_eq!(healed_keys, want, "healed exactly the lost blocks");
    for (key, block) in &healed {
        let original = &blocks.iter().find(|(k, _)| k == key).unwrap().1;
        assert!(
            block == original,
            "a healed block is the original, byte for byte"
        );
    }
    // Put back, they make the splitfile whole: nothing more to heal.
    source.extend(healed);
    assert!(run(source).is_empty());
}

/// A real store in memory whose every block fails the first `fails` times
/// it is asked for (a source that drops requests).
struct Flaky {
    inner: MemorySource,
    fails: u32,
    asked: std::sync::Mutex<std::collections::HashMap<ChkKey, u32>>,
}

impl BlockSource for Flaky {
    fn fetch(&self, key: ChkKey) -> SourceFuture<'_> {
        let n = {
            let mut asked = self.asked.lock().unwrap();
            let n = asked.entry(key).or_default();
            *n += 1;
            *n
        };
        if n <= self.fails {
            Box::pin(std::future::ready(Err(SourceError::TimedOut)))
        } else {
            self.inner.fetch(key)
        }
    }
}

#[test]
fn failed_blocks_are_asked_for_again_a_bounded_number_of_times() {
    let doc = random_doc(22, 6 * CAP + 5);
    let (top, blocks) = splitfile::encode_all_with(&doc, 0).unwrap();
    let flaky = |fails| Flaky {
        inner: blocks.iter().cloned().collect(),
        fails,
        asked: Default::default(),
    };
    // Every block fails twice: the third attempt gets it.
    assert!(fetch_quick(&top, flaky(2)).unwrap() == doc);
    // Three failures are one too many: a timed-out segment.
    let err = fetch_quick(&top, flaky(3)).unwrap_err();
    assert!(
        matches!(
            err,
            SplitfileError::Missing {
                source: SourceError::TimedOut,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_rebuilt_block_that_does_not_match_its_key_is_an_error() {
    // A segment manifest listing one document's data blocks and another's
    // check blocks: the rebuilt block is someone else's data.
    let a = random_doc(23, 4 * CAP);
    let b = random_doc(24, 4 * CAP);
    let (_, blocks_a) = splitfile::encode_all(&a).unwrap();
    let (_, blocks_b) = splitfile::encode_all(&b).unwrap();
    let mut entries: Vec<ChkKey> = blocks_a[..4].iter().map(|(k, _)| *k).collect();
    entries.extend(blocks_b[4..8].iter().map(|(k, _)| *k));
    let mut source: MemorySource = blocks_a.iter().chain(&blocks_b).cloned().collect();
    let top = manifest_block(
        &mut source,
        &FecManifest {
            level: 1,
            redundancy: 100,
            total: a.len() as u64,
            entries,
        }
        .to_bytes(),
    );
    source.remove(&blocks_a[1].0);
    let err = fetch_quick(&top, source).unwrap_err();
    assert!(
        matches!(err, SplitfileError::Rebuilt { key, place: Place::Data { index: 2, of: 4 } } if key == blocks_a[1].0),
        "{err}"
    );
    assert!(err.to_string().starts_with("block 2 of 4 (CHK@"), "{err}");
}

#[test]
fn malformed_version_2_manifests_are_clear_errors() {
    let doc = random_doc(25, 3 * CAP);
    let (_, blocks) = splitfile::encode_all(&doc).unwrap();
    let keys: Vec<ChkKey> = blocks[..6].iter().map(|(k, _)| *k).collect();
    let source: MemorySource = blocks.iter().cloned().collect();
    let good = FecManifest {
        level: 1,
        redundancy: 100,
        total: doc.len() as u64,
        entries: keys.clone(),
    };
    let try_manifest = |m: &FecManifest| {
        let mut source = source.clone();
        let top = manifest_block(&mut source, &m.to_bytes());
        fetch_quick(&top, source)
    };
    assert!(try_manifest(&good).unwrap() == doc);
    let with = |f: &dyn Fn(&mut FecManifest)| {
        let mut m = good.clone();
        f(&mut m);
        manifest_error(try_manifest(&m).unwrap_err())
    };
    assert_eq!(
        with(&|m| m.redundancy = 101),
        ManifestError::BadRedundancy(101)
    );
    // 50% of 3 is 2 check blocks, not 3.
    assert!(matches!(
        with(&|m| m.redundancy = 50),
        ManifestError::CountMismatch { expected: 5, .. }
    ));
    assert!(matches!(
        with(&|m| m.total = 200 * CAP as u64),
        ManifestError::BadSegment(_)
    ));
    assert_eq!(
        with(&|m| m.total = CAP as u64),
        ManifestError::CountMismatch {
            level: 1,
            total: CAP as u64,
            count: 6,
            expected: 2
        }
    );
    // A level-2 top for a document of one segment.
    assert_eq!(
        with(&|m| m.level = 2),
        ManifestError::WrongLevel {
            expected: 1,
            got: 2
        }
    );
    let mut bytes = good.to_bytes();
    bytes[7] = 1;
    let mut s = source.clone();
    let top = manifest_block(&mut s, &bytes);
    assert_eq!(
        manifest_error(fetch_quick(&top, s).unwrap_err()),
        ManifestError::ReservedNotZero
    );

    // A level-2 top whose children disagree with it.
    let big = random_doc(26, 129 * CAP);
    let (top, blocks) = splitfile::encode_all(&big).unwrap();
    let source: MemorySource = blocks.iter().cloned().collect();
    let top_doc = chk::decode(&top, &source_block(&blocks, &top)).unwrap();
    let top_manifest = FecManifest::parse(&top_doc.bytes).unwrap();
    assert_eq!((top_manifest.level, top_manifest.entries.len()), (2, 2));
    let rewired = |entries: Vec<ChkKey>| {
        let mut s = source.clone();
        let m = FecManifest {
            entries,
            ..top_manifest.clone()
        };
        let top = manifest_block(&mut s, &m.to_bytes());
        manifest_error(fetch_quick(&top, s).unwrap_err())
    };
    let (first, second) = (top_manifest.entries[0], top_manifest.entries[1]);
    // Segment 1 (65 blocks) where segment 2 (64) belongs.
    assert_eq!(
        rewired(vec![first, first]),
        ManifestError::WrongTotal {
            expected: 64 * CAP as u64,
            got: 65 * CAP as u64
        }
    );
    assert!(matches!(
        rewired(vec![first, second, second]),
        ManifestError::CountMismatch { expected: 2, .. }
    ));
    // A child with another redundancy.
    let mut s = source.clone();
    let child_doc = chk::decode(&first, &source_block(&blocks, &first)).unwrap();
    let mut child = FecManifest::parse(&child_doc.bytes).unwrap();
    child.redundancy = 99;
    child.entries.truncate(65 + 65);
    let child_key = manifest_block(&mut s, &child.to_bytes());
    let m = FecManifest {
        entries: vec![child_key, second],
        ..top_manifest.clone()
    };
    let top = manifest_block(&mut s, &m.to_bytes());
    assert_eq!(
        manifest_error(fetch_quick(&top, s).unwrap_err()),
        ManifestError::WrongRedundancy {
            expected: 100,
            got: 99
        }
    );
}

fn source_block(
    blocks: &[(ChkKey, fogstore::block::chk::ChkBlock)],
    key: &ChkKey,
) -> fogstore::block::chk::ChkBlock {
    blocks.iter().find(|(k, _)| k == key).unwrap().1.clone()
}

/// Bytes that look like a version-2 manifest header.
fn fec_manifest_like() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..6,
        0u8..120,
        any::<u8>(),
        any::<u64>(),
        0u32..300,
        proptest::collection::vec(any::<u8>(), 0..(64 * 8 + 3)),
        0u8..3,
    )
        .prop_map(
            |(level, redundancy, reserved, total, count, entries, size)| {
                let total = match size {
                    0 => total % (8 * CAP as u64),
                    1 => total % (300 * CAP as u64),
                    _ => total,
                };
                let mut out = b"FOGM\x02".to_vec();
                out.push(level);
                out.push(redundancy);
                out.push(if reserved < 200 { 0 } else { reserved });
                out.extend_from_slice(&total.to_be_bytes());
                out.extend_from_slice(&count.to_be_bytes());
                out.extend_from_slice(&entries);
                out
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_version_2_manifests_are_errors_not_panics(bytes in fec_manifest_like()) {
        let _ = FecManifest::parse(&bytes);
        if bytes.len() <= CAP {
            prop_assert!(fetch_hand_made_top(&bytes).is_err());
        }
    }
}

// ---- The node ------------------------------------------------------------

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("fog-splitfile-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_5_mib_document_put_on_one_node_comes_back_from_another() {
    use fogstore::node::{Node, NodeConfig, NodeHandle};
    let scratch = Scratch::new("node");
    let start = |i: usize, seeds: Vec<fogstore::wire::NodeRef>| {
        let config = NodeConfig {
            seeds,
            store_bytes: 64 * 1024 * 1024,
            ..NodeConfig::new(
                scratch.0.join(format!("node-{i}")),
                "127.0.0.1:0".parse().unwrap(),
            )
        };
        Node::start(config)
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut nodes: Vec<NodeHandle> = Vec::new();
        for i in 0..3 {
            let seeds = nodes.last().map(|n| vec![n.node_ref()]).unwrap_or_default();
            nodes.push(start(i, seeds).await.unwrap());
        }
        let doc = random_doc(13, 5 * 1024 * 1024);
        let key = nodes[0].put(&doc).await.unwrap();
        assert_eq!(key, splitfile::key_of(&doc[..]).unwrap());
        let got = nodes[2].get(&key).await.unwrap();
        assert!(got == doc, "the document came back different");

        // The streaming variants agree.
        let small = random_doc(14, 3 * CAP + 1);
        let key = nodes[1].put_reader(&small[..]).await.unwrap();
        let mut out = Vec::new();
        let n = nodes[0].get_writer(&key, &mut out).await.unwrap();
        assert_eq!(n, small.len() as u64);
        assert!(out == small);
        for node in &nodes {
            node.shutdown().await;
        }
    })
    .await
    .expect("test exceeded its time limit");
}

/// The 30% loss of `a_splitfile_that_lost_30_percent_of_its_blocks_is_fetched_whole`,
/// through nodes with default settings: only 70% of the data and check
/// blocks are in any store, and a get on another node rebuilds the rest
/// and heals the network.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_splitfile_missing_30_percent_from_every_store_is_fetched_whole_by_a_node() {
    use fogstore::node::{Node, NodeConfig, NodeHandle};
    let scratch = Scratch::new("lossy");
    let (doc, top, blocks) = three_segments();
    let leaves = leaf_blocks(&blocks);
    let mut rng = ChaCha20Rng::seed_from_u64(31);
    let lost: std::collections::HashSet<ChkKey> =
        rand::seq::index::sample(&mut rng, leaves.len(), leaves.len() * 3 / 10)
            .into_iter()
            .map(|i| leaves[i])
            .collect();
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut nodes: Vec<NodeHandle> = Vec::new();
        for i in 0..3 {
            let seeds = nodes.last().map(|n| vec![n.node_ref()]).unwrap_or_default();
            let config = NodeConfig {
                seeds,
                ..NodeConfig::new(
                    scratch.0.join(format!("node-{i}")),
                    "127.0.0.1:0".parse().unwrap(),
                )
            };
            nodes.push(Node::start(config).await.unwrap());
        }
        for (i, (key, block)) in blocks.iter().enumerate() {
            if !lost.contains(key) {
                nodes[i % 2]
                    .preload_block(*key, block.clone())
                    .await
                    .unwrap();
            }
        }
        for node in &nodes {
            for key in &lost {
                assert!(!node.holds(&key.node_key()).await.unwrap());
            }
        }
        let got = nodes[2].get(&top).await.unwrap();
        assert!(got == doc, "the document came back different");
        // Healing: the fetch met every lost data block (and the check
        // blocks it asked for in their place) and inserts them again.
        let lost_data: Vec<ChkKey> = segment_manifests(&blocks)
            .iter()
            .flat_map(|m| m.entries[..m.data_count()].to_vec())
            .filter(|key| lost.contains(key))
            .collect();
        assert!(lost_data.len() > 50, "{}", lost_data.len());
        let heal = loop {
            let heal = nodes[2].stats().await.unwrap().heal;
            if heal.healed >= lost_data.len() as u64 {
                break heal;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!((heal.failed, heal.dropped), (0, 0), "{heal:?}");
        // An insert is answered once stored; allow the stores a moment.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut missing = 0;
            for key in &lost_data {
                let mut held = false;
                for node in &nodes {
                    held |= node.holds(&key.node_key()).await.unwrap();
                }
                missing += usize::from(!held);
            }
            if missing == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{missing} of {} healed blocks are in no store",
                lost_data.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for node in &nodes {
            node.shutdown().await;
        }
    })
    .await
    .expect("test exceeded its time limit");
}

/// The segment manifests among a splitfile's blocks.
fn segment_manifests(blocks: &[(ChkKey, fogstore::block::chk::ChkBlock)]) -> Vec<FecManifest> {
    blocks
        .iter()
        .filter_map(|(k, b)| {
            let doc = chk::decode(k, b).unwrap();
            (doc.kind == ContentKind::Manifest).then_some(doc.bytes)
        })
        .filter_map(|bytes| FecManifest::parse(&bytes).ok())
        .filter(|m| m.level == 1)
        .collect()
}

// ---- fog key -------------------------------------------------------------

#[test]
fn fog_key_on_a_100_kb_file_matches_key_of() {
    let scratch = Scratch::new("cli");
    let doc = random_doc(15, 100_000);
    let file = scratch.0.join("doc.bin");
    std::fs::write(&file, &doc).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fog"))
        .args(["key", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = Key::Chk(splitfile::key_of(&doc[..]).unwrap()).to_string();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{expected}\n")
    );
}

// ---- Known-answer vectors ------------------------------------------------

/// A document given by the `stream` or `repeat` generator of §8.
#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "snake_case")]
enum DocSpec {
    Stream { seed: String, length: usize },
    Repeat { byte: u8, length: usize },
}

impl DocSpec {
    fn bytes(&self) -> Vec<u8> {
        match self {
            DocSpec::Stream { seed, length } => {
                let mut out = Vec::with_capacity(length + 32);
                let mut counter = 0u64;
                while out.len() < *length {
                    let mut h = Sha256::new();
                    h.update(seed.as_bytes());
                    h.update(counter.to_be_bytes());
                    out.extend_from_slice(&h.finalize());
                    counter += 1;
                }
                out.truncate(*length);
                out
            }
            DocSpec::Repeat { byte, length } => vec![*byte; *length],
        }
    }
}

#[derive(Serialize, Deserialize, PartialEq, Debug, Default)]
struct SplitOut {
    uri: String,
    data_blocks: usize,
    check_blocks: usize,
    /// Each segment's data and check block counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    segments: Vec<[usize; 2]>,
    manifests: usize,
    top_level: u8,
    /// SHA-256 of the top block's manifest document (absent for one block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    top_manifest_sha256: Option<String>,
    /// SHA-256 of the first segment's check pieces, in order, concatenated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_checks_sha256: Option<String>,
    /// SHA-256 of the first segment's data rebuilt from the blocks
    /// `rebuild_from` lists (it is the document's first bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rebuilt_sha256: Option<String>,
}

fn default_redundancy() -> u8 {
    splitfile::DEFAULT_REDUNDANCY
}

#[derive(Serialize, Deserialize)]
struct SplitVector {
    name: String,
    document: DocSpec,
    document_sha256: String,
    #[serde(default = "default_redundancy")]
    redundancy: u8,
    /// Indices (in the first segment's entries) of the blocks to rebuild
    /// its data from; the others are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rebuild_from: Option<Vec<usize>>,
    expect: SplitOut,
}

fn compute(doc: &[u8], redundancy: u8, rebuild_from: Option<&[usize]>) -> SplitOut {
    use fogstore::client::fec;
    let (top, blocks) = splitfile::encode_all_with(doc, redundancy).unwrap();
    let mut out = SplitOut {
        uri: Key::Chk(top).to_string(),
        ..SplitOut::default()
    };
    let opened: std::collections::HashMap<ChkKey, fogstore::block::Document> = blocks
        .iter()
        .map(|(k, b)| (*k, chk::decode(k, b).unwrap()))
        .collect();
    let mut segments = Vec::new();
    for (key, _) in &blocks {
        let doc = &opened[key];
        match doc.kind {
            ContentKind::Data => {}
            ContentKind::Manifest => {
                out.manifests += 1;
                let manifest = FecManifest::parse(&doc.bytes).unwrap();
                if manifest.level == 1 {
                    let k = manifest.data_count();
                    out.segments.push([k, manifest.entries.len() - k]);
                    segments.push(manifest.clone());
                }
                if *key == top {
                    out.top_level = manifest.level;
                    out.top_manifest_sha256 = Some(hex::encode(Sha256::digest(&doc.bytes)));
                }
            }
        }
    }
    out.data_blocks = out.segments.iter().map(|s| s[0]).sum();
    out.check_blocks = out.segments.iter().map(|s| s[1]).sum();
    if out.manifests == 0 {
        out.data_blocks = 1;
    }
    if let Some(first) = segments.first() {
        let k = first.data_count();
        let pieces: Vec<Vec<u8>> = first
            .entries
            .iter()
            .map(|key| {
                let mut piece = opened[key].bytes.clone();
                piece.resize(fec::PIECE_SIZE, 0);
                piece
            })
            .collect();
        if first.entries.len() > k {
            out.first_checks_sha256 = Some(hex::encode(Sha256::digest(pieces[k..].concat())));
        }
        if let Some(keep) = rebuild_from {
            let mut partial: Vec<Option<Vec<u8>>> = pieces
                .iter()
                .enumerate()
                .map(|(i, p)| keep.contains(&i).then(|| p.clone()))
                .collect();
            fec::rebuild(&mut partial, k).unwrap();
            let mut data: Vec<u8> = partial[..k]
                .iter()
                .flat_map(|p| p.clone().unwrap())
                .collect();
            data.truncate(first.total as usize);
            assert!(data == doc[..data.len()], "the rebuilt segment differs");
            out.rebuilt_sha256 = Some(hex::encode(Sha256::digest(&data)));
        }
    }
    out
}

#[test]
fn splitfile_vectors() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("keys/splitfile.json");
    let bless = std::env::var_os("FOGSTORE_BLESS").is_some();
    let mut vectors: Vec<SplitVector> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for v in &mut vectors {
        let doc = v.document.bytes();
        assert_eq!(
            hex::encode(Sha256::digest(&doc)),
            v.document_sha256,
            "{}",
            v.name
        );
        let got = compute(&doc, v.redundancy, v.rebuild_from.as_deref());
        if bless {
            v.expect = got;
        } else {
            assert_eq!(got, v.expect, "{}", v.name);
        }
    }
    if bless {
        let mut text = serde_json::to_string_pretty(&vectors).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
    }
}
