//! Documents under signed keys (`SSK@`, `KSK@`) between `fog node`
//! processes with the default settings, started as the README tells a user
//! to: `fog key --ssk-new`, `fog put FILE --key …` through one node, `fog
//! get` through another. One block inline, a larger document through the
//! redirect to a CHK splitfile, a colliding insert refused, bad keys
//! refused in one line. Every run is bounded in time; the nodes are
//! stopped by their child handles and their directories removed.

mod common;

use std::process::Output;

use common::{NodeProcess, Scratch, fog_bounded, network_with_args, pseudo_random, text};

/// `fog put FILE --key KEY` through the node at `dir`, with `doc` as the file.
fn put_key(scratch: &Scratch, doc: &[u8], key: &str, dir: &str) -> Output {
    let file = scratch.path("doc.bin");
    std::fs::write(&file, doc).unwrap();
    fog_bounded(
        &[
            "put",
            file.to_str().unwrap(),
            "--key",
            key,
            "--data-dir",
            dir,
        ],
        b"",
        60,
    )
}

/// The last line of a successful put's standard output.
fn printed_key(put: &Output) -> String {
    assert!(put.status.success(), "put: {}", text(&put.stderr));
    text(&put.stdout)
        .lines()
        .last()
        .expect("put printed nothing")
        .to_owned()
}

/// `fog get KEY` through the node at `dir`, which must succeed.
fn get(key: &str, dir: &str) -> Vec<u8> {
    let got = fog_bounded(&["get", key, "--data-dir", dir], b"", 60);
    assert!(got.status.success(), "get {key}: {}", text(&got.stderr));
    got.stdout
}

/// A new SSK key pair for `name`, from `fog key --ssk-new`: (insert URI,
/// request URI).
fn ssk_pair(name: &str) -> (String, String) {
    let out = fog_bounded(&["key", "--ssk-new", "--name", name], b"", 10);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("SSK-INSERT@"), "{stdout}");
    assert!(lines[1].starts_with("SSK@"), "{stdout}");
    (lines[0].to_owned(), lines[1].to_owned())
}

/// Asserts a failed command: exit `code`, nothing on stdout, one line on
/// stderr that contains `needle`.
fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(out.stdout.is_empty(), "printed {:?}", text(&out.stdout));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}

#[test]
fn ssk_and_ksk_documents_round_trip_between_default_processes() {
    let scratch = Scratch::new("signed");
    // No flag but the data directory and seeds: the defaults.
    let nodes = network_with_args(&scratch, 3, &[]);
    let (publisher, reader) = (nodes[0].data_dir(), nodes[2].data_dir());

    // One block, inline in the signed block.
    let (insert, request) = ssk_pair("notes");
    let small = b"Notes under a signed key.\n".to_vec();
    let put = put_key(&scratch, &small, &insert, publisher);
    assert_eq!(printed_key(&put), request);
    assert_eq!(get(&request, reader), small);

    // The same document again under the same key: the same block, fine.
    let again = put_key(&scratch, &small, &insert, publisher);
    assert_eq!(printed_key(&again), request);

    // Another document under the same name: refused, the first kept.
    let other = put_key(&scratch, b"Something else entirely.\n", &insert, publisher);
    assert_fails(&other, 7, "already holds a different document");
    assert!(text(&other.stderr).contains(&request), "names the key");
    assert!(
        !text(&other.stderr).contains("SSK-INSERT@"),
        "the secret insert URI is never printed"
    );
    assert_eq!(get(&request, reader), small);

    // 200 KiB: a CHK splitfile, and the signed block redirects to it.
    let (insert, request) = ssk_pair("big");
    let big = pseudo_random(200 * 1024, 11);
    let put = put_key(&scratch, &big, &insert, publisher);
    assert_eq!(printed_key(&put), request);
    assert!(get(&request, reader) == big, "200 KiB came back different");
    // Also through the middle node, which may hold some of it.
    assert!(get(&request, nodes[1].data_dir()) == big);

    // A KSK, small and large, and a KSK collision.
    let word = format!("fogstore-test-{}", std::process::id());
    let ksk = format!("KSK@{word}/page");
    let page = b"<p>a keyword page</p>\n".to_vec();
    let put = put_key(&scratch, &page, &ksk, publisher);
    assert_eq!(printed_key(&put), ksk);
    assert_eq!(get(&ksk, reader), page);
    let race = put_key(&scratch, b"<p>an impostor</p>\n", &ksk, reader);
    assert_fails(&race, 7, "already holds a different document");
    assert_eq!(get(&ksk, nodes[1].data_dir()), page);
    let ksk_big = format!("KSK@{word}/big");
    let big = pseudo_random(100_000, 12);
    let put = put_key(&scratch, &big, &ksk_big, reader);
    assert_eq!(printed_key(&put), ksk_big);
    assert!(get(&ksk_big, publisher) == big, "KSK splitfile differs");
}

#[test]
fn bad_signed_keys_are_refused_in_one_line() {
    let scratch = Scratch::new("badkeys");
    let node = NodeProcess::start_with_args(&scratch.path("n0"), &[], &[]);
    let dir = node.data_dir();
    let (insert, request) = ssk_pair("doc");

    // A request URI cannot publish: usage error, exit 2.
    let put = put_key(&scratch, b"x", &request, dir);
    assert_fails(&put, 2, "takes the insert URI SSK-INSERT@");
    // Nor a CHK.
    let chk = "CHK@tmRA4aerPEGgI6AOawxWWJZpxYcnUoFOcuIKSOlxK2o,sWdsMTT5rd8MwSa2ECfWPXFV83PJVqjnCH1Pv4bh3H0";
    assert_fails(&put_key(&scratch, b"x", chk, dir), 2, "a CHK is computed");
    // Malformed URIs: bad key, exit 3, with the reason.
    assert_fails(
        &put_key(&scratch, b"x", "SSK-INSERT@abc,def/doc", dir),
        3,
        "bad key: signing key: must be 32 bytes",
    );
    assert_fails(
        &put_key(&scratch, b"x", "KSK@", dir),
        3,
        "missing document name",
    );
    let no_name = insert.rsplit_once('/').unwrap().0;
    assert_fails(
        &put_key(&scratch, b"x", no_name, dir),
        3,
        "missing document name",
    );
    // The insert URI is not for reading; a fetch needs the request URI.
    let got = fog_bounded(&["get", &insert, "--data-dir", dir], b"", 10);
    assert_fails(&got, 2, "fetch with the request URI SSK@");
    let got = fog_bounded(&["get", "SSK@abc/doc", "--data-dir", dir], b"", 10);
    assert_fails(&got, 3, "bad key");
    // A well-formed key that nothing is published under: not found, exit 4.
    let got = fog_bounded(&["get", &request, "--data-dir", dir], b"", 30);
    assert_fails(&got, 4, "not found: the signed block (SSK@");
}
