//! Datastores: where a node keeps the blocks it holds, least recently used
//! evicted first.
//!
//! [`MemoryStore`] is the in-memory store the simulator and the tests use,
//! with a capacity in entries. [`DiskStore`] is the real node's persistent
//! store: ciphertext blocks in a redb database, a capacity in bytes, LRU
//! order kept across restarts, and every block verified against its key
//! when read. Both implement [`crate::routing::Store`], the only face the
//! routing core sees.
//!
//! `DiskStore` is the one part of the library below the drivers that does
//! I/O; `docs/architecture.md` ("The persistent store") says why it is built
//! on redb and what a crash can lose.

mod disk;
mod memory;

pub use disk::{DiskStore, SYNC_EVERY, StoreError, WRITE_BATCH};
pub use memory::MemoryStore;
