//! Admission under attack (issue 14): hostile clients against a `fog node`
//! process with the settings a user runs, and after each attack a new
//! honest node that must still link through the victim and fetch what was
//! published before. The attackers are written with the library's own link
//! layer, as an independent client would be; everything is on 127.0.0.1,
//! bounded in time, and stops the processes it started.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{NodeProcess, Scratch, fog_bounded, pseudo_random, put_file, status_line, text};
use fogstore::link::{Identity, Link, LinkError};
use fogstore::wire::{Message, NodeRef};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// Documents published before each attack, one block each.
const DOCS: usize = 10;

/// A victim node `S`, a publisher `A` seeded from it, and documents put
/// through `A` (so they are held at `S`: the publisher keeps nothing).
struct Victim {
    scratch: Scratch,
    victim: NodeProcess,
    _publisher: NodeProcess,
    keys: Vec<String>,
}

impl Victim {
    fn new(name: &str) -> Victim {
        let scratch = Scratch::new(name);
        let victim = NodeProcess::start(&scratch.path("victim"), &[]);
        let publisher = NodeProcess::start(&scratch.path("publisher"), &[&victim.node_ref]);
        let keys = (0..DOCS)
            .map(|i| {
                let doc = pseudo_random(3000 + i, i as u64 + 1);
                let file = scratch.path(&format!("doc{i}"));
                put_file(&file, &doc, publisher.data_dir(), 30).1
            })
            .collect();
        Victim {
            scratch,
            victim,
            _publisher: publisher,
            keys,
        }
    }

    fn node_ref(&self) -> NodeRef {
        self.victim.node_ref.parse().unwrap()
    }

    /// A `fog status` line of the victim.
    fn status(&self, name: &str) -> String {
        status_line(self.victim.data_dir(), name)
    }

    /// Starts a new honest node seeded from the victim only, waits (60 s
    /// at most) until it has joined, and fetches every document through
    /// it; the number fetched byte-identical.
    fn newcomer_fetches(&self, name: &str) -> usize {
        let node = NodeProcess::start(&self.scratch.path(name), &[&self.victim.node_ref]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !status_line(node.data_dir(), "joined").starts_with("yes") {
            assert!(
                Instant::now() < deadline,
                "{name} did not join through the victim within 60 s (victim: {})",
                self.status("peers")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut fetched = 0;
        for (i, key) in self.keys.iter().enumerate() {
            let got = fog_bounded(&["get", key, "--data-dir", node.data_dir()], b"", 30);
            if got.status.success() && got.stdout == pseudo_random(3000 + i, i as u64 + 1) {
                fetched += 1;
            } else {
                eprintln!("{name}: get {i}: {}", text(&got.stderr));
            }
        }
        fetched
    }
}

/// How many peers the victim has linked (the number before "linked").
fn linked(victim: &Victim) -> usize {
    let line = victim.status("peers");
    line.split_whitespace().next().unwrap().parse().unwrap()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Keeps a link open, answering pings and reading (and ignoring)
/// everything else, until the other side closes it or `stop` is set.
async fn answer_pings(link: Link, stop: Arc<AtomicBool>) {
    let (mut reader, mut writer) = link.into_split();
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(200), reader.recv_message()).await {
            Ok(Ok(Message::Ping { nonce })) => {
                if writer.send_message(&Message::Pong { nonce }).await.is_err() {
                    return;
                }
            }
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(_)) => return,
        }
    }
}

#[test]
fn keys_that_only_answer_pings_do_not_lock_a_new_node_out() {
    let victim = Victim::new("adm-pings");
    let rt = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let target = victim.node_ref();
    // 40 links at a time under distinct keys, each replaced by a link under
    // a new key when the victim closes it, up to 200 keys in all.
    let used = Arc::new(AtomicUsize::new(0));
    for _ in 0..40 {
        let (stop, used) = (Arc::clone(&stop), Arc::clone(&used));
        rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) && used.fetch_add(1, Ordering::Relaxed) < 200 {
                let identity = Identity::generate();
                match Link::connect_to(&target, &identity, Duration::from_secs(5)).await {
                    Ok(link) => answer_pings(link, Arc::clone(&stop)).await,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
    }
    // The victim's links fill up to its limit (32 by default).
    let deadline = Instant::now() + Duration::from_secs(20);
    while linked(&victim) < 32 {
        assert!(Instant::now() < deadline, "{}", victim.status("peers"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let fetched = victim.newcomer_fetches("newcomer");
    stop.store(true, Ordering::Relaxed);
    assert_eq!(fetched, DOCS, "fetched {fetched} of {DOCS}");
}

#[test]
fn silent_sockets_do_not_keep_a_new_node_out() {
    let victim = Victim::new("adm-silent");
    let rt = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let addr = victim.node_ref().addr;
    let opened = Arc::new(AtomicUsize::new(0));
    // 100 sockets that never send a byte, each reopened as soon as the
    // victim closes it: before, 64 of them refused every new connection.
    for _ in 0..100 {
        let (stop, opened) = (Arc::clone(&stop), Arc::clone(&opened));
        rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut socket) = TcpStream::connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                let mut byte = [0u8; 1];
                while !stop.load(Ordering::Relaxed) {
                    let read =
                        tokio::time::timeout(Duration::from_millis(200), socket.read(&mut byte));
                    if let Ok(Ok(0) | Err(_)) = read.await {
                        break;
                    }
                }
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while opened.load(Ordering::Relaxed) < 100 {
        assert!(Instant::now() < deadline, "the sockets did not open");
        std::thread::sleep(Duration::from_millis(50));
    }
    let fetched = victim.newcomer_fetches("newcomer");
    stop.store(true, Ordering::Relaxed);
    assert_eq!(fetched, DOCS, "fetched {fetched} of {DOCS}");
    assert!(
        opened.load(Ordering::Relaxed) > 100,
        "no silent socket was ever closed"
    );
}

#[test]
fn one_key_keeps_two_links_and_answers_go_to_the_newest() {
    let victim = Victim::new("adm-one-key");
    let rt = runtime();
    let target = victim.node_ref();
    let identity = Identity::generate();
    rt.block_on(async {
        let mut links = Vec::new();
        for _ in 0..30 {
            links.push(
                Link::connect_to(&target, &identity, Duration::from_secs(5))
                    .await
                    .unwrap(),
            );
        }
        // Every link but the last two is closed by the victim.
        let mut open = Vec::new();
        for link in links {
            let (mut reader, writer) = link.into_split();
            let closed = matches!(
                tokio::time::timeout(Duration::from_secs(3), reader.recv()).await,
                Ok(Err(LinkError::Closed | LinkError::Io(_)))
            );
            if !closed {
                open.push((reader, writer));
            }
        }
        assert_eq!(open.len(), 2, "links left open");
        // A ping on the older link is answered on the newer one.
        let [(mut old_r, mut old_w), (mut new_r, _new_w)]: [_; 2] = open.try_into().ok().unwrap();
        old_w
            .send_message(&Message::Ping { nonce: 77 })
            .await
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match new_r.recv_message().await {
                    Ok(Message::Pong { nonce }) => return nonce,
                    Ok(_) => {}
                    Err(e) => panic!("newest link: {e}"),
                }
            }
        })
        .await
        .expect("no pong on the newest link");
        assert_eq!(answer, 77);
        assert!(
            tokio::time::timeout(Duration::from_millis(300), old_r.recv_message())
                .await
                .is_err(),
            "the old link got something"
        );
    });
    assert_eq!(victim.newcomer_fetches("newcomer"), DOCS);
}

/// What a flooder sends, frame after frame.
#[derive(Clone, Copy, Debug)]
enum Flood {
    Padding,
    Pongs,
    /// `DataNotFound`s for ids the victim never sent.
    UnsolicitedAnswers,
}

#[test]
fn floods_of_padding_pongs_and_unsolicited_answers_are_dropped_and_banned() {
    let victim = Victim::new("adm-flood");
    let rt = runtime();
    let target = victim.node_ref();
    for (n, kind) in [Flood::Padding, Flood::Pongs, Flood::UnsolicitedAnswers]
        .into_iter()
        .enumerate()
    {
        let identity = Identity::generate();
        let started = Instant::now();
        let sent = rt.block_on(async {
            let mut link = Link::connect_to(&target, &identity, Duration::from_secs(5))
                .await
                .unwrap();
            let mut sent = 0u64;
            // Far more than a link's allowance (a burst of 4,000 padding
            // frames, 10,000 messages).
            while sent < 100_000 && started.elapsed() < Duration::from_secs(30) {
                let ok = match kind {
                    Flood::Padding => link.send_padding().await,
                    Flood::Pongs => link.send_message(&Message::Pong { nonce: sent }).await,
                    Flood::UnsolicitedAnswers => {
                        let id = fogstore::wire::RequestId(sent);
                        link.send_message(&Message::DataNotFound { id }).await
                    }
                };
                if ok.is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        });
        assert!(sent < 100_000, "{kind:?}: the victim took {sent}");
        let links = victim.status("links");
        assert!(
            links.contains(&format!(" {} flooders dropped", n + 1)),
            "{kind:?}: {links}"
        );
        // The same key is refused now.
        rt.block_on(async {
            let mut link = Link::connect_to(&target, &identity, Duration::from_secs(5))
                .await
                .unwrap();
            let answer = tokio::time::timeout(Duration::from_secs(5), link.recv()).await;
            assert!(
                matches!(answer, Ok(Err(_))),
                "{kind:?}: a banned key kept its link"
            );
        });
    }
    assert_eq!(victim.newcomer_fetches("newcomer"), DOCS);
}

#[test]
fn a_peer_that_never_reads_is_closed_and_others_are_served() {
    let victim = Victim::new("adm-unread");
    let rt = runtime();
    let target = victim.node_ref();
    let before = linked(&victim);
    let started = Instant::now();
    // Pings at 2000 a second (within the rate limit), never reading a
    // Pong: the answers fill the socket, then the victim's send queue.
    let sent = rt.block_on(async {
        let link = Link::connect_to(&target, &Identity::generate(), Duration::from_secs(5))
            .await
            .unwrap();
        let (_reader, mut writer) = link.into_split();
        let mut sent = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        while started.elapsed() < Duration::from_secs(40) {
            tick.tick().await;
            for _ in 0..20 {
                if writer
                    .send_message(&Message::Ping { nonce: sent })
                    .await
                    .is_err()
                {
                    return sent;
                }
                sent += 1;
            }
        }
        sent
    });
    // Closed as stuck, not banned as a flooder, and well before the 40 s.
    assert!(
        started.elapsed() < Duration::from_secs(39),
        "the victim kept a link that reads nothing ({sent} pings sent)"
    );
    assert_eq!(linked(&victim), before);
    assert!(victim.status("links").contains(" 0 flooders dropped"));
    assert_eq!(victim.newcomer_fetches("newcomer"), DOCS);
}
