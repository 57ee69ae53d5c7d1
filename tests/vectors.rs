//! Reproduces every known-answer vector in `keys/`.
//!
//! The vectors are the format's contract: if this test fails, the bytes
//! fogstore produces have changed, and every key ever published with the old
//! format would be lost. `FOGSTORE_BLESS=1 cargo test --test vectors` rewrites
//! the expected outputs from the inputs; do that only for a deliberate,
//! versioned format change.

use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use fogstore::block::{BLOCK_CAPACITY, Block, BlockError, chk, ssk};
use fogstore::key::{DocName, Key, KskKey, SskInsertKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A document, given so that another implementation can rebuild it.
#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "snake_case")]
enum DocSpec {
    /// UTF-8 text.
    Text(String),
    /// Bytes in hex.
    Hex(String),
    /// `length` bytes of SHA-256(seed ‖ u64 big-endian counter) for counter
    /// 0, 1, 2, … concatenated and truncated.
    Stream { seed: String, length: usize },
    /// `length` copies of one byte.
    Repeat { byte: u8, length: usize },
}

impl DocSpec {
    fn bytes(&self) -> Vec<u8> {
        match self {
            DocSpec::Text(t) => t.as_bytes().to_vec(),
            DocSpec::Hex(h) => hex::decode(h).unwrap(),
            DocSpec::Stream { seed, length } => {
                let mut out = Vec::with_capacity(length + 32);
                let mut counter = 0u64;
                while out.len() < *length {
                    let mut h = Sha256::new();
                    h.update(seed.as_bytes());
                    h.update(counter.to_be_bytes());
                    out.extend_from_slice(&h.finalize());
                    counter += 1;
                }
                out.truncate(*length);
                out
            }
            DocSpec::Repeat { byte, length } => vec![*byte; *length],
        }
    }
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[derive(Serialize, Deserialize, Default, PartialEq, Debug)]
struct ChkOut {
    uri: String,
    routing_key: String,
    crypto_key: String,
    location: String,
    block_sha256: String,
    block_first_16: String,
}

#[derive(Serialize, Deserialize)]
struct ChkVector {
    name: String,
    document: DocSpec,
    document_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect: Option<ChkOut>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, Deserialize, Default, PartialEq, Debug)]
struct SskOut {
    insert_uri: String,
    request_uri: String,
    public_key: String,
    name_hash: String,
    routing_key: String,
    location: String,
    nonce: String,
    signature: String,
    block_sha256: String,
}

#[derive(Serialize, Deserialize)]
struct SskVector {
    name: String,
    signing_seed: String,
    crypto_key: String,
    doc_name: String,
    document: DocSpec,
    document_sha256: String,
    expect: SskOut,
}

#[derive(Serialize, Deserialize, Default, PartialEq, Debug)]
struct KskOut {
    signing_seed: String,
    public_key: String,
    crypto_key: String,
    routing_key: String,
    location: String,
    block_sha256: String,
}

#[derive(Serialize, Deserialize)]
struct KskVector {
    uri: String,
    document: DocSpec,
    document_sha256: String,
    expect: KskOut,
}

#[derive(Serialize, Deserialize)]
struct InvalidUri {
    uri: String,
    error: String,
}

fn path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("keys")
        .join(file)
}

fn bless() -> bool {
    std::env::var_os("FOGSTORE_BLESS").is_some()
}

/// Checks `got` against the vector's `expect`, or, blessing, writes it there.
fn expect_or_bless<T: PartialEq + std::fmt::Debug>(expect: &mut T, got: T, name: &str) {
    if bless() {
        *expect = got;
    } else {
        assert_eq!(*expect, got, "{name}");
    }
}

fn load<T: for<'de> Deserialize<'de>>(file: &str) -> Vec<T> {
    let text = std::fs::read_to_string(path(file)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn save<T: Serialize>(file: &str, vectors: &[T]) {
    let mut text = serde_json::to_string_pretty(vectors).unwrap();
    text.push('\n');
    std::fs::write(path(file), text).unwrap();
}

fn location_hex(key: &Key) -> String {
    format!("{:016x}", key.routing_key().location().0)
}

fn check_document(name: &str, spec: &DocSpec, sha: &mut String) -> Vec<u8> {
    let doc = spec.bytes();
    if bless() {
        *sha = sha_hex(&doc);
    }
    assert_eq!(*sha, sha_hex(&doc), "{name}: document generator");
    doc
}

#[test]
fn chk_vectors() {
    let mut vectors: Vec<ChkVector> = load("chk.json");
    assert!(vectors.iter().filter(|v| v.error.is_none()).count() >= 8);
    for v in &mut vectors {
        let doc = check_document(&v.name, &v.document, &mut v.document_sha256);
        match chk::encode(&doc) {
            Ok((key, block)) => {
                let uri = Key::Chk(key);
                let got = ChkOut {
                    uri: uri.to_string(),
                    routing_key: key.routing.to_string(),
                    crypto_key: hex::encode(key.crypto),
                    location: location_hex(&uri),
                    block_sha256: sha_hex(block.as_bytes()),
                    block_first_16: hex::encode(&block.as_bytes()[..16]),
                };
                // The URI alone opens the block.
                let Key::Chk(parsed) = got.uri.parse().unwrap() else {
                    panic!()
                };
                assert_eq!(chk::decode(&parsed, &block).unwrap().bytes, doc);
                if bless() {
                    v.expect = Some(got);
                    v.error = None;
                } else {
                    assert_eq!(v.expect.as_ref(), Some(&got), "{}", v.name);
                }
            }
            Err(e) => {
                assert_eq!(e, BlockError::TooLarge { size: doc.len() });
                assert_eq!(doc.len(), BLOCK_CAPACITY + 1);
                if bless() {
                    v.error = Some("too large".into());
                    v.expect = None;
                }
                assert_eq!(v.error.as_deref(), Some("too large"), "{}", v.name);
            }
        }
    }
    if bless() {
        save("chk.json", &vectors);
    }
}

#[test]
fn ssk_vectors() {
    let mut vectors: Vec<SskVector> = load("ssk.json");
    for v in &mut vectors {
        let doc = check_document(&v.name, &v.document, &mut v.document_sha256);
        let seed: [u8; 32] = hex::decode(&v.signing_seed).unwrap().try_into().unwrap();
        let crypto: [u8; 32] = hex::decode(&v.crypto_key).unwrap().try_into().unwrap();
        let insert = SskInsertKey {
            signing: SigningKey::from_bytes(&seed),
            crypto,
            name: DocName::parse(&v.doc_name).unwrap(),
        };
        let (public, block) = ssk::encode(&insert, &doc).unwrap();
        let b = block.as_bytes();
        let request = Key::Ssk(public.clone());
        let got = SskOut {
            insert_uri: Key::SskInsert(insert).to_string(),
            request_uri: request.to_string(),
            public_key: hex::encode(public.public.as_bytes()),
            name_hash: hex::encode(&b[32..64]),
            routing_key: request.routing_key().to_string(),
            location: location_hex(&request),
            nonce: hex::encode(&b[64..76]),
            signature: hex::encode(&b[b.len() - 64..]),
            block_sha256: sha_hex(b),
        };
        let Key::Ssk(parsed) = got.request_uri.parse().unwrap() else {
            panic!()
        };
        assert_eq!(ssk::decode(&parsed, &block).unwrap().bytes, doc);
        let Key::SskInsert(parsed_insert) = got.insert_uri.parse().unwrap() else {
            panic!()
        };
        assert_eq!(parsed_insert.to_public(), parsed);
        expect_or_bless(&mut v.expect, got, &v.name);
    }
    if bless() {
        save("ssk.json", &vectors);
    }
}

#[test]
fn ksk_vectors() {
    let mut vectors: Vec<KskVector> = load("ksk.json");
    for v in &mut vectors {
        let doc = check_document(&v.uri, &v.document, &mut v.document_sha256);
        let key: Key = v.uri.parse().unwrap();
        assert_eq!(key.to_string(), v.uri);
        let Key::Ksk(ksk) = &key else {
            panic!("{} is not a KSK", v.uri)
        };
        let block = ssk::encode_ksk(ksk, &doc).unwrap();
        Block::Ssk(block.clone()).verify(&key.node_key()).unwrap();
        assert_eq!(
            ssk::decode_ksk(&KskKey::new(ksk.name()).unwrap(), &block)
                .unwrap()
                .bytes,
            doc
        );
        let got = KskOut {
            signing_seed: hex::encode(ksk.signing_key().to_bytes()),
            public_key: hex::encode(ksk.signing_key().verifying_key().as_bytes()),
            crypto_key: hex::encode(ksk.crypto_key()),
            routing_key: key.routing_key().to_string(),
            location: location_hex(&key),
            block_sha256: sha_hex(block.as_bytes()),
        };
        expect_or_bless(&mut v.expect, got, &v.uri);
    }
    if bless() {
        save("ksk.json", &vectors);
    }
}

/// The error's variant name, e.g. `BadBase64`.
fn variant(err: &fogstore::key::KeyError) -> String {
    format!("{err:?}")
        .split(['(', ' ', '{'])
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn invalid_uri_vectors() {
    let mut vectors: Vec<InvalidUri> = load("invalid-uris.json");
    for v in &mut vectors {
        let err = v.uri.parse::<Key>().expect_err(&v.uri);
        if bless() {
            v.error = variant(&err);
        }
        assert_eq!(v.error, variant(&err), "{}", v.uri);
    }
    if bless() {
        save("invalid-uris.json", &vectors);
    }
}

#[derive(Serialize, Deserialize, Default, PartialEq, Debug)]
struct SignedOut {
    request_uri: String,
    /// The CHK splitfile the signed block redirects to; `None` for a
    /// document inline in the signed block.
    target: Option<String>,
    /// The redirect's bytes (the signed block's document, content kind 1),
    /// in hex; `None` inline.
    redirect: Option<String>,
    routing_key: String,
    block_sha256: String,
}

#[derive(Serialize, Deserialize)]
struct SignedVector {
    name: String,
    /// The insert key: `SSK-INSERT@…` or `KSK@…`.
    key: String,
    document: DocSpec,
    document_sha256: String,
    expect: SignedOut,
}

#[test]
fn redirect_vectors() {
    use fogstore::client::redirect::Redirect;
    use fogstore::client::signed::{Signed, SignedInsert};
    use fogstore::client::splitfile;

    let mut vectors: Vec<SignedVector> = load("redirect.json");
    for v in &mut vectors {
        let doc = check_document(&v.name, &v.document, &mut v.document_sha256);
        let key = SignedInsert::from_key(v.key.parse().unwrap()).expect("an insert key");
        let request = key.request();
        let (block, redirect) = if doc.len() <= BLOCK_CAPACITY {
            (key.seal_inline(&doc).unwrap(), None)
        } else {
            let (top, _) = splitfile::encode_all(&doc).unwrap();
            let redirect = Redirect::new(doc.len() as u64, top).unwrap();
            (key.seal_redirect(&redirect).unwrap(), Some(redirect))
        };
        let opened = request.open(&block).unwrap();
        match redirect {
            None => assert_eq!(opened, Signed::Inline(doc.clone()), "{}", v.name),
            Some(r) => assert_eq!(opened, Signed::Redirect(r), "{}", v.name),
        }
        let got = SignedOut {
            request_uri: request.to_string(),
            target: redirect.map(|r| Key::Chk(r.target).to_string()),
            redirect: redirect.map(|r| hex::encode(r.to_bytes())),
            routing_key: request.node_key().routing.to_string(),
            block_sha256: sha_hex(block.as_bytes()),
        };
        expect_or_bless(&mut v.expect, got, &v.name);
    }
    if bless() {
        save("redirect.json", &vectors);
    }
}
