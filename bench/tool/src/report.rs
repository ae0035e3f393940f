//! The results: a markdown table (printed, and written to results.md), the same rows as JSON,
//! and a PNG chart of each scenario's share of its ceiling.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use plotters::style::FontStyle;
use serde::Serialize;

use crate::measure::{Measurement, Role, load};

/// Issue 6: "the backend's peak resident memory (target < 64 MiB under load)".
const RSS_TARGET_MIB: f64 = 64.0;

#[derive(Debug, Serialize)]
struct Row {
    service: Measurement,
    ceiling: Option<Measurement>,
    ratio: Option<f64>,
    met: Option<bool>,
}

fn rows(measurements: Vec<Measurement>) -> Result<Vec<Row>> {
    let mut ids: Vec<String> = Vec::new();
    for m in &measurements {
        if !ids.contains(&m.id) {
            ids.push(m.id.clone());
        }
    }
    ids.into_iter()
        .map(|id| {
            let find = |role| {
                measurements
                    .iter()
                    .rev()
                    .find(|m| m.id == id && m.role == role)
                    .cloned()
            };
            let Some(service) = find(Role::Service) else {
                bail!("scenario {id} has a ceiling but no service measurement");
            };
            let ceiling = find(Role::Ceiling);
            let ratio = ceiling
                .as_ref()
                .filter(|c| c.rate > 0.0)
                .map(|c| service.rate / c.rate);
            let met = match (ratio, service.target) {
                (Some(ratio), Some(target)) => Some(ratio >= target),
                _ => None,
            };
            Ok(Row {
                service,
                ceiling,
                ratio,
                met,
            })
        })
        .collect()
}

pub fn report(measurements: &Path, out_dir: &Path, meta: &[(String, String)]) -> Result<()> {
    let rows = rows(load(measurements)?)?;
    if rows.is_empty() {
        bail!("{}: no measurements", measurements.display());
    }
    std::fs::create_dir_all(out_dir).with_context(|| format!("create {}", out_dir.display()))?;
    let markdown = markdown(&rows, meta);
    std::fs::write(out_dir.join("results.md"), &markdown)?;
    std::fs::write(
        out_dir.join("results.json"),
        serde_json::to_string_pretty(&rows)?,
    )?;
    chart(&rows, &out_dir.join("results.png")).context("drawing the chart")?;
    print!("{markdown}");
    Ok(())
}

pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn latency(m: &Measurement) -> String {
    format!("{:.2} / {:.2}", m.p50_ms, m.p99_ms)
}

fn markdown(rows: &[Row], meta: &[(String, String)]) -> String {
    let mut md = String::new();
    for (key, value) in meta {
        let _ = writeln!(md, "- **{key}**: {value}");
    }
    if !meta.is_empty() {
        md.push('\n');
    }
    md.push_str(
        "| scenario | backend | conc. | securevote /s | ceiling | ceiling /s | ratio | target | p50 / p99 ms | ceiling p50 / p99 ms | peak RSS | result |\n\
         |---|---|--:|--:|---|--:|--:|--:|--:|--:|--:|---|\n",
    );
    for row in rows {
        let s = &row.service;
        let label = match s.body_bytes {
            Some(bytes) => format!("{} ({bytes} B)", s.label),
            None => s.label.clone(),
        };
        let (ceiling_label, ceiling_rate, ceiling_latency) = match &row.ceiling {
            Some(c) => (c.label.clone(), thousands(c.rate), latency(c)),
            None => ("–".into(), "–".into(), "–".into()),
        };
        let mut result = match row.met {
            Some(true) => "met".to_owned(),
            Some(false) => "**not met**".to_owned(),
            None => "no target".to_owned(),
        };
        if let (Some(target), Some(kib)) = (s.rss_target_mib, s.rss_kib)
            && kib as f64 / 1024.0 >= target
        {
            let _ = write!(result, "; peak RSS over {target:.0} MiB");
        }
        for m in std::iter::once(s).chain(row.ceiling.as_ref()) {
            if m.errors > 0 {
                let _ = write!(result, "; {} errors ({:?})", m.errors, m.role);
            }
            if m.exhausted {
                result.push_str("; ran out of voters");
            }
        }
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {ceiling_label} | {ceiling_rate} | {} | {} | {} | {ceiling_latency} | {} | {result} |",
            s.backend.as_deref().unwrap_or("–"),
            s.concurrency.map_or("–".into(), |c| c.to_string()),
            thousands(s.rate),
            row.ratio.map_or("–".into(), |r| format!("{r:.2}")),
            s.target.map_or("–".into(), |t| format!("≥ {t:.2}")),
            latency(s),
            s.rss_kib.map_or("–".into(), |kib| format!(
                "{:.1} MiB",
                kib as f64 / 1024.0
            )),
        );
    }
    cpu_table(&mut md, rows);
    round_trips_table(&mut md, rows);
    counting_table(&mut md, rows);
    let peak = rows
        .iter()
        .filter(|r| r.service.rss_target_mib.is_none())
        .filter_map(|r| r.service.rss_kib)
        .max()
        .map(|kib| kib as f64 / 1024.0);
    let targets = rows.iter().filter(|r| r.met.is_some()).count();
    let met = rows.iter().filter(|r| r.met == Some(true)).count();
    let _ = writeln!(md, "\nThroughput targets met: {met} of {targets}.");
    if let Some(peak) = peak {
        let verdict = if peak < RSS_TARGET_MIB {
            "met"
        } else {
            "**not met**"
        };
        let _ = writeln!(
            md,
            "Backend peak resident memory under load: {peak:.1} MiB (target < {RSS_TARGET_MIB:.0} MiB): {verdict}."
        );
    }
    // Rows with a memory target of their own (the counting engine's), once per target.
    let mut seen = Vec::new();
    for row in rows {
        let (Some(target), Some(kib)) = (row.service.rss_target_mib, row.service.rss_kib) else {
            continue;
        };
        if seen.contains(&(target.to_bits(), kib)) {
            continue;
        }
        seen.push((target.to_bits(), kib));
        let mib = kib as f64 / 1024.0;
        let verdict = if mib < target { "met" } else { "**not met**" };
        let _ = writeln!(
            md,
            "{} peak resident memory: {mib:.1} MiB (target < {target:.0} MiB): {verdict}.",
            row.service.backend.as_deref().unwrap_or(&row.service.label)
        );
    }
    md
}

/// Statements the database ran per stored ballot, from pg_stat_statements (reset before each
/// measurement): with every statement one round trip, this is the round trips per ballot.
fn round_trips_table(md: &mut String, rows: &[Row]) {
    let measured: Vec<(&Measurement, Option<u32>)> = rows
        .iter()
        .flat_map(|r| {
            std::iter::once(&r.service)
                .chain(r.ceiling.as_ref())
                .map(|m| (m, r.service.concurrency))
        })
        .filter(|(m, _)| m.statements_per_op.is_some())
        .collect();
    if measured.is_empty() {
        return;
    }
    md.push_str(
        "\nStatements per stored ballot on the PostgreSQL primary (pg_stat_statements calls during the measurement / ballots inserted; each statement is one round trip):\n\n\
         | measurement | conc. | statements per ballot | of which (per ballot) |\n|---|--:|--:|---|\n",
    );
    for (m, concurrency) in measured {
        let name = match m.role {
            Role::Service => format!("{} ({})", m.label, m.backend.as_deref().unwrap_or("–")),
            Role::Ceiling => format!("ceiling: {}", m.label),
        };
        let parts: Vec<String> = m
            .statements
            .iter()
            .filter(|s| s.per_op >= 0.005)
            .take(4)
            .map(|s| {
                let mut query: String = s.query.chars().take(70).collect();
                if s.query.chars().count() > 70 {
                    query.push('…');
                }
                format!("{:.3} × `{}`", s.per_op, query.replace('|', "\\|"))
            })
            .collect();
        let _ = writeln!(
            md,
            "| {name} | {} | {:.3} | {} |",
            concurrency.map_or("–".into(), |c| c.to_string()),
            m.statements_per_op.unwrap_or(0.0),
            if parts.is_empty() {
                "–".to_owned()
            } else {
                parts.join("; ")
            }
        );
    }
}

/// The counting rows' own figures: seconds, ratios, stages and who was elected.
fn counting_table(md: &mut String, rows: &[Row]) {
    let counted: Vec<&Row> = rows
        .iter()
        .filter(|r| r.service.details.contains_key("count_seconds"))
        .collect();
    if counted.is_empty() {
        return;
    }
    md.push_str(
        "\nCounting (single thread; medians of 3 runs; the rates above are ballots per second, so the ratio is parse time / count time; for STV the target is ≥ 0.33, i.e. a count costs at most 3 × parsing):\n\n\
         | count | parse s | count s | count / parse | (parse + count) / parse | stages | elected |\n|---|--:|--:|--:|--:|--:|---|\n",
    );
    for row in counted {
        let d = &row.service.details;
        let num = |key: &str| d.get(key).and_then(|v| v.as_f64()).unwrap_or(0.0);
        let elected = d
            .get("elected")
            .and_then(|v| v.as_array())
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let stages = match (d.get("stages"), d.get("iterations")) {
            (Some(s), Some(i)) => format!("{s} ({i} iterations)"),
            (Some(s), None) => s.to_string(),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {} | {:.3} | {:.3} | {:.2} | {:.2} | {stages} | {elected} |",
            row.service.label,
            num("parse_seconds"),
            num("count_seconds"),
            num("count_seconds") / num("parse_seconds").max(1e-9),
            num("parse_and_count_over_parse"),
        );
    }
}

/// Where the machine's CPU went during each measurement, in cores busy.
fn cpu_table(md: &mut String, rows: &[Row]) {
    const PARTIES: [(&str, &str); 4] = [
        ("server", "securevote"),
        ("postgres", "PostgreSQL primary"),
        ("standby", "PostgreSQL standby"),
        ("load", "load generator / ceiling tool"),
    ];
    let measured: Vec<(&Measurement, Option<u32>)> = rows
        .iter()
        .flat_map(|r| {
            std::iter::once(&r.service)
                .chain(r.ceiling.as_ref())
                .map(|m| (m, r.service.concurrency))
        })
        .filter(|(m, _)| !m.cpu.is_empty())
        .collect();
    if measured.is_empty() {
        return;
    }
    md.push_str("\nCPU cores busy during each measurement (from /proc; the rest of the machine's cores were idle or used by other programs):\n\n| measurement | conc. |");
    for (_, title) in PARTIES {
        let _ = write!(md, " {title} |");
    }
    md.push_str(" total |\n|---|--:|");
    md.push_str(&"--:|".repeat(PARTIES.len() + 1));
    md.push('\n');
    for (m, concurrency) in measured {
        let name = match m.role {
            Role::Service => format!("{} ({})", m.label, m.backend.as_deref().unwrap_or("–")),
            Role::Ceiling => format!("ceiling: {}", m.label),
        };
        let _ = write!(
            md,
            "| {name} | {} |",
            concurrency.map_or("–".into(), |c| c.to_string())
        );
        let mut total = 0.0;
        for (key, _) in PARTIES {
            let cores = m.cpu.get(key).copied().unwrap_or(0.0);
            total += cores;
            let _ = write!(md, " {cores:.2} |");
        }
        let _ = writeln!(md, " {total:.2} |");
    }
}

/// A TrueType font for the chart's text, from the usual Debian places (fonts-dejavu-core).
fn register_font() -> Result<()> {
    const CANDIDATES: &[&str] = &[
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ];
    let Some(bytes) = CANDIDATES.iter().find_map(|path| std::fs::read(path).ok()) else {
        bail!("no TrueType font found (install fonts-dejavu-core); looked in {CANDIDATES:?}");
    };
    // The font must live as long as the process; it is loaded once.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("the font could not be parsed"))
}

fn chart(rows: &[Row], path: &Path) -> Result<()> {
    register_font()?;
    let bars: Vec<&Row> = rows.iter().filter(|r| r.ratio.is_some()).collect();
    let n = bars.len().max(1);
    let top = bars
        .iter()
        .filter_map(|r| r.ratio)
        .fold(1.2f64, |a, b| a.max(b * 1.15));
    let root = BitMapBackend::new(path, (160 * n as u32 + 160, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "securevote / ceiling on this machine (bar: measured ratio, line: target)",
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(110)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..n as f64, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_label_formatter(&|_| String::new())
        .y_desc("ratio to ceiling")
        .label_style(("sans-serif", 15))
        .draw()?;
    for (i, row) in bars.iter().enumerate() {
        let ratio = row.ratio.unwrap_or(0.0);
        let x = i as f64;
        let colour = match row.met {
            Some(true) => RGBColor(46, 139, 87),
            Some(false) => RGBColor(200, 60, 50),
            None => RGBColor(110, 130, 160),
        };
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x + 0.15, 0.0), (x + 0.85, ratio)],
            colour.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{ratio:.2}"),
            (x + 0.38, ratio + top * 0.035),
            ("sans-serif", 16),
        )))?;
        if let Some(target) = row.service.target {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x + 0.05, target), (x + 0.95, target)],
                BLACK.stroke_width(2),
            )))?;
        }
        let short = row
            .service
            .short
            .clone()
            .unwrap_or_else(|| row.service.label.clone());
        let (px, py) = chart.backend_coord(&(x + 0.5, 0.0));
        for (line, text) in short.split(' ').enumerate() {
            root.draw(&Text::new(
                text.to_owned(),
                (px - 4 * text.len() as i32, py + 10 + 18 * line as i32),
                ("sans-serif", 15),
            ))?;
        }
    }
    root.present()?;
    Ok(())
}
