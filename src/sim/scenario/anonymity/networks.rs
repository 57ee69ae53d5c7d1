//! The networks the study runs on, beyond the converged one: the real
//! node's settings on a trained network, and a navigable small world.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;

use super::observe::degrees;
use crate::key::Location;
use crate::routing::{Config, PeerId};
use crate::sim::content::VirtualContent;
use crate::sim::engine::{Latency, Network, SimCore};
use crate::sim::scenario::{node_location, quantile};

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
    let degrees = degrees(net);
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
        quantile(&v, 0.5)
    };
    (median(top), median(even))
}
