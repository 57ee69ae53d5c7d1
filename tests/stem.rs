//! The stem: the anonymity phase of a Freenet-mode request or insert
//! (`docs/protocol.md` §10.1), checked one core at a time by hand, and on
//! small simulated networks with the real node's settings.

use std::collections::BTreeSet;

use fogstore::block::{Block, chk};
use fogstore::key::{Location, NodeKey};
use fogstore::routing::freenet::Core;
use fogstore::routing::{
    BlockContent, ClientId, ClientOp, ClientResult, Config, Failure, Input, Msg, Output, PeerId,
    Protocol, RequestId, Store, Time,
};
use fogstore::sim::content::{VirtualContent, VirtualKey};
use fogstore::sim::engine::{Latency, Network, SimCore};
use fogstore::sim::scenario::node_location;
use fogstore::store::MemoryStore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// This node's id in the core (what it puts in source fields).
const ME: PeerId = PeerId(99);

/// A lone core with peers 1, 2 and 3 referenced, fed by hand.
struct Bench {
    core: Core<BlockContent, MemoryStore<BlockContent>>,
    rng: ChaCha8Rng,
    now: Time,
}

impl Bench {
    /// Requests fed by hand are never all answered, so the in-flight bound
    /// is raised out of the way.
    fn new(config: Config) -> Bench {
        Bench::exact(Config {
            max_in_flight: 10_000,
            ..config
        })
    }

    /// A core with exactly `config` (but this node's id).
    fn exact(config: Config) -> Bench {
        let config = Config { me: ME, ..config };
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut core = Core::new(config, Location(0), MemoryStore::new(10), &mut rng);
        for peer in 1..=3 {
            core.add_reference(Location(u64::from(peer) << 60), PeerId(peer));
        }
        Bench {
            core,
            rng,
            now: Time(0),
        }
    }

    fn with_continue(stem_continue: f64) -> Bench {
        Bench::new(Config {
            stem_continue,
            ..Config::default()
        })
    }

    fn input(&mut self, input: Input<BlockContent>) -> Vec<Output<BlockContent>> {
        self.core.handle(self.now, input, &mut self.rng);
        std::iter::from_fn(|| self.core.poll()).collect()
    }

    fn feed(&mut self, from: u32, msg: Msg<BlockContent>) -> Vec<Output<BlockContent>> {
        self.input(Input::Message {
            from: PeerId(from),
            msg,
        })
    }

    fn get(&mut self, client: u64, key: NodeKey, operation: u64) -> Vec<Output<BlockContent>> {
        self.input(Input::Client {
            client: ClientId(client),
            op: ClientOp::Get {
                key,
                htl: None,
                operation,
            },
        })
    }
}

/// A block and its key.
fn block(text: &str) -> (NodeKey, Block) {
    let (key, block) = chk::encode(text.as_bytes()).unwrap();
    (key.node_key(), Block::Chk(block))
}

/// The one message sent, and to whom.
fn sent(outputs: &[Output<BlockContent>]) -> (PeerId, Msg<BlockContent>) {
    match outputs {
        [Output::Send { to, msg }] => (*to, msg.clone()),
        other => panic!("expected one message, got {other:?}"),
    }
}

#[test]
fn an_originator_sends_its_request_on_a_stem_and_keeps_nothing_it_gets() {
    let mut bench = Bench::new(Config::default());
    let (key, data) = block("wanted");
    let (first, msg) = sent(&bench.get(1, key, 7));
    let Msg::StemRequest { id, key: asked } = msg else {
        panic!("{msg:?}")
    };
    assert_eq!(asked, key);
    assert!((1..=3).contains(&first.0));
    let outputs = bench.feed(
        first.0,
        Msg::DataFound {
            id,
            source: first,
            data,
        },
    );
    assert!(
        matches!(
            &outputs[..],
            [Output::Reply {
                client: ClientId(1),
                result: ClientResult::Found(_)
            }]
        ),
        "{outputs:?}"
    );
    assert!(bench.core.store().is_empty(), "the originator cached it");
    assert_eq!(
        bench.core.table().len(),
        3,
        "the originator learnt a reference"
    );
}

#[test]
fn a_relay_passes_a_stem_on_under_a_new_id_and_keeps_and_learns_nothing() {
    let mut bench = Bench::with_continue(1.0);
    let (key, data) = block("relayed");
    let (next, msg) = sent(&bench.feed(
        1,
        Msg::StemRequest {
            id: RequestId(5),
            key,
        },
    ));
    let Msg::StemRequest { id, key: passed } = msg else {
        panic!("{msg:?}")
    };
    assert_ne!(next, PeerId(1), "sent back where it came from");
    assert_ne!(id, RequestId(5), "the id was kept");
    assert_eq!(passed, key);
    let (back, msg) = sent(&bench.feed(
        next.0,
        Msg::DataFound {
            id,
            source: PeerId(42),
            data,
        },
    ));
    assert_eq!(back, PeerId(1));
    match msg {
        Msg::DataFound { id, source, .. } => {
            assert_eq!(id, RequestId(5));
            assert_eq!(source, ME, "the relay passed on who had the data");
        }
        other => panic!("{other:?}"),
    }
    assert!(bench.core.store().is_empty());
    assert_eq!(bench.core.table().len(), 3);
}

#[test]
fn the_end_of_a_stem_routes_under_a_new_id_at_max_htl_and_caches() {
    let mut bench = Bench::with_continue(0.0);
    let (key, data) = block("routed");
    let (next, msg) = sent(&bench.feed(
        1,
        Msg::StemRequest {
            id: RequestId(5),
            key,
        },
    ));
    let Msg::Request { id, htl, .. } = msg else {
        panic!("{msg:?}")
    };
    assert_ne!(next, PeerId(1), "routed back into its stem");
    assert_ne!(id, RequestId(5));
    assert_eq!(htl, Config::default().max_htl);
    let (back, msg) = sent(&bench.feed(
        next.0,
        Msg::DataFound {
            id,
            source: PeerId(42),
            data,
        },
    ));
    assert_eq!(back, PeerId(1));
    assert!(
        matches!(
            msg,
            Msg::DataFound {
                id: RequestId(5),
                source: ME,
                ..
            }
        ),
        "{msg:?}"
    );
    assert!(bench.core.store().contains(&key), "the routed path caches");
    assert!(
        bench.core.table().iter().any(|(_, p)| p == PeerId(42)),
        "the routed path learns the source"
    );
}

#[test]
fn an_insert_stem_ends_in_an_offer_that_names_the_end_as_its_source() {
    let mut bench = Bench::with_continue(0.0);
    let (key, data) = block("published");
    let (next, msg) = sent(&bench.feed(
        2,
        Msg::StemInsert {
            id: RequestId(5),
            key,
            data,
        },
    ));
    assert_ne!(next, PeerId(2));
    let Msg::InsertOffer {
        id, source, htl, ..
    } = msg
    else {
        panic!("{msg:?}")
    };
    assert_eq!(source, ME, "the source names the originator's side");
    assert_eq!(htl, Config::default().max_htl);
    // Accepted: the data follows; the reply goes back up the stem.
    let (_, msg) = sent(&bench.feed(next.0, Msg::InsertAccepted { id }));
    assert!(matches!(msg, Msg::InsertData { .. }), "{msg:?}");
    let (back, msg) = sent(&bench.feed(next.0, Msg::InsertReply { id }));
    assert_eq!(back, PeerId(2));
    assert!(
        matches!(msg, Msg::InsertReply { id: RequestId(5) }),
        "{msg:?}"
    );
    assert!(
        bench.core.store().contains(&key),
        "the end of the stem stores"
    );
}

#[test]
fn a_stem_insert_whose_data_fails_verification_drops_its_sender() {
    let mut bench = Bench::with_continue(0.5);
    let (key, _) = block("claimed");
    let (_, other) = block("actual");
    let outputs = bench.feed(
        3,
        Msg::StemInsert {
            id: RequestId(1),
            key,
            data: other,
        },
    );
    assert!(
        matches!(
            outputs[..],
            [Output::DropPeer {
                peer: PeerId(3),
                ..
            }]
        ),
        "{outputs:?}"
    );
    assert_eq!(bench.core.in_flight(), 0);
}

#[test]
fn every_block_of_one_operation_takes_the_same_first_hop() {
    let mut bench = Bench::new(Config::default());
    let first_hop = |bench: &mut Bench, client: u64, operation: u64| {
        let (key, _) = block(&format!("block {client}"));
        sent(&bench.get(client, key, operation)).0
    };
    let one = first_hop(&mut bench, 0, 11);
    for client in 1..20 {
        assert_eq!(first_hop(&mut bench, client, 11), one, "block {client}");
    }
    // Other operations spread over the peers.
    let hops: BTreeSet<PeerId> = (100..140).map(|op| first_hop(&mut bench, op, op)).collect();
    assert_eq!(hops.len(), 3, "{hops:?}");
}

#[test]
fn a_relay_sends_every_stem_from_one_peer_the_same_way_until_the_epoch_ends() {
    let mut bench = Bench::with_continue(1.0);
    let epoch = Config::default().stem_epoch_ms;
    let mut next_hops = BTreeSet::new();
    for e in 0..12u64 {
        bench.now = Time(0).plus_ms(e * epoch);
        let mut this_epoch = BTreeSet::new();
        for i in 0..10u64 {
            let (key, _) = block(&format!("epoch {e} block {i}"));
            let id = RequestId(e * 100 + i);
            this_epoch.insert(sent(&bench.feed(1, Msg::StemRequest { id, key })).0);
        }
        assert_eq!(this_epoch.len(), 1, "epoch {e}: {this_epoch:?}");
        next_hops.extend(this_epoch);
    }
    // Peers 2 and 3 are the choices (never 1, the sender); over twelve
    // epochs both come up.
    assert_eq!(next_hops, BTreeSet::from([PeerId(2), PeerId(3)]));
}

#[test]
fn whether_a_relay_ends_a_stem_is_fixed_per_upstream_peer() {
    let mut bench = Bench::with_continue(0.5);
    let mut ends = 0;
    for peer in 4..84u32 {
        bench
            .core
            .add_reference(Location(u64::from(peer) << 40), PeerId(peer));
        let ended = |bench: &mut Bench, i: u32| {
            let (key, _) = block(&format!("peer {peer} try {i}"));
            let id = RequestId(u64::from(peer) << 8 | u64::from(i));
            matches!(
                sent(&bench.feed(peer, Msg::StemRequest { id, key })).1,
                Msg::Request { .. }
            )
        };
        let first = ended(&mut bench, 0);
        for i in 1..4 {
            assert_eq!(ended(&mut bench, i), first, "peer {peer}");
        }
        ends += usize::from(first);
    }
    assert!((20..=60).contains(&ends), "{ends} of 80 peers end stems");
}

#[test]
fn a_stem_that_comes_back_to_a_node_ends_there() {
    let mut bench = Bench::with_continue(1.0);
    let (key, _) = block("circling");
    let (_, msg) = sent(&bench.feed(
        1,
        Msg::StemRequest {
            id: RequestId(1),
            key,
        },
    ));
    assert!(matches!(msg, Msg::StemRequest { .. }), "{msg:?}");
    // The same key again, from elsewhere: the walk went round a cycle.
    let (_, msg) = sent(&bench.feed(
        2,
        Msg::StemRequest {
            id: RequestId(2),
            key,
        },
    ));
    assert!(matches!(msg, Msg::Request { .. }), "{msg:?}");
}

#[test]
fn an_originator_whose_stem_comes_back_passes_it_on_rather_than_routing_its_own_request() {
    let mut bench = Bench::with_continue(0.0);
    let (key, _) = block("mine");
    let (first, _) = sent(&bench.get(1, key, 3));
    let (next, msg) = sent(&bench.feed(
        1,
        Msg::StemRequest {
            id: RequestId(9),
            key,
        },
    ));
    assert!(matches!(msg, Msg::StemRequest { .. }), "{msg:?}");
    assert_ne!(next, first);
    assert_ne!(next, PeerId(1));
}

#[test]
fn an_originator_with_no_peer_fails_at_once_and_an_insert_is_not_called_stored() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut core: Core<BlockContent, MemoryStore<BlockContent>> = Core::new(
        Config::default(),
        Location(0),
        MemoryStore::new(10),
        &mut rng,
    );
    let (key, data) = block("alone");
    let op = ClientOp::Put {
        key,
        data,
        htl: None,
        operation: 0,
    };
    core.handle(
        Time(0),
        Input::Client {
            client: ClientId(1),
            op,
        },
        &mut rng,
    );
    assert!(
        matches!(
            core.poll(),
            Some(Output::Reply {
                result: ClientResult::Failed(Failure::NoPeer),
                ..
            })
        ),
        "a put that reached nobody"
    );
    assert!(core.store().is_empty());
}

#[test]
fn a_relay_whose_next_hop_goes_down_sends_the_stem_elsewhere() {
    let mut bench = Bench::with_continue(1.0);
    let (key, _) = block("rerouted");
    let (next, _) = sent(&bench.feed(
        1,
        Msg::StemRequest {
            id: RequestId(5),
            key,
        },
    ));
    let (other, msg) = sent(&bench.input(Input::PeerDown(next)));
    assert!(matches!(msg, Msg::StemRequest { .. }), "{msg:?}");
    assert!(other != next && other != PeerId(1), "{other:?}");
    // With no peer left but its upstream, it ends the stem itself.
    let outputs = bench.input(Input::PeerDown(other));
    assert!(
        outputs.is_empty() || matches!(&outputs[..], [Output::Send { to: PeerId(1), .. }]),
        "{outputs:?}"
    );
}

/// `n` simulated nodes with the real node's settings, joined one after the
/// other through the node before, as `fog node` processes join.
fn joined_network(seed: u64, n: u32) -> Network<SimCore<VirtualContent>> {
    let mut net = Network::new(seed, Latency::default());
    for i in 0..n {
        net.add_node(Config::default(), node_location(u64::from(i)), 1000);
    }
    for i in 1..n {
        net.link(PeerId(i), PeerId(i - 1));
        let join = ClientOp::Join {
            via: PeerId(i - 1),
            htl: 10,
        };
        assert!(net.run_op(PeerId(i), join).succeeded());
    }
    net
}

#[test]
fn with_the_defaults_networks_of_2_to_20_nodes_store_and_find_every_document() {
    for n in [2u32, 3, 8, 20] {
        let mut net = joined_network(u64::from(n), n);
        let keys: Vec<VirtualKey> = (0..60u64)
            .map(|k| VirtualKey(k.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .collect();
        for (i, &key) in keys.iter().enumerate() {
            let publisher = PeerId(i as u32 % n);
            let op = ClientOp::Put {
                key,
                data: (),
                htl: None,
                operation: i as u64,
            };
            let out = net.run_op(publisher, op);
            assert!(
                matches!(out.result, ClientResult::Inserted),
                "{n} nodes: {out:?}"
            );
            assert!(out.hops >= 1, "an insert went nowhere");
            assert!(
                !net.node(publisher).holds(&key),
                "{n} nodes: the publisher keeps its own insert"
            );
            assert!(net.nodes().any(|(_, node)| node.holds(&key)));
        }
        for (i, &key) in keys.iter().enumerate() {
            let reader = PeerId((i as u32 * 7 + 1) % n);
            let op = ClientOp::Get {
                key,
                htl: None,
                operation: 1000 + i as u64,
            };
            let out = net.run_op(reader, op);
            assert!(out.succeeded(), "{n} nodes: {:?}", out.result);
        }
    }
}

#[test]
fn the_simulator_follows_a_request_through_its_stem() {
    let mut net = joined_network(4, 12);
    net.node_mut(PeerId(0)).preload(VirtualKey(1), ());
    let op = ClientOp::Get {
        key: VirtualKey(1),
        htl: None,
        operation: 0,
    };
    let out = net.run_op(PeerId(11), op);
    assert!(out.succeeded());
    // A stem hop and its end's routed hops, each under its own id.
    assert!(out.hops >= 2, "{out:?}");
    assert!(out.ids.len() >= 2, "{out:?}");
}

#[test]
fn the_same_seed_gives_the_same_run_with_the_stem() {
    let run = || {
        let mut net = joined_network(21, 15);
        (0..40u64)
            .map(|k| {
                let op = if k % 2 == 0 {
                    ClientOp::Put {
                        key: VirtualKey(k),
                        data: (),
                        htl: None,
                        operation: k,
                    }
                } else {
                    ClientOp::Get {
                        key: VirtualKey(k - 1),
                        htl: None,
                        operation: k,
                    }
                };
                let out = net.run_op(PeerId((k * 5 % 15) as u32), op);
                (out.hops, out.messages, out.elapsed.0, out.ids)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn a_busy_node_refuses_a_stem_and_the_sender_passes_it_to_another_peer() {
    // A node with no room refuses with `RejectedLoop`, not a failure.
    let mut busy = Bench::exact(Config {
        max_in_flight: 0,
        ..Config::default()
    });
    let (key, _) = block("busy");
    let (back, msg) = sent(&busy.feed(
        1,
        Msg::StemRequest {
            id: RequestId(4),
            key,
        },
    ));
    assert_eq!(back, PeerId(1));
    assert!(
        matches!(msg, Msg::RejectedLoop { id: RequestId(4) }),
        "{msg:?}"
    );
    // The relay that sent it tries another peer.
    let mut relay = Bench::with_continue(1.0);
    let (next, msg) = sent(&relay.feed(
        1,
        Msg::StemRequest {
            id: RequestId(5),
            key,
        },
    ));
    let Msg::StemRequest { id, .. } = msg else {
        panic!("{msg:?}")
    };
    let (other, msg) = sent(&relay.feed(next.0, Msg::RejectedLoop { id }));
    assert!(matches!(msg, Msg::StemRequest { .. }), "{msg:?}");
    assert!(other != next && other != PeerId(1), "{other:?}");
}
