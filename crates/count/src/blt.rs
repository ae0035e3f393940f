//! The BLT ballot file format of OpenSTV, OpaVote and eSTV.
//!
//! ```text
//! # comments run from '#' to the end of the line
//! 4 2                  <- number of candidates, number of seats
//! -2                   <- optional: withdrawn candidates, as negative numbers
//! 3 1 3 4 0            <- weight, then candidate numbers in order of preference, then 0
//! 1.5 2 0              <- weights may be decimals
//! 0                    <- end of ballots
//! "Alice Smith"        <- one name per candidate, in number order (quotes optional when
//! "Bob Jones"             alone on a line, required to put several on one line)
//! "Carol"
//! "Dan"
//! "Board election"     <- title
//! ```

use std::fmt;

use crate::decimal::Weight;
use crate::model::{Ballot, BallotForm, Choice, Contest};

/// A parsed BLT file. `lines[i]` is the line ballot `i` was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BltFile {
    pub title: Option<String>,
    pub names: Vec<String>,
    pub seats: usize,
    pub withdrawn: Vec<usize>,
    pub ballots: Vec<Ballot>,
    pub lines: Vec<usize>,
}

/// A fault in a BLT file, with the (1-based) line it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BltError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for BltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for BltError {}

impl BltFile {
    /// The contest the file describes (choice ids are the candidate numbers "1", "2", ...).
    pub fn contest(&self) -> Contest {
        let mut c = Contest::with_names(&self.names, self.seats);
        c.title = self.title.clone();
        c.withdrawn = self.withdrawn.clone();
        c
    }
}

fn err(line: usize, message: impl Into<String>) -> BltError {
    BltError {
        line,
        message: message.into(),
    }
}

/// The line without its comment (a '#' outside double quotes), trimmed.
fn strip_comment(line: &str) -> &str {
    if let Some(hash) = line.find('#') {
        if !line[..hash].contains('"') {
            return line[..hash].trim();
        }
        let mut quoted = false;
        for (i, ch) in line.char_indices() {
            match ch {
                '"' => quoted = !quoted,
                '#' if !quoted => return line[..i].trim(),
                _ => {}
            }
        }
    }
    line.trim()
}

/// Names on a line: several quoted strings, or the whole line as one name.
fn names_on(line: &str, number: usize) -> Result<Vec<String>, BltError> {
    if !line.starts_with('"') {
        return Ok(vec![line.to_string()]);
    }
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let Some(body) = rest.strip_prefix('"') else {
            return Err(err(
                number,
                format!("expected a quoted name, found '{rest}'"),
            ));
        };
        let Some(end) = body.find('"') else {
            return Err(err(number, "a quoted name is not closed"));
        };
        out.push(body[..end].to_string());
        rest = body[end + 1..].trim_start();
    }
    Ok(out)
}

/// Parses a BLT file.
pub fn parse(text: &str) -> Result<BltFile, BltError> {
    enum Part {
        Header,
        Ballots,
        Names,
        Title,
        Done,
    }
    let mut part = Part::Header;
    let (mut n, mut seats) = (0usize, 0usize);
    let mut withdrawn = Vec::new();
    let mut ballots = Vec::new();
    let mut lines = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut title = None;
    let mut seen: Vec<usize> = Vec::new();
    let mut last = 0;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let line = strip_comment(raw);
        if line.is_empty() {
            continue;
        }
        last = number;
        match part {
            Part::Header => {
                let mut it = line.split_ascii_whitespace();
                let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) else {
                    return Err(err(
                        number,
                        "the first line must be: <number of candidates> <number of seats>",
                    ));
                };
                n = a
                    .parse()
                    .ok()
                    .filter(|&v| v > 0 && v < usize::from(u16::MAX))
                    .ok_or_else(|| err(number, format!("'{a}' is not a number of candidates")))?;
                seats = b.parse().ok().filter(|&v| v > 0 && v <= n).ok_or_else(|| {
                    err(
                        number,
                        format!("'{b}' is not a number of seats between 1 and {n}"),
                    )
                })?;
                seen = vec![usize::MAX; n];
                part = Part::Ballots;
            }
            Part::Ballots => {
                if line.starts_with('-') {
                    if !ballots.is_empty() || !withdrawn.is_empty() {
                        return Err(err(
                            number,
                            "the withdrawn line must come before the ballots",
                        ));
                    }
                    for t in line.split_ascii_whitespace() {
                        let c = t
                            .strip_prefix('-')
                            .and_then(|v| v.parse::<usize>().ok())
                            .filter(|&v| v >= 1 && v <= n)
                            .ok_or_else(|| {
                                err(
                                    number,
                                    format!("'{t}' is not a withdrawn candidate (-1 to -{n})"),
                                )
                            })?;
                        withdrawn.push(c - 1);
                    }
                    continue;
                }
                if line == "0" {
                    part = Part::Names;
                    continue;
                }
                let mut it = line.split_ascii_whitespace();
                let wtok = it.next().unwrap_or_default();
                if wtok.starts_with('(') {
                    return Err(err(number, "ballot ids are not supported"));
                }
                let weight = Weight::parse(wtok).map_err(|e| err(number, e.0))?;
                let index = ballots.len();
                let mut order = Vec::new();
                let mut closed = false;
                for t in it {
                    if closed {
                        return Err(err(number, format!("'{t}' after the closing 0")));
                    }
                    if t == "0" {
                        closed = true;
                        continue;
                    }
                    if t.contains('=') {
                        return Err(err(
                            number,
                            format!("equal rankings ('{t}') are not supported"),
                        ));
                    }
                    let c = t
                        .parse::<usize>()
                        .ok()
                        .filter(|&v| v >= 1 && v <= n)
                        .ok_or_else(|| {
                            err(
                                number,
                                format!("'{t}' is not a candidate number (1 to {n})"),
                            )
                        })?;
                    if seen[c - 1] == index {
                        return Err(err(number, format!("candidate {c} is ranked twice")));
                    }
                    seen[c - 1] = index;
                    order.push(c - 1);
                }
                if !closed {
                    return Err(err(number, "a ballot line must end with 0"));
                }
                ballots.push(Ballot {
                    weight,
                    form: BallotForm::Ranking(order),
                });
                lines.push(number);
            }
            Part::Names => {
                for name in names_on(line, number)? {
                    if names.len() < n {
                        if name.trim().is_empty() {
                            return Err(err(number, "a candidate name is empty"));
                        }
                        if names.contains(&name) {
                            return Err(err(number, format!("two candidates are named '{name}'")));
                        }
                        names.push(name);
                    } else if title.is_none() {
                        title = Some(name);
                        part = Part::Done;
                    } else {
                        return Err(err(number, "unexpected text after the title"));
                    }
                }
                if names.len() == n && title.is_none() {
                    part = Part::Title;
                }
            }
            Part::Title => {
                let mut found = names_on(line, number)?;
                if found.len() != 1 {
                    return Err(err(number, "expected one title"));
                }
                title = found.pop();
                part = Part::Done;
            }
            Part::Done => return Err(err(number, "unexpected text after the title")),
        }
    }
    match part {
        Part::Header => Err(err(last.max(1), "the file is empty")),
        Part::Ballots => Err(err(last, "the ballots are not closed by a line holding 0")),
        Part::Names => Err(err(
            last,
            format!("expected {n} candidate names, found {}", names.len()),
        )),
        Part::Title | Part::Done => Ok(BltFile {
            title,
            names,
            seats,
            withdrawn,
            ballots,
            lines,
        }),
    }
}

/// Writes ranked ballots as a BLT file (the inverse of [`parse`]).
pub fn write(contest: &Contest, ballots: &[Ballot]) -> Result<String, String> {
    use std::fmt::Write;
    let mut out = String::new();
    let n = contest.choices.len();
    let _ = writeln!(out, "{} {}", n, contest.seats);
    if !contest.withdrawn.is_empty() {
        let w: Vec<String> = contest
            .withdrawn
            .iter()
            .map(|c| format!("-{}", c + 1))
            .collect();
        let _ = writeln!(out, "{}", w.join(" "));
    }
    for (i, b) in ballots.iter().enumerate() {
        let BallotForm::Ranking(order) = &b.form else {
            return Err(format!("ballot {} is not a ranking", i + 1));
        };
        let _ = write!(out, "{}", b.weight);
        for &c in order {
            if c >= n {
                return Err(format!(
                    "ballot {} ranks a choice that does not exist",
                    i + 1
                ));
            }
            let _ = write!(out, " {}", c + 1);
        }
        out.push_str(" 0\n");
    }
    out.push_str("0\n");
    let quoted = |s: &str| -> Result<String, String> {
        if s.contains('"') || s.contains('\n') {
            Err(format!(
                "'{s}' cannot be written to a BLT file (it holds a quote or a newline)"
            ))
        } else {
            Ok(format!("\"{s}\"\n"))
        }
    };
    for Choice { name, .. } in &contest.choices {
        out.push_str(&quoted(name)?);
    }
    out.push_str(&quoted(contest.title.as_deref().unwrap_or("Untitled"))?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# a sample\n4 2\n-4\n3 1 3 0  # three\n1.5 2 0\n1 0\n0\n\"Alice Smith\"\n\"Bob # Jones\"\nCarol\n\"Dan\" \"Board election\"\n";

    #[test]
    fn reads_comments_withdrawn_decimals_and_quoted_names() {
        let f = parse(SAMPLE).unwrap();
        assert_eq!(f.seats, 2);
        assert_eq!(f.withdrawn, vec![3]);
        assert_eq!(f.names, vec!["Alice Smith", "Bob # Jones", "Carol", "Dan"]);
        assert_eq!(f.title.as_deref(), Some("Board election"));
        assert_eq!(f.ballots.len(), 3);
        assert_eq!(f.ballots[0].form, BallotForm::Ranking(vec![0, 2]));
        assert_eq!(f.ballots[1].weight, Weight::parse("1.5").unwrap());
        assert_eq!(f.ballots[2].form, BallotForm::Ranking(vec![]));
        assert_eq!(f.lines, vec![4, 5, 6]);
    }

    #[test]
    fn accepts_crlf_and_a_byte_order_mark() {
        let text = format!("\u{feff}{}", SAMPLE.replace('\n', "\r\n"));
        assert_eq!(parse(&text).unwrap(), parse(SAMPLE).unwrap());
    }

    #[test]
    fn round_trips() {
        let f = parse(SAMPLE).unwrap();
        let text = write(&f.contest(), &f.ballots).unwrap();
        let g = parse(&text).unwrap();
        assert_eq!(g.names, f.names);
        assert_eq!(g.ballots, f.ballots);
        assert_eq!(g.withdrawn, f.withdrawn);
        assert_eq!(g.title, f.title);
        assert_eq!(g.seats, f.seats);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("", 1, "empty"),
            ("3\n", 1, "first line"),
            ("3 4\n", 1, "seats"),
            ("3 1\n1 1 2\n", 2, "end with 0"),
            ("3 1\n1 1 4 0\n", 2, "candidate number"),
            ("3 1\n1 1 1 0\n", 2, "twice"),
            ("3 1\n1 1=2 0\n", 2, "equal rankings"),
            ("3 1\n0 1 0\n", 2, "positive"),
            ("3 1\n1 1 0\n1 2 0\n", 3, "not closed"),
            ("3 1\n1 1 0\n0\n\"A\"\n\"B\"\n", 5, "3 candidate names"),
            ("3 1\n1 1 0\n0\n\"A\"\n\"A\"\n", 5, "two candidates"),
            ("3 1\n1 1 0\n0\nA\nB\nC\nT\nextra\n", 8, "after the title"),
            ("3 1\n1 1 0\n-2\n", 3, "withdrawn line"),
        ];
        for (text, line, needle) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }
}
