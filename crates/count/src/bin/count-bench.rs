//! Benchmark of the counting engine: parse-only against Scottish and Meek STV on 1,000,000
//! weighted ranked ballots over 12 choices (3 seats), and Schulze on 100,000 ballots over 50
//! choices. Prints one JSON object with the timings, their ratios and the peak RSS.
//!
//!   cargo run --release -p securevote-count --bin count-bench [-- BALLOTS [OPTIONS]]
//!
//! The ballots are generated deterministically (a fixed-seed splitmix64), written as a BLT
//! file in the temporary directory, then read back and parsed the way `securevote tally` does.
//!
//! Options (for bench/run's comparison with an independent implementation):
//!   --profiles DIR      keep the STV profile as DIR/stv.blt (the very file parsed and counted)
//!                       and write the Schulze ballots as DIR/schulze.blt
//!   --stv-slice K       also count both STV rules on the first K ballots of the file
//!   --schulze-slice K   also count Schulze on the first K of its ballots

use std::time::Instant;

use securevote_count::{Ballot, BallotForm, Contest, Method, Weight, blt, count};
use serde_json::json;

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

/// A ranking drawn Plackett-Luce style from popularity weights; each further preference is
/// given with probability `go_on_pct`% (62% gives the short ballots of Scottish council data,
/// a median of about three preferences; 90% gives about ten of fifty).
fn ranking(rng: &mut Rng, popularity: &[u64], max_len: usize, go_on_pct: u64) -> Vec<usize> {
    let mut len = 1;
    while len < max_len && rng.below(100) < go_on_pct {
        len += 1;
    }
    let mut left: Vec<usize> = (0..popularity.len()).collect();
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        let total: u64 = left.iter().map(|&c| popularity[c]).sum();
        let mut x = rng.below(total);
        let mut k = 0;
        while x >= popularity[left[k]] {
            x -= popularity[left[k]];
            k += 1;
        }
        out.push(left.swap_remove(k));
    }
    out
}

fn weight(rng: &mut Rng) -> &'static str {
    match rng.below(10) {
        0..=6 => "1",
        7 | 8 => "2",
        _ => "0.5",
    }
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

struct Options {
    ballots: usize,
    profiles: Option<std::path::PathBuf>,
    stv_slice: Option<usize>,
    schulze_slice: Option<usize>,
}

fn options() -> Options {
    let mut o = Options {
        ballots: 1_000_000,
        profiles: None,
        stv_slice: None,
        schulze_slice: None,
    };
    let usage = |what: &str| -> ! {
        eprintln!(
            "count-bench: {what} (usage: count-bench [BALLOTS] [--profiles DIR] [--stv-slice K] [--schulze-slice K])"
        );
        std::process::exit(2)
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |name: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} needs a number")))
        };
        match a.as_str() {
            "--profiles" => {
                o.profiles = Some(
                    args.next()
                        .unwrap_or_else(|| usage("--profiles needs a directory"))
                        .into(),
                )
            }
            "--stv-slice" => o.stv_slice = Some(number("--stv-slice")),
            "--schulze-slice" => o.schulze_slice = Some(number("--schulze-slice")),
            n => {
                o.ballots = n
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("unknown argument {n}")))
            }
        }
    }
    o
}

fn main() {
    let opts = options();
    let n_ballots = opts.ballots;
    let mut rng = Rng(20_261_201);

    // 1. A million weighted ranked ballots over 12 choices, 3 seats, as a BLT file.
    let popularity: Vec<u64> = vec![30, 24, 20, 16, 13, 10, 8, 6, 5, 4, 3, 2];
    let mut text = String::with_capacity(n_ballots * 16);
    text.push_str("12 3\n");
    for _ in 0..n_ballots {
        text.push_str(weight(&mut rng));
        for c in ranking(&mut rng, &popularity, 12, 62) {
            text.push(' ');
            text.push_str(&(c + 1).to_string());
        }
        text.push_str(" 0\n");
    }
    text.push_str("0\n");
    for c in 0..12 {
        text.push_str(&format!("\"Candidate {}\"\n", c + 1));
    }
    text.push_str("\"Benchmark ward\"\n");
    let path = match &opts.profiles {
        Some(dir) => dir.join("stv.blt"),
        None => {
            std::env::temp_dir().join(format!("securevote-count-bench-{}.blt", std::process::id()))
        }
    };
    if let Err(e) = std::fs::write(&path, &text) {
        eprintln!("{}: {e}", path.display());
        std::process::exit(1);
    }
    let file_bytes = text.len();
    drop(text);

    // Parse only: read the file and parse it, as `securevote tally` does before counting.
    let mut parse_runs = Vec::new();
    let mut parsed = None;
    for _ in 0..3 {
        let t = Instant::now();
        let contents = std::fs::read_to_string(&path).unwrap_or_default();
        let f = match blt::parse(&contents) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                std::process::exit(1);
            }
        };
        parse_runs.push(secs(t));
        parsed = Some(f);
    }
    if opts.profiles.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    let parsed = parsed.expect("parsed at least once");
    let contest = parsed.contest();
    let parse_s = median(&mut parse_runs);

    let timed = |method: Method, contest: &Contest, ballots: &[Ballot]| {
        let mut runs = Vec::new();
        let mut elected = Vec::new();
        let mut stages = 0;
        let mut iterations = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let r = count(contest, ballots, method, None).unwrap_or_else(|e| {
                eprintln!("{method}: {e}");
                std::process::exit(1)
            });
            runs.push(secs(t));
            elected = r
                .elected_names()
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>();
            stages = r.rounds.len();
            iterations = r.rounds.iter().filter_map(|s| s.iterations).sum::<usize>();
        }
        (median(&mut runs), elected, stages, iterations)
    };
    let (scottish_s, scottish_elected, scottish_stages, _) =
        timed(Method::StvScottish, &contest, &parsed.ballots);
    let (meek_s, meek_elected, meek_stages, meek_iterations) =
        timed(Method::StvMeek, &contest, &parsed.ballots);
    let stv_slice = opts.stv_slice.map(|k| {
        let slice = &parsed.ballots[..k.min(parsed.ballots.len())];
        let (scottish, scottish_elected, _, _) = timed(Method::StvScottish, &contest, slice);
        let (meek, meek_elected, _, _) = timed(Method::StvMeek, &contest, slice);
        json!({
            "ballots": slice.len(),
            "stv_scottish": { "count_seconds": round6(scottish), "elected": scottish_elected },
            "stv_meek": { "count_seconds": round6(meek), "elected": meek_elected },
        })
    });
    let distinct = {
        let mut v: Vec<&BallotForm> = parsed.ballots.iter().map(|b| &b.form).collect();
        v.sort_unstable_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        v.dedup();
        v.len()
    };
    drop(parsed);

    // 2. Schulze: 100,000 ballots over 50 choices.
    let popularity50: Vec<u64> = (0..50).map(|i| 100 - i).collect();
    let names: Vec<String> = (1..=50).map(|i| format!("Choice {i}")).collect();
    let contest50 = Contest::with_names(&names, 1);
    let mut blt50 = String::new();
    let ballots50: Vec<Ballot> = (0..100_000)
        .map(|_| {
            let ws = weight(&mut rng);
            let w = Weight::parse(ws).unwrap_or(Weight::ONE);
            let r = ranking(&mut rng, &popularity50, 50, 90);
            if opts.profiles.is_some() {
                blt50.push_str(ws);
                for c in &r {
                    blt50.push_str(&format!(" {}", c + 1));
                }
                blt50.push_str(" 0\n");
            }
            Ballot::weighted(w, BallotForm::Ranking(r))
        })
        .collect();
    if let Some(dir) = &opts.profiles {
        let mut text = String::from("50 1\n");
        text.push_str(&blt50);
        text.push_str("0\n");
        for name in &names {
            text.push_str(&format!("\"{name}\"\n"));
        }
        text.push_str("\"Schulze benchmark\"\n");
        let p = dir.join("schulze.blt");
        if let Err(e) = std::fs::write(&p, text) {
            eprintln!("{}: {e}", p.display());
            std::process::exit(1);
        }
    }
    drop(blt50);
    let (schulze_s, schulze_elected, _, _) = timed(Method::Schulze, &contest50, &ballots50);
    let schulze_slice = opts.schulze_slice.map(|k| {
        let slice = &ballots50[..k.min(ballots50.len())];
        let (s, elected, _, _) = timed(Method::Schulze, &contest50, slice);
        json!({ "ballots": slice.len(), "count_seconds": round6(s), "elected": elected })
    });

    let out = json!({
        "ballots": n_ballots,
        "choices": 12,
        "seats": 3,
        "blt_bytes": file_bytes,
        "distinct_rankings": distinct,
        "parse_seconds": round(parse_s),
        "stv_scottish": {
            "count_seconds": round(scottish_s),
            "count_over_parse": round(scottish_s / parse_s),
            "parse_and_count_over_parse": round((parse_s + scottish_s) / parse_s),
            "stages": scottish_stages,
            "elected": scottish_elected,
        },
        "stv_meek": {
            "count_seconds": round(meek_s),
            "count_over_parse": round(meek_s / parse_s),
            "parse_and_count_over_parse": round((parse_s + meek_s) / parse_s),
            "stages": meek_stages,
            "iterations": meek_iterations,
            "elected": meek_elected,
        },
        "schulze_100k_50": {
            "ballots": 100_000,
            "choices": 50,
            "mean_preferences": round(ballots50.iter().map(|b| match &b.form { BallotForm::Ranking(r) => r.len(), _ => 0 }).sum::<usize>() as f64 / 100_000.0),
            "count_seconds": round(schulze_s),
            "elected": schulze_elected,
        },
        "stv_slice": stv_slice,
        "schulze_slice": schulze_slice,
        "peak_rss_mib": peak_rss_mib().map(round),
        "timing": "median of 3 runs each",
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Microsecond precision, for the small slices.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
