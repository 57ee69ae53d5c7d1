//! The experiment: every setting at every fraction, and the sweeps.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::measure::{Plan, Publish, measure, plan};
use super::networks::{first_hop_skew, small_world, with_config};
use super::score::Measured;
use super::{Attack, Params, Setting, node_config};
use crate::routing::{ChordConfig, Config, PeerId};
use crate::sim::content::VirtualContent;
use crate::sim::engine::{Latency, Network, SimChord, SimCore};
use crate::sim::scenario::{chord_ring, convergence, probe};

/// One setting at one fraction.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The network and mode.
    pub setting: Setting,
    /// Share of nodes that are adversaries.
    pub fraction: f64,
    /// How many adversaries that is.
    pub adversaries: usize,
    /// The attackers' scores.
    pub measured: Measured,
}

/// One point of a sweep on the small world: the real node's settings
/// with one value changed (after), and the same with the stem off
/// (before).
#[derive(Clone, Debug, PartialEq)]
pub struct SweepPoint {
    /// The swept value: the coin's probability of decrementing at max HTL,
    /// the peers per node, or the stem's continuation probability.
    pub x: f64,
    /// With the stem on.
    pub after: Measured,
    /// With the stem off (in the stem sweep, the same run for every
    /// point).
    pub before: Measured,
}

impl SweepPoint {
    /// Median hops the stem adds to a request here.
    pub fn hops_added(&self) -> f64 {
        self.after.requests.median_hops - self.before.requests.median_hops
    }
}

/// Everything a run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    /// Every setting at every measured fraction.
    pub points: Vec<Point>,
    /// The small world at `sweep_fraction`, coin probability swept.
    pub coin: Vec<SweepPoint>,
    /// The small world at `sweep_fraction`, peers per node swept.
    pub degree: Vec<SweepPoint>,
    /// The small world at the headline fraction, stem continuation swept.
    pub stem: Vec<SweepPoint>,
    /// Success of 300 probes on the converged network under the real
    /// node's settings (stem on, coin on): that the Freenet network
    /// measured routes well.
    pub probe_success: f64,
    /// Their median pathlength (stem hops included).
    pub probe_median: f64,
    /// The same probes with the stem off (before).
    pub probe_success_before: f64,
    /// Their median pathlength.
    pub probe_median_before: f64,
    /// [`first_hop_skew`] of the converged network: median share of the
    /// busiest peer, and median `1 / peers`.
    pub skew_converged: (f64, f64),
    /// The same for the small world of `peers` peers.
    pub skew_small_world: (f64, f64),
}

impl Results {
    /// The point of `setting` at `fraction`, if measured.
    pub fn point(&self, setting: Setting, fraction: f64) -> Option<&Point> {
        self.points
            .iter()
            .find(|p| p.setting == setting && p.fraction == fraction)
    }
}

/// A generator for one purpose of the run (adversaries, or the plan of
/// fraction `i`), independent of the networks' own generators, so every
/// setting sees the same adversaries and the same honest traffic.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The networks every fraction is measured on, built once and cloned.
struct Networks {
    /// The converged network under each Freenet setting's config, in
    /// [`Setting::ALL`] order.
    freenet: Vec<(Setting, Network<SimCore<VirtualContent>>)>,
    chord: Network<SimChord<VirtualContent>>,
    /// The small world under each small-world setting's config.
    worlds: Vec<(Setting, Network<SimCore<VirtualContent>>)>,
}

impl Networks {
    fn measure(
        &self,
        setting: Setting,
        adversaries: &[PeerId],
        plan: &Plan,
        a: &Attack,
        c: &Attack,
    ) -> Measured {
        let find = |nets: &[(Setting, Network<SimCore<VirtualContent>>)]| {
            nets.iter()
                .find(|(s, _)| *s == setting)
                .map(|(_, n)| n.clone())
                .expect("every Freenet setting has its network")
        };
        match setting {
            Setting::Freenet { .. } => measure(
                &mut find(&self.freenet),
                adversaries,
                plan,
                Publish::Keep,
                a,
            ),
            // Without a path cache a Chord request takes the same path
            // whether or not its key is stored; inserts are kept.
            Setting::Chord => measure(&mut self.chord.clone(), adversaries, plan, Publish::Keep, c),
            // Nothing stays: a request that finds data, or an insert that
            // completes, adds references to its source, and the small world
            // would grow past its degree. Unanswered requests leave the
            // graph as built, and are observed as answered ones.
            Setting::SmallWorld { .. } => measure(
                &mut find(&self.worlds),
                adversaries,
                plan,
                Publish::Restore,
                a,
            ),
        }
    }
}

impl Networks {
    /// Every network, under every setting's config, from the converged
    /// network `trained`.
    fn build(params: &Params, trained: &Network<SimCore<VirtualContent>>) -> Networks {
        let store = convergence::Params::default().store;
        let settings = |world: bool| {
            Setting::ALL
                .into_iter()
                .filter(move |s| matches!(s, Setting::SmallWorld { .. }) == world)
                .filter_map(|s| s.config().map(|c| (s, c)))
        };
        let chord = ChordConfig {
            maintenance: false,
            ..ChordConfig::default()
        };
        Networks {
            freenet: settings(false)
                .map(|(s, c)| (s, with_config(trained, c)))
                .collect(),
            chord: chord_ring(
                params.seed,
                params.nodes,
                chord,
                store,
                0,
                Latency::default(),
            ),
            worlds: settings(true)
                .map(|(s, c)| {
                    (
                        s,
                        small_world(params.seed, params.nodes, params.peers, c, store),
                    )
                })
                .collect(),
        }
    }

    /// The converged network under `setting`'s config.
    fn freenet(&self, setting: Setting) -> &Network<SimCore<VirtualContent>> {
        let (_, net) = self
            .freenet
            .iter()
            .find(|(s, _)| *s == setting)
            .expect("every Freenet setting has its network");
        net
    }
}

/// What every run shares: who the adversaries are, the workload's keys,
/// the attacks, and the count of runs done.
struct Study<'a, T: FnMut(u64)> {
    params: &'a Params,
    /// Every node in a random order: the first `adversaries(f)` are the
    /// adversaries at fraction `f`.
    order: Vec<PeerId>,
    keys: Vec<crate::sim::content::VirtualKey>,
    freenet: Attack,
    chord: Attack,
    done: u64,
    tick: T,
}

impl<T: FnMut(u64)> Study<'_, T> {
    /// The adversaries at `fraction` and the plan of stream `index`.
    fn plan(&self, fraction: f64, index: u64) -> (Vec<PeerId>, Plan) {
        let p = self.params;
        let adversaries = &self.order[..p.adversaries(fraction)];
        let honest: Vec<PeerId> = self.order[adversaries.len()..].to_vec();
        let drawn = plan(
            &mut stream(p.seed, 2 + index),
            &honest,
            &self.keys,
            p.requests,
            p.downloads_at(fraction),
            p.blocks,
        );
        (adversaries.to_vec(), drawn)
    }

    fn ticked(&mut self) {
        self.done += 1;
        (self.tick)(self.done);
    }

    /// Every setting at every measured fraction.
    fn points(&mut self, networks: &Networks) -> Vec<Point> {
        let mut points = Vec::new();
        for (i, fraction) in self.params.measured_fractions().into_iter().enumerate() {
            let (adversaries, plan) = self.plan(fraction, i as u64);
            for setting in Setting::ALL {
                let measured =
                    networks.measure(setting, &adversaries, &plan, &self.freenet, &self.chord);
                points.push(Point {
                    setting,
                    fraction,
                    adversaries: adversaries.len(),
                    measured,
                });
                self.ticked();
            }
        }
        points
    }

    /// One run on a fresh small world of `peers` peers under `config`, at
    /// `fraction` with the plan of stream `index`, publishing as `publish`
    /// says.
    fn sweep_run(
        &mut self,
        config: Config,
        peers: u32,
        (fraction, index): (f64, u64),
        publish: Publish,
    ) -> Measured {
        let (adversaries, plan) = self.plan(fraction, index);
        let store = convergence::Params::default().store;
        let mut net = small_world(self.params.seed, self.params.nodes, peers, config, store);
        let m = measure(&mut net, &adversaries, &plan, publish, &self.freenet);
        self.ticked();
        m
    }

    /// A coin or degree sweep point: `config` with the stem on and off, at
    /// the sweep fraction (its own plan). The files are downloaded but not
    /// published: these sweeps are about the requesters, and inserts are
    /// the dearest part of a run.
    fn paired(&mut self, x: f64, config: Config, peers: u32) -> SweepPoint {
        let at = (
            self.params.sweep_fraction,
            self.params.measured_fractions().len() as u64,
        );
        let off = Config {
            stem: false,
            ..config
        };
        SweepPoint {
            x,
            after: self.sweep_run(config, peers, at, Publish::No),
            before: self.sweep_run(off, peers, at, Publish::No),
        }
    }

    /// The stem sweep at the headline fraction, on its plan, against the
    /// stem-off run of the same plan (`baseline`).
    fn stem_sweep(&mut self, baseline: Measured) -> Vec<SweepPoint> {
        let p = self.params;
        let index = p
            .measured_fractions()
            .iter()
            .position(|&f| f == p.headline_fraction)
            .expect("the headline fraction is measured") as u64;
        let real = node_config(true, true);
        p.sweep_stem
            .iter()
            .map(|&q| {
                let config = Config {
                    stem_continue: q,
                    ..real
                };
                SweepPoint {
                    x: q,
                    after: self.sweep_run(
                        config,
                        p.peers,
                        (p.headline_fraction, index),
                        Publish::Restore,
                    ),
                    before: baseline,
                }
            })
            .collect()
    }
}

/// Runs the experiment; `tick` is called after every run with the number
/// of runs done (up to [`Params::runs`]).
pub fn run(params: &Params, tick: impl FnMut(u64)) -> Results {
    let converged = convergence::converge(&params.converge(), |_| {});
    let networks = Networks::build(params, &converged.net);
    drop(converged.net);
    let live: Vec<PeerId> = (0..params.nodes).map(PeerId).collect();
    let keys = converged.workload.keys;
    let max_htl = Config::default().max_htl;
    let [after, before] = [Setting::CONVERGED, Setting::CONVERGED_BEFORE]
        .map(|setting| probe(networks.freenet(setting), &live, &keys, 300, max_htl));
    let mut skew_rng = stream(params.seed, 0);
    let skew_converged = first_hop_skew(&networks.freenet[0].1, &mut skew_rng, 300, 1000);
    let skew_small_world = first_hop_skew(&networks.worlds[0].1, &mut skew_rng, 300, 1000);

    let mut order = live;
    order.shuffle(&mut stream(params.seed, 1));
    let mut study = Study {
        params,
        order,
        keys,
        freenet: Attack::freenet(params),
        chord: Attack::chord(params),
        done: 0,
        tick,
    };
    let points = study.points(&networks);
    let real = node_config(true, true);
    let coin: Vec<SweepPoint> = params
        .sweep_coins
        .iter()
        .map(|&p| {
            study.paired(
                p,
                Config {
                    decrement_at_max: p,
                    ..real
                },
                params.peers,
            )
        })
        .collect();
    let degree: Vec<SweepPoint> = params
        .sweep_peers
        .iter()
        .map(|&peers| study.paired(f64::from(peers), real, peers))
        .collect();
    let baseline = points
        .iter()
        .find(|p| {
            p.setting == Setting::SMALL_WORLD_BEFORE && p.fraction == params.headline_fraction
        })
        .expect("measured above")
        .measured;
    let stem = study.stem_sweep(baseline);
    Results {
        points,
        coin,
        degree,
        stem,
        probe_success: after.success(),
        probe_median: after.quantile(0.5),
        probe_success_before: before.success(),
        probe_median_before: before.quantile(0.5),
        skew_converged,
        skew_small_world,
    }
}
