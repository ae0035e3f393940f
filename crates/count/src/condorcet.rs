//! Condorcet methods on the pairwise matrix: Schulze, ranked pairs, Copeland.
//!
//! `d[a][b]` is the weight of ballots ranking `a` above `b`; a ranked choice is above every
//! unranked one, and unranked choices are level with each other.

use crate::decimal::Fixed;
use crate::engine::{Ctx, Outcome};
use crate::model::{CountError, Method};
use crate::prepare::{self, Ranked};
use crate::rank;
use crate::result::{Decision, Round, TieBreak};

pub(crate) fn pairwise(n: usize, ranked: &Ranked, active: &[bool]) -> Vec<Vec<i128>> {
    let mut d = vec![vec![0i128; n]; n];
    let mut pos = vec![usize::MAX; n];
    let standing: Vec<usize> = (0..n).filter(|&c| active[c]).collect();
    for (order, w) in ranked.groups.iter() {
        for (i, &c) in order.iter().enumerate() {
            pos[usize::from(c)] = i;
        }
        for (i, &a) in order.iter().enumerate() {
            let a = usize::from(a);
            let row = &mut d[a];
            for &b in &standing {
                if b != a && pos[b] > i {
                    row[b] += w;
                }
            }
        }
        for &c in order {
            pos[usize::from(c)] = usize::MAX;
        }
    }
    d
}

fn matrix(ctx: &Ctx, m: &[Vec<i128>]) -> Vec<Vec<Fixed>> {
    m.iter()
        .map(|row| row.iter().map(|&v| ctx.frame.fixed(v)).collect())
        .collect()
}

/// The ranked ballots, the pairwise matrix and the choices standing.
type Pairwise = (Ranked, Vec<Vec<i128>>, Vec<usize>);

fn prepare(ctx: &Ctx, method: Method) -> Result<Pairwise, CountError> {
    let ranked = prepare::ranked(&ctx.frame, ctx.ballots, method)?;
    let d = pairwise(ctx.frame.n, &ranked, &ctx.frame.active);
    Ok((ranked, d, ctx.frame.active_choices()))
}

/// Peels a strict partial order into a ranking: at each step the choices beaten by no remaining
/// choice go next; several at once are ordered by lot (recorded when it decides a seat).
fn peel(
    ctx: &Ctx,
    mut remaining: Vec<usize>,
    beats: impl Fn(usize, usize) -> bool,
    purpose: &str,
    ties: &mut Vec<TieBreak>,
) -> Vec<usize> {
    let seats = ctx.contest.seats;
    let mut ranking = Vec::new();
    while !remaining.is_empty() {
        let mut top: Vec<usize> = remaining
            .iter()
            .copied()
            .filter(|&a| !remaining.iter().any(|&b| b != a && beats(b, a)))
            .collect();
        if top.is_empty() {
            // Cannot happen for a strict partial order; stay total all the same.
            top = remaining.clone();
        }
        top.sort_by(|&a, &b| ctx.lot.cmp(a, b));
        if top.len() > 1 && ranking.len() < seats {
            for &c in top.iter().take(seats - ranking.len()) {
                ties.push(TieBreak {
                    round: 1,
                    purpose: purpose.into(),
                    tied: top.clone(),
                    chosen: c,
                    resolved_by: "lot".into(),
                });
            }
        }
        remaining.retain(|c| !top.contains(c));
        ranking.extend(top);
    }
    ranking
}

fn outcome(
    ctx: &Ctx,
    ranked: &Ranked,
    ranking: Vec<usize>,
    mut round: Round,
    ties: Vec<TieBreak>,
    reason: &str,
) -> Outcome {
    let seats = ctx.contest.seats;
    let elected: Vec<usize> = ranking[..seats].to_vec();
    for &c in &elected {
        let lot = ties.iter().any(|t| t.chosen == c && t.resolved_by == "lot");
        round.elected.push(Decision {
            choice: c,
            reason: if lot {
                format!("{reason}; tie drawn by lot")
            } else {
                reason.to_string()
            },
        });
    }
    Outcome {
        elected,
        ranking: Some(ranking),
        rounds: vec![round],
        ties,
        valid: ctx.frame.fixed(ranked.total),
        blank: ctx.frame.fixed(ranked.blank),
        quota: None,
    }
}

/// Schulze (winning votes): the link a->b has strength d[a][b] when d[a][b] > d[b][a]; a path's
/// strength is its weakest link; a beats b when the strongest path a->b is stronger than b->a.
pub(crate) fn schulze(ctx: &Ctx) -> Result<Outcome, CountError> {
    let (ranked, d, active) = prepare(ctx, Method::Schulze)?;
    let n = ctx.frame.n;
    let mut p = vec![vec![0i128; n]; n];
    for &a in &active {
        for &b in &active {
            if a != b && d[a][b] > d[b][a] {
                p[a][b] = d[a][b];
            }
        }
    }
    for &k in &active {
        for &a in &active {
            if a == k || p[a][k] == 0 {
                continue;
            }
            let pak = p[a][k];
            for &b in &active {
                if b != a && b != k {
                    let via = pak.min(p[k][b]);
                    if via > p[a][b] {
                        p[a][b] = via;
                    }
                }
            }
        }
    }
    let mut ties = Vec::new();
    let ranking = peel(ctx, active, |a, b| p[a][b] > p[b][a], "election", &mut ties);
    let mut round = Round::new(1, "Pairwise comparison and strongest paths", n);
    round.pairwise = Some(matrix(ctx, &d));
    round.strongest_paths = Some(matrix(ctx, &p));
    Ok(outcome(
        ctx,
        &ranked,
        ranking,
        round,
        ties,
        "no stronger path against it",
    ))
}

/// Ranked pairs (Tideman, winning votes): majorities are taken strongest first (larger
/// winning side, then smaller losing side, then by lot on winner and then loser) and locked
/// unless they would close a cycle; the ranking is the order of the locked graph.
pub(crate) fn ranked_pairs(ctx: &Ctx) -> Result<Outcome, CountError> {
    let (ranked, d, active) = prepare(ctx, Method::RankedPairs)?;
    let n = ctx.frame.n;
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for &a in &active {
        for &b in &active {
            if a != b && d[a][b] > d[b][a] {
                pairs.push((a, b));
            }
        }
    }
    pairs.sort_by(|&(a, b), &(x, y)| {
        d[x][y]
            .cmp(&d[a][b])
            .then(d[b][a].cmp(&d[y][x]))
            .then(ctx.lot.cmp(a, x))
            .then(ctx.lot.cmp(b, y))
    });
    let mut locked_adj = vec![vec![false; n]; n];
    let (mut locked, mut skipped) = (Vec::new(), Vec::new());
    for &(a, b) in &pairs {
        if reaches(&locked_adj, b, a) {
            skipped.push((a, b));
        } else {
            locked_adj[a][b] = true;
            locked.push((a, b));
        }
    }
    // Transitive closure of the locked graph gives the order.
    let mut closure = locked_adj.clone();
    for k in 0..n {
        for a in 0..n {
            if closure[a][k] {
                let via = closure[k].clone();
                for (reach, &through) in closure[a].iter_mut().zip(&via) {
                    *reach |= through;
                }
            }
        }
    }
    let mut ties = Vec::new();
    let ranking = peel(ctx, active, |a, b| closure[a][b], "election", &mut ties);
    let mut round = Round::new(1, "Pairwise comparison and locked pairs", n);
    round.pairwise = Some(matrix(ctx, &d));
    round.locked = locked;
    round.skipped = skipped;
    let equal_strength = pairs.windows(2).any(|w| {
        let ((a, b), (x, y)) = (w[0], w[1]);
        d[a][b] == d[x][y] && d[b][a] == d[y][x]
    });
    if equal_strength {
        round
            .notes
            .push("pairs of equal strength were taken in lot order".into());
    }
    Ok(outcome(
        ctx,
        &ranked,
        ranking,
        round,
        ties,
        "no locked pair against it",
    ))
}

fn reaches(adj: &[Vec<bool>], from: usize, to: usize) -> bool {
    let mut stack = vec![from];
    let mut seen = vec![false; adj.len()];
    while let Some(x) = stack.pop() {
        if x == to {
            return true;
        }
        if seen[x] {
            continue;
        }
        seen[x] = true;
        for (y, &e) in adj[x].iter().enumerate() {
            if e && !seen[y] {
                stack.push(y);
            }
        }
    }
    false
}

/// Copeland: one point for each pairwise win, half a point for each pairwise tie.
pub(crate) fn copeland(ctx: &Ctx) -> Result<Outcome, CountError> {
    let (ranked, d, active) = prepare(ctx, Method::Copeland)?;
    let n = ctx.frame.n;
    // Half points, so the score stays an integer.
    let mut halves = vec![0i128; n];
    for &a in &active {
        for &b in &active {
            if a != b {
                halves[a] += match d[a][b].cmp(&d[b][a]) {
                    std::cmp::Ordering::Greater => 2,
                    std::cmp::Ordering::Equal => 1,
                    std::cmp::Ordering::Less => 0,
                };
            }
        }
    }
    let mut ties = Vec::new();
    let ranking = rank::by_totals(&active, &halves, ctx.contest.seats, &ctx.lot, 1, &mut ties);
    let mut round = Round::new(1, "Pairwise comparison and Copeland scores", n);
    for &c in &active {
        round.votes[c] = Some(Fixed::new(halves[c] * 5, 1));
    }
    round.pairwise = Some(matrix(ctx, &d));
    round
        .notes
        .push("votes: Copeland score (1 per pairwise win, 0.5 per pairwise tie)".into());
    Ok(outcome(
        ctx,
        &ranked,
        ranking,
        round,
        ties,
        "highest Copeland score",
    ))
}
