//! The textual form of keys: `TYPE@fields[/name]`, with 32-byte fields in
//! base64url without padding.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;

use super::{ChkKey, DocName, KskKey, NodeKey, RoutingKey, SskInsertKey, SskKey};

/// Longest URI accepted, in bytes; longer input is rejected before parsing.
pub const MAX_URI_LEN: usize = 1024;

/// Why a URI was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// No `@` separating the key type from its fields.
    #[error("not a key: expected TYPE@…, where TYPE is CHK, SSK, SSK-INSERT or KSK")]
    MissingPrefix,
    /// A key type fogstore does not know.
    #[error("unknown key type {0:?}: expected CHK, SSK, SSK-INSERT or KSK")]
    UnknownType(String),
    /// Longer than [`MAX_URI_LEN`].
    #[error("key is {0} bytes long, the limit is {MAX_URI_LEN}")]
    TooLong(usize),
    /// A field is missing, or there are too many.
    #[error("{key_type} key needs {expected} comma-separated fields, found {found}")]
    FieldCount {
        /// The key type.
        key_type: &'static str,
        /// How many fields it has.
        expected: usize,
        /// How many were found.
        found: usize,
    },
    /// A field is not base64url without padding.
    #[error("{field}: not valid base64url (unpadded): {reason}")]
    BadBase64 {
        /// Which field.
        field: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// A field decodes to the wrong number of bytes.
    #[error("{field}: must be {expected} bytes, got {got}")]
    WrongLength {
        /// Which field.
        field: &'static str,
        /// How long it must be.
        expected: usize,
        /// How long it was.
        got: usize,
    },
    /// An Ed25519 public key that is not the canonical encoding of a curve
    /// point of large order.
    #[error("public key: not a valid Ed25519 public key")]
    BadPublicKey,
    /// A CHK followed by `/…`.
    #[error("unexpected {0:?} after the CHK key")]
    TrailingData(String),
    /// An SSK or KSK without a document name.
    #[error("missing document name: append one after the key, as in SSK@…/name")]
    MissingName,
    /// A document name that breaks the naming rules.
    #[error("bad document name: {0}")]
    BadName(String),
    /// A version that is neither an edition number nor a YYYY-MM-DD date.
    #[error(
        "bad version {0:?}: expected an edition number (no leading zeros) or a date YYYY-MM-DD"
    )]
    BadVersion(String),
}

/// Any key a user can hold.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Key {
    /// `CHK@<routing key>,<crypto key>`.
    Chk(ChkKey),
    /// `SSK@<public key>,<crypto key>/<name>`.
    Ssk(SskKey),
    /// `SSK-INSERT@<signing seed>,<crypto key>/<name>`.
    SskInsert(SskInsertKey),
    /// `KSK@<name>`.
    Ksk(KskKey),
}

impl Key {
    /// What nodes route by. For an insert key, that of its public half.
    pub fn node_key(&self) -> NodeKey {
        match self {
            Key::Chk(k) => k.node_key(),
            Key::Ssk(k) => k.node_key(),
            Key::SskInsert(k) => k.to_public().node_key(),
            Key::Ksk(k) => k.node_key(),
        }
    }

    /// The routing key.
    pub fn routing_key(&self) -> RoutingKey {
        self.node_key().routing
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Chk(k) => write!(f, "CHK@{},{}", b64(&k.routing.0), b64(&k.crypto)),
            Key::Ssk(k) => write!(
                f,
                "SSK@{},{}/{}",
                b64(k.public.as_bytes()),
                b64(&k.crypto),
                k.name
            ),
            Key::SskInsert(k) => write!(
                f,
                "SSK-INSERT@{},{}/{}",
                b64(&k.signing.to_bytes()),
                b64(&k.crypto),
                k.name
            ),
            Key::Ksk(k) => write!(f, "KSK@{}", k.name()),
        }
    }
}

/// Decodes one 32-byte field. The decoder rejects padding and non-zero
/// trailing bits, so every accepted field has exactly one spelling.
fn field32(field: &'static str, text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| KeyError::BadBase64 {
            field,
            reason: e.to_string(),
        })?;
    let got = bytes.len();
    bytes.try_into().map_err(|_| KeyError::WrongLength {
        field,
        expected: 32,
        got,
    })
}

/// Splits `a,b` into exactly two fields.
fn two_fields<'a>(key_type: &'static str, text: &'a str) -> Result<(&'a str, &'a str), KeyError> {
    let fields: Vec<&str> = text.split(',').collect();
    match fields.as_slice() {
        [a, b] => Ok((a, b)),
        _ => Err(KeyError::FieldCount {
            key_type,
            expected: 2,
            found: fields.len(),
        }),
    }
}

/// Splits `fields/name`, requiring a name.
fn fields_and_name(text: &str) -> Result<(&str, DocName), KeyError> {
    let (fields, name) = text.split_once('/').ok_or(KeyError::MissingName)?;
    Ok((fields, DocName::parse(name)?))
}

impl FromStr for Key {
    type Err = KeyError;

    /// Parses a URI. The type prefix is case-insensitive; everything else is
    /// exact.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        if s.len() > MAX_URI_LEN {
            return Err(KeyError::TooLong(s.len()));
        }
        let (prefix, rest) = s.split_once('@').ok_or(KeyError::MissingPrefix)?;
        match prefix.to_ascii_uppercase().as_str() {
            "CHK" => {
                if let Some(slash) = rest.find('/') {
                    return Err(KeyError::TrailingData(rest[slash..].to_string()));
                }
                let (routing, crypto) = two_fields("CHK", rest)?;
                Ok(Key::Chk(ChkKey {
                    routing: RoutingKey(field32("routing key", routing)?),
                    crypto: field32("crypto key", crypto)?,
                }))
            }
            "SSK" => {
                let (fields, name) = fields_and_name(rest)?;
                let (public, crypto) = two_fields("SSK", fields)?;
                let public = super::public_key(&field32("public key", public)?)
                    .ok_or(KeyError::BadPublicKey)?;
                Ok(Key::Ssk(SskKey {
                    public,
                    crypto: field32("crypto key", crypto)?,
                    name,
                }))
            }
            "SSK-INSERT" => {
                let (fields, name) = fields_and_name(rest)?;
                let (seed, crypto) = two_fields("SSK-INSERT", fields)?;
                Ok(Key::SskInsert(SskInsertKey {
                    signing: SigningKey::from_bytes(&field32("signing key", seed)?),
                    crypto: field32("crypto key", crypto)?,
                    name,
                }))
            }
            "KSK" => Ok(Key::Ksk(KskKey::new(rest)?)),
            _ => Err(KeyError::UnknownType(prefix.chars().take(32).collect())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const R: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn chk_round_trips_and_names_its_errors() {
        let uri = format!("CHK@{R},{R}");
        let key: Key = uri.parse().unwrap();
        assert_eq!(key.to_string(), uri);
        assert_eq!(format!("chk@{R},{R}").parse::<Key>().unwrap(), key);

        let err = |s: String| s.parse::<Key>().unwrap_err();
        assert_eq!(err(format!("XYZ@{R}")), KeyError::UnknownType("XYZ".into()));
        assert_eq!(err(R.to_string()), KeyError::MissingPrefix);
        assert!(matches!(
            err(format!("CHK@{R}")),
            KeyError::FieldCount { found: 1, .. }
        ));
        assert!(matches!(
            err(format!("CHK@{R},{R},{R}")),
            KeyError::FieldCount { found: 3, .. }
        ));
        assert!(matches!(
            err(format!("CHK@{R},{R}=")),
            KeyError::BadBase64 {
                field: "crypto key",
                ..
            }
        ));
        assert!(matches!(
            err(format!("CHK@{R}+,{R}")),
            KeyError::BadBase64 {
                field: "routing key",
                ..
            }
        ));
        assert_eq!(
            err(format!("CHK@{R},AAEC")),
            KeyError::WrongLength {
                field: "crypto key",
                expected: 32,
                got: 3
            }
        );
        assert!(matches!(
            err(format!("CHK@{R},{R}/x")),
            KeyError::TrailingData(_)
        ));
        assert!(matches!(err("CHK@".repeat(300)), KeyError::TooLong(_)));
    }

    #[test]
    fn non_canonical_base64_is_rejected() {
        // The last character carries 4 spare bits; "f" leaves one set.
        let bad = format!("{}f", &R[..42]);
        assert!(matches!(
            format!("CHK@{bad},{R}").parse::<Key>(),
            Err(KeyError::BadBase64 { .. })
        ));
    }

    #[test]
    fn ssk_needs_a_valid_point_and_a_name() {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let pk = b64(signing.verifying_key().as_bytes());
        let uri = format!("SSK@{pk},{R}/blog/2026-11-22");
        assert_eq!(uri.parse::<Key>().unwrap().to_string(), uri);
        assert_eq!(
            format!("SSK@{pk},{R}").parse::<Key>(),
            Err(KeyError::MissingName)
        );
        assert_eq!(
            format!("SSK@{pk},{R}/").parse::<Key>(),
            Err(KeyError::MissingName)
        );
        assert!(matches!(
            format!("SSK@{pk},{R}/blog/07").parse::<Key>(),
            Err(KeyError::BadVersion(_))
        ));
        // y = 2 is not on the curve.
        let off_curve = b64(&{
            let mut b = [0u8; 32];
            b[0] = 2;
            b
        });
        assert_eq!(
            format!("SSK@{off_curve},{R}/x").parse::<Key>(),
            Err(KeyError::BadPublicKey)
        );
    }

    #[test]
    fn insert_key_round_trips_and_hides_its_secret_in_debug() {
        let uri = format!("SSK-INSERT@{R},{R}/site/3");
        let key: Key = uri.parse().unwrap();
        assert_eq!(key.to_string(), uri);
        assert!(!format!("{key:?}").contains(R));
    }

    #[test]
    fn ksk_names_are_checked() {
        assert_eq!(
            "KSK@my/page".parse::<Key>().unwrap().to_string(),
            "KSK@my/page"
        );
        assert_eq!("KSK@".parse::<Key>(), Err(KeyError::MissingName));
        assert!(matches!(
            "KSK@a\nb".parse::<Key>(),
            Err(KeyError::BadName(_))
        ));
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,1200}") {
            let _ = s.parse::<Key>();
        }

        #[test]
        fn parsing_key_like_text_never_panics(
            prefix in "(CHK|SSK|SSK-INSERT|KSK|chk|X)",
            body in "[A-Za-z0-9_,/=+@-]{0,200}",
        ) {
            let _ = format!("{prefix}@{body}").parse::<Key>();
        }

        #[test]
        fn every_accepted_uri_round_trips(
            prefix in "(CHK|SSK|SSK-INSERT|KSK)",
            body in "[A-Za-z0-9_,/-]{0,120}",
        ) {
            let uri = format!("{prefix}@{body}");
            if let Ok(key) = uri.parse::<Key>() {
                prop_assert_eq!(key.to_string(), uri);
            }
        }

        #[test]
        fn chk_fields_round_trip(r: [u8; 32], c: [u8; 32]) {
            let key = Key::Chk(ChkKey { routing: RoutingKey(r), crypto: c });
            prop_assert_eq!(key.to_string().parse::<Key>().unwrap(), key);
        }
    }
}
