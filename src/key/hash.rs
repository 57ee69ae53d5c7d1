//! Domain-separated SHA-256, so that no hash made for one purpose can stand in
//! for a hash made for another.

use sha2::{Digest, Sha256};

/// SHA-256 over `tag`, a zero byte, then each part in order.
///
/// Every part but the last has a fixed length wherever this is called, so
/// the concatenation is unambiguous.
pub(crate) fn tagged_hash(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(tag.as_bytes());
    hasher.update([0u8]);
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Plain SHA-256.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The domain-separation tags, one per derived value; `docs/protocol.md`
/// lists them with their inputs.
pub(crate) mod tag {
    pub(crate) const CHK_CRYPTO_KEY: &str = "fogstore/chk/crypto-key";
    pub(crate) const SSK_NAME_HASH: &str = "fogstore/ssk/name-hash";
    pub(crate) const SSK_ROUTING_KEY: &str = "fogstore/ssk/routing-key";
    pub(crate) const SSK_CONTENT_KEY: &str = "fogstore/ssk/content-key";
    pub(crate) const SSK_NONCE: &str = "fogstore/ssk/nonce";
    pub(crate) const SSK_SIGNATURE: &str = "fogstore/ssk/signature";
    pub(crate) const KSK_SIGNING_SEED: &str = "fogstore/ksk/signing-seed";
    pub(crate) const KSK_CRYPTO_KEY: &str = "fogstore/ksk/crypto-key";
}
