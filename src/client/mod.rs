//! What a client does with documents larger than a block: split them into
//! CHK blocks under a tree of manifests, and fetch them back.
//!
//! - [`splitfile`]: the streaming [`Encoder`](splitfile::Encoder), the
//!   manifest format ([`Manifest`](splitfile::Manifest)), and
//!   [`fetch`](splitfile::fetch), which reassembles a document from any
//!   [`BlockSource`](splitfile::BlockSource).
//!
//! `docs/protocol.md` §12 specifies the format byte for byte.

pub mod fec;
pub mod splitfile;
