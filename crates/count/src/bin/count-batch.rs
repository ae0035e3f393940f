//! Counts many small profiles in one process, for the cross-check against an independent
//! implementation (scripts/crosscheck-count).
//!
//! Input, one JSON object a line: `{"id": 7, "candidates": 4, "rankings": [[0, 2, 1, 3], ...],
//! "counts": [3, ...]}` (complete or partial rankings of candidates 0..candidates-1, each with
//! its number of voters). Output, one JSON object a line: `{"id": 7, "plurality": 0, ...,
//! "lot": {"irv": false, ...}}` giving each method's single winner and whether a tie had to be
//! broken on the way.

use std::io::{BufRead, BufWriter, Write};

use securevote_count::{Ballot, BallotForm, Contest, Method, Weight, count};
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Deserialize)]
struct Profile {
    id: u64,
    candidates: usize,
    rankings: Vec<Vec<usize>>,
    counts: Vec<u64>,
}

const METHODS: [Method; 8] = [
    Method::Plurality,
    Method::Irv,
    Method::StvScottish,
    Method::StvMeek,
    Method::Schulze,
    Method::RankedPairs,
    Method::Copeland,
    Method::Borda,
];

fn main() {
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("stdin: {e}");
                std::process::exit(2);
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let p: Profile = match serde_json::from_str(&line) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("stdin:{}: {e}", n + 1);
                std::process::exit(2);
            }
        };
        let names: Vec<String> = (0..p.candidates).map(|i| i.to_string()).collect();
        let contest = Contest::with_names(&names, 1);
        let ballots: Vec<Ballot> = p
            .rankings
            .iter()
            .zip(&p.counts)
            .filter_map(|(r, &c)| {
                Weight::from_count(c)
                    .ok()
                    .map(|w| Ballot::weighted(w, BallotForm::Ranking(r.clone())))
            })
            .collect();
        let mut row = Map::new();
        let mut lots = Map::new();
        row.insert("id".into(), json!(p.id));
        for m in METHODS {
            match count(&contest, &ballots, m, Some("crosscheck")) {
                Ok(r) => {
                    row.insert(m.name().into(), json!(r.elected[0]));
                    lots.insert(m.name().into(), json!(!r.ties.is_empty()));
                }
                Err(e) => {
                    row.insert(m.name().into(), Value::Null);
                    row.insert(format!("{}_error", m.name()), json!(e.to_string()));
                }
            }
        }
        row.insert("lot".into(), Value::Object(lots));
        let _ = writeln!(out, "{}", Value::Object(row));
    }
}
