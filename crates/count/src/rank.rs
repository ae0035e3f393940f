//! Ordering choices by a total, with ties decided by lot, for the single-tally methods.

use crate::lot::Lot;
use crate::result::TieBreak;

/// Orders `choices` by `totals` (highest first). Equal totals are ordered by lot; every tie
/// that decides who gets one of the first `seats` places is recorded.
pub(crate) fn by_totals(
    choices: &[usize],
    totals: &[i128],
    seats: usize,
    lot: &Lot,
    round: usize,
    ties: &mut Vec<TieBreak>,
) -> Vec<usize> {
    let mut order = choices.to_vec();
    order.sort_by(|&a, &b| totals[b].cmp(&totals[a]).then(lot.cmp(a, b)));
    record_boundary_ties(&order, |c| totals[c], seats, round, "election", ties);
    order
}

/// Records, for each place among the first `seats` that was filled from a group of equal
/// values reaching past the boundary, a lot decision.
pub(crate) fn record_boundary_ties<K: PartialEq + Copy>(
    order: &[usize],
    key: impl Fn(usize) -> K,
    seats: usize,
    round: usize,
    purpose: &str,
    ties: &mut Vec<TieBreak>,
) {
    if seats == 0 || seats >= order.len() {
        return;
    }
    let boundary = key(order[seats - 1]);
    if key(order[seats]) != boundary {
        return;
    }
    let tied: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&c| key(c) == boundary)
        .collect();
    for &c in order[..seats].iter().filter(|&&c| key(c) == boundary) {
        ties.push(TieBreak {
            round,
            purpose: purpose.to_string(),
            tied: tied.clone(),
            chosen: c,
            resolved_by: "lot".into(),
        });
    }
}
