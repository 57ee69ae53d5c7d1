//! The naive attacker: "a request at the highest HTL comes from its
//! sender", read for a protocol with a stem.
//!
//! For each client request the coalition takes the *earliest* message it
//! saw of it (its logs linked across the stem and the routed phase, see
//! [`super::link`]) and names that message's sender if the message could
//! have come from the originator: a stem message, which carries no HTL and
//! is never decremented (the natural reading of "max HTL" for it), or a
//! routed request at max HTL. A sender that is an adversary is never
//! named: the coalition knows it only relays.
//!
//! The *literal* variant is the rule as the study applied it before the
//! stem: every routed request at max HTL names its sender, wherever on
//! the path it is seen. With a stem it names the stem's end, which sends
//! at max HTL and is never the originator.
//!
//! The *first-spy* variant is the naive attacker for a coalition that
//! knows the network runs a stem: only a stem message can come from the
//! originator, so only the earliest sighting's sender on the stem is
//! named (the attacker of Crowds, Reiter and Rubin 1998). It names fewer
//! and is right more often; it is what the stem must be judged by.

use std::collections::BTreeSet;

use super::observe::{Linked, Sighting, earliest, link};
use super::score::Score;
use crate::routing::{Msg, PeerId};
use crate::sim::content::VirtualContent;
use crate::sim::engine::{Observed, Outcome};

/// The naive name for one operation's linked log: the sender of its
/// earliest sighting, if that could have come from the originator.
pub fn naive_name(linked: &Linked, adversary: &[bool], max_htl: u8) -> Option<PeerId> {
    let (o, sighting) = earliest(linked)?;
    let could_be_origin = match sighting {
        Sighting::StemRequest | Sighting::StemInsert => true,
        Sighting::Request { htl }
        | Sighting::InsertOffer { htl, .. }
        | Sighting::Insert { htl } => htl >= max_htl,
    };
    (could_be_origin && !adversary[o.from.0 as usize]).then_some(o.from)
}

/// The first-spy name for one operation's linked log (Reiter and Rubin's
/// Crowds attacker, for a coalition that knows the network runs a stem):
/// the sender of its earliest sighting if that is a stem message, and
/// nobody otherwise (a routed message comes from a stem's end, never from
/// the originator).
pub fn first_spy_name(linked: &Linked, adversary: &[bool]) -> Option<PeerId> {
    let (o, sighting) = earliest(linked)?;
    let on_stem = matches!(sighting, Sighting::StemRequest | Sighting::StemInsert);
    (on_stem && !adversary[o.from.0 as usize]).then_some(o.from)
}

/// The first-spy names, one set (of at most one) per operation.
pub fn first_spy_guesses(linked: &[Linked], adversary: &[bool]) -> Vec<BTreeSet<PeerId>> {
    linked
        .iter()
        .map(|l| first_spy_name(l, adversary).into_iter().collect())
        .collect()
}

/// The naive attacker's names, one set (of at most one) per operation.
pub fn naive_guesses(linked: &[Linked], adversary: &[bool], max_htl: u8) -> Vec<BTreeSet<PeerId>> {
    linked
        .iter()
        .map(|l| naive_name(l, adversary, max_htl).into_iter().collect())
        .collect()
}

/// The literal variant's names per operation: the sender of every routed
/// request seen at max HTL, adversaries left out.
pub fn literal_guesses(
    linked: &[Linked],
    adversary: &[bool],
    max_htl: u8,
) -> Vec<BTreeSet<PeerId>> {
    linked
        .iter()
        .map(|l| {
            l.iter()
                .filter(|o| {
                    matches!(o.msg, Msg::Request { htl, .. } if htl >= max_htl)
                        && !adversary[o.from.0 as usize]
                })
                .map(|o| o.from)
                .collect()
        })
        .collect()
}

/// Scores names per request (`names[i]` for `outcomes[i]`, whose log is
/// `linked[i]`) against the requests' originators. A request answered by
/// its originator's own store sent nothing, so no observer could see it:
/// it is not a target.
pub fn score_requests(
    names: &[BTreeSet<PeerId>],
    linked: &[Linked],
    outcomes: &[Outcome<VirtualContent>],
) -> Score {
    let mut score = Score::default();
    for ((names, log), outcome) in names.iter().zip(linked).zip(outcomes) {
        if outcome.ids.is_empty() {
            continue;
        }
        let origin = PeerId(outcome.node);
        score.targets += 1;
        score.guesses += names.len();
        if names.contains(&origin) {
            score.correct += 1;
            score.detected += 1;
        }
        if log.iter().any(|o| Sighting::of(&o.msg).is_some()) {
            score.seen += 1;
        }
    }
    score
}

/// The naive attacker over a whole log: links `observed` to `outcomes`,
/// names, and scores. (`compare` uses it.)
pub fn score_naive(
    observed: &[Observed<VirtualContent>],
    outcomes: &[Outcome<VirtualContent>],
    adversary: &[bool],
    max_htl: u8,
) -> Score {
    let linked = link(observed, outcomes);
    let names = naive_guesses(&linked, adversary, max_htl);
    score_requests(&names, &linked, outcomes)
}
