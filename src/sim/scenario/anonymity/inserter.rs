//! The inserter attacker: who published a file, from the source field,
//! HTL and timing of what the coalition sees of its inserts.
//!
//! For each block insert it takes the earliest message it saw (timing),
//! and names:
//!
//! - for a stem insert, which names no source and carries no HTL, its
//!   sender: it may be the publisher;
//! - for a routed Freenet offer, the node in its `source` field, unless
//!   that is a coalition member (which put itself there, so the field says
//!   nothing); then its sender if the offer came at max HTL. The source is
//!   a stronger clue than the sender: without a stem, every hop passes the
//!   publisher's name on, and each rewrites it only one time in ten;
//! - for a Chord insert, whose source field is always its sender, the
//!   sender if it came at max HTL.
//!
//! A file's name is the one most of its blocks point to (ties to the
//! lowest node id), scored against the file's true publisher.

use std::collections::BTreeMap;

use super::observe::{Linked, Sighting, earliest};
use super::score::Score;
use crate::routing::PeerId;

/// The name one block insert's linked log gives, if any.
pub fn insert_name(linked: &Linked, adversary: &[bool], max_htl: u8) -> Option<PeerId> {
    let (o, sighting) = earliest(linked)?;
    let member = |p: PeerId| adversary[p.0 as usize];
    if member(o.from) {
        return None;
    }
    match sighting {
        Sighting::StemInsert => Some(o.from),
        Sighting::InsertOffer { source, .. } if !member(source) => Some(source),
        Sighting::InsertOffer { htl, .. } | Sighting::Insert { htl } => {
            (htl >= max_htl).then_some(o.from)
        }
        Sighting::StemRequest | Sighting::Request { .. } => None,
    }
}

/// Each file's name: the one most of its blocks' names agree on (ties to
/// the lowest id); `None` if no block named anyone.
pub fn file_names(block_names: &[Vec<Option<PeerId>>]) -> Vec<Option<PeerId>> {
    block_names
        .iter()
        .map(|names| {
            let mut votes: BTreeMap<PeerId, usize> = BTreeMap::new();
            for name in names.iter().flatten() {
                *votes.entry(*name).or_default() += 1;
            }
            // Iterated in id order; a later id wins only with more votes.
            votes
                .into_iter()
                .fold(None, |best: Option<(PeerId, usize)>, (p, n)| match best {
                    Some((_, m)) if m >= n => best,
                    _ => Some((p, n)),
                })
                .map(|(p, _)| p)
        })
        .collect()
}

/// Scores file names against the true publishers (`publishers[i]`
/// published file `i`; `seen[i]`: a block of it reached the coalition
/// straight from its publisher).
pub fn score_files(names: &[Option<PeerId>], publishers: &[PeerId], seen: &[bool]) -> Score {
    let correct = names
        .iter()
        .zip(publishers)
        .filter(|(name, truth)| **name == Some(**truth))
        .count();
    Score {
        guesses: names.iter().flatten().count(),
        correct,
        targets: publishers.len(),
        detected: correct,
        seen: seen.iter().filter(|&&s| s).count(),
    }
}
