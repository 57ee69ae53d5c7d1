//! `fog node`: the daemon. Runs a node and serves the local client API
//! until SIGINT or SIGTERM.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use fogstore::node::api::{self, ApiServer, Token};
use fogstore::node::{Mode, Node, NodeConfig, PeerConfig};
use fogstore::wire::NodeRef;

use super::Failure;
use fogstore::node::config::{
    self as node_config, COVER_RATE, FileConfig, KEEPALIVE_SECS, MAX_PEERS, REQUEST_BURST,
    REQUEST_RATE, parse_size,
};

/// Arguments of `fog node`. Every one but `--data-dir` can also be set in
/// `DIR/fog.toml` (the key is the flag's name with `_` for `-`); a flag
/// given here wins over the file.
#[derive(Args)]
pub(crate) struct NodeArgs {
    /// The node's directory: identity key, datastore, the optional
    /// `fog.toml`, and the `api` and `token` files clients read. Created if
    /// missing.
    #[arg(long, value_name = "DIR", default_value = super::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Where to listen for other nodes; port 0 picks a free port. This
    /// address goes into the node reference, so peers must be able to reach
    /// it (not 0.0.0.0). [default: 127.0.0.1:0]
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Port of the client API, which always binds 127.0.0.1; 0 picks a
    /// free port. [default: 0]
    #[arg(long, value_name = "PORT")]
    api_port: Option<u16>,
    /// A node reference (`fog:<key>@<host>:<port>`) to join through; may be
    /// repeated. Replaces the `seeds` of fog.toml.
    #[arg(long = "seed", value_name = "REF")]
    seeds: Vec<NodeRef>,
    /// A file of node references to join through, one a line; `#` starts
    /// a comment. Used together with the --seed references.
    #[arg(long, value_name = "PATH")]
    seeds_file: Option<PathBuf>,
    /// Most bytes the datastore keeps, with an optional K, M or G suffix
    /// (powers of 1024). [default: 256M]
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    store_size: Option<u64>,
    /// The protocol: `freenet` (steepest-ascent routing with caching) or
    /// `chord` (a structured ring, for comparison). Every node of a network
    /// must run the same. [default: freenet]
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Cover traffic: about N padding frames a second on each idle link, at
    /// random (exponential) times after its last frame; 0 is off.
    /// [default: 0]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(range(COVER_RATE)))]
    cover_rate: Option<u32>,
    /// Most peers with an open link; more incoming links are refused.
    /// [default: 32]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(MAX_PEERS))]
    max_peers: Option<u64>,
    /// A link with nothing to send for this long sends a ping; one that
    /// hears nothing for three times this is closed. [default: 15]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(KEEPALIVE_SECS))]
    keepalive_secs: Option<u64>,
    /// Messages a peer may send per second on average before it is
    /// dropped (every kind but the replies to this node's own requests);
    /// 0 is no limit.
    /// [default: 5000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(range(REQUEST_RATE)))]
    request_rate: Option<u32>,
    /// How many of those a peer may send in a burst. [default: 10000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(range(REQUEST_BURST)))]
    request_burst: Option<u32>,
}

/// `--mode`'s values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ModeArg {
    /// Freenet mode.
    Freenet,
    /// Chord mode.
    Chord,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Mode {
        match mode {
            ModeArg::Freenet => Mode::Freenet,
            ModeArg::Chord => Mode::Chord,
        }
    }
}

/// A `RangeInclusive<u64>` as clap's range argument (which takes `i64`).
fn range(r: std::ops::RangeInclusive<u64>) -> std::ops::RangeInclusive<i64> {
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    clamp(*r.start())..=clamp(*r.end())
}

/// What `fog node` runs with: the flags over `fog.toml` over the defaults.
#[derive(Debug)]
struct Settings {
    data_dir: PathBuf,
    listen: SocketAddr,
    api_port: u16,
    seeds: Vec<NodeRef>,
    store_size: u64,
    mode: Mode,
    peers: PeerConfig,
}

/// Merges the flags, `DIR/fog.toml` and the defaults, and reads the seeds
/// file. Every failure is bad input (exit code 2).
fn settings(args: NodeArgs) -> Result<Settings> {
    let bad = |e: String| anyhow!(e).context(Failure::BadInput);
    let file = node_config::load(&args.data_dir)
        .map_err(|e| bad(e.to_string()))?
        .unwrap_or_default();
    let FileConfig {
        listen,
        api_port,
        seeds,
        seeds_file,
        store_size,
        mode,
        cover_rate,
        max_peers,
        keepalive_secs,
        request_rate,
        request_burst,
    } = file;
    let defaults = PeerConfig::default();
    let mut all_seeds = if args.seeds.is_empty() {
        seeds.unwrap_or_default()
    } else {
        args.seeds
    };
    if let Some(path) = args.seeds_file.or(seeds_file) {
        all_seeds.extend(node_config::load_seeds(&path).map_err(|e| bad(e.to_string()))?);
    }
    let settings = Settings {
        listen: args
            .listen
            .or(listen)
            .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
        api_port: args.api_port.or(api_port).unwrap_or(0),
        seeds: all_seeds,
        store_size: args.store_size.or(store_size).unwrap_or(256 << 20),
        mode: args.mode.map(Mode::from).or(mode).unwrap_or_default(),
        peers: PeerConfig {
            max_peers: args
                .max_peers
                .and_then(|n| usize::try_from(n).ok())
                .or(max_peers)
                .unwrap_or(defaults.max_peers),
            keepalive: args
                .keepalive_secs
                .or(keepalive_secs)
                .map_or(defaults.keepalive, Duration::from_secs),
            cover_rate: args
                .cover_rate
                .or(cover_rate)
                .unwrap_or(defaults.cover_rate),
            request_rate: args
                .request_rate
                .or(request_rate)
                .unwrap_or(defaults.request_rate),
            request_burst: args
                .request_burst
                .or(request_burst)
                .unwrap_or(defaults.request_burst),
            ..defaults
        },
        data_dir: args.data_dir,
    };
    if settings.listen.ip().is_unspecified() {
        return Err(bad(format!(
            "listen address {} cannot be announced to peers; give an address they can reach",
            settings.listen
        )));
    }
    Ok(settings)
}

pub(crate) fn run(args: NodeArgs) -> Result<()> {
    let settings = settings(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(settings))
}

async fn serve(args: Settings) -> Result<()> {
    let dir = args.data_dir;
    tracing::debug!(?args.peers, seeds = args.seeds.len(), "settings");
    let config = NodeConfig {
        seeds: args.seeds,
        store_bytes: args.store_size,
        mode: args.mode,
        peers: args.peers,
        ..NodeConfig::new(&dir, args.listen)
    };
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

    let printed = {
        let mut out = io::stdout().lock();
        writeln!(out, "node {}", node.node_ref())
            .and_then(|()| writeln!(out, "api  {}", server.local_addr()))
    };
    // A stdout that cannot be written (closed early) stops the node as a
    // signal would, so that it still closes its store and removes its API
    // files.
    // A first join round that failed is said once, in plain words: a seed
    // reference with a wrong key looks like any unreachable seed otherwise.
    if let Ok(stats) = node.stats().await
        && stats.seeds > 0
        && !stats.joined
    {
        let why = stats
            .seed_error
            .unwrap_or_else(|| "no seed answered the join".to_owned());
        eprintln!("warning: not joined yet: {why}; retrying in the background");
    }
    let stopped_by = match &printed {
        Ok(()) => {
            tracing::info!(api = %server.local_addr(), "serving; stop with Ctrl-C or SIGTERM");
            wait_for_signal().await
        }
        Err(_) => "stdout unwritable",
    };
    tracing::info!(signal = stopped_by, "shutting down");
    server.shutdown().await;
    let removed = api::remove_api_files(&dir);
    node.shutdown().await;
    printed?;
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
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: NodeArgs,
    }

    const REF_A: &str = "fog:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8@192.0.2.1:9000";
    const REF_B: &str = "fog:-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s@[::1]:9000";

    /// A data directory holding `toml` as fog.toml, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str, toml: &str) -> Dir {
            let dir =
                std::env::temp_dir().join(format!("fog-settings-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(node_config::CONFIG_FILE), toml).unwrap();
            Dir(dir)
        }

        fn settings(&self, flags: &[&str]) -> Result<Settings> {
            let dir = self.0.to_str().unwrap();
            let argv = ["fog", "--data-dir", dir]
                .into_iter()
                .chain(flags.iter().copied());
            settings(Cli::try_parse_from(argv).unwrap().args)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_file_sets_what_the_flags_leave_out() {
        let dir = Dir::new(
            "merge",
            &format!(
                "listen = \"127.0.0.1:9100\"\nmax_peers = 8\ncover_rate = 4\nseeds = [\"{REF_A}\"]\nseeds_file = \"seeds\"\nkeepalive_secs = 30\n"
            ),
        );
        std::fs::write(dir.0.join("seeds"), format!("# one more\n{REF_B}\n")).unwrap();
        let s = dir
            .settings(&["--max-peers", "3", "--request-rate", "50"])
            .unwrap();
        assert_eq!(s.listen, "127.0.0.1:9100".parse().unwrap());
        assert_eq!(s.peers.max_peers, 3, "the flag wins");
        assert_eq!(s.peers.cover_rate, 4);
        assert_eq!(s.peers.keepalive, Duration::from_secs(30));
        assert_eq!(s.peers.request_rate, 50);
        assert_eq!(s.peers.request_burst, PeerConfig::default().request_burst);
        assert_eq!(s.store_size, 256 << 20);
        // The file's seeds and the seeds file (relative to the data dir).
        assert_eq!(s.seeds, [REF_A.parse().unwrap(), REF_B.parse().unwrap()]);

        // --seed replaces the file's seeds; the seeds file still adds.
        let s = dir
            .settings(&["--seed", REF_B, "--listen", "127.0.0.1:0"])
            .unwrap();
        assert_eq!(s.seeds, [REF_B.parse().unwrap(), REF_B.parse().unwrap()]);
        assert_eq!(s.listen, "127.0.0.1:0".parse().unwrap());
    }

    #[test]
    fn no_file_gives_the_defaults_and_bad_input_is_exit_code_2() {
        let dir = Dir::new("defaults", "");
        std::fs::remove_file(dir.0.join(node_config::CONFIG_FILE)).unwrap();
        let s = dir.settings(&[]).unwrap();
        assert_eq!(s.peers, PeerConfig::default());
        assert_eq!(s.api_port, 0);
        assert!(s.seeds.is_empty());

        std::fs::write(
            dir.0.join(node_config::CONFIG_FILE),
            "listen = \"0.0.0.0:9000\"",
        )
        .unwrap();
        let err = dir.settings(&[]).unwrap_err();
        assert_eq!(err.downcast_ref::<Failure>(), Some(&Failure::BadInput));
        // A flag overrides the unusable value.
        assert!(dir.settings(&["--listen", "127.0.0.1:0"]).is_ok());
    }
}
