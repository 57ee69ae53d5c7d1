//! The Freenet-mode core on small networks with fixed seeds: each behaviour
//! the protocol promises, checked by its outcome.

use fogstore::block::{Block, chk};
use fogstore::key::Location;
use fogstore::routing::freenet::Core;
use fogstore::routing::{
    BlockContent, ClientId, ClientOp, ClientResult, Config, Failure, Input, Msg, Output, PeerId,
    RequestId, Store, Time,
};
use fogstore::sim::content::{VirtualContent, VirtualKey};
use fogstore::sim::engine::{Latency, Network, SimCore};
use fogstore::store::MemoryStore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The routing phase alone: no stem (the originator routes its own
/// requests, as in Clarke et al. 2001), plain decrements, caching on every
/// node of the path, unless a test says otherwise. `tests/stem.rs` covers
/// the stem.
fn plain() -> Config {
    Config {
        max_htl: 10,
        decrement_at_max: 1.0,
        decrement_at_one: 1.0,
        stem: false,
        source_rewrite: 0.0,
        ..Config::default()
    }
}

/// `n` nodes at locations 1000·i, each referencing only the next.
fn chain(n: u32, config: Config) -> Network<SimCore<VirtualContent>> {
    let mut net = Network::new(7, Latency::default());
    for i in 0..n {
        net.add_node(config, Location(1000 * u64::from(i)), 50);
    }
    for i in 0..n - 1 {
        net.link(PeerId(i), PeerId(i + 1));
    }
    net
}

fn get(key: u64, htl: u8) -> ClientOp<VirtualContent> {
    ClientOp::Get {
        key: VirtualKey(key),
        htl: Some(htl),
        operation: 0,
    }
}

fn found(result: &ClientResult<VirtualContent>) -> bool {
    matches!(result, ClientResult::Found(()))
}

#[test]
fn a_request_finds_data_several_hops_away() {
    let mut net = chain(6, plain());
    let key = VirtualKey(5000);
    assert!(net.node_mut(PeerId(5)).preload(key, ()));
    let out = net.run_op(PeerId(0), get(5000, 10));
    assert!(found(&out.result), "{:?}", out.result);
    assert_eq!(out.hops, 5);
    // Request out, DataFound back: two messages a hop.
    assert_eq!(out.messages, 10);
}

#[test]
fn data_is_cached_along_the_path_and_the_second_request_is_shorter() {
    let mut net = chain(6, plain());
    net.node_mut(PeerId(5)).preload(VirtualKey(5000), ());
    let first = net.run_op(PeerId(0), get(5000, 10));
    assert_eq!(first.hops, 5);
    for i in 1..5 {
        assert!(
            net.node(PeerId(i)).store().contains(&VirtualKey(5000)),
            "node {i} caches"
        );
    }
    // The requester cached it too (no anonymity zone here): a local hit.
    let second = net.run_op(PeerId(0), get(5000, 10));
    assert!(found(&second.result));
    assert_eq!(second.hops, 0);
    // Another node upstream of the path now finds it one hop away.
    let mut net2 = chain(7, plain());
    net2.node_mut(PeerId(6)).preload(VirtualKey(6000), ());
    assert_eq!(net2.run_op(PeerId(1), get(6000, 10)).hops, 5);
    assert_eq!(net2.run_op(PeerId(0), get(6000, 10)).hops, 1);
}

#[test]
fn the_reply_teaches_routing_tables_the_source() {
    let mut net = chain(6, plain());
    net.node_mut(PeerId(5)).preload(VirtualKey(5000), ());
    net.run_op(PeerId(0), get(5000, 10));
    // With no source rewriting, every node on the path now references the
    // holder, node 5, under the key's location.
    for i in 0..4 {
        let refs: Vec<(Location, PeerId)> = net.node(PeerId(i)).table().iter().collect();
        assert!(
            refs.contains(&(Location(5000), PeerId(5))),
            "node {i}: {refs:?}"
        );
    }
}

#[test]
fn source_rewriting_hides_the_holder() {
    let config = Config {
        source_rewrite: 1.0,
        ..plain()
    };
    let mut net = chain(6, config);
    net.node_mut(PeerId(5)).preload(VirtualKey(5000), ());
    net.run_op(PeerId(0), get(5000, 10));
    // Every hop claims the data as its own: node 0 references node 1.
    let refs: Vec<(Location, PeerId)> = net.node(PeerId(0)).table().iter().collect();
    assert!(refs.contains(&(Location(5000), PeerId(1))), "{refs:?}");
    assert!(!refs.contains(&(Location(5000), PeerId(5))));
}

#[test]
fn a_loop_is_rejected_and_the_request_backtracks() {
    // 0 → 1 → 2 → 0 is a loop; 2's second choice, 3, has the data.
    let mut net = Network::<SimCore<VirtualContent>>::new(1, Latency::default());
    for loc in [100, 200, 300, 400] {
        net.add_node(plain(), Location(loc), 50);
    }
    let key = 1000;
    let n = |i| PeerId(i);
    net.node_mut(n(0)).add_reference(Location(990), n(1));
    net.node_mut(n(1)).add_reference(Location(995), n(2));
    net.node_mut(n(2)).add_reference(Location(999), n(0));
    net.node_mut(n(2)).add_reference(Location(900), n(3));
    net.node_mut(n(3)).preload(VirtualKey(key), ());
    let out = net.run_op(n(0), get(key, 10));
    assert!(found(&out.result), "{:?}", out.result);
    assert_eq!(out.hops, 4, "0→1, 1→2, 2→0 (rejected), 2→3");
    assert_eq!(net.stats().by_kind.get("RejectedLoop"), Some(&1));
}

#[test]
fn exhausted_hops_to_live_give_data_not_found() {
    let mut net = chain(10, plain());
    net.node_mut(PeerId(9)).preload(VirtualKey(9000), ());
    let out = net.run_op(PeerId(0), get(9000, 3));
    assert!(
        matches!(out.result, ClientResult::Failed(Failure::DataNotFound)),
        "{:?}",
        out.result
    );
    assert_eq!(out.hops, 3);
}

#[test]
fn running_out_of_peers_gives_route_not_found_with_backtracking() {
    // 0 references 1 (closer) and 2; 1 is a dead end. 0 backtracks to 2,
    // also a dead end, then answers RouteNotFound.
    let mut net = Network::<SimCore<VirtualContent>>::new(1, Latency::default());
    for loc in [0, 10, 20] {
        net.add_node(plain(), Location(loc), 50);
    }
    net.node_mut(PeerId(0))
        .add_reference(Location(500), PeerId(1));
    net.node_mut(PeerId(0))
        .add_reference(Location(400), PeerId(2));
    let out = net.run_op(PeerId(0), get(505, 10));
    assert!(
        matches!(out.result, ClientResult::Failed(Failure::RouteNotFound)),
        "{:?}",
        out.result
    );
    assert_eq!(out.hops, 2);
    assert_eq!(net.stats().by_kind.get("RouteNotFound"), Some(&2));
}

#[test]
fn a_dead_peer_is_routed_around() {
    // 0 → 1 is best, 0 → 2 second; both 1 and 2 reference 3, the holder.
    let mut net = Network::<SimCore<VirtualContent>>::new(3, Latency::default());
    for loc in [0, 10, 20, 30] {
        net.add_node(plain(), Location(loc), 50);
    }
    net.node_mut(PeerId(0))
        .add_reference(Location(700), PeerId(1));
    net.node_mut(PeerId(0))
        .add_reference(Location(600), PeerId(2));
    net.node_mut(PeerId(1))
        .add_reference(Location(700), PeerId(3));
    net.node_mut(PeerId(2))
        .add_reference(Location(700), PeerId(3));
    net.node_mut(PeerId(3)).preload(VirtualKey(700), ());
    net.kill(PeerId(1));
    let out = net.run_op(PeerId(0), get(700, 10));
    assert!(found(&out.result), "{:?}", out.result);
    assert_eq!(out.hops, 3, "0→1 (lost), 0→2, 2→3");
    assert_eq!(net.stats().lost, 1);
    // The dead peer's references are gone.
    assert!(
        net.node(PeerId(0))
            .table()
            .iter()
            .all(|(_, p)| p != PeerId(1))
    );
}

#[test]
fn a_client_that_waits_too_long_gets_timed_out() {
    let config = Config {
        client_timeout_ms: 1,
        ..plain()
    };
    let mut net = chain(4, config);
    net.node_mut(PeerId(3)).preload(VirtualKey(3000), ());
    let out = net.run_op(PeerId(0), get(3000, 10));
    assert!(
        matches!(out.result, ClientResult::Failed(Failure::TimedOut)),
        "{:?}",
        out.result
    );
}

#[test]
fn requests_in_flight_are_bounded() {
    let config = Config {
        max_in_flight: 0,
        ..plain()
    };
    let mut net = chain(3, config);
    let out = net.run_op(PeerId(0), get(2000, 10));
    assert!(matches!(
        out.result,
        ClientResult::Failed(Failure::Overloaded)
    ));
}

#[test]
fn inserts_store_along_the_path_and_collide_afterwards() {
    let mut net = chain(6, plain());
    let put = |key| ClientOp::Put {
        key: VirtualKey(key),
        data: (),
        htl: Some(4),
        operation: 0,
    };
    let out = net.run_op(PeerId(0), put(5500));
    assert!(
        matches!(out.result, ClientResult::Inserted),
        "{:?}",
        out.result
    );
    assert_eq!(out.hops, 4);
    let stored: Vec<bool> = (0..6)
        .map(|i| net.node(PeerId(i)).store().contains(&VirtualKey(5500)))
        .collect();
    assert_eq!(stored, vec![true, true, true, true, true, false]);
    // The same key again from node 1's neighbourhood collides at once.
    let again = net.run_op(PeerId(0), put(5500));
    assert!(
        matches!(again.result, ClientResult::Collision(())),
        "{:?}",
        again.result
    );
    // And a request now finds it.
    assert!(
        found(&net.run_op(PeerId(5), get(5500, 10)).result)
            || net.node(PeerId(5)).table().is_empty()
    );
}

#[test]
fn every_insert_hop_references_the_inserter() {
    let mut net = chain(6, plain());
    let put = ClientOp::Put {
        key: VirtualKey(5500),
        data: (),
        htl: Some(4),
        operation: 0,
    };
    net.run_op(PeerId(0), put);
    // No rewriting here: nodes 1 to 4 all point at node 0 for the key,
    // long links that a lattice alone would never make.
    for i in 1..5 {
        let refs: Vec<(Location, PeerId)> = net.node(PeerId(i)).table().iter().collect();
        assert!(
            refs.contains(&(Location(5500), PeerId(0))),
            "node {i}: {refs:?}"
        );
    }
}

#[test]
fn an_insert_is_offered_and_its_data_goes_only_once_accepted() {
    let mut net = chain(6, plain());
    net.watch(PeerId(3));
    let out = net.run_op(
        PeerId(0),
        ClientOp::Put {
            key: VirtualKey(5500),
            data: (),
            htl: Some(4),
            operation: 0,
        },
    );
    assert!(matches!(out.result, ClientResult::Inserted));
    // Node 3 saw the offer, then (having accepted it) the data, then the
    // reply from node 4: in that order.
    let names: Vec<&str> = net.take_observed().iter().map(|o| o.msg.name()).collect();
    assert_eq!(
        names,
        ["InsertOffer", "InsertData", "InsertAccepted", "InsertReply"]
    );
    // Per hop: offer, accepted, data, reply.
    assert_eq!(out.messages, 4 * 4);
}

#[test]
fn an_offer_that_loops_or_collides_costs_no_block() {
    let mut bench = Bench::new(plain());
    bench.core.add_reference(Location(5), PeerId(1));
    let (key, block) = chk::encode(b"offered").unwrap();
    let offer = |id| Msg::InsertOffer {
        id: RequestId(id),
        key: key.node_key(),
        htl: 5,
        source: PeerId(7),
    };
    // Accepted: the node asks for the data, and sends nothing on yet.
    let outputs = bench.feed(7, offer(1));
    assert!(
        matches!(
            &outputs[..],
            [Output::Send {
                to: PeerId(7),
                msg: Msg::InsertAccepted { id: RequestId(1) }
            }]
        ),
        "{outputs:?}"
    );
    // Offered again under the same id: a loop, refused before any data.
    let outputs = bench.feed(8, offer(1));
    assert!(
        matches!(
            &outputs[..],
            [Output::Send {
                to: PeerId(8),
                msg: Msg::RejectedLoop { .. }
            }]
        ),
        "{outputs:?}"
    );
    // The data comes: the offer goes on to the node's peer.
    let outputs = bench.feed(
        7,
        Msg::InsertData {
            id: RequestId(1),
            data: Block::Chk(block.clone()),
        },
    );
    assert!(
        matches!(
            &outputs[..],
            [Output::Send {
                to: PeerId(1),
                msg: Msg::InsertOffer { .. }
            }]
        ),
        "{outputs:?}"
    );
    // A node that holds the key answers a new offer with what it holds.
    bench.core.preload(key.node_key(), Block::Chk(block));
    let outputs = bench.feed(9, offer(2));
    assert!(
        matches!(
            &outputs[..],
            [Output::Send {
                to: PeerId(9),
                msg: Msg::DataFound { .. }
            }]
        ),
        "{outputs:?}"
    );
}

#[test]
fn joining_gives_a_location_fixed_by_every_hop_and_the_path_references_it() {
    let mut net = Network::<SimCore<VirtualContent>>::new(11, Latency::default());
    for i in 0..10u64 {
        net.add_node(plain(), Location(i << 59), 50);
    }
    for a in 0..10 {
        for b in 0..10 {
            if a != b {
                net.link(PeerId(a), PeerId(b));
            }
        }
    }
    let joiner = net.add_node(plain(), Location(0), 50);
    net.link(joiner, PeerId(0));
    let location = join(&mut net, joiner);
    assert_eq!(net.node(joiner).location(), location);
    let referencing: Vec<u32> = net
        .nodes()
        .filter(|(_, n)| n.table().iter().any(|r| r == (location, joiner)))
        .map(|(id, _)| id.0)
        .collect();
    assert_eq!(
        referencing.len(),
        4,
        "every hop of the announcement: {referencing:?}"
    );
    assert!(referencing.contains(&0));
    // Another join from the same place lands elsewhere: no single node
    // chooses the location.
    let again = net.add_node(plain(), Location(0), 50);
    net.link(again, PeerId(0));
    let other = join(&mut net, again);
    assert_ne!(location, other);
}

/// `joiner` joins through node 0 with an announcement of 4 hops; the
/// location the network gave it.
fn join(net: &mut Network<SimCore<VirtualContent>>, joiner: PeerId) -> Location {
    let out = net.run_op(
        joiner,
        ClientOp::Join {
            via: PeerId(0),
            htl: 4,
        },
    );
    let ClientResult::Joined(location) = out.result else {
        panic!("{:?}", out.result)
    };
    location
}

/// Whether `outputs` is exactly the drop of `peer`.
fn drops(outputs: &[Output<BlockContent>], peer: u32) -> bool {
    matches!(outputs, [Output::DropPeer { peer: p, .. }] if p.0 == peer)
}

/// A lone core and a way to feed it requests by hand.
struct Bench {
    core: Core<BlockContent, MemoryStore<BlockContent>>,
    rng: ChaCha8Rng,
    next_id: u64,
}

impl Bench {
    /// Requests fed by hand are never answered, so the in-flight bound is
    /// raised out of the way.
    fn new(config: Config) -> Self {
        let config = Config {
            max_in_flight: 10_000,
            ..config
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let core = Core::new(config, Location(0), MemoryStore::new(10), &mut rng);
        Bench {
            core,
            rng,
            next_id: 0,
        }
    }

    fn feed(&mut self, from: u32, msg: Msg<BlockContent>) -> Vec<Output<BlockContent>> {
        let input = Input::Message {
            from: PeerId(from),
            msg,
        };
        self.core.handle(Time(0), input, &mut self.rng);
        std::iter::from_fn(|| self.core.poll()).collect()
    }

    /// Sends a fresh request at `htl` from `from`; returns the HTL it was
    /// forwarded with, or `None` if it ended here.
    fn forwarded_htl(&mut self, from: u32, htl: u8) -> Option<u8> {
        self.next_id += 1;
        let (key, _) = chk::encode(b"probe").unwrap();
        let msg = Msg::Request {
            id: RequestId(self.next_id),
            key: key.node_key(),
            htl,
        };
        self.feed(from, msg).into_iter().find_map(|o| match o {
            Output::Send {
                msg: Msg::Request { htl, .. },
                ..
            } => Some(htl),
            _ => None,
        })
    }
}

#[test]
fn htl_at_max_is_kept_or_decremented_per_link_consistently() {
    let config = Config {
        max_htl: 10,
        ..Config::default()
    };
    let mut bench = Bench::new(config);
    bench.core.add_reference(Location(1), PeerId(1000));
    let mut kept = 0;
    for peer in 1..=40 {
        let first = bench.forwarded_htl(peer, 10).unwrap();
        assert!(first == 10 || first == 9);
        // The same link decides the same way every time.
        for _ in 0..5 {
            assert_eq!(bench.forwarded_htl(peer, 10), Some(first), "peer {peer}");
        }
        // Above max counts as max.
        assert_eq!(bench.forwarded_htl(peer, 200), Some(first));
        kept += usize::from(first == 10);
    }
    // About half the links keep max HTL (p = 0.5; 40 links).
    assert!((8..=32).contains(&kept), "{kept} of 40 links kept max HTL");
    // In the middle of the range the decrement is always exactly one.
    assert_eq!(bench.forwarded_htl(3, 5), Some(4));
}

#[test]
fn htl_one_ends_or_continues_per_link_consistently() {
    let mut bench = Bench::new(Config::default());
    bench.core.add_reference(Location(1), PeerId(1000));
    let mut ended = 0;
    for peer in 1..=80 {
        let first = bench.forwarded_htl(peer, 1);
        assert!(first.is_none() || first == Some(1));
        for _ in 0..3 {
            assert_eq!(bench.forwarded_htl(peer, 1), first, "peer {peer}");
        }
        ended += usize::from(first.is_none());
    }
    // p = 0.25 of links end a request at HTL 1.
    assert!(
        (6..=40).contains(&ended),
        "{ended} of 80 links ended HTL-1 requests"
    );
}

#[test]
fn a_request_received_with_htl_0_is_answered_and_never_forwarded() {
    let mut bench = Bench::new(Config::default());
    bench.core.add_reference(Location(1), PeerId(1000));
    for peer in 1..=20 {
        // Before the fix HTL 0 wrapped to 255 and went on (a debug build
        // panicked on the subtraction).
        assert_eq!(bench.forwarded_htl(peer, 0), None, "peer {peer}");
    }
    bench.next_id += 1;
    let (key, _) = chk::encode(b"probe").unwrap();
    let answers = bench.feed(
        7,
        Msg::Request {
            id: RequestId(bench.next_id),
            key: key.node_key(),
            htl: 0,
        },
    );
    assert!(
        answers.iter().any(|o| matches!(
            o,
            Output::Send {
                to: PeerId(7),
                msg: Msg::DataNotFound { .. }
            }
        )),
        "{answers:?}"
    );
}

#[test]
fn a_peer_returning_bad_data_is_dropped_and_the_request_rerouted() {
    let mut bench = Bench::new(plain());
    bench.core.add_reference(Location(5), PeerId(1));
    bench.core.add_reference(Location(6), PeerId(2));
    let (key, _) = chk::encode(b"wanted").unwrap();
    let node_key = key.node_key();
    bench.core.handle(
        Time(0),
        Input::Client {
            client: ClientId(1),
            op: ClientOp::Get {
                key: node_key,
                htl: None,
                operation: 0,
            },
        },
        &mut bench.rng,
    );
    let sent: Vec<Output<BlockContent>> = std::iter::from_fn(|| bench.core.poll()).collect();
    let (first, id) = match &sent[..] {
        [
            Output::Send {
                to,
                msg: Msg::Request { id, .. },
            },
        ] => (*to, *id),
        other => panic!("{other:?}"),
    };
    // The first peer answers with a block that is not the one asked for.
    let (_, wrong) = chk::encode(b"something else").unwrap();
    let outputs = bench.feed(
        first.0,
        Msg::DataFound {
            id,
            source: first,
            data: Block::Chk(wrong),
        },
    );
    assert!(
        matches!(outputs[0], Output::DropPeer { peer, .. } if peer == first),
        "{outputs:?}"
    );
    assert!(
        matches!(&outputs[1], Output::Send { to, msg: Msg::Request { .. } } if *to != first),
        "{outputs:?}"
    );
    assert!(!bench.core.store().contains(&node_key));
}

#[test]
fn insert_data_that_fails_verification_drops_its_sender() {
    let mut bench = Bench::new(plain());
    bench.core.add_reference(Location(5), PeerId(1));
    let (key, _) = chk::encode(b"claimed").unwrap();
    let (_, other) = chk::encode(b"actual").unwrap();
    let accepted = bench.feed(
        7,
        Msg::InsertOffer {
            id: RequestId(1),
            key: key.node_key(),
            htl: 5,
            source: PeerId(7),
        },
    );
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    let outputs = bench.feed(
        7,
        Msg::InsertData {
            id: RequestId(1),
            data: Block::Chk(other),
        },
    );
    assert!(drops(&outputs, 7), "{outputs:?}");
    assert!(bench.core.store().is_empty());
    assert_eq!(bench.core.in_flight(), 0);
    // Data for an insert nobody offered is ignored.
    let (_, stray) = chk::encode(b"stray").unwrap();
    let outputs = bench.feed(
        9,
        Msg::InsertData {
            id: RequestId(77),
            data: Block::Chk(stray),
        },
    );
    assert!(outputs.is_empty(), "{outputs:?}");
}

#[test]
fn a_freenet_node_drops_a_peer_that_sends_a_chord_insert() {
    let mut bench = Bench::new(Config::default());
    let (key, block) = chk::encode(b"one phase").unwrap();
    let outputs = bench.feed(
        7,
        Msg::Insert {
            id: RequestId(1),
            key: key.node_key(),
            htl: 5,
            source: PeerId(7),
            data: Block::Chk(block),
        },
    );
    assert!(drops(&outputs, 7), "{outputs:?}");
}

/// Runs a fixed random workload and returns everything observable.
fn workload(seed: u64) -> (Vec<(u32, u32, u64)>, u64) {
    let mut net = Network::<SimCore<VirtualContent>>::new(seed, Latency::default());
    for i in 0..30u64 {
        net.add_node(
            Config::default(),
            Location(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            10,
        );
    }
    for i in 0..30 {
        for d in [1, 2, 29, 28] {
            net.link(PeerId(i), PeerId((i + d) % 30));
        }
    }
    for step in 0..200u64 {
        let node = PeerId((step * 7 % 30) as u32);
        let op = if step % 2 == 0 {
            ClientOp::Put {
                key: VirtualKey(step.wrapping_mul(0x2545_f491_4f6c_dd1d)),
                data: (),
                htl: None,
                operation: 0,
            }
        } else {
            get((step - 1).wrapping_mul(0x2545_f491_4f6c_dd1d), 18)
        };
        net.client(node, op);
        net.run_until_idle();
    }
    let outcomes = net
        .take_outcomes()
        .iter()
        .map(|o| (o.hops, o.messages, o.elapsed.0))
        .collect();
    (outcomes, net.stats().messages)
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = workload(42);
    assert_eq!(a.0.len(), 200);
    assert_eq!(a, workload(42));
    assert_ne!(a, workload(43));
}

#[test]
fn an_announcement_whose_next_hop_is_dead_ends_where_it_is_and_the_join_succeeds() {
    let mut net = Network::<SimCore<VirtualContent>>::new(3, Latency::default());
    for i in 0..3u64 {
        net.add_node(plain(), Location(i << 60), 50);
    }
    net.link(PeerId(0), PeerId(1));
    net.link(PeerId(0), PeerId(2));
    let joiner = net.add_node(plain(), Location(7), 50);
    net.link(joiner, PeerId(0));
    // Node 0's every other peer is gone: its announcement cannot go on.
    net.kill(PeerId(1));
    net.kill(PeerId(2));
    let location = join(&mut net, joiner);
    assert!(
        net.node(PeerId(0))
            .table()
            .iter()
            .any(|r| r == (location, joiner)),
        "node 0 references the joiner"
    );
}
