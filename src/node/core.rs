//! The routing core a node drives: Freenet mode or Chord mode, over the
//! same links, store and client API.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::block::Block;
use crate::key::{Location, NodeKey};
use crate::routing::freenet::Core;
use crate::routing::{
    BlockContent, Chord, ChordConfig, Config, Input, Output, PeerId, Protocol, Time,
};
use crate::store::DiskStore;

/// Which protocol a node runs (`fog node --mode`). Its name, in `fog.toml`,
/// in the status JSON and as displayed, is `freenet` or `chord`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Steepest-ascent routing with caching and announcements.
    #[default]
    Freenet,
    /// A Chord ring: the node's id is the hash of its key.
    Chord,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Freenet => "freenet",
            Mode::Chord => "chord",
        })
    }
}

/// A node's core, in the mode it runs.
// One per node, made once: boxing the larger variant would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum NodeCore {
    Freenet(Core<BlockContent, DiskStore>),
    Chord(Chord<BlockContent, DiskStore>),
}

impl NodeCore {
    /// A core in `mode` at `location`, with the settings of that mode.
    pub(super) fn new<R: Rng + ?Sized>(
        mode: Mode,
        freenet: Config,
        chord: ChordConfig,
        location: Location,
        store: DiskStore,
        rng: &mut R,
    ) -> NodeCore {
        match mode {
            Mode::Freenet => NodeCore::Freenet(Core::new(freenet, location, store, rng)),
            Mode::Chord => NodeCore::Chord(Chord::new(chord, location, store, None)),
        }
    }

    pub(super) fn handle<R: Rng + ?Sized>(
        &mut self,
        now: Time,
        input: Input<BlockContent>,
        rng: &mut R,
    ) {
        match self {
            NodeCore::Freenet(c) => c.handle(now, input, rng),
            NodeCore::Chord(c) => c.handle(now, input, rng),
        }
    }

    pub(super) fn poll(&mut self) -> Option<Output<BlockContent>> {
        match self {
            NodeCore::Freenet(c) => c.poll(),
            NodeCore::Chord(c) => c.poll(),
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Time> {
        match self {
            NodeCore::Freenet(c) => c.poll_timeout(),
            NodeCore::Chord(c) => c.poll_timeout(),
        }
    }

    pub(super) fn mode(&self) -> Mode {
        match self {
            NodeCore::Freenet(_) => Mode::Freenet,
            NodeCore::Chord(_) => Mode::Chord,
        }
    }

    pub(super) fn location(&self) -> Location {
        match self {
            NodeCore::Freenet(c) => c.location(),
            NodeCore::Chord(c) => Protocol::location(c),
        }
    }

    pub(super) fn store(&self) -> &DiskStore {
        match self {
            NodeCore::Freenet(c) => c.store(),
            NodeCore::Chord(c) => c.store(),
        }
    }

    pub(super) fn store_mut(&mut self) -> &mut DiskStore {
        match self {
            NodeCore::Freenet(c) => c.store_mut(),
            NodeCore::Chord(c) => c.store_mut(),
        }
    }

    /// Stores verified data directly, without routing it; false if it does
    /// not verify.
    pub(super) fn preload(&mut self, key: NodeKey, block: Block) -> bool {
        match self {
            NodeCore::Freenet(c) => c.preload(key, block),
            NodeCore::Chord(c) => Protocol::preload(c, key, block),
        }
    }

    /// The references the core routes by, with their locations: the routing
    /// table (Freenet mode), or the predecessor, successors and fingers
    /// (Chord mode), each peer once in Chord mode.
    pub(super) fn known_peers(&self) -> Vec<(Location, PeerId)> {
        match self {
            NodeCore::Freenet(c) => c.table().iter().collect(),
            NodeCore::Chord(c) => {
                let mut seen = std::collections::BTreeSet::new();
                c.predecessor()
                    .iter()
                    .chain(c.successors())
                    .chain(c.fingers().iter().flatten())
                    .filter(|r| seen.insert(r.peer))
                    .map(|r| (r.location, r.peer))
                    .collect()
            }
        }
    }

    /// Peers the core keeps routing state about.
    pub(super) fn references(&self) -> usize {
        match self {
            NodeCore::Freenet(c) => c.table().len(),
            NodeCore::Chord(c) => c.state_size(),
        }
    }

    pub(super) fn in_flight(&self) -> usize {
        match self {
            NodeCore::Freenet(c) => c.in_flight(),
            NodeCore::Chord(c) => c.in_flight(),
        }
    }

    /// References a peer under `location`: a seed under the location its
    /// key gives it, or a reference kept from the last run. A Chord node
    /// learns its neighbours by joining through the seed instead.
    pub(super) fn add_seed(&mut self, location: Location, peer: PeerId) {
        if let NodeCore::Freenet(c) = self {
            c.add_reference(location, peer);
        }
    }
}
