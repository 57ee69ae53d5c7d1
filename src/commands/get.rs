//! `fog get`: fetch a document through the local node.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use fogstore::key::Key;

use super::Failure;

/// Arguments of `fog get`.
#[derive(Args)]
pub(crate) struct GetArgs {
    /// The document's key, `CHK@…`.
    key: String,
    /// Where to write the document; standard output if not given.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The running node's data directory (where its `api` and `token`
    /// files are).
    #[arg(long, value_name = "DIR", default_value = super::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

pub(crate) fn run(args: GetArgs) -> Result<()> {
    // A malformed key is refused before any node is asked.
    match args.key.parse::<Key>().context(Failure::BadKey)? {
        Key::Chk(_) => {}
        _ => {
            return Err(
                anyhow::anyhow!("only CHK@ keys can be fetched yet").context(Failure::BadKey)
            );
        }
    }
    let client = super::client(&args.data_dir)?;
    let doc = super::client_runtime()?
        .block_on(client.get(&args.key))
        .map_err(super::client_error)?;
    match &args.output {
        Some(path) => std::fs::write(path, &doc)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&doc)
                .and_then(|()| out.flush())
                .context("cannot write to standard output")?;
        }
    }
    Ok(())
}
