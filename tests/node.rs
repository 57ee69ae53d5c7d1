//! Real nodes on loopback: real TCP, real handshakes, real stores, in one
//! process, every one with the settings a real node runs. Every test is
//! bounded in time and cleans up its directories.
//!
//! With those settings an originator keeps nothing of what it publishes or
//! fetches (its request walks a stem first, and only the nodes after the
//! stem keep data), so in a network of two a document put on one node is
//! held by the other, and a fetch from the publisher crosses the link.

mod common;

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fogstore::block::chk;
use fogstore::key::Location;
use fogstore::key::{ChkKey, NodeKey};
use fogstore::link::{Identity, Link, LinkError, LinkReader};
use fogstore::node::{
    IDENTITY_FILE, Mode, Node, NodeConfig, NodeHandle, NodeStats, PeerConfig, Trace,
};
use fogstore::routing::ChordConfig;
use fogstore::wire::{FRAME_SIZE, Message, NodeRef, RequestId, WIRE_FRAME_SIZE};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
        trace,
        ..NodeConfig::new(dir, listen)
    }
}

async fn start(dir: &Path, seeds: Vec<NodeRef>, trace: Option<Trace>) -> NodeHandle {
    Node::start(config(dir, LOOPBACK.parse().unwrap(), seeds, trace))
        .await
        .unwrap()
}

/// A node on loopback with its own peer settings.
async fn start_with(dir: &Path, seeds: Vec<NodeRef>, peers: PeerConfig) -> NodeHandle {
    Node::start(NodeConfig {
        peers,
        ..config(dir, LOOPBACK.parse().unwrap(), seeds, None)
    })
    .await
    .unwrap()
}

async fn stats(node: &NodeHandle) -> NodeStats {
    node.stats().await.unwrap()
}

/// Polls `check` every 20 ms until it holds, or fails after `secs`.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `node` has a routing reference. A joiner's `Node::start`
/// returns as soon as it sends its `AnnounceComplete`, so the node it
/// joined through may not yet reference it, and a put from there right
/// away could find no route.
async fn referenced(node: &NodeHandle) {
    eventually(5, "a routing reference", || async {
        stats(node).await.references >= 1
    })
    .await;
}

/// Reads messages until the link ends; returns them and how it ended.
async fn drain(mut reader: LinkReader) -> (Vec<Message>, LinkError) {
    let mut got = Vec::new();
    loop {
        match reader.recv_message().await {
            Ok(msg) => got.push(msg),
            Err(end) => return (got, end),
        }
    }
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
        referenced(&a).await;

        let doc = document("two nodes");
        let key = a.put(&doc).await.unwrap();
        // The insert crossed the link: B stores the block, and A, which
        // published it, keeps none of it.
        assert!(b.holds(&key.node_key()).await.unwrap());
        assert!(!a.holds(&key.node_key()).await.unwrap());
        assert_eq!(b.get(&key).await.unwrap(), doc);
        assert_eq!(a.get(&key).await.unwrap(), doc);

        // A key nobody has fails cleanly and quickly.
        let (missing, _) = chk::encode(b"nobody published this").unwrap();
        let started = Instant::now();
        let err = b.get(&missing).await.unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));

        let stats = b.stats().await.unwrap();
        assert_eq!(stats.peers, 1);
        assert!(stats.store_blocks >= 1);
        shutdown(&[a, b]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_nodes_fetch_5_mib_from_afar_and_the_reader_keeps_none_of_it() {
    let scratch = Scratch::new("ten");
    let trace = Trace::default();
    bounded(120, async {
        let nodes = network(&scratch, 10, &trace).await;
        // A 5 MiB file (a splitfile of 161 blocks), kept at node 0 alone so
        // that the fetch must travel: a put would store it on every node
        // of a network this small.
        let doc = common::pseudo_random(5 * 1024 * 1024, 0x9e37_79b9_7f4a_7c15);
        let (key, _) = nodes[0].preload(&doc).await.unwrap();
        let top = key.node_key();
        let far = nodes.len() - 1;
        assert!(!nodes[far].holds(&top).await.unwrap());

        let (hops, returned) = (trace.hops(), trace.returned());
        assert_eq!(nodes[far].get(&key).await.unwrap(), doc);
        let (hops, returned) = (trace.hops() - hops, trace.returned() - returned);
        // At least a stem hop for every one of the 161 blocks, and each
        // crossed at least one link back.
        assert!(hops >= 161, "{hops} hops");
        assert!(returned >= 161, "{returned} blocks returned");

        // The nodes the data came back through after the stem cache it
        // (none, if the stem ended at node 0); the reader, whose request
        // walked a stem first, keeps none of it.
        assert!(nodes[0].holds(&top).await.unwrap());
        assert!(
            !nodes[far].holds(&top).await.unwrap(),
            "the reader cached it"
        );

        // Fetched again (now from the copies on the way), it comes back whole.
        assert_eq!(nodes[far].get(&key).await.unwrap(), doc);
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
    assert!(out.contains("now on"), "{out}");
    assert!(out.contains("a publisher keeps none"), "{out}");
    assert!(out.contains("verified"), "{out}");
}

// ---------------------------------------------------------------------------
// Peers and links
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_links_carry_cover_traffic_only_when_it_is_on() {
    let scratch = Scratch::new("cover");
    bounded(30, async {
        let cover = PeerConfig {
            cover_rate: 50,
            ..PeerConfig::default()
        };
        let a = start_with(&scratch.node(0), vec![], cover).await;
        let b = start_with(&scratch.node(1), vec![a.node_ref()], cover).await;
        let c = start(&scratch.node(2), vec![], None).await;
        let d = start(&scratch.node(3), vec![c.node_ref()], None).await;
        assert_eq!((stats(&b).await.peers, stats(&d).await.peers), (1, 1));

        tokio::time::sleep(Duration::from_millis(600)).await;
        // 50 a second for 0.6 s on an idle link: about 30 each way.
        for (from, to) in [(&a, &b), (&b, &a)] {
            let (sent, received) = (stats(from).await.cover_sent, stats(to).await.cover_received);
            assert!((10..=60).contains(&sent), "{sent} padding frames sent");
            assert!(
                received >= 5 && received <= sent,
                "{received} of {sent} received"
            );
        }
        // The cover does not get in the way of real traffic.
        referenced(&a).await;
        let doc = document("under cover");
        let key = a.put(&doc).await.unwrap();
        assert_eq!(b.get(&key).await.unwrap(), doc);

        // Off (the default): not one padding frame either way.
        for node in [&c, &d] {
            let s = stats(node).await;
            assert_eq!((s.cover_sent, s.cover_received), (0, 0));
        }
        shutdown(&[a, b, c, d]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keepalives_hold_a_quiet_link_and_a_silent_peer_is_closed() {
    let scratch = Scratch::new("keepalive");
    bounded(30, async {
        let quick = PeerConfig {
            keepalive: Duration::from_millis(100),
            ..PeerConfig::default()
        };
        let a = start_with(&scratch.node(0), vec![], quick).await;
        let b = start_with(&scratch.node(1), vec![a.node_ref()], quick).await;

        // A raw peer that completes the handshake and then never sends a
        // frame, not even an answer to a ping.
        let silent = Link::connect_to_listening(
            &a.node_ref(),
            &Identity::generate(),
            Some("127.0.0.1:9".parse().unwrap()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let (reader, _writer) = silent.into_split();
        let started = Instant::now();
        let (got, end) = bounded(5, drain(reader)).await;
        let lasted = started.elapsed();
        assert!(
            matches!(end, LinkError::Closed | LinkError::Io(_)),
            "{end:?}"
        );
        // Closed after about three silent intervals (0.3 s), with pings
        // before that.
        assert!(
            lasted >= Duration::from_millis(250) && lasted < Duration::from_secs(3),
            "closed after {lasted:?}"
        );
        let pings = got
            .iter()
            .filter(|m| matches!(m, Message::Ping { .. }))
            .count();
        assert!(pings >= 2, "{got:?}");
        assert_eq!(stats(&a).await.dead_links, 1);

        // Meanwhile the quiet link between the two nodes stays up on pings
        // (and their pongs) alone, and still works.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (sa, sb) = (stats(&a).await, stats(&b).await);
        assert_eq!((sa.peers, sb.peers), (1, 1));
        assert_eq!((sa.dead_links, sb.dead_links), (1, 0));
        assert!(sa.pings_sent + sb.pings_sent >= 5, "{sa:?} {sb:?}");
        let doc = document("kept alive");
        let key = b.put(&doc).await.unwrap();
        assert!(a.holds(&key.node_key()).await.unwrap());
        shutdown(&[a, b]).await;
    })
    .await;
}

/// The location a node's key gives it: its Chord id, and its Freenet
/// location until it joins.
fn key_location(node: &NodeRef) -> Location {
    Location::from_hash(&Sha256::digest(node.identity).into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_peer_limit_refuses_inbound_links_and_closes_idle_ones_for_outbound() {
    let scratch = Scratch::new("limit");
    bounded(30, async {
        let keepalive = Duration::from_millis(400);
        let b = start(&scratch.node(1), vec![], None).await;
        let c = start(&scratch.node(2), vec![], None).await;
        // A keeps one peer; it joins through its first seed, B.
        let one = PeerConfig {
            max_peers: 1,
            keepalive,
            ..PeerConfig::default()
        };
        let a = start_with(&scratch.node(0), vec![b.node_ref(), c.node_ref()], one).await;
        assert_eq!((stats(&a).await.peers, stats(&a).await.connects), (1, 1));

        // A fourth node seeded from A is refused.
        let d = start(&scratch.node(3), vec![a.node_ref()], None).await;
        eventually(5, "A refuses D", || async { stats(&a).await.refused >= 1 }).await;
        eventually(5, "D sees its link closed", || async {
            stats(&d).await.peers == 0
        })
        .await;
        assert_eq!(stats(&a).await.peers, 1);

        // Once the link to B has been idle for a keepalive interval, a
        // message for C closes it to make room. A's puts start on a stem
        // whose first hop each operation draws from B and C: put until one
        // has gone to C.
        let mut to_c = false;
        for i in 0..30 {
            tokio::time::sleep(keepalive + Duration::from_millis(200)).await;
            let doc = document(&format!("for C {i}"));
            let key = a.put(&doc).await.unwrap();
            if c.holds(&key.node_key()).await.unwrap() {
                to_c = true;
                break;
            }
        }
        assert!(to_c, "no put of 30 went to C");
        let s = stats(&a).await;
        assert_eq!((s.peers, s.connects), (1, 2), "{s:?}");
        eventually(5, "B sees its link closed", || async {
            stats(&b).await.peers == 0
        })
        .await;

        // The link to C is busy now: a message for B is not worth closing
        // it, so A does not connect, and every put goes through C instead.
        for i in 0..5 {
            let key = a.put(&document(&format!("busy {i}"))).await.unwrap();
            assert!(!b.holds(&key.node_key()).await.unwrap());
            assert!(c.holds(&key.node_key()).await.unwrap());
        }
        let s = stats(&a).await;
        assert_eq!((s.peers, s.connects), (1, 2), "{s:?}");
        shutdown(&[a, b, c, d]).await;
    })
    .await;
}

/// A free port on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind(LOOPBACK)
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The reference of a node to be started later in `dir`: its identity,
/// made now, on a free port of 127.0.0.1 that nobody listens on yet.
fn future_node(dir: &Path) -> NodeRef {
    std::fs::create_dir_all(dir).unwrap();
    let identity = Identity::load_or_create(&dir.join(IDENTITY_FILE)).unwrap();
    identity.node_ref(([127, 0, 0, 1], free_port()).into())
}

/// Reconnections and join retries after 0.05-0.1 s, then 0.1-0.2 s, then
/// 0.2-0.4 s apart.
fn fast_retries() -> PeerConfig {
    PeerConfig {
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(400),
        ..PeerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seed_that_is_down_is_retried_with_backoff_until_it_is_up() {
    let scratch = Scratch::new("backoff");
    bounded(30, async {
        // A's identity and address are known before A runs.
        let a_ref = future_node(&scratch.node(0));
        let b = start_with(&scratch.node(1), vec![a_ref], fast_retries()).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // Attempts after 0.05-0.1 s, then 0.1-0.2, 0.2-0.4, and 0.2-0.4 s
        // apart: 5 to 9 in 1.5 s. A busy loop would make thousands; no
        // retry, one.
        let tries = stats(&b).await.connects;
        assert!((4..=12).contains(&tries), "{tries} connection attempts");
        assert_eq!(stats(&b).await.peers, 0);

        let a = Node::start(config(&scratch.node(0), a_ref.addr, vec![], None))
            .await
            .unwrap();
        assert_eq!(a.node_ref(), a_ref);
        eventually(3, "B reconnects to A", || async {
            stats(&b).await.peers == 1
        })
        .await;
        // B references its seed again and routes to it.
        let doc = document("backoff");
        let key = b.put(&doc).await.unwrap();
        assert!(a.holds(&key.node_key()).await.unwrap());
        shutdown(&[a, b]).await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// Joining: every seed in turn, and again until it works
// ---------------------------------------------------------------------------

/// Starts a seed A, then B in `mode` with a first seed nobody listens on
/// and A second: B joins through A in its first round.
async fn joins_through_the_second_seed(mode: Mode, name: &str) {
    let scratch = Scratch::new(name);
    bounded(30, async {
        let loopback = LOOPBACK.parse().unwrap();
        let a = Node::start(config_in(mode, &scratch.node(0), loopback, vec![]))
            .await
            .unwrap();
        let dead = Identity::generate().node_ref(([127, 0, 0, 1], free_port()).into());
        let seeds = vec![dead, a.node_ref()];
        let b = Node::start(config_in(mode, &scratch.node(1), loopback, seeds))
            .await
            .unwrap();
        // Joined when `start` returns, at the second attempt.
        let s = stats(&b).await;
        assert_eq!(s.mode, mode);
        assert!(s.joined, "{s:?}");
        assert_eq!((s.seeds, s.join_attempts, s.peers), (2, 2, 1), "{s:?}");
        assert_joined_through(mode, &a, &b).await;
        let s = stats(&a).await;
        assert_eq!((s.seeds, s.joined, s.join_attempts), (0, false, 0), "{s:?}");
        shutdown(&[a, b]).await;
    })
    .await;
}

/// Checks what B's join through A left behind: A knows B, and B knows A.
/// A link alone teaches neither core anything, so this fails without a
/// join. In Freenet mode B has also moved from the location its key gives
/// it to the one its announcement drew.
async fn assert_joined_through(mode: Mode, a: &NodeHandle, b: &NodeHandle) {
    referenced(a).await;
    referenced(b).await;
    let location = stats(b).await.location;
    match mode {
        Mode::Freenet => assert_ne!(location, key_location(&b.node_ref())),
        Mode::Chord => assert_eq!(location, key_location(&b.node_ref())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_joins_through_its_second_seed_when_the_first_is_down() {
    joins_through_the_second_seed(Mode::Freenet, "second-seed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chord_node_joins_through_its_second_seed_when_the_first_is_down() {
    joins_through_the_second_seed(Mode::Chord, "chord-second-seed").await;
}

/// Starts B in `mode` while its only seed, A, is down; B keeps retrying
/// its join, paced, and joins once A is up.
async fn joins_once_its_seed_is_up(mode: Mode, name: &str) {
    let scratch = Scratch::new(name);
    bounded(30, async {
        let a_ref = future_node(&scratch.node(0));
        let loopback = LOOPBACK.parse().unwrap();
        let b = Node::start(NodeConfig {
            peers: fast_retries(),
            ..config_in(mode, &scratch.node(1), loopback, vec![a_ref])
        })
        .await
        .unwrap();
        // `start` returned after one failed attempt.
        let s = stats(&b).await;
        assert_eq!((s.joined, s.join_attempts), (false, 1), "{s:?}");

        // Rounds after 0.05-0.1 s, then 0.1-0.2 s, then 0.2-0.4 s apart
        // (or at once when a reconnection links to the seed, which cannot
        // happen while it is down): 4 to 8 in 1.5 s. No retry, one; a busy
        // loop, thousands.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let s = stats(&b).await;
        assert!(!s.joined, "{s:?}");
        assert!((3..=12).contains(&s.join_attempts), "{s:?}");

        let a = Node::start(config_in(mode, &scratch.node(0), a_ref.addr, vec![]))
            .await
            .unwrap();
        assert_eq!(a.node_ref(), a_ref);
        eventually(5, "B joins through A", || async { stats(&b).await.joined }).await;
        assert_joined_through(mode, &a, &b).await;
        // Joined, it stops trying.
        let attempts = stats(&b).await.join_attempts;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(stats(&b).await.join_attempts, attempts);
        shutdown(&[a, b]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_whose_only_seed_is_down_joins_once_it_is_up() {
    joins_once_its_seed_is_up(Mode::Freenet, "late-seed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chord_node_whose_only_seed_is_down_joins_once_it_is_up() {
    joins_once_its_seed_is_up(Mode::Chord, "chord-late-seed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_still_retrying_its_join_stops_when_its_handles_are_dropped() {
    let scratch = Scratch::new("retry-drop");
    bounded(30, async {
        let dead = future_node(&scratch.node(0));
        let b = start_with(&scratch.node(1), vec![dead], fast_retries()).await;
        assert!(!stats(&b).await.joined);
        let addr = b.node_ref().addr;
        // The retries hold the node only weakly: with the last handle
        // gone it stops, and its listening socket closes.
        drop(b);
        eventually(5, "B stops listening", || async {
            TcpStream::connect(addr).await.is_err()
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_flooding_requests_is_dropped_and_the_others_are_served() {
    let scratch = Scratch::new("flood");
    bounded(30, async {
        let limited = PeerConfig {
            request_rate: 50,
            request_burst: 100,
            ..PeerConfig::default()
        };
        let a = start_with(&scratch.node(0), vec![], limited).await;
        let b = start(&scratch.node(1), vec![a.node_ref()], None).await;
        let doc = document("flood");
        // Published by B, so A holds it and B must fetch it over the link.
        let key = b.put(&doc).await.unwrap();
        assert!(!b.holds(&key.node_key()).await.unwrap());
        assert!(a.holds(&key.node_key()).await.unwrap());

        // A raw peer sends 2000 requests as fast as it can.
        let flooder = Identity::generate();
        let link = Link::connect_to_listening(
            &a.node_ref(),
            &flooder,
            Some("127.0.0.1:9".parse().unwrap()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let (reader, mut writer) = link.into_split();
        let flood = tokio::spawn(async move {
            let key = chk::encode(b"flooded").unwrap().0.node_key();
            let mut sent = 0u64;
            for id in 0..2000 {
                let request = Message::Request {
                    id: RequestId(id),
                    key,
                    htl: 1,
                };
                if writer.send_message(&request).await.is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        });
        let (_, end) = bounded(10, drain(reader)).await;
        assert!(
            matches!(end, LinkError::Closed | LinkError::Io(_)),
            "{end:?}"
        );
        let sent = flood.await.unwrap();
        assert!(sent > 100, "only {sent} requests went out");
        assert_eq!(stats(&a).await.flooders_dropped, 1);

        // The well-behaved peer is still served, over its link to A.
        assert_eq!(b.get(&key).await.unwrap(), doc);
        assert_eq!(stats(&a).await.peers, 1);

        // And the flooder may not come straight back.
        let again =
            Link::connect_to_listening(&a.node_ref(), &flooder, None, Duration::from_secs(5))
                .await
                .unwrap();
        let (got, end) = bounded(5, drain(again.into_split().0)).await;
        assert!(got.is_empty(), "{got:?}");
        assert!(
            matches!(end, LinkError::Closed | LinkError::Io(_)),
            "{end:?}"
        );
        assert!(stats(&a).await.refused >= 1);
        shutdown(&[a, b]).await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// What a relay between two nodes sees
// ---------------------------------------------------------------------------

/// The bytes of one relayed connection, each way.
#[derive(Default)]
struct Recorded {
    /// From the connecting node to the listening one.
    up: Vec<u8>,
    /// Back.
    down: Vec<u8>,
    /// Directions that have ended.
    ended: u8,
    /// When each read of `up` ended, and `up`'s length then.
    up_reads: Vec<(Instant, usize)>,
}

/// Forwards every connection made to it to `target`, recording what passes
/// each way. Each connection ends when either side closes.
async fn relay(target: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<Arc<Mutex<Recorded>>>>>) {
    let listener = TcpListener::bind(LOOPBACK).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections: Arc<Mutex<Vec<Arc<Mutex<Recorded>>>>> = Arc::default();
    let all = Arc::clone(&connections);
    tokio::spawn(async move {
        // Ends with the test's runtime.
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(target).await else {
                continue;
            };
            let log = Arc::new(Mutex::new(Recorded::default()));
            all.lock().unwrap().push(Arc::clone(&log));
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(forward(client_read, server_write, Arc::clone(&log), true));
            tokio::spawn(forward(server_read, client_write, log, false));
        }
    });
    (addr, connections)
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    log: Arc<Mutex<Recorded>>,
    up: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut log = log.lock().unwrap();
            let side = if up { &mut log.up } else { &mut log.down };
            side.extend_from_slice(&buf[..n]);
            if up {
                let len = log.up.len();
                log.up_reads.push((Instant::now(), len));
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
    log.lock().unwrap().ended += 1;
}

/// When each whole record of `log.up` arrived at the relay.
fn up_record_times(log: &Recorded) -> Vec<Instant> {
    let mut times = Vec::new();
    for &(at, len) in &log.up_reads {
        while (times.len() + 1) * WIRE_FRAME_SIZE <= len {
            times.push(at);
        }
    }
    times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_cover_traffic_a_lone_message_keeps_no_timing_of_its_own() {
    let scratch = Scratch::new("cover-timing");
    bounded(40, async {
        // 20 padding frames a second: a mean of 50 ms between frames.
        let cover = PeerConfig {
            cover_rate: 20,
            ..PeerConfig::default()
        };
        let a = start_with(&scratch.node(0), vec![], cover).await;
        let (relay_addr, connections) = relay(a.node_ref().addr).await;
        let via_relay = NodeRef {
            identity: a.node_ref().identity,
            addr: relay_addr,
        };
        let b = start_with(&scratch.node(1), vec![via_relay], cover).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        // 30 lone requests at random moments (for keys nobody has: one
        // frame each way).
        let mut sent_at = Vec::new();
        for i in 0..30u32 {
            let wait = 150 + u64::from(rand::random::<u16>() % 250);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            sent_at.push(Instant::now());
            let (missing, _) = chk::encode(format!("nobody has {i}").as_bytes()).unwrap();
            assert!(b.get(&missing).await.is_err());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let log = connections.lock().unwrap()[0].clone();
        let times = up_record_times(&log.lock().unwrap());
        shutdown(&[a, b]).await;

        // Which records were the requests: the first after each send.
        let real: HashSet<usize> = sent_at
            .iter()
            .filter_map(|&s| times.iter().position(|&t| t >= s))
            .collect();
        let since = |t: Instant| t.duration_since(times[0]).as_secs_f64() * 1000.0;
        // The observer of a fixed 50 ms grid (the cover before issue 14):
        // a record off the grid between two records on it is a message.
        let on_grid = |ms: f64| {
            let off = ms.rem_euclid(50.0);
            !(3.0..=47.0).contains(&off)
        };
        let flagged: Vec<usize> = (1..times.len().saturating_sub(1))
            .filter(|&i| {
                let (before, at, after) = (since(times[i - 1]), since(times[i]), since(times[i + 1]));
                !on_grid(at - before) && on_grid(after - before)
            })
            .collect();
        let hits = flagged.iter().filter(|i| real.contains(i)).count();
        let precision = hits as f64 / flagged.len().max(1) as f64;
        let base = real.len() as f64 / times.len() as f64;
        // The gaps of a Poisson stream vary as much as their mean (a
        // coefficient of variation of 1); a grid's hardly at all.
        let gaps: Vec<f64> = times.windows(2).map(|w| since(w[1]) - since(w[0])).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        eprintln!(
            "{} records, {} requests; grid observer flags {} ({hits} requests): precision {precision:.2} against a base rate of {base:.2}; gaps: mean {mean:.1} ms, CV {cv:.2}",
            times.len(),
            real.len(),
            flagged.len()
        );
        assert!(real.len() >= 25, "requests not found among the records");
        assert!(times.len() > 150, "too little cover: {} records", times.len());
        assert!(cv > 0.7, "gaps too regular: CV {cv:.2}");
        assert!(
            precision < 0.4,
            "the grid observer picks out lone messages: precision {precision:.2}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn between_two_nodes_a_relay_sees_only_whole_frames_and_no_plaintext() {
    let scratch = Scratch::new("relay");
    bounded(30, async {
        let a = start(&scratch.node(0), vec![], None).await;
        let (relay_addr, connections) = relay(a.node_ref().addr).await;
        // B knows A by A's key at the relay's address.
        let via_relay = NodeRef {
            identity: a.node_ref().identity,
            addr: relay_addr,
        };
        let b = start(&scratch.node(1), vec![via_relay], None).await;
        assert_eq!(stats(&b).await.peers, 1);

        // Four blocks of text and a manifest; every line is distinct.
        let doc: Vec<u8> = (0..2400)
            .map(|i| {
                format!("RELAY TEST line {i:05}: plaintext that must stay inside the frames\n")
            })
            .collect::<String>()
            .into_bytes();
        assert!(doc.len() > 3 * 32 * 1024);
        // Published by B: A holds it, and B's fetch crosses the relay.
        let key = b.put(&doc).await.unwrap();
        assert!(!b.holds(&key.node_key()).await.unwrap());
        assert!(a.holds(&key.node_key()).await.unwrap());
        assert_eq!(b.get(&key).await.unwrap(), doc);
        shutdown(&[a, b]).await;

        // Every byte of every relayed connection, once both ends closed.
        let connections = connections.lock().unwrap().clone();
        eventually(5, "the relayed connections end", || async {
            connections.iter().all(|log| log.lock().unwrap().ended == 2)
        })
        .await;
        let wanted: HashSet<&[u8]> = doc.windows(16).collect();
        assert!(!connections.is_empty());
        let mut total = 0;
        for log in connections {
            let log = log.lock().unwrap();
            for (way, bytes) in [("up", &log.up), ("down", &log.down)] {
                assert_eq!(
                    bytes.len() % WIRE_FRAME_SIZE,
                    0,
                    "{way}: {} bytes is not a whole number of frames",
                    bytes.len()
                );
                if let Some(at) = bytes.windows(16).position(|w| wanted.contains(w)) {
                    panic!("{way}: document plaintext at byte {at}");
                }
                total += bytes.len();
            }
        }
        // The document crossed the relay twice (insert, then data found).
        assert!(total > 2 * doc.len(), "{total} bytes relayed");
    })
    .await;
}

/// A node on `listen` in `mode`; in Chord mode with fast ring upkeep and
/// one replica per key.
fn config_in(mode: Mode, dir: &Path, listen: SocketAddr, seeds: Vec<NodeRef>) -> NodeConfig {
    let config = config(dir, listen, seeds, None);
    match mode {
        Mode::Freenet => config,
        Mode::Chord => NodeConfig {
            mode: Mode::Chord,
            chord: ChordConfig {
                successors: 1,
                stabilize_ms: 100,
                fix_fingers_ms: 50,
                check_predecessor_ms: 200,
                hop_timeout_ms: 1_000,
                client_timeout_ms: 10_000,
                ..ChordConfig::default()
            },
            ..config
        },
    }
}

async fn start_chord(dir: &Path, seeds: Vec<NodeRef>) -> NodeHandle {
    Node::start(config_in(
        Mode::Chord,
        dir,
        LOOPBACK.parse().unwrap(),
        seeds,
    ))
    .await
    .unwrap()
}

/// Five Chord-mode nodes (one replica per key) that have formed a ring,
/// with a document put on one of them.
struct ChordRing {
    nodes: Vec<NodeHandle>,
    /// The nodes' indices in ring order, from the block's owner on.
    from_owner: Vec<usize>,
    /// The document's key, and the key of its one block.
    chk: ChkKey,
    key: NodeKey,
    doc: Vec<u8>,
}

async fn chord_ring_with_a_block(scratch: &Scratch) -> ChordRing {
    let first = start_chord(&scratch.node(0), vec![]).await;
    let mut nodes = vec![first];
    for i in 1..5 {
        let seed = nodes[0].node_ref();
        nodes.push(start_chord(&scratch.node(i), vec![seed]).await);
    }
    // Each node's id is the hash of its key.
    let ids: Vec<Location> = nodes.iter().map(|n| key_location(&n.node_ref())).collect();
    for (node, id) in nodes.iter().zip(&ids) {
        assert_eq!(stats(node).await.location, *id);
    }
    let doc = document("chord");
    // Twenty stabilisation rounds: the ring has formed. (A put while it
    // forms may leave a copy on a node that is not the owner.)
    tokio::time::sleep(Duration::from_secs(2)).await;
    let chk = nodes[4].put(&doc).await.unwrap();
    assert_eq!(nodes[1].get(&chk).await.unwrap(), doc);
    let key = chk.node_key();
    // The owner is the first node at or after the key.
    let mut ring: Vec<(Location, usize)> = ids.iter().copied().zip(0..).collect();
    ring.sort();
    let at = ring.partition_point(|(l, _)| *l < key.location());
    let from_owner = (0..ring.len())
        .map(|k| ring[(at + k) % ring.len()].1)
        .collect();
    ChordRing {
        nodes,
        from_owner,
        chk,
        key,
        doc,
    }
}

/// Waits until exactly `expected` (indices into `nodes`) hold `key`.
async fn eventually_held_by(
    nodes: &[NodeHandle],
    key: NodeKey,
    mut expected: Vec<usize>,
    what: &str,
) {
    expected.sort();
    eventually(10, what, || {
        let expected = &expected;
        async move {
            let mut holders = Vec::new();
            for (i, n) in nodes.iter().enumerate() {
                if n.holds(&key).await.unwrap() {
                    holders.push(i);
                }
            }
            holders == *expected
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chord_mode_nodes_form_a_ring_and_store_each_block_at_its_successor() {
    let scratch = Scratch::new("chord");
    bounded(60, async {
        let ring = chord_ring_with_a_block(&scratch).await;
        // With one replica the owner's successor holds it too, and nobody
        // else does.
        let (owner, replica) = (ring.from_owner[0], ring.from_owner[1]);
        let what = "the owner and its successor hold the block";
        eventually_held_by(&ring.nodes, ring.key, vec![owner, replica], what).await;
        shutdown(&ring.nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chord_node_copies_a_block_again_when_its_replica_leaves() {
    let scratch = Scratch::new("chord-replica-leaves");
    bounded(60, async {
        let ring = chord_ring_with_a_block(&scratch).await;
        let [owner, replica, next] = [0, 1, 2].map(|k| ring.from_owner[k]);
        let what = "the owner and its successor hold the block";
        eventually_held_by(&ring.nodes, ring.key, vec![owner, replica], what).await;
        // The replica leaves. It hands over only the keys it owns, so the
        // new copy on the next node comes from the owner's replication
        // round (StoreOffer, StoreWant, StoreTransfer over the links).
        ring.nodes[replica].shutdown().await;
        let live: Vec<NodeHandle> = (0..ring.nodes.len())
            .filter(|&i| i != replica)
            .map(|i| ring.nodes[i].clone())
            .collect();
        let index = |i: usize| i - usize::from(i > replica);
        let what = "the owner and the replica's successor hold the block";
        eventually_held_by(&live, ring.key, vec![index(owner), index(next)], what).await;
        assert_eq!(live[index(next)].get(&ring.chk).await.unwrap(), ring.doc);
        shutdown(&live).await;
    })
    .await;
}
