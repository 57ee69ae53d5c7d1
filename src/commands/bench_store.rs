//! `fog bench store`: the persistent store's put and get, as a node uses
//! them, next to writing the same bytes to a plain file.
//!
//! Each round opens a new [`DiskStore`] in a temporary folder and puts
//! `--blocks` CHK blocks into it, syncing after every `--sync-every`th put
//! as a node does where an insert's path ends (in a network of 8 nodes,
//! about one put in 7); then gets every block back in a shuffled order,
//! each read verified against its key. The bound is the same bytes written
//! with `pwrite` to one plain file and synced as often: what the disk and
//! the page cache cost without any index. Rounds alternate the store and
//! the bound, so that a noisy machine slows both alike; figures are
//! medians over rounds.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use fogstore::block::{Block, chk};
use fogstore::key::NodeKey;
use fogstore::routing::Store;
use fogstore::store::DiskStore;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};

use super::RemoveOnDrop;
use super::bench::median;

/// Arguments of `fog bench store`.
#[derive(Args)]
pub(crate) struct StoreArgs {
    /// Blocks put (and read back) per round, 32 KiB each.
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(64..=65_536))]
    blocks: u32,
    /// Puts between syncs (a node syncs where an insert's path ends).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    sync_every: u32,
    /// Rounds of each measurement.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    rounds: u32,
}

/// Seconds per block of one round's puts and gets.
struct Round {
    put: f64,
    get: f64,
}

pub(crate) fn run_store(args: StoreArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; run `target/release/fog bench store`");
    }
    let root = std::env::temp_dir().join(format!("fog-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let _cleanup = RemoveOnDrop(root.clone());

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut blocks = Vec::with_capacity(args.blocks as usize);
    for _ in 0..args.blocks {
        let mut doc = vec![0u8; fogstore::block::BLOCK_CAPACITY];
        rng.fill_bytes(&mut doc);
        let (key, block) = chk::encode(&doc).context("encoding a block")?;
        blocks.push((key.node_key(), Block::Chk(block)));
    }
    let mut order: Vec<usize> = (0..blocks.len()).collect();
    order.shuffle(&mut rng);
    let bytes = blocks
        .iter()
        .map(|(_, b)| b.as_bytes().len())
        .sum::<usize>();

    let mut out = io::stdout().lock();
    writeln!(
        out,
        "fog bench store: {} CHK blocks ({:.1} MiB) per round, a sync every {} puts, {} rounds, in {}",
        blocks.len(),
        bytes as f64 / (1 << 20) as f64,
        args.sync_every,
        args.rounds,
        root.display()
    )?;
    let mut store_rounds = Vec::new();
    let mut file_rounds = Vec::new();
    for round in 0..args.rounds {
        let dir = root.join(format!("store-{round}"));
        store_rounds.push(store_round(&dir, &blocks, &order, args.sync_every)?);
        let file = root.join(format!("plain-{round}"));
        file_rounds.push(file_round(&file, &blocks, &order, args.sync_every)?);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&file);
    }
    let med =
        |rounds: &[Round], f: fn(&Round) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
    let size = bytes as f64 / blocks.len() as f64;
    for (name, rounds) in [("disk store", &store_rounds), ("plain file", &file_rounds)] {
        let (put, get) = (med(rounds, |r| r.put), med(rounds, |r| r.get));
        writeln!(
            out,
            "{name}: put {:.1} µs/block ({:.0} MB/s), get {:.1} µs/block ({:.0} MB/s)",
            put * 1e6,
            size / put / 1e6,
            get * 1e6,
            size / get / 1e6
        )?;
    }
    let ratio = |f: fn(&Round) -> f64| med(&store_rounds, f) / med(&file_rounds, f);
    writeln!(
        out,
        "store / plain file: put {:.2}×, get {:.2}×",
        ratio(|r| r.put),
        ratio(|r| r.get)
    )?;
    Ok(())
}

/// Puts and gets every block through a new store in `dir`.
fn store_round(
    dir: &Path,
    blocks: &[(NodeKey, Block)],
    order: &[usize],
    sync_every: u32,
) -> Result<Round> {
    let capacity = 2 * blocks
        .iter()
        .map(|(_, b)| b.as_bytes().len() as u64)
        .sum::<u64>();
    let mut store = DiskStore::open(dir, capacity).context("opening the store")?;
    let started = Instant::now();
    for (i, (key, block)) in blocks.iter().enumerate() {
        store.put(*key, block.clone());
        if (i as u32 + 1) % sync_every == 0 {
            store.sync().context("syncing the store")?;
        }
    }
    store.sync().context("syncing the store")?;
    let put = started.elapsed().as_secs_f64() / blocks.len() as f64;
    drop(store);
    // Reopened, so that every get reads the disk (through the page cache).
    let mut store = DiskStore::open(dir, capacity).context("reopening the store")?;
    let started = Instant::now();
    for &i in order {
        let (key, block) = &blocks[i];
        match store.get(key) {
            Some(got) if got == *block => {}
            _ => bail!("the store lost or changed a block"),
        }
    }
    let get = started.elapsed().as_secs_f64() / blocks.len() as f64;
    if store.errors() > 0 {
        bail!("the store met {} errors", store.errors());
    }
    Ok(Round { put, get })
}

/// Writes every block to `path` with `pwrite`, synced as often as the
/// store, then reads each back and verifies it as the store does.
fn file_round(
    path: &Path,
    blocks: &[(NodeKey, Block)],
    order: &[usize],
    sync_every: u32,
) -> Result<Round> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let size = blocks[0].1.as_bytes().len() as u64;
    let started = Instant::now();
    for (i, (_, block)) in blocks.iter().enumerate() {
        file.write_all_at(block.as_bytes(), i as u64 * size)?;
        if (i as u32 + 1) % sync_every == 0 {
            file.sync_data()?;
        }
    }
    file.sync_data()?;
    let put = started.elapsed().as_secs_f64() / blocks.len() as f64;
    let mut buf = vec![0u8; size as usize];
    let started = Instant::now();
    for &i in order {
        file.read_exact_at(&mut buf, i as u64 * size)?;
        let (key, _) = &blocks[i];
        let block = Block::from_bytes(key.kind, &buf)?;
        block.verify(key)?;
    }
    let get = started.elapsed().as_secs_f64() / blocks.len() as f64;
    Ok(Round { put, get })
}
