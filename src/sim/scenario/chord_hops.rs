//! `chord-hops`: the Chord paper's path-length experiment (Stoica et al.,
//! SIGCOMM 2001, §6.4 and figure 10). Rings of N = 2^k nodes in their
//! stable state; random nodes look up random locations; the path length is
//! the number of nodes a lookup visits before the one that knows the
//! answer (the target's predecessor, which names its successor), against
//! the paper's ½·log2 N.
//!
//! Every size runs twice: on rings whose ids are hashes, as Chord assigns
//! them, and on rings whose ids are evenly spaced, the layout under which
//! the paper's reasoning (one hop per 1-bit of the distance in nodes) is
//! exact. Random ids sit a constant ~0.13 hops under ½·log2 N: a finger
//! lands past its ideal point by a random gap, so greedy routing covers a
//! little more than its bits.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::{Report, chord_ring_at, key_holders, live_ring, node_location, quantile};
use crate::key::Location;
use crate::routing::{ChordConfig, ClientOp, ClientResult, PeerId};
use crate::sim::content::VirtualContent;
use crate::sim::engine::{Latency, Network, SimChord};
use crate::sim::report::{Plot, Scale, Series, Style, Table, fmt_num, format_table};

/// The experiment's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Every random choice derives from it.
    pub seed: u64,
    /// Smallest ring: 2^`min_exp` nodes.
    pub min_exp: u32,
    /// Largest ring: 2^`max_exp` nodes.
    pub max_exp: u32,
    /// Lookups per ring size.
    pub lookups: usize,
    /// Nodes summed over the independent rings built per size: small sizes
    /// average over many rings (a 16-node ring's layout decides its mean
    /// path length as much as the formula does), large sizes use one.
    pub ring_budget: u32,
    /// The ring size whose path-length distribution is plotted (the
    /// paper's figure 10b uses 2^12).
    pub pdf_exp: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            min_exp: 4,
            max_exp: 20,
            lookups: 10_000,
            ring_budget: 1 << 16,
            pdf_exp: 12,
        }
    }
}

/// The lookups on one ring size.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// log2 of the ring size.
    pub exp: u32,
    /// Path lengths on rings with hashed ids, sorted.
    pub hops: Vec<f64>,
    /// Path lengths on rings with evenly spaced ids, sorted.
    pub even: Vec<f64>,
    /// Lookups that named the wrong successor or failed, on either layout
    /// (should be none).
    pub wrong: usize,
}

impl Point {
    /// Mean path length with hashed ids.
    pub fn mean(&self) -> f64 {
        mean(&self.hops)
    }

    /// Mean path length with evenly spaced ids.
    pub fn even_mean(&self) -> f64 {
        mean(&self.even)
    }

    /// The paper's prediction, ½·log2 N.
    pub fn predicted(&self) -> f64 {
        f64::from(self.exp) / 2.0
    }

    /// How far the mean with hashed ids is from the prediction, relative
    /// to it.
    pub fn deviation(&self) -> f64 {
        (self.mean() - self.predicted()) / self.predicted()
    }

    /// How far the mean with evenly spaced ids is from the prediction.
    pub fn even_deviation(&self) -> f64 {
        (self.even_mean() - self.predicted()) / self.predicted()
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// Runs the experiment; `tick` gets each ring's exponent as it finishes.
pub fn run(params: &Params, mut tick: impl FnMut(u32)) -> Vec<Point> {
    let config = ChordConfig {
        maintenance: false,
        ..ChordConfig::default()
    };
    (params.min_exp..=params.max_exp)
        .map(|exp| {
            let n = 1u32 << exp;
            let rings = (params.ring_budget >> exp).clamp(1, params.lookups.max(1) as u32);
            let mut wrong = 0;
            let mut lengths = |even: bool| {
                let mut hops = Vec::with_capacity(params.lookups);
                for r in 0..rings {
                    // Rings of different sizes, numbers and layouts share no
                    // nodes and no random streams.
                    let seed = params.seed
                        ^ (u64::from(exp) << 56 | u64::from(even) << 55 | u64::from(r) << 32);
                    let locations: Vec<Location> = if even {
                        // Spaced 2^64 / n apart from a random start.
                        let start: u64 = ChaCha8Rng::seed_from_u64(seed).r#gen();
                        let step = u64::MAX / u64::from(n) + 1;
                        (0..u64::from(n))
                            .map(|i| Location(start.wrapping_add(i * step)))
                            .collect()
                    } else {
                        let first = u64::from(r) * u64::from(n) + (u64::from(exp) << 40);
                        (0..u64::from(n))
                            .map(|i| node_location(first + i))
                            .collect()
                    };
                    let mut net = chord_ring_at(seed, locations, config, 1, 0, Latency::default());
                    let share = params.lookups / rings as usize
                        + usize::from((r as usize) < params.lookups % rings as usize);
                    wrong += lookups(&mut net, share, &mut hops);
                }
                hops.sort_by(f64::total_cmp);
                hops
            };
            let hops = lengths(false);
            let even = lengths(true);
            tick(exp);
            Point {
                exp,
                hops,
                even,
                wrong,
            }
        })
        .collect()
}

/// Runs `count` lookups from random nodes of `net` for random locations,
/// pushing each path length to `hops`; returns how many named the wrong
/// successor.
fn lookups(
    net: &mut Network<SimChord<VirtualContent>>,
    count: usize,
    hops: &mut Vec<f64>,
) -> usize {
    let ring = live_ring(net);
    let mut wrong = 0;
    for _ in 0..count {
        let from = PeerId(net.rng().gen_range(0..ring.len() as u32));
        let target = Location(net.rng().r#gen());
        let out = net.run_op(from, ClientOp::Lookup { target });
        match out.result {
            ClientResult::Located(node) if key_holders(&ring, target, 1) == [node.peer] => {}
            _ => wrong += 1,
        }
        hops.push(f64::from(out.hops));
    }
    wrong
}

/// Tables, plots and summary of a run.
pub fn report(params: &Params, points: &[Point]) -> Report {
    let mut table = Table::new(
        "chord-hops",
        &[
            "nodes",
            "log2_nodes",
            "mean",
            "median",
            "p1",
            "p99",
            "half_log2_n",
            "deviation",
            "even_ids_mean",
            "even_ids_deviation",
            "wrong",
        ],
    );
    for p in points {
        table.push(vec![
            f64::from(1u32 << p.exp),
            f64::from(p.exp),
            p.mean(),
            quantile(&p.hops, 0.5),
            quantile(&p.hops, 0.01),
            quantile(&p.hops, 0.99),
            p.predicted(),
            p.deviation(),
            p.even_mean(),
            p.even_deviation(),
            p.wrong as f64,
        ]);
    }
    let along = |f: &dyn Fn(&Point) -> f64| -> Vec<(f64, f64)> {
        points
            .iter()
            .map(|p| (f64::from(1u32 << p.exp), f(p)))
            .collect()
    };
    let mut length = Plot::new(
        "chord-hops.svg",
        "Chord lookup path length against ring size",
        "nodes (log scale)",
        "path length (nodes visited)",
    );
    length.x_scale = Scale::Log;
    length.series = vec![
        Series::new("mean, hashed ids", Style::LinePoints, along(&|p| p.mean())),
        Series::new(
            "mean, evenly spaced ids",
            Style::LinePoints,
            along(&|p| p.even_mean()),
        ),
        Series::new(
            "1st percentile",
            Style::Points,
            along(&|p| quantile(&p.hops, 0.01)),
        ),
        Series::new(
            "99th percentile",
            Style::Points,
            along(&|p| quantile(&p.hops, 0.99)),
        ),
        Series::new(
            "½·log2 N (the paper)",
            Style::Line,
            along(&|p| p.predicted()),
        ),
    ];
    let mut plots = vec![length];
    let mut tables = vec![table];
    if let Some(p) = points.iter().find(|p| p.exp == params.pdf_exp) {
        let max = p
            .hops
            .iter()
            .chain(&p.even)
            .fold(0.0, |a: f64, &b| a.max(b)) as usize;
        let share = |hops: &[f64], h: usize| {
            hops.iter().filter(|&&x| x as usize == h).count() as f64 / hops.len().max(1) as f64
        };
        let mut pdf = Table::new("chord-hops-pdf", &["hops", "share", "even_ids_share"]);
        let (mut hashed, mut even) = (Vec::new(), Vec::new());
        for h in 0..=max {
            let (a, b) = (share(&p.hops, h), share(&p.even, h));
            pdf.push(vec![h as f64, a, b]);
            hashed.push((h as f64, a));
            even.push((h as f64, b));
        }
        let mut plot = Plot::new(
            "chord-hops-pdf.svg",
            &format!("Path length distribution, 2^{} nodes", p.exp),
            "path length (nodes visited)",
            "share of lookups",
        );
        plot.series = vec![
            Series::new("hashed ids", Style::LinePoints, hashed),
            Series::new("evenly spaced ids", Style::LinePoints, even),
        ];
        plots.push(plot);
        tables.push(pdf);
    }
    let worst = |f: &dyn Fn(&Point) -> f64| points.iter().map(|p| f(p).abs()).fold(0.0, f64::max);
    let (worst_hashed, worst_even) = (worst(&Point::deviation), worst(&Point::even_deviation));
    let summary = json!({
        "scenario": "chord-hops",
        "params": { "seed": params.seed, "min_exp": params.min_exp, "max_exp": params.max_exp,
                    "lookups": params.lookups, "successors": ChordConfig::default().successors },
        "rings": points.iter().map(|p| json!({
            "nodes": 1u64 << p.exp, "mean": p.mean(), "median": quantile(&p.hops, 0.5),
            "p99": quantile(&p.hops, 0.99), "half_log2_n": p.predicted(),
            "deviation": p.deviation(), "even_ids_mean": p.even_mean(),
            "even_ids_deviation": p.even_deviation(), "wrong": p.wrong,
        })).collect::<Vec<_>>(),
        "worst_deviation": worst_hashed,
        "within_5_percent": worst_hashed <= 0.05,
        "even_ids_worst_deviation": worst_even,
        "even_ids_within_5_percent": worst_even <= 0.05,
    });
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            vec![
                format!("2^{}", p.exp),
                format!("{:.3}", p.mean()),
                fmt_num(quantile(&p.hops, 0.5)),
                fmt_num(quantile(&p.hops, 0.99)),
                fmt_num(p.predicted()),
                format!("{:+.1}%", 100.0 * p.deviation()),
                format!("{:.3}", p.even_mean()),
                format!("{:+.1}%", 100.0 * p.even_deviation()),
                p.wrong.to_string(),
            ]
        })
        .collect();
    let printed = format_table(
        &[
            "nodes",
            "mean",
            "median",
            "p99",
            "½·log2 N",
            "deviation",
            "even ids: mean",
            "deviation",
            "wrong",
        ],
        &rows,
    );
    Report {
        tables,
        plots,
        summary,
        printed,
    }
}
