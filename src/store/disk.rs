//! The persistent store: ciphertext blocks in a redb database, least
//! recently used evicted first, with a capacity in bytes.
//!
//! One file, `<dir>/store.redb`, holds two tables keyed by the 33-byte node
//! key (kind byte, then routing key):
//!
//! - `blocks`: the block's bytes, exactly as [`Block::as_bytes`] gives them;
//! - `recency`: the key's last-use sequence number, a `u64` drawn from one
//!   counter that only grows.
//!
//! Both change together, in one write transaction, so a crash leaves
//! either the state before a commit or the state after it. Puts are
//! written in groups: a `put` keeps its block in memory (where `get` finds
//! it) until [`WRITE_BATCH`] have gathered, and those are written in one
//! transaction, committed without waiting for the disk (redb's non-durable
//! commit). A block is on disk once [`DiskStore::sync`] returns, which
//! writes what is gathered and makes every commit before it durable with
//! one `fsync`. The routing core asks for
//! that ([`Store::commit`]) where it acknowledges a block it stored (at
//! the end of an insert's path, on a Chord transfer), so an acknowledged
//! block survives a kill; a block only cached on the way (the copies an
//! insert leaves on the rest of its path, data passing back to a reader)
//! may be lost with the commits since the last sync, never half written.
//! At most [`SYNC_EVERY`] puts wait for a sync. On open
//! the recency table is read in sequence order to rebuild the in-memory LRU
//! index (key → size); the block bytes are not read until asked for, and
//! every read verifies them against their key, so a corrupt block is dropped
//! rather than served.
//!
//! Recency updates from `get`s are kept in memory and written with the next
//! `put`, every [`RECENCY_BATCH`] gets, on [`DiskStore::flush`], and on drop:
//! a crash can lose some recency, never a block.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use lru::LruCache;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};

use crate::block::Block;
use crate::key::{KeyKind, NodeKey, RoutingKey};
use crate::routing::{BlockContent, Store};

/// The database file's name inside the store's directory.
const FILE_NAME: &str = "store.redb";
/// Where a new database is made before it is renamed to [`FILE_NAME`].
const NEW_FILE_NAME: &str = "store.redb.new";
/// Bytes of a stored key: the kind byte, then the 32-byte routing key.
const KEY_LEN: usize = 33;
/// Block bytes under each node key.
const BLOCKS: TableDefinition<&[u8; KEY_LEN], &[u8]> = TableDefinition::new("blocks");
/// Last-use sequence number of each node key.
const RECENCY: TableDefinition<&[u8; KEY_LEN], u64> = TableDefinition::new("recency");
/// Gets whose recency is kept in memory before it is written on its own.
const RECENCY_BATCH: usize = 64;
/// Puts that may wait for a sync: the next one syncs (about 8 MiB of
/// blocks, the most a crash may lose of what was only cached).
pub const SYNC_EVERY: usize = 256;
/// Puts gathered in memory before they are written in one transaction
/// (1 MiB of blocks).
pub const WRITE_BATCH: usize = 32;
/// redb's page cache. Its default (1 GiB) is more than a node should take
/// by default; blocks are verified on every read anyway, so a hot cache
/// saves less than it would for small values.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

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

/// A datastore on disk of at most `capacity` bytes of blocks, evicting the
/// least recently used. Survives restarts and being killed at any moment:
/// every acknowledged `put` is on disk, and no corrupt block is served.
///
/// The [`Store`] methods cannot fail; an I/O error there is logged, counted
/// in [`DiskStore::errors`], and behaves as a miss or a put not made.
pub struct DiskStore {
    db: Database,
    path: PathBuf,
    /// Every held key and its block's size, most recently used first.
    index: LruCache<NodeKey, u64>,
    /// Sum of the sizes in `index`.
    bytes: u64,
    capacity: u64,
    /// The sequence number the next use gets.
    next_seq: u64,
    /// Recency from `get`s not yet written.
    pending: HashMap<NodeKey, u64>,
    /// Blocks put and not yet written, with their last-use numbers.
    buffer: HashMap<NodeKey, (Block, u64)>,
    /// Blocks evicted from the database, to delete with the next write.
    deletes: Vec<NodeKey>,
    /// Puts committed since the last durable commit.
    unsynced: usize,
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

/// The size every block under `key` has.
fn size_of(key: &NodeKey) -> u64 {
    Block::size_of(key.kind) as u64
}

impl DiskStore {
    /// Opens the store in `dir` (created if needed), holding at most
    /// `capacity_bytes` of blocks. A store reopened with a smaller capacity
    /// evicts its least recently used blocks at once.
    pub fn open(dir: &Path, capacity_bytes: u64) -> Result<DiskStore, StoreError> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let db = create_or_open(dir, &path)?;
        let txn = db.begin_write()?;
        let (entries, mut changed) = load(&txn)?;
        let next_seq = entries.iter().map(|(seq, _)| seq + 1).max().unwrap_or(0);
        let mut index = LruCache::unbounded();
        let mut bytes = 0;
        // Oldest first, so the last put is the most recently used.
        for (_, key) in entries {
            bytes += size_of(&key);
            index.put(key, size_of(&key));
        }
        if bytes > capacity_bytes {
            let mut blocks = txn.open_table(BLOCKS)?;
            let mut recency = txn.open_table(RECENCY)?;
            while bytes > capacity_bytes {
                let Some((key, size)) = index.pop_lru() else {
                    break;
                };
                let raw = encode_key(&key);
                blocks.remove(&raw)?;
                recency.remove(&raw)?;
                bytes -= size;
            }
            changed = true;
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
            index,
            bytes,
            capacity: capacity_bytes,
            next_seq,
            pending: HashMap::new(),
            buffer: HashMap::new(),
            deletes: Vec::new(),
            unsynced: 0,
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

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keys held, most recently used first.
    pub fn keys(&self) -> impl Iterator<Item = &NodeKey> {
        self.index.iter().map(|(k, _)| k)
    }

    /// Makes every put so far durable, with the recency of the gets since
    /// the last write, in one durable commit (one `fsync`). Done on drop
    /// too. A block is acknowledged to a peer only after this.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.write_out(true)
    }

    /// Writes the gathered puts, deletions and recency in one transaction,
    /// durable if `durable` (then also every commit before it). A put that
    /// could not be written is dropped from the index: the store holds
    /// what its database holds, once written.
    fn write_out(&mut self, durable: bool) -> Result<(), StoreError> {
        let nothing = self.buffer.is_empty() && self.deletes.is_empty() && self.pending.is_empty();
        if nothing && (!durable || self.unsynced == 0) {
            return Ok(());
        }
        let written = self.buffer.len();
        match self.write_transaction(durable) {
            Ok(()) => {
                self.buffer.clear();
                self.deletes.clear();
                self.pending.clear();
                self.unsynced = if durable { 0 } else { self.unsynced + written };
                Ok(())
            }
            Err(e) => {
                for key in std::mem::take(&mut self.buffer).into_keys() {
                    if let Some(size) = self.index.pop(&key) {
                        self.bytes -= size;
                    }
                }
                Err(e)
            }
        }
    }

    /// The transaction of [`DiskStore::write_out`].
    fn write_transaction(&self, durable: bool) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        if !durable {
            txn.set_durability(Durability::None)
                .map_err(|e| StoreError::Database(redb::Error::from(e)))?;
        }
        {
            let mut blocks = txn.open_table(BLOCKS)?;
            let mut recency = txn.open_table(RECENCY)?;
            for victim in &self.deletes {
                let raw = encode_key(victim);
                blocks.remove(&raw)?;
                recency.remove(&raw)?;
            }
            for (key, seq) in &self.pending {
                recency.insert(&encode_key(key), seq)?;
            }
            for (key, (block, seq)) in &self.buffer {
                let raw = encode_key(key);
                blocks.insert(&raw, block.as_bytes())?;
                recency.insert(&raw, seq)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Puts committed that a crash could still lose (until
    /// [`DiskStore::sync`]).
    pub fn unsynced(&self) -> usize {
        self.unsynced
    }

    /// The block under `key` from disk, verified.
    fn read(&self, key: &NodeKey) -> Result<Block, StoreError> {
        let raw = encode_key(key);
        let bad = |reason: String| StoreError::BadEntry {
            key: hex(&raw),
            reason,
        };
        let txn = self.db.begin_read()?;
        let blocks = txn.open_table(BLOCKS)?;
        let guard = blocks
            .get(&raw)?
            .ok_or_else(|| bad("indexed but missing from the database".into()))?;
        let block = Block::from_bytes(key.kind, guard.value()).map_err(|e| bad(e.to_string()))?;
        block.verify(key).map_err(|e| bad(e.to_string()))?;
        Ok(block)
    }

    /// Deletes a block that failed verification, from disk and index.
    fn remove_bad(&mut self, key: &NodeKey) {
        if let Some(size) = self.index.pop(key) {
            self.bytes -= size;
        }
        self.pending.remove(key);
        let raw = encode_key(key);
        let result = (|| -> Result<(), StoreError> {
            let txn = self.db.begin_write()?;
            {
                txn.open_table(BLOCKS)?.remove(&raw)?;
                txn.open_table(RECENCY)?.remove(&raw)?;
            }
            txn.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            self.errors += 1;
            tracing::error!(key = %hex(&raw), error = %e, "could not delete a corrupt block");
        }
    }

    /// Marks `key` most recently used, writing it out every
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
            if let Err(e) = self.sync() {
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
/// another name, with its tables, and renamed into place once closed: the
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
        txn.open_table(BLOCKS)?;
        txn.open_table(RECENCY)?;
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

/// Reads the recency table, oldest first, repairing what does not match the
/// blocks table. Returns whether anything was changed.
fn load(txn: &WriteTransaction) -> Result<(Vec<(u64, NodeKey)>, bool), StoreError> {
    let mut blocks = txn.open_table(BLOCKS)?;
    let mut recency = txn.open_table(RECENCY)?;
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for entry in recency.iter()? {
        let (k, v) = entry?;
        let raw = *k.value();
        match decode_key(&raw) {
            Some(key) => entries.push((v.value(), key)),
            None => bad.push(raw),
        }
    }
    let mut changed = !bad.is_empty();
    for raw in &bad {
        tracing::warn!(key = %hex(raw), "dropping a stored entry of unknown kind");
        blocks.remove(raw)?;
        recency.remove(raw)?;
    }
    // Both tables change together, so their sizes match unless the file
    // was edited from outside; only then are the blocks' keys read.
    if blocks.len()? != entries.len() as u64 {
        changed = true;
        let mut in_blocks = std::collections::HashSet::new();
        let mut strays = Vec::new();
        for entry in blocks.iter()? {
            let (k, _) = entry?;
            let raw = *k.value();
            match decode_key(&raw) {
                Some(key) => {
                    in_blocks.insert(key);
                }
                None => strays.push(raw),
            }
        }
        let known: std::collections::HashSet<NodeKey> = entries.iter().map(|(_, k)| *k).collect();
        for raw in &strays {
            tracing::warn!(key = %hex(raw), "dropping a stored block of unknown kind");
            blocks.remove(raw)?;
        }
        // A recency entry without its block is dropped.
        entries.retain(|(_, key)| in_blocks.contains(key));
        for key in known.difference(&in_blocks) {
            tracing::warn!(key = %hex(&encode_key(key)), "dropping recency of a missing block");
            recency.remove(&encode_key(key))?;
        }
        // A block without recency is kept as the least recently used; it
        // is verified when read like any other.
        for key in in_blocks.difference(&known) {
            tracing::warn!(key = %hex(&encode_key(key)), "adopting a block without recency");
            recency.insert(&encode_key(key), 0)?;
            entries.push((0, *key));
        }
    }
    entries.sort_unstable();
    Ok((entries, changed))
}

impl Store<BlockContent> for DiskStore {
    fn get(&mut self, key: &NodeKey) -> Option<Block> {
        if !self.index.contains(key) {
            return None;
        }
        if let Some((block, _)) = self.buffer.get(key) {
            let block = block.clone();
            self.touch(key);
            return Some(block);
        }
        match self.read(key) {
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
        let size = data.as_bytes().len() as u64;
        if size > self.capacity {
            tracing::debug!(key = %hex(&raw), size, "block larger than the store");
            return;
        }
        let mut total = self.bytes - self.index.peek(&key).copied().unwrap_or(0) + size;
        let mut victims = Vec::new();
        for (k, s) in self.index.iter().rev() {
            if total <= self.capacity {
                break;
            }
            if *k != key {
                victims.push(*k);
                total -= s;
            }
        }
        for victim in &victims {
            self.index.pop(victim);
            self.pending.remove(victim);
            // One never written goes without a trace; one written is
            // deleted with the next write.
            if self.buffer.remove(victim).is_none() {
                self.deletes.push(*victim);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.remove(&key);
        self.buffer.insert(key, (data, seq));
        self.index.put(key, size);
        self.bytes = total;
        if self.buffer.len() >= WRITE_BATCH {
            let durable = self.unsynced + self.buffer.len() >= SYNC_EVERY;
            if let Err(e) = self.write_out(durable) {
                self.errors += 1;
                tracing::error!(error = %e, "could not store blocks; dropped them");
            }
        }
    }

    fn commit(&mut self) {
        if let Err(e) = self.sync() {
            self.errors += 1;
            tracing::error!(error = %e, "could not sync the store");
        }
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
