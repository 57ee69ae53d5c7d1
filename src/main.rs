//! `fog`: the fogstore command line.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::Failure;

/// fogstore: an anonymous peer-to-peer content store.
#[derive(Parser)]
#[command(name = "fog", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print keys, offline: the CHK a file would be published under, a new
    /// SSK key pair, or what a key URI holds.
    Key(commands::key::KeyArgs),
    /// Measure the hot paths and print the figures.
    Bench(commands::bench::BenchArgs),
    /// Run a study in the simulator: CSV series, SVG plots and a summary.
    Sim(commands::sim::SimArgs),
    /// Start a local network of real nodes on loopback, publish a document
    /// from one, fetch it from a far one, and show where it was cached.
    Demo(commands::demo::DemoArgs),
    /// Run a node: join the network and serve the local client API until
    /// Ctrl-C or SIGTERM.
    Node(commands::node::NodeArgs),
    /// Publish a file through the local node and print its key.
    Put(commands::put::PutArgs),
    /// Fetch a document through the local node.
    Get(commands::get::GetArgs),
    /// Show what the local node is doing.
    Status(commands::status::StatusArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Key(args) => commands::key::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Sim(args) => commands::sim::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Node(args) => commands::node::run(args),
        Command::Put(args) => commands::put::run(args),
        Command::Get(args) => commands::get::run(args),
        Command::Status(args) => commands::status::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Rust ignores SIGPIPE, so `fog … | head` ends here: stop quietly, as Unix tools do.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, each cause once (many errors print their source).
            eprintln!("error: {}", fogstore::node::api::chain(err.as_ref()));
            let failure = err
                .downcast_ref::<Failure>()
                .copied()
                .unwrap_or(Failure::Other);
            ExitCode::from(failure as u8)
        }
    }
}

/// Whether `err` comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Logs to stderr, filtered by `RUST_LOG` (e.g. `RUST_LOG=fogstore=debug`);
/// without it, nothing is logged. Colours only on a terminal: a log
/// redirected to a file holds plain text.
fn init_logging() {
    use std::io::IsTerminal;
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .try_init();
    }
}
