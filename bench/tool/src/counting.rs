//! The counting rows: the engine's `count-bench` (Scottish and Meek STV on a million weighted
//! ranked ballots, each against reading and parsing the same BLT file), and Schulze against the
//! same ceiling measured here: 100,000 ballots over 50 choices written as a BLT file, read and
//! parsed, then counted from what was parsed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use securevote_count::{Method, blt, count};
use serde_json::{Value, json};

use crate::measure::{Measurement, Role, append};

/// The engine's peak-memory target for the million-ballot count.
pub const COUNT_RSS_TARGET_MIB: f64 = 512.0;
/// The counter may cost at most this many times the parsing of the same file.
const MAX_TIMES_PARSE: f64 = 3.0;

/// splitmix64, as count-bench draws its profiles.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// count-bench's Schulze profile: Plackett-Luce rankings from popularity 100, 99, ... 51, each
/// further preference with probability 90 %, weights 1 (70 %), 2 (20 %) and 0.5 (10 %).
fn schulze_blt(ballots: usize, choices: usize) -> String {
    let mut rng = Rng(20_261_202);
    let popularity: Vec<u64> = (0..choices as u64).map(|i| 100 - i).collect();
    let mut text = String::with_capacity(ballots * 32);
    text.push_str(&format!("{choices} 1\n"));
    for _ in 0..ballots {
        text.push_str(match rng.below(10) {
            0..=6 => "1",
            7 | 8 => "2",
            _ => "0.5",
        });
        let mut len = 1;
        while len < choices && rng.below(100) < 90 {
            len += 1;
        }
        let mut left: Vec<usize> = (0..choices).collect();
        for _ in 0..len {
            let total: u64 = left.iter().map(|&c| popularity[c]).sum();
            let mut x = rng.below(total);
            let mut k = 0;
            while x >= popularity[left[k]] {
                x -= popularity[left[k]];
                k += 1;
            }
            text.push(' ');
            text.push_str(&(left.swap_remove(k) + 1).to_string());
        }
        text.push_str(" 0\n");
    }
    text.push_str("0\n");
    for c in 1..=choices {
        text.push_str(&format!("\"Choice {c}\"\n"));
    }
    text.push_str("\"Schulze benchmark\"\n");
    text
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// Schulze on `ballots` ballots over `choices` choices against reading and parsing their BLT
/// file; medians of three runs each. Writes a JSON result.
pub fn schulze(ballots: usize, choices: usize, out: &Path) -> Result<()> {
    let path = std::env::temp_dir().join(format!(
        "securevote-bench-schulze-{}.blt",
        std::process::id()
    ));
    std::fs::write(&path, schulze_blt(ballots, choices))
        .with_context(|| format!("write {}", path.display()))?;
    let mut parse_runs = Vec::new();
    let mut parsed = None;
    for _ in 0..3 {
        let t = Instant::now();
        let text = std::fs::read_to_string(&path);
        let file = text
            .map_err(anyhow::Error::from)
            .and_then(|t| blt::parse(&t).map_err(|e| anyhow::anyhow!("{e}")));
        parse_runs.push(t.elapsed().as_secs_f64());
        parsed = Some(file);
    }
    let _ = std::fs::remove_file(&path);
    let parsed = parsed.context("parsed")??;
    let contest = parsed.contest();
    let mut count_runs = Vec::new();
    let mut elected = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let result = count(&contest, &parsed.ballots, Method::Schulze, None)
            .map_err(|e| anyhow::anyhow!("schulze: {e}"))?;
        count_runs.push(t.elapsed().as_secs_f64());
        elected = result
            .elected_names()
            .into_iter()
            .map(String::from)
            .collect();
    }
    let result = json!({
        "ballots": ballots,
        "choices": choices,
        "parse_seconds": median(parse_runs),
        "count_seconds": median(count_runs),
        "elected": elected,
        "timing": "median of 3 runs each",
    });
    std::fs::write(out, serde_json::to_string_pretty(&result)?)
        .with_context(|| format!("write {}", out.display()))
}

fn number(value: &Value, path: &[&str]) -> Result<f64> {
    let mut v = value;
    for key in path {
        v = &v[*key];
    }
    v.as_f64()
        .with_context(|| format!("count-bench output has no number at {}", path.join(".")))
}

#[allow(clippy::too_many_arguments)]
fn pair(
    id: &str,
    label: &str,
    short: &str,
    ballots: f64,
    count_s: f64,
    parse_s: f64,
    ceiling_label: &str,
    rss_kib: Option<u64>,
    target: Option<f64>,
    details: BTreeMap<String, Value>,
) -> [Measurement; 2] {
    let base = |role, label: &str, seconds: f64| Measurement {
        id: id.to_owned(),
        role,
        label: label.to_owned(),
        short: None,
        backend: None,
        concurrency: None,
        target: None,
        rate: ballots / seconds.max(1e-9),
        requests: 1,
        errors: 0,
        p50_ms: seconds * 1000.0,
        p99_ms: seconds * 1000.0,
        exhausted: false,
        rss_kib: None,
        body_bytes: None,
        cpu: BTreeMap::new(),
        rss_target_mib: None,
        statements_per_op: None,
        statements: Vec::new(),
        details: BTreeMap::new(),
    };
    let mut service = base(Role::Service, label, count_s);
    service.short = Some(short.to_owned());
    service.backend = Some("count engine".to_owned());
    service.target = target;
    service.rss_kib = rss_kib;
    service.rss_target_mib = rss_kib.map(|_| COUNT_RSS_TARGET_MIB);
    service.details = details;
    [service, base(Role::Ceiling, ceiling_label, parse_s)]
}

/// Appends the counting rows (service: the count; ceiling: reading and parsing the same file;
/// rates in ballots per second, so the ratio is parse time over count time; for STV the
/// target is ≥ 1/3, a count costing at most 3 × parsing).
pub fn rows(count_bench: &Path, schulze: &Path, out: &Path) -> Result<()> {
    let read = |path: &Path| -> Result<Value> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        // count-bench prints one pretty JSON object; anything before it is not ours.
        let start = text
            .find('{')
            .with_context(|| format!("{}: no JSON", path.display()))?;
        Ok(serde_json::from_str(&text[start..])?)
    };
    let bench = read(count_bench)?;
    let schulze = read(schulze)?;
    let ballots = number(&bench, &["ballots"])?;
    let parse_s = number(&bench, &["parse_seconds"])?;
    if parse_s <= 0.0 {
        bail!("count-bench measured no parse time");
    }
    let rss_kib = bench["peak_rss_mib"]
        .as_f64()
        .map(|mib| (mib * 1024.0).round() as u64);
    let choices = bench["choices"].as_u64().unwrap_or(12);
    let seats = bench["seats"].as_u64().unwrap_or(3);
    let thousands = crate::report::thousands;
    let ceiling = format!(
        "read + parse the same BLT file ({:.1} MB)",
        bench["blt_bytes"].as_f64().unwrap_or(0.0) / 1e6
    );
    let mut measurements = Vec::new();
    for (key, method, short) in [
        ("stv_scottish", "Scottish STV", "scottish stv"),
        ("stv_meek", "Meek STV", "meek stv"),
    ] {
        let count_s = number(&bench, &[key, "count_seconds"])?;
        let mut details = BTreeMap::new();
        for field in [
            "stages",
            "iterations",
            "elected",
            "parse_and_count_over_parse",
        ] {
            if !bench[key][field].is_null() {
                details.insert(field.to_owned(), bench[key][field].clone());
            }
        }
        details.insert("parse_seconds".into(), json!(parse_s));
        details.insert("count_seconds".into(), json!(count_s));
        details.insert(
            "distinct_rankings".into(),
            bench["distinct_rankings"].clone(),
        );
        measurements.extend(pair(
            &format!("count-{}", key.replace('_', "-")),
            &format!(
                "{method} count, {} weighted ranked ballots, {choices} choices, {seats} seats",
                thousands(ballots)
            ),
            short,
            ballots,
            count_s,
            parse_s,
            &ceiling,
            rss_kib,
            Some(1.0 / MAX_TIMES_PARSE),
            details,
        ));
    }
    let s_ballots = number(&schulze, &["ballots"])?;
    let s_count = number(&schulze, &["count_seconds"])?;
    let s_parse = number(&schulze, &["parse_seconds"])?;
    let mut details = BTreeMap::new();
    details.insert("elected".into(), schulze["elected"].clone());
    details.insert("parse_seconds".into(), json!(s_parse));
    details.insert("count_seconds".into(), json!(s_count));
    details.insert(
        "parse_and_count_over_parse".into(),
        json!((s_parse + s_count) / s_parse.max(1e-9)),
    );
    if let Some(own) = bench["schulze_100k_50"]["count_seconds"].as_f64() {
        details.insert("count_bench_count_seconds".into(), json!(own));
    }
    measurements.extend(pair(
        "count-schulze",
        &format!(
            "Schulze count, {} weighted ranked ballots, {} choices",
            thousands(s_ballots),
            schulze["choices"].as_u64().unwrap_or(50)
        ),
        "schulze",
        s_ballots,
        s_count,
        s_parse,
        "read + parse the same BLT file",
        None,
        // The 3 × parsing bound is the STV counts'; Schulze's ratio is reported as it is.
        None,
        details,
    ));
    append(out, &measurements)
}
