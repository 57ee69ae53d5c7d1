//! fogstore: an anonymous peer-to-peer content store in the line of Freenet.
//!
//! The library is layered so that the lower layers know nothing of I/O
//! (only `link`, `store::DiskStore` and the simulator's report writer touch
//! the network or the disk):
//!
//! - [`key`]: locations on the ring, routing keys, and the user-facing key
//!   types (`CHK@`, `SSK@`, `KSK@`) with their URIs;
//! - [`block`]: document encryption into 32 KiB blocks and their verification;
//! - [`wire`]: protocol messages and their encoding into fixed-size frames;
//! - [`link`]: encrypted links between nodes (Noise XK, 1024-byte frames);
//! - [`routing`]: the sans-IO protocol core, one state machine per node;
//! - [`store`]: datastores, in memory and on disk;
//! - [`node`]: the real node, driving the core over links with a
//!   persistent store;
//! - [`sim`]: the discrete-event simulator and its scenarios.
//!
//! `docs/protocol.md` specifies every byte these modules produce, and `keys/`
//! holds known-answer vectors that the test suite reproduces.
//!
//! Publishing a small document under its content hash, and what a node and a
//! reader each do with the block:
//!
//! ```
//! use fogstore::block::{Block, chk};
//! use fogstore::key::Key;
//!
//! let (key, block) = chk::encode(b"hello, world\n")?;
//! assert_eq!(
//!     Key::Chk(key).to_string(),
//!     "CHK@tmRA4aerPEGgI6AOawxWWJZpxYcnUoFOcuIKSOlxK2o,sWdsMTT5rd8MwSa2ECfWPXFV83PJVqjnCH1Pv4bh3H0"
//! );
//!
//! // A node holds only the routing key; it verifies without reading.
//! Block::Chk(block.clone()).verify(&key.node_key())?;
//!
//! // A reader with the URI opens the block.
//! let Key::Chk(parsed) = Key::Chk(key).to_string().parse()? else { unreachable!() };
//! assert_eq!(chk::decode(&parsed, &block)?.bytes, b"hello, world\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod block;
pub mod client;
pub mod key;
pub mod link;
pub mod node;
pub mod routing;
pub mod sim;
pub mod store;
pub mod wire;
