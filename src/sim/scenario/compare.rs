//! `compare`: one workload over Freenet mode and Chord mode (with and
//! without a return-path cache). The same nodes at the same locations, the
//! same link latencies, the same keys inserted from the same nodes, the
//! same requests (Zipf popularity) from the same nodes, and the same nodes
//! failing halfway through; each mode's figures side by side.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::anonymity::{self, Score};
use super::convergence;
use super::{Mode, Report, chord_ring, quantile, zipf_cdf, zipf_draw};
use crate::routing::{ChordConfig, ClientOp, PeerId, Protocol};
use crate::sim::content::{VirtualContent, VirtualKey};
use crate::sim::engine::{Latency, Network, Outcome};
use crate::sim::report::{Plot, Scale, Series, Style, Table, fmt_num};

/// The experiment's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Every random choice derives from it.
    pub seed: u64,
    /// Network size.
    pub nodes: u32,
    /// Keys inserted before the requests.
    pub keys: usize,
    /// Requests, drawn by Zipf popularity over the keys.
    pub requests: usize,
    /// The Zipf exponent of key popularity.
    pub zipf: f64,
    /// Share of nodes that fail at once, halfway through the requests.
    pub fail: f64,
    /// Freenet mode: datastore items per node (the 2001 paper's 50), and
    /// Chord mode's path cache when it has one.
    pub store: usize,
    /// Freenet mode: steps of the paper's workload that teach the network
    /// to route before the comparison starts.
    pub converge_steps: u64,
    /// Chord mode: successors kept, and replicas beyond a key's owner.
    pub successors: usize,
    /// Keys counted as popular, for the replica count.
    pub popular: usize,
    /// Share of the nodes that are passive adversaries, for the naive
    /// attacker's precision (see the `anonymity` scenario).
    pub adversaries: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            nodes: 1000,
            keys: 1000,
            requests: 10_000,
            zipf: 0.8,
            fail: 0.1,
            store: 50,
            converge_steps: 5000,
            successors: 8,
            popular: 10,
            adversaries: 0.05,
        }
    }
}

/// One mode's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// The mode.
    pub mode: Mode,
    /// Share of requests that found their data.
    pub success: f64,
    /// The same, for requests after the failure.
    pub success_after_failure: f64,
    /// Hops of the requests that succeeded, sorted.
    pub hops: Vec<f64>,
    /// Messages per request (all of a request's messages, both ways).
    pub messages: f64,
    /// Messages each surviving node received during the requests, sorted.
    pub load: Vec<f64>,
    /// Mean peers a node keeps routing state about.
    pub state: f64,
    /// Mean entries a node stores (datastore and cache).
    pub stored: f64,
    /// Mean nodes holding each popular key at the end.
    pub popular_replicas: f64,
    /// The naive attacker (`anonymity::naive`: the earliest sighting of a
    /// request names its sender if it is a stem message or at the highest
    /// HTL), over every request the adversaries saw.
    pub naive: Score,
}

/// The shared workload: who inserts what, who asks for what, who fails.
struct Workload {
    keys: Vec<(PeerId, VirtualKey)>,
    requests: Vec<(PeerId, usize)>,
    failing: Vec<PeerId>,
    /// Passive adversaries: among the survivors, never requesters.
    adversaries: Vec<PeerId>,
}

fn workload(params: &Params) -> Workload {
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed ^ 0x636f_6d70_6172_6521);
    let mut order: Vec<PeerId> = (0..params.nodes).map(PeerId).collect();
    order.shuffle(&mut rng);
    let failed =
        ((params.fail.clamp(0.0, 0.9) * order.len() as f64).round() as usize).min(order.len() - 1);
    let (failing, rest) = order.split_at(failed);
    let spies = ((params.adversaries.clamp(0.0, 0.5) * order.len() as f64).round() as usize)
        .min(rest.len() - 1);
    let (adversaries, survivors) = rest.split_at(spies);
    let keys = (0..params.keys)
        .map(|_| {
            let node = *survivors.choose(&mut rng).expect("survivors");
            (node, VirtualKey(rng.r#gen()))
        })
        .collect();
    let cdf = zipf_cdf(params.keys.max(1), params.zipf);
    let requests = (0..params.requests)
        .map(|_| {
            let node = *survivors.choose(&mut rng).expect("survivors");
            (node, zipf_draw(&cdf, &mut rng))
        })
        .collect();
    Workload {
        keys,
        requests,
        failing: failing.to_vec(),
        adversaries: adversaries.to_vec(),
    }
}

/// Runs the workload on `net`, whose nodes start requests at `max_htl`.
fn measure<P>(
    mode: Mode,
    mut net: Network<P>,
    w: &Workload,
    max_htl: u8,
    params: &Params,
) -> Figures
where
    P: Protocol<Content = VirtualContent> + Clone + std::fmt::Debug,
{
    let htl = None;
    // Each insert and each request is a client operation of its own.
    for (i, &(node, key)) in w.keys.iter().enumerate() {
        let op = ClientOp::Put {
            key,
            data: (),
            htl,
            operation: i as u64,
        };
        net.run_op(node, op);
    }
    let mut adversary = vec![false; params.nodes as usize];
    for &spy in &w.adversaries {
        adversary[spy.0 as usize] = true;
        net.watch(spy);
    }
    let before: Vec<u64> = (0..params.nodes).map(|i| net.load(PeerId(i))).collect();
    let half = w.requests.len() / 2;
    let mut outcomes: Vec<Outcome<VirtualContent>> = Vec::with_capacity(w.requests.len());
    for (i, &(node, rank)) in w.requests.iter().enumerate() {
        if i == half {
            for &dead in &w.failing {
                net.kill(dead);
            }
        }
        let key = w.keys[rank].1;
        let op = ClientOp::Get {
            key,
            htl,
            operation: (w.keys.len() + i) as u64,
        };
        outcomes.push(net.run_op(node, op));
    }
    let observed = net.take_observed();
    let naive = anonymity::score_naive(&observed, &outcomes, &adversary, max_htl);
    let share = |outs: &[Outcome<VirtualContent>]| {
        outs.iter().filter(|o| o.succeeded()).count() as f64 / outs.len().max(1) as f64
    };
    let mut hops: Vec<f64> = outcomes
        .iter()
        .filter(|o| o.succeeded())
        .map(|o| f64::from(o.hops))
        .collect();
    hops.sort_by(f64::total_cmp);
    let alive: Vec<PeerId> = (0..params.nodes)
        .map(PeerId)
        .filter(|&p| net.is_alive(p))
        .collect();
    let mut load: Vec<f64> = alive
        .iter()
        .map(|&p| (net.load(p) - before[p.0 as usize]) as f64)
        .collect();
    load.sort_by(f64::total_cmp);
    let mean = |f: &dyn Fn(&P) -> usize| {
        alive.iter().map(|&p| f(net.node(p)) as f64).sum::<f64>() / alive.len().max(1) as f64
    };
    let popular = params.popular.min(w.keys.len());
    let popular_replicas = w.keys[..popular]
        .iter()
        .map(|(_, key)| alive.iter().filter(|&&p| net.node(p).holds(key)).count() as f64)
        .sum::<f64>()
        / popular.max(1) as f64;
    Figures {
        mode,
        success: share(&outcomes),
        success_after_failure: share(&outcomes[half..]),
        hops,
        messages: outcomes.iter().map(|o| f64::from(o.messages)).sum::<f64>()
            / outcomes.len().max(1) as f64,
        load,
        state: mean(&|n| n.state_size()),
        stored: mean(&|n| n.stored()),
        popular_replicas,
        naive,
    }
}

/// Runs the comparison; `tick` gets each mode's index as it finishes.
pub fn run(params: &Params, mut tick: impl FnMut(usize)) -> Vec<Figures> {
    let w = workload(params);
    let converged = convergence::converge(
        &convergence::Params {
            seed: params.seed,
            nodes: params.nodes,
            store: params.store,
            steps: params.converge_steps,
            probe_every: u64::MAX,
            ..convergence::Params::default()
        },
        |_| {},
    );
    // The paper's network, then the settings the real node runs with:
    // the HTL coin, the stem, source rewriting.
    let real = anonymity::node_config(true, true);
    let freenet = anonymity::with_config(&converged.net, real);
    let mut figures = vec![measure(Mode::Freenet, freenet, &w, real.max_htl, params)];
    tick(1);
    for (i, cache) in [(2, 0), (3, params.store)] {
        let config = ChordConfig {
            successors: params.successors,
            maintenance: false,
            ..ChordConfig::default()
        };
        // Chord must keep every key it owns or replicates: its store is
        // unbounded, and what it holds is reported as state.
        let net = chord_ring(
            params.seed,
            params.nodes,
            config,
            usize::MAX >> 1,
            cache,
            Latency::default(),
        );
        let mode = if cache == 0 {
            Mode::Chord
        } else {
            Mode::ChordCache
        };
        figures.push(measure(mode, net, &w, config.max_htl, params));
        tick(i);
    }
    figures
}

/// Tables, plots and summary of a run. The printed table is Markdown.
pub fn report(params: &Params, figures: &[Figures]) -> Report {
    // The mode column: 0 Freenet, 1 Chord, 2 Chord with a path cache.
    let mut table = Table::new(
        "compare",
        &[
            "mode",
            "success",
            "success_after_failure",
            "median_hops",
            "mean_hops",
            "p99_hops",
            "messages_per_request",
            "max_load",
            "mean_load",
            "state_per_node",
            "stored_per_node",
            "popular_replicas",
            "naive_precision",
            "naive_recall",
        ],
    );
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    for (i, f) in figures.iter().enumerate() {
        table.push(vec![
            i as f64,
            f.success,
            f.success_after_failure,
            quantile(&f.hops, 0.5),
            mean(&f.hops),
            quantile(&f.hops, 0.99),
            f.messages,
            f.load.last().copied().unwrap_or(0.0),
            mean(&f.load),
            f.state,
            f.stored,
            f.popular_replicas,
            f.naive.precision(),
            f.naive.recall(),
        ]);
    }
    let mut cdf = Plot::new(
        "compare-hops.svg",
        "Hops of successful requests, same workload",
        "hops",
        "share of successful requests with at most this many hops",
    );
    cdf.y_range = Some((0.0, 1.0));
    cdf.series = figures
        .iter()
        .map(|f| {
            let n = f.hops.len().max(1) as f64;
            let max = f.hops.last().copied().unwrap_or(0.0) as usize;
            let points = (0..=max)
                .map(|h| {
                    let at_most = f.hops.partition_point(|&x| x <= h as f64);
                    (h as f64, at_most as f64 / n)
                })
                .collect();
            Series::new(f.mode.name(), Style::LinePoints, points)
        })
        .collect();
    let mut load = Plot::new(
        "compare-load.svg",
        "Messages each node received, busiest first",
        "node rank by load",
        "messages received",
    );
    load.y_scale = Scale::Log;
    load.series = figures
        .iter()
        .map(|f| {
            let points = f
                .load
                .iter()
                .rev()
                .enumerate()
                .map(|(rank, &l)| ((rank + 1) as f64, l.max(1.0)))
                .collect();
            Series::new(f.mode.name(), Style::Line, points)
        })
        .collect();
    let summary = json!({
        "scenario": "compare",
        "params": { "seed": params.seed, "nodes": params.nodes, "keys": params.keys,
                    "requests": params.requests, "zipf": params.zipf, "fail": params.fail,
                    "store": params.store, "converge_steps": params.converge_steps,
                    "adversaries": params.adversaries, "successors": params.successors, "popular": params.popular },
        "modes": figures.iter().map(|f| json!({
            "mode": f.mode.name(), "success": f.success,
            "success_after_failure": f.success_after_failure,
            "median_hops": quantile(&f.hops, 0.5), "mean_hops": mean(&f.hops),
            "p99_hops": quantile(&f.hops, 0.99), "messages_per_request": f.messages,
            "max_load": f.load.last().copied().unwrap_or(0.0), "mean_load": mean(&f.load),
            "state_per_node": f.state, "stored_per_node": f.stored,
            "popular_replicas": f.popular_replicas,
            "naive_precision": f.naive.precision(), "naive_recall": f.naive.recall(),
            "naive_names": f.naive.guesses,
        })).collect::<Vec<_>>(),
    });
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    let popular_row = format!("copies of each of the {} most popular keys", params.popular);
    let row = |name: &str, cell: &dyn Fn(&Figures) -> String| {
        let mut line = format!("| {name} |");
        for f in figures {
            line.push_str(&format!(" {} |", cell(f)));
        }
        line + "\n"
    };
    let mut printed = String::from("| |");
    for f in figures {
        printed.push_str(&format!(" {} |", f.mode.name()));
    }
    printed.push_str("\n|---|");
    printed.push_str(&"---:|".repeat(figures.len()));
    printed.push('\n');
    printed += &row("success", &|f| pct(f.success));
    printed += &row("success after the failure", &|f| {
        pct(f.success_after_failure)
    });
    printed += &row("median hops", &|f| fmt_num(quantile(&f.hops, 0.5)));
    printed += &row("mean hops", &|f| format!("{:.2}", mean(&f.hops)));
    printed += &row("p99 hops", &|f| fmt_num(quantile(&f.hops, 0.99)));
    printed += &row("messages per request", &|f| format!("{:.1}", f.messages));
    printed += &row("max / mean load (messages)", &|f| {
        let max = f.load.last().copied().unwrap_or(0.0);
        format!("{} / {:.0}", fmt_num(max), mean(&f.load))
    });
    printed += &row("routing state per node (peers)", &|f| {
        format!("{:.1}", f.state)
    });
    printed += &row("entries stored per node", &|f| format!("{:.1}", f.stored));
    printed += &row(&popular_row, &|f| format!("{:.1}", f.popular_replicas));
    let spies = format!(
        "naive attacker, {:.0}% adversaries: precision / recall",
        100.0 * params.adversaries
    );
    printed += &row(&spies, &|f| {
        format!("{} / {}", pct(f.naive.precision()), pct(f.naive.recall()))
    });
    Report {
        tables: vec![table],
        plots: vec![cdf, load],
        summary,
        printed,
    }
}
