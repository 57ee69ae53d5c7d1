//! `scalability`: the 2001 paper's second experiment. A network grows from
//! a small lattice by announcements while the workload runs; probes at
//! each doubling measure how pathlength grows with size.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use serde_json::json;

use super::{Probe, Report, Workload, probe_table, ring_lattice};
use crate::key::Location;
use crate::routing::{ClientOp, ClientResult, Config, PeerId};
use crate::sim::content::{VirtualContent, VirtualKey};
use crate::sim::engine::{Network, SimCore};
use crate::sim::report::{Plot, Scale, Series, Style, fmt_num, format_table};

/// The experiment's settings; `Default` follows the paper.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Seed of every random choice.
    pub seed: u64,
    /// Size of the starting lattice.
    pub start: u32,
    /// Size to grow to.
    pub nodes: u32,
    /// Workload steps between two joins.
    pub steps_per_join: u32,
    /// Hops to live of workload requests and inserts.
    pub htl: u8,
    /// Hops to live of announcements.
    pub announce_htl: u8,
    /// Datastore size, in items.
    pub store: usize,
    /// Routing table size.
    pub table: usize,
    /// Requests per probe.
    pub probes: usize,
    /// Hops to live of probes.
    pub probe_htl: u8,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            start: 20,
            nodes: 10_000,
            steps_per_join: 5,
            htl: 20,
            announce_htl: 10,
            store: 50,
            table: 250,
            probes: 300,
            probe_htl: 255,
        }
    }
}

impl Params {
    fn config(&self) -> Config {
        super::paper_config(self.probe_htl.max(self.htl), self.table, 0.0)
    }
}

/// One probe at one network size.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Nodes in the network.
    pub nodes: u32,
    /// The probe, for keys drawn from every key inserted so far.
    pub probe: Probe,
    /// The same probes restricted to keys some node still stored when the
    /// probe ran: routing success, apart from data the LRU stores evicted.
    pub stored: Probe,
    /// Probes for recent keys: drawn from the keys inserted during the last
    /// `nodes / 2` joins' worth of inserts, which are still well replicated.
    pub recent: Probe,
}

/// The sizes at which to probe: the start, each doubling, and the end.
fn checkpoints(params: &Params) -> Vec<u32> {
    let mut sizes = vec![params.start];
    let mut n = params.start;
    while n < params.nodes {
        n = n.saturating_mul(2).min(params.nodes);
        sizes.push(n);
    }
    sizes
}

/// Probes on the live network: at a million nodes a snapshot copy would
/// cost gigabytes, and a few hundred probes weigh nothing against millions
/// of workload steps.
fn probe_live(
    net: &mut Network<SimCore<VirtualContent>>,
    keys: &[crate::sim::content::VirtualKey],
    params: &Params,
) -> (Probe, Probe) {
    let n = net.len() as u32;
    let picks: Vec<(PeerId, VirtualKey)> = (0..params.probes)
        .map(|_| {
            let rng = net.rng();
            let node = PeerId(rand::Rng::gen_range(rng, 0..n));
            (node, *keys.choose(rng).expect("keys were inserted"))
        })
        .collect();
    // Which keys some node still holds, before probing caches any copies.
    let wanted: BTreeSet<VirtualKey> = picks.iter().map(|&(_, k)| k).collect();
    let mut held = BTreeSet::new();
    for (_, node) in net.nodes() {
        for key in node.store().keys() {
            if wanted.contains(key) {
                held.insert(*key);
            }
        }
    }
    let (mut all, mut stored) = ((Vec::new(), 0), (Vec::new(), 0));
    for (node, key) in picks {
        let out = net.run_op(
            node,
            ClientOp::Get {
                key,
                htl: Some(params.probe_htl),
                operation: 0,
            },
        );
        let (length, found) = if out.succeeded() {
            (f64::from(out.hops), 1)
        } else {
            (f64::from(params.probe_htl), 0)
        };
        all.0.push(length);
        all.1 += found;
        if held.contains(&key) {
            stored.0.push(length);
            stored.1 += found;
        }
    }
    (Probe::new(all.0, all.1), Probe::new(stored.0, stored.1))
}

/// Runs the experiment; `tick` gets the network size after each join.
pub fn run(params: &Params, mut tick: impl FnMut(u32)) -> Vec<Point> {
    let config = params.config();
    let mut net = ring_lattice(params.seed, params.start, 2, config, params.store);
    let mut workload = Workload::default();
    let mut live: Vec<PeerId> = (0..params.start).map(PeerId).collect();
    let mut points = Vec::new();
    let sizes = checkpoints(params);
    let mut next = 0;
    loop {
        let size = net.len() as u32;
        if sizes.get(next) == Some(&size) {
            if workload.keys.is_empty() {
                workload.step(&mut net, &live, params.htl);
            }
            let (probe, stored) = probe_live(&mut net, &workload.keys, params);
            let keys = &workload.keys;
            let window = keys.len().min(size as usize / 2).max(1);
            let (recent, _) = probe_live(&mut net, &keys[keys.len() - window..], params);
            points.push(Point {
                nodes: size,
                probe,
                stored,
                recent,
            });
            next += 1;
        }
        if size >= params.nodes {
            break;
        }
        for _ in 0..params.steps_per_join {
            workload.step(&mut net, &live, params.htl);
        }
        // A new node knows one random live node, and joins through it.
        let via = *live.choose(net.rng()).expect("a live node");
        let joiner = net.add_node(config, Location(0), params.store);
        net.link(joiner, via);
        let out = net.run_op(
            joiner,
            ClientOp::Join {
                via,
                htl: params.announce_htl,
            },
        );
        debug_assert!(
            matches!(out.result, ClientResult::Joined(_)),
            "{:?}",
            out.result
        );
        live.push(joiner);
        tick(size + 1);
    }
    points
}

/// The reproduction's pathlength at a million nodes that the issue cites.
pub const REPORTED_MEDIAN_AT_1M: f64 = 30.0;

/// Tables, plots and summary of a run.
pub fn report(params: &Params, points: &[Point]) -> Report {
    let recent_table = probe_table(
        "scalability-recent",
        "nodes",
        points.iter().map(|pt| (f64::from(pt.nodes), &pt.recent)),
    );
    let stored_table = probe_table(
        "scalability-stored",
        "nodes",
        points.iter().map(|pt| (f64::from(pt.nodes), &pt.stored)),
    );
    let table = probe_table(
        "scalability",
        "nodes",
        points.iter().map(|pt| (f64::from(pt.nodes), &pt.probe)),
    );
    let series = |name: &str, probe: &dyn Fn(&Point) -> &Probe, q: f64| {
        Series::new(
            name,
            Style::LinePoints,
            points
                .iter()
                .map(|pt| (f64::from(pt.nodes), probe(pt).quantile(q)))
                .collect(),
        )
    };
    let mut plot = Plot::new(
        "scalability.svg",
        "Pathlength against network size (growth by announcement)",
        "nodes",
        "probe pathlength (hops; failures count as the probe HTL)",
    );
    plot.x_scale = Scale::Log;
    plot.y_scale = Scale::Log;
    plot.series = vec![
        series("median, all keys", &|pt| &pt.probe, 0.5),
        series("median, keys still stored", &|pt| &pt.stored, 0.5),
        series("median, recent keys", &|pt| &pt.recent, 0.5),
        series("third quartile, recent keys", &|pt| &pt.recent, 0.75),
    ];
    let mut success = Plot::new(
        "scalability-success.svg",
        "Probe success against network size",
        "nodes",
        "share of probes that found their data",
    );
    success.x_scale = Scale::Log;
    success.y_range = Some((0.0, 1.0));
    let share = |name: &str, f: &dyn Fn(&Point) -> f64| {
        Series::new(
            name,
            Style::LinePoints,
            points
                .iter()
                .map(|pt| (f64::from(pt.nodes), f(pt)))
                .collect(),
        )
    };
    success.series = vec![
        share("all keys", &|pt| pt.probe.success()),
        share("keys still stored", &|pt| pt.stored.success()),
        share("recent keys", &|pt| pt.recent.success()),
        share("share of probed keys still stored", &|pt| {
            pt.stored.lengths.len() as f64 / pt.probe.lengths.len().max(1) as f64
        }),
    ];
    let last = points.last();
    let median = last.map_or(f64::NAN, |p| p.probe.quantile(0.5));
    let stored_median = last.map_or(f64::NAN, |p| p.stored.quantile(0.5));
    let summary = json!({
        "scenario": "scalability",
        "params": {
            "seed": params.seed, "start": params.start, "nodes": params.nodes,
            "steps_per_join": params.steps_per_join, "htl": params.htl, "announce_htl": params.announce_htl,
            "store": params.store, "table": params.table, "probes": params.probes, "probe_htl": params.probe_htl,
        },
        "final": {
            "nodes": last.map_or(0, |p| p.nodes),
            "median_pathlength": median,
            "mean_pathlength": last.map_or(f64::NAN, |p| p.probe.mean()),
            "success": last.map_or(f64::NAN, |p| p.probe.success()),
            "stored_keys_share": last.map_or(f64::NAN, |p| p.stored.lengths.len() as f64 / p.probe.lengths.len().max(1) as f64),
            "stored_keys_median_pathlength": stored_median,
            "stored_keys_success": last.map_or(f64::NAN, |p| p.stored.success()),
            "recent_keys_median_pathlength": last.map_or(f64::NAN, |p| p.recent.quantile(0.5)),
            "recent_keys_success": last.map_or(f64::NAN, |p| p.recent.success()),
        },
        "reported_median_at_1m": REPORTED_MEDIAN_AT_1M,
    });
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|pt| {
            let mut row = pt.probe.printed_row(pt.nodes.to_string());
            row.extend(pt.stored.printed_row(format!(
                "{:.0}%",
                100.0 * pt.stored.lengths.len() as f64 / pt.probe.lengths.len().max(1) as f64
            )));
            row.extend(pt.recent.printed_row(String::new()).into_iter().skip(1));
            row
        })
        .collect();
    let printed = format!(
        "{}\nmedian pathlength at {} nodes: {} (keys still stored: {}; recent keys: {})\n",
        format_table(
            &[
                "nodes", "median", "mean", "success", "stored", "median", "mean", "success",
                "recent", "mean", "success",
            ],
            &rows
        ),
        last.map_or(0, |p| p.nodes),
        fmt_num(median),
        fmt_num(stored_median),
        fmt_num(last.map_or(f64::NAN, |p| p.recent.quantile(0.5)))
    );
    Report {
        tables: vec![table, stored_table, recent_table],
        plots: vec![plot, success],
        summary,
        printed,
    }
}
