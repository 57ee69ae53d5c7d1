//! What the coalition sees: its members' logs, linked to the client
//! operations they belong to, and the topology it is taken to know.

use std::collections::{BTreeMap, BTreeSet};

use crate::routing::{Msg, PeerId, Protocol, RequestId};
use crate::sim::content::VirtualContent;
use crate::sim::engine::{Network, Observed, Outcome, SimChord, SimCore};

/// A protocol core as the attackers see it: its peers (the topology,
/// which the coalition is taken to know) and, where the study can ask,
/// whether it has seen a request id (what a traceback probe learns).
pub trait Observable: Protocol<Content = VirtualContent> + Clone + std::fmt::Debug {
    /// The distinct peers of node `me`, ascending.
    fn peers(&self, me: PeerId) -> Vec<PeerId>;

    /// Whether this node would answer a request carrying `id` with
    /// `RejectedLoop`; `None` if the study cannot ask this mode.
    fn has_seen(&self, id: RequestId) -> Option<bool>;
}

impl Observable for SimCore<VirtualContent> {
    /// The distinct peers of its routing table.
    fn peers(&self, me: PeerId) -> Vec<PeerId> {
        let peers: BTreeSet<PeerId> = self
            .table()
            .iter()
            .map(|(_, p)| p)
            .filter(|&p| p != me)
            .collect();
        peers.into_iter().collect()
    }

    fn has_seen(&self, id: RequestId) -> Option<bool> {
        Some(Self::has_seen(self, id))
    }
}

impl Observable for SimChord<VirtualContent> {
    /// The distinct nodes among its predecessor, successors and fingers.
    fn peers(&self, me: PeerId) -> Vec<PeerId> {
        let peers: BTreeSet<PeerId> = self
            .predecessor()
            .iter()
            .chain(self.successors())
            .chain(self.fingers().iter().flatten())
            .map(|r| r.peer)
            .filter(|&p| p != me)
            .collect();
        peers.into_iter().collect()
    }

    /// Chord's core keeps a loop memory too, but offers no probe of it:
    /// the traceback is measured in Freenet mode only.
    fn has_seen(&self, _id: RequestId) -> Option<bool> {
        None
    }
}

/// Every node's peer count, as the statistical attacker takes it (fred
/// tells its peers how many peers it has).
pub fn degrees<P: Observable>(net: &Network<P>) -> Vec<usize> {
    net.nodes().map(|(id, node)| node.peers(id).len()).collect()
}

/// Who is linked to whom, as the coalition maps it. A link exists when
/// either end references the other (a reference is a connection the
/// holder can send on), so a node's neighbours are the peers it
/// references and the nodes that reference it. The first are read live;
/// the second come from a map the coalition redraws from time to time
/// (as a crawler would), so a reference made since is missed.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    /// `referenced_by[v]`: the nodes whose tables held `v`, ascending.
    referenced_by: Vec<Vec<PeerId>>,
}

impl Topology {
    /// The map of `net` as it is now.
    pub fn of<P: Observable>(net: &Network<P>) -> Topology {
        let mut referenced_by = vec![Vec::new(); net.len()];
        for (id, node) in net.nodes() {
            for peer in node.peers(id) {
                if let Some(list) = referenced_by.get_mut(peer.0 as usize) {
                    list.push(id);
                }
            }
        }
        // Pushed in id order: each list is ascending already.
        Topology { referenced_by }
    }

    /// Node `v`'s neighbours: whom it references now, and who referenced
    /// it when the map was drawn; ascending, each once.
    pub fn neighbours<P: Observable>(&self, net: &Network<P>, v: PeerId) -> Vec<PeerId> {
        let mut all = net.node(v).peers(v);
        if let Some(more) = self.referenced_by.get(v.0 as usize) {
            all.extend(more.iter().copied().filter(|&p| p != v));
        }
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// A message that carries a request or insert one hop further, as an
/// adversary that receives it sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sighting {
    /// A request on its stem: no HTL, no source.
    StemRequest,
    /// A routed request at `htl`.
    Request {
        /// Hops to live as sent.
        htl: u8,
    },
    /// An insert on its stem: no HTL, no source.
    StemInsert,
    /// A routed Freenet insert offered at `htl`, naming `source`.
    InsertOffer {
        /// Hops to live as sent.
        htl: u8,
        /// Who claims to insert it.
        source: PeerId,
    },
    /// A Chord insert at `htl` (its source field is always its sender).
    Insert {
        /// Hops to live as sent.
        htl: u8,
    },
}

impl Sighting {
    /// What `msg` shows, if it moves a request or insert forward.
    pub fn of(msg: &Msg<VirtualContent>) -> Option<Sighting> {
        match *msg {
            Msg::StemRequest { .. } => Some(Sighting::StemRequest),
            Msg::Request { htl, .. } => Some(Sighting::Request { htl }),
            Msg::StemInsert { .. } => Some(Sighting::StemInsert),
            Msg::InsertOffer { htl, source, .. } => Some(Sighting::InsertOffer { htl, source }),
            Msg::Insert { htl, .. } => Some(Sighting::Insert { htl }),
            _ => None,
        }
    }
}

/// Whether `msg` is an answer from a node that handled the request as new
/// (not a loop rejection): that node is downstream of whoever it answers.
pub fn is_downstream_answer(msg: &Msg<VirtualContent>) -> bool {
    matches!(
        msg,
        Msg::DataFound { .. }
            | Msg::DataNotFound { .. }
            | Msg::RouteNotFound { .. }
            | Msg::InsertReply { .. }
            | Msg::InsertAccepted { .. }
    )
}

/// The coalition's log of one client operation, in the order it arrived.
pub type Linked<'a> = Vec<&'a Observed<VirtualContent>>;

/// Perfect linking: each outcome's observations, found by the request ids
/// it used (its stem's ids, and the routed id at the stem's end). In
/// reality the coalition links them by key and timing; the study gives it
/// the link for free. Observations of no listed outcome are left out.
pub fn link<'a>(
    observed: &'a [Observed<VirtualContent>],
    outcomes: &[Outcome<VirtualContent>],
) -> Vec<Linked<'a>> {
    let owner: BTreeMap<RequestId, usize> = outcomes
        .iter()
        .enumerate()
        .flat_map(|(i, o)| o.ids.iter().map(move |&id| (id, i)))
        .collect();
    let mut linked = vec![Vec::new(); outcomes.len()];
    for o in observed {
        if let Some(&i) = o.msg.id().and_then(|id| owner.get(&id)) {
            linked[i].push(o);
        }
    }
    linked
}

/// The earliest observation of `linked` that moves its operation forward
/// (what the coalition saw first), with what it shows.
pub fn earliest<'a>(
    linked: &[&'a Observed<VirtualContent>],
) -> Option<(&'a Observed<VirtualContent>, Sighting)> {
    // Observations come in delivery order; ties in time keep it.
    linked
        .iter()
        .find_map(|o| Sighting::of(&o.msg).map(|s| (*o, s)))
}

/// Whether any observation of `linked` came straight from `node`,
/// moving the operation forward.
pub fn sent_by(linked: &[&Observed<VirtualContent>], node: PeerId) -> bool {
    linked
        .iter()
        .any(|o| o.from == node && Sighting::of(&o.msg).is_some())
}
