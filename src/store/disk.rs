//! The persistent store: ciphertext blocks in slot files, their index in a
//! redb database, least recently used evicted first, with a capacity in
//! bytes.
//!
//! The store's folder holds:
//!
//! - `chk.slots` and `ssk.slots`: one file per key kind, a row of slots
//!   of exactly one block of that kind each ([`Block::size_of`]), slot `i`
//!   at byte `i × size`, with no header;
//! - `store.redb`: one table, `index`, from the 33-byte node key (kind
//!   byte, then routing key) to the key's slot and its last-use sequence
//!   number (a `u64` drawn from one counter that only grows).
//!
//! A block's bytes are written once, with `pwrite`, into a free slot (the
//! lowest freed one, or a new one at the end of the file); the index
//! entries of a group of puts go into one redb transaction. Puts are
//! written in groups: a `put` keeps its block in memory (where `get` finds
//! it) until [`WRITE_BATCH`] have gathered, and those are written in one
//! go, the index committed without waiting for the disk (redb's
//! non-durable commit). A block is on disk once [`DiskStore::sync`]
//! returns: it writes what is gathered, `fsync`s the slot files, and only
//! then commits the index durably, which makes every commit before it
//! durable too. The routing core asks for that ([`Store::commit`]) where
//! it acknowledges a block it stored (at the end of an insert's path, on a
//! Chord transfer), so an acknowledged block survives a kill; a block only
//! cached on the way may be lost with the commits since the last sync. At
//! most [`SYNC_EVERY`] puts wait for a sync.
//!
//! No journal is needed for the slots, because every read verifies the
//! bytes against their key: a slot whose write was torn by a crash, or
//! that was given to a new block while the index on disk still names the
//! evicted one, fails verification and is dropped rather than served.
//! Because the slot files are synced before the index that names their
//! slots, an index entry that a sync made durable always names bytes that
//! are on disk. On open the index is read in sequence order to rebuild the
//! in-memory LRU index (key → slot) and the free slots; no block is read
//! until asked for.
//!
//! Recency updates from `get`s are kept in memory and written with the next
//! group, every [`RECENCY_BATCH`] gets, on [`DiskStore::sync`], and on
//! drop: a crash can lose some recency, never an acknowledged block.
//!
//! A store of the first layout (the blocks themselves in redb tables
//! `blocks` and `recency`) is moved into slots when first opened.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use lru::LruCache;
use redb::{Database, Durability, ReadableTable, TableDefinition, TableHandle, WriteTransaction};

use crate::block::Block;
use crate::key::{KeyKind, NodeKey, RoutingKey};
use crate::routing::{BlockContent, Store};

/// The database file's name inside the store's directory.
const FILE_NAME: &str = "store.redb";
/// Where a new database is made before it is renamed to [`FILE_NAME`].
const NEW_FILE_NAME: &str = "store.redb.new";
/// Bytes of a stored key: the kind byte, then the 32-byte routing key.
const KEY_LEN: usize = 33;
/// Each held key's slot and last-use sequence number.
const INDEX: TableDefinition<&[u8; KEY_LEN], (u64, u64)> = TableDefinition::new("index");
/// The first layout's tables: block bytes, and last-use numbers, under
/// each node key. Read once, to move their blocks into slots.
const OLD_BLOCKS: TableDefinition<&[u8; KEY_LEN], &[u8]> = TableDefinition::new("blocks");
const OLD_RECENCY: TableDefinition<&[u8; KEY_LEN], u64> = TableDefinition::new("recency");
/// Every kind of block, in the order of [`DiskStore`]'s slot files.
const KINDS: [KeyKind; 2] = [KeyKind::Chk, KeyKind::Ssk];
/// Gets whose recency is kept in memory before it is written on its own.
const RECENCY_BATCH: usize = 64;
/// Puts that may wait for a sync: the next one syncs (about 8 MiB of
/// blocks, the most a crash may lose of what was only cached).
pub const SYNC_EVERY: usize = 256;
/// Puts gathered in memory before they are written in one go (1 MiB of
/// blocks).
pub const WRITE_BATCH: usize = 32;
/// redb's page cache. It holds only the index now (about 60 bytes a
/// block), so a small one serves a large store.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Why the persistent store could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store's directory could not be created or read.
    #[error("store directory: {0}")]
    Io(#[from] std::io::Error),
    /// The database failed: it could not be opened, or a transaction or
    /// commit failed.
    #[error("store database: {0}")]
    Database(#[from] redb::Error),
    /// An entry that is not what its key says: bytes that do not verify, a
    /// key of unknown kind, a block missing under an indexed key.
    #[error("bad entry under {key}: {reason}")]
    BadEntry {
        /// The key as stored, in hex.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Converts each of redb's specific error types through `redb::Error`.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Database(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// One kind's slot file, and which of its slots are free.
struct Slots {
    file: fs::File,
    /// Bytes of a slot: the size every block of this kind has.
    size: u64,
    /// Slots the file has room for: its length over `size`, rounded
    /// down, plus those handed out since and not yet written.
    len: u64,
    /// Slots below `len` that hold no held block, highest first, so that
    /// the lowest is reused first.
    free: Vec<u64>,
    /// Written to since the last `fsync`.
    dirty: bool,
}

impl Slots {
    fn open(path: &Path, kind: KeyKind) -> Result<Slots, StoreError> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let size = size_of_kind(kind);
        let len = file.metadata()?.len() / size;
        Ok(Slots {
            file,
            size,
            len,
            free: Vec::new(),
            dirty: false,
        })
    }

    /// A free slot, the lowest freed one first.
    fn take(&mut self) -> u64 {
        self.free.pop().unwrap_or_else(|| {
            self.len += 1;
            self.len - 1
        })
    }

    /// Marks `slot` free again.
    fn give(&mut self, slot: u64) {
        let at = self.free.partition_point(|&s| s > slot);
        self.free.insert(at, slot);
    }

    fn write(&mut self, slot: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.dirty = true;
        self.file.write_all_at(bytes, slot * self.size)
    }

    /// The bytes of `slot`; `None` if the file ends before them.
    fn read(&self, slot: u64) -> std::io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; self.size as usize];
        match self.file.read_exact_at(&mut buf, slot * self.size) {
            Ok(()) => Ok(Some(buf)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// A datastore on disk of at most `capacity` bytes of blocks, evicting the
/// least recently used. Survives restarts and being killed at any moment:
/// every acknowledged `put` is on disk, and no corrupt block is served.
///
/// The [`Store`] methods cannot fail; an I/O error there is logged, counted
/// in [`DiskStore::errors`], and behaves as a miss or a put not made.
pub struct DiskStore {
    db: Database,
    path: PathBuf,
    /// The slot files, in the order of [`KINDS`].
    slots: [Slots; 2],
    /// Every held key and its slot, most recently used first.
    index: LruCache<NodeKey, u64>,
    /// Bytes of the blocks in `index`.
    bytes: u64,
    capacity: u64,
    /// The sequence number the next use gets.
    next_seq: u64,
    /// Recency from `get`s not yet written.
    pending: HashMap<NodeKey, u64>,
    /// Blocks put and not yet written, with their last-use numbers (their
    /// slots are in `index`).
    buffer: HashMap<NodeKey, (Block, u64)>,
    /// Written keys evicted since, to delete from the index with the next
    /// write.
    deletes: Vec<NodeKey>,
    /// Puts committed since the last durable commit.
    unsynced: usize,
    /// Set by [`Store::commit`]: a sync the driver must make before the
    /// core's next message leaves ([`DiskStore::sync_if_owed`]).
    sync_owed: bool,
    errors: u64,
}

impl fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskStore")
            .field("path", &self.path)
            .field("len", &self.index.len())
            .field("bytes", &self.bytes)
            .field("capacity", &self.capacity)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

fn encode_key(key: &NodeKey) -> [u8; KEY_LEN] {
    let mut raw = [0u8; KEY_LEN];
    raw[0] = key.kind.to_byte();
    raw[1..].copy_from_slice(key.routing.as_bytes());
    raw
}

fn decode_key(raw: &[u8; KEY_LEN]) -> Option<NodeKey> {
    let kind = KeyKind::from_byte(raw[0])?;
    let mut routing = [0u8; 32];
    routing.copy_from_slice(&raw[1..]);
    Some(NodeKey {
        kind,
        routing: RoutingKey(routing),
    })
}

fn hex(raw: &[u8]) -> String {
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn size_of_kind(kind: KeyKind) -> u64 {
    Block::size_of(kind) as u64
}

/// The size every block under `key` has.
fn size_of(key: &NodeKey) -> u64 {
    size_of_kind(key.kind)
}

/// Where `kind`'s slot file is in [`KINDS`].
fn kind_index(kind: KeyKind) -> usize {
    match kind {
        KeyKind::Chk => 0,
        KeyKind::Ssk => 1,
    }
}

/// The slot file of `kind` in `dir`.
fn slots_path(dir: &Path, kind: KeyKind) -> PathBuf {
    dir.join(match kind {
        KeyKind::Chk => "chk.slots",
        KeyKind::Ssk => "ssk.slots",
    })
}

impl DiskStore {
    /// Opens the store in `dir` (created if needed), holding at most
    /// `capacity_bytes` of blocks. A store reopened with a smaller capacity
    /// evicts its least recently used blocks at once; a store of the first
    /// layout has its blocks moved into slots.
    pub fn open(dir: &Path, capacity_bytes: u64) -> Result<DiskStore, StoreError> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let db = create_or_open(dir, &path)?;
        let mut slots = [
            Slots::open(&slots_path(dir, KINDS[0]), KINDS[0])?,
            Slots::open(&slots_path(dir, KINDS[1]), KINDS[1])?,
        ];
        let txn = db.begin_write()?;
        let mut changed = migrate(&txn, &mut slots)?;
        let (entries, fixed) = load(&txn, &slots)?;
        changed |= fixed;
        let next_seq = entries.iter().map(|e| e.0 + 1).max().unwrap_or(0);
        let mut index = LruCache::unbounded();
        let mut bytes = 0;
        // Oldest first, so the last put is the most recently used.
        for (_, key, slot) in entries {
            bytes += size_of(&key);
            index.put(key, slot);
        }
        if bytes > capacity_bytes {
            let mut table = txn.open_table(INDEX)?;
            while bytes > capacity_bytes {
                let Some((key, _)) = index.pop_lru() else {
                    break;
                };
                table.remove(&encode_key(&key))?;
                bytes -= size_of(&key);
            }
            changed = true;
        }
        // Every slot of a file that no held key uses is free.
        let mut used: [Vec<bool>; 2] = [0, 1].map(|i| vec![false; slots[i].len as usize]);
        for (key, slot) in index.iter() {
            used[kind_index(key.kind)][*slot as usize] = true;
        }
        for (s, used) in slots.iter_mut().zip(&used) {
            s.free = (0..s.len).rev().filter(|&i| !used[i as usize]).collect();
        }
        if changed {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        tracing::debug!(
            path = %path.display(),
            blocks = index.len(),
            bytes,
            capacity = capacity_bytes,
            "opened disk store"
        );
        Ok(DiskStore {
            db,
            path,
            slots,
            index,
            bytes,
            capacity: capacity_bytes,
            next_seq,
            pending: HashMap::new(),
            buffer: HashMap::new(),
            deletes: Vec::new(),
            unsynced: 0,
            sync_owed: false,
            errors: 0,
        })
    }

    /// Bytes of blocks held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The most bytes of blocks held.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// I/O and database errors met by [`Store`] methods since opening.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The index's database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keys held, most recently used first.
    pub fn keys(&self) -> impl Iterator<Item = &NodeKey> {
        self.index.iter().map(|(k, _)| k)
    }

    /// Makes every put so far durable, with the recency of the gets since
    /// the last write: the slot files are synced, then the index committed
    /// durably. Done on drop too. A block is acknowledged to a peer only
    /// after this.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.write_out(true)
    }

    /// Writes the gathered puts into their slots and commits their index
    /// entries, deletions and recency in one transaction, durable if
    /// `durable` (then also every commit before it). A put that could not
    /// be written is dropped from the index: the store holds what its
    /// index on disk names, once written.
    fn write_out(&mut self, durable: bool) -> Result<(), StoreError> {
        let nothing = self.buffer.is_empty() && self.deletes.is_empty() && self.pending.is_empty();
        if nothing && (!durable || self.unsynced == 0) {
            return Ok(());
        }
        let written = self.buffer.len();
        match self.write_groups(durable) {
            Ok(()) => {
                self.buffer.clear();
                self.deletes.clear();
                self.pending.clear();
                self.unsynced = if durable { 0 } else { self.unsynced + written };
                Ok(())
            }
            Err(e) => {
                for key in std::mem::take(&mut self.buffer).into_keys() {
                    if let Some(slot) = self.index.pop(&key) {
                        self.bytes -= size_of(&key);
                        self.slots[kind_index(key.kind)].give(slot);
                    }
                }
                Err(e)
            }
        }
    }

    /// The writes of [`DiskStore::write_out`]: block bytes, then (synced
    /// first if `durable`) the index.
    fn write_groups(&mut self, durable: bool) -> Result<(), StoreError> {
        for (key, (block, _)) in &self.buffer {
            let slot = *self.index.peek(key).expect("a buffered key is indexed");
            self.slots[kind_index(key.kind)].write(slot, block.as_bytes())?;
        }
        if durable {
            for s in &mut self.slots {
                s.sync()?;
            }
        }
        let mut txn = self.db.begin_write()?;
        if !durable {
            txn.set_durability(Durability::None)
                .map_err(|e| StoreError::Database(redb::Error::from(e)))?;
        }
        {
            let mut table = txn.open_table(INDEX)?;
            for victim in &self.deletes {
                table.remove(&encode_key(victim))?;
            }
            for (key, seq) in &self.pending {
                if let Some(slot) = self.index.peek(key) {
                    table.insert(&encode_key(key), (*slot, *seq))?;
                }
            }
            for (key, (_, seq)) in &self.buffer {
                let slot = *self.index.peek(key).expect("a buffered key is indexed");
                table.insert(&encode_key(key), (slot, *seq))?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Whether [`Store::commit`] asked for a sync not yet made.
    pub fn sync_owed(&self) -> bool {
        self.sync_owed
    }

    /// Makes the sync [`Store::commit`] asked for, if it asked: one sync
    /// for every commit since the last. An error is logged and counted,
    /// as in the other [`Store`] methods.
    pub fn sync_if_owed(&mut self) {
        if std::mem::take(&mut self.sync_owed) {
            if let Err(e) = self.sync() {
                self.errors += 1;
                tracing::error!(error = %e, "could not sync the store");
            }
        }
    }

    /// Puts committed that a crash could still lose (until
    /// [`DiskStore::sync`]).
    pub fn unsynced(&self) -> usize {
        self.unsynced
    }

    /// The block under `key` from its slot, verified.
    fn read(&self, key: &NodeKey, slot: u64) -> Result<Block, StoreError> {
        let bad = |reason: String| StoreError::BadEntry {
            key: hex(&encode_key(key)),
            reason,
        };
        let bytes = self.slots[kind_index(key.kind)]
            .read(slot)?
            .ok_or_else(|| bad(format!("slot {slot} is past the end of its file")))?;
        let block = Block::from_bytes(key.kind, &bytes).map_err(|e| bad(e.to_string()))?;
        block.verify(key).map_err(|e| bad(e.to_string()))?;
        Ok(block)
    }

    /// Deletes a block that failed verification, from the index on disk
    /// and in memory, and frees its slot.
    fn remove_bad(&mut self, key: &NodeKey) {
        if let Some(slot) = self.index.pop(key) {
            self.bytes -= size_of(key);
            self.slots[kind_index(key.kind)].give(slot);
        }
        self.pending.remove(key);
        let raw = encode_key(key);
        let result = (|| -> Result<(), StoreError> {
            let txn = self.db.begin_write()?;
            txn.open_table(INDEX)?.remove(&raw)?;
            txn.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            self.errors += 1;
            tracing::error!(key = %hex(&raw), error = %e, "could not delete a corrupt block");
        }
    }

    /// Marks `key` most recently used, writing recency out every
    /// [`RECENCY_BATCH`] gets.
    fn touch(&mut self, key: &NodeKey) {
        self.index.promote(key);
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some((_, buffered)) = self.buffer.get_mut(key) {
            *buffered = seq;
            return;
        }
        self.pending.insert(*key, seq);
        if self.pending.len() >= RECENCY_BATCH {
            if let Err(e) = self.write_out(false) {
                self.errors += 1;
                tracing::error!(error = %e, "could not write recency");
            }
        }
    }
}

/// Opens the database at `path`, first creating it if there is none.
///
/// redb initializes a new file in place, growing it before it writes its
/// magic number; a process killed in between leaves a file redb refuses
/// ever after ("not a redb database"). So a new database is made under
/// another name, with its table, and renamed into place once closed: the
/// store's file either does not exist or is a whole database.
fn create_or_open(dir: &Path, path: &Path) -> Result<Database, StoreError> {
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    if !path.try_exists()? {
        let fresh = dir.join(NEW_FILE_NAME);
        match fs::remove_file(&fresh) {
            Ok(()) => tracing::debug!("removed a store file left half made"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let db = builder.create(&fresh)?;
        let txn = db.begin_write()?;
        txn.open_table(INDEX)?;
        txn.commit()?;
        db.close()?;
        fs::rename(&fresh, path)?;
        // Make the rename itself durable where directories can be synced.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(builder.open(path)?)
}

/// Moves the blocks of a store of the first layout (bytes in the `blocks`
/// table, recency in `recency`) into slots, indexing each with its
/// recency, and deletes the old tables. The slot files are synced before
/// the caller commits, so no block is lost on the way. Returns whether
/// there was anything to move.
fn migrate(txn: &WriteTransaction, slots: &mut [Slots; 2]) -> Result<bool, StoreError> {
    let old = txn
        .list_tables()?
        .any(|t| t.name() == OLD_BLOCKS.name() || t.name() == OLD_RECENCY.name());
    if !old {
        return Ok(false);
    }
    let mut moved = 0u64;
    {
        let blocks = txn.open_table(OLD_BLOCKS)?;
        let recency = txn.open_table(OLD_RECENCY)?;
        let mut index = txn.open_table(INDEX)?;
        for entry in blocks.iter()? {
            let (k, v) = entry?;
            let raw = *k.value();
            let Some(key) = decode_key(&raw) else {
                tracing::warn!(key = %hex(&raw), "dropping a stored block of unknown kind");
                continue;
            };
            if v.value().len() as u64 != size_of(&key) {
                tracing::warn!(key = %hex(&raw), "dropping a stored block of the wrong size");
                continue;
            }
            // A block without recency comes back as the least recently used.
            let seq = recency.get(&raw)?.map_or(0, |s| s.value());
            let s = &mut slots[kind_index(key.kind)];
            let slot = s.take();
            s.write(slot, v.value())?;
            index.insert(&raw, (slot, seq))?;
            moved += 1;
        }
    }
    for s in slots.iter_mut() {
        s.sync()?;
    }
    txn.delete_table(OLD_BLOCKS)?;
    txn.delete_table(OLD_RECENCY)?;
    tracing::info!(
        blocks = moved,
        "moved the store's blocks out of the database into slot files"
    );
    Ok(true)
}

/// Reads the index, oldest first, dropping what cannot be right: a key of
/// unknown kind, a slot past the end of its file (its write never reached
/// the disk), a slot that a second key names (only an edit from outside
/// makes one). Returns the entries as (sequence, key, slot), and whether
/// anything was dropped.
type Entries = Vec<(u64, NodeKey, u64)>;
fn load(txn: &WriteTransaction, slots: &[Slots; 2]) -> Result<(Entries, bool), StoreError> {
    let mut table = txn.open_table(INDEX)?;
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        let raw = *k.value();
        let (slot, seq) = v.value();
        match decode_key(&raw) {
            Some(key) if slot < slots[kind_index(key.kind)].len => {
                entries.push((seq, key, slot));
            }
            Some(_) => {
                tracing::warn!(key = %hex(&raw), slot, "dropping an entry whose slot is past the end of its file");
                bad.push(raw);
            }
            None => {
                tracing::warn!(key = %hex(&raw), "dropping a stored entry of unknown kind");
                bad.push(raw);
            }
        }
    }
    entries.sort_unstable();
    // Of two keys on one slot, the more recently used keeps it; the other
    // is dropped (whichever holds the bytes is found when read).
    let mut owner = std::collections::HashMap::new();
    for (i, (_, key, slot)) in entries.iter().enumerate() {
        if let Some(earlier) = owner.insert((kind_index(key.kind), *slot), i) {
            let (_, dropped, _) = entries[earlier];
            tracing::warn!(key = %hex(&encode_key(&dropped)), slot, "dropping a second key on one slot");
            bad.push(encode_key(&dropped));
        }
    }
    let kept: std::collections::HashSet<usize> = owner.into_values().collect();
    let entries = entries
        .into_iter()
        .enumerate()
        .filter(|(i, _)| kept.contains(i))
        .map(|(_, e)| e)
        .collect();
    for raw in &bad {
        table.remove(raw)?;
    }
    Ok((entries, !bad.is_empty()))
}

impl Store<BlockContent> for DiskStore {
    fn get(&mut self, key: &NodeKey) -> Option<Block> {
        let slot = *self.index.peek(key)?;
        if let Some((block, _)) = self.buffer.get(key) {
            let block = block.clone();
            self.touch(key);
            return Some(block);
        }
        match self.read(key, slot) {
            Ok(block) => {
                self.touch(key);
                Some(block)
            }
            Err(StoreError::BadEntry { key: raw, reason }) => {
                tracing::warn!(key = %raw, %reason, "deleting a corrupt block");
                self.remove_bad(key);
                None
            }
            Err(e) => {
                self.errors += 1;
                tracing::error!(key = %hex(&encode_key(key)), error = %e, "could not read a block");
                None
            }
        }
    }

    fn contains(&self, key: &NodeKey) -> bool {
        self.index.contains(key)
    }

    fn put(&mut self, key: NodeKey, data: Block) {
        let raw = encode_key(&key);
        if data.kind() != key.kind {
            tracing::warn!(key = %hex(&raw), "refusing a block of the wrong kind for its key");
            return;
        }
        // A key names one block: a CHK's bytes are fixed by its key, and
        // the core never replaces a signed block (an insert under a held
        // key is a collision, protocol §10.3). So a second put is a use,
        // and a block on disk is never rewritten in place.
        if self.index.contains(&key) {
            self.touch(&key);
            return;
        }
        let size = size_of(&key);
        if size > self.capacity {
            tracing::debug!(key = %hex(&raw), size, "block larger than the store");
            return;
        }
        let mut total = self.bytes + size;
        let mut victims = Vec::new();
        for (k, _) in self.index.iter().rev() {
            if total <= self.capacity {
                break;
            }
            victims.push(*k);
            total -= size_of(k);
        }
        for victim in &victims {
            if let Some(slot) = self.index.pop(victim) {
                self.slots[kind_index(victim.kind)].give(slot);
            }
            self.pending.remove(victim);
            // One never written goes without a trace; one written is
            // deleted from the index with the next write.
            if self.buffer.remove(victim).is_none() {
                self.deletes.push(*victim);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = self.slots[kind_index(key.kind)].take();
        self.buffer.insert(key, (data, seq));
        self.index.put(key, slot);
        self.bytes = total;
        if self.buffer.len() >= WRITE_BATCH {
            let durable = self.unsynced + self.buffer.len() >= SYNC_EVERY;
            if let Err(e) = self.write_out(durable) {
                self.errors += 1;
                tracing::error!(error = %e, "could not store blocks; dropped them");
            }
        }
    }

    /// Only notes the request: the node makes one sync for all the
    /// commits of the inputs it handles together, before it sends what
    /// they produced ([`DiskStore::sync_if_owed`]). Dropping the store
    /// syncs too.
    fn commit(&mut self) {
        self.sync_owed = true;
    }

    fn all_keys(&self) -> Vec<NodeKey> {
        self.keys().copied().collect()
    }

    fn len(&self) -> usize {
        self.index.len()
    }
}

impl Drop for DiskStore {
    fn drop(&mut self) {
        if let Err(e) = self.sync() {
            tracing::error!(error = %e, "could not sync the store on close");
        }
    }
}
