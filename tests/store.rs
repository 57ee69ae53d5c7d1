//! The persistent store: round trips of real blocks, restarts that keep LRU
//! order, a capacity in bytes, corrupt blocks never served, a child process
//! killed at random moments, and the routing core running on it.
//!
//! Every test works in its own directory under the system temp dir, removed
//! when it ends, and is bounded in time.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use fogstore::block::{Block, chk, ssk};
use fogstore::key::{DocName, KeyKind, Location, NodeKey, SskInsertKey};
use fogstore::routing::freenet::Core;
use fogstore::routing::{
    BlockContent, ClientId, ClientOp, ClientResult, Config, Input, Output, Store, Time,
};
use fogstore::store::DiskStore;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

/// The store's on-disk layout, as `docs/architecture.md` describes it: the
/// index (key → slot, last use) in a redb database, the blocks in one slot
/// file per kind.
const INDEX: TableDefinition<&[u8; 33], (u64, u64)> = TableDefinition::new("index");
const FILE: &str = "store.redb";
/// The first layout's tables, which a store moves into slots when opened.
const OLD_BLOCKS: TableDefinition<&[u8; 33], &[u8]> = TableDefinition::new("blocks");
const OLD_RECENCY: TableDefinition<&[u8; 33], u64> = TableDefinition::new("recency");

/// A directory under the system temp dir, unique to this process and call,
/// removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "fogstore-test-{name}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chk_size() -> u64 {
    Block::size_of(KeyKind::Chk) as u64
}

/// CHK block number `i`: distinct for every `i`.
fn chk_block(i: u64) -> (NodeKey, Block) {
    let (key, block) = chk::encode(format!("block {i}").as_bytes()).unwrap();
    (key.node_key(), Block::Chk(block))
}

fn ssk_block(name: &str, doc: &[u8]) -> (NodeKey, Block) {
    let insert = SskInsertKey {
        signing: SigningKey::from_bytes(&[9; 32]),
        crypto: [3; 32],
        name: DocName::parse(name).unwrap(),
    };
    let (key, block) = ssk::encode(&insert, doc).unwrap();
    (key.node_key(), Block::Ssk(block))
}

fn raw_key(key: &NodeKey) -> [u8; 33] {
    let mut raw = [0; 33];
    raw[0] = key.kind.to_byte();
    raw[1..].copy_from_slice(key.routing.as_bytes());
    raw
}

/// The index on disk: raw key → (slot, last use).
fn index_entries(dir: &Path) -> std::collections::HashMap<[u8; 33], (u64, u64)> {
    let db = Database::create(dir.join(FILE)).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(INDEX).unwrap();
    table
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (*k.value(), v.value())
        })
        .collect()
}

/// Overwrites the slot the index on disk gives `key` with `bytes`.
fn write_slot(dir: &Path, key: &NodeKey, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let (slot, _) = index_entries(dir)[&raw_key(key)];
    let (file, size) = match key.kind {
        KeyKind::Chk => ("chk.slots", chk_size()),
        KeyKind::Ssk => ("ssk.slots", Block::size_of(KeyKind::Ssk) as u64),
    };
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(file))
        .unwrap();
    f.write_all_at(bytes, slot * size).unwrap();
}

#[test]
fn chk_and_ssk_blocks_round_trip() {
    let dir = TempDir::new("round-trip");
    let mut store = DiskStore::open(dir.path(), 1 << 20).unwrap();
    assert!(store.is_empty());
    let (ck, cb) = chk_block(1);
    let (sk, sb) = ssk_block("x", b"signed words");
    store.put(ck, cb.clone());
    store.put(sk, sb.clone());
    assert_eq!(store.len(), 2);
    assert!(store.contains(&ck) && store.contains(&sk));
    assert_eq!(
        store.bytes(),
        chk_size() + Block::size_of(KeyKind::Ssk) as u64
    );
    assert_eq!(store.get(&ck), Some(cb.clone()));
    assert_eq!(store.get(&sk), Some(sb.clone()));
    // What comes back still opens with the reader's key.
    let Some(Block::Chk(chk_back)) = store.get(&ck) else {
        panic!("not a CHK block")
    };
    let (reader_key, _) = chk::encode(b"block 1").unwrap();
    assert_eq!(
        chk::decode(&reader_key, &chk_back).unwrap().bytes,
        b"block 1"
    );
    // A key never stored is a miss.
    let (other, _) = chk_block(2);
    assert_eq!(store.get(&other), None);
    assert!(!store.contains(&other));
    // A block under the other kind's key is refused.
    store.put(
        NodeKey {
            kind: KeyKind::Ssk,
            ..other
        },
        chk_block(2).1,
    );
    assert_eq!(store.len(), 2);
    assert_eq!(store.errors(), 0);
    assert!(dir.path().join(FILE).is_file());
}

#[test]
fn a_reopened_store_serves_its_blocks_in_the_same_lru_order() {
    let dir = TempDir::new("reopen");
    let capacity = 4 * chk_size();
    let blocks: Vec<_> = (0..6).map(chk_block).collect();
    let order_before: Vec<NodeKey>;
    {
        let mut store = DiskStore::open(dir.path(), capacity).unwrap();
        for (k, b) in &blocks[..4] {
            store.put(*k, b.clone());
        }
        // Uses since the last put are written on drop: 2, 0, 3, 1 (most
        // recent first).
        assert!(store.get(&blocks[0].0).is_some());
        assert!(store.get(&blocks[2].0).is_some());
        order_before = store.keys().copied().collect();
        let expected: Vec<NodeKey> = [2, 0, 3, 1].iter().map(|&i| blocks[i].0).collect();
        assert_eq!(order_before, expected);
    }
    let mut store = DiskStore::open(dir.path(), capacity).unwrap();
    assert_eq!(store.keys().copied().collect::<Vec<_>>(), order_before);
    assert_eq!(store.len(), 4);
    assert_eq!(store.bytes(), 4 * chk_size());
    // Filling past capacity evicts the two least recently used: 1, then 3.
    store.put(blocks[4].0, blocks[4].1.clone());
    assert!(!store.contains(&blocks[1].0));
    store.put(blocks[5].0, blocks[5].1.clone());
    assert!(!store.contains(&blocks[3].0));
    for i in [0, 2, 4, 5] {
        assert_eq!(store.get(&blocks[i].0).as_ref(), Some(&blocks[i].1), "{i}");
    }
    assert_eq!(store.errors(), 0);
    drop(store);
    // Evictions reached the disk too.
    let store = DiskStore::open(dir.path(), capacity).unwrap();
    assert_eq!(store.len(), 4);
    assert!(!store.contains(&blocks[1].0) && !store.contains(&blocks[3].0));
    drop(store);
    // Reopened smaller, it evicts its least recently used at once.
    let store = DiskStore::open(dir.path(), 2 * chk_size()).unwrap();
    let kept: Vec<NodeKey> = store.keys().copied().collect();
    assert_eq!(kept, vec![blocks[5].0, blocks[4].0]);
}

#[test]
fn storing_one_block_too_many_evicts_exactly_the_least_recently_used() {
    let dir = TempDir::new("capacity");
    // Room for three CHK blocks, not four.
    let capacity = 4 * chk_size() - 1;
    let mut store = DiskStore::open(dir.path(), capacity).unwrap();
    assert_eq!(store.capacity(), capacity);
    let blocks: Vec<_> = (0..6).map(chk_block).collect();
    for (k, b) in &blocks[..3] {
        store.put(*k, b.clone());
    }
    assert!(store.get(&blocks[0].0).is_some()); // 1 is now the oldest
    store.put(blocks[3].0, blocks[3].1.clone());
    assert!(!store.contains(&blocks[1].0));
    for i in [0, 2, 3] {
        assert!(store.contains(&blocks[i].0), "{i}");
    }
    assert_eq!(store.len(), 3);
    assert_eq!(store.bytes(), 3 * chk_size());
    // Storing a held key again evicts nothing and refreshes it.
    store.put(blocks[2].0, blocks[2].1.clone());
    assert_eq!(store.len(), 3);
    store.put(blocks[4].0, blocks[4].1.clone()); // evicts 0, the oldest now
    assert!(!store.contains(&blocks[0].0));
    assert!(store.contains(&blocks[2].0) && store.contains(&blocks[3].0));
    // `contains` does not refresh: 3 is still the oldest.
    assert!(store.contains(&blocks[3].0));
    store.put(blocks[5].0, blocks[5].1.clone());
    assert!(!store.contains(&blocks[3].0));
    assert_eq!(store.bytes(), 3 * chk_size());
    assert_eq!(store.errors(), 0);

    // A block larger than the whole store is not stored.
    let dir = TempDir::new("capacity-tiny");
    let mut tiny = DiskStore::open(dir.path(), chk_size() - 1).unwrap();
    tiny.put(blocks[0].0, blocks[0].1.clone());
    assert!(tiny.is_empty());
    assert_eq!(tiny.bytes(), 0);
    assert_eq!(tiny.errors(), 0);
}

#[test]
fn a_corrupt_block_is_deleted_and_reported_absent() {
    let dir = TempDir::new("corrupt");
    let (k_flip, b_flip) = chk_block(1);
    let (k_zero, b_zero) = chk_block(2);
    let (k_ssk, b_ssk) = ssk_block("x", b"signed");
    let (k_good, b_good) = chk_block(3);
    let (k_swap, b_swap) = chk_block(4);
    {
        let mut store = DiskStore::open(dir.path(), 1 << 20).unwrap();
        for (k, b) in [
            (k_flip, &b_flip),
            (k_zero, &b_zero),
            (k_ssk, &b_ssk),
            (k_good, &b_good),
            (k_swap, &b_swap),
        ] {
            store.put(k, b.clone());
        }
        assert_eq!(store.len(), 5);
    }
    // Disk corruption in the slot files, where the index says each block is.
    let mut flipped = b_flip.as_bytes().to_vec();
    flipped[100] ^= 1;
    write_slot(dir.path(), &k_flip, &flipped);
    // A write that never reached the disk, as after a crash.
    write_slot(dir.path(), &k_zero, &vec![0; b_zero.as_bytes().len()]);
    let mut bad_sig = b_ssk.as_bytes().to_vec();
    *bad_sig.last_mut().unwrap() ^= 0x80;
    write_slot(dir.path(), &k_ssk, &bad_sig);
    // A whole valid block, in another block's slot (a slot given to a new
    // block while the index on disk still names the evicted one).
    write_slot(dir.path(), &k_swap, b_good.as_bytes());

    let mut store = DiskStore::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(store.len(), 5, "open does not read blocks");
    for (name, key) in [
        ("flipped", k_flip),
        ("zeroed", k_zero),
        ("ssk", k_ssk),
        ("swap", k_swap),
    ] {
        assert!(store.contains(&key), "{name}");
        assert_eq!(store.get(&key), None, "{name} is served");
        assert!(!store.contains(&key), "{name} is still indexed");
        assert_eq!(store.get(&key), None, "{name}");
    }
    assert_eq!(store.get(&k_good), Some(b_good.clone()));
    assert_eq!(store.len(), 1);
    assert_eq!(store.bytes(), chk_size());
    assert_eq!(store.errors(), 0, "corruption is not an I/O error");
    // The freed slots are reused: new blocks go into them, not past the
    // end of the file.
    let file_len = std::fs::metadata(dir.path().join("chk.slots"))
        .unwrap()
        .len();
    for i in 10..13 {
        let (k, b) = chk_block(i);
        store.put(k, b);
    }
    drop(store);
    assert_eq!(
        std::fs::metadata(dir.path().join("chk.slots"))
            .unwrap()
            .len(),
        file_len
    );
    // The bad entries are gone from the index on disk.
    assert_eq!(index_entries(dir.path()).len(), 4);
    let mut store = DiskStore::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(store.len(), 4);
    assert_eq!(store.get(&k_good), Some(b_good));
    for i in 10..13 {
        let (k, b) = chk_block(i);
        assert_eq!(store.get(&k), Some(b));
    }
}

#[test]
fn entries_edited_from_outside_are_reconciled_on_open() {
    let dir = TempDir::new("reconcile");
    let blocks: Vec<_> = (0..4).map(chk_block).collect();
    {
        let mut store = DiskStore::open(dir.path(), 1 << 20).unwrap();
        for (k, b) in &blocks {
            store.put(*k, b.clone());
        }
    }
    let index = index_entries(dir.path());
    let (slot_1, seq_1) = index[&raw_key(&blocks[1].0)];
    {
        let db = Database::create(dir.path().join(FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(INDEX).unwrap();
            // 0 points past the end of the file (dropped); 2 claims 1's
            // slot, more recently used (it keeps the slot, 1 is dropped,
            // and 2 is found bad when read); an entry of unknown kind
            // (dropped).
            table.insert(&raw_key(&blocks[0].0), (1_000, 0)).unwrap();
            table
                .insert(&raw_key(&blocks[2].0), (slot_1, seq_1 + 100))
                .unwrap();
            let mut junk = raw_key(&blocks[3].0);
            junk[0] = 0xff;
            table.insert(&junk, (0, 99)).unwrap();
        }
        txn.commit().unwrap();
    }
    let mut store = DiskStore::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(
        store.keys().copied().collect::<Vec<_>>(),
        vec![blocks[2].0, blocks[3].0]
    );
    assert_eq!(store.bytes(), 2 * chk_size());
    assert_eq!(store.get(&blocks[2].0), None, "2's slot holds 1's bytes");
    assert_eq!(store.get(&blocks[3].0), Some(blocks[3].1.clone()));
    assert_eq!(store.errors(), 0);
    drop(store);
    assert_eq!(index_entries(dir.path()).len(), 1);
    // The slots freed by the dropped entries are reused.
    let file_len = std::fs::metadata(dir.path().join("chk.slots"))
        .unwrap()
        .len();
    let mut store = DiskStore::open(dir.path(), 1 << 20).unwrap();
    for (k, b) in &blocks[..3] {
        store.put(*k, b.clone());
    }
    for (k, b) in &blocks {
        assert_eq!(store.get(k), Some(b.clone()));
    }
    drop(store);
    assert_eq!(
        std::fs::metadata(dir.path().join("chk.slots"))
            .unwrap()
            .len(),
        file_len
    );
}

#[test]
fn a_store_of_the_first_layout_is_moved_into_slots() {
    let dir = TempDir::new("migrate");
    let blocks: Vec<_> = (0..3).map(chk_block).collect();
    let (k_ssk, b_ssk) = ssk_block("old", b"signed, in the old layout");
    std::fs::create_dir_all(dir.path()).unwrap();
    {
        // The first layout: the blocks themselves in the database, with
        // last-use numbers; 1 is the oldest, then 2, then the SSK, then 0.
        let db = Database::create(dir.path().join(FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(OLD_BLOCKS).unwrap();
            let mut recency = txn.open_table(OLD_RECENCY).unwrap();
            for ((k, b), seq) in blocks.iter().zip([9u64, 2, 5]) {
                table.insert(&raw_key(k), b.as_bytes()).unwrap();
                recency.insert(&raw_key(k), seq).unwrap();
            }
            table.insert(&raw_key(&k_ssk), b_ssk.as_bytes()).unwrap();
            recency.insert(&raw_key(&k_ssk), 7).unwrap();
            // A block of the wrong size (dropped).
            let (k_bad, _) = chk_block(7);
            table.insert(&raw_key(&k_bad), &[1u8, 2, 3][..]).unwrap();
        }
        txn.commit().unwrap();
    }
    let mut store = DiskStore::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(
        store.keys().copied().collect::<Vec<_>>(),
        vec![blocks[0].0, k_ssk, blocks[2].0, blocks[1].0]
    );
    for (k, b) in blocks.iter().chain([(k_ssk, b_ssk.clone())].iter()) {
        assert_eq!(store.get(k), Some(b.clone()));
    }
    assert_eq!(store.errors(), 0);
    drop(store);
    // The old tables are gone, and the blocks are in slots.
    let db = Database::create(dir.path().join(FILE)).unwrap();
    let txn = db.begin_read().unwrap();
    let tables: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_string())
        .collect();
    assert_eq!(tables, vec!["index".to_string()]);
    drop((txn, db));
    assert_eq!(
        std::fs::metadata(dir.path().join("chk.slots"))
            .unwrap()
            .len(),
        3 * chk_size()
    );
    let mut store = DiskStore::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(store.len(), 4);
    assert_eq!(store.get(&k_ssk), Some(b_ssk));
}

/// Tells the helper below where its store is; unset, the helper does nothing.
const KILL_DIR: &str = "FOGSTORE_KILL_TEST_DIR";
/// The first block number the helper puts.
const KILL_BASE: &str = "FOGSTORE_KILL_TEST_BASE";
/// The helper's name, to run it alone.
const KILL_HELPER: &str = "kill_helper_puts_blocks_until_killed";
/// At most this many puts in one run of the helper.
const KILL_MAX_PUTS: u64 = 5_000;

/// Most puts the helper makes between two syncs.
const KILL_GROUP: u64 = 8;

/// Run by `a_store_killed_at_any_moment_...` as a child process: puts
/// blocks in a loop, in groups of one to [`KILL_GROUP`] that share one
/// sync, as a node's blocks in transit do, and prints `ACK <n>` for each
/// once the sync has returned (what the node waits for before it
/// acknowledges a block); a get of an earlier block between puts makes
/// recency writes race the kill too.
#[test]
#[ignore = "a helper process for the kill test; does nothing on its own"]
fn kill_helper_puts_blocks_until_killed() {
    let Ok(dir) = std::env::var(KILL_DIR) else {
        return;
    };
    let base: u64 = std::env::var(KILL_BASE).unwrap().parse().unwrap();
    let mut store = DiskStore::open(Path::new(&dir), u64::MAX / 2).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    for i in 0..KILL_MAX_PUTS {
        if Instant::now() > deadline {
            break;
        }
        let (key, block) = chk_block(base + i);
        store.put(key, block);
        assert!(store.contains(&key), "put {i} failed");
        assert_eq!(store.errors(), 0);
        let (earlier, _) = chk_block(base + i / 2);
        assert!(store.get(&earlier).is_some());
        // Groups of 1, 2, ... up to KILL_GROUP puts, then again.
        let cycle = KILL_GROUP * (KILL_GROUP + 1) / 2;
        let at = i % cycle + 1;
        if let Some(size) = (1..=KILL_GROUP).find(|k| k * (k + 1) / 2 == at) {
            store.sync().unwrap();
            for n in i + 1 - size..=i {
                println!("ACK {}", base + n);
            }
        }
    }
}

/// Runs the helper above as a child process on the store in `dir`, putting
/// blocks from number `base`, and kills it after `delay_ms`. Returns how it
/// ended, the block numbers it acknowledged, and its stderr.
fn run_helper_and_kill(dir: &Path, base: u64, delay_ms: u64) -> (ExitStatus, Vec<u64>, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            KILL_HELPER,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_DIR, dir)
        .env(KILL_BASE, base.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let acks = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // The first may follow libtest's "test name ... " unbroken.
            .filter_map(|line| line.rsplit_once("ACK ")?.1.parse::<u64>().ok())
            .collect::<Vec<u64>>()
    });
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    std::thread::sleep(Duration::from_millis(delay_ms));
    // SIGKILL on Unix: no destructor, no flush, no clean shutdown. The
    // helper stops by itself after 10 s at worst, so the pipes close.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    (status, acks.join().unwrap(), errs.join().unwrap())
}

#[test]
fn a_store_killed_at_any_moment_reopens_with_every_acknowledged_block() {
    let dir = TempDir::new("kill");
    let mut rng = rand::thread_rng();
    // Acknowledged puts that must survive (synced before their ACK), and
    // every block a child put or was putting (up to a group past the
    // last acknowledged).
    let mut durable: Vec<u64> = Vec::new();
    let mut attempted: BTreeSet<NodeKey> = BTreeSet::new();
    for round in 0..5u64 {
        // Spread over 50–400 ms: one band a round, random within it.
        let delay = rng.gen_range(50 + 70 * round..=120 + 70 * round);
        let (status, acked, errs) = run_helper_and_kill(dir.path(), round * 1_000_000, delay);
        assert!(
            status.code().is_none() || status.success(),
            "round {round}: the helper failed on its own ({status}):\n{errs}"
        );
        durable.extend_from_slice(&acked);
        // The puts made since the last sync may or may not have survived.
        let next = acked.last().map_or(round * 1_000_000, |n| n + 1);
        attempted.extend((next..next + KILL_GROUP).map(|n| chk_block(n).0));
        attempted.extend(acked.iter().map(|&n| chk_block(n).0));
        eprintln!(
            "kill round {round}: killed after {delay} ms, {} puts acknowledged",
            acked.len()
        );

        let started = Instant::now();
        let mut store = DiskStore::open(dir.path(), u64::MAX / 2).unwrap();
        // Every block it holds verifies (a get verifies, and deletes and
        // misses what does not).
        let held: Vec<NodeKey> = store.keys().copied().collect();
        for key in &held {
            let block = store.get(key).expect("a held block fails verification");
            block.verify(key).unwrap();
        }
        assert_eq!(store.len(), held.len());
        // Every acknowledged put but each round's last is there.
        for &n in &durable {
            let (key, block) = chk_block(n);
            assert_eq!(
                store.get(&key),
                Some(block),
                "round {round}: block {n} lost"
            );
        }
        // Nothing is held that was not put or being put.
        for key in &held {
            assert!(
                attempted.contains(key),
                "round {round}: a block never put is held"
            );
        }
        assert_eq!(store.errors(), 0);
        drop(store);
        // And redb finds the file sound.
        let mut db = Database::create(dir.path().join(FILE)).unwrap();
        assert!(db.check_integrity().unwrap(), "round {round}");
        drop(db);
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    assert!(!durable.is_empty(), "no put was acknowledged in any round");
}

#[test]
fn a_store_killed_while_it_is_created_opens_afterwards() {
    let mut rng = rand::thread_rng();
    for round in 0..20u64 {
        let dir = TempDir::new("kill-create");
        // Early enough to land in the creation of the file some rounds.
        let delay = rng.gen_range(1..=20);
        let (status, acked, errs) = run_helper_and_kill(dir.path(), 0, delay);
        assert!(
            status.code().is_none() || status.success(),
            "round {round}: the helper failed on its own ({status}):\n{errs}"
        );
        let store = DiskStore::open(dir.path(), u64::MAX / 2)
            .unwrap_or_else(|e| panic!("round {round}, killed after {delay} ms: {e}"));
        // At most the group synced but not yet acknowledged when it died.
        assert!(store.len() as u64 <= acked.len() as u64 + KILL_GROUP);
        assert_eq!(store.errors(), 0);
    }
    // What a creation killed before its rename leaves is cleared away.
    let dir = TempDir::new("half-made");
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(dir.path().join("store.redb.new"), vec![0u8; 8192]).unwrap();
    let store = DiskStore::open(dir.path(), 1 << 20).unwrap();
    assert!(store.is_empty());
    drop(store);
    assert!(!dir.path().join("store.redb.new").exists());
}

#[test]
fn the_routing_core_answers_a_get_from_a_disk_store() {
    let dir = TempDir::new("core");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let store = DiskStore::open(dir.path(), 8 * chk_size()).unwrap();
    let mut core =
        Core::<BlockContent, DiskStore>::new(Config::default(), Location(0), store, &mut rng);
    let (key, block) = chk_block(7);
    assert!(core.preload(key, block.clone()));
    // Data that is not what its key names is refused.
    assert!(!core.preload(key, chk_block(8).1));
    core.handle(
        Time(0),
        Input::Client {
            client: ClientId(1),
            op: ClientOp::Get {
                key,
                htl: None,
                operation: 0,
            },
        },
        &mut rng,
    );
    let outputs: Vec<Output<BlockContent>> = std::iter::from_fn(|| core.poll()).collect();
    match &outputs[..] {
        [
            Output::Reply {
                client: ClientId(1),
                result: ClientResult::Found(found),
            },
        ] => assert_eq!(found, &block),
        other => panic!("not a local hit: {other:?}"),
    }
    assert_eq!(core.store().len(), 1);
    assert_eq!(core.store().errors(), 0);
}
