//! `fog bench put`: publishing speed on a network of `fog node` processes,
//! as a user runs them.
//!
//! Starts `--nodes` `fog node` processes of this same binary on 127.0.0.1
//! with the default settings (node i seeds from node i − 1 and from node
//! 0), writes a random file of `--mib` MiB, and times `fog put FILE`
//! through node 0, run as a process; then `fog get` of the key through the
//! last node, checked byte for byte. It reports the put's speed, the CPU
//! the node processes spent on it, and how many copies of the document the
//! network holds. The processes are ended (by their ids) and their folder
//! removed however the bench ends.

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use rand::{RngCore, SeedableRng};

use super::RemoveOnDrop;

/// Arguments of `fog bench put`.
#[derive(Args)]
pub(crate) struct PutArgs {
    /// Size of the document, in MiB.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1024))]
    mib: u32,
    /// `fog node` processes in the network.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(2..=32))]
    nodes: u16,
}

/// The put speed to reach, in MB/s (10^6 bytes).
const PUT_TARGET_MB_S: f64 = 20.0;

/// How long a node may take to start, and the put and get each.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// A `fog node` process, ended when dropped.
struct NodeChild {
    child: Child,
    node_ref: String,
    dir: PathBuf,
}

impl Drop for NodeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeChild {
    fn start(fog: &Path, dir: &Path, seeds: &[&str]) -> Result<NodeChild> {
        let mut command = Command::new(fog);
        command.arg("node").arg("--data-dir").arg(dir);
        for seed in seeds {
            command.args(["--seed", seed]);
        }
        let mut child = command
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting fog node")?;
        let stdout = child.stdout.take().context("fog node's output")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            for _ in lines {}
        });
        let mut node = NodeChild {
            child,
            node_ref: String::new(),
            dir: dir.to_path_buf(),
        };
        let first = rx
            .recv_timeout(START_TIMEOUT)
            .ok()
            .flatten()
            .context("fog node printed nothing")?;
        node.node_ref = first
            .strip_prefix("node ")
            .context("fog node printed no reference")?
            .trim()
            .to_owned();
        let deadline = Instant::now() + START_TIMEOUT;
        while !dir.join(fogstore::node::api::API_FILE).exists() {
            if Instant::now() > deadline {
                bail!("fog node wrote no api file in {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(node)
    }

    /// CPU seconds the process has used, from `/proc` (Linux).
    fn cpu_secs(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The fields after the command name, which is in parentheses.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    /// Blocks in its store, from `fog status`.
    fn store_blocks(&self, fog: &Path) -> Option<u64> {
        let out = Command::new(fog)
            .arg("status")
            .arg("--data-dir")
            .arg(&self.dir)
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            l.strip_prefix("store")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
    }
}

/// How long the links may take to settle, and how long they must stay
/// unchanged to count as settled.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);
const SETTLE_QUIET: Duration = Duration::from_secs(1);

/// Waits until every node's count of links has stayed the same for
/// `SETTLE_QUIET`: a put started while the nodes are still linking to the
/// peers their joins found reaches fewer of them, so its speed would
/// measure the start-up, not the network. Returns the wait and the counts.
fn settle(nodes: &[NodeChild]) -> Result<(Duration, Vec<usize>)> {
    let runtime = super::client_runtime()?;
    let clients = nodes
        .iter()
        .map(|node| super::client(&node.dir))
        .collect::<Result<Vec<_>>>()?;
    let links = || -> Result<Vec<usize>> {
        clients
            .iter()
            .map(|client| {
                let status = runtime
                    .block_on(client.status())
                    .map_err(super::client_error)?;
                Ok(status.peers)
            })
            .collect()
    };
    let start = Instant::now();
    let mut last = links()?;
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < SETTLE_QUIET {
        if start.elapsed() > SETTLE_TIMEOUT {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let now = links()?;
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    Ok((start.elapsed(), last))
}

/// Runs `fog args`, which must succeed within `TRANSFER_TIMEOUT`; its
/// standard output.
fn run_fog(fog: &Path, args: &[&std::ffi::OsStr]) -> Result<Vec<u8>> {
    let mut child = Command::new(fog)
        .args(args)
        .env("FOG_NO_PROGRESS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting fog")?;
    let deadline = Instant::now() + TRANSFER_TIMEOUT;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("fog {args:?} did not finish in {TRANSFER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "fog {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// Runs `fog bench put`.
pub(crate) fn run_put(args: PutArgs) -> Result<()> {
    super::bench_net::warn_debug("put");
    let fog = std::env::current_exe().context("finding the fog binary")?;
    let root = std::env::temp_dir().join(format!("fog-bench-put-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(root.clone());
    std::fs::create_dir_all(&root)?;
    let n = usize::from(args.nodes);
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "fog bench put: {} MiB through node 0 of {n} `fog node` processes on 127.0.0.1, \
         default settings, {} build; `fog put` and `fog get` run as processes",
        args.mib,
        super::bench_net::build()
    )?;

    let mut nodes: Vec<NodeChild> = Vec::with_capacity(n);
    for i in 0..n {
        let mut seeds: Vec<String> = Vec::new();
        if i > 0 {
            seeds.push(nodes[i - 1].node_ref.clone());
        }
        if i > 1 {
            seeds.push(nodes[0].node_ref.clone());
        }
        let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
        nodes.push(NodeChild::start(
            &fog,
            &root.join(format!("node-{i}")),
            &seeds,
        )?);
    }
    let (settled, links) = settle(&nodes)?;
    writeln!(
        out,
        "network: links settled {:.1} s after the last node started, {}–{} per node",
        settled.as_secs_f64(),
        links.iter().min().unwrap_or(&0),
        links.iter().max().unwrap_or(&0)
    )?;

    let size = args.mib as usize * 1024 * 1024;
    let mut doc = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(u64::from(args.mib)).fill_bytes(&mut doc);
    let file = root.join("document");
    std::fs::write(&file, &doc)?;

    // The blocks a put of it makes, counted one block in memory at a time.
    let document_blocks = fogstore::client::splitfile::Blocks::new(&doc[..]).count();

    let cpu = |nodes: &[NodeChild]| nodes.iter().filter_map(NodeChild::cpu_secs).sum::<f64>();
    let cpu_before = cpu(&nodes);
    let t = Instant::now();
    let key = run_fog(
        &fog,
        &[
            "put".as_ref(),
            file.as_os_str(),
            "--data-dir".as_ref(),
            nodes[0].dir.as_os_str(),
        ],
    )?;
    let put_secs = t.elapsed().as_secs_f64();
    let put_cpu = cpu(&nodes) - cpu_before;
    let key = String::from_utf8_lossy(&key).trim().to_owned();

    let copy = root.join("copy");
    let t = Instant::now();
    run_fog(
        &fog,
        &[
            "get".as_ref(),
            key.as_ref(),
            "-o".as_ref(),
            copy.as_os_str(),
            "--data-dir".as_ref(),
            nodes[n - 1].dir.as_os_str(),
        ],
    )?;
    let get_secs = t.elapsed().as_secs_f64();
    if std::fs::read(&copy)? != doc {
        bail!("the document fetched through node {} differs", n - 1);
    }

    let blocks: u64 = nodes
        .iter()
        .filter_map(|node| node.store_blocks(&fog))
        .sum();
    let mb = size as f64 / 1e6;
    let rate = mb / put_secs;
    writeln!(out, "key: {key}")?;
    writeln!(
        out,
        "put: {put_secs:.2} s = {rate:.1} MB/s; the nodes used {put_cpu:.2} CPU s \
         ({:.0}% of the machine's {} cores over the put)",
        100.0 * put_cpu / put_secs / cores(),
        cores()
    )?;
    writeln!(
        out,
        "get through node {}: {get_secs:.2} s = {:.1} MB/s, byte-identical",
        n - 1,
        mb / get_secs
    )?;
    writeln!(
        out,
        "stored: {blocks} blocks over the {n} stores ({:.1} copies of each of the document's \
         blocks: every node its insert's path reached keeps one, the publisher none)",
        blocks as f64 / document_blocks as f64
    )?;
    writeln!(
        out,
        "put {rate:.1} MB/s (target ≥ {PUT_TARGET_MB_S} MB/s): {}",
        if rate >= PUT_TARGET_MB_S {
            "met"
        } else {
            "NOT met"
        }
    )?;
    Ok(())
}

/// Cores this machine has.
fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}
