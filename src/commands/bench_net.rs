//! `fog bench transfer` and `fog bench latency`: real nodes on loopback, in
//! one process, on a chain.
//!
//! The chain has `hops + 1` nodes; node i is started with node i − 1 as its
//! only seed. Node 0 holds the data; node `hops` fetches it. All nodes run
//! [`chain_routing`]: nothing is cached on the way back (so every fetch
//! crosses the whole chain, however often it is repeated), only node 0
//! keeps what is inserted, and every node rewrites the data's source to
//! itself (so that no node learns a reference to a node beyond its
//! neighbours from a fetch). The data is inserted at node 0 while only
//! nodes 0 and 1 are up: the node an insert reaches references the inserter
//! at the key's location, and any node but node 1 would then route the
//! fetch straight to node 0.
//!
//! Joins do add references: an announcement walks down the chain from the
//! joiner's seed, and the nodes it passes reference the joiner. So node k
//! knows node k − 1 and nodes above it, but the nodes above it are the ones
//! a request from the top end has already visited: the only way down from
//! node k is node k − 1, and a request from node `hops` crosses every node.
//! A node may first try a node above it, which refuses the request as a
//! loop; the trace counts those attempts too, which is why the bench prints
//! the forwarded requests it counted next to the chain's length.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use clap::Args;
use fogstore::block::{BLOCK_CAPACITY, BLOCK_SIZE, chk};
use fogstore::key::ChkKey;
use fogstore::node::{Node, NodeConfig, NodeHandle, Trace, small_network_routing, trace_total};
use fogstore::routing;
use fogstore::wire::{LINK_TAG_SIZE, WIRE_FRAME_SIZE};
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use super::bench::{cpu_features, measure, median, op, quantile};
use super::{RemoveOnDrop, holders, runtime};

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

/// Routing settings of every node of the chain; `holder` is node 0, the
/// only one that stores what is inserted.
fn chain_routing(hops: u8, holder: bool) -> routing::Config {
    let never = u8::MAX;
    routing::Config {
        // Enough hops to live to cross the chain whatever the decrements.
        max_htl: hops.saturating_add(4).max(10),
        no_cache_hops_request: never,
        no_cache_hops_insert: if holder { 0 } else { never },
        source_rewrite: 1.0,
        ..small_network_routing()
    }
}

fn warn_debug(what: &str) {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build, its figures say nothing about release speed; \
             run `cargo build --release` and `target/release/fog bench {what}`"
        );
    }
}

/// Runs `setup` on node 0 when only nodes 0 and 1 are up (so that what it
/// inserts there goes to node 1 and no further), then starts the rest of
/// the chain and runs `body`; everything runs on a multi-thread runtime and
/// the chain is shut down and removed afterwards.
fn with_chain<S, T>(
    hops: u8,
    setup: impl AsyncFnOnce(&NodeHandle) -> Result<S>,
    body: impl AsyncFnOnce(&[NodeHandle], &Trace, S) -> Result<T>,
) -> Result<T> {
    let root = std::env::temp_dir().join(format!("fog-bench-net-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(root.clone());
    let runtime = runtime()?;
    runtime.block_on(async {
        let trace = Trace::default();
        let mut nodes = Vec::new();
        let result = tokio::time::timeout(NET_TIMEOUT, async {
            start_nodes(&root, hops, 2, &trace, &mut nodes).await?;
            // Node 0 references node 1 once the join's last message reaches
            // it, which may be just after node 1 was told it joined.
            wait_for_reference(&nodes[0]).await?;
            let seeded = setup(&nodes[0]).await?;
            start_nodes(&root, hops, usize::from(hops) + 1, &trace, &mut nodes).await?;
            body(&nodes, &trace, seeded).await
        })
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("gave up after {NET_TIMEOUT:?}")));
        for node in &nodes {
            node.shutdown().await;
        }
        result
    })
}

/// Waits (up to 5 s) until `node` has a reference to route to.
async fn wait_for_reference(node: &NodeHandle) -> Result<()> {
    for _ in 0..500 {
        if node.stats().await?.references > 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("node 0 learnt no reference to node 1 within 5 s")
}

/// Starts nodes of the chain until there are `until`, each seeded by the
/// one before.
async fn start_nodes(
    root: &Path,
    hops: u8,
    until: usize,
    trace: &Trace,
    nodes: &mut Vec<NodeHandle>,
) -> Result<()> {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("a valid address");
    for i in nodes.len()..until {
        let config = NodeConfig {
            seeds: nodes.last().map(NodeHandle::node_ref).into_iter().collect(),
            store_bytes: 2 * 1024 * 1024 * 1024,
            routing: chain_routing(hops, i == 0),
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

/// Fetches `key` at `node`, checks it, and returns the seconds it took and
/// the requests forwarded for it (network-wide).
async fn timed_get(
    node: &NodeHandle,
    key: &ChkKey,
    expected: &[u8],
    trace: &Trace,
) -> Result<(f64, u64)> {
    let before = trace_total(trace);
    let t = Instant::now();
    let got = node.get(key).await.context("fetching at the far end")?;
    let secs = t.elapsed().as_secs_f64();
    if got != expected {
        bail!("fetched {} bytes that differ from the document", got.len());
    }
    Ok((secs, trace_total(trace) - before))
}

/// Inserts a single-block document at node 0.
async fn put_single_block(node0: &NodeHandle) -> Result<(ChkKey, Vec<u8>)> {
    let mut doc = vec![0u8; 1000];
    rand::thread_rng().fill_bytes(&mut doc);
    let key = node0
        .put_with_htl(&doc, Some(1))
        .await
        .context("inserting at node 0")?;
    Ok((key, doc))
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

const FRAME_SEAL: &str = "aead 1008 B";
const SHA_BLOCK: &str = "sha256 32k";
const CHK_DECODE: &str = "chk decode";

fn measure_primitives(budget: Duration) -> Result<Primitives> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6e65_7462_656e_6368);
    let mut frame = vec![0u8; FRAME_PLAIN];
    rng.fill_bytes(&mut frame);
    let mut block = vec![0u8; BLOCK_SIZE];
    rng.fill_bytes(&mut block);
    let mut doc = vec![0u8; BLOCK_CAPACITY];
    rng.fill_bytes(&mut doc);
    let mut aead_key = [0u8; 32];
    rng.fill_bytes(&mut aead_key);
    let cipher = ChaCha20Poly1305::new(&aead_key.into());
    let (key, chk_block) = chk::encode(&doc).context("CHK encode failed")?;
    if chk::decode(&key, &chk_block)?.bytes != doc {
        bail!("CHK decode does not give back the document");
    }
    let mut ops = vec![
        op(FRAME_SEAL, move || {
            cipher
                .encrypt_in_place_detached(
                    Nonce::from_slice(&[0; 12]),
                    &[],
                    std::hint::black_box(&mut frame[..]),
                )
                .expect("a frame is below the AEAD's limit")
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

fn build() -> &'static str {
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
         {} build, {}",
        args.mib,
        usize::from(hops) + 1,
        build(),
        cpu_features()
    )?;
    writeln!(
        out,
        "path: node 0 holds the data (inserted there while only node 1 was up; stored \
         nowhere else); node {hops} fetches it; no node caches on the way back"
    )?;

    let primitives = measure_primitives(Duration::from_secs(3))?;

    let mut doc = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(u64::from(args.mib)).fill_bytes(&mut doc);
    let data_blocks = size.div_ceil(BLOCK_CAPACITY);
    let runs = args.runs;
    let doc = &doc;
    let (put_secs, path_forwards, holders_of_top, fetches) = with_chain(
        hops,
        async |node0| {
            let small = put_single_block(node0).await?;
            let t = Instant::now();
            let key = node0
                .put_with_htl(doc, Some(1))
                .await
                .context("inserting the document at node 0")?;
            Ok((small, key, t.elapsed().as_secs_f64()))
        },
        async |nodes, trace, ((small_key, small), key, put_secs)| {
            let far = nodes.last().expect("a chain has nodes");
            let (_, path_forwards) = timed_get(far, &small_key, &small, trace).await?;
            let holders_of_top = holders(nodes, &key).await?;
            let mut fetches = Vec::new();
            for _ in 0..runs {
                fetches.push(timed_get(far, &key, doc, trace).await?);
            }
            Ok((put_secs, path_forwards, holders_of_top, fetches))
        },
    )?;
    let peak_rss = proc_status_kib("VmHWM");

    writeln!(
        out,
        "setup: a one-block fetch from node {hops} forwarded {path_forwards} requests \
         (chain length {hops}; more means refused tries at nodes already on the path)"
    )?;
    writeln!(
        out,
        "put: {:.2} s at node 0 ({:.1} MB/s; each block stored there and sent to node 1, \
         which keeps nothing); top block held by nodes {:?}",
        put_secs,
        size as f64 / put_secs / 1e6,
        holders_of_top
    )?;
    writeln!(
        out,
        "{:>4} {:>9} {:>9} {:>16}",
        "run", "seconds", "MB/s", "requests fwd"
    )?;
    let mut rates = Vec::new();
    for (i, (secs, forwards)) in fetches.iter().enumerate() {
        let rate = size as f64 / secs / 1e6;
        rates.push(rate);
        writeln!(out, "{:>4} {secs:>9.2} {rate:>9.1} {forwards:>16}", i + 1)?;
    }
    let rate = median(&rates);
    let forwards_per_block = fetches[0].1 as f64 / data_blocks as f64;
    writeln!(
        out,
        "requests forwarded per data block: {forwards_per_block:.2} ({data_blocks} data blocks; \
         manifests add a few)"
    )?;
    write!(out, "{}", render_bound(&primitives, f64::from(hops), rate))?;
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
        "bound per block: {hops} links × (2 × {FRAMES_PER_BLOCK} frames × AEAD + SHA-256 \
         verify) + CHK decode = {hops} × ({:.2} + {:.2}) + {:.2} = {:.1} µs",
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
        "fog bench latency: one-block document on node 0, fetched {samples} times from node \
         {hops} over a chain of {} nodes on 127.0.0.1, {} build; no caching, so every fetch \
         crosses the chain",
        usize::from(hops) + 1,
        build()
    )?;
    let (first_forwards, times, forwards) =
        with_chain(hops, put_single_block, async |nodes, trace, (key, doc)| {
            let far = nodes.last().expect("a chain has nodes");
            let (_, first) = timed_get(far, &key, &doc, trace).await?;
            let mut times = Vec::with_capacity(samples as usize);
            let mut forwards = Vec::with_capacity(samples as usize);
            for _ in 0..samples {
                let (secs, f) = timed_get(far, &key, &doc, trace).await?;
                times.push(secs * 1e3);
                forwards.push(f as f64);
            }
            Ok((first, times, forwards))
        })?;
    writeln!(
        out,
        "requests forwarded: first (untimed) fetch {first_forwards}; timed fetches min {} \
         median {} max {} (chain length {hops})",
        quantile(&forwards, 0.0),
        median(&forwards),
        quantile(&forwards, 1.0)
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
    fn the_chain_caches_nothing_and_only_node_0_stores_inserts() {
        let holder = chain_routing(6, true);
        let other = chain_routing(6, false);
        assert!(holder.max_htl >= 10);
        assert_eq!(chain_routing(16, false).max_htl, 20);
        assert_eq!(holder.no_cache_hops_insert, 0);
        assert_eq!(other.no_cache_hops_insert, u8::MAX);
        assert_eq!(other.no_cache_hops_request, u8::MAX);
        assert_eq!(other.source_rewrite, 1.0);
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
