//! Small networks of `fog node` processes with the settings a user runs,
//! started as the README tells a user to: `fog node` on 127.0.0.1, `fog
//! put` through one, `fog get` through another. Every test is bounded in
//! time, stops the nodes it started (by their child handles) and removes
//! its directories.

mod common;

use std::time::{Duration, Instant};

use common::{
    NodeProcess, Scratch, fog_bounded, network, pseudo_random, put_file, status_line, text,
};

#[test]
fn networks_of_2_3_and_8_default_processes_return_a_5_mib_document_put_elsewhere() {
    for n in [2, 3, 8] {
        let scratch = Scratch::new(&format!("net{n}"));
        let nodes = network(&scratch, n);
        let doc = pseudo_random(5 * 1024 * 1024, n as u64);
        let started = Instant::now();
        let (_, key) = put_file(&scratch.path("doc.bin"), &doc, nodes[0].data_dir(), 120);
        let put = started.elapsed();
        let out = scratch.path("out.bin");
        let reader = nodes.last().expect("nodes");
        let get = fog_bounded(
            &[
                "get",
                &key,
                "-o",
                out.to_str().unwrap(),
                "--data-dir",
                reader.data_dir(),
            ],
            b"",
            120,
        );
        assert!(
            get.status.success(),
            "{n} nodes: get: {}",
            text(&get.stderr)
        );
        assert!(
            std::fs::read(&out).unwrap() == doc,
            "{n} nodes: the document came back different"
        );
        eprintln!(
            "{n} nodes: 5 MiB put in {:.1} s, fetched in {:.1} s",
            put.as_secs_f64(),
            started.elapsed().as_secs_f64() - put.as_secs_f64()
        );
    }
}

#[test]
fn a_put_that_reaches_no_other_node_fails_in_one_line() {
    let scratch = Scratch::new("alone");
    let alone = NodeProcess::start(&scratch.path("n0"), &[]);
    let file = scratch.path("doc.bin");
    std::fs::write(&file, pseudo_random(100_000, 3)).unwrap();
    let put = fog_bounded(
        &[
            "put",
            file.to_str().unwrap(),
            "--data-dir",
            alone.data_dir(),
        ],
        b"",
        30,
    );
    let err = text(&put.stderr);
    assert_eq!(put.status.code(), Some(4), "{err}");
    assert!(put.stdout.is_empty(), "a key was printed");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("stored nowhere"), "{err}");
}

#[test]
fn a_get_whose_holder_is_gone_exits_4_naming_the_block() {
    let scratch = Scratch::new("gone");
    let nodes = network(&scratch, 2);
    let doc = pseudo_random(200_000, 5);
    let (_, key) = put_file(&scratch.path("doc.bin"), &doc, nodes[0].data_dir(), 30);
    // Node 1 holds the document (its publisher keeps none of it); it goes.
    let mut nodes = nodes.into_iter();
    let publisher = nodes.next().unwrap();
    drop(nodes);
    let started = Instant::now();
    let get = fog_bounded(&["get", &key, "--data-dir", publisher.data_dir()], b"", 60);
    let err = text(&get.stderr);
    assert_eq!(get.status.code(), Some(4), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: not found: the top block (CHK@"),
        "{err}"
    );
    assert!(err.contains("route not found"), "{err}");
}

#[test]
fn a_node_restarted_from_its_directory_keeps_its_place_and_serves() {
    let scratch = Scratch::new("restart");
    let first = NodeProcess::start(&scratch.path("a"), &[]);
    let dir = scratch.path("b");
    let second = NodeProcess::start(&dir, &[&first.node_ref]);
    let b = second.data_dir().to_owned();
    let location = status_line(&b, "location");
    let doc = pseudo_random(300_000, 9);
    // Published through B, so A holds it.
    let (_, key) = put_file(&scratch.path("doc.bin"), &doc, &b, 30);
    let old_ref = second.node_ref.clone();
    assert!(second.terminate().success());
    assert!(dir.join(fogstore::node::PEERS_FILE).is_file());

    // Same directory, same address, no seed: as the README restarts it.
    let listen = old_ref.rsplit_once('@').unwrap().1.to_owned();
    let again = NodeProcess::start_with_args(&dir, &[], &["--listen", &listen]);
    assert_eq!(again.node_ref, old_ref);
    assert_eq!(status_line(&b, "location"), location, "it moved");
    assert_eq!(
        status_line(&b, "joined"),
        "yes (kept its place from its last run)"
    );
    let got = fog_bounded(&["get", &key, "--data-dir", &b], b"", 30);
    assert!(got.status.success(), "get: {}", text(&got.stderr));
    assert!(got.stdout == doc, "the document came back different");
    drop(first);
}
