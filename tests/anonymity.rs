//! The `anonymity` scenario's attackers on networks and logs where the
//! answer is known, its determinism, and its command line.

mod common;

use common::{check_determinism, fog, fog_writes, temp_dir};
use fogstore::routing::{ClientOp, Config, Msg, PeerId, RequestId, Time};
use fogstore::sim::content::{VirtualContent, VirtualKey};
use fogstore::sim::engine::{Latency, Network, Observed, SimCore};
use fogstore::sim::scenario::anonymity::inserter::insert_name;
use fogstore::sim::scenario::anonymity::naive::{first_spy_name, naive_name};
use fogstore::sim::scenario::anonymity::observe::Topology;
use fogstore::sim::scenario::anonymity::{
    self, Attack, Download, Params, Plan, Publish, binomial_threshold, file_names, link,
    literal_guesses, measure, node_config, trace_back, traceback_guess,
};
use fogstore::sim::scenario::node_location;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Ring nodes, numbered 0..n and linked both ways to their neighbours in
/// location order, plus, with `hub`, node `n`, linked both ways to every
/// one of them: a wheel whose hub is next to everybody.
fn wheel(n: u32, config: Config, hub: bool) -> (Network<SimCore<VirtualContent>>, PeerId) {
    let mut net = Network::new(3, Latency::default());
    for i in 0..n + u32::from(hub) {
        net.add_node(config, node_location(u64::from(i)), 50);
    }
    let mut ring: Vec<u32> = (0..n).collect();
    ring.sort_by_key(|&i| node_location(u64::from(i)));
    let centre = PeerId(n);
    for (k, &i) in ring.iter().enumerate() {
        let next = PeerId(ring[(k + 1) % ring.len()]);
        net.link(PeerId(i), next);
        net.link(next, PeerId(i));
        if hub {
            net.link(PeerId(i), centre);
            net.link(centre, PeerId(i));
        }
    }
    (net, centre)
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

/// A message from `from` to `at` at time `t` (in ms).
fn seen(t: u64, from: u32, at: u32, msg: Msg<VirtualContent>) -> Observed<VirtualContent> {
    Observed {
        at: Time(t * 1000),
        at_node: PeerId(at),
        from: PeerId(from),
        msg,
    }
}

fn request(htl: u8) -> Msg<VirtualContent> {
    Msg::Request {
        id: RequestId(1),
        key: VirtualKey(7),
        htl,
    }
}

fn stem() -> Msg<VirtualContent> {
    Msg::StemRequest {
        id: RequestId(2),
        key: VirtualKey(7),
    }
}

#[test]
fn the_naive_attacker_reads_the_earliest_sighting_of_a_request() {
    // Nodes 8 and 9 are the coalition.
    let mut adversary = vec![false; 10];
    adversary[8] = true;
    adversary[9] = true;
    let name = |log: &[Observed<VirtualContent>]| {
        let linked: Vec<&Observed<VirtualContent>> = log.iter().collect();
        (
            naive_name(&linked, &adversary, 18),
            first_spy_name(&linked, &adversary),
        )
    };
    // A stem message names its sender for both; a routed request at max
    // HTL only for the naive rule (with a stem, it comes from the stem's
    // end); below max HTL, nobody.
    assert_eq!(
        name(&[seen(1, 3, 8, stem())]),
        (Some(PeerId(3)), Some(PeerId(3)))
    );
    assert_eq!(name(&[seen(1, 3, 8, request(18))]), (Some(PeerId(3)), None));
    assert_eq!(name(&[seen(1, 3, 8, request(17))]), (None, None));
    // Only the earliest counts: a later stem message changes nothing.
    let later = [seen(1, 3, 8, request(17)), seen(2, 4, 9, stem())];
    assert_eq!(name(&later), (None, None));
    // A member of the coalition is never named; answers are no sightings.
    assert_eq!(name(&[seen(1, 9, 8, stem())]), (None, None));
    let answer = Msg::DataNotFound { id: RequestId(1) };
    assert_eq!(
        name(&[seen(1, 5, 8, answer), seen(2, 3, 9, stem())]),
        (Some(PeerId(3)), Some(PeerId(3)))
    );
    // The literal rule names every max-HTL sender of a routed request.
    let log = [
        seen(1, 3, 8, stem()),
        seen(2, 4, 8, request(18)),
        seen(3, 5, 9, request(18)),
        seen(4, 6, 9, request(17)),
    ];
    let linked = vec![log.iter().collect::<Vec<_>>()];
    let literal = literal_guesses(&linked, &adversary, 18);
    assert_eq!(
        literal[0].iter().copied().collect::<Vec<_>>(),
        [PeerId(4), PeerId(5)]
    );
}

#[test]
fn the_inserter_reads_the_source_field_and_votes_per_file() {
    let mut adversary = vec![false; 10];
    adversary[9] = true;
    let offer = |htl: u8, source: u32| Msg::InsertOffer {
        id: RequestId(1),
        key: VirtualKey(7),
        htl,
        source: PeerId(source),
    };
    let name = |log: &[Observed<VirtualContent>]| {
        insert_name(&log.iter().collect::<Vec<_>>(), &adversary, 18)
    };
    // The source field is the stronger clue; one the coalition wrote
    // itself says nothing, and then max HTL names the sender.
    assert_eq!(name(&[seen(1, 3, 9, offer(17, 5))]), Some(PeerId(5)));
    assert_eq!(name(&[seen(1, 3, 9, offer(18, 9))]), Some(PeerId(3)));
    assert_eq!(name(&[seen(1, 3, 9, offer(17, 9))]), None);
    let stem_insert = Msg::StemInsert {
        id: RequestId(2),
        key: VirtualKey(7),
        data: (),
    };
    assert_eq!(name(&[seen(1, 4, 9, stem_insert)]), Some(PeerId(4)));
    // A file's name is its blocks' majority, ties to the lowest id.
    let votes = vec![
        vec![Some(PeerId(4)), Some(PeerId(2)), Some(PeerId(4)), None],
        vec![Some(PeerId(6)), Some(PeerId(3))],
        vec![None, None],
    ];
    assert_eq!(file_names(&votes), [Some(PeerId(4)), Some(PeerId(3)), None]);
}

#[test]
fn the_naive_attacker_is_exact_next_to_everyone_with_the_stem_and_coin_off() {
    let n = 30;
    let plan = ring_requests(n, 1);

    let (mut net, hub) = wheel(n, node_config(false, false), true);
    let off = measure(&mut net, &[hub], &plan, Publish::No, &attack()).naive;
    // With the coin off only an originator sends max HTL, so every name is
    // right; and it names some, so it can detect.
    assert!(off.guesses > 50, "{off:?}");
    assert_eq!(off.correct, off.guesses, "{off:?}");
    assert_eq!(off.precision(), 1.0);
    assert!(off.recall() > 0.1, "{off:?}");

    let (mut net, hub) = wheel(n, node_config(false, true), true);
    let on = measure(&mut net, &[hub], &plan, Publish::No, &attack()).naive;
    // With it on, a relay whose upstream link keeps max HTL passes it on:
    // the hub names relays too. The originator's first hop always sees
    // max HTL: the coin costs precision, not recall.
    assert!(on.guesses > on.correct, "{on:?}");
    assert!(on.precision() < 1.0 && on.precision() > 0.0, "{on:?}");
    assert!(on.recall() > 0.1, "{on:?}");
}

#[test]
fn with_the_stem_the_literal_rule_names_stem_ends_and_the_first_spy_is_often_right() {
    let n = 30;
    let plan = ring_requests(n, 1);
    let (mut net, hub) = wheel(n, node_config(true, false), true);
    let m = measure(&mut net, &[hub], &plan, Publish::No, &attack());
    // A routed request at max HTL comes from a stem's end, never from its
    // originator (which passes its own stem on): the literal rule is
    // almost never right.
    let literal = m.naive_literal;
    assert!(literal.guesses > 100, "{literal:?}");
    assert!(literal.precision() < 0.05, "{literal:?}");
    // The hub is an originator's first hop one time in three: then the
    // first spy is right; after an honest first hop it names that hop.
    let spy = m.first_spy;
    assert!(spy.correct > 50, "{spy:?}");
    assert!(spy.precision() > 0.3 && spy.precision() < 1.0, "{spy:?}");
    // The naive rule adds the routed sightings, which are all wrong.
    assert!(m.naive.guesses > spy.guesses && m.naive.correct >= spy.correct);
    assert!(m.naive.precision() < spy.precision(), "{m:?}");
}

#[test]
fn a_traceback_without_a_stem_finds_the_originator() {
    // A plain ring: a request walks one way round it, so the chain of nodes
    // that have seen its id leads straight back to its originator.
    let n = 30;
    let plan = ring_requests(n, 2);
    let spy = PeerId(11);
    let honest: Vec<(PeerId, VirtualKey)> = plan
        .requests
        .iter()
        .copied()
        .filter(|(p, _)| *p != spy)
        .collect();
    let plan = Plan {
        requests: honest,
        downloads: Vec::new(),
    };
    let (mut net, _) = wheel(n, node_config(false, false), false);
    let t = measure(&mut net, &[spy], &plan, Publish::No, &attack())
        .traceback
        .expect("Freenet cores can be probed");
    assert!(t.guesses > 50, "{t:?}");
    assert_eq!(t.correct, t.guesses, "{t:?}");
    // It names every request it sees, from wherever on the path.
    assert_eq!(t.detected, t.seen, "{t:?}");
}

#[test]
fn with_the_stem_a_traceback_from_the_routed_phase_finds_the_stem_end() {
    let n = 30;
    let (mut net, _) = wheel(n, node_config(true, false), false);
    // Everyone is watched, so the test knows each request's path; the
    // coalition is then the first routed hop alone, and the log is cut to
    // what it saw (watching changes no routing).
    for i in 0..n {
        net.watch(PeerId(i));
    }
    let plan = ring_requests(n, 3);
    let (mut at_end, mut traced) = (0, 0);
    for (i, &(origin, key)) in plan.requests.iter().enumerate().take(200) {
        let op = ClientOp::Get {
            key,
            htl: None,
            operation: i as u64,
        };
        let outcome = net.run_op(origin, op);
        let log = net.take_observed();
        let linked = link(&log, std::slice::from_ref(&outcome)).remove(0);
        let Some(first) = linked.iter().find(|o| matches!(o.msg, Msg::Request { .. })) else {
            continue;
        };
        let (end, spy) = (first.from, first.at_node);
        let mine: Vec<&Observed<VirtualContent>> = linked
            .iter()
            .copied()
            .filter(|o| o.at_node == spy)
            .collect();
        if spy == origin
            || mine
                .iter()
                .any(|o| matches!(o.msg, Msg::StemRequest { .. }))
        {
            continue; // The spy was on the stem too: another case.
        }
        let mut adversary = vec![false; n as usize];
        adversary[spy.0 as usize] = true;
        let name = traceback_guess(&net, &Topology::of(&net), &mine, &adversary);
        assert_ne!(
            name,
            Some(origin),
            "request {i}: the trace reached the originator"
        );
        traced += 1;
        if name == Some(end) {
            at_end += 1;
        }
        // Probed directly, the stem's own ids lead nowhere: no node keeps
        // them, so a trace from the originator's stem message stops at once.
        let stem_id = linked
            .iter()
            .find(|o| o.from == origin && matches!(o.msg, Msg::StemRequest { .. }))
            .and_then(|o| o.msg.id())
            .expect("the originator sent its stem");
        let from_stem = trace_back(&net, &Topology::of(&net), stem_id, origin, |_| false);
        assert_eq!(from_stem, Some(origin));
    }
    assert!(traced > 50, "{traced}");
    // The trace stops where the routed id starts: at the stem's end, or
    // short of it when a branch makes it ambiguous.
    assert!(
        at_end * 4 > traced * 3,
        "{at_end} of {traced} at the stem's end"
    );
}

/// One file of `blocks` fresh keys from publisher 8 to downloader 7, the
/// keys drawn after skipping `skip` from the stream of `seed`.
fn one_file(blocks: usize, seed: u64, skip: usize) -> Plan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keys: Vec<VirtualKey> = (0..skip + blocks)
        .map(|_| VirtualKey(rng.r#gen()))
        .collect();
    Plan {
        requests: Vec::new(),
        downloads: vec![Download {
            publisher: PeerId(8),
            downloader: PeerId(7),
            keys: keys[skip..].to_vec(),
        }],
    }
}

#[test]
fn the_statistical_attacker_finds_a_downloader_next_to_it_when_the_file_is_large() {
    let n = 30;
    let (mut net, hub) = wheel(n, node_config(false, true), true);
    let s = measure(
        &mut net,
        &[hub],
        &one_file(50, 2, 0),
        Publish::No,
        &attack(),
    )
    .statistical;
    assert_eq!((s.targets, s.detected, s.seen), (1, 1, 1), "{s:?}");
    assert!(s.correct >= 1 && s.guesses >= s.correct, "{s:?}");

    // One block cannot reach the threshold: a relay with three peers sends
    // a given block to the hub with probability 1/(3 · 3.9), above the 1%
    // allowed, so it takes two blocks to name anyone. (This key's first
    // hop is the hub.)
    let (mut net, hub) = wheel(n, node_config(false, true), true);
    let one = measure(
        &mut net,
        &[hub],
        &one_file(1, 2, 50),
        Publish::No,
        &attack(),
    )
    .statistical;
    assert_eq!(one.seen, 1, "{one:?}");
    assert_eq!(one.guesses, 0, "{one:?}");
}

#[test]
fn with_the_stem_every_block_of_a_file_takes_the_same_stem() {
    let n = 30;
    let mut first_hops = Vec::new();
    for seed in 0..8 {
        // Everyone watched: each block's first stem hop is known.
        let (mut net, hub) = wheel(n, node_config(true, true), true);
        for i in 0..=n {
            net.watch(PeerId(i));
        }
        let file = &one_file(30, seed, 0).downloads[0];
        for &key in &file.keys {
            let op = ClientOp::Get {
                key,
                htl: None,
                operation: seed,
            };
            net.client(file.downloader, op);
        }
        net.run_until_idle();
        let outcomes = net.take_outcomes();
        let log = net.take_observed();
        let hops: std::collections::BTreeSet<PeerId> = link(&log, &outcomes)
            .iter()
            .filter_map(|l| {
                l.iter()
                    .find(|o| o.from == file.downloader && matches!(o.msg, Msg::StemRequest { .. }))
                    .map(|o| o.at_node)
            })
            .collect();
        assert_eq!(hops.len(), 1, "seed {seed}: first hops {hops:?}");
        first_hops.push(hops.contains(&hub));
    }
    // Different operations pick different first hops.
    assert!(
        first_hops.contains(&true) && first_hops.contains(&false),
        "{first_hops:?}"
    );
    // And a first spy names a file's downloader at most once per file,
    // rightly when the hub is its first hop (here for some downloaders:
    // the file's operation, and so its first hop, is fixed per node).
    let mut right = 0;
    for downloader in 0..8 {
        let (mut net, hub) = wheel(n, node_config(true, true), true);
        let mut plan = one_file(30, downloader, 0);
        plan.downloads[0].downloader = PeerId(downloader as u32);
        let m = measure(&mut net, &[hub], &plan, Publish::No, &attack());
        assert!(m.first_spy_downloads.guesses <= 1, "{m:?}");
        right += m.first_spy_downloads.correct;
    }
    assert!(right > 0);
}

#[test]
fn the_inserter_names_the_publisher_without_a_stem_and_only_from_the_stem_with_it() {
    let n = 30;
    let exact = |stem: bool| Config {
        source_rewrite: 0.0,
        ..node_config(stem, false)
    };
    let (mut net, hub) = wheel(n, exact(false), true);
    let off = measure(
        &mut net,
        &[hub],
        &one_file(20, 4, 0),
        Publish::Keep,
        &attack(),
    );
    assert_eq!(off.inserter.guesses, 1, "{off:?}");
    assert_eq!(off.inserter.correct, 1, "{off:?}");
    for seed in 0..6 {
        let (mut net, hub) = wheel(n, exact(true), true);
        let on = measure(
            &mut net,
            &[hub],
            &one_file(20, seed, 0),
            Publish::Keep,
            &attack(),
        );
        // A routed offer names the stem's end: the publisher is named only
        // when the hub is its first hop, as the first spy would.
        assert_eq!(
            on.inserter.correct, on.first_spy_publications.correct,
            "seed {seed}: {on:?}"
        );
        assert_eq!(on.inserter.guesses, 1, "seed {seed}: {on:?}");
    }
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
        fractions: vec![0.2],
        requests: 150,
        downloads: 3,
        headline_downloads: 4,
        blocks: 20,
        peers: 6,
        sweep_coins: vec![0.5],
        sweep_peers: vec![4],
        sweep_stem: vec![0.6],
        ..Params::default()
    }
}

const HEADLINE: [&str; 6] = [
    "naive_precision_10_peers",
    "statistical_precision_10_peers",
    "statistical_precision_converged",
    "traceback_precision_10_peers",
    "inserter_precision_10_peers",
    "median_hops_added",
];

#[test]
fn the_same_seed_gives_the_same_report() {
    let report = |seed| {
        let params = small(seed);
        anonymity::report(&params, &anonymity::run(&params, |_| {}))
    };
    let a = check_determinism(report, 7, 8);
    let summary: serde_json::Value = serde_json::from_str(&a[1]).unwrap();
    // Chord has no stem or coin: the naive attacker is never wrong.
    let pooled = &summary["settings"]["chord"]["pooled"]["naive"];
    assert_eq!(pooled["precision"], 1.0, "{pooled}");
    // The headline fraction is measured although `fractions` lacks it.
    let headline = &summary["headline"];
    assert_eq!(headline["fraction"], 0.05, "{headline}");
    for key in HEADLINE {
        assert!(headline.get(key).is_some(), "{key} missing: {headline}");
    }
    assert!(
        headline["median_hops_added"].as_f64().unwrap() >= 1.0,
        "{headline}"
    );
    assert!(
        summary["headline_before"]
            .get("naive_precision_10_peers")
            .is_some()
    );
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
        "stem.svg",
        "freenet-coin-on.csv",
        "freenet-coin-off.csv",
        "freenet-stem-off.csv",
        "chord.csv",
        "small-world-stem-off.csv",
        "coin.csv",
        "degree.csv",
        "stem.csv",
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
            "--headline-downloads",
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
    assert!(stdout.contains("headline at f = 5%"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["params"]["seed"], 5);
    assert_eq!(
        summary["params"]["fractions"],
        serde_json::json!([0.1, 0.2])
    );
    for key in HEADLINE {
        assert!(summary["headline"].get(key).is_some(), "{key} missing");
    }
    std::fs::remove_dir_all(dir).unwrap();

    for args in [
        &["sim", "anonymity", "--fractions", "0.1,1.5"][..],
        &["sim", "anonymity", "--fractions", "0"],
        &["sim", "anonymity", "--nodes", "30", "--peers", "30"],
        &["sim", "anonymity", "--blocks", "0"],
        &["sim", "anonymity", "--headline-downloads", "0"],
    ] {
        let out = fog(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}
