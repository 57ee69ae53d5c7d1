//! `fog put`: publish a document through the local node.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use fogstore::node::api::MAX_BODY;

use super::Failure;

/// Arguments of `fog put`.
#[derive(Args)]
pub(crate) struct PutArgs {
    /// The file to publish; `-` reads standard input.
    file: PathBuf,
    /// The running node's data directory (where its `api` and `token`
    /// files are).
    #[arg(long, value_name = "DIR", default_value = super::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

pub(crate) fn run(args: PutArgs) -> Result<()> {
    let client = super::client(&args.data_dir)?;
    let doc = read_input(&args.file)?;
    let key = super::client_runtime()?
        .block_on(client.put(doc))
        .map_err(super::client_error)?;
    println!("{key}");
    Ok(())
}

/// Reads the whole input, refusing more than the API accepts.
fn read_input(path: &PathBuf) -> Result<Vec<u8>> {
    let name = path.display();
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(
            File::open(path)
                .with_context(|| format!("cannot open {name}"))
                .context(Failure::BadInput)?,
        )
    };
    let mut doc = Vec::new();
    reader
        .take(MAX_BODY + 1)
        .read_to_end(&mut doc)
        .with_context(|| format!("cannot read {name}"))
        .context(Failure::BadInput)?;
    if doc.len() as u64 > MAX_BODY {
        return Err(anyhow!("{name} is larger than {MAX_BODY} bytes").context(Failure::BadInput));
    }
    Ok(doc)
}
