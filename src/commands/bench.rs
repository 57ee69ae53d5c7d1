//! `fog bench`: measurements of the hot paths, in one process, so that
//! figures can be compared with each other as ratios.
//!
//! `fog bench chk` times the primitives a CHK block is made of (SHA-256 and
//! ChaCha20-Poly1305 over 32 KiB) next to the block operations themselves,
//! in interleaved rounds: every round times a batch of each operation, in a
//! rotating order, so that a noisy neighbour slows all of them alike rather
//! than one. Each figure is the median over rounds of the time per block.

use std::hint::black_box;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use clap::{Args, Subcommand};
use ed25519_dalek::SigningKey;
use fogstore::block::{BLOCK_CAPACITY, BLOCK_SIZE, chk, ssk};
use fogstore::key::{DocName, SskInsertKey};
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

/// Arguments of `fog bench`.
#[derive(Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// CHK encode against the primitives it is made of.
    ///
    /// Times SHA-256 and ChaCha20-Poly1305 over 32 KiB, CHK encode, decode
    /// and verify, and SSK encode and verify, interleaved in one process;
    /// prints CHK encode's time as a share of the bound 2 × SHA-256 + 1 ×
    /// seal. Build with --release first.
    Chk(ChkArgs),
    /// Simulated events per second: the convergence workload (no probes)
    /// on a network of --nodes, three runs, median.
    Sim(SimArgs),
    /// End-to-end fetch speed over a chain of real nodes on loopback,
    /// against a bound from the crypto it must do; and peak memory.
    Transfer(super::bench_net::TransferArgs),
    /// Latency of a one-block fetch across a chain of real nodes.
    Latency(super::bench_net::LatencyArgs),
    /// Publishing speed: `fog put` through a network of `fog node`
    /// processes with the default settings.
    Put(super::bench_put::PutArgs),
    /// The persistent store's puts and verified gets, as a node makes
    /// them, next to the same bytes in a plain file.
    Store(super::bench_store::StoreArgs),
    /// Reed–Solomon encode and rebuild of one full splitfile segment (128
    /// data + 128 check blocks), next to CHK encode of the same bytes.
    Fec(super::bench_fec::FecArgs),
}

#[derive(Args)]
struct SimArgs {
    /// Network size.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(5..=1_000_000))]
    nodes: u32,
    /// Workload steps per run.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    steps: u64,
}

#[derive(Args)]
struct ChkArgs {
    /// Total time to spend measuring, in whole seconds (1 to 600).
    #[arg(long, value_name = "S", default_value_t = 6,
          value_parser = clap::value_parser!(u64).range(1..=MAX_SECONDS))]
    seconds: u64,
}

/// The part of the primitive bound CHK encode must reach.
const TARGET: f64 = 0.80;
/// Bytes each operation is credited with: one 32 KiB block.
const PAYLOAD: usize = BLOCK_SIZE;
/// Longest `--seconds`.
const MAX_SECONDS: u64 = 600;
/// Time one batch of one operation should take, at most.
const BATCH_TARGET: Duration = Duration::from_millis(30);
/// Rounds to run whatever the budget, so that a median means something.
const MIN_ROUNDS: usize = 3;

pub(crate) fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        What::Chk(args) => run_chk(args),
        What::Sim(args) => run_sim(args),
        What::Transfer(args) => super::bench_net::run_transfer(args),
        What::Latency(args) => super::bench_net::run_latency(args),
        What::Put(args) => super::bench_put::run_put(args),
        What::Store(args) => super::bench_store::run_store(args),
        What::Fec(args) => super::bench_fec::run_fec(args),
    }
}

fn run_sim(args: SimArgs) -> Result<()> {
    use fogstore::sim::scenario::convergence;
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run `target/release/fog bench sim`");
    }
    let params = convergence::Params {
        nodes: args.nodes,
        steps: args.steps,
        probe_every: u64::MAX,
        probes: 1,
        ..convergence::Params::default()
    };
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "fog bench sim: convergence workload, {} nodes, {} steps, 3 runs",
        args.nodes, args.steps
    )?;
    writeln!(
        out,
        "{:>4} {:>12} {:>12} {:>9} {:>14} {:>14}",
        "run", "events", "messages", "seconds", "events/s", "messages/s"
    )?;
    let mut rates = Vec::new();
    for run in 1..=3 {
        let started = std::time::Instant::now();
        let converged = convergence::converge(&params, |_| {});
        let secs = started.elapsed().as_secs_f64();
        let stats = converged.net.stats();
        let rate = stats.events as f64 / secs;
        rates.push(rate);
        writeln!(
            out,
            "{run:>4} {:>12} {:>12} {secs:>9.2} {rate:>14.0} {:>14.0}",
            stats.events,
            stats.messages,
            stats.messages as f64 / secs
        )?;
    }
    writeln!(out, "median: {:.2} million events/s", median(&rates) / 1e6)?;
    Ok(())
}

fn run_chk(args: ChkArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build, its figures say nothing about release speed; \
             run `cargo build --release` and `target/release/fog bench chk`"
        );
    }
    let mut ops = chk_ops()?;
    let report = measure(&mut ops, Duration::from_secs(args.seconds));
    write!(io::stdout().lock(), "{}", render(&report))?;
    Ok(())
}

/// One operation to time: `run(n)` does it `n` times.
pub(super) struct Op<'a> {
    name: &'static str,
    run: Box<dyn FnMut(u64) + 'a>,
}

impl Op<'_> {
    /// The operation's name.
    pub(super) fn name(&self) -> &'static str {
        self.name
    }
}

/// Wraps `f` so that its loop is compiled with `f` inlined, and every result
/// is passed through `black_box` (and then dropped, inside the timing).
pub(super) fn op<'a, T>(name: &'static str, mut f: impl FnMut() -> T + 'a) -> Op<'a> {
    Op {
        name,
        run: Box::new(move |n| {
            for _ in 0..n {
                black_box(f());
            }
        }),
    }
}

// Names the report looks up to compute the bound.
const SHA256: &str = "sha256 32k";
const SEAL: &str = "aead seal 32k";
const CHK_ENCODE: &str = "chk encode";

/// The operations of `fog bench chk`, with inputs made and checked up front:
/// a broken build must not print figures.
fn chk_ops() -> Result<Vec<Op<'static>>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x666f_6773_746f_7265);
    let mut doc = vec![0u8; BLOCK_CAPACITY];
    rng.fill_bytes(&mut doc);
    let mut sha_input = vec![0u8; BLOCK_SIZE];
    rng.fill_bytes(&mut sha_input);
    let mut seal_buf = vec![0u8; BLOCK_SIZE];
    rng.fill_bytes(&mut seal_buf);
    let mut seal_key = [0u8; 32];
    rng.fill_bytes(&mut seal_key);
    let cipher = ChaCha20Poly1305::new(&seal_key.into());

    let (chk_key, chk_block) = chk::encode(&doc).context("CHK encode failed")?;
    if chk::decode(&chk_key, &chk_block)
        .context("CHK decode failed")?
        .bytes
        != doc
    {
        bail!("CHK decode does not give back the document");
    }
    let insert = SskInsertKey {
        signing: SigningKey::from_bytes(&[0x42; 32]),
        crypto: [0x24; 32],
        name: DocName::parse("site/1").context("bad SSK name")?,
    };
    let (ssk_key, ssk_block) = ssk::encode(&insert, &doc).context("SSK encode failed")?;
    let ssk_routing = ssk_key.node_key().routing;
    if ssk::decode(&ssk_key, &ssk_block)
        .context("SSK decode failed")?
        .bytes
        != doc
    {
        bail!("SSK decode does not give back the document");
    }

    let chk_doc = doc.clone();
    let (decode_key, decode_block) = (chk_key, chk_block.clone());
    Ok(vec![
        op(SHA256, move || Sha256::digest(black_box(&sha_input))),
        op(SEAL, move || {
            // The buffer is re-encrypted each time: the cost does not depend
            // on the bytes.
            cipher
                .encrypt_in_place_detached(
                    Nonce::from_slice(&[0; 12]),
                    &[],
                    black_box(&mut seal_buf[..]),
                )
                .expect("32 KiB is below the AEAD's limit")
        }),
        op(CHK_ENCODE, move || {
            chk::encode(black_box(&chk_doc)).expect("fits one block")
        }),
        op("chk decode", move || {
            chk::decode(black_box(&decode_key), black_box(&decode_block)).expect("a valid block")
        }),
        op("chk verify", move || {
            black_box(&chk_block)
                .verify(black_box(&chk_key.routing))
                .expect("a valid block")
        }),
        op("ssk encode", move || {
            ssk::encode(black_box(&insert), black_box(&doc)).expect("fits one block")
        }),
        op("ssk verify", move || {
            black_box(&ssk_block)
                .verify(black_box(&ssk_routing))
                .expect("a valid block")
        }),
    ])
}

/// What [`measure`] found.
pub(super) struct Report {
    /// Per operation: its name, iterations per batch, and seconds per
    /// iteration in each round.
    ops: Vec<(&'static str, u64, Vec<f64>)>,
    pub(super) rounds: usize,
    pub(super) elapsed: Duration,
}

impl Report {
    pub(super) fn samples(&self, name: &str) -> &[f64] {
        &self
            .ops
            .iter()
            .find(|(n, _, _)| *n == name)
            .expect("a measured operation")
            .2
    }
}

/// Iterations per batch for an operation that took `per_iter` once warm.
fn batch_size(per_iter: Duration, target: Duration) -> u64 {
    let n = target.as_secs_f64() / per_iter.as_secs_f64().max(1e-9);
    (n.floor() as u64).clamp(1, 10_000_000)
}

/// The order of the operations in round `round`: all of them, starting one
/// further along each round.
fn round_order(round: usize, count: usize) -> impl Iterator<Item = usize> {
    (0..count).map(move |i| (round + i) % count)
}

/// Warms each operation up and sizes its batch, then times rounds until
/// `budget` (warm-up included) has passed, and at least [`MIN_ROUNDS`].
pub(super) fn measure(ops: &mut [Op<'_>], budget: Duration) -> Report {
    let start = Instant::now();
    // Warm-up takes about a tenth of the budget; batches are sized so that
    // there are at least ten rounds.
    let warm = (budget / 10 / ops.len() as u32).min(Duration::from_millis(200));
    let target = (budget / 10 / ops.len() as u32).min(BATCH_TARGET);
    let mut batches = Vec::with_capacity(ops.len());
    for op in ops.iter_mut() {
        let t = Instant::now();
        let mut n = 0u64;
        while n == 0 || t.elapsed() < warm {
            (op.run)(1);
            n += 1;
        }
        batches.push(batch_size(t.elapsed() / n as u32, target));
    }

    let mut samples = vec![Vec::new(); ops.len()];
    let mut rounds = 0;
    while rounds < MIN_ROUNDS || start.elapsed() < budget {
        for i in round_order(rounds, ops.len()) {
            let t = Instant::now();
            (ops[i].run)(batches[i]);
            samples[i].push(t.elapsed().as_secs_f64() / batches[i] as f64);
        }
        rounds += 1;
    }
    Report {
        ops: ops
            .iter()
            .zip(batches)
            .zip(samples)
            .map(|((op, b), s)| (op.name, b, s))
            .collect(),
        rounds,
        elapsed: start.elapsed(),
    }
}

/// The `q` quantile (0 to 1) of `values`, interpolating linearly between the
/// two nearest; NaN for none.
pub(super) fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub(super) fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// Megabytes (10^6 bytes) of payload per second at `secs` per block.
fn mb_per_s(secs: f64) -> f64 {
    PAYLOAD as f64 / secs / 1e6
}

/// CPU features the crypto crates pick their fastest code by.
pub(super) fn cpu_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let yes = |b: bool| if b { "yes" } else { "no" };
        format!(
            "sha-ni {}, avx2 {}",
            yes(std::arch::is_x86_feature_detected!("sha")),
            yes(std::arch::is_x86_feature_detected!("avx2"))
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_string()
    }
}

fn render(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let _ = writeln!(
        out,
        "fog bench chk: {} rounds in {:.1} s, {build} build, {}",
        report.rounds,
        report.elapsed.as_secs_f64(),
        cpu_features()
    );
    let _ = writeln!(
        out,
        "median over rounds; MB/s of {PAYLOAD}-byte blocks, 1 MB = 10^6 bytes"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<14} {:>10} {:>9} {:>7} {:>8}",
        "operation", "µs/block", "MB/s", "iqr ±", "batch"
    );
    for (name, batch, samples) in &report.ops {
        let med = median(samples);
        let iqr = (quantile(samples, 0.75) - quantile(samples, 0.25)) / 2.0 / med * 100.0;
        let _ = writeln!(
            out,
            "{name:<14} {:>10.2} {:>9.1} {:>6.1}% {batch:>8}",
            med * 1e6,
            mb_per_s(med),
            iqr
        );
    }

    let (sha, seal, encode) = (
        report.samples(SHA256),
        report.samples(SEAL),
        report.samples(CHK_ENCODE),
    );
    let bound = 2.0 * median(sha) + median(seal);
    let encode_med = median(encode);
    let ratio = bound / encode_med;
    // The same ratio within each round, where all operations met the same
    // conditions: a check that the medians are not skewed by noise.
    let per_round: Vec<f64> = (0..report.rounds)
        .map(|r| (2.0 * sha[r] + seal[r]) / encode[r])
        .collect();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "bound: 2 × {SHA256} + {SEAL} = {:.2} µs/block ({:.1} MB/s); {CHK_ENCODE}: {:.2} µs/block",
        bound * 1e6,
        mb_per_s(bound),
        encode_med * 1e6
    );
    let _ = writeln!(
        out,
        "per-round ratio: median {:.1}%, range {:.1}–{:.1}%",
        median(&per_round) * 100.0,
        quantile(&per_round, 0.0) * 100.0,
        quantile(&per_round, 1.0) * 100.0
    );
    let _ = writeln!(
        out,
        "CHK encode: {:.1}% of the primitive bound (target ≥ {:.0}%): {}",
        ratio * 100.0,
        TARGET * 100.0,
        if ratio >= TARGET { "met" } else { "NOT met" }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_and_ignore_order() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert!(median(&[]).is_nan());
        assert_eq!(quantile(&[5.0, 1.0, 3.0], 0.0), 1.0);
        assert_eq!(quantile(&[5.0, 1.0, 3.0], 1.0), 5.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.25), 2.0);
        assert_eq!(quantile(&[0.0, 10.0], 0.75), 7.5);
    }

    #[test]
    fn every_round_runs_every_operation_once_from_a_new_start() {
        assert_eq!(round_order(0, 3).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(round_order(1, 3).collect::<Vec<_>>(), [1, 2, 0]);
        assert_eq!(round_order(5, 3).collect::<Vec<_>>(), [2, 0, 1]);
    }

    #[test]
    fn batches_fill_the_target_and_never_vanish() {
        assert_eq!(
            batch_size(Duration::from_micros(50), Duration::from_millis(30)),
            600
        );
        assert_eq!(
            batch_size(Duration::from_millis(80), Duration::from_millis(30)),
            1
        );
        assert_eq!(
            batch_size(Duration::ZERO, Duration::from_millis(30)),
            10_000_000
        );
    }

    #[test]
    fn a_short_run_reports_every_operation_with_the_same_rounds() {
        let mut calls = [0u64; 2];
        let (a, b) = calls.split_at_mut(1);
        let mut ops = vec![op("a", || a[0] += 1), op("b", || b[0] += 1)];
        let report = measure(&mut ops, Duration::from_millis(20));
        drop(ops);
        assert!(report.rounds >= MIN_ROUNDS);
        assert!(calls.iter().all(|&c| c > 0));
        for (_, batch, samples) in &report.ops {
            assert!(*batch >= 1);
            assert_eq!(samples.len(), report.rounds);
            assert!(samples.iter().all(|s| s.is_finite() && *s >= 0.0));
        }
    }
}
