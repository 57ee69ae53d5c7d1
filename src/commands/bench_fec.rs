//! `fog bench fec`: the Reed–Solomon code of splitfile segments
//! (`docs/protocol.md` §12.3) on one full segment of 128 data blocks,
//! encoded to 128 check blocks and rebuilt after losing 1, 64 or all 128
//! of its data blocks, timed in interleaved rounds as `fog bench chk` does,
//! next to CHK encode of the segment's 128 blocks (what a put does to them
//! anyway). Figures are MB/s of the segment's data (128 × 32760 bytes).

use std::hint::black_box;
use std::io::{self, Write};
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use fogstore::block::chk;
use fogstore::client::fec::{self, MAX_SEGMENT_DATA, PIECE_SIZE};
use rand::{RngCore, SeedableRng};

use super::bench::{Op, cpu_features, measure, median, op, quantile};

/// Arguments of `fog bench fec`.
#[derive(Args)]
pub(crate) struct FecArgs {
    /// Total time to spend measuring, in whole seconds (1 to 600).
    #[arg(long, value_name = "S", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
}

const K: usize = MAX_SEGMENT_DATA;
const ENCODE: &str = "rs encode 128+128";
const CHK_ENCODE: &str = "chk encode ×128";

/// The segment's pieces with the first `lost` data pieces missing.
fn with_lost(all: &[Vec<u8>], lost: usize) -> Vec<Option<Vec<u8>>> {
    all.iter()
        .enumerate()
        .map(|(i, p)| (i >= lost).then(|| p.clone()))
        .collect()
}

/// The operations, with inputs made and every rebuild checked up front: a
/// broken build must not print figures.
fn fec_ops() -> Result<Vec<Op<'static>>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0066_6563);
    let data: Vec<Vec<u8>> = (0..K)
        .map(|_| {
            let mut p = vec![0u8; PIECE_SIZE];
            rng.fill_bytes(&mut p);
            p
        })
        .collect();
    let refs: Vec<&[u8]> = data.iter().map(|d| &d[..]).collect();
    let checks = fec::encode(&refs, K)?;
    let all: Vec<Vec<u8>> = data.iter().chain(&checks).cloned().collect();
    for lost in [1, 64, 128] {
        let mut pieces = with_lost(&all, lost);
        fec::rebuild(&mut pieces, K)?;
        if pieces[..K]
            .iter()
            .zip(&data)
            .any(|(p, d)| p.as_ref() != Some(d))
        {
            bail!("a rebuild after losing {lost} data blocks does not give them back");
        }
    }
    let encode_data = data.clone();
    let chk_data = data;
    let mut ops = vec![
        op(ENCODE, move || {
            let refs: Vec<&[u8]> = encode_data.iter().map(|d| &d[..]).collect();
            fec::encode(black_box(&refs), K).expect("a valid segment")
        }),
        op(CHK_ENCODE, move || {
            chk_data
                .iter()
                .map(|d| chk::encode(black_box(d)).expect("fits one block").0)
                .collect::<Vec<_>>()
        }),
    ];
    for (name, lost) in [
        ("rs rebuild 1 lost", 1),
        ("rs rebuild 64 lost", 64),
        ("rs rebuild 128 lost", 128),
    ] {
        let all = all.clone();
        ops.push(op(name, move || {
            // The copy of the held pieces (4 MB) is timed too: a fetch
            // holds them the same way.
            let mut pieces = with_lost(&all, lost);
            fec::rebuild(black_box(&mut pieces), K).expect("k pieces present");
            pieces
        }));
    }
    Ok(ops)
}

pub(super) fn run_fec(args: FecArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build, its figures say nothing about release speed; \
             run `cargo build --release` and `target/release/fog bench fec`"
        );
    }
    let mut ops = fec_ops()?;
    let names: Vec<&'static str> = ops.iter().map(Op::name).collect();
    let report = measure(&mut ops, Duration::from_secs(args.seconds));
    let segment = (K * PIECE_SIZE) as f64;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "fog bench fec: {} rounds in {:.1} s, {} build, {}",
        report.rounds,
        report.elapsed.as_secs_f64(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        cpu_features()
    )?;
    writeln!(
        out,
        "one segment of {K} data blocks ({segment:.0} bytes); median over rounds; \
         MB/s of segment data, 1 MB = 10^6 bytes"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<20} {:>12} {:>9} {:>7}",
        "operation", "ms/segment", "MB/s", "iqr ±"
    )?;
    for name in names {
        let samples = report.samples(name);
        let med = median(samples);
        let iqr = (quantile(samples, 0.75) - quantile(samples, 0.25)) / 2.0 / med * 100.0;
        writeln!(
            out,
            "{name:<20} {:>12.2} {:>9.1} {:>6.1}%",
            med * 1e3,
            segment / med / 1e6,
            iqr
        )?;
    }
    let ratio = median(report.samples(ENCODE)) / median(report.samples(CHK_ENCODE));
    writeln!(out)?;
    writeln!(
        out,
        "{ENCODE} takes {:.0}% of the time of {CHK_ENCODE}",
        ratio * 100.0
    )?;
    Ok(())
}
