//! Splitfiles: documents of any size as a tree of CHK blocks.
//!
//! A document of at most [`BLOCK_CAPACITY`] bytes is one data block, exactly
//! as [`chk::encode`] makes it. A larger one is cut into data blocks of
//! [`BLOCK_CAPACITY`] bytes (the last one shorter), and their keys are listed
//! in **manifests**: documents of content kind [`ContentKind::Manifest`],
//! each listing up to [`MAX_ENTRIES`] keys. When the list does not fit one
//! manifest, manifests are nested: a level-2 manifest lists level-1
//! manifests, and so on up to [`MAX_DEPTH`]. The key of the single manifest
//! at the top is the document's key. `docs/protocol.md` §12 gives the layout
//! byte for byte.
//!
//! Encoding streams: an [`Encoder`] holds one data block and the key lists
//! (64 bytes per data block), and hands out each block as soon as it is
//! sealed, data blocks first, manifests last. It is convergent: the same
//! bytes always give the same blocks and the same top key ([`key_of`]).
//!
//! Decoding ([`fetch`]) walks the tree depth first, checks every manifest
//! strictly against its parent, fetches up to [`FETCH_CONCURRENCY`] data
//! blocks at once from a [`BlockSource`], and writes the document in order
//! to a sink without holding it whole.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::block::chk::{self, ChkBlock};
use crate::block::{BLOCK_CAPACITY, BlockError, ContentKind, Document};
use crate::key::{ChkKey, Key, RoutingKey};

/// The first four bytes of every manifest.
pub const MAGIC: [u8; 4] = *b"FOGM";
/// The manifest format version this code writes and reads.
pub const VERSION: u8 = 1;
/// Bytes of the manifest header before the entries.
pub const MANIFEST_HEADER_SIZE: usize = 20;
/// Bytes of one manifest entry: routing key then crypto key.
pub const ENTRY_SIZE: usize = 64;
/// The most entries one manifest holds: 511.
pub const MAX_ENTRIES: usize = (BLOCK_CAPACITY - MANIFEST_HEADER_SIZE) / ENTRY_SIZE;
/// The deepest manifest level: a level-`MAX_DEPTH` manifest is the largest
/// top a document may have.
pub const MAX_DEPTH: u8 = 4;
/// The largest document a splitfile holds: [`span`]`(MAX_DEPTH)`, about
/// 2.2 PB.
pub const MAX_DOCUMENT_SIZE: u64 = span(MAX_DEPTH);
/// How many data blocks [`fetch`] requests at once.
pub const FETCH_CONCURRENCY: usize = 8;

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
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Top => f.write_str("the top block"),
            Place::Manifest => f.write_str("a manifest block"),
            Place::Data { index, of } => write!(f, "block {index} of {of}"),
        }
    }
}

/// A parsed manifest: its level, the document bytes it covers, and the keys
/// of its children (data blocks at level 1, level − 1 manifests above).
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
        out.push(VERSION);
        out.push(self.level);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.total.to_be_bytes());
        let count = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for key in &self.entries {
            out.extend_from_slice(key.routing.as_bytes());
            out.extend_from_slice(&key.crypto);
        }
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
        if bytes[4] != VERSION {
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
        let entries = body
            .chunks_exact(ENTRY_SIZE)
            .map(|e| ChkKey {
                routing: RoutingKey(e[..32].try_into().expect("32 bytes")),
                crypto: e[32..].try_into().expect("32 bytes"),
            })
            .collect();
        Ok(Manifest {
            level,
            total,
            entries,
        })
    }
}

/// The streaming splitfile encoder: feed it the document's bytes, take the
/// data blocks as they are sealed, then [`Encoder::finish`] for the last
/// data block and the manifests.
///
/// It holds one data block's buffer ([`Encoder::buffer_capacity`] =
/// [`BLOCK_CAPACITY`] bytes, allocated once) and 64 bytes per data block
/// sealed so far, nothing else.
pub struct Encoder {
    buf: Box<[u8]>,
    filled: usize,
    data_keys: Vec<ChkKey>,
    total: u64,
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder")
            .field("buffered", &self.filled)
            .field("data_blocks", &self.data_keys.len())
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
    /// An encoder for a new document.
    pub fn new() -> Encoder {
        Encoder {
            buf: vec![0u8; BLOCK_CAPACITY].into_boxed_slice(),
            filled: 0,
            data_keys: Vec::new(),
            total: 0,
        }
    }

    /// Takes bytes from the front of `input` until a data block is full or
    /// `input` is empty, and returns the block if one was sealed. Call it
    /// again while it returns a block: `None` means `input` is used up.
    pub fn push(
        &mut self,
        input: &mut &[u8],
    ) -> Result<Option<(ChkKey, ChkBlock)>, SplitfileError> {
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

    /// Reads from `reader` straight into the block buffer until a data block
    /// is full (returned) or the reader ends (`None`).
    pub fn fill_from<R: Read>(
        &mut self,
        reader: &mut R,
    ) -> Result<Option<(ChkKey, ChkBlock)>, SplitfileError> {
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

    /// The size of the one block buffer the encoder holds.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.len()
    }

    /// Data blocks sealed so far (the keys the encoder holds).
    pub fn data_blocks(&self) -> usize {
        self.data_keys.len()
    }

    /// Ends the document: the returned iterator yields the last data block
    /// (if not yet sealed) and then every manifest, bottom level first,
    /// and [`Finish::top`] gives the document's key once it is exhausted.
    pub fn finish(mut self) -> Result<Finish, SplitfileError> {
        let last = if self.filled > 0 || self.data_keys.is_empty() {
            Some(self.seal_data()?)
        } else {
            None
        };
        Ok(Finish {
            last,
            level: 0,
            current: std::mem::take(&mut self.data_keys),
            pos: 0,
            next: Vec::new(),
            total: self.total,
            top: None,
        })
    }

    fn seal_data(&mut self) -> Result<(ChkKey, ChkBlock), SplitfileError> {
        let total = self.total + self.filled as u64;
        if total > MAX_DOCUMENT_SIZE {
            return Err(SplitfileError::TooLarge { size: total });
        }
        let (key, block) =
            chk::encode(&self.buf[..self.filled]).expect("a data block never exceeds capacity");
        self.total = total;
        self.filled = 0;
        self.data_keys.push(key);
        Ok((key, block))
    }
}

/// The end of an encoding: the last data block, then the manifests. See
/// [`Encoder::finish`].
#[derive(Debug)]
pub struct Finish {
    last: Option<(ChkKey, ChkBlock)>,
    /// The level of the nodes in `current` (0 = data blocks).
    level: u8,
    current: Vec<ChkKey>,
    pos: usize,
    next: Vec<ChkKey>,
    total: u64,
    top: Option<ChkKey>,
}

impl Finish {
    /// The document's key, once every block has been taken.
    pub fn top(&self) -> Option<ChkKey> {
        self.top
    }

    /// The document's length.
    pub fn document_len(&self) -> u64 {
        self.total
    }
}

impl Iterator for Finish {
    type Item = (ChkKey, ChkBlock);

    fn next(&mut self) -> Option<(ChkKey, ChkBlock)> {
        if let Some(last) = self.last.take() {
            return Some(last);
        }
        loop {
            if self.top.is_some() {
                return None;
            }
            if self.pos == 0 && self.current.len() == 1 {
                self.top = Some(self.current[0]);
                return None;
            }
            if self.pos < self.current.len() {
                let end = (self.pos + MAX_ENTRIES).min(self.current.len());
                let level = self.level + 1;
                let start = self.pos as u64 * span(self.level);
                let manifest = Manifest {
                    level,
                    total: span(level).min(self.total - start),
                    entries: self.current[self.pos..end].to_vec(),
                };
                let (key, block) = chk::encode_kind(ContentKind::Manifest, &manifest.to_bytes())
                    .expect("a manifest of at most MAX_ENTRIES entries fits one block");
                self.next.push(key);
                self.pos = end;
                return Some((key, block));
            }
            self.current = std::mem::take(&mut self.next);
            self.pos = 0;
            self.level += 1;
        }
    }
}

/// Every block of the document `reader` yields, in insertion order (data
/// blocks, then manifests), read and sealed one block at a time.
/// [`Blocks::top`] gives the document's key once the iterator is exhausted.
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
    /// Blocks of the document `reader` yields.
    pub fn new(reader: R) -> Blocks<R> {
        Blocks {
            reader,
            state: State::Data(Encoder::new()),
        }
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

/// The key `reader`'s document would be published under, computed without
/// storing anything (one block in memory at a time).
pub fn key_of<R: Read>(reader: R) -> Result<ChkKey, SplitfileError> {
    let mut blocks = Blocks::new(reader);
    for block in blocks.by_ref() {
        block?;
    }
    Ok(blocks.top().expect("an exhausted encoding has a top key"))
}

/// Every block of an in-memory document, and its key.
pub fn encode_all(doc: &[u8]) -> Result<(ChkKey, Vec<(ChkKey, ChkBlock)>), SplitfileError> {
    let mut blocks = Blocks::new(doc);
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

/// Fetches the document under `top` from `source` and writes it to `sink`
/// in order; returns its length. On an error the sink may hold a prefix of
/// the document.
pub async fn fetch<S, W>(top: &ChkKey, source: Arc<S>, sink: &mut W) -> Result<u64, SplitfileError>
where
    S: BlockSource,
    W: AsyncWrite + Unpin + ?Sized,
{
    let block = source
        .fetch(*top)
        .await
        .map_err(|e| missing(top, Place::Top, e))?;
    let doc = open(top, &block)?;
    fetch_document(top, doc, source, sink).await
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
    if doc.kind == ContentKind::Data {
        sink.write_all(&doc.bytes)
            .await
            .map_err(SplitfileError::Write)?;
        sink.flush().await.map_err(SplitfileError::Write)?;
        return Ok(doc.bytes.len() as u64);
    }
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
