//! Instant-runoff voting, and the backward tie-break shared with Scottish STV.

use crate::engine::{Ctx, Outcome};
use crate::lot::Lot;
use crate::model::{CountError, Method};
use crate::prepare;
use crate::result::{Decision, Round, TieBreak};

/// Breaks a tie among `tied` by looking back through `history` (votes at the end of each
/// earlier stage, oldest first): at the most recent stage where the tied choices had unequal
/// votes, only those with the lowest (`lowest`) or highest votes stay tied; this repeats further
/// back until one is left. If they were level at every stage, lot decides.
pub(crate) fn break_by_history(
    tied: &[usize],
    history: &[Vec<i128>],
    lowest: bool,
    lot: &Lot,
) -> (usize, String) {
    let mut set = tied.to_vec();
    for (stage, votes) in history.iter().enumerate().rev() {
        let pick = if lowest {
            set.iter().map(|&c| votes[c]).min()
        } else {
            set.iter().map(|&c| votes[c]).max()
        };
        let Some(pick) = pick else { break };
        if set.iter().any(|&c| votes[c] != pick) {
            set.retain(|&c| votes[c] == pick);
            if set.len() == 1 {
                return (set[0], format!("earlier stage {}", stage + 1));
            }
        }
    }
    (lot.draw(&set), "lot".into())
}

pub(crate) fn irv(ctx: &Ctx) -> Result<Outcome, CountError> {
    let f = &ctx.frame;
    if ctx.contest.seats != 1 {
        return Err(CountError::Unsupported(
            "irv elects one choice; use stv-scottish or stv-meek for several seats".into(),
        ));
    }
    let ranked = prepare::ranked(f, ctx.ballots, Method::Irv)?;
    let mut continuing = f.active.clone();
    let mut history: Vec<Vec<i128>> = Vec::new();
    let mut rounds = Vec::new();
    let mut ties = Vec::new();
    let mut excluded_order = Vec::new();
    let names = &ctx.contest.choices;
    let mut action = "First preferences".to_string();
    loop {
        let number = rounds.len() + 1;
        let mut votes = vec![0i128; f.n];
        for (order, w) in ranked.groups.iter() {
            if let Some(&c) = order.iter().find(|&&c| continuing[usize::from(c)]) {
                votes[usize::from(c)] += w;
            }
        }
        let counted: i128 = votes.iter().sum();
        let mut round = Round::new(number, action.clone(), f.n);
        for c in 0..f.n {
            if continuing[c] {
                round.votes[c] = Some(f.fixed(votes[c]));
                if let Some(prev) = history.last() {
                    round.transfers[c] = Some(f.fixed(votes[c] - prev[c]));
                }
            }
        }
        let exhausted = ranked.total - counted;
        round.exhausted = Some(f.fixed(exhausted));
        if let Some(prev) = history.last() {
            let prev_counted: i128 = prev.iter().sum();
            round.exhausted_change = Some(f.fixed(prev_counted - counted));
        }
        let standing: Vec<usize> = (0..f.n).filter(|&c| continuing[c]).collect();
        let leader = standing.iter().copied().find(|&c| votes[c] * 2 > counted);
        if let Some(c) = leader.or(if standing.len() == 1 {
            Some(standing[0])
        } else {
            None
        }) {
            round.elected.push(Decision {
                choice: c,
                reason: if standing.len() == 1 {
                    "last choice standing".into()
                } else {
                    "more than half of the votes still counting".into()
                },
            });
            rounds.push(round);
            // Order of finish: the winner, the others still standing by their final votes,
            // then the excluded, last excluded first.
            let mut ranking = vec![c];
            let mut rest: Vec<usize> = standing.iter().copied().filter(|&o| o != c).collect();
            rest.sort_by(|&a, &b| votes[b].cmp(&votes[a]).then(ctx.lot.cmp(a, b)));
            ranking.extend(rest);
            ranking.extend(excluded_order.iter().rev());
            return Ok(Outcome {
                elected: vec![c],
                ranking: Some(ranking),
                rounds,
                ties,
                valid: f.fixed(ranked.total),
                blank: f.fixed(ranked.blank),
                quota: None,
            });
        }
        let low = standing.iter().map(|&c| votes[c]).min().unwrap_or(0);
        let tied: Vec<usize> = standing
            .iter()
            .copied()
            .filter(|&c| votes[c] == low)
            .collect();
        let (out, how) = if tied.len() == 1 {
            (tied[0], String::new())
        } else {
            let (c, how) = break_by_history(&tied, &history, true, &ctx.lot);
            ties.push(TieBreak {
                round: number,
                purpose: "exclusion".into(),
                tied: tied.clone(),
                chosen: c,
                resolved_by: how.clone(),
            });
            (c, how)
        };
        round.excluded.push(Decision {
            choice: out,
            reason: if how.is_empty() {
                "fewest votes".into()
            } else {
                format!("fewest votes, tie broken by {how}")
            },
        });
        rounds.push(round);
        continuing[out] = false;
        excluded_order.push(out);
        history.push(votes);
        action = format!("Exclusion of {}", names[out].name);
    }
}
