//! Document encryption: round trips, tamper detection, and the checks a node
//! makes without the crypto key.

use ed25519_dalek::SigningKey;
use fogstore::block::{self, BLOCK_CAPACITY, Block, BlockError, ContentKind, chk, ssk};
use fogstore::key::{DocName, Key, KeyKind, KskKey, SskInsertKey};
use proptest::prelude::*;

fn insert_key(name: &str) -> SskInsertKey {
    SskInsertKey {
        signing: SigningKey::from_bytes(&[9; 32]),
        crypto: [3; 32],
        name: DocName::parse(name).unwrap(),
    }
}

#[test]
fn chk_round_trips_at_the_edges_of_capacity() {
    for len in [0, 1, 7, 8, 1000, BLOCK_CAPACITY - 1, BLOCK_CAPACITY] {
        let doc: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let (key, blk) = chk::encode(&doc).unwrap();
        assert_eq!(blk.as_bytes().len(), chk::CHK_BLOCK_SIZE);
        let out = chk::decode(&key, &blk).unwrap();
        assert_eq!(out.bytes, doc, "length {len}");
        assert_eq!(out.kind, ContentKind::Data);
    }
}

#[test]
fn one_byte_over_capacity_is_a_clear_error() {
    let err = chk::encode(&vec![0; BLOCK_CAPACITY + 1]).unwrap_err();
    assert_eq!(
        err,
        BlockError::TooLarge {
            size: BLOCK_CAPACITY + 1
        }
    );
    assert!(err.to_string().contains("32760"));
}

#[test]
fn chk_is_convergent_and_content_sensitive() {
    let (a, _) = chk::encode(b"same").unwrap();
    let (b, _) = chk::encode(b"same").unwrap();
    let (c, _) = chk::encode(b"Same").unwrap();
    assert_eq!(a, b);
    assert_ne!(a.routing, c.routing);
    assert_ne!(a.crypto, c.crypto);
    let (m, _) = chk::encode_kind(ContentKind::Manifest, b"same").unwrap();
    assert_ne!(a, m, "the content kind is part of what is hashed");
}

#[test]
fn the_block_does_not_contain_the_plaintext() {
    let doc = b"a very recognisable plaintext string ".repeat(100);
    let (_, blk) = chk::encode(&doc).unwrap();
    assert!(!blk.as_bytes().windows(37).any(|w| w == &doc[..37]));
}

#[test]
fn tampering_anywhere_in_a_chk_block_is_detected() {
    let (key, blk) = chk::encode(b"hello").unwrap();
    for pos in [0, 100, block::BLOCK_SIZE - 1, chk::CHK_BLOCK_SIZE - 1] {
        let mut bytes = blk.as_bytes().to_vec();
        bytes[pos] ^= 1;
        let bad = chk::ChkBlock::from_bytes(&bytes).unwrap();
        assert_eq!(
            bad.verify(&key.routing),
            Err(BlockError::RoutingKeyMismatch)
        );
        assert_eq!(chk::decode(&key, &bad), Err(BlockError::RoutingKeyMismatch));
    }
}

#[test]
fn a_wrong_crypto_key_fails_decryption() {
    let (mut key, blk) = chk::encode(b"hello").unwrap();
    key.crypto[0] ^= 1;
    assert_eq!(chk::decode(&key, &blk), Err(BlockError::Decryption));
}

#[test]
fn a_non_convergent_chk_is_rejected() {
    // Valid AEAD under a key that is not the plaintext's hash: someone made
    // this block by hand. Build it by re-sealing with a chosen key.
    use chacha20poly1305::aead::{AeadInPlace, KeyInit};
    let mut plain = vec![0u8; block::BLOCK_SIZE];
    plain[7] = 2;
    plain[8..10].copy_from_slice(b"hi");
    let crypto = [5u8; 32];
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&crypto.into());
    let tag = cipher
        .encrypt_in_place_detached(&[0; 12].into(), &[], &mut plain)
        .unwrap();
    plain.extend_from_slice(&tag);
    let blk = chk::ChkBlock::from_bytes(&plain).unwrap();
    let key = fogstore::key::ChkKey {
        routing: blk.routing_key(),
        crypto,
    };
    assert_eq!(chk::decode(&key, &blk), Err(BlockError::NotConvergent));
}

#[test]
fn wrong_sizes_are_rejected() {
    for len in [0, 1, chk::CHK_BLOCK_SIZE - 1, chk::CHK_BLOCK_SIZE + 1] {
        assert!(matches!(
            Block::from_bytes(KeyKind::Chk, &vec![0; len]),
            Err(BlockError::WrongSize { .. })
        ));
    }
    assert!(matches!(
        Block::from_bytes(KeyKind::Ssk, &vec![0; chk::CHK_BLOCK_SIZE]),
        Err(BlockError::WrongSize { .. })
    ));
}

#[test]
fn ssk_round_trips_and_any_node_can_verify_it() {
    let key = insert_key("site/7");
    let (public, blk) = ssk::encode(&key, b"edition seven").unwrap();
    let node_key = Key::Ssk(public.clone()).node_key();
    assert_eq!(node_key.kind, KeyKind::Ssk);
    // A node holds only the routing key and the block.
    blk.verify(&node_key.routing).unwrap();
    Block::Ssk(blk.clone()).verify(&node_key).unwrap();
    assert_eq!(ssk::decode(&public, &blk).unwrap().bytes, b"edition seven");
}

#[test]
fn ssk_editions_are_distinct_documents() {
    let k7 = insert_key("site/7");
    let k8 = k7.with_name(DocName::parse("site/8").unwrap());
    assert_ne!(k7.to_public().node_key(), k8.to_public().node_key());
    let (_, blk7) = ssk::encode(&k7, b"seven").unwrap();
    assert_eq!(
        blk7.verify(&k8.to_public().node_key().routing),
        Err(BlockError::RoutingKeyMismatch)
    );
}

#[test]
fn a_forged_ssk_signature_is_rejected() {
    let key = insert_key("doc");
    let (public, blk) = ssk::encode(&key, b"genuine").unwrap();
    let routing = public.node_key().routing;
    // Flip one bit in the ciphertext, the nonce, and the signature in turn.
    for pos in [100, 70, ssk::SSK_BLOCK_SIZE - 1] {
        let mut bytes = blk.as_bytes().to_vec();
        bytes[pos] ^= 1;
        let bad = ssk::SskBlock::from_bytes(&bytes).unwrap();
        assert_eq!(
            bad.verify(&routing),
            Err(BlockError::BadSignature),
            "byte {pos}"
        );
    }
    // Another author cannot publish under this routing key: their block
    // claims a different one.
    let mut other = insert_key("doc");
    other.signing = SigningKey::from_bytes(&[1; 32]);
    let (_, forged) = ssk::encode(&other, b"forged").unwrap();
    assert_eq!(forged.verify(&routing), Err(BlockError::RoutingKeyMismatch));
}

#[test]
fn ssk_without_the_crypto_key_cannot_be_read() {
    let key = insert_key("doc");
    let (mut public, blk) = ssk::encode(&key, b"secret").unwrap();
    public.crypto[0] ^= 1;
    // The routing key moves with the crypto key, so the block is simply not
    // the one this key names.
    assert_eq!(
        ssk::decode(&public, &blk),
        Err(BlockError::RoutingKeyMismatch)
    );
}

#[test]
fn ssk_republishing_other_content_changes_the_nonce() {
    let key = insert_key("doc");
    let (_, a) = ssk::encode(&key, b"first").unwrap();
    let (_, b) = ssk::encode(&key, b"second").unwrap();
    assert_ne!(a.as_bytes()[64..76], b.as_bytes()[64..76]);
}

#[test]
fn ksk_round_trips_and_anyone_with_the_name_can_read() {
    let key = KskKey::new("gpl.txt").unwrap();
    let blk = ssk::encode_ksk(&key, b"license text").unwrap();
    Block::Ssk(blk.clone()).verify(&key.node_key()).unwrap();
    let again = KskKey::new("gpl.txt").unwrap();
    assert_eq!(
        ssk::decode_ksk(&again, &blk).unwrap().bytes,
        b"license text"
    );
    let other = KskKey::new("gpl.txt2").unwrap();
    assert!(ssk::decode_ksk(&other, &blk).is_err());
}

#[test]
fn kinds_must_match() {
    let (chk_key, blk) = chk::encode(b"x").unwrap();
    let mut as_ssk = chk_key.node_key();
    as_ssk.kind = KeyKind::Ssk;
    assert_eq!(
        Block::Chk(blk).verify(&as_ssk),
        Err(BlockError::WrongKind {
            expected: KeyKind::Ssk,
            got: KeyKind::Chk
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn truncated_or_extended_blocks_are_rejected_by_size(cut in 0usize..200, grow in 0usize..3, kind in prop_oneof![Just(KeyKind::Chk), Just(KeyKind::Ssk)]) {
        let (_, chk_block) = chk::encode(b"size").unwrap();
        let (_, ssk_block) = ssk::encode(&insert_key("size"), b"size").unwrap();
        let bytes = match kind { KeyKind::Chk => chk_block.as_bytes(), KeyKind::Ssk => ssk_block.as_bytes() };
        let truncated = &bytes[..bytes.len() - 1 - cut];
        prop_assert!(matches!(Block::from_bytes(kind, truncated), Err(BlockError::WrongSize { .. })), "truncated");
        let mut longer = bytes.to_vec();
        longer.extend(std::iter::repeat_n(0, grow + 1));
        prop_assert!(matches!(Block::from_bytes(kind, &longer), Err(BlockError::WrongSize { .. })), "extended");
        prop_assert!(Block::from_bytes(kind, bytes).is_ok());
    }

    #[test]
    fn chk_round_trips_any_document(doc in prop::collection::vec(any::<u8>(), 0..3000)) {
        let (key, blk) = chk::encode(&doc).unwrap();
        prop_assert_eq!(chk::decode(&key, &blk).unwrap().bytes, doc);
    }

    #[test]
    fn random_bytes_never_verify_or_decode(seed: u64, kind in prop_oneof![Just(KeyKind::Chk), Just(KeyKind::Ssk)]) {
        let mut x = seed | 1;
        let bytes: Vec<u8> = (0..Block::size_of(kind)).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 }).collect();
        let blk = Block::from_bytes(kind, &bytes).unwrap();
        let (key, _) = chk::encode(b"anything").unwrap();
        let mut node_key = key.node_key();
        node_key.kind = kind;
        prop_assert!(blk.verify(&node_key).is_err());
        if let Block::Chk(c) = &blk {
            // Even under its own routing key, it does not open.
            let own = fogstore::key::ChkKey { routing: c.routing_key(), crypto: key.crypto };
            prop_assert!(chk::decode(&own, c).is_err());
        }
    }
}
