//! `fog key`: keys computed offline.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{ArgGroup, Args};
use fogstore::client::splitfile;
use fogstore::key::{ChkKey, DocName, Key, SskInsertKey};

use super::Failure;

/// Arguments of `fog key`.
#[derive(Args)]
#[command(group(ArgGroup::new("what").required(true).args(["file", "ssk_new", "inspect"])))]
pub(crate) struct KeyArgs {
    /// File whose CHK to print (any size: larger files are splitfiles);
    /// `-` reads standard input.
    file: Option<PathBuf>,
    /// Print a new SSK key pair: the insert URI (secret) and the request URI
    /// (to share), both ending in `/` for a document name.
    #[arg(long)]
    ssk_new: bool,
    /// With --ssk-new: append this document name (e.g. `site/1`).
    #[arg(long, requires = "ssk_new", value_name = "NAME")]
    name: Option<String>,
    /// Print what a key URI holds: its type, routing key and location, and
    /// for an insert URI the request URI to share.
    #[arg(long, value_name = "URI")]
    inspect: Option<String>,
}

pub(crate) fn run(args: KeyArgs) -> Result<()> {
    if args.ssk_new {
        return ssk_new(args.name.as_deref());
    }
    if let Some(uri) = args.inspect {
        return inspect(&uri);
    }
    let file = args.file.expect("clap requires one of the group");
    let key = key_of_file(&file)?;
    writeln!(io::stdout().lock(), "{}", Key::Chk(key))?;
    Ok(())
}

/// The key `fog put` would publish the file under, of any size: the file is
/// read once, one block at a time, and nothing is stored.
fn key_of_file(path: &PathBuf) -> Result<ChkKey> {
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
    splitfile::key_of(reader)
        .with_context(|| format!("cannot read {name}"))
        .context(Failure::BadInput)
}

fn ssk_new(name: Option<&str>) -> Result<()> {
    // The name is validated before a key is made, and only its text is
    // printed; a key pair is generated with a throwaway name.
    let doc_name = match name {
        Some(n) => Some(DocName::parse(n).context(Failure::BadKey)?),
        None => None,
    };
    let placeholder = DocName::new("x", None).expect("a valid name");
    let key = SskInsertKey::generate(
        &mut rand::rngs::OsRng,
        doc_name.clone().unwrap_or(placeholder),
    );
    let suffix = doc_name.map(|n| n.to_string()).unwrap_or_default();
    let insert = Key::SskInsert(key.clone()).to_string();
    let request = Key::Ssk(key.to_public()).to_string();
    let base = |uri: &str| {
        format!(
            "{}/{suffix}",
            &uri[..uri.find('/').expect("SSK URIs have a /")]
        )
    };
    let mut out = io::stdout().lock();
    writeln!(out, "{}", base(&insert))?;
    writeln!(out, "{}", base(&request))?;
    eprintln!("line 1: insert URI — keep it secret, it publishes under this key");
    eprintln!("line 2: request URI — share it, readers fetch with it");
    if suffix.is_empty() {
        eprintln!(
            "append a document name to both, e.g. …/site/1 (editions) or …/blog/2026-11-22 (dates)"
        );
    }
    Ok(())
}

fn inspect(uri: &str) -> Result<()> {
    let key: Key = uri.trim().parse().context(Failure::BadKey)?;
    let node_key = key.node_key();
    let location = node_key.location();
    let kind = match &key {
        Key::Chk(_) => "CHK (content hash key)",
        Key::Ssk(_) => "SSK (signed subspace key)",
        Key::SskInsert(_) => "SSK-INSERT (private insert key: keep it secret)",
        Key::Ksk(_) => "KSK (keyword key: anyone who knows the name can read and publish)",
    };
    let mut out = io::stdout().lock();
    writeln!(out, "type:        {kind}")?;
    writeln!(out, "routing key: {}", node_key.routing)?;
    writeln!(out, "location:    {location} ({:#018x})", location.0)?;
    if let Key::SskInsert(insert) = &key {
        writeln!(out, "request URI: {}", Key::Ssk(insert.to_public()))?;
    }
    Ok(())
}
