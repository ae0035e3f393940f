//! Checking a contest and its ballots, and reducing ballots to the exact integer quantities the
//! methods count: weights in units of the finest decimal place used, identical ballots merged.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::decimal::{Fixed, MAX_TOTAL_WEIGHT_UNITS};
use crate::model::{Ballot, BallotForm, Contest, CountError, Method};

/// Facts every method needs about the contest.
pub(crate) struct Frame {
    /// Number of choices.
    pub n: usize,
    /// Decimal places of weight units (the most any ballot's weight uses).
    pub decimals: u32,
    /// Not withdrawn.
    pub active: Vec<bool>,
}

impl Frame {
    pub(crate) fn fixed(&self, raw: i128) -> Fixed {
        Fixed::new(raw, self.decimals)
    }
    pub(crate) fn active_choices(&self) -> Vec<usize> {
        (0..self.n).filter(|&c| self.active[c]).collect()
    }
}

pub(crate) fn frame(contest: &Contest, ballots: &[Ballot]) -> Result<Frame, CountError> {
    let n = contest.choices.len();
    if n == 0 {
        return Err(CountError::InvalidContest("it has no choices".into()));
    }
    if n > usize::from(u16::MAX) {
        return Err(CountError::InvalidContest("it has too many choices".into()));
    }
    for (i, c) in contest.choices.iter().enumerate() {
        if c.name.trim().is_empty() {
            return Err(CountError::InvalidContest(format!(
                "choice {} has an empty name",
                i + 1
            )));
        }
        if contest.choices[..i].iter().any(|o| o.name == c.name) {
            return Err(CountError::InvalidContest(format!(
                "two choices are named '{}'",
                c.name
            )));
        }
    }
    let mut active = vec![true; n];
    for &w in &contest.withdrawn {
        if w >= n {
            return Err(CountError::InvalidContest(format!(
                "withdrawn choice {} does not exist",
                w + 1
            )));
        }
        active[w] = false;
    }
    let standing = active.iter().filter(|a| **a).count();
    if contest.seats == 0 {
        return Err(CountError::InvalidContest(
            "the number of seats must be at least 1".into(),
        ));
    }
    if contest.seats > standing {
        return Err(CountError::InvalidContest(format!(
            "{} seats but only {standing} choices standing",
            contest.seats
        )));
    }
    let decimals = ballots
        .iter()
        .map(|b| b.weight.decimals())
        .max()
        .unwrap_or(0);
    let mut total: i128 = 0;
    for b in ballots {
        total += b.weight.units(decimals);
        if total > MAX_TOTAL_WEIGHT_UNITS {
            return Err(CountError::InvalidContest(
                "the ballots' total weight is too large to count exactly".into(),
            ));
        }
    }
    Ok(Frame {
        n,
        decimals,
        active,
    })
}

/// Ranked ballots with withdrawn choices removed and identical rankings merged.
pub(crate) struct Ranked {
    /// (ranking, total weight units), sorted by ranking so every count visits them in one order.
    pub groups: Vec<(Vec<u16>, i128)>,
    pub total: i128,
    pub blank: i128,
}

/// FNV-1a: the merge map hashes a million short keys; SipHash's DoS resistance buys nothing
/// here (a count is not a long-lived service map) and costs a third of the time.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

fn bad(index: usize, reason: impl Into<String>) -> CountError {
    CountError::InvalidBallot {
        index,
        reason: reason.into(),
    }
}

fn check_choice(frame: &Frame, index: usize, c: usize) -> Result<(), CountError> {
    if c >= frame.n {
        return Err(bad(index, format!("choice {} does not exist", c + 1)));
    }
    Ok(())
}

/// Rankings for ranked methods. Sets of choices are refused; a duplicate choice is refused.
pub(crate) fn ranked(
    frame: &Frame,
    ballots: &[Ballot],
    method: Method,
) -> Result<Ranked, CountError> {
    let mut merged: FnvMap<Vec<u16>, i128> = FnvMap::default();
    let mut seen = vec![usize::MAX; frame.n];
    let mut scratch: Vec<u16> = Vec::new();
    let (mut total, mut blank) = (0i128, 0i128);
    for (index, b) in ballots.iter().enumerate() {
        let BallotForm::Ranking(order) = &b.form else {
            return Err(bad(index, format!("{method} needs a ranking")));
        };
        scratch.clear();
        for &c in order {
            check_choice(frame, index, c)?;
            if seen[c] == index {
                return Err(bad(
                    index,
                    format!("choice {} is ranked more than once", c + 1),
                ));
            }
            seen[c] = index;
            if frame.active[c] {
                scratch.push(c as u16);
            }
        }
        let units = b.weight.units(frame.decimals);
        if scratch.is_empty() {
            blank += units;
            continue;
        }
        total += units;
        match merged.get_mut(scratch.as_slice()) {
            Some(w) => *w += units,
            None => {
                merged.insert(scratch.clone(), units);
            }
        }
    }
    let mut groups: Vec<(Vec<u16>, i128)> = merged.into_iter().collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(Ranked {
        groups,
        total,
        blank,
    })
}

/// Sets of marked choices (plurality, block and approval voting), with their weight units.
/// A ranking contributes its first `take` choices still standing (all of them when `None`).
pub(crate) fn choice_sets(
    frame: &Frame,
    ballots: &[Ballot],
    method: Method,
    take: Option<usize>,
    max_marks: Option<usize>,
) -> Result<Vec<(Vec<usize>, i128)>, CountError> {
    let mut out = Vec::with_capacity(ballots.len());
    let mut seen = vec![usize::MAX; frame.n];
    for (index, b) in ballots.iter().enumerate() {
        let (list, ranked) = match &b.form {
            BallotForm::Choices(set) => (set, false),
            BallotForm::Ranking(order) => (order, true),
            BallotForm::Scores(_) => {
                return Err(bad(
                    index,
                    format!("{method} needs marked choices, not scores"),
                ));
            }
        };
        let mut set = Vec::new();
        for &c in list {
            check_choice(frame, index, c)?;
            if seen[c] == index {
                return Err(bad(
                    index,
                    format!("choice {} is marked more than once", c + 1),
                ));
            }
            seen[c] = index;
            if frame.active[c] {
                set.push(c);
            }
        }
        if ranked {
            if let Some(k) = take {
                set.truncate(k);
            }
        } else if let Some(max) = max_marks {
            if list.len() > max {
                return Err(bad(
                    index,
                    format!("{} choices marked, at most {max} allowed", list.len()),
                ));
            }
        }
        out.push((set, b.weight.units(frame.decimals)));
    }
    Ok(out)
}

/// Score ballots as a full score vector (unscored choices 0) with weight units.
pub(crate) fn scores(
    frame: &Frame,
    contest: &Contest,
    ballots: &[Ballot],
    method: Method,
) -> Result<Vec<(Vec<u32>, i128)>, CountError> {
    let mut out = Vec::with_capacity(ballots.len());
    for (index, b) in ballots.iter().enumerate() {
        let BallotForm::Scores(list) = &b.form else {
            return Err(bad(index, format!("{method} needs scores")));
        };
        let mut v = vec![0u32; frame.n];
        let mut scored = vec![false; frame.n];
        for &(c, s) in list {
            check_choice(frame, index, c)?;
            if scored[c] {
                return Err(bad(index, format!("choice {} is scored twice", c + 1)));
            }
            scored[c] = true;
            if s > contest.max_score {
                return Err(bad(
                    index,
                    format!(
                        "score {s} for choice {} is above the maximum {}",
                        c + 1,
                        contest.max_score
                    ),
                ));
            }
            if frame.active[c] {
                v[c] = s;
            }
        }
        out.push((v, b.weight.units(frame.decimals)));
    }
    Ok(out)
}
