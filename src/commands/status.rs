//! `fog status`: what the local node is doing.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use fogstore::node::api::StatusReport;

/// Arguments of `fog status`.
#[derive(Args)]
pub(crate) struct StatusArgs {
    /// The running node's data directory (where its `api` and `token`
    /// files are).
    #[arg(long, value_name = "DIR", default_value = super::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

pub(crate) fn run(args: StatusArgs) -> Result<()> {
    let client = super::client(&args.data_dir)?;
    let s = super::client_runtime()?
        .block_on(client.status())
        .map_err(super::client_error)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "node        {}", s.node)?;
    writeln!(out, "api         {}", client.addr())?;
    writeln!(out, "mode        {}", s.mode)?;
    writeln!(out, "joined      {}", joined(&s))?;
    writeln!(out, "location    {:.6}", s.location)?;
    writeln!(out, "peers       {} linked, {} known", s.peers, s.known)?;
    writeln!(out, "references  {}", s.references)?;
    writeln!(
        out,
        "store       {} blocks, {}",
        s.store_blocks,
        human_bytes(s.store_bytes)
    )?;
    writeln!(out, "in flight   {}", s.in_flight)?;
    writeln!(
        out,
        "links       {} connects, {} dead, {} lost, {} refused, {} flooders dropped",
        s.connects, s.dead_links, s.lost_links, s.refused, s.flooders_dropped
    )?;
    writeln!(out, "keepalive   {} pings sent", s.pings_sent)?;
    writeln!(
        out,
        "cover       {} frames sent, {} received",
        s.cover_sent, s.cover_received
    )?;
    writeln!(
        out,
        "healing     {} blocks inserted again, {} failed, {} let go",
        s.healed, s.heal_failed, s.heal_dropped
    )?;
    Ok(())
}

/// The `joined` line: the answer, and how it came about.
fn joined(s: &StatusReport) -> String {
    let attempts = match s.join_attempts {
        1 => "1 attempt".to_owned(),
        n => format!("{n} attempts"),
    };
    match (s.joined, s.seeds) {
        (true, _) if s.restored => "yes (kept its place from its last run)".to_owned(),
        (true, _) => format!("yes ({attempts})"),
        (false, 0) => "no (no seeds: the first node of its network)".to_owned(),
        (false, _) => match &s.seed_error {
            Some(error) => format!("no ({attempts} so far; retrying; last seed failure: {error})"),
            None => format!("no ({attempts} so far; retrying)"),
        },
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
