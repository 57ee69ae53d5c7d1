//! Documents under signed keys (`SSK@…/name`, `KSK@name`): what a client
//! seals into the one signed block a key names, and how it reads it back.
//!
//! A document of at most [`BLOCK_CAPACITY`](crate::block::BLOCK_CAPACITY)
//! bytes goes inline (content kind
//! [`Data`](crate::block::ContentKind::Data)); a larger one is published as
//! a CHK splitfile and the signed block holds a [`Redirect`] to it (content
//! kind [`Manifest`](crate::block::ContentKind::Manifest)).
//! `docs/protocol.md` §12.8 specifies the rule.

use crate::block::ssk::{SskBlock, open_signed, seal_signed};
use crate::block::{BlockError, ContentKind, Document};
use crate::client::redirect::{Redirect, RedirectError};
use crate::key::{Key, KskKey, NodeKey, SskInsertKey, SskKey};

/// What a signed block turned out to hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signed {
    /// The document itself.
    Inline(Vec<u8>),
    /// A pointer to the CHK splitfile that is the document.
    Redirect(Redirect),
}

/// Why a signed block does not give a document.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignedError {
    /// The block does not verify or open under the key.
    #[error("{0}")]
    Block(#[from] BlockError),
    /// The block holds a malformed redirect.
    #[error("malformed redirect: {0}")]
    Redirect(#[from] RedirectError),
}

/// A key to publish under: the insert half of an SSK, or a KSK (whose
/// secret is its name).
// One per operation, short-lived: boxing the SSK would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignedInsert {
    /// `SSK-INSERT@…/name`.
    Ssk(SskInsertKey),
    /// `KSK@name`.
    Ksk(KskKey),
}

impl SignedInsert {
    /// The insert key `key` is, if it is one: `SSK-INSERT@…` or `KSK@…`.
    pub fn from_key(key: Key) -> Option<SignedInsert> {
        match key {
            Key::SskInsert(k) => Some(SignedInsert::Ssk(k)),
            Key::Ksk(k) => Some(SignedInsert::Ksk(k)),
            Key::Chk(_) | Key::Ssk(_) => None,
        }
    }

    /// The key readers fetch with.
    pub fn request(&self) -> SignedKey {
        match self {
            SignedInsert::Ssk(k) => SignedKey::Ssk(k.to_public()),
            SignedInsert::Ksk(k) => SignedKey::Ksk(k.clone()),
        }
    }

    /// Seals a document of at most one block's capacity, inline.
    pub fn seal_inline(&self, doc: &[u8]) -> Result<SskBlock, BlockError> {
        self.seal(ContentKind::Data, doc)
    }

    /// Seals a redirect to a splitfile.
    pub fn seal_redirect(&self, redirect: &Redirect) -> Result<SskBlock, BlockError> {
        self.seal(ContentKind::Manifest, &redirect.to_bytes())
    }

    fn seal(&self, kind: ContentKind, doc: &[u8]) -> Result<SskBlock, BlockError> {
        match self {
            SignedInsert::Ssk(k) => {
                seal_signed(&k.signing, &k.crypto, &k.name.to_string(), kind, doc)
            }
            SignedInsert::Ksk(k) => {
                seal_signed(&k.signing_key(), &k.crypto_key(), k.name(), kind, doc)
            }
        }
    }
}

/// A key to fetch a signed document with: an SSK request key or a KSK.
// One per operation, short-lived: boxing the SSK would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignedKey {
    /// `SSK@…/name`.
    Ssk(SskKey),
    /// `KSK@name`.
    Ksk(KskKey),
}

impl SignedKey {
    /// The request key `key` is, if it is a signed one: `SSK@…` or `KSK@…`.
    pub fn from_key(key: Key) -> Option<SignedKey> {
        match key {
            Key::Ssk(k) => Some(SignedKey::Ssk(k)),
            Key::Ksk(k) => Some(SignedKey::Ksk(k)),
            Key::Chk(_) | Key::SskInsert(_) => None,
        }
    }

    /// The key nodes store the block under.
    pub fn node_key(&self) -> NodeKey {
        match self {
            SignedKey::Ssk(k) => k.node_key(),
            SignedKey::Ksk(k) => k.node_key(),
        }
    }

    /// The key as a [`Key`] (its URI is what [`std::fmt::Display`] prints).
    pub fn to_key(&self) -> Key {
        match self {
            SignedKey::Ssk(k) => Key::Ssk(k.clone()),
            SignedKey::Ksk(k) => Key::Ksk(k.clone()),
        }
    }

    /// Verifies and opens `block`: the document inline, or the redirect it
    /// holds.
    pub fn open(&self, block: &SskBlock) -> Result<Signed, SignedError> {
        let Document { kind, bytes } = match self {
            SignedKey::Ssk(k) => open_signed(&k.public, &k.crypto, &k.name.to_string(), block)?,
            SignedKey::Ksk(k) => open_signed(
                &k.signing_key().verifying_key(),
                &k.crypto_key(),
                k.name(),
                block,
            )?,
        };
        Ok(match kind {
            ContentKind::Data => Signed::Inline(bytes),
            ContentKind::Manifest => Signed::Redirect(Redirect::parse(&bytes)?),
        })
    }
}

impl std::fmt::Display for SignedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_key().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{ChkKey, DocName, RoutingKey};

    fn ssk() -> SignedInsert {
        let mut rng = rand::rngs::OsRng;
        SignedInsert::Ssk(SskInsertKey::generate(
            &mut rng,
            DocName::parse("notes").unwrap(),
        ))
    }

    #[test]
    fn inline_and_redirect_round_trip_under_ssk_and_ksk() {
        let redirect = Redirect::new(
            200_000,
            ChkKey {
                routing: RoutingKey([1; 32]),
                crypto: [2; 32],
            },
        )
        .unwrap();
        for key in [ssk(), SignedInsert::Ksk(KskKey::new("my/page").unwrap())] {
            let request = key.request();
            let block = key.seal_inline(b"hello").unwrap();
            block.verify(&request.node_key().routing).unwrap();
            assert_eq!(request.open(&block), Ok(Signed::Inline(b"hello".to_vec())));
            let block = key.seal_redirect(&redirect).unwrap();
            assert_eq!(request.open(&block), Ok(Signed::Redirect(redirect)));
        }
    }

    #[test]
    fn a_manifest_kind_block_without_a_redirect_is_refused() {
        let key = ssk();
        // Content kind 1 with a manifest's bytes (or anything else).
        let block = key.seal(ContentKind::Manifest, b"FOGM\x01\x01").unwrap();
        assert_eq!(
            key.request().open(&block),
            Err(SignedError::Redirect(RedirectError::WrongSize(6)))
        );
    }

    #[test]
    fn a_block_under_another_name_is_refused() {
        let SignedInsert::Ssk(k) = ssk() else {
            unreachable!()
        };
        let block = SignedInsert::Ssk(k.clone()).seal_inline(b"x").unwrap();
        let other = SignedKey::Ssk(k.with_name(DocName::parse("other").unwrap()).to_public());
        assert!(matches!(other.open(&block), Err(SignedError::Block(_))));
    }
}
