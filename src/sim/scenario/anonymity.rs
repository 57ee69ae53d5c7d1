//! `anonymity`: what passive adversary nodes learn about who asked for what.
//!
//! A fraction `f` of the nodes log every request delivered to them (its
//! sender, its hops to live, its key) and pool their logs. Honest nodes make
//! requests; two attackers then name originators:
//!
//! - **naive**: a request that arrives at the highest HTL came from its
//!   originator, so its sender is named;
//! - **statistical**, after Levine, Liberatore, Lynn and Wright (CCS 2020):
//!   for a known splitfile of `B` blocks, a neighbour that sends an
//!   adversary more of the file's block requests than a relayer plausibly
//!   would is named as the downloader (a binomial test, below).
//!
//! Both are scored against the truth the simulator knows (every outcome
//! carries its originator and request ids): precision is the share of
//! names that are right, recall the share of requests (or downloads) whose
//! originator was named. Five settings are compared, on the same nodes at
//! the same locations, with the same adversaries and the same honest
//! requests: Freenet mode on a network converged by the paper's workload,
//! with the per-link HTL coin on (the real node's defaults) and off; Chord
//! on a stable ring; and Freenet on a navigable small world where every
//! node has about `peers` peers (10: the degree behind fred's 17% figure),
//! coin on and off. Two sweeps on the small world show what moves the naive
//! attacker's precision: the coin's probability and the degree.

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::convergence::{self, Converged};
use super::{Report, chord_ring, node_location, probe};
use crate::key::Location;
use crate::routing::{ChordConfig, ClientOp, Config, Msg, PeerId, Protocol, RequestId};
use crate::sim::content::{VirtualContent, VirtualKey};
use crate::sim::engine::{Latency, Network, Observed, Outcome, SimChord, SimCore};
use crate::sim::report::{Plot, Scale, Series, Style, Table, fmt_num, format_table};

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
    /// Single-block requests by honest nodes per run (naive attacker).
    pub requests: usize,
    /// Splitfile downloads by honest nodes per run (statistical attacker).
    pub downloads: usize,
    /// Blocks per splitfile (`B`).
    pub blocks: usize,
    /// Peers per node in the small-world network.
    pub peers: u32,
    /// False-positive rate the statistical attacker's threshold allows
    /// for a relaying neighbour.
    pub false_positive: f64,
    /// HTL values the statistical attacker counts: a request counts if it
    /// arrives within this many of the highest (2: max and max − 1).
    pub htl_window: u8,
    /// Adversary share for the coin and degree sweeps.
    pub sweep_fraction: f64,
    /// Probabilities of decrementing at max HTL in the coin sweep.
    pub sweep_coins: Vec<f64>,
    /// Peers per node in the degree sweep.
    pub sweep_peers: Vec<u32>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            nodes: 1000,
            steps: 5000,
            fractions: vec![0.01, 0.02, 0.05, 0.1, 0.2],
            requests: 4000,
            downloads: 50,
            blocks: 100,
            peers: 10,
            false_positive: 0.01,
            htl_window: 2,
            sweep_fraction: 0.1,
            sweep_coins: vec![0.1, 0.25, 0.5, 0.75, 1.0],
            sweep_peers: vec![4, 6, 10, 20, 40],
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

    /// How many runs [`run`] makes (what its `tick` counts up to).
    pub fn runs(&self) -> u64 {
        (self.fractions.len() * Setting::ALL.len()
            + self.sweep_coins.len()
            + self.sweep_peers.len()) as u64
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

/// The real node's settings with the HTL coin on (`Config::default()`), or
/// off: every link always decrements, at max HTL and at 1 alike.
pub fn node_config(coin: bool) -> Config {
    let config = Config::default();
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

/// A network and mode measured against every fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// Freenet mode on the converged network; `coin`: the per-link HTL coin.
    Freenet {
        /// Whether the HTL coin is on.
        coin: bool,
    },
    /// Chord mode on a stable ring.
    Chord,
    /// Freenet mode on the small world of `peers` peers per node.
    SmallWorld {
        /// Whether the HTL coin is on.
        coin: bool,
    },
}

impl Setting {
    /// Every setting, in report order.
    pub const ALL: [Setting; 5] = [
        Setting::Freenet { coin: true },
        Setting::Freenet { coin: false },
        Setting::Chord,
        Setting::SmallWorld { coin: true },
        Setting::SmallWorld { coin: false },
    ];

    /// File stem of its CSV table.
    pub fn file(self) -> &'static str {
        match self {
            Setting::Freenet { coin: true } => "freenet-coin-on",
            Setting::Freenet { coin: false } => "freenet-coin-off",
            Setting::Chord => "chord",
            Setting::SmallWorld { coin: true } => "small-world-coin-on",
            Setting::SmallWorld { coin: false } => "small-world-coin-off",
        }
    }

    /// Name in tables and legends.
    pub fn label(self, peers: u32) -> String {
        let coin = |on: bool| if on { "coin on" } else { "coin off" };
        match self {
            Setting::Freenet { coin: c } => format!("Freenet, {}", coin(c)),
            Setting::Chord => "Chord".to_string(),
            Setting::SmallWorld { coin: c } => format!("Freenet {peers} peers, {}", coin(c)),
        }
    }
}

/// What the honest nodes do in one run. One plan per fraction is shared by
/// every setting, so settings differ only in how they route.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Single-block requests: who asks, for what.
    pub requests: Vec<(PeerId, VirtualKey)>,
    /// Splitfile downloads.
    pub downloads: Vec<Download>,
}

/// One splitfile download: a publisher inserts its blocks (where the
/// setting stores data), then a downloader requests each of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Download {
    /// Who inserts the file.
    pub publisher: PeerId,
    /// Who requests every block: the one the statistical attacker hunts.
    pub downloader: PeerId,
    /// The file's block keys, which the attacker knows.
    pub keys: Vec<VirtualKey>,
}

/// How an attacker did: names made, names right, and how many of the
/// targets (requests, or downloads) it named correctly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Names made: distinct (request or file, suspect) pairs.
    pub guesses: usize,
    /// Names that were the true originator.
    pub correct: usize,
    /// Honest requests that left their node (naive), or downloads
    /// (statistical).
    pub targets: usize,
    /// Targets whose originator was named.
    pub detected: usize,
    /// Targets an adversary saw at all (naive: any hop of the request;
    /// statistical: a block request straight from the downloader).
    pub seen: usize,
}

impl Score {
    /// Share of names that were right; NaN when none was made.
    pub fn precision(&self) -> f64 {
        if self.guesses == 0 {
            f64::NAN
        } else {
            self.correct as f64 / self.guesses as f64
        }
    }

    /// Share of targets whose originator was named.
    pub fn recall(&self) -> f64 {
        if self.targets == 0 {
            f64::NAN
        } else {
            self.detected as f64 / self.targets as f64
        }
    }

    /// Adds another run's counts (to pool runs).
    pub fn add(&mut self, other: &Score) {
        self.guesses += other.guesses;
        self.correct += other.correct;
        self.targets += other.targets;
        self.detected += other.detected;
        self.seen += other.seen;
    }
}

/// Both attackers' scores in one run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    /// The naive attacker, on the single-block requests.
    pub naive: Score,
    /// The statistical attacker, on the downloads.
    pub statistical: Score,
    /// Mean peer count when the downloads started, as the statistical
    /// attacker took it.
    pub mean_degree: f64,
}

/// What the attackers know of the protocol.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attack {
    /// The mode's highest HTL (what an originator sends).
    pub max_htl: u8,
    /// Statistical attacker: HTL values counted below and at the highest.
    pub htl_window: u8,
    /// Statistical attacker: false-positive rate allowed per relaying
    /// neighbour and file.
    pub false_positive: f64,
}

// ---------------------------------------------------------------------------
// The attackers

/// The naive attacker: every request an adversary receives at the highest
/// HTL names its sender as the originator. The adversaries pool their logs,
/// so a sender that is itself an adversary is never named (they know they
/// only relay), and a pair named twice counts once. Returns the distinct
/// (request id, suspect) pairs.
pub fn naive_guesses(
    observed: &[Observed<VirtualContent>],
    adversary: &[bool],
    max_htl: u8,
) -> BTreeSet<(RequestId, PeerId)> {
    observed
        .iter()
        .filter_map(|o| match o.msg {
            Msg::Request { id, htl, .. } if htl >= max_htl && !adversary[o.from.0 as usize] => {
                Some((id, o.from))
            }
            _ => None,
        })
        .collect()
}

/// Scores naive guesses against the outcomes of the requests made. A
/// request answered from its originator's own store sent nothing, so no
/// observer could see it: it is not a target.
pub fn score_naive(
    guesses: &BTreeSet<(RequestId, PeerId)>,
    observed: &[Observed<VirtualContent>],
    outcomes: &[Outcome<VirtualContent>],
) -> Score {
    let mut origin: BTreeMap<RequestId, (usize, PeerId)> = BTreeMap::new();
    let mut targets = 0;
    for outcome in outcomes.iter().filter(|o| !o.ids.is_empty()) {
        for &id in &outcome.ids {
            origin.insert(id, (targets, PeerId(outcome.node)));
        }
        targets += 1;
    }
    let mut detected = vec![false; targets];
    let mut correct = 0;
    for (id, suspect) in guesses {
        if let Some(&(target, truth)) = origin.get(id)
            && truth == *suspect
        {
            correct += 1;
            detected[target] = true;
        }
    }
    let mut seen = vec![false; targets];
    for o in observed {
        if let Msg::Request { id, .. } = o.msg
            && let Some(&(target, _)) = origin.get(&id)
        {
            seen[target] = true;
        }
    }
    Score {
        guesses: guesses.len(),
        correct,
        targets,
        detected: detected.iter().filter(|&&d| d).count(),
        seen: seen.iter().filter(|&&s| s).count(),
    }
}

/// The smallest count `t` such that a binomial `Bin(n, p)` reaches `t` or
/// more with probability at most `alpha`; `n + 1` if no count is that
/// unlikely. Summed in log space from the top, so that large `n` neither
/// underflows nor loses the tail to cancellation.
pub fn binomial_threshold(n: usize, p: f64, alpha: f64) -> usize {
    if p <= 0.0 {
        return 1;
    }
    if p >= 1.0 {
        return n + 1;
    }
    // log P[X = k], by the ratio P[k+1]/P[k] = (n-k)/(k+1) * p/(1-p).
    let mut log_pmf = Vec::with_capacity(n + 1);
    let mut lp = n as f64 * (1.0 - p).ln();
    let odds = (p / (1.0 - p)).ln();
    for k in 0..=n {
        log_pmf.push(lp);
        lp += ((n - k) as f64 / (k + 1) as f64).ln() + odds;
    }
    let mut tail = 0.0;
    for t in (0..=n).rev() {
        let with = tail + log_pmf[t].exp();
        if with > alpha {
            return t + 1;
        }
        tail = with;
    }
    0
}

/// The relay hypothesis's chance that one block request of a file reaches
/// adversary `a` from neighbour `v` at high HTL: the downloader, at best a
/// neighbour of `v` with `mean_degree` peers, sends `v` one block in
/// `mean_degree`, and `v` passes one in `degree(v)` of those to `a`. A
/// downloader itself sends `a` one block in `degree(v)`: `mean_degree`
/// times more.
pub fn relay_probability(degree: usize, mean_degree: f64) -> f64 {
    1.0 / (degree.max(1) as f64 * mean_degree.max(1.0))
}

/// The statistical attacker. For each file, adversary and sending
/// neighbour it counts the file's distinct blocks requested within the
/// HTL window, and names the neighbour as the file's downloader when the
/// count reaches the binomial threshold of [`relay_probability`] at the
/// attack's false-positive rate. `degrees[v]` is node `v`'s peer count,
/// which the attacker is taken to know (fred tells its peers its peer
/// count). Returns the distinct (file index, suspect) pairs.
pub fn statistical_accusations(
    observed: &[Observed<VirtualContent>],
    files: &[Vec<VirtualKey>],
    adversary: &[bool],
    degrees: &[usize],
    attack: &Attack,
) -> BTreeSet<(usize, PeerId)> {
    let file_of: BTreeMap<VirtualKey, usize> = files
        .iter()
        .enumerate()
        .flat_map(|(i, keys)| keys.iter().map(move |&k| (k, i)))
        .collect();
    let lowest = attack
        .max_htl
        .saturating_sub(attack.htl_window.saturating_sub(1));
    let mut counts: BTreeMap<(usize, PeerId, PeerId), BTreeSet<VirtualKey>> = BTreeMap::new();
    for o in observed {
        if let Msg::Request { key, htl, .. } = o.msg
            && htl >= lowest
            && !adversary[o.from.0 as usize]
            && let Some(&file) = file_of.get(&key)
        {
            counts
                .entry((file, o.at_node, o.from))
                .or_default()
                .insert(key);
        }
    }
    let mean_degree = degrees.iter().sum::<usize>() as f64 / degrees.len().max(1) as f64;
    let mut thresholds: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut accused = BTreeSet::new();
    for ((file, _, from), keys) in counts {
        let blocks = files[file].len();
        let degree = degrees[from.0 as usize];
        let t = *thresholds.entry((blocks, degree)).or_insert_with(|| {
            binomial_threshold(
                blocks,
                relay_probability(degree, mean_degree),
                attack.false_positive,
            )
        });
        if keys.len() >= t {
            accused.insert((file, from));
        }
    }
    accused
}

/// Scores accusations against the true downloaders (`downloaders[i]`
/// fetched file `i`).
pub fn score_statistical(
    accused: &BTreeSet<(usize, PeerId)>,
    observed: &[Observed<VirtualContent>],
    files: &[Vec<VirtualKey>],
    downloaders: &[PeerId],
) -> Score {
    let correct: BTreeSet<usize> = accused
        .iter()
        .filter(|(file, suspect)| downloaders[*file] == *suspect)
        .map(|(file, _)| *file)
        .collect();
    let file_of: BTreeMap<VirtualKey, usize> = files
        .iter()
        .enumerate()
        .flat_map(|(i, keys)| keys.iter().map(move |&k| (k, i)))
        .collect();
    let seen: BTreeSet<usize> = observed
        .iter()
        .filter_map(|o| match o.msg {
            Msg::Request { key, .. } => file_of
                .get(&key)
                .copied()
                .filter(|&f| downloaders[f] == o.from),
            _ => None,
        })
        .collect();
    Score {
        guesses: accused.len(),
        correct: correct.len(),
        targets: downloaders.len(),
        detected: correct.len(),
        seen: seen.len(),
    }
}

// ---------------------------------------------------------------------------
// Running a plan

/// Peer counts of a Freenet-mode network: distinct peers in each routing
/// table.
pub fn freenet_degrees(net: &Network<SimCore<VirtualContent>>) -> Vec<usize> {
    net.nodes()
        .map(|(id, node)| {
            let peers: BTreeSet<PeerId> = node
                .table()
                .iter()
                .map(|(_, p)| p)
                .filter(|&p| p != id)
                .collect();
            peers.len()
        })
        .collect()
}

/// Peer counts of a Chord-mode network: distinct nodes among each node's
/// predecessor, successors and fingers.
pub fn chord_degrees(net: &Network<SimChord<VirtualContent>>) -> Vec<usize> {
    net.nodes()
        .map(|(id, node)| {
            let peers: BTreeSet<PeerId> = node
                .predecessor()
                .iter()
                .chain(node.successors())
                .chain(node.fingers().iter().flatten())
                .map(|r| r.peer)
                .filter(|&p| p != id)
                .collect();
            peers.len()
        })
        .collect()
}

/// Runs `plan` on `net` with `adversaries` watching, and scores both
/// attackers. Requests run one at a time, each to completion. With
/// `publish`, each download's publisher first inserts the file's blocks;
/// without, the blocks are requested though nobody stores them (a request
/// is observed the same way whether or not it will be answered).
/// `degrees_of` gives each node's peer count, as the statistical attacker
/// knows it; it is asked when the downloads start.
pub fn measure<P>(
    net: &mut Network<P>,
    adversaries: &[PeerId],
    plan: &Plan,
    publish: bool,
    attack: &Attack,
    degrees_of: impl FnOnce(&Network<P>) -> Vec<usize>,
) -> Measured
where
    P: Protocol<Content = VirtualContent> + Clone + std::fmt::Debug,
{
    let mut adversary = vec![false; net.len()];
    for &a in adversaries {
        adversary[a.0 as usize] = true;
        net.watch(a);
    }
    net.take_observed();

    let outcomes: Vec<Outcome<VirtualContent>> = plan
        .requests
        .iter()
        .map(|&(node, key)| net.run_op(node, ClientOp::Get { key, htl: None }))
        .collect();
    let observed = net.take_observed();
    let guesses = naive_guesses(&observed, &adversary, attack.max_htl);
    let naive = score_naive(&guesses, &observed, &outcomes);

    let degrees = degrees_of(net);
    let mut observed = Vec::new();
    for download in &plan.downloads {
        if publish {
            for &key in &download.keys {
                net.run_op(
                    download.publisher,
                    ClientOp::Put {
                        key,
                        data: (),
                        htl: None,
                    },
                );
            }
            // The inserts are not requests; the attackers ignore them.
            net.take_observed();
        }
        for &key in &download.keys {
            net.run_op(download.downloader, ClientOp::Get { key, htl: None });
        }
        observed.extend(net.take_observed());
    }
    let files: Vec<Vec<VirtualKey>> = plan.downloads.iter().map(|d| d.keys.clone()).collect();
    let downloaders: Vec<PeerId> = plan.downloads.iter().map(|d| d.downloader).collect();
    let accused = statistical_accusations(&observed, &files, &adversary, &degrees, attack);
    let statistical = score_statistical(&accused, &observed, &files, &downloaders);
    Measured {
        naive,
        statistical,
        mean_degree: degrees.iter().sum::<usize>() as f64 / degrees.len().max(1) as f64,
    }
}

/// A random plan: `requests` requests by honest nodes for keys drawn from
/// `keys`, and `downloads` splitfiles of `blocks` fresh random keys, each
/// published and downloaded by two different honest nodes.
pub fn plan<R: Rng>(
    rng: &mut R,
    honest: &[PeerId],
    keys: &[VirtualKey],
    requests: usize,
    downloads: usize,
    blocks: usize,
) -> Plan {
    let requests = (0..requests)
        .map(|_| {
            let node = *honest.choose(rng).expect("honest nodes");
            let key = match keys.choose(rng) {
                Some(&k) => k,
                None => VirtualKey(rng.r#gen()),
            };
            (node, key)
        })
        .collect();
    let downloads = (0..downloads)
        .map(|_| {
            let two: Vec<PeerId> = honest.choose_multiple(rng, 2).copied().collect();
            Download {
                publisher: two[0],
                downloader: two[1],
                keys: (0..blocks).map(|_| VirtualKey(rng.r#gen())).collect(),
            }
        })
        .collect();
    Plan {
        requests,
        downloads,
    }
}

// ---------------------------------------------------------------------------
// Networks

/// A copy of `net` with every core's settings replaced by `config`
/// (through `Core::set_config`, so references keep their LRU order and
/// stores their contents; the tables keep their capacity).
pub fn with_config(
    net: &Network<SimCore<VirtualContent>>,
    config: Config,
) -> Network<SimCore<VirtualContent>> {
    let mut copy = net.clone();
    for i in 0..copy.len() {
        copy.node_mut(PeerId(i as u32)).set_config(config);
    }
    copy
}

/// A navigable small world (Kleinberg's ring) of `n` nodes at
/// [`node_location`]s: each node is linked both ways to its two neighbours
/// in location order, and draws `(peers − 2) / 2` long-range contacts at
/// a ring distance `d` (counted in nodes) with probability proportional to
/// `1/d`, also linked both ways; so the mean degree is `peers` for even
/// `peers`. Greedy routing on such a graph finds any node in
/// O(log² n) hops: the topology fred's darknet routing assumes.
pub fn small_world(
    seed: u64,
    n: u32,
    peers: u32,
    config: Config,
    store_items: usize,
) -> Network<SimCore<VirtualContent>> {
    let mut net = Network::new(seed, Latency::default());
    for i in 0..n {
        net.add_node(config, node_location(u64::from(i)), store_items);
    }
    let n = n as usize;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| node_location(i as u64));
    let mut links: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    fn join(links: &mut [BTreeSet<usize>], a: usize, b: usize) {
        if a != b {
            links[a].insert(b);
            links[b].insert(a);
        }
    }
    for pos in 0..n {
        join(&mut links, order[pos], order[(pos + 1) % n]);
    }
    let half = (n / 2).max(1);
    let cumulative: Vec<f64> = (1..=half)
        .scan(0.0, |sum, d| {
            *sum += 1.0 / d as f64;
            Some(*sum)
        })
        .collect();
    let total = cumulative[half - 1];
    let long = peers.saturating_sub(2) / 2;
    for pos in 0..n {
        for _ in 0..long {
            // A few tries to find a contact not already linked; in a small
            // or dense network some nodes end up with fewer.
            for _ in 0..32 {
                let rng = net.rng();
                let u = rng.r#gen::<f64>() * total;
                let d = cumulative.partition_point(|&c| c < u) + 1;
                let other = if rng.gen_bool(0.5) {
                    (pos + d) % n
                } else {
                    (pos + n - d % n) % n
                };
                let (a, b) = (order[pos], order[other]);
                if a != b && !links[a].contains(&b) {
                    join(&mut links, a, b);
                    break;
                }
            }
        }
    }
    for (a, peers) in links.iter().enumerate() {
        for &b in peers {
            net.link(PeerId(a as u32), PeerId(b as u32));
        }
    }
    net
}

/// How a Freenet-mode node spreads a file's blocks over its peers. For
/// `nodes` random nodes, the share of `keys` random keys whose first hop
/// (the closest reference, as routing picks it) is the node's busiest
/// peer. Returns the median of that share, and the median of
/// `1 / peers`: what it would be if blocks were spread evenly, as the
/// statistical attacker's model assumes.
pub fn first_hop_skew<R: Rng>(
    net: &Network<SimCore<VirtualContent>>,
    rng: &mut R,
    nodes: usize,
    keys: usize,
) -> (f64, f64) {
    let degrees = freenet_degrees(net);
    let mut top = Vec::with_capacity(nodes);
    let mut even = Vec::with_capacity(nodes);
    for _ in 0..nodes {
        let id = PeerId(rng.gen_range(0..net.len() as u32));
        let mut counts: BTreeMap<PeerId, usize> = BTreeMap::new();
        for _ in 0..keys {
            let target = Location(rng.r#gen());
            if let Some(peer) = net.node(id).table().closest(target, |p| p == id) {
                *counts.entry(peer).or_default() += 1;
            }
        }
        let busiest = counts.values().copied().max().unwrap_or(0);
        top.push(busiest as f64 / keys.max(1) as f64);
        even.push(1.0 / degrees[id.0 as usize].max(1) as f64);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        super::quantile(&v, 0.5)
    };
    (median(top), median(even))
}

// ---------------------------------------------------------------------------
// The experiment

/// One setting at one fraction.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The network and mode.
    pub setting: Setting,
    /// Share of nodes that are adversaries.
    pub fraction: f64,
    /// How many adversaries that is.
    pub adversaries: usize,
    /// The attackers' scores.
    pub measured: Measured,
}

/// One point of a sweep on the small world.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepPoint {
    /// The swept value: the coin's probability of decrementing at max HTL,
    /// or the peers per node.
    pub x: f64,
    /// The attackers' scores.
    pub measured: Measured,
}

/// Everything a run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    /// Every setting at every fraction.
    pub points: Vec<Point>,
    /// The small world at `sweep_fraction`, coin probability swept.
    pub coin: Vec<SweepPoint>,
    /// The small world at `sweep_fraction`, peers per node swept.
    pub degree: Vec<SweepPoint>,
    /// Success of 300 probes on the converged network under the real
    /// node's settings (coin on), with their median pathlength: that the
    /// Freenet network measured routes well.
    pub probe_success: f64,
    /// Their median pathlength.
    pub probe_median: f64,
    /// [`first_hop_skew`] of the converged network: median share of the
    /// busiest peer, and median `1 / peers`.
    pub skew_converged: (f64, f64),
    /// The same for the small world of `peers` peers.
    pub skew_small_world: (f64, f64),
}

/// A generator for one purpose of the run (adversaries, or the plan of
/// fraction `i`), independent of the networks' own generators, so every
/// setting sees the same adversaries and the same honest requests.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Runs the experiment; `tick` is called after every run with the number
/// of runs done (up to [`Params::runs`]).
pub fn run(params: &Params, mut tick: impl FnMut(u64)) -> Results {
    let n = params.nodes;
    let store = convergence::Params::default().store;
    let Converged { net, workload, .. } = convergence::converge(&params.converge(), |_| {});
    let keys = workload.keys;
    let base = |coin: bool| with_config(&net, node_config(coin));
    let freenet = [base(true), base(false)];
    drop(net);
    let live: Vec<PeerId> = (0..n).map(PeerId).collect();
    let check = probe(&freenet[0], &live, &keys, 300, Config::default().max_htl);
    let chord = chord_ring(
        params.seed,
        n,
        ChordConfig {
            maintenance: false,
            ..ChordConfig::default()
        },
        store,
        0,
        Latency::default(),
    );
    let small =
        |coin: bool, peers: u32| small_world(params.seed, n, peers, node_config(coin), store);
    let worlds = [small(true, params.peers), small(false, params.peers)];
    let mut skew_rng = stream(params.seed, 0);
    let skew_converged = first_hop_skew(&freenet[0], &mut skew_rng, 300, 1000);
    let skew_small_world = first_hop_skew(&worlds[0], &mut skew_rng, 300, 1000);

    let mut order = live.clone();
    order.shuffle(&mut stream(params.seed, 1));
    let freenet_attack = Attack {
        max_htl: Config::default().max_htl,
        htl_window: params.htl_window,
        false_positive: params.false_positive,
    };
    let chord_attack = Attack {
        max_htl: ChordConfig::default().max_htl,
        ..freenet_attack
    };
    let plan_for = |fraction: f64, index: u64| {
        let adversaries = &order[..params.adversaries(fraction)];
        let honest: Vec<PeerId> = order[adversaries.len()..].to_vec();
        let drawn = plan(
            &mut stream(params.seed, 2 + index),
            &honest,
            &keys,
            params.requests,
            params.downloads,
            params.blocks,
        );
        (adversaries.to_vec(), drawn)
    };

    let mut done = 0;
    let mut points = Vec::new();
    for (i, &fraction) in params.fractions.iter().enumerate() {
        let (adversaries, plan) = plan_for(fraction, i as u64);
        for setting in Setting::ALL {
            let measured = match setting {
                Setting::Freenet { coin } => {
                    let mut net = freenet[usize::from(!coin)].clone();
                    measure(
                        &mut net,
                        &adversaries,
                        &plan,
                        true,
                        &freenet_attack,
                        freenet_degrees,
                    )
                }
                Setting::Chord => {
                    // Without a path cache a Chord request takes the same
                    // path whether or not its key is stored, so nothing
                    // needs inserting first.
                    let mut net = chord.clone();
                    measure(
                        &mut net,
                        &adversaries,
                        &plan,
                        false,
                        &chord_attack,
                        chord_degrees,
                    )
                }
                Setting::SmallWorld { coin } => {
                    // Nothing is stored: a request that finds data adds
                    // references to its source, and the small world would
                    // grow past its degree. Unanswered requests leave the
                    // graph as built, and are observed as answered ones.
                    let mut net = worlds[usize::from(!coin)].clone();
                    measure(
                        &mut net,
                        &adversaries,
                        &plan,
                        false,
                        &freenet_attack,
                        freenet_degrees,
                    )
                }
            };
            points.push(Point {
                setting,
                fraction,
                adversaries: adversaries.len(),
                measured,
            });
            done += 1;
            tick(done);
        }
    }

    let sweep_index = params.fractions.len() as u64;
    let (adversaries, plan) = plan_for(params.sweep_fraction, sweep_index);
    let mut sweep = |x: f64, config: Config, peers: u32| {
        let mut net = small_world(params.seed, n, peers, config, store);
        let measured = measure(
            &mut net,
            &adversaries,
            &plan,
            false,
            &freenet_attack,
            freenet_degrees,
        );
        done += 1;
        tick(done);
        SweepPoint { x, measured }
    };
    let coin: Vec<SweepPoint> = params
        .sweep_coins
        .iter()
        .map(|&p| {
            let config = Config {
                decrement_at_max: p,
                ..node_config(true)
            };
            sweep(p, config, params.peers)
        })
        .collect();
    let degree: Vec<SweepPoint> = params
        .sweep_peers
        .iter()
        .map(|&peers| sweep(f64::from(peers), node_config(true), peers))
        .collect();
    Results {
        points,
        coin,
        degree,
        probe_success: check.success(),
        probe_median: check.quantile(0.5),
        skew_converged,
        skew_small_world,
    }
}

// ---------------------------------------------------------------------------
// The report

/// The candidate count behind fred's 17% figure: a neighbour with `peers`
/// peers sends a max-HTL request either as its originator or as a relay
/// for one of its `peers · (1 − p)` peers whose link keeps max HTL; if all
/// `1 + peers · (1 − p)` candidates are equally likely, the naive guess is
/// right with probability one in that many (one in six for 10 peers and
/// p = 0.5).
pub fn candidate_model(peers: f64, decrement_at_max: f64) -> f64 {
    1.0 / (1.0 + peers * (1.0 - decrement_at_max))
}

/// The traffic-weighted estimate: each max-HTL hop is followed by another
/// with probability `1 − p`, so a request is sent at max HTL `1/p` times
/// on average, once by its originator; the naive guess is right for a
/// share `p` of max-HTL sightings, whatever the degree.
pub fn chain_model(decrement_at_max: f64) -> f64 {
    decrement_at_max
}

fn pct(v: f64) -> String {
    if v.is_nan() {
        "-".to_string()
    } else {
        format!("{:.1}%", 100.0 * v)
    }
}

fn score_json(s: &Score) -> serde_json::Value {
    json!({
        "guesses": s.guesses, "correct": s.correct, "precision": s.precision(),
        "targets": s.targets, "detected": s.detected, "recall": s.recall(), "seen": s.seen,
    })
}

/// A setting's scores pooled over every fraction: naive, statistical.
fn pooled(points: &[Point], setting: Setting) -> (Score, Score) {
    let (mut naive, mut statistical) = (Score::default(), Score::default());
    for p in points.iter().filter(|p| p.setting == setting) {
        naive.add(&p.measured.naive);
        statistical.add(&p.measured.statistical);
    }
    (naive, statistical)
}

/// Top of the plots' share axis: above 1, so that the legend (drawn in
/// the upper right) does not hide the series that sit at 1.
const TOP: f64 = 1.4;

/// Tables, plots and summary of a run.
pub fn report(params: &Params, results: &Results) -> Report {
    let columns = [
        "fraction",
        "adversaries",
        "mean_degree",
        "naive_guesses",
        "naive_correct",
        "naive_precision",
        "naive_requests",
        "naive_detected",
        "naive_recall",
        "naive_seen",
        "stat_accusations",
        "stat_correct",
        "stat_precision",
        "stat_downloads",
        "stat_detected",
        "stat_recall",
        "stat_seen",
    ];
    let row = |x: Vec<f64>, m: &Measured| {
        let (a, b) = (&m.naive, &m.statistical);
        let mut r = x;
        r.extend([
            a.guesses as f64,
            a.correct as f64,
            a.precision(),
            a.targets as f64,
            a.detected as f64,
            a.recall(),
            a.seen as f64,
            b.guesses as f64,
            b.correct as f64,
            b.precision(),
            b.targets as f64,
            b.detected as f64,
            b.recall(),
            b.seen as f64,
        ]);
        r
    };
    let mut tables = Vec::new();
    for setting in Setting::ALL {
        let mut table = Table::new(setting.file(), &columns);
        for p in results.points.iter().filter(|p| p.setting == setting) {
            table.push(row(
                vec![p.fraction, p.adversaries as f64, p.measured.mean_degree],
                &p.measured,
            ));
        }
        tables.push(table);
    }
    let mut sweep_columns = vec!["x", "mean_degree"];
    sweep_columns.extend(&columns[3..]);
    for (name, x, sweep) in [
        ("coin", "decrement_at_max", &results.coin),
        ("degree", "peers", &results.degree),
    ] {
        sweep_columns[0] = x;
        let mut table = Table::new(name, &sweep_columns);
        for s in sweep {
            table.push(row(vec![s.x, s.measured.mean_degree], &s.measured));
        }
        tables.push(table);
    }

    let series = |setting: Setting, statistical: bool, recall: bool| {
        let attacker = if statistical { "statistical" } else { "naive" };
        Series::new(
            &format!("{}: {attacker}", setting.label(params.peers)),
            Style::LinePoints,
            results
                .points
                .iter()
                .filter(|p| p.setting == setting)
                .map(|p| {
                    let s = if statistical {
                        &p.measured.statistical
                    } else {
                        &p.measured.naive
                    };
                    (p.fraction, if recall { s.recall() } else { s.precision() })
                })
                .collect(),
        )
    };
    let main = [
        Setting::Freenet { coin: true },
        Setting::Freenet { coin: false },
        Setting::Chord,
    ];
    let figure = |file: &str, title: &str, y: &str, settings: &[Setting], recall: bool| {
        let mut plot = Plot::new(file, title, "fraction of nodes that are adversaries", y);
        // A log axis to 1 spreads the fractions evenly and leaves the upper
        // right, where the legend goes, free of data.
        plot.x_scale = Scale::Log;
        plot.x_range = Some((0.008, 1.0));
        plot.y_range = Some((0.0, 1.05));
        plot.series = settings
            .iter()
            .flat_map(|&s| [series(s, false, recall), series(s, true, recall)])
            .collect();
        plot
    };
    let n = params.nodes;
    let precision = figure(
        "precision.svg",
        &format!("Precision of the attackers ({n} nodes)"),
        "share of named originators that are right",
        &main,
        false,
    );
    let recall = figure(
        "recall.svg",
        &format!("Recall of the attackers ({n} nodes)"),
        "share of requests (naive) or downloads (statistical) traced",
        &main,
        true,
    );
    let peers = params.peers;
    let small = figure(
        "small-world.svg",
        &format!("Precision on a small world of {peers} peers per node ({n} nodes)"),
        "share of named originators that are right",
        &[
            Setting::SmallWorld { coin: true },
            Setting::SmallWorld { coin: false },
        ],
        false,
    );
    let f = params.sweep_fraction;
    let measured_series = |sweep: &[SweepPoint], statistical: bool| {
        let name = if statistical {
            "statistical attacker (measured)"
        } else {
            "naive attacker (measured)"
        };
        Series::new(
            name,
            Style::LinePoints,
            sweep
                .iter()
                .map(|s| {
                    let score = if statistical {
                        &s.measured.statistical
                    } else {
                        &s.measured.naive
                    };
                    (s.x, score.precision())
                })
                .collect(),
        )
    };
    let mut coin = Plot::new(
        "coin.svg",
        &format!(
            "Precision against the HTL coin ({peers} peers, {:.0}% adversaries)",
            100.0 * f
        ),
        "probability that a link decrements a request at max HTL",
        "share of named originators that are right",
    );
    coin.y_range = Some((0.0, TOP));
    let fine: Vec<f64> = (2..=20).map(|i| f64::from(i) / 20.0).collect();
    coin.series = vec![
        measured_series(&results.coin, false),
        measured_series(&results.coin, true),
        Series::new(
            "model: p (max-HTL chains)",
            Style::Line,
            fine.iter().map(|&p| (p, chain_model(p))).collect(),
        ),
        Series::new(
            &format!("model: 1/(1 + {peers}(1-p)) (candidate count)"),
            Style::Line,
            fine.iter()
                .map(|&p| (p, candidate_model(f64::from(peers), p)))
                .collect(),
        ),
    ];
    let mut degree = Plot::new(
        "degree.svg",
        &format!(
            "Precision against peers per node (coin 0.5, {:.0}% adversaries)",
            100.0 * f
        ),
        "peers per node",
        "share of named originators that are right",
    );
    degree.x_scale = Scale::Log;
    degree.y_range = Some((0.0, TOP));
    let half = Config::default().decrement_at_max;
    let span: Vec<f64> = results.degree.iter().map(|s| s.x).collect();
    degree.series = vec![
        measured_series(&results.degree, false),
        measured_series(&results.degree, true),
        Series::new(
            "model: p (max-HTL chains)",
            Style::Line,
            span.iter().map(|&d| (d, chain_model(half))).collect(),
        ),
        Series::new(
            "model: 1/(1 + d(1-p)) (candidate count)",
            Style::Line,
            span.iter()
                .map(|&d| (d, candidate_model(d, half)))
                .collect(),
        ),
    ];

    let by_setting: serde_json::Map<String, serde_json::Value> = Setting::ALL
        .iter()
        .map(|&s| {
            let rows: Vec<serde_json::Value> = results
                .points
                .iter()
                .filter(|p| p.setting == s)
                .map(|p| {
                    json!({ "fraction": p.fraction, "adversaries": p.adversaries,
                            "mean_degree": p.measured.mean_degree,
                            "naive": score_json(&p.measured.naive),
                            "statistical": score_json(&p.measured.statistical) })
                })
                .collect();
            let all = pooled(&results.points, s);
            (
                s.file().to_string(),
                json!({ "label": s.label(params.peers), "fractions": rows,
                        "pooled": { "naive": score_json(&all.0),
                                    "statistical": score_json(&all.1) } }),
            )
        })
        .collect();
    let sweep_json = |sweep: &[SweepPoint]| -> serde_json::Value {
        sweep
            .iter()
            .map(|s| {
                json!({ "x": s.x, "mean_degree": s.measured.mean_degree,
                        "naive": score_json(&s.measured.naive),
                        "statistical": score_json(&s.measured.statistical) })
            })
            .collect()
    };
    let ten = pooled(&results.points, Setting::SmallWorld { coin: true });
    let summary = json!({
        "scenario": "anonymity",
        "params": {
            "seed": params.seed, "nodes": params.nodes, "steps": params.steps,
            "fractions": params.fractions, "requests": params.requests,
            "downloads": params.downloads, "blocks": params.blocks, "peers": params.peers,
            "false_positive": params.false_positive, "htl_window": params.htl_window,
            "sweep_fraction": params.sweep_fraction, "sweep_coins": params.sweep_coins,
            "sweep_peers": params.sweep_peers,
        },
        "freenet_routing": { "probe_success": results.probe_success,
                             "probe_median_pathlength": results.probe_median },
        "first_hop_skew": {
            "converged": { "busiest_peer_share": results.skew_converged.0,
                           "even_share": results.skew_converged.1 },
            "small_world": { "busiest_peer_share": results.skew_small_world.0,
                             "even_share": results.skew_small_world.1 },
        },
        "settings": by_setting,
        "sweeps": { "coin": sweep_json(&results.coin), "degree": sweep_json(&results.degree) },
        "naive_precision_small_world_coin_on": {
            "peers": params.peers, "pooled": ten.0.precision(),
            "candidate_model": candidate_model(f64::from(params.peers), half),
            "chain_model": chain_model(half),
        },
    });

    let rows: Vec<Vec<String>> = results
        .points
        .iter()
        .map(|p| {
            let (a, b) = (&p.measured.naive, &p.measured.statistical);
            vec![
                p.setting.label(params.peers),
                format!("{:.0}%", 100.0 * p.fraction),
                pct(a.precision()),
                pct(a.recall()),
                a.guesses.to_string(),
                pct(b.precision()),
                pct(b.recall()),
                b.guesses.to_string(),
            ]
        })
        .collect();
    let sweep_rows = |sweep: &[SweepPoint], x: &dyn Fn(f64) -> String| -> Vec<Vec<String>> {
        sweep
            .iter()
            .map(|s| {
                vec![
                    x(s.x),
                    format!("{:.1}", s.measured.mean_degree),
                    pct(s.measured.naive.precision()),
                    pct(s.measured.naive.recall()),
                    pct(s.measured.statistical.precision()),
                    pct(s.measured.statistical.recall()),
                ]
            })
            .collect()
    };
    let sweep_headers = |x: &'static str| {
        [
            x,
            "peers",
            "naive prec.",
            "naive recall",
            "stat. prec.",
            "stat. recall",
        ]
    };
    let printed = format!(
        "{}\n{}\n{}\nnaive precision at {peers} peers, coin on: {} (pooled over fractions; \
         candidate count 1/(1+{peers}/2) = {}, chain model p = {})\n\
         Freenet network under real settings: probe success {}, median {} hops\n\
         a node's busiest peer gets {} of its blocks in the converged network (even: {}), \
         {} at {peers} peers (even: {})\n",
        format_table(
            &[
                "setting",
                "f",
                "naive prec.",
                "naive recall",
                "names",
                "stat. prec.",
                "stat. recall",
                "names",
            ],
            &rows
        ),
        format_table(
            &sweep_headers("coin p"),
            &sweep_rows(&results.coin, &|x| fmt_num(x))
        ),
        format_table(
            &sweep_headers("target"),
            &sweep_rows(&results.degree, &|x| fmt_num(x))
        ),
        pct(ten.0.precision()),
        pct(candidate_model(f64::from(peers), half)),
        pct(chain_model(half)),
        pct(results.probe_success),
        fmt_num(results.probe_median),
        pct(results.skew_converged.0),
        pct(results.skew_converged.1),
        pct(results.skew_small_world.0),
        pct(results.skew_small_world.1),
    );
    Report {
        tables,
        plots: vec![precision, recall, small, coin, degree],
        summary,
        printed,
    }
}
