//! The studies `fog sim` runs. Each takes its parameters, runs seeded, and
//! writes CSV series, SVG plots and `summary.json` into an output folder.

pub mod anonymity;
pub mod cache_migration;
pub mod chord_churn;
pub mod chord_failures;
pub mod chord_hops;
pub mod compare;
pub mod convergence;
pub mod faults;
pub mod scalability;
pub mod small_world;

use std::path::{Path, PathBuf};

use rand::Rng;
use rand::seq::SliceRandom;

use super::content::{VirtualContent, VirtualKey};
use super::engine::{Latency, Network, Outcome, SimChord, SimCore};
use super::report::{Plot, ReportError, Table, fmt_num, write_summary};
use crate::key::Location;
use crate::key::hash::sha256;
use crate::routing::chord::ideal_neighbours;
use crate::routing::{ChordConfig, ChordRef, ClientOp, Config, PeerId, Protocol};

/// The location the paper gives node number `n`: a hash of the number, so
/// it is random but the same wherever the node is referenced.
pub fn node_location(n: u64) -> Location {
    Location::from_hash(&sha256(&n.to_be_bytes()))
}

/// The core settings of the paper's nodes: no anonymity features (every hop
/// decrements, every node caches), `max_htl` high enough for the probes.
pub fn paper_config(max_htl: u8, table: usize, source_rewrite: f64) -> Config {
    Config {
        max_htl,
        decrement_at_max: 1.0,
        decrement_at_one: 1.0,
        stem: false,
        routing_table_size: table,
        source_rewrite,
        ..Config::default()
    }
}

/// `n` nodes in a ring lattice: each references the `k` nodes before and
/// after it by number, under their locations.
pub fn ring_lattice(
    seed: u64,
    n: u32,
    k: u32,
    config: Config,
    store_items: usize,
) -> Network<SimCore<VirtualContent>> {
    let mut net = Network::new(seed, super::engine::Latency::default());
    for i in 0..n {
        net.add_node(config, node_location(u64::from(i)), store_items);
    }
    for i in 0..n {
        for d in 1..=k.min(n.saturating_sub(1) / 2).max(1) {
            net.link(PeerId(i), PeerId((i + d) % n));
            net.link(PeerId(i), PeerId((i + n - d) % n));
        }
    }
    net
}

/// The three networks the comparisons run (`compare`, `cache-migration`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Freenet mode, converged.
    Freenet,
    /// Chord without a path cache: only the responsible node and its
    /// replicas ever hold a key.
    Chord,
    /// Chord with a path cache.
    ChordCache,
}

impl Mode {
    /// The three, in report order.
    pub const ALL: [Mode; 3] = [Mode::Freenet, Mode::Chord, Mode::ChordCache];

    /// Name in plots and tables.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Freenet => "Freenet",
            Mode::Chord => "Chord",
            Mode::ChordCache => "Chord + path cache",
        }
    }

    /// Stem of its files.
    pub fn file(self) -> &'static str {
        match self {
            Mode::Freenet => "freenet",
            Mode::Chord => "chord",
            Mode::ChordCache => "chord-cache",
        }
    }
}

/// A Chord ring of `n` nodes at [`node_location`]s in its stable state
/// (every predecessor, successor list and finger exact), as the Chord
/// paper's simulator starts; each node stores `store_items` entries and
/// caches `cache_items` (0: no path cache).
pub fn chord_ring(
    seed: u64,
    n: u32,
    config: ChordConfig,
    store_items: usize,
    cache_items: usize,
    latency: Latency,
) -> Network<SimChord<VirtualContent>> {
    let locations = (0..n).map(|i| node_location(u64::from(i)));
    chord_ring_at(seed, locations, config, store_items, cache_items, latency)
}

/// A stable Chord ring with one node at each of `locations` (distinct), in
/// that order of peer ids.
pub fn chord_ring_at(
    seed: u64,
    locations: impl IntoIterator<Item = Location>,
    config: ChordConfig,
    store_items: usize,
    cache_items: usize,
    latency: Latency,
) -> Network<SimChord<VirtualContent>> {
    let mut net = Network::new(seed, latency);
    for location in locations {
        net.add_chord_node(config, location, store_items, cache_items);
    }
    let mut ring: Vec<ChordRef> = (0..net.len() as u32)
        .map(|i| net.chord_ref(PeerId(i)))
        .collect();
    ring.sort_by_key(|r| r.location);
    for (index, r) in ring.iter().enumerate() {
        let (predecessor, successors, fingers) = ideal_neighbours(&ring, index, config.successors);
        net.node_mut(r.peer)
            .set_ring(predecessor, successors, fingers);
    }
    net
}

/// The live nodes of a Chord network, sorted by location: the ring as it
/// truly is, against which the studies check placement and answers.
pub fn live_ring(net: &Network<SimChord<VirtualContent>>) -> Vec<(Location, PeerId)> {
    let mut ring: Vec<(Location, PeerId)> = net
        .nodes()
        .filter(|(id, _)| net.is_alive(*id))
        .map(|(id, n)| (n.location(), id))
        .collect();
    ring.sort_unstable();
    ring
}

/// The nodes that hold a key at `location` on a stable `ring` (sorted, as
/// [`live_ring`] gives it) with `copies` copies: its successor first, then
/// the successor's successors; never more than the ring has nodes.
pub fn key_holders(ring: &[(Location, PeerId)], location: Location, copies: usize) -> Vec<PeerId> {
    let at = ring.partition_point(|(l, _)| *l < location);
    (0..copies.min(ring.len()))
        .map(|i| ring[(at + i) % ring.len()].1)
        .collect()
}

/// Zipf popularity: the cumulative weight of ranks `0..k` with exponent
/// `s`, normalised; a rank is drawn by searching a uniform draw in it.
pub fn zipf_cdf(k: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=k)
        .map(|rank| {
            acc += (rank as f64).powf(-s);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

/// A rank drawn from a [`zipf_cdf`].
pub fn zipf_draw<R: Rng + ?Sized>(cdf: &[f64], rng: &mut R) -> usize {
    let u: f64 = rng.r#gen();
    cdf.partition_point(|&c| c < u)
        .min(cdf.len().saturating_sub(1))
}

/// The paper's workload: keys inserted so far, from which requests draw.
#[derive(Clone, Debug, Default)]
pub struct Workload {
    /// Every key inserted, in order.
    pub keys: Vec<VirtualKey>,
}

impl Workload {
    /// One time step: a random live node inserts a new random key or
    /// requests a random inserted key, with even odds (always an insert
    /// while nothing has been inserted). Runs to completion.
    pub fn step(
        &mut self,
        net: &mut Network<SimCore<VirtualContent>>,
        live: &[PeerId],
        htl: u8,
    ) -> Outcome<VirtualContent> {
        let rng = net.rng();
        let node = *live.choose(rng).expect("a live node");
        let op = if self.keys.is_empty() || rng.gen_bool(0.5) {
            let key = VirtualKey(rng.r#gen());
            self.keys.push(key);
            ClientOp::Put {
                key,
                data: (),
                htl: Some(htl),
                operation: 0,
            }
        } else {
            ClientOp::Get {
                key: *self.keys.choose(rng).expect("not empty"),
                htl: Some(htl),
                operation: 0,
            }
        };
        net.run_op(node, op)
    }
}

/// Pathlengths of `count` probe requests for inserted keys, each from a
/// random live node, on a snapshot of the network (so probing leaves the
/// network as it was). A failed probe counts as `htl`.
pub fn probe(
    net: &Network<SimCore<VirtualContent>>,
    live: &[PeerId],
    keys: &[VirtualKey],
    count: usize,
    htl: u8,
) -> Probe {
    let mut snapshot = net.clone();
    let mut lengths = Vec::with_capacity(count);
    let mut found = 0;
    for _ in 0..count {
        let rng = snapshot.rng();
        let node = *live.choose(rng).expect("a live node");
        let key = *keys.choose(rng).expect("keys were inserted");
        let out = snapshot.run_op(
            node,
            ClientOp::Get {
                key,
                htl: Some(htl),
                operation: 0,
            },
        );
        if out.succeeded() {
            found += 1;
            lengths.push(f64::from(out.hops));
        } else {
            lengths.push(f64::from(htl));
        }
    }
    Probe::new(lengths, found)
}

/// The pathlengths of one probe.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// Sorted pathlengths, failures counted as the probe's HTL.
    pub lengths: Vec<f64>,
    /// How many probes found their data.
    pub found: usize,
}

impl Probe {
    pub(crate) fn new(mut lengths: Vec<f64>, found: usize) -> Self {
        lengths.sort_by(f64::total_cmp);
        Probe { lengths, found }
    }

    /// Share of probes that found their data.
    pub fn success(&self) -> f64 {
        self.found as f64 / self.lengths.len().max(1) as f64
    }

    /// The `q` quantile (0.5 is the median), by the nearest-rank method.
    pub fn quantile(&self, q: f64) -> f64 {
        quantile(&self.lengths, q)
    }

    /// Mean pathlength.
    pub fn mean(&self) -> f64 {
        self.lengths.iter().sum::<f64>() / self.lengths.len().max(1) as f64
    }

    /// A printed row: `x`, median, mean and success.
    pub fn printed_row(&self, x: String) -> Vec<String> {
        vec![
            x,
            fmt_num(self.quantile(0.5)),
            format!("{:.1}", self.mean()),
            format!("{:.1}%", 100.0 * self.success()),
        ]
    }
}

/// A CSV table of probes: the `x` column, then median, mean, quartiles,
/// 90th percentile and success.
pub fn probe_table<'a>(
    name: &str,
    x: &str,
    probes: impl IntoIterator<Item = (f64, &'a Probe)>,
) -> Table {
    let mut table = Table::new(name, &[x, "median", "mean", "p25", "p75", "p90", "success"]);
    for (x, p) in probes {
        table.push(vec![
            x,
            p.quantile(0.5),
            p.mean(),
            p.quantile(0.25),
            p.quantile(0.75),
            p.quantile(0.9),
            p.success(),
        ]);
    }
    table
}

/// The `q` quantile of sorted values by the nearest-rank method; NaN if
/// there are none.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What a scenario produced: its series, plots, headline figures and the
/// table it prints.
#[derive(Debug)]
pub struct Report {
    /// CSV series.
    pub tables: Vec<Table>,
    /// SVG plots.
    pub plots: Vec<Plot>,
    /// Headline figures and the parameters, for `summary.json`.
    pub summary: serde_json::Value,
    /// The short table printed to stdout.
    pub printed: String,
}

impl Report {
    /// Writes every table, plot and the summary into `dir` (created if
    /// needed); returns the files written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
        let mut files = Vec::new();
        for table in &self.tables {
            files.push(table.write_csv(dir)?);
        }
        for plot in &self.plots {
            files.push(plot.write_svg(dir)?);
        }
        files.push(write_summary(dir, &self.summary)?);
        Ok(files)
    }
}
