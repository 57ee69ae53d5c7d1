//! The Chord-mode core on small simulated rings with fixed seeds: lookups
//! find the successor, stabilisation repairs the ring after joins and
//! failures, and keys move on join and leave.

use fogstore::key::Location;
use fogstore::routing::chord::{FINGERS, ideal_neighbours};
use fogstore::routing::{
    ChordConfig, ChordRef, ClientOp, ClientResult, Config, DropReason, Input, Msg, Output, PeerId,
    Protocol, RequestId, Store, Time,
};
use fogstore::sim::content::{VirtualContent, VirtualKey};
use fogstore::sim::engine::{Latency, Network, SimChord, SimCore};
use fogstore::sim::scenario::{self, chord_ring, key_holders, node_location};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type Ring = Network<SimChord<VirtualContent>>;

/// Fast timers, so a few simulated minutes repair a ring.
fn upkeep(successors: usize) -> ChordConfig {
    ChordConfig {
        successors,
        maintenance: true,
        stabilize_ms: 500,
        fix_fingers_ms: 100,
        check_predecessor_ms: 500,
        hop_timeout_ms: 1_000,
        ..ChordConfig::default()
    }
}

fn still(successors: usize) -> ChordConfig {
    ChordConfig {
        maintenance: false,
        ..upkeep(successors)
    }
}

/// The live nodes sorted by location.
fn live_ring(net: &Ring) -> Vec<ChordRef> {
    let mut ring: Vec<ChordRef> = net
        .nodes()
        .filter(|(id, _)| net.is_alive(*id))
        .map(|(id, _)| net.chord_ref(id))
        .collect();
    ring.sort_by_key(|r| r.location);
    ring
}

/// The true successor of `target` among `ring`.
fn successor_of(ring: &[ChordRef], target: Location) -> ChordRef {
    let at = ring.partition_point(|r| r.location < target);
    ring[at % ring.len()]
}

fn run_for(net: &mut Ring, ms: u64) {
    let until = net.now().plus_ms(ms);
    net.run_until(until);
}

/// Every live node's predecessor and first successor are the true ones,
/// and (if `fingers`) every finger too. Returns what is wrong, if anything.
fn ring_errors(net: &Ring, fingers: bool) -> Vec<String> {
    let ring = live_ring(net);
    let mut errors = Vec::new();
    for (index, r) in ring.iter().enumerate() {
        let node = net.node(r.peer);
        let (pred, succs, ideal_fingers) = ideal_neighbours(&ring, index, 1);
        if node.predecessor() != pred {
            errors.push(format!(
                "{:?}: predecessor {:?}",
                r.peer,
                node.predecessor()
            ));
        }
        if node.successors().first() != succs.first() {
            errors.push(format!(
                "{:?}: successor {:?}",
                r.peer,
                node.successors().first()
            ));
        }
        if fingers && node.fingers() != ideal_fingers.as_slice() {
            let wrong = (0..FINGERS)
                .filter(|&i| node.fingers()[i] != ideal_fingers[i])
                .count();
            errors.push(format!("{:?}: {wrong} wrong fingers", r.peer));
        }
    }
    errors
}

/// `count` lookups of random targets from random live nodes, each checked
/// against the true successor. Returns the hop counts.
fn check_lookups(net: &mut Ring, count: usize) -> Vec<u32> {
    let ring = live_ring(net);
    let mut hops = Vec::new();
    for _ in 0..count {
        let from = ring[net.rng().gen_range(0..ring.len())].peer;
        let target = Location(net.rng().r#gen());
        let out = net
            .run_op_answered(from, ClientOp::Lookup { target })
            .expect("answered");
        match out.result {
            ClientResult::Located(node) => {
                assert_eq!(node, successor_of(&ring, target), "lookup of {target:?}")
            }
            other => panic!("lookup of {target:?} from {from:?}: {other:?}"),
        }
        hops.push(out.hops);
    }
    hops
}

#[test]
fn lookups_on_a_stable_ring_find_the_successor_in_logarithmic_hops() {
    let mut net = chord_ring(1, 128, still(4), 16, 0, Latency::default());
    let hops = check_lookups(&mut net, 300);
    let mean = hops.iter().sum::<u32>() as f64 / hops.len() as f64;
    // ½·log2(128) = 3.5; every hop at least halves the distance left.
    assert!((2.5..=4.5).contains(&mean), "mean hops {mean}");
    assert!(hops.iter().all(|&h| h <= 8), "{hops:?}");
}

/// The paper's `find_predecessor` written out on a sorted list of ids
/// (Stoica et al., figure 4): from `from`, while `target` is not in
/// `(n, successor(n)]`, move to the closest finger `successor(n + 2^i)`
/// that precedes it. Returns how many moves that takes.
fn paper_path_length(ids: &[u64], from: u64, target: u64) -> u32 {
    let successor = |x: u64| ids[ids.partition_point(|&id| id < x) % ids.len()];
    let (mut n, mut moves) = (from, 0);
    loop {
        let to_target = target.wrapping_sub(n);
        if to_target == 0 || to_target <= successor(n.wrapping_add(1)).wrapping_sub(n) {
            return moves;
        }
        n = (0..64)
            .map(|i| successor(n.wrapping_add(1 << i)))
            .filter(|f| (1..to_target).contains(&f.wrapping_sub(n)))
            .max_by_key(|f| f.wrapping_sub(n))
            .expect("finger 0 is the successor, which precedes the target");
        moves += 1;
    }
}

#[test]
fn every_lookup_takes_exactly_the_papers_path() {
    let mut net = chord_ring(5, 256, still(4), 16, 0, Latency::default());
    let ids: Vec<u64> = live_ring(&net).iter().map(|r| r.location.0).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..500 {
        let from = PeerId(rng.gen_range(0..256));
        let target: u64 = rng.r#gen();
        let out = net.run_op(
            from,
            ClientOp::Lookup {
                target: Location(target),
            },
        );
        let expected = paper_path_length(&ids, net.chord_ref(from).location.0, target);
        assert_eq!(out.hops, expected, "lookup of {target:#x} from {from:?}");
    }
}

#[test]
fn a_ring_built_by_joins_stabilises() {
    let config = upkeep(4);
    let mut net: Ring = Network::new(2, Latency::default());
    let first = net.add_chord_node(config, node_location(0), 16, 0);
    net.wake(first);
    for i in 1..24u64 {
        let id = net.add_chord_node(config, node_location(i), 16, 0);
        let out = net
            .run_op_answered(id, ClientOp::Join { via: first, htl: 0 })
            .expect("answered");
        assert!(
            matches!(out.result, ClientResult::Joined(_)),
            "{:?}",
            out.result
        );
        run_for(&mut net, 300);
    }
    run_for(&mut net, 30_000);
    assert_eq!(ring_errors(&net, false), Vec::<String>::new());
    run_for(&mut net, 120_000);
    assert_eq!(ring_errors(&net, true), Vec::<String>::new());
    check_lookups(&mut net, 100);
}

#[test]
fn stabilisation_repairs_the_ring_after_failures() {
    let mut net = chord_ring(3, 60, upkeep(4), 16, 0, Latency::default());
    for i in 0..60 {
        net.wake(PeerId(i));
    }
    // Kill a fifth of the ring, some of them neighbours.
    for i in [3, 4, 5, 17, 22, 30, 31, 40, 41, 50, 55, 59] {
        net.kill(PeerId(i));
    }
    run_for(&mut net, 30_000);
    assert_eq!(ring_errors(&net, false), Vec::<String>::new());
    run_for(&mut net, 60_000);
    assert_eq!(ring_errors(&net, true), Vec::<String>::new());
    check_lookups(&mut net, 100);
}

/// Preloads `keys` random keys, each only at its responsible node.
fn preload_at_owners(net: &mut Ring, keys: usize) -> Vec<VirtualKey> {
    let ring = live_ring(net);
    let keys: Vec<VirtualKey> = (0..keys).map(|_| VirtualKey(net.rng().r#gen())).collect();
    for &key in &keys {
        let owner = successor_of(&ring, Location(key.0));
        assert!(net.node_mut(owner.peer).preload(key, ()));
    }
    keys
}

#[test]
fn a_joining_node_receives_the_keys_it_is_now_responsible_for() {
    let mut net = chord_ring(4, 16, upkeep(2), 1000, 0, Latency::default());
    for i in 0..16 {
        net.wake(PeerId(i));
    }
    let keys = preload_at_owners(&mut net, 400);
    let joiner = net.add_chord_node(upkeep(2), node_location(1000), 1000, 0);
    let out = net
        .run_op_answered(
            joiner,
            ClientOp::Join {
                via: PeerId(0),
                htl: 0,
            },
        )
        .expect("answered");
    assert!(matches!(out.result, ClientResult::Joined(_)));
    run_for(&mut net, 10_000);
    let ring = live_ring(&net);
    let mine: Vec<VirtualKey> = keys
        .iter()
        .copied()
        .filter(|k| successor_of(&ring, Location(k.0)).peer == joiner)
        .collect();
    assert!(!mine.is_empty(), "the joiner owns some keys");
    for key in &mine {
        assert!(net.node(joiner).holds(key), "{key:?} moved to the joiner");
    }
    // And it holds nothing it should not: only its own range and the
    // ranges it replicates (r = 2 predecessors' worth).
    assert!(net.node(joiner).store().len() >= mine.len());
}

#[test]
fn a_leaving_node_hands_its_keys_to_its_successor() {
    let mut net = chord_ring(5, 16, upkeep(2), 1000, 0, Latency::default());
    for i in 0..16 {
        net.wake(PeerId(i));
    }
    let keys = preload_at_owners(&mut net, 400);
    let ring = live_ring(&net);
    let leaver = ring[7];
    let (successor, predecessor) = (ring[8], ring[6]);
    let owned: Vec<VirtualKey> = keys
        .iter()
        .copied()
        .filter(|k| successor_of(&ring, Location(k.0)) == leaver)
        .collect();
    assert!(!owned.is_empty());
    assert!(owned.iter().all(|k| !net.node(successor.peer).holds(k)));
    let out = net
        .run_op_answered(leaver.peer, ClientOp::Leave)
        .expect("answered");
    assert!(matches!(out.result, ClientResult::Left));
    run_for(&mut net, 100);
    net.kill(leaver.peer);
    run_for(&mut net, 1_000);
    for key in &owned {
        assert!(net.node(successor.peer).holds(key), "{key:?} handed over");
    }
    // The neighbours linked past the leaver at once, before stabilising.
    assert_eq!(net.node(predecessor.peer).successors()[0], successor);
    assert_eq!(net.node(successor.peer).predecessor(), Some(predecessor));
}

/// Keys not held by every one of the `r + 1` live nodes that should hold
/// them (the responsible node and its `r` successors), with who lacks them.
fn missing_copies(net: &Ring, keys: &[VirtualKey], r: usize) -> Vec<String> {
    let ring = scenario::live_ring(net);
    let mut missing = Vec::new();
    for key in keys {
        for holder in key_holders(&ring, Location(key.0), r + 1) {
            if !net.node(holder).store().contains(key) {
                missing.push(format!("{key:?} not on {holder:?}"));
            }
        }
    }
    // The first few say enough.
    missing.truncate(5);
    missing
}

#[test]
fn replication_restores_every_copy_after_failures() {
    let r = 2;
    let mut net = chord_ring(8, 40, upkeep(r), 1000, 0, Latency::default());
    let keys = preload_at_owners(&mut net, 300);
    for i in 0..40 {
        net.wake(PeerId(i));
    }
    // The first round copies each key from its owner to its r successors.
    run_for(&mut net, 5_000);
    assert_eq!(missing_copies(&net, &keys, r), Vec::<String>::new());
    // Twice, r neighbours fail at once: each time every key keeps a copy,
    // but without new copies in between the keys the four nodes owned
    // would all be gone (their three holders dead).
    for round in 0..2 {
        let ring = live_ring(&net);
        net.kill(ring[10].peer);
        net.kill(ring[11].peer);
        run_for(&mut net, 30_000);
        assert_eq!(
            missing_copies(&net, &keys, r),
            Vec::<String>::new(),
            "round {round}"
        );
    }
    for (i, &key) in keys.iter().enumerate().step_by(10) {
        let from = live_ring(&net)[i % 36].peer;
        let got = net
            .run_op_answered(
                from,
                ClientOp::Get {
                    key,
                    htl: None,
                    operation: 0,
                },
            )
            .expect("answered");
        assert!(
            matches!(got.result, ClientResult::Found(())),
            "{key:?}: {:?}",
            got.result
        );
    }
}

#[test]
fn without_replication_rounds_no_copies_are_made_after_the_fact() {
    let config = ChordConfig {
        replicate_ms: 0,
        ..upkeep(2)
    };
    let mut net = chord_ring(8, 40, config, 1000, 0, Latency::default());
    let keys = preload_at_owners(&mut net, 300);
    for i in 0..40 {
        net.wake(PeerId(i));
    }
    run_for(&mut net, 5_000);
    assert_eq!(
        missing_copies(&net, &keys, 2).len(),
        5,
        "only the owners hold them"
    );
}

#[test]
fn inserts_are_replicated_on_the_successors_and_found_from_anywhere() {
    let mut net = chord_ring(6, 40, still(3), 100, 0, Latency::default());
    let key = VirtualKey(0x1234_5678_9abc_def0);
    let put = net.run_op(
        PeerId(5),
        ClientOp::Put {
            key,
            data: (),
            htl: None,
            operation: 0,
        },
    );
    assert!(
        matches!(put.result, ClientResult::Inserted),
        "{:?}",
        put.result
    );
    let holders: Vec<PeerId> = net
        .nodes()
        .filter(|(_, n)| n.holds(&key))
        .map(|(id, _)| id)
        .collect();
    // The owner and its three successors.
    assert_eq!(holders.len(), 4, "{holders:?}");
    let ring = live_ring(&net);
    assert!(holders.contains(&successor_of(&ring, Location(key.0)).peer));
    for from in [0, 11, 23, 39] {
        let got = net.run_op(
            PeerId(from),
            ClientOp::Get {
                key,
                htl: None,
                operation: 0,
            },
        );
        assert!(
            matches!(got.result, ClientResult::Found(())),
            "{:?}",
            got.result
        );
    }
    let missing = net.run_op(
        PeerId(3),
        ClientOp::Get {
            key: VirtualKey(42),
            htl: None,
            operation: 0,
        },
    );
    assert!(matches!(missing.result, ClientResult::Failed(_)));
}

#[test]
fn the_path_cache_makes_the_second_request_shorter() {
    let mut net = chord_ring(7, 200, still(2), 100, 20, Latency::default());
    let key = VirtualKey(0x0f0f_0f0f_0f0f_0f0f);
    net.run_op(
        PeerId(1),
        ClientOp::Put {
            key,
            data: (),
            htl: None,
            operation: 0,
        },
    );
    let from = (0..200)
        .map(PeerId)
        .max_by_key(|&p| {
            let mut probe = net.clone();
            probe
                .run_op(
                    p,
                    ClientOp::Get {
                        key,
                        htl: None,
                        operation: 0,
                    },
                )
                .hops
        })
        .expect("nodes");
    let first = net.run_op(
        from,
        ClientOp::Get {
            key,
            htl: None,
            operation: 0,
        },
    );
    assert!(first.hops >= 3, "a far requester: {} hops", first.hops);
    // Every node on the return path cached it, the requester included.
    let cached = net
        .nodes()
        .filter(|(_, n)| n.cache().is_some_and(|c| c.contains(&key)))
        .count();
    assert_eq!(cached as u32, first.hops, "one copy per hop back");
    let second = net.run_op(
        from,
        ClientOp::Get {
            key,
            htl: None,
            operation: 0,
        },
    );
    assert!(second.hops < first.hops);
    // Without the cache, nothing changes between the two.
    let mut plain = chord_ring(7, 200, still(2), 100, 0, Latency::default());
    plain.run_op(
        PeerId(1),
        ClientOp::Put {
            key,
            data: (),
            htl: None,
            operation: 0,
        },
    );
    let a = plain.run_op(
        from,
        ClientOp::Get {
            key,
            htl: None,
            operation: 0,
        },
    );
    let b = plain.run_op(
        from,
        ClientOp::Get {
            key,
            htl: None,
            operation: 0,
        },
    );
    assert_eq!(a.hops, b.hops);
}

#[test]
fn each_mode_drops_a_peer_that_speaks_the_other() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut freenet: SimCore<VirtualContent> = fogstore::routing::freenet::Core::new(
        Config::default(),
        Location(1),
        fogstore::store::MemoryStore::new(4),
        &mut rng,
    );
    let notify = Msg::Notify {
        node: ChordRef {
            peer: PeerId(3),
            location: Location(9),
        },
    };
    freenet.handle(
        Time(0),
        Input::Message {
            from: PeerId(3),
            msg: notify,
        },
        &mut rng,
    );
    assert!(matches!(
        freenet.poll(),
        Some(Output::DropPeer {
            peer: PeerId(3),
            reason: DropReason::WrongMode,
        })
    ));
    let mut chord: SimChord<VirtualContent> = fogstore::routing::Chord::new(
        still(2),
        Location(1),
        fogstore::store::MemoryStore::new(4),
        None,
    );
    let announce = Msg::Announce {
        id: RequestId(1),
        htl: 5,
        joiner: PeerId(4),
        commitment: [0; 32],
    };
    chord.handle(
        Time(0),
        Input::Message {
            from: PeerId(4),
            msg: announce,
        },
        &mut rng,
    );
    assert!(matches!(
        chord.poll(),
        Some(Output::DropPeer {
            peer: PeerId(4),
            reason: DropReason::WrongMode,
        })
    ));
}

#[test]
fn a_node_asks_only_for_offered_keys_it_lacks_and_sends_only_what_it_offered() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut chord: SimChord<VirtualContent> = fogstore::routing::Chord::new(
        still(2),
        Location(1),
        fogstore::store::MemoryStore::new(4),
        None,
    );
    let (held, lacking) = (VirtualKey(5), VirtualKey(6));
    assert!(chord.preload(held, ()));
    let mut feed = |chord: &mut SimChord<VirtualContent>, msg| {
        let from = PeerId(7);
        chord.handle(Time(0), Input::Message { from, msg }, &mut rng);
        std::iter::from_fn(|| chord.poll()).collect::<Vec<_>>()
    };
    let offer = Msg::StoreOffer {
        id: RequestId(1),
        keys: vec![held, lacking],
    };
    let out = feed(&mut chord, offer);
    assert!(
        matches!(out.as_slice(), [Output::Send { to: PeerId(7), msg: Msg::StoreWant { id: RequestId(1), keys } }] if keys == &[lacking]),
        "{out:?}"
    );
    // A want for a key this node never offered brings nothing back.
    let want = Msg::StoreWant {
        id: RequestId(2),
        keys: vec![held],
    };
    let out = feed(&mut chord, want);
    assert!(out.is_empty(), "{out:?}");
}
