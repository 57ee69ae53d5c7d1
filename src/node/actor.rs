//! The node's actor: one task that owns the routing core, the peer
//! directory and the links, and the small tasks that drive the sockets.
//!
//! Nothing but the actor touches the core. Link tasks (a reader and a
//! writer per link, connect tasks, the acceptor) talk to it through one
//! event channel; [`NodeHandle`](super::NodeHandle)s through the command
//! channel. The actor waits on both and on the core's next deadline, feeds
//! what comes to the core, and carries out what the core asks.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use tokio::net::TcpListener;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};

use super::directory::{Directory, ME};
use super::{LINK_TIMEOUT, NodeStats, Trace};
use crate::key::hash::sha256;
use crate::key::{Location, NodeKey};
use crate::link::{Identity, Link, LinkError, LinkReader, LinkWriter};
use crate::routing::freenet::Core;
use crate::routing::{
    BlockContent, ChordRef, ClientId, ClientOp, ClientResult, Input, Msg, Output, PeerId, Store,
    Time,
};
use crate::store::DiskStore;
use crate::wire::{ChordPeer, MAX_SUCCESSORS, Message, NodeRef};

/// Messages queued for one link's writer before the actor stops adding.
const WRITE_QUEUE: usize = 256;

/// Messages held for a peer while its link is being opened.
const CONNECT_QUEUE: usize = 64;

/// Incoming handshakes in progress at once; more connections are refused.
const MAX_HANDSHAKES: usize = 64;

/// Events from link tasks.
const EVENT_QUEUE: usize = 1024;

/// What a [`super::NodeHandle`] asks of the actor.
#[derive(Debug)]
pub(super) enum Command {
    /// A client request for the core.
    Op {
        op: ClientOp<BlockContent>,
        reply: oneshot::Sender<ClientResult<BlockContent>>,
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
}

/// One open link to a peer. A peer can have two for a while (both sides
/// connected at once); messages go out on the first, and arrive on both.
struct Slot {
    id: u64,
    tx: mpsc::Sender<Message>,
    reader: AbortHandle,
}

/// A link being opened, and what waits to go out on it.
struct Connecting {
    task: AbortHandle,
    queued: Vec<Message>,
}

/// The actor's state.
pub(super) struct Actor {
    core: Core<BlockContent, DiskStore>,
    rng: ChaCha20Rng,
    /// `Time(0)`.
    start: Instant,
    dir: Directory,
    identity: Arc<Identity>,
    listen: SocketAddr,
    trace: Option<Trace>,
    links: BTreeMap<PeerId, Vec<Slot>>,
    connecting: BTreeMap<PeerId, Connecting>,
    clients: BTreeMap<ClientId, oneshot::Sender<ClientResult<BlockContent>>>,
    next_client: u64,
    next_link: u64,
    events_tx: mpsc::Sender<Event>,
    events_rx: Option<mpsc::Receiver<Event>>,
    /// Inputs the actor itself owes the core (a peer it found gone while
    /// carrying out outputs), fed after the current ones.
    inputs: VecDeque<Input<BlockContent>>,
}

impl Actor {
    pub(super) fn new(
        core: Core<BlockContent, DiskStore>,
        rng: ChaCha20Rng,
        identity: Identity,
        listen: SocketAddr,
        trace: Option<Trace>,
    ) -> Actor {
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        Actor {
            core,
            rng,
            start: Instant::now(),
            dir: Directory::new(identity.node_ref(listen)),
            identity: Arc::new(identity),
            listen,
            trace,
            links: BTreeMap::new(),
            connecting: BTreeMap::new(),
            clients: BTreeMap::new(),
            next_client: 0,
            next_link: 0,
            events_tx,
            events_rx: Some(events_rx),
            inputs: VecDeque::new(),
        }
    }

    /// Adds a seed to the directory and references it at the location its
    /// key gives it. Before [`Actor::run`].
    pub(super) fn add_seed(&mut self, seed: NodeRef) -> PeerId {
        let peer = self.dir.intern(seed);
        self.core
            .add_reference(Location::from_hash(&sha256(&seed.identity)), peer);
        peer
    }

    /// The actor's loop, until shutdown or until every handle is dropped.
    pub(super) async fn run(
        mut self,
        listener: TcpListener,
        mut commands: mpsc::Receiver<Command>,
    ) {
        let acceptor = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&self.identity),
            self.events_tx.clone(),
        ));
        let mut events = self.events_rx.take().expect("run is called once");
        let done = loop {
            let deadline = self.core.poll_timeout().map(|t| self.instant(t));
            tokio::select! {
                command = commands.recv() => match command {
                    None => break None,
                    Some(Command::Shutdown { reply }) => break Some(reply),
                    Some(command) => self.on_command(command),
                },
                Some(event) = events.recv() => self.on_event(event),
                () = sleep_until(deadline) => self.feed(Input::Timeout),
            }
        };
        acceptor.abort();
        for (_, connecting) in std::mem::take(&mut self.connecting) {
            connecting.task.abort();
        }
        for slot in std::mem::take(&mut self.links).into_values().flatten() {
            // Dropping the sender lets the writer close its side cleanly.
            slot.reader.abort();
        }
        let me = self.dir.me();
        // Closes the store (flushing its recency) before answering.
        drop(self);
        tracing::info!(node = %me, "node stopped");
        if let Some(reply) = done {
            let _ = reply.send(());
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
        while let Some(input) = self.inputs.pop_front() {
            let now = self.now();
            self.core.handle(now, input, &mut self.rng);
            while let Some(output) = self.core.poll() {
                self.on_output(output);
            }
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
                if let (Msg::Request { id, .. }, Some(trace)) = (&msg, &self.trace) {
                    *trace
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(*id)
                        .or_default() += 1;
                }
                match self.translate_out(msg) {
                    Some(wire) => self.send_to(to, wire),
                    None => {
                        tracing::warn!(peer = ?to, "message names a peer not in the directory; not sent")
                    }
                }
            }
            Output::Reply { client, result } => {
                if let Some(reply) = self.clients.remove(&client) {
                    let _ = reply.send(result);
                }
            }
            Output::DropPeer { peer, reason } => {
                let node = self.dir.node_ref(peer);
                tracing::warn!(peer = %DisplayRef(node), reason, "dropping a misbehaving peer");
                self.close_peer(peer);
                self.inputs.push_back(Input::PeerDown(peer));
            }
        }
    }

    /// The wire form of a core message: peer ids become node references.
    fn translate_out(&self, msg: Msg<BlockContent>) -> Option<Message> {
        let node = |peer| self.dir.node_ref(peer);
        Some(match msg {
            Msg::Request { id, key, htl } => Message::Request { id, key, htl },
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
            Command::Holds { key, reply } => {
                let _ = reply.send(self.core.store().contains(&key));
            }
            Command::Stats { reply } => {
                let store = self.core.store();
                let _ = reply.send(NodeStats {
                    peers: self.links.len(),
                    known: self.dir.len(),
                    references: self.core.table().len(),
                    store_blocks: store.len(),
                    store_bytes: store.bytes(),
                    in_flight: self.core.in_flight(),
                    location: self.core.location(),
                });
            }
            Command::Shutdown { .. } => unreachable!("handled by the loop"),
        }
    }

    // ---- links ----

    /// Sends `msg` to `peer` on its link, opening one if there is none.
    fn send_to(&mut self, peer: PeerId, msg: Message) {
        let mut msg = msg;
        while let Some(slot) = self.links.get(&peer).and_then(|slots| slots.first()) {
            match slot.tx.try_send(msg) {
                Ok(()) => return,
                Err(TrySendError::Full(_)) => {
                    tracing::warn!(peer = %DisplayRef(self.dir.node_ref(peer)), "link send queue full; message dropped");
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
                tracing::warn!(peer = %DisplayRef(self.dir.node_ref(peer)), "connect queue full; message dropped");
            }
            return;
        }
        let Some(node) = self.dir.node_ref(peer) else {
            tracing::warn!(?peer, "no reference for a peer; treating it as down");
            self.inputs.push_back(Input::PeerDown(peer));
            return;
        };
        tracing::debug!(peer = %node, "connecting");
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
                queued: vec![msg],
            },
        );
    }

    /// Starts the reader and writer tasks of a new link to `peer`, and
    /// sends what waited for it.
    fn add_link(&mut self, peer: PeerId, link: Link) {
        let (reader, writer) = link.into_split();
        let id = self.next_link;
        self.next_link += 1;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let reader = tokio::spawn(read_loop(peer, id, reader, self.events_tx.clone()));
        tokio::spawn(write_loop(peer, id, writer, rx, self.events_tx.clone()));
        self.links.entry(peer).or_default().push(Slot {
            id,
            tx,
            reader: reader.abort_handle(),
        });
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
        let Some(slots) = self.links.get_mut(&peer) else {
            return true;
        };
        if let Some(i) = slots.iter().position(|s| s.id == id) {
            slots.remove(i).reader.abort();
        }
        if slots.is_empty() {
            self.links.remove(&peer);
            true
        } else {
            false
        }
    }

    /// Closes every link to `peer`.
    fn close_peer(&mut self, peer: PeerId) {
        for slot in self.links.remove(&peer).into_iter().flatten() {
            slot.reader.abort();
        }
        if let Some(connecting) = self.connecting.remove(&peer) {
            connecting.task.abort();
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Accepted { link } => {
                let remote = link.remote_static();
                let peer = match link.remote_listen_addr() {
                    Some(addr) => self.dir.intern(NodeRef {
                        identity: remote,
                        addr,
                    }),
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
                tracing::debug!(peer = %DisplayRef(self.dir.node_ref(peer)), "link accepted");
                self.add_link(peer, link);
            }
            Event::Connected { peer, link } => {
                tracing::debug!(peer = %DisplayRef(self.dir.node_ref(peer)), "link connected");
                self.add_link(peer, link);
            }
            Event::ConnectFailed { peer, error } => {
                if self.connecting.remove(&peer).is_none() {
                    return;
                }
                tracing::warn!(peer = %DisplayRef(self.dir.node_ref(peer)), %error, "could not connect");
                if !self.links.contains_key(&peer) {
                    self.feed(Input::PeerDown(peer));
                }
            }
            Event::Message { peer, link, msg } => {
                let linked = self
                    .links
                    .get(&peer)
                    .is_some_and(|slots| slots.iter().any(|s| s.id == link));
                if !linked {
                    return;
                }
                if let Message::Ping { nonce } = msg {
                    self.send_to(peer, Message::Pong { nonce });
                    return;
                }
                let name = msg.name();
                match self.translate_in(msg) {
                    Ok(Some(msg)) => self.feed(Input::Message { from: peer, msg }),
                    Ok(None) => {
                        tracing::debug!(msg = name, "ignoring a message the core does not handle");
                    }
                    Err(reason) => {
                        tracing::warn!(
                            peer = %DisplayRef(self.dir.node_ref(peer)),
                            msg = name,
                            reason,
                            "dropping a misbehaving peer"
                        );
                        self.close_peer(peer);
                        self.feed(Input::PeerDown(peer));
                    }
                }
            }
            Event::Down { peer, link, error } => {
                let known = self
                    .links
                    .get(&peer)
                    .is_some_and(|slots| slots.iter().any(|s| s.id == link));
                if !known {
                    return;
                }
                let node = DisplayRef(self.dir.node_ref(peer));
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
                    self.feed(Input::PeerDown(peer));
                }
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

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Accepts connections and answers their handshakes, each in its own task
/// bounded by [`LINK_TIMEOUT`]. Bytes that are not a handshake for this
/// node end the connection, with a log line.
async fn accept_loop(listener: TcpListener, identity: Arc<Identity>, events: mpsc::Sender<Event>) {
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, from)) => {
                    if handshakes.len() >= MAX_HANDSHAKES {
                        tracing::warn!(%from, "too many handshakes in progress; connection refused");
                        continue;
                    }
                    let identity = Arc::clone(&identity);
                    let events = events.clone();
                    handshakes.spawn(async move {
                        match Link::accept(stream, &identity, LINK_TIMEOUT).await {
                            Ok((link, _)) => {
                                let _ = events.send(Event::Accepted { link }).await;
                            }
                            Err(error) => {
                                tracing::warn!(%from, %error, "incoming connection rejected");
                            }
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait a little.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
        }
    }
}

/// Passes what arrives on a link to the actor until the link ends.
async fn read_loop(peer: PeerId, link: u64, mut reader: LinkReader, events: mpsc::Sender<Event>) {
    loop {
        let event = match reader.recv_message().await {
            Ok(msg) => Event::Message { peer, link, msg },
            Err(error) => Event::Down { peer, link, error },
        };
        let down = matches!(event, Event::Down { .. });
        if events.send(event).await.is_err() || down {
            return;
        }
    }
}

/// Sends what the actor queues for a link; closes it when the actor drops
/// the queue.
async fn write_loop(
    peer: PeerId,
    link: u64,
    mut writer: LinkWriter,
    mut queue: mpsc::Receiver<Message>,
    events: mpsc::Sender<Event>,
) {
    while let Some(msg) = queue.recv().await {
        if let Err(error) = writer.send_message(&msg).await {
            let _ = events.send(Event::Down { peer, link, error }).await;
            return;
        }
    }
    let _ = writer.shutdown().await;
}
