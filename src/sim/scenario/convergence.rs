//! `convergence`: the 2001 paper's first experiment. A ring lattice of
//! 1000 nodes learns, by serving random inserts and requests, to route in a
//! few hops; probes measure the pathlength as it does.

use serde_json::json;

use super::{Probe, Report, Workload, probe, probe_table, ring_lattice};
use crate::routing::{Config, PeerId};
use crate::sim::content::VirtualContent;
use crate::sim::engine::{Network, SimCore};
use crate::sim::report::{Plot, Scale, Series, Style, fmt_num, format_table};

/// The experiment's settings; `Default` is the paper's setup.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Seed of every random choice.
    pub seed: u64,
    /// Network size.
    pub nodes: u32,
    /// Neighbours referenced on each side in the initial lattice.
    pub lattice: u32,
    /// Datastore size, in items.
    pub store: usize,
    /// Routing table size.
    pub table: usize,
    /// Hops to live of workload inserts and requests.
    pub htl: u8,
    /// Hops to live of probes (the paper: 500; ours is a byte, so 255).
    pub probe_htl: u8,
    /// Time steps to run; one insert or request each.
    pub steps: u64,
    /// Steps between probes.
    pub probe_every: u64,
    /// Requests per probe.
    pub probes: usize,
    /// Probability a hop rewrites the data source to itself.
    pub source_rewrite: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            nodes: 1000,
            lattice: 2,
            store: 50,
            table: 250,
            htl: 20,
            probe_htl: 255,
            steps: 5000,
            probe_every: 100,
            probes: 300,
            source_rewrite: 0.0,
        }
    }
}

impl Params {
    /// The core settings: the paper's nodes have no anonymity features
    /// (every hop decrements, every node caches), and the highest HTL is
    /// the probes'.
    pub fn config(&self) -> Config {
        super::paper_config(
            self.probe_htl.max(self.htl),
            self.table,
            self.source_rewrite,
        )
    }
}

/// One probe's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Time step at which the probe ran.
    pub step: u64,
    /// The probe.
    pub probe: Probe,
}

/// A network after the experiment: what `faults` and `small-world` start
/// from.
#[derive(Clone, Debug)]
pub struct Converged {
    /// The network.
    pub net: Network<SimCore<VirtualContent>>,
    /// The keys inserted.
    pub workload: Workload,
    /// The probes taken on the way.
    pub points: Vec<Point>,
}

/// Runs the experiment; `tick` is called after every step.
pub fn converge(params: &Params, mut tick: impl FnMut(u64)) -> Converged {
    let mut net = ring_lattice(
        params.seed,
        params.nodes,
        params.lattice,
        params.config(),
        params.store,
    );
    let live: Vec<PeerId> = (0..params.nodes).map(PeerId).collect();
    let mut workload = Workload::default();
    let mut points = Vec::new();
    for step in 1..=params.steps {
        workload.step(&mut net, &live, params.htl);
        if step % params.probe_every.max(1) == 0 || step == params.steps {
            let probe = probe(&net, &live, &workload.keys, params.probes, params.probe_htl);
            points.push(Point { step, probe });
        }
        tick(step);
    }
    Converged {
        net,
        workload,
        points,
    }
}

/// Runs the experiment and returns its probes.
pub fn run(params: &Params, tick: impl FnMut(u64)) -> Vec<Point> {
    converge(params, tick).points
}

/// The paper's final median pathlength (Clarke et al. 2001, Figure 2).
pub const PAPER_MEDIAN: f64 = 6.0;

/// Tables, plots and summary of a run.
pub fn report(params: &Params, points: &[Point]) -> Report {
    let table = probe_table(
        "convergence",
        "step",
        points.iter().map(|pt| (pt.step as f64, &pt.probe)),
    );
    let series = |name: &str, f: &dyn Fn(&Probe) -> f64, style| {
        Series::new(
            name,
            style,
            points
                .iter()
                .map(|pt| (pt.step as f64, f(&pt.probe)))
                .collect(),
        )
    };
    let mut paths = Plot::new(
        "convergence.svg",
        "Pathlength as the network converges (1000 nodes, ring-lattice start)",
        "time step",
        "probe pathlength (hops; failures count as the probe HTL)",
    );
    paths.y_scale = Scale::Log;
    paths.series = vec![
        series("median", &|p| p.quantile(0.5), Style::LinePoints),
        series("mean", &|p| p.mean(), Style::Line),
        series("first quartile", &|p| p.quantile(0.25), Style::Line),
        series("third quartile", &|p| p.quantile(0.75), Style::Line),
    ];
    let mut success = Plot::new(
        "success.svg",
        "Probe success as the network converges",
        "time step",
        "share of probes that found their data",
    );
    success.y_range = Some((0.0, 1.0));
    success.series = vec![series("success", &|p| p.success(), Style::LinePoints)];

    let last = points.last().map(|pt| &pt.probe);
    let final_median = last.map_or(f64::NAN, |p| p.quantile(0.5));
    let final_success = last.map_or(f64::NAN, |p| p.success());
    let summary = json!({
        "scenario": "convergence",
        "params": {
            "seed": params.seed, "nodes": params.nodes, "lattice": params.lattice, "store": params.store,
            "table": params.table, "htl": params.htl, "probe_htl": params.probe_htl, "steps": params.steps,
            "probe_every": params.probe_every, "probes": params.probes, "source_rewrite": params.source_rewrite,
        },
        "final": {
            "step": points.last().map_or(0, |pt| pt.step),
            "median_pathlength": final_median,
            "mean_pathlength": last.map_or(f64::NAN, |p| p.mean()),
            "success": final_success,
        },
        "paper": { "median_pathlength": PAPER_MEDIAN },
        "targets": { "median_at_most": 6.0, "success_at_least": 0.98,
                     "met": final_median <= 6.0 && final_success >= 0.98 },
    });

    // Print about ten rows, always the first and the last.
    let every = points.len().div_ceil(10).max(1);
    let rows: Vec<Vec<String>> = points
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0 || *i + 1 == points.len())
        .map(|(_, pt)| pt.probe.printed_row(pt.step.to_string()))
        .collect();
    let printed = format!(
        "{}\nfinal median pathlength {} (paper: {}), success {:.1}%\n",
        format_table(&["step", "median", "mean", "success"], &rows),
        fmt_num(final_median),
        fmt_num(PAPER_MEDIAN),
        100.0 * final_success
    );
    Report {
        tables: vec![table],
        plots: vec![paths, success],
        summary,
        printed,
    }
}
