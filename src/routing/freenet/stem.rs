//! The anonymity phase of Freenet mode: the stem (`docs/protocol.md` §10.1).
//!
//! A client's request or insert does not start steepest ascent at its
//! originator. It first walks a *stem*, in the manner of Dandelion++ (Fanti
//! et al. 2018): the originator sends it to one of its peers, and each node
//! that receives it either passes it on to another peer or ends the stem and
//! routes it from there, as if it were its own. A node on the stem neither
//! caches, stores nor learns references, answers nothing from its store,
//! and gives the message a new id on every hop; the stem's end routes it
//! under a new id too, and puts itself in an insert's source field. So the
//! neighbours of the originator see a message that any node of the stem
//! could have sent, and nothing near the originator keeps what it asked for.
//!
//! Every choice on a stem is fixed for an *epoch* (`stem_epoch_ms`) and
//! derived from a node secret, not drawn per message: the originator's
//! first hop per client operation, and at each node, per upstream peer,
//! the next hop and whether to end the stem. So every block of one
//! download or insert takes the same path, and the originator and the
//! relays on its stem send their neighbours the same counts of a file's
//! blocks (what defeats the per-file counting attack of Levine et al.).

use rand::Rng;

use super::{Answer, Core, Insert, Pending, Upstream, mix, unit};
use crate::routing::{
    ClientId, ClientResult, Content, DropReason, Failure, Msg, Output, PeerId, RequestId, Store,
    Time,
};

/// Salts so that each stem choice is its own function of the secret.
const FIRST_HOP: u64 = 0x7374_656d_5f66_6972;
const NEXT_HOP: u64 = 0x7374_656d_5f6e_7874;
const CONTINUE: u64 = 0x7374_656d_5f63_6f6e;

/// Hops of slack, beyond a routed path's longest, that a node on a stem
/// waits for its answer: the rest of the stem.
const STEM_SLACK_HOPS: u64 = 8;

/// Who a stem hop answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StemFrom {
    /// This node's client: this node is the originator.
    Client(ClientId),
    /// The previous node of the stem, which sent it under `id`.
    Peer { peer: PeerId, id: RequestId },
}

/// A request or insert on its stem at this node: sent on to `downstream`
/// under the id it is filed by.
#[derive(Clone, Debug)]
pub(super) struct StemHop<C: Content> {
    pub(super) upstream: StemFrom,
    pub(super) downstream: PeerId,
    /// Peers already sent it (failed ones, and `downstream`).
    pub(super) tried: Vec<PeerId>,
    pub(super) key: C::Key,
    /// The insert's data; `None` for a request.
    pub(super) data: Option<C::Data>,
    /// The client operation (at the originator), which fixes the first hop.
    pub(super) operation: u64,
    /// When this node stops waiting.
    pub(super) deadline: Time,
}

impl<C: Content, S: Store<C>> Core<C, S> {
    /// The epoch `now` falls in: stem choices are fixed within it.
    fn epoch(&self, now: Time) -> u64 {
        now.as_ms()
            .checked_div(self.config.stem_epoch_ms)
            .unwrap_or(0)
    }

    /// A fixed function of this node's secret and `parts`.
    fn draw(&self, parts: &[u64]) -> u64 {
        parts
            .iter()
            .fold(self.link_secret, |acc, &p| mix(acc ^ mix(p)))
    }

    /// Whether one of this node's own clients has a request or insert for
    /// `key` on its stem. Then this node keeps none of it when the key's
    /// routed path passes here, which would hold it the data its client
    /// asked for (a stem's walk, and a routed path, can come back to the
    /// originator).
    pub(super) fn asked_by_own_client(&self, key: &C::Key) -> bool {
        self.stems
            .values()
            .any(|h| h.key == *key && matches!(h.upstream, StemFrom::Client(_)))
    }

    /// The distinct peers of the routing table a stem may go to, in id
    /// order, without `excluded`.
    fn stem_peers(&self, excluded: &[PeerId]) -> Vec<PeerId> {
        let me = self.config.me;
        let mut peers: Vec<PeerId> = self
            .table
            .iter()
            .map(|(_, p)| p)
            .filter(|p| *p != me && !excluded.contains(p))
            .collect();
        peers.sort_unstable();
        peers.dedup();
        peers
    }

    /// The peer a fixed draw `x` picks from `peers` (not empty).
    fn pick(peers: &[PeerId], x: u64) -> PeerId {
        peers[(x % peers.len() as u64) as usize]
    }

    /// How long a node on a stem waits for the answer: the longest routed
    /// path after the stem's end, and then some for the rest of the stem.
    fn stem_deadline(&self, now: Time) -> Time {
        let hops = u64::from(self.config.max_htl) + self.config.coin_runs() + STEM_SLACK_HOPS;
        now.plus_ms(self.config.hop_timeout_ms_per_htl * hops)
    }

    /// A client's request or insert starts its stem: to the first hop its
    /// operation picks this epoch.
    pub(super) fn start_stem<R: Rng + ?Sized>(
        &mut self,
        now: Time,
        client: ClientId,
        operation: u64,
        key: C::Key,
        data: Option<C::Data>,
        rng: &mut R,
    ) {
        if self.in_flight() >= self.config.max_in_flight {
            self.reply(client, ClientResult::Failed(Failure::Overloaded));
            return;
        }
        let peers = self.stem_peers(&[]);
        if peers.is_empty() {
            // Nobody to send it to: an insert would be stored nowhere.
            self.reply(client, ClientResult::Failed(Failure::NoPeer));
            return;
        }
        let first = Self::pick(&peers, self.draw(&[FIRST_HOP, operation, self.epoch(now)]));
        let id = self.fresh_id(rng);
        let hop = StemHop {
            upstream: StemFrom::Client(client),
            downstream: first,
            tried: vec![first],
            key,
            data,
            operation,
            deadline: now.plus_ms(self.config.client_timeout_ms),
        };
        self.send_stem(id, &hop);
        self.stems.insert(id, hop);
    }

    /// A stem message from `from`: pass it on, or end the stem here.
    pub(super) fn on_stem<R: Rng + ?Sized>(
        &mut self,
        now: Time,
        from: PeerId,
        id: RequestId,
        key: C::Key,
        data: Option<C::Data>,
        rng: &mut R,
    ) {
        if let Some(d) = &data
            && !C::verify(&key, d)
        {
            self.outputs.push_back(Output::DropPeer {
                peer: from,
                reason: DropReason::BadInsertData,
            });
            return;
        }
        if self.in_flight() >= self.config.max_in_flight {
            // Too busy: the sender passes the stem to another peer. (A loop
            // cannot happen on a stem, so this is what `RejectedLoop`
            // means on one.)
            self.send(from, Msg::RejectedLoop { id });
            return;
        }
        let epoch = self.epoch(now);
        // Every choice is fixed for the epoch, so a stem that comes back to
        // a node it passed would go round the same cycle for ever: the node
        // sees the key again and ends the stem. The originator itself,
        // which must not route its own request, passes it on instead, to a
        // peer other than its first hop.
        let mut excluded = vec![from];
        let mut go_on = {
            let coin = self.draw(&[CONTINUE, u64::from(from.0), epoch]);
            unit(coin) <= self.config.stem_continue
        };
        if let Some(own) = self.stems.values().find(|h| h.key == key) {
            go_on = matches!(own.upstream, StemFrom::Client(_));
            excluded.push(own.downstream);
        }
        let peers = self.stem_peers(&excluded);
        if !go_on || peers.is_empty() {
            let routed = self.fresh_id(rng);
            self.end_stem(now, from, id, key, data, routed);
            return;
        }
        let next = Self::pick(&peers, self.draw(&[NEXT_HOP, u64::from(from.0), epoch]));
        let out = self.fresh_id(rng);
        let hop = StemHop {
            upstream: StemFrom::Peer { peer: from, id },
            downstream: next,
            tried: vec![next],
            key,
            data,
            operation: 0,
            deadline: self.stem_deadline(now),
        };
        self.send_stem(out, &hop);
        self.stems.insert(out, hop);
    }

    /// Sends a stem hop's message downstream under `id`.
    fn send_stem(&mut self, id: RequestId, hop: &StemHop<C>) {
        let key = hop.key;
        let msg = match &hop.data {
            Some(data) => Msg::StemInsert {
                id,
                key,
                data: data.clone(),
            },
            None => Msg::StemRequest { id, key },
        };
        self.send(hop.downstream, msg);
    }

    /// This node ends a stem that `from` sent under `id`: it answers from
    /// its store, or routes the request or insert by steepest ascent under
    /// the new id `routed`, at the highest hops to live, as its own.
    fn end_stem(
        &mut self,
        now: Time,
        from: PeerId,
        id: RequestId,
        key: C::Key,
        data: Option<C::Data>,
        routed: RequestId,
    ) {
        let me = self.config.me;
        if let Some(held) = self.store.get(&key) {
            // For an insert, a collision: the existing data goes back.
            let found = Answer::Found {
                source: me,
                data: held,
            };
            self.send(from, found.stem_message(id, me));
            return;
        }
        self.pending.insert(
            routed,
            Pending {
                key,
                insert: data.map(|data| Insert {
                    data: Some(data),
                    received_source: None,
                    source: me,
                }),
                upstream: Upstream::Stem { peer: from, id },
                htl: self.config.max_htl,
                tried: vec![from],
                waiting_on: None,
                offered: false,
                hop_deadline: now,
                client_deadline: None,
            },
        );
        self.route_next(now, routed);
    }

    /// An answer to a stem hop of this node's: passed back up the stem (to
    /// the client, at the originator). Returns whether `msg` was one.
    pub(super) fn on_stem_answer(&mut self, now: Time, from: PeerId, msg: &Msg<C>) -> bool {
        let Some(id) = msg.id() else { return false };
        if !matches!(
            msg,
            Msg::DataFound { .. }
                | Msg::DataNotFound { .. }
                | Msg::RouteNotFound { .. }
                | Msg::InsertReply { .. }
                | Msg::RejectedLoop { .. }
        ) || self.stems.get(&id).is_none_or(|h| h.downstream != from)
        {
            return false;
        }
        let answer = match msg {
            Msg::DataFound { data, .. } => {
                let hop = &self.stems[&id];
                if !C::verify(&hop.key, data) {
                    self.outputs.push_back(Output::DropPeer {
                        peer: from,
                        reason: DropReason::BadReturnedData,
                    });
                    self.table.remove_peer(from);
                    self.stem_retry(now, id);
                    return true;
                }
                Answer::Found {
                    source: self.config.me,
                    data: data.clone(),
                }
            }
            Msg::DataNotFound { .. } => Answer::NotFound,
            Msg::InsertReply { .. } => Answer::Inserted,
            // A loop cannot happen on a stem (every hop picks a new id): a
            // node refuses a stem this way when it is too busy, and the
            // stem goes to another peer.
            Msg::RejectedLoop { .. } => {
                self.stem_retry(now, id);
                return true;
            }
            _ => Answer::RouteNotFound { htl: 0 },
        };
        let hop = self.stems.remove(&id).expect("checked above");
        self.stem_answer(hop, answer);
        true
    }

    /// Sends a stem hop's answer upstream and forgets the hop.
    fn stem_answer(&mut self, hop: StemHop<C>, answer: Answer<C>) {
        match hop.upstream {
            StemFrom::Peer { peer, id } => {
                let msg = answer.stem_message(id, self.config.me);
                self.send(peer, msg);
            }
            StemFrom::Client(client) => {
                self.reply(client, answer.client_result(hop.data.is_some()));
            }
        }
    }

    /// The downstream of stem hop `id` failed (its link went down, or it
    /// returned bad data): send it to another peer, the same way this
    /// epoch's choices would pick among the peers left. A node of the stem
    /// with no other peer ends the stem itself; an originator with none
    /// fails the request.
    fn stem_retry(&mut self, now: Time, id: RequestId) {
        let Some(mut hop) = self.stems.remove(&id) else {
            return;
        };
        let epoch = self.epoch(now);
        match hop.upstream {
            StemFrom::Client(client) => {
                let peers = self.stem_peers(&hop.tried);
                if peers.is_empty() {
                    self.reply(client, ClientResult::Failed(Failure::RouteNotFound));
                    return;
                }
                hop.downstream = Self::pick(&peers, self.draw(&[FIRST_HOP, hop.operation, epoch]));
            }
            StemFrom::Peer { peer, id: up } => {
                let mut excluded = hop.tried.clone();
                excluded.push(peer);
                let peers = self.stem_peers(&excluded);
                if peers.is_empty() {
                    // Nobody else to pass it to: end the stem after all.
                    let routed = self.fresh_stem_id(id);
                    self.end_stem(now, peer, up, hop.key, hop.data, routed);
                    return;
                }
                hop.downstream =
                    Self::pick(&peers, self.draw(&[NEXT_HOP, u64::from(peer.0), epoch]));
            }
        }
        hop.tried.push(hop.downstream);
        // A new id: the failed peer may still answer under the old one.
        let fresh = self.fresh_stem_id(id);
        self.send_stem(fresh, &hop);
        self.stems.insert(fresh, hop);
    }

    /// A new id for a stem hop being resent, without an RNG at hand: a
    /// fixed function of the old one that is not in use.
    fn fresh_stem_id(&self, old: RequestId) -> RequestId {
        let mut x = old.0;
        loop {
            x = self.draw(&[x]);
            let id = RequestId(x);
            if !self.id_in_use(id) {
                return id;
            }
        }
    }

    /// `peer` is gone: stem hops waiting on it go elsewhere, and those it
    /// sent are dropped (nobody is left to answer).
    pub(super) fn stems_peer_down(&mut self, now: Time, peer: PeerId) {
        let waiting: Vec<RequestId> = self
            .stems
            .iter()
            .filter(|(_, h)| h.downstream == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            self.stem_retry(now, id);
        }
        self.stems
            .retain(|_, h| !matches!(h.upstream, StemFrom::Peer { peer: p, .. } if p == peer));
    }

    /// Stem hops whose answer is overdue: a client is told it timed out; a
    /// relay tells its upstream it found no route, and forgets the hop.
    pub(super) fn stems_timeout(&mut self, now: Time) {
        let overdue: Vec<RequestId> = self
            .stems
            .iter()
            .filter(|(_, h)| h.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in overdue {
            let hop = self.stems.remove(&id).expect("listed above");
            match hop.upstream {
                StemFrom::Client(client) => {
                    self.reply(client, ClientResult::Failed(Failure::TimedOut))
                }
                StemFrom::Peer { .. } => self.stem_answer(hop, Answer::RouteNotFound { htl: 0 }),
            }
        }
    }
}
