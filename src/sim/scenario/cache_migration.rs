//! `cache-migration`: do copies of popular data move toward the nodes that
//! ask for them? A demand region (an arc of the ring of node locations)
//! requests a few popular keys, inserted at the opposite side of the ring,
//! in rounds; after each round the copies are counted and located.
//!
//! Three networks run the same workload over the same nodes: Freenet mode
//! (a network converged with the 2001 paper's workload first), Chord
//! without a path cache and Chord with one. Freenet caches on every return
//! path by design; Chord keeps a key at its successor and `r` replicas, and
//! with the path cache also on the return path. The figures per round:
//! copies of each popular key, reference hops from the region to the
//! nearest copy, hops each request took to its first hit, store churn, and
//! success.

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::convergence::{self, Converged};
use super::{Mode, Probe, Report, chord_ring, node_location, quantile, zipf_cdf, zipf_draw};
use crate::key::Location;
use crate::routing::{ChordConfig, ClientOp, PeerId, Protocol, Store};
use crate::sim::content::{VirtualContent, VirtualKey};
use crate::sim::engine::{Latency, Network, Outcome, SimChord, SimCore};
use crate::sim::report::{Band, Plot, Scale, Series, Style, Table, fmt_num, format_table};

/// The experiment's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Seed of every random choice.
    pub seed: u64,
    /// Network size.
    pub nodes: u32,
    /// Steps of the paper's workload that converge the Freenet network
    /// before the popular keys are inserted.
    pub converge_steps: u64,
    /// Popular keys.
    pub keys: usize,
    /// Exponent of the Zipf law requests follow: key of rank `k` (from 1)
    /// is asked with probability proportional to `k^-zipf`.
    pub zipf: f64,
    /// Nodes in the demand region.
    pub region: u32,
    /// Rounds of requests.
    pub rounds: u32,
    /// Requests per round.
    pub requests: u32,
    /// Entries a node keeps: the Freenet store, and a Chord node's store
    /// plus path cache, so that every node has the same room in each mode.
    pub store: usize,
    /// Entries of the Chord path cache (taken out of `store`).
    pub cache: usize,
    /// Chord replicas beyond the responsible node (`r`).
    pub replicas: usize,
    /// Hops to live of inserts and requests, in both modes.
    pub htl: u8,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            nodes: 1000,
            converge_steps: 5000,
            keys: 20,
            zipf: 1.0,
            region: 50,
            rounds: 20,
            requests: 100,
            store: 50,
            cache: 10,
            replicas: 8,
            htl: 20,
        }
    }
}

impl Params {
    /// Units of progress a run reports through its `tick`: the convergence
    /// steps, then every round of every mode.
    pub fn work(&self) -> u64 {
        self.converge_steps + 3 * u64::from(self.rounds)
    }

    /// The convergence run the Freenet network comes from: the paper's
    /// setup (and its nodes, which cache on every return path, requester
    /// included), with one probe at the end to show it converged.
    pub fn converge(&self) -> convergence::Params {
        convergence::Params {
            seed: self.seed,
            nodes: self.nodes,
            steps: self.converge_steps,
            store: self.store,
            htl: self.htl,
            probe_every: u64::MAX,
            ..convergence::Params::default()
        }
    }

    /// The rounds at which the placement of copies is pictured: the
    /// insert (0), the first two rounds, then doublings, and the last.
    pub fn snapshots(&self) -> Vec<u32> {
        let mut at = vec![0];
        let mut r = 1;
        while r < self.rounds {
            at.push(r);
            r *= 2;
        }
        at.push(self.rounds);
        at.dedup();
        at
    }
}

/// The workload all three networks run, drawn from its own RNG so that it
/// does not depend on how each network uses the network RNG.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Where ring offsets are measured from: a random location, at or just
    /// before the region's first node.
    pub start: Location,
    /// The demand region: the `region` nodes that follow `start`
    /// clockwise, in ring order.
    pub region: Vec<PeerId>,
    /// The node that inserts the popular keys: the one nearest the point
    /// opposite the region's middle.
    pub inserter: PeerId,
    /// The popular keys, most popular first; their locations lie in the
    /// quarter of the ring centred on the point opposite the region.
    pub keys: Vec<VirtualKey>,
    /// Probability of each key in a request (the Zipf law).
    pub weights: Vec<f64>,
    /// The requests of each round: which node asks for which key (by rank,
    /// from 0).
    pub rounds: Vec<Vec<(PeerId, usize)>>,
}

/// Salt of the workload's RNG, so that it differs from the network RNG of
/// the same seed.
const WORKLOAD_SALT: u64 = 0x6361_6368_652d_6d69;

impl Workload {
    /// Draws the workload of `params`.
    pub fn new(params: &Params) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed ^ WORKLOAD_SALT);
        let n = params.nodes.max(1);
        let start = Location(rng.r#gen());
        let mut ring: Vec<PeerId> = (0..n).map(PeerId).collect();
        ring.sort_by_key(|p| (start.clockwise_to(node_location(u64::from(p.0))), p.0));
        let size = params.region.clamp(1, n) as usize;
        let region = ring[..size].to_vec();
        let middle = node_location(u64::from(region[size / 2].0));
        let opposite = Location(middle.0.wrapping_add(1 << 63));
        let inserter = *ring
            .iter()
            .min_by_key(|p| (node_location(u64::from(p.0)).distance(opposite), p.0))
            .expect("at least one node");
        let mut keys: Vec<VirtualKey> = Vec::with_capacity(params.keys);
        while keys.len() < params.keys.max(1) {
            // A quarter ring centred on `opposite`.
            let offset = rng.gen_range(0..1u64 << 62);
            let key = VirtualKey(opposite.0.wrapping_sub(1 << 61).wrapping_add(offset));
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        let cdf = zipf_cdf(keys.len(), params.zipf);
        let weights: Vec<f64> = cdf
            .iter()
            .scan(0.0, |below, &c| {
                let w = c - *below;
                *below = c;
                Some(w)
            })
            .collect();
        let rounds = (0..params.rounds)
            .map(|_| {
                (0..params.requests)
                    .map(|_| {
                        let node = region[rng.gen_range(0..region.len())];
                        (node, zipf_draw(&cdf, &mut rng))
                    })
                    .collect()
            })
            .collect();
        Workload {
            start,
            region,
            inserter,
            keys,
            weights,
            rounds,
        }
    }

    /// Where `node` sits, as the fraction of the ring clockwise from
    /// [`Workload::start`]: the region's nodes come first.
    pub fn offset(&self, node: PeerId) -> f64 {
        self.ring_offset(node_location(u64::from(node.0)))
    }

    /// Where `key` lies, measured as [`Workload::offset`].
    pub fn key_offset(&self, key: VirtualKey) -> f64 {
        self.ring_offset(Location(key.0))
    }

    fn ring_offset(&self, at: Location) -> f64 {
        Location(self.start.clockwise_to(at)).as_fraction()
    }
}

/// A node holding copies of popular keys at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Holder {
    /// The node.
    pub node: PeerId,
    /// Its ring offset (see [`Workload::offset`]).
    pub offset: f64,
    /// How many of the popular keys it holds.
    pub popular: u32,
    /// Whether it holds the most popular key.
    pub top: bool,
}

/// The figures after one round (round 0: after the inserts).
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The round.
    pub round: u32,
    /// Nodes holding each popular key (store or cache), by rank.
    pub replicas: Vec<u32>,
    /// Of those, the nodes in the demand region.
    pub in_region: Vec<u32>,
    /// For each popular key, by rank: the fewest reference hops from a
    /// region node to a node holding it, averaged over the region (0 where
    /// the region node holds it; NaN if no copy can be reached).
    pub distance: Vec<f64>,
    /// Hops each of the round's requests took to its first hit (request
    /// messages, dead ends included; 0 when the requester held it), in
    /// order; `None` for a request that failed.
    pub hops: Vec<Option<u32>>,
    /// Entries that appeared in stores and caches during the round, over
    /// all nodes.
    pub inserted: u64,
    /// Entries that disappeared (evicted) during the round, over all nodes.
    pub evicted: u64,
    /// Entries that appeared in the region's stores and caches.
    pub inserted_region: u64,
}

impl Point {
    /// Mean hops to first hit of the round's successful requests.
    pub fn hops_mean(&self) -> f64 {
        let found: Vec<f64> = self.hops.iter().flatten().map(|&h| f64::from(h)).collect();
        found.iter().sum::<f64>() / found.len().max(1) as f64 * nan_if(found.is_empty())
    }

    /// Median hops to first hit of the round's successful requests.
    pub fn hops_median(&self) -> f64 {
        let mut found: Vec<f64> = self.hops.iter().flatten().map(|&h| f64::from(h)).collect();
        found.sort_by(f64::total_cmp);
        quantile(&found, 0.5)
    }

    /// Mean hops of the round's successful requests that the requester
    /// could not answer from its own store: whether copies came closer
    /// beyond the requesters themselves.
    pub fn hops_remote(&self) -> f64 {
        let remote: Vec<f64> = self
            .hops
            .iter()
            .flatten()
            .filter(|&&h| h > 0)
            .map(|&h| f64::from(h))
            .collect();
        remote.iter().sum::<f64>() / remote.len().max(1) as f64 * nan_if(remote.is_empty())
    }

    /// Share of the round's successful requests the requester answered from
    /// its own store or cache.
    pub fn local(&self) -> f64 {
        let found = self.hops.iter().flatten().count();
        let local = self.hops.iter().flatten().filter(|&&h| h == 0).count();
        local as f64 / found.max(1) as f64 * nan_if(found == 0)
    }

    /// Share of the round's requests that found their data.
    pub fn success(&self) -> f64 {
        let found = self.hops.iter().flatten().count();
        found as f64 / self.hops.len().max(1) as f64 * nan_if(self.hops.is_empty())
    }

    /// Mean copies over the popular keys.
    pub fn replicas_mean(&self) -> f64 {
        mean_count(&self.replicas)
    }

    /// Mean copies in the demand region over the popular keys.
    pub fn in_region_mean(&self) -> f64 {
        mean_count(&self.in_region)
    }

    /// Reference hops from the region to the nearest copy of the key a
    /// request asks for: the distances weighted by the keys' popularity
    /// (keys with no reachable copy left out).
    pub fn distance_weighted(&self, weights: &[f64]) -> f64 {
        let (mut sum, mut weight) = (0.0, 0.0);
        for (d, w) in self.distance.iter().zip(weights) {
            if d.is_finite() {
                sum += d * w;
                weight += w;
            }
        }
        if weight > 0.0 { sum / weight } else { f64::NAN }
    }
}

fn mean_count(counts: &[u32]) -> f64 {
    counts.iter().map(|&c| f64::from(c)).sum::<f64>() / counts.len().max(1) as f64
        * nan_if(counts.is_empty())
}

/// NaN when `empty`, else 1: a mean over nothing is undefined, not 0.
fn nan_if(empty: bool) -> f64 {
    if empty { f64::NAN } else { 1.0 }
}

/// How close the region is in one network's reference graph.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Closeness {
    /// Mean reference hops between two region nodes.
    pub within_region: f64,
    /// Mean reference hops from a region node to any other node.
    pub region_to_all: f64,
    /// Mean reference hops from a region node to the inserter.
    pub region_to_inserter: f64,
}

/// One network's run.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// Which network.
    pub mode: Mode,
    /// Popular keys whose insert succeeded.
    pub inserted: usize,
    /// How close the region is in this network, measured after the
    /// inserts.
    pub closeness: Closeness,
    /// Round 0 (after the inserts), then every round.
    pub points: Vec<Point>,
    /// Where the copies were at the snapshot rounds.
    pub placements: Vec<(u32, Vec<Holder>)>,
}

/// What the experiment produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Migration {
    /// The workload.
    pub workload: Workload,
    /// The probe that ended the Freenet network's convergence.
    pub converged: Probe,
    /// Freenet, Chord, Chord with path cache.
    pub runs: Vec<Run>,
}

/// What the experiment needs of a network, in either mode.
trait Subject {
    fn size(&self) -> usize;
    fn op(&mut self, node: PeerId, op: ClientOp<VirtualContent>) -> Outcome<VirtualContent>;
    fn holds(&self, node: PeerId, key: &VirtualKey) -> bool;
    /// Keys in the node's store and cache, sorted.
    fn held(&self, node: PeerId) -> Vec<VirtualKey>;
    /// Distinct peers the node references (its out-links).
    fn links(&self, node: PeerId) -> Vec<u32>;
}

impl Subject for Network<SimCore<VirtualContent>> {
    fn size(&self) -> usize {
        self.len()
    }

    fn op(&mut self, node: PeerId, op: ClientOp<VirtualContent>) -> Outcome<VirtualContent> {
        self.run_op(node, op)
    }

    fn holds(&self, node: PeerId, key: &VirtualKey) -> bool {
        Protocol::holds(self.node(node), key)
    }

    fn held(&self, node: PeerId) -> Vec<VirtualKey> {
        let mut keys = self.node(node).store().all_keys();
        keys.sort_unstable();
        keys
    }

    fn links(&self, node: PeerId) -> Vec<u32> {
        let mut peers: Vec<u32> = self.node(node).table().iter().map(|(_, p)| p.0).collect();
        peers.sort_unstable();
        peers.dedup();
        peers
    }
}

impl Subject for Network<SimChord<VirtualContent>> {
    fn size(&self) -> usize {
        self.len()
    }

    fn op(&mut self, node: PeerId, op: ClientOp<VirtualContent>) -> Outcome<VirtualContent> {
        self.run_op(node, op)
    }

    fn holds(&self, node: PeerId, key: &VirtualKey) -> bool {
        Protocol::holds(self.node(node), key)
    }

    fn held(&self, node: PeerId) -> Vec<VirtualKey> {
        let chord = self.node(node);
        let mut keys = chord.store().all_keys();
        if let Some(cache) = chord.cache() {
            keys.extend(cache.all_keys());
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    fn links(&self, node: PeerId) -> Vec<u32> {
        let chord = self.node(node);
        let mut peers: Vec<u32> = chord
            .predecessor()
            .iter()
            .chain(chord.successors())
            .chain(chord.fingers().iter().flatten())
            .map(|r| r.peer.0)
            .filter(|&p| p != node.0)
            .collect();
        peers.sort_unstable();
        peers.dedup();
        peers
    }
}

/// Reference hops from every node to the nearest of `sources`, following
/// links forward (`reverse` holds each node's in-links); `u32::MAX` where
/// none can be reached.
fn hops_to(reverse: &[Vec<u32>], sources: impl IntoIterator<Item = u32>) -> Vec<u32> {
    let mut hops = vec![u32::MAX; reverse.len()];
    let mut queue = VecDeque::new();
    for s in sources {
        if hops[s as usize] != 0 {
            hops[s as usize] = 0;
            queue.push_back(s);
        }
    }
    while let Some(x) = queue.pop_front() {
        let next = hops[x as usize] + 1;
        for &y in &reverse[x as usize] {
            if hops[y as usize] == u32::MAX {
                hops[y as usize] = next;
                queue.push_back(y);
            }
        }
    }
    hops
}

/// Every node's in-links.
fn reversed(net: &impl Subject) -> Vec<Vec<u32>> {
    let mut reverse = vec![Vec::new(); net.size()];
    for x in 0..net.size() as u32 {
        for y in net.links(PeerId(x)) {
            reverse[y as usize].push(x);
        }
    }
    reverse
}

/// Mean of the finite hop counts among `hops` at `nodes`; NaN if none.
fn mean_hops(hops: &[u32], nodes: impl IntoIterator<Item = PeerId>) -> f64 {
    let (mut sum, mut count) = (0u64, 0u64);
    for p in nodes {
        let h = hops[p.0 as usize];
        if h != u32::MAX {
            sum += u64::from(h);
            count += 1;
        }
    }
    sum as f64 / count.max(1) as f64 * nan_if(count == 0)
}

/// How close the region is in `net`: is it a neighbourhood there, and how
/// far is the inserter?
fn closeness(net: &impl Subject, w: &Workload) -> Closeness {
    let reverse = reversed(net);
    let n = net.size();
    let (mut within, mut within_count) = (0.0, 0u32);
    let (mut all, mut all_count) = (0.0, 0u32);
    for &target in &w.region {
        // Hops from every node to `target`: read at the other region nodes.
        let to = hops_to(&reverse, [target.0]);
        let others = w.region.iter().copied().filter(|&p| p != target);
        let m = mean_hops(&to, others);
        if m.is_finite() {
            within += m;
            within_count += 1;
        }
        let m = mean_hops(&to, (0..n as u32).map(PeerId).filter(|&p| p != target));
        if m.is_finite() {
            all += m;
            all_count += 1;
        }
    }
    let to_inserter = hops_to(&reverse, [w.inserter.0]);
    Closeness {
        within_region: within / f64::from(within_count.max(1)),
        region_to_all: all / f64::from(all_count.max(1)),
        region_to_inserter: mean_hops(&to_inserter, w.region.iter().copied()),
    }
}

/// What [`measure`] finds.
struct Measured {
    replicas: Vec<u32>,
    in_region: Vec<u32>,
    distance: Vec<f64>,
    holders: Vec<Holder>,
}

/// Copies, distances and placement of the popular keys now.
fn measure(net: &impl Subject, w: &Workload) -> Measured {
    let n = net.size() as u32;
    let reverse = reversed(net);
    let mut in_region = Vec::with_capacity(w.keys.len());
    let mut replicas = Vec::with_capacity(w.keys.len());
    let mut distance = Vec::with_capacity(w.keys.len());
    let mut popular = vec![0u32; n as usize];
    let mut top = vec![false; n as usize];
    for (rank, key) in w.keys.iter().enumerate() {
        let holders: Vec<u32> = (0..n).filter(|&x| net.holds(PeerId(x), key)).collect();
        for &h in &holders {
            popular[h as usize] += 1;
            top[h as usize] |= rank == 0;
        }
        replicas.push(holders.len() as u32);
        let region = w.region.iter().filter(|p| net.holds(**p, key)).count();
        in_region.push(region as u32);
        let hops = hops_to(&reverse, holders);
        distance.push(mean_hops(&hops, w.region.iter().copied()));
    }
    let holders = (0..n)
        .filter(|&x| popular[x as usize] > 0)
        .map(|x| Holder {
            node: PeerId(x),
            offset: w.offset(PeerId(x)),
            popular: popular[x as usize],
            top: top[x as usize],
        })
        .collect();
    Measured {
        replicas,
        in_region,
        distance,
        holders,
    }
}

/// Entries in `new` and not in `old`, and in `old` and not in `new` (both
/// sorted).
fn churn(old: &[VirtualKey], new: &[VirtualKey]) -> (u64, u64) {
    let (mut i, mut j) = (0, 0);
    let (mut added, mut gone) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                gone += 1;
                i += 1;
            }
            (Some(_), None) => {
                gone += 1;
                i += 1;
            }
            _ => {
                added += 1;
                j += 1;
            }
        }
    }
    (added, gone)
}

/// Inserts the popular keys into `net`, runs every round of requests and
/// measures after each; `tick` is called after every round.
fn migrate(
    net: &mut impl Subject,
    mode: Mode,
    w: &Workload,
    params: &Params,
    snapshots: &[u32],
    mut tick: impl FnMut(),
) -> Run {
    let n = net.size() as u32;
    let snapshot = |net: &dyn Fn(PeerId) -> Vec<VirtualKey>| -> Vec<Vec<VirtualKey>> {
        (0..n).map(|x| net(PeerId(x))).collect()
    };
    let mut before = snapshot(&|p| net.held(p));
    let htl = Some(params.htl);
    let mut inserted = 0;
    for &key in &w.keys {
        let out = net.op(
            w.inserter,
            ClientOp::Put {
                key,
                data: (),
                htl,
                operation: 0,
            },
        );
        inserted += usize::from(out.succeeded());
    }
    let closeness = closeness(net, w);
    let mut points = Vec::with_capacity(w.rounds.len() + 1);
    let mut placements = Vec::new();
    for round in 0..=w.rounds.len() as u32 {
        let mut hops = Vec::new();
        if round > 0 {
            for &(node, rank) in &w.rounds[round as usize - 1] {
                let key = w.keys[rank];
                let out = net.op(
                    node,
                    ClientOp::Get {
                        key,
                        htl,
                        operation: 0,
                    },
                );
                hops.push(out.succeeded().then_some(out.hops));
            }
        }
        let after = snapshot(&|p| net.held(p));
        let changes: Vec<(u64, u64)> = before
            .iter()
            .zip(&after)
            .map(|(old, new)| churn(old, new))
            .collect();
        before = after;
        let inserted_region = w.region.iter().map(|p| changes[p.0 as usize].0).sum();
        let m = measure(net, w);
        if snapshots.contains(&round) {
            placements.push((round, m.holders));
        }
        points.push(Point {
            round,
            replicas: m.replicas,
            in_region: m.in_region,
            distance: m.distance,
            hops,
            inserted: changes.iter().map(|c| c.0).sum(),
            evicted: changes.iter().map(|c| c.1).sum(),
            inserted_region,
        });
        if round > 0 {
            tick();
        }
    }
    Run {
        mode,
        inserted,
        closeness,
        points,
        placements,
    }
}

/// The Chord ring of `params`, with or without the path cache.
fn chord(params: &Params, cached: bool) -> Network<SimChord<VirtualContent>> {
    let config = ChordConfig {
        successors: params.replicas,
        maintenance: false,
        ..ChordConfig::default()
    };
    let (store, cache) = if cached {
        (
            params.store.saturating_sub(params.cache).max(1),
            params.cache,
        )
    } else {
        (params.store, 0)
    };
    // The same seed as the Freenet network's: the same link latencies.
    chord_ring(
        params.seed,
        params.nodes,
        config,
        store,
        cache,
        Latency::default(),
    )
}

/// Runs the experiment; `tick` is called with the progress so far (see
/// [`Params::work`]).
pub fn run(params: &Params, mut tick: impl FnMut(u64)) -> Migration {
    let workload = Workload::new(params);
    let snapshots = params.snapshots();
    let Converged {
        mut net, points, ..
    } = convergence::converge(&params.converge(), &mut tick);
    let converged = points
        .last()
        .map(|p| p.probe.clone())
        .unwrap_or_else(|| Probe::new(Vec::new(), 0));
    let mut done = params.converge_steps;
    let mut step = || {
        done += 1;
        tick(done);
    };
    let mut runs = vec![migrate(
        &mut net,
        Mode::Freenet,
        &workload,
        params,
        &snapshots,
        &mut step,
    )];
    for (mode, cached) in [(Mode::Chord, false), (Mode::ChordCache, true)] {
        let mut net = chord(params, cached);
        runs.push(migrate(
            &mut net, mode, &workload, params, &snapshots, &mut step,
        ));
    }
    Migration {
        workload,
        converged,
        runs,
    }
}

/// Fixes a linear plot's y range from 0 to its highest point and `share`
/// more, so that the legend (top right) does not hide the data.
fn headroom(plot: &mut Plot, share: f64) {
    let top = plot
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .fold(0.0, f64::max);
    plot.y_range = Some((0.0, if top > 0.0 { top * (1.0 + share) } else { 1.0 }));
}

/// Bins of the ring in the density plot.
const BINS: usize = 50;

/// Tables, plots and summary of a run.
pub fn report(params: &Params, m: &Migration) -> Report {
    let w = &m.workload;
    let weights = &w.weights;
    let nodes = f64::from(params.nodes);
    let region = w.region.len() as f64;
    let tables = tables(params, m);

    // Each mode keeps one colour across plots.
    let slot = |mode: Mode| mode as usize;
    let series = |run: &Run, what: &str, style, from: u32, f: &dyn Fn(&Point) -> f64| {
        Series::new(
            &format!("{}: {what}", run.mode.name()),
            style,
            run.points
                .iter()
                .filter(|p| p.round >= from)
                .map(|p| (f64::from(p.round), f(p)))
                .collect(),
        )
        .colored(slot(run.mode))
    };
    // Per mode, a main measure in points and lines and a second in a line.
    type Measure<'a> = (&'a str, &'a dyn Fn(&Point) -> f64);
    let pairs = |plot: &mut Plot, from: u32, main: Measure, second: Measure| {
        for run in &m.runs {
            let main = series(run, main.0, Style::LinePoints, from, main.1);
            let second = series(run, second.0, Style::Line, from, second.1);
            plot.series.extend([main, second]);
        }
    };
    let mut copies = Plot::new(
        "replicas.svg",
        "Copies of the popular keys as the region asks for them",
        "round",
        "nodes holding a copy (mean over popular keys)",
    );
    pairs(
        &mut copies,
        0,
        ("all nodes", &Point::replicas_mean),
        ("in the region", &Point::in_region_mean),
    );
    let mut distance = Plot::new(
        "distance.svg",
        "Reference hops from the demand region to the nearest copy",
        "round",
        "hops (mean over region nodes, weighted by popularity)",
    );
    distance.series = m
        .runs
        .iter()
        .map(|run| {
            series(run, "nearest copy", Style::LinePoints, 0, &|p| {
                p.distance_weighted(weights)
            })
        })
        .collect();
    let mut hops = Plot::new(
        "hops.svg",
        "Hops from request to first hit",
        "round",
        "request hops to the first node holding the key (mean)",
    );
    pairs(
        &mut hops,
        1,
        ("all requests", &Point::hops_mean),
        ("requests that left the requester", &Point::hops_remote),
    );
    let mut churned = Plot::new(
        "churn.svg",
        "Store churn: new store and cache entries per round",
        "round",
        "new entries per node per round",
    );
    pairs(
        &mut churned,
        1,
        ("all nodes", &|p| p.inserted as f64 / nodes),
        ("region nodes", &|p| p.inserted_region as f64 / region),
    );

    let region_band = Band {
        name: "demand region".to_string(),
        from: w.offset(w.region[0]),
        to: w.offset(*w.region.last().expect("a region")),
        color: 2,
    };
    let key_offsets: Vec<f64> = w.keys.iter().map(|k| w.key_offset(*k)).collect();
    let keys_band = Band {
        name: "popular keys' locations".to_string(),
        from: key_offsets.iter().copied().fold(f64::INFINITY, f64::min),
        to: key_offsets
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max),
        color: 4,
    };
    let mut density = Plot::new(
        "density.svg",
        "Where the copies are, after the inserts and after the last round",
        "node location (fraction of the ring clockwise from the region's start)",
        "copies of popular keys per 1/50 of the ring (log)",
    );
    density.x_range = Some((0.0, 1.0));
    density.y_scale = Scale::Log;
    for run in &m.runs {
        let (Some((first, start)), Some((last, end))) =
            (run.placements.first(), run.placements.last())
        else {
            continue;
        };
        let bins = |holders: &[Holder]| -> Vec<(f64, f64)> {
            let mut count = [0u32; BINS];
            for h in holders {
                count[((h.offset * BINS as f64) as usize).min(BINS - 1)] += h.popular;
            }
            count
                .iter()
                .enumerate()
                .map(|(i, &c)| ((i as f64 + 0.5) / BINS as f64, f64::from(c)))
                .collect()
        };
        let (start, end) = (bins(start), bins(end));
        // Leave out what would be drawn twice: Chord without a cache never
        // changes, and both Chord rings start alike.
        if start == end {
            density.series.push(
                Series::new(
                    &format!("{}: every round", run.mode.name()),
                    Style::LinePoints,
                    end,
                )
                .colored(slot(run.mode)),
            );
            continue;
        }
        let label = format!("{}: round {first}", run.mode.name());
        if let Some(same) = density.series.iter_mut().find(|s| s.points == start) {
            same.name = format!("{}; {label}", same.name);
        } else {
            density
                .series
                .push(Series::new(&label, Style::Line, start).colored(slot(run.mode)));
        }
        density.series.push(
            Series::new(
                &format!("{}: round {last}", run.mode.name()),
                Style::LinePoints,
                end,
            )
            .colored(slot(run.mode)),
        );
    }
    density.bands = vec![region_band.clone(), keys_band.clone()];
    headroom(&mut copies, 0.6);
    headroom(&mut distance, 0.4);
    headroom(&mut hops, 0.6);
    headroom(&mut churned, 0.6);
    let mut plots = vec![copies, distance, hops, churned, density];
    for run in &m.runs {
        let mut plot = Plot::new(
            &format!("placement-{}.svg", run.mode.file()),
            &format!("Copies of the most popular key: {}", run.mode.name()),
            "node location (fraction of the ring clockwise from the region's start)",
            "round",
        );
        plot.x_range = Some((0.0, 1.0));
        let last = run.placements.last().map_or(0.0, |(r, _)| f64::from(*r));
        let pad = 0.5 + last / 40.0;
        plot.y_range = Some((-pad, last + pad));
        let points = run
            .placements
            .iter()
            .flat_map(|(r, hs)| {
                hs.iter()
                    .filter(|h| h.top)
                    .map(move |h| (h.offset, f64::from(*r)))
            })
            .collect();
        plot.series =
            vec![Series::new("a node holding it", Style::Points, points).colored(slot(run.mode))];
        plot.bands = vec![region_band.clone(), keys_band.clone()];
        plots.push(plot);
    }

    Report {
        tables,
        plots,
        summary: summary(params, m),
        printed: printed(params, m),
    }
}

/// The CSV tables: one per mode (a row per round), the keys, the placement
/// snapshots.
fn tables(params: &Params, m: &Migration) -> Vec<Table> {
    let w = &m.workload;
    let nodes = f64::from(params.nodes);
    let region = w.region.len() as f64;
    let mut tables = Vec::new();
    for run in &m.runs {
        let mut columns: Vec<String> = [
            "round",
            "replicas_top",
            "replicas_mean",
            "in_region_mean",
            "distance_top",
            "distance",
            "hops_mean",
            "hops_median",
            "hops_remote",
            "local",
            "success",
            "inserted_per_node",
            "evicted_per_node",
            "inserted_per_region_node",
        ]
        .iter()
        .map(|c| c.to_string())
        .collect();
        columns.extend((1..=w.keys.len()).map(|k| format!("replicas_{k}")));
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let mut t = Table::new(run.mode.file(), &names);
        for p in &run.points {
            let mut row = vec![
                f64::from(p.round),
                f64::from(p.replicas[0]),
                p.replicas_mean(),
                p.in_region_mean(),
                p.distance[0],
                p.distance_weighted(&w.weights),
                p.hops_mean(),
                p.hops_median(),
                p.hops_remote(),
                p.local(),
                p.success(),
                p.inserted as f64 / nodes,
                p.evicted as f64 / nodes,
                p.inserted_region as f64 / region,
            ];
            row.extend(p.replicas.iter().map(|&r| f64::from(r)));
            t.push(row);
        }
        tables.push(t);
    }
    let mut keys = Table::new(
        "keys",
        &[
            "rank",
            "probability",
            "offset",
            "freenet_first",
            "freenet_last",
            "chord_last",
            "chord_cache_last",
        ],
    );
    let replicas = |mode: Mode, last: bool, rank: usize| -> f64 {
        m.runs
            .iter()
            .find(|r| r.mode == mode)
            .and_then(|r| {
                if last {
                    r.points.last()
                } else {
                    r.points.first()
                }
            })
            .map_or(f64::NAN, |p| f64::from(p.replicas[rank]))
    };
    for (rank, key) in w.keys.iter().enumerate() {
        keys.push(vec![
            (rank + 1) as f64,
            w.weights[rank],
            w.key_offset(*key),
            replicas(Mode::Freenet, false, rank),
            replicas(Mode::Freenet, true, rank),
            replicas(Mode::Chord, true, rank),
            replicas(Mode::ChordCache, true, rank),
        ]);
    }
    tables.push(keys);
    let mut placement = Table::new(
        "placement",
        &[
            "mode",
            "round",
            "node",
            "offset",
            "popular_keys",
            "holds_top",
        ],
    );
    for run in &m.runs {
        for (round, holders) in &run.placements {
            for h in holders {
                placement.push(vec![
                    run.mode as usize as f64,
                    f64::from(*round),
                    f64::from(h.node.0),
                    h.offset,
                    f64::from(h.popular),
                    f64::from(u8::from(h.top)),
                ]);
            }
        }
    }
    tables.push(placement);
    tables
}

/// The headline figures and the parameters.
fn summary(params: &Params, m: &Migration) -> serde_json::Value {
    let w = &m.workload;
    let weights = &w.weights;
    let nodes = f64::from(params.nodes);
    let region = w.region.len() as f64;
    let figures = |run: &Run| -> serde_json::Value {
        let first = run.points.first();
        let second = run.points.get(1);
        let last = run.points.last();
        let rounds = &run.points[1.min(run.points.len())..];
        let mean = |f: &dyn Fn(&Point) -> f64| {
            rounds.iter().map(f).sum::<f64>() / rounds.len().max(1) as f64
        };
        let both = |f: &dyn Fn(&Point) -> f64, from: Option<&Point>| json!({ "first": from.map(f), "last": last.map(f) });
        json!({
            "inserted_keys": run.inserted,
            "closeness": {
                "within_region": run.closeness.within_region,
                "region_to_all": run.closeness.region_to_all,
                "region_to_inserter": run.closeness.region_to_inserter,
            },
            "replicas_top": both(&|p| f64::from(p.replicas[0]), first),
            "replicas_mean": both(&Point::replicas_mean, first),
            "in_region_mean": both(&Point::in_region_mean, first),
            "distance": both(&|p| p.distance_weighted(weights), first),
            "hops_mean": both(&Point::hops_mean, second),
            "hops_remote": both(&Point::hops_remote, second),
            "local": both(&Point::local, second),
            "success": mean(&Point::success),
            "inserted_per_node_per_round": mean(&|p| p.inserted as f64 / nodes),
            "evicted_per_node_per_round": mean(&|p| p.evicted as f64 / nodes),
            "inserted_per_region_node_per_round": mean(&|p| p.inserted_region as f64 / region),
        })
    };
    let mut by_mode = serde_json::Map::new();
    for run in &m.runs {
        by_mode.insert(run.mode.file().to_string(), figures(run));
    }
    json!({
        "scenario": "cache-migration",
        "params": {
            "seed": params.seed, "nodes": params.nodes, "converge_steps": params.converge_steps,
            "keys": params.keys, "zipf": params.zipf, "region": params.region, "rounds": params.rounds,
            "requests": params.requests, "store": params.store, "cache": params.cache,
            "replicas": params.replicas, "htl": params.htl,
        },
        "workload": {
            "region_start": w.start.as_fraction(),
            "region_span": w.offset(*w.region.last().expect("a region")),
            "inserter": w.inserter.0,
            "inserter_offset": w.offset(w.inserter),
        },
        "freenet_converged": {
            "median_pathlength": m.converged.quantile(0.5),
            "success": m.converged.success(),
        },
        "modes": serde_json::Value::Object(by_mode),
    })
}

/// The table printed to stdout: each mode at its start, first, middle and
/// last rounds.
fn printed(params: &Params, m: &Migration) -> String {
    let w = &m.workload;
    let mut at = vec![0, 1, params.rounds / 2, params.rounds];
    at.dedup();
    let or_dash = |v: f64, text: String| if v.is_nan() { "-".to_string() } else { text };
    let mut rows = Vec::new();
    for run in &m.runs {
        for p in run.points.iter().filter(|p| at.contains(&p.round)) {
            let d = p.distance_weighted(&w.weights);
            rows.push(vec![
                run.mode.name().to_string(),
                p.round.to_string(),
                p.replicas[0].to_string(),
                format!("{:.1}", p.replicas_mean()),
                format!("{:.1}", p.in_region_mean()),
                or_dash(d, format!("{d:.2}")),
                or_dash(p.hops_mean(), format!("{:.2}", p.hops_mean())),
                or_dash(p.hops_remote(), format!("{:.2}", p.hops_remote())),
                or_dash(p.local(), format!("{:.0}%", 100.0 * p.local())),
                or_dash(p.success(), format!("{:.1}%", 100.0 * p.success())),
                format!("{:.3}", p.inserted as f64 / f64::from(params.nodes)),
            ]);
        }
    }
    let freenet = m.runs.iter().find(|r| r.mode == Mode::Freenet);
    let close = |f: fn(&Closeness) -> f64| {
        freenet.map_or(String::new(), |r| format!("{:.2}", f(&r.closeness)))
    };
    format!(
        "{}\nregion: {} nodes from ring offset {} to {}; popular keys inserted by node {} at offset {}\n\
         Freenet network converged: median pathlength {}, success {:.1}%; reference hops \
         within the region {}, from the region to any node {}\n",
        format_table(
            &[
                "mode",
                "round",
                "top copies",
                "mean copies",
                "in region",
                "distance",
                "hops",
                "remote hops",
                "local",
                "success",
                "new/node",
            ],
            &rows
        ),
        w.region.len(),
        fmt_num(w.offset(w.region[0])),
        fmt_num(w.offset(*w.region.last().expect("a region"))),
        w.inserter.0,
        fmt_num(w.offset(w.inserter)),
        fmt_num(m.converged.quantile(0.5)),
        100.0 * m.converged.success(),
        close(|c| c.within_region),
        close(|c| c.region_to_all),
    )
}
