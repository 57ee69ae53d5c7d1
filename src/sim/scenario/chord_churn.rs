//! `chord-churn`: the Chord paper's "lookups during stabilization"
//! experiment (Stoica et al., SIGCOMM 2001, §6.4), and what the same churn
//! does to stored data with and without replication rounds.
//!
//! A stable ring of `nodes` nodes runs its maintenance timers. Nodes fail
//! and join as two Poisson processes of the same rate R per second, so the
//! ring keeps about its size; one lookup of a random location leaves a
//! random joined node every second. A lookup fails if it is not answered
//! with a node (no route, or no answer before the run ends) or if the node
//! it names is not the target's true successor when the answer arrives.
//! "True" counts the live nodes whose join has been answered (and the
//! starting ring): a node still looking up its own successor is not yet in
//! anyone's view, and counting it would fail lookups for a join that has
//! not happened; a node that has joined but that its predecessor has not
//! yet stabilised onto does count, which is the inconsistency the paper
//! measures.
//!
//! Each rate runs twice on the same schedule of failures, joins and
//! lookups: once with replication rounds (every `replicate_secs`, and after
//! a neighbourhood change) and once without. `keys` keys start on their
//! owner and its `r` successors; at the end, the share of keys with no live
//! copy and the mean live copies per key are counted.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::{Report, chord_ring, key_holders, live_ring, node_location};
use crate::key::Location;
use crate::routing::{
    ChordConfig, ChordRef, ClientId, ClientOp, ClientResult, PeerId, Store, Time,
};
use crate::sim::content::{VirtualContent, VirtualKey};
use crate::sim::engine::{Latency, Network, SimChord};
use crate::sim::report::{Plot, Series, Style, Table, format_table};

type Ring = Network<SimChord<VirtualContent>>;

/// The experiment's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Every random choice derives from it.
    pub seed: u64,
    /// Size of the starting ring (churn keeps it about there).
    pub nodes: u32,
    /// Failure rate, and join rate, per second; one run pair each.
    pub rates: Vec<f64>,
    /// Simulated minutes of lookups per rate.
    pub minutes: u64,
    /// Period of stabilize, fix-fingers and check-predecessor, in seconds.
    pub stabilize_secs: u64,
    /// Keys stored at the start.
    pub keys: usize,
    /// Successors kept, and replicas beyond each key's owner (`r`).
    pub successors: usize,
    /// Longest time between two replication rounds, in seconds, in the
    /// runs with rounds on.
    pub replicate_secs: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            nodes: 500,
            rates: vec![0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.10],
            minutes: 60,
            stabilize_secs: 30,
            keys: 2000,
            successors: 8,
            replicate_secs: 60,
        }
    }
}

impl Params {
    /// Runs the experiment makes: two per rate.
    pub fn runs(&self) -> u64 {
        2 * self.rates.len() as u64
    }
}

/// Time left after the last lookup for it to be answered: longer than a
/// lookup's longest deadline (64 hops × the 2 s hop timeout). Churn goes on
/// meanwhile, and the keys are counted at its end.
const GRACE_MS: u64 = 180_000;

/// One run: a rate, with replication rounds on or off.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Failures (and joins) per second.
    pub rate: f64,
    /// Whether replication rounds ran.
    pub rounds: bool,
    /// Nodes failed during the run.
    pub failures: usize,
    /// Nodes that joined (their join answered) during the run.
    pub joins: usize,
    /// Lookups counted: issued, less those whose origin failed before the
    /// answer.
    pub lookups: usize,
    /// Lookups with no answer: no route, or none before the run ended.
    pub unanswered: usize,
    /// Lookups answered with a node that is not the true successor.
    pub wrong: usize,
    /// Lookups whose origin failed before they were answered; not counted.
    pub abandoned: usize,
    /// Mean hops of the correct lookups.
    pub mean_hops: f64,
    /// Share of keys with no live copy at the end.
    pub lost: f64,
    /// Mean live copies per key at the end.
    pub copies: f64,
    /// Messages per live node and second, everything included.
    pub messages: f64,
}

impl Point {
    /// Share of lookups that failed, unanswered or wrong.
    pub fn failed(&self) -> f64 {
        (self.unanswered + self.wrong) as f64 / self.lookups.max(1) as f64
    }
}

/// What the driver does at a moment of the run. The choices are uniform
/// draws made in advance, so both runs of a rate follow one schedule.
#[derive(Clone, Copy, Debug)]
enum Action {
    /// A random live node fails.
    Fail(f64),
    /// A new node joins through a random joined node.
    Join(f64),
    /// A random joined node looks up `target`.
    Lookup(f64, Location),
}

/// The schedule of one rate: Poisson failures and joins over the run and
/// its grace, one lookup a second over the measured time; sorted by time.
fn schedule(rng: &mut ChaCha8Rng, rate: f64, measured_ms: u64) -> Vec<(u64, Action)> {
    let end = measured_ms + GRACE_MS;
    let mut actions: Vec<(u64, Action)> = (0..measured_ms / 1000)
        .map(|s| (s * 1000, Action::Lookup(rng.r#gen(), Location(rng.r#gen()))))
        .collect();
    if rate > 0.0 {
        let mean_gap_ms = 1000.0 / rate;
        for fail in [true, false] {
            let mut t = 0.0;
            loop {
                // Exponential gaps: u in (0, 1], so ln u is finite.
                let u: f64 = 1.0 - rng.r#gen::<f64>();
                t -= mean_gap_ms * u.ln();
                if t >= end as f64 {
                    break;
                }
                let pick = rng.r#gen();
                let action = if fail {
                    Action::Fail(pick)
                } else {
                    Action::Join(pick)
                };
                actions.push((t as u64, action));
            }
        }
    }
    // Stable, so that equal times keep lookups, then failures, then joins.
    actions.sort_by_key(|(t, _)| *t);
    actions
}

/// The index among `len` items that a uniform draw `u` in [0, 1) picks.
fn pick(len: usize, u: f64) -> usize {
    ((u * len as f64) as usize).min(len - 1)
}

/// Runs the experiment; `tick` is called after each run with the runs done.
pub fn run(params: &Params, mut tick: impl FnMut(u64)) -> Vec<Point> {
    let r = params.successors.max(1);
    let period = params.stabilize_secs.max(1) * 1000;
    let config = |replicate_ms| ChordConfig {
        successors: r,
        maintenance: true,
        // The paper's nodes stabilise every 30 s on average; the core's
        // timers are periodic with a random phase per node, so the three
        // run at one period, each node at its own moment in it.
        stabilize_ms: period,
        fix_fingers_ms: period,
        check_predecessor_ms: period,
        replicate_ms,
        ..ChordConfig::default()
    };
    let mut master = ChaCha8Rng::seed_from_u64(params.seed);
    let net_seed: u64 = master.r#gen();
    // One stocked ring per setting, cloned for every rate: the keys on
    // their owner and its r successors.
    let mut stocked = Vec::new();
    let mut keys = Vec::new();
    for rounds in [true, false] {
        let replicate_ms = if rounds {
            params.replicate_secs.max(1) * 1000
        } else {
            0
        };
        let mut net = chord_ring(
            net_seed,
            params.nodes,
            config(replicate_ms),
            usize::MAX >> 1,
            0,
            Latency::default(),
        );
        let ring = live_ring(&net);
        if keys.is_empty() {
            keys = (0..params.keys)
                .map(|_| VirtualKey(net.rng().r#gen()))
                .collect();
        }
        for key in &keys {
            for holder in key_holders(&ring, Location(key.0), r + 1) {
                net.node_mut(holder).preload(*key, ());
            }
        }
        stocked.push((rounds, net));
    }
    let measured_ms = params.minutes * 60_000;
    let mut points = Vec::new();
    let mut done = 0;
    for &rate in &params.rates {
        let actions = schedule(
            &mut ChaCha8Rng::seed_from_u64(master.r#gen()),
            rate,
            measured_ms,
        );
        for (rounds, net) in &stocked {
            let mut net = net.clone();
            let mut point = churn(&mut net, &actions, measured_ms, params.nodes, &keys);
            point.rate = rate;
            point.rounds = *rounds;
            points.push(point);
            done += 1;
            tick(done);
        }
    }
    points
}

/// A client request the driver waits on.
#[derive(Clone, Copy, Debug)]
enum Pending {
    Lookup { origin: PeerId, target: Location },
    Join(PeerId),
}

/// One run of `actions` on a stocked ring; the point's rate and rounds are
/// left for the caller.
fn churn(
    net: &mut Ring,
    actions: &[(u64, Action)],
    measured_ms: u64,
    nodes: u32,
    keys: &[VirtualKey],
) -> Point {
    let config = *net.node(PeerId(0)).config();
    for i in 0..nodes {
        net.wake(PeerId(i));
    }
    // Live nodes by id (for failures), and the joined ones by location
    // (the truth lookups are checked against, and where joins and lookups
    // start).
    let mut live: Vec<PeerId> = (0..nodes).map(PeerId).collect();
    let mut joined: BTreeMap<Location, ChordRef> = live
        .iter()
        .map(|&id| (net.chord_ref(id).location, net.chord_ref(id)))
        .collect();
    let mut pending: BTreeMap<ClientId, Pending> = BTreeMap::new();
    let mut point = Point {
        rate: 0.0,
        rounds: false,
        failures: 0,
        joins: 0,
        lookups: 0,
        unanswered: 0,
        wrong: 0,
        abandoned: 0,
        mean_hops: 0.0,
        lost: 0.0,
        copies: 0.0,
        messages: 0.0,
    };
    let mut hops = 0u64;
    let mut next_index = u64::from(nodes);
    let messages_before = net.stats().messages;
    let mut node_seconds = 0.0;
    let mut last = 0u64;

    for &(at, action) in actions {
        net.run_until(Time(0).plus_ms(at));
        settle(net, &mut joined, &mut pending, &mut point, &mut hops);
        node_seconds += live.len() as f64 * (at - last) as f64 / 1000.0;
        last = at;
        match action {
            Action::Fail(u) => {
                if live.len() <= 2 {
                    continue;
                }
                let id = live.remove(pick(live.len(), u));
                net.kill(id);
                joined.remove(&net.chord_ref(id).location);
                point.failures += 1;
            }
            Action::Join(u) => {
                let via = pick_joined(&joined, u);
                let id = net.add_chord_node(config, node_location(next_index), usize::MAX >> 1, 0);
                next_index += 1;
                live.push(id);
                let client = net.client(id, ClientOp::Join { via, htl: 0 });
                pending.insert(client, Pending::Join(id));
            }
            Action::Lookup(u, target) => {
                let origin = pick_joined(&joined, u);
                let client = net.client(origin, ClientOp::Lookup { target });
                pending.insert(client, Pending::Lookup { origin, target });
            }
        }
    }
    let end = measured_ms + GRACE_MS;
    net.run_until(Time(0).plus_ms(end));
    settle(net, &mut joined, &mut pending, &mut point, &mut hops);
    node_seconds += live.len() as f64 * (end - last) as f64 / 1000.0;
    for what in pending.values() {
        if let Pending::Lookup { origin, .. } = what {
            if net.is_alive(*origin) {
                point.lookups += 1;
                point.unanswered += 1;
            } else {
                point.abandoned += 1;
            }
        }
    }
    let correct = point.lookups - point.unanswered - point.wrong;
    point.mean_hops = hops as f64 / correct.max(1) as f64;
    point.messages = (net.stats().messages - messages_before) as f64 / node_seconds.max(1.0);

    // Live copies of every key.
    let mut held: BTreeMap<VirtualKey, usize> = keys.iter().map(|k| (*k, 0)).collect();
    for &id in &live {
        for key in net.node(id).store().all_keys() {
            if let Some(n) = held.get_mut(&key) {
                *n += 1;
            }
        }
    }
    let n = keys.len().max(1) as f64;
    point.lost = held.values().filter(|&&c| c == 0).count() as f64 / n;
    point.copies = held.values().sum::<usize>() as f64 / n;
    point
}

/// Takes the answers that arrived: joins enter the truth, lookups are
/// checked against it. Called before each action, so the truth is the
/// ring as it stood when the answers arrived.
fn settle(
    net: &mut Ring,
    joined: &mut BTreeMap<Location, ChordRef>,
    pending: &mut BTreeMap<ClientId, Pending>,
    point: &mut Point,
    hops: &mut u64,
) {
    for out in net.take_outcomes() {
        let Some(what) = pending.remove(&out.client) else {
            continue;
        };
        match (what, out.result) {
            (Pending::Join(id), _) if !net.is_alive(id) => {}
            (Pending::Join(id), ClientResult::Joined(_)) => {
                joined.insert(net.chord_ref(id).location, net.chord_ref(id));
                point.joins += 1;
            }
            (Pending::Join(id), _) => {
                // Its entry point failed or could not route: retry through
                // another joined node, as a real node would.
                let via = pick_joined(joined, net.rng().r#gen());
                let client = net.client(id, ClientOp::Join { via, htl: 0 });
                pending.insert(client, Pending::Join(id));
            }
            (Pending::Lookup { target, .. }, ClientResult::Located(node)) => {
                point.lookups += 1;
                if node == successor(joined, target) {
                    *hops += u64::from(out.hops);
                } else {
                    point.wrong += 1;
                }
            }
            (Pending::Lookup { .. }, _) => {
                point.lookups += 1;
                point.unanswered += 1;
            }
        }
    }
}

/// The joined node a uniform draw picks, in location order.
fn pick_joined(joined: &BTreeMap<Location, ChordRef>, u: f64) -> PeerId {
    let at = pick(joined.len(), u);
    joined
        .values()
        .nth(at)
        .expect("the ring is never empty")
        .peer
}

/// The true successor of `target` among the joined live nodes.
fn successor(joined: &BTreeMap<Location, ChordRef>, target: Location) -> ChordRef {
    *joined
        .range(target..)
        .next()
        .or_else(|| joined.iter().next())
        .expect("the ring is never empty")
        .1
}

/// Tables, plots and summary of a run.
pub fn report(params: &Params, points: &[Point]) -> Report {
    let r = params.successors.max(1);
    let mut table = Table::new(
        "chord-churn",
        &[
            "rate",
            "rounds",
            "failures",
            "joins",
            "lookups",
            "unanswered",
            "wrong",
            "abandoned",
            "lookups_failed",
            "mean_hops",
            "keys_lost",
            "mean_copies",
            "messages_per_node_second",
        ],
    );
    for p in points {
        table.push(vec![
            p.rate,
            f64::from(u8::from(p.rounds)),
            p.failures as f64,
            p.joins as f64,
            p.lookups as f64,
            p.unanswered as f64,
            p.wrong as f64,
            p.abandoned as f64,
            p.failed(),
            p.mean_hops,
            p.lost,
            p.copies,
            p.messages,
        ]);
    }
    let series = |rounds: bool, name: &str, style, f: &dyn Fn(&Point) -> f64| {
        Series::new(
            name,
            style,
            points
                .iter()
                .filter(|p| p.rounds == rounds)
                .map(|p| (p.rate, f(p)))
                .collect(),
        )
    };
    let mut lookups = Plot::new(
        "chord-churn.svg",
        &format!(
            "Failed lookups under churn, {} nodes, stabilising every {} s",
            params.nodes, params.stabilize_secs
        ),
        "failure rate = join rate (per second)",
        "fraction of lookups",
    );
    // Both runs of a rate: the same churn and lookups, two samples of the
    // ring's consistency (the rounds do not touch routing state).
    lookups.series = vec![
        series(true, "failed, rounds on", Style::LinePoints, &|p| {
            p.failed()
        }),
        series(false, "failed, rounds off", Style::LinePoints, &|p| {
            p.failed()
        }),
        series(true, "wrong successor, rounds on", Style::Line, &|p| {
            p.wrong as f64 / p.lookups.max(1) as f64
        }),
        series(false, "wrong successor, rounds off", Style::Line, &|p| {
            p.wrong as f64 / p.lookups.max(1) as f64
        }),
    ];
    let mut lost = Plot::new(
        "chord-churn-keys.svg",
        &format!(
            "Keys with no live copy after {} min of churn, {} copies at the start",
            params.minutes + GRACE_MS / 60_000,
            r + 1
        ),
        "failure rate = join rate (per second)",
        "fraction of keys lost",
    );
    lost.series = vec![
        series(true, "replication rounds on", Style::LinePoints, &|p| {
            p.lost
        }),
        series(false, "replication rounds off", Style::LinePoints, &|p| {
            p.lost
        }),
    ];
    let mut copies = Plot::new(
        "chord-churn-copies.svg",
        "Live copies per key at the end",
        "failure rate = join rate (per second)",
        "mean live copies",
    );
    copies.series = vec![
        series(true, "replication rounds on", Style::LinePoints, &|p| {
            p.copies
        }),
        series(false, "replication rounds off", Style::LinePoints, &|p| {
            p.copies
        }),
    ];
    let summary = json!({
        "scenario": "chord-churn",
        "params": {
            "seed": params.seed, "nodes": params.nodes, "rates": params.rates,
            "minutes": params.minutes, "grace_seconds": GRACE_MS / 1000,
            "stabilize_secs": params.stabilize_secs, "keys": params.keys,
            "successors": r, "replicate_secs": params.replicate_secs,
        },
        "points": points.iter().map(|p| json!({
            "rate": p.rate, "rounds": p.rounds, "failures": p.failures, "joins": p.joins,
            "lookups": p.lookups, "unanswered": p.unanswered, "wrong": p.wrong,
            "abandoned": p.abandoned, "lookups_failed": p.failed(), "mean_hops": p.mean_hops,
            "keys_lost": p.lost, "mean_copies": p.copies,
            "messages_per_node_second": p.messages,
        })).collect::<Vec<_>>(),
    });
    let pct = |x: f64| format!("{:.2}%", 100.0 * x);
    let rows: Vec<Vec<String>> = params
        .rates
        .iter()
        .filter_map(|&rate| {
            let on = points.iter().find(|p| p.rounds && p.rate == rate)?;
            let off = points.iter().find(|p| !p.rounds && p.rate == rate)?;
            Some(vec![
                format!("{rate}"),
                format!("{}/{}", on.failures, on.joins),
                pct(on.failed()),
                pct(off.failed()),
                format!("{:.2}", on.mean_hops),
                pct(on.lost),
                format!("{:.2}", on.copies),
                pct(off.lost),
                format!("{:.2}", off.copies),
            ])
        })
        .collect();
    let printed = format_table(
        &[
            "R (/s)",
            "failed/joined",
            "lookups failed: rounds on",
            "rounds off",
            "hops",
            "rounds on: keys lost",
            "copies",
            "rounds off: keys lost",
            "copies",
        ],
        &rows,
    );
    Report {
        tables: vec![table],
        plots: vec![lookups, lost, copies],
        summary,
        printed,
    }
}
