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
pub mod config;
mod core;
mod directory;
pub mod heal;
mod join;
mod saved;

pub use self::core::Mode;
pub use self::saved::PEERS_FILE;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::block::chk::ChkBlock;
use crate::block::ssk::SskBlock;
use crate::block::{BLOCK_CAPACITY, Block, BlockError, ContentKind, chk};
use crate::client::redirect::Redirect;
use crate::client::signed::{Signed, SignedError, SignedInsert, SignedKey};
use crate::client::splitfile::{
    self, BlockSource, Encoder, Place, SourceError, SourceFuture, SplitfileError,
};
use crate::key::hash::sha256;
use crate::key::{ChkKey, Key, Location, NodeKey};
use crate::link::{Identity, LinkError};
use crate::routing::{self, BlockContent, ClientOp, ClientResult, PeerId};
use crate::store::{DiskStore, StoreError};
use crate::wire::NodeRef;

use self::backoff::Backoff;
use self::core::NodeCore;
use self::heal::HealStats;
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

/// Messages a peer may send per second on average (every kind but the
/// replies to requests this node sent it), unless configured otherwise. Well above what an honest
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

/// What the nodes sharing a trace sent, counted as they send it: hop
/// messages (requests and inserts, on their stems and routed, dead ends
/// included) and blocks passed back (`DataFound`s: one for each link a
/// block crossed). Take a count before and after one fetch, with nothing
/// else running, to get that fetch's. Only for in-process demonstrations,
/// benchmarks and tests; it changes no behaviour.
#[derive(Debug, Default)]
pub struct TraceCounts {
    hops: AtomicU64,
    returned: AtomicU64,
}

impl TraceCounts {
    /// Hop messages sent so far.
    pub fn hops(&self) -> u64 {
        self.hops.load(Ordering::Relaxed)
    }

    /// Blocks passed back so far: the links data crossed.
    pub fn returned(&self) -> u64 {
        self.returned.load(Ordering::Relaxed)
    }

    /// Counts one message about to be sent.
    pub(crate) fn count(&self, msg: &routing::Msg<BlockContent>) {
        if msg.is_hop() {
            self.hops.fetch_add(1, Ordering::Relaxed);
        } else if matches!(msg, routing::Msg::DataFound { .. }) {
            self.returned.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A trace shared by the nodes of one process (see [`TraceCounts`]).
pub type Trace = Arc<TraceCounts>;

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
    /// Padding frames per second on each idle link: each is sent an
    /// exponentially distributed time after the link's last frame; 0 turns
    /// cover traffic off.
    /// At most [`MAX_COVER_RATE`].
    pub cover_rate: u32,
    /// Wait before the first reconnection attempt after a failure, and
    /// before the first retry of a join that failed through every seed.
    pub reconnect_min: Duration,
    /// Longest wait between attempts (reconnections, join rounds); the
    /// wait doubles up to it.
    pub reconnect_max: Duration,
    /// Messages one peer may send per second on average (every kind but
    /// the replies to requests this node sent it); a peer that sends more
    /// is dropped. 0 turns the limit off.
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
    /// The node has no peer to send the request to.
    #[error("the node has no peer to send it to")]
    NoPeer,
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
    /// A document could not be fetched: which block, and why (missing,
    /// malformed).
    #[error("{0}")]
    Splitfile(SplitfileError),
    /// A block of a document being published was stored nowhere, so the
    /// document was not published.
    #[error("block {index} ({}) was stored nowhere: {source}", Key::Chk(*key))]
    NotStored {
        /// The block's number, from 1, in the order the put sent them.
        index: u64,
        /// Its key.
        key: ChkKey,
        /// Why.
        source: Box<NodeError>,
    },
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
    /// A signed key (SSK or KSK) already holds another document. A signed
    /// key's block is never replaced: the insert was refused.
    #[error(
        "{uri} already holds a different document; a signed key's document is never replaced (publish under another name, e.g. a new edition)"
    )]
    Collision {
        /// The request URI.
        uri: String,
    },
    /// The signed block of a document could not be fetched or stored.
    #[error("the signed block ({uri}): {source}")]
    Signed {
        /// The request URI.
        uri: String,
        /// Why.
        source: Box<NodeError>,
    },
    /// The signed block was found but does not open, or holds a malformed
    /// redirect.
    #[error("the signed block ({uri}) does not open: {source}")]
    BadSigned {
        /// The request URI.
        uri: String,
        /// Why.
        source: SignedError,
    },
    /// A redirect names a splitfile that is not the document it describes.
    #[error("the {redirect} of {uri} leads to {found}")]
    BadRedirect {
        /// The request URI.
        uri: String,
        /// The redirect.
        redirect: Redirect,
        /// What its target holds instead.
        found: String,
    },
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

impl NodeError {
    /// What kind of failure this is at bottom: for a block of a document,
    /// the failure behind it (not found, timed out, ...), so that callers
    /// can tell a missing document from a broken one.
    pub fn kind(&self) -> &NodeError {
        match self {
            NodeError::NotStored { source, .. } | NodeError::Signed { source, .. } => source.kind(),
            other => other,
        }
    }

    /// Whether the network did not have it, or had no route to it.
    pub fn is_not_found(&self) -> bool {
        match self.kind() {
            NodeError::NotFound | NodeError::RouteNotFound | NodeError::NoPeer => true,
            NodeError::Splitfile(SplitfileError::Missing { source, .. }) => {
                matches!(source, SourceError::NotFound | SourceError::NoRoute)
            }
            _ => false,
        }
    }

    /// Whether the network gave no answer in time.
    pub fn is_timed_out(&self) -> bool {
        match self.kind() {
            NodeError::TimedOut => true,
            NodeError::Splitfile(SplitfileError::Missing { source, .. }) => {
                matches!(source, SourceError::TimedOut)
            }
            _ => false,
        }
    }
}

impl From<routing::Failure> for NodeError {
    fn from(failure: routing::Failure) -> Self {
        match failure {
            routing::Failure::DataNotFound => NodeError::NotFound,
            routing::Failure::RouteNotFound => NodeError::RouteNotFound,
            routing::Failure::NoPeer => NodeError::NoPeer,
            routing::Failure::TimedOut => NodeError::TimedOut,
            routing::Failure::Overloaded => NodeError::Overloaded,
            routing::Failure::Rejected => NodeError::Rejected,
        }
    }
}

/// A snapshot of a node's state.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Whether the node took its place (location and references) from its
    /// last run, saved in its data directory, instead of joining.
    pub restored: bool,
    /// The last seed a link could not be opened to, and why (a wrong key
    /// in its reference, nobody listening), if any.
    pub seed_error: Option<String>,
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
    /// Links the other end closed or broke (a peer that stopped, or was
    /// killed).
    pub lost_links: u64,
    /// Incoming links refused: the peer limit, or a peer dropped recently.
    pub refused: u64,
    /// Peers dropped for exceeding the request rate.
    pub flooders_dropped: u64,
    /// Blocks of splitfiles that fetches rebuilt and inserted again.
    pub heal: HealStats,
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
        // here and moves when it joins, or takes the one it had before a
        // restart.
        let saved = saved::load(&config.data_dir);
        let restored = saved
            .as_ref()
            .is_some_and(|s| s.mode == Mode::Freenet && config.mode == Mode::Freenet);
        let location = match &saved {
            Some(s) if restored => Location(s.location),
            _ => Location::from_hash(&sha256(&identity.public())),
        };
        let core = NodeCore::new(config.mode, routing, chord, location, store, &mut rng);

        let (commands, commands_rx) = mpsc::channel(64);
        let peers = config.peers.clamped();
        let join = Arc::new(JoinState::default());
        let mut actor = Actor::new(core, rng, identity, listen, Arc::clone(&join), &config);
        let mut seeds: Vec<join::Seed> = config
            .seeds
            .iter()
            .filter(|seed| seed.identity != me.identity)
            .map(|&seed| (actor.add_seed(seed), seed))
            .collect();
        let kept = saved.map(|s| s.references(&me)).unwrap_or_default();
        if restored {
            // Back where it was: its old references, and no new join.
            for &(location, node) in &kept {
                actor.add_reference(location, node);
            }
            join.restore();
            tracing::info!(%location, peers = kept.len(), "kept its place from its last run");
        } else if seeds.is_empty() {
            // A Chord node (or a node that changed mode) joins through the
            // peers it had.
            seeds = kept
                .iter()
                .map(|&(_, node)| (actor.add_seed(node), node))
                .collect();
        }
        let (alive, stopped) = oneshot::channel();
        tokio::spawn(actor.run(listener, commands_rx, alive));
        let heal = heal::spawn(&commands, me);
        let handle = NodeHandle {
            commands,
            heal,
            node_ref: me,
        };
        tracing::info!(node = %me, seeds = seeds.len(), "node started");

        if !join.joined() && !seeds.is_empty() && !join::round(&handle, &seeds, &join).await? {
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
    heal: heal::Queue,
    node_ref: NodeRef,
}

/// A [`NodeHandle`] that does not keep the node running: what the node's
/// own background tasks (join retries, healing) hold.
#[derive(Clone, Debug)]
struct WeakHandle {
    commands: mpsc::WeakSender<Command>,
    heal: heal::WeakQueue,
    node_ref: NodeRef,
}

impl WeakHandle {
    /// The handle, while the node runs for someone else.
    fn upgrade(&self) -> Option<NodeHandle> {
        Some(NodeHandle {
            commands: self.commands.upgrade()?,
            heal: self.heal.upgrade()?,
            node_ref: self.node_ref,
        })
    }
}

impl NodeHandle {
    /// A handle that does not keep the node running.
    fn downgrade(&self) -> WeakHandle {
        WeakHandle {
            commands: self.commands.downgrade(),
            heal: self.heal.downgrade(),
            node_ref: self.node_ref,
        }
    }

    /// The reference other nodes reach this one by.
    pub fn node_ref(&self) -> NodeRef {
        self.node_ref
    }

    /// Publishes `doc` and returns its key: one CHK block if it fits, else a
    /// splitfile (data blocks, then manifests; see
    /// [`client::splitfile`](crate::client::splitfile)). A key that already
    /// holds the same block (a collision) is success too. Every block is one
    /// client operation's: they all take the same stem.
    pub async fn put(&self, doc: &[u8]) -> Result<ChkKey, NodeError> {
        let mut encoder = Encoder::new();
        let mut inserts = Inserts::new(self, rand::random());
        let mut input = doc;
        while let Some((key, block)) = encoder.push(&mut input)? {
            inserts.add(key, block).await?;
        }
        self.put_finish(encoder, inserts).await
    }

    /// As [`NodeHandle::put`], reading the document from `reader` one block
    /// at a time: memory stays bounded whatever its size.
    pub async fn put_reader<R>(&self, reader: R) -> Result<ChkKey, NodeError>
    where
        R: AsyncRead + Unpin,
    {
        let (key, _) = self.put_reader_as(reader, rand::random()).await?;
        Ok(key)
    }

    /// As [`NodeHandle::put_reader`], as part of client operation
    /// `operation`; the key and the document's length.
    async fn put_reader_as<R>(
        &self,
        mut reader: R,
        operation: u64,
    ) -> Result<(ChkKey, u64), NodeError>
    where
        R: AsyncRead + Unpin,
    {
        let mut encoder = Encoder::new();
        let mut inserts = Inserts::new(self, operation);
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
        let mut finish = encoder.finish()?;
        let length = finish.document_len();
        for (key, block) in finish.by_ref() {
            inserts.add(key, block).await?;
        }
        inserts.wait().await?;
        let key = finish.top().expect("an exhausted encoding has a top key");
        Ok((key, length))
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

    /// Publishes what `reader` yields under a signed key (`SSK-INSERT@…` or
    /// `KSK@…`) and returns the key readers fetch it with. A document that
    /// fits one block goes inline in the signed block; a larger one is put
    /// as a CHK splitfile first, and the signed block holds a [`Redirect`]
    /// to it (`docs/protocol.md` §12.8). All its blocks are one client
    /// operation.
    ///
    /// The signed block is never replaced: if the insert meets a different
    /// block already stored under the key, it fails with
    /// [`NodeError::Collision`] (the splitfile, if any, stays published:
    /// it is content-addressed, and harmless). Meeting the very same block
    /// (the same document published again) is success.
    pub async fn put_signed_reader<R>(
        &self,
        key: &SignedInsert,
        mut reader: R,
    ) -> Result<SignedKey, NodeError>
    where
        R: AsyncRead + Unpin,
    {
        let operation = rand::random();
        let request = key.request();
        let mut head = Vec::with_capacity(BLOCK_CAPACITY + 1);
        (&mut reader)
            .take(BLOCK_CAPACITY as u64 + 1)
            .read_to_end(&mut head)
            .await?;
        let block = if head.len() <= BLOCK_CAPACITY {
            key.seal_inline(&head)?
        } else {
            let (target, length) = self
                .put_reader_as((&head[..]).chain(reader), operation)
                .await?;
            let redirect = Redirect::new(length, target)
                .expect("a document over one block is a splitfile a redirect may name");
            key.seal_redirect(&redirect)?
        };
        self.put_signed_block(&request, block, operation).await?;
        Ok(request)
    }

    /// Inserts the signed block of `key`; a collision with another block is
    /// an error, with the same block success.
    async fn put_signed_block(
        &self,
        key: &SignedKey,
        block: SskBlock,
        operation: u64,
    ) -> Result<(), NodeError> {
        let op = ClientOp::Put {
            key: key.node_key(),
            data: Block::Ssk(block.clone()),
            htl: None,
            operation,
        };
        match self.op_retrying(op).await? {
            ClientResult::Inserted => Ok(()),
            ClientResult::Collision(existing) if existing.as_bytes() == block.as_bytes() => Ok(()),
            ClientResult::Collision(_) => Err(NodeError::Collision {
                uri: key.to_string(),
            }),
            ClientResult::Failed(failure) => Err(NodeError::Signed {
                uri: key.to_string(),
                source: Box::new(failure.into()),
            }),
            _ => Err(NodeError::Rejected),
        }
    }

    /// Fetches the document under a signed key (`SSK@…` or `KSK@…`),
    /// writing it to `sink`: the signed block's own document, or the CHK
    /// splitfile its redirect names (checked to be a splitfile of the
    /// length the redirect gives before any byte is written). Returns its
    /// length. On an error `sink` may hold a prefix.
    pub async fn get_signed_writer<W>(
        &self,
        key: &SignedKey,
        sink: &mut W,
    ) -> Result<u64, NodeError>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let operation = rand::random();
        let uri = key.to_string();
        let op = ClientOp::Get {
            key: key.node_key(),
            htl: None,
            operation,
        };
        let block = match self.op_retrying(op).await? {
            ClientResult::Found(Block::Ssk(block)) => block,
            ClientResult::Found(_) => {
                return Err(NodeError::Block(BlockError::WrongKind {
                    expected: crate::key::KeyKind::Ssk,
                    got: crate::key::KeyKind::Chk,
                }));
            }
            ClientResult::Failed(failure) => {
                return Err(NodeError::Signed {
                    uri,
                    source: Box::new(failure.into()),
                });
            }
            _ => return Err(NodeError::Rejected),
        };
        let opened = key.open(&block).map_err(|source| NodeError::BadSigned {
            uri: uri.clone(),
            source,
        })?;
        match opened {
            Signed::Inline(bytes) => {
                sink.write_all(&bytes).await?;
                sink.flush().await?;
                Ok(bytes.len() as u64)
            }
            Signed::Redirect(redirect) => {
                self.get_writer_as(&redirect.target, operation, Some((&uri, redirect)), sink)
                    .await
            }
        }
    }

    /// Encodes `doc` as [`NodeHandle::put`] does, but keeps every block in
    /// this node's own store and sends nothing: for benchmarks and tests
    /// that fix where data sits (it is not publishing: no other node holds
    /// it, and this node's store shows it). The document's key, and how
    /// many blocks it took.
    pub async fn preload(&self, doc: &[u8]) -> Result<(ChkKey, usize), NodeError> {
        let mut blocks = splitfile::Blocks::new(doc);
        let mut count = 0;
        for block in blocks.by_ref() {
            let (key, block) = block?;
            self.preload_block(key, block).await?;
            count += 1;
        }
        let top = blocks.top().expect("an exhausted encoding has a top key");
        Ok((top, count))
    }

    /// Keeps one CHK block in this node's own store and sends nothing, as
    /// [`NodeHandle::preload`] does for a whole document: for tests that
    /// fix which blocks of a document exist anywhere.
    pub async fn preload_block(&self, key: ChkKey, block: ChkBlock) -> Result<(), NodeError> {
        let (key, block) = (key.node_key(), Block::Chk(block));
        if self
            .ask(|reply| Command::Preload { key, block, reply })
            .await?
        {
            Ok(())
        } else {
            Err(NodeError::Rejected)
        }
    }

    /// Inserts one CHK block under `key`, as part of client operation
    /// `operation`.
    async fn put_block(
        &self,
        key: ChkKey,
        block: ChkBlock,
        operation: u64,
    ) -> Result<(), NodeError> {
        let op = ClientOp::Put {
            key: key.node_key(),
            data: Block::Chk(block),
            htl: None,
            operation,
        };
        match self.op_retrying(op).await? {
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
        self.get_writer_as(key, rand::random(), None, sink).await
    }

    /// As [`NodeHandle::get_writer`], as part of client operation
    /// `operation`; for the target of `redirect` (of the signed key
    /// `uri`), first checks that it is a splitfile of the redirect's length.
    async fn get_writer_as<W>(
        &self,
        key: &ChkKey,
        operation: u64,
        redirect: Option<(&str, Redirect)>,
        sink: &mut W,
    ) -> Result<u64, NodeError>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let fetch = Fetch {
            node: self.clone(),
            operation,
        };
        let block = fetch
            .node
            .get_block(key, fetch.operation)
            .await
            .map_err(|e| {
                NodeError::Splitfile(SplitfileError::Missing {
                    key: *key,
                    place: Place::Top,
                    source: source_error(e),
                })
            })?;
        let doc = chk::decode(key, &block)?;
        if let Some((uri, redirect)) = redirect {
            let found = match doc.kind {
                ContentKind::Data => Some(format!("a single block of {} bytes", doc.bytes.len())),
                ContentKind::Manifest => match splitfile::manifest_total(&doc.bytes) {
                    Ok(total) if total != redirect.length => {
                        Some(format!("a splitfile of {total} bytes"))
                    }
                    // A malformed manifest is reported by the fetch.
                    _ => None,
                },
            };
            if let Some(found) = found {
                return Err(NodeError::BadRedirect {
                    uri: uri.to_owned(),
                    redirect,
                    found,
                });
            }
        }
        Ok(splitfile::fetch_document(key, doc, Arc::new(fetch), sink).await?)
    }

    /// Fetches the block under `key` (verified by the node against its
    /// routing key, not opened), as part of client operation `operation`.
    async fn get_block(&self, key: &ChkKey, operation: u64) -> Result<ChkBlock, NodeError> {
        let op = ClientOp::Get {
            key: key.node_key(),
            htl: None,
            operation,
        };
        match self.op_retrying(op).await? {
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
        let mut stats = self.ask(|reply| Command::Stats { reply }).await?;
        stats.heal = self.heal.stats();
        Ok(stats)
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

    /// As [`NodeHandle::op`], asking again after a pause while the node
    /// answers that it is overloaded (too much in flight): a document's
    /// many blocks should wait their turn, not fail.
    async fn op_retrying(
        &self,
        op: ClientOp<BlockContent>,
    ) -> Result<ClientResult<BlockContent>, NodeError> {
        let mut wait = OVERLOAD_WAIT;
        for _ in 0..OVERLOAD_TRIES {
            match self.op(op.clone()).await? {
                ClientResult::Failed(routing::Failure::Overloaded) => {
                    tokio::time::sleep(wait).await;
                    wait *= 4;
                }
                other => return Ok(other),
            }
        }
        self.op(op).await
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

/// A node as the source of one document's blocks: each is one request, and
/// all are one client operation (they take the same stem).
struct Fetch {
    node: NodeHandle,
    operation: u64,
}

impl BlockSource for Fetch {
    fn fetch(&self, key: ChkKey) -> SourceFuture<'_> {
        Box::pin(async move {
            self.node
                .get_block(&key, self.operation)
                .await
                .map_err(source_error)
        })
    }

    fn heal(&self, key: ChkKey, block: ChkBlock) {
        self.node.heal.offer(key, block);
    }
}

/// A node's failure to fetch a block, as a block source reports it.
fn source_error(error: NodeError) -> SourceError {
    match error {
        NodeError::NotFound => SourceError::NotFound,
        NodeError::RouteNotFound | NodeError::NoPeer => SourceError::NoRoute,
        NodeError::TimedOut => SourceError::TimedOut,
        other => SourceError::Other(Box::new(other)),
    }
}

/// First pause before asking an overloaded node again; it grows fourfold.
const OVERLOAD_WAIT: Duration = Duration::from_millis(50);

/// How often a block is asked for while the node is overloaded.
const OVERLOAD_TRIES: usize = 4;

/// How many block inserts one put keeps in flight.
const INSERT_CONCURRENCY: usize = 64;

/// A put's block inserts in flight, in order; aborted if the put fails.
/// They are one client operation.
struct Inserts<'a> {
    node: &'a NodeHandle,
    operation: u64,
    /// Blocks started so far.
    started: u64,
    tasks: VecDeque<JoinHandle<Result<(), NodeError>>>,
}

impl<'a> Inserts<'a> {
    fn new(node: &'a NodeHandle, operation: u64) -> Inserts<'a> {
        Inserts {
            node,
            operation,
            started: 0,
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
        let operation = self.operation;
        self.started += 1;
        let index = self.started;
        self.tasks.push_back(tokio::spawn(async move {
            node.put_block(key, block, operation)
                .await
                .map_err(|e| match e {
                    NodeError::Stopped => NodeError::Stopped,
                    source => NodeError::NotStored {
                        index,
                        key,
                        source: Box::new(source),
                    },
                })
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
