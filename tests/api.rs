//! The client API: `fog node`, `fog put`, `fog get` and `fog status` run as
//! processes the way a user runs them, and the HTTP API itself against an
//! in-process node. Every test is bounded in time, stops the nodes it
//! started (by their child handles) and removes its directories.

mod common;

use common::{NodeProcess, Scratch, fog_bounded, fog_into_closed_pipe, put_file, text};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use fogstore::link::Identity;
use fogstore::node::api::{self, ApiClient, ApiError, ApiServer, ClientError, Token};
use fogstore::node::{Mode, Node, NodeConfig, NodeHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The "short text" vector of keys/chk.json: unknown to any network that
/// did not publish "hello, world\n" (only one in-process test does).
const HELLO_CHK: &str =
    "CHK@tmRA4aerPEGgI6AOawxWWJZpxYcnUoFOcuIKSOlxK2o,sWdsMTT5rd8MwSa2ECfWPXFV83PJVqjnCH1Pv4bh3H0";

/// What `fog status` prints for the node in `dir`.
fn status_table(dir: &str) -> String {
    let status = fog_bounded(&["status", "--data-dir", dir], b"", 10);
    assert!(status.status.success(), "status: {}", text(&status.stderr));
    text(&status.stdout)
}

/// Checks that `table` has each of `lines`, whole.
fn assert_lines(table: &str, lines: &[&str]) {
    for line in lines {
        assert!(table.lines().any(|l| l == *line), "no {line:?} in\n{table}");
    }
}

#[test]
fn two_node_processes_put_on_one_get_on_the_other() {
    let scratch = Scratch::new("two");
    let first = NodeProcess::start(&scratch.path("n1"), &[]);
    let second = NodeProcess::start(&scratch.path("n2"), &[&first.node_ref]);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(scratch.path("n1").join(api::TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "token file mode {mode:o}");
    }

    // A document of a few KiB with every byte value, from a file.
    let doc: Vec<u8> = (0..6000u32).map(|i| (i * 7 % 256) as u8).collect();
    let (_, key) = put_file(&scratch.path("doc.bin"), &doc, first.data_dir(), 30);
    assert!(key.starts_with("CHK@"), "{key}");

    // To standard output, and to a file.
    let got = fog_bounded(&["get", &key, "--data-dir", second.data_dir()], b"", 30);
    assert!(got.status.success(), "get: {}", text(&got.stderr));
    assert_eq!(got.stdout, doc);
    // Into a pipe whose reader has gone: quietly, and successfully.
    let got = fog_into_closed_pipe(&["get", &key, "--data-dir", second.data_dir()], b"", 30);
    assert!(
        got.status.success(),
        "get | head -0: {:?}: {}",
        got.status,
        text(&got.stderr)
    );
    assert_eq!(text(&got.stderr), "");
    let out = scratch.path("out.bin");
    let got = fog_bounded(
        &[
            "get",
            &key,
            "-o",
            out.to_str().unwrap(),
            "--data-dir",
            second.data_dir(),
        ],
        b"",
        30,
    );
    assert!(got.status.success(), "get -o: {}", text(&got.stderr));
    assert!(got.stdout.is_empty());
    assert_eq!(std::fs::read(&out).unwrap(), doc);

    // From standard input, the same key.
    let put = fog_bounded(&["put", "-", "--data-dir", second.data_dir()], &doc, 30);
    assert!(put.status.success(), "put -: {}", text(&put.stderr));
    assert_eq!(text(&put.stdout).trim(), key);

    let table = status_table(second.data_dir());
    assert!(table.contains(&second.node_ref), "{table}");
    assert_lines(
        &table,
        &[
            "mode        freenet",
            "joined      yes (1 attempt)",
            "peers       1 linked, 1 known",
            // Its one connection, to its seed; nothing failed.
            "links       1 connects, 0 dead, 0 lost, 0 refused, 0 flooders dropped",
            "cover       0 frames sent, 0 received",
        ],
    );
    assert_lines(
        &status_table(first.data_dir()),
        &["joined      no (no seeds: the first node of its network)"],
    );

    // A key no one published: not found, and quickly.
    let started = Instant::now();
    let missing = fog_bounded(
        &["get", HELLO_CHK, "--data-dir", second.data_dir()],
        b"",
        60,
    );
    assert_eq!(missing.status.code(), Some(4), "{}", text(&missing.stderr));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(text(&missing.stderr).starts_with("error: not found"));

    // A malformed key: 3, before the node is asked.
    let bad = fog_bounded(
        &["get", "CHK@nonsense", "--data-dir", second.data_dir()],
        b"",
        10,
    );
    assert_eq!(bad.status.code(), Some(3), "{}", text(&bad.stderr));
    assert_eq!(
        text(&bad.stderr).lines().count(),
        1,
        "{}",
        text(&bad.stderr)
    );

    // A stale token (the file rewritten) is refused.
    std::fs::write(
        scratch.path("n2").join(api::TOKEN_FILE),
        Token::generate().to_hex(),
    )
    .unwrap();
    let refused = fog_bounded(&["status", "--data-dir", second.data_dir()], b"", 10);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("token"));

    // SIGTERM stops a node cleanly and removes its API files.
    #[cfg(unix)]
    {
        let dir = scratch.path("n1");
        let status = first.terminate();
        assert!(status.success(), "{status:?}");
        assert!(!dir.join(api::API_FILE).exists());
        assert!(!dir.join(api::TOKEN_FILE).exists());
        let gone = fog_bounded(&["status", "--data-dir", dir.to_str().unwrap()], b"", 10);
        assert_eq!(gone.status.code(), Some(6), "{}", text(&gone.stderr));
    }
    drop(second);
}

#[test]
fn status_shows_a_chord_node_that_is_still_trying_to_join() {
    let scratch = Scratch::new("unjoined");
    // A seed nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = Identity::generate()
        .node_ref(([127, 0, 0, 1], port).into())
        .to_string();
    let node = NodeProcess::start_with_args(&scratch.path("n"), &[&dead], &["--mode", "chord"]);
    let table = status_table(node.data_dir());
    assert_lines(
        &table,
        &[
            "mode        chord",
            // Every attempt was a connection refused: no link.
            "peers       0 linked, 1 known",
        ],
    );
    let joined = table
        .lines()
        .find(|l| l.starts_with("joined "))
        .unwrap_or_else(|| panic!("no joined line in\n{table}"));
    // And why: the seed, and what its last connection attempt met.
    assert!(
        joined.starts_with("joined      no (")
            && joined.contains(" so far; retrying; last seed failure: ")
            && joined.contains(&dead)
            && joined.ends_with("Connection refused (os error 111))"),
        "{table}"
    );
    drop(node);
}

/// The peak resident set (`VmHWM`) of process `pid`, in KiB, where /proc
/// has it.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A document of `len` bytes that does not repeat block by block.
fn big_document(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn two_chord_mode_node_processes_put_on_one_get_on_the_other() {
    let scratch = Scratch::new("chord");
    let chord = ["--mode", "chord", "--store-size", "16M"];
    let first = NodeProcess::start_with_args(&scratch.path("n1"), &[], &chord);
    let second = NodeProcess::start_with_args(&scratch.path("n2"), &[&first.node_ref], &chord);
    let doc: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let (_, key) = put_file(&scratch.path("doc.bin"), &doc, second.data_dir(), 30);
    let got = fog_bounded(&["get", &key, "--data-dir", first.data_dir()], b"", 30);
    assert!(got.status.success(), "get: {}", text(&got.stderr));
    assert_eq!(got.stdout, doc);
    assert_lines(
        &status_table(second.data_dir()),
        &["mode        chord", "joined      yes (1 attempt)"],
    );
    #[cfg(unix)]
    for node in [first, second] {
        assert!(node.terminate().success());
    }
}

#[test]
fn large_documents_stream_through_two_node_processes() {
    let scratch = Scratch::new("stream");
    let first = NodeProcess::start(&scratch.path("n1"), &[]);
    let second = NodeProcess::start(&scratch.path("n2"), &[&first.node_ref]);

    // 3 MiB from a file, fetched from the other node to a file and to
    // standard output.
    let doc = big_document(3 << 20);
    let (put, key) = put_file(&scratch.path("big.bin"), &doc, first.data_dir(), 120);
    assert!(put.stderr.is_empty(), "no bar without a terminal");
    assert!(key.starts_with("CHK@"), "{key}");

    let out = scratch.path("got.bin");
    let got = fog_bounded(
        &[
            "get",
            &key,
            "-o",
            out.to_str().unwrap(),
            "--data-dir",
            second.data_dir(),
        ],
        b"",
        120,
    );
    assert!(got.status.success(), "get -o: {}", text(&got.stderr));
    assert!(got.stdout.is_empty() && got.stderr.is_empty());
    assert!(std::fs::read(&out).unwrap() == doc, "the file differs");
    let got = fog_bounded(&["get", &key, "--data-dir", second.data_dir()], b"", 120);
    assert!(got.status.success(), "get: {}", text(&got.stderr));
    assert!(got.stdout == doc, "standard output differs");

    // Standard input gives the same key.
    let put = fog_bounded(&["put", "-", "--data-dir", second.data_dir()], &doc, 120);
    assert!(put.status.success(), "put -: {}", text(&put.stderr));
    assert_eq!(text(&put.stdout).trim(), key);

    // A failed fetch into a file leaves nothing behind: no file under the
    // target name, no temporary file beside it.
    let dir = scratch.path("outdir");
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("missing.bin");
    let missing = fog_bounded(
        &[
            "get",
            HELLO_CHK,
            "-o",
            target.to_str().unwrap(),
            "--data-dir",
            second.data_dir(),
        ],
        b"",
        60,
    );
    assert_eq!(missing.status.code(), Some(4), "{}", text(&missing.stderr));
    assert!(!target.exists());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

    drop(second);
    drop(first);
}

/// 64 MiB through a node's API: put with `fog put`, fetched back through
/// the same node. Both nodes store every block (and redb caches up to
/// 64 MiB of pages), so the node serving the API is compared with its peer,
/// which stores the same blocks without the API: holding the document whole
/// would put it at least 64 MiB above. Linux only (reads /proc).
#[cfg(target_os = "linux")]
#[test]
fn node_memory_stays_bounded_while_streaming() {
    let scratch = Scratch::new("rss");
    let first = NodeProcess::start_with_store(&scratch.path("n1"), &[], "256M");
    let second = NodeProcess::start_with_store(&scratch.path("n2"), &[&first.node_ref], "256M");
    if peak_rss_kib(second.child.id()).is_none() {
        return; // no /proc
    }
    let len = 64 << 20;
    let doc = big_document(len);
    let (_, key) = put_file(&scratch.path("huge.bin"), &doc, second.data_dir(), 300);
    let out = scratch.path("huge.out");
    let got = fog_bounded(
        &[
            "get",
            &key,
            "-o",
            out.to_str().unwrap(),
            "--data-dir",
            second.data_dir(),
        ],
        b"",
        300,
    );
    assert!(got.status.success(), "get: {}", text(&got.stderr));
    assert!(std::fs::read(&out).unwrap() == doc, "the file differs");
    let api = peak_rss_kib(second.child.id()).unwrap();
    let peer = peak_rss_kib(first.child.id()).unwrap();
    assert!(
        api.saturating_sub(peer) < 32 * 1024,
        "peak RSS {api} KiB with the API, {peer} KiB without"
    );
    drop(second);
    drop(first);
}

#[test]
fn clients_without_a_node_exit_6() {
    let scratch = Scratch::new("none");
    let empty = scratch.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let dir = empty.to_str().unwrap();

    let get = fog_bounded(&["get", HELLO_CHK, "--data-dir", dir], b"", 10);
    assert_eq!(get.status.code(), Some(6), "{}", text(&get.stderr));
    assert!(text(&get.stderr).contains("no node is running"));
    let put = fog_bounded(&["put", "-", "--data-dir", dir], b"x", 10);
    assert_eq!(put.status.code(), Some(6));
    let status = fog_bounded(&["status", "--data-dir", dir], b"", 10);
    assert_eq!(status.status.code(), Some(6));

    // An api file naming a port no one listens on: connection refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap();
    drop(listener);
    api::write_api_file(&empty, dead).unwrap();
    api::write_token_file(&empty, &Token::generate()).unwrap();
    let refused = fog_bounded(&["get", HELLO_CHK, "--data-dir", dir], b"", 10);
    assert_eq!(refused.status.code(), Some(6), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("cannot reach the node"));
}

#[test]
fn bad_node_arguments_exit_2() {
    let scratch = Scratch::new("args");
    let dir = scratch.path("n");
    let dir = dir.to_str().unwrap();
    for args in [
        vec!["node", "--data-dir", dir, "--store-size", "12Q"],
        vec!["node", "--data-dir", dir, "--listen", "0.0.0.0:0"],
        vec!["node", "--data-dir", dir, "--listen", "nowhere"],
        vec!["node", "--data-dir", dir, "--seed", "fog:nonsense"],
    ] {
        let out = fog_bounded(&args, b"", 10);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
}

// ---- The HTTP API against an in-process node. ----

/// Runs `fut` within `secs` seconds, or fails the test.
async fn bounded<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("test exceeded its time limit")
}

async fn start_node(dir: &Path) -> NodeHandle {
    start_seeded(dir, Vec::new()).await
}

async fn start_seeded(dir: &Path, seeds: Vec<fogstore::wire::NodeRef>) -> NodeHandle {
    Node::start(NodeConfig {
        seeds,
        store_bytes: 16 * 1024 * 1024,
        ..NodeConfig::new(dir, "127.0.0.1:0".parse().unwrap())
    })
    .await
    .unwrap()
}

/// Two nodes, the second seeded with the first (a lone node cannot
/// insert: it has no route). The API serves the second.
async fn start_pair(scratch: &Scratch) -> (NodeHandle, NodeHandle) {
    let first = start_node(&scratch.path("n1")).await;
    let second = start_seeded(&scratch.path("n2"), vec![first.node_ref()]).await;
    (first, second)
}

const LIMIT: u64 = 4096;

async fn start_api(node: &NodeHandle, token: &Token) -> ApiServer {
    ApiServer::start(
        node.clone(),
        "127.0.0.1:0".parse().unwrap(),
        token.clone(),
        LIMIT,
    )
    .await
    .unwrap()
}

/// Sends `request` as raw bytes and returns the whole answer as text.
/// A request line sent by hand with the right token, closing afterwards.
fn authorized(line: &str, token: &Token) -> String {
    format!(
        "{line} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        token.to_hex()
    )
}

async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The node key of a `CHK@` URI.
fn key_node(uri: &str) -> fogstore::key::NodeKey {
    match uri.parse::<fogstore::key::Key>().unwrap() {
        fogstore::key::Key::Chk(key) => key.node_key(),
        other => panic!("{other:?}"),
    }
}

fn code(result: Result<impl std::fmt::Debug, ClientError>) -> u16 {
    match result {
        Err(ClientError::Status { code, .. }) => code,
        other => panic!("expected a status failure, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_or_missing_token_is_401_without_detail() {
    let scratch = Scratch::new("token");
    bounded(20, async {
        let node = start_node(&scratch.path("n")).await;
        let token = Token::generate();
        let server = start_api(&node, &token).await;
        let addr = server.local_addr();

        let wrong = ApiClient::new(addr, &Token::generate());
        assert_eq!(code(wrong.status().await), 401);
        assert_eq!(code(wrong.put(b"hello".to_vec()).await), 401);
        assert_eq!(code(wrong.get(HELLO_CHK).await), 401);

        for request in [
            "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
            "GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Basic abc\r\nConnection: close\r\n\r\n".to_owned(),
            format!(
                "GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
                &token.to_hex()[..63]
            ),
        ] {
            let answer = raw(addr, &request).await;
            assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
            assert!(answer.contains("content-length: 0"), "{answer}");
        }
        // The right token, by hand, works.
        let answer = raw(
            addr,
            &authorized("GET /status", &token),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

        server.shutdown().await;
        node.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn oversized_bodies_are_413_declared_or_not() {
    let scratch = Scratch::new("large");
    bounded(20, async {
        let (seed, node) = start_pair(&scratch).await;
        let token = Token::generate();
        let server = start_api(&node, &token).await;
        let addr = server.local_addr();
        let client = ApiClient::new(addr, &token);

        // With a Content-Length over the limit.
        assert_eq!(code(client.put(vec![1; LIMIT as usize + 1]).await), 413);
        // Chunked, with no length declared: cut off at the limit.
        let chunk = "x".repeat(1000);
        let mut request = format!(
            "PUT /document HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            token.to_hex()
        );
        for _ in 0..5 {
            request.push_str(&format!("3e8\r\n{chunk}\r\n"));
        }
        request.push_str("0\r\n\r\n");
        let answer = raw(addr, &request).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

        // At the limit it is accepted (and published).
        let key = client.put(vec![1; LIMIT as usize]).await.unwrap();
        assert_eq!(client.get(&key).await.unwrap(), vec![1; LIMIT as usize]);

        server.shutdown().await;
        node.shutdown().await;
        seed.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn documents_round_trip_and_failures_have_their_codes() {
    let scratch = Scratch::new("codes");
    bounded(30, async {
        let (seed, node) = start_pair(&scratch).await;
        let token = Token::generate();
        let server = start_api(&node, &token).await;
        let client = ApiClient::new(server.local_addr(), &token);

        let key = client.put(b"hello, world\n".to_vec()).await.unwrap();
        // The "short text" vector (only this test's nodes have it).
        assert_eq!(key, HELLO_CHK);
        assert_eq!(client.get(&key).await.unwrap(), b"hello, world\n");
        // Percent-encoded in the path works too.
        let encoded = key.replace('@', "%40").replace(',', "%2C");
        let answer = raw(
            server.local_addr(),
            &authorized(&format!("GET /document/{encoded}"), &token),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("application/octet-stream"), "{answer}");
        // Streamed: chunked, the document then the last chunk.
        assert!(answer.contains("transfer-encoding: chunked"), "{answer}");
        assert!(answer.ends_with("hello, world\n\r\n0\r\n\r\n"), "{answer}");

        // Malformed keys: 400 with a message.
        match client.get("CHK@nonsense").await {
            Err(ClientError::Status { code: 400, message }) => {
                assert!(message.contains("malformed key"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        // A keyword key is fetched like any other: none was published.
        assert_eq!(code(client.get("KSK@hello").await), 404);
        // A key no one has: 404.
        let other = "CHK@AyzYtSzbSP3eIj-yyYlaIz5y20KyDeaSGzgH6ahkYfw,KEO8JK1zK5jvYMY-yqBLEq0LPfnitPa91G7vh6VR5Gs";
        assert_eq!(code(client.get(other).await), 404);

        // Status: JSON with every field.
        let answer = raw(
            server.local_addr(),
            &authorized("GET /status", &token),
        )
        .await;
        assert!(answer.contains("application/json"), "{answer}");
        let json: serde_json::Value =
            serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        for field in [
            "node",
            "mode",
            "seeds",
            "joined",
            "join_attempts",
            "peers",
            "known",
            "references",
            "store_blocks",
            "store_bytes",
            "in_flight",
            "location",
            "connects",
            "dead_links",
            "refused",
            "flooders_dropped",
            "pings_sent",
            "cover_sent",
            "cover_received",
            "healed",
            "heal_failed",
            "heal_dropped",
        ] {
            assert!(json.get(field).is_some(), "{field} missing from {json}");
        }
        assert_eq!(json["mode"], "freenet");
        let status = client.status().await.unwrap();
        assert_eq!(status.node, node.node_ref().to_string());
        assert_eq!(status.mode, Mode::Freenet);
        // Joined through its one seed at the first attempt, over its one
        // connection.
        assert!(status.joined);
        assert_eq!((status.seeds, status.join_attempts), (1, 1));
        assert_eq!((status.peers, status.known, status.connects), (1, 1, 1));
        assert_eq!((status.dead_links, status.refused, status.flooders_dropped), (0, 0, 0));
        assert_eq!((status.cover_sent, status.cover_received), (0, 0));
        // It published and fetched one document, and keeps none of it: its
        // seed holds it.
        assert_eq!(status.store_blocks, 0);
        assert!(seed.holds(&key_node(&key)).await.unwrap());
        assert!((0.0..1.0).contains(&status.location));

        // Unknown endpoints and methods.
        let answer = raw(
            server.local_addr(),
            &authorized("DELETE /document", &token),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
        let answer = raw(
            server.local_addr(),
            &authorized("GET /nothing", &token),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

        server.shutdown().await;
        node.shutdown().await;
        seed.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_api_refuses_to_bind_beyond_loopback() {
    let scratch = Scratch::new("bind");
    bounded(20, async {
        let node = start_node(&scratch.path("n")).await;
        for addr in ["0.0.0.0:0", "192.0.2.1:0"] {
            let result = ApiServer::start(
                node.clone(),
                addr.parse().unwrap(),
                Token::generate(),
                LIMIT,
            )
            .await;
            assert!(
                matches!(result, Err(ApiError::NotLoopback(_))),
                "{addr}: {result:?}"
            );
        }
        node.shutdown().await;
    })
    .await;
}

/// A sink that holds back on its first write until `released`, so that the
/// test can act while a transfer is under way.
struct Gate {
    bytes: Vec<u8>,
    started: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::io::Write for Gate {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // Meanwhile the node's fetch runs ahead only as far as its
            // pipe and its few blocks in flight allow.
            std::thread::sleep(Duration::from_millis(500));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_after_the_first_byte_arrives_as_one_message_naming_the_segment() {
    let scratch = Scratch::new("midway");
    bounded(60, async {
        let (holder, node) = start_pair(&scratch).await;
        // 5 MiB kept at the seed alone; the API's node fetches it from there.
        let doc: Vec<u8> = (0..5 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let (key, _) = holder.preload(&doc).await.unwrap();
        let uri = fogstore::key::Key::Chk(key).to_string();
        let token = Token::generate();
        let server = start_api(&node, &token).await;
        let client = ApiClient::new(server.local_addr(), &token);

        let started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watch = std::sync::Arc::clone(&started);
        let stopper = holder.clone();
        let stop = tokio::spawn(async move {
            while !watch.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            stopper.shutdown().await;
        });
        let mut sink = Gate {
            bytes: Vec::new(),
            started,
        };
        let result = client.get_writer(&uri, &mut sink).await;
        stop.await.unwrap();
        match result {
            Err(ClientError::Status { code: 404, message }) => {
                // The first segment arrived whole; then the holder went,
                // before the second segment's manifest or enough of its
                // blocks came (which, depends on timing).
                assert!(
                    message.starts_with("a manifest block (CHK@")
                        || (message.starts_with("segment 2 of 2 (data blocks 82-161): ")
                            && message.contains(" needed; last missing (CHK@")),
                    "{message}"
                );
                assert!(message.ends_with("route not found"), "{message}");
            }
            other => panic!("expected the node's 404 after the first bytes, got {other:?}"),
        }
        assert!(!sink.bytes.is_empty() && sink.bytes.len() < doc.len());
        assert!(doc.starts_with(&sink.bytes), "the prefix is the document's");
        server.shutdown().await;
        node.shutdown().await;
    })
    .await;
}
