//! `faults`: the 2001 paper's fault-tolerance experiment. After the network
//! converges, a fraction of its nodes is removed, either at random or the
//! best connected first (a targeted attack), and probes measure what is
//! left.

use rand::seq::SliceRandom;
use serde_json::json;

use super::convergence::{self, Converged};
use super::{Probe, Report, probe};
use crate::routing::PeerId;
use crate::sim::report::{Plot, Scale, Series, Style, Table, fmt_num, format_table};

/// How nodes are chosen for removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Uniformly at random.
    Random,
    /// Most referenced first: the nodes an attacker would go for.
    Targeted,
}

impl Removal {
    fn name(self) -> &'static str {
        match self {
            Removal::Random => "random failure",
            Removal::Targeted => "targeted attack",
        }
    }
}

/// The experiment's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// The convergence run to start from.
    pub converge: convergence::Params,
    /// Fractions of nodes to remove, each from the same converged network.
    pub fractions: Vec<f64>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            converge: convergence::Params {
                probe_every: u64::MAX,
                ..convergence::Params::default()
            },
            fractions: (0..=8).map(|i| f64::from(i) / 10.0).collect(),
        }
    }
}

/// One probe after one removal.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// How nodes were chosen.
    pub removal: Removal,
    /// Share of nodes removed.
    pub fraction: f64,
    /// The probe, from surviving nodes for every inserted key.
    pub probe: Probe,
}

/// Nodes in removal order for `removal`: a shuffle, or by how many routing
/// tables reference them (most first; ties by id).
fn removal_order(c: &mut Converged, removal: Removal) -> Vec<PeerId> {
    let n = c.net.len();
    let mut order: Vec<PeerId> = (0..n as u32).map(PeerId).collect();
    match removal {
        Removal::Random => order.shuffle(c.net.rng()),
        Removal::Targeted => {
            let mut in_degree = vec![0u32; n];
            for (_, node) in c.net.nodes() {
                let mut peers: Vec<PeerId> = node.table().iter().map(|(_, p)| p).collect();
                peers.sort_unstable();
                peers.dedup();
                for p in peers {
                    in_degree[p.0 as usize] += 1;
                }
            }
            order.sort_by_key(|p| (std::cmp::Reverse(in_degree[p.0 as usize]), p.0));
        }
    }
    order
}

/// Runs the experiment; `tick` is called after every convergence step.
pub fn run(params: &Params, tick: impl FnMut(u64)) -> Vec<Point> {
    let mut converged = convergence::converge(&params.converge, tick);
    let mut points = Vec::new();
    for removal in [Removal::Random, Removal::Targeted] {
        let order = removal_order(&mut converged, removal);
        for &fraction in &params.fractions {
            let mut net = converged.net.clone();
            let removed = ((fraction.clamp(0.0, 1.0) * order.len() as f64).round() as usize)
                .min(order.len() - 1);
            for &node in &order[..removed] {
                net.kill(node);
            }
            let live: Vec<PeerId> = order[removed..].to_vec();
            let c = &params.converge;
            let probe = probe(&net, &live, &converged.workload.keys, c.probes, c.probe_htl);
            points.push(Point {
                removal,
                fraction,
                probe,
            });
        }
    }
    points
}

/// Tables, plots and summary of a run.
pub fn report(params: &Params, points: &[Point]) -> Report {
    let mut table = Table::new(
        "faults",
        &[
            "targeted",
            "fraction_removed",
            "median",
            "mean",
            "p90",
            "success",
        ],
    );
    for pt in points {
        table.push(vec![
            f64::from(u8::from(pt.removal == Removal::Targeted)),
            pt.fraction,
            pt.probe.quantile(0.5),
            pt.probe.mean(),
            pt.probe.quantile(0.9),
            pt.probe.success(),
        ]);
    }
    let series = |removal: Removal, f: &dyn Fn(&Probe) -> f64| {
        Series::new(
            removal.name(),
            Style::LinePoints,
            points
                .iter()
                .filter(|p| p.removal == removal)
                .map(|p| (p.fraction, f(&p.probe)))
                .collect(),
        )
    };
    let mut paths = Plot::new(
        "faults.svg",
        "Median pathlength as nodes are removed",
        "fraction of nodes removed",
        "median probe pathlength (hops; failures count as the probe HTL)",
    );
    paths.y_scale = Scale::Log;
    paths.series = vec![
        series(Removal::Random, &|p| p.quantile(0.5)),
        series(Removal::Targeted, &|p| p.quantile(0.5)),
    ];
    let mut success = Plot::new(
        "faults-success.svg",
        "Probe success as nodes are removed",
        "fraction of nodes removed",
        "share of probes that found their data",
    );
    success.y_range = Some((0.0, 1.0));
    success.series = vec![
        series(Removal::Random, &|p| p.success()),
        series(Removal::Targeted, &|p| p.success()),
    ];
    let c = &params.converge;
    let by = |removal: Removal| -> serde_json::Value {
        points
            .iter()
            .filter(|p| p.removal == removal)
            .map(|p| {
                json!({ "fraction_removed": p.fraction, "median_pathlength": p.probe.quantile(0.5),
                        "success": p.probe.success() })
            })
            .collect()
    };
    let summary = json!({
        "scenario": "faults",
        "params": { "seed": c.seed, "nodes": c.nodes, "steps": c.steps, "htl": c.htl,
                    "probe_htl": c.probe_htl, "probes": c.probes, "fractions": params.fractions },
        "random": by(Removal::Random),
        "targeted": by(Removal::Targeted),
    });
    let rows: Vec<Vec<String>> = params
        .fractions
        .iter()
        .map(|&f| {
            let cell = |removal: Removal| {
                points
                    .iter()
                    .find(|p| p.removal == removal && p.fraction == f)
                    .map_or(("-".to_string(), "-".to_string()), |p| {
                        (
                            fmt_num(p.probe.quantile(0.5)),
                            format!("{:.1}%", 100.0 * p.probe.success()),
                        )
                    })
            };
            let (rm, rs) = cell(Removal::Random);
            let (tm, ts) = cell(Removal::Targeted);
            vec![format!("{:.0}%", 100.0 * f), rm, rs, tm, ts]
        })
        .collect();
    let printed = format_table(
        &[
            "removed",
            "random median",
            "random success",
            "targeted median",
            "targeted success",
        ],
        &rows,
    );
    Report {
        tables: vec![table],
        plots: vec![paths, success],
        summary,
        printed,
    }
}
