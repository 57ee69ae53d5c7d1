//! What a client does with documents larger than a block: split them into
//! CHK blocks under a tree of manifests, and fetch them back.
//!
//! - [`splitfile`]: the streaming [`Encoder`](splitfile::Encoder), the
//!   manifest format ([`Manifest`](splitfile::Manifest)), and
//!   [`fetch`](splitfile::fetch), which reassembles a document from any
//!   [`BlockSource`](splitfile::BlockSource).
//!
//! - [`signed`]: documents under `SSK@` and `KSK@` keys, inline in their
//!   signed block or, when larger, as a [`redirect`] to a CHK splitfile.
//!
//! - [`fec`]: the Reed–Solomon check blocks of splitfile segments.
//!
//! `docs/protocol.md` §12 specifies the formats byte for byte.

pub mod fec;
pub mod redirect;
pub mod signed;
pub mod splitfile;
