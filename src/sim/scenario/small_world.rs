//! `small-world`: the shape of the network the routing builds. After
//! convergence, the distribution of links per node (log-log) and the
//! clustering coefficient, against the lattice it started from and a random
//! graph of the same density.

use std::collections::BTreeMap;

use serde_json::json;

use super::Report;
use super::convergence;
use crate::sim::content::VirtualContent;
use crate::sim::engine::{Network, SimCore};
use crate::sim::report::{Plot, Scale, Series, Style, Table, fmt_num, format_table};

/// The graph's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    /// Nodes with each out-degree (distinct peers referenced).
    pub out_degrees: BTreeMap<u32, u32>,
    /// Nodes with each in-degree (tables referencing the node).
    pub in_degrees: BTreeMap<u32, u32>,
    /// Mean out-degree.
    pub mean_degree: f64,
    /// Mean local clustering coefficient over nodes with two or more links.
    pub clustering: f64,
    /// Clustering of a random directed graph of the same density.
    pub random_clustering: f64,
}

/// Measures the reference graph of a network.
pub fn measure(net: &Network<SimCore<VirtualContent>>) -> Shape {
    let n = net.len();
    let links: Vec<Vec<u32>> = net
        .nodes()
        .map(|(_, node)| {
            let mut peers: Vec<u32> = node.table().iter().map(|(_, p)| p.0).collect();
            peers.sort_unstable();
            peers.dedup();
            peers
        })
        .collect();
    let mut out_degrees = BTreeMap::new();
    let mut in_count = vec![0u32; n];
    for peers in &links {
        *out_degrees.entry(peers.len() as u32).or_insert(0) += 1;
        for &p in peers {
            in_count[p as usize] += 1;
        }
    }
    let mut in_degrees = BTreeMap::new();
    for &d in &in_count {
        *in_degrees.entry(d).or_insert(0) += 1;
    }
    let total: usize = links.iter().map(Vec::len).sum();
    let mean_degree = total as f64 / n.max(1) as f64;
    // Local clustering: of the ordered pairs of a node's peers, the share
    // where the first references the second.
    let (mut sum, mut counted) = (0.0, 0usize);
    for peers in &links {
        let k = peers.len();
        if k < 2 {
            continue;
        }
        let linked: usize = peers
            .iter()
            .map(|&a| {
                peers
                    .iter()
                    .filter(|&&b| b != a && links[a as usize].binary_search(&b).is_ok())
                    .count()
            })
            .sum();
        sum += linked as f64 / (k * (k - 1)) as f64;
        counted += 1;
    }
    Shape {
        out_degrees,
        in_degrees,
        mean_degree,
        clustering: sum / counted.max(1) as f64,
        random_clustering: mean_degree / (n.max(2) - 1) as f64,
    }
}

/// Runs convergence and measures the graph before and after.
pub fn run(params: &convergence::Params, tick: impl FnMut(u64)) -> (Shape, Shape) {
    let before = measure(&super::ring_lattice(
        params.seed,
        params.nodes,
        params.lattice,
        params.config(),
        params.store,
    ));
    let converged = convergence::converge(params, tick);
    (before, measure(&converged.net))
}

/// Tables, plots and summary of a run.
pub fn report(params: &convergence::Params, before: &Shape, after: &Shape) -> Report {
    let mut degrees = Table::new("degrees", &["degree", "nodes_out", "nodes_in"]);
    let all: std::collections::BTreeSet<u32> = after
        .out_degrees
        .keys()
        .chain(after.in_degrees.keys())
        .copied()
        .collect();
    for d in all {
        degrees.push(vec![
            f64::from(d),
            f64::from(after.out_degrees.get(&d).copied().unwrap_or(0)),
            f64::from(after.in_degrees.get(&d).copied().unwrap_or(0)),
        ]);
    }
    let points = |m: &BTreeMap<u32, u32>| -> Vec<(f64, f64)> {
        m.iter()
            .filter(|(d, _)| **d > 0)
            .map(|(&d, &c)| (f64::from(d), f64::from(c)))
            .collect()
    };
    let mut plot = Plot::new(
        "degrees.svg",
        "Links per node after convergence (log-log)",
        "links (distinct peers)",
        "number of nodes",
    );
    plot.x_scale = Scale::Log;
    plot.y_scale = Scale::Log;
    plot.series = vec![
        Series::new(
            "out-degree (peers referenced)",
            Style::Points,
            points(&after.out_degrees),
        ),
        Series::new(
            "in-degree (tables referencing)",
            Style::Points,
            points(&after.in_degrees),
        ),
    ];
    let mut clustering = Table::new(
        "clustering",
        &[
            "converged",
            "mean_degree",
            "clustering",
            "random_graph_clustering",
        ],
    );
    for (flag, s) in [(0.0, before), (1.0, after)] {
        clustering.push(vec![flag, s.mean_degree, s.clustering, s.random_clustering]);
    }
    let max_in = after.in_degrees.keys().next_back().copied().unwrap_or(0);
    let summary = json!({
        "scenario": "small-world",
        "params": { "seed": params.seed, "nodes": params.nodes, "steps": params.steps, "htl": params.htl,
                    "store": params.store, "table": params.table },
        "lattice": { "mean_degree": before.mean_degree, "clustering": before.clustering },
        "converged": { "mean_degree": after.mean_degree, "clustering": after.clustering,
                       "random_graph_clustering": after.random_clustering, "max_in_degree": max_in },
    });
    let rows = vec![
        vec![
            "ring lattice (start)".to_string(),
            fmt_num(before.mean_degree),
            format!("{:.3}", before.clustering),
            format!("{:.4}", before.random_clustering),
        ],
        vec![
            "after convergence".to_string(),
            format!("{:.1}", after.mean_degree),
            format!("{:.3}", after.clustering),
            format!("{:.4}", after.random_clustering),
        ],
    ];
    let printed = format!(
        "{}\nmost referenced node: in {} of {} tables\n",
        format_table(
            &["network", "mean links", "clustering", "random graph"],
            &rows
        ),
        max_in,
        params.nodes
    );
    Report {
        tables: vec![degrees, clustering],
        plots: vec![plot],
        summary,
        printed,
    }
}
