//! The simulator's scenarios: the same seed gives byte-identical files, the
//! CLI writes what it says, and (ignored by default: run with
//! `cargo test --release -- --ignored`) the paper setup meets its targets.

use fogstore::routing::PeerId;
use fogstore::sim::scenario::{convergence, faults, probe, ring_lattice, scalability, small_world};

mod common;

use common::{check_determinism, fog, fog_into_closed_pipe, fog_writes, temp_dir};

fn small_convergence(seed: u64) -> convergence::Params {
    convergence::Params {
        seed,
        nodes: 100,
        steps: 400,
        probe_every: 100,
        probes: 40,
        ..convergence::Params::default()
    }
}

#[test]
fn convergence_output_is_byte_identical_per_seed() {
    check_determinism(
        |seed| {
            let params = small_convergence(seed);
            convergence::report(&params, &convergence::run(&params, |_| {}))
        },
        7,
        8,
    );
}

#[test]
fn scalability_output_is_byte_identical_per_seed() {
    check_determinism(
        |seed| {
            let params = scalability::Params {
                seed,
                nodes: 200,
                probes: 30,
                ..scalability::Params::default()
            };
            scalability::report(&params, &scalability::run(&params, |_| {}))
        },
        7,
        8,
    );
}

#[test]
fn faults_and_small_world_outputs_are_byte_identical_per_seed() {
    check_determinism(
        |seed| {
            let params = faults::Params {
                converge: convergence::Params {
                    probe_every: u64::MAX,
                    ..small_convergence(seed)
                },
                fractions: vec![0.0, 0.3, 0.6],
            };
            faults::report(&params, &faults::run(&params, |_| {}))
        },
        7,
        8,
    );
    check_determinism(
        |seed| {
            let params = small_convergence(seed);
            let (before, after) = small_world::run(&params, |_| {});
            small_world::report(&params, &before, &after)
        },
        7,
        8,
    );
}

#[test]
fn learned_routing_tables_find_data_that_a_fresh_lattice_cannot() {
    // Train a network, then copy exactly what it stores into a fresh
    // lattice: the two differ only in what their routing tables learned.
    let params = convergence::Params {
        nodes: 300,
        steps: 1500,
        probe_every: u64::MAX,
        probes: 1,
        ..convergence::Params::default()
    };
    let trained = convergence::converge(&params, |_| {});
    let mut fresh = ring_lattice(
        params.seed,
        params.nodes,
        params.lattice,
        params.config(),
        params.store,
    );
    for (id, node) in trained.net.nodes() {
        let mut keys: Vec<_> = node.store().keys().copied().collect();
        keys.reverse();
        for key in keys {
            assert!(fresh.node_mut(id).preload(key, ()));
        }
    }
    let live: Vec<PeerId> = (0..params.nodes).map(PeerId).collect();
    let keys = &trained.workload.keys[trained.workload.keys.len() - 200..];
    let learned = probe(&trained.net, &live, keys, 200, 40);
    let unlearned = probe(&fresh, &live, keys, 200, 40);
    assert!(
        learned.success() >= unlearned.success(),
        "success {} vs {}",
        learned.success(),
        unlearned.success()
    );
    // Measured: 1.86 hops against 10.89 (seed 1).
    assert!(
        learned.mean() * 3.0 < unlearned.mean(),
        "mean {} vs {}",
        learned.mean(),
        unlearned.mean()
    );
}

#[test]
fn faults_hurt_more_as_more_nodes_go() {
    let params = faults::Params {
        converge: convergence::Params {
            nodes: 200,
            steps: 2000,
            probes: 100,
            probe_every: u64::MAX,
            ..convergence::Params::default()
        },
        fractions: vec![0.0, 0.9],
    };
    let points = faults::run(&params, |_| {});
    for removal in [faults::Removal::Random, faults::Removal::Targeted] {
        let of = |f: f64| {
            points
                .iter()
                .find(|p| p.removal == removal && p.fraction == f)
                .unwrap()
                .probe
                .success()
        };
        assert!(of(0.9) < of(0.0), "{removal:?}: {} vs {}", of(0.9), of(0.0));
    }
}

#[test]
fn fog_sim_writes_its_files_and_prints_a_table() {
    let dir = temp_dir("cli");
    let args = [
        "sim",
        "convergence",
        "--nodes",
        "100",
        "--steps",
        "300",
        "--probes",
        "30",
        "--seed",
        "0x2a",
        "--out",
        dir.to_str().unwrap(),
    ];
    let files = [
        "convergence.csv",
        "convergence.svg",
        "success.svg",
        "summary.json",
    ];
    let stdout = fog_writes(&args, &dir, &files);
    assert!(stdout.contains("final median pathlength"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["params"]["seed"], 42);
    std::fs::remove_dir_all(&dir).unwrap();

    // Into a pipe whose reader has gone (`| head`): quietly, successfully,
    // and with the files it wrote before the table kept.
    let out = fog_into_closed_pipe(&args, b"", 30);
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    assert!(dir.join("summary.json").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fog_sim_over_seeds_runs_each_seed_as_alone_and_reports_the_spread() {
    let many = temp_dir("seeds");
    let one = temp_dir("seed-8");
    let base = ["sim", "chord-hops", "--max-exp", "6", "--lookups", "500"];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let args = with(&[
        "--seed",
        "7",
        "--seeds",
        "3",
        "--out",
        many.to_str().unwrap(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = fog_writes(
        &args,
        &many,
        &[
            "seed-7/summary.json",
            "seed-8/summary.json",
            "seed-9/summary.json",
            "seeds.json",
        ],
    );
    assert!(
        stdout.contains("chord-hops over 3 seeds (7..=9)"),
        "{stdout}"
    );
    assert!(stdout.contains("rings[0].mean"), "{stdout}");

    // Seed 8 of the three is exactly seed 8 run alone.
    let alone = with(&["--seed", "8", "--out", one.to_str().unwrap()]);
    let alone: Vec<&str> = alone.iter().map(String::as_str).collect();
    fog_writes(&alone, &one, &["summary.json"]);
    for file in ["summary.json", "chord-hops.csv"] {
        assert_eq!(
            std::fs::read(many.join("seed-8").join(file)).unwrap(),
            std::fs::read(one.join(file)).unwrap(),
            "{file}"
        );
    }

    // seeds.json: every figure's values, one per seed, and their spread.
    let seeds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(many.join("seeds.json")).unwrap()).unwrap();
    assert_eq!(seeds["seeds"], serde_json::json!([7, 8, 9]));
    let mean = &seeds["figures"]["rings[0].mean"];
    let values: Vec<f64> = mean["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 3);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(one.join("summary.json")).unwrap()).unwrap();
    assert_eq!(values[1], summary["rings"][0]["mean"].as_f64().unwrap());
    let (min, max) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!(
        (mean["min"].as_f64(), mean["max"].as_f64()),
        (Some(min), Some(max))
    );
    assert!(seeds["figures"].get("params.seed").is_none());
    std::fs::remove_dir_all(many).unwrap();
    std::fs::remove_dir_all(one).unwrap();

    // Seeds past the largest one: a clear error, no files.
    let out = fog(&[
        "sim",
        "chord-hops",
        "--max-exp",
        "4",
        "--seed",
        "18446744073709551615",
        "--seeds",
        "2",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("runs past the largest seed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fog_sim_refuses_bad_arguments() {
    for args in [
        &["sim", "convergence", "--seed", "banana"][..],
        &["sim", "convergence", "--nodes", "0"],
        &["sim", "convergence", "--source-rewrite", "1.5"],
        &["sim", "warp-drive"],
        &["sim", "chord-churn", "--rates", "0.01,fast"],
        &["sim", "chord-churn", "--rates", "11"],
        &["sim", "chord-churn", "--minutes", "0"],
        &["sim", "chord-hops", "--seeds", "0"],
    ] {
        let out = fog(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

/// The target at the paper's setup: median ≤ 6, success ≥ 98%.
#[test]
#[ignore = "about a second in release, a minute in debug: cargo test --release -- --ignored"]
fn the_paper_setup_converges_to_its_targets() {
    let params = convergence::Params::default();
    let points = convergence::run(&params, |_| {});
    let last = &points.last().unwrap().probe;
    assert!(last.quantile(0.5) <= 6.0, "median {}", last.quantile(0.5));
    assert!(last.success() >= 0.98, "success {}", last.success());
}
