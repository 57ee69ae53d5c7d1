//! The statistical attacker, after Levine, Liberatore, Lynn and Wright
//! (CCS 2020): for a known splitfile of `B` blocks, a neighbour that
//! sends an adversary more of the file's block requests than a relayer
//! plausibly would is named as the downloader.
//!
//! Stem messages count as inside the HTL window: they carry no HTL and are
//! never decremented. Every block of one download takes the same stem, so
//! a relay on it sends the next node as many of the file's blocks as the
//! downloader sent it; where the adversary sits on the stem decides
//! whether the name is right.

use std::collections::{BTreeMap, BTreeSet};

use super::Attack;
use super::score::Score;
use crate::routing::{Msg, PeerId};
use crate::sim::content::{VirtualContent, VirtualKey};
use crate::sim::engine::Observed;

/// The smallest count `t` such that a binomial `Bin(n, p)` reaches `t` or
/// more with probability at most `alpha`; `n + 1` if no count is that
/// unlikely. Summed in log space from the top, so that large `n` neither
/// underflows nor loses the tail to cancellation.
pub fn binomial_threshold(n: usize, p: f64, alpha: f64) -> usize {
    if p <= 0.0 {
        return 1;
    }
    if p >= 1.0 {
        return n + 1;
    }
    // log P[X = k], by the ratio P[k+1]/P[k] = (n-k)/(k+1) * p/(1-p).
    let mut log_pmf = Vec::with_capacity(n + 1);
    let mut lp = n as f64 * (1.0 - p).ln();
    let odds = (p / (1.0 - p)).ln();
    for k in 0..=n {
        log_pmf.push(lp);
        lp += ((n - k) as f64 / (k + 1) as f64).ln() + odds;
    }
    let mut tail = 0.0;
    for t in (0..=n).rev() {
        let with = tail + log_pmf[t].exp();
        if with > alpha {
            return t + 1;
        }
        tail = with;
    }
    0
}

/// The relay hypothesis's chance that one block request of a file reaches
/// adversary `a` from neighbour `v` at high HTL: the downloader, at best a
/// neighbour of `v` with `mean_degree` peers, sends `v` one block in
/// `mean_degree`, and `v` passes one in `degree(v)` of those to `a`. A
/// downloader itself sends `a` one block in `degree(v)`: `mean_degree`
/// times more.
pub fn relay_probability(degree: usize, mean_degree: f64) -> f64 {
    1.0 / (degree.max(1) as f64 * mean_degree.max(1.0))
}

/// Which file each block key belongs to.
fn file_of(files: &[Vec<VirtualKey>]) -> BTreeMap<VirtualKey, usize> {
    files
        .iter()
        .enumerate()
        .flat_map(|(i, keys)| keys.iter().map(move |&k| (k, i)))
        .collect()
}

/// The block key a request message asks for, and whether it is counted:
/// a stem request always, a routed one within the HTL window.
fn counted(msg: &Msg<VirtualContent>, lowest: u8) -> Option<VirtualKey> {
    match *msg {
        Msg::StemRequest { key, .. } => Some(key),
        Msg::Request { key, htl, .. } if htl >= lowest => Some(key),
        _ => None,
    }
}

/// The statistical attacker. For each file, adversary and sending
/// neighbour it counts the file's distinct blocks requested within the
/// HTL window (stem requests included), and names the neighbour as the
/// file's downloader when the count reaches the binomial threshold of
/// [`relay_probability`] at the attack's false-positive rate. `degrees[v]`
/// is node `v`'s peer count, which the attacker is taken to know (fred
/// tells its peers its peer count). Returns the distinct (file index,
/// suspect) pairs.
pub fn statistical_accusations(
    observed: &[Observed<VirtualContent>],
    files: &[Vec<VirtualKey>],
    adversary: &[bool],
    degrees: &[usize],
    attack: &Attack,
) -> BTreeSet<(usize, PeerId)> {
    let file_of = file_of(files);
    let lowest = attack
        .max_htl
        .saturating_sub(attack.htl_window.saturating_sub(1));
    let mut counts: BTreeMap<(usize, PeerId, PeerId), BTreeSet<VirtualKey>> = BTreeMap::new();
    for o in observed {
        if let Some(key) = counted(&o.msg, lowest)
            && !adversary[o.from.0 as usize]
            && let Some(&file) = file_of.get(&key)
        {
            counts
                .entry((file, o.at_node, o.from))
                .or_default()
                .insert(key);
        }
    }
    let mean_degree = degrees.iter().sum::<usize>() as f64 / degrees.len().max(1) as f64;
    let mut thresholds: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut accused = BTreeSet::new();
    for ((file, _, from), keys) in counts {
        let blocks = files[file].len();
        let degree = degrees[from.0 as usize];
        let t = *thresholds.entry((blocks, degree)).or_insert_with(|| {
            binomial_threshold(
                blocks,
                relay_probability(degree, mean_degree),
                attack.false_positive,
            )
        });
        if keys.len() >= t {
            accused.insert((file, from));
        }
    }
    accused
}

/// Scores accusations against the true downloaders (`downloaders[i]`
/// fetched file `i`).
pub fn score_statistical(
    accused: &BTreeSet<(usize, PeerId)>,
    observed: &[Observed<VirtualContent>],
    files: &[Vec<VirtualKey>],
    downloaders: &[PeerId],
) -> Score {
    let correct: BTreeSet<usize> = accused
        .iter()
        .filter(|(file, suspect)| downloaders[*file] == *suspect)
        .map(|(file, _)| *file)
        .collect();
    let file_of = file_of(files);
    let seen: BTreeSet<usize> = observed
        .iter()
        .filter_map(|o| match o.msg {
            Msg::Request { key, .. } | Msg::StemRequest { key, .. } => file_of
                .get(&key)
                .copied()
                .filter(|&f| downloaders[f] == o.from),
            _ => None,
        })
        .collect();
    Score {
        guesses: accused.len(),
        correct: correct.len(),
        targets: downloaders.len(),
        detected: correct.len(),
        seen: seen.len(),
    }
}
