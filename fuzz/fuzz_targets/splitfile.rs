//! Splitfile manifests: `Manifest::parse` on untrusted bytes, and
//! `splitfile::fetch` over a tree of untrusted blocks.
//!
//! Byte 0 of the input picks a mode:
//!
//! - even, parse: the rest is a manifest's bytes. Parsing never panics, and
//!   an accepted manifest is within its bounds and `to_bytes` gives back
//!   exactly the bytes parsed.
//! - odd, fetch: the rest describes up to 12 blocks, sealed as CHK blocks
//!   into a `MemorySource`; the last one is the top, and `fetch` reads the
//!   document under it. Each block is
//!   - data, `t` even: `t, len (u16), k, k bytes`: a document of `len`
//!     bytes (mod 32761) filled with `t >> 2` and starting with the `k`
//!     bytes, of content kind manifest if bit 1 of `t` is set;
//!   - a manifest, `t` odd: `t, level, total (u64), n (u16, mod 512), n
//!     child indices` (if the input runs out, the last index repeats), then,
//!     as bits 1, 2, 3 of `t` ask, an entry count (u32) other than `n`, two
//!     reserved bytes and a version byte. Child `i` is the key of block `i`
//!     mod the blocks so far (the same block may appear many times), so the
//!     fuzzer can build trees and DAGs.
//!
//!   `fetch` never panics; a document it returns has the manifest's total
//!   length, and (below 64 blocks, to keep runs fast) encoding it again
//!   gives the same top key: the fetcher accepts only canonical trees.
//!   Tops covering more than 1030 blocks are not fetched (they would only
//!   be slow: a DAG can name a petabyte with a few blocks).
#![no_main]

mod input;

use std::sync::{Arc, OnceLock};

use fogstore::block::chk::{self, ChkBlock};
use fogstore::block::{BLOCK_CAPACITY, ContentKind};
use fogstore::client::splitfile::{
    self, ENTRY_SIZE, FecManifest, FetchOptions, MANIFEST_HEADER_SIZE, MAX_DEPTH, MAX_ENTRIES,
    Manifest, MemorySource, span,
};
use fogstore::key::ChkKey;
use libfuzzer_sys::fuzz_target;

use input::Input;

const MAX_BLOCKS: usize = 12;
/// Tops covering more document than this are parsed but not fetched.
const MAX_FETCHED: u64 = 1030 * BLOCK_CAPACITY as u64;
/// Documents up to this size are re-encoded to compare top keys.
const MAX_REENCODED: usize = 64 * BLOCK_CAPACITY;

fn parse(bytes: &[u8]) {
    let Ok(manifest) = Manifest::parse(bytes) else {
        return;
    };
    assert_eq!(manifest.to_bytes(), bytes);
    assert!((1..=MAX_DEPTH).contains(&manifest.level));
    let count = manifest.entries.len();
    assert!((1..=MAX_ENTRIES).contains(&count));
    assert_eq!(bytes.len(), MANIFEST_HEADER_SIZE + count * ENTRY_SIZE);
    assert_eq!(
        manifest.total.div_ceil(span(manifest.level - 1)),
        count as u64
    );
    assert_eq!(Manifest::parse(&manifest.to_bytes()), Ok(manifest));
}

/// `FecManifest::parse` (version 2) never panics, and what it accepts
/// round-trips.
fn parse_v2(bytes: &[u8]) {
    if let Ok(manifest) = FecManifest::parse(bytes) {
        assert_eq!(FecManifest::parse(&manifest.to_bytes()), Ok(manifest));
    }
}

/// The document of one block as the input describes it.
fn block_doc(input: &mut Input, keys: &[ChkKey]) -> (ContentKind, Vec<u8>) {
    let t = input.byte();
    if t & 1 == 0 {
        let len = usize::from(u16::from_be_bytes(input.array())) % (BLOCK_CAPACITY + 1);
        let mut doc = vec![t >> 2; len];
        let k = usize::from(input.byte());
        let prefix = input.take(k.min(len));
        doc[..prefix.len()].copy_from_slice(prefix);
        let kind = if t & 2 == 0 {
            ContentKind::Data
        } else {
            ContentKind::Manifest
        };
        return (kind, doc);
    }
    let level = input.byte();
    let total = u64::from_be_bytes(input.array());
    let n = usize::from(u16::from_be_bytes(input.array())) % (MAX_ENTRIES + 1);
    let mut children = input.take(n).to_vec();
    // Short of input, the last index repeats: one byte can name 511 children.
    let last = children.last().copied().unwrap_or(0);
    children.resize(n, last);
    let count = if t & 2 != 0 {
        u32::from_be_bytes(input.array())
    } else {
        n as u32
    };
    let reserved = if t & 4 != 0 { input.array() } else { [0; 2] };
    let version = if t & 8 != 0 {
        input.byte()
    } else {
        splitfile::VERSION
    };
    let mut doc = Vec::with_capacity(MANIFEST_HEADER_SIZE + children.len() * ENTRY_SIZE);
    doc.extend_from_slice(&splitfile::MAGIC);
    doc.push(version);
    doc.push(level);
    doc.extend_from_slice(&reserved);
    doc.extend_from_slice(&total.to_be_bytes());
    doc.extend_from_slice(&count.to_be_bytes());
    for &child in &children {
        let key = match keys {
            [] => ChkKey {
                routing: fogstore::key::RoutingKey([child; 32]),
                crypto: [child; 32],
            },
            _ => keys[usize::from(child) % keys.len()],
        };
        doc.extend_from_slice(key.routing.as_bytes());
        doc.extend_from_slice(&key.crypto);
    }
    (ContentKind::Manifest, doc)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime")
    })
}

fn fetch(mut input: Input) {
    let mut keys = Vec::new();
    let mut source = MemorySource::new();
    let mut top = None;
    while !input.is_empty() && keys.len() < MAX_BLOCKS {
        let (kind, doc) = block_doc(&mut input, &keys);
        parse(&doc);
        parse_v2(&doc);
        let (key, block): (ChkKey, ChkBlock) =
            chk::encode_kind(kind, &doc).expect("every description fits one block");
        source.insert(key, block);
        keys.push(key);
        top = Some((key, kind, doc));
    }
    let Some((key, kind, top_doc)) = top else {
        return;
    };
    // The top's total, and the redundancy to re-encode with (none for a
    // version-1 splitfile: that format is read, no longer written).
    let (total, redundancy) = match kind {
        ContentKind::Data => (top_doc.len() as u64, Some(0)),
        ContentKind::Manifest => match Manifest::parse(&top_doc) {
            Ok(m) if m.total > MAX_FETCHED => return,
            Ok(m) => (m.total, None),
            Err(_) => match FecManifest::parse(&top_doc) {
                Ok(m) if m.total > MAX_FETCHED => return,
                // Check blocks are fetched only in place of lost data
                // blocks, so only a splitfile without them must be the
                // encoder's.
                Ok(m) => (m.total, (m.redundancy == 0).then_some(0)),
                Err(_) => (0, None),
            },
        },
    };
    let source = Arc::new(source);
    // One attempt per block: the source is in memory, and a second would
    // only sleep.
    let options = FetchOptions {
        attempts: 1,
        backoff: std::time::Duration::ZERO,
    };
    let result = runtime().block_on(async {
        let mut out = Vec::new();
        splitfile::fetch_with(&key, Arc::clone(&source), &mut out, &options)
            .await
            .map(|_| out)
    });
    let Ok(doc) = result else {
        return;
    };
    assert_eq!(doc.len() as u64, total);
    if kind == ContentKind::Data {
        assert_eq!(doc, top_doc);
    }
    if let Some(redundancy) = redundancy.filter(|_| doc.len() <= MAX_REENCODED) {
        let (again, _) =
            splitfile::encode_all_with(&doc, redundancy).expect("a fetched document encodes");
        assert_eq!(again, key, "fetch accepted a non-canonical splitfile");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    if input.byte().is_multiple_of(2) {
        parse(input.0);
        parse_v2(input.0);
    } else {
        fetch(input);
    }
});
