//! What a node keeps of its place in the network across restarts: its
//! location and the peers its routing table references, in
//! `DIR/`[`PEERS_FILE`].
//!
//! A node restarted from its data directory (same identity, same
//! listening address) reads it back, takes its old location and its old
//! references, and serves at once: it does not need a seed, and it does not
//! join again (a join would give it a new location, and the keys it holds
//! would no longer be where requests look for them). The actor writes the
//! file every [`SAVE_EVERY`] while its table changes, and when the node
//! stops; each write goes to a temporary file that is synced and renamed
//! over the old one, so a kill leaves the old file or the new one, never a
//! half-written one.
//!
//! The file is untrusted input like any other: it is read only up to
//! [`MAX_FILE_BYTES`], every entry is checked, and a file that does not
//! parse is ignored with a warning (the node then starts as a new one
//! would, from its seeds).

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Mode;
use crate::key::Location;
use crate::wire::NodeRef;

/// The file in the data directory that holds the saved state.
pub const PEERS_FILE: &str = "peers.json";

/// How often the actor writes the file while something changed.
pub(super) const SAVE_EVERY: Duration = Duration::from_secs(30);

/// The most references the file keeps (a routing table's default size).
pub(super) const MAX_PEERS: usize = 250;

/// The most bytes read of the file: more than [`MAX_PEERS`] entries take.
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// What a node keeps across restarts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Saved {
    /// The protocol the node ran; a node started in the other mode ignores
    /// the location (and uses the peers only as seeds).
    pub(super) mode: Mode,
    /// The node's location on the ring (Freenet mode's, set by its join).
    pub(super) location: u64,
    /// Its references: where on the ring, and to whom.
    pub(super) peers: Vec<SavedPeer>,
}

/// One saved reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct SavedPeer {
    /// The reference's location.
    pub(super) location: u64,
    /// The peer, as `fog:<key>@<host>:<port>`.
    pub(super) node: String,
}

impl Saved {
    /// The saved references that parse, at most [`MAX_PEERS`], without
    /// `me`; a bad entry is skipped with a warning.
    pub(super) fn references(&self, me: &NodeRef) -> Vec<(Location, NodeRef)> {
        self.peers
            .iter()
            .take(MAX_PEERS)
            .filter_map(|p| match p.node.parse::<NodeRef>() {
                Ok(node) if node.identity != me.identity => Some((Location(p.location), node)),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(entry = %p.node, error = %e, "skipping a bad saved peer");
                    None
                }
            })
            .collect()
    }
}

/// Reads `dir`'s saved state; `None` if there is none or it cannot be
/// used (which is logged).
pub(super) fn load(dir: &Path) -> Option<Saved> {
    let path = dir.join(PEERS_FILE);
    let file = match fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the saved peers");
            return None;
        }
    };
    let mut text = String::new();
    if let Err(e) = file.take(MAX_FILE_BYTES).read_to_string(&mut text) {
        tracing::warn!(path = %path.display(), error = %e, "cannot read the saved peers");
        return None;
    }
    match serde_json::from_str::<Saved>(&text) {
        Ok(saved) => Some(saved),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable saved peers");
            None
        }
    }
}

/// Writes `saved` into `dir`, replacing the old file only once the new one
/// is on disk.
pub(super) fn store(dir: &Path, saved: &Saved) -> io::Result<()> {
    let path = dir.join(PEERS_FILE);
    let temp = dir.join(format!("{PEERS_FILE}.new"));
    let text = serde_json::to_string_pretty(saved).map_err(io::Error::other)?;
    {
        let mut file = fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    fs::rename(&temp, &path)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = "fog:nljJ84N1Z1F6LBKFGLWgiRDgjpOcjpE5hhjmHceYkAg@127.0.0.1:35267";

    fn dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("fog-saved-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn saved_state_round_trips_and_bad_entries_are_skipped() {
        let dir = dir("round");
        let saved = Saved {
            mode: Mode::Freenet,
            location: 0x1234,
            peers: vec![
                SavedPeer {
                    location: 7,
                    node: REF.into(),
                },
                SavedPeer {
                    location: 8,
                    node: "fog:nonsense".into(),
                },
            ],
        };
        store(&dir, &saved).unwrap();
        let back = load(&dir).unwrap();
        assert_eq!(back, saved);
        let me: NodeRef = "fog:piZE3ln-xuU7kNtW6l2fgCeHnJVdGZSl4X3pbeWHjXc@127.0.0.1:33609"
            .parse()
            .unwrap();
        let refs = back.references(&me);
        assert_eq!(refs, vec![(Location(7), REF.parse().unwrap())]);
        // Its own reference is never a peer.
        assert!(back.references(&REF.parse().unwrap()).is_empty());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_or_garbled_file_is_no_saved_state() {
        let dir = dir("garbled");
        assert!(load(&dir).is_none());
        fs::write(dir.join(PEERS_FILE), "{ not json").unwrap();
        assert!(load(&dir).is_none());
        fs::write(dir.join(PEERS_FILE), vec![b' '; 1 << 20]).unwrap();
        assert!(load(&dir).is_none());
        let _ = fs::remove_dir_all(&dir);
    }
}
