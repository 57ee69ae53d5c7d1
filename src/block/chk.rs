//! Content-hash blocks: convergent encryption, so the same document always
//! gives the same key and block, and the routing key is the block's hash.

use std::sync::Arc;

use super::{
    BlockError, ContentKind, Document, SEALED_SIZE, check_size, open, pad_into, seal, unpad,
};
use crate::key::hash::{sha256, tag, tagged_hash};
use crate::key::{ChkKey, KeyKind, RoutingKey};

/// Bytes of a CHK block: ciphertext then tag.
pub const CHK_BLOCK_SIZE: usize = SEALED_SIZE;

/// The nonce is fixed: each crypto key is the hash of the one plaintext it
/// encrypts, so no key ever encrypts two different plaintexts.
const NONCE: [u8; 12] = [0; 12];

/// An encrypted CHK block, exactly [`CHK_BLOCK_SIZE`] bytes. Shared, not
/// copied, when cloned: a node passes one block on, stores it and sends it
/// back without copying its 32 KiB.
#[derive(Clone, PartialEq, Eq)]
pub struct ChkBlock(Arc<[u8]>);

impl std::fmt::Debug for ChkBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChkBlock({})", self.routing_key())
    }
}

impl ChkBlock {
    /// Takes bytes as a CHK block, checking only the size.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlockError> {
        check_size(KeyKind::Chk, CHK_BLOCK_SIZE, bytes)?;
        Ok(ChkBlock(bytes.into()))
    }

    /// The block's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The routing key this block belongs under: its SHA-256.
    pub fn routing_key(&self) -> RoutingKey {
        RoutingKey(sha256(&self.0))
    }

    /// Checks that this block belongs under `routing`.
    pub fn verify(&self, routing: &RoutingKey) -> Result<(), BlockError> {
        if self.routing_key() == *routing {
            Ok(())
        } else {
            Err(BlockError::RoutingKeyMismatch)
        }
    }
}

/// Seals a document into one CHK block and returns its key.
pub fn encode(doc: &[u8]) -> Result<(ChkKey, ChkBlock), BlockError> {
    encode_kind(ContentKind::Data, doc)
}

/// Seals a document of the given kind into one CHK block.
pub fn encode_kind(kind: ContentKind, doc: &[u8]) -> Result<(ChkKey, ChkBlock), BlockError> {
    let mut sealed = vec![0u8; CHK_BLOCK_SIZE];
    pad_into(&mut sealed, kind, doc)?;
    let crypto = tagged_hash(tag::CHK_CRYPTO_KEY, &[&sealed[..super::BLOCK_SIZE]]);
    seal(&crypto, &NONCE, &mut sealed);
    let block = ChkBlock(sealed.into());
    let key = ChkKey {
        routing: block.routing_key(),
        crypto,
    };
    Ok((key, block))
}

/// Verifies a block against its key and opens it.
pub fn decode(key: &ChkKey, block: &ChkBlock) -> Result<Document, BlockError> {
    block.verify(&key.routing)?;
    let plain = open(&key.crypto, &NONCE, block.as_bytes())?;
    if tagged_hash(tag::CHK_CRYPTO_KEY, &[&plain]) != key.crypto {
        return Err(BlockError::NotConvergent);
    }
    unpad(plain)
}
