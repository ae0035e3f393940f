//! Single-tally methods: plurality (block), approval, Borda, score, and STAR.

use crate::decimal::Fixed;
use crate::engine::{Ctx, Outcome};
use crate::model::{CountError, Method};
use crate::prepare;
use crate::rank;
use crate::result::{Decision, Round, TieBreak};

fn tally_outcome(
    ctx: &Ctx,
    totals: Vec<i128>,
    action: &str,
    unit: &str,
    valid: i128,
    blank: i128,
) -> Outcome {
    let f = &ctx.frame;
    let seats = ctx.contest.seats;
    let mut ties = Vec::new();
    let ranking = rank::by_totals(&f.active_choices(), &totals, seats, &ctx.lot, 1, &mut ties);
    let mut round = Round::new(1, action, f.n);
    for c in f.active_choices() {
        round.votes[c] = Some(f.fixed(totals[c]));
    }
    let elected: Vec<usize> = ranking[..seats].to_vec();
    for &c in &elected {
        let lot = ties.iter().any(|t| t.chosen == c);
        round.elected.push(Decision {
            choice: c,
            reason: if lot {
                format!("tied on {unit}; drawn by lot")
            } else {
                format!("among the {seats} highest {unit}")
            },
        });
    }
    Outcome {
        elected,
        ranking: Some(ranking),
        rounds: vec![round],
        ties,
        valid: f.fixed(valid),
        blank: f.fixed(blank),
        quota: None,
    }
}

pub(crate) fn plurality(ctx: &Ctx) -> Result<Outcome, CountError> {
    let seats = ctx.contest.seats;
    let max = ctx.contest.max_choices.unwrap_or(seats);
    let sets = prepare::choice_sets(
        &ctx.frame,
        ctx.ballots,
        Method::Plurality,
        Some(seats),
        Some(max),
    )?;
    let mut totals = vec![0i128; ctx.frame.n];
    let (mut valid, mut blank) = (0, 0);
    for (set, w) in &sets {
        if set.is_empty() {
            blank += w;
            continue;
        }
        valid += w;
        for &c in set {
            totals[c] += w;
        }
    }
    let action = if seats == 1 {
        "Votes (first preferences)"
    } else {
        "Votes (block voting)"
    };
    Ok(tally_outcome(ctx, totals, action, "votes", valid, blank))
}

pub(crate) fn approval(ctx: &Ctx) -> Result<Outcome, CountError> {
    let sets = prepare::choice_sets(&ctx.frame, ctx.ballots, Method::Approval, None, None)?;
    let mut totals = vec![0i128; ctx.frame.n];
    let (mut valid, mut blank) = (0, 0);
    for (set, w) in &sets {
        if set.is_empty() {
            blank += w;
            continue;
        }
        valid += w;
        for &c in set {
            totals[c] += w;
        }
    }
    Ok(tally_outcome(
        ctx,
        totals,
        "Approvals",
        "approvals",
        valid,
        blank,
    ))
}

pub(crate) fn borda(ctx: &Ctx) -> Result<Outcome, CountError> {
    let ranked = prepare::ranked(&ctx.frame, ctx.ballots, Method::Borda)?;
    let standing = ctx.frame.active_choices().len() as i128;
    let mut totals = vec![0i128; ctx.frame.n];
    for (order, w) in ranked.groups.iter() {
        for (pos, &c) in order.iter().enumerate() {
            totals[usize::from(c)] += w * (standing - 1 - pos as i128);
        }
    }
    let mut out = tally_outcome(
        ctx,
        totals,
        "Borda points",
        "points",
        ranked.total,
        ranked.blank,
    );
    out.rounds[0].notes.push(format!(
        "a choice ranked k-th scores {} - k points; unranked choices score 0",
        standing
    ));
    Ok(out)
}

pub(crate) fn score(ctx: &Ctx) -> Result<Outcome, CountError> {
    let ballots = prepare::scores(&ctx.frame, ctx.contest, ctx.ballots, Method::Score)?;
    let mut totals = vec![0i128; ctx.frame.n];
    let mut valid = 0;
    for (v, w) in &ballots {
        valid += w;
        for (c, &s) in v.iter().enumerate() {
            totals[c] += w * i128::from(s);
        }
    }
    Ok(tally_outcome(
        ctx,
        totals,
        "Total scores",
        "total scores",
        valid,
        0,
    ))
}

/// STAR: the two highest total scores go to an automatic runoff won by the finalist scored
/// higher on more (weighted) ballots. Ties in the scoring round are broken by head-to-head
/// preference among the tied, then by lot; a tied runoff goes to the higher total score, then lot
/// (the tie rules of the Equal Vote Coalition's official STAR rules, lot standing in for their
/// random draw).
pub(crate) fn star(ctx: &Ctx) -> Result<Outcome, CountError> {
    let f = &ctx.frame;
    if ctx.contest.seats != 1 {
        return Err(CountError::Unsupported(
            "star elects one choice; use score for several seats".into(),
        ));
    }
    let ballots = prepare::scores(f, ctx.contest, ctx.ballots, Method::Star)?;
    let active = f.active_choices();
    let mut totals = vec![0i128; f.n];
    let mut valid = 0;
    for (v, w) in &ballots {
        valid += w;
        for (c, &s) in v.iter().enumerate() {
            totals[c] += w * i128::from(s);
        }
    }
    let prefer = |a: usize, b: usize| -> i128 {
        ballots
            .iter()
            .filter(|(v, _)| v[a] > v[b])
            .map(|(_, w)| *w)
            .sum()
    };
    let mut ties: Vec<TieBreak> = Vec::new();
    // Scoring round: order by total; within a group of equal totals, by head-to-head wins
    // inside the group, then lot.
    let mut order = active.clone();
    order.sort_by(|&a, &b| totals[b].cmp(&totals[a]).then(ctx.lot.cmp(a, b)));
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && totals[order[j]] == totals[order[i]] {
            j += 1;
        }
        if j - i > 1 && i < 2 {
            let group: Vec<usize> = order[i..j].to_vec();
            let wins = |a: usize| {
                group
                    .iter()
                    .filter(|&&b| b != a && prefer(a, b) > prefer(b, a))
                    .count()
            };
            order[i..j].sort_by(|&a, &b| wins(b).cmp(&wins(a)).then(ctx.lot.cmp(a, b)));
            if j > 2 {
                for (k, &c) in order[i..j].iter().enumerate() {
                    if i + k < 2 {
                        let same = group.iter().filter(|&&o| wins(o) == wins(c)).count() > 1;
                        ties.push(TieBreak {
                            round: 1,
                            purpose: "place in the runoff".into(),
                            tied: group.clone(),
                            chosen: c,
                            resolved_by: if same {
                                "lot".into()
                            } else {
                                "head-to-head preference".into()
                            },
                        });
                    }
                }
            }
        }
        i = j;
    }
    let mut scoring = Round::new(1, "Scoring round: total scores", f.n);
    for &c in &active {
        scoring.votes[c] = Some(f.fixed(totals[c]));
    }
    if order.len() == 1 {
        scoring.elected.push(Decision {
            choice: order[0],
            reason: "only choice standing".into(),
        });
        return Ok(Outcome {
            elected: vec![order[0]],
            ranking: Some(order),
            rounds: vec![scoring],
            ties,
            valid: f.fixed(valid),
            blank: Fixed::zero(f.decimals),
            quota: None,
        });
    }
    let (a, b) = (order[0], order[1]);
    scoring.notes.push(format!(
        "finalists: {} and {}",
        ctx.contest.choices[a].name, ctx.contest.choices[b].name
    ));
    let (pa, pb) = (prefer(a, b), prefer(b, a));
    let mut runoff = Round::new(2, "Automatic runoff between the two highest scores", f.n);
    runoff.votes[a] = Some(f.fixed(pa));
    runoff.votes[b] = Some(f.fixed(pb));
    runoff.exhausted = Some(f.fixed(valid - pa - pb));
    runoff.notes.push(
        "votes: weight of ballots scoring the finalist above the other; no preference: equal scores"
            .into(),
    );
    let (winner, reason) = if pa != pb {
        (
            if pa > pb { a } else { b },
            "preferred on more ballots in the runoff".to_string(),
        )
    } else if totals[a] != totals[b] {
        let w = if totals[a] > totals[b] { a } else { b };
        ties.push(TieBreak {
            round: 2,
            purpose: "runoff".into(),
            tied: vec![a, b],
            chosen: w,
            resolved_by: "higher total score".into(),
        });
        (w, "runoff tied; higher total score".to_string())
    } else {
        let w = ctx.lot.draw(&[a, b]);
        ties.push(TieBreak {
            round: 2,
            purpose: "runoff".into(),
            tied: vec![a, b],
            chosen: w,
            resolved_by: "lot".into(),
        });
        (w, "runoff and totals tied; drawn by lot".to_string())
    };
    runoff.elected.push(Decision {
        choice: winner,
        reason,
    });
    let loser = if winner == a { b } else { a };
    let mut ranking = vec![winner, loser];
    ranking.extend(order[2..].iter().copied());
    Ok(Outcome {
        elected: vec![winner],
        ranking: Some(ranking),
        rounds: vec![scoring, runoff],
        ties,
        valid: f.fixed(valid),
        blank: Fixed::zero(f.decimals),
        quota: None,
    })
}
