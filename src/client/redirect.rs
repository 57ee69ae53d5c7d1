//! Redirects: what a signed (SSK or KSK) block holds when its document is
//! larger than one block. The document is published as a CHK splitfile
//! first; the signed block then carries, as a document of content kind
//! [`ContentKind::Manifest`](crate::block::ContentKind::Manifest) ("not the
//! document itself"), a redirect naming the splitfile's top key and the
//! document's length, as Freenet's SSKs point at CHKs.
//!
//! `docs/protocol.md` §12.8 specifies the layout; `keys/redirect.json` has
//! vectors. Parsing is strict: anything [`Redirect::to_bytes`] would not
//! produce is rejected, and no input makes it panic.

use crate::block::BLOCK_CAPACITY;
use crate::client::splitfile::MAX_DOCUMENT_SIZE;
use crate::key::{ChkKey, Key, RoutingKey};

/// The first four bytes of every redirect: `FOGR`.
pub const MAGIC: [u8; 4] = *b"FOGR";
/// The only redirect version there is.
pub const VERSION: u8 = 1;
/// A redirect's length: magic, version, three reserved bytes, the
/// document's length (u64), the CHK's routing and crypto keys.
pub const REDIRECT_SIZE: usize = 4 + 1 + 3 + 8 + 32 + 32;

/// Why bytes are not a well-formed redirect.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum RedirectError {
    /// Not exactly [`REDIRECT_SIZE`] bytes.
    #[error("a redirect is {REDIRECT_SIZE} bytes, got {0}")]
    WrongSize(usize),
    /// The first four bytes are not `FOGR`.
    #[error("bad magic (not a fogstore redirect)")]
    BadMagic,
    /// A version this code does not read.
    #[error("unsupported redirect version {0}")]
    UnsupportedVersion(u8),
    /// The reserved bytes are not zero.
    #[error("reserved redirect bytes are not zero")]
    ReservedNotZero,
    /// A length that one block holds (the document belongs inline) or
    /// that no splitfile holds.
    #[error(
        "redirect to a document of {0} bytes: only documents of {min} to {MAX_DOCUMENT_SIZE} bytes are redirected",
        min = BLOCK_CAPACITY + 1
    )]
    BadLength(u64),
}

/// A redirect: the document is the CHK splitfile `target`, `length` bytes
/// long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// The document's length: more than one block holds.
    pub length: u64,
    /// The splitfile's top key.
    pub target: ChkKey,
}

impl Redirect {
    /// A redirect to `target`, a document of `length` bytes; fails for a
    /// length a redirect may not carry (one that fits one block inline).
    pub fn new(length: u64, target: ChkKey) -> Result<Redirect, RedirectError> {
        check_length(length)?;
        Ok(Redirect { length, target })
    }

    /// The redirect's [`REDIRECT_SIZE`] bytes.
    pub fn to_bytes(&self) -> [u8; REDIRECT_SIZE] {
        let mut out = [0u8; REDIRECT_SIZE];
        out[0..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[8..16].copy_from_slice(&self.length.to_be_bytes());
        out[16..48].copy_from_slice(&self.target.routing.0);
        out[48..80].copy_from_slice(&self.target.crypto);
        out
    }

    /// Reads a redirect, rejecting any byte [`Redirect::to_bytes`] would
    /// not have written. Checks, in order: size, magic, version, reserved
    /// bytes, length.
    pub fn parse(bytes: &[u8]) -> Result<Redirect, RedirectError> {
        let bytes: &[u8; REDIRECT_SIZE] = bytes
            .try_into()
            .map_err(|_| RedirectError::WrongSize(bytes.len()))?;
        if bytes[0..4] != MAGIC {
            return Err(RedirectError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(RedirectError::UnsupportedVersion(bytes[4]));
        }
        if bytes[5..8] != [0, 0, 0] {
            return Err(RedirectError::ReservedNotZero);
        }
        let length = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
        check_length(length)?;
        Ok(Redirect {
            length,
            target: ChkKey {
                routing: RoutingKey(bytes[16..48].try_into().expect("32 bytes")),
                crypto: bytes[48..80].try_into().expect("32 bytes"),
            },
        })
    }
}

impl std::fmt::Display for Redirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "redirect to {} ({} bytes)",
            Key::Chk(self.target),
            self.length
        )
    }
}

fn check_length(length: u64) -> Result<(), RedirectError> {
    if length <= BLOCK_CAPACITY as u64 || length > MAX_DOCUMENT_SIZE {
        return Err(RedirectError::BadLength(length));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Redirect {
        Redirect::new(
            204_800,
            ChkKey {
                routing: RoutingKey([7; 32]),
                crypto: [9; 32],
            },
        )
        .unwrap()
    }

    #[test]
    fn round_trips_with_the_specified_layout() {
        let r = sample();
        let bytes = r.to_bytes();
        assert_eq!(&bytes[..8], b"FOGR\x01\0\0\0");
        assert_eq!(bytes[8..16], 204_800u64.to_be_bytes());
        assert_eq!(bytes[16..48], [7; 32]);
        assert_eq!(bytes[48..80], [9; 32]);
        assert_eq!(Redirect::parse(&bytes), Ok(r));
    }

    #[test]
    fn rejects_every_malformed_field() {
        let good = sample().to_bytes();
        assert_eq!(Redirect::parse(&[]), Err(RedirectError::WrongSize(0)));
        assert_eq!(
            Redirect::parse(&good[..79]),
            Err(RedirectError::WrongSize(79))
        );
        let mut long = good.to_vec();
        long.push(0);
        assert_eq!(Redirect::parse(&long), Err(RedirectError::WrongSize(81)));
        let with = |i: usize, b: u8| {
            let mut bad = good;
            bad[i] = b;
            Redirect::parse(&bad)
        };
        // A manifest's magic is not a redirect's.
        assert_eq!(with(3, b'M'), Err(RedirectError::BadMagic));
        assert_eq!(with(4, 2), Err(RedirectError::UnsupportedVersion(2)));
        assert_eq!(with(4, 0), Err(RedirectError::UnsupportedVersion(0)));
        assert_eq!(with(7, 1), Err(RedirectError::ReservedNotZero));
        let length = |n: u64| {
            let mut bad = good;
            bad[8..16].copy_from_slice(&n.to_be_bytes());
            Redirect::parse(&bad)
        };
        assert_eq!(length(0), Err(RedirectError::BadLength(0)));
        assert_eq!(length(32_760), Err(RedirectError::BadLength(32_760)));
        assert!(length(32_761).is_ok());
        assert!(length(MAX_DOCUMENT_SIZE).is_ok());
        assert_eq!(
            length(MAX_DOCUMENT_SIZE + 1),
            Err(RedirectError::BadLength(MAX_DOCUMENT_SIZE + 1))
        );
        assert_eq!(length(u64::MAX), Err(RedirectError::BadLength(u64::MAX)));
        assert!(Redirect::new(100, sample().target).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_parse_only_canonically(
            bytes in proptest::collection::vec(any::<u8>(), 0..200)
        ) {
            if let Ok(r) = Redirect::parse(&bytes) {
                prop_assert_eq!(&r.to_bytes()[..], &bytes[..]);
            }
        }

        #[test]
        fn mutated_redirects_never_panic(i in 0..REDIRECT_SIZE, b in any::<u8>()) {
            let mut bytes = sample().to_bytes();
            prop_assume!(bytes[i] != b, "a mutation changes the byte");
            bytes[i] = b;
            if let Ok(r) = Redirect::parse(&bytes) {
                prop_assert_eq!(r.to_bytes(), bytes);
                // Only the length and the keys are free.
                prop_assert!(i >= 8);
            }
        }
    }
}
