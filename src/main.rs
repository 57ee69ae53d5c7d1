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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Key(args) => commands::key::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Sim(args) => commands::sim::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            let failure = err
                .downcast_ref::<Failure>()
                .copied()
                .unwrap_or(Failure::Other);
            ExitCode::from(failure as u8)
        }
    }
}
