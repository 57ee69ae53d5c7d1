//! `fog node`: the daemon. Runs a node and serves the local client API
//! until SIGINT or SIGTERM.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use fogstore::node::api::{self, ApiServer, Token};
use fogstore::node::{Node, NodeConfig, small_network_routing};
use fogstore::wire::NodeRef;

use super::Failure;

/// Arguments of `fog node`.
#[derive(Args)]
pub(crate) struct NodeArgs {
    /// The node's directory: identity key, datastore, and the `api` and
    /// `token` files clients read. Created if missing.
    #[arg(long, value_name = "DIR", default_value = super::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Where to listen for other nodes; port 0 picks a free port. This
    /// address goes into the node reference, so peers must be able to reach
    /// it (not 0.0.0.0).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Port of the client API, which always binds 127.0.0.1; 0 picks a
    /// free port.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    api_port: u16,
    /// A node reference (`fog:<key>@<host>:<port>`) to join through; may be
    /// repeated.
    #[arg(long = "seed", value_name = "REF")]
    seeds: Vec<NodeRef>,
    /// Most bytes the datastore keeps, with an optional K, M or G suffix
    /// (powers of 1024).
    #[arg(long, value_name = "BYTES", default_value = "256M", value_parser = parse_size)]
    store_size: u64,
    /// Routing settings for a few nodes on one machine (every node caches,
    /// short time limits), as `fog demo` uses. They trade anonymity for a
    /// network that works with two nodes; leave off for a real network.
    #[arg(long)]
    small_network: bool,
}

/// Parses `123`, `64K`, `256M`, `2G` (case-insensitive, powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, ' '),
    };
    let shift = match unit {
        ' ' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        other => return Err(format!("unknown size suffix {other:?}; use K, M or G")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 65536, 512K, 256M, 2G)"))?;
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes < 1 << 20 {
        return Err(format!(
            "{text:?} is too small; the store needs at least 1M"
        ));
    }
    Ok(bytes)
}

pub(crate) fn run(args: NodeArgs) -> Result<()> {
    if args.listen.ip().is_unspecified() {
        return Err(anyhow!(
            "--listen {} cannot be announced to peers; give an address they can reach",
            args.listen
        )
        .context(Failure::BadInput));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: NodeArgs) -> Result<()> {
    let dir = args.data_dir;
    let mut config = NodeConfig {
        seeds: args.seeds,
        store_bytes: args.store_size,
        ..NodeConfig::new(&dir, args.listen)
    };
    if args.small_network {
        config.routing = small_network_routing();
    }
    let node = Node::start(config)
        .await
        .with_context(|| format!("starting the node in {}", dir.display()))?;

    let token = Token::generate();
    let api_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.api_port));
    let served = async {
        api::write_token_file(&dir, &token)
            .with_context(|| format!("writing {}", dir.join(api::TOKEN_FILE).display()))?;
        let server = ApiServer::start(node.clone(), api_addr, token, api::MAX_BODY)
            .await
            .with_context(|| format!("starting the client API on {api_addr}"))?;
        api::write_api_file(&dir, server.local_addr())
            .with_context(|| format!("writing {}", dir.join(api::API_FILE).display()))?;
        anyhow::Ok(server)
    }
    .await;
    let server = match served {
        Ok(server) => server,
        Err(e) => {
            let _ = api::remove_api_files(&dir);
            node.shutdown().await;
            return Err(e);
        }
    };

    println!("node {}", node.node_ref());
    println!("api  {}", server.local_addr());
    tracing::info!(api = %server.local_addr(), "serving; stop with Ctrl-C or SIGTERM");

    let stopped_by = wait_for_signal().await;
    tracing::info!(signal = stopped_by, "shutting down");
    server.shutdown().await;
    let removed = api::remove_api_files(&dir);
    node.shutdown().await;
    removed.with_context(|| format!("removing the API files from {}", dir.display()))?;
    eprintln!("stopped ({stopped_by})");
    Ok(())
}

/// Waits for SIGINT or (on Unix) SIGTERM; returns which.
async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("4096K"), Ok(4 << 20));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("1K").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}
