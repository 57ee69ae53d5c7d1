//! `fog demo`: a local network of real nodes on loopback, in one process.
//!
//! Starts N nodes (real TCP, real Noise handshakes, real datastores in a
//! temporary folder) with the settings `fog node` runs, publishes a sample
//! document from node 0, fetches it from the two nodes farthest from node 0
//! that hold no copy, verifies it, shows where copies are (never at the
//! publisher or a reader: their requests walk a stem first), and cleans
//! everything up.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{RemoveOnDrop, holders, runtime};
use anyhow::{Context, Result, bail};
use clap::Args;
use fogstore::key::{ChkKey, Key};
use fogstore::node::{Node, NodeConfig, NodeHandle, Trace};
use rand::Rng;

/// Arguments of `fog demo`.
#[derive(Args)]
pub(crate) struct DemoArgs {
    /// How many nodes to start. An insert is stored on every node its
    /// path reaches, some 20 in a network of this size: with fewer nodes
    /// than that, every node but the publisher has it.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(10..=50))]
    nodes: u16,
}

/// The whole demo may take this long before it gives up.
const DEMO_TIMEOUT: Duration = Duration::from_secs(60);

/// The document the demo publishes.
const SAMPLE: &str = "\
fogstore: a small field guide

A document published here has no home. It is sealed under a key made from
its own contents, cut into a block of exactly 32 KiB, and handed to the
network, which routes it hop by hop toward the nodes whose place on the
ring lies closest to that key. Each node on the way keeps a copy.

Nobody on the path can tell who published it: every node forwards inserts
for others, and any node may write its own name over the claimed source.
Nobody on the path can tell who asked for it either: a request looks the
same whether it was made by the neighbour that sent it or by someone ten
hops behind.

When the block is asked for, the request climbs toward the key the same
way, tries its next-best peer when a route dead-ends, and gives up after
its hops to live run out. The block travels back along the path it came
by, and every node it passes verifies it against the key and keeps it.
So the more a document is wanted, the closer it moves to the people who
want it, and the sooner the next request meets a copy. What nobody asks
for fades from the stores, oldest first, to make room.

Between two nodes every byte is encrypted and authenticated, and every
record on the wire is the same 1024 bytes long, from the first byte of the
handshake to the last frame: an observer of a link sees how many frames
passed, and nothing else.

This text was published by node 0 of the network you just started, fetched
by the node farthest from it, and checked byte for byte on arrival.
";

/// Runs `fog demo`.
pub(crate) fn run(args: DemoArgs) -> Result<()> {
    let root = std::env::temp_dir().join(format!("fog-demo-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(root.clone());
    let runtime = runtime()?;
    runtime.block_on(async {
        tokio::time::timeout(DEMO_TIMEOUT, demo(&root, usize::from(args.nodes)))
            .await
            .map_err(|_| anyhow::anyhow!("the demo did not finish within {DEMO_TIMEOUT:?}"))?
    })
}

async fn demo(root: &std::path::Path, n: usize) -> Result<()> {
    let trace = Trace::default();
    let started = Instant::now();
    let mut nodes: Vec<NodeHandle> = Vec::with_capacity(n);
    let result = run_network(root, n, &trace, &mut nodes, started).await;
    for node in &nodes {
        node.shutdown().await;
    }
    result?;
    let _ = std::fs::remove_dir_all(root);
    writeln!(
        io::stdout(),
        "done     {n} nodes stopped, {} removed ({} ms in all)",
        root.display(),
        started.elapsed().as_millis()
    )?;
    Ok(())
}

async fn run_network(
    root: &std::path::Path,
    n: usize,
    trace: &Trace,
    nodes: &mut Vec<NodeHandle>,
    started: Instant,
) -> Result<()> {
    // Not locked: a lock must not be held across the awaits below.
    let mut out = io::stdout();
    writeln!(
        out,
        "fog demo: {n} nodes on 127.0.0.1, real TCP and Noise links, one process"
    )?;

    // ---- start the network ----
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("a valid address");
    let mut rng = rand::thread_rng();
    let mut seeds_of: Vec<Vec<usize>> = Vec::with_capacity(n);
    for i in 0..n {
        let mut seeds = Vec::new();
        if i > 0 {
            seeds.push(i - 1);
        }
        if i > 1 {
            seeds.push(rng.gen_range(0..i - 1));
        }
        let config = NodeConfig {
            seeds: seeds.iter().map(|&s| nodes[s].node_ref()).collect(),
            store_bytes: 64 * 1024 * 1024,
            trace: Some(trace.clone()),
            ..NodeConfig::new(root.join(format!("node-{i:02}")), listen)
        };
        let node = Node::start(config)
            .await
            .with_context(|| format!("starting node {i}"))?;
        nodes.push(node);
        seeds_of.push(seeds);
    }
    let distance = seed_graph_distances(&seeds_of);
    writeln!(
        out,
        "network  {n} nodes up in {} ms; each joined through its seeds (the one before it and a random earlier one)",
        started.elapsed().as_millis()
    )?;
    writeln!(out, "         node 0 is {}", nodes[0].node_ref())?;

    // ---- publish ----
    let doc = SAMPLE.as_bytes();
    let t = Instant::now();
    let before = trace.hops();
    let key = nodes[0]
        .put(doc)
        .await
        .context("publishing the sample from node 0")?;
    let put_hops = trace.hops() - before;
    let put_ms = t.elapsed().as_millis();
    let stored = holders(nodes, &key).await?;
    writeln!(
        out,
        "publish  node 0 inserted {} bytes in {put_ms} ms, {}: first a stem (random hops), then toward the key",
        doc.len(),
        plural(put_hops, "hop")
    )?;
    writeln!(out, "         {}", Key::Chk(key))?;
    writeln!(
        out,
        "         stored on {} of {n} nodes: {}",
        stored.len(),
        numbers(&stored)
    )?;
    writeln!(
        out,
        "         {} node 0: a publisher keeps none of what it publishes",
        if stored.contains(&0) {
            "even on"
        } else {
            "not on"
        }
    )?;

    // ---- fetch from afar, twice ----
    // Each time the node farthest from node 0 in the seed graph that holds
    // no copy (or the farthest, if every node has one), and not a reader
    // before it.
    let mut fetches: Vec<(usize, u64)> = Vec::new();
    let mut held = stored.clone();
    for _ in 0..2 {
        let fresh = |i: &usize| !fetches.iter().any(|f| f.0 == *i);
        let reader = (1..n)
            .filter(|i| fresh(i) && !held.contains(i))
            .max_by_key(|&i| (distance[i], i))
            .or_else(|| (1..n).filter(fresh).max_by_key(|&i| (distance[i], i)))
            .unwrap_or(0);
        let (hops, ms) = fetch(nodes, reader, &key, doc, trace).await?;
        let cached = holders(nodes, &key).await?;
        writeln!(
            out,
            "fetch    node {reader} ({} seed links from node 0): verified {} bytes, {}, {ms} ms",
            distance[reader],
            doc.len(),
            plural(hops, "hop")
        )?;
        writeln!(
            out,
            "         now on {} of {n} nodes; {}",
            cached.len(),
            if cached.contains(&reader) {
                format!("node {reader} kept a copy")
            } else {
                format!(
                    "not on node {reader}: its request walked a stem first, and a reader keeps none of it"
                )
            }
        )?;
        fetches.push((reader, hops));
        held = cached;
    }
    let fetched: Vec<String> = fetches
        .iter()
        .map(|(reader, hops)| format!("node {reader} in {}", plural(*hops, "hop")))
        .collect();
    writeln!(
        out,
        "summary  published on node 0, stored on {} of {n} nodes; fetched by {}; now on {} nodes",
        stored.len(),
        fetched.join(" and "),
        held.len()
    )?;
    Ok(())
}

/// Fetches `key` at node `at`, checks the bytes, and returns the hops (the
/// `Request` messages forwarded for it, network-wide) and milliseconds.
async fn fetch(
    nodes: &[NodeHandle],
    at: usize,
    key: &ChkKey,
    expected: &[u8],
    trace: &Trace,
) -> Result<(u64, u128)> {
    let before = trace.hops();
    let t = Instant::now();
    let got = nodes[at]
        .get(key)
        .await
        .with_context(|| format!("fetching the sample at node {at}"))?;
    let ms = t.elapsed().as_millis();
    if got != expected {
        bail!(
            "node {at} received {} bytes that differ from the published document",
            got.len()
        );
    }
    Ok((trace.hops() - before, ms))
}

/// `1 hop`, `2 hops`.
fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `1 4 5`.
fn numbers(nodes: &[usize]) -> String {
    let names: Vec<String> = nodes.iter().map(usize::to_string).collect();
    names.join(" ")
}

/// Whether `a` and `b` are linked as seed and joiner.
fn adjacent(seeds_of: &[Vec<usize>], a: usize, b: usize) -> bool {
    seeds_of[a].contains(&b) || seeds_of[b].contains(&a)
}

/// Hops from node 0 to each node in the seed graph, edges both ways.
fn seed_graph_distances(seeds_of: &[Vec<usize>]) -> Vec<usize> {
    let n = seeds_of.len();
    let mut distance = vec![usize::MAX; n];
    let mut queue = VecDeque::from([0]);
    distance[0] = 0;
    while let Some(u) = queue.pop_front() {
        for v in 0..n {
            if distance[v] == usize::MAX && adjacent(seeds_of, u, v) {
                distance[v] = distance[u] + 1;
                queue.push_back(v);
            }
        }
    }
    distance
}
