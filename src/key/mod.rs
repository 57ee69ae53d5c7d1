//! Keys and their URIs: where a document lives on the ring and what opens it.
//!
//! - [`Location`]: a point on the ring of 2^64, and ring distance;
//! - [`RoutingKey`] / [`NodeKey`]: what nodes see and route by;
//! - [`Key`]: what users hold, parsed from and printed as a URI:
//!   `CHK@…` (content hash), `SSK@…/name` (signed, updatable by editions or
//!   dates), `SSK-INSERT@…/name` (the private half, for publishing) and
//!   `KSK@name` (a key pair derived from a name; convenient, not secure).
//!
//! Parsing is strict: a URI either round-trips byte for byte or is rejected
//! with a [`KeyError`] that names what is wrong. Nothing here does I/O.

mod chk;
pub(crate) mod hash;
mod ksk;
mod location;
mod routing;
mod ssk;
mod uri;

pub use chk::ChkKey;
pub use ksk::KskKey;
pub use location::Location;
pub use routing::{KeyKind, NodeKey, RoutingKey};
pub use ssk::{DocName, MAX_NAME_LEN, SskInsertKey, SskKey, Version};
pub(crate) use ssk::{content_key, name_hash, public_key, signed_routing_key};
pub use uri::{Key, KeyError, MAX_URI_LEN};
