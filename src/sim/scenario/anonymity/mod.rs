//! `anonymity`: what passive adversary nodes learn about who asked for, and
//! who published, what.
//!
//! A fraction `f` of the nodes log every message delivered to them (its
//! sender, its kind, hops to live, key and source field) and pool their
//! logs. Honest nodes make requests, publish files and download them. Four
//! attackers then name originators:
//!
//! - **naive** ([`naive`]): the earliest sighting of a request names its
//!   sender when the message could have come from its originator (a stem
//!   message, which carries no HTL, or a routed request at max HTL); the
//!   *literal* variant, the rule before the stem, names every sender of a
//!   routed request at max HTL; the *first spy* variant, for a coalition
//!   that knows the network runs a stem, names only a stem message's
//!   sender (Crowds' attacker, measured for requests and for files);
//! - **statistical** ([`statistical`]), after Levine, Liberatore, Lynn and
//!   Wright (CCS 2020): per file, a neighbour that sends an adversary more
//!   of the file's blocks than a relayer plausibly would is named as the
//!   downloader;
//! - **traceback** ([`traceback`]), after Tian and Duan (INFOCOM 2013): the
//!   coalition probes the neighbours of a request's sender for its id, and
//!   follows the nodes that have seen it back to where the chain starts;
//! - **inserter** ([`inserter`]): names the publisher of a file from the
//!   source field, HTL and timing of what it sees of the file's inserts.
//!
//! Each is scored against the truth the simulator knows (every outcome
//! carries its originator and every request id it used). The coalition is
//! given perfect linking of the messages of one client request across its
//! stem and its routed phase: in reality it links them by key and timing.
//!
//! Single requests run one at a time; a file's blocks are all started at
//! once, as a splitfile client does, so that they share a stem epoch.
//!
//! Seven settings are compared on the same nodes, with the same
//! adversaries and the same honest traffic: Freenet mode on a network
//! converged by the paper's workload, under the real node's settings (stem
//! on) with the HTL coin on and off, and "before" (stem off, coin on);
//! Chord on a stable ring; and Freenet on a navigable small world of about
//! `peers` peers per node, the same three ways. Sweeps on the small world
//! vary the coin, the degree and the stem's continuation probability.

pub mod inserter;
mod measure;
pub mod naive;
mod networks;
pub mod observe;
mod plots;
mod report;
mod run;
mod score;
pub mod statistical;
mod summary;
pub mod traceback;

pub use inserter::{file_names, score_files};
pub use measure::{Download, Plan, Publish, measure, plan};
pub use naive::{literal_guesses, naive_guesses, score_naive, score_requests};
pub use networks::{first_hop_skew, small_world, with_config};
pub use observe::{Linked, Observable, Sighting, degrees, link};
pub use report::{candidate_model, chain_model, crowds_model, report};
pub use run::{Point, Results, SweepPoint, run};
pub use score::{Measured, RequestStats, Score};
pub use statistical::{
    binomial_threshold, relay_probability, score_statistical, statistical_accusations,
};
pub use traceback::{trace_back, traceback_guess};

use super::convergence;
use crate::routing::{ChordConfig, Config};

/// The experiment's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Seed of every random choice.
    pub seed: u64,
    /// Network size (every setting has the same nodes).
    pub nodes: u32,
    /// Convergence steps of the paper's workload before measuring Freenet.
    pub steps: u64,
    /// Shares of the nodes that are adversaries; each is measured on a
    /// fresh copy of each network. The sets are nested: the adversaries at
    /// a smaller fraction are among those at a larger one.
    pub fractions: Vec<f64>,
    /// The fraction the headline figures are taken at; it is measured even
    /// when `fractions` lacks it.
    pub headline_fraction: f64,
    /// Single-block requests by honest nodes per run (naive and traceback
    /// attackers, and the hops the stem adds).
    pub requests: usize,
    /// Splitfiles per run, each published by one honest node (inserter
    /// attacker) and downloaded by another (statistical attacker).
    pub downloads: usize,
    /// Splitfiles per run at the headline fraction: more, so that the
    /// per-file headline figures rest on more than a handful of names.
    pub headline_downloads: usize,
    /// Blocks per splitfile (`B`).
    pub blocks: usize,
    /// Peers per node in the small-world network.
    pub peers: u32,
    /// False-positive rate the statistical attacker's threshold allows
    /// for a relaying neighbour.
    pub false_positive: f64,
    /// HTL values the statistical attacker counts: a request counts if it
    /// arrives within this many of the highest (2: max and max − 1), and a
    /// stem message always does (it carries none, and is never
    /// decremented).
    pub htl_window: u8,
    /// Adversary share for the coin and degree sweeps.
    pub sweep_fraction: f64,
    /// Probabilities of decrementing at max HTL in the coin sweep.
    pub sweep_coins: Vec<f64>,
    /// Peers per node in the degree sweep.
    pub sweep_peers: Vec<u32>,
    /// Stem continuation probabilities in the stem sweep (on the small
    /// world, at the headline fraction).
    pub sweep_stem: Vec<f64>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            nodes: 1000,
            steps: 5000,
            fractions: vec![0.01, 0.02, 0.05, 0.1, 0.2],
            headline_fraction: 0.05,
            requests: 4000,
            downloads: 50,
            headline_downloads: 250,
            blocks: 100,
            peers: 10,
            false_positive: 0.01,
            htl_window: 2,
            sweep_fraction: 0.1,
            sweep_coins: vec![0.1, 0.25, 0.5, 0.75, 1.0],
            sweep_peers: vec![4, 6, 10, 20, 40],
            sweep_stem: vec![0.4, 0.6, 0.75, 0.9],
        }
    }
}

impl Params {
    /// The convergence run the Freenet networks start from: the paper's
    /// setup with this experiment's seed, size and steps, and a single
    /// final probe (measuring is done here, under the real node's config).
    pub fn converge(&self) -> convergence::Params {
        convergence::Params {
            seed: self.seed,
            nodes: self.nodes,
            steps: self.steps,
            probe_every: u64::MAX,
            probes: 1,
            ..convergence::Params::default()
        }
    }

    /// The fractions measured: `fractions` and the headline fraction,
    /// ascending, each once.
    pub fn measured_fractions(&self) -> Vec<f64> {
        let mut all = self.fractions.clone();
        all.push(self.headline_fraction);
        all.sort_by(f64::total_cmp);
        all.dedup();
        all
    }

    /// How many runs [`run`] makes (what its `tick` counts up to).
    pub fn runs(&self) -> u64 {
        let sweeps = 2 * (self.sweep_coins.len() + self.sweep_peers.len()) + self.sweep_stem.len();
        (self.measured_fractions().len() * Setting::ALL.len() + sweeps) as u64
    }

    /// Splitfiles per run at `fraction`.
    pub fn downloads_at(&self, fraction: f64) -> usize {
        if fraction == self.headline_fraction {
            self.headline_downloads
        } else {
            self.downloads
        }
    }

    /// How many adversaries a fraction gives: at least one, and at least
    /// two honest nodes left (a publisher and a downloader), so the
    /// network needs three nodes or more.
    pub fn adversaries(&self, fraction: f64) -> usize {
        let n = self.nodes as usize;
        ((fraction.clamp(0.0, 1.0) * n as f64).round() as usize)
            .min(n.saturating_sub(2))
            .max(1)
    }
}

/// The real node's settings (`Config::default()`: stem on, HTL coin on),
/// with the stem and the coin each on or off. Coin off: every link always
/// decrements, at max HTL and at 1 alike. Stem off: the originator routes
/// its clients' requests itself.
pub fn node_config(stem: bool, coin: bool) -> Config {
    let config = Config {
        stem,
        ..Config::default()
    };
    if coin {
        config
    } else {
        Config {
            decrement_at_max: 1.0,
            decrement_at_one: 1.0,
            ..config
        }
    }
}

/// What the attackers know of the protocol they watch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attack {
    /// The mode's highest HTL (what an originator, and a stem's end,
    /// sends).
    pub max_htl: u8,
    /// Statistical attacker: HTL values counted below and at the highest.
    pub htl_window: u8,
    /// Statistical attacker: false-positive rate allowed per relaying
    /// neighbour and file.
    pub false_positive: f64,
}

impl Attack {
    /// The attack on Freenet mode with `params`' statistical settings.
    pub fn freenet(params: &Params) -> Attack {
        Attack {
            max_htl: Config::default().max_htl,
            htl_window: params.htl_window,
            false_positive: params.false_positive,
        }
    }

    /// The same attack on Chord mode (its own highest HTL).
    pub fn chord(params: &Params) -> Attack {
        Attack {
            max_htl: ChordConfig::default().max_htl,
            ..Attack::freenet(params)
        }
    }
}

/// A network and mode measured against every fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// Freenet mode on the converged network.
    Freenet {
        /// Whether the stem (the anonymity phase) is on.
        stem: bool,
        /// Whether the HTL coin is on.
        coin: bool,
    },
    /// Chord mode on a stable ring.
    Chord,
    /// Freenet mode on the small world of `peers` peers per node.
    SmallWorld {
        /// Whether the stem is on.
        stem: bool,
        /// Whether the HTL coin is on.
        coin: bool,
    },
}

impl Setting {
    /// Every setting, in report order: for each Freenet network, the real
    /// node's settings with the coin on and off, then "before" (stem off,
    /// coin on).
    pub const ALL: [Setting; 7] = [
        Setting::CONVERGED,
        Setting::Freenet {
            stem: true,
            coin: false,
        },
        Setting::CONVERGED_BEFORE,
        Setting::Chord,
        Setting::SMALL_WORLD,
        Setting::SmallWorld {
            stem: true,
            coin: false,
        },
        Setting::SMALL_WORLD_BEFORE,
    ];

    /// The converged network under the real node's settings (after).
    pub const CONVERGED: Setting = Setting::Freenet {
        stem: true,
        coin: true,
    };
    /// The converged network with the stem off (before).
    pub const CONVERGED_BEFORE: Setting = Setting::Freenet {
        stem: false,
        coin: true,
    };
    /// The small world under the real node's settings (after).
    pub const SMALL_WORLD: Setting = Setting::SmallWorld {
        stem: true,
        coin: true,
    };
    /// The small world with the stem off (before).
    pub const SMALL_WORLD_BEFORE: Setting = Setting::SmallWorld {
        stem: false,
        coin: true,
    };

    /// File stem of its CSV table.
    pub fn file(self) -> &'static str {
        match self {
            Setting::Freenet { stem: true, coin } => {
                if coin {
                    "freenet-coin-on"
                } else {
                    "freenet-coin-off"
                }
            }
            Setting::Freenet { stem: false, .. } => "freenet-stem-off",
            Setting::Chord => "chord",
            Setting::SmallWorld { stem: true, coin } => {
                if coin {
                    "small-world-coin-on"
                } else {
                    "small-world-coin-off"
                }
            }
            Setting::SmallWorld { stem: false, .. } => "small-world-stem-off",
        }
    }

    /// Name in tables and legends.
    pub fn label(self, peers: u32) -> String {
        let how = |stem: bool, coin: bool| match (stem, coin) {
            (true, true) => "stem on, coin on".to_string(),
            (true, false) => "stem on, coin off".to_string(),
            (false, _) => "stem off (before)".to_string(),
        };
        match self {
            Setting::Freenet { stem, coin } => format!("Freenet, {}", how(stem, coin)),
            Setting::Chord => "Chord".to_string(),
            Setting::SmallWorld { stem, coin } => {
                format!("Freenet {peers} peers, {}", how(stem, coin))
            }
        }
    }

    /// The Freenet settings it runs with (Chord: none).
    pub fn config(self) -> Option<Config> {
        match self {
            Setting::Freenet { stem, coin } | Setting::SmallWorld { stem, coin } => {
                Some(node_config(stem, coin))
            }
            Setting::Chord => None,
        }
    }
}
