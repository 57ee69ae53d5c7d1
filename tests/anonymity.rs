//! The `anonymity` scenario's attackers on networks where the answer is
//! known, its determinism, and its command line.

mod common;

use common::{check_determinism, fog, fog_writes, temp_dir};
use fogstore::routing::{Config, PeerId};
use fogstore::sim::content::{VirtualContent, VirtualKey};
use fogstore::sim::engine::{Latency, Network, SimCore};
use fogstore::sim::scenario::anonymity::{
    self, Attack, Download, Params, Plan, binomial_threshold, freenet_degrees, measure, node_config,
};
use fogstore::sim::scenario::node_location;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Ring nodes, numbered 0..n and linked both ways to their neighbours in
/// location order, plus node `n`, linked both ways to every one of them:
/// a wheel whose hub is next to everybody.
fn wheel(n: u32, config: Config) -> (Network<SimCore<VirtualContent>>, PeerId) {
    let mut net = Network::new(3, Latency::default());
    for i in 0..=n {
        net.add_node(config, node_location(u64::from(i)), 50);
    }
    let mut ring: Vec<u32> = (0..n).collect();
    ring.sort_by_key(|&i| node_location(u64::from(i)));
    let hub = PeerId(n);
    for (k, &i) in ring.iter().enumerate() {
        let next = PeerId(ring[(k + 1) % ring.len()]);
        net.link(PeerId(i), next);
        net.link(next, PeerId(i));
        net.link(PeerId(i), hub);
        net.link(hub, PeerId(i));
    }
    (net, hub)
}

fn attack() -> Attack {
    Attack {
        max_htl: Config::default().max_htl,
        htl_window: 2,
        false_positive: 0.01,
    }
}

/// Every ring node asks for keys nobody holds (so the requests travel
/// their full HTL and the wheel is not changed by references to sources).
fn ring_requests(n: u32, seed: u64) -> Plan {
    let honest: Vec<PeerId> = (0..n).map(PeerId).collect();
    anonymity::plan(
        &mut ChaCha8Rng::seed_from_u64(seed),
        &honest,
        &[],
        600,
        0,
        0,
    )
}

#[test]
fn the_naive_attacker_is_exact_next_to_everyone_with_the_coin_off_and_not_with_it_on() {
    let n = 30;
    let plan = ring_requests(n, 1);

    let (mut net, hub) = wheel(n, node_config(false));
    let off = measure(&mut net, &[hub], &plan, false, &attack(), freenet_degrees).naive;
    // With the coin off only an originator sends max HTL, so every name is
    // right; and it names some, so it can detect.
    assert!(off.guesses > 50, "{off:?}");
    assert_eq!(off.correct, off.guesses, "{off:?}");
    assert_eq!(off.precision(), 1.0);
    assert!(off.recall() > 0.1, "{off:?}");

    let (mut net, hub) = wheel(n, node_config(true));
    let on = measure(&mut net, &[hub], &plan, false, &attack(), freenet_degrees).naive;
    // With it on, a relay whose upstream link keeps max HTL passes it on:
    // the hub names relays too.
    assert!(on.guesses > on.correct, "{on:?}");
    assert!(on.precision() < 1.0 && on.precision() > 0.0, "{on:?}");
    // The originator's first hop always sees max HTL: the coin costs
    // precision, not recall.
    assert!(on.recall() > 0.1, "{on:?}");
}

#[test]
fn the_statistical_attacker_finds_a_downloader_next_to_it_when_the_file_is_large() {
    let n = 30;
    let downloader = PeerId(7);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut download = |blocks: usize| Plan {
        requests: Vec::new(),
        downloads: vec![Download {
            publisher: PeerId(8),
            downloader,
            keys: (0..blocks).map(|_| VirtualKey(rng.r#gen())).collect(),
        }],
    };

    let (mut net, hub) = wheel(n, node_config(true));
    let big = measure(
        &mut net,
        &[hub],
        &download(50),
        false,
        &attack(),
        freenet_degrees,
    );
    let s = big.statistical;
    assert_eq!((s.targets, s.detected, s.seen), (1, 1, 1), "{s:?}");
    assert!(s.correct >= 1 && s.guesses >= s.correct, "{s:?}");

    // One block cannot reach the threshold: a relay with three peers sends
    // a given block to the hub with probability 1/(3 · 3.9), above the 1%
    // allowed, so it takes two blocks to name anyone.
    let (mut net, hub) = wheel(n, node_config(true));
    let one = measure(
        &mut net,
        &[hub],
        &download(1),
        false,
        &attack(),
        freenet_degrees,
    );
    assert_eq!(one.statistical.seen, 1, "{:?}", one.statistical);
    assert_eq!(one.statistical.guesses, 0, "{:?}", one.statistical);
}

#[test]
fn the_binomial_threshold_is_the_first_count_rare_enough() {
    // Bin(100, 0.01): P[X >= 4] = 0.0184, P[X >= 5] = 0.0034.
    assert_eq!(binomial_threshold(100, 0.01, 0.01), 5);
    // Bin(10, 0.5): P[X >= 8] = 56/1024, P[X >= 9] = 11/1024.
    assert_eq!(binomial_threshold(10, 0.5, 0.05), 9);
    assert_eq!(binomial_threshold(10, 0.5, 0.01), 10);
    // Never seen from a relay: one is enough; always: nothing is enough.
    assert_eq!(binomial_threshold(10, 0.0, 0.01), 1);
    assert_eq!(binomial_threshold(10, 1.0, 0.01), 11);
    // Large files neither underflow nor lose the tail.
    let t = binomial_threshold(10_000, 0.001, 0.01);
    assert!((17..=19).contains(&t), "{t}");
}

fn small(seed: u64) -> Params {
    Params {
        seed,
        nodes: 100,
        steps: 400,
        fractions: vec![0.05, 0.2],
        requests: 150,
        downloads: 3,
        blocks: 20,
        peers: 6,
        sweep_coins: vec![0.5, 1.0],
        sweep_peers: vec![4, 8],
        ..Params::default()
    }
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let report = |seed| {
        let params = small(seed);
        anonymity::report(&params, &anonymity::run(&params, |_| {}))
    };
    let a = check_determinism(report, 7, 8);
    // Coin off and Chord: the naive attacker is never wrong.
    let summary: serde_json::Value = serde_json::from_str(&a[1]).unwrap();
    for setting in ["freenet-coin-off", "chord", "small-world-coin-off"] {
        let pooled = &summary["settings"][setting]["pooled"]["naive"];
        assert_eq!(pooled["precision"], 1.0, "{setting}: {pooled}");
    }
}

#[test]
fn fog_sim_anonymity_writes_its_files_and_refuses_bad_arguments() {
    let dir = temp_dir("cli");
    let files = [
        "precision.svg",
        "recall.svg",
        "coin.svg",
        "degree.svg",
        "small-world.svg",
        "freenet-coin-on.csv",
        "freenet-coin-off.csv",
        "chord.csv",
        "coin.csv",
        "degree.csv",
        "summary.json",
    ];
    let stdout = fog_writes(
        &[
            "sim",
            "anonymity",
            "--nodes",
            "60",
            "--steps",
            "200",
            "--fractions",
            "0.1,0.2",
            "--requests",
            "50",
            "--downloads",
            "2",
            "--blocks",
            "10",
            "--peers",
            "6",
            "--seed",
            "5",
            "--out",
            dir.to_str().unwrap(),
        ],
        &dir,
        &files,
    );
    assert!(stdout.contains("naive precision at 6 peers"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["params"]["seed"], 5);
    assert_eq!(
        summary["params"]["fractions"],
        serde_json::json!([0.1, 0.2])
    );
    std::fs::remove_dir_all(dir).unwrap();

    for args in [
        &["sim", "anonymity", "--fractions", "0.1,1.5"][..],
        &["sim", "anonymity", "--fractions", "0"],
        &["sim", "anonymity", "--nodes", "30", "--peers", "30"],
        &["sim", "anonymity", "--blocks", "0"],
    ] {
        let out = fog(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}
