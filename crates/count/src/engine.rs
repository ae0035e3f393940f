//! The typed entry point: one contest, its ballots, a method and a seed in; a result out.

use crate::decimal::Fixed;
use crate::lot::{DEFAULT_SEED, Lot};
use crate::model::{Ballot, Contest, CountError, Method};
use crate::prepare::{self, Frame};
use crate::result::{CountResult, Round, TieBreak};
use crate::{condorcet, irv, meek, scottish, simple};

pub(crate) struct Ctx<'a> {
    pub contest: &'a Contest,
    pub ballots: &'a [Ballot],
    pub frame: Frame,
    pub lot: Lot,
}

pub(crate) struct Outcome {
    pub elected: Vec<usize>,
    pub ranking: Option<Vec<usize>>,
    pub rounds: Vec<Round>,
    pub ties: Vec<TieBreak>,
    pub valid: Fixed,
    pub blank: Fixed,
    pub quota: Option<Fixed>,
}

/// Counts `ballots` for `contest` by `method`. Lots, where a rule needs them, are drawn from
/// `seed` (see [`crate::lot`]); [`DEFAULT_SEED`] when none is given. Choices are identified
/// by index into `contest.choices` throughout.
pub fn count(
    contest: &Contest,
    ballots: &[Ballot],
    method: Method,
    seed: Option<&str>,
) -> Result<CountResult, CountError> {
    let seed = seed.unwrap_or(DEFAULT_SEED);
    let frame = prepare::frame(contest, ballots)?;
    let ctx = Ctx {
        contest,
        ballots,
        frame,
        lot: Lot::new(seed, &contest.choices),
    };
    let out = match method {
        Method::Plurality => simple::plurality(&ctx)?,
        Method::Approval => simple::approval(&ctx)?,
        Method::Borda => simple::borda(&ctx)?,
        Method::Score => simple::score(&ctx)?,
        Method::Star => simple::star(&ctx)?,
        Method::Irv => irv::irv(&ctx)?,
        Method::StvScottish => scottish::count(&ctx)?,
        Method::StvMeek => meek::count(&ctx)?,
        Method::Schulze => condorcet::schulze(&ctx)?,
        Method::RankedPairs => condorcet::ranked_pairs(&ctx)?,
        Method::Copeland => condorcet::copeland(&ctx)?,
    };
    Ok(CountResult {
        method,
        title: contest.title.clone(),
        seats: contest.seats,
        choices: contest.choices.clone(),
        withdrawn: contest.withdrawn.clone(),
        seed: seed.to_string(),
        valid_votes: out.valid,
        blank_votes: out.blank,
        quota: out.quota,
        elected: out.elected,
        ranking: out.ranking,
        rounds: out.rounds,
        ties: out.ties,
    })
}

/// Checks one ballot the way [`count`] will, so a service can refuse it when it is cast (for
/// example a choice ranked twice, a score out of range, an unknown choice, too many marks).
/// The error's message names the fault; its ballot index is 0.
pub fn check_ballot(contest: &Contest, method: Method, ballot: &Ballot) -> Result<(), CountError> {
    let one = std::slice::from_ref(ballot);
    let frame = prepare::frame(contest, one)?;
    match method {
        Method::Plurality => {
            let max = contest.max_choices.unwrap_or(contest.seats);
            prepare::choice_sets(&frame, one, method, Some(contest.seats), Some(max)).map(drop)
        }
        Method::Approval => prepare::choice_sets(&frame, one, method, None, None).map(drop),
        Method::Score | Method::Star => prepare::scores(&frame, contest, one, method).map(drop),
        _ => prepare::ranked(&frame, one, method).map(drop),
    }
}
