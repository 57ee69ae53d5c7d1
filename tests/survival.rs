//! Issue 12's figure with real processes: 12 `fog node` processes with the
//! defaults hold 20 documents of 4 MiB (put on 8 different nodes, each
//! fetched once on another); after `kill -9` of 4 nodes, how many are still
//! fetched whole from the survivors. Heavy (some 320 MiB of blocks put and
//! fetched), so `#[ignore]`d; run it in release:
//!
//! ```sh
//! cargo test --release --test survival -- --ignored --nocapture
//! ```
//!
//! It prints its figures; docs/performance.md records them.

mod common;

use std::time::{Duration, Instant};

use common::{NodeProcess, Scratch, fog_bounded, network_with_args, pseudo_random, text};

const NODES: usize = 12;
const DOCUMENTS: usize = 20;
const PUBLISHERS: usize = 8;
const DOC_BYTES: usize = 4 * 1024 * 1024;
/// The nodes killed: two publishers, two not.
const KILLED: [usize; 4] = [2, 5, 9, 11];

/// `fog get KEY -o FILE` on `node`: whether it exited 0 with `doc`'s bytes,
/// and its error line if not.
fn fetch(node: &NodeProcess, key: &str, file: &std::path::Path, doc: &[u8]) -> Result<(), String> {
    let _ = std::fs::remove_file(file);
    let out = fog_bounded(
        &[
            "get",
            key,
            "-o",
            file.to_str().unwrap(),
            "--data-dir",
            node.data_dir(),
        ],
        b"",
        180,
    );
    if !out.status.success() {
        return Err(text(&out.stderr).trim().to_owned());
    }
    let got = std::fs::read(file).map_err(|e| e.to_string())?;
    if got != doc {
        return Err(format!("{} bytes, not the document", got.len()));
    }
    Ok(())
}

/// A node other than `not` (and the killed ones, if `alive`), picked by `i`.
fn other(i: usize, not: &[usize], alive: bool) -> usize {
    (0..NODES)
        .cycle()
        .skip(i * 5 + 3)
        .find(|n| !not.contains(n) && (!alive || !KILLED.contains(n)))
        .unwrap()
}

#[test]
#[ignore = "heavy: 12 processes and 320 MiB of blocks; run with --ignored in release"]
fn twelve_default_nodes_lose_four_and_still_serve_the_documents() {
    let scratch = Scratch::new("survival");
    let started = Instant::now();
    let mut nodes = network_with_args(&scratch, NODES, &[]);
    // Every node joined before anything is put (node 0, the first of the
    // network, has nobody to join).
    let deadline = Instant::now() + Duration::from_secs(60);
    for node in &nodes[1..] {
        while !common::status_line(node.data_dir(), "joined").starts_with("yes") {
            assert!(Instant::now() < deadline, "a node did not join within 60 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    println!(
        "{NODES} nodes joined in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let docs: Vec<Vec<u8>> = (0..DOCUMENTS)
        .map(|d| pseudo_random(DOC_BYTES, 1000 + d as u64))
        .collect();
    let mut keys = Vec::new();
    let put_started = Instant::now();
    for (d, doc) in docs.iter().enumerate() {
        let publisher = d % PUBLISHERS;
        let (_, key) = common::put_file(
            &scratch.path(&format!("doc-{d}")),
            doc,
            nodes[publisher].data_dir(),
            180,
        );
        keys.push(key);
    }
    println!(
        "put {DOCUMENTS} × 4 MiB on {PUBLISHERS} nodes in {:.1} s",
        put_started.elapsed().as_secs_f64()
    );

    let get_started = Instant::now();
    let mut first_reader = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        let reader = other(d, &[d % PUBLISHERS], false);
        first_reader.push(reader);
        let got = fetch(&nodes[reader], &keys[d], &scratch.path("got"), doc);
        assert!(got.is_ok(), "document {d} before the kill: {got:?}");
    }
    println!(
        "fetched each once elsewhere in {:.1} s",
        get_started.elapsed().as_secs_f64()
    );

    for &k in &KILLED {
        // SIGKILL, to this child only.
        nodes[k].child.kill().unwrap();
        nodes[k].child.wait().unwrap();
    }
    println!("killed nodes {KILLED:?} with SIGKILL");

    let after_started = Instant::now();
    let mut whole = 0;
    for (d, doc) in docs.iter().enumerate() {
        let reader = other(d + 7, &[d % PUBLISHERS, first_reader[d]], true);
        match fetch(&nodes[reader], &keys[d], &scratch.path("got"), doc) {
            Ok(()) => whole += 1,
            Err(e) => println!("document {d} from node {reader}: {e}"),
        }
    }
    let healed: u64 = (0..NODES)
        .filter(|n| !KILLED.contains(n))
        .map(|n| {
            let line = common::status_line(nodes[n].data_dir(), "healing");
            line.split_whitespace()
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    println!(
        "after the kill: {whole} of {DOCUMENTS} fetched whole from the survivors in {:.1} s; \
         {healed} blocks healed",
        after_started.elapsed().as_secs_f64()
    );
    assert!(
        whole >= 19,
        "only {whole} of {DOCUMENTS} documents survived"
    );
}
