//! Keyword-signed keys: a signed key whose key pair and crypto key are both
//! derived from a human-readable name.
//!
//! Anyone who knows the name can read the document, and anyone who knows it
//! can also publish under it: whoever inserts first wins. KSKs are for
//! convenience (memorable names), never for security.

use ed25519_dalek::SigningKey;

use super::hash::{tag, tagged_hash};
use super::ssk::{check_name, signed_node_key};
use super::{KeyError, NodeKey};

/// A key derived from a name. URI `KSK@<name>`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct KskKey {
    name: String,
}

impl KskKey {
    /// A KSK for `name`: non-empty, at most 255 bytes, no control characters.
    pub fn new(name: &str) -> Result<Self, KeyError> {
        check_name(name, true)?;
        Ok(KskKey {
            name: name.to_string(),
        })
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signing key everyone who knows the name can derive.
    pub fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&tagged_hash(tag::KSK_SIGNING_SEED, &[self.name.as_bytes()]))
    }

    /// The crypto key everyone who knows the name can derive.
    pub fn crypto_key(&self) -> [u8; 32] {
        tagged_hash(tag::KSK_CRYPTO_KEY, &[self.name.as_bytes()])
    }

    /// What nodes route by.
    pub fn node_key(&self) -> NodeKey {
        signed_node_key(
            &self.signing_key().verifying_key(),
            &self.crypto_key(),
            &self.name,
        )
    }
}
