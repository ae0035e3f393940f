//! The plain-text result sheet: a header, then each stage with its transfers and totals, then
//! the declaration.

use std::fmt::Write;

use crate::result::CountResult;

fn width(result: &CountResult) -> usize {
    result
        .choices
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(16, 48)
}

/// Renders `result` as a returning officer's stage-by-stage result sheet.
pub fn text_report(result: &CountResult) -> String {
    let mut out = String::new();
    let name = |c: usize| result.choices[c].name.as_str();
    let w = width(result);
    let title = result.title.as_deref().unwrap_or("Result of the count");
    let _ = writeln!(out, "{title}");
    let _ = writeln!(out, "{}", "=".repeat(title.chars().count()));
    let _ = writeln!(
        out,
        "Method:      {} ({})",
        result.method.name(),
        result.method.rule()
    );
    let _ = writeln!(out, "Seats:       {}", result.seats);
    let _ = writeln!(out, "Valid votes: {}", result.valid_votes);
    if !result.blank_votes.is_zero() {
        let _ = writeln!(out, "Blank:       {}", result.blank_votes);
    }
    if let Some(q) = result.quota {
        let _ = writeln!(out, "Quota:       {q}");
    }
    let _ = writeln!(
        out,
        "Seed:        {:?} (lots: smallest SHA-256(seed, 0x00, name))",
        result.seed
    );
    if !result.withdrawn.is_empty() {
        let ws: Vec<&str> = result.withdrawn.iter().map(|&c| name(c)).collect();
        let _ = writeln!(out, "Withdrawn:   {}", ws.join(", "));
    }
    for r in &result.rounds {
        let _ = writeln!(out);
        let _ = writeln!(out, "Stage {}: {}", r.number, r.action);
        if let Some(q) = r.quota {
            if result.method.is_ranked()
                && result.quota.is_some()
                && r.number > 1
                && Some(q) != result.quota
            {
                let _ = writeln!(out, "  Quota: {q}");
            }
        }
        let has_votes = r.votes.iter().any(Option::is_some);
        let has_transfers = r.transfers.iter().any(Option::is_some);
        let has_kf = r.keep_factors.iter().any(Option::is_some);
        if has_votes {
            let mut head = format!("  {:<w$}", "Choice");
            if has_transfers {
                let _ = write!(head, " {:>16}", "Transfer");
            }
            let _ = write!(head, " {:>18}", "Total");
            if has_kf {
                let _ = write!(head, " {:>12}", "Keep factor");
            }
            let _ = writeln!(out, "{head}");
            for c in 0..result.choices.len() {
                let Some(v) = r.votes[c] else { continue };
                let mut line = format!("  {:<w$}", name(c));
                if has_transfers {
                    let t = r.transfers[c]
                        .map(|t| signed(&t.to_string()))
                        .unwrap_or_default();
                    let _ = write!(line, " {t:>16}");
                }
                let _ = write!(line, " {:>18}", v.to_string());
                if let Some(k) = r.keep_factors[c] {
                    let _ = write!(line, " {:>12}", k.to_string());
                }
                let _ = writeln!(out, "{}", line.trim_end());
            }
            if let Some(e) = r.exhausted {
                let label = if result.method == crate::model::Method::Star {
                    "No preference"
                } else {
                    "Non-transferable"
                };
                let mut line = format!("  {label:<w$}");
                if has_transfers {
                    let t = r
                        .exhausted_change
                        .map(|t| signed(&t.to_string()))
                        .unwrap_or_default();
                    let _ = write!(line, " {t:>16}");
                }
                let _ = write!(line, " {:>18}", e.to_string());
                let _ = writeln!(out, "{}", line.trim_end());
            }
            if let Some(l) = r.loss_of_fractions {
                if !l.is_zero() {
                    let _ = writeln!(
                        out,
                        "  {:<w$} {:>16} {:>18}",
                        "Loss of fractions",
                        "",
                        l.to_string()
                    );
                }
            }
        }
        if let Some(m) = &r.pairwise {
            let _ = writeln!(out, "  Pairwise preferences (row over column):");
            matrix(&mut out, result, m, w);
        }
        if let Some(m) = &r.strongest_paths {
            let _ = writeln!(out, "  Strongest paths (row to column):");
            matrix(&mut out, result, m, w);
        }
        for &(a, b) in &r.locked {
            let _ = writeln!(out, "  Locked: {} over {}", name(a), name(b));
        }
        for &(a, b) in &r.skipped {
            let _ = writeln!(
                out,
                "  Skipped (would make a cycle): {} over {}",
                name(a),
                name(b)
            );
        }
        if let Some(s) = r.surplus {
            let label = if result.method.name() == "stv-meek" {
                "Total surplus"
            } else {
                "Surplus"
            };
            let _ = writeln!(out, "  {label}: {s}");
        }
        if let Some(i) = r.iterations {
            let _ = writeln!(out, "  Iterations: {i}");
        }
        for n in &r.notes {
            let _ = writeln!(out, "  Note: {n}");
        }
        for d in &r.elected {
            let _ = writeln!(out, "  ELECTED: {} ({})", name(d.choice), d.reason);
        }
        for d in &r.excluded {
            let _ = writeln!(out, "  Excluded: {} ({})", name(d.choice), d.reason);
        }
    }
    if !result.ties.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Ties");
        for t in &result.ties {
            let tied: Vec<&str> = t.tied.iter().map(|&c| name(c)).collect();
            let _ = writeln!(
                out,
                "  Stage {}: {} among {} -> {} (by {})",
                t.round,
                t.purpose,
                tied.join(", "),
                name(t.chosen),
                t.resolved_by
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Declaration: elected, in order of election");
    for (i, &c) in result.elected.iter().enumerate() {
        let stage = result
            .rounds
            .iter()
            .find(|r| r.elected.iter().any(|d| d.choice == c))
            .map(|r| r.number);
        match stage {
            Some(s) if result.rounds.len() > 1 => {
                let _ = writeln!(out, "  {}. {} (stage {s})", i + 1, name(c));
            }
            _ => {
                let _ = writeln!(out, "  {}. {}", i + 1, name(c));
            }
        }
    }
    if let Some(ranking) = &result.ranking {
        let r: Vec<&str> = ranking.iter().map(|&c| name(c)).collect();
        let _ = writeln!(out, "Ranking: {}", r.join(" > "));
    }
    out
}

fn signed(s: &str) -> String {
    if s.starts_with('-') {
        s.to_string()
    } else {
        format!("+{s}")
    }
}

fn matrix(out: &mut String, result: &CountResult, m: &[Vec<crate::decimal::Fixed>], w: usize) {
    let active: Vec<usize> = (0..result.choices.len())
        .filter(|c| !result.withdrawn.contains(c))
        .collect();
    let mut head = format!("  {:<w$}", "");
    for (k, _) in active.iter().enumerate() {
        let _ = write!(head, " {:>10}", format!("[{}]", k + 1));
    }
    let _ = writeln!(out, "{}", head.trim_end());
    for (k, &a) in active.iter().enumerate() {
        let mut line = format!(
            "  {:<w$}",
            format!("[{}] {}", k + 1, result.choices[a].name)
        );
        for &b in &active {
            let cell = if a == b {
                "-".to_string()
            } else {
                m[a][b].to_string()
            };
            let _ = write!(line, " {cell:>10}");
        }
        let _ = writeln!(out, "{line}");
    }
}
