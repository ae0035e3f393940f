//! Checking a contest and its ballots, and reducing ballots to the exact integer quantities the
//! methods count: weights in units of the finest decimal place used, identical ballots merged.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::decimal::{Fixed, MAX_TOTAL_WEIGHT_UNITS, MAX_WEIGHT_DECIMALS, Weight};
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
    // One pass: the finest decimal place used, and the total in units of the ninth place (the
    // finest a weight may use), refused as soon as it exceeds the limit in the finest place any
    // weight could use.
    let limit_ninth = MAX_TOTAL_WEIGHT_UNITS as u128 * 1_000_000_000;
    let mut decimals = 0;
    let mut ninths: u128 = 0;
    for b in ballots {
        let (mantissa, places) = b.weight.parts();
        decimals = decimals.max(places);
        ninths += u128::from(mantissa) * u128::from(Weight::scale(MAX_WEIGHT_DECIMALS - places));
        if ninths > limit_ninth {
            break;
        }
    }
    // The total in units of the place used is exact: each weight is a whole number of them.
    if ninths
        > MAX_TOTAL_WEIGHT_UNITS as u128 * u128::from(Weight::scale(MAX_WEIGHT_DECIMALS - decimals))
    {
        return Err(CountError::InvalidContest(
            "the ballots' total weight is too large to count exactly".into(),
        ));
    }
    Ok(Frame {
        n,
        decimals,
        active,
    })
}

/// Ranked ballots with withdrawn choices removed and identical rankings merged.
pub(crate) struct Ranked {
    pub groups: Groups,
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

/// Distinct rankings and the weight units of the ballots bearing each, in flat arrays: ranking
/// `g` is `choices[start[g]..start[g + 1]]`. Their order carries no meaning (every method sums
/// over them) but depends only on the ballots, so a count always visits them in the same order.
#[derive(Clone, Default)]
pub(crate) struct Groups {
    choices: Vec<u16>,
    start: Vec<usize>,
    weight: Vec<u64>,
}

impl Groups {
    fn with_capacity(groups: usize) -> Groups {
        let mut start = Vec::with_capacity(groups + 1);
        start.push(0);
        Groups {
            choices: Vec::with_capacity(groups * 4),
            start,
            weight: Vec::with_capacity(groups),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.weight.len()
    }

    pub(crate) fn order(&self, g: usize) -> &[u16] {
        &self.choices[self.start[g]..self.start[g + 1]]
    }

    pub(crate) fn weight(&self, g: usize) -> i128 {
        i128::from(self.weight[g])
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u16], i128)> {
        (0..self.len()).map(|g| (self.order(g), self.weight(g)))
    }

    fn push(&mut self, order: &[u16], units: u64) {
        self.choices.extend_from_slice(order);
        self.start.push(self.choices.len());
        self.weight.push(units);
    }

    fn push_packed(&mut self, key: u64, units: u64) {
        let len = (64 - key.leading_zeros()).div_ceil(4);
        for i in (0..len).rev() {
            self.choices.push(((key >> (4 * i)) & 0xf) as u16 - 1);
        }
        self.start.push(self.choices.len());
        self.weight.push(units);
    }
}

/// Contests of at most this many choices have their rankings packed into one `u64`, four bits
/// a choice (its index + 1, first preference in the highest nibble used, 0 ending the ranking),
/// so merging compares and hashes one machine word per ballot.
pub(crate) const PACKED_MAX_CHOICES: usize = 15;

/// Appends choice `c` (below [`PACKED_MAX_CHOICES`]) to the packed ranking `key`.
#[inline]
pub(crate) fn pack(key: u64, c: u16) -> u64 {
    key << 4 | u64::from(c + 1)
}

/// Sums the weights of packed rankings. Keys below `direct.len()` (the short rankings, which
/// most ballots bear) are summed in a table indexed by the key; the others are collected and
/// merged at the end.
///
/// Weights are summed as `u64`: [`frame`] has refused ballots whose total weight exceeds
/// [`MAX_TOTAL_WEIGHT_UNITS`] (below `2^63`), so no sum of them overflows.
pub(crate) struct PackedSums {
    direct: Vec<u64>,
    rest: Vec<(u64, u64)>,
}

impl PackedSums {
    /// For about `items` additions: the direct table has at most 2^16 entries (rankings of up
    /// to four choices), fewer for small counts.
    pub(crate) fn new(items: usize) -> PackedSums {
        let bits = items.max(1).ilog2().clamp(4, 16);
        PackedSums {
            direct: vec![0; 1 << bits],
            rest: Vec::with_capacity(items),
        }
    }

    #[inline]
    pub(crate) fn add(&mut self, key: u64, units: u64) {
        match self.direct.get_mut(key as usize) {
            Some(w) => *w += units,
            None => self.rest.push((key, units)),
        }
    }

    pub(crate) fn into_groups(self) -> Groups {
        let table = merge_words(self.rest);
        let found = self.direct.iter().filter(|&&w| w != 0).count();
        let mut groups = Groups::with_capacity(found + table.len());
        for (key, &w) in self.direct.iter().enumerate() {
            if w != 0 {
                groups.push_packed(key as u64, w);
            }
        }
        for (key, w) in table {
            groups.push_packed(key, w);
        }
        groups
    }
}

/// Merges `(key, units)` pairs: sorted by key in place, equal keys' units added.
fn merge_words(mut items: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    items.sort_unstable_by_key(|&(key, _)| key);
    items.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            earlier.1 += later.1;
            true
        } else {
            false
        }
    });
    items
}

/// Sums the weights of rankings of any length, for contests too large to pack.
pub(crate) struct SliceSums {
    index: FnvMap<Vec<u16>, usize>,
    groups: Groups,
}

impl SliceSums {
    pub(crate) fn new() -> SliceSums {
        SliceSums {
            index: FnvMap::default(),
            groups: Groups::with_capacity(0),
        }
    }

    pub(crate) fn add(&mut self, order: &[u16], units: u64) {
        match self.index.get(order) {
            Some(&g) => self.groups.weight[g] += units,
            None => {
                self.index.insert(order.to_vec(), self.groups.len());
                self.groups.push(order, units);
            }
        }
    }

    pub(crate) fn into_groups(self) -> Groups {
        self.groups
    }
}

/// Rankings for ranked methods. Sets of choices are refused; a duplicate choice is refused.
pub(crate) fn ranked(
    frame: &Frame,
    ballots: &[Ballot],
    method: Method,
) -> Result<Ranked, CountError> {
    if frame.n <= PACKED_MAX_CHOICES {
        ranked_packed(frame, ballots, method)
    } else {
        ranked_slices(frame, ballots, method)
    }
}

fn needs_ranking(index: usize, method: Method) -> CountError {
    bad(index, format!("{method} needs a ranking"))
}

fn ranked_twice(index: usize, c: usize) -> CountError {
    bad(index, format!("choice {} is ranked more than once", c + 1))
}

/// [`ranked`] for contests of at most [`PACKED_MAX_CHOICES`] choices: sets of choices are
/// bit masks, rankings packed words.
fn ranked_packed(frame: &Frame, ballots: &[Ballot], method: Method) -> Result<Ranked, CountError> {
    let active = (0..frame.n)
        .filter(|&c| frame.active[c])
        .fold(0u32, |m, c| m | 1 << c);
    let mut sums = PackedSums::new(ballots.len());
    let (mut total, mut blank) = (0u64, 0u64);
    for (index, b) in ballots.iter().enumerate() {
        let BallotForm::Ranking(order) = &b.form else {
            return Err(needs_ranking(index, method));
        };
        let mut key = 0u64;
        let mut seen = 0u32;
        for &c in order {
            check_choice(frame, index, c)?;
            let bit = 1u32 << c;
            if seen & bit != 0 {
                return Err(ranked_twice(index, c));
            }
            seen |= bit;
            if active & bit != 0 {
                key = pack(key, c as u16);
            }
        }
        let units = b.weight.small_units(frame.decimals);
        if key == 0 {
            blank += units;
        } else {
            total += units;
            sums.add(key, units);
        }
    }
    Ok(Ranked {
        groups: sums.into_groups(),
        total: i128::from(total),
        blank: i128::from(blank),
    })
}

/// [`ranked`] for larger contests.
fn ranked_slices(frame: &Frame, ballots: &[Ballot], method: Method) -> Result<Ranked, CountError> {
    let mut sums = SliceSums::new();
    let mut seen = vec![usize::MAX; frame.n];
    let mut scratch: Vec<u16> = Vec::new();
    let (mut total, mut blank) = (0u64, 0u64);
    for (index, b) in ballots.iter().enumerate() {
        let BallotForm::Ranking(order) = &b.form else {
            return Err(needs_ranking(index, method));
        };
        scratch.clear();
        for &c in order {
            check_choice(frame, index, c)?;
            if seen[c] == index {
                return Err(ranked_twice(index, c));
            }
            seen[c] = index;
            if frame.active[c] {
                scratch.push(c as u16);
            }
        }
        let units = b.weight.small_units(frame.decimals);
        if scratch.is_empty() {
            blank += units;
        } else {
            total += units;
            sums.add(&scratch, units);
        }
    }
    Ok(Ranked {
        groups: sums.into_groups(),
        total: i128::from(total),
        blank: i128::from(blank),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::Weight;

    /// Each distinct ranking with its weight, in ranking order.
    fn sorted(groups: &Groups) -> Vec<(Vec<u16>, i128)> {
        let mut v: Vec<(Vec<u16>, i128)> = groups.iter().map(|(o, w)| (o.to_vec(), w)).collect();
        v.sort();
        v
    }

    /// Packed and unpacked merging agree, on short and long rankings and mixed decimal weights.
    #[test]
    fn packed_and_slice_merging_agree() {
        let mut x: u64 = 7;
        let mut next = |n: u64| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) % n
        };
        let n = 15;
        let mut contest =
            Contest::with_names(&(1..=n).map(|i| format!("c{i}")).collect::<Vec<_>>(), 2);
        contest.withdrawn = vec![4];
        let weights = ["1", "2", "0.5", "0.125"];
        let ballots: Vec<Ballot> = (0..20_000)
            .map(|_| {
                let mut left: Vec<usize> = (0..n).collect();
                let len = [0, 1, 1, 2, 3, 4, 5, 8, 15][next(9) as usize];
                let order = (0..len)
                    .map(|_| left.swap_remove(next(left.len() as u64) as usize))
                    .collect();
                let w = Weight::parse(weights[next(4) as usize]).unwrap();
                Ballot::weighted(w, BallotForm::Ranking(order))
            })
            .collect();
        let f = frame(&contest, &ballots).unwrap();
        let packed = ranked_packed(&f, &ballots, Method::StvMeek).unwrap();
        let slices = ranked_slices(&f, &ballots, Method::StvMeek).unwrap();
        assert_eq!(sorted(&packed.groups), sorted(&slices.groups));
        assert!(packed.groups.len() > 1000);
        assert_eq!(packed.total, slices.total);
        assert_eq!(packed.blank, slices.blank);
        let units: i128 = ballots.iter().map(|b| b.weight.units(f.decimals)).sum();
        assert_eq!(packed.total + packed.blank, units);
    }

    /// The total weight is refused above 10^18 units of the finest decimal place used.
    #[test]
    fn total_weight_is_bounded_in_the_finest_units() {
        let contest = Contest::with_names(&["a", "b"], 1);
        let ballot = |w: Weight| Ballot::weighted(w, BallotForm::Ranking(vec![0]));
        let count = |n: u64| ballot(Weight::from_count(n).unwrap());
        let half = ballot(Weight::parse("0.5").unwrap());
        let limit = 1_000_000_000_000_000_000;
        assert!(frame(&contest, &[count(limit)]).is_ok());
        assert!(frame(&contest, &[count(limit), count(1)]).is_err());
        assert!(frame(&contest, &[count(limit / 10), half.clone()]).is_err());
        assert!(frame(&contest, &[count(limit / 10 - 1), half.clone(), half]).is_ok());
        assert!(frame(&contest, &[count(u64::MAX), count(u64::MAX)]).is_err());
    }
}
