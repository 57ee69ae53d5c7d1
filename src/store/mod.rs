//! Datastores: where a node keeps the blocks it holds, least recently used
//! evicted first.
//!
//! [`MemoryStore`] is the in-memory store the simulator and the tests use;
//! the persistent store of the real node lives beside it. Both implement
//! [`crate::routing::Store`], the only face the routing core sees.

mod memory;

pub use memory::MemoryStore;
