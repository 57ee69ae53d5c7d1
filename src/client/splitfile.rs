//! Splitfiles: documents of any size as a tree of CHK blocks, with
//! Reed–Solomon check blocks so that lost blocks can be rebuilt.
//!
//! A document of at most [`BLOCK_CAPACITY`] bytes is one data block, exactly
//! as [`chk::encode`] makes it. A larger one is cut into data blocks of
//! [`BLOCK_CAPACITY`] bytes (the last one shorter), grouped into
//! **segments** of at most [`MAX_SEGMENT_DATA`] data blocks. Each segment
//! gets check blocks ([`fec`](super::fec), `redundancy` percent of its data
//! blocks, 100% by default), so that any `k` of its `n` blocks rebuild its
//! `k` data blocks. A **segment manifest** (a level-1 [`FecManifest`], a
//! document of content kind [`ContentKind::Manifest`]) lists a segment's
//! data and check keys; manifests of higher levels list up to
//! [`MAX_ENTRIES`] manifests of the level below, up to [`MAX_DEPTH`]. The key
//! of the single manifest at the top is the document's key.
//! `docs/protocol.md` §12 gives the layout byte for byte.
//!
//! Encoding streams: an [`Encoder`] reads into one data block, hands out
//! each block as soon as it is sealed (data blocks, each segment's check
//! blocks once the segment closes, manifests last), and holds at most two
//! segments of data for the check blocks. It is convergent: the same bytes
//! at the same redundancy always give the same blocks and the same top key
//! ([`key_of`]).
//!
//! Decoding ([`fetch`]) walks the tree depth first, checks every manifest
//! strictly against its parent, and fetches one segment at a time from a
//! [`BlockSource`]: data blocks first, check blocks in place of those that
//! fail, failed blocks again after a pause ([`FetchOptions`]), until it
//! holds `k` of the segment's blocks. It rebuilds the missing data blocks,
//! checks each rebuilt block against its key, and writes the document in
//! order to a sink, never holding more than a segment. Splitfiles of
//! manifest version 1 (no check blocks, written before FEC) still decode.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::block::chk::{self, ChkBlock};
use crate::block::{BLOCK_CAPACITY, BlockError, ContentKind, Document};
use crate::key::{ChkKey, Key, RoutingKey};

use super::fec;
pub use super::fec::{
    DEFAULT_REDUNDANCY, FecError, MAX_REDUNDANCY, MAX_SEGMENT_CHECKS, MAX_SEGMENT_DATA,
};

/// The first four bytes of every manifest.
pub const MAGIC: [u8; 4] = *b"FOGM";
/// The manifest format version this code writes: segments with check
/// blocks ([`FecManifest`]).
pub const VERSION: u8 = 2;
/// The first manifest version (no check blocks, [`Manifest`]), still read.
pub const VERSION_1: u8 = 1;
/// Bytes of the manifest header before the entries.
pub const MANIFEST_HEADER_SIZE: usize = 20;
/// Bytes of one manifest entry: routing key then crypto key.
pub const ENTRY_SIZE: usize = 64;
/// The most entries one manifest holds: 511.
pub const MAX_ENTRIES: usize = (BLOCK_CAPACITY - MANIFEST_HEADER_SIZE) / ENTRY_SIZE;
/// The deepest manifest level: a level-`MAX_DEPTH` manifest is the largest
/// top a document may have.
pub const MAX_DEPTH: u8 = 4;
/// The most segments a document has: a level-[`MAX_DEPTH`] top lists
/// 511³ segment manifests at most.
pub const MAX_SEGMENTS: u64 = segments_per(MAX_DEPTH);
/// The largest document the encoder writes: [`MAX_SEGMENTS`] full segments,
/// about 560 TB. (A version-1 splitfile may cover up to [`span`]`(MAX_DEPTH)`,
/// about 2.2 PB.)
pub const MAX_DOCUMENT_SIZE: u64 = MAX_SEGMENTS * MAX_SEGMENT_DATA as u64 * BLOCK_CAPACITY as u64;
/// How many blocks [`fetch`] requests at once.
pub const FETCH_CONCURRENCY: usize = 8;

/// How many segments a manifest of `level` (≥ 1) covers when full:
/// 511^(level − 1).
pub const fn segments_per(level: u8) -> u64 {
    let mut n = 1u64;
    let mut i = 1;
    while i < level {
        n *= MAX_ENTRIES as u64;
        i += 1;
    }
    n
}

/// How a document of `len` bytes (over one block) is cut into data blocks
/// and segments (`docs/protocol.md` §12.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The document's length.
    pub len: u64,
    /// `N = ceil(len / 32760)`.
    pub data_blocks: u64,
    /// `S = ceil(N / 128)`.
    pub segments: u64,
}

impl Layout {
    /// The layout of a document of `len` bytes.
    pub fn new(len: u64) -> Layout {
        let data_blocks = len.div_ceil(BLOCK_CAPACITY as u64).max(1);
        Layout {
            len,
            data_blocks,
            segments: data_blocks.div_ceil(MAX_SEGMENT_DATA as u64),
        }
    }

    /// The index (from 0) of segment `j`'s first data block; `N` for
    /// `j ≥ S`. Segments hold 128 data blocks each but the last two, which
    /// share the rest, the first of them taking the odd one.
    pub fn first_block(&self, j: u64) -> u64 {
        let (n, s, full) = (self.data_blocks, self.segments, MAX_SEGMENT_DATA as u64);
        if j >= s {
            n
        } else if s == 1 || j + 2 <= s {
            full * j
        } else {
            let rest = n - full * (s - 2);
            full * (s - 2) + rest.div_ceil(2)
        }
    }

    /// How many data blocks segment `j` holds.
    pub fn segment_data(&self, j: u64) -> u64 {
        self.first_block(j + 1) - self.first_block(j)
    }

    /// The bytes of document in segments `a .. b`.
    pub fn bytes(&self, a: u64, b: u64) -> u64 {
        let cap = BLOCK_CAPACITY as u64;
        (self.first_block(b) * cap).min(self.len) - (self.first_block(a) * cap).min(self.len)
    }

    /// The level of the top manifest: 1 for one segment, else the least
    /// level whose manifest covers every segment.
    pub fn top_level(&self) -> u8 {
        let mut level = 1;
        while segments_per(level) < self.segments {
            level += 1;
        }
        level
    }
}

/// The bytes of document a full subtree at `level` covers: one data block
/// at level 0, [`MAX_ENTRIES`] times the level below above that.
///
/// `level` must be at most [`MAX_DEPTH`].
pub const fn span(level: u8) -> u64 {
    let mut bytes = BLOCK_CAPACITY as u64;
    let mut i = 0;
    while i < level {
        bytes *= MAX_ENTRIES as u64;
        i += 1;
    }
    bytes
}

/// Why a manifest's bytes are not a well-formed manifest.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum ManifestError {
    /// Fewer bytes than the header.
    #[error("{len} bytes is shorter than the {MANIFEST_HEADER_SIZE}-byte manifest header")]
    TooShort {
        /// The manifest's length.
        len: usize,
    },
    /// The first four bytes are not `FOGM`.
    #[error("bad magic (not a fogstore manifest)")]
    BadMagic,
    /// A version this code does not read.
    #[error("unsupported manifest version {0}")]
    UnsupportedVersion(u8),
    /// A level outside 1 ..= [`MAX_DEPTH`].
    #[error("manifest depth {0} is outside 1..={MAX_DEPTH}")]
    BadDepth(u8),
    /// The reserved header bytes are not zero.
    #[error("reserved manifest bytes are not zero")]
    ReservedNotZero,
    /// An entry count of 0 or over [`MAX_ENTRIES`].
    #[error("entry count {0} is outside 1..={MAX_ENTRIES}")]
    BadCount(u32),
    /// The bytes after the header are not exactly the entries counted.
    #[error("manifest counts {count} entries but carries {bytes} bytes of entries")]
    LengthMismatch {
        /// The entry count in the header.
        count: u32,
        /// The bytes after the header.
        bytes: usize,
    },
    /// The entry count is not the one the total length needs.
    #[error(
        "manifest lists {count} entries but a total of {total} bytes at level {level} needs {expected}"
    )]
    CountMismatch {
        /// The manifest's level.
        level: u8,
        /// The total length in the header.
        total: u64,
        /// The entry count in the header.
        count: u32,
        /// The count the total needs.
        expected: u64,
    },
    /// A top-level manifest with one entry: that entry should be the top.
    #[error("top-level manifest lists a single entry (not the canonical encoding)")]
    NotMinimal,
    /// A manifest at another level than its parent says.
    #[error("manifest is at level {got} where its parent needs level {expected}")]
    WrongLevel {
        /// The level the parent implies.
        expected: u8,
        /// The level in the header.
        got: u8,
    },
    /// A manifest covering another length than its parent says.
    #[error("manifest covers {got} bytes where its parent needs {expected}")]
    WrongTotal {
        /// The length the parent implies.
        expected: u64,
        /// The total in the header.
        got: u64,
    },
    /// A redundancy over [`MAX_REDUNDANCY`] percent.
    #[error("redundancy {0}% is over {MAX_REDUNDANCY}%")]
    BadRedundancy(u8),
    /// A manifest whose redundancy differs from its parent's.
    #[error("manifest has redundancy {got}% where its parent has {expected}%")]
    WrongRedundancy {
        /// The parent's.
        expected: u8,
        /// This manifest's.
        got: u8,
    },
    /// A segment manifest covering no data or more than a segment holds.
    #[error("segment manifest covers {0} bytes: not 1 ..= 128 data blocks")]
    BadSegment(u64),
    /// A top manifest covering a document that fits one block, or more
    /// than the largest splitfile.
    #[error("top manifest covers {0} bytes: a splitfile covers 32761 ..= {MAX_DOCUMENT_SIZE}")]
    BadTotal(u64),
}

/// Why a block source could not supply a block.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source does not have the block (a network: hops to live ran
    /// out before it was found).
    #[error("not found")]
    NotFound,
    /// A network found no route to it: every peer was tried.
    #[error("route not found")]
    NoRoute,
    /// A network gave no answer in time.
    #[error("timed out")]
    TimedOut,
    /// Any other failure (a node's error, an I/O error).
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Why a splitfile could not be encoded or fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SplitfileError {
    /// Reading the document failed.
    #[error("reading the document: {0}")]
    Read(#[source] io::Error),
    /// Writing the document to the sink failed.
    #[error("writing the document: {0}")]
    Write(#[source] io::Error),
    /// The document exceeds [`MAX_DOCUMENT_SIZE`].
    #[error("document of more than {MAX_DOCUMENT_SIZE} bytes exceeds the largest splitfile")]
    TooLarge {
        /// How many bytes had been read when the limit was crossed.
        size: u64,
    },
    /// The source could not supply a block.
    #[error("{place} ({}): {source}", Key::Chk(*key))]
    Missing {
        /// The block's key.
        key: ChkKey,
        /// Which block of the document it is.
        place: Place,
        /// What the source said.
        source: SourceError,
    },
    /// A block does not verify or open under its key.
    #[error("block {} does not open: {source}", Key::Chk(*key))]
    Block {
        /// The block's key.
        key: ChkKey,
        /// Why it does not open.
        source: BlockError,
    },
    /// A manifest is malformed, or inconsistent with its parent.
    #[error("malformed manifest {}: {source}", Key::Chk(*key))]
    Manifest {
        /// The manifest's key.
        key: ChkKey,
        /// What is wrong with it.
        source: ManifestError,
    },
    /// A block of the wrong content kind: data where a manifest belongs,
    /// or the reverse.
    #[error("block {} holds {got:?} where {expected:?} was expected", Key::Chk(*key))]
    UnexpectedKind {
        /// The block's key.
        key: ChkKey,
        /// The kind its place in the tree needs.
        expected: ContentKind,
        /// The kind it holds.
        got: ContentKind,
    },
    /// A data block of another length than its place in the tree needs.
    #[error("data block {} holds {got} bytes where {expected} were expected", Key::Chk(*key))]
    WrongDataLength {
        /// The block's key.
        key: ChkKey,
        /// The length its place needs.
        expected: usize,
        /// The length it holds.
        got: usize,
    },
    /// A fetch task panicked or was cancelled.
    #[error("a fetch task failed: {0}")]
    Task(String),
    /// A redundancy over [`MAX_REDUNDANCY`] percent was asked for.
    #[error("redundancy {0}% is over {MAX_REDUNDANCY}%")]
    BadRedundancy(u8),
    /// The erasure code failed (a bug, or a malformed segment).
    #[error("erasure code: {0}")]
    Fec(#[source] FecError),
    /// A data block rebuilt from its segment's other blocks does not match
    /// the key its manifest lists: the check blocks do not belong to it.
    /// Nothing of it is served.
    #[error("{place} ({}) rebuilt from its segment's check blocks does not match its key", Key::Chk(*key))]
    Rebuilt {
        /// The key the manifest lists.
        key: ChkKey,
        /// Which data block.
        place: Place,
    },
}

/// Where a block sits in a document, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The block the document's key names: the whole of a small document,
    /// or the top manifest of a splitfile.
    Top,
    /// A manifest below the top.
    Manifest,
    /// Data block `index` (from 1) of the document's `of`.
    Data {
        /// Its number, from 1, in document order.
        index: u64,
        /// How many data blocks the document has.
        of: u64,
    },
    /// A segment that could not be rebuilt: too few of its blocks were
    /// found. The key beside it is the last of its blocks that failed.
    Segment {
        /// Its number, from 1 (at most [`MAX_SEGMENTS`]).
        index: u32,
        /// How many segments the document has.
        of: u32,
        /// Its first data block's number, from 1.
        first: u64,
        /// Its last data block's number.
        last: u64,
        /// Its blocks found (data and check).
        found: u16,
        /// Its blocks, data and check.
        blocks: u16,
        /// How many it needs: its data block count `k`.
        needed: u16,
    },
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Top => f.write_str("the top block"),
            Place::Manifest => f.write_str("a manifest block"),
            Place::Data { index, of } => write!(f, "block {index} of {of}"),
            Place::Segment {
                index,
                of,
                first,
                last,
                found,
                blocks,
                needed,
            } => write!(
                f,
                "segment {index} of {of} (data blocks {first}-{last}): {found} of its {blocks} blocks found, {needed} needed; last missing"
            ),
        }
    }
}

/// A parsed manifest of version 1 (no check blocks): its level, the
/// document bytes it covers, and the keys of its children (data blocks at
/// level 1, level − 1 manifests above). Still read, no longer written.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Manifest {
    /// 1 ..= [`MAX_DEPTH`].
    pub level: u8,
    /// Bytes of document under this manifest.
    pub total: u64,
    /// The children's keys, in document order.
    pub entries: Vec<ChkKey>,
}

impl Manifest {
    /// The manifest's bytes (§12), as they go into a manifest block. Does not
    /// check the fields; [`Manifest::parse`] does.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MANIFEST_HEADER_SIZE + ENTRY_SIZE * self.entries.len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION_1);
        out.push(self.level);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.total.to_be_bytes());
        write_entries(&mut out, &self.entries);
        out
    }

    /// Parses and checks a manifest on its own: magic, version, level,
    /// reserved bytes, entry count against the bytes and against the total.
    /// Checks against a parent are [`fetch`]'s.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.len() < MANIFEST_HEADER_SIZE {
            return Err(ManifestError::TooShort { len: bytes.len() });
        }
        if bytes[0..4] != MAGIC {
            return Err(ManifestError::BadMagic);
        }
        if bytes[4] != VERSION_1 {
            return Err(ManifestError::UnsupportedVersion(bytes[4]));
        }
        let level = bytes[5];
        if !(1..=MAX_DEPTH).contains(&level) {
            return Err(ManifestError::BadDepth(level));
        }
        if bytes[6..8] != [0, 0] {
            return Err(ManifestError::ReservedNotZero);
        }
        let total = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let count = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
        if count == 0 || count as usize > MAX_ENTRIES {
            return Err(ManifestError::BadCount(count));
        }
        let body = &bytes[MANIFEST_HEADER_SIZE..];
        if body.len() != count as usize * ENTRY_SIZE {
            return Err(ManifestError::LengthMismatch {
                count,
                bytes: body.len(),
            });
        }
        let expected = total.div_ceil(span(level - 1));
        if expected != u64::from(count) {
            return Err(ManifestError::CountMismatch {
                level,
                total,
                count,
                expected,
            });
        }
        let entries = parse_entries(body);
        Ok(Manifest {
            level,
            total,
            entries,
        })
    }
}

/// A manifest's entry count (u32, big-endian) and entries, as both
/// versions write them after their header fields.
fn write_entries(out: &mut Vec<u8>, entries: &[ChkKey]) {
    let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for key in entries {
        out.extend_from_slice(key.routing.as_bytes());
        out.extend_from_slice(&key.crypto);
    }
}

/// The entries of a manifest body whose length the caller has checked to be
/// a multiple of [`ENTRY_SIZE`].
fn parse_entries(body: &[u8]) -> Vec<ChkKey> {
    body.chunks_exact(ENTRY_SIZE)
        .map(|e| ChkKey {
            routing: RoutingKey(e[..32].try_into().expect("32 bytes")),
            crypto: e[32..].try_into().expect("32 bytes"),
        })
        .collect()
}

/// The document bytes a manifest of either version covers, parsed and
/// checked on its own ([`Manifest::parse`] or [`FecManifest::parse`], by
/// its version byte).
pub fn manifest_total(bytes: &[u8]) -> Result<u64, ManifestError> {
    if bytes.get(4) == Some(&VERSION_1) {
        Manifest::parse(bytes).map(|m| m.total)
    } else {
        FecManifest::parse(bytes).map(|m| m.total)
    }
}

/// A parsed manifest of version 2 (`docs/protocol.md` §12.2): its level,
/// the redundancy of the document's segments, the document bytes it
/// covers, and its entries. At level 1 it is a segment manifest: the keys
/// of the segment's `k = ceil(total / 32760)` data blocks, then of its
/// `ceil(k · redundancy / 100)` check blocks. Above, the keys of the
/// manifests of the level below, in document order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FecManifest {
    /// 1 ..= [`MAX_DEPTH`].
    pub level: u8,
    /// Check blocks per segment, in percent of its data blocks.
    pub redundancy: u8,
    /// Bytes of document under this manifest.
    pub total: u64,
    /// The entries, in order.
    pub entries: Vec<ChkKey>,
}

impl FecManifest {
    /// The manifest's bytes, as they go into a manifest block. Does not
    /// check the fields; [`FecManifest::parse`] does.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MANIFEST_HEADER_SIZE + ENTRY_SIZE * self.entries.len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.level);
        out.push(self.redundancy);
        out.push(0);
        out.extend_from_slice(&self.total.to_be_bytes());
        write_entries(&mut out, &self.entries);
        out
    }

    /// The data blocks of a segment manifest: `ceil(total / 32760)`.
    pub fn data_count(&self) -> usize {
        self.total.div_ceil(BLOCK_CAPACITY as u64) as usize
    }

    /// Parses and checks a version-2 manifest on its own: magic, version,
    /// level, redundancy, reserved byte, entry count against the bytes and,
    /// for a segment manifest, against its total. Checks against a parent
    /// are [`fetch`]'s.
    pub fn parse(bytes: &[u8]) -> Result<FecManifest, ManifestError> {
        if bytes.len() < MANIFEST_HEADER_SIZE {
            return Err(ManifestError::TooShort { len: bytes.len() });
        }
        if bytes[0..4] != MAGIC {
            return Err(ManifestError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(ManifestError::UnsupportedVersion(bytes[4]));
        }
        let level = bytes[5];
        if !(1..=MAX_DEPTH).contains(&level) {
            return Err(ManifestError::BadDepth(level));
        }
        let redundancy = bytes[6];
        if redundancy > MAX_REDUNDANCY {
            return Err(ManifestError::BadRedundancy(redundancy));
        }
        if bytes[7] != 0 {
            return Err(ManifestError::ReservedNotZero);
        }
        let total = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let count = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
        if count == 0 || count as usize > MAX_ENTRIES {
            return Err(ManifestError::BadCount(count));
        }
        let body = &bytes[MANIFEST_HEADER_SIZE..];
        if body.len() != count as usize * ENTRY_SIZE {
            return Err(ManifestError::LengthMismatch {
                count,
                bytes: body.len(),
            });
        }
        if level == 1 {
            let k = total.div_ceil(BLOCK_CAPACITY as u64);
            if k == 0 || k > MAX_SEGMENT_DATA as u64 {
                return Err(ManifestError::BadSegment(total));
            }
            let expected = k + fec::check_blocks(k as usize, redundancy) as u64;
            if expected != u64::from(count) {
                return Err(ManifestError::CountMismatch {
                    level,
                    total,
                    count,
                    expected,
                });
            }
        }
        let entries = parse_entries(body);
        Ok(FecManifest {
            level,
            redundancy,
            total,
            entries,
        })
    }
}

/// The streaming splitfile encoder: feed it the document's bytes, take the
/// data and check blocks as they are sealed, then [`Encoder::finish`] for
/// the last blocks and the manifests.
///
/// It reads into one data block's buffer ([`Encoder::buffer_capacity`] =
/// [`BLOCK_CAPACITY`] bytes, allocated once) and hands out each data block
/// as soon as it is full. For the check blocks it keeps a copy of the data
/// blocks of the last two segments not yet closed (at most
/// [`Encoder::MAX_HELD_PIECES`] pieces of [`BLOCK_CAPACITY`] bytes, about
/// 8.4 MB, none at redundancy 0), and the keys of every block (128 bytes
/// per data block at 100%).
pub struct Encoder {
    buf: Box<[u8]>,
    filled: usize,
    total: u64,
    redundancy: u8,
    data_blocks: u64,
    /// Padded copies of the data blocks of the segments not yet closed
    /// (empty at redundancy 0).
    pending: VecDeque<Vec<u8>>,
    /// Their keys.
    pending_keys: VecDeque<ChkKey>,
    /// The entries (data keys, then check keys) of every closed segment.
    segments: Vec<Vec<ChkKey>>,
    /// Sealed blocks not yet handed out.
    out: VecDeque<(ChkKey, ChkBlock)>,
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder")
            .field("buffered", &self.filled)
            .field("data_blocks", &self.data_blocks)
            .field("redundancy", &self.redundancy)
            .field("held_pieces", &self.pending.len())
            .field("sealed_bytes", &self.total)
            .finish()
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    /// The most data pieces the encoder holds for its check blocks: two
    /// segments and one block, the point at which the first of them is
    /// known to be a full segment (§12.3).
    pub const MAX_HELD_PIECES: usize = 2 * MAX_SEGMENT_DATA + 1;

    /// An encoder for a new document, at [`DEFAULT_REDUNDANCY`].
    pub fn new() -> Encoder {
        Encoder::with_redundancy(DEFAULT_REDUNDANCY).expect("the default redundancy is valid")
    }

    /// An encoder adding `redundancy` percent of check blocks to every
    /// segment (0 ..= [`MAX_REDUNDANCY`]).
    pub fn with_redundancy(redundancy: u8) -> Result<Encoder, SplitfileError> {
        if redundancy > MAX_REDUNDANCY {
            return Err(SplitfileError::BadRedundancy(redundancy));
        }
        Ok(Encoder {
            buf: vec![0u8; BLOCK_CAPACITY].into_boxed_slice(),
            filled: 0,
            total: 0,
            redundancy,
            data_blocks: 0,
            pending: VecDeque::new(),
            pending_keys: VecDeque::new(),
            segments: Vec::new(),
            out: VecDeque::new(),
        })
    }

    /// Takes bytes from the front of `input` until a data block is full or
    /// `input` is empty, and returns a block if one was sealed (a data
    /// block, or a check block waiting to be handed out, which takes no
    /// input). Call it again while it returns a block: `None` means
    /// `input` is used up.
    pub fn push(
        &mut self,
        input: &mut &[u8],
    ) -> Result<Option<(ChkKey, ChkBlock)>, SplitfileError> {
        if let Some(block) = self.out.pop_front() {
            return Ok(Some(block));
        }
        let take = (BLOCK_CAPACITY - self.filled).min(input.len());
        self.buf[self.filled..self.filled + take].copy_from_slice(&input[..take]);
        self.filled += take;
        *input = &input[take..];
        if self.filled == BLOCK_CAPACITY {
            self.seal_data().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Returns a block waiting to be handed out, or reads from `reader`
    /// straight into the block buffer until a data block is full
    /// (returned) or the reader ends (`None`).
    pub fn fill_from<R: Read>(
        &mut self,
        reader: &mut R,
    ) -> Result<Option<(ChkKey, ChkBlock)>, SplitfileError> {
        if let Some(block) = self.out.pop_front() {
            return Ok(Some(block));
        }
        while self.filled < BLOCK_CAPACITY {
            match reader.read(&mut self.buf[self.filled..]) {
                Ok(0) => return Ok(None),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SplitfileError::Read(e)),
            }
        }
        self.seal_data().map(Some)
    }

    /// Bytes waiting for the next data block: always under
    /// [`BLOCK_CAPACITY`] between calls.
    pub fn buffered(&self) -> usize {
        self.filled
    }

    /// The size of the one read buffer the encoder holds.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.len()
    }

    /// Data blocks sealed so far.
    pub fn data_blocks(&self) -> usize {
        self.data_blocks as usize
    }

    /// Data pieces held for check blocks not yet made: at most
    /// [`Encoder::MAX_HELD_PIECES`].
    pub fn held_pieces(&self) -> usize {
        self.pending.len()
    }

    /// The redundancy, in percent.
    pub fn redundancy(&self) -> u8 {
        self.redundancy
    }

    /// Ends the document: the returned iterator yields the blocks not yet
    /// handed out (the last data block, the last segments' check blocks)
    /// and then every manifest, bottom level first, and [`Finish::top`]
    /// gives the document's key once it is exhausted.
    pub fn finish(mut self) -> Result<Finish, SplitfileError> {
        if self.filled > 0 || self.data_blocks == 0 {
            let last = self.seal_data()?;
            self.out.push_back(last);
        }
        let layout = Layout::new(self.total);
        let mut top = None;
        if self.data_blocks == 1 {
            // One data block: it is the document; no segment, no checks.
            top = self.pending_keys.front().copied();
        } else {
            let rest = self.pending_keys.len();
            if self.data_blocks <= MAX_SEGMENT_DATA as u64 {
                self.close_segment(rest)?;
            } else {
                // The last two segments share what is left (§12.3).
                self.close_segment(rest.div_ceil(2))?;
                self.close_segment(rest / 2)?;
            }
            debug_assert_eq!(self.segments.len() as u64, layout.segments);
        }
        Ok(Finish {
            out: self.out,
            layout,
            redundancy: self.redundancy,
            segments: self.segments,
            level: 0,
            current: Vec::new(),
            pos: 0,
            next: Vec::new(),
            top,
        })
    }

    fn seal_data(&mut self) -> Result<(ChkKey, ChkBlock), SplitfileError> {
        let total = self.total + self.filled as u64;
        if total > MAX_DOCUMENT_SIZE {
            return Err(SplitfileError::TooLarge { size: total });
        }
        let piece = &self.buf[..self.filled];
        let (key, block) = chk::encode(piece).expect("a data block never exceeds capacity");
        if self.redundancy > 0 {
            let mut padded = vec![0u8; fec::PIECE_SIZE];
            padded[..piece.len()].copy_from_slice(piece);
            self.pending.push_back(padded);
        }
        self.pending_keys.push_back(key);
        self.total = total;
        self.filled = 0;
        self.data_blocks += 1;
        if self.pending_keys.len() == Encoder::MAX_HELD_PIECES {
            // More than two segments' worth: the first 128 are a full one.
            self.close_segment(MAX_SEGMENT_DATA)?;
        }
        Ok((key, block))
    }

    /// Makes the check blocks of the first `k` pending data blocks, queues
    /// them, and records the segment's entries.
    fn close_segment(&mut self, k: usize) -> Result<(), SplitfileError> {
        let mut entries: Vec<ChkKey> = self.pending_keys.drain(..k).collect();
        let m = fec::check_blocks(k, self.redundancy);
        if m > 0 {
            let pieces: Vec<Vec<u8>> = self.pending.drain(..k).collect();
            let refs: Vec<&[u8]> = pieces.iter().map(|p| &p[..]).collect();
            let checks = fec::encode(&refs, m).map_err(SplitfileError::Fec)?;
            for check in checks {
                let (key, block) = chk::encode(&check).expect("a check piece fits one block");
                entries.push(key);
                self.out.push_back((key, block));
            }
        }
        self.segments.push(entries);
        Ok(())
    }
}

/// The end of an encoding: the last data and check blocks, then the
/// manifests. See [`Encoder::finish`].
#[derive(Debug)]
pub struct Finish {
    out: VecDeque<(ChkKey, ChkBlock)>,
    layout: Layout,
    redundancy: u8,
    /// Every segment's entries, made into level-1 manifests in turn.
    segments: Vec<Vec<ChkKey>>,
    /// The level of the manifests in `current` (0 while the segments'
    /// manifests are being made).
    level: u8,
    current: Vec<ChkKey>,
    pos: usize,
    next: Vec<ChkKey>,
    top: Option<ChkKey>,
}

impl Finish {
    /// The document's key, once every block has been taken.
    pub fn top(&self) -> Option<ChkKey> {
        self.top
    }

    /// The document's length.
    pub fn document_len(&self) -> u64 {
        self.layout.len
    }

    fn seal(&mut self, manifest: FecManifest) -> (ChkKey, ChkBlock) {
        let (key, block) = chk::encode_kind(ContentKind::Manifest, &manifest.to_bytes())
            .expect("a manifest of at most MAX_ENTRIES entries fits one block");
        self.next.push(key);
        (key, block)
    }
}

impl Iterator for Finish {
    type Item = (ChkKey, ChkBlock);

    fn next(&mut self) -> Option<(ChkKey, ChkBlock)> {
        if let Some(block) = self.out.pop_front() {
            return Some(block);
        }
        loop {
            if self.top.is_some() {
                return None;
            }
            if self.level == 0 {
                if self.pos < self.segments.len() {
                    let j = self.pos as u64;
                    let entries = std::mem::take(&mut self.segments[self.pos]);
                    self.pos += 1;
                    let manifest = FecManifest {
                        level: 1,
                        redundancy: self.redundancy,
                        total: self.layout.bytes(j, j + 1),
                        entries,
                    };
                    return Some(self.seal(manifest));
                }
            } else {
                if self.pos == 0 && self.current.len() == 1 {
                    self.top = Some(self.current[0]);
                    return None;
                }
                if self.pos < self.current.len() {
                    let end = (self.pos + MAX_ENTRIES).min(self.current.len());
                    // Each manifest of `current` covers this many segments.
                    let per = segments_per(self.level);
                    let first = self.pos as u64 * per;
                    let last = (end as u64 * per).min(self.layout.segments);
                    let manifest = FecManifest {
                        level: self.level + 1,
                        redundancy: self.redundancy,
                        total: self.layout.bytes(first, last),
                        entries: self.current[self.pos..end].to_vec(),
                    };
                    self.pos = end;
                    return Some(self.seal(manifest));
                }
            }
            self.current = std::mem::take(&mut self.next);
            self.pos = 0;
            self.level += 1;
        }
    }
}

/// Every block of the document `reader` yields, in insertion order (data
/// blocks and check blocks as each segment closes, then manifests), read
/// and sealed one block at a time. [`Blocks::top`] gives the document's key
/// once the iterator is exhausted.
#[derive(Debug)]
pub struct Blocks<R> {
    reader: R,
    state: State,
}

#[derive(Debug)]
enum State {
    Data(Encoder),
    Manifests(Finish),
    Failed,
}

impl<R: Read> Blocks<R> {
    /// Blocks of the document `reader` yields, at [`DEFAULT_REDUNDANCY`].
    pub fn new(reader: R) -> Blocks<R> {
        Blocks {
            reader,
            state: State::Data(Encoder::new()),
        }
    }

    /// Blocks of the document `reader` yields, with `redundancy` percent
    /// of check blocks.
    pub fn with_redundancy(reader: R, redundancy: u8) -> Result<Blocks<R>, SplitfileError> {
        Ok(Blocks {
            reader,
            state: State::Data(Encoder::with_redundancy(redundancy)?),
        })
    }

    /// The document's key, once every block has been taken.
    pub fn top(&self) -> Option<ChkKey> {
        match &self.state {
            State::Manifests(finish) => finish.top(),
            _ => None,
        }
    }

    /// The encoder, while data blocks are being read (for inspection).
    pub fn encoder(&self) -> Option<&Encoder> {
        match &self.state {
            State::Data(encoder) => Some(encoder),
            _ => None,
        }
    }
}

impl<R: Read> Iterator for Blocks<R> {
    type Item = Result<(ChkKey, ChkBlock), SplitfileError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match &mut self.state {
                State::Data(encoder) => match encoder.fill_from(&mut self.reader) {
                    Ok(Some(block)) => return Some(Ok(block)),
                    Ok(None) => {
                        let State::Data(encoder) =
                            std::mem::replace(&mut self.state, State::Failed)
                        else {
                            unreachable!("matched above")
                        };
                        match encoder.finish() {
                            Ok(finish) => self.state = State::Manifests(finish),
                            Err(e) => return Some(Err(e)),
                        }
                    }
                    Err(e) => {
                        self.state = State::Failed;
                        return Some(Err(e));
                    }
                },
                State::Manifests(finish) => return finish.next().map(Ok),
                State::Failed => return None,
            }
        }
    }
}

/// The key `reader`'s document would be published under at
/// [`DEFAULT_REDUNDANCY`], computed without storing anything.
pub fn key_of<R: Read>(reader: R) -> Result<ChkKey, SplitfileError> {
    key_of_with(reader, DEFAULT_REDUNDANCY)
}

/// The key `reader`'s document would be published under with `redundancy`
/// percent of check blocks.
pub fn key_of_with<R: Read>(reader: R, redundancy: u8) -> Result<ChkKey, SplitfileError> {
    let mut blocks = Blocks::with_redundancy(reader, redundancy)?;
    for block in blocks.by_ref() {
        block?;
    }
    Ok(blocks.top().expect("an exhausted encoding has a top key"))
}

/// Every block of an in-memory document at [`DEFAULT_REDUNDANCY`], and its
/// key.
pub fn encode_all(doc: &[u8]) -> Result<(ChkKey, Vec<(ChkKey, ChkBlock)>), SplitfileError> {
    encode_all_with(doc, DEFAULT_REDUNDANCY)
}

/// Every block of an in-memory document with `redundancy` percent of check
/// blocks, and its key.
pub fn encode_all_with(
    doc: &[u8],
    redundancy: u8,
) -> Result<(ChkKey, Vec<(ChkKey, ChkBlock)>), SplitfileError> {
    let mut blocks = Blocks::with_redundancy(doc, redundancy)?;
    let all = blocks.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok((blocks.top().expect("exhausted"), all))
}

/// The future a [`BlockSource`] returns.
pub type SourceFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ChkBlock, SourceError>> + Send + 'a>>;

/// Where [`fetch`] gets blocks: a node, a store, a map in memory. The
/// source need not verify blocks; [`fetch`] does.
pub trait BlockSource: Send + Sync + 'static {
    /// The block stored under `key`.
    fn fetch(&self, key: ChkKey) -> SourceFuture<'_>;

    /// A block of a splitfile that this source lost (every attempt at it
    /// failed) and that the fetch rebuilt and checked against its key, so
    /// that a source which can put it back does (healing). It must not
    /// wait: a source queues it or lets it go. The default lets it go.
    fn heal(&self, key: ChkKey, block: ChkBlock) {
        let _ = (key, block);
    }
}

/// Blocks in memory, for tests and offline use.
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    blocks: HashMap<RoutingKey, ChkBlock>,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> MemorySource {
        MemorySource::default()
    }

    /// Stores `block` under `key` (as given: it is not checked).
    pub fn insert(&mut self, key: ChkKey, block: ChkBlock) {
        self.blocks.insert(key.routing, block);
    }

    /// Removes the block under `key`.
    pub fn remove(&mut self, key: &ChkKey) -> Option<ChkBlock> {
        self.blocks.remove(&key.routing)
    }

    /// How many blocks it holds.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

impl Extend<(ChkKey, ChkBlock)> for MemorySource {
    fn extend<I: IntoIterator<Item = (ChkKey, ChkBlock)>>(&mut self, iter: I) {
        for (key, block) in iter {
            self.insert(key, block);
        }
    }
}

impl FromIterator<(ChkKey, ChkBlock)> for MemorySource {
    fn from_iter<I: IntoIterator<Item = (ChkKey, ChkBlock)>>(iter: I) -> Self {
        let mut source = MemorySource::new();
        source.extend(iter);
        source
    }
}

impl BlockSource for MemorySource {
    fn fetch(&self, key: ChkKey) -> SourceFuture<'_> {
        let found = self
            .blocks
            .get(&key.routing)
            .cloned()
            .ok_or(SourceError::NotFound);
        Box::pin(std::future::ready(found))
    }
}

/// How [`fetch`] treats blocks that fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchOptions {
    /// How often a block is asked for, in all, before it counts as lost
    /// (at least 1).
    pub attempts: u32,
    /// The pause before a failed block is asked for again; it grows
    /// fourfold with each attempt. A segment's untried blocks are asked for
    /// before any failed one is asked again.
    pub backoff: Duration,
}

impl Default for FetchOptions {
    /// 3 attempts, 250 ms then 1 s apart.
    fn default() -> Self {
        FetchOptions {
            attempts: 3,
            backoff: Duration::from_millis(250),
        }
    }
}

/// Fetches the document under `top` from `source` and writes it to `sink`
/// in order; returns its length. On an error the sink may hold a prefix of
/// the document (whole segments: a segment is written once rebuilt and
/// verified).
pub async fn fetch<S, W>(top: &ChkKey, source: Arc<S>, sink: &mut W) -> Result<u64, SplitfileError>
where
    S: BlockSource,
    W: AsyncWrite + Unpin + ?Sized,
{
    fetch_with(top, source, sink, &FetchOptions::default()).await
}

/// As [`fetch`], with `options` for failed blocks.
pub async fn fetch_with<S, W>(
    top: &ChkKey,
    source: Arc<S>,
    sink: &mut W,
    options: &FetchOptions,
) -> Result<u64, SplitfileError>
where
    S: BlockSource,
    W: AsyncWrite + Unpin + ?Sized,
{
    let block = fetch_retrying(&*source, *top, options)
        .await
        .map_err(|e| missing(top, Place::Top, e))?;
    let doc = open(top, &block)?;
    fetch_document_with(top, doc, source, sink, options).await
}

/// As [`fetch`], for a caller that has already fetched and opened the top
/// block (`doc`, under `top`).
pub async fn fetch_document<S, W>(
    top: &ChkKey,
    doc: Document,
    source: Arc<S>,
    sink: &mut W,
) -> Result<u64, SplitfileError>
where
    S: BlockSource,
    W: AsyncWrite + Unpin + ?Sized,
{
    fetch_document_with(top, doc, source, sink, &FetchOptions::default()).await
}

/// As [`fetch_document`], with `options` for failed blocks.
pub async fn fetch_document_with<S, W>(
    top: &ChkKey,
    doc: Document,
    source: Arc<S>,
    sink: &mut W,
    options: &FetchOptions,
) -> Result<u64, SplitfileError>
where
    S: BlockSource,
    W: AsyncWrite + Unpin + ?Sized,
{
    if doc.kind == ContentKind::Data {
        sink.write_all(&doc.bytes)
            .await
            .map_err(SplitfileError::Write)?;
        sink.flush().await.map_err(SplitfileError::Write)?;
        return Ok(doc.bytes.len() as u64);
    }
    if doc.bytes.get(4) == Some(&VERSION_1) && doc.bytes.get(0..4) == Some(&MAGIC[..]) {
        return fetch_v1(top, doc, source, sink).await;
    }
    let manifest = FecManifest::parse(&doc.bytes).map_err(|e| bad_manifest(top, e))?;
    fetch_v2(top, manifest, source, sink, options).await
}

/// A version-1 splitfile: every data block needed, no check blocks.
async fn fetch_v1<S, W>(
    top: &ChkKey,
    doc: Document,
    source: Arc<S>,
    sink: &mut W,
) -> Result<u64, SplitfileError>
where
    S: BlockSource,
    W: AsyncWrite + Unpin + ?Sized,
{
    let manifest = Manifest::parse(&doc.bytes).map_err(|e| bad_manifest(top, e))?;
    if manifest.entries.len() < 2 {
        return Err(bad_manifest(top, ManifestError::NotMinimal));
    }
    let mut walker = Walker {
        data_blocks: manifest.total.div_ceil(BLOCK_CAPACITY as u64),
        yielded: 0,
        stack: vec![Frame::new(manifest)],
    };
    let mut window = AbortOnDrop(VecDeque::with_capacity(FETCH_CONCURRENCY));
    let mut written = 0u64;
    loop {
        while window.0.len() < FETCH_CONCURRENCY {
            let Some((key, len, place)) = walker.next_data(&*source).await? else {
                break;
            };
            let source = Arc::clone(&source);
            window.0.push_back(tokio::spawn(async move {
                fetch_data(&*source, key, len, place).await
            }));
        }
        let Some(task) = window.0.pop_front() else {
            break;
        };
        let bytes = task
            .await
            .map_err(|e| SplitfileError::Task(e.to_string()))??;
        sink.write_all(&bytes)
            .await
            .map_err(SplitfileError::Write)?;
        written += bytes.len() as u64;
    }
    sink.flush().await.map_err(SplitfileError::Write)?;
    Ok(written)
}

/// Fetches the whole document under `top` into memory.
pub async fn fetch_to_vec<S: BlockSource>(
    top: &ChkKey,
    source: Arc<S>,
) -> Result<Vec<u8>, SplitfileError> {
    let mut out = Vec::new();
    fetch(top, source, &mut out).await?;
    Ok(out)
}

/// Data-block fetches in flight, aborted if the fetch ends early.
struct AbortOnDrop(VecDeque<JoinHandle<Result<Vec<u8>, SplitfileError>>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// A manifest being walked: the next child to visit.
struct Frame {
    manifest: Manifest,
    next: usize,
}

impl Frame {
    fn new(manifest: Manifest) -> Frame {
        Frame { manifest, next: 0 }
    }
}

/// Depth-first walk of the manifest tree, yielding data blocks in order.
struct Walker {
    /// How many data blocks the document has.
    data_blocks: u64,
    /// How many were yielded so far.
    yielded: u64,
    stack: Vec<Frame>,
}

impl Walker {
    /// The next data block's key, the length it must have, and its place.
    async fn next_data<S: BlockSource>(
        &mut self,
        source: &S,
    ) -> Result<Option<(ChkKey, usize, Place)>, SplitfileError> {
        loop {
            let Some(frame) = self.stack.last_mut() else {
                return Ok(None);
            };
            if frame.next == frame.manifest.entries.len() {
                self.stack.pop();
                continue;
            }
            let i = frame.next;
            frame.next += 1;
            let level = frame.manifest.level;
            let child_span = span(level - 1);
            // Parse checked count = ceil(total / child_span), so i * span < total.
            let child_total = child_span.min(frame.manifest.total - i as u64 * child_span);
            let key = frame.manifest.entries[i];
            if level == 1 {
                self.yielded += 1;
                let place = Place::Data {
                    index: self.yielded,
                    of: self.data_blocks,
                };
                return Ok(Some((key, child_total as usize, place)));
            }
            let block = source
                .fetch(key)
                .await
                .map_err(|e| missing(&key, Place::Manifest, e))?;
            let doc = open(&key, &block)?;
            if doc.kind != ContentKind::Manifest {
                return Err(SplitfileError::UnexpectedKind {
                    key,
                    expected: ContentKind::Manifest,
                    got: doc.kind,
                });
            }
            let child = Manifest::parse(&doc.bytes).map_err(|e| bad_manifest(&key, e))?;
            if child.level != level - 1 {
                return Err(bad_manifest(
                    &key,
                    ManifestError::WrongLevel {
                        expected: level - 1,
                        got: child.level,
                    },
                ));
            }
            if child.total != child_total {
                return Err(bad_manifest(
                    &key,
                    ManifestError::WrongTotal {
                        expected: child_total,
                        got: child.total,
                    },
                ));
            }
            self.stack.push(Frame::new(child));
        }
    }
}

/// Fetches, opens and checks one data block.
async fn fetch_data<S: BlockSource>(
    source: &S,
    key: ChkKey,
    len: usize,
    place: Place,
) -> Result<Vec<u8>, SplitfileError> {
    let block = source
        .fetch(key)
        .await
        .map_err(|e| missing(&key, place, e))?;
    let doc = open(&key, &block)?;
    if doc.kind != ContentKind::Data {
        return Err(SplitfileError::UnexpectedKind {
            key,
            expected: ContentKind::Data,
            got: doc.kind,
        });
    }
    if doc.bytes.len() != len {
        return Err(SplitfileError::WrongDataLength {
            key,
            expected: len,
            got: doc.bytes.len(),
        });
    }
    Ok(doc.bytes)
}

fn open(key: &ChkKey, block: &ChkBlock) -> Result<Document, SplitfileError> {
    chk::decode(key, block).map_err(|source| SplitfileError::Block { key: *key, source })
}

fn missing(key: &ChkKey, place: Place, source: SourceError) -> SplitfileError {
    SplitfileError::Missing {
        key: *key,
        place,
        source,
    }
}

fn bad_manifest(key: &ChkKey, source: ManifestError) -> SplitfileError {
    SplitfileError::Manifest { key: *key, source }
}

// ---- Version 2: segments with check blocks ------------------------------

/// A version-2 manifest being walked: the segments it covers and the next
/// child to visit.
struct FecFrame {
    key: ChkKey,
    manifest: FecManifest,
    /// The first segment it covers.
    first: u64,
    /// One past the last.
    end: u64,
    next: usize,
}

/// Checks a manifest of level ≥ 2 lists as many children as the segments
/// it covers need.
fn check_count(frame: &FecFrame) -> Result<(), SplitfileError> {
    let level = frame.manifest.level;
    if level == 1 {
        return Ok(());
    }
    let expected = (frame.end - frame.first).div_ceil(segments_per(level - 1));
    let count = frame.manifest.entries.len() as u64;
    if count != expected {
        return Err(bad_manifest(
            &frame.key,
            ManifestError::CountMismatch {
                level,
                total: frame.manifest.total,
                count: count as u32,
                expected,
            },
        ));
    }
    Ok(())
}

async fn fetch_v2<S, W>(
    top: &ChkKey,
    manifest: FecManifest,
    source: Arc<S>,
    sink: &mut W,
    options: &FetchOptions,
) -> Result<u64, SplitfileError>
where
    S: BlockSource,
    W: AsyncWrite + Unpin + ?Sized,
{
    if manifest.total <= BLOCK_CAPACITY as u64 || manifest.total > MAX_DOCUMENT_SIZE {
        return Err(bad_manifest(top, ManifestError::BadTotal(manifest.total)));
    }
    let layout = Layout::new(manifest.total);
    if manifest.level != layout.top_level() {
        return Err(bad_manifest(
            top,
            ManifestError::WrongLevel {
                expected: layout.top_level(),
                got: manifest.level,
            },
        ));
    }
    let redundancy = manifest.redundancy;
    let frame = FecFrame {
        key: *top,
        manifest,
        first: 0,
        end: layout.segments,
        next: 0,
    };
    check_count(&frame)?;
    let mut stack = vec![frame];
    let mut written = 0u64;
    while let Some(frame) = stack.last_mut() {
        if frame.manifest.level == 1 {
            let frame = stack.pop().expect("just looked");
            let pieces = fetch_segment(&source, &layout, &frame, options).await?;
            for piece in pieces {
                sink.write_all(&piece)
                    .await
                    .map_err(SplitfileError::Write)?;
                written += piece.len() as u64;
            }
            continue;
        }
        if frame.next == frame.manifest.entries.len() {
            stack.pop();
            continue;
        }
        let i = frame.next;
        frame.next += 1;
        let level = frame.manifest.level - 1;
        let per = segments_per(level);
        let first = frame.first + i as u64 * per;
        let end = (first + per).min(frame.end);
        let key = frame.manifest.entries[i];
        let block = fetch_retrying(&*source, key, options)
            .await
            .map_err(|e| missing(&key, Place::Manifest, e))?;
        let doc = open(&key, &block)?;
        if doc.kind != ContentKind::Manifest {
            return Err(SplitfileError::UnexpectedKind {
                key,
                expected: ContentKind::Manifest,
                got: doc.kind,
            });
        }
        let child = FecManifest::parse(&doc.bytes).map_err(|e| bad_manifest(&key, e))?;
        if child.level != level {
            return Err(bad_manifest(
                &key,
                ManifestError::WrongLevel {
                    expected: level,
                    got: child.level,
                },
            ));
        }
        if child.redundancy != redundancy {
            return Err(bad_manifest(
                &key,
                ManifestError::WrongRedundancy {
                    expected: redundancy,
                    got: child.redundancy,
                },
            ));
        }
        let expected = layout.bytes(first, end);
        if child.total != expected {
            return Err(bad_manifest(
                &key,
                ManifestError::WrongTotal {
                    expected,
                    got: child.total,
                },
            ));
        }
        let frame = FecFrame {
            key,
            manifest: child,
            first,
            end,
            next: 0,
        };
        check_count(&frame)?;
        stack.push(frame);
    }
    sink.flush().await.map_err(SplitfileError::Write)?;
    Ok(written)
}

/// Why one block of a segment could not be used.
enum PieceFailure {
    /// Lost: the source did not supply it, or supplied one that does not
    /// verify (another copy may; the segment's other blocks may do).
    Lost(SourceError),
    /// It opens under its key but is not what its place needs: the
    /// splitfile is malformed.
    Malformed(SplitfileError),
}

/// One block of a segment, opened and checked, zero-padded to a piece.
async fn fetch_piece<S: BlockSource>(
    source: &S,
    key: ChkKey,
    len: usize,
) -> Result<Vec<u8>, PieceFailure> {
    let block = source.fetch(key).await.map_err(PieceFailure::Lost)?;
    let doc = chk::decode(&key, &block)
        .map_err(|e| PieceFailure::Lost(SourceError::Other(Box::new(e))))?;
    if doc.kind != ContentKind::Data {
        return Err(PieceFailure::Malformed(SplitfileError::UnexpectedKind {
            key,
            expected: ContentKind::Data,
            got: doc.kind,
        }));
    }
    if doc.bytes.len() != len {
        return Err(PieceFailure::Malformed(SplitfileError::WrongDataLength {
            key,
            expected: len,
            got: doc.bytes.len(),
        }));
    }
    let mut piece = doc.bytes;
    piece.resize(fec::PIECE_SIZE, 0);
    Ok(piece)
}

/// How bad a lost block's reason is, for the one a failed segment names:
/// not found beats timed out beats anything else.
fn rank(error: &SourceError) -> u8 {
    match error {
        SourceError::NotFound | SourceError::NoRoute => 2,
        SourceError::TimedOut => 1,
        _ => 0,
    }
}

/// A block of a segment waiting to be asked for.
struct Wanted {
    index: usize,
    attempt: u32,
    at: Instant,
}

/// Fetches segment `frame` (a segment manifest) until `k` of its blocks
/// are in, rebuilds its missing data blocks and checks them against their
/// keys; returns its data blocks' bytes in order.
async fn fetch_segment<S: BlockSource>(
    source: &Arc<S>,
    layout: &Layout,
    frame: &FecFrame,
    options: &FetchOptions,
) -> Result<Vec<Vec<u8>>, SplitfileError> {
    let manifest = &frame.manifest;
    let k = manifest.data_count();
    let n = manifest.entries.len();
    let cap = BLOCK_CAPACITY as u64;
    let len_of = |i: usize| {
        if i < k {
            cap.min(manifest.total - i as u64 * cap) as usize
        } else {
            fec::PIECE_SIZE
        }
    };
    let mut pieces: Vec<Option<Vec<u8>>> = vec![None; n];
    let mut have = 0usize;
    let start = Instant::now();
    let mut queue: Vec<Wanted> = (0..n)
        .map(|index| Wanted {
            index,
            attempt: 1,
            at: start,
        })
        .collect();
    let mut tasks = JoinSet::new();
    let mut worst: Option<(ChkKey, SourceError)> = None;
    // Blocks the source failed to give at least once: those still missing
    // at the end are healed.
    let mut failed = vec![false; n];
    while have < k {
        // Ask for ready blocks, in order, while fewer than k are in or in
        // flight.
        let limit = FETCH_CONCURRENCY.min(k - have);
        while tasks.len() < limit {
            let now = Instant::now();
            let Some(pos) = queue.iter().position(|w| w.at <= now) else {
                break;
            };
            let wanted = queue.remove(pos);
            let source = Arc::clone(source);
            let key = manifest.entries[wanted.index];
            let len = len_of(wanted.index);
            tasks.spawn(async move {
                let result = fetch_piece(&*source, key, len).await;
                (wanted.index, wanted.attempt, result)
            });
        }
        let next_retry = queue.iter().map(|w| w.at).min();
        let joined = if tasks.is_empty() {
            let Some(at) = next_retry else {
                break;
            };
            tokio::time::sleep_until(at).await;
            continue;
        } else if let Some(at) = next_retry.filter(|_| tasks.len() < limit) {
            tokio::select! {
                joined = tasks.join_next() => joined,
                () = tokio::time::sleep_until(at) => continue,
            }
        } else {
            tasks.join_next().await
        };
        let (index, attempt, result) = joined
            .expect("tasks is not empty")
            .map_err(|e| SplitfileError::Task(e.to_string()))?;
        match result {
            Ok(piece) => {
                pieces[index] = Some(piece);
                have += 1;
            }
            Err(PieceFailure::Malformed(e)) => return Err(e),
            Err(PieceFailure::Lost(e)) => {
                failed[index] = true;
                if attempt < options.attempts {
                    let pause = options.backoff * 4u32.saturating_pow(attempt - 1);
                    queue.push(Wanted {
                        index,
                        attempt: attempt + 1,
                        at: Instant::now() + pause,
                    });
                }
                if worst.as_ref().is_none_or(|(_, w)| rank(&e) >= rank(w)) {
                    worst = Some((manifest.entries[index], e));
                }
            }
        }
    }
    drop(tasks);
    let j = frame.first;
    if have < k {
        let (key, source) = worst.expect("a segment short of blocks had a failure");
        return Err(SplitfileError::Missing {
            key,
            // Segments ≤ MAX_SEGMENTS < 2^32; blocks ≤ 256.
            place: Place::Segment {
                index: (j + 1) as u32,
                of: layout.segments as u32,
                first: layout.first_block(j) + 1,
                last: layout.first_block(j + 1),
                found: have as u16,
                blocks: n as u16,
                needed: k as u16,
            },
            source,
        });
    }
    let lost: Vec<usize> = (0..k).filter(|&i| pieces[i].is_none()).collect();
    let lost_checks: Vec<usize> = (k..n)
        .filter(|&i| failed[i] && pieces[i].is_none())
        .collect();
    if !lost.is_empty() {
        fec::rebuild(&mut pieces, k).map_err(SplitfileError::Fec)?;
    }
    let first = layout.first_block(j);
    let mut heal = Vec::new();
    let mut data = Vec::with_capacity(k);
    for (i, piece) in pieces.into_iter().take(k).enumerate() {
        let piece = piece.expect("rebuilt");
        if lost.contains(&i) {
            let key = manifest.entries[i];
            let (rebuilt, block) =
                chk::encode(&piece[..len_of(i)]).expect("a piece fits one block");
            if rebuilt != key {
                return Err(SplitfileError::Rebuilt {
                    key,
                    place: Place::Data {
                        index: first + i as u64 + 1,
                        of: layout.data_blocks,
                    },
                });
            }
            if failed[i] {
                heal.push((key, block));
            }
        }
        data.push(piece);
    }
    if !lost_checks.is_empty() {
        heal.extend(rebuilt_checks(manifest, &data, &lost_checks));
    }
    for (key, block) in heal {
        source.heal(key, block);
    }
    for (i, piece) in data.iter_mut().enumerate() {
        piece.truncate(len_of(i));
    }
    Ok(data)
}

/// The check blocks at `indices` of the segment `manifest` lists, encoded
/// again from its data pieces (each [`fec::PIECE_SIZE`] bytes), for
/// healing. One that does not match its key is left out: the manifest
/// names a wrong check block, and the document was fetched without it.
fn rebuilt_checks(
    manifest: &FecManifest,
    data: &[Vec<u8>],
    indices: &[usize],
) -> Vec<(ChkKey, ChkBlock)> {
    let k = data.len();
    let refs: Vec<&[u8]> = data.iter().map(|p| &p[..]).collect();
    let Ok(checks) = fec::encode(&refs, manifest.entries.len() - k) else {
        return Vec::new();
    };
    indices
        .iter()
        .filter_map(|&i| {
            let (key, block) = chk::encode(&checks[i - k]).expect("a check piece fits one block");
            (key == manifest.entries[i]).then_some((key, block))
        })
        .collect()
}

/// Fetches one block, asking again after a pause as `options` say.
async fn fetch_retrying<S: BlockSource>(
    source: &S,
    key: ChkKey,
    options: &FetchOptions,
) -> Result<ChkBlock, SourceError> {
    let mut pause = options.backoff;
    let mut attempt = 1;
    loop {
        match source.fetch(key).await {
            Ok(block) => return Ok(block),
            Err(e) if attempt >= options.attempts => return Err(e),
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause *= 4;
                attempt += 1;
            }
        }
    }
}
