//! The study's plots: precision and recall against the adversary share,
//! after (stem on) and before (stem off), and the sweeps.

use super::report::{Attacker, candidate_model, chain_model, crowds_model};
use super::run::{Results, SweepPoint};
use super::score::Score;
use super::{Params, Setting};
use crate::routing::Config;
use crate::sim::report::{Plot, Scale, Series, Style};

/// Top of the sweeps' share axis: above 1, so that the legend (drawn in
/// the upper right) does not hide the series that sit at 1.
const TOP: f64 = 1.4;

/// One attacker's precision or recall against the fraction, for a
/// setting: after as lines with points, before as plain lines, in the
/// attacker's colour.
fn by_fraction(
    results: &Results,
    setting: Setting,
    a: Attacker,
    recall: bool,
    slot: usize,
) -> Series {
    let before = matches!(
        setting,
        Setting::Freenet { stem: false, .. } | Setting::SmallWorld { stem: false, .. }
    );
    let name = format!(
        "{}{}",
        a.label(),
        if before { ", stem off (before)" } else { "" }
    );
    let share = |s: Score| if recall { s.recall() } else { s.precision() };
    let points = results
        .points
        .iter()
        .filter(|p| p.setting == setting)
        .map(|p| (p.fraction, share(a.score(&p.measured))))
        .collect();
    let style = if before {
        Style::Line
    } else {
        Style::LinePoints
    };
    Series::new(&name, style, points).colored(slot)
}

fn fraction_plot(file: &str, title: &str, y: &str, series: Vec<Series>) -> Plot {
    let mut plot = Plot::new(file, title, "fraction of nodes that are adversaries", y);
    // A log axis to 1 spreads the fractions evenly and leaves the upper
    // right, where the legend goes, free of data.
    plot.x_scale = Scale::Log;
    plot.x_range = Some((0.008, 1.0));
    plot.y_range = Some((0.0, 1.05));
    plot.series = series;
    plot
}

/// After and before for the plotted attackers on one network (the first
/// spy only after: without a stem it names nobody).
fn both(results: &Results, after: Setting, before: Setting, recall: bool) -> Vec<Series> {
    let mut series = Vec::new();
    for (i, &a) in Attacker::PLOTTED.iter().enumerate() {
        series.push(by_fraction(results, after, a, recall, i));
        if a != Attacker::FirstSpy {
            series.push(by_fraction(results, before, a, recall, i));
        }
    }
    series
}

/// Naive precision along a coin or degree sweep, stem on and off.
fn naive_sweep(sweep: &[SweepPoint]) -> [Series; 2] {
    let line = |before: bool| {
        let name = if before {
            "naive, stem off (before)"
        } else {
            "naive, stem on"
        };
        Series::new(
            name,
            Style::LinePoints,
            sweep
                .iter()
                .map(|s| {
                    let m = if before { &s.before } else { &s.after };
                    (s.x, m.naive.precision())
                })
                .collect(),
        )
    };
    [line(true), line(false)]
}

fn coin_plot(params: &Params, results: &Results) -> Plot {
    let (peers, f) = (params.peers, params.sweep_fraction);
    let mut coin = Plot::new(
        "coin.svg",
        &format!(
            "Naive precision against the HTL coin ({peers} peers, {:.0}% adversaries)",
            100.0 * f
        ),
        "probability that a link decrements a request at max HTL",
        "share of named originators that are right",
    );
    coin.y_range = Some((0.0, TOP));
    let fine: Vec<f64> = (2..=20).map(|i| f64::from(i) / 20.0).collect();
    coin.series = naive_sweep(&results.coin).into();
    coin.series.extend([
        Series::new(
            "model, stem off: p (max-HTL chains)",
            Style::Line,
            fine.iter().map(|&p| (p, chain_model(p))).collect(),
        ),
        Series::new(
            &format!("model, stem off: 1/(1 + {peers}(1-p)) (candidates)"),
            Style::Line,
            fine.iter()
                .map(|&p| (p, candidate_model(f64::from(peers), p)))
                .collect(),
        ),
    ]);
    coin
}

fn degree_plot(params: &Params, results: &Results) -> Plot {
    let f = params.sweep_fraction;
    let mut degree = Plot::new(
        "degree.svg",
        &format!(
            "Naive precision against peers per node (coin 0.5, {:.0}% adversaries)",
            100.0 * f
        ),
        "peers per node",
        "share of named originators that are right",
    );
    degree.x_scale = Scale::Log;
    degree.y_range = Some((0.0, TOP));
    let half = Config::default().decrement_at_max;
    let span: Vec<f64> = results.degree.iter().map(|s| s.x).collect();
    degree.series = naive_sweep(&results.degree).into();
    degree.series.extend([
        Series::new(
            "model, stem off: p (max-HTL chains)",
            Style::Line,
            span.iter().map(|&d| (d, chain_model(half))).collect(),
        ),
        Series::new(
            "model, stem off: 1/(1 + d(1-p)) (candidates)",
            Style::Line,
            span.iter()
                .map(|&d| (d, candidate_model(d, half)))
                .collect(),
        ),
    ]);
    degree
}

/// The trade-off: each attacker's precision against the median hops the
/// stem adds, one point per continuation probability.
fn stem_plot(params: &Params, results: &Results) -> Plot {
    let f = params.headline_fraction;
    let mut plot = Plot::new(
        "stem.svg",
        &format!(
            "Precision against hops added by the stem ({} peers, {:.0}% adversaries; q = {})",
            params.peers,
            100.0 * f,
            params
                .sweep_stem
                .iter()
                .map(|q| q.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "median hops added to a request",
        "share of named originators that are right",
    );
    plot.y_range = Some((0.0, 1.05));
    plot.series = Attacker::PLOTTED
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let points = results
                .stem
                .iter()
                .map(|s| (s.hops_added(), a.score(&s.after).precision()))
                .collect();
            Series::new(a.label(), Style::LinePoints, points).colored(i)
        })
        .collect();
    plot.series.push(Series::new(
        "model: first spy on the stem, 1 - q(1 - f)",
        Style::Points,
        results
            .stem
            .iter()
            .map(|s| (s.hops_added(), crowds_model(s.x, f)))
            .collect(),
    ));
    let xs: Vec<f64> = results.stem.iter().map(|s| s.hops_added()).collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    if lo.is_finite() {
        plot.series.push(Series::new(
            "target: 10%",
            Style::Line,
            vec![(lo, 0.1), (hi, 0.1)],
        ));
    }
    plot
}

/// Every plot of a run.
pub(super) fn plots(params: &Params, results: &Results) -> Vec<Plot> {
    let n = params.nodes;
    let peers = params.peers;
    let right = "share of named originators that are right";
    vec![
        fraction_plot(
            "precision.svg",
            &format!("Precision of the attackers, converged network ({n} nodes)"),
            right,
            both(
                results,
                Setting::CONVERGED,
                Setting::CONVERGED_BEFORE,
                false,
            ),
        ),
        fraction_plot(
            "recall.svg",
            &format!("Recall of the attackers, converged network ({n} nodes)"),
            "share of requests or files whose originator was named",
            both(results, Setting::CONVERGED, Setting::CONVERGED_BEFORE, true),
        ),
        fraction_plot(
            "small-world.svg",
            &format!("Precision on a small world of {peers} peers per node ({n} nodes)"),
            right,
            both(
                results,
                Setting::SMALL_WORLD,
                Setting::SMALL_WORLD_BEFORE,
                false,
            ),
        ),
        coin_plot(params, results),
        degree_plot(params, results),
        stem_plot(params, results),
    ]
}
