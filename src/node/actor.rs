//! The node's actor: one task that owns the routing core, the peer
//! directory and the links, and the small tasks that drive the sockets.
//!
//! Nothing but the actor touches the core. Link tasks (a reader and a
//! writer per link, connect tasks, the acceptor) talk to it through one
//! event channel; [`NodeHandle`](super::NodeHandle)s through the command
//! channel. The actor waits on both, on the core's next deadline and on the
//! next reconnection to a seed, feeds what comes to the core, and carries
//! out what the core asks.
//!
//! Peer management ([`PeerConfig`]) lives here too: the peer limit, the
//! reconnection backoff and the per-peer rate limit in the actor; keepalive
//! pings, dead-link detection, cover traffic and timed rekeys in each
//! link's reader and writer tasks, which report to the actor.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::rngs::OsRng;
use rand_chacha::ChaCha20Rng;
use tokio::net::TcpListener;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::MissedTickBehavior;

use super::backoff::Backoff;
use super::core::NodeCore;
use super::directory::{Directory, ME};
use super::heal::HealStats;
use super::join::JoinState;
use super::saved::{self, SAVE_EVERY, Saved, SavedPeer};
use super::{DEAD_AFTER_KEEPALIVES, LINK_TIMEOUT, NodeConfig, NodeStats, PeerConfig, Trace};
use crate::block::Block;
use crate::key::hash::sha256;
use crate::key::{Location, NodeKey};
use crate::link::{Identity, Link, LinkError, LinkReader, LinkWriter};
use crate::routing::{
    BlockContent, ChordRef, ClientId, ClientOp, ClientResult, Input, Msg, Output, PeerId, Store,
    Time,
};
use crate::wire::{
    ChordPeer, FRAME_PADDING, FrameDecoder, MAX_SUCCESSORS, Message, NodeRef, RequestId,
};

/// Messages queued for one link's writer before the actor stops adding.
const WRITE_QUEUE: usize = 256;

/// Messages held for a peer while its link is being opened.
const CONNECT_QUEUE: usize = 64;

/// Incoming handshakes in progress at once. A connection beyond it ends
/// the oldest unfinished handshake, so that sockets left silent cannot
/// keep anyone else out.
const MAX_HANDSHAKES: usize = 64;

/// Incoming handshakes in progress at once from one IP address; beyond it
/// the oldest from that address ends.
const MAX_HANDSHAKES_PER_ADDR: usize = 16;

/// How long an incoming handshake may take. Shorter than [`LINK_TIMEOUT`]
/// (which bounds the initiator's TCP connection and handshake): the
/// handshake is three records, so even a slow path finishes well within it.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Links kept open to one peer (one identity). A new link beyond it closes
/// the oldest, so a key cannot pile up links, and messages go out on the
/// newest: the one a reconnecting peer is listening on.
const MAX_LINKS_PER_PEER: usize = 2;

/// How long a link must have carried nothing but keepalives (or a
/// keepalive interval, if shorter) before a new peer may displace it at
/// the peer limit. It bounds the rate of displacements to `max_peers` per
/// this interval, and a link in use is never displaced.
const DISPLACE_IDLE: Duration = Duration::from_secs(2);

/// Request ids sent to a peer that the actor remembers, to recognise the
/// answers that make it a peer that has served this node.
const MAX_ASKED: usize = 256;

/// Padding frames a second one link may send on average, and at once:
/// twice the most cover traffic a node may be configured to send. A link
/// that sends more is flooding.
const PADDING_RATE: u32 = 2 * super::MAX_COVER_RATE;
const PADDING_BURST: u32 = 4 * super::MAX_COVER_RATE;

/// How long one write to a link may take (its peer not reading what it is
/// sent) before the link is closed as stalled.
const STALL_AFTER: Duration = Duration::from_secs(10);

/// Least time between two log lines about one peer's full send queue.
const FULL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Events from link tasks.
const EVENT_QUEUE: usize = 1024;
/// Events handled together when more are waiting: their store commits
/// share one sync, made before any of the messages they produced leave.
const EVENT_BATCH: usize = 64;

/// How long a peer dropped for flooding may not link to this node again.
const FLOOD_BAN: Duration = Duration::from_secs(600);

/// Most identities banned at once; the one whose ban ends first makes room.
const MAX_BANNED: usize = 1024;

/// Peers whose backoff is remembered before long-expired ones are dropped.
const MAX_RETRY: usize = 1024;

/// Peers the directory remembers; beyond it, the longest-known ones that
/// nothing uses (no link, no reference in the core, no seed, no backoff)
/// are forgotten.
const MAX_DIRECTORY: usize = 4096;

/// What a [`super::NodeHandle`] asks of the actor.
#[derive(Debug)]
pub(super) enum Command {
    /// A client request for the core.
    Op {
        op: ClientOp<BlockContent>,
        reply: oneshot::Sender<ClientResult<BlockContent>>,
    },
    /// Keep a verified block in this node's own store, sending nothing.
    Preload {
        key: NodeKey,
        block: Block,
        reply: oneshot::Sender<bool>,
    },
    /// Whether the store holds a key.
    Holds {
        key: NodeKey,
        reply: oneshot::Sender<bool>,
    },
    /// A snapshot of the node.
    Stats { reply: oneshot::Sender<NodeStats> },
    /// Stop; answered once the store is closed.
    Shutdown { reply: oneshot::Sender<()> },
}

/// What link tasks tell the actor.
enum Event {
    /// An incoming connection completed its handshake.
    Accepted { link: Link },
    /// An outgoing connection to `peer` completed its handshake.
    Connected { peer: PeerId, link: Link },
    /// An outgoing connection to `peer` failed.
    ConnectFailed { peer: PeerId, error: LinkError },
    /// A message arrived on link `link` from `peer`.
    Message {
        peer: PeerId,
        link: u64,
        msg: Message,
    },
    /// Link `link` to `peer` ended.
    Down {
        peer: PeerId,
        link: u64,
        error: LinkError,
    },
    /// Link `link` to `peer` received nothing for `silent`.
    Dead {
        peer: PeerId,
        link: u64,
        silent: Duration,
    },
    /// Link `link` to `peer` sent more of something than any honest peer
    /// does (`what`).
    Flood {
        peer: PeerId,
        link: u64,
        what: &'static str,
    },
}

/// One open link to a peer. A peer can have [`MAX_LINKS_PER_PEER`] (both
/// sides connected at once, or a peer that reconnected before its old link
/// ended); messages go out on the newest, and arrive on all.
struct Slot {
    id: u64,
    tx: mpsc::Sender<Message>,
    reader: AbortHandle,
}

/// A peer with at least one open link.
struct Linked {
    slots: Vec<Slot>,
    /// Its request allowance ([`PeerConfig::request_rate`]).
    bucket: TokenBucket,
    /// When a message other than `Ping` or `Pong` last went either way:
    /// the order in which idle links are closed to make room.
    last_used: Instant,
    /// Ids of the last requests, inserts and announcements sent to the
    /// peer (at most [`MAX_ASKED`]).
    asked: VecDeque<RequestId>,
    /// Replies to those that served this node (data, an insert taken, a
    /// join helped): a peer that has served is never displaced by a new
    /// one.
    served: u64,
    /// Messages dropped on a full queue, and when that was last logged.
    dropped: u64,
    logged_full: Option<Instant>,
}

impl Linked {
    fn new(settings: &PeerConfig, now: Instant) -> Linked {
        Linked {
            slots: Vec::new(),
            bucket: TokenBucket::new(settings.request_rate, settings.request_burst, now),
            last_used: now,
            asked: VecDeque::new(),
            served: 0,
            dropped: 0,
            logged_full: None,
        }
    }

    /// Remembers that request `id` went to the peer.
    fn ask(&mut self, id: RequestId) {
        if self.asked.len() >= MAX_ASKED {
            self.asked.pop_front();
        }
        self.asked.push_back(id);
    }
}

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket; a `rate` of 0 never runs out.
    fn new(rate: u32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            at: now,
        }
    }

    /// Takes one token; `false` if there is none.
    fn take(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The reconnection state of a peer whose last link or connect failed.
#[derive(Clone, Copy, Debug)]
struct Retry {
    /// The waits its next failures draw.
    backoff: Backoff,
    /// No new link to the peer before this.
    until: Instant,
}

/// Counters the link tasks and the actor share; read by `stats`.
#[derive(Debug, Default)]
struct Counters {
    cover_sent: AtomicU64,
    cover_received: AtomicU64,
    pings_sent: AtomicU64,
    connects: AtomicU64,
    dead_links: AtomicU64,
    lost_links: AtomicU64,
    refused: AtomicU64,
    flooders_dropped: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What each link's tasks need to know.
#[derive(Clone, Copy, Debug)]
struct LinkTimers {
    keepalive: Duration,
    /// The cover traffic period, if on.
    cover: Option<Duration>,
}

/// A link being opened, and what waits to go out on it.
struct Connecting {
    task: AbortHandle,
    queued: Vec<Message>,
}

/// The actor's state.
pub(super) struct Actor {
    core: NodeCore,
    rng: ChaCha20Rng,
    /// `Time(0)`.
    start: Instant,
    dir: Directory,
    identity: Arc<Identity>,
    listen: SocketAddr,
    trace: Option<Trace>,
    settings: PeerConfig,
    links: BTreeMap<PeerId, Linked>,
    connecting: BTreeMap<PeerId, Connecting>,
    /// The seeds: reconnected to on their own after a failure.
    seeds: BTreeSet<PeerId>,
    /// Peers whose last link or connect failed, and when to try again.
    retry: BTreeMap<PeerId, Retry>,
    /// Identities dropped for flooding, and until when they stay out.
    banned: BTreeMap<[u8; 32], Instant>,
    counters: Arc<Counters>,
    /// Whether the node has joined; told when a seed is linked again.
    join: Arc<JoinState>,
    clients: BTreeMap<ClientId, oneshot::Sender<ClientResult<BlockContent>>>,
    next_client: u64,
    next_link: u64,
    events_tx: mpsc::Sender<Event>,
    events_rx: Option<mpsc::Receiver<Event>>,
    /// Inputs the actor itself owes the core (a peer it found gone while
    /// carrying out outputs), fed after the current ones.
    inputs: VecDeque<Input<BlockContent>>,
    /// Messages the core sent after it asked for a store commit, held
    /// until the store has synced ([`Actor::release`]).
    held: Vec<(PeerId, Message)>,
    /// Where the node's place in the network is saved ([`saved`]).
    data_dir: PathBuf,
    /// What was last saved there.
    saved: Option<Saved>,
}

impl Actor {
    /// The actor of a node bound to `listen`, with `config`'s trace, peer
    /// settings (clamped) and data directory.
    pub(super) fn new(
        core: NodeCore,
        rng: ChaCha20Rng,
        identity: Identity,
        listen: SocketAddr,
        join: Arc<JoinState>,
        config: &NodeConfig,
    ) -> Actor {
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        Actor {
            core,
            rng,
            start: Instant::now(),
            dir: Directory::new(identity.node_ref(listen)),
            identity: Arc::new(identity),
            listen,
            trace: config.trace.clone(),
            settings: config.peers.clamped(),
            links: BTreeMap::new(),
            connecting: BTreeMap::new(),
            seeds: BTreeSet::new(),
            retry: BTreeMap::new(),
            banned: BTreeMap::new(),
            counters: Arc::default(),
            join,
            clients: BTreeMap::new(),
            next_client: 0,
            next_link: 0,
            events_tx,
            events_rx: Some(events_rx),
            inputs: VecDeque::new(),
            held: Vec::new(),
            data_dir: config.data_dir.clone(),
            saved: None,
        }
    }

    /// Adds a reference kept from the node's last run. Before
    /// [`Actor::run`].
    pub(super) fn add_reference(&mut self, location: Location, node: NodeRef) {
        let peer = self.dir.intern(node);
        self.core.add_seed(location, peer);
    }

    /// Adds a seed to the directory and references it at the location its
    /// key gives it. Before [`Actor::run`].
    pub(super) fn add_seed(&mut self, seed: NodeRef) -> PeerId {
        let peer = self.dir.intern(seed);
        self.core
            .add_seed(Location::from_hash(&sha256(&seed.identity)), peer);
        self.seeds.insert(peer);
        peer
    }

    /// The actor's loop, until shutdown or until every handle is dropped.
    /// `alive` is never sent on: the tasks that must end with the node
    /// (the join retries) watch for it to be dropped, which it is once the
    /// node has stopped.
    pub(super) async fn run(
        mut self,
        listener: TcpListener,
        mut commands: mpsc::Receiver<Command>,
        alive: oneshot::Sender<()>,
    ) {
        let acceptor = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&self.identity),
            self.events_tx.clone(),
        ));
        let mut events = self.events_rx.take().expect("run is called once");
        let mut save = tokio::time::interval(SAVE_EVERY);
        save.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let done = loop {
            let deadline = self.core.poll_timeout().map(|t| self.instant(t));
            let reconnect = self.next_reconnect().map(tokio::time::Instant::from_std);
            tokio::select! {
                command = commands.recv() => match command {
                    None => break None,
                    Some(Command::Shutdown { reply }) => {
                        // Leave gracefully: a Chord node hands its keys to
                        // its successor and tells its neighbours, whose
                        // links drain what is queued before they close.
                        let client = ClientId(self.next_client);
                        self.next_client += 1;
                        self.feed(Input::Client { client, op: ClientOp::Leave });
                        break Some(reply);
                    }
                    Some(command) => self.on_command(command),
                },
                Some(event) = events.recv() => {
                    self.on_event(event);
                    for _ in 1..EVENT_BATCH {
                        let Ok(event) = events.try_recv() else { break };
                        self.on_event(event);
                    }
                }
                () = sleep_until(deadline) => self.feed(Input::Timeout),
                () = sleep_until(reconnect) => self.reconnect_seeds(),
                _ = save.tick() => self.save_place(),
            }
            self.release();
        };
        self.release();
        self.save_place();
        acceptor.abort();
        for (_, connecting) in std::mem::take(&mut self.connecting) {
            connecting.task.abort();
        }
        for linked in std::mem::take(&mut self.links).into_values() {
            for slot in linked.slots {
                // Dropping the sender lets the writer close its side cleanly.
                slot.reader.abort();
            }
        }
        let me = self.dir.me();
        // Closes the store (flushing its recency) before answering.
        drop(self);
        tracing::info!(node = %me, "node stopped");
        drop(alive);
        if let Some(reply) = done {
            let _ = reply.send(());
        }
    }

    /// Writes the node's place in the network (its location, its
    /// references) to its data directory if it changed since last time.
    fn save_place(&mut self) {
        let mut peers: Vec<SavedPeer> = self
            .core
            .known_peers()
            .into_iter()
            .filter_map(|(location, peer)| {
                Some(SavedPeer {
                    location: location.0,
                    node: self.dir.node_ref(peer).filter(|_| peer != ME)?.to_string(),
                })
            })
            .collect();
        peers.truncate(saved::MAX_PEERS);
        let place = Saved {
            mode: self.core.mode(),
            location: self.core.location().0,
            peers,
        };
        if self.saved.as_ref() == Some(&place) || place.peers.is_empty() {
            return;
        }
        match saved::store(&self.data_dir, &place) {
            Ok(()) => self.saved = Some(place),
            Err(error) => tracing::warn!(%error, "could not save the node's peers"),
        }
    }

    fn now(&self) -> Time {
        Time(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn instant(&self, t: Time) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.start + Duration::from_micros(t.0))
    }

    // ---- the core ----

    /// Feeds `input` to the core and carries out everything it asks, then
    /// the same for any input that caused.
    fn feed(&mut self, input: Input<BlockContent>) {
        self.inputs.push_back(input);
        self.feed_queued();
    }

    /// Feeds the inputs queued so far, and those their outputs queue.
    fn feed_queued(&mut self) {
        while let Some(input) = self.inputs.pop_front() {
            let now = self.now();
            self.core.handle(now, input, &mut self.rng);
            while let Some(output) = self.core.poll() {
                self.on_output(output);
            }
        }
    }

    /// Makes the store commit the inputs handled since the last call asked
    /// for, with one sync, then sends the messages held back for it (and
    /// feeds the core what sending them caused, until nothing is held).
    fn release(&mut self) {
        loop {
            self.core.store_mut().sync_if_owed();
            if self.held.is_empty() {
                return;
            }
            for (to, msg) in std::mem::take(&mut self.held) {
                self.send_to(to, msg);
            }
            self.feed_queued();
        }
    }

    fn on_output(&mut self, output: Output<BlockContent>) {
        match output {
            Output::Send { to, msg } => {
                if to == ME {
                    // A reference to this node came back through the
                    // network; it is not a peer.
                    tracing::debug!(
                        msg = msg.name(),
                        "core addressed this node; treating it as down"
                    );
                    self.inputs.push_back(Input::PeerDown(ME));
                    return;
                }
                if let Some(trace) = &self.trace {
                    trace.count(&msg);
                }
                match self.translate_out(msg) {
                    // Held back while a store commit is owed, in order.
                    Some(wire) if self.core.store().sync_owed() || !self.held.is_empty() => {
                        self.held.push((to, wire));
                    }
                    Some(wire) => self.send_to(to, wire),
                    None => {
                        tracing::warn!(peer = ?to, "message names a peer not in the directory; not sent")
                    }
                }
            }
            Output::Reply { client, result } => {
                // A join just gave the node its place: keep it at once.
                let joined = matches!(result, ClientResult::Joined(_));
                if let Some(reply) = self.clients.remove(&client) {
                    let _ = reply.send(result);
                }
                if joined {
                    self.save_place();
                }
            }
            Output::DropPeer { peer, reason } => self.drop_peer(peer, reason),
        }
    }

    /// The wire form of a core message: peer ids become node references.
    fn translate_out(&self, msg: Msg<BlockContent>) -> Option<Message> {
        let node = |peer| self.dir.node_ref(peer);
        Some(match msg {
            Msg::Request { id, key, htl } => Message::Request { id, key, htl },
            Msg::StemRequest { id, key } => Message::StemRequest { id, key },
            Msg::InsertOffer {
                id,
                key,
                htl,
                source,
            } => Message::InsertOffer {
                id,
                key,
                htl,
                source: node(source)?,
            },
            Msg::InsertAccepted { id } => Message::InsertAccepted { id },
            Msg::InsertData { id, data } => Message::InsertData { id, block: data },
            Msg::StemInsert { id, key, data } => Message::StemInsert {
                id,
                key,
                block: data,
            },
            Msg::Insert {
                id,
                key,
                htl,
                source,
                data,
            } => Message::Insert {
                id,
                key,
                htl,
                source: node(source)?,
                block: data,
            },
            Msg::DataFound { id, source, data } => Message::DataFound {
                id,
                source: node(source)?,
                block: data,
            },
            Msg::DataNotFound { id } => Message::DataNotFound { id },
            Msg::RouteNotFound { id, htl } => Message::RouteNotFound { id, htl },
            Msg::RejectedLoop { id } => Message::RejectedLoop { id },
            Msg::InsertReply { id } => Message::InsertReply { id },
            Msg::Announce {
                id,
                htl,
                joiner,
                commitment,
            } => Message::Announce {
                id,
                htl,
                joiner: node(joiner)?,
                commitment,
            },
            Msg::AnnounceReply { id, seeds } => Message::AnnounceReply { id, seeds },
            Msg::AnnounceComplete { id, seeds } => Message::AnnounceComplete { id, seeds },
            Msg::FindSuccessor { id, target, hops } => Message::FindSuccessor { id, target, hops },
            Msg::SuccessorFound { id, node, hops } => Message::SuccessorFound {
                id,
                node: self.chord_peer(node)?,
                hops,
            },
            Msg::Notify { node } => Message::Notify {
                node: self.chord_peer(node)?,
            },
            Msg::GetPredecessor { id } => Message::GetPredecessor { id },
            Msg::Predecessor { id, node } => Message::Predecessor {
                id,
                node: match node {
                    Some(n) => Some(self.chord_peer(n)?),
                    None => None,
                },
            },
            Msg::GetSuccessorList { id } => Message::GetSuccessorList { id },
            Msg::SuccessorList { id, nodes } => Message::SuccessorList {
                id,
                nodes: self.chord_peers(nodes),
            },
            Msg::StoreTransfer { id, key, data } => Message::StoreTransfer {
                id,
                key,
                block: data,
            },
            Msg::TransferAck { id } => Message::TransferAck { id },
            Msg::StoreOffer { id, keys } => Message::StoreOffer { id, keys },
            Msg::StoreWant { id, keys } => Message::StoreWant { id, keys },
            Msg::Leave {
                predecessor,
                successors,
            } => Message::Leave {
                predecessor: predecessor.and_then(|p| self.chord_peer(p)),
                successors: self.chord_peers(successors),
            },
        })
    }

    /// A ring member's wire form, if its reference is known.
    fn chord_peer(&self, r: ChordRef) -> Option<ChordPeer> {
        Some(ChordPeer {
            location: r.location,
            node: self.dir.node_ref(r.peer)?,
        })
    }

    /// The wire form of a list of ring members (at most the wire's limit).
    fn chord_peers(&self, refs: Vec<ChordRef>) -> Vec<ChordPeer> {
        refs.into_iter()
            .filter_map(|r| self.chord_peer(r))
            .take(MAX_SUCCESSORS)
            .collect()
    }

    /// A ring member's core form. Its location must be the one its key
    /// gives it: a node may not choose where it sits on the ring.
    fn chord_ref(&mut self, p: ChordPeer) -> Result<ChordRef, &'static str> {
        if p.location != Location::from_hash(&sha256(&p.node.identity)) {
            return Err("a Chord peer's location is not the hash of its key");
        }
        Ok(ChordRef {
            peer: self.dir.intern(p.node),
            location: p.location,
        })
    }

    /// The core form of a wire message: node references become peer ids
    /// (new ones are added to the directory). `Ok(None)` for messages the
    /// core does not handle (`Ping` and `Pong`); an error names why the
    /// message is bad.
    fn translate_in(&mut self, msg: Message) -> Result<Option<Msg<BlockContent>>, &'static str> {
        Ok(Some(match msg {
            Message::Request { id, key, htl } => Msg::Request { id, key, htl },
            Message::StemRequest { id, key } => Msg::StemRequest { id, key },
            Message::InsertOffer {
                id,
                key,
                htl,
                source,
            } => Msg::InsertOffer {
                id,
                key,
                htl,
                source: self.dir.intern(source),
            },
            Message::InsertAccepted { id } => Msg::InsertAccepted { id },
            Message::InsertData { id, block } => Msg::InsertData { id, data: block },
            Message::StemInsert { id, key, block } => Msg::StemInsert {
                id,
                key,
                data: block,
            },
            Message::Insert {
                id,
                key,
                htl,
                source,
                block,
            } => Msg::Insert {
                id,
                key,
                htl,
                source: self.dir.intern(source),
                data: block,
            },
            Message::DataFound { id, source, block } => Msg::DataFound {
                id,
                source: self.dir.intern(source),
                data: block,
            },
            Message::DataNotFound { id } => Msg::DataNotFound { id },
            Message::RouteNotFound { id, htl } => Msg::RouteNotFound { id, htl },
            Message::RejectedLoop { id } => Msg::RejectedLoop { id },
            Message::InsertReply { id } => Msg::InsertReply { id },
            Message::Announce {
                id,
                htl,
                joiner,
                commitment,
            } => Msg::Announce {
                id,
                htl,
                joiner: self.dir.intern(joiner),
                commitment,
            },
            Message::AnnounceReply { id, seeds } => Msg::AnnounceReply { id, seeds },
            Message::AnnounceComplete { id, seeds } => Msg::AnnounceComplete { id, seeds },
            Message::FindSuccessor { id, target, hops } => Msg::FindSuccessor { id, target, hops },
            Message::SuccessorFound { id, node, hops } => Msg::SuccessorFound {
                id,
                node: self.chord_ref(node)?,
                hops,
            },
            Message::Notify { node } => Msg::Notify {
                node: self.chord_ref(node)?,
            },
            Message::GetPredecessor { id } => Msg::GetPredecessor { id },
            Message::Predecessor { id, node } => Msg::Predecessor {
                id,
                node: node.map(|n| self.chord_ref(n)).transpose()?,
            },
            Message::GetSuccessorList { id } => Msg::GetSuccessorList { id },
            Message::SuccessorList { id, nodes } => Msg::SuccessorList {
                id,
                nodes: nodes
                    .into_iter()
                    .map(|n| self.chord_ref(n))
                    .collect::<Result<_, _>>()?,
            },
            Message::StoreTransfer { id, key, block } => Msg::StoreTransfer {
                id,
                key,
                data: block,
            },
            Message::TransferAck { id } => Msg::TransferAck { id },
            Message::StoreOffer { id, keys } => Msg::StoreOffer { id, keys },
            Message::StoreWant { id, keys } => Msg::StoreWant { id, keys },
            Message::Leave {
                predecessor,
                successors,
            } => Msg::Leave {
                predecessor: predecessor.map(|n| self.chord_ref(n)).transpose()?,
                successors: successors
                    .into_iter()
                    .map(|n| self.chord_ref(n))
                    .collect::<Result<_, _>>()?,
            },
            Message::Ping { .. } | Message::Pong { .. } => return Ok(None),
        }))
    }

    // ---- commands ----

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Op { op, reply } => {
                let client = ClientId(self.next_client);
                self.next_client += 1;
                self.clients.insert(client, reply);
                self.feed(Input::Client { client, op });
            }
            Command::Preload { key, block, reply } => {
                let _ = reply.send(self.core.preload(key, block));
            }
            Command::Holds { key, reply } => {
                let _ = reply.send(self.core.store().contains(&key));
            }
            Command::Stats { reply } => {
                let store = self.core.store();
                let c = &*self.counters;
                let _ = reply.send(NodeStats {
                    mode: self.core.mode(),
                    seeds: self.seeds.len(),
                    joined: self.join.joined(),
                    join_attempts: self.join.attempts(),
                    restored: self.join.restored(),
                    seed_error: self.join.seed_error(),
                    peers: self.links.len(),
                    known: self.dir.len(),
                    references: self.core.references(),
                    store_blocks: store.len(),
                    store_bytes: store.bytes(),
                    in_flight: self.core.in_flight(),
                    location: self.core.location(),
                    cover_sent: Counters::get(&c.cover_sent),
                    cover_received: Counters::get(&c.cover_received),
                    pings_sent: Counters::get(&c.pings_sent),
                    connects: Counters::get(&c.connects),
                    dead_links: Counters::get(&c.dead_links),
                    lost_links: Counters::get(&c.lost_links),
                    refused: Counters::get(&c.refused),
                    flooders_dropped: Counters::get(&c.flooders_dropped),
                    // Healing runs outside the actor; NodeHandle::stats fills it in.
                    heal: HealStats::default(),
                });
            }
            Command::Shutdown { .. } => unreachable!("handled by the loop"),
        }
    }

    // ---- links ----

    /// The reference of `peer`, for logs.
    fn show(&self, peer: PeerId) -> DisplayRef {
        DisplayRef(self.dir.node_ref(peer))
    }

    /// Sends `msg` to `peer` on its newest link, opening one if there is
    /// none and one may be opened; otherwise the peer is down for the core.
    fn send_to(&mut self, peer: PeerId, msg: Message) {
        let keepalive = matches!(msg, Message::Ping { .. } | Message::Pong { .. });
        let mut msg = msg;
        while let Some(linked) = self.links.get_mut(&peer) {
            let Some(slot) = linked.slots.last() else {
                self.links.remove(&peer);
                break;
            };
            let asked = is_asking(&msg).then(|| msg.request_id()).flatten();
            match slot.tx.try_send(msg) {
                Ok(()) => {
                    let now = Instant::now();
                    if !keepalive {
                        linked.last_used = now;
                    }
                    if let Some(id) = asked {
                        linked.ask(id);
                    }
                    return;
                }
                Err(TrySendError::Full(back)) => {
                    self.queue_full(peer, back);
                    return;
                }
                Err(TrySendError::Closed(back)) => {
                    // The writer ended; its `Down` event is on the way.
                    msg = back;
                    let id = slot.id;
                    self.remove_slot(peer, id);
                }
            }
        }
        if let Some(connecting) = self.connecting.get_mut(&peer) {
            if connecting.queued.len() < CONNECT_QUEUE {
                connecting.queued.push(msg);
            } else {
                tracing::debug!(peer = %self.show(peer), "connect queue full; message dropped");
                self.refuse_for(peer, &msg);
            }
            return;
        }
        if let Err(reason) = self.may_connect(peer) {
            tracing::debug!(peer = %self.show(peer), reason, "not connecting; the peer is down for now");
            // The core forgets a peer it is told is down, and only the
            // reconnection timer brings a seed back: a seed refused for
            // another reason than its own wait (this node's peer limit)
            // gets a wait of its own, or it would never be tried again.
            if self.seeds.contains(&peer) && !self.backing_off(peer, Instant::now()) {
                self.back_off(peer);
            }
            self.inputs.push_back(Input::PeerDown(peer));
            return;
        }
        if !self.connect(peer, vec![msg]) {
            self.inputs.push_back(Input::PeerDown(peer));
        }
    }

    /// `msg` could not be queued for `peer`: its newest link's queue is
    /// full, because the peer does not read what it is sent (a writer
    /// that cannot write for [`STALL_AFTER`] ends the link). A request
    /// going to it is refused on its behalf at once, so the core tries
    /// another peer instead of waiting out a timeout; anything else is
    /// dropped, logged once per [`FULL_LOG_EVERY`] with a count.
    fn queue_full(&mut self, peer: PeerId, msg: Message) {
        let now = Instant::now();
        let node = self.dir.node_ref(peer);
        let Some(linked) = self.links.get_mut(&peer) else {
            return;
        };
        linked.dropped += 1;
        if linked
            .logged_full
            .is_none_or(|at| now.saturating_duration_since(at) >= FULL_LOG_EVERY)
        {
            linked.logged_full = Some(now);
            tracing::warn!(
                peer = %DisplayRef(node),
                dropped = linked.dropped,
                "link send queue full: the peer is not reading; messages dropped"
            );
        }
        self.refuse_for(peer, &msg);
    }

    /// If `msg` is a request, insert or stem hop that could not go to
    /// `peer`, the core hears `RejectedLoop` for it from that peer: a
    /// refusal that costs no hops to live, after which it tries its next
    /// peer.
    fn refuse_for(&mut self, peer: PeerId, msg: &Message) {
        let refused = matches!(
            msg,
            Message::Request { .. }
                | Message::StemRequest { .. }
                | Message::Insert { .. }
                | Message::InsertOffer { .. }
                | Message::StemInsert { .. }
        );
        if let Some(id) = msg.request_id().filter(|_| refused) {
            self.inputs.push_back(Input::Message {
                from: peer,
                msg: Msg::RejectedLoop { id },
            });
        }
    }

    /// Whether a new outgoing link to `peer` may be opened now. At the peer
    /// limit this makes room by closing the least recently used idle link.
    fn may_connect(&mut self, peer: PeerId) -> Result<(), &'static str> {
        let now = Instant::now();
        if self
            .dir
            .node_ref(peer)
            .is_some_and(|node| self.is_banned(&node.identity, now))
        {
            return Err("dropped recently for flooding");
        }
        if self.backing_off(peer, now) {
            return Err("backing off after a failed link");
        }
        if self.peer_count() >= self.settings.max_peers && !self.make_room(now, false) {
            return Err("peer limit reached and every link is busy or protected");
        }
        Ok(())
    }

    /// Whether `peer` is waiting out a backoff at `now`.
    fn backing_off(&self, peer: PeerId, now: Instant) -> bool {
        self.retry.get(&peer).is_some_and(|r| r.until > now)
    }

    /// Peers with a link or a link being opened.
    fn peer_count(&self) -> usize {
        self.links.len()
            + self
                .connecting
                .keys()
                .filter(|p| !self.links.contains_key(p))
                .count()
    }

    /// Makes room at the peer limit by closing the links of the least
    /// recently used peer that has been idle (carried nothing but
    /// keepalives) for a keepalive interval or [`DISPLACE_IDLE`], whichever
    /// is shorter; whether it did. For a peer that links in (`incoming`),
    /// seeds and peers that have served this node (answered a request it
    /// sent them) are never closed: a newcomer may take the place of a
    /// peer that does nothing, not of one this node relies on. For a link
    /// this node opens itself, any idle peer may go. The peer is not
    /// reported down: it is alive, and the core may keep its references
    /// and reach it again through a new link.
    fn make_room(&mut self, now: Instant, incoming: bool) -> bool {
        let idle_for = self.settings.keepalive.min(DISPLACE_IDLE);
        let idle = self
            .links
            .iter()
            .filter(|(peer, l)| !incoming || (l.served == 0 && !self.seeds.contains(peer)))
            .filter(|(_, l)| now.saturating_duration_since(l.last_used) >= idle_for)
            .min_by_key(|(_, l)| l.last_used)
            .map(|(&peer, _)| peer);
        let Some(peer) = idle else {
            return false;
        };
        tracing::info!(peer = %self.show(peer), "peer limit reached; closing the least recently used idle link");
        self.close_peer(peer);
        true
    }

    /// Spawns a task that opens a link to `peer` and sends `queued` on it;
    /// `false` if the peer has no reference to connect to.
    fn connect(&mut self, peer: PeerId, queued: Vec<Message>) -> bool {
        let Some(node) = self.dir.node_ref(peer) else {
            tracing::warn!(?peer, "no reference for a peer; treating it as down");
            return false;
        };
        if !dialable(node.addr, self.listen) {
            tracing::debug!(peer = %node, "not dialling an address no node can listen on");
            return false;
        }
        tracing::debug!(peer = %node, "connecting");
        Counters::add(&self.counters.connects, 1);
        let identity = Arc::clone(&self.identity);
        let listen = self.listen;
        let events = self.events_tx.clone();
        let task =
            tokio::spawn(async move {
                let event =
                    match Link::connect_to_listening(&node, &identity, Some(listen), LINK_TIMEOUT)
                        .await
                    {
                        Ok(link) => Event::Connected { peer, link },
                        Err(error) => Event::ConnectFailed { peer, error },
                    };
                let _ = events.send(event).await;
            });
        self.connecting.insert(
            peer,
            Connecting {
                task: task.abort_handle(),
                queued,
            },
        );
        true
    }

    /// A link to `peer` failed or could not be opened: no new link before
    /// the next wait of its [`Backoff`] (from `reconnect_min`, doubling up
    /// to `reconnect_max`).
    fn back_off(&mut self, peer: PeerId) {
        let now = Instant::now();
        let (min, max) = (self.settings.reconnect_min, self.settings.reconnect_max);
        let retry = self.retry.entry(peer).or_insert(Retry {
            backoff: Backoff::new(min, max),
            until: now,
        });
        let wait = retry.backoff.next_wait();
        retry.until = now + wait;
        tracing::debug!(peer = %DisplayRef(self.dir.node_ref(peer)), ?wait, "backing off");
        if self.retry.len() > MAX_RETRY {
            // Forget non-seeds whose wait ended long ago; their next
            // failure starts again from the shortest wait.
            let seeds = &self.seeds;
            self.retry
                .retain(|p, b| seeds.contains(p) || now.saturating_duration_since(b.until) < max);
        }
    }

    /// When the next seed is due for a reconnection attempt, if any.
    fn next_reconnect(&self) -> Option<Instant> {
        self.seeds
            .iter()
            .filter(|p| !self.links.contains_key(p) && !self.connecting.contains_key(p))
            .filter_map(|p| self.retry.get(p).map(|b| b.until))
            .min()
    }

    /// Reconnects to every seed whose wait is over.
    fn reconnect_seeds(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .seeds
            .iter()
            .filter(|p| !self.links.contains_key(p) && !self.connecting.contains_key(p))
            .filter(|p| self.retry.get(p).is_some_and(|b| b.until <= now))
            .copied()
            .collect();
        for peer in due {
            match self.may_connect(peer) {
                Ok(()) => {
                    tracing::info!(peer = %self.show(peer), "reconnecting to a seed");
                    if !self.connect(peer, Vec::new()) {
                        // Cannot happen for a seed (it has a reference);
                        // backing off keeps the timer from firing at once.
                        self.back_off(peer);
                    }
                }
                Err(reason) => {
                    tracing::debug!(peer = %self.show(peer), reason, "not reconnecting to a seed yet");
                    self.back_off(peer);
                }
            }
        }
    }

    fn is_banned(&self, identity: &[u8; 32], now: Instant) -> bool {
        self.banned.get(identity).is_some_and(|&until| until > now)
    }

    fn ban(&mut self, identity: [u8; 32]) {
        let now = Instant::now();
        self.banned.retain(|_, until| *until > now);
        if self.banned.len() >= MAX_BANNED {
            let first = self.banned.iter().min_by_key(|(_, until)| **until);
            if let Some((&first, _)) = first {
                self.banned.remove(&first);
            }
        }
        self.banned.insert(identity, now + FLOOD_BAN);
    }

    /// Starts the reader and writer tasks of a new link to `peer`, and
    /// sends what waited for it.
    fn add_link(&mut self, peer: PeerId, link: Link) {
        let (reader, writer) = link.into_split();
        let id = self.next_link;
        self.next_link += 1;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let timers = LinkTimers {
            keepalive: self.settings.keepalive,
            cover: (self.settings.cover_rate > 0)
                .then(|| Duration::from_secs(1) / self.settings.cover_rate),
        };
        let reader = tokio::spawn(read_loop(
            peer,
            id,
            reader,
            self.events_tx.clone(),
            timers,
            Arc::clone(&self.counters),
        ));
        tokio::spawn(write_loop(
            peer,
            id,
            writer,
            rx,
            self.events_tx.clone(),
            timers,
            Arc::clone(&self.counters),
        ));
        let now = Instant::now();
        let settings = self.settings;
        let linked = self
            .links
            .entry(peer)
            .or_insert_with(|| Linked::new(&settings, now));
        linked.slots.push(Slot {
            id,
            tx,
            reader: reader.abort_handle(),
        });
        if linked.slots.len() > MAX_LINKS_PER_PEER {
            // Dropping its sender lets the writer close the link cleanly.
            linked.slots.remove(0).reader.abort();
            tracing::debug!(peer = %DisplayRef(self.dir.node_ref(peer)), "a new link from a peer replaces its oldest");
        }
        if let Some(seed) = self
            .dir
            .node_ref(peer)
            .filter(|_| self.seeds.contains(&peer))
        {
            // The core forgot the seed when it went down; it is back.
            self.core
                .add_seed(Location::from_hash(&sha256(&seed.identity)), peer);
            self.join.seed_linked();
        }
        if let Some(connecting) = self.connecting.remove(&peer) {
            connecting.task.abort();
            for msg in connecting.queued {
                self.send_to(peer, msg);
            }
        }
    }

    /// Forgets link `id` of `peer` and stops its tasks; whether the peer
    /// has no link left.
    fn remove_slot(&mut self, peer: PeerId, id: u64) -> bool {
        let Some(linked) = self.links.get_mut(&peer) else {
            return true;
        };
        if let Some(i) = linked.slots.iter().position(|s| s.id == id) {
            linked.slots.remove(i).reader.abort();
        }
        if linked.slots.is_empty() {
            self.links.remove(&peer);
            true
        } else {
            false
        }
    }

    /// Closes every link to `peer`.
    /// Closes a misbehaving peer's links, with the reason in the log, and
    /// queues its `PeerDown` for the core.
    /// Closes a misbehaving peer's link, for a core's [`crate::routing::DropReason`] or a
    /// message this node could not translate.
    fn drop_peer(&mut self, peer: PeerId, reason: impl std::fmt::Display) {
        tracing::warn!(peer = %self.show(peer), %reason, "dropping a misbehaving peer");
        self.close_peer(peer);
        self.inputs.push_back(Input::PeerDown(peer));
    }

    /// Drops a peer that sent more `what` than its allowance, and bans its
    /// identity for [`FLOOD_BAN`].
    fn drop_flooder(&mut self, peer: PeerId, what: &'static str) {
        let node = self.dir.node_ref(peer);
        tracing::warn!(
            peer = %DisplayRef(node),
            what,
            rate = self.settings.request_rate,
            burst = self.settings.request_burst,
            "peer exceeded its allowance; dropping it"
        );
        Counters::add(&self.counters.flooders_dropped, 1);
        if let Some(node) = node {
            self.ban(node.identity);
        }
        self.close_peer(peer);
        self.feed(Input::PeerDown(peer));
    }

    fn close_peer(&mut self, peer: PeerId) {
        for slot in self.links.remove(&peer).into_iter().flat_map(|l| l.slots) {
            slot.reader.abort();
        }
        if let Some(connecting) = self.connecting.remove(&peer) {
            connecting.task.abort();
        }
    }

    /// Whether link `link` of `peer` is one the actor still has.
    fn is_linked(&self, peer: PeerId, link: u64) -> bool {
        self.links
            .get(&peer)
            .is_some_and(|l| l.slots.iter().any(|s| s.id == link))
    }

    /// Keeps the directory within [`MAX_DIRECTORY`].
    fn prune_directory(&mut self) {
        if self.dir.len() <= MAX_DIRECTORY {
            return;
        }
        let referenced: BTreeSet<PeerId> = self
            .core
            .known_peers()
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let forgot = self.dir.prune(MAX_DIRECTORY, |p| {
            referenced.contains(&p)
                || self.links.contains_key(&p)
                || self.connecting.contains_key(&p)
                || self.seeds.contains(&p)
                || self.retry.contains_key(&p)
        });
        tracing::debug!(forgot, "directory full; forgot peers no longer in use");
    }

    fn on_event(&mut self, event: Event) {
        if matches!(event, Event::Accepted { .. } | Event::Message { .. }) {
            self.prune_directory();
        }
        match event {
            Event::Accepted { link } => self.on_accepted(link),
            Event::Connected { peer, link } => {
                tracing::debug!(peer = %self.show(peer), "link connected");
                self.add_link(peer, link);
            }
            Event::ConnectFailed { peer, error } => {
                if self.connecting.remove(&peer).is_none() {
                    return;
                }
                tracing::warn!(peer = %self.show(peer), %error, "could not connect");
                if let Some(seed) = self
                    .dir
                    .node_ref(peer)
                    .filter(|_| self.seeds.contains(&peer))
                {
                    self.join.seed_failed(&seed, &error);
                }
                self.back_off(peer);
                if !self.links.contains_key(&peer) {
                    self.feed(Input::PeerDown(peer));
                }
            }
            Event::Message { peer, link, msg } => self.on_message(peer, link, msg),
            Event::Down { peer, link, error } => {
                if !self.is_linked(peer, link) {
                    return;
                }
                let node = self.show(peer);
                Counters::add(&self.counters.lost_links, 1);
                match &error {
                    LinkError::Closed => tracing::debug!(peer = %node, "link closed by the peer"),
                    LinkError::Wire(e) => {
                        tracing::warn!(peer = %node, error = %e, "peer sent an invalid message; dropping it");
                    }
                    e => tracing::warn!(peer = %node, error = %e, "link failed"),
                }
                let gone = if matches!(error, LinkError::Wire(_)) {
                    self.close_peer(peer);
                    true
                } else {
                    self.remove_slot(peer, link)
                };
                if gone {
                    // A peer that closed cleanly may be reached again on
                    // demand at once; a failed link, or a seed that went
                    // away, waits out a backoff. A dropped peer is not
                    // called back.
                    let failed = !matches!(error, LinkError::Closed | LinkError::Wire(_));
                    let seed_left =
                        matches!(error, LinkError::Closed) && self.seeds.contains(&peer);
                    if failed || seed_left {
                        self.back_off(peer);
                    }
                    self.feed(Input::PeerDown(peer));
                }
            }
            Event::Flood { peer, link, what } => {
                if self.is_linked(peer, link) {
                    self.drop_flooder(peer, what);
                }
            }
            Event::Dead { peer, link, silent } => {
                if !self.is_linked(peer, link) {
                    return;
                }
                tracing::warn!(peer = %self.show(peer), ?silent, "nothing received for too long; closing a dead link");
                Counters::add(&self.counters.dead_links, 1);
                if self.remove_slot(peer, link) {
                    self.back_off(peer);
                    self.feed(Input::PeerDown(peer));
                }
            }
        }
    }

    fn on_accepted(&mut self, link: Link) {
        let remote = link.remote_static();
        if self.is_banned(&remote, Instant::now()) {
            Counters::add(&self.counters.refused, 1);
            tracing::warn!(from = ?link.peer_addr(), "incoming link from a peer dropped recently for flooding; refused");
            return;
        }
        let claimed = link.remote_listen_addr();
        let listening = claimed.filter(|&addr| dialable(addr, self.listen));
        if let Some(addr) = claimed.filter(|_| listening.is_none()) {
            tracing::debug!(%addr, "a peer claimed a listening address no node can have; taken as none");
        }
        let peer = match listening {
            Some(addr) => {
                let peer = self.dir.intern(NodeRef {
                    identity: remote,
                    addr,
                });
                // The peer's own word, authenticated by its key, on where
                // it listens.
                if self.dir.set_addr(peer, addr) {
                    tracing::debug!(peer = %self.show(peer), "peer announced a new listening address");
                }
                peer
            }
            None => self.dir.find_identity(&remote).unwrap_or_else(|| {
                // Not listening, or not saying where: it can be
                // answered on this link but not reached later.
                let addr = link
                    .peer_addr()
                    .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
                self.dir.intern(NodeRef {
                    identity: remote,
                    addr,
                })
            }),
        };
        if peer == ME {
            tracing::warn!("a peer connected with this node's own key; closed");
            return;
        }
        let known = self.links.contains_key(&peer) || self.connecting.contains_key(&peer);
        if !known
            && self.peer_count() >= self.settings.max_peers
            && !self.make_room(Instant::now(), true)
        {
            Counters::add(&self.counters.refused, 1);
            tracing::warn!(
                peer = %self.show(peer),
                max_peers = self.settings.max_peers,
                "peer limit reached; incoming link refused"
            );
            return;
        }
        tracing::debug!(peer = %self.show(peer), "link accepted");
        self.add_link(peer, link);
    }

    fn on_message(&mut self, peer: PeerId, link: u64, msg: Message) {
        let now = Instant::now();
        let Some(linked) = self.links.get_mut(&peer) else {
            return;
        };
        if !linked.slots.iter().any(|s| s.id == link) {
            return;
        }
        // Every message counts but the replies to what this node asked the
        // peer: unsolicited answers and keepalives included, a peer may
        // not make this node work (verify, look up, log) for free; but
        // the answers to requests this node routed through it are this
        // node's own doing, however many.
        let solicited = is_reply(&msg)
            && msg
                .request_id()
                .is_some_and(|id| linked.asked.contains(&id));
        if !solicited && !linked.bucket.take(now) {
            self.drop_flooder(peer, "messages");
            return;
        }
        if solicited && serves(&msg) {
            linked.served += 1;
        }
        if !matches!(msg, Message::Ping { .. } | Message::Pong { .. }) {
            linked.last_used = now;
        }
        // The peer is evidently reachable: its next failure starts the
        // backoff afresh.
        self.retry.remove(&peer);
        match msg {
            Message::Ping { nonce } => {
                self.send_to(peer, Message::Pong { nonce });
                return;
            }
            // The answer to a keepalive; that it arrived is all it says.
            Message::Pong { .. } => return,
            _ => {}
        }
        let name = msg.name();
        match self.translate_in(msg) {
            Ok(Some(msg)) => self.feed(Input::Message { from: peer, msg }),
            Ok(None) => {
                tracing::debug!(msg = name, "ignoring a message the core does not handle");
            }
            Err(reason) => {
                tracing::debug!(msg = name, "a bad message");
                self.drop_peer(peer, reason);
                self.feed_queued();
            }
        }
    }
}

/// A node reference for logs, or `?` if unknown.
struct DisplayRef(Option<NodeRef>);

impl std::fmt::Display for DisplayRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(node) => write!(f, "{node}"),
            None => f.write_str("?"),
        }
    }
}

/// Whether a node may listen on `addr` and be dialled there (protocol
/// §11.2): a unicast address (not unspecified, multicast or broadcast)
/// with a port, and not this node's own `listen` address, which a peer
/// could claim under another key to make this node dial itself.
fn dialable(addr: SocketAddr, listen: SocketAddr) -> bool {
    let unicast = match addr.ip() {
        std::net::IpAddr::V4(ip) => {
            !(ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast())
        }
        std::net::IpAddr::V6(ip) => !(ip.is_unspecified() || ip.is_multicast()),
    };
    unicast && addr.port() != 0 && addr != listen
}

/// Whether `msg`, sent to a peer, asks it something it answers under the
/// same id.
fn is_asking(msg: &Message) -> bool {
    matches!(
        msg,
        Message::Request { .. }
            | Message::StemRequest { .. }
            | Message::Insert { .. }
            | Message::InsertOffer { .. }
            | Message::InsertData { .. }
            | Message::StemInsert { .. }
            | Message::Announce { .. }
            | Message::FindSuccessor { .. }
            | Message::GetPredecessor { .. }
            | Message::GetSuccessorList { .. }
            | Message::StoreTransfer { .. }
            | Message::StoreOffer { .. }
    )
}

/// Whether `msg`, received, replies under its id to something a node asked.
fn is_reply(msg: &Message) -> bool {
    matches!(
        msg,
        Message::DataFound { .. }
            | Message::DataNotFound { .. }
            | Message::RouteNotFound { .. }
            | Message::RejectedLoop { .. }
            | Message::InsertAccepted { .. }
            | Message::InsertReply { .. }
            | Message::AnnounceReply { .. }
            | Message::SuccessorFound { .. }
            | Message::Predecessor { .. }
            | Message::SuccessorList { .. }
            | Message::TransferAck { .. }
            | Message::StoreWant { .. }
    )
}

/// Whether `msg`, a reply, serves this node: data, an insert taken, a join
/// helped, a ring query answered (not a refusal or a miss).
fn serves(msg: &Message) -> bool {
    is_reply(msg)
        && !matches!(
            msg,
            Message::DataNotFound { .. }
                | Message::RouteNotFound { .. }
                | Message::RejectedLoop { .. }
                | Message::InsertAccepted { .. }
        )
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Accepts connections and answers their handshakes, each in its own task
/// bounded by [`ACCEPT_TIMEOUT`]. At [`MAX_HANDSHAKES_PER_ADDR`] from the
/// new connection's address, or [`MAX_HANDSHAKES`] in all, the oldest
/// unfinished handshake (from that address, or of all) is ended to make
/// room: an honest handshake takes milliseconds, so only sockets left
/// silent are ever old. Bytes that are not a handshake for this node end
/// the connection, with a log line.
async fn accept_loop(listener: TcpListener, identity: Arc<Identity>, events: mpsc::Sender<Event>) {
    let mut handshakes: JoinSet<u64> = JoinSet::new();
    // Unfinished handshakes, oldest first: (number, address, task).
    let mut pending: VecDeque<(u64, std::net::IpAddr, AbortHandle)> = VecDeque::new();
    let mut next = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, from)) => {
                    let ip = from.ip();
                    let oldest = if pending.iter().filter(|p| p.1 == ip).count() >= MAX_HANDSHAKES_PER_ADDR {
                        pending.iter().position(|p| p.1 == ip)
                    } else if pending.len() >= MAX_HANDSHAKES {
                        Some(0)
                    } else {
                        None
                    };
                    if let Some((_, old, task)) = oldest.and_then(|i| pending.remove(i)) {
                        tracing::debug!(%from, %old, "too many handshakes in progress; ending the oldest");
                        task.abort();
                    }
                    let identity = Arc::clone(&identity);
                    let events = events.clone();
                    let number = next;
                    next += 1;
                    let task = handshakes.spawn(async move {
                        match Link::accept(stream, &identity, ACCEPT_TIMEOUT).await {
                            Ok((link, _)) => {
                                let _ = events.send(Event::Accepted { link }).await;
                            }
                            Err(error) => {
                                tracing::debug!(%from, %error, "incoming connection rejected");
                            }
                        }
                        number
                    });
                    pending.push_back((number, ip, task));
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait a little.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(done) = handshakes.join_next(), if !handshakes.is_empty() => {
                // Finished or failed: it no longer holds a place (one
                // ended to make room was taken out when it was ended).
                if let Ok(number) = done {
                    pending.retain(|p| p.0 != number);
                }
            }
        }
    }
}

/// Passes what arrives on a link to the actor until the link ends, or
/// until it has received nothing (not even padding) for
/// [`DEAD_AFTER_KEEPALIVES`] keepalive intervals. Reads frame by frame, so
/// that padding is counted and any frame counts as a sign of life.
async fn read_loop(
    peer: PeerId,
    link: u64,
    mut reader: LinkReader,
    events: mpsc::Sender<Event>,
    timers: LinkTimers,
    counters: Arc<Counters>,
) {
    let dead_after = timers.keepalive * DEAD_AFTER_KEEPALIVES;
    let mut decoder = FrameDecoder::new();
    let mut heard = Instant::now();
    let mut padding = TokenBucket::new(PADDING_RATE, PADDING_BURST, heard);
    loop {
        // `recv` is cancel-safe: a timeout loses nothing.
        let event = match tokio::time::timeout(timers.keepalive, reader.recv()).await {
            Ok(Ok(frame)) => {
                heard = Instant::now();
                match decoder.push(&frame) {
                    Ok(Some(msg)) => Event::Message { peer, link, msg },
                    Ok(None) if frame[0] != FRAME_PADDING => continue,
                    Ok(None) if padding.take(heard) => {
                        Counters::add(&counters.cover_received, 1);
                        continue;
                    }
                    Ok(None) => Event::Flood {
                        peer,
                        link,
                        what: "padding frames",
                    },
                    Err(e) => Event::Down {
                        peer,
                        link,
                        error: LinkError::Wire(e),
                    },
                }
            }
            Ok(Err(error)) => Event::Down { peer, link, error },
            Err(_) if heard.elapsed() >= dead_after => Event::Dead {
                peer,
                link,
                silent: heard.elapsed(),
            },
            Err(_) => continue,
        };
        let last = !matches!(event, Event::Message { .. });
        if events.send(event).await.is_err() || last {
            return;
        }
    }
}

/// Sends what the actor queues for a link, and on its own: a `Ping` after
/// each keepalive interval without a message, a padding frame in each
/// cover interval without one (if cover traffic is on), and a rekey frame
/// when the key falls due. Closes the link when the actor drops the queue.
async fn write_loop(
    peer: PeerId,
    link: u64,
    mut writer: LinkWriter,
    mut queue: mpsc::Receiver<Message>,
    events: mpsc::Sender<Event>,
    timers: LinkTimers,
    counters: Arc<Counters>,
) {
    let start = tokio::time::Instant::now();
    let mut keepalive = tokio::time::interval_at(start + timers.keepalive, timers.keepalive);
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Cover: after every frame this link sends (a message, a ping, a
    // padding frame) the next padding frame is due an exponentially
    // distributed time later, of mean `period`. The times are memoryless,
    // so a lone message at some moment looks, in timing, like one more
    // padding frame: an observer sees a Poisson stream either way.
    let mut cover_at = timers
        .cover
        .map(|period| tokio::time::Instant::now() + exponential(period));
    // Whether a message went out since the last keepalive tick.
    let mut sent_since_ping = false;
    loop {
        let rekey_at = tokio::time::Instant::from_std(writer.rekey_deadline());
        // Each branch's send runs in the branch body, never as one of the
        // futures `select!` may drop: sends are not cancel-safe.
        let sent = tokio::select! {
            msg = queue.recv() => {
                let Some(msg) = msg else { break };
                sent_since_ping = true;
                stall_bound(writer.send_message(&msg)).await
            }
            _ = keepalive.tick() => {
                if std::mem::take(&mut sent_since_ping) {
                    Ok(())
                } else {
                    Counters::add(&counters.pings_sent, 1);
                    stall_bound(writer.send_message(&Message::Ping { nonce: OsRng.r#gen() })).await
                }
            }
            () = sleep_until(cover_at) => {
                Counters::add(&counters.cover_sent, 1);
                stall_bound(writer.send_padding()).await
            }
            () = tokio::time::sleep_until(rekey_at) => stall_bound(writer.rekey_if_due()).await,
        };
        if let Err(error) = sent {
            let _ = events.send(Event::Down { peer, link, error }).await;
            return;
        }
        if let (Some(period), Some(at)) = (timers.cover, cover_at.as_mut()) {
            *at = tokio::time::Instant::now() + exponential(period);
        }
    }
    let _ = stall_bound(writer.shutdown()).await;
}

/// `send`, or [`LinkError::Stalled`] if it cannot finish within
/// [`STALL_AFTER`]: a peer that reads nothing would otherwise hold the
/// writer (and the connection) forever. The link is unusable after either
/// error, and the writer ends.
async fn stall_bound(
    send: impl std::future::Future<Output = Result<(), LinkError>>,
) -> Result<(), LinkError> {
    tokio::time::timeout(STALL_AFTER, send)
        .await
        .unwrap_or(Err(LinkError::Stalled { after: STALL_AFTER }))
}

/// An exponentially distributed wait of mean `mean` (inverse transform of
/// a uniform draw from the OS RNG), capped at 20 means.
fn exponential(mean: Duration) -> Duration {
    let u: f64 = OsRng.gen_range(f64::EPSILON..1.0);
    mean.mul_f64((-u.ln()).min(20.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_bucket_allows_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, 5, t0);
        assert!((0..5).all(|_| bucket.take(t0)), "the burst");
        assert!(!bucket.take(t0), "then nothing at once");
        // 10 a second: one token every 100 ms, never more than the burst.
        assert!(bucket.take(t0 + Duration::from_millis(100)));
        assert!(!bucket.take(t0 + Duration::from_millis(150)));
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| bucket.take(later)).count(), 5);
    }

    #[test]
    fn only_unicast_addresses_with_a_port_other_than_our_own_are_dialled() {
        let me: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        for (addr, ok) in [
            ("127.0.0.1:9001", true),
            ("192.0.2.7:9000", true),
            ("[::1]:9000", true),
            ("127.0.0.1:9000", false),
            ("0.0.0.0:9000", false),
            ("127.0.0.1:0", false),
            ("224.0.0.1:9000", false),
            ("255.255.255.255:9000", false),
            ("[::]:9000", false),
            ("[ff02::1]:9000", false),
        ] {
            assert_eq!(dialable(addr.parse().unwrap(), me), ok, "{addr}");
        }
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(0, 1, t0);
        assert!((0..10_000).all(|_| bucket.take(t0)));
    }

    #[tokio::test]
    async fn a_seed_refused_by_the_peer_limit_is_reconnected_later() {
        use rand::SeedableRng;

        use crate::routing::{ChordConfig, Config};
        use crate::store::DiskStore;

        let dir = std::env::temp_dir().join(format!("fog-actor-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let me = PeerId(0);
        let core = NodeCore::new(
            super::super::Mode::Freenet,
            Config {
                me,
                ..Config::default()
            },
            ChordConfig {
                me,
                ..ChordConfig::default()
            },
            Location(1),
            DiskStore::open(&dir, 1 << 20).unwrap(),
            &mut rng,
        );
        let one = PeerConfig {
            max_peers: 1,
            ..PeerConfig::default()
        };
        let addr = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut actor = Actor::new(
            core,
            rng,
            Identity::generate(),
            addr(1),
            Arc::default(),
            &NodeConfig {
                peers: one,
                ..NodeConfig::new(std::env::temp_dir(), addr(1))
            },
        );
        let seed = actor.add_seed(Identity::generate().node_ref(addr(2)));

        // A link to another peer, just used: the limit is reached and that
        // link is not idle, so no link to the seed may be opened.
        let other = actor.dir.intern(Identity::generate().node_ref(addr(3)));
        let (tx, _rx) = mpsc::channel(1);
        let reader = tokio::spawn(std::future::pending::<()>());
        let mut linked = Linked::new(&PeerConfig::default(), Instant::now());
        linked.slots.push(Slot {
            id: 0,
            tx,
            reader: reader.abort_handle(),
        });
        actor.links.insert(other, linked);
        actor.send_to(seed, Message::Ping { nonce: 0 });
        assert!(actor.connecting.is_empty());
        assert!(matches!(actor.inputs.pop_front(), Some(Input::PeerDown(p)) if p == seed));
        // The core forgets it; the reconnection timer must not.
        assert!(
            actor.next_reconnect().is_some(),
            "no reconnection scheduled for the seed"
        );
        reader.abort();
        drop(actor);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
