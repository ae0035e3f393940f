//! Scottish STV: The Scottish Local Government Elections Order 2007 (SSI 2007/42), Schedule 1,
//! rules 45 to 52, with identical ballot papers counted together.
//!
//! - Rule 46: quota = (valid papers / (seats + 1)) + 1, any fraction disregarded.
//! - Rule 47: a candidate whose votes equal or exceed the quota at the end of a stage is elected.
//! - Rule 48: a surplus is transferred from *all* the papers the candidate holds, each at
//!   transfer value = surplus x (value of the paper when received) / (candidate's votes),
//!   calculated to five decimal places, any remainder ignored; papers with no further
//!   preference are non-transferable.
//! - Rule 49: the largest surplus goes first; equal surpluses by the most recent earlier stage
//!   at which the candidates' votes differed (highest first), else by lot.
//! - Rule 50/51: with no surplus to transfer, the continuing candidate with fewest votes is
//!   excluded and all their papers pass on at the value they were received; ties by the most
//!   recent earlier stage at which the votes differed (lowest excluded), else by lot.
//! - Rule 52: when the continuing candidates are as many as the vacancies left, they are elected.

use crate::decimal::{Fixed, pow10};
use crate::engine::{Ctx, Outcome};
use crate::irv::break_by_history;
use crate::model::{CountError, Method};
use crate::prepare;
use crate::result::{Decision, Round, TieBreak};

/// Transfer values carry five decimal places (rule 48(3)).
const TV_DECIMALS: u32 = 5;
const TV_ONE: i128 = 100_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Continuing,
    Elected,
    Excluded,
    Withdrawn,
}

/// A bundle of identical ballot papers held by a candidate: which ranking, the position of
/// the preference it now counts for, and its value (in 10^-5).
#[derive(Clone, Copy)]
struct Paper {
    group: u32,
    pos: u16,
    value: u32,
}

pub(crate) fn count(ctx: &Ctx) -> Result<Outcome, CountError> {
    let f = &ctx.frame;
    let seats = ctx.contest.seats;
    let ranked = prepare::ranked(f, ctx.ballots, Method::StvScottish)?;
    let groups = &ranked.groups;
    let names = &ctx.contest.choices;
    // Votes are kept in units of 10^-(weight decimals + 5).
    let dec = f.decimals + TV_DECIMALS;
    let fx = |raw: i128| Fixed::new(raw, dec);
    let whole = pow10(dec);
    let quota = (ranked.total / (pow10(f.decimals) * (seats as i128 + 1)) + 1) * whole;

    let mut state: Vec<State> = (0..f.n)
        .map(|c| {
            if f.active[c] {
                State::Continuing
            } else {
                State::Withdrawn
            }
        })
        .collect();
    let mut piles: Vec<Vec<Paper>> = vec![Vec::new(); f.n];
    let mut votes = vec![0i128; f.n];
    for (g, (order, w)) in groups.iter().enumerate() {
        let c = usize::from(order[0]);
        piles[c].push(Paper {
            group: g as u32,
            pos: 0,
            value: TV_ONE as u32,
        });
        votes[c] += w * TV_ONE;
    }
    let mut exhausted = 0i128;
    let mut loss = 0i128;
    let mut elected: Vec<usize> = Vec::new();
    let mut pending: Vec<usize> = Vec::new();
    let mut history: Vec<Vec<i128>> = Vec::new();
    let mut rounds: Vec<Round> = Vec::new();
    let mut ties: Vec<TieBreak> = Vec::new();

    let mut round = Round::new(1, "First preferences", f.n);
    round.quota = Some(fx(quota));
    let mut prev_votes = vec![0i128; f.n];
    let mut prev_exhausted = 0i128;

    loop {
        let number = rounds.len() + 1;
        // Rule 47: everyone at or above the quota is elected, highest first.
        let mut reached: Vec<usize> = (0..f.n)
            .filter(|&c| state[c] == State::Continuing && votes[c] >= quota)
            .collect();
        reached.sort_by(|&a, &b| votes[b].cmp(&votes[a]).then(ctx.lot.cmp(a, b)));
        let mut i = 0;
        while i < reached.len() {
            let mut j = i + 1;
            while j < reached.len() && votes[reached[j]] == votes[reached[i]] {
                j += 1;
            }
            if j - i > 1 {
                // Equal votes: order of election by earlier stages, then lot.
                let mut group: Vec<usize> = reached[i..j].to_vec();
                let mut ordered = Vec::new();
                while group.len() > 1 {
                    let (c, how) = break_by_history(&group, &history, false, &ctx.lot);
                    ties.push(TieBreak {
                        round: number,
                        purpose: "order of election".into(),
                        tied: group.clone(),
                        chosen: c,
                        resolved_by: how,
                    });
                    ordered.push(c);
                    group.retain(|&o| o != c);
                }
                ordered.extend(group);
                reached[i..j].copy_from_slice(&ordered);
            }
            i = j;
        }
        for &c in &reached {
            if elected.len() == seats {
                break;
            }
            state[c] = State::Elected;
            elected.push(c);
            pending.push(c);
            round.elected.push(Decision {
                choice: c,
                reason: "reached the quota (rule 47)".into(),
            });
        }
        let continuing: Vec<usize> = (0..f.n)
            .filter(|&c| state[c] == State::Continuing)
            .collect();
        if elected.len() < seats && continuing.len() <= seats - elected.len() {
            for &c in &continuing {
                state[c] = State::Elected;
                elected.push(c);
                round.elected.push(Decision {
                    choice: c,
                    reason: "continuing candidates no more than the vacancies left (rule 52)"
                        .into(),
                });
            }
        }
        // Close the stage.
        for c in 0..f.n {
            if state[c] != State::Withdrawn {
                round.votes[c] = Some(fx(votes[c]));
                if number > 1 {
                    round.transfers[c] = Some(fx(votes[c] - prev_votes[c]));
                }
            }
        }
        round.exhausted = Some(fx(exhausted));
        round.exhausted_change = Some(fx(exhausted - prev_exhausted));
        round.loss_of_fractions = Some(fx(loss));
        rounds.push(round);
        history.push(votes.clone());
        prev_votes.clone_from(&votes);
        prev_exhausted = exhausted;
        if elected.len() == seats {
            break;
        }

        // Next stage: a surplus if there is one (rule 49), else an exclusion (rule 50).
        let number = rounds.len() + 1;
        pending.retain(|&c| votes[c] > quota);
        if !pending.is_empty() {
            let top = pending.iter().map(|&c| votes[c]).max().unwrap_or(0);
            let tied: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|&c| votes[c] == top)
                .collect();
            let c = if tied.len() > 1 {
                let (c, how) =
                    break_by_history(&tied, &history[..history.len() - 1], false, &ctx.lot);
                ties.push(TieBreak {
                    round: number,
                    purpose: "order of surplus transfer".into(),
                    tied,
                    chosen: c,
                    resolved_by: how,
                });
                c
            } else {
                tied[0]
            };
            pending.retain(|&o| o != c);
            round = Round::new(
                number,
                format!("Transfer of surplus of {}", names[c].name),
                f.n,
            );
            let surplus = votes[c] - quota;
            let total = votes[c];
            round.surplus = Some(fx(surplus));
            let papers = std::mem::take(&mut piles[c]);
            // (value received, transfer value) for each value among the papers.
            let mut values: Vec<(u32, i128)> = Vec::new();
            let mut moved = 0i128;
            for p in papers {
                let tv = match values.iter().find(|&&(v, _)| v == p.value) {
                    Some(&(_, tv)) => tv,
                    None => {
                        let tv = surplus * i128::from(p.value) / total;
                        values.push((p.value, tv));
                        tv
                    }
                };
                let g = p.group as usize;
                let (order, w) = (groups.order(g), groups.weight(g));
                let next = order[usize::from(p.pos) + 1..]
                    .iter()
                    .position(|&d| state[usize::from(d)] == State::Continuing)
                    .map(|k| usize::from(p.pos) + 1 + k);
                let amount = w * tv;
                moved += amount;
                match next {
                    Some(pos) => {
                        let d = usize::from(order[pos]);
                        piles[d].push(Paper {
                            group: p.group,
                            pos: pos as u16,
                            value: tv as u32,
                        });
                        votes[d] += amount;
                    }
                    None => exhausted += amount,
                }
            }
            loss += surplus - moved;
            votes[c] = quota;
            values.sort_unstable_by_key(|v| std::cmp::Reverse(v.0));
            for (v, tv) in values {
                round.notes.push(format!(
                    "papers received at {} transferred at {} = {} x {} / {}, truncated to 5 places",
                    Fixed::new(i128::from(v), TV_DECIMALS),
                    Fixed::new(tv, TV_DECIMALS),
                    fx(surplus),
                    Fixed::new(i128::from(v), TV_DECIMALS),
                    fx(total)
                ));
            }
        } else {
            let continuing: Vec<usize> = (0..f.n)
                .filter(|&c| state[c] == State::Continuing)
                .collect();
            let low = continuing.iter().map(|&c| votes[c]).min().unwrap_or(0);
            let tied: Vec<usize> = continuing
                .iter()
                .copied()
                .filter(|&c| votes[c] == low)
                .collect();
            let (c, how) = if tied.len() > 1 {
                let (c, how) =
                    break_by_history(&tied, &history[..history.len() - 1], true, &ctx.lot);
                ties.push(TieBreak {
                    round: number,
                    purpose: "exclusion".into(),
                    tied,
                    chosen: c,
                    resolved_by: how.clone(),
                });
                (c, format!("fewest votes, tie broken by {how} (rule 51)"))
            } else {
                (tied[0], "fewest votes (rule 50)".to_string())
            };
            state[c] = State::Excluded;
            round = Round::new(number, format!("Exclusion of {}", names[c].name), f.n);
            round.excluded.push(Decision {
                choice: c,
                reason: how,
            });
            for p in std::mem::take(&mut piles[c]) {
                let g = p.group as usize;
                let (order, w) = (groups.order(g), groups.weight(g));
                let next = order[usize::from(p.pos) + 1..]
                    .iter()
                    .position(|&d| state[usize::from(d)] == State::Continuing)
                    .map(|k| usize::from(p.pos) + 1 + k);
                let amount = w * i128::from(p.value);
                match next {
                    Some(pos) => {
                        let d = usize::from(order[pos]);
                        piles[d].push(Paper {
                            pos: pos as u16,
                            ..p
                        });
                        votes[d] += amount;
                    }
                    None => exhausted += amount,
                }
            }
            votes[c] = 0;
        }
        round.quota = Some(fx(quota));
    }

    Ok(Outcome {
        elected,
        ranking: None,
        rounds,
        ties,
        valid: f.fixed(ranked.total),
        blank: f.fixed(ranked.blank),
        quota: Some(fx(quota)),
    })
}
