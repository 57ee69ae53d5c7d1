//! Healing (`docs/protocol.md` §12.4): the blocks of a splitfile that a
//! fetch found lost, rebuilt from the segment's other blocks and checked
//! against their keys, are inserted again, so the network repairs what it
//! loses, as fred's splitfile fetcher does.
//!
//! Bounded on every side: the queue holds at most [`HEAL_QUEUE`] blocks (a
//! block offered to a full queue is let go, and counted), and one task
//! inserts them one at a time, at most one per [`HEAL_INTERVAL`]. Each is
//! an ordinary insert of its own client operation, so it takes a stem of
//! its own (the anonymity phase, protocol §10.2), like any publication:
//! nothing marks it as a repair, and it is not tied to the fetch that
//! found the loss.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::actor::Command;
use crate::block::chk::ChkBlock;
use crate::key::ChkKey;
use crate::wire::NodeRef;

/// Blocks waiting to be inserted again, at most (32 KiB each: 8 MiB).
pub const HEAL_QUEUE: usize = 256;

/// The least time between two healing inserts: at most 20 blocks, about
/// 650 KB, a second, so that repairs never crowd out what users ask for.
pub const HEAL_INTERVAL: Duration = Duration::from_millis(50);

/// A block to insert again.
type Healed = (ChkKey, ChkBlock);

/// What healing has done since the node started.
#[derive(Debug, Default)]
pub(super) struct HealCounters {
    healed: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// Healing's figures, as [`super::NodeStats`] reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealStats {
    /// Blocks inserted again.
    pub healed: u64,
    /// Blocks whose insert failed (stored nowhere, no route).
    pub failed: u64,
    /// Blocks let go because the queue was full.
    pub dropped: u64,
}

/// Where fetches hand in blocks to heal. Cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct Queue {
    tx: mpsc::Sender<Healed>,
    counters: Arc<HealCounters>,
}

impl Queue {
    /// Queues `block` under `key` for insertion, without waiting.
    pub(super) fn offer(&self, key: ChkKey, block: ChkBlock) {
        if self.tx.try_send((key, block)).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(key = %key.routing, "healing queue full (or the node stopped): block let go");
        }
    }

    /// Healing's figures so far.
    pub(super) fn stats(&self) -> HealStats {
        let c = &self.counters;
        HealStats {
            healed: c.healed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }

    /// A queue that holds neither the node nor itself open.
    pub(super) fn downgrade(&self) -> WeakQueue {
        WeakQueue {
            tx: self.tx.downgrade(),
            counters: Arc::clone(&self.counters),
        }
    }
}

/// A [`Queue`] that does not keep the healing task alive: held by the
/// node's own background tasks.
#[derive(Clone, Debug)]
pub(super) struct WeakQueue {
    tx: mpsc::WeakSender<Healed>,
    counters: Arc<HealCounters>,
}

impl WeakQueue {
    /// The queue, while any [`NodeHandle`](super::NodeHandle) holds it.
    pub(super) fn upgrade(&self) -> Option<Queue> {
        Some(Queue {
            tx: self.tx.upgrade()?,
            counters: Arc::clone(&self.counters),
        })
    }
}

/// Starts the healing task of the node that `commands` reaches; it ends
/// when the last [`NodeHandle`](super::NodeHandle) (the last [`Queue`]) is gone.
pub(super) fn spawn(commands: &mpsc::Sender<Command>, node_ref: NodeRef) -> Queue {
    let (tx, mut rx) = mpsc::channel(HEAL_QUEUE);
    let queue = Queue {
        tx,
        counters: Arc::default(),
    };
    let weak = super::WeakHandle {
        commands: commands.downgrade(),
        heal: queue.downgrade(),
        node_ref,
    };
    let counters = Arc::clone(&queue.counters);
    tokio::spawn(async move {
        while let Some((key, block)) = rx.recv().await {
            let Some(node) = weak.upgrade() else {
                return;
            };
            match node.put_block(key, block, rand::random()).await {
                Ok(()) => {
                    counters.healed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(key = %key.routing, "healed: block inserted again");
                }
                Err(e) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(key = %key.routing, error = %e, "healing insert failed");
                }
            }
            // Not holding the node open while waiting.
            drop(node);
            tokio::time::sleep(HEAL_INTERVAL).await;
        }
    });
    queue
}
