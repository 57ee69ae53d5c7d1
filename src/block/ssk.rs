//! Signed blocks: any node can check that a block was signed by the key its
//! routing key names, for the name its routing key names, without being able
//! to read it or learn the name.
//!
//! Layout (all fixed): public key (32) ‖ name hash (32) ‖ nonce (12) ‖
//! ciphertext and tag ([`SEALED_SIZE`]) ‖ Ed25519 signature (64).

use std::sync::Arc;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::{
    BLOCK_SIZE, BlockError, ContentKind, Document, SEALED_SIZE, check_size, open, pad_into, seal,
    unpad,
};
use crate::key::hash::{tag, tagged_hash};
use crate::key::{KeyKind, KskKey, RoutingKey, SskInsertKey, SskKey};
use crate::key::{content_key, name_hash, public_key, signed_routing_key};

const PUBLIC: std::ops::Range<usize> = 0..32;
const NAME_HASH: std::ops::Range<usize> = 32..64;
const NONCE: std::ops::Range<usize> = 64..76;
const SEALED: std::ops::Range<usize> = 76..76 + SEALED_SIZE;
const SIGNATURE: std::ops::Range<usize> = SEALED.end..SEALED.end + 64;

/// Bytes of an SSK block.
pub const SSK_BLOCK_SIZE: usize = SIGNATURE.end;

/// A signed block, exactly [`SSK_BLOCK_SIZE`] bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SskBlock(Arc<[u8]>);

impl std::fmt::Debug for SskBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SskBlock({})", self.routing_key())
    }
}

/// The bytes the signature covers: tag, routing key, nonce, sealed body.
fn signed_message(routing: &RoutingKey, nonce: &[u8], sealed: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(tag::SSK_SIGNATURE.len() + 1 + 32 + 12 + SEALED_SIZE);
    msg.extend_from_slice(tag::SSK_SIGNATURE.as_bytes());
    msg.push(0);
    msg.extend_from_slice(&routing.0);
    msg.extend_from_slice(nonce);
    msg.extend_from_slice(sealed);
    msg
}

impl SskBlock {
    /// Takes bytes as an SSK block, checking only the size.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlockError> {
        check_size(KeyKind::Ssk, SSK_BLOCK_SIZE, bytes)?;
        Ok(SskBlock(bytes.into()))
    }

    /// The block's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The routing key the block claims: from its public key and name hash.
    pub fn routing_key(&self) -> RoutingKey {
        let public: &[u8; 32] = self.0[PUBLIC].try_into().expect("fixed layout");
        let name: &[u8; 32] = self.0[NAME_HASH].try_into().expect("fixed layout");
        signed_routing_key(public, name)
    }

    /// Checks that this block belongs under `routing` and that its author
    /// signed it. Strict verification: no malleable signatures, no weak keys.
    pub fn verify(&self, routing: &RoutingKey) -> Result<(), BlockError> {
        if self.routing_key() != *routing {
            return Err(BlockError::RoutingKeyMismatch);
        }
        let public: [u8; 32] = self.0[PUBLIC].try_into().expect("fixed layout");
        let public = public_key(&public).ok_or(BlockError::BadPublicKey)?;
        let signature: [u8; 64] = self.0[SIGNATURE].try_into().expect("fixed layout");
        let msg = signed_message(routing, &self.0[NONCE], &self.0[SEALED]);
        public
            .verify_strict(&msg, &Signature::from_bytes(&signature))
            .map_err(|_| BlockError::BadSignature)
    }
}

/// Seals and signs a document under an author's key, crypto key and name.
/// The nonce is derived from the content key and the plaintext, so a name
/// re-published with other content never reuses a nonce.
pub fn seal_signed(
    signing: &SigningKey,
    crypto: &[u8; 32],
    name: &str,
    kind: ContentKind,
    doc: &[u8],
) -> Result<SskBlock, BlockError> {
    let mut bytes = vec![0u8; SSK_BLOCK_SIZE];
    pad_into(&mut bytes[SEALED], kind, doc)?;
    let key = content_key(crypto, name);
    let nonce_hash = tagged_hash(
        tag::SSK_NONCE,
        &[&key, &bytes[SEALED.start..SEALED.start + BLOCK_SIZE]],
    );
    let nonce: [u8; 12] = nonce_hash[..12].try_into().expect("12 of 32 bytes");
    seal(&key, &nonce, &mut bytes[SEALED]);

    let public = signing.verifying_key();
    let hash = name_hash(crypto, name);
    let routing = signed_routing_key(public.as_bytes(), &hash);
    bytes[PUBLIC].copy_from_slice(public.as_bytes());
    bytes[NAME_HASH].copy_from_slice(&hash);
    bytes[NONCE].copy_from_slice(&nonce);
    let signature = signing.sign(&signed_message(&routing, &nonce, &bytes[SEALED]));
    bytes[SIGNATURE].copy_from_slice(&signature.to_bytes());
    Ok(SskBlock(bytes.into()))
}

/// Verifies a signed block for an author, crypto key and name, and opens it.
pub fn open_signed(
    public: &VerifyingKey,
    crypto: &[u8; 32],
    name: &str,
    block: &SskBlock,
) -> Result<Document, BlockError> {
    let hash = name_hash(crypto, name);
    block.verify(&signed_routing_key(public.as_bytes(), &hash))?;
    if block.0[NAME_HASH] != hash {
        return Err(BlockError::NameMismatch);
    }
    let nonce: [u8; 12] = block.0[NONCE].try_into().expect("fixed layout");
    unpad(open(&content_key(crypto, name), &nonce, &block.0[SEALED])?)
}

/// Publishes a document under an SSK: returns the public key to share and
/// the block.
pub fn encode(key: &SskInsertKey, doc: &[u8]) -> Result<(SskKey, SskBlock), BlockError> {
    let block = seal_signed(
        &key.signing,
        &key.crypto,
        &key.name.to_string(),
        ContentKind::Data,
        doc,
    )?;
    Ok((key.to_public(), block))
}

/// Verifies and opens an SSK block.
pub fn decode(key: &SskKey, block: &SskBlock) -> Result<Document, BlockError> {
    open_signed(&key.public, &key.crypto, &key.name.to_string(), block)
}

/// Publishes a document under a KSK.
pub fn encode_ksk(key: &KskKey, doc: &[u8]) -> Result<SskBlock, BlockError> {
    seal_signed(
        &key.signing_key(),
        &key.crypto_key(),
        key.name(),
        ContentKind::Data,
        doc,
    )
}

/// Verifies and opens a KSK block.
pub fn decode_ksk(key: &KskKey, block: &SskBlock) -> Result<Document, BlockError> {
    open_signed(
        &key.signing_key().verifying_key(),
        &key.crypto_key(),
        key.name(),
        block,
    )
}
