//! Running a plan of honest traffic past the coalition, and scoring every
//! attacker on it.

use std::collections::BTreeSet;

use rand::Rng;
use rand::seq::SliceRandom;

use super::Attack;
use super::inserter::{file_names, insert_name, score_files};
use super::naive::{
    first_spy_guesses, first_spy_name, literal_guesses, naive_guesses, score_requests,
};
use super::observe::{Linked, Observable, Topology, degrees, link, sent_by};
use super::score::{Measured, RequestStats, Score};
use super::statistical::{score_statistical, statistical_accusations};
use super::traceback::traceback_guess;
use crate::routing::{ClientOp, PeerId, RequestId};
use crate::sim::content::{VirtualContent, VirtualKey};
use crate::sim::engine::{Network, Observed, Outcome};

/// What the honest nodes do in one run. One plan per fraction is shared by
/// every setting, so settings differ only in how they route.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Single-block requests: who asks, for what.
    pub requests: Vec<(PeerId, VirtualKey)>,
    /// Splitfile publications and downloads.
    pub downloads: Vec<Download>,
}

/// One splitfile: a publisher inserts its blocks (where the setting
/// publishes), then a downloader requests each of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Download {
    /// Who inserts the file: the one the inserter attacker hunts.
    pub publisher: PeerId,
    /// Who requests every block: the one the statistical attacker hunts.
    pub downloader: PeerId,
    /// The file's block keys, which the attackers know.
    pub keys: Vec<VirtualKey>,
}

/// Whether, and how, a run publishes its files before they are
/// downloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// Nothing is inserted: the inserter attacker has nothing to see, and
    /// downloads find nothing (their requests are observed the same way).
    No,
    /// The files are inserted and stay: stored along their paths, with
    /// the references inserts teach.
    Keep,
    /// Each file is inserted, observed, and then every node its inserts
    /// touched is put back as it was before the files were published: the
    /// links of a small world stay as built (a darknet's peers are fixed),
    /// and the downloads find nothing.
    Restore,
}

/// The client operation of file `i`'s publication and of its download
/// (each block of one operation takes the same stem); single requests are
/// operations `0..requests`.
fn file_operations(i: usize) -> (u64, u64) {
    let base = (1u64 << 32) + 2 * i as u64;
    (base, base + 1)
}

/// How often (in requests) the coalition redraws its map of who
/// references whom, for the traceback.
const MAP_EVERY: usize = 50;

/// Runs `plan` on `net` with `adversaries` watching, and scores every
/// attacker. Single requests run one at a time, each to completion; the
/// traceback probes right after each. Then, file by file, the publisher
/// inserts it (as `publish` says) and the downloader fetches it, each
/// with all the file's blocks at once, as a splitfile client does (so
/// they share one stem epoch). The statistical attacker takes every
/// node's peer count before the files are published.
pub fn measure<P: Observable>(
    net: &mut Network<P>,
    adversaries: &[PeerId],
    plan: &Plan,
    publish: Publish,
    attack: &Attack,
) -> Measured {
    let mut adversary = vec![false; net.len()];
    for &a in adversaries {
        adversary[a.0 as usize] = true;
        net.watch(a);
    }
    net.take_observed();
    let requests = watch_requests(net, &plan.requests, &adversary, attack.max_htl);

    let degrees = degrees(net);
    let pristine = (publish == Publish::Restore).then(|| net.clone());
    let (mut published, mut downloaded) = (Files::default(), Files::default());
    let mut observed = Vec::new();
    for (i, file) in plan.downloads.iter().enumerate() {
        let (put, get) = file_operations(i);
        if publish != Publish::No {
            publish_file(
                net,
                pristine.as_ref(),
                file,
                put,
                &adversary,
                attack.max_htl,
                &mut published,
            );
        }
        let gets = file.keys.iter().map(|&key| ClientOp::Get {
            key,
            htl: None,
            operation: get,
        });
        let outcomes = all_at_once(net, file.downloader, gets);
        let log = net.take_observed();
        let linked = link(&log, &outcomes);
        downloaded.spies.push(
            linked
                .iter()
                .map(|l| first_spy_name(l, &adversary))
                .collect(),
        );
        downloaded
            .seen
            .push(linked.iter().any(|l| sent_by(l, file.downloader)));
        observed.extend(log);
    }
    let files: Vec<Vec<VirtualKey>> = plan.downloads.iter().map(|d| d.keys.clone()).collect();
    let downloaders: Vec<PeerId> = plan.downloads.iter().map(|d| d.downloader).collect();
    let accused = statistical_accusations(&observed, &files, &adversary, &degrees, attack);
    let statistical = score_statistical(&accused, &observed, &files, &downloaders);
    let publishers: Vec<PeerId> = plan.downloads.iter().map(|d| d.publisher).collect();
    Measured {
        naive: requests.naive,
        naive_literal: requests.literal,
        first_spy: requests.first_spy,
        first_spy_downloads: downloaded.score(&downloaders, |f| &f.spies),
        first_spy_publications: published.score(&publishers, |f| &f.spies),
        statistical,
        traceback: requests.traceback,
        inserter: published.score(&publishers, |f| &f.names),
        mean_degree: degrees.iter().sum::<usize>() as f64 / degrees.len().max(1) as f64,
        requests: requests.stats,
    }
}

/// Per file, each block's name by one rule (and by the first-spy rule),
/// and whether a block reached the coalition straight from its originator.
#[derive(Default)]
struct Files {
    names: Vec<Vec<Option<PeerId>>>,
    spies: Vec<Vec<Option<PeerId>>>,
    seen: Vec<bool>,
}

impl Files {
    /// The score of the names `rule` picks, against `truth` per file (all
    /// zero if no file was observed this way).
    fn score(&self, truth: &[PeerId], rule: impl Fn(&Files) -> &Vec<Vec<Option<PeerId>>>) -> Score {
        if self.seen.is_empty() {
            return Score::default();
        }
        score_files(&file_names(rule(self)), truth, &self.seen)
    }
}

/// The scores of the single-block requests.
struct RequestScores {
    naive: Score,
    literal: Score,
    first_spy: Score,
    traceback: Option<Score>,
    stats: RequestStats,
}

/// Starts every one of `ops` at `node` at once and runs the network until
/// it is idle; returns their outcomes, in the order they finished.
fn all_at_once<P: Observable>(
    net: &mut Network<P>,
    node: PeerId,
    ops: impl IntoIterator<Item = ClientOp<VirtualContent>>,
) -> Vec<Outcome<VirtualContent>> {
    for op in ops {
        net.client(node, op);
    }
    net.run_until_idle();
    net.take_outcomes()
}

/// Runs the single-block requests and scores the naive attacker, its
/// variants and (where the mode can be probed) the traceback.
fn watch_requests<P: Observable>(
    net: &mut Network<P>,
    requests: &[(PeerId, VirtualKey)],
    adversary: &[bool],
    max_htl: u8,
) -> RequestScores {
    let probed = !net.is_empty() && net.node(PeerId(0)).has_seen(RequestId(0)).is_some();
    let mut outcomes: Vec<Outcome<VirtualContent>> = Vec::with_capacity(requests.len());
    let mut logs: Vec<Vec<Observed<VirtualContent>>> = Vec::with_capacity(requests.len());
    let mut traced: Vec<BTreeSet<PeerId>> = Vec::with_capacity(requests.len());
    let mut map = Topology::default();
    for (i, &(node, key)) in requests.iter().enumerate() {
        if probed && i % MAP_EVERY == 0 {
            map = Topology::of(net);
        }
        let op = ClientOp::Get {
            key,
            htl: None,
            operation: i as u64,
        };
        let outcome = net.run_op(node, op);
        let log = net.take_observed();
        // Promptly, while the ids are in the loop memories.
        let name = if probed {
            let linked = link(&log, std::slice::from_ref(&outcome)).remove(0);
            traceback_guess(net, &map, &linked, adversary)
        } else {
            None
        };
        traced.push(name.into_iter().collect());
        outcomes.push(outcome);
        logs.push(log);
    }
    let linked: Vec<Linked> = logs
        .iter()
        .zip(&outcomes)
        .map(|(log, outcome)| link(log, std::slice::from_ref(outcome)).remove(0))
        .collect();
    let score = |names: &[BTreeSet<PeerId>]| score_requests(names, &linked, &outcomes);
    RequestScores {
        naive: score(&naive_guesses(&linked, adversary, max_htl)),
        literal: score(&literal_guesses(&linked, adversary, max_htl)),
        first_spy: score(&first_spy_guesses(&linked, adversary)),
        traceback: probed.then(|| score(&traced)),
        stats: RequestStats::of(&outcomes),
    }
}

/// Inserts `file`'s blocks from its publisher, all at once, as client
/// operation `operation`, and adds to `files` the inserter attacker's and
/// the first spy's name for each block, and whether a block reached the
/// coalition straight from the publisher. With `pristine`, every node the
/// inserts touched is then put back as it is there.
fn publish_file<P: Observable>(
    net: &mut Network<P>,
    pristine: Option<&Network<P>>,
    file: &Download,
    operation: u64,
    adversary: &[bool],
    max_htl: u8,
    files: &mut Files,
) {
    let load: Vec<u64> = (0..net.len() as u32).map(|i| net.load(PeerId(i))).collect();
    let puts = file.keys.iter().map(|&key| ClientOp::Put {
        key,
        data: (),
        htl: None,
        operation,
    });
    let outcomes = all_at_once(net, file.publisher, puts);
    let log = net.take_observed();
    let linked = link(&log, &outcomes);
    files.names.push(
        linked
            .iter()
            .map(|l| insert_name(l, adversary, max_htl))
            .collect(),
    );
    files.spies.push(
        linked
            .iter()
            .map(|l| first_spy_name(l, adversary))
            .collect(),
    );
    files
        .seen
        .push(linked.iter().any(|l| sent_by(l, file.publisher)));
    if let Some(pristine) = pristine {
        for (i, before) in load.iter().enumerate() {
            let id = PeerId(i as u32);
            if id == file.publisher || net.load(id) > *before {
                *net.node_mut(id) = pristine.node(id).clone();
            }
        }
    }
}

/// A random plan: `requests` requests by honest nodes for keys drawn from
/// `keys`, and `downloads` splitfiles of `blocks` fresh random keys, each
/// published and downloaded by two different honest nodes.
pub fn plan<R: Rng>(
    rng: &mut R,
    honest: &[PeerId],
    keys: &[VirtualKey],
    requests: usize,
    downloads: usize,
    blocks: usize,
) -> Plan {
    let requests = (0..requests)
        .map(|_| {
            let node = *honest.choose(rng).expect("honest nodes");
            let key = match keys.choose(rng) {
                Some(&k) => k,
                None => VirtualKey(rng.r#gen()),
            };
            (node, key)
        })
        .collect();
    let downloads = (0..downloads)
        .map(|_| {
            let two: Vec<PeerId> = honest.choose_multiple(rng, 2).copied().collect();
            Download {
                publisher: two[0],
                downloader: two[1],
                keys: (0..blocks).map(|_| VirtualKey(rng.r#gen())).collect(),
            }
        })
        .collect();
    Plan {
        requests,
        downloads,
    }
}
