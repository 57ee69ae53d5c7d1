//! The `fog` subcommands, one module each.

pub(crate) mod bench;
mod bench_fec;
mod bench_net;
mod bench_put;
mod bench_store;
pub(crate) mod demo;
pub(crate) mod get;
pub(crate) mod key;
pub(crate) mod node;
pub(crate) mod put;
pub(crate) mod sim;
pub(crate) mod status;

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use fogstore::node::api::{ApiClient, ClientError};

/// What kind of failure ended a command; each has its own exit code, so
/// scripts can tell them apart. Attached to an error as its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Anything else: an I/O error, a bug.
    Other = 1,
    /// The input (a file, an argument) cannot be used. Clap's usage errors
    /// also exit with 2.
    BadInput = 2,
    /// A key URI is malformed.
    BadKey = 3,
    /// The network does not have the data (or no route to it).
    NotFound = 4,
    /// The node gave up waiting for the network.
    TimedOut = 5,
    /// No node answers for the data directory.
    Unreachable = 6,
    /// A signed key already holds a different document.
    Collision = 7,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Failure::Other => "failed",
            Failure::BadInput => "bad input",
            Failure::BadKey => "bad key",
            Failure::NotFound => "not found",
            Failure::TimedOut => "timed out",
            Failure::Unreachable => "node unreachable",
            Failure::Collision => "key taken",
        })
    }
}

/// The data directory clients use when none is given.
pub(crate) const DEFAULT_DATA_DIR: &str = "fog-data";

/// A client of the node whose API files are in `data_dir`.
pub(crate) fn client(data_dir: &Path) -> Result<ApiClient> {
    ApiClient::from_data_dir(data_dir).map_err(client_error)
}

/// A one-thread runtime for a client command.
pub(crate) fn client_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A client failure as an error whose context gives its exit code.
pub(crate) fn client_error(error: ClientError) -> anyhow::Error {
    let failure = match &error {
        ClientError::NoNode { .. }
        | ClientError::BadFile(_)
        | ClientError::Unreachable { .. }
        | ClientError::NoAnswer { .. } => Failure::Unreachable,
        ClientError::Status { code, .. } => match code {
            400 => Failure::BadKey,
            404 => Failure::NotFound,
            409 => Failure::Collision,
            413 => Failure::BadInput,
            504 => Failure::TimedOut,
            _ => Failure::Other,
        },
        _ => Failure::Other,
    };
    // Kept as the source (same message), so that main sees a broken pipe
    // when `fog get` writes to a closed stdout.
    if let ClientError::Local(source) = error {
        return anyhow::Error::new(source).context(failure);
    }
    let message = match &error {
        ClientError::NoNode { dir, .. } => {
            format!("{error}; start one with `fog node --data-dir {dir}` or pass --data-dir")
        }
        _ => error.to_string(),
    };
    anyhow!(message).context(failure)
}

/// The indices of the nodes whose store holds `key` (demo and benchmarks).
pub(crate) async fn holders(
    nodes: &[fogstore::node::NodeHandle],
    key: &fogstore::key::ChkKey,
) -> anyhow::Result<Vec<usize>> {
    let mut out = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        if node.holds(&key.node_key()).await? {
            out.push(i);
        }
    }
    Ok(out)
}

/// A scratch folder removed when dropped, however the command ends.
pub(crate) struct RemoveOnDrop(pub(crate) std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The multi-threaded tokio runtime the in-process network commands run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
