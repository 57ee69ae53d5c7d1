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
//! time the core sends it something. `docs/architecture.md` ("The node")
//! describes the design; what is not done yet (the HTTP client API,
//! splitfiles, `fog node` as a daemon) is listed there.

mod actor;
mod directory;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::block::{Block, BlockError, chk};
use crate::key::hash::sha256;
use crate::key::{ChkKey, Location, NodeKey};
use crate::link::{Identity, LinkError};
use crate::routing::freenet::Core;
use crate::routing::{self, BlockContent, ClientOp, ClientResult, PeerId, RequestId};
use crate::store::{DiskStore, StoreError};
use crate::wire::NodeRef;

use actor::{Actor, Command};

/// The identity key's file name inside the data directory.
pub const IDENTITY_FILE: &str = "identity.key";

/// The datastore's folder inside the data directory.
pub const STORE_DIR: &str = "store";

/// Hops to live of the announcement a node joins with.
pub const JOIN_HTL: u8 = 10;

/// How long a link's TCP connection and handshake may take, each way.
pub const LINK_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Nodes to bootstrap from; with any, the node joins through the first.
    pub seeds: Vec<NodeRef>,
    /// Most bytes of blocks the datastore keeps.
    pub store_bytes: u64,
    /// Routing settings; `me` is overwritten with `PeerId(0)`.
    pub routing: routing::Config,
    /// Where to count forwarded requests, if anywhere (see [`Trace`]).
    pub trace: Option<Trace>,
}

impl NodeConfig {
    /// A configuration with the default routing settings, a 256 MiB store,
    /// no seeds and no trace.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> NodeConfig {
        NodeConfig {
            data_dir: data_dir.into(),
            listen,
            seeds: Vec::new(),
            store_bytes: 256 * 1024 * 1024,
            routing: routing::Config::default(),
            trace: None,
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
    /// The document needs more than one block (splitfiles are not done yet).
    #[error(
        "document of {size} bytes does not fit in one block; larger documents are not supported yet"
    )]
    TooLarge {
        /// The document's size.
        size: usize,
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
}

/// Starts nodes.
#[derive(Debug)]
pub struct Node;

impl Node {
    /// Opens `config.data_dir`, binds `config.listen`, starts the actor and,
    /// if there are seeds, joins the network through the first one.
    ///
    /// A join that fails (the seed is unreachable, the announcement times
    /// out) is logged, not fatal: the node runs with its seeds as its only
    /// references and the location its key gives it.
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
        let location = Location::from_hash(&sha256(&identity.public()));
        let core: Core<BlockContent, DiskStore> = Core::new(routing, location, store, &mut rng);

        let (commands, commands_rx) = mpsc::channel(64);
        let mut actor = Actor::new(core, rng, identity, listen, config.trace.clone());
        let seeds: Vec<PeerId> = config
            .seeds
            .iter()
            .filter(|seed| seed.identity != me.identity)
            .map(|seed| actor.add_seed(*seed))
            .collect();
        tokio::spawn(actor.run(listener, commands_rx));
        let handle = NodeHandle {
            commands,
            node_ref: me,
        };
        tracing::info!(node = %me, seeds = seeds.len(), "node started");

        if let Some(&via) = seeds.first() {
            match handle.op(ClientOp::Join { via, htl: JOIN_HTL }).await? {
                ClientResult::Joined(location) => {
                    tracing::info!(%location, "joined the network");
                }
                ClientResult::Failed(failure) => {
                    tracing::warn!(?failure, "could not join; running with the seeds only");
                }
                other => tracing::warn!(?other, "unexpected answer to a join"),
            }
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

    /// Publishes `doc` as one CHK block and returns its key. A key that
    /// already holds the same document (a collision) is success too.
    pub async fn put(&self, doc: &[u8]) -> Result<ChkKey, NodeError> {
        self.put_with_htl(doc, None).await
    }

    /// As [`NodeHandle::put`], with the insert's hops to live (the node's
    /// maximum if `None`): fewer hops store fewer copies.
    pub async fn put_with_htl(&self, doc: &[u8], htl: Option<u8>) -> Result<ChkKey, NodeError> {
        let (key, block) = chk::encode(doc).map_err(|e| match e {
            BlockError::TooLarge { size } => NodeError::TooLarge { size },
            e => NodeError::Block(e),
        })?;
        let op = ClientOp::Put {
            key: key.node_key(),
            data: Block::Chk(block),
            htl,
        };
        match self.op(op).await? {
            ClientResult::Inserted | ClientResult::Collision(_) => Ok(key),
            ClientResult::Failed(failure) => Err(failure.into()),
            _ => Err(NodeError::Rejected),
        }
    }

    /// Fetches and opens the document under `key`, verifying it.
    pub async fn get(&self, key: &ChkKey) -> Result<Vec<u8>, NodeError> {
        let op = ClientOp::Get {
            key: key.node_key(),
            htl: None,
        };
        match self.op(op).await? {
            ClientResult::Found(Block::Chk(block)) => Ok(chk::decode(key, &block)?.bytes),
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
