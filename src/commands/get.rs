//! `fog get`: fetch a document through the local node.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use fogstore::key::Key;
use fogstore::node::api::STREAM_CHUNK;

use super::Failure;
use super::put::TransferBar;

/// Arguments of `fog get`.
#[derive(Args)]
pub(crate) struct GetArgs {
    /// The document's key: `CHK@…`, `SSK@…/name` or `KSK@name`.
    key: String,
    /// Where to write the document; standard output if not given. It is
    /// written to a temporary file beside it and renamed when complete, so
    /// a failed fetch never leaves a partial `FILE`.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The running node's data directory (where its `api` and `token`
    /// files are).
    #[arg(long, value_name = "DIR", default_value = super::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

pub(crate) fn run(args: GetArgs) -> Result<()> {
    // A malformed key is refused before any node is asked.
    if let Key::SskInsert(_) = args.key.parse::<Key>().context(Failure::BadKey)? {
        return Err(anyhow::anyhow!(
            "SSK-INSERT@… is the secret insert URI; fetch with the request URI SSK@… \
             (`fog key --inspect` prints it)"
        )
        .context(Failure::BadInput));
    }
    let client = super::client(&args.data_dir)?;
    let runtime = super::client_runtime()?;
    let bar = TransferBar::new("get", None);
    match &args.output {
        Some(path) => {
            let temp = TempFile::create(path)?;
            let mut sink = Counted {
                inner: BufWriter::with_capacity(STREAM_CHUNK, &temp.file),
                bar: bar.clone(),
            };
            let result = runtime.block_on(client.get_writer(&args.key, &mut sink));
            drop(sink);
            bar.end(result.is_ok());
            result.map_err(super::client_error)?;
            temp.commit()?;
        }
        None => {
            let mut sink = Counted {
                inner: io::stdout().lock(),
                bar: bar.clone(),
            };
            let result = runtime.block_on(client.get_writer(&args.key, &mut sink));
            bar.end(result.is_ok());
            result.map_err(super::client_error)?;
        }
    }
    Ok(())
}

/// A writer that advances a [`TransferBar`] by what it writes.
struct Counted<W> {
    inner: W,
    bar: TransferBar,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A temporary file beside the target, removed when dropped unless
/// [`TempFile::commit`] renamed it onto the target.
struct TempFile {
    file: File,
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl TempFile {
    fn create(target: &Path) -> Result<TempFile> {
        let name = target
            .file_name()
            .with_context(|| format!("{} is not a file name", target.display()))
            .context(Failure::BadInput)?;
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut attempt = 0u32;
        loop {
            let temp = dir.join(format!(
                ".{}.fog-{}-{attempt}.part",
                name.to_string_lossy(),
                std::process::id()
            ));
            match File::options().write(true).create_new(true).open(&temp) {
                Ok(file) => {
                    return Ok(TempFile {
                        file,
                        temp,
                        target: target.to_path_buf(),
                        committed: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", temp.display()));
                }
            }
        }
    }

    /// Makes the file durable and renames it onto the target.
    fn commit(mut self) -> Result<()> {
        let write = |e: io::Error| {
            anyhow::Error::new(e).context(format!("cannot write {}", self.target.display()))
        };
        self.file.sync_all().map_err(write)?;
        std::fs::rename(&self.temp, &self.target).map_err(write)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
