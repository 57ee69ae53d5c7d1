//! Property tests of the routing cores' request handling, over random
//! small networks at the node's default settings (stem included): every
//! client request is answered, within its deadline, a request never asks
//! the same peer twice (a `Request` or `FindSuccessor` under one id goes
//! from one node to another at most once), and what is found was stored.
//! (The engine keeps the first answer to a client, so a second one would
//! go unseen here.)
//! Kills between operations make requests meet dead peers and time out.

use std::collections::{BTreeMap, BTreeSet};

use fogstore::key::Location;
use fogstore::routing::{ChordConfig, ClientOp, ClientResult, Config, Msg, PeerId, Protocol};
use fogstore::sim::content::{VirtualContent, VirtualKey};
use fogstore::sim::engine::{Latency, Network, Outcome};
use fogstore::sim::scenario::chord_ring_at;
use proptest::prelude::*;

/// One client operation: on which node (an index, taken modulo the
/// network's size), get or put, which of a few keys.
#[derive(Clone, Debug)]
struct Op {
    node: u32,
    put: bool,
    key: u8,
    /// Kill this node (modulo the size) before the operation, unless it is
    /// the node the client asks.
    kill: Option<u32>,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = (
        any::<u32>(),
        any::<bool>(),
        0u8..12,
        prop::option::weighted(0.1, any::<u32>()),
    )
        .prop_map(|(node, put, key, kill)| Op {
            node,
            put,
            key,
            kill,
        });
    prop::collection::vec(op, 1..40)
}

/// A key of the workload: spread over the ring.
fn key(k: u8) -> VirtualKey {
    VirtualKey(u64::from(k).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Runs `ops` one after another on `net` and checks, for each, the
/// properties every core must keep. `timeout_ms` is the client deadline.
fn check<P>(net: &mut Network<P>, ops: &[Op], timeout_ms: u64) -> Result<(), TestCaseError>
where
    P: Protocol<Content = VirtualContent> + Clone + std::fmt::Debug,
{
    let n = net.len() as u32;
    for id in 0..n {
        net.watch(PeerId(id));
    }
    // Keys some node has stored (a put that succeeded): only those can be
    // found.
    let mut stored: BTreeSet<u8> = BTreeSet::new();
    for op in ops {
        let node = PeerId(op.node % n);
        if let Some(victim) = op.kill.map(|k| PeerId(k % n)) {
            if victim != node {
                net.kill(victim);
            }
        }
        if !net.is_alive(node) {
            continue;
        }
        let client_op = if op.put {
            ClientOp::Put {
                key: key(op.key),
                data: (),
                htl: None,
                operation: 0,
            }
        } else {
            ClientOp::Get {
                key: key(op.key),
                htl: None,
                operation: 0,
            }
        };
        let client = net.client(node, client_op);
        // Until the answer, and a little past the deadline at most (Chord's
        // maintenance timers never let a network go idle); then what the
        // request left in flight settles, so that the next one starts on a
        // quiet network.
        let give_up = net.now().plus_ms(timeout_ms + 10_000);
        let mut outcomes: Vec<Outcome<VirtualContent>> = Vec::new();
        while outcomes.is_empty() && net.now() <= give_up && net.run(1_000) > 0 {
            outcomes.extend(net.take_outcomes());
        }
        let settled = net.now().plus_ms(5_000);
        net.run_until(settled);
        outcomes.extend(net.take_outcomes());
        prop_assert_eq!(
            outcomes.len(),
            1,
            "{:?} answered {} times",
            op,
            outcomes.len()
        );
        let outcome = &outcomes[0];
        prop_assert_eq!(outcome.client, client);
        prop_assert!(
            outcome.elapsed.as_ms() <= timeout_ms,
            "{:?} answered after {} ms, past its {} ms deadline",
            op,
            outcome.elapsed.as_ms(),
            timeout_ms
        );
        match &outcome.result {
            ClientResult::Found(()) => {
                prop_assert!(
                    stored.contains(&op.key),
                    "{:?} found a key never stored",
                    op
                )
            }
            ClientResult::Inserted | ClientResult::Collision(_) => {
                stored.insert(op.key);
            }
            _ => {}
        }
        // Each peer is asked at most once per request: no request id goes
        // from one node to another twice.
        let mut asked = BTreeMap::new();
        for seen in net.take_observed() {
            let id = match &seen.msg {
                Msg::Request { id, .. } | Msg::FindSuccessor { id, .. } => *id,
                _ => continue,
            };
            let count = asked.entry((id, seen.from, seen.at_node)).or_insert(0u32);
            *count += 1;
            prop_assert!(
                *count == 1,
                "{:?}: request {:?} sent from {:?} to {:?} twice",
                op,
                id,
                seen.from,
                seen.at_node
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Freenet mode at the defaults, on a random connected graph: a ring
    /// plus random extra references.
    #[test]
    fn freenet_requests_are_answered_in_time_and_ask_each_peer_once(
        seed in any::<u64>(),
        n in 2u32..20,
        extra in prop::collection::vec((any::<u32>(), any::<u32>()), 0..30),
        ops in ops(),
    ) {
        let config = Config::default();
        let mut net = Network::new(seed, Latency::default());
        for i in 0..n {
            let location = Location(u64::from(i).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ seed);
            net.add_node(config, location, 20);
        }
        for i in 0..n {
            let next = PeerId((i + 1) % n);
            if next != PeerId(i) {
                net.link(PeerId(i), next);
                net.link(next, PeerId(i));
            }
        }
        for (a, b) in extra {
            let (a, b) = (PeerId(a % n), PeerId(b % n));
            if a != b {
                net.link(a, b);
            }
        }
        check(&mut net, &ops, config.client_timeout_ms)?;
    }

    /// Chord mode at the defaults, on a stable ring.
    #[test]
    fn chord_requests_are_answered_in_time_and_ask_each_peer_once(
        seed in any::<u64>(),
        n in 2u32..20,
        ops in ops(),
    ) {
        let config = ChordConfig::default();
        let locations: BTreeSet<u64> =
            (0..n).map(|i| u64::from(i).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ seed).collect();
        let mut net = chord_ring_at(
            seed,
            locations.into_iter().map(Location),
            config,
            20,
            0,
            Latency::default(),
        );
        check(&mut net, &ops, config.client_timeout_ms)?;
    }
}
