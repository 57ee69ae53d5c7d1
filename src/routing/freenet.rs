//! Freenet mode: steepest-ascent routing with backtracking, hops-to-live,
//! caching on the return path, and joining by announcement.
//!
//! Each request a node handles is a small state machine (`Pending`): the
//! peers tried so far, the one it waits on, the hops to live left, and who
//! to answer. A request goes to the untried peer whose reference is closest
//! to its key; `RejectedLoop` and `RouteNotFound` from downstream move it to
//! the next best; when none is left the node answers `RouteNotFound` with
//! the hops to live it did not spend. Every request ends in an answer:
//! found, data not found, route not found, or (for a local client) timed
//! out.
//!
//! The core never reads a clock or a global RNG: `now` and `rng` are
//! arguments, and map iteration is ordered, so runs are reproducible.

use std::collections::{BTreeMap, VecDeque};

use rand::Rng;

use super::{
    ClientId, ClientOp, ClientResult, Config, Content, DropReason, Failure, Input, Msg, Output,
    PeerId, Protocol, RequestId, RoutingTable, Store, Time,
};
use stem::StemHop;

mod stem;
use crate::key::Location;
use crate::key::hash::tagged_hash;
use crate::wire::MAX_SEEDS;

/// Who a request's answer goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upstream {
    Peer(PeerId),
    Client(ClientId),
    /// This node ended a stem: the answer goes back along it, to `peer`
    /// under the stem's id `id`.
    Stem {
        peer: PeerId,
        id: RequestId,
    },
}

/// A request or insert in flight at this node.
#[derive(Clone, Debug)]
struct Pending<C: Content> {
    key: C::Key,
    /// The insert being carried; `None` for a request.
    insert: Option<Insert<C>>,
    upstream: Upstream,
    /// Hops to live to give the next peer.
    htl: u8,
    /// Peers already asked (and the upstream peer, never asked back).
    tried: Vec<PeerId>,
    /// The peer whose answer is awaited.
    waiting_on: Option<PeerId>,
    /// An insert offered to `waiting_on` that it has not accepted yet: its
    /// data goes once it does.
    offered: bool,
    /// When to give up on `waiting_on` and try the next peer.
    hop_deadline: Time,
    /// When a local client stops waiting.
    client_deadline: Option<Time>,
}

/// An insert's payload as this node carries it.
#[derive(Clone, Debug)]
struct Insert<C: Content> {
    /// `None` while this node waits for the data of an offer it accepted.
    data: Option<C::Data>,
    /// The source this node received (none at the originator): referenced
    /// for the key once the insert completes.
    received_source: Option<PeerId>,
    /// The source this node passes on (itself, if it rewrote it).
    source: PeerId,
}

/// Who an announcement's answer goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AnnounceFrom {
    Peer(PeerId),
    /// This node is the joiner; the client asked it to join.
    Joiner(ClientId),
}

/// An announcement passing through (or started by) this node.
#[derive(Clone, Debug)]
struct Announcement {
    upstream: AnnounceFrom,
    downstream: Option<PeerId>,
    joiner: PeerId,
    seed: [u8; 32],
    /// Commitment received (unused by the joiner).
    received: [u8; 32],
    /// Commitment sent on.
    sent: [u8; 32],
    deadline: Time,
}

/// How a request ends at this node.
enum Answer<C: Content> {
    Found { source: PeerId, data: C::Data },
    NotFound,
    RouteNotFound { htl: u8 },
    Inserted,
}

impl<C: Content> Answer<C> {
    /// The answer as the message that passes it back up a stem under `id`.
    /// The node names itself as the data's source, so the stem learns
    /// nothing of where the data was.
    fn stem_message(self, id: RequestId, me: PeerId) -> Msg<C> {
        match self {
            Answer::Found { data, .. } => Msg::DataFound {
                id,
                source: me,
                data,
            },
            Answer::NotFound => Msg::DataNotFound { id },
            Answer::RouteNotFound { .. } => Msg::RouteNotFound { id, htl: 0 },
            Answer::Inserted => Msg::InsertReply { id },
        }
    }

    /// The answer as a local client's result; found data answers an insert
    /// as a collision.
    fn client_result(self, insert: bool) -> ClientResult<C> {
        match self {
            Answer::Found { data, .. } if insert => ClientResult::Collision(data),
            Answer::Found { data, .. } => ClientResult::Found(data),
            Answer::NotFound => ClientResult::Failed(Failure::DataNotFound),
            Answer::RouteNotFound { .. } => ClientResult::Failed(Failure::RouteNotFound),
            Answer::Inserted => ClientResult::Inserted,
        }
    }
}

const SEED_TAG: &str = "fogstore/announce/seed";
const COMMIT_TAG: &str = "fogstore/announce/commit";
const LOCATION_TAG: &str = "fogstore/announce/location";

/// Salts so the two per-link coins are independent.
const COIN_AT_MAX: u64 = 0x6d61_785f_6874_6c31;
const COIN_AT_ONE: u64 = 0x6f6e_655f_6874_6c31;

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// The commitment chain: `c0 = H(seed0)`, `ci = H(c(i-1) xor H(seed i))`.
fn commit(previous: Option<&[u8; 32]>, seed: &[u8; 32]) -> [u8; 32] {
    let hashed = tagged_hash(SEED_TAG, &[seed]);
    match previous {
        None => hashed,
        Some(prev) => tagged_hash(COMMIT_TAG, &[&xor(prev, &hashed)]),
    }
}

/// The joining node's location: from the XOR of every seed on the path.
fn joined_location(seeds: &[[u8; 32]]) -> Location {
    let all = seeds.iter().fold([0u8; 32], |acc, s| xor(&acc, s));
    Location::from_hash(&tagged_hash(LOCATION_TAG, &[&all]))
}

/// SplitMix64: a fixed, well-mixed function of its input, for per-link
/// coins that must not change between runs or builds.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `x` as a fraction in [0, 1), from its top 53 bits: a fixed draw to
/// compare with a probability.
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl<C: Content, S: Store<C>> Protocol for Core<C, S> {
    type Content = C;

    fn handle<R: Rng + ?Sized>(&mut self, now: Time, input: Input<C>, rng: &mut R) {
        Core::handle(self, now, input, rng)
    }

    fn poll(&mut self) -> Option<Output<C>> {
        Core::poll(self)
    }

    fn poll_timeout(&self) -> Option<Time> {
        Core::poll_timeout(self)
    }

    fn location(&self) -> Location {
        self.location
    }

    fn holds(&self, key: &C::Key) -> bool {
        self.store.contains(key)
    }

    fn preload(&mut self, key: C::Key, data: C::Data) -> bool {
        Core::preload(self, key, data)
    }

    fn stored(&self) -> usize {
        self.store.len()
    }

    fn state_size(&self) -> usize {
        self.table.len()
    }
}

/// A Freenet-mode node: routing table, datastore and requests in flight.
#[derive(Clone, Debug)]
pub struct Core<C: Content, S: Store<C>> {
    config: Config,
    location: Location,
    /// Drawn once; fixes each link's HTL coins.
    link_secret: u64,
    table: RoutingTable,
    store: S,
    pending: BTreeMap<RequestId, Pending<C>>,
    /// Requests and inserts on their stem at this node, by the id this
    /// node sent them on with.
    stems: BTreeMap<RequestId, StemHop<C>>,
    announcements: BTreeMap<RequestId, Announcement>,
    /// Ids of requests that finished here, for loop detection.
    recent: VecDeque<RequestId>,
    outputs: VecDeque<Output<C>>,
}

impl<C: Content, S: Store<C>> Core<C, S> {
    /// A node at `location` with an empty routing table.
    pub fn new<R: Rng + ?Sized>(config: Config, location: Location, store: S, rng: &mut R) -> Self {
        Core {
            config,
            location,
            link_secret: rng.r#gen(),
            table: RoutingTable::new(config.routing_table_size),
            store,
            pending: BTreeMap::new(),
            stems: BTreeMap::new(),
            announcements: BTreeMap::new(),
            recent: VecDeque::new(),
            outputs: VecDeque::new(),
        }
    }

    // ---- getters ----

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This node's location (set by joining).
    pub fn location(&self) -> Location {
        self.location
    }

    /// The routing table.
    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// The datastore.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The datastore, for the driver to make what the core asked durable
    /// ([`Store::commit`]).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Whether this node would answer a `Request` carrying `id` with
    /// `RejectedLoop`: the id is in flight here (a request or an
    /// announcement) or among the last `loop_memory` finished. What a
    /// traceback probe learns (the `anonymity` study). A stem hop's id is
    /// not kept so: it is new on every hop and is not checked for loops.
    pub fn has_seen(&self, id: RequestId) -> bool {
        self.seen(id)
    }

    /// Requests and inserts in flight (routed here, or on a stem through
    /// here).
    pub fn in_flight(&self) -> usize {
        self.pending.len() + self.stems.len()
    }

    /// When the core next needs [`Input::Timeout`], if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        let requests = self.pending.values().map(|p| {
            p.client_deadline
                .map_or(p.hop_deadline, |c| c.min(p.hop_deadline))
        });
        let stems = self.stems.values().map(|h| h.deadline);
        let announcements = self.announcements.values().map(|a| a.deadline);
        requests.chain(stems).chain(announcements).min()
    }

    // ---- input ----

    /// Feeds one event. Drain [`Core::poll`] afterwards.
    pub fn handle<R: Rng + ?Sized>(&mut self, now: Time, input: Input<C>, rng: &mut R) {
        match input {
            Input::Message { from, msg } => self.on_message(now, from, msg, rng),
            Input::Client { client, op } => self.on_client(now, client, op, rng),
            Input::PeerDown(peer) => self.on_peer_down(now, peer),
            Input::Timeout => self.on_timeout(now),
        }
    }

    // ---- mutators ----

    /// Replaces the settings, keeping this node's id and its routing
    /// table's capacity (fixed when the core is made). For a simulation
    /// that switches a trained network to other settings: the anonymity
    /// study turns the real node's HTL coin and stem on after
    /// the paper's workload has converged the network, so that everything
    /// else (references in their LRU order, stores, link coins) stays.
    pub fn set_config(&mut self, config: Config) {
        self.config = Config {
            me: self.config.me,
            routing_table_size: self.config.routing_table_size,
            ..config
        };
    }

    /// Adds or refreshes a routing reference (bootstrap, or a driver that
    /// learned of a peer).
    pub fn add_reference(&mut self, location: Location, peer: PeerId) {
        self.table.add(location, peer);
    }

    /// Stores verified data directly (a driver restoring its store).
    pub fn preload(&mut self, key: C::Key, data: C::Data) -> bool {
        let ok = C::verify(&key, &data);
        if ok {
            self.store.put(key, data);
        }
        ok
    }

    // ---- output ----

    /// The next thing the driver must do, in order.
    #[must_use]
    pub fn poll(&mut self) -> Option<Output<C>> {
        self.outputs.pop_front()
    }

    // ---- internals ----

    fn send(&mut self, to: PeerId, msg: Msg<C>) {
        self.outputs.push_back(Output::Send { to, msg });
    }

    fn reply(&mut self, client: ClientId, result: ClientResult<C>) {
        self.outputs.push_back(Output::Reply { client, result });
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

    /// Whether `id` may not be given to a new request or stem hop: this
    /// node has seen it ([`Core::seen`]) or files a stem hop under it.
    fn id_in_use(&self, id: RequestId) -> bool {
        self.seen(id) || self.stems.contains_key(&id)
    }

    fn seen(&self, id: RequestId) -> bool {
        self.pending.contains_key(&id)
            || self.announcements.contains_key(&id)
            || self.recent.contains(&id)
    }

    /// A link's coin with probability `p`, fixed for the link: the same
    /// peer always gets the same answer from this node.
    fn coin(&self, peer: PeerId, salt: u64, p: f64) -> bool {
        let x = mix(self.link_secret ^ mix(u64::from(peer.0) ^ salt));
        unit(x) < p
    }

    /// Hops to live after the hop from `from`.
    fn decrement(&self, htl: u8, from: PeerId) -> u8 {
        let max = self.config.max_htl;
        if htl >= max {
            if self.coin(from, COIN_AT_MAX, self.config.decrement_at_max) {
                max - 1
            } else {
                max
            }
        } else if htl == 1 {
            if self.coin(from, COIN_AT_ONE, self.config.decrement_at_one) {
                0
            } else {
                1
            }
        } else {
            // HTL 0 stays 0: a request that arrives with none left is
            // answered here and never forwarded (it must not wrap to 255).
            htl.saturating_sub(1)
        }
    }

    /// When to give up on the peer a request at `htl` went to. The rest of
    /// its path may be longer than `htl` hops: links that keep HTL at the
    /// maximum, and at 1, can each pass it on unchanged for a run of hops.
    /// A deadline that ignored those runs would fire while the path is
    /// still working, and the request would fork into every peer in turn.
    fn hop_deadline(&self, now: Time, htl: u8) -> Time {
        let hops = u64::from(htl.max(1)) + self.config.coin_runs();
        now.plus_ms(self.config.hop_timeout_ms_per_htl * hops)
    }

    fn on_message<R: Rng + ?Sized>(&mut self, now: Time, from: PeerId, msg: Msg<C>, rng: &mut R) {
        if self.on_stem_answer(now, from, &msg) {
            return;
        }
        match msg {
            Msg::Request { id, key, htl } => self.on_request(now, from, id, key, None, htl),
            Msg::StemRequest { id, key } => self.on_stem(now, from, id, key, None, rng),
            Msg::StemInsert { id, key, data } => self.on_stem(now, from, id, key, Some(data), rng),
            Msg::InsertOffer {
                id,
                key,
                htl,
                source,
            } => {
                let forwarded = if rng.gen_bool(self.config.source_rewrite.clamp(0.0, 1.0)) {
                    self.config.me
                } else {
                    source
                };
                let insert = Insert {
                    data: None,
                    received_source: Some(source),
                    source: forwarded,
                };
                self.on_request(now, from, id, key, Some(insert), htl)
            }
            Msg::InsertAccepted { id } => self.on_insert_accepted(id, from),
            Msg::InsertData { id, data } => self.on_insert_data(now, id, from, data),
            Msg::DataFound { id, source, data } => {
                self.on_data_found(now, from, id, source, data, rng)
            }
            Msg::DataNotFound { id } => {
                if let Some(p) = self.take_if_waiting(id, from) {
                    self.answer(id, p, Answer::NotFound);
                }
            }
            Msg::RouteNotFound { id, htl } => {
                if let Some(p) = self.waiting_mut(id, from) {
                    p.htl = p.htl.min(htl);
                    self.route_next(now, id);
                }
            }
            Msg::RejectedLoop { id } if self.announcements.contains_key(&id) => {
                self.on_announce_loop(id, from);
            }
            Msg::RejectedLoop { id } => {
                // A loop costs no hops to live (charging it starves requests
                // in well-connected networks: most of their budget went to
                // loops). Work stays bounded: each node handles an id once
                // and asks each peer at most once.
                if self.waiting_mut(id, from).is_some() {
                    self.route_next(now, id);
                }
            }
            Msg::InsertReply { id } => {
                if let Some(p) = self.take_if_waiting(id, from) {
                    self.store_insert(&p);
                    self.answer(id, p, Answer::Inserted);
                }
            }
            Msg::Announce {
                id,
                htl,
                joiner,
                commitment,
            } => self.on_announce(now, from, id, htl, joiner, commitment, rng),
            Msg::AnnounceReply { id, seeds } => self.on_announce_reply(id, from, seeds),
            Msg::AnnounceComplete { id, seeds } => self.on_announce_complete(id, from, seeds),
            Msg::Insert { .. }
            | Msg::FindSuccessor { .. }
            | Msg::SuccessorFound { .. }
            | Msg::Notify { .. }
            | Msg::GetPredecessor { .. }
            | Msg::Predecessor { .. }
            | Msg::GetSuccessorList { .. }
            | Msg::SuccessorList { .. }
            | Msg::StoreTransfer { .. }
            | Msg::TransferAck { .. }
            | Msg::StoreOffer { .. }
            | Msg::StoreWant { .. }
            | Msg::Leave { .. } => self.outputs.push_back(Output::DropPeer {
                peer: from,
                reason: DropReason::WrongMode,
            }),
        }
    }

    /// A request or insert from a peer.
    fn on_request(
        &mut self,
        now: Time,
        from: PeerId,
        id: RequestId,
        key: C::Key,
        insert: Option<Insert<C>>,
        htl: u8,
    ) {
        if self.seen(id) {
            self.send(from, Msg::RejectedLoop { id });
            return;
        }
        let htl = htl.min(self.config.max_htl);
        if let Some(data) = self.store.get(&key) {
            // For an insert this is a collision: the existing data goes back.
            let source = self.config.me;
            self.send(from, Msg::DataFound { id, source, data });
            self.remember(id);
            return;
        }
        let next = self.decrement(htl, from);
        if self.pending.len() >= self.config.max_in_flight {
            // Refused, not failed: the sender tries its next peer with
            // the hops to live it had.
            self.send(from, Msg::RouteNotFound { id, htl });
            return;
        }
        let offered = insert.is_some();
        let pending = Pending {
            key,
            insert,
            upstream: Upstream::Peer(from),
            htl: next,
            tried: vec![from],
            waiting_on: None,
            offered: false,
            hop_deadline: now.plus_ms(2 * self.config.hop_timeout_ms_per_htl),
            client_deadline: None,
        };
        if offered {
            // An insert is taken on before its data comes: ask for it.
            self.pending.insert(id, pending);
            self.send(from, Msg::InsertAccepted { id });
            return;
        }
        if next == 0 {
            self.finish_exhausted(id, pending);
            return;
        }
        self.pending.insert(id, pending);
        self.route_next(now, id);
    }

    fn on_client<R: Rng + ?Sized>(
        &mut self,
        now: Time,
        client: ClientId,
        op: ClientOp<C>,
        rng: &mut R,
    ) {
        let (key, insert, htl) = match op {
            ClientOp::Get {
                key,
                htl,
                operation,
            } => {
                if let Some(data) = self.store.get(&key) {
                    self.reply(client, ClientResult::Found(data));
                    return;
                }
                if self.config.stem {
                    self.start_stem(now, client, operation, key, None, rng);
                    return;
                }
                (key, None, htl)
            }
            ClientOp::Put {
                key,
                data,
                htl,
                operation,
            } => {
                if !C::verify(&key, &data) {
                    self.reply(client, ClientResult::Failed(Failure::Rejected));
                    return;
                }
                if let Some(existing) = self.store.get(&key) {
                    self.reply(client, ClientResult::Collision(existing));
                    return;
                }
                if self.config.stem {
                    self.start_stem(now, client, operation, key, Some(data), rng);
                    return;
                }
                let insert = Insert {
                    data: Some(data),
                    received_source: None,
                    source: self.config.me,
                };
                (key, Some(insert), htl)
            }
            ClientOp::Join { via, htl } => {
                self.start_join(now, client, via, htl, rng);
                return;
            }
            ClientOp::Lookup { .. } => {
                // Freenet mode has no node "responsible" for a location.
                self.reply(client, ClientResult::Failed(Failure::Rejected));
                return;
            }
            ClientOp::Leave => {
                // Nothing to hand over: data stays cached where it is.
                self.reply(client, ClientResult::Left);
                return;
            }
        };
        if self.pending.len() >= self.config.max_in_flight {
            self.reply(client, ClientResult::Failed(Failure::Overloaded));
            return;
        }
        let id = self.fresh_id(rng);
        let max = self.config.max_htl;
        self.pending.insert(
            id,
            Pending {
                key,
                insert,
                upstream: Upstream::Client(client),
                htl: htl.unwrap_or(max).clamp(1, max),
                tried: Vec::new(),
                waiting_on: None,
                offered: false,
                hop_deadline: now,
                client_deadline: Some(now.plus_ms(self.config.client_timeout_ms)),
            },
        );
        self.route_next(now, id);
    }

    /// A random id not in use here. Random rather than counted, so ids say
    /// nothing about who made them or when.
    fn fresh_id<R: Rng + ?Sized>(&self, rng: &mut R) -> RequestId {
        loop {
            let id = RequestId(rng.r#gen());
            if !self.id_in_use(id) {
                return id;
            }
        }
    }

    /// The pending request `id`, if it waits on `from`.
    fn waiting_mut(&mut self, id: RequestId, from: PeerId) -> Option<&mut Pending<C>> {
        self.pending
            .get_mut(&id)
            .filter(|p| p.waiting_on == Some(from))
    }

    /// Removes and returns the pending request `id`, if it waits on `from`.
    fn take_if_waiting(&mut self, id: RequestId, from: PeerId) -> Option<Pending<C>> {
        self.waiting_mut(id, from)?;
        self.pending.remove(&id)
    }

    /// Sends the request to the next best untried peer, or ends it.
    fn route_next(&mut self, now: Time, id: RequestId) {
        let Some(htl) = self.pending.get(&id).map(|p| p.htl) else {
            return;
        };
        let deadline = self.hop_deadline(now, htl);
        let p = self.pending.get_mut(&id).expect("checked above");
        let target = C::location(&p.key);
        let tried = &p.tried;
        match self.table.closest(target, |peer| tried.contains(&peer)) {
            Some(peer) => {
                p.tried.push(peer);
                p.waiting_on = Some(peer);
                p.hop_deadline = deadline;
                p.offered = p.insert.is_some();
                let (key, htl) = (p.key, p.htl);
                let msg = match &p.insert {
                    Some(insert) => Msg::InsertOffer {
                        id,
                        key,
                        htl,
                        source: insert.source,
                    },
                    None => Msg::Request { id, key, htl },
                };
                self.send(peer, msg);
            }
            None => {
                let p = self.pending.remove(&id).expect("checked above");
                let asked_anyone = p.tried.iter().any(|&t| Upstream::Peer(t) != p.upstream);
                let answer = match (&p.insert, p.upstream) {
                    // An insert that runs out of peers ends its path here
                    // (at the end of its stem, too), unless it never left
                    // its originator.
                    (Some(_), Upstream::Peer(_) | Upstream::Stem { .. }) => {
                        self.end_insert(&p);
                        Answer::Inserted
                    }
                    (Some(_), Upstream::Client(_)) if asked_anyone => Answer::Inserted,
                    _ => Answer::RouteNotFound { htl: p.htl },
                };
                self.answer(id, p, answer);
            }
        }
    }

    /// An insert completes here: keep the data and, as the paper's nodes
    /// do, reference the claimed inserter for the key. The reference is
    /// made only now: made on arrival, it would pull the insert back to its
    /// inserter. Every node that routes an insert keeps it, wherever it is
    /// on the path: the nodes near its originator are those of its stem,
    /// which do not.
    fn store_insert(&mut self, p: &Pending<C>) {
        let Some(insert) = &p.insert else { return };
        if let Some(data) = &insert.data
            && !self.asked_by_own_client(&p.key)
        {
            self.store.put(p.key, data.clone());
        }
        if let Some(source) = insert.received_source {
            self.table.add(C::location(&p.key), source);
        }
    }

    /// The peer this node offered insert `id` to takes it: the data goes.
    fn on_insert_accepted(&mut self, id: RequestId, from: PeerId) {
        let Some(p) = self.waiting_mut(id, from).filter(|p| p.offered) else {
            return;
        };
        p.offered = false;
        if let Some(data) = p.insert.as_ref().and_then(|i| i.data.clone()) {
            self.send(from, Msg::InsertData { id, data });
        }
    }

    /// The data of an insert this node accepted from `from`: checked, then
    /// the insert goes on (or ends here, with no hops to live left).
    fn on_insert_data(&mut self, now: Time, id: RequestId, from: PeerId, data: C::Data) {
        let Some(p) = self.pending.get_mut(&id).filter(|p| {
            p.upstream == Upstream::Peer(from)
                && p.insert.as_ref().is_some_and(|i| i.data.is_none())
        }) else {
            return;
        };
        if !C::verify(&p.key, &data) {
            self.pending.remove(&id);
            self.remember(id);
            self.outputs.push_back(Output::DropPeer {
                peer: from,
                reason: DropReason::BadInsertData,
            });
            return;
        }
        if let Some(insert) = p.insert.as_mut() {
            insert.data = Some(data);
        }
        if p.htl == 0 {
            let p = self.pending.remove(&id).expect("checked above");
            self.finish_exhausted(id, p);
        } else {
            self.route_next(now, id);
        }
    }

    /// An insert's path ends here: the data is kept, durably before the
    /// `InsertReply` that acknowledges it goes back.
    fn end_insert(&mut self, p: &Pending<C>) {
        self.store_insert(p);
        self.store.commit();
    }

    /// Hops to live ran out at this node: data not found for a request; for
    /// an insert, the end of its path.
    fn finish_exhausted(&mut self, id: RequestId, p: Pending<C>) {
        let answer = if p.insert.is_some() {
            self.end_insert(&p);
            Answer::Inserted
        } else {
            Answer::NotFound
        };
        self.answer(id, p, answer);
    }

    fn on_data_found<R: Rng + ?Sized>(
        &mut self,
        now: Time,
        from: PeerId,
        id: RequestId,
        source: PeerId,
        data: C::Data,
        rng: &mut R,
    ) {
        let Some(p) = self.waiting_mut(id, from) else {
            // Late (after a timeout) or unsolicited: nothing waits for it.
            return;
        };
        if !C::verify(&p.key, &data) {
            self.outputs.push_back(Output::DropPeer {
                peer: from,
                reason: DropReason::BadReturnedData,
            });
            self.table.remove_peer(from);
            self.route_next(now, id);
            return;
        }
        let p = self.pending.remove(&id).expect("checked above");
        if !self.asked_by_own_client(&p.key) {
            self.store.put(p.key, data.clone());
        }
        self.table.add(C::location(&p.key), source);
        let source = if rng.gen_bool(self.config.source_rewrite.clamp(0.0, 1.0)) {
            self.config.me
        } else {
            source
        };
        self.answer(id, p, Answer::Found { source, data });
    }

    /// Sends a request's answer upstream and forgets the request.
    fn answer(&mut self, id: RequestId, p: Pending<C>, answer: Answer<C>) {
        self.remember(id);
        match p.upstream {
            Upstream::Peer(to) => {
                let msg = match answer {
                    Answer::Found { source, data } => Msg::DataFound { id, source, data },
                    Answer::NotFound => Msg::DataNotFound { id },
                    Answer::RouteNotFound { htl } => Msg::RouteNotFound { id, htl },
                    Answer::Inserted => Msg::InsertReply { id },
                };
                self.send(to, msg);
            }
            Upstream::Stem { peer, id } => {
                let msg = answer.stem_message(id, self.config.me);
                self.send(peer, msg);
            }
            Upstream::Client(client) => {
                self.reply(client, answer.client_result(p.insert.is_some()));
            }
        }
    }

    fn on_peer_down(&mut self, now: Time, peer: PeerId) {
        self.table.remove_peer(peer);
        self.stems_peer_down(now, peer);
        let waiting: Vec<RequestId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.waiting_on == Some(peer))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            self.route_next(now, id);
        }
        // An announcement whose next hop is gone ends its path here, as if
        // that hop had refused it as a loop: the seeds so far still give
        // the joiner a location. One whose previous hop is gone has nobody
        // to answer.
        let cut: Vec<RequestId> = self
            .announcements
            .iter()
            .filter(|(_, a)| a.downstream == Some(peer) && a.upstream != AnnounceFrom::Peer(peer))
            .map(|(id, _)| *id)
            .collect();
        for id in cut {
            self.on_announce_loop(id, peer);
        }
        let stranded: Vec<RequestId> = self
            .announcements
            .iter()
            .filter(|(_, a)| a.upstream == AnnounceFrom::Peer(peer))
            .map(|(id, _)| *id)
            .collect();
        for id in stranded {
            self.fail_announcement(id, Failure::RouteNotFound);
        }
    }

    fn on_timeout(&mut self, now: Time) {
        let expired: Vec<(RequestId, bool)> = self
            .pending
            .iter()
            .filter_map(|(id, p)| {
                let client_over = p.client_deadline.is_some_and(|d| d <= now);
                (client_over || p.hop_deadline <= now).then_some((*id, client_over))
            })
            .collect();
        self.stems_timeout(now);
        for (id, client_over) in expired {
            let awaiting_data = self.pending.get(&id).is_some_and(|p| {
                p.waiting_on.is_none() && p.insert.as_ref().is_some_and(|i| i.data.is_none())
            });
            if awaiting_data {
                // An offer accepted whose data never came: nothing to do.
                self.pending.remove(&id);
                self.remember(id);
            } else if client_over {
                let p = self.pending.remove(&id).expect("listed above");
                self.remember(id);
                if let Upstream::Client(client) = p.upstream {
                    self.reply(client, ClientResult::Failed(Failure::TimedOut));
                }
            } else {
                // The downstream peer is too slow: try the next one.
                self.route_next(now, id);
            }
        }
        let stale: Vec<RequestId> = self
            .announcements
            .iter()
            .filter(|(_, a)| a.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.fail_announcement(id, Failure::TimedOut);
        }
    }

    // ---- joining ----

    fn start_join<R: Rng + ?Sized>(
        &mut self,
        now: Time,
        client: ClientId,
        via: PeerId,
        htl: u8,
        rng: &mut R,
    ) {
        let id = self.fresh_id(rng);
        let seed: [u8; 32] = rng.r#gen();
        let sent = commit(None, &seed);
        let htl = htl.clamp(1, MAX_SEEDS as u8 - 1);
        self.announcements.insert(
            id,
            Announcement {
                upstream: AnnounceFrom::Joiner(client),
                downstream: Some(via),
                joiner: self.config.me,
                seed,
                received: [0; 32],
                sent,
                deadline: now.plus_ms(self.config.client_timeout_ms),
            },
        );
        let joiner = self.config.me;
        self.send(
            via,
            Msg::Announce {
                id,
                htl,
                joiner,
                commitment: sent,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn on_announce<R: Rng + ?Sized>(
        &mut self,
        now: Time,
        from: PeerId,
        id: RequestId,
        htl: u8,
        joiner: PeerId,
        commitment: [u8; 32],
        rng: &mut R,
    ) {
        if self.seen(id) {
            self.send(from, Msg::RejectedLoop { id });
            return;
        }
        let seed: [u8; 32] = rng.r#gen();
        let sent = commit(Some(&commitment), &seed);
        // Announcements decrement plainly: each hop adds one seed, and the
        // seed list is bounded.
        let htl = htl
            .min(self.config.max_htl)
            .min(MAX_SEEDS as u8 - 1)
            .saturating_sub(1);
        let me = self.config.me;
        let downstream = if htl > 0 {
            self.table
                .random_peer(rng, |p| p == from || p == joiner || p == me)
        } else {
            None
        };
        self.announcements.insert(
            id,
            Announcement {
                upstream: AnnounceFrom::Peer(from),
                downstream,
                joiner,
                seed,
                received: commitment,
                sent,
                deadline: self.hop_deadline(now, htl.saturating_mul(2)),
            },
        );
        match downstream {
            Some(next) => self.send(
                next,
                Msg::Announce {
                    id,
                    htl,
                    joiner,
                    commitment: sent,
                },
            ),
            None => self.send(
                from,
                Msg::AnnounceReply {
                    id,
                    seeds: vec![seed],
                },
            ),
        }
    }

    /// The next hop had already seen the announcement, or is gone: this
    /// node ends the path instead, and starts revealing seeds.
    fn on_announce_loop(&mut self, id: RequestId, from: PeerId) {
        let Some(a) = self
            .announcements
            .get_mut(&id)
            .filter(|a| a.downstream == Some(from))
        else {
            return;
        };
        a.downstream = None;
        let (upstream, seed) = (a.upstream, a.seed);
        match upstream {
            AnnounceFrom::Peer(up) => self.send(
                up,
                Msg::AnnounceReply {
                    id,
                    seeds: vec![seed],
                },
            ),
            // The joiner's only peer saw it already: cannot happen with fresh
            // ids, but end cleanly.
            AnnounceFrom::Joiner(_) => self.fail_announcement(id, Failure::RouteNotFound),
        }
    }

    fn on_announce_reply(&mut self, id: RequestId, from: PeerId, mut seeds: Vec<[u8; 32]>) {
        let Some(a) = self
            .announcements
            .get(&id)
            .filter(|a| a.downstream == Some(from))
        else {
            return;
        };
        if seeds.is_empty() || seeds.len() >= MAX_SEEDS {
            self.fail_announcement(id, Failure::Rejected);
            return;
        }
        match a.upstream {
            AnnounceFrom::Peer(up) => {
                seeds.push(a.seed);
                self.send(up, Msg::AnnounceReply { id, seeds });
            }
            AnnounceFrom::Joiner(client) => {
                let a = self.announcements.remove(&id).expect("checked above");
                let mut all = vec![a.seed];
                all.extend(seeds.into_iter().rev());
                self.location = joined_location(&all);
                self.remember(id);
                self.send(from, Msg::AnnounceComplete { id, seeds: all });
                let location = self.location;
                self.reply(client, ClientResult::Joined(location));
            }
        }
    }

    fn on_announce_complete(&mut self, id: RequestId, from: PeerId, seeds: Vec<[u8; 32]>) {
        let Some(a) = self
            .announcements
            .get(&id)
            .filter(|a| a.upstream == AnnounceFrom::Peer(from))
        else {
            return;
        };
        let a = a.clone();
        self.announcements.remove(&id);
        self.remember(id);
        // Check that the seeds revealed up to here match the commitments
        // this node saw and sent; only then reference the new node.
        let Some(k) = seeds
            .iter()
            .skip(1)
            .position(|s| *s == a.seed)
            .map(|i| i + 1)
        else {
            return;
        };
        let mut chain = commit(None, &seeds[0]);
        for seed in &seeds[1..k] {
            chain = commit(Some(&chain), seed);
        }
        if chain != a.received || commit(Some(&chain), &seeds[k]) != a.sent {
            return;
        }
        self.table.add(joined_location(&seeds), a.joiner);
        if let Some(next) = a.downstream {
            self.send(next, Msg::AnnounceComplete { id, seeds });
        }
    }

    fn fail_announcement(&mut self, id: RequestId, failure: Failure) {
        if let Some(a) = self.announcements.remove(&id) {
            self.remember(id);
            if let AnnounceFrom::Joiner(client) = a.upstream {
                self.reply(client, ClientResult::Failed(failure));
            }
        }
    }
}
