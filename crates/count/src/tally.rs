//! What `securevote tally` calls: read a BLT or JSON ballots file, count it, and render the
//! result. Every failure is one line naming the file (and the line, where there is one); the
//! CLI prints it and exits with status 2.

use std::fmt;

use crate::blt;
use crate::engine::count;
use crate::json_ballots;
use crate::model::{Ballot, Contest, CountError, Method};
use crate::report::text_report;

/// Output format of [`tally`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Format::Json),
            "text" => Ok(Format::Text),
            _ => Err(format!("unknown format '{s}' (json or text)")),
        }
    }
}

/// Why a tally failed: a one-line message naming the file and, where known, the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TallyError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for TallyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for TallyError {}

/// A ballot file read into a contest: `lines[i]` is where ballot `i` came from.
pub struct Loaded {
    pub contest: Contest,
    pub ballots: Vec<Ballot>,
    pub lines: Vec<usize>,
}

/// Reads a ballot file: JSON when its first non-blank character is `{`, BLT otherwise.
pub fn load(file_name: &str, contents: &str) -> Result<Loaded, TallyError> {
    let fail = |line: usize, message: String| TallyError {
        file: file_name.to_string(),
        line: Some(line),
        message,
    };
    // A byte-order mark, as some spreadsheet exports write, is not part of the data.
    let contents = contents.strip_prefix('\u{feff}').unwrap_or(contents);
    if contents.trim_start().starts_with('{') {
        let f = json_ballots::parse(contents).map_err(|e| fail(e.line, e.message))?;
        Ok(Loaded {
            contest: f.contest,
            ballots: f.ballots,
            lines: f.lines,
        })
    } else {
        let f = blt::parse(contents).map_err(|e| fail(e.line, e.message))?;
        Ok(Loaded {
            contest: f.contest(),
            ballots: f.ballots,
            lines: f.lines,
        })
    }
}

/// Counts the ballots in `file_contents` by `method` and renders the result. `seats`
/// overrides the number of seats the file gives; `seed` is the seed lots are drawn from.
pub fn tally(
    method: &str,
    seats: Option<usize>,
    format: Format,
    seed: Option<&str>,
    file_name: &str,
    file_contents: &str,
) -> Result<String, TallyError> {
    let plain = |message: String| TallyError {
        file: file_name.to_string(),
        line: None,
        message,
    };
    let method: Method = method
        .parse()
        .map_err(|e: crate::model::UnknownMethod| plain(e.to_string()))?;
    let mut loaded = load(file_name, file_contents)?;
    if let Some(s) = seats {
        loaded.contest.seats = s;
    }
    let result = count(&loaded.contest, &loaded.ballots, method, seed).map_err(|e| match e {
        CountError::InvalidBallot { index, reason } => TallyError {
            file: file_name.to_string(),
            line: loaded.lines.get(index).copied(),
            message: reason,
        },
        other => plain(other.to_string()),
    })?;
    Ok(match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&result.to_json()).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Text => text_report(&result),
    })
}
