//! Chord mode: a structured ring run through the same sans-IO shape as
//! Freenet mode, so the two can be compared on one workload.
//!
//! A node's id is its location; a key lives at its successor (the first
//! node at or after the key's location, clockwise) and is replicated on the
//! next `r` successors. Each node keeps a predecessor, a successor list of
//! `r` nodes and 64 fingers (finger `i` is the successor of `id + 2^i`),
//! and repairs them with periodic stabilize, fix-fingers and
//! check-predecessor timers, as in Stoica et al. (SIGCOMM 2001).
//!
//! Lookups are recursive: a request is forwarded hop by hop to the closest
//! preceding node it knows, and the answer returns along the same path, as
//! in Freenet mode; so both modes pay for the return path and a node on it
//! may cache the data (the optional path cache). Key operations use the
//! same `Request`/`Insert` messages as Freenet mode; ring upkeep uses the
//! Chord messages.
//!
//! Like the Freenet core it never reads a clock or a global RNG, and its
//! maps iterate in order, so a run is a function of its inputs.

use std::collections::{BTreeMap, VecDeque};

use rand::Rng;

use super::{
    ChordRef, ClientId, ClientOp, ClientResult, Content, DropReason, Failure, Input, Msg, Output,
    PeerId, Protocol, RequestId, Store, Time,
};
use crate::key::Location;
use crate::wire::MAX_OFFER_KEYS;

/// Fingers a node keeps: one per bit of a location.
pub const FINGERS: usize = 64;

/// Settings of a Chord-mode core.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChordConfig {
    /// This node's own id.
    pub me: PeerId,
    /// Successors kept, and replicas made beyond the responsible node (`r`).
    pub successors: usize,
    /// Most hops a request or lookup may take.
    pub max_htl: u8,
    /// Whether the periodic stabilize, fix-fingers and check-predecessor
    /// timers run. A simulated ring built in its stable state may leave
    /// them off, so that the network goes idle between lookups.
    pub maintenance: bool,
    /// Period of stabilisation (ask the successor for its predecessor and
    /// successor list, then notify it).
    pub stabilize_ms: u64,
    /// Period of fixing one finger.
    pub fix_fingers_ms: u64,
    /// Period of checking that the predecessor is alive.
    pub check_predecessor_ms: u64,
    /// Longest time between two replication rounds, in which a node offers
    /// the keys it is responsible for to its `r` successors. A round also
    /// runs at the next timer after the predecessor or a successor changes.
    /// 0: no rounds (copies are made on insert, handover and leave only).
    pub replicate_ms: u64,
    /// How long to wait for a peer before taking it for dead.
    pub hop_timeout_ms: u64,
    /// How long a client request may take in all.
    pub client_timeout_ms: u64,
    /// Most requests and lookups in flight; more are refused.
    pub max_in_flight: usize,
    /// How many finished request ids are remembered for loop detection.
    pub loop_memory: usize,
}

impl Default for ChordConfig {
    fn default() -> Self {
        ChordConfig {
            me: PeerId(u32::MAX),
            successors: 8,
            max_htl: 64,
            maintenance: true,
            stabilize_ms: 2_000,
            fix_fingers_ms: 1_000,
            check_predecessor_ms: 2_000,
            replicate_ms: 60_000,
            hop_timeout_ms: 2_000,
            // Longer than a first hop's deadline (2 s × 64 hops left), so a
            // client's request can still be routed around a silent peer.
            client_timeout_ms: 180_000,
            max_in_flight: 256,
            loop_memory: 64,
        }
    }
}

/// Whether `x` lies in the clockwise interval `(a, b]`; `(a, a]` is the
/// whole ring.
pub fn in_half_open(x: Location, a: Location, b: Location) -> bool {
    a == b || (x != a && a.clockwise_to(x) <= a.clockwise_to(b))
}

/// Whether `x` lies in the clockwise interval `(a, b)`; `(a, a)` is the
/// whole ring but `a`.
pub fn in_open(x: Location, a: Location, b: Location) -> bool {
    x != a && (a == b || a.clockwise_to(x) < a.clockwise_to(b))
}

/// `location + 2^i` on the ring.
fn finger_target(location: Location, i: usize) -> Location {
    Location(location.0.wrapping_add(1u64 << i))
}

/// The ring as stabilisation leaves it, for the node at `index` of `ring`
/// (sorted by location, distinct locations): its predecessor, its first
/// `r` successors and its fingers. Simulations build large rings with it
/// directly, as the Chord paper's simulator does; tests use it as the
/// truth a stabilised ring must reach.
pub fn ideal_neighbours(
    ring: &[ChordRef],
    index: usize,
    r: usize,
) -> (Option<ChordRef>, Vec<ChordRef>, Vec<Option<ChordRef>>) {
    let n = ring.len();
    let me = ring[index];
    if n < 2 {
        return (None, Vec::new(), vec![None; FINGERS]);
    }
    let predecessor = Some(ring[(index + n - 1) % n]);
    let successors = (1..=r.min(n - 1)).map(|k| ring[(index + k) % n]).collect();
    let successor_of = |x: Location| {
        let at = ring.partition_point(|p| p.location < x);
        ring[at % n]
    };
    let fingers = (0..FINGERS)
        .map(|i| {
            let node = successor_of(finger_target(me.location, i));
            (node.peer != me.peer).then_some(node)
        })
        .collect();
    (predecessor, successors, fingers)
}

/// Who a request's answer goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upstream {
    Peer(PeerId),
    Client(ClientId),
}

/// A `Request` or `Insert` in flight at this node.
#[derive(Clone, Debug)]
struct KeyOp<C: Content> {
    key: C::Key,
    /// The insert's data; `None` for a request.
    data: Option<C::Data>,
    upstream: Upstream,
    /// Hops to live to give the next peer.
    htl: u8,
    tried: Vec<PeerId>,
    waiting_on: Option<PeerId>,
    hop_deadline: Time,
    client_deadline: Option<Time>,
}

/// What a finished lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// Forwarded for a peer: answer it.
    Peer(PeerId),
    /// A client's `Lookup`.
    Client(ClientId),
    /// This node's join: the answer is its successor.
    Join(ClientId),
    /// Fixing finger `i`.
    Finger(usize),
}

/// A `FindSuccessor` in flight at this node.
#[derive(Clone, Debug)]
struct Lookup {
    target: Location,
    purpose: Purpose,
    /// The hop count to send on.
    hops: u8,
    tried: Vec<PeerId>,
    waiting_on: Option<PeerId>,
    deadline: Time,
}

/// A question to a neighbour, for ring upkeep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Query {
    /// Stabilize: the successor's predecessor.
    Stabilize,
    /// Stabilize: the successor's successor list.
    SuccessorList,
    /// Check-predecessor: any answer shows it is alive.
    Probe,
}

/// How a key operation ends at this node.
enum Answer<C: Content> {
    Found(C::Data),
    NotFound,
    RouteNotFound,
    Inserted,
}

/// A Chord-mode node: its place in the ring, its store (keys it is
/// responsible for or replicates), an optional return-path cache, and the
/// requests and lookups in flight.
#[derive(Clone, Debug)]
pub struct Chord<C: Content, S: Store<C>> {
    config: ChordConfig,
    me: ChordRef,
    predecessor: Option<ChordRef>,
    successors: Vec<ChordRef>,
    fingers: Vec<Option<ChordRef>>,
    next_finger: usize,
    store: S,
    cache: Option<S>,
    ops: BTreeMap<RequestId, KeyOp<C>>,
    lookups: BTreeMap<RequestId, Lookup>,
    queries: BTreeMap<RequestId, (PeerId, Query, Time)>,
    recent: VecDeque<RequestId>,
    /// Next stabilize, fix-fingers and check-predecessor times, once
    /// maintenance has started.
    timers: Option<[Time; 3]>,
    /// Next replication round, once maintenance has started, unless rounds
    /// are off.
    next_round: Option<Time>,
    /// The predecessor and successors the last replication round offered
    /// keys to.
    offered: Option<(Option<PeerId>, Vec<PeerId>)>,
    /// That round's offers not yet answered, and whom each went to: a
    /// `StoreWant` is answered once, and only for an offer, so that no peer
    /// can make this node send blocks it did not offer.
    offers: BTreeMap<RequestId, PeerId>,
    left: bool,
    outputs: VecDeque<Output<C>>,
}

impl<C: Content, S: Store<C>> Chord<C, S> {
    /// A node alone on its ring at `location`, storing in `store` and, if
    /// given, caching returning data in `cache`.
    pub fn new(config: ChordConfig, location: Location, store: S, cache: Option<S>) -> Self {
        Chord {
            config,
            me: ChordRef {
                peer: config.me,
                location,
            },
            predecessor: None,
            successors: Vec::new(),
            fingers: vec![None; FINGERS],
            next_finger: 0,
            store,
            cache,
            ops: BTreeMap::new(),
            lookups: BTreeMap::new(),
            queries: BTreeMap::new(),
            recent: VecDeque::new(),
            timers: None,
            next_round: None,
            offered: None,
            offers: BTreeMap::new(),
            left: false,
            outputs: VecDeque::new(),
        }
    }

    // ---- getters ----

    /// The settings.
    pub fn config(&self) -> &ChordConfig {
        &self.config
    }

    /// This node as its peers know it.
    pub fn me(&self) -> ChordRef {
        self.me
    }

    /// The predecessor, if known.
    pub fn predecessor(&self) -> Option<ChordRef> {
        self.predecessor
    }

    /// The successor list, nearest first (empty when alone).
    pub fn successors(&self) -> &[ChordRef] {
        &self.successors
    }

    /// The fingers; finger `i` should be the successor of `id + 2^i`.
    pub fn fingers(&self) -> &[Option<ChordRef>] {
        &self.fingers
    }

    /// The store: keys this node is responsible for or replicates.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, for the driver to make what the core asked durable
    /// ([`Store::commit`]).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The return-path cache, if enabled.
    pub fn cache(&self) -> Option<&S> {
        self.cache.as_ref()
    }

    /// Whether this node is responsible for `location`, as far as it knows:
    /// no node it knows lies between `location` and itself.
    pub fn is_responsible(&self, location: Location) -> bool {
        if let Some(p) = self.predecessor {
            return in_half_open(location, p.location, self.me.location);
        }
        if location == self.me.location {
            return true;
        }
        !self
            .known()
            .any(|r| r.location == location || in_open(r.location, location, self.me.location))
    }

    // ---- mutators ----

    /// Sets the ring state directly (a simulation building a stable ring).
    pub fn set_ring(
        &mut self,
        predecessor: Option<ChordRef>,
        successors: Vec<ChordRef>,
        fingers: Vec<Option<ChordRef>>,
    ) {
        self.predecessor = predecessor;
        self.successors = successors;
        self.successors.truncate(self.config.successors.max(1));
        self.fingers = fingers;
        self.fingers.resize(FINGERS, None);
    }

    /// Stores verified data directly.
    pub fn preload(&mut self, key: C::Key, data: C::Data) -> bool {
        let ok = C::verify(&key, &data);
        if ok {
            self.store.put(key, data);
        }
        ok
    }

    /// Feeds one event. Drain [`Chord::poll`] afterwards.
    pub fn handle<R: Rng + ?Sized>(&mut self, now: Time, input: Input<C>, rng: &mut R) {
        if self.left {
            return;
        }
        if self.config.maintenance && self.timers.is_none() {
            // Random phases, so that nodes started together do not tick
            // together.
            let mut phase = |period: u64| now.plus_ms(rng.gen_range(0..period.max(1)));
            self.timers = Some([
                phase(self.config.stabilize_ms),
                phase(self.config.fix_fingers_ms),
                phase(self.config.check_predecessor_ms),
            ]);
            self.next_round =
                (self.config.replicate_ms > 0).then(|| phase(self.config.replicate_ms));
        }
        match input {
            Input::Message { from, msg } => self.on_message(now, from, msg, rng),
            Input::Client { client, op } => self.on_client(now, client, op, rng),
            Input::PeerDown(peer) => self.forget(now, peer),
            Input::Timeout => self.on_timeout(now, rng),
        }
    }

    /// The next thing the driver must do, in order.
    #[must_use]
    pub fn poll(&mut self) -> Option<Output<C>> {
        self.outputs.pop_front()
    }

    /// When the core next needs [`Input::Timeout`], if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.left {
            return None;
        }
        let ops = self.ops.values().map(|o| {
            o.client_deadline
                .map_or(o.hop_deadline, |c| c.min(o.hop_deadline))
        });
        let lookups = self.lookups.values().map(|l| l.deadline);
        let queries = self.queries.values().map(|q| q.2);
        let timers = self
            .timers
            .iter()
            .flatten()
            .chain(&self.next_round)
            .copied();
        ops.chain(lookups).chain(queries).chain(timers).min()
    }

    // ---- internals: bookkeeping ----

    fn send(&mut self, to: PeerId, msg: Msg<C>) {
        self.outputs.push_back(Output::Send { to, msg });
    }

    fn reply(&mut self, client: ClientId, result: ClientResult<C>) {
        self.outputs.push_back(Output::Reply { client, result });
    }

    fn drop_peer(&mut self, peer: PeerId, reason: DropReason) {
        self.outputs.push_back(Output::DropPeer { peer, reason });
    }

    fn remember(&mut self, id: RequestId) {
        if self.config.loop_memory == 0 {
            return;
        }
        if self.recent.len() >= self.config.loop_memory {
            self.recent.pop_front();
        }
        self.recent.push_back(id);
    }

    fn seen(&self, id: RequestId) -> bool {
        self.ops.contains_key(&id) || self.lookups.contains_key(&id) || self.recent.contains(&id)
    }

    fn fresh_id<R: Rng + ?Sized>(&self, rng: &mut R) -> RequestId {
        loop {
            let id = RequestId(rng.r#gen());
            if !self.seen(id) && !self.queries.contains_key(&id) {
                return id;
            }
        }
    }

    /// Requests and lookups in flight.
    pub fn in_flight(&self) -> usize {
        self.ops.len() + self.lookups.len()
    }

    /// Every node this node references.
    fn known(&self) -> impl Iterator<Item = ChordRef> + '_ {
        self.predecessor
            .iter()
            .chain(&self.successors)
            .chain(self.fingers.iter().flatten())
            .copied()
    }

    fn holds(&self, key: &C::Key) -> bool {
        self.store.contains(key) || self.cache.as_ref().is_some_and(|c| c.contains(key))
    }

    fn get(&mut self, key: &C::Key) -> Option<C::Data> {
        if let Some(data) = self.store.get(key) {
            return Some(data);
        }
        self.cache.as_mut().and_then(|c| c.get(key))
    }

    /// The next hop towards `target`'s successor, skipping `tried`: the
    /// first live successor if it is the target's successor, else the
    /// known node closest before the target.
    fn next_hop(&self, target: Location, tried: &[PeerId]) -> Option<PeerId> {
        let me = self.me.location;
        let successor = self.successors.iter().find(|s| !tried.contains(&s.peer));
        if let Some(s) = successor
            && in_half_open(target, me, s.location)
        {
            return Some(s.peer);
        }
        // The closest preceding finger, as the paper routes; the successor
        // list only when no finger is left (it is there for robustness:
        // using it on every hop would shorten paths below the paper's).
        let closest = |refs: &mut dyn Iterator<Item = &ChordRef>| {
            refs.filter(|r| !tried.contains(&r.peer) && in_open(r.location, me, target))
                .max_by_key(|r| me.clockwise_to(r.location))
                .copied()
        };
        let preceding = closest(&mut self.fingers.iter().flatten())
            .or_else(|| closest(&mut self.successors.iter()));
        preceding.or(successor.copied()).map(|r| r.peer)
    }

    /// Forgets a peer that is gone or too slow, and moves on what waited
    /// for it.
    fn forget(&mut self, now: Time, peer: PeerId) {
        self.successors.retain(|s| s.peer != peer);
        for f in &mut self.fingers {
            if f.is_some_and(|f| f.peer == peer) {
                *f = None;
            }
        }
        if self.predecessor.is_some_and(|p| p.peer == peer) {
            self.predecessor = None;
        }
        if self.successors.is_empty() {
            // Fall back on the nearest node known clockwise.
            let me = self.me.location;
            if let Some(nearest) = self.known().min_by_key(|r| me.clockwise_to(r.location)) {
                self.successors.push(nearest);
            }
        }
        self.queries.retain(|_, q| q.0 != peer);
        let ops: Vec<RequestId> = self
            .ops
            .iter()
            .filter(|(_, o)| o.waiting_on == Some(peer))
            .map(|(id, _)| *id)
            .collect();
        for id in ops {
            self.route_op(now, id);
        }
        let lookups: Vec<RequestId> = self
            .lookups
            .iter()
            .filter(|(_, l)| l.waiting_on == Some(peer))
            .map(|(id, _)| *id)
            .collect();
        for id in lookups {
            self.route_lookup(now, id);
        }
    }

    // ---- internals: messages ----

    fn on_message<R: Rng + ?Sized>(&mut self, now: Time, from: PeerId, msg: Msg<C>, rng: &mut R) {
        match msg {
            Msg::Request { id, key, htl } => self.on_key_op(now, from, id, key, None, htl, rng),
            Msg::Insert {
                id, key, htl, data, ..
            } => {
                if !C::verify(&key, &data) {
                    self.drop_peer(from, DropReason::BadInsertData);
                    return;
                }
                self.on_key_op(now, from, id, key, Some(data), htl, rng)
            }
            Msg::DataFound { id, data, .. } => self.on_data_found(now, from, id, data),
            Msg::DataNotFound { id } => {
                if let Some(op) = self.take_op(id, from) {
                    self.answer(id, op, Answer::NotFound);
                }
            }
            Msg::InsertReply { id } => {
                if let Some(op) = self.take_op(id, from) {
                    self.answer(id, op, Answer::Inserted);
                }
            }
            Msg::RouteNotFound { id, .. } | Msg::RejectedLoop { id } => {
                // Chord fails over only from dead peers. A live peer that
                // cannot route (or finds the request looping, which happens
                // when a stale predecessor sends it round the ring) ends
                // it: trying every other finger instead would turn one
                // request into a search of the whole ring.
                if let Some(op) = self.take_op(id, from) {
                    self.answer(id, op, Answer::RouteNotFound);
                } else if self
                    .lookups
                    .get(&id)
                    .is_some_and(|l| l.waiting_on == Some(from))
                {
                    let lookup = self.lookups.remove(&id).expect("checked above");
                    self.fail_lookup(id, lookup);
                }
            }
            Msg::FindSuccessor { id, target, hops } => {
                self.on_find_successor(now, from, id, target, hops)
            }
            Msg::SuccessorFound { id, node, hops } => {
                if self
                    .lookups
                    .get(&id)
                    .is_some_and(|l| l.waiting_on == Some(from))
                {
                    let lookup = self.lookups.remove(&id).expect("checked above");
                    self.remember(id);
                    self.resolve(id, lookup, node, hops);
                }
            }
            Msg::Notify { node } => self.on_notify(from, node, rng),
            Msg::GetPredecessor { id } => {
                let node = self.predecessor;
                self.send(from, Msg::Predecessor { id, node });
            }
            Msg::GetSuccessorList { id } => {
                let nodes = self.successors.clone();
                self.send(from, Msg::SuccessorList { id, nodes });
            }
            Msg::Predecessor { id, node } => {
                if let Some((Query::Stabilize, _)) = self.take_query(id, from) {
                    self.on_successor_predecessor(from, node);
                }
            }
            Msg::SuccessorList { id, nodes } => {
                if let Some((Query::SuccessorList, _)) = self.take_query(id, from) {
                    self.on_successor_list(from, nodes);
                }
            }
            Msg::StoreTransfer { id, key, data } => {
                if !C::verify(&key, &data) {
                    self.drop_peer(from, DropReason::BadTransferredData);
                    return;
                }
                self.store.put(key, data);
                self.store.commit();
                self.send(from, Msg::TransferAck { id });
            }
            Msg::TransferAck { .. } => {}
            Msg::StoreOffer { id, keys } => {
                // Any peer may offer: what comes back is verified data, as
                // an insert would bring.
                let keys: Vec<C::Key> = keys
                    .into_iter()
                    .filter(|k| !self.store.contains(k))
                    .collect();
                if !keys.is_empty() {
                    self.send(from, Msg::StoreWant { id, keys });
                }
            }
            Msg::StoreWant { id, keys } => {
                if self.offers.get(&id) != Some(&from) {
                    return;
                }
                self.offers.remove(&id);
                for key in keys.into_iter().take(MAX_OFFER_KEYS) {
                    if let Some(data) = self.store.get(&key) {
                        let id = self.fresh_id(rng);
                        self.send(from, Msg::StoreTransfer { id, key, data });
                    }
                }
            }
            Msg::Leave {
                predecessor,
                successors,
            } => self.on_leave(now, from, predecessor, successors),
            Msg::Announce { .. }
            | Msg::AnnounceReply { .. }
            | Msg::AnnounceComplete { .. }
            | Msg::StemRequest { .. }
            | Msg::StemInsert { .. }
            | Msg::InsertOffer { .. }
            | Msg::InsertAccepted { .. }
            | Msg::InsertData { .. } => self.drop_peer(from, DropReason::WrongMode),
        }
    }

    /// Removes and returns the query `id` if it was put to `from`.
    fn take_query(&mut self, id: RequestId, from: PeerId) -> Option<(Query, Time)> {
        if self.queries.get(&id).is_some_and(|q| q.0 == from) {
            self.queries.remove(&id).map(|(_, q, t)| (q, t))
        } else {
            None
        }
    }

    // ---- key operations ----

    #[allow(clippy::too_many_arguments)]
    fn on_key_op<R: Rng + ?Sized>(
        &mut self,
        now: Time,
        from: PeerId,
        id: RequestId,
        key: C::Key,
        data: Option<C::Data>,
        htl: u8,
        rng: &mut R,
    ) {
        if self.seen(id) {
            self.send(from, Msg::RejectedLoop { id });
            return;
        }
        if self.in_flight() >= self.config.max_in_flight {
            self.send(from, Msg::RouteNotFound { id, htl });
            return;
        }
        let op = KeyOp {
            key,
            data,
            upstream: Upstream::Peer(from),
            htl: htl.min(self.config.max_htl).saturating_sub(1),
            tried: vec![from],
            waiting_on: None,
            hop_deadline: now,
            client_deadline: None,
        };
        self.start_op(now, id, op, rng);
    }

    fn on_client<R: Rng + ?Sized>(
        &mut self,
        now: Time,
        client: ClientId,
        op: ClientOp<C>,
        rng: &mut R,
    ) {
        let (key, data, htl) = match op {
            ClientOp::Get { key, htl, .. } => (key, None, htl),
            ClientOp::Put { key, data, htl, .. } => {
                if !C::verify(&key, &data) {
                    self.reply(client, ClientResult::Failed(Failure::Rejected));
                    return;
                }
                (key, Some(data), htl)
            }
            ClientOp::Lookup { target } => {
                self.start_lookup(now, target, Purpose::Client(client), None, rng);
                return;
            }
            ClientOp::Join { via, .. } => {
                let target = self.me.location;
                self.start_lookup(now, target, Purpose::Join(client), Some(via), rng);
                return;
            }
            ClientOp::Leave => {
                self.leave(rng);
                self.reply(client, ClientResult::Left);
                return;
            }
        };
        if self.in_flight() >= self.config.max_in_flight {
            self.reply(client, ClientResult::Failed(Failure::Overloaded));
            return;
        }
        let max = self.config.max_htl;
        let op = KeyOp {
            key,
            data,
            upstream: Upstream::Client(client),
            htl: htl.unwrap_or(max).clamp(1, max),
            tried: Vec::new(),
            waiting_on: None,
            hop_deadline: now,
            client_deadline: Some(now.plus_ms(self.config.client_timeout_ms)),
        };
        let id = self.fresh_id(rng);
        self.start_op(now, id, op, rng);
    }

    /// A key operation arrives here (from a peer or a client): answer it
    /// from the store, as the responsible node, or route it on.
    fn start_op<R: Rng + ?Sized>(&mut self, now: Time, id: RequestId, op: KeyOp<C>, rng: &mut R) {
        if let Some(existing) = self.get(&op.key) {
            // For an insert: a collision, the existing data goes back.
            self.answer(id, op, Answer::Found(existing));
            return;
        }
        if self.is_responsible(C::location(&op.key)) {
            let answer = match &op.data {
                Some(data) => {
                    self.store.put(op.key, data.clone());
                    self.store.commit();
                    self.replicate(op.key, data.clone(), rng);
                    Answer::Inserted
                }
                None => Answer::NotFound,
            };
            self.answer(id, op, answer);
            return;
        }
        if op.htl == 0 {
            let answer = if op.data.is_some() {
                Answer::RouteNotFound
            } else {
                Answer::NotFound
            };
            self.answer(id, op, answer);
            return;
        }
        self.ops.insert(id, op);
        self.route_op(now, id);
    }

    /// Copies data just stored as the responsible node to the successors.
    fn replicate<R: Rng + ?Sized>(&mut self, key: C::Key, data: C::Data, rng: &mut R) {
        let replicas: Vec<PeerId> = self
            .successors
            .iter()
            .take(self.config.successors)
            .map(|s| s.peer)
            .collect();
        for peer in replicas {
            let id = self.fresh_id(rng);
            let data = data.clone();
            self.send(peer, Msg::StoreTransfer { id, key, data });
        }
    }

    /// Sends a key operation to its next hop, or ends it.
    fn route_op(&mut self, now: Time, id: RequestId) {
        let Some(op) = self.ops.get(&id) else { return };
        let target = C::location(&op.key);
        match self.next_hop(target, &op.tried) {
            Some(peer) => {
                let deadline = self.path_deadline(now, op.htl);
                let op = self.ops.get_mut(&id).expect("checked above");
                op.tried.push(peer);
                op.waiting_on = Some(peer);
                op.hop_deadline = deadline;
                let (key, htl) = (op.key, op.htl);
                let msg = match &op.data {
                    Some(data) => Msg::Insert {
                        id,
                        key,
                        htl,
                        source: self.me.peer,
                        data: data.clone(),
                    },
                    None => Msg::Request { id, key, htl },
                };
                self.send(peer, msg);
            }
            None => {
                let op = self.ops.remove(&id).expect("checked above");
                self.answer(id, op, Answer::RouteNotFound);
            }
        }
    }

    fn take_op(&mut self, id: RequestId, from: PeerId) -> Option<KeyOp<C>> {
        if self.ops.get(&id)?.waiting_on == Some(from) {
            self.ops.remove(&id)
        } else {
            None
        }
    }

    fn on_data_found(&mut self, now: Time, from: PeerId, id: RequestId, data: C::Data) {
        let Some(op) = self.ops.get(&id).filter(|o| o.waiting_on == Some(from)) else {
            return;
        };
        if !C::verify(&op.key, &data) {
            self.drop_peer(from, DropReason::BadReturnedData);
            self.forget(now, from);
            return;
        }
        let op = self.ops.remove(&id).expect("checked above");
        if op.data.is_none()
            && let Some(cache) = &mut self.cache
        {
            cache.put(op.key, data.clone());
        }
        self.answer(id, op, Answer::Found(data));
    }

    /// Sends a key operation's answer upstream and forgets it.
    fn answer(&mut self, id: RequestId, op: KeyOp<C>, answer: Answer<C>) {
        self.remember(id);
        match op.upstream {
            Upstream::Peer(to) => {
                let msg = match answer {
                    Answer::Found(data) => Msg::DataFound {
                        id,
                        source: self.me.peer,
                        data,
                    },
                    Answer::NotFound => Msg::DataNotFound { id },
                    Answer::RouteNotFound => Msg::RouteNotFound { id, htl: op.htl },
                    Answer::Inserted => Msg::InsertReply { id },
                };
                self.send(to, msg);
            }
            Upstream::Client(client) => {
                let result = match answer {
                    Answer::Found(data) if op.data.is_some() => ClientResult::Collision(data),
                    Answer::Found(data) => ClientResult::Found(data),
                    Answer::NotFound => ClientResult::Failed(Failure::DataNotFound),
                    Answer::RouteNotFound => ClientResult::Failed(Failure::RouteNotFound),
                    Answer::Inserted => ClientResult::Inserted,
                };
                self.reply(client, result);
            }
        }
    }

    // ---- lookups ----

    /// Starts a lookup of `target`'s successor from this node, through
    /// `via` if given (a joining node knows no one else).
    fn start_lookup<R: Rng + ?Sized>(
        &mut self,
        now: Time,
        target: Location,
        purpose: Purpose,
        via: Option<PeerId>,
        rng: &mut R,
    ) {
        if via.is_none() {
            if let Some(node) = self.local_successor(target) {
                let id = self.fresh_id(rng);
                self.resolve(id, self.blank_lookup(target, purpose), node, 0);
                return;
            }
        }
        if self.in_flight() >= self.config.max_in_flight {
            if let Purpose::Client(c) | Purpose::Join(c) = purpose {
                self.reply(c, ClientResult::Failed(Failure::Overloaded));
            }
            return;
        }
        let id = self.fresh_id(rng);
        let mut lookup = self.blank_lookup(target, purpose);
        lookup.hops = 1;
        match via {
            Some(via) => {
                lookup.tried.push(via);
                lookup.waiting_on = Some(via);
                lookup.deadline = self.path_deadline(now, self.config.max_htl);
                self.lookups.insert(id, lookup);
                self.send(
                    via,
                    Msg::FindSuccessor {
                        id,
                        target,
                        hops: 1,
                    },
                );
            }
            None => {
                self.lookups.insert(id, lookup);
                self.route_lookup(now, id);
            }
        }
    }

    fn blank_lookup(&self, target: Location, purpose: Purpose) -> Lookup {
        Lookup {
            target,
            purpose,
            hops: 0,
            tried: Vec::new(),
            waiting_on: None,
            deadline: Time(0),
        }
    }

    /// `target`'s successor, if this node can tell without asking: itself
    /// when alone or at the target, its successor when the target lies
    /// between them.
    fn local_successor(&self, target: Location) -> Option<ChordRef> {
        match self.successors.first() {
            None => Some(self.me),
            Some(_) if target == self.me.location => Some(self.me),
            Some(s) if in_half_open(target, self.me.location, s.location) => Some(*s),
            Some(_) => None,
        }
    }

    fn on_find_successor(
        &mut self,
        now: Time,
        from: PeerId,
        id: RequestId,
        target: Location,
        hops: u8,
    ) {
        if self.seen(id) {
            self.send(from, Msg::RejectedLoop { id });
            return;
        }
        if let Some(node) = self.local_successor(target) {
            self.remember(id);
            self.send(from, Msg::SuccessorFound { id, node, hops });
            return;
        }
        if hops >= self.config.max_htl || self.in_flight() >= self.config.max_in_flight {
            self.send(from, Msg::RouteNotFound { id, htl: 0 });
            return;
        }
        let mut lookup = self.blank_lookup(target, Purpose::Peer(from));
        lookup.hops = hops + 1;
        lookup.tried.push(from);
        self.lookups.insert(id, lookup);
        self.route_lookup(now, id);
    }

    /// Sends a lookup to its next hop, or fails it.
    fn route_lookup(&mut self, now: Time, id: RequestId) {
        let Some(lookup) = self.lookups.get(&id) else {
            return;
        };
        match self.next_hop(lookup.target, &lookup.tried) {
            Some(peer) => {
                let left = self.config.max_htl.saturating_sub(lookup.hops);
                let deadline = self.path_deadline(now, left);
                let lookup = self.lookups.get_mut(&id).expect("checked above");
                lookup.tried.push(peer);
                lookup.waiting_on = Some(peer);
                lookup.deadline = deadline;
                let (target, hops) = (lookup.target, lookup.hops);
                self.send(peer, Msg::FindSuccessor { id, target, hops });
            }
            None => {
                let lookup = self.lookups.remove(&id).expect("checked above");
                self.fail_lookup(id, lookup);
            }
        }
    }

    /// Ends a lookup that cannot go on.
    fn fail_lookup(&mut self, id: RequestId, lookup: Lookup) {
        self.remember(id);
        match lookup.purpose {
            Purpose::Peer(p) => self.send(p, Msg::RouteNotFound { id, htl: 0 }),
            Purpose::Client(c) | Purpose::Join(c) => {
                self.reply(c, ClientResult::Failed(Failure::RouteNotFound))
            }
            Purpose::Finger(_) => {}
        }
    }

    /// A lookup found `node`, the successor of its target.
    fn resolve(&mut self, id: RequestId, lookup: Lookup, node: ChordRef, hops: u8) {
        match lookup.purpose {
            Purpose::Peer(p) => self.send(p, Msg::SuccessorFound { id, node, hops }),
            Purpose::Client(c) => self.reply(c, ClientResult::Located(node)),
            Purpose::Join(c) => {
                if node.peer != self.me.peer {
                    self.predecessor = None;
                    self.successors = vec![node];
                    self.send(node.peer, Msg::Notify { node: self.me });
                }
                self.reply(c, ClientResult::Joined(self.me.location));
            }
            Purpose::Finger(i) => {
                if node.peer == self.me.peer {
                    return;
                }
                let me = self.me.location;
                self.fingers[i] = Some(node);
                // Later fingers whose targets the same node succeeds.
                for j in i + 1..FINGERS {
                    if !in_half_open(finger_target(me, j), me, node.location) {
                        break;
                    }
                    self.fingers[j] = Some(node);
                }
            }
        }
    }

    // ---- ring upkeep ----

    fn send_ref(&mut self, to: ChordRef, msg: Msg<C>) {
        self.send(to.peer, msg);
    }

    fn on_timeout<R: Rng + ?Sized>(&mut self, now: Time, rng: &mut R) {
        self.expire(now);
        let Some([stabilize, fix, check]) = self.timers else {
            return;
        };
        let mut next = [stabilize, fix, check];
        if stabilize <= now {
            self.stabilize(now, rng);
            next[0] = now.plus_ms(self.config.stabilize_ms);
        }
        if fix <= now {
            self.fix_finger(now, rng);
            next[1] = now.plus_ms(self.config.fix_fingers_ms);
        }
        if check <= now {
            self.check_predecessor(now, rng);
            next[2] = now.plus_ms(self.config.check_predecessor_ms);
        }
        self.timers = Some(next);
        if let Some(round) = self.next_round {
            let view = self.replica_view();
            if round <= now || self.offered.as_ref() != Some(&view) {
                self.offer_replicas(&view.1, rng);
                self.offered = Some(view);
                self.next_round = Some(now.plus_ms(self.config.replicate_ms));
            }
        }
    }

    /// Whom replication depends on: the predecessor (it bounds the keys this
    /// node is responsible for) and the `r` successors (they hold the
    /// copies).
    fn replica_view(&self) -> (Option<PeerId>, Vec<PeerId>) {
        let successors = self.successors.iter().take(self.config.successors);
        (
            self.predecessor.map(|p| p.peer),
            successors.map(|s| s.peer).collect(),
        )
    }

    /// Offers the keys this node is responsible for to each of `replicas`
    /// (its `r` successors), which ask for those they lack. This re-creates the
    /// copies a failure took: when a successor dies, the next one in the
    /// list is offered everything; when the predecessor dies, this node
    /// takes over its keys and offers them on.
    fn offer_replicas<R: Rng + ?Sized>(&mut self, replicas: &[PeerId], rng: &mut R) {
        let Some(p) = self.predecessor else {
            // Without a predecessor the keys this node owns are unknown.
            return;
        };
        let me = self.me.location;
        let own: Vec<C::Key> = self
            .store
            .all_keys()
            .into_iter()
            .filter(|key| in_half_open(C::location(key), p.location, me))
            .collect();
        self.offers.clear();
        for &peer in replicas {
            for keys in own.chunks(MAX_OFFER_KEYS) {
                let id = self.fresh_id(rng);
                self.offers.insert(id, peer);
                let keys = keys.to_vec();
                self.send(peer, Msg::StoreOffer { id, keys });
            }
        }
    }

    /// Ends what waited too long: a slow peer is taken for dead.
    fn expire(&mut self, now: Time) {
        let timed_out: Vec<RequestId> = self
            .ops
            .iter()
            .filter(|(_, o)| o.client_deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in timed_out {
            let op = self.ops.remove(&id).expect("listed above");
            self.remember(id);
            if let Upstream::Client(c) = op.upstream {
                self.reply(c, ClientResult::Failed(Failure::TimedOut));
            }
        }
        // A request or lookup that waited too long tries its next route;
        // the peer may only be slow further down the path.
        let slow_ops: Vec<RequestId> = self
            .ops
            .iter()
            .filter(|(_, o)| o.hop_deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in slow_ops {
            self.route_op(now, id);
        }
        let slow_lookups: Vec<RequestId> = self
            .lookups
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in slow_lookups {
            self.route_lookup(now, id);
        }
        // A neighbour that does not answer a direct question is dead.
        let dead: Vec<PeerId> = self
            .queries
            .values()
            .filter(|q| q.2 <= now)
            .map(|q| q.0)
            .collect();
        for peer in dead {
            self.forget(now, peer);
        }
    }

    /// When to give up on the next hop of something that may still take
    /// `hops_left` hops: the whole rest of the path must fit, or a slow
    /// path would be cut at every hop at once.
    fn path_deadline(&self, now: Time, hops_left: u8) -> Time {
        now.plus_ms(self.config.hop_timeout_ms * u64::from(hops_left.max(1)))
    }

    fn ask(&mut self, now: Time, to: PeerId, query: Query, id: RequestId) {
        let deadline = now.plus_ms(self.config.hop_timeout_ms);
        self.queries.insert(id, (to, query, deadline));
        let msg = match query {
            Query::Stabilize | Query::Probe => Msg::GetPredecessor { id },
            Query::SuccessorList => Msg::GetSuccessorList { id },
        };
        self.send(to, msg);
    }

    fn stabilize<R: Rng + ?Sized>(&mut self, now: Time, rng: &mut R) {
        if self.successors.is_empty() {
            // Alone, or a two-node ring forming: the predecessor is also
            // the successor.
            match self.predecessor {
                Some(p) => self.successors.push(p),
                None => return,
            }
        }
        let to = self.successors[0].peer;
        let id = self.fresh_id(rng);
        self.ask(now, to, Query::Stabilize, id);
        let id = self.fresh_id(rng);
        self.ask(now, to, Query::SuccessorList, id);
    }

    /// Stabilize's answer: the successor's predecessor may be a nearer
    /// successor; either way, notify the successor.
    fn on_successor_predecessor(&mut self, from: PeerId, node: Option<ChordRef>) {
        let Some(&successor) = self.successors.first() else {
            return;
        };
        if successor.peer != from {
            return;
        }
        if let Some(x) = node
            && x.peer != self.me.peer
            && in_open(x.location, self.me.location, successor.location)
        {
            self.successors.insert(0, x);
            self.successors.truncate(self.config.successors.max(1));
        }
        let to = self.successors[0];
        self.send_ref(to, Msg::Notify { node: self.me });
    }

    fn on_successor_list(&mut self, from: PeerId, nodes: Vec<ChordRef>) {
        let Some(&successor) = self.successors.first() else {
            return;
        };
        if successor.peer != from {
            return;
        }
        let mut list = vec![successor];
        for n in nodes {
            if n.peer != self.me.peer && !list.iter().any(|l| l.peer == n.peer) {
                list.push(n);
            }
        }
        list.truncate(self.config.successors.max(1));
        self.successors = list;
    }

    fn on_notify<R: Rng + ?Sized>(&mut self, from: PeerId, node: ChordRef, rng: &mut R) {
        if node.peer != from {
            self.drop_peer(from, DropReason::NotifyNamesAnother);
            return;
        }
        if node.peer == self.me.peer {
            return;
        }
        let closer = self
            .predecessor
            .is_none_or(|p| in_open(node.location, p.location, self.me.location));
        if !closer {
            return;
        }
        self.predecessor = Some(node);
        if self.successors.is_empty() {
            self.successors.push(node);
        }
        // Hand over everything that is no longer this node's own: the new
        // predecessor is responsible for it or, being nearer the keys'
        // owners, is now among their replicas.
        let mine = (node.location, self.me.location);
        for key in self.store.all_keys() {
            if in_half_open(C::location(&key), mine.0, mine.1) {
                continue;
            }
            if let Some(data) = self.store.get(&key) {
                let id = self.fresh_id(rng);
                self.send(from, Msg::StoreTransfer { id, key, data });
            }
        }
    }

    fn fix_finger<R: Rng + ?Sized>(&mut self, now: Time, rng: &mut R) {
        let me = self.me.location;
        let Some(&successor) = self.successors.first() else {
            return;
        };
        // Fingers the successor covers need no lookup; stop at the first
        // that does, and look it up.
        for _ in 0..FINGERS {
            let i = self.next_finger;
            self.next_finger = (i + 1) % FINGERS;
            let target = finger_target(me, i);
            if in_half_open(target, me, successor.location) {
                self.fingers[i] = Some(successor);
                continue;
            }
            let busy = self
                .lookups
                .values()
                .any(|l| l.purpose == Purpose::Finger(i));
            if !busy {
                self.start_lookup(now, target, Purpose::Finger(i), None, rng);
            }
            return;
        }
    }

    fn check_predecessor<R: Rng + ?Sized>(&mut self, now: Time, rng: &mut R) {
        if let Some(p) = self.predecessor {
            let id = self.fresh_id(rng);
            self.ask(now, p.peer, Query::Probe, id);
        }
    }

    /// Leaves gracefully: hands this node's own keys to its successor and
    /// tells both neighbours whom to link to instead.
    fn leave<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        if let Some(&successor) = self.successors.first() {
            for key in self.store.all_keys() {
                if !self.is_responsible(C::location(&key)) {
                    continue;
                }
                if let Some(data) = self.store.get(&key) {
                    let id = self.fresh_id(rng);
                    self.send_ref(successor, Msg::StoreTransfer { id, key, data });
                }
            }
            let msg = Msg::Leave {
                predecessor: self.predecessor,
                successors: self.successors.clone(),
            };
            self.send_ref(successor, msg.clone());
            if let Some(p) = self.predecessor.filter(|p| p.peer != successor.peer) {
                self.send_ref(p, msg);
            }
        }
        self.left = true;
        self.timers = None;
        self.next_round = None;
    }

    fn on_leave(
        &mut self,
        now: Time,
        from: PeerId,
        predecessor: Option<ChordRef>,
        successors: Vec<ChordRef>,
    ) {
        let me = self.me.peer;
        let was_successor = self.successors.first().is_some_and(|s| s.peer == from);
        let was_predecessor = self.predecessor.is_some_and(|p| p.peer == from);
        self.forget(now, from);
        if was_successor {
            let mut list: Vec<ChordRef> = Vec::new();
            for n in successors.into_iter().chain(self.successors.clone()) {
                if n.peer != me && n.peer != from && !list.iter().any(|l| l.peer == n.peer) {
                    list.push(n);
                }
            }
            list.truncate(self.config.successors.max(1));
            self.successors = list;
        }
        if was_predecessor {
            self.predecessor = predecessor.filter(|p| p.peer != me && p.peer != from);
        }
    }
}

impl<C: Content, S: Store<C>> Protocol for Chord<C, S> {
    type Content = C;

    fn handle<R: Rng + ?Sized>(&mut self, now: Time, input: Input<C>, rng: &mut R) {
        Chord::handle(self, now, input, rng)
    }

    fn poll(&mut self) -> Option<Output<C>> {
        Chord::poll(self)
    }

    fn poll_timeout(&self) -> Option<Time> {
        Chord::poll_timeout(self)
    }

    fn location(&self) -> Location {
        self.me.location
    }

    fn holds(&self, key: &C::Key) -> bool {
        Chord::holds(self, key)
    }

    fn preload(&mut self, key: C::Key, data: C::Data) -> bool {
        Chord::preload(self, key, data)
    }

    fn stored(&self) -> usize {
        self.store.len() + self.cache.as_ref().map_or(0, |c| c.len())
    }

    fn state_size(&self) -> usize {
        let mut peers: Vec<PeerId> = self.known().map(|r| r.peer).collect();
        peers.sort_unstable();
        peers.dedup();
        peers.len()
    }
}
