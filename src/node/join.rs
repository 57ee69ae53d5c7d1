//! Joining the network through the seeds, and retrying until it works.
//!
//! [`Node::start`](super::Node::start) runs one round itself: each seed in
//! turn, until one join succeeds. If the whole round fails it returns
//! anyway, and [`spawn_retries`] goes on in the background: another round
//! after each [`Backoff`] wait (the settings of a seed's reconnection), or
//! at once when the actor links to a seed again, until the node has joined
//! or stops. A node that never joins is worse than one that joins late: in
//! Chord mode it has no successor and takes itself for the whole ring.
//!
//! The rounds go through the node's command channel like any client
//! request; this module never touches the core or the links.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{Notify, oneshot};

use super::backoff::Backoff;
use super::{JOIN_HTL, NodeError, NodeHandle, WeakHandle};
use crate::routing::{ClientOp, ClientResult, PeerId};
use crate::wire::NodeRef;

/// How far the join has got; shared by the join rounds, which write it,
/// and the actor, which reports it and wakes the retries.
#[derive(Debug, Default)]
pub(super) struct JoinState {
    joined: AtomicBool,
    /// The node kept its place from its last run, so it needs no join.
    restored: AtomicBool,
    attempts: AtomicU64,
    /// Woken when a link to a seed comes up while the node has not joined.
    seed_linked: Notify,
    /// Why the last link to a seed could not be opened, for the operator.
    seed_error: std::sync::Mutex<Option<String>>,
}

impl JoinState {
    /// Whether a join has succeeded.
    pub(super) fn joined(&self) -> bool {
        self.joined.load(Ordering::Relaxed)
    }

    /// The node took its place from its last run: it counts as joined.
    pub(super) fn restore(&self) {
        self.restored.store(true, Ordering::Relaxed);
        self.joined.store(true, Ordering::Relaxed);
    }

    /// Whether the node took its place from its last run.
    pub(super) fn restored(&self) -> bool {
        self.restored.load(Ordering::Relaxed)
    }

    /// Join attempts made so far, one per seed tried.
    pub(super) fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// A link to `seed` could not be opened, for `reason`.
    pub(super) fn seed_failed(&self, seed: &NodeRef, reason: &dyn std::fmt::Display) {
        if let Ok(mut last) = self.seed_error.lock() {
            *last = Some(format!("{seed}: {reason}"));
        }
    }

    /// The seed and reason of the last failed link to a seed, if any.
    pub(super) fn seed_error(&self) -> Option<String> {
        self.seed_error.lock().ok().and_then(|last| last.clone())
    }

    /// A link to a seed came up: an unjoined node tries again now rather
    /// than at the end of its wait (which may be minutes).
    pub(super) fn seed_linked(&self) {
        if !self.joined() {
            // Only a retry waiting now is woken: one that is mid-round
            // needs no second round for it.
            self.seed_linked.notify_waiters();
        }
    }
}

/// A seed as the join uses it: the actor's id for it, and its reference
/// for the logs.
pub(super) type Seed = (PeerId, NodeRef);

/// Tries each seed in turn until a join succeeds; whether one did.
/// [`NodeError::Stopped`] if the node stopped meanwhile.
pub(super) async fn round(
    node: &NodeHandle,
    seeds: &[Seed],
    state: &JoinState,
) -> Result<bool, NodeError> {
    for &(via, seed) in seeds {
        let attempt = state.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        match node.op(ClientOp::Join { via, htl: JOIN_HTL }).await? {
            ClientResult::Joined(location) => {
                state.joined.store(true, Ordering::Relaxed);
                tracing::info!(%seed, %location, attempt, "joined the network");
                return Ok(true);
            }
            ClientResult::Failed(failure) => {
                let reason = NodeError::from(failure);
                tracing::warn!(%seed, %reason, attempt, "could not join through a seed");
            }
            other => tracing::warn!(%seed, ?other, attempt, "unexpected answer to a join"),
        }
    }
    Ok(false)
}

/// Spawns the task that retries the join after a failed first round,
/// waiting `backoff` between rounds. It ends once a round succeeds, when
/// `stopped` fires (the actor is gone), or when every handle is dropped:
/// it holds the command channel only weakly, so it never keeps a node
/// alive.
pub(super) fn spawn_retries(
    node: &NodeHandle,
    seeds: Vec<Seed>,
    state: Arc<JoinState>,
    backoff: Backoff,
    stopped: oneshot::Receiver<()>,
) {
    let node = node.downgrade();
    tokio::spawn(async move {
        tokio::select! {
            () = retry(node, seeds, state, backoff) => {}
            _ = stopped => tracing::debug!("node stopped; no more join attempts"),
        }
    });
}

async fn retry(weak: WeakHandle, seeds: Vec<Seed>, state: Arc<JoinState>, mut backoff: Backoff) {
    loop {
        let wait = backoff.next_wait();
        tracing::warn!(
            seeds = seeds.len(),
            ?wait,
            "could not join through any seed; retrying"
        );
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.seed_linked.notified() => {
                tracing::debug!("a seed is linked again; retrying the join now");
            }
        }
        let Some(node) = weak.upgrade() else {
            return;
        };
        match round(&node, &seeds, &state).await {
            Ok(false) => {}
            Ok(true) | Err(_) => return,
        }
    }
}
