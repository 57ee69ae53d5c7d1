//! `fog status`: what the local node is doing.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

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
    let status = super::client_runtime()?
        .block_on(client.status())
        .map_err(super::client_error)?;
    println!("node        {}", status.node);
    println!("api         {}", client.addr());
    println!("location    {:.6}", status.location);
    println!("peers       {}", status.peers);
    println!("references  {}", status.references);
    println!(
        "store       {} blocks, {}",
        status.store_blocks,
        human_bytes(status.store_bytes)
    );
    println!("in flight   {}", status.in_flight);
    Ok(())
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
