//! The block layer: `Block::from_bytes`, `Block::verify`, `chk::decode`,
//! `ssk::decode` and `ssk::decode_ksk` on untrusted blocks and keys.
//!
//! Byte 0 of the input picks a mode; the rest feeds it:
//!
//! - 0, raw: arbitrary bytes as a block of either kind, verified and opened
//!   under arbitrary keys. Nothing may panic; a CHK block always verifies
//!   under its own hash, and never under a key of the other kind.
//! - 1, CHK round trip: `chk::encode_kind` then `chk::decode` gives the
//!   document back; the block with one byte changed fails both `verify` and
//!   `decode`.
//! - 2, CHK plaintext: a block sealed here by hand, following
//!   `docs/protocol.md`, around an arbitrary 32 KiB plaintext (so header,
//!   length and padding can be anything). `chk::decode` must agree with the
//!   specification on the key and the cipher, so it may only fail with
//!   `BadPlaintext`; when it succeeds, `encode_kind` of the document gives
//!   the very same key and block (the decoder accepts only what the encoder
//!   writes).
//! - 3, SSK/KSK round trip: `ssk::encode` (or `encode_ksk`) then `decode`
//!   gives the document back and `verify` accepts the block under its node
//!   key; one changed byte, or another name, makes both fail.
//! - 4, SSK plaintext: a signed block made by hand around an arbitrary
//!   plaintext and nonce; `verify` accepts it, `ssk::decode` fails only with
//!   `BadPlaintext`, and a document it returns pads back to the plaintext.
#![no_main]

mod input;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use ed25519_dalek::{Signer, SigningKey};
use fogstore::block::chk::{self, CHK_BLOCK_SIZE, ChkBlock};
use fogstore::block::ssk::{self, SSK_BLOCK_SIZE, SskBlock};
use fogstore::block::{
    BLOCK_CAPACITY, BLOCK_SIZE, Block, BlockError, ContentKind, Document, HEADER_SIZE,
};
use fogstore::key::{
    ChkKey, DocName, KeyKind, KskKey, NodeKey, RoutingKey, SskInsertKey, SskKey, Version,
};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

use input::Input;

// ---- The specification (docs/protocol.md), independently of the crate ----

fn tagged_hash(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(tag.as_bytes());
    hasher.update([0u8]);
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// ChaCha20-Poly1305 of a 32 KiB plaintext: ciphertext then tag.
fn seal(key: &[u8; 32], nonce: &[u8; 12], plain: &[u8]) -> Vec<u8> {
    assert_eq!(plain.len(), BLOCK_SIZE);
    let mut sealed = plain.to_vec();
    let tag = ChaCha20Poly1305::new(key.into())
        .encrypt_in_place_detached(Nonce::from_slice(nonce), &[], &mut sealed)
        .expect("32 KiB is under the AEAD's limit");
    sealed.extend_from_slice(&tag);
    sealed
}

/// The plaintext the encoder lays out for a document.
fn pad(doc: &Document) -> Vec<u8> {
    let mut plain = vec![0u8; BLOCK_SIZE];
    plain[0] = match doc.kind {
        ContentKind::Data => 0,
        ContentKind::Manifest => 1,
    };
    plain[4..8].copy_from_slice(&(doc.bytes.len() as u32).to_be_bytes());
    plain[HEADER_SIZE..HEADER_SIZE + doc.bytes.len()].copy_from_slice(&doc.bytes);
    plain
}

/// A 32 KiB plaintext starting with `bytes`, then zeros.
fn plaintext(bytes: &[u8]) -> Vec<u8> {
    let mut plain = vec![0u8; BLOCK_SIZE];
    let n = bytes.len().min(BLOCK_SIZE);
    plain[..n].copy_from_slice(&bytes[..n]);
    plain
}

fn content_kind(bit: u8) -> ContentKind {
    if bit & 1 == 0 {
        ContentKind::Data
    } else {
        ContentKind::Manifest
    }
}

/// An author's signing key and crypto key from eight bytes of input.
fn author(input: &mut Input) -> (SigningKey, [u8; 32]) {
    let seed = input.array::<8>();
    let signing =
        SigningKey::from_bytes(&Sha256::digest([b"signing".as_slice(), &seed].concat()).into());
    let crypto = Sha256::digest([b"crypto".as_slice(), &seed].concat()).into();
    (signing, crypto)
}

/// A document name from a length byte and that many bytes of input, or a
/// fixed one if they are not a valid name.
fn doc_name(input: &mut Input) -> DocName {
    let n = usize::from(input.byte() % 32);
    std::str::from_utf8(input.take(n))
        .ok()
        .and_then(|s| DocName::parse(s).ok())
        .unwrap_or_else(|| DocName::parse("fuzz").expect("a valid name"))
}

/// `bytes` with the byte at `at` (mod its length) changed by `mask` (never 0).
fn tampered(bytes: &[u8], at: u32, mask: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let at = at as usize % out.len();
    out[at] ^= mask.max(1);
    out
}

/// At most one block's worth of `bytes`.
fn fitting(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(BLOCK_CAPACITY)]
}

// ---- The modes ----

fn raw(mut input: Input) {
    let kind = if input.byte().is_multiple_of(2) {
        KeyKind::Chk
    } else {
        KeyKind::Ssk
    };
    let other = match kind {
        KeyKind::Chk => KeyKind::Ssk,
        KeyKind::Ssk => KeyKind::Chk,
    };
    let routing = RoutingKey(input.array());
    let crypto = input.array::<32>();
    let seed = input.array::<32>();
    let bytes = input.rest();
    // The size is the only check `from_bytes` makes.
    let size = Block::size_of(kind);
    assert_eq!(Block::from_bytes(kind, bytes).is_ok(), bytes.len() == size);
    let mut full = vec![0u8; size];
    let n = bytes.len().min(size);
    full[..n].copy_from_slice(&bytes[..n]);
    let block = Block::from_bytes(kind, &full).expect("the right size");
    assert_eq!(block.as_bytes(), &full[..]);
    assert_eq!(block.kind(), kind);
    let _ = block.verify(&NodeKey { kind, routing });
    assert!(matches!(
        block.verify(&NodeKey {
            kind: other,
            routing
        }),
        Err(BlockError::WrongKind { .. })
    ));
    match &block {
        Block::Chk(b) => {
            assert_eq!(b.verify(&b.routing_key()), Ok(()));
            let _ = chk::decode(&ChkKey { routing, crypto }, b);
            let _ = chk::decode(
                &ChkKey {
                    routing: b.routing_key(),
                    crypto,
                },
                b,
            );
        }
        Block::Ssk(b) => {
            let _ = b.verify(&b.routing_key());
            let name = DocName::parse("fuzz").expect("a valid name");
            let public = SigningKey::from_bytes(&seed).verifying_key();
            let _ = ssk::decode(
                &SskKey {
                    public,
                    crypto,
                    name,
                },
                b,
            );
            let _ = ssk::decode_ksk(&KskKey::new("fuzz").expect("a valid name"), b);
        }
    }
}

fn chk_round_trip(mut input: Input) {
    let kind = content_kind(input.byte());
    let mask = input.byte();
    let at = u32::from_be_bytes(input.array());
    let doc = fitting(input.rest());
    let (key, block) = chk::encode_kind(kind, doc).expect("the input fits one block");
    let want = Document {
        kind,
        bytes: doc.to_vec(),
    };
    assert_eq!(chk::decode(&key, &block), Ok(want));
    assert_eq!(block.routing_key(), key.routing);
    assert_eq!(Block::Chk(block.clone()).verify(&key.node_key()), Ok(()));
    let bad = ChkBlock::from_bytes(&tampered(block.as_bytes(), at, mask)).expect("same size");
    assert_eq!(
        Block::Chk(bad.clone()).verify(&key.node_key()),
        Err(BlockError::RoutingKeyMismatch)
    );
    assert!(chk::decode(&key, &bad).is_err());
}

fn chk_plaintext(input: Input) {
    let plain = plaintext(input.rest());
    let crypto = tagged_hash("fogstore/chk/crypto-key", &[&plain]);
    let sealed = seal(&crypto, &[0; 12], &plain);
    assert_eq!(sealed.len(), CHK_BLOCK_SIZE);
    let block = ChkBlock::from_bytes(&sealed).expect("the right size");
    let routing = RoutingKey(Sha256::digest(&sealed).into());
    assert_eq!(block.routing_key(), routing);
    let key = ChkKey { routing, crypto };
    match chk::decode(&key, &block) {
        Ok(doc) => {
            assert!(doc.bytes.len() <= BLOCK_CAPACITY);
            assert_eq!(pad(&doc), plain);
            let (key2, block2) = chk::encode_kind(doc.kind, &doc.bytes).expect("it fits");
            assert_eq!(key2, key);
            assert_eq!(block2, block);
        }
        Err(BlockError::BadPlaintext(_)) => {}
        Err(e) => panic!("a block sealed as specified fails with {e:?}"),
    }
}

fn ssk_round_trip(mut input: Input) {
    let flags = input.byte();
    let mask = input.byte();
    let at = u32::from_be_bytes(input.array());
    let (signing, crypto) = author(&mut input);
    let name = doc_name(&mut input);
    let doc = fitting(input.rest());
    let want = Document {
        kind: ContentKind::Data,
        bytes: doc.to_vec(),
    };
    let (node_key, block, open): (NodeKey, SskBlock, &dyn Fn(&SskBlock) -> _) = if flags & 1 == 0 {
        let insert = SskInsertKey {
            signing,
            crypto,
            name: name.clone(),
        };
        let (public, block) = ssk::encode(&insert, doc).expect("the input fits one block");
        assert_eq!(public, insert.to_public());
        let other = SskKey {
            name: name.with_version(Some(match name.version() {
                Some(Version::Edition(n)) => Version::Edition(n.wrapping_add(1)),
                _ => Version::Edition(0),
            })),
            ..public.clone()
        };
        assert!(ssk::decode(&other, &block).is_err());
        (public.node_key(), block, &move |b: &SskBlock| {
            ssk::decode(&public, b)
        })
    } else {
        let ksk = KskKey::new(&name.to_string()).expect("a valid name is a valid KSK name");
        let block = ssk::encode_ksk(&ksk, doc).expect("the input fits one block");
        (ksk.node_key(), block, &move |b: &SskBlock| {
            ssk::decode_ksk(&ksk, b)
        })
    };
    assert_eq!(open(&block), Ok(want));
    assert_eq!(block.routing_key(), node_key.routing);
    assert_eq!(Block::Ssk(block.clone()).verify(&node_key), Ok(()));
    let bad = SskBlock::from_bytes(&tampered(block.as_bytes(), at, mask)).expect("same size");
    assert!(Block::Ssk(bad.clone()).verify(&node_key).is_err());
    assert!(open(&bad).is_err());
}

fn ssk_plaintext(mut input: Input) {
    let (signing, crypto) = author(&mut input);
    let name = doc_name(&mut input);
    let nonce = input.array::<12>();
    let plain = plaintext(input.rest());
    let text = name.to_string();
    let content = tagged_hash("fogstore/ssk/content-key", &[&crypto, text.as_bytes()]);
    let name_hash = tagged_hash("fogstore/ssk/name-hash", &[&crypto, text.as_bytes()]);
    let public = signing.verifying_key();
    let routing = tagged_hash("fogstore/ssk/routing-key", &[public.as_bytes(), &name_hash]);
    let sealed = seal(&content, &nonce, &plain);
    let mut message = b"fogstore/ssk/signature\0".to_vec();
    message.extend_from_slice(&routing);
    message.extend_from_slice(&nonce);
    message.extend_from_slice(&sealed);
    let signature = signing.sign(&message);
    let mut bytes = Vec::with_capacity(SSK_BLOCK_SIZE);
    bytes.extend_from_slice(public.as_bytes());
    bytes.extend_from_slice(&name_hash);
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&sealed);
    bytes.extend_from_slice(&signature.to_bytes());
    let block = SskBlock::from_bytes(&bytes).expect("the right size");
    let key = SskKey {
        public,
        crypto,
        name,
    };
    assert_eq!(key.node_key().routing, RoutingKey(routing));
    assert_eq!(Block::Ssk(block.clone()).verify(&key.node_key()), Ok(()));
    match ssk::decode(&key, &block) {
        Ok(doc) => assert_eq!(pad(&doc), plain),
        Err(BlockError::BadPlaintext(_)) => {}
        Err(e) => panic!("a block signed as specified fails with {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    match input.byte() % 5 {
        0 => raw(input),
        1 => chk_round_trip(input),
        2 => chk_plaintext(input),
        3 => ssk_round_trip(input),
        _ => ssk_plaintext(input),
    }
});
