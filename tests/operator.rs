//! What an operator sees (issue 14): `fog node` and `fog status` as a user
//! runs them, on 127.0.0.1, bounded in time, stopping what they start.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{NodeProcess, Scratch, fog_bounded, status_line, text};
use fogstore::link::Identity;
use fogstore::node::api;

#[test]
fn a_seed_with_the_wrong_key_is_named_with_its_reason() {
    let scratch = Scratch::new("op-wrong-seed");
    let real = NodeProcess::start(&scratch.path("real"), &[]);
    // The real node's address, another key.
    let addr = real.node_ref.rsplit_once('@').unwrap().1;
    let wrong = Identity::generate()
        .node_ref(addr.parse().unwrap())
        .to_string();
    let mut node = Command::new(env!("CARGO_BIN_EXE_fog"))
        .args(["node", "--data-dir", scratch.path("n").to_str().unwrap()])
        .args(["--seed", &wrong])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dir = scratch.path("n");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !dir.join(api::API_FILE).exists() {
        assert!(Instant::now() < deadline, "no api file");
        std::thread::sleep(Duration::from_millis(50));
    }
    let joined = status_line(dir.to_str().unwrap(), "joined");
    assert!(joined.starts_with("no ("), "{joined}");
    assert!(joined.contains(&wrong), "{joined}");
    assert!(joined.contains("not the pinned one"), "{joined}");
    let _ = node.kill();
    let _ = node.wait();
    let mut err = String::new();
    node.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let warning = err
        .lines()
        .find(|l| l.starts_with("warning: not joined yet: "))
        .unwrap_or_else(|| panic!("no warning in {err:?}"));
    assert!(
        warning.contains(&wrong) && warning.contains("static key"),
        "{warning}"
    );
}

#[test]
fn status_of_a_frozen_node_fails_in_bounded_time() {
    let scratch = Scratch::new("op-frozen");
    let dir = scratch.path("n");
    std::fs::create_dir_all(&dir).unwrap();
    // Accepts connections (the kernel does, into its backlog) and never
    // answers: a node frozen in place.
    let frozen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    api::write_api_file(&dir, frozen.local_addr().unwrap()).unwrap();
    api::write_token_file(&dir, &api::Token::generate()).unwrap();
    let started = Instant::now();
    let status = fog_bounded(&["status", "--data-dir", dir.to_str().unwrap()], b"", 30);
    let err = text(&status.stderr);
    assert_eq!(status.status.code(), Some(6), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("did not answer within 10s"), "{err}");
    drop(frozen);
}

#[test]
fn an_unreadable_token_is_not_reported_as_no_node() {
    let scratch = Scratch::new("op-token");
    let node = NodeProcess::start(&scratch.path("n"), &[]);
    // There but unreadable: a folder where the file should be (unlike
    // permissions, this holds for root too).
    let token = node.dir.join(api::TOKEN_FILE);
    std::fs::remove_file(&token).unwrap();
    std::fs::create_dir(&token).unwrap();
    let status = fog_bounded(&["status", "--data-dir", node.data_dir()], b"", 15);
    let err = text(&status.stderr);
    assert_eq!(status.status.code(), Some(6), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("no node is running"), "{err}");
    assert!(
        err.contains("cannot read") && err.contains("token"),
        "{err}"
    );
}

#[test]
fn a_peer_killed_with_sigkill_is_counted_as_lost() {
    let scratch = Scratch::new("op-kill");
    let a = NodeProcess::start(&scratch.path("a"), &[]);
    let mut b = NodeProcess::start(&scratch.path("b"), &[&a.node_ref]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !status_line(a.data_dir(), "peers").starts_with("1 linked") {
        assert!(Instant::now() < deadline, "B never linked");
        std::thread::sleep(Duration::from_millis(100));
    }
    b.child.kill().unwrap(); // SIGKILL, to this child only
    b.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let links = status_line(a.data_dir(), "links");
        if links.contains(" 1 lost") {
            assert!(status_line(a.data_dir(), "peers").starts_with("0 linked"));
            break;
        }
        assert!(Instant::now() < deadline, "{links}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn logs_written_to_a_file_carry_no_colour_codes() {
    let scratch = Scratch::new("op-log");
    let dir = scratch.path("n");
    let mut node = Command::new(env!("CARGO_BIN_EXE_fog"))
        .args(["node", "--data-dir", dir.to_str().unwrap()])
        .env("RUST_LOG", "fogstore=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !dir.join(api::API_FILE).exists() {
        assert!(Instant::now() < deadline, "no api file");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &node.id().to_string()])
        .status();
    let _ = node.wait();
    let mut log = String::new();
    node.stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("node started"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in {log:?}");
}

#[test]
fn a_busy_port_is_reported_once() {
    let scratch = Scratch::new("op-port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = fog_bounded(
        &[
            "node",
            "--listen",
            &addr,
            "--data-dir",
            scratch.path("n").to_str().unwrap(),
        ],
        b"",
        15,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("Address already in use").count(), 1, "{err}");
}
