//! Signed-subspace keys: an Ed25519 key pair, a crypto key shared with
//! readers, and a document name with an optional edition or date.

use std::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};

use super::hash::{tag, tagged_hash};
use super::{KeyError, KeyKind, NodeKey, RoutingKey};

/// Longest document name, in bytes of UTF-8, without its version.
pub const MAX_NAME_LEN: usize = 255;

/// The version part of a document name, for updatable documents.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Version {
    /// An edition number: `…/name/7`.
    Edition(u64),
    /// A date: `…/name/2026-11-22`.
    Date {
        /// Year, 0 to 9999.
        year: u16,
        /// Month, 1 to 12.
        month: u8,
        /// Day of the month, valid for the month and year.
        day: u8,
    },
}

impl Version {
    fn parse(s: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::BadVersion(s.to_string());
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if digits(s) {
            if s.len() > 1 && s.starts_with('0') {
                return Err(bad());
            }
            return s.parse().map(Version::Edition).map_err(|_| bad());
        }
        let parts: Vec<&str> = s.split('-').collect();
        let [y, m, d] = parts.as_slice() else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 || ![y, m, d].iter().all(|p| digits(p)) {
            return Err(bad());
        }
        let (year, month, day) = (
            y.parse::<u16>().map_err(|_| bad())?,
            m.parse::<u8>().map_err(|_| bad())?,
            d.parse::<u8>().map_err(|_| bad())?,
        );
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(bad());
        }
        Ok(Version::Date { year, month, day })
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Edition(n) => write!(f, "{n}"),
            Version::Date { year, month, day } => write!(f, "{year:04}-{month:02}-{day:02}"),
        }
    }
}

/// The document name of an SSK: a base name and an optional version.
///
/// Its canonical text (`base` or `base/version`) is what the keys are derived
/// from, so `name/7` and `name/8` are different documents under one author.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct DocName {
    base: String,
    version: Option<Version>,
}

impl DocName {
    /// A name with no version. Fails on an empty or over-long name, a `/`,
    /// or a control character.
    pub fn new(base: &str, version: Option<Version>) -> Result<Self, KeyError> {
        check_name(base, false)?;
        Ok(DocName {
            base: base.to_string(),
            version,
        })
    }

    /// Parses `base` or `base/version`: the version is everything after
    /// the first `/`.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        match s.split_once('/') {
            None => DocName::new(s, None),
            Some((base, version)) => {
                let version = Version::parse(version)?;
                if base.is_empty() {
                    return Err(KeyError::BadName(
                        "the base name before the version is empty".into(),
                    ));
                }
                DocName::new(base, Some(version))
            }
        }
    }

    /// The base name.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The version, if any.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The same name at another version.
    pub fn with_version(&self, version: Option<Version>) -> Self {
        DocName {
            base: self.base.clone(),
            version,
        }
    }
}

impl fmt::Display for DocName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            None => f.write_str(&self.base),
            Some(v) => write!(f, "{}/{v}", self.base),
        }
    }
}

/// Checks a name's length and characters; `/` only where `slash_ok`.
pub(super) fn check_name(name: &str, slash_ok: bool) -> Result<(), KeyError> {
    if name.is_empty() {
        return Err(KeyError::MissingName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(KeyError::BadName(format!(
            "{} bytes long, the limit is {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || (!slash_ok && *c == '/'))
    {
        return Err(KeyError::BadName(format!("contains the character {c:?}")));
    }
    Ok(())
}

/// The public half of a signed key: enough to find, verify and read a
/// document, not to publish one. URI `SSK@<public key>,<crypto key>/<name>`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SskKey {
    /// The author's Ed25519 public key.
    pub public: VerifyingKey,
    /// The key readers need to decrypt; it is never sent to nodes.
    pub crypto: [u8; 32],
    /// The document name.
    pub name: DocName,
}

impl SskKey {
    /// What nodes route by.
    pub fn node_key(&self) -> NodeKey {
        signed_node_key(&self.public, &self.crypto, &self.name.to_string())
    }
}

/// The private half of a signed key, for publishing. URI
/// `SSK-INSERT@<signing seed>,<crypto key>/<name>`; keep it secret.
#[derive(Clone)]
pub struct SskInsertKey {
    /// The author's Ed25519 signing key.
    pub signing: SigningKey,
    /// The key readers need to decrypt.
    pub crypto: [u8; 32],
    /// The document name.
    pub name: DocName,
}

impl fmt::Debug for SskInsertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SskInsertKey")
            .field("public", &self.signing.verifying_key())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for SskInsertKey {
    fn eq(&self, other: &Self) -> bool {
        self.signing.to_bytes() == other.signing.to_bytes()
            && self.crypto == other.crypto
            && self.name == other.name
    }
}
impl Eq for SskInsertKey {}

impl SskInsertKey {
    /// A new key pair and crypto key from `rng`, for the given name.
    pub fn generate<R: rand::RngCore + rand::CryptoRng>(rng: &mut R, name: DocName) -> Self {
        let mut crypto = [0u8; 32];
        rng.fill_bytes(&mut crypto);
        SskInsertKey {
            signing: SigningKey::generate(rng),
            crypto,
            name,
        }
    }

    /// The public half, to share with readers.
    pub fn to_public(&self) -> SskKey {
        SskKey {
            public: self.signing.verifying_key(),
            crypto: self.crypto,
            name: self.name.clone(),
        }
    }

    /// The same author and crypto key under another name or version.
    pub fn with_name(&self, name: DocName) -> Self {
        SskInsertKey {
            name,
            ..self.clone()
        }
    }
}

/// An Ed25519 public key as fogstore accepts it: the canonical encoding
/// (RFC 8032 §5.1.2) of a curve point that is not of small order. Each
/// author then has exactly one public key spelling, and keys that could
/// validate signatures for any message are refused.
pub(crate) fn public_key(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    let key = VerifyingKey::from_bytes(bytes).ok()?;
    let canonical = key.to_edwards().compress().to_bytes() == *bytes;
    (canonical && !key.is_weak()).then_some(key)
}

/// Keyed hash of the name: nodes see it, but cannot test name guesses
/// against it without the crypto key.
pub(crate) fn name_hash(crypto: &[u8; 32], name: &str) -> [u8; 32] {
    tagged_hash(tag::SSK_NAME_HASH, &[crypto, name.as_bytes()])
}

/// The routing key of a signed block: binds the author and the name.
pub(crate) fn signed_routing_key(public: &[u8; 32], name_hash: &[u8; 32]) -> RoutingKey {
    RoutingKey(tagged_hash(tag::SSK_ROUTING_KEY, &[public, name_hash]))
}

/// The key that encrypts the document under this name.
pub(crate) fn content_key(crypto: &[u8; 32], name: &str) -> [u8; 32] {
    tagged_hash(tag::SSK_CONTENT_KEY, &[crypto, name.as_bytes()])
}

pub(super) fn signed_node_key(public: &VerifyingKey, crypto: &[u8; 32], name: &str) -> NodeKey {
    NodeKey {
        kind: KeyKind::Ssk,
        routing: signed_routing_key(public.as_bytes(), &name_hash(crypto, name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_strictly() {
        assert_eq!(Version::parse("0").unwrap(), Version::Edition(0));
        assert_eq!(
            Version::parse("18446744073709551615").unwrap(),
            Version::Edition(u64::MAX)
        );
        assert_eq!(
            Version::parse("2024-02-29").unwrap(),
            Version::Date {
                year: 2024,
                month: 2,
                day: 29
            }
        );
        for bad in [
            "",
            "07",
            "18446744073709551616",
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "v7",
            "2026-00-10",
            "+7",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn names_reject_control_characters_and_slashes() {
        assert!(DocName::parse("site/7").is_ok());
        assert!(DocName::parse("a/b/c").is_err());
        assert!(DocName::parse("tab\there").is_err());
        assert!(DocName::parse(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(DocName::parse("héllo wörld").is_ok());
    }
}
