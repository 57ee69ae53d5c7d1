//! The event loop: cores in a `Vec`, messages in a priority queue ordered by
//! virtual delivery time, and a trace of each client request.
//!
//! Nodes are integer ids (their index); a node's [`PeerId`] is its index.
//! Each link has a fixed latency drawn from a hash of its two ends and the
//! seed, so messages on one link stay in order. A message to a dead node is
//! lost, and the sender learns the peer is down one latency later, as a
//! real node learns when a connection fails. Ties in time are broken by a
//! sequence number, and the one RNG is drawn from in event order, so a run
//! is a pure function of its seed and inputs.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::key::Location;
use crate::routing::chord::Chord;
use crate::routing::freenet::Core;
use crate::routing::{
    ChordConfig, ChordRef, ClientId, ClientOp, ClientResult, Config, Content, Input, Msg, Output,
    PeerId, Protocol, RequestId, Time,
};
use crate::store::MemoryStore;

/// A simulated Freenet-mode node.
pub type SimCore<C> = Core<C, MemoryStore<C>>;

/// A simulated Chord-mode node.
pub type SimChord<C> = Chord<C, MemoryStore<C>>;

/// The content a protocol routes.
type ContentOf<P> = <P as Protocol>::Content;

/// Per-link one-way latency, uniform in `[min_ms, max_ms]`, fixed per link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    /// Shortest link latency.
    pub min_ms: u64,
    /// Longest link latency.
    pub max_ms: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            min_ms: 10,
            max_ms: 100,
        }
    }
}

/// A message delivered to a watched node, as a passive adversary there
/// logs it.
#[derive(Clone, Debug)]
pub struct Observed<C: Content> {
    /// When it arrived.
    pub at: Time,
    /// The watched node that received it.
    pub at_node: PeerId,
    /// Its sender: the watched node's predecessor on the path.
    pub from: PeerId,
    /// The message.
    pub msg: Msg<C>,
}

#[derive(Clone, Debug)]
enum EventKind<C: Content> {
    Deliver { from: u32, to: u32, msg: Msg<C> },
    Timer { node: u32 },
    Unreachable { node: u32, peer: u32 },
}

#[derive(Clone, Debug)]
struct Event<C: Content> {
    at: Time,
    seq: u64,
    kind: EventKind<C>,
}

impl<C: Content> PartialEq for Event<C> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<C: Content> Eq for Event<C> {}
impl<C: Content> PartialOrd for Event<C> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<C: Content> Ord for Event<C> {
    /// Reversed, so the max-heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// What happened to one client request.
#[derive(Clone, Debug)]
pub struct Outcome<C: Content> {
    /// The node the client asked.
    pub node: u32,
    /// The client request.
    pub client: ClientId,
    /// Its answer.
    pub result: ClientResult<C>,
    /// Request or insert messages sent for it, on its stem and routed: the
    /// path length, counting hops into dead ends that were backtracked out
    /// of. 0 for a local hit. (A stem hop resent because its peer died is
    /// not followed: a request whose stem lost a node counts fewer.)
    pub hops: u32,
    /// Every message sent for it.
    pub messages: u32,
    /// Virtual time from asking to the answer.
    pub elapsed: Time,
    /// The request ids used for it (what observers see on the wire): the
    /// originator's, and those its stem and the stem's end gave it, for
    /// scoring an adversary's guesses.
    pub ids: Vec<RequestId>,
}

impl<C: Content> Outcome<C> {
    /// Whether a `Get` found its data, or a `Put` was stored (or collided).
    pub fn succeeded(&self) -> bool {
        matches!(
            self.result,
            ClientResult::Found(_)
                | ClientResult::Inserted
                | ClientResult::Collision(_)
                | ClientResult::Joined(_)
                | ClientResult::Located(_)
                | ClientResult::Left
        )
    }
}

#[derive(Clone, Debug)]
struct Trace {
    node: u32,
    ids: Vec<RequestId>,
    hops: u32,
    messages: u32,
    started: Time,
}

/// Counters over a whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events processed.
    pub events: u64,
    /// Messages sent between nodes.
    pub messages: u64,
    /// Messages lost to dead nodes.
    pub lost: u64,
    /// Peers dropped for misbehaviour.
    pub drops: u64,
    /// Messages sent, by message name.
    pub by_kind: BTreeMap<&'static str, u64>,
}

/// A simulated network of protocol cores `P` (Freenet or Chord mode).
#[derive(Clone, Debug)]
pub struct Network<P: Protocol + Clone + std::fmt::Debug> {
    nodes: Vec<P>,
    alive: Vec<bool>,
    /// Messages delivered to each node.
    load: Vec<u64>,
    watched: Vec<bool>,
    observed: Vec<Observed<ContentOf<P>>>,
    timers: Vec<Option<Time>>,
    queue: BinaryHeap<Event<ContentOf<P>>>,
    seq: u64,
    now: Time,
    rng: ChaCha8Rng,
    latency: Latency,
    latency_salt: u64,
    next_client: u64,
    /// Request ids of traced client requests.
    ids: BTreeMap<RequestId, ClientId>,
    traces: BTreeMap<ClientId, Trace>,
    outcomes: Vec<Outcome<ContentOf<P>>>,
    stats: Stats,
}

impl<C: Content> Network<SimCore<C>> {
    /// Adds a Freenet-mode node at `location` with a store of
    /// `store_items` entries; its `config.me` is set to its index.
    pub fn add_node(
        &mut self,
        mut config: Config,
        location: Location,
        store_items: usize,
    ) -> PeerId {
        self.add_with(|id, rng| {
            config.me = id;
            Core::new(config, location, MemoryStore::new(store_items), rng)
        })
    }

    /// Gives `from` a reference to `to` under `to`'s location.
    pub fn link(&mut self, from: PeerId, to: PeerId) {
        let location = self.nodes[to.0 as usize].location();
        self.nodes[from.0 as usize].add_reference(location, to);
    }
}

impl<C: Content> Network<SimChord<C>> {
    /// Adds a Chord-mode node at `location` with a store of `store_items`
    /// entries and, if `cache_items > 0`, a return-path cache of that many;
    /// its `config.me` is set to its index.
    pub fn add_chord_node(
        &mut self,
        mut config: ChordConfig,
        location: Location,
        store_items: usize,
        cache_items: usize,
    ) -> PeerId {
        self.add_with(|id, _| {
            config.me = id;
            let cache = (cache_items > 0).then(|| MemoryStore::new(cache_items));
            Chord::new(config, location, MemoryStore::new(store_items), cache)
        })
    }

    /// Node `id`'s reference as Chord peers pass it around.
    pub fn chord_ref(&self, id: PeerId) -> ChordRef {
        ChordRef {
            peer: id,
            location: self.nodes[id.0 as usize].location(),
        }
    }
}

impl<P: Protocol + Clone + std::fmt::Debug> Network<P> {
    /// An empty network; every random choice in it derives from `seed`.
    pub fn new(seed: u64, latency: Latency) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let latency_salt = rand::Rng::r#gen(&mut rng);
        Network {
            nodes: Vec::new(),
            alive: Vec::new(),
            load: Vec::new(),
            watched: Vec::new(),
            observed: Vec::new(),
            timers: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            now: Time(0),
            rng,
            latency,
            latency_salt,
            next_client: 0,
            ids: BTreeMap::new(),
            traces: BTreeMap::new(),
            outcomes: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Adds the node `make` builds from its id (its index) and the
    /// network's RNG.
    pub fn add_with(&mut self, make: impl FnOnce(PeerId, &mut ChaCha8Rng) -> P) -> PeerId {
        let id = PeerId(u32::try_from(self.nodes.len()).expect("fewer than 2^32 nodes"));
        let node = make(id, &mut self.rng);
        self.nodes.push(node);
        self.alive.push(true);
        self.load.push(0);
        self.watched.push(false);
        self.timers.push(None);
        id
    }

    /// Starts logging every message delivered to `id` (a passive
    /// adversary); see [`Network::take_observed`].
    pub fn watch(&mut self, id: PeerId) {
        self.watched[id.0 as usize] = true;
    }

    /// The messages watched nodes received since the last call, in order.
    pub fn take_observed(&mut self) -> Vec<Observed<ContentOf<P>>> {
        std::mem::take(&mut self.observed)
    }

    /// Wakes a node now, as if its timer fired (a driver starting a core
    /// whose first timeout it has not yet asked for).
    pub fn wake(&mut self, id: PeerId) {
        let now = self.now;
        self.nodes[id.0 as usize].handle(now, Input::Timeout, &mut self.rng);
        self.drain(id.0, None);
    }

    /// How many nodes were ever added (dead ones included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A node.
    pub fn node(&self, id: PeerId) -> &P {
        &self.nodes[id.0 as usize]
    }

    /// A node, to change it directly (bootstrap references, preloads).
    pub fn node_mut(&mut self, id: PeerId) -> &mut P {
        &mut self.nodes[id.0 as usize]
    }

    /// Every node with its id, dead ones included.
    pub fn nodes(&self) -> impl Iterator<Item = (PeerId, &P)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (PeerId(i as u32), n))
    }

    /// Messages delivered to `id` so far: the work the network gave it.
    pub fn load(&self, id: PeerId) -> u64 {
        self.load[id.0 as usize]
    }

    /// Whether a node is alive.
    pub fn is_alive(&self, id: PeerId) -> bool {
        self.alive[id.0 as usize]
    }

    /// Kills a node: from now on messages to it are lost, and their senders
    /// learn it is down.
    pub fn kill(&mut self, id: PeerId) {
        self.alive[id.0 as usize] = false;
    }

    /// The current virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The run's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The network's RNG, for scenarios to draw their workload from, so the
    /// whole run follows one seed.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// Asks `node`'s client interface to do `op` now; the answer arrives as
    /// an [`Outcome`] once the network has run.
    pub fn client(&mut self, node: PeerId, op: ClientOp<ContentOf<P>>) -> ClientId {
        let client = ClientId(self.next_client);
        self.next_client += 1;
        self.traces.insert(
            client,
            Trace {
                node: node.0,
                ids: Vec::new(),
                hops: 0,
                messages: 0,
                started: self.now,
            },
        );
        let now = self.now;
        let core = &mut self.nodes[node.0 as usize];
        core.handle(now, Input::Client { client, op }, &mut self.rng);
        self.drain(node.0, Some(client));
        client
    }

    /// Runs until no event is left or `max_events` were processed; returns
    /// how many were.
    pub fn run(&mut self, max_events: u64) -> u64 {
        let mut done = 0;
        while done < max_events {
            let Some(event) = self.queue.pop() else { break };
            self.now = self.now.max(event.at);
            self.process(event.kind);
            done += 1;
        }
        self.stats.events += done;
        done
    }

    /// Runs until no event is left.
    pub fn run_until_idle(&mut self) -> u64 {
        self.run(u64::MAX)
    }

    /// Runs every event due by `until`, then sets the clock to `until`
    /// (so periodic timers, which never let a network go idle, can run for
    /// a given time). Returns how many events ran.
    pub fn run_until(&mut self, until: Time) -> u64 {
        let mut done = 0;
        while self.queue.peek().is_some_and(|e| e.at <= until) {
            let event = self.queue.pop().expect("peeked");
            self.now = self.now.max(event.at);
            self.process(event.kind);
            done += 1;
        }
        self.now = self.now.max(until);
        self.stats.events += done;
        done
    }

    /// The outcomes recorded since the last call, in the order they came.
    pub fn take_outcomes(&mut self) -> Vec<Outcome<ContentOf<P>>> {
        std::mem::take(&mut self.outcomes)
    }

    /// Runs `op` at `node` to completion (and lets the network go idle).
    pub fn run_op(&mut self, node: PeerId, op: ClientOp<ContentOf<P>>) -> Outcome<ContentOf<P>> {
        let client = self.client(node, op);
        self.run_until_idle();
        self.take_outcome(client)
            .expect("every client request ends in an outcome once the network is idle")
    }

    /// Runs `op` at `node` until it is answered, and no further: for
    /// networks whose periodic timers never let them go idle. `None` if the
    /// events ran out first (it cannot be answered).
    pub fn run_op_answered(
        &mut self,
        node: PeerId,
        op: ClientOp<ContentOf<P>>,
    ) -> Option<Outcome<ContentOf<P>>> {
        let client = self.client(node, op);
        while self.traces.contains_key(&client) {
            let event = self.queue.pop()?;
            self.now = self.now.max(event.at);
            self.process(event.kind);
            self.stats.events += 1;
        }
        self.take_outcome(client)
    }

    fn take_outcome(&mut self, client: ClientId) -> Option<Outcome<ContentOf<P>>> {
        let at = self.outcomes.iter().position(|o| o.client == client)?;
        Some(self.outcomes.remove(at))
    }

    fn link_latency(&self, a: u32, b: u32) -> u64 {
        let (lo, hi) = (a.min(b) as u64, a.max(b) as u64);
        let x = crate::routing::freenet::mix(self.latency_salt ^ (lo << 32 | hi));
        let span = self.latency.max_ms.saturating_sub(self.latency.min_ms) + 1;
        self.latency.min_ms + x % span
    }

    fn schedule(&mut self, at: Time, kind: EventKind<ContentOf<P>>) {
        self.seq += 1;
        self.queue.push(Event {
            at,
            seq: self.seq,
            kind,
        });
    }

    fn process(&mut self, kind: EventKind<ContentOf<P>>) {
        let now = self.now;
        match kind {
            EventKind::Deliver { from, to, msg } => {
                if !self.alive[to as usize] {
                    self.stats.lost += 1;
                    let back = now.plus_ms(self.link_latency(from, to));
                    self.schedule(
                        back,
                        EventKind::Unreachable {
                            node: from,
                            peer: to,
                        },
                    );
                    return;
                }
                self.load[to as usize] += 1;
                if self.watched[to as usize] {
                    self.observed.push(Observed {
                        at: now,
                        at_node: PeerId(to),
                        from: PeerId(from),
                        msg: msg.clone(),
                    });
                }
                // A stem gives its message a new id on every hop, and its
                // end routes it under another: what the receiver sends
                // under new ids belongs to the same client request.
                let cause = match &msg {
                    Msg::StemRequest { id, .. } | Msg::StemInsert { id, .. } => {
                        self.ids.get(id).copied()
                    }
                    _ => None,
                };
                let input = Input::Message {
                    from: PeerId(from),
                    msg,
                };
                self.nodes[to as usize].handle(now, input, &mut self.rng);
                self.drain(to, cause);
            }
            EventKind::Timer { node } => {
                if self.timers[node as usize] != Some(now) || !self.alive[node as usize] {
                    return;
                }
                self.timers[node as usize] = None;
                self.nodes[node as usize].handle(now, Input::Timeout, &mut self.rng);
                self.drain(node, None);
            }
            EventKind::Unreachable { node, peer } => {
                if self.alive[node as usize] {
                    self.nodes[node as usize].handle(
                        now,
                        Input::PeerDown(PeerId(peer)),
                        &mut self.rng,
                    );
                    self.drain(node, None);
                }
            }
        }
    }

    /// Carries out a node's outputs; `client` is set while handling a new
    /// client request, so its request id can be traced.
    fn drain(&mut self, node: u32, client: Option<ClientId>) {
        while let Some(output) = self.nodes[node as usize].poll() {
            match output {
                Output::Send { to, msg } => {
                    if let Some(id) = msg.id() {
                        if let Some(c) = client
                            && let Some(trace) = self.traces.get_mut(&c)
                            && !trace.ids.contains(&id)
                        {
                            trace.ids.push(id);
                            self.ids.insert(id, c);
                        }
                        if let Some(trace) = self.ids.get(&id).and_then(|c| self.traces.get_mut(c))
                        {
                            trace.messages += 1;
                            if msg.is_hop() {
                                trace.hops += 1;
                            }
                        }
                    }
                    self.stats.messages += 1;
                    *self.stats.by_kind.entry(msg.name()).or_default() += 1;
                    let at = self.now.plus_ms(self.link_latency(node, to.0));
                    self.schedule(
                        at,
                        EventKind::Deliver {
                            from: node,
                            to: to.0,
                            msg,
                        },
                    );
                }
                Output::Reply { client, result } => {
                    if let Some(trace) = self.traces.remove(&client) {
                        for id in &trace.ids {
                            self.ids.remove(id);
                        }
                        self.outcomes.push(Outcome {
                            node: trace.node,
                            client,
                            result,
                            hops: trace.hops,
                            messages: trace.messages,
                            elapsed: Time(self.now.0 - trace.started.0),
                            ids: trace.ids,
                        });
                    }
                }
                Output::DropPeer { .. } => self.stats.drops += 1,
            }
        }
        if let Some(at) = self.nodes[node as usize].poll_timeout() {
            let at = at.max(self.now);
            if self.timers[node as usize].is_none_or(|t| at < t) {
                self.timers[node as usize] = Some(at);
                self.schedule(at, EventKind::Timer { node });
            }
        }
    }
}
