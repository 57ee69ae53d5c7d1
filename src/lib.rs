//! fogstore: an anonymous peer-to-peer content store in the line of Freenet.
//!
//! The library is layered so that the lower layers know nothing of I/O:
//!
//! - [`key`]: locations on the ring, routing keys, and the user-facing key
//!   types (`CHK@`, `SSK@`, `KSK@`) with their URIs;
//! - [`block`]: document encryption into 32 KiB blocks and their verification;
//! - [`wire`]: protocol messages and their encoding into fixed-size frames.
//!
//! `docs/protocol.md` specifies every byte these modules produce, and `keys/`
//! holds known-answer vectors that the test suite reproduces.
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

pub mod block;
pub mod key;
pub mod wire;
