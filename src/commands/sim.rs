//! `fog sim SCENARIO`: runs a study in the simulator and writes its files.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use fogstore::sim::progress::Progress;
use fogstore::sim::scenario::{
    Report, anonymity, cache_migration, chord_churn, chord_failures, chord_hops, compare,
    convergence, faults, scalability, small_world,
};
use fogstore::sim::seeds;

use super::Failure;

/// Arguments of `fog sim`.
#[derive(Args)]
pub(crate) struct SimArgs {
    #[command(subcommand)]
    scenario: Scenario,
}

/// Options every scenario takes.
#[derive(Args)]
struct Common {
    /// Folder for the CSV, SVG and summary.json files [default: fog-sim/SCENARIO].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Seed of every random choice, decimal or 0x-hex; the same seed gives
    /// byte-identical files.
    #[arg(long, default_value = "1", value_parser = parse_seed)]
    seed: u64,
    /// Run seeds SEED .. SEED+N, each into DIR/seed-S/, and report every
    /// figure's median and range over them (DIR/seeds.json).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    seeds: u32,
}

/// The convergence run that `faults` and `small-world` start from.
#[derive(Args)]
struct Converge {
    /// Network size.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(5..=1_000_000))]
    nodes: u32,
    /// Time steps of convergence before measuring.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    steps: u64,
    /// Requests per probe.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    probes: u32,
}

impl Converge {
    fn params(&self, seed: u64) -> convergence::Params {
        convergence::Params {
            seed,
            nodes: self.nodes,
            steps: self.steps,
            probes: self.probes as usize,
            probe_every: u64::MAX,
            ..convergence::Params::default()
        }
    }
}

#[derive(Subcommand)]
enum Scenario {
    /// The 2001 paper's convergence experiment: a 1000-node ring lattice
    /// learns to route; probes measure pathlength over time.
    Convergence {
        #[command(flatten)]
        common: Common,
        /// Network size.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(5..=1_000_000))]
        nodes: u32,
        /// Time steps (one insert or request each).
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        steps: u64,
        /// Steps between probes.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
        probe_every: u64,
        /// Requests per probe.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        probes: u32,
        /// Hops to live of workload requests and inserts.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(1..))]
        htl: u8,
        /// Datastore size per node, in items.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        store: u32,
        /// Routing table size per node.
        #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        table: u32,
        /// Probability a hop rewrites the data source to itself.
        #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
        source_rewrite: f64,
    },
    /// The 2001 paper's scalability experiment: a network grows from a
    /// 20-node lattice by announcement while the workload runs; probes at
    /// each doubling measure pathlength against size.
    Scalability {
        #[command(flatten)]
        common: Common,
        /// Size to grow to.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(21..=2_000_000))]
        nodes: u32,
        /// Workload steps between two joins.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1000))]
        steps_per_join: u32,
        /// Requests per probe.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        probes: u32,
        /// Hops to live of announcements.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..=29))]
        announce_htl: u8,
    },
    /// The 2001 paper's fault-tolerance experiment: after convergence,
    /// remove nodes at random and, separately, the most referenced first.
    Faults {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        converge: Converge,
    },
    /// The shape of the converged network: links per node (log-log) and
    /// clustering, against the starting lattice and a random graph.
    SmallWorld {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        converge: Converge,
    },
    /// The Chord paper's path-length experiment: lookups on stable rings of
    /// 2^min-exp to 2^max-exp nodes, with hashed and with evenly spaced
    /// ids, against ½·log2 N.
    ChordHops {
        #[command(flatten)]
        common: Common,
        /// Smallest ring: 2^min-exp nodes.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=22))]
        min_exp: u32,
        /// Largest ring: 2^max-exp nodes (2^20 takes about a minute and
        /// 3 GiB).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=22))]
        max_exp: u32,
        /// Lookups per ring size and id layout.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        lookups: u32,
    },
    /// The Chord paper's failure experiment: a fraction of a stable ring
    /// fails at once; failed lookups against keys whose every copy died.
    ChordFailures {
        #[command(flatten)]
        common: Common,
        /// Ring size.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(16..=1_000_000))]
        nodes: u32,
        /// Keys stored.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        keys: u32,
        /// Requests after each failure.
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        lookups: u32,
        /// Successors kept, and replicas beyond each key's owner.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=15))]
        successors: u32,
    },
    /// The Chord paper's churn experiment: nodes fail and join at rate R
    /// per second while lookups run; failed lookups against R, and keys
    /// lost with and without replication rounds.
    ChordChurn {
        #[command(flatten)]
        common: Common,
        /// Starting ring size (churn keeps it about there).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(8..=100_000))]
        nodes: u32,
        /// Failure rates (= join rates) per second, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1], value_parser = parse_rate)]
        rates: Vec<f64>,
        /// Simulated minutes of lookups (one a second) per rate.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        minutes: u64,
        /// Period of stabilize, fix-fingers and check-predecessor, seconds.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        stabilize_secs: u64,
        /// Keys stored at the start.
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        keys: u32,
        /// Successors kept, and replicas beyond each key's owner.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=15))]
        successors: u32,
        /// Longest time between replication rounds, seconds, in the runs
        /// with rounds on.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        replicate_secs: u64,
    },
    /// One workload (keys, Zipf requests, latencies, a failure halfway)
    /// over Freenet mode and Chord mode with and without a path cache; a
    /// Markdown table of the figures side by side.
    Compare {
        #[command(flatten)]
        common: Common,
        /// Network size.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(16..=100_000))]
        nodes: u32,
        /// Keys inserted before the requests.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        keys: u32,
        /// Requests, by Zipf popularity over the keys.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(2..=10_000_000))]
        requests: u32,
        /// Zipf exponent of key popularity.
        #[arg(long, default_value_t = 0.8, value_parser = parse_exponent)]
        zipf: f64,
        /// Share of nodes that fail at once, halfway through the requests.
        #[arg(long, default_value_t = 0.1, value_parser = parse_probability)]
        fail: f64,
    },
    /// Copies moving toward demand: a region of nodes asks for popular keys
    /// inserted far away; Freenet mode against Chord with and without a
    /// path cache, on the same nodes and requests.
    CacheMigration {
        #[command(flatten)]
        common: Common,
        /// Network size.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
        nodes: u32,
        /// Steps of the paper's workload that converge the Freenet network
        /// first.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        steps: u64,
        /// Popular keys.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        keys: u32,
        /// Zipf exponent of the keys' popularity (0: all equally popular).
        #[arg(long, default_value_t = 1.0, value_parser = parse_exponent)]
        zipf: f64,
        /// Nodes in the demand region (an arc of the ring of node locations).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
        region: u32,
        /// Rounds of requests.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        rounds: u32,
        /// Requests per round, each from a random region node.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        requests: u32,
        /// Entries per node: the Freenet store, and Chord's store plus path
        /// cache.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
        store: u32,
        /// Entries of the Chord path cache, out of --store.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        cache: u32,
        /// Chord replicas beyond the responsible node.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(0..=64))]
        replicas: u32,
    },
    /// Requester and publisher anonymity: a fraction of the nodes log what
    /// they relay; naive, statistical, traceback and inserter attackers
    /// name originators. Precision and recall for Freenet with the stem on
    /// (coin on and off) and off, for Chord, and on a small world; the
    /// headline figures at 5% go into summary.json.
    Anonymity {
        #[command(flatten)]
        common: Common,
        /// Network size.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(20..=100_000))]
        nodes: u32,
        /// Convergence steps before the Freenet network is measured.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        steps: u64,
        /// Shares of the nodes that are adversaries, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [0.01, 0.02, 0.05, 0.1, 0.2], value_parser = parse_fraction)]
        fractions: Vec<f64>,
        /// Single-block requests by honest nodes per run (naive and traceback
        /// attackers).
        #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        requests: u32,
        /// Splitfiles per run, each published and downloaded (inserter and
        /// statistical attackers).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        downloads: u32,
        /// Splitfiles per run at the headline fraction (5%).
        #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        headline_downloads: u32,
        /// Blocks per splitfile.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        blocks: u32,
        /// Peers per node in the small-world network.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=200))]
        peers: u32,
        /// False-positive rate the statistical attacker allows per relaying
        /// neighbour and file.
        #[arg(long, default_value_t = 0.01, value_parser = parse_fraction)]
        false_positive: f64,
    },
}

fn parse_seed(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("{text:?} is not a seed: give a u64 in decimal or 0x-hex"))
}

fn parse_exponent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..=10.0).contains(&s) => Ok(s),
        _ => Err(format!("{text:?} is not an exponent between 0 and 10")),
    }
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if p > 0.0 && p < 1.0 => Ok(p),
        _ => Err(format!(
            "{text:?} is not a fraction strictly between 0 and 1"
        )),
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=10.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "{text:?} is not a rate: give events per second between 0 and 10"
        )),
    }
}

fn parse_probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{text:?} is not a probability between 0 and 1")),
    }
}

/// A scenario with its arguments checked: a run for each seed.
type Runner = Box<dyn Fn(u64) -> Report>;

pub(crate) fn run(args: SimArgs) -> Result<()> {
    let started = Instant::now();
    let (name, common, runner) = scenario(args.scenario)?;
    if common.seeds == 1 {
        write(name, common.out, &runner(common.seed))?;
    } else {
        run_seeds(name, &common, &runner)?;
    }
    eprintln!("ran in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The scenario's name, its common options and its runner.
fn scenario(scenario: Scenario) -> Result<(&'static str, Common, Runner)> {
    Ok(match scenario {
        Scenario::Convergence {
            common,
            nodes,
            steps,
            probe_every,
            probes,
            htl,
            store,
            table,
            source_rewrite,
        } => {
            let params = convergence::Params {
                seed: common.seed,
                nodes,
                steps,
                probe_every,
                probes: probes as usize,
                htl,
                store: store as usize,
                table: table as usize,
                source_rewrite,
                ..convergence::Params::default()
            };
            let runner: Runner = Box::new(move |seed| {
                let mut params = params;
                params.seed = seed;
                let progress = Progress::new("convergence", steps);
                let points = convergence::run(&params, |step| progress.set(step));
                progress.finish();
                convergence::report(&params, &points)
            });
            ("convergence", common, runner)
        }
        Scenario::Scalability {
            common,
            nodes,
            steps_per_join,
            probes,
            announce_htl,
        } => {
            let params = scalability::Params {
                seed: common.seed,
                nodes,
                steps_per_join,
                probes: probes as usize,
                announce_htl,
                ..scalability::Params::default()
            };
            let runner: Runner = Box::new(move |seed| {
                let mut params = params;
                params.seed = seed;
                let progress = Progress::new("scalability", u64::from(nodes));
                let points = scalability::run(&params, |size| {
                    if size % 1024 == 0 {
                        progress.set(u64::from(size));
                    }
                });
                progress.finish();
                scalability::report(&params, &points)
            });
            ("scalability", common, runner)
        }
        Scenario::Faults { common, converge } => {
            let params = faults::Params {
                converge: converge.params(common.seed),
                ..faults::Params::default()
            };
            let runner: Runner = Box::new(move |seed| {
                let mut params = params.clone();
                params.converge.seed = seed;
                let progress = Progress::new("faults", converge.steps);
                let points = faults::run(&params, |step| progress.set(step));
                progress.finish();
                faults::report(&params, &points)
            });
            ("faults", common, runner)
        }
        Scenario::SmallWorld { common, converge } => {
            let params = converge.params(common.seed);
            let runner: Runner = Box::new(move |seed| {
                let mut params = params;
                params.seed = seed;
                let progress = Progress::new("small-world", converge.steps);
                let (before, after) = small_world::run(&params, |step| progress.set(step));
                progress.finish();
                small_world::report(&params, &before, &after)
            });
            ("small-world", common, runner)
        }
        Scenario::ChordHops {
            common,
            min_exp,
            max_exp,
            lookups,
        } => {
            if min_exp > max_exp {
                return Err(anyhow::anyhow!(
                    "--min-exp {min_exp} is above --max-exp {max_exp}"
                ))
                .context(Failure::BadInput);
            }
            let params = chord_hops::Params {
                seed: common.seed,
                min_exp,
                max_exp,
                lookups: lookups as usize,
                ..chord_hops::Params::default()
            };
            let runner: Runner = Box::new(move |seed| {
                let mut params = params.clone();
                params.seed = seed;
                let progress = Progress::new("chord-hops", u64::from(max_exp - min_exp + 1));
                let points =
                    chord_hops::run(&params, |exp| progress.set(u64::from(exp - min_exp + 1)));
                progress.finish();
                chord_hops::report(&params, &points)
            });
            ("chord-hops", common, runner)
        }
        Scenario::ChordFailures {
            common,
            nodes,
            keys,
            lookups,
            successors,
        } => {
            let params = chord_failures::Params {
                seed: common.seed,
                nodes,
                keys: keys as usize,
                lookups: lookups as usize,
                successors: successors as usize,
                ..chord_failures::Params::default()
            };
            let runner: Runner = Box::new(move |seed| {
                let mut params = params.clone();
                params.seed = seed;
                let progress = Progress::new("chord-failures", params.fractions.len() as u64);
                let points = chord_failures::run(&params, |step| progress.set(step as u64));
                progress.finish();
                chord_failures::report(&params, &points)
            });
            ("chord-failures", common, runner)
        }
        Scenario::ChordChurn {
            common,
            nodes,
            rates,
            minutes,
            stabilize_secs,
            keys,
            successors,
            replicate_secs,
        } => {
            let params = chord_churn::Params {
                seed: common.seed,
                nodes,
                rates,
                minutes,
                stabilize_secs,
                keys: keys as usize,
                successors: successors as usize,
                replicate_secs,
            };
            let runner: Runner = Box::new(move |seed| {
                let mut params = params.clone();
                params.seed = seed;
                let progress = Progress::new("chord-churn", params.runs());
                let points = chord_churn::run(&params, |done| progress.set(done));
                progress.finish();
                chord_churn::report(&params, &points)
            });
            ("chord-churn", common, runner)
        }
        Scenario::Compare {
            common,
            nodes,
            keys,
            requests,
            zipf,
            fail,
        } => {
            let params = compare::Params {
                seed: common.seed,
                nodes,
                keys: keys as usize,
                requests: requests as usize,
                zipf,
                fail,
                ..compare::Params::default()
            };
            let runner: Runner = Box::new(move |seed| {
                let mut params = params.clone();
                params.seed = seed;
                let progress =
                    Progress::new("compare", fogstore::sim::scenario::Mode::ALL.len() as u64);
                let figures = compare::run(&params, |i| progress.set(i as u64));
                progress.finish();
                compare::report(&params, &figures)
            });
            ("compare", common, runner)
        }
        Scenario::CacheMigration {
            common,
            nodes,
            steps,
            keys,
            zipf,
            region,
            rounds,
            requests,
            store,
            cache,
            replicas,
        } => {
            if cache >= store {
                return Err(anyhow::anyhow!(
                    "--cache {cache} leaves no Chord store: it must be below --store {store}"
                )
                .context(Failure::BadInput));
            }
            if region >= nodes {
                return Err(anyhow::anyhow!(
                    "--region {region} must be below --nodes {nodes}: the keys are inserted outside it"
                )
                .context(Failure::BadInput));
            }
            let params = cache_migration::Params {
                seed: common.seed,
                nodes,
                converge_steps: steps,
                keys: keys as usize,
                zipf,
                region,
                rounds,
                requests,
                store: store as usize,
                cache: cache as usize,
                replicas: replicas as usize,
                ..cache_migration::Params::default()
            };
            let runner: Runner = Box::new(move |seed| {
                let mut params = params;
                params.seed = seed;
                let progress = Progress::new("cache-migration", params.work());
                let result = cache_migration::run(&params, |done| progress.set(done));
                progress.finish();
                cache_migration::report(&params, &result)
            });
            ("cache-migration", common, runner)
        }
        Scenario::Anonymity {
            common,
            nodes,
            steps,
            fractions,
            requests,
            downloads,
            headline_downloads,
            blocks,
            peers,
            false_positive,
        } => {
            if peers >= nodes {
                return Err(anyhow::anyhow!(
                    "--peers {peers} needs more than {peers} nodes (--nodes {nodes})"
                ))
                .context(Failure::BadInput);
            }
            let params = anonymity::Params {
                seed: common.seed,
                nodes,
                steps,
                fractions,
                requests: requests as usize,
                downloads: downloads as usize,
                headline_downloads: headline_downloads as usize,
                blocks: blocks as usize,
                peers,
                false_positive,
                ..anonymity::Params::default()
            };
            let runner: Runner = Box::new(move |seed| {
                let mut params = params.clone();
                params.seed = seed;
                let progress = Progress::new("anonymity", params.runs());
                let results = anonymity::run(&params, |done| progress.set(done));
                progress.finish();
                anonymity::report(&params, &results)
            });
            ("anonymity", common, runner)
        }
    })
}

/// Runs seeds `S .. S+N`, each into `DIR/seed-S/`, then writes
/// `DIR/seeds.json` and prints every figure that differs between them
/// with its median and range (`sim::seeds`).
fn run_seeds(name: &str, common: &Common, runner: &Runner) -> Result<()> {
    let seeds: Vec<u64> = (0..common.seeds)
        .map(|i| common.seed.checked_add(u64::from(i)))
        .collect::<Option<_>>()
        .with_context(|| {
            format!(
                "--seed {} with --seeds {} runs past the largest seed",
                common.seed, common.seeds
            )
        })
        .context(Failure::BadInput)?;
    let dir = common
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("fog-sim").join(name));
    let mut summaries = Vec::with_capacity(seeds.len());
    for &seed in &seeds {
        let report = runner(seed);
        let sub = dir.join(format!("seed-{seed}"));
        let files = report
            .write(&sub)
            .with_context(|| format!("cannot write the results into {}", sub.display()))
            .context(Failure::BadInput)?;
        println!(
            "seed {seed}: wrote {} files to {}",
            files.len(),
            sub.display()
        );
        summaries.push(report.summary);
    }
    let (figures, missing) = seeds::figures(&summaries);
    let path = dir.join("seeds.json");
    let mut text = serde_json::to_string_pretty(&seeds::summary(name, &seeds, &figures))?;
    text.push('\n');
    std::fs::write(&path, text)
        .with_context(|| format!("cannot write {}", path.display()))
        .context(Failure::BadInput)?;
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{name} over {} seeds ({}..={}):",
        seeds.len(),
        seeds[0],
        seeds[seeds.len() - 1]
    )?;
    write!(stdout, "{}", seeds::printed(&figures))?;
    if missing > 0 {
        writeln!(
            stdout,
            "{missing} figures were missing on some seeds and are left out"
        )?;
    }
    writeln!(stdout, "wrote {}", path.display())?;
    Ok(())
}

fn write(name: &str, out: Option<PathBuf>, report: &Report) -> Result<()> {
    let dir = out.unwrap_or_else(|| PathBuf::from("fog-sim").join(name));
    let files = report
        .write(&dir)
        .with_context(|| format!("cannot write the results into {}", dir.display()))
        .context(Failure::BadInput)?;
    let mut stdout = io::stdout().lock();
    write!(stdout, "{}", report.printed)?;
    writeln!(stdout, "wrote {} files to {}", files.len(), dir.display())?;
    Ok(())
}
