//! The traceback attacker, after Tian and Duan ("A traceback attack on
//! Freenet", IEEE INFOCOM 2013).
//!
//! A node answers a request whose id it has in flight, or among its last
//! `loop_memory` finished ids, with `RejectedLoop`: so anyone can ask a
//! node whether it has seen an id. The coalition takes the id of the
//! earliest message it saw of a request and the node that sent it, asks
//! that node's neighbours (it is taken to know the topology: see
//! [`Topology`]) whether they
//! have seen the id, and steps to the one that has: the sender's upstream.
//! It repeats from there, and names the node where the chain starts, the
//! one with no neighbour left that has seen the id.
//!
//! Two refinements use what the coalition knows: its own members are never
//! asked or named, nor the nodes that answered one of them as a fresh
//! request (a `DataFound`, `DataNotFound`, `RouteNotFound`, `InsertReply`
//! or `InsertAccepted` to a member: they are downstream of it). Where more
//! than one neighbour has seen the id (the path passed two of them, or the
//! node tried another branch first) the probe cannot tell its upstream
//! from a branch below it, and the coalition names nobody rather than
//! guess.
//!
//! The stem defeats it by construction: a stem hop's id is new on every
//! hop and kept in no loop memory, and the stem's end routes under an id
//! of its own. A trace from a stem message stops at its sender; one from
//! the routed phase stops at best at the stem's end.
//!
//! The probe is done on the cores' state right after the request
//! completes (loop memory is bounded, so the attack does it promptly),
//! through [`Observable::has_seen`], without sending messages: a real
//! probe would be a `Request` carrying the id, which a node that has not
//! seen it would route as a new request.

use std::collections::BTreeSet;

use super::observe::{Linked, Observable, Topology, earliest, is_downstream_answer};
use crate::routing::{PeerId, RequestId};
use crate::sim::engine::Network;

/// Follows the nodes that have seen `id` back from `sender`, over the
/// links of `map`, never asking or stepping onto a node for which
/// `excluded` holds. Returns the node at the chain's start; `None` if a
/// step finds more than one node that has seen the id (ambiguous), or the
/// mode cannot be probed.
pub fn trace_back<P: Observable>(
    net: &Network<P>,
    map: &Topology,
    id: RequestId,
    sender: PeerId,
    excluded: impl Fn(PeerId) -> bool,
) -> Option<PeerId> {
    let mut on_chain = BTreeSet::from([sender]);
    let mut at = sender;
    loop {
        let mut upstream = Vec::new();
        for peer in map.neighbours(net, at) {
            if on_chain.contains(&peer) || excluded(peer) || !net.is_alive(peer) {
                continue;
            }
            if net.node(peer).has_seen(id)? {
                upstream.push(peer);
            }
        }
        match upstream[..] {
            [] => return Some(at),
            [one] => {
                on_chain.insert(one);
                at = one;
            }
            _ => return None,
        }
    }
}

/// The traceback attacker's name for one request, from its linked log
/// (`adversary[v]`: whether node `v` is in the coalition): a trace from
/// the sender of its earliest sighting, under that message's id.
pub fn traceback_guess<P: Observable>(
    net: &Network<P>,
    map: &Topology,
    linked: &Linked,
    adversary: &[bool],
) -> Option<PeerId> {
    let (first, _) = earliest(linked)?;
    if adversary[first.from.0 as usize] {
        return None;
    }
    let id = first.msg.id()?;
    let below: BTreeSet<PeerId> = linked
        .iter()
        .filter(|o| adversary[o.at_node.0 as usize] && is_downstream_answer(&o.msg))
        .map(|o| o.from)
        .collect();
    trace_back(net, map, id, first.from, |p| {
        adversary[p.0 as usize] || below.contains(&p)
    })
}
