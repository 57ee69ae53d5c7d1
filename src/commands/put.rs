//! `fog put`: publish a document through the local node.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::Args;
use fogstore::key::Key;
use fogstore::node::api::MAX_BODY;
use fogstore::sim::progress::{NO_PROGRESS_ENV, REFRESH_HZ};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Failure;

/// Arguments of `fog put`.
#[derive(Args)]
pub(crate) struct PutArgs {
    /// The file to publish; `-` reads standard input.
    file: PathBuf,
    /// Publish under this signed key instead of the file's CHK: an insert
    /// URI `SSK-INSERT@…/name` (from `fog key --ssk-new`) or `KSK@name`.
    /// Prints the request URI (`SSK@…/name`, `KSK@name`) readers fetch
    /// with. A key that already holds a different document is refused.
    #[arg(long, value_name = "URI")]
    key: Option<String>,
    /// The running node's data directory (where its `api` and `token`
    /// files are).
    #[arg(long, value_name = "DIR", default_value = super::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

pub(crate) fn run(args: PutArgs) -> Result<()> {
    // A key that cannot publish is refused before any node is asked.
    if let Some(uri) = &args.key {
        check_insert_key(uri)?;
    }
    let client = super::client(&args.data_dir)?;
    let (input, total) = open_input(&args.file)?;
    let bar = TransferBar::new("put", total);
    let reader = Counted {
        inner: input,
        bar: bar.clone(),
    };
    let runtime = super::client_runtime()?;
    let result = match &args.key {
        None => runtime.block_on(client.put_reader(reader)),
        Some(uri) => runtime.block_on(client.put_reader_with_key(uri, reader)),
    };
    bar.end(result.is_ok());
    let key = result.map_err(super::client_error)?;
    writeln!(io::stdout().lock(), "{key}")?;
    Ok(())
}

/// Fails unless `uri` is a key one publishes under: `SSK-INSERT@…` or
/// `KSK@…`. A malformed URI is a bad key (exit 3, as `fog get` says); a
/// well-formed one of the wrong type is bad usage (exit 2).
fn check_insert_key(uri: &str) -> Result<()> {
    let usage = |message: &str| Err(anyhow!("--key {message}").context(Failure::BadInput));
    match uri.parse::<Key>().context(Failure::BadKey)? {
        Key::SskInsert(_) | Key::Ksk(_) => Ok(()),
        Key::Ssk(_) => usage(
            "takes the insert URI SSK-INSERT@…/name (from `fog key --ssk-new`), not the \
             request URI SSK@…/name, which only reads",
        ),
        Key::Chk(_) => usage(
            "takes SSK-INSERT@…/name or KSK@name; a CHK is computed from the file \
             (leave out --key)",
        ),
    }
}

/// Opens the input (refusing a file larger than the API accepts; standard
/// input is cut off by the node instead) and its size when known.
fn open_input(path: &PathBuf) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(io::stdin()), None));
    }
    let name = path.display();
    let file = File::open(path)
        .with_context(|| format!("cannot open {name}"))
        .context(Failure::BadInput)?;
    let metadata = file
        .metadata()
        .with_context(|| format!("cannot read {name}"))
        .context(Failure::BadInput)?;
    if metadata.is_dir() {
        return Err(anyhow!("{name} is a directory").context(Failure::BadInput));
    }
    let size = metadata.is_file().then_some(metadata.len());
    if size.is_some_and(|n| n > MAX_BODY) {
        return Err(anyhow!("{name} is larger than {MAX_BODY} bytes").context(Failure::BadInput));
    }
    Ok((Box::new(file), size))
}

/// A reader that advances a [`TransferBar`] by what it reads.
struct Counted<R> {
    inner: R,
    bar: TransferBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// How long a transfer runs before its bar appears: short ones never show
/// one.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A byte-counting progress bar on stderr for `fog put` and `fog get`,
/// shown only once a transfer has run for [`SHOW_AFTER`], and only when
/// stderr is a terminal and `FOG_NO_PROGRESS` is unset (as the simulator's
/// bars); it never writes to stdout.
#[derive(Clone)]
pub(crate) struct TransferBar {
    bar: ProgressBar,
    started: Instant,
    enabled: bool,
}

impl TransferBar {
    /// A bar labelled `label`, with a total when the size is known.
    pub(crate) fn new(label: &str, total: Option<u64>) -> TransferBar {
        let disabled = std::env::var_os(NO_PROGRESS_ENV).is_some_and(|v| !v.is_empty() && v != "0");
        let template = match total {
            Some(_) => "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            None => "{prefix} {spinner} {bytes} {bytes_per_sec} {elapsed}",
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden())
            .with_style(style)
            .with_prefix(label.to_owned());
        TransferBar {
            bar,
            started: Instant::now(),
            enabled: !disabled && io::stderr().is_terminal(),
        }
    }

    /// Counts `n` more bytes (and shows the bar once the transfer has run
    /// long enough).
    pub(crate) fn inc(&self, n: u64) {
        self.bar.inc(n);
        if self.enabled && self.bar.is_hidden() && self.started.elapsed() >= SHOW_AFTER {
            self.bar
                .set_draw_target(ProgressDrawTarget::stderr_with_hz(REFRESH_HZ));
        }
    }

    /// Ends the bar: its final state stays on screen after a success, and
    /// is cleared after a failure (whose message follows).
    pub(crate) fn end(&self, success: bool) {
        if success {
            self.bar.finish();
        } else {
            self.bar.finish_and_clear();
        }
    }
}
