//! The report: CSV tables, the printed table, and the models the plots
//! compare with. The plots are in `plots.rs`, `summary.json` in
//! `summary.rs`.

use super::plots::plots;
use super::run::{Point, Results, SweepPoint};
use super::score::{Measured, Score};
use super::summary::{Headline, summary};
use super::{Params, Setting};
use crate::sim::report::{Table, fmt_num, format_table};
use crate::sim::scenario::Report;

/// The candidate count behind fred's 17% figure: a neighbour with `peers`
/// peers sends a max-HTL request either as its originator or as a relay
/// for one of its `peers · (1 − p)` peers whose link keeps max HTL; if all
/// `1 + peers · (1 − p)` candidates are equally likely, the naive guess is
/// right with probability one in that many (one in six for 10 peers and
/// p = 0.5).
pub fn candidate_model(peers: f64, decrement_at_max: f64) -> f64 {
    1.0 / (1.0 + peers * (1.0 - decrement_at_max))
}

/// The traffic-weighted estimate without a stem: each max-HTL hop is
/// followed by another with probability `1 − p`, so a request is sent at
/// max HTL `1/p` times on average, once by its originator; the naive guess
/// is right for a share `p` of max-HTL sightings, whatever the degree.
pub fn chain_model(decrement_at_max: f64) -> f64 {
    decrement_at_max
}

/// The first-spy bound on a stem (Reiter and Rubin's Crowds, 1998): with
/// continuation `q` and a share `f` of adversaries, an attacker that names
/// the predecessor of the first adversary on the stem is right with
/// probability `1 − q(1 − f)`. (The first hop is an adversary with
/// probability `f`; the first adversary is at hop `k` with probability
/// `f · (q(1 − f))^(k−1)`.)
pub fn crowds_model(q: f64, f: f64) -> f64 {
    1.0 - q * (1.0 - f)
}

/// The attackers, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Attacker {
    Naive,
    Literal,
    FirstSpy,
    Traceback,
    Statistical,
    SpyDownloads,
    Inserter,
    SpyPublications,
}

impl Attacker {
    pub(super) const ALL: [Attacker; 8] = [
        Attacker::Naive,
        Attacker::Literal,
        Attacker::FirstSpy,
        Attacker::Traceback,
        Attacker::Statistical,
        Attacker::SpyDownloads,
        Attacker::Inserter,
        Attacker::SpyPublications,
    ];

    /// Those that name requesters (of single-block requests).
    pub(super) const REQUESTS: [Attacker; 4] = [
        Attacker::Naive,
        Attacker::Literal,
        Attacker::FirstSpy,
        Attacker::Traceback,
    ];

    /// Those that name a file's downloader or publisher.
    pub(super) const FILES: [Attacker; 4] = [
        Attacker::Statistical,
        Attacker::SpyDownloads,
        Attacker::Inserter,
        Attacker::SpyPublications,
    ];

    /// The four the issue names, and the first spy on requests (what the
    /// stem must be judged by), as the plots show them.
    pub(super) const PLOTTED: [Attacker; 5] = [
        Attacker::Naive,
        Attacker::FirstSpy,
        Attacker::Statistical,
        Attacker::Traceback,
        Attacker::Inserter,
    ];

    pub(super) fn score(self, m: &Measured) -> Score {
        match self {
            Attacker::Naive => m.naive,
            Attacker::Literal => m.naive_literal,
            Attacker::FirstSpy => m.first_spy,
            Attacker::Traceback => m.traceback_or_empty(),
            Attacker::Statistical => m.statistical,
            Attacker::SpyDownloads => m.first_spy_downloads,
            Attacker::Inserter => m.inserter,
            Attacker::SpyPublications => m.first_spy_publications,
        }
    }

    /// Key in `summary.json`.
    pub(super) fn key(self) -> &'static str {
        match self {
            Attacker::Naive => "naive",
            Attacker::Literal => "naive_literal",
            Attacker::FirstSpy => "first_spy",
            Attacker::Traceback => "traceback",
            Attacker::Statistical => "statistical",
            Attacker::SpyDownloads => "first_spy_downloads",
            Attacker::Inserter => "inserter",
            Attacker::SpyPublications => "first_spy_publications",
        }
    }

    /// Prefix of its CSV columns.
    fn column(self) -> &'static str {
        match self {
            Attacker::Naive => "naive",
            Attacker::Literal => "literal",
            Attacker::FirstSpy => "spy",
            Attacker::Traceback => "trace",
            Attacker::Statistical => "stat",
            Attacker::SpyDownloads => "spy_dl",
            Attacker::Inserter => "insert",
            Attacker::SpyPublications => "spy_pub",
        }
    }

    /// Name in legends and printed headers.
    pub(super) fn label(self) -> &'static str {
        match self {
            Attacker::Naive => "naive",
            Attacker::Literal => "literal",
            Attacker::FirstSpy => "first spy",
            Attacker::Traceback => "traceback",
            Attacker::Statistical => "statistical",
            Attacker::SpyDownloads => "first spy dl",
            Attacker::Inserter => "inserter",
            Attacker::SpyPublications => "first spy pub",
        }
    }
}

pub(super) fn pct(v: f64) -> String {
    if v.is_nan() {
        "-".to_string()
    } else {
        format!("{:.1}%", 100.0 * v)
    }
}

/// CSV columns after the leading ones: each attacker's counts and shares.
fn score_columns() -> Vec<String> {
    let fields = [
        "guesses",
        "correct",
        "precision",
        "targets",
        "detected",
        "recall",
        "seen",
    ];
    Attacker::ALL
        .iter()
        .flat_map(|a| fields.iter().map(move |f| format!("{}_{f}", a.column())))
        .collect()
}

/// A CSV row: `lead`, then the requests' success and median hops, then
/// every attacker's counts.
fn row(mut lead: Vec<f64>, m: &Measured) -> Vec<f64> {
    lead.extend([m.mean_degree, m.requests.success, m.requests.median_hops]);
    for a in Attacker::ALL {
        let s = a.score(m);
        lead.extend([
            s.guesses as f64,
            s.correct as f64,
            s.precision(),
            s.targets as f64,
            s.detected as f64,
            s.recall(),
            s.seen as f64,
        ]);
    }
    lead
}

fn table(name: &str, lead: &[&str]) -> Table {
    let mut columns: Vec<String> = lead.iter().map(|c| c.to_string()).collect();
    columns.extend(["mean_degree", "success", "median_hops"].map(String::from));
    columns.extend(score_columns());
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    Table::new(name, &columns)
}

/// One table per setting, one per sweep.
fn tables(results: &Results) -> Vec<Table> {
    let mut tables = Vec::new();
    for setting in Setting::ALL {
        let mut t = table(setting.file(), &["fraction", "adversaries"]);
        for p in results.points.iter().filter(|p| p.setting == setting) {
            t.push(row(vec![p.fraction, p.adversaries as f64], &p.measured));
        }
        tables.push(t);
    }
    for (name, x, sweep) in [
        ("coin", "decrement_at_max", &results.coin),
        ("degree", "peers", &results.degree),
    ] {
        let mut t = table(name, &[x, "stem"]);
        for s in sweep {
            t.push(row(vec![s.x, 1.0], &s.after));
            t.push(row(vec![s.x, 0.0], &s.before));
        }
        tables.push(t);
    }
    let mut t = table("stem", &["stem_continue", "median_hops_added"]);
    for s in &results.stem {
        t.push(row(vec![s.x, s.hops_added()], &s.after));
    }
    tables.push(t);
    tables
}

/// Precision and recall of each of `attackers`, as printed cells.
fn score_cells(m: &Measured, attackers: &[Attacker]) -> Vec<String> {
    attackers
        .iter()
        .flat_map(|a| {
            let s = a.score(m);
            [pct(s.precision()), pct(s.recall())]
        })
        .collect()
}

/// Headers for [`score_cells`]: each attacker's precision, then "R".
fn score_headers(attackers: &[Attacker]) -> Vec<String> {
    attackers
        .iter()
        .flat_map(|a| [format!("{} P", a.label()), "R".to_string()])
        .collect()
}

/// A printed table: `lead` headers and cells, then the scores of
/// `attackers` for each row's run.
fn score_table(lead: &[&str], rows: &[(Vec<String>, &Measured)], attackers: &[Attacker]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(lead, m)| {
            let mut r = lead.clone();
            r.extend(score_cells(m, attackers));
            r
        })
        .collect();
    let extra = score_headers(attackers);
    let mut headers: Vec<&str> = lead.to_vec();
    headers.extend(extra.iter().map(String::as_str));
    format_table(&headers, &cells)
}

fn points_tables(points: &[Point], peers: u32) -> String {
    let rows: Vec<(Vec<String>, &Measured)> = points
        .iter()
        .map(|p| {
            let lead = vec![
                p.setting.label(peers),
                format!("{:.0}%", 100.0 * p.fraction),
            ];
            (lead, &p.measured)
        })
        .collect();
    format!(
        "requesters, single-block requests:\n{}\nfiles: downloaders and publishers:\n{}",
        score_table(&["setting", "f"], &rows, &Attacker::REQUESTS),
        score_table(&["setting", "f"], &rows, &Attacker::FILES),
    )
}

fn sweep_table(x: &str, sweep: &[SweepPoint], hops_added: bool) -> String {
    let mut rows = Vec::new();
    for s in sweep {
        let runs: &[(&str, &Measured)] = if hops_added {
            &[("on", &s.after)]
        } else {
            &[("on", &s.after), ("off", &s.before)]
        };
        for (stem, m) in runs {
            let mut lead = vec![
                fmt_num(s.x),
                stem.to_string(),
                format!("{:.1}", m.mean_degree),
            ];
            if hops_added {
                lead.push(fmt_num(s.hops_added()));
            }
            rows.push((lead, *m));
        }
    }
    let mut lead = vec![x, "stem", "peers"];
    if hops_added {
        lead.push("hops added");
    }
    // The coin and degree sweeps publish nothing: no inserter there.
    let all = [
        Attacker::Naive,
        Attacker::FirstSpy,
        Attacker::Traceback,
        Attacker::Statistical,
        Attacker::Inserter,
    ];
    let attackers = if hops_added { &all[..] } else { &all[..4] };
    score_table(&lead, &rows, attackers)
}

fn headline_lines(after: &Headline, before: &Headline) -> String {
    let line = |name: &str, a: f64, b: f64, target: &str| {
        format!("  {name:<32} {:>8} {:>8}   {target}\n", pct(a), pct(b))
    };
    let mut out = format!(
        "headline at f = {:.0}% ({} peers for the small world): after (stem on), before (stem off)\n",
        100.0 * after.fraction,
        after.peers
    );
    for (name, a, b, target) in after.rows(before) {
        out.push_str(&line(name, a, b, target));
    }
    out.push_str(&format!(
        "  {:<32} {:>8} {:>8}   target <= 2\n",
        "median hops of a request",
        fmt_num(after.median_hops),
        fmt_num(before.median_hops)
    ));
    out.push_str(&format!(
        "  median hops added by the stem: {}; request success {} with the stem, {} without\n",
        fmt_num(after.median_hops - before.median_hops),
        pct(after.success),
        pct(before.success)
    ));
    out
}

fn printed(params: &Params, results: &Results) -> String {
    let (after, before) = Headline::both(params, results);
    format!(
        "{}\nsweeps on the small world ({:.0}% adversaries; stem on and off):\n{}\n{}\n\
         stem sweep ({:.0}% adversaries, {} peers):\n{}\n{}\
         Freenet network: probe success {} with the stem (median {} hops), {} without (median {})\n\
         a node's busiest peer gets {} of its blocks in the converged network (even: {}), \
         {} at {} peers (even: {})\n",
        points_tables(&results.points, params.peers),
        100.0 * params.sweep_fraction,
        sweep_table("coin p", &results.coin, false),
        sweep_table("peers", &results.degree, false),
        100.0 * params.headline_fraction,
        params.peers,
        sweep_table("q", &results.stem, true),
        headline_lines(&after, &before),
        pct(results.probe_success),
        fmt_num(results.probe_median),
        pct(results.probe_success_before),
        fmt_num(results.probe_median_before),
        pct(results.skew_converged.0),
        pct(results.skew_converged.1),
        pct(results.skew_small_world.0),
        params.peers,
        pct(results.skew_small_world.1),
    )
}

/// Tables, plots and summary of a run.
pub fn report(params: &Params, results: &Results) -> Report {
    Report {
        tables: tables(results),
        plots: plots(params, results),
        summary: summary(params, results),
        printed: printed(params, results),
    }
}
