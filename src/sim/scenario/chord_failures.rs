//! `chord-failures`: the Chord paper's simultaneous-failure experiment
//! (Stoica et al., SIGCOMM 2001, §6.5). A stable ring holds keys; a
//! fraction p of its nodes fails at once; before any stabilisation, random
//! live nodes request random keys. The share of requests that fail is set
//! against the share of keys whose every copy died: the paper finds the two
//! about equal, so the ring's routing survives what its data does not.
//!
//! Two rings run the same schedule: one with each key on its successor
//! only (the paper's setting) and one with the successor's `r` successors
//! holding replicas.

use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::json;

use super::{Report, chord_ring, key_holders, live_ring};
use crate::key::Location;
use crate::routing::{ChordConfig, ClientOp, PeerId};
use crate::sim::content::{VirtualContent, VirtualKey};
use crate::sim::engine::{Latency, Network, SimChord};
use crate::sim::report::{Plot, Series, Style, Table, format_table};

/// The experiment's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Every random choice derives from it.
    pub seed: u64,
    /// Ring size.
    pub nodes: u32,
    /// Keys stored.
    pub keys: usize,
    /// Requests after each failure.
    pub lookups: usize,
    /// Successors kept, and replicas beyond the owner (`r`).
    pub successors: usize,
    /// Shares of nodes failed, each from the same stable ring.
    pub fractions: Vec<f64>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            nodes: 10_000,
            keys: 100_000,
            lookups: 2000,
            successors: 8,
            fractions: (0..=10).map(|i| f64::from(i) * 0.05).collect(),
        }
    }
}

/// One failure, measured on one ring.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Copies of each key: 1, or `r + 1`.
    pub copies: usize,
    /// Share of nodes failed.
    pub fraction: f64,
    /// Share of requests that did not find their key.
    pub failed: f64,
    /// Share of keys with no live copy.
    pub lost: f64,
    /// Mean hops of the requests that succeeded.
    pub mean_hops: f64,
    /// Messages per request, failed ones included.
    pub messages: f64,
}

/// Runs the experiment; `tick` is called after each failure fraction.
pub fn run(params: &Params, mut tick: impl FnMut(usize)) -> Vec<Point> {
    let r = params.successors.max(1);
    let config = ChordConfig {
        successors: r,
        maintenance: false,
        ..ChordConfig::default()
    };
    let base = chord_ring(
        params.seed,
        params.nodes,
        config,
        usize::MAX >> 1,
        0,
        Latency::default(),
    );
    let ring = live_ring(&base);
    let mut base = base;
    let keys: Vec<VirtualKey> = (0..params.keys)
        .map(|_| VirtualKey(base.rng().r#gen()))
        .collect();
    // Holders of each key, owner first.
    let holders: Vec<Vec<PeerId>> = keys
        .iter()
        .map(|k| key_holders(&ring, Location(k.0), r + 1))
        .collect();
    let mut order: Vec<PeerId> = ring.iter().map(|(_, id)| *id).collect();
    order.shuffle(base.rng());

    // The two stocked rings, each cloned for every failure.
    let stocked: Vec<(usize, Network<SimChord<VirtualContent>>)> = [1, r + 1]
        .into_iter()
        .map(|copies| {
            let mut net = base.clone();
            for (key, hs) in keys.iter().zip(&holders) {
                for h in &hs[..copies] {
                    net.node_mut(*h).preload(*key, ());
                }
            }
            (copies, net)
        })
        .collect();

    let mut points = Vec::new();
    for (step, &fraction) in params.fractions.iter().enumerate() {
        let failed = ((fraction.clamp(0.0, 0.99) * order.len() as f64).round() as usize)
            .min(order.len() - 1);
        let mut dead = vec![false; params.nodes as usize];
        for id in &order[..failed] {
            dead[id.0 as usize] = true;
        }
        let live = &order[failed..];
        for (copies, stocked) in &stocked {
            let copies = *copies;
            let mut net = stocked.clone();
            let lost = holders
                .iter()
                .filter(|hs| hs[..copies].iter().all(|h| dead[h.0 as usize]))
                .count() as f64
                / keys.len().max(1) as f64;
            for id in &order[..failed] {
                net.kill(*id);
            }
            points.push(measure(
                &mut net,
                live,
                &keys,
                params.lookups,
                copies,
                fraction,
                lost,
            ));
        }
        tick(step + 1);
    }
    points
}

fn measure(
    net: &mut Network<SimChord<VirtualContent>>,
    live: &[PeerId],
    keys: &[VirtualKey],
    lookups: usize,
    copies: usize,
    fraction: f64,
    lost: f64,
) -> Point {
    let (mut failed, mut hops, mut messages) = (0usize, 0u64, 0u64);
    for _ in 0..lookups {
        let from = *live.choose(net.rng()).expect("a live node");
        let key = *keys.choose(net.rng()).expect("keys");
        let out = net.run_op(
            from,
            ClientOp::Get {
                key,
                htl: None,
                operation: 0,
            },
        );
        messages += u64::from(out.messages);
        if out.succeeded() {
            hops += u64::from(out.hops);
        } else {
            failed += 1;
        }
    }
    let n = lookups.max(1) as f64;
    Point {
        copies,
        fraction,
        failed: failed as f64 / n,
        lost,
        mean_hops: hops as f64 / (lookups - failed).max(1) as f64,
        messages: messages as f64 / n,
    }
}

/// Tables, plots and summary of a run.
pub fn report(params: &Params, points: &[Point]) -> Report {
    let mut table = Table::new(
        "chord-failures",
        &[
            "copies",
            "fraction_failed",
            "lookups_failed",
            "keys_lost",
            "mean_hops",
            "messages_per_request",
        ],
    );
    for p in points {
        table.push(vec![
            p.copies as f64,
            p.fraction,
            p.failed,
            p.lost,
            p.mean_hops,
            p.messages,
        ]);
    }
    let r = params.successors.max(1);
    let series = |copies: usize, name: &str, style, f: &dyn Fn(&Point) -> f64| {
        Series::new(
            name,
            style,
            points
                .iter()
                .filter(|p| p.copies == copies)
                .map(|p| (p.fraction, f(p)))
                .collect(),
        )
    };
    let mut plot = Plot::new(
        "chord-failures.svg",
        "Failed lookups against keys lost, after simultaneous failures",
        "fraction of nodes failed at once",
        "fraction",
    );
    plot.y_range = Some((0.0, 0.55));
    plot.series = vec![
        series(1, "lookups failed, 1 copy", Style::LinePoints, &|p| {
            p.failed
        }),
        series(1, "keys lost, 1 copy", Style::Line, &|p| p.lost),
        series(
            r + 1,
            &format!("lookups failed, {} copies", r + 1),
            Style::LinePoints,
            &|p| p.failed,
        ),
        series(
            r + 1,
            &format!("keys lost, {} copies", r + 1),
            Style::Line,
            &|p| p.lost,
        ),
    ];
    let mut cost = Plot::new(
        "chord-failures-hops.svg",
        "Path length of successful lookups after failures",
        "fraction of nodes failed at once",
        "mean hops",
    );
    cost.series = vec![
        series(1, "1 copy", Style::LinePoints, &|p| p.mean_hops),
        series(
            r + 1,
            &format!("{} copies", r + 1),
            Style::LinePoints,
            &|p| p.mean_hops,
        ),
    ];
    let summary = json!({
        "scenario": "chord-failures",
        "params": { "seed": params.seed, "nodes": params.nodes, "keys": params.keys,
                    "lookups": params.lookups, "successors": r, "fractions": params.fractions },
        "points": points.iter().map(|p| json!({
            "copies": p.copies, "fraction_failed": p.fraction, "lookups_failed": p.failed,
            "keys_lost": p.lost, "mean_hops": p.mean_hops, "messages_per_request": p.messages,
        })).collect::<Vec<_>>(),
    });
    let pct = |x: f64| format!("{:.2}%", 100.0 * x);
    let rows: Vec<Vec<String>> = params
        .fractions
        .iter()
        .map(|&f| {
            let at = |copies: usize| {
                points
                    .iter()
                    .find(|p| p.copies == copies && p.fraction == f)
            };
            let mut row = vec![format!("{:.0}%", 100.0 * f)];
            for copies in [1, r + 1] {
                match at(copies) {
                    Some(p) => {
                        row.extend([pct(p.failed), pct(p.lost), format!("{:.2}", p.mean_hops)])
                    }
                    None => row.extend(["-".into(), "-".into(), "-".into()]),
                }
            }
            row
        })
        .collect();
    let many = format!("{} copies", r + 1);
    let printed = format_table(
        &[
            "failed",
            "1 copy: lookups failed",
            "keys lost",
            "hops",
            &format!("{many}: lookups failed"),
            "keys lost",
            "hops",
        ],
        &rows,
    );
    Report {
        tables: vec![table],
        plots: vec![plot, cost],
        summary,
        printed,
    }
}
