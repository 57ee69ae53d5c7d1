//! The `fog` binary run as a user runs it: output, errors and exit codes.

mod common;

use std::process::Output;

use common::{fog_bounded, fog_into_closed_pipe};
use fogstore::key::Key;
use fogstore::node::api::{API_FILE, TOKEN_FILE};

/// Runs `fog args` with `stdin`; fails if it has not exited within 10 s (a
/// `fog node` that wrongly accepted its input would run on).
fn fog(args: &[&str], stdin: &[u8]) -> Output {
    fog_bounded(args, stdin, 10)
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// The URI of the "short text" vector in keys/chk.json.
const HELLO_CHK: &str =
    "CHK@tmRA4aerPEGgI6AOawxWWJZpxYcnUoFOcuIKSOlxK2o,sWdsMTT5rd8MwSa2ECfWPXFV83PJVqjnCH1Pv4bh3H0";

#[test]
fn key_of_stdin_and_of_a_file_match_the_vector() {
    let out = fog(&["key", "-"], b"hello, world\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{HELLO_CHK}\n"));

    let dir = std::env::temp_dir().join(format!("fog-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hello.txt");
    std::fs::write(&file, b"hello, world\n").unwrap();
    let out = fog(&["key", file.to_str().unwrap()], b"");
    assert_eq!(stdout(&out), format!("{HELLO_CHK}\n"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_document_over_one_block_gets_a_splitfile_key() {
    let doc = vec![7u8; 32761];
    let out = fog(&["key", "-"], &doc);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = fogstore::client::splitfile::key_of(&doc[..]).unwrap();
    assert_eq!(stdout(&out), format!("{}\n", Key::Chk(expected)));
    // Not the single-block key: the top is a manifest.
    let Ok(Key::Chk(_)) = stdout(&out).trim().parse::<Key>() else {
        panic!("{}", stdout(&out))
    };
}

#[test]
fn a_missing_file_is_bad_input() {
    let out = fog(&["key", "/nonexistent/fogstore/file"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot open"), "{}", stderr(&out));
}

#[test]
fn ssk_new_prints_a_matching_key_pair() {
    let out = fog(&["key", "--ssk-new", "--name", "site/1"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let Ok(Key::SskInsert(insert)) = lines[0].parse::<Key>() else {
        panic!("{}", lines[0])
    };
    let Ok(Key::Ssk(public)) = lines[1].parse::<Key>() else {
        panic!("{}", lines[1])
    };
    assert_eq!(insert.to_public(), public);
    assert_eq!(public.name.to_string(), "site/1");

    // Two runs give two different key pairs.
    let again = fog(&["key", "--ssk-new"], b"");
    assert!(stdout(&again).lines().all(|l| l.ends_with('/')));
    assert_ne!(stdout(&again).lines().next(), Some(lines[0]));
}

#[test]
fn bad_names_and_keys_exit_with_the_bad_key_code() {
    let out = fog(&["key", "--ssk-new", "--name", "site/07"], b"");
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("bad version"), "{}", stderr(&out));

    let out = fog(&["key", "--inspect", "CHK@notbase64!,x"], b"");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).starts_with("error: bad key: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn inspect_shows_routing_key_and_location() {
    let out = fog(&["key", "--inspect", HELLO_CHK], b"");
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains(
            "routing key: b66440e1a7ab3c41a023a00e6b0c56589669c5872752814e72e20a48e9712b6a"
        ),
        "{text}"
    );
    assert!(text.contains("0xb66440e1a7ab3c41"), "{text}");
}

#[test]
fn usage_errors_exit_2_and_version_works() {
    assert_eq!(fog(&["key"], b"").status.code(), Some(2));
    assert_eq!(fog(&["key", "a", "--ssk-new"], b"").status.code(), Some(2));
    assert_eq!(fog(&["frobnicate"], b"").status.code(), Some(2));
    let out = fog(&["--version"], b"");
    assert_eq!(stdout(&out), format!("fog {}\n", env!("CARGO_PKG_VERSION")));
}

/// A scratch data directory, removed when dropped.
struct DataDir(std::path::PathBuf);

impl DataDir {
    fn new(name: &str) -> DataDir {
        let dir = std::env::temp_dir().join(format!("fog-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        DataDir(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_bad_config_file_is_bad_input_naming_the_file_and_the_key() {
    let dir = DataDir::new("bad-toml");
    let file = dir.0.join("fog.toml");
    for (toml, key) in [
        ("max_peers = 32\ncover_rat = 5\n", "unknown key `cover_rat`"),
        ("max_peers = \"lots\"\n", "key `max_peers`"),
    ] {
        std::fs::write(&file, toml).unwrap();
        let out = fog(&["node", "--data-dir", dir.path()], b"");
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(file.to_str().unwrap()), "{err}");
        assert!(err.contains(key), "{err}");
        // Refused before anything started: no API files.
        assert!(!dir.0.join("api").exists());
    }
}

#[test]
fn a_bad_seeds_file_line_is_bad_input_naming_the_line() {
    let dir = DataDir::new("bad-seeds");
    let seeds = dir.0.join("seeds.txt");
    std::fs::write(
        &seeds,
        "# seeds\n\nfog:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8@192.0.2.1:9000\nfog:nonsense@192.0.2.2:9000\n",
    )
    .unwrap();
    let out = fog(
        &[
            "node",
            "--data-dir",
            dir.path(),
            "--seeds-file",
            seeds.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 4"), "{}", stderr(&out));
}

/// Runs `fog args` with `stdin` into a pipe whose reader has gone, and
/// checks that it ended as `fog … | head` should: successfully, with
/// nothing on stderr (no panic, no error).
fn ends_quietly(args: &[&str], stdin: &[u8]) {
    let out = fog_into_closed_pipe(args, stdin, 10);
    assert!(
        out.status.success(),
        "fog {args:?}: {:?}: {}",
        out.status,
        stderr(&out)
    );
    assert_eq!(stderr(&out), "", "fog {args:?}");
}

#[test]
fn a_closed_stdout_ends_quietly_and_successfully() {
    // Reads its input first, so its reader is sure to be gone.
    ends_quietly(&["key", "-"], b"hello, world\n");
    ends_quietly(&["key", "--inspect", HELLO_CHK], b"");
    ends_quietly(&["key", "--ssk-new"], b"");
}

#[test]
fn a_node_with_a_closed_stdout_stops_and_cleans_up() {
    let dir = DataDir::new("closed-stdout");
    ends_quietly(
        &["node", "--data-dir", dir.path(), "--store-size", "1M"],
        b"",
    );
    assert!(!dir.0.join(API_FILE).exists());
    assert!(!dir.0.join(TOKEN_FILE).exists());
}
