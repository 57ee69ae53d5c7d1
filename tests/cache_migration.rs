//! The `cache-migration` scenario: on small networks with fixed seeds,
//! copies of popular keys move toward the demand region in Freenet mode and
//! in Chord with a path cache, and stay where they were put in Chord
//! without one; the same seed gives the same output.

use std::collections::BTreeMap;

mod common;

use common::{check_determinism, fog, fog_writes, temp_dir};
use fogstore::routing::PeerId;
use fogstore::sim::scenario::Mode;
use fogstore::sim::scenario::cache_migration::{self, Migration, Params, Point, Run};

/// A network small enough for a debug build: 150 nodes, a region of 10
/// asking for 6 keys over 8 rounds.
fn small(seed: u64) -> Params {
    Params {
        seed,
        nodes: 150,
        converge_steps: 600,
        keys: 6,
        zipf: 1.0,
        region: 10,
        rounds: 8,
        requests: 40,
        store: 30,
        cache: 4,
        replicas: 3,
        htl: 20,
    }
}

fn run_of(m: &Migration, mode: Mode) -> &Run {
    m.runs
        .iter()
        .find(|r| r.mode == mode)
        .expect("every mode runs")
}

/// Mean of `f` over the first two request rounds and over the last two, so
/// that one round's luck of the draw does not decide.
fn early_late(run: &Run, f: impl Fn(&Point) -> f64) -> (f64, f64) {
    let rounds = &run.points[1..];
    let n = rounds.len();
    assert!(n >= 4, "enough rounds to compare");
    let early = (f(&rounds[0]) + f(&rounds[1])) / 2.0;
    let late = (f(&rounds[n - 2]) + f(&rounds[n - 1])) / 2.0;
    (early, late)
}

#[test]
fn the_workload_is_a_region_of_neighbours_asking_for_keys_far_away() {
    let params = small(3);
    let w = cache_migration::Workload::new(&params);
    assert_eq!(w.region.len(), 10);
    // The region is the arc of the ring that follows its start: no other
    // node lies between its first and last node.
    let last = w.offset(*w.region.last().unwrap());
    let inside = (0..params.nodes)
        .filter(|&i| w.offset(PeerId(i)) <= last)
        .count();
    assert_eq!(inside, w.region.len());
    assert!(
        last < 0.2,
        "10 of 150 nodes span about 7% of the ring: {last}"
    );
    // Keys and inserter sit on the far side.
    assert!(!w.region.contains(&w.inserter));
    assert!((0.3..0.8).contains(&w.offset(w.inserter)));
    for k in &w.keys {
        assert!((0.3..0.8).contains(&w.key_offset(*k)), "{k:?}");
    }
    // Zipf: probabilities fall with rank and sum to 1; every request comes
    // from the region, and the most popular key is asked most.
    assert!(w.weights.windows(2).all(|p| p[0] > p[1]));
    assert!((w.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    let mut asked = BTreeMap::new();
    for &(node, rank) in w.rounds.iter().flatten() {
        assert!(w.region.contains(&node));
        *asked.entry(rank).or_insert(0u32) += 1;
    }
    let top = asked[&0];
    assert!(asked.values().all(|&c| c <= top), "{asked:?}");
    assert_eq!(w.rounds.len(), 8);
    assert!(w.rounds.iter().all(|r| r.len() == 40));
}

#[test]
fn copies_move_toward_demand_in_freenet_and_with_a_chord_path_cache() {
    let params = small(3);
    let m = cache_migration::run(&params, |_| {});
    assert_eq!(m.runs.len(), 3);

    let freenet = run_of(&m, Mode::Freenet);
    assert_eq!(freenet.inserted, params.keys, "every popular key inserted");
    let first = &freenet.points[0];
    let last = freenet.points.last().unwrap();
    assert!(
        last.replicas[0] > first.replicas[0],
        "Freenet: more copies of the top key: {} -> {}",
        first.replicas[0],
        last.replicas[0]
    );
    assert!(
        last.in_region_mean() > first.in_region_mean() + 2.0,
        "Freenet: copies arrive in the region: {} -> {}",
        first.in_region_mean(),
        last.in_region_mean()
    );
    let weights = &m.workload.weights;
    assert!(
        last.distance_weighted(weights) < first.distance_weighted(weights),
        "Freenet: the nearest copy comes closer"
    );
    let (early, late) = early_late(freenet, Point::hops_mean);
    assert!(
        late < early,
        "Freenet: hops to first hit fall: {early} -> {late}"
    );

    let cached = run_of(&m, Mode::ChordCache);
    let (early, late) = early_late(cached, Point::hops_mean);
    assert!(
        late < early,
        "Chord + cache: hops to first hit fall: {early} -> {late}"
    );
    let last = cached.points.last().unwrap();
    assert!(last.replicas[0] > params.replicas as u32 + 1);
    assert!(last.in_region_mean() > 0.0);

    for run in &m.runs {
        for p in &run.points[1..] {
            assert_eq!(p.hops.len(), params.requests as usize);
            assert!(
                p.success() > 0.9,
                "{:?} round {}: {}",
                run.mode,
                p.round,
                p.success()
            );
        }
    }
}

#[test]
fn chord_without_a_cache_keeps_its_replicas_and_its_paths() {
    let params = small(5);
    let m = cache_migration::run(&params, |_| {});
    let chord = run_of(&m, Mode::Chord);
    for p in &chord.points {
        assert!(
            p.replicas.iter().all(|&r| r == params.replicas as u32 + 1),
            "round {}: exactly r + 1 copies of every key: {:?}",
            p.round,
            p.replicas
        );
        assert!(p.in_region.iter().all(|&r| r == 0));
        // Requests never store in Chord; only the inserts did (round 0).
        let stored = if p.round == 0 {
            (params.keys * (params.replicas + 1)) as u64
        } else {
            0
        };
        assert_eq!((p.inserted, p.evicted), (stored, 0), "round {}", p.round);
    }
    // Nothing moves, so a node asking for a key always takes the same path:
    // the hop count depends on the node and the key alone.
    let mut seen: BTreeMap<(PeerId, usize), u32> = BTreeMap::new();
    for (p, requests) in chord.points[1..].iter().zip(&m.workload.rounds) {
        for (hops, &(node, rank)) in p.hops.iter().zip(requests) {
            let hops = hops.expect("Chord finds every key");
            assert_eq!(
                *seen.entry((node, rank)).or_insert(hops),
                hops,
                "{node:?} key {rank}"
            );
        }
    }
    assert!(
        seen.values().any(|&h| h > 0),
        "region nodes are not the keys' holders"
    );
    // With the cache, the same requests end sooner.
    let cached = run_of(&m, Mode::ChordCache);
    let total = |run: &Run| -> u32 {
        run.points
            .iter()
            .flat_map(|p| p.hops.iter().flatten())
            .sum()
    };
    assert!(
        total(cached) < total(chord),
        "{} vs {}",
        total(cached),
        total(chord)
    );
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let report = |seed| {
        let params = small(seed);
        cache_migration::report(&params, &cache_migration::run(&params, |_| {}))
    };
    let a = check_determinism(report, 11, 12).concat();
    for name in ["Freenet", "Chord + path cache", "region:"] {
        assert!(a.contains(name), "{name} missing");
    }
}

#[test]
fn fog_sim_cache_migration_writes_its_files() {
    let dir = temp_dir("cache-migration-cli");
    let files = [
        "freenet.csv",
        "chord.csv",
        "chord-cache.csv",
        "keys.csv",
        "placement.csv",
        "replicas.svg",
        "distance.svg",
        "hops.svg",
        "churn.svg",
        "density.svg",
        "placement-freenet.svg",
        "placement-chord.svg",
        "placement-chord-cache.svg",
        "summary.json",
    ];
    let stdout = fog_writes(
        &[
            "sim",
            "cache-migration",
            "--nodes",
            "100",
            "--steps",
            "300",
            "--keys",
            "4",
            "--zipf",
            "0.8",
            "--region",
            "8",
            "--rounds",
            "3",
            "--requests",
            "20",
            "--store",
            "20",
            "--cache",
            "5",
            "--replicas",
            "2",
            "--seed",
            "9",
            "--out",
            dir.to_str().unwrap(),
        ],
        &dir,
        &files,
    );
    assert!(stdout.contains("Chord + path cache"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["params"]["keys"], 4);
    assert_eq!(summary["params"]["zipf"], 0.8);
    assert_eq!(summary["modes"]["chord"]["replicas_top"]["last"], 3.0);
    std::fs::remove_dir_all(&dir).unwrap();

    // A cache as large as the store leaves Chord no store: refused.
    let out = fog(&["sim", "cache-migration", "--store", "10", "--cache", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cache"));
}

/// The two plot features this scenario added to `report`: shaded bands
/// under the data, and series sharing a colour slot.
#[test]
fn plots_shade_bands_under_the_data_and_share_colours_by_slot() {
    use fogstore::sim::report::{Band, Plot, Series, Style};

    let fills = |svg: &str| -> std::collections::BTreeSet<String> {
        svg.split("<circle")
            .skip(1)
            .filter_map(|c| c.split("fill=\"").nth(1))
            .map(|f| f[..7].to_string())
            .collect()
    };
    let mut plot = Plot::new("bands.svg", "Bands", "x", "y");
    plot.series = vec![
        Series::new("a", Style::Points, vec![(0.2, 1.0), (0.4, 2.0)]),
        Series::new("b", Style::Points, vec![(0.6, 1.0), (0.8, 2.0)]),
    ];
    plot.x_range = Some((0.0, 1.0));
    plot.bands = vec![Band {
        name: "where demand is".to_string(),
        from: 0.1,
        to: 0.3,
        color: 2,
    }];
    let svg = plot.render_svg().unwrap();
    assert!(svg.contains("where demand is"), "the band is in the legend");
    // The band is the one tinted rectangle, drawn before (under) the points.
    let band = svg.find("opacity=\"0.15\"");
    let first_point = svg.find("<circle").unwrap();
    assert!(
        band.is_some_and(|b| b < first_point),
        "a tinted band under the data"
    );
    assert_eq!(fills(&svg).len(), 2, "two series, two colours by default");
    plot.series = plot.series.into_iter().map(|s| s.colored(3)).collect();
    assert_eq!(
        fills(&plot.render_svg().unwrap()).len(),
        1,
        "one slot, one colour"
    );
}
