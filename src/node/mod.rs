//! The real node: the routing core driven over encrypted links, with a
//! persistent store.
//!
//! [`Node::start`] opens the node's data directory (its identity key and its
//! datastore), binds its listening socket, and spawns one actor task that
//! owns the sans-IO [`Core`]. Everything else talks to the actor through
//! channels:
//!
//! - link tasks (one reader and one writer per link, an acceptor, and
//!   short-lived connect tasks) send it what arrives from the network;
//! - a [`NodeHandle`] sends it client commands ([`NodeHandle::put`],
//!   [`NodeHandle::get`], ...) and awaits the answers.
//!
//! The actor keeps a **peer directory** mapping the core's small [`PeerId`]s
//! to node references (`fog:<key>@host:port`; `PeerId(0)` is this node),
//! translates the core's
//! messages to wire messages and back, and opens a link to a peer the first
//! time the core sends it something. It also manages the links themselves
//! ([`PeerConfig`]): a bounded number of peers, keepalive pings and the
//! closing of dead links, reconnection with exponential backoff, a
//! per-peer request rate limit, and optional cover traffic. Joining is
//! `join.rs`'s: each seed in turn, and in the background again with the
//! same backoff until a join succeeds.
//! `docs/architecture.md` ("The node", "Peers and links") describes the
//! design; what is not done yet is listed there. Documents of
//! any size are published and fetched as splitfiles
//! ([`client::splitfile`](crate::client::splitfile)): [`NodeHandle::put`]
//! inserts every block, [`NodeHandle::get`] fetches them through the
//! splitfile decoder with the node as its block source.

mod actor;
pub mod api;
mod backoff;
mod core;
mod directory;
mod join;

pub use self::core::Mode;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::block::chk::ChkBlock;
use crate::block::{BLOCK_CAPACITY, Block, BlockError, chk};
use crate::client::splitfile::{
    self, BlockSource, Encoder, SourceError, SourceFuture, SplitfileError,
};
use crate::key::hash::sha256;
use crate::key::{ChkKey, Location, NodeKey};
use crate::link::{Identity, LinkError};
use crate::routing::{self, BlockContent, ClientOp, ClientResult, PeerId, RequestId};
use crate::store::{DiskStore, StoreError};
use crate::wire::NodeRef;

use self::backoff::Backoff;
use self::core::NodeCore;
use self::join::JoinState;
use actor::{Actor, Command};

/// The identity key's file name inside the data directory.
pub const IDENTITY_FILE: &str = "identity.key";

/// The datastore's folder inside the data directory.
pub const STORE_DIR: &str = "store";

/// Hops to live of the announcement a node joins with.
pub const JOIN_HTL: u8 = 10;

/// How long a link's TCP connection and handshake may take, each way.
pub const LINK_TIMEOUT: Duration = Duration::from_secs(10);

/// Most peers with an open link, unless configured otherwise.
pub const DEFAULT_MAX_PEERS: usize = 32;

/// How long a link may send nothing before it sends a `Ping`, unless
/// configured otherwise. A link that receives nothing for
/// [`DEAD_AFTER_KEEPALIVES`] of these is closed as dead.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(15);

/// Keepalive intervals of silence after which a link is dead.
pub const DEAD_AFTER_KEEPALIVES: u32 = 3;

/// First wait before reconnecting to a peer after a failure, unless
/// configured otherwise; it doubles with each failure in a row.
pub const DEFAULT_RECONNECT_MIN: Duration = Duration::from_secs(1);

/// Longest wait between reconnection attempts, unless configured otherwise.
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(300);

/// Requests, inserts, announcements, Chord queries and transfers, and
/// pings a peer may send per second
/// on average, unless configured otherwise. Well above what an honest
/// neighbour sends on a fast link (a bulk transfer on loopback reaches
/// about 2,700 requests a second, a 1 Gbit/s link carries at most about
/// 3,800 blocks a second), far below a flood of one-frame messages.
pub const DEFAULT_REQUEST_RATE: u32 = 5_000;

/// How many of those a peer may send at once before the rate applies,
/// unless configured otherwise.
pub const DEFAULT_REQUEST_BURST: u32 = 10_000;

/// Most padding frames per second per link that [`PeerConfig::cover_rate`]
/// accepts (1 MiB/s of cover per link).
pub const MAX_COVER_RATE: u32 = 1_000;

/// Per request id, how many `Request` messages the nodes sharing this trace
/// forwarded: summed over the nodes of one process, the hops of a fetch.
/// Only for in-process demonstrations and tests; it changes no behaviour.
pub type Trace = Arc<Mutex<BTreeMap<RequestId, u32>>>;

/// The total of every count in `trace`: take it before and after one fetch
/// (with nothing else running) to get that fetch's hops.
pub fn trace_total(trace: &Trace) -> u64 {
    trace
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .map(|&n| u64::from(n))
        .sum()
}

/// How to start a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Holds the identity key ([`IDENTITY_FILE`]) and the datastore
    /// ([`STORE_DIR`]); created if missing.
    pub data_dir: PathBuf,
    /// Where to listen; port 0 picks a free port ([`NodeHandle::node_ref`]
    /// tells which). The address is also what the node announces to the
    /// peers it connects to, so it should be one they can reach (not
    /// `0.0.0.0`).
    pub listen: SocketAddr,
    /// Nodes to bootstrap from. The node joins through them, each in turn
    /// until one join succeeds, and keeps retrying in the background (see
    /// [`Node::start`]).
    pub seeds: Vec<NodeRef>,
    /// Most bytes of blocks the datastore keeps.
    pub store_bytes: u64,
    /// Which protocol the node runs.
    pub mode: Mode,
    /// Freenet-mode routing settings; `me` is overwritten with `PeerId(0)`.
    pub routing: routing::Config,
    /// Chord-mode settings; `me` is overwritten with `PeerId(0)`.
    pub chord: routing::ChordConfig,
    /// Where to count forwarded requests, if anywhere (see [`Trace`]).
    pub trace: Option<Trace>,
    /// How the node manages its peers and links.
    pub peers: PeerConfig,
}

/// How a node manages its peers and links (`docs/architecture.md`, "Peers
/// and links"). `Default` gives the values `fog node` runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// Most peers with an open link (or one being opened) at once. An
    /// incoming link from a new peer beyond it is refused; an outgoing one
    /// first closes the least recently used idle link, or is not opened.
    pub max_peers: usize,
    /// A link that had no message to send for this long sends a `Ping`; a
    /// link that received nothing for [`DEAD_AFTER_KEEPALIVES`] times this
    /// is closed and its peer reported down.
    pub keepalive: Duration,
    /// Padding frames per second on each link, sent only in intervals in
    /// which the link had no message to send; 0 turns cover traffic off.
    /// At most [`MAX_COVER_RATE`].
    pub cover_rate: u32,
    /// Wait before the first reconnection attempt after a failure, and
    /// before the first retry of a join that failed through every seed.
    pub reconnect_min: Duration,
    /// Longest wait between attempts (reconnections, join rounds); the
    /// wait doubles up to it.
    pub reconnect_max: Duration,
    /// Requests, inserts, announcements, Chord queries and transfers, and
    /// pings one peer may send per second on average; a peer that sends more is dropped. 0 turns the
    /// limit off.
    pub request_rate: u32,
    /// How many of them a peer may send at once (at least 1).
    pub request_burst: u32,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            max_peers: DEFAULT_MAX_PEERS,
            keepalive: DEFAULT_KEEPALIVE,
            cover_rate: 0,
            reconnect_min: DEFAULT_RECONNECT_MIN,
            reconnect_max: DEFAULT_RECONNECT_MAX,
            request_rate: DEFAULT_REQUEST_RATE,
            request_burst: DEFAULT_REQUEST_BURST,
        }
    }
}

impl PeerConfig {
    /// The settings with every value brought into its valid range: at least
    /// one peer, a keepalive of at least 10 ms, a cover rate of at most
    /// [`MAX_COVER_RATE`], reconnection waits of at least 10 ms with the
    /// longest no shorter than the first, a burst of at least 1.
    pub fn clamped(self) -> PeerConfig {
        let floor = Duration::from_millis(10);
        let reconnect_min = self.reconnect_min.max(floor);
        PeerConfig {
            max_peers: self.max_peers.max(1),
            keepalive: self.keepalive.max(floor),
            cover_rate: self.cover_rate.min(MAX_COVER_RATE),
            reconnect_min,
            reconnect_max: self.reconnect_max.max(reconnect_min),
            request_rate: self.request_rate,
            request_burst: self.request_burst.max(1),
        }
    }
}

impl NodeConfig {
    /// A configuration in Freenet mode with the default routing and peer
    /// settings, a 256 MiB store, no seeds and no trace.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> NodeConfig {
        NodeConfig {
            data_dir: data_dir.into(),
            listen,
            seeds: Vec::new(),
            store_bytes: 256 * 1024 * 1024,
            mode: Mode::Freenet,
            routing: routing::Config::default(),
            chord: routing::ChordConfig::default(),
            trace: None,
            peers: PeerConfig::default(),
        }
    }
}

/// Routing settings for a network of a few dozen nodes, as `fog demo` and
/// the tests run: at most 10 hops, every node on a path caches (the
/// originator too), a request at one hop to live always ends at the next
/// hop (in so small a network the probabilistic end would let a short
/// insert wander over every node), and short time limits so that a lost
/// peer is noticed within seconds. These trade anonymity for a readable
/// demonstration; a real node runs with [`routing::Config::default`].
pub fn small_network_routing() -> routing::Config {
    routing::Config {
        max_htl: 10,
        decrement_at_one: 1.0,
        no_cache_hops_request: 0,
        no_cache_hops_insert: 0,
        hop_timeout_ms_per_htl: 1_000,
        client_timeout_ms: 20_000,
        ..routing::Config::default()
    }
}

/// Why a node could not start or a client request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// Hops to live ran out before the data was found.
    #[error("data not found (hops to live ran out)")]
    NotFound,
    /// Every route was tried before hops to live ran out.
    #[error("route not found (every peer was tried)")]
    RouteNotFound,
    /// No answer arrived in time.
    #[error("timed out")]
    TimedOut,
    /// The node has too many requests in flight.
    #[error("node overloaded; try again later")]
    Overloaded,
    /// The node refused the request's data or arguments.
    #[error("request rejected")]
    Rejected,
    /// The document is larger than the largest splitfile
    /// ([`MAX_DOCUMENT_SIZE`](crate::client::splitfile::MAX_DOCUMENT_SIZE)).
    #[error("document of {size} bytes exceeds the largest splitfile")]
    TooLarge {
        /// How many bytes had been read when the limit was crossed.
        size: u64,
    },
    /// A splitfile could not be fetched (a block missing or malformed).
    #[error("splitfile: {0}")]
    Splitfile(SplitfileError),
    /// A block could not be made or opened.
    #[error("block: {0}")]
    Block(#[from] BlockError),
    /// The listening socket could not be bound, or another I/O failure.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The identity file or a link failed.
    #[error("link: {0}")]
    Link(#[from] LinkError),
    /// The datastore could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The node has shut down.
    #[error("the node has shut down")]
    Stopped,
}

impl From<SplitfileError> for NodeError {
    fn from(error: SplitfileError) -> Self {
        match error {
            SplitfileError::TooLarge { size } => NodeError::TooLarge { size },
            SplitfileError::Read(e) => NodeError::Io(e),
            e => NodeError::Splitfile(e),
        }
    }
}

impl From<routing::Failure> for NodeError {
    fn from(failure: routing::Failure) -> Self {
        match failure {
            routing::Failure::DataNotFound => NodeError::NotFound,
            routing::Failure::RouteNotFound => NodeError::RouteNotFound,
            routing::Failure::TimedOut => NodeError::TimedOut,
            routing::Failure::Overloaded => NodeError::Overloaded,
            routing::Failure::Rejected => NodeError::Rejected,
        }
    }
}

/// A snapshot of a node's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeStats {
    /// The protocol the node runs.
    pub mode: Mode,
    /// Seeds the node was started with (not counting itself).
    pub seeds: usize,
    /// Whether a join through a seed has succeeded since the node started.
    /// A node without seeds never joins: it is the first of its network.
    pub joined: bool,
    /// Join attempts made so far, one per seed tried; it stops growing
    /// once the node has joined.
    pub join_attempts: u64,
    /// Peers with an open link.
    pub peers: usize,
    /// Peers in the directory (linked or not).
    pub known: usize,
    /// References in the routing table.
    pub references: usize,
    /// Blocks in the store.
    pub store_blocks: usize,
    /// Bytes of blocks in the store.
    pub store_bytes: u64,
    /// Requests and inserts in flight.
    pub in_flight: usize,
    /// The node's location on the ring.
    pub location: Location,
    /// Padding frames (cover traffic) sent, over every link so far.
    pub cover_sent: u64,
    /// Padding frames received and discarded, over every link so far.
    pub cover_received: u64,
    /// Keepalive pings sent.
    pub pings_sent: u64,
    /// Outgoing connections attempted.
    pub connects: u64,
    /// Links closed as dead (nothing received for too long).
    pub dead_links: u64,
    /// Incoming links refused: the peer limit, or a peer dropped recently.
    pub refused: u64,
    /// Peers dropped for exceeding the request rate.
    pub flooders_dropped: u64,
}

/// Starts nodes.
#[derive(Debug)]
pub struct Node;

impl Node {
    /// Opens `config.data_dir`, binds `config.listen`, starts the actor and,
    /// if there are seeds, joins the network through them: each seed in
    /// turn until one join succeeds.
    ///
    /// A join that fails through every seed (they are unreachable, the
    /// announcements time out) is logged, not fatal: this returns after
    /// that one round, and the node runs with its seeds as its only
    /// references and the location its key gives it while a background
    /// task retries. It waits between rounds as for a seed's reconnection
    /// ([`PeerConfig::reconnect_min`] doubling up to
    /// [`PeerConfig::reconnect_max`], jittered), tries again at once when a
    /// link to a seed comes back, and stops when a join succeeds or the
    /// node stops. [`NodeStats::joined`] tells whether it has joined.
    pub async fn start(config: NodeConfig) -> Result<NodeHandle, NodeError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let identity = Identity::load_or_create(&config.data_dir.join(IDENTITY_FILE))?;
        let store = DiskStore::open(&config.data_dir.join(STORE_DIR), config.store_bytes)?;
        let listener = TcpListener::bind(config.listen).await?;
        let listen = listener.local_addr()?;
        let me = identity.node_ref(listen);

        let mut rng = ChaCha20Rng::from_entropy();
        let routing = routing::Config {
            me: PeerId(0),
            ..config.routing
        };
        let chord = routing::ChordConfig {
            me: PeerId(0),
            ..config.chord
        };
        // Chord mode's id is this location for good; Freenet mode starts
        // here and moves when it joins.
        let location = Location::from_hash(&sha256(&identity.public()));
        let core = NodeCore::new(config.mode, routing, chord, location, store, &mut rng);

        let (commands, commands_rx) = mpsc::channel(64);
        let peers = config.peers.clamped();
        let join = Arc::new(JoinState::default());
        let mut actor = Actor::new(
            core,
            rng,
            identity,
            listen,
            config.trace.clone(),
            peers,
            Arc::clone(&join),
        );
        let seeds: Vec<join::Seed> = config
            .seeds
            .iter()
            .filter(|seed| seed.identity != me.identity)
            .map(|&seed| (actor.add_seed(seed), seed))
            .collect();
        let (alive, stopped) = oneshot::channel();
        tokio::spawn(actor.run(listener, commands_rx, alive));
        let handle = NodeHandle {
            commands,
            node_ref: me,
        };
        tracing::info!(node = %me, seeds = seeds.len(), "node started");

        if !seeds.is_empty() && !join::round(&handle, &seeds, &join).await? {
            let backoff = Backoff::new(peers.reconnect_min, peers.reconnect_max);
            join::spawn_retries(&handle, seeds, join, backoff, stopped);
        }
        Ok(handle)
    }
}

/// A running node, as its local clients use it. Cheap to clone; the node
/// stops when [`NodeHandle::shutdown`] is called or the last handle is
/// dropped.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    commands: mpsc::Sender<Command>,
    node_ref: NodeRef,
}

impl NodeHandle {
    /// The reference other nodes reach this one by.
    pub fn node_ref(&self) -> NodeRef {
        self.node_ref
    }

    /// Publishes `doc` and returns its key: one CHK block if it fits, else a
    /// splitfile (data blocks, then manifests; see
    /// [`client::splitfile`](crate::client::splitfile)). A key that already
    /// holds the same block (a collision) is success too.
    pub async fn put(&self, doc: &[u8]) -> Result<ChkKey, NodeError> {
        self.put_with_htl(doc, None).await
    }

    /// As [`NodeHandle::put`], with each block's insert hops to live (the
    /// node's maximum if `None`): fewer hops store fewer copies.
    pub async fn put_with_htl(&self, doc: &[u8], htl: Option<u8>) -> Result<ChkKey, NodeError> {
        let mut encoder = Encoder::new();
        let mut inserts = Inserts::new(self, htl);
        let mut input = doc;
        while let Some((key, block)) = encoder.push(&mut input)? {
            inserts.add(key, block).await?;
        }
        self.put_finish(encoder, inserts).await
    }

    /// As [`NodeHandle::put_with_htl`], reading the document from `reader`
    /// one block at a time: memory stays bounded whatever its size.
    pub async fn put_reader<R>(&self, mut reader: R, htl: Option<u8>) -> Result<ChkKey, NodeError>
    where
        R: AsyncRead + Unpin,
    {
        let mut encoder = Encoder::new();
        let mut inserts = Inserts::new(self, htl);
        let mut chunk = vec![0u8; BLOCK_CAPACITY];
        loop {
            let n = reader.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            let mut input = &chunk[..n];
            while let Some((key, block)) = encoder.push(&mut input)? {
                inserts.add(key, block).await?;
            }
        }
        self.put_finish(encoder, inserts).await
    }

    async fn put_finish(
        &self,
        encoder: Encoder,
        mut inserts: Inserts<'_>,
    ) -> Result<ChkKey, NodeError> {
        let mut finish = encoder.finish()?;
        for (key, block) in finish.by_ref() {
            inserts.add(key, block).await?;
        }
        inserts.wait().await?;
        Ok(finish.top().expect("an exhausted encoding has a top key"))
    }

    /// Inserts one CHK block under `key`.
    async fn put_block(
        &self,
        key: ChkKey,
        block: ChkBlock,
        htl: Option<u8>,
    ) -> Result<(), NodeError> {
        let op = ClientOp::Put {
            key: key.node_key(),
            data: Block::Chk(block),
            htl,
        };
        match self.op(op).await? {
            ClientResult::Inserted | ClientResult::Collision(_) => Ok(()),
            ClientResult::Failed(failure) => Err(failure.into()),
            _ => Err(NodeError::Rejected),
        }
    }

    /// Fetches and opens the document under `key`, verifying every block; a
    /// splitfile is reassembled.
    pub async fn get(&self, key: &ChkKey) -> Result<Vec<u8>, NodeError> {
        let mut out = Vec::new();
        self.get_writer(key, &mut out).await?;
        Ok(out)
    }

    /// As [`NodeHandle::get`], writing the document to `sink` in order as
    /// its blocks arrive (a few in flight at once) rather than holding it
    /// whole; returns its length. On an error `sink` may hold a prefix.
    pub async fn get_writer<W>(&self, key: &ChkKey, sink: &mut W) -> Result<u64, NodeError>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let block = self.get_block(key).await?;
        let doc = chk::decode(key, &block)?;
        Ok(splitfile::fetch_document(key, doc, Arc::new(self.clone()), sink).await?)
    }

    /// Fetches the block under `key` (verified by the node against its
    /// routing key, not opened).
    async fn get_block(&self, key: &ChkKey) -> Result<ChkBlock, NodeError> {
        let op = ClientOp::Get {
            key: key.node_key(),
            htl: None,
        };
        match self.op(op).await? {
            ClientResult::Found(Block::Chk(block)) => Ok(block),
            ClientResult::Found(_) => Err(NodeError::Block(BlockError::WrongKind {
                expected: crate::key::KeyKind::Chk,
                got: crate::key::KeyKind::Ssk,
            })),
            ClientResult::Failed(failure) => Err(failure.into()),
            _ => Err(NodeError::Rejected),
        }
    }

    /// Whether the node's store holds `key` (without touching its recency).
    pub async fn holds(&self, key: &NodeKey) -> Result<bool, NodeError> {
        self.ask(|reply| Command::Holds { key: *key, reply }).await
    }

    /// A snapshot of the node's state.
    pub async fn stats(&self) -> Result<NodeStats, NodeError> {
        self.ask(|reply| Command::Stats { reply }).await
    }

    /// Stops the node: closes its links and listener, and closes (flushes)
    /// its store. Returns when that is done; a node already stopped is fine.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
    }

    async fn op(
        &self,
        op: ClientOp<BlockContent>,
    ) -> Result<ClientResult<BlockContent>, NodeError> {
        self.ask(|reply| Command::Op { op, reply }).await
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| NodeError::Stopped)?;
        answer.await.map_err(|_| NodeError::Stopped)
    }
}

/// A node as the source of a splitfile's blocks: each is one request.
impl BlockSource for NodeHandle {
    fn fetch(&self, key: ChkKey) -> SourceFuture<'_> {
        Box::pin(async move {
            self.get_block(&key)
                .await
                .map_err(|e| SourceError::Other(Box::new(e)))
        })
    }
}

/// How many block inserts one put keeps in flight.
const INSERT_CONCURRENCY: usize = 8;

/// A put's block inserts in flight, in order; aborted if the put fails.
struct Inserts<'a> {
    node: &'a NodeHandle,
    htl: Option<u8>,
    tasks: VecDeque<JoinHandle<Result<(), NodeError>>>,
}

impl<'a> Inserts<'a> {
    fn new(node: &'a NodeHandle, htl: Option<u8>) -> Inserts<'a> {
        Inserts {
            node,
            htl,
            tasks: VecDeque::with_capacity(INSERT_CONCURRENCY),
        }
    }

    /// Starts inserting a block, first waiting for the oldest insert if
    /// [`INSERT_CONCURRENCY`] are in flight.
    async fn add(&mut self, key: ChkKey, block: ChkBlock) -> Result<(), NodeError> {
        if self.tasks.len() >= INSERT_CONCURRENCY {
            self.wait_one().await?;
        }
        let node = self.node.clone();
        let htl = self.htl;
        self.tasks.push_back(tokio::spawn(async move {
            node.put_block(key, block, htl).await
        }));
        Ok(())
    }

    async fn wait_one(&mut self) -> Result<(), NodeError> {
        match self.tasks.pop_front() {
            Some(task) => task.await.map_err(|_| NodeError::Stopped)?,
            None => Ok(()),
        }
    }

    /// Waits for every insert.
    async fn wait(&mut self) -> Result<(), NodeError> {
        while !self.tasks.is_empty() {
            self.wait_one().await?;
        }
        Ok(())
    }
}

impl Drop for Inserts<'_> {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
