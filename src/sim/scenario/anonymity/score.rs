//! How the attackers did, and how the honest requests fared.

use crate::sim::content::VirtualContent;
use crate::sim::engine::Outcome;
use crate::sim::scenario::quantile;

/// How an attacker did: names made, names right, and how many of the
/// targets (requests, or files) it named correctly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Names made: distinct (request or file, suspect) pairs.
    pub guesses: usize,
    /// Names that were the true originator.
    pub correct: usize,
    /// Honest requests that left their node (naive, traceback), or files
    /// (statistical: downloads; inserter: publications).
    pub targets: usize,
    /// Targets whose originator was named.
    pub detected: usize,
    /// Targets an adversary saw at all (requests: any hop of them; files:
    /// a block straight from the downloader or publisher).
    pub seen: usize,
}

impl Score {
    /// Share of names that were right; NaN when none was made.
    pub fn precision(&self) -> f64 {
        if self.guesses == 0 {
            f64::NAN
        } else {
            self.correct as f64 / self.guesses as f64
        }
    }

    /// Share of targets whose originator was named.
    pub fn recall(&self) -> f64 {
        if self.targets == 0 {
            f64::NAN
        } else {
            self.detected as f64 / self.targets as f64
        }
    }

    /// Adds another run's counts (to pool runs).
    pub fn add(&mut self, other: &Score) {
        self.guesses += other.guesses;
        self.correct += other.correct;
        self.targets += other.targets;
        self.detected += other.detected;
        self.seen += other.seen;
    }
}

/// What the single-block requests of a run cost and found, whoever
/// watched them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RequestStats {
    /// Requests made.
    pub count: usize,
    /// Share that found their data.
    pub success: f64,
    /// Median of [`Outcome::hops`] over every request (stem hops
    /// included; 0 for a request answered by its own node).
    pub median_hops: f64,
    /// The same over the requests that found their data.
    pub median_hops_found: f64,
}

impl RequestStats {
    /// The figures of `outcomes`.
    pub fn of(outcomes: &[Outcome<VirtualContent>]) -> RequestStats {
        let sorted = |found_only: bool| {
            let mut hops: Vec<f64> = outcomes
                .iter()
                .filter(|o| !found_only || o.succeeded())
                .map(|o| f64::from(o.hops))
                .collect();
            hops.sort_by(f64::total_cmp);
            hops
        };
        let found = outcomes.iter().filter(|o| o.succeeded()).count();
        RequestStats {
            count: outcomes.len(),
            success: found as f64 / outcomes.len().max(1) as f64,
            median_hops: quantile(&sorted(false), 0.5),
            median_hops_found: quantile(&sorted(true), 0.5),
        }
    }
}

/// Every attacker's score in one run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    /// The naive attacker, on the single-block requests.
    pub naive: Score,
    /// Its literal variant (every routed request at max HTL names its
    /// sender), on the same requests.
    pub naive_literal: Score,
    /// Its first-spy variant (only a stem message's sender is named), on
    /// the same requests.
    pub first_spy: Score,
    /// The first-spy rule on the downloads: per file, the name most of
    /// its blocks' earliest sightings give.
    pub first_spy_downloads: Score,
    /// The same on the publications.
    pub first_spy_publications: Score,
    /// The statistical attacker, on the downloads.
    pub statistical: Score,
    /// The traceback attacker, on the single-block requests; `None` where
    /// the cores cannot be probed (Chord mode).
    pub traceback: Option<Score>,
    /// The inserter attacker, on the publications; all zero when nothing
    /// was published.
    pub inserter: Score,
    /// Mean peer count when the downloads started, as the statistical
    /// attacker took it.
    pub mean_degree: f64,
    /// What the single-block requests cost and found.
    pub requests: RequestStats,
}

impl Measured {
    /// The traceback score, or an empty one (every figure NaN) where it
    /// was not measured.
    pub fn traceback_or_empty(&self) -> Score {
        self.traceback.unwrap_or_default()
    }
}
