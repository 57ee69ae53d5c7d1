//! The protocol core, sans-IO: one deterministic state machine per node.
//!
//! A core is fed `(now, input)` through `handle` and drained of [`Output`]s
//! through `poll`; `poll_timeout` says when it next wants a
//! [`Input::Timeout`]. It never reads a clock, opens a socket, spawns a
//! thread or draws from a thread-local RNG: time is an argument and
//! randomness comes from the generator passed in, so the same seed and the
//! same inputs give the same outputs, bit for bit. The simulator (`sim`) and
//! the real node (`node`) are two drivers of this one core.
//!
//! The core is generic over [`Content`]: the real node routes [`NodeKey`]s
//! and verified [`Block`]s ([`BlockContent`]); the simulator routes virtual
//! keys with no payload, so a million nodes fit in memory.

pub mod chord;
pub mod config;
pub mod freenet;
pub mod table;

use std::fmt::Debug;
use std::hash::Hash;

use rand::Rng;

pub use chord::{Chord, ChordConfig};
pub use config::Config;
pub use table::RoutingTable;

use crate::block::Block;
use crate::key::{Location, NodeKey};
pub use crate::wire::RequestId;

/// Virtual time in microseconds since an arbitrary start.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Time(pub u64);

impl Time {
    /// `ms` milliseconds after `self`.
    pub fn plus_ms(self, ms: u64) -> Time {
        Time(self.0.saturating_add(ms.saturating_mul(1000)))
    }

    /// Whole milliseconds since the start.
    pub fn as_ms(self) -> u64 {
        self.0 / 1000
    }
}

/// A peer as the core knows it: a small integer the driver maps to a link
/// (the node) or to a node index (the simulator).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PeerId(pub u32);

/// A local client request, so that its answer can be matched to it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ClientId(pub u64);

/// What a core routes and stores: a key type with a location, and the data
/// stored under a key with a check that it belongs there.
pub trait Content: Clone + Debug + 'static {
    /// What requests name.
    type Key: Copy + Eq + Ord + Hash + Debug;
    /// What is stored and returned under a key.
    type Data: Clone + Debug;
    /// Where `key` sits on the ring.
    fn location(key: &Self::Key) -> Location;
    /// Whether `data` is what `key` names. Only verified data is stored or
    /// forwarded.
    fn verify(key: &Self::Key, data: &Self::Data) -> bool;
}

/// Real content: node keys and encrypted blocks, verified against their
/// routing keys (and SSK signatures).
#[derive(Clone, Copy, Debug)]
pub enum BlockContent {}

impl Content for BlockContent {
    type Key = NodeKey;
    type Data = Block;

    fn location(key: &NodeKey) -> Location {
        key.location()
    }

    fn verify(key: &NodeKey, data: &Block) -> bool {
        data.verify(key).is_ok()
    }
}

/// A datastore as the core uses it. Implementations keep at most their
/// capacity and evict the least recently used entry first.
pub trait Store<C: Content> {
    /// The data under `key`, marking it recently used.
    fn get(&mut self, key: &C::Key) -> Option<C::Data>;
    /// Whether `key` is held, without marking it used.
    fn contains(&self, key: &C::Key) -> bool;
    /// Stores `data` under `key`, evicting the least recently used entry if
    /// full. The core only calls this with verified data.
    fn put(&mut self, key: C::Key, data: C::Data);
    /// Asks that what this node acknowledges be durable before any message
    /// the core sends after this call leaves the node: called after it
    /// stored a block that it tells a peer it now holds (the end of an
    /// insert's path; a Chord transfer or replica). The driver keeps that
    /// promise: the node holds back the messages that follow and syncs its
    /// disk store once for all the inputs it handled together, then sends
    /// them (a group commit). Other puts may wait longer: a store that
    /// batches its writes to disk loses at most those in a crash. A store
    /// in memory has nothing to do.
    fn commit(&mut self) {}
    /// Every key held, in no particular order, without marking any used
    /// (Chord mode hands keys over when its neighbours change).
    fn all_keys(&self) -> Vec<C::Key>;
    /// How many entries are held.
    fn len(&self) -> usize;
    /// Whether nothing is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A Chord ring member as a core knows it: how to reach it and where it
/// sits. The node translates it to and from [`crate::wire::ChordPeer`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ChordRef {
    /// How to reach it.
    pub peer: PeerId,
    /// Its id on the ring.
    pub location: Location,
}

/// A protocol message between two cores. The node translates these to and
/// from [`crate::wire::Message`]; peer ids in them are the sender's view.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Msg<C: Content> {
    /// Find the data under `key`.
    Request {
        /// Request id, the same on every hop (loop detection).
        id: RequestId,
        /// What is wanted.
        key: C::Key,
        /// Hops to live.
        htl: u8,
    },
    /// Chord mode: store `data` under `key`, routed to the node responsible
    /// for it. (Freenet mode offers an insert first: [`Msg::InsertOffer`].)
    Insert {
        /// Request id.
        id: RequestId,
        /// Where to store.
        key: C::Key,
        /// Hops to live.
        htl: u8,
        /// Who claims to insert it.
        source: PeerId,
        /// What to store.
        data: C::Data,
    },
    /// Freenet mode: offers to store data under `key` along a path of `htl`
    /// hops. The data follows in [`Msg::InsertData`] once the receiver
    /// accepts, so that no block travels to a node that refuses it (a
    /// loop, a collision).
    InsertOffer {
        /// Request id.
        id: RequestId,
        /// Where to store.
        key: C::Key,
        /// Hops to live.
        htl: u8,
        /// Who claims to insert it; every hop references it for the key,
        /// and any hop may put itself here.
        source: PeerId,
    },
    /// The receiver of an [`Msg::InsertOffer`] takes it: send the data.
    InsertAccepted {
        /// Request id.
        id: RequestId,
    },
    /// The data of an accepted insert.
    InsertData {
        /// Request id.
        id: RequestId,
        /// What to store.
        data: C::Data,
    },
    /// The data was found (for an insert: it already existed, a collision).
    DataFound {
        /// Request id.
        id: RequestId,
        /// Who claims to have had it; any hop may put itself here.
        source: PeerId,
        /// The data.
        data: C::Data,
    },
    /// Hops to live ran out before the data was found.
    DataNotFound {
        /// Request id.
        id: RequestId,
    },
    /// Every peer was tried; `htl` hops to live are left for the sender to
    /// spend on its next-best peer.
    RouteNotFound {
        /// Request id.
        id: RequestId,
        /// Hops to live left unused.
        htl: u8,
    },
    /// This request already passed here: try another peer.
    RejectedLoop {
        /// Request id.
        id: RequestId,
    },
    /// The insert was stored along its path.
    InsertReply {
        /// Request id.
        id: RequestId,
    },
    /// A new node asks to join; each hop adds a committed random seed.
    Announce {
        /// Request id.
        id: RequestId,
        /// Hops to live.
        htl: u8,
        /// The node joining.
        joiner: PeerId,
        /// Hash chain committing to the seeds so far.
        commitment: [u8; 32],
    },
    /// A request on its stem: the anonymity phase before routing
    /// (`docs/protocol.md` §10.1). The receiver passes it to a random peer
    /// or ends the stem and routes it; it carries no hops to live, and the
    /// id is new on every hop.
    StemRequest {
        /// Request id, chosen by the sender for this hop.
        id: RequestId,
        /// What is wanted.
        key: C::Key,
    },
    /// An insert on its stem, as [`Msg::StemRequest`]; it names no source:
    /// the node that ends the stem puts itself there.
    StemInsert {
        /// Request id, chosen by the sender for this hop.
        id: RequestId,
        /// Where to store.
        key: C::Key,
        /// What to store.
        data: C::Data,
    },
    /// Seeds revealed back up the announcement path, last hop first.
    AnnounceReply {
        /// Request id.
        id: RequestId,
        /// Seeds so far.
        seeds: Vec<[u8; 32]>,
    },
    /// Every seed, joiner first, sent down the path so each hop can check
    /// the commitments and compute the new node's location.
    AnnounceComplete {
        /// Request id.
        id: RequestId,
        /// All seeds in path order.
        seeds: Vec<[u8; 32]>,
    },
    // ---- Chord mode: ring upkeep (key operations reuse the above) ----
    /// Find the node that succeeds `target` on the ring.
    FindSuccessor {
        /// Lookup id, the same on every hop.
        id: RequestId,
        /// The location looked up.
        target: Location,
        /// Lookup messages sent so far, this one included.
        hops: u8,
    },
    /// The successor of a `FindSuccessor`'s target.
    SuccessorFound {
        /// Lookup id.
        id: RequestId,
        /// The successor.
        node: ChordRef,
        /// Lookup messages the lookup took.
        hops: u8,
    },
    /// "I may be your predecessor."
    Notify {
        /// The sender.
        node: ChordRef,
    },
    /// Asks for the receiver's predecessor (stabilisation, and as a probe
    /// that the predecessor is alive).
    GetPredecessor {
        /// Query id.
        id: RequestId,
    },
    /// The answer to `GetPredecessor`.
    Predecessor {
        /// Query id.
        id: RequestId,
        /// The predecessor, if known.
        node: Option<ChordRef>,
    },
    /// Asks for the receiver's successor list.
    GetSuccessorList {
        /// Query id.
        id: RequestId,
    },
    /// The answer to `GetSuccessorList`, nearest first.
    SuccessorList {
        /// Query id.
        id: RequestId,
        /// The successors.
        nodes: Vec<ChordRef>,
    },
    /// Hands stored data to a node that is now responsible for it (a join,
    /// a leave) or replicates it.
    StoreTransfer {
        /// Transfer id.
        id: RequestId,
        /// The key.
        key: C::Key,
        /// The data.
        data: C::Data,
    },
    /// The transferred data is stored.
    TransferAck {
        /// Transfer id.
        id: RequestId,
    },
    /// The sender leaves the ring and says whom to link to instead.
    Leave {
        /// The sender's predecessor.
        predecessor: Option<ChordRef>,
        /// The sender's successors.
        successors: Vec<ChordRef>,
    },
    /// Keys the sender is responsible for and holds, offered to a successor
    /// that should replicate them.
    StoreOffer {
        /// Offer id.
        id: RequestId,
        /// The keys.
        keys: Vec<C::Key>,
    },
    /// The offered keys the sender lacks; each comes back in a
    /// `StoreTransfer`.
    StoreWant {
        /// The offer's id.
        id: RequestId,
        /// The keys.
        keys: Vec<C::Key>,
    },
}

impl<C: Content> Msg<C> {
    /// The request, lookup or query this message belongs to, if any.
    pub fn id(&self) -> Option<RequestId> {
        match self {
            Msg::Request { id, .. }
            | Msg::Insert { id, .. }
            | Msg::DataFound { id, .. }
            | Msg::DataNotFound { id }
            | Msg::RouteNotFound { id, .. }
            | Msg::RejectedLoop { id }
            | Msg::InsertReply { id }
            | Msg::InsertOffer { id, .. }
            | Msg::InsertAccepted { id }
            | Msg::InsertData { id, .. }
            | Msg::Announce { id, .. }
            | Msg::StemRequest { id, .. }
            | Msg::StemInsert { id, .. }
            | Msg::AnnounceReply { id, .. }
            | Msg::AnnounceComplete { id, .. }
            | Msg::FindSuccessor { id, .. }
            | Msg::SuccessorFound { id, .. }
            | Msg::GetPredecessor { id }
            | Msg::Predecessor { id, .. }
            | Msg::GetSuccessorList { id }
            | Msg::SuccessorList { id, .. }
            | Msg::StoreTransfer { id, .. }
            | Msg::TransferAck { id }
            | Msg::StoreOffer { id, .. }
            | Msg::StoreWant { id, .. } => Some(*id),
            Msg::Notify { .. } | Msg::Leave { .. } => None,
        }
    }

    /// Whether this message moves a request or lookup one hop further (what
    /// path lengths count).
    pub fn is_hop(&self) -> bool {
        matches!(
            self,
            Msg::Request { .. }
                | Msg::Insert { .. }
                | Msg::InsertOffer { .. }
                | Msg::StemRequest { .. }
                | Msg::StemInsert { .. }
                | Msg::FindSuccessor { .. }
        )
    }

    /// Short name, for logs and statistics.
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Request { .. } => "Request",
            Msg::Insert { .. } => "Insert",
            Msg::DataFound { .. } => "DataFound",
            Msg::DataNotFound { .. } => "DataNotFound",
            Msg::RouteNotFound { .. } => "RouteNotFound",
            Msg::RejectedLoop { .. } => "RejectedLoop",
            Msg::InsertReply { .. } => "InsertReply",
            Msg::InsertOffer { .. } => "InsertOffer",
            Msg::InsertAccepted { .. } => "InsertAccepted",
            Msg::InsertData { .. } => "InsertData",
            Msg::Announce { .. } => "Announce",
            Msg::StemRequest { .. } => "StemRequest",
            Msg::StemInsert { .. } => "StemInsert",
            Msg::AnnounceReply { .. } => "AnnounceReply",
            Msg::AnnounceComplete { .. } => "AnnounceComplete",
            Msg::FindSuccessor { .. } => "FindSuccessor",
            Msg::SuccessorFound { .. } => "SuccessorFound",
            Msg::Notify { .. } => "Notify",
            Msg::GetPredecessor { .. } => "GetPredecessor",
            Msg::Predecessor { .. } => "Predecessor",
            Msg::GetSuccessorList { .. } => "GetSuccessorList",
            Msg::SuccessorList { .. } => "SuccessorList",
            Msg::StoreTransfer { .. } => "StoreTransfer",
            Msg::TransferAck { .. } => "TransferAck",
            Msg::Leave { .. } => "Leave",
            Msg::StoreOffer { .. } => "StoreOffer",
            Msg::StoreWant { .. } => "StoreWant",
        }
    }
}

/// What a local client asks of its node.
#[derive(Clone, Debug)]
pub enum ClientOp<C: Content> {
    /// Fetch the data under `key`.
    Get {
        /// What is wanted.
        key: C::Key,
        /// Hops to live; the node's maximum if `None`. Used only when the
        /// node routes the request itself (no stem, or Chord mode): a stem
        /// carries no hops to live, and its exit sends the maximum.
        htl: Option<u8>,
        /// The client operation this request belongs to. Every request and
        /// insert of one operation (the blocks of one document) takes the
        /// same stem; any number, it never leaves the node.
        operation: u64,
    },
    /// Publish `data` under `key`.
    Put {
        /// Where to store.
        key: C::Key,
        /// What to store (verified before it is sent).
        data: C::Data,
        /// Hops to live, as for `Get`.
        htl: Option<u8>,
        /// The client operation, as for `Get`.
        operation: u64,
    },
    /// Join the network through `via`, a peer the node already references.
    Join {
        /// The first hop of the announcement (Chord: of the lookup of this
        /// node's own successor).
        via: PeerId,
        /// Hops to live of the announcement (unused in Chord mode).
        htl: u8,
    },
    /// Chord mode: find the node that succeeds `target` on the ring.
    /// Freenet mode has no such node and refuses it.
    Lookup {
        /// The location looked up.
        target: Location,
    },
    /// Leave the network gracefully (Chord mode hands its keys over to its
    /// successor); the driver closes the links afterwards.
    Leave,
}

/// Why a client request failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Failure {
    /// Hops to live ran out: nobody within reach had it.
    DataNotFound,
    /// Every route was tried before hops to live ran out.
    RouteNotFound,
    /// The node knows no peer to send the request to.
    NoPeer,
    /// No answer arrived in time.
    TimedOut,
    /// Too many requests in flight; try again later.
    Overloaded,
    /// The client's own data or arguments were refused (data that does not
    /// verify under its key).
    Rejected,
}

/// The answer to a client request.
#[derive(Clone, Debug)]
pub enum ClientResult<C: Content> {
    /// The data of a `Get`.
    Found(C::Data),
    /// A `Put` was stored along its path.
    Inserted,
    /// A `Put` met data already stored under its key, returned here.
    Collision(C::Data),
    /// A `Join` finished: the node's new location.
    Joined(Location),
    /// A `Lookup` finished: the target's successor.
    Located(ChordRef),
    /// A `Leave` was carried out.
    Left,
    /// The request failed.
    Failed(Failure),
}

/// An event fed to a core.
#[derive(Clone, Debug)]
pub enum Input<C: Content> {
    /// A message from a peer.
    Message {
        /// The sender.
        from: PeerId,
        /// The message.
        msg: Msg<C>,
    },
    /// A request from a local client.
    Client {
        /// To match the answer.
        client: ClientId,
        /// What it asks.
        op: ClientOp<C>,
    },
    /// A peer is gone (link closed, unreachable): stop waiting on it and
    /// forget the references through it.
    PeerDown(PeerId),
    /// The time given by `poll_timeout` has come.
    Timeout,
}

/// What a core asks its driver to do.
#[derive(Clone, Debug)]
pub enum Output<C: Content> {
    /// Send `msg` to `to`.
    Send {
        /// The peer.
        to: PeerId,
        /// The message.
        msg: Msg<C>,
    },
    /// Answer a local client.
    Reply {
        /// Who asked.
        client: ClientId,
        /// The answer.
        result: ClientResult<C>,
    },
    /// Close the link to a misbehaving peer (or, in Chord mode, to one
    /// that left).
    DropPeer {
        /// The peer.
        peer: PeerId,
        /// Why, for the log.
        reason: DropReason,
    },
}

/// Why a core drops a peer: every case is a peer breaking the protocol in
/// a way no honest peer does, so the drivers close its link (the node) or
/// count it (the simulator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DropReason {
    /// The data of an insert it sent does not verify against its key.
    #[error("insert data fails verification")]
    BadInsertData,
    /// The data it returned for a request does not verify against the key.
    #[error("returned data fails verification")]
    BadReturnedData,
    /// Data it handed over in a Chord store transfer does not verify.
    #[error("transferred data fails verification")]
    BadTransferredData,
    /// It sent a message of the other mode (Chord to a Freenet-mode node,
    /// or Freenet to a Chord-mode one).
    #[error("sent a message of the other routing mode")]
    WrongMode,
    /// Its Chord `Notify` named a node other than itself.
    #[error("notify names another node")]
    NotifyNamesAnother,
}

/// A protocol core as its drivers (the simulator, the node) see it: fed
/// `(now, input, rng)`, drained of outputs, woken at its timeout.
pub trait Protocol {
    /// What it routes and stores.
    type Content: Content;
    /// Feeds one event; drain [`Protocol::poll`] afterwards.
    fn handle<R: Rng + ?Sized>(&mut self, now: Time, input: Input<Self::Content>, rng: &mut R);
    /// The next thing the driver must do, in order.
    #[must_use]
    fn poll(&mut self) -> Option<Output<Self::Content>>;
    /// When the core next needs [`Input::Timeout`], if ever.
    #[must_use]
    fn poll_timeout(&self) -> Option<Time>;
    /// The node's location on the ring.
    fn location(&self) -> Location;
    /// Whether the node keeps data under `key` (in its store or cache),
    /// without marking it used.
    fn holds(&self, key: &<Self::Content as Content>::Key) -> bool;
    /// Stores verified data directly (bootstrap, a restored store); false if
    /// it does not verify.
    fn preload(
        &mut self,
        key: <Self::Content as Content>::Key,
        data: <Self::Content as Content>::Data,
    ) -> bool;
    /// Entries stored (cache included), for load and state statistics.
    fn stored(&self) -> usize;
    /// Peers this node keeps state about (routing table, fingers,
    /// successors): its routing state.
    fn state_size(&self) -> usize;
}
