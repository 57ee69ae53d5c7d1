//! Real nodes on loopback: real TCP, real handshakes, real stores, in one
//! process. Every test is bounded in time and cleans up its directories.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fogstore::block::chk;
use fogstore::key::ChkKey;
use fogstore::link::{Identity, Link, LinkError};
use fogstore::node::{
    Node, NodeConfig, NodeError, NodeHandle, Trace, small_network_routing, trace_total,
};
use fogstore::wire::{FRAME_SIZE, NodeRef};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LOOPBACK: &str = "127.0.0.1:0";

/// Runs `fut` within `secs` seconds, or fails the test.
async fn bounded<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("test exceeded its time limit")
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("fog-node-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn node(&self, i: usize) -> PathBuf {
        self.0.join(format!("node-{i}"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(dir: &Path, listen: SocketAddr, seeds: Vec<NodeRef>, trace: Option<Trace>) -> NodeConfig {
    NodeConfig {
        seeds,
        store_bytes: 16 * 1024 * 1024,
        routing: small_network_routing(),
        trace,
        ..NodeConfig::new(dir, listen)
    }
}

async fn start(dir: &Path, seeds: Vec<NodeRef>, trace: Option<Trace>) -> NodeHandle {
    Node::start(config(dir, LOOPBACK.parse().unwrap(), seeds, trace))
        .await
        .unwrap()
}

/// `n` nodes; node i > 0 seeds from i − 1 and from one earlier node.
async fn network(scratch: &Scratch, n: usize, trace: &Trace) -> Vec<NodeHandle> {
    let mut nodes: Vec<NodeHandle> = Vec::new();
    for i in 0..n {
        let mut seeds = Vec::new();
        if i > 0 {
            seeds.push(nodes[i - 1].node_ref());
            let other = (i * 7 + 3) % i;
            if other != i - 1 {
                seeds.push(nodes[other].node_ref());
            }
        }
        nodes.push(start(&scratch.node(i), seeds, Some(trace.clone())).await);
    }
    nodes
}

async fn shutdown(nodes: &[NodeHandle]) {
    for node in nodes {
        node.shutdown().await;
    }
}

/// `len` bytes from a fixed xorshift generator: incompressible, repeatable.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn document(tag: &str) -> Vec<u8> {
    format!("{tag}: the quick brown fox jumps over the lazy dog\n")
        .repeat(40)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_put_on_one_get_on_the_other() {
    let scratch = Scratch::new("two");
    bounded(30, async {
        let a = start(&scratch.node(0), vec![], None).await;
        let b = start(&scratch.node(1), vec![a.node_ref()], None).await;
        assert_ne!(a.node_ref().identity, b.node_ref().identity);

        let doc = document("two nodes");
        let key = a.put(&doc).await.unwrap();
        // The insert crossed the link: B stores the block.
        assert!(b.holds(&key.node_key()).await.unwrap());
        assert_eq!(b.get(&key).await.unwrap(), doc);
        assert_eq!(a.get(&key).await.unwrap(), doc);

        // A key nobody has fails cleanly and quickly.
        let (missing, _) = chk::encode(b"nobody published this").unwrap();
        let started = Instant::now();
        let err = b.get(&missing).await.unwrap_err();
        assert!(
            matches!(err, NodeError::NotFound | NodeError::RouteNotFound),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));

        let stats = b.stats().await.unwrap();
        assert_eq!(stats.peers, 1);
        assert!(stats.store_blocks >= 1);
        shutdown(&[a, b]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_nodes_fetch_5_mib_from_afar_and_the_second_fetch_is_shorter() {
    let scratch = Scratch::new("ten");
    let trace = Trace::default();
    bounded(120, async {
        let nodes = network(&scratch, 10, &trace).await;
        // The test: a 5 MiB file (a splitfile of 161 blocks).
        let doc = pseudo_random(5 * 1024 * 1024);
        // A short insert, so that most nodes do not hold the block.
        let key = nodes[0].put_with_htl(&doc, Some(2)).await.unwrap();

        let mut holders = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            if node.holds(&key.node_key()).await.unwrap() {
                holders.push(i);
            }
        }
        assert!(
            holders.len() < nodes.len(),
            "every node holds it: {holders:?}"
        );
        let far = (0..nodes.len())
            .rev()
            .find(|i| !holders.contains(i))
            .unwrap();

        let before = trace_total(&trace);
        assert_eq!(nodes[far].get(&key).await.unwrap(), doc);
        let first = trace_total(&trace) - before;
        assert!(
            first >= 1,
            "a fetch from a node without the block takes hops"
        );
        assert!(nodes[far].holds(&key.node_key()).await.unwrap());

        let before = trace_total(&trace);
        assert_eq!(nodes[far].get(&key).await.unwrap(), doc);
        let second = trace_total(&trace) - before;
        assert!(
            second < first,
            "second fetch took {second} hops, first {first}"
        );

        // Another node without the block also gets it.
        if let Some(other) = (0..nodes.len()).find(|&i| i != far && !holders.contains(&i)) {
            assert_eq!(nodes[other].get(&key).await.unwrap(), doc);
        }
        shutdown(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_node_keeps_its_blocks_and_its_identity() {
    let scratch = Scratch::new("restart");
    bounded(60, async {
        let a = start(&scratch.node(0), vec![], None).await;
        let b = start(&scratch.node(1), vec![a.node_ref()], None).await;
        let doc = document("restart");
        let key: ChkKey = b.put(&doc).await.unwrap();
        assert!(a.holds(&key.node_key()).await.unwrap());
        let old = a.node_ref();
        shutdown(&[a, b]).await;

        // Same directory, same address.
        let a = Node::start(config(&scratch.node(0), old.addr, vec![], None))
            .await
            .unwrap();
        assert_eq!(a.node_ref(), old);
        assert!(a.holds(&key.node_key()).await.unwrap());
        assert_eq!(a.get(&key).await.unwrap(), doc);

        // A new node fetches it from the restarted one over a link.
        let c = start(&scratch.node(2), vec![a.node_ref()], None).await;
        assert_eq!(c.get(&key).await.unwrap(), doc);
        shutdown(&[a, c]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_instead_of_or_after_a_handshake_is_dropped() {
    let scratch = Scratch::new("garbage");
    bounded(60, async {
        let a = start(&scratch.node(0), vec![], None).await;
        let addr = a.node_ref().addr;

        // Random bytes instead of a handshake: the node hangs up.
        let mut raw = TcpStream::connect(addr).await.unwrap();
        let noise: Vec<u8> = (0..1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        raw.write_all(&noise).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), raw.read(&mut buf))
            .await
            .expect("the node should close the connection")
            .unwrap_or(0);
        assert_eq!(n, 0, "the node answered garbage");

        // A good handshake, then a frame that is no message: dropped.
        let intruder = Identity::generate();
        let link = Link::connect_to_listening(
            &a.node_ref(),
            &intruder,
            Some("127.0.0.1:9".parse().unwrap()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let (mut reader, mut writer) = link.into_split();
        writer.send(&[0xEE; FRAME_SIZE]).await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(10), reader.recv_message())
            .await
            .expect("the node should close the link");
        assert!(
            matches!(end, Err(LinkError::Closed | LinkError::Io(_))),
            "{end:?}"
        );

        // The node still serves well-behaved peers.
        let b = start(&scratch.node(1), vec![a.node_ref()], None).await;
        let doc = document("after garbage");
        let key = b.put(&doc).await.unwrap();
        assert!(a.holds(&key.node_key()).await.unwrap());
        let c = start(&scratch.node(2), vec![a.node_ref()], None).await;
        assert_eq!(c.get(&key).await.unwrap(), doc);
        shutdown(&[a, b, c]).await;
    })
    .await;
}

#[test]
fn fog_demo_runs_end_to_end() {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fog"))
        .args(["demo", "--nodes", "10"])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: kill the child (ours) if it runs too long.
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("fog demo did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "fog demo failed:\n{out}\n{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "fog demo took {:?}",
        started.elapsed()
    );
    assert!(out.contains("CHK@"), "{out}");
    assert!(out.contains("hops"), "{out}");
    assert!(out.contains("cached on"), "{out}");
    assert!(out.contains("verified"), "{out}");
}
