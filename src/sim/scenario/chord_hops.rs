//! `chord-hops`: the Chord paper's path-length experiment (Stoica et al.,
//! SIGCOMM 2001, §6.4 and figure 10). Rings of N = 2^k nodes in their
//! stable state; random nodes look up random locations; the path length is
//! the number of nodes a lookup visits before the one that knows the
//! answer (the target's predecessor, which names its successor), against
//! the paper's ½·log2 N.

use rand::Rng;
use serde_json::json;

use super::{Report, chord_ring_from, quantile};
use crate::key::Location;
use crate::routing::{ChordConfig, ClientOp, ClientResult, PeerId};
use crate::sim::engine::Latency;
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
    /// Path lengths, sorted.
    pub hops: Vec<f64>,
    /// Lookups that named the wrong successor or failed (should be none).
    pub wrong: usize,
}

impl Point {
    /// Mean path length.
    pub fn mean(&self) -> f64 {
        self.hops.iter().sum::<f64>() / self.hops.len().max(1) as f64
    }

    /// The paper's prediction, ½·log2 N.
    pub fn predicted(&self) -> f64 {
        f64::from(self.exp) / 2.0
    }

    /// How far the mean is from the prediction, relative to it.
    pub fn deviation(&self) -> f64 {
        (self.mean() - self.predicted()) / self.predicted()
    }
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
            let mut hops = Vec::with_capacity(params.lookups);
            let mut wrong = 0;
            for r in 0..rings {
                // Rings of different sizes and numbers share no nodes.
                let seed = params.seed ^ (u64::from(exp) << 56 | u64::from(r) << 32);
                let first = u64::from(r) * u64::from(n) + (u64::from(exp) << 40);
                let mut net = chord_ring_from(seed, first, n, config, 1, 0, Latency::default());
                let mut ring: Vec<Location> =
                    (0..n).map(|i| net.node(PeerId(i)).me().location).collect();
                ring.sort_unstable();
                let share = params.lookups / rings as usize
                    + usize::from((r as usize) < params.lookups % rings as usize);
                for _ in 0..share {
                    let from = PeerId(net.rng().gen_range(0..n));
                    let target = Location(net.rng().r#gen());
                    let out = net.run_op(from, ClientOp::Lookup { target });
                    let truth = ring[ring.partition_point(|&l| l < target) % ring.len()];
                    match out.result {
                        ClientResult::Located(node) if node.location == truth => {}
                        _ => wrong += 1,
                    }
                    hops.push(f64::from(out.hops));
                }
            }
            hops.sort_by(f64::total_cmp);
            tick(exp);
            Point { exp, hops, wrong }
        })
        .collect()
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
        Series::new("mean", Style::LinePoints, along(&|p| p.mean())),
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
        let max = p.hops.last().copied().unwrap_or(0.0) as usize;
        let mut pdf = Table::new("chord-hops-pdf", &["hops", "share"]);
        let mut series = Vec::new();
        for h in 0..=max {
            let share = p.hops.iter().filter(|&&x| x as usize == h).count() as f64
                / p.hops.len().max(1) as f64;
            pdf.push(vec![h as f64, share]);
            series.push((h as f64, share));
        }
        let mut plot = Plot::new(
            "chord-hops-pdf.svg",
            &format!("Path length distribution, 2^{} nodes", p.exp),
            "path length (nodes visited)",
            "share of lookups",
        );
        plot.series = vec![Series::new("lookups", Style::LinePoints, series)];
        plots.push(plot);
        tables.push(pdf);
    }
    let worst = points
        .iter()
        .map(|p| p.deviation().abs())
        .fold(0.0, f64::max);
    let summary = json!({
        "scenario": "chord-hops",
        "params": { "seed": params.seed, "min_exp": params.min_exp, "max_exp": params.max_exp,
                    "lookups": params.lookups, "successors": ChordConfig::default().successors },
        "rings": points.iter().map(|p| json!({
            "nodes": 1u64 << p.exp, "mean": p.mean(), "median": quantile(&p.hops, 0.5),
            "p99": quantile(&p.hops, 0.99), "half_log2_n": p.predicted(),
            "deviation": p.deviation(), "wrong": p.wrong,
        })).collect::<Vec<_>>(),
        "worst_deviation": worst,
        "within_5_percent": worst <= 0.05,
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
