//! Meek STV as the Proportional Representation Foundation's reference rule states it:
//! fixed-point arithmetic to 9 decimal places, omega = 10^-6.
//!
//! A. Hopeful candidates start with keep factor 1, withdrawn ones 0.
//! B.1 Stop when every seat is filled or elected + hopeful <= seats.
//! B.2 Iterate: (a) each ballot starts with weight 1 and gives each candidate in turn
//!     w x kf (to 9 places, rounded up), w being reduced by the same amount; (b) quota = total
//!     votes / (seats + 1), truncated to 9 places, plus 10^-9; (c) hopefuls with votes >= quota
//!     are elected; (d) total surplus s = sum over elected of (votes - quota), at least 0;
//!     (e) if someone was elected go to B.1; else if s < omega, or s did not fall since the
//!     previous iteration, go to B.3; (f) each elected candidate's kf becomes
//!     kf x quota (rounded up) / votes (rounded up), and iteration continues at (a).
//! B.3 Defeat the hopeful with fewest votes; every hopeful whose votes are at most that lowest
//!     vote plus s is tied with it, and ties are drawn by lot. Its kf becomes 0; go to B.1.
//! C. Remaining hopefuls are elected if seats remain, else defeated.
//!
//! A bundle of `u` identical ballots gives `u` times what one of them gives, so weights
//! multiply the per-ballot amounts computed by the rule. With decimal weights the vote totals
//! carry the weights' extra decimal places, and "9 places" applies to the quota and keep factors.

use crate::decimal::{Fixed, pow10};
use crate::engine::{Ctx, Outcome};
use crate::model::{CountError, Method};
use crate::prepare::{self, Groups, PACKED_MAX_CHOICES, PackedSums, SliceSums, pack};
use crate::result::{Decision, Round, TieBreak};

const KF_ONE: i128 = 1_000_000_000;
const KF_DECIMALS: u32 = 9;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Hopeful,
    Elected,
    Defeated,
    Withdrawn,
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 { q + 1 } else { q }
}

pub(crate) fn count(ctx: &Ctx) -> Result<Outcome, CountError> {
    let f = &ctx.frame;
    let seats = ctx.contest.seats;
    let ranked = prepare::ranked(f, ctx.ballots, Method::StvMeek)?;
    let names = &ctx.contest.choices;
    // Votes in units of 10^-(weight decimals + 9); one unit of the ninth place is `ninth`.
    let dec = f.decimals + KF_DECIMALS;
    let ninth = pow10(f.decimals);
    let fx = |raw: i128| Fixed::new(raw, dec);
    let omega = pow10(dec - 6);

    let mut state: Vec<State> = (0..f.n)
        .map(|c| {
            if f.active[c] {
                State::Hopeful
            } else {
                State::Withdrawn
            }
        })
        .collect();
    let mut kf: Vec<i128> = (0..f.n)
        .map(|c| if f.active[c] { KF_ONE } else { 0 })
        .collect();
    let mut elected: Vec<usize> = Vec::new();
    let mut rounds: Vec<Round> = Vec::new();
    let mut ties: Vec<TieBreak> = Vec::new();
    let mut first_quota = None;
    let mut prev_votes: Option<Vec<i128>> = None;
    let mut prev_exhausted = 0i128;
    let mut votes = vec![0i128; f.n];
    let mut quota = 0i128;
    let mut exhausted = 0i128;

    let distribute = |groups: &Groups, kf: &[i128], votes: &mut Vec<i128>| -> i128 {
        votes.iter_mut().for_each(|v| *v = 0);
        let mut exhausted = 0i128;
        for (order, units) in groups.iter() {
            let mut w = KF_ONE;
            for &c in order {
                let k = kf[usize::from(c)];
                if k == 0 {
                    continue;
                }
                let give = if k == KF_ONE {
                    w
                } else {
                    ceil_div(w * k, KF_ONE)
                };
                votes[usize::from(c)] += units * give;
                w -= give;
                if w == 0 {
                    break;
                }
            }
            exhausted += units * w;
        }
        exhausted
    };

    loop {
        let hopeful: Vec<usize> = (0..f.n).filter(|&c| state[c] == State::Hopeful).collect();
        if elected.len() == seats || elected.len() + hopeful.len() <= seats {
            // C. Finish.
            let number = rounds.len() + 1;
            let mut round = Round::new(number, "Count complete", f.n);
            for &c in &hopeful {
                if elected.len() < seats {
                    state[c] = State::Elected;
                    elected.push(c);
                    round.elected.push(Decision {
                        choice: c,
                        reason: "hopefuls no more than the seats left".into(),
                    });
                } else {
                    state[c] = State::Defeated;
                    round.excluded.push(Decision {
                        choice: c,
                        reason: "all seats filled".into(),
                    });
                }
            }
            if !round.elected.is_empty() || !round.excluded.is_empty() {
                fill(&mut round, &state, &votes, &kf, prev_votes.as_deref(), fx);
                round.quota = Some(fx(quota));
                round.exhausted = Some(fx(exhausted));
                rounds.push(round);
            }
            break;
        }
        let number = rounds.len() + 1;
        // What this stage's iterations read of each ranking.
        let groups = reached(&ranked.groups, &state);
        let mut iterations = 0usize;
        let mut prev_surplus: Option<i128> = None;
        let mut newly: Vec<usize>;
        let surplus;
        loop {
            iterations += 1;
            exhausted = distribute(&groups, &kf, &mut votes);
            let total: i128 = votes.iter().sum();
            quota = (total / (seats as i128 + 1)) / ninth * ninth + ninth;
            first_quota.get_or_insert(quota);
            newly = (0..f.n)
                .filter(|&c| state[c] == State::Hopeful && votes[c] >= quota)
                .collect();
            newly.sort_by(|&a, &b| votes[b].cmp(&votes[a]).then(ctx.lot.cmp(a, b)));
            for &c in &newly {
                state[c] = State::Elected;
                elected.push(c);
            }
            let s: i128 = (0..f.n)
                .filter(|&c| state[c] == State::Elected)
                .map(|c| votes[c] - quota)
                .sum::<i128>()
                .max(0);
            if !newly.is_empty() {
                surplus = s;
                break;
            }
            if s < omega || prev_surplus.is_some_and(|p| s >= p) {
                surplus = s;
                break;
            }
            prev_surplus = Some(s);
            for c in 0..f.n {
                if state[c] == State::Elected {
                    let kq = ceil_div(kf[c] * quota, KF_ONE);
                    let kq = ceil_div(kq, ninth) * ninth;
                    kf[c] = ceil_div(kq * KF_ONE, votes[c]);
                }
            }
        }
        let mut round;
        if !newly.is_empty() {
            let label: Vec<&str> = newly.iter().map(|&c| names[c].name.as_str()).collect();
            round = Round::new(number, format!("Election of {}", label.join(", ")), f.n);
            for &c in &newly {
                round.elected.push(Decision {
                    choice: c,
                    reason: "votes reached the quota".into(),
                });
            }
        } else {
            let hopeful: Vec<usize> = (0..f.n).filter(|&c| state[c] == State::Hopeful).collect();
            let low = hopeful.iter().map(|&c| votes[c]).min().unwrap_or(0);
            let tied: Vec<usize> = hopeful
                .iter()
                .copied()
                .filter(|&c| votes[c] <= low + surplus)
                .collect();
            let c = if tied.len() > 1 {
                let c = ctx.lot.draw(&tied);
                ties.push(TieBreak {
                    round: number,
                    purpose: "defeat".into(),
                    tied,
                    chosen: c,
                    resolved_by: "lot".into(),
                });
                c
            } else {
                tied[0]
            };
            state[c] = State::Defeated;
            kf[c] = 0;
            round = Round::new(number, format!("Defeat of {}", names[c].name), f.n);
            let why = if ties.last().is_some_and(|t| t.round == number) {
                "fewest votes (within the total surplus of others), drawn by lot"
            } else {
                "fewest votes"
            };
            round.excluded.push(Decision {
                choice: c,
                reason: why.into(),
            });
        }
        fill(&mut round, &state, &votes, &kf, prev_votes.as_deref(), fx);
        round.quota = Some(fx(quota));
        round.surplus = Some(fx(surplus));
        round.iterations = Some(iterations);
        round.exhausted = Some(fx(exhausted));
        round.exhausted_change = Some(fx(exhausted - prev_exhausted));
        prev_exhausted = exhausted;
        prev_votes = Some(votes.clone());
        rounds.push(round);
    }
    Ok(Outcome {
        elected,
        ranking: None,
        rounds,
        ties,
        valid: f.fixed(ranked.total),
        blank: f.fixed(ranked.blank),
        quota: first_quota.map(fx),
    })
}

fn fill(
    round: &mut Round,
    state: &[State],
    votes: &[i128],
    kf: &[i128],
    prev: Option<&[i128]>,
    fx: impl Fn(i128) -> Fixed,
) {
    for c in 0..state.len() {
        if state[c] == State::Withdrawn {
            continue;
        }
        round.votes[c] = Some(fx(votes[c]));
        if let Some(p) = prev {
            round.transfers[c] = Some(fx(votes[c] - p[c]));
        }
        round.keep_factors[c] = Some(Fixed::new(kf[c], KF_DECIMALS));
    }
}

/// The part of each ranking that step B.2(a) reads while the candidates keep their states:
/// candidates with keep factor 0 give nothing and are skipped, and a hopeful candidate (keep
/// factor 1) takes all the weight left, so nothing after the first hopeful is read. Rankings
/// that agree on that part give the same amounts per ballot, so they are merged with their
/// weights added; a ranking with no one left is kept (empty) for its exhausted weight.
fn reached(groups: &Groups, state: &[State]) -> Groups {
    let skipped = |c: u16| matches!(state[usize::from(c)], State::Defeated | State::Withdrawn);
    let takes_all = |c: u16| state[usize::from(c)] == State::Hopeful;
    // Group weights are at most the total weight, below 2^63 (see `PackedSums`).
    if state.len() <= PACKED_MAX_CHOICES {
        let mut sums = PackedSums::new(groups.len());
        for (order, units) in groups.iter() {
            let mut key = 0;
            for &c in order.iter().filter(|&&c| !skipped(c)) {
                key = pack(key, c);
                if takes_all(c) {
                    break;
                }
            }
            sums.add(key, units as u64);
        }
        sums.into_groups()
    } else {
        let mut sums = SliceSums::new();
        let mut part = Vec::new();
        for (order, units) in groups.iter() {
            part.clear();
            for &c in order.iter().filter(|&&c| !skipped(c)) {
                part.push(c);
                if takes_all(c) {
                    break;
                }
            }
            sums.add(&part, units as u64);
        }
        sums.into_groups()
    }
}
