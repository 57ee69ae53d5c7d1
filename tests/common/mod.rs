//! What several test files share: a scratch path, the `fog` binary run
//! without progress bars, bounded in time or into a closed pipe, and the
//! determinism check of a report.

// Each test file compiles this module on its own and uses part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::io::{BufRead, BufReader};
use std::process::Child;

use fogstore::node::api;
use fogstore::sim::scenario::Report;

/// A fresh (removed if present) path under the temp directory, unique to
/// this test process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fog-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `fog` with `args`, no progress bars, and waits for it.
pub fn fog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fog"))
        .args(args)
        .env("FOG_NO_PROGRESS", "1")
        .output()
        .unwrap()
}

/// Runs `fog args` (a simulation writing to `dir`), which must succeed and
/// write each of `files` there; returns what it printed.
pub fn fog_writes(args: &[&str], dir: &Path, files: &[&str]) -> String {
    let out = fog(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in files {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `fog args` with `stdin` as its input and waits for it; kills it and
/// fails if it runs over `secs`.
pub fn fog_bounded(args: &[&str], stdin: &[u8], secs: u64) -> Output {
    run_bounded(args, stdin, secs, true)
}

/// As [`fog_bounded`], as the first stage of a pipeline whose reader has
/// gone (as after `| head -0`): the output's stdout is empty.
pub fn fog_into_closed_pipe(args: &[&str], stdin: &[u8], secs: u64) -> Output {
    run_bounded(args, stdin, secs, false)
}

fn run_bounded(args: &[&str], stdin: &[u8], secs: u64, read_stdout: bool) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fog"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the input is given, so that a command that reads its
    // input first (`fog key -`) cannot print before the reader is gone.
    let stdout = child.stdout.take().unwrap();
    let out = if read_stdout {
        Some(read_all(stdout))
    } else {
        drop(stdout);
        None
    };
    let err = read_all(child.stderr.take().unwrap());
    // A command that exits early (no node, a closed stdout) may not read
    // its input.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
            panic!("fog {args:?} took over {secs} s: {err}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.map(|o| o.join().unwrap()).unwrap_or_default(),
        stderr: err.join().unwrap(),
    }
}

/// Reads `from` to its end on a thread of its own.
fn read_all(mut from: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        from.read_to_end(&mut buf).unwrap();
        buf
    })
}

/// Everything a report writes, as text: the printed table, the summary,
/// every CSV and every SVG.
pub fn rendered(report: &Report) -> Vec<String> {
    let mut out = vec![report.printed.clone(), report.summary.to_string()];
    out.extend(report.tables.iter().map(|t| t.to_csv().unwrap()));
    out.extend(report.plots.iter().map(|p| p.render_svg().unwrap()));
    out
}

/// Makes the report of `seed` twice and of `other` once: the same seed
/// must give the same bytes everywhere, the other seed another summary;
/// and the report must write its summary, CSV and SVG files. Returns the
/// first rendering, for further checks.
pub fn check_determinism(make: impl Fn(u64) -> Report, seed: u64, other: u64) -> Vec<String> {
    let (a, b, c) = (make(seed), make(seed), make(other));
    // Tests of one file run in parallel, often with the same seeds.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let dir = temp_dir(&format!(
        "determinism-{}",
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let files: Vec<String> = a
        .write(&dir)
        .unwrap()
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(files.iter().any(|f| f == "summary.json"), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with(".csv")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with(".svg")), "{files:?}");
    assert_ne!(a.summary, c.summary, "another seed, other results");
    let text = rendered(&a);
    assert_eq!(text, rendered(&b), "same seed, same bytes");
    assert_ne!(text, rendered(&c));
    text
}

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = temp_dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `fog node` process, killed when dropped if still running.
pub struct NodeProcess {
    pub child: Child,
    pub node_ref: String,
    pub dir: PathBuf,
}

impl NodeProcess {
    /// Starts `fog node` on `dir` and waits (10 s at most) until it has
    /// printed its reference and written its `api` file.
    pub fn start(dir: &Path, seeds: &[&str]) -> NodeProcess {
        NodeProcess::start_with_store(dir, seeds, "16M")
    }

    /// As [`NodeProcess::start`], with a store of `store_size`.
    pub fn start_with_store(dir: &Path, seeds: &[&str], store_size: &str) -> NodeProcess {
        NodeProcess::start_with_args(dir, seeds, &["--store-size", store_size])
    }

    /// As [`NodeProcess::start`], with more `fog node` arguments.
    pub fn start_with_args(dir: &Path, seeds: &[&str], args: &[&str]) -> NodeProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fog"));
        command.arg("node").args(args).arg("--data-dir").arg(dir);
        for seed in seeds {
            command.args(["--seed", seed]);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Reading the first line blocks, so it runs on a thread the
        // deadline below does not depend on.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            // Keep draining so the node never blocks on a full pipe.
            for _ in lines {}
        });
        let mut process = NodeProcess {
            child,
            node_ref: String::new(),
            dir: dir.to_path_buf(),
        };
        let first = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fog node printed nothing within 10 s")
            .expect("fog node closed its output");
        process.node_ref = first
            .strip_prefix("node ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .trim()
            .to_owned();
        assert!(process.node_ref.starts_with("fog:"), "{first}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dir.join(api::API_FILE).exists() {
            assert!(Instant::now() < deadline, "no api file within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        process
    }

    pub fn data_dir(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// Sends SIGTERM (through `kill(1)`, to this child's id only) and waits
    /// 10 s at most for a clean exit.
    #[cfg(unix)]
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "fog node ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `n` nodes started with [`NodeProcess::start`]: node i > 0 seeds from
/// the node before it and from node 0.
pub fn network(scratch: &Scratch, n: usize) -> Vec<NodeProcess> {
    network_with_args(scratch, n, &["--store-size", "16M"])
}

/// As [`network`], every node started with `args` (none: the settings a
/// user gets from `fog node --data-dir DIR --seed REF`).
pub fn network_with_args(scratch: &Scratch, n: usize, args: &[&str]) -> Vec<NodeProcess> {
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for i in 0..n {
        let mut seeds: Vec<String> = Vec::new();
        if i > 0 {
            seeds.push(nodes[i - 1].node_ref.clone());
        }
        if i > 1 {
            seeds.push(nodes[0].node_ref.clone());
        }
        let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
        nodes.push(NodeProcess::start_with_args(
            &scratch.path(&format!("n{i}")),
            &seeds,
            args,
        ));
    }
    nodes
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `doc` to `file` and publishes it with `fog put FILE` through the
/// node at `dir`, which must succeed within `secs`; returns the run and the
/// key it printed.
pub fn put_file(file: &Path, doc: &[u8], dir: &str, secs: u64) -> (Output, String) {
    std::fs::write(file, doc).unwrap();
    let put = fog_bounded(
        &["put", file.to_str().unwrap(), "--data-dir", dir],
        b"",
        secs,
    );
    assert!(put.status.success(), "put: {}", text(&put.stderr));
    let key = text(&put.stdout).trim().to_owned();
    (put, key)
}

/// The value of `fog status`'s line `name` for the node in `dir` (the
/// status must come within 15 s).
pub fn status_line(dir: &str, name: &str) -> String {
    let status = fog_bounded(&["status", "--data-dir", dir], b"", 15);
    assert!(status.status.success(), "{}", text(&status.stderr));
    text(&status.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {name} line"))
}

/// `len` bytes from a fixed xorshift generator: incompressible, repeatable.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
