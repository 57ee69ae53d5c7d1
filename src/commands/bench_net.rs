//! `fog bench transfer` and `fog bench latency`: real nodes on loopback, in
//! one process, on a chain, with the settings a real node runs.
//!
//! The chain has `hops + 1` nodes; node i is started with node i − 1 as its
//! only seed, so the links of the network are the chain's (announcements
//! add references along it, never across it). Node 0 holds the data: each
//! document is kept in node 0's own store before it is fetched, and sent
//! nowhere, so the data sits at the chain's far end from the reader, node
//! `hops`. That is all the bench fixes: every node runs the defaults, so a
//! fetch walks its stem (random hops, which on a chain go either way) and
//! then routes toward the data with backtracking, and every node on the way
//! back caches what it passes. So that a cached copy never shortens a
//! timed fetch, every run fetches a document of its own.
//!
//! The counts come from the nodes' shared trace: hop messages (stem and
//! routed, dead ends included) and the links the data crossed back (one
//! `DataFound` each), per block fetched.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use fogstore::block::{BLOCK_CAPACITY, BLOCK_SIZE, chk};
use fogstore::key::ChkKey;
use fogstore::node::{Node, NodeConfig, NodeHandle, Trace};
use fogstore::wire::{LINK_TAG_SIZE, WIRE_FRAME_SIZE};
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use super::bench::{cpu_features, measure, median, op, quantile};
use super::{RemoveOnDrop, runtime};

/// Arguments of `fog bench transfer`.
#[derive(Args)]
pub(crate) struct TransferArgs {
    /// Size of the document, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    mib: u32,
    /// Links between the reader and the node holding the data.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(1..=16))]
    hops: u8,
    /// Fetches to time (the median is quoted).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
}

/// Arguments of `fog bench latency`.
#[derive(Args)]
pub(crate) struct LatencyArgs {
    /// Links between the reader and the node holding the data.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=16))]
    hops: u8,
    /// Fetches to time.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    samples: u32,
}

/// Share of the crypto bound the transfer should reach.
const TRANSFER_TARGET: f64 = 0.50;
/// Median latency to reach, in milliseconds.
const LATENCY_TARGET_MS: f64 = 2.0;
/// Plaintext bytes in one link frame (its tag is the rest).
const FRAME_PLAIN: usize = WIRE_FRAME_SIZE - LINK_TAG_SIZE;
/// Frames a `DataFound` carrying one CHK block takes on a link (32833
/// bytes of message, see "Wire frames" in docs/performance.md).
const FRAMES_PER_BLOCK: f64 = 33.0;
/// How long a whole `fog bench transfer` or `latency` may take.
const NET_TIMEOUT: Duration = Duration::from_secs(900);

pub(super) fn warn_debug(what: &str) {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build, its figures say nothing about release speed; \
             run `cargo build --release` and `target/release/fog bench {what}`"
        );
    }
}

/// Starts the chain, runs `body` on it (everything on a multi-thread
/// runtime), and shuts the chain down and removes it afterwards.
fn with_chain<T>(
    hops: u8,
    body: impl AsyncFnOnce(&[NodeHandle], &Trace) -> Result<T>,
) -> Result<T> {
    let root = std::env::temp_dir().join(format!("fog-bench-net-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(root.clone());
    let runtime = runtime()?;
    runtime.block_on(async {
        let trace = Trace::default();
        let mut nodes = Vec::new();
        let result = tokio::time::timeout(NET_TIMEOUT, async {
            start_nodes(&root, usize::from(hops) + 1, &trace, &mut nodes).await?;
            body(&nodes, &trace).await
        })
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("gave up after {NET_TIMEOUT:?}")));
        for node in &nodes {
            node.shutdown().await;
        }
        result
    })
}

/// Starts `count` nodes of the chain, each seeded by the one before, with
/// the default settings.
async fn start_nodes(
    root: &Path,
    count: usize,
    trace: &Trace,
    nodes: &mut Vec<NodeHandle>,
) -> Result<()> {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("a valid address");
    for i in 0..count {
        let config = NodeConfig {
            seeds: nodes.last().map(NodeHandle::node_ref).into_iter().collect(),
            store_bytes: 2 * 1024 * 1024 * 1024,
            trace: Some(trace.clone()),
            ..NodeConfig::new(root.join(format!("node-{i:02}")), listen)
        };
        let node = Node::start(config)
            .await
            .with_context(|| format!("starting node {i}"))?;
        nodes.push(node);
    }
    Ok(())
}

/// What one timed fetch did.
#[derive(Clone, Copy, Debug)]
struct Fetched {
    secs: f64,
    /// Hop messages, network-wide.
    hops: u64,
    /// Links the data crossed back, network-wide.
    returned: u64,
}

/// Fetches `key` at `node`, checks it, and returns what it took.
async fn timed_get(
    node: &NodeHandle,
    key: &ChkKey,
    expected: &[u8],
    trace: &Trace,
) -> Result<Fetched> {
    let (hops, returned) = (trace.hops(), trace.returned());
    let t = Instant::now();
    let got = node.get(key).await.context("fetching at the far end")?;
    let secs = t.elapsed().as_secs_f64();
    if got != expected {
        bail!("fetched {} bytes that differ from the document", got.len());
    }
    Ok(Fetched {
        secs,
        hops: trace.hops() - hops,
        returned: trace.returned() - returned,
    })
}

/// A random document of `size` bytes, kept at node 0 only: its key, its
/// bytes, and how many blocks it took.
async fn document_at_node_0(
    node0: &NodeHandle,
    size: usize,
    seed: u64,
) -> Result<(ChkKey, Vec<u8>, usize)> {
    let mut doc = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut doc);
    let (key, blocks) = node0
        .preload(&doc)
        .await
        .context("keeping the document at node 0")?;
    Ok((key, doc, blocks))
}

/// `VmRSS` or `VmHWM` of this process, in KiB, from `/proc/self/status`.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("unknown (no /proc/self/status)".to_string(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

/// Seconds per block of the primitives a hop and the reader spend on it.
#[derive(Clone, Copy, Debug)]
struct Primitives {
    /// ChaCha20-Poly1305 over one link frame's plaintext.
    frame_aead: f64,
    /// SHA-256 over a 32 KiB block (a hop's verification).
    sha_block: f64,
    /// CHK decode of a full block (the reader's open).
    chk_decode: f64,
}

impl Primitives {
    /// Seconds one link costs per block: the sender seals and the receiver
    /// opens every frame (opening is counted at the sealing cost).
    fn link_per_block(&self) -> f64 {
        2.0 * FRAMES_PER_BLOCK * self.frame_aead
    }

    /// Seconds per block if every step ran one after the other on one
    /// core: `hops × (2 × link AEAD + SHA-256) + CHK decode`.
    fn bound_per_block(&self, hops: f64) -> f64 {
        hops * (self.link_per_block() + self.sha_block) + self.chk_decode
    }

    /// The bound in MB/s of document bytes ([`BLOCK_CAPACITY`] per data
    /// block; manifests are left out).
    fn bound_mb_s(&self, hops: f64) -> f64 {
        BLOCK_CAPACITY as f64 / self.bound_per_block(hops) / 1e6
    }
}

const FRAME_SEAL: &str = "link seal 1008 B";
const SHA_BLOCK: &str = "sha256 32k";
const CHK_DECODE: &str = "chk decode";

/// A Noise transport with the links' cipher suite and crypto backend,
/// after an in-memory handshake: what seals every frame on a link.
fn link_transport() -> Result<snow::TransportState> {
    let params: snow::params::NoiseParams = "Noise_NN_25519_ChaChaPoly_SHA256"
        .parse()
        .context("Noise parameters")?;
    let mut initiator = snow::Builder::new(params.clone()).build_initiator()?;
    let mut responder = snow::Builder::new(params).build_responder()?;
    let (mut wire, mut plain) = ([0u8; 256], [0u8; 256]);
    let n = initiator.write_message(&[], &mut wire)?;
    responder.read_message(&wire[..n], &mut plain)?;
    let n = responder.write_message(&[], &mut wire)?;
    initiator.read_message(&wire[..n], &mut plain)?;
    Ok(initiator.into_transport_mode()?)
}

fn measure_primitives(budget: Duration) -> Result<Primitives> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6e65_7462_656e_6368);
    let mut frame = vec![0u8; FRAME_PLAIN];
    rng.fill_bytes(&mut frame);
    let mut block = vec![0u8; BLOCK_SIZE];
    rng.fill_bytes(&mut block);
    let mut doc = vec![0u8; BLOCK_CAPACITY];
    rng.fill_bytes(&mut doc);
    let mut link = link_transport()?;
    let mut sealed = vec![0u8; WIRE_FRAME_SIZE];
    let (key, chk_block) = chk::encode(&doc).context("CHK encode failed")?;
    if chk::decode(&key, &chk_block)?.bytes != doc {
        bail!("CHK decode does not give back the document");
    }
    let mut ops = vec![
        op(FRAME_SEAL, move || {
            link.write_message(std::hint::black_box(&frame), &mut sealed)
                .expect("a frame fits a Noise message")
        }),
        op(SHA_BLOCK, move || {
            Sha256::digest(std::hint::black_box(&block))
        }),
        op(CHK_DECODE, move || {
            chk::decode(std::hint::black_box(&key), std::hint::black_box(&chk_block))
                .expect("a valid block")
        }),
    ];
    let report = measure(&mut ops, budget);
    Ok(Primitives {
        frame_aead: median(report.samples(FRAME_SEAL)),
        sha_block: median(report.samples(SHA_BLOCK)),
        chk_decode: median(report.samples(CHK_DECODE)),
    })
}

pub(super) fn build() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// Runs `fog bench transfer`.
pub(crate) fn run_transfer(args: TransferArgs) -> Result<()> {
    warn_debug("transfer");
    let idle_rss = proc_status_kib("VmRSS");
    let hops = args.hops;
    let size = args.mib as usize * 1024 * 1024;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "fog bench transfer: {} MiB over a chain of {} nodes ({hops} links) on 127.0.0.1, \
         {} build, {}, default settings",
        args.mib,
        usize::from(hops) + 1,
        build(),
        cpu_features()
    )?;
    writeln!(
        out,
        "path: node 0 holds each document (kept in its own store, sent nowhere); node {hops} \
         fetches it through its stem and then toward the data; every node caches on the way \
         back, so each run fetches a new document"
    )?;

    let primitives = measure_primitives(Duration::from_secs(3))?;
    let runs = args.runs;
    let fetches = with_chain(hops, async |nodes, trace| {
        let far = nodes.last().expect("a chain has nodes");
        let mut fetches = Vec::new();
        for run in 0..runs {
            let (key, doc, blocks) = document_at_node_0(&nodes[0], size, u64::from(run)).await?;
            fetches.push((timed_get(far, &key, &doc, trace).await?, blocks));
        }
        Ok(fetches)
    })?;
    let peak_rss = proc_status_kib("VmHWM");

    writeln!(
        out,
        "{:>4} {:>9} {:>9} {:>7} {:>15} {:>15}",
        "run", "seconds", "MB/s", "blocks", "hops per block", "links per block"
    )?;
    let mut rates = Vec::new();
    let mut links = Vec::new();
    for (i, (f, blocks)) in fetches.iter().enumerate() {
        let rate = size as f64 / f.secs / 1e6;
        rates.push(rate);
        let per = |n: u64| n as f64 / *blocks as f64;
        links.push(per(f.returned));
        writeln!(
            out,
            "{:>4} {:>9.2} {rate:>9.1} {blocks:>7} {:>15.2} {:>15.2}",
            i + 1,
            f.secs,
            per(f.hops),
            per(f.returned)
        )?;
    }
    let rate = median(&rates);
    writeln!(
        out,
        "hops: stem and routed requests, dead ends included; links: the links a block crossed \
         back to the reader (its path)"
    )?;
    write!(out, "{}", render_bound(&primitives, median(&links), rate))?;
    writeln!(
        out,
        "memory: idle process before the chain started, VmRSS {}",
        mib(idle_rss)
    )?;
    writeln!(
        out,
        "memory: peak of the process after the transfer, VmHWM {} (holds the {} MiB \
         document, the fetched copy and {} nodes' buffers)",
        mib(peak_rss),
        args.mib,
        usize::from(hops) + 1
    )?;
    Ok(())
}

fn render_bound(p: &Primitives, hops: f64, rate: f64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let bound = p.bound_mb_s(hops);
    let ratio = rate / bound;
    let _ = writeln!(
        out,
        "primitives (median, this process): {FRAME_SEAL} {:.3} µs/frame; {SHA_BLOCK} {:.2} µs; \
         {CHK_DECODE} {:.2} µs",
        p.frame_aead * 1e6,
        p.sha_block * 1e6,
        p.chk_decode * 1e6
    );
    let _ = writeln!(
        out,
        "bound per block: {hops:.2} links × (2 × {FRAMES_PER_BLOCK} frames × AEAD + SHA-256 \
         verify) + CHK decode = {hops:.2} × ({:.2} + {:.2}) + {:.2} = {:.1} µs",
        p.link_per_block() * 1e6,
        p.sha_block * 1e6,
        p.chk_decode * 1e6,
        p.bound_per_block(hops) * 1e6
    );
    let _ = writeln!(
        out,
        "bound: {bound:.1} MB/s of document ({BLOCK_CAPACITY} bytes per block), all of that \
         crypto done one step after another on one core; it leaves out TCP, copies, framing, \
         the store and the scheduling of {} node tasks, and ignores that the splitfile's 8 \
         fetches in flight pipeline the chain over both cores",
        hops as u64 + 1
    );
    let _ = writeln!(
        out,
        "transfer: median {rate:.1} MB/s end to end = {:.1}% of the bound (target ≥ {:.0}%): {}",
        ratio * 100.0,
        TRANSFER_TARGET * 100.0,
        if ratio >= TRANSFER_TARGET {
            "met"
        } else {
            "NOT met"
        }
    );
    out
}

/// Runs `fog bench latency`.
pub(crate) fn run_latency(args: LatencyArgs) -> Result<()> {
    warn_debug("latency");
    let hops = args.hops;
    let samples = args.samples;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "fog bench latency: {samples} one-block documents on node 0, each fetched once from \
         node {hops} over a chain of {} nodes on 127.0.0.1, {} build, default settings (each \
         document is new, so no cached copy shortens a fetch)",
        usize::from(hops) + 1,
        build()
    )?;
    let fetched = with_chain(hops, async |nodes, trace| {
        let far = nodes.last().expect("a chain has nodes");
        let mut docs = Vec::with_capacity(samples as usize);
        for i in 0..samples {
            docs.push(document_at_node_0(&nodes[0], 1000, u64::from(i)).await?);
        }
        let mut fetched = Vec::with_capacity(samples as usize);
        for (key, doc, _) in &docs {
            fetched.push(timed_get(far, key, doc, trace).await?);
        }
        Ok(fetched)
    })?;
    let times: Vec<f64> = fetched.iter().map(|f| f.secs * 1e3).collect();
    let hop_counts: Vec<f64> = fetched.iter().map(|f| f.hops as f64).collect();
    let link_counts: Vec<f64> = fetched.iter().map(|f| f.returned as f64).collect();
    writeln!(
        out,
        "hops (stem and routed requests, dead ends included): min {} median {} max {}; \
         links the block crossed back: min {} median {} max {}",
        quantile(&hop_counts, 0.0),
        median(&hop_counts),
        quantile(&hop_counts, 1.0),
        quantile(&link_counts, 0.0),
        median(&link_counts),
        quantile(&link_counts, 1.0)
    )?;
    let p50 = median(&times);
    writeln!(
        out,
        "latency ms: min {:.3} p50 {p50:.3} p90 {:.3} p99 {:.3} max {:.3}",
        quantile(&times, 0.0),
        quantile(&times, 0.9),
        quantile(&times, 0.99),
        quantile(&times, 1.0)
    )?;
    writeln!(
        out,
        "p50 {p50:.3} ms (target ≤ {LATENCY_TARGET_MS} ms): {}",
        if p50 <= LATENCY_TARGET_MS {
            "met"
        } else {
            "NOT met"
        }
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_adds_every_hop_and_the_reader_once() {
        let p = Primitives {
            frame_aead: 1e-6,
            sha_block: 20e-6,
            chk_decode: 60e-6,
        };
        // One link: 2 × 33 frames × 1 µs = 66 µs.
        assert!((p.link_per_block() - 66e-6).abs() < 1e-12);
        // 6 hops × (66 + 20) + 60 = 576 µs.
        assert!((p.bound_per_block(6.0) - 576e-6).abs() < 1e-12);
        let mb_s = BLOCK_CAPACITY as f64 / 576e-6 / 1e6;
        assert!((p.bound_mb_s(6.0) - mb_s).abs() < 1e-9);
        // No hops: only the reader's decode.
        assert!((p.bound_per_block(0.0) - 60e-6).abs() < 1e-12);
    }

    #[test]
    fn proc_status_fields_parse() {
        if Path::new("/proc/self/status").exists() {
            assert!(proc_status_kib("VmRSS").is_some_and(|k| k > 0));
            assert!(proc_status_kib("VmHWM").is_some_and(|k| k > 0));
        }
        assert_eq!(proc_status_kib("NoSuchField"), None);
    }
}
