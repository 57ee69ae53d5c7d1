//! Node references in text: `fog:<public key>@<host>:<port>`.
//!
//! A node reference names a node by its static X25519 public key and says
//! where it listens. The key is 32 bytes in base64url without padding (43
//! characters, decoded with the canonical rules of `docs/protocol.md` §1:
//! no `=`, zero trailing bits, so each key has one spelling). The host is an
//! IP address, IPv6 in brackets: `fog:…@192.0.2.1:9000`,
//! `fog:…@[2001:db8::1]:9000`. Host names are not accepted: a reference
//! must say exactly which address the key is pinned to.
//!
//! Text form and [`NodeRef`] convert both ways: `NodeRef` implements
//! [`FromStr`] and [`fmt::Display`], and `parse(format(r)) == r` for every
//! reference whose address the wire format can carry (no IPv6 flow label or
//! scope id).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::wire::NodeRef;

/// What every node reference starts with.
pub const NODE_REF_PREFIX: &str = "fog:";

/// Why a string is not a node reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeRefError {
    /// The string does not start with `fog:`.
    #[error("a node reference starts with `{NODE_REF_PREFIX}`")]
    BadPrefix,
    /// There is no `@` between the key and the address.
    #[error("a node reference is `fog:<public key>@<host>:<port>`; no `@` found")]
    MissingAt,
    /// The key is not canonical base64url without padding.
    #[error("public key is not valid base64url (unpadded): {reason}")]
    BadBase64 {
        /// What the decoder reported.
        reason: String,
    },
    /// The key decodes to another length than 32 bytes.
    #[error("public key is {got} bytes, expected 32 (43 base64url characters)")]
    WrongLength {
        /// Bytes decoded.
        got: usize,
    },
    /// The key is an X25519 point of small order, which cannot
    /// authenticate anyone (protocol §11.2).
    #[error("public key is a small-order X25519 point, which authenticates nobody")]
    SmallOrderKey,
    /// The address is not `<IPv4>:<port>` or `[<IPv6>]:<port>`, or carries
    /// an IPv6 scope id or flow label, which the wire format cannot carry.
    #[error("address is not <IPv4>:<port> or [<IPv6>]:<port>: {reason}")]
    BadAddress {
        /// What is wrong with it.
        reason: String,
    },
}

impl FromStr for NodeRef {
    type Err = NodeRefError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let rest = text
            .strip_prefix(NODE_REF_PREFIX)
            .ok_or(NodeRefError::BadPrefix)?;
        let (key, addr) = rest.split_once('@').ok_or(NodeRefError::MissingAt)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(key)
            .map_err(|e| NodeRefError::BadBase64 {
                reason: e.to_string(),
            })?;
        let got = bytes.len();
        let identity: [u8; 32] = bytes
            .try_into()
            .map_err(|_| NodeRefError::WrongLength { got })?;
        if super::is_small_order(&identity) {
            return Err(NodeRefError::SmallOrderKey);
        }
        let addr: SocketAddr = addr.parse().map_err(|e| NodeRefError::BadAddress {
            reason: format!("{e}"),
        })?;
        let bad = |reason: &str| {
            Err(NodeRefError::BadAddress {
                reason: reason.into(),
            })
        };
        match addr {
            SocketAddr::V6(v6) if v6.scope_id() != 0 || v6.flowinfo() != 0 => {
                return bad("an IPv6 scope id or flow label cannot be sent to peers");
            }
            SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some() => {
                return bad("an IPv4-mapped IPv6 address is written as IPv4");
            }
            _ => {}
        }
        // One spelling per reference: the port in plain decimal, no node
        // listens on port 0.
        let port = text.rsplit_once(':').map_or("", |(_, p)| p);
        if port.starts_with('0') {
            return bad("the port is 1 to 65535, written without leading zeros");
        }
        Ok(NodeRef { identity, addr })
    }
}

impl fmt::Display for NodeRef {
    /// `fog:<key>@<ip>:<port>`, IPv6 in brackets. An IPv6 scope id or flow
    /// label is left out, as on the wire.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addr = SocketAddr::new(self.addr.ip(), self.addr.port());
        write!(
            f,
            "{NODE_REF_PREFIX}{}@{addr}",
            URL_SAFE_NO_PAD.encode(self.identity)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn key_bytes() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn formats_and_parses_ipv4_and_ipv6() {
        for (text, addr) in [
            (format!("fog:{KEY}@192.0.2.1:9000"), "192.0.2.1:9000"),
            (format!("fog:{KEY}@[::1]:9000"), "[::1]:9000"),
            (format!("fog:{KEY}@[2001:db8::1]:443"), "[2001:db8::1]:443"),
        ] {
            let r = NodeRef {
                identity: key_bytes(),
                addr: addr.parse().unwrap(),
            };
            assert_eq!(r.to_string(), text);
            assert_eq!(text.parse::<NodeRef>(), Ok(r));
        }
    }

    #[test]
    fn each_kind_of_mistake_has_its_own_error() {
        let parse = |s: &str| s.parse::<NodeRef>().unwrap_err();
        assert_eq!(
            parse(&format!("fob:{KEY}@1.2.3.4:5")),
            NodeRefError::BadPrefix
        );
        assert_eq!(parse(&format!("{KEY}@1.2.3.4:5")), NodeRefError::BadPrefix);
        assert_eq!(
            parse(&format!("FOG:{KEY}@1.2.3.4:5")),
            NodeRefError::BadPrefix
        );
        assert_eq!(parse(&format!("fog:{KEY}")), NodeRefError::MissingAt);
        // Padding, a bad character, non-zero trailing bits.
        for key in [
            format!("{KEY}="),
            format!("{}+", &KEY[..42]),
            format!("{}9", &KEY[..42]),
        ] {
            assert!(matches!(
                parse(&format!("fog:{key}@1.2.3.4:5")),
                NodeRefError::BadBase64 { .. }
            ));
        }
        assert_eq!(
            parse(&format!("fog:{}@1.2.3.4:5", &KEY[..40])),
            NodeRefError::WrongLength { got: 30 }
        );
        assert_eq!(
            parse(&format!("fog:{KEY}AAAA@1.2.3.4:5")),
            NodeRefError::WrongLength { got: 35 }
        );
        for addr in [
            "",
            "1.2.3.4",
            "::1:9000",
            "example.org:9000",
            "1.2.3.4:65536",
            "1.2.3.4:9000 ",
            "[fe80::1%2]:9000",
            // One spelling each: no leading zeros, no port 0, IPv4 as IPv4.
            "1.2.3.4:09000",
            "1.2.3.4:0",
            "[::ffff:127.0.0.1]:9000",
            "01.2.3.4:9000",
        ] {
            assert!(
                matches!(
                    parse(&format!("fog:{KEY}@{addr}")),
                    NodeRefError::BadAddress { .. }
                ),
                "{addr:?}"
            );
        }
    }
}
