//! `fog node`'s optional configuration file, `<data-dir>/fog.toml`, and
//! seeds files.
//!
//! Every `fog node` flag except `--data-dir` has a key in `fog.toml`, named
//! as the flag with `_` for `-`; flags given on the command line win. The
//! file is read into a `toml::Table` and each key is checked here by hand,
//! against the same bounds as its flag, so that every error names the file
//! and the key, and an unknown key is an error rather than silently
//! ignored (a misspelt `max_peer` must not leave the default in place).
//!
//! A seeds file holds one node reference a line; `#` starts a comment, and
//! blank lines are skipped. An error names the file and the line.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use crate::node::Mode;
use crate::wire::NodeRef;
use toml::{Table, Value};

/// The configuration file's name inside the data directory.
pub const CONFIG_FILE: &str = "fog.toml";

/// Allowed `--cover-rate` / `cover_rate`: padding frames per second.
pub const COVER_RATE: RangeInclusive<u64> = 0..=crate::node::MAX_COVER_RATE as u64;
/// Allowed `--max-peers` / `max_peers`.
pub const MAX_PEERS: RangeInclusive<u64> = 1..=10_000;
/// Allowed `--keepalive-secs` / `keepalive_secs`.
pub const KEEPALIVE_SECS: RangeInclusive<u64> = 1..=3_600;
/// Allowed `--request-rate` / `request_rate` (0: no limit).
pub const REQUEST_RATE: RangeInclusive<u64> = 0..=u32::MAX as u64;
/// Allowed `--request-burst` / `request_burst`.
pub const REQUEST_BURST: RangeInclusive<u64> = 1..=u32::MAX as u64;

/// What `fog.toml` sets; `None` for keys it leaves out. Each field is the
/// `fog node` flag of the same name (`_` for `-`), checked against the
/// same bounds.
#[derive(Debug, Default, PartialEq)]
pub struct FileConfig {
    /// `listen`: the address to listen on.
    pub listen: Option<SocketAddr>,
    /// `api_port`: the client API's port on 127.0.0.1 (0: any free port).
    pub api_port: Option<u16>,
    /// `seeds`: node references to join through.
    pub seeds: Option<Vec<NodeRef>>,
    /// `seeds_file`: a seeds file, already resolved against the data
    /// directory if it was relative.
    pub seeds_file: Option<PathBuf>,
    /// `store_size`: the datastore's size in bytes.
    pub store_size: Option<u64>,
    /// `mode`: Freenet or Chord routing.
    pub mode: Option<Mode>,
    /// `cover_rate`: padding frames per second per link.
    pub cover_rate: Option<u32>,
    /// `max_peers`: the most peers linked at once.
    pub max_peers: Option<usize>,
    /// `keepalive_secs`: the keepalive interval.
    pub keepalive_secs: Option<u64>,
    /// `request_rate`: requests per second allowed from one peer.
    pub request_rate: Option<u32>,
    /// `request_burst`: the burst allowed above `request_rate`.
    pub request_burst: Option<u32>,
}

/// Why a `fog.toml`, a seeds file or a size was refused: one line naming
/// the file, the key or line, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Reads `<data_dir>/fog.toml`; `Ok(None)` if there is none. Errors name
/// the file (and the key).
pub fn load(data_dir: &Path) -> Result<Option<FileConfig>, ConfigError> {
    load_text(data_dir).map_err(ConfigError)
}

fn load_text(data_dir: &Path) -> Result<Option<FileConfig>, String> {
    let path = data_dir.join(CONFIG_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text, data_dir)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
    }
}

/// Parses the text of a `fog.toml` whose relative paths are relative to
/// `data_dir`. Errors name the key, not the file.
pub fn parse(text: &str, data_dir: &Path) -> Result<FileConfig, ConfigError> {
    parse_text(text, data_dir).map_err(ConfigError)
}

fn parse_text(text: &str, data_dir: &Path) -> Result<FileConfig, String> {
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.to_string().trim_end()))?;
    let mut config = FileConfig::default();
    for (key, value) in &table {
        let bad = |expected: &str| {
            format!(
                "key `{key}`: expected {expected}, found {}",
                describe(value)
            )
        };
        match key.as_str() {
            "listen" => {
                let text = value
                    .as_str()
                    .ok_or_else(|| bad("an address such as \"127.0.0.1:9000\""))?;
                let addr = text
                    .parse()
                    .map_err(|_| bad("an address such as \"127.0.0.1:9000\""))?;
                config.listen = Some(addr);
            }
            "api_port" => config.api_port = Some(integer(key, value, 0..=u16::MAX as u64)? as u16),
            "seeds" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| bad("a list of node references"))?;
                let seeds = list
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let text = item.as_str().ok_or_else(|| {
                            format!(
                                "key `seeds`, item {}: expected a node reference (fog:<key>@<host>:<port>), found {}",
                                i + 1,
                                describe(item)
                            )
                        })?;
                        text.parse::<NodeRef>()
                            .map_err(|e| format!("key `seeds`, item {}: {e}", i + 1))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                config.seeds = Some(seeds);
            }
            "seeds_file" => {
                let path = value.as_str().ok_or_else(|| bad("a file path"))?;
                config.seeds_file = Some(data_dir.join(path));
            }
            "store_size" => {
                let in_key = |e: String| format!("key `store_size`: {e}");
                let bytes = match value {
                    Value::String(text) => parse_size_text(text).map_err(in_key)?,
                    Value::Integer(n) if *n >= 0 => {
                        parse_size_text(&n.to_string()).map_err(in_key)?
                    }
                    _ => return Err(bad("a size such as \"256M\" or a number of bytes")),
                };
                config.store_size = Some(bytes);
            }
            "mode" => {
                config.mode = Some(match value.as_str() {
                    Some("freenet") => Mode::Freenet,
                    Some("chord") => Mode::Chord,
                    _ => return Err(bad("\"freenet\" or \"chord\"")),
                });
            }
            "cover_rate" => config.cover_rate = Some(integer(key, value, COVER_RATE)? as u32),
            "max_peers" => config.max_peers = Some(integer(key, value, MAX_PEERS)? as usize),
            "keepalive_secs" => config.keepalive_secs = Some(integer(key, value, KEEPALIVE_SECS)?),
            "request_rate" => config.request_rate = Some(integer(key, value, REQUEST_RATE)? as u32),
            "request_burst" => {
                config.request_burst = Some(integer(key, value, REQUEST_BURST)? as u32);
            }
            "data_dir" => {
                return Err(
                    "key `data_dir`: the data directory holds this file; give it with --data-dir"
                        .into(),
                );
            }
            other => {
                return Err(format!(
                    "unknown key `{other}`; the keys are listen, api_port, seeds, seeds_file, store_size, mode, cover_rate, max_peers, keepalive_secs, request_rate, request_burst"
                ));
            }
        }
    }
    Ok(config)
}

/// An integer value of `key` within `range`.
fn integer(key: &str, value: &Value, range: RangeInclusive<u64>) -> Result<u64, String> {
    let expected = || {
        format!(
            "key `{key}`: expected a whole number from {} to {}, found {}",
            range.start(),
            range.end(),
            describe(value)
        )
    };
    let n = value.as_integer().ok_or_else(expected)?;
    u64::try_from(n)
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(expected)
}

/// A value as an error message shows it: its type, and the value itself if
/// it is short.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) if s.len() <= 60 => format!("the string {s:?}"),
        Value::Integer(n) => format!("{n}"),
        Value::Boolean(b) => format!("{b}"),
        other => format!("a {}", other.type_str()),
    }
}

/// Reads a seeds file: one node reference a line, `#` comments, blank
/// lines. Errors name the file and the line.
pub fn load_seeds(path: &Path) -> Result<Vec<NodeRef>, ConfigError> {
    load_seeds_text(path).map_err(ConfigError)
}

fn load_seeds_text(path: &Path) -> Result<Vec<NodeRef>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("seeds file {}: cannot read: {e}", path.display()))?;
    parse_seeds(&text).map_err(|e| format!("seeds file {}: {e}", path.display()))
}

/// The node references in the text of a seeds file.
pub fn parse_seeds(text: &str) -> Result<Vec<NodeRef>, ConfigError> {
    parse_seeds_text(text).map_err(ConfigError)
}

fn parse_seeds_text(text: &str) -> Result<Vec<NodeRef>, String> {
    let mut seeds = Vec::new();
    for (i, line) in text.lines().enumerate() {
        // A node reference never contains `#` (base64url, an address).
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let seed = line
            .parse::<NodeRef>()
            .map_err(|e| format!("line {}: {e}: {line:?}", i + 1))?;
        seeds.push(seed);
    }
    Ok(seeds)
}

/// Parses `123`, `64K`, `256M`, `2G` (case-insensitive, powers of 1024),
/// at least 1M.
pub fn parse_size(text: &str) -> Result<u64, ConfigError> {
    parse_size_text(text).map_err(ConfigError)
}

fn parse_size_text(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, ' '),
    };
    let shift = match unit {
        ' ' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        other => return Err(format!("unknown size suffix {other:?}; use K, M or G")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 65536, 512K, 256M, 2G)"))?;
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes < 1 << 20 {
        return Err(format!(
            "{text:?} is too small; the store needs at least 1M"
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF_A: &str = "fog:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8@192.0.2.1:9000";
    const REF_B: &str = "fog:-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s@[::1]:9000";

    fn dir() -> &'static Path {
        Path::new("/var/lib/fog")
    }

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("4096K"), Ok(4 << 20));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("1K").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn every_key_parses() {
        let text = format!(
            r#"
# A node on a server.
listen = "192.0.2.7:9000"
api_port = 8417
seeds = ["{REF_A}", "{REF_B}"]
seeds_file = "seeds.txt"
store_size = "2G"
mode = "chord"
cover_rate = 10
max_peers = 64
keepalive_secs = 20
request_rate = 200
request_burst = 400
"#
        );
        let config = parse(&text, dir()).unwrap();
        assert_eq!(
            config,
            FileConfig {
                listen: Some("192.0.2.7:9000".parse().unwrap()),
                api_port: Some(8417),
                seeds: Some(vec![REF_A.parse().unwrap(), REF_B.parse().unwrap()]),
                seeds_file: Some(PathBuf::from("/var/lib/fog/seeds.txt")),
                store_size: Some(2 << 30),
                mode: Some(Mode::Chord),
                cover_rate: Some(10),
                max_peers: Some(64),
                keepalive_secs: Some(20),
                request_rate: Some(200),
                request_burst: Some(400),
            }
        );
        assert_eq!(parse("", dir()).unwrap(), FileConfig::default());
        // An absolute seeds file stays where it is; a size may be bytes.
        let config = parse(
            "seeds_file = \"/etc/fog/seeds\"\nstore_size = 1048576",
            dir(),
        )
        .unwrap();
        assert_eq!(config.seeds_file, Some(PathBuf::from("/etc/fog/seeds")));
        assert_eq!(config.store_size, Some(1 << 20));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let cases = [
            ("max_peer = 3", "unknown key `max_peer`"),
            ("data_dir = \"x\"", "key `data_dir`"),
            (
                "listen = \"localhost:9000\"",
                "key `listen`: expected an address",
            ),
            ("listen = 9000", "key `listen`: expected an address"),
            (
                "api_port = 70000",
                "key `api_port`: expected a whole number from 0 to 65535, found 70000",
            ),
            (
                "max_peers = 0",
                "key `max_peers`: expected a whole number from 1 to 10000, found 0",
            ),
            (
                "max_peers = \"many\"",
                "key `max_peers`: expected a whole number from 1 to 10000, found the string \"many\"",
            ),
            ("cover_rate = 5000", "key `cover_rate`"),
            ("mode = \"kademlia\"", "key `mode`"),
            ("cover_rate = -1", "key `cover_rate`"),
            (
                "keepalive_secs = 1.5",
                "key `keepalive_secs`: expected a whole number from 1 to 3600, found a float",
            ),
            ("request_burst = 0", "key `request_burst`"),
            (
                "store_size = \"12Q\"",
                "key `store_size`: unknown size suffix",
            ),
            (
                "store_size = 1024",
                "key `store_size`: \"1024\" is too small",
            ),
            ("store_size = true", "key `store_size`: expected a size"),
            (
                "seeds = \"fog:x\"",
                "key `seeds`: expected a list of node references",
            ),
            (
                "seeds = [1]",
                "key `seeds`, item 1: expected a node reference",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text, dir()).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let err = parse(
            &format!("seeds = [\"{REF_A}\", \"fog:nope@1.2.3.4:5\"]"),
            dir(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("key `seeds`, item 2: "), "{err}");
        // Broken TOML says where.
        let err = parse("max_peers = 3\ncover_rate = = 1\n", dir())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("not valid TOML"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn seeds_files_skip_comments_and_blank_lines_and_name_a_bad_line() {
        let text = format!("# seeds\n\n{REF_A}\n   {REF_B}   # the IPv6 one\n\t\n");
        assert_eq!(
            parse_seeds(&text),
            Ok(vec![REF_A.parse().unwrap(), REF_B.parse().unwrap()])
        );
        assert_eq!(parse_seeds("# nothing\n"), Ok(vec![]));
        let err = parse_seeds(&format!("{REF_A}\n# ok\nfog:broken\n"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("line 3: "), "{err}");
        assert!(err.ends_with("\"fog:broken\""), "{err}");
    }
}
