//! One measurement per line of a JSON-lines file: a rate of successful requests (or
//! transactions, or hashes) per second, latency percentiles, errors, and what it is a
//! measurement of. `bench/run` records the service and its ceiling under the same id; the
//! report puts them side by side.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    /// The measurements file (JSON lines), appended to.
    #[arg(long)]
    pub out: PathBuf,
    /// Scenario id; the service and its ceiling share it.
    #[arg(long)]
    pub id: String,
    /// `service` or `ceiling`.
    #[arg(long)]
    pub role: Role,
    /// What was measured, e.g. `GET /api/options` or `pgbench, same INSERT`.
    #[arg(long)]
    pub label: String,
    /// Short name for the chart.
    #[arg(long)]
    pub short: Option<String>,
    #[arg(long)]
    pub backend: Option<String>,
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Lowest acceptable service/ceiling ratio.
    #[arg(long)]
    pub target: Option<f64>,
    /// Peak resident memory of the server during the run, in KiB.
    #[arg(long)]
    pub rss_kib: Option<u64>,
    /// Size of each response body, in bytes.
    #[arg(long)]
    pub body_bytes: Option<u64>,
    /// CPU cores busy during the run, by party: `server=1.2,postgres=0.6,...`.
    #[arg(long, value_parser = parse_cpu)]
    pub cpu: Option<BTreeMap<String, f64>>,
    /// Highest acceptable peak resident memory of this measurement, in MiB (rows without one
    /// are held to the backend's target of the report).
    #[arg(long)]
    pub rss_target_mib: Option<f64>,
    /// Statements the database ran during the measurement (`calls<TAB>query` lines from
    /// pg_stat_statements, reset just before it); with --ops, reported per operation.
    #[arg(long, requires = "ops")]
    pub statements: Option<PathBuf>,
    /// Operations the database stored during the measurement (e.g. ballots inserted).
    #[arg(long)]
    pub ops: Option<u64>,
    /// wrk's output, with the BENCH_RESULT line of bench/lua/report.lua.
    #[arg(long, group = "source")]
    pub wrk: Option<PathBuf>,
    /// pgbench's output (needs --pgbench-logs).
    #[arg(long, group = "source", requires = "pgbench_logs")]
    pub pgbench: Option<PathBuf>,
    /// Directory of pgbench's per-transaction logs (`-l`).
    #[arg(long)]
    pub pgbench_logs: Option<PathBuf>,
    /// A ceiling's result file from this tool; several (e.g. one run just before and one just
    /// after the service's, so that a change in the machine's other load does not favour
    /// either) are combined: their operations over their total time, the mean of their p50s
    /// and the highest p99.
    #[arg(long, group = "source", num_args = 1..)]
    pub json: Option<Vec<PathBuf>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Service,
    Ceiling,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    pub id: String,
    pub role: Role,
    pub label: String,
    pub short: Option<String>,
    pub backend: Option<String>,
    pub concurrency: Option<u32>,
    pub target: Option<f64>,
    /// Successful operations per second.
    pub rate: f64,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// A vote run used up its voters before the time was up.
    pub exhausted: bool,
    pub rss_kib: Option<u64>,
    pub body_bytes: Option<u64>,
    /// Cores busy during the run: server, postgres (primary), standby, load (generator).
    #[serde(default)]
    pub cpu: BTreeMap<String, f64>,
    #[serde(default)]
    pub rss_target_mib: Option<f64>,
    /// Statements executed per stored operation (from pg_stat_statements).
    #[serde(default)]
    pub statements_per_op: Option<f64>,
    /// The statements behind `statements_per_op`, most frequent first.
    #[serde(default)]
    pub statements: Vec<StatementShare>,
    /// Free-form facts about the measurement (e.g. a count's stages), for the report.
    #[serde(default)]
    pub details: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementShare {
    pub per_op: f64,
    pub calls: u64,
    pub query: String,
}

fn parse_cpu(raw: &str) -> Result<BTreeMap<String, f64>, String> {
    raw.split(',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not NAME=CORES"))?;
            let cores = value
                .parse::<f64>()
                .map_err(|_| format!("{value:?} is not a number"))?;
            Ok((key.to_owned(), cores.max(0.0)))
        })
        .collect()
}

struct Numbers {
    rate: f64,
    requests: u64,
    errors: u64,
    p50_ms: f64,
    p99_ms: f64,
    exhausted: bool,
}

pub fn record(args: &RecordArgs) -> Result<()> {
    let numbers = match (&args.wrk, &args.pgbench, &args.json) {
        (Some(wrk), None, None) => from_wrk(wrk)?,
        (None, Some(output), None) => from_pgbench(output, args.pgbench_logs.as_deref())?,
        (None, None, Some(json)) => from_json(json)?,
        _ => bail!("give exactly one of --wrk, --pgbench and --json"),
    };
    let (statements_per_op, statements) = match (&args.statements, args.ops) {
        (Some(path), Some(ops)) => statements_per_op(path, ops)?,
        _ => (None, Vec::new()),
    };
    let measurement = Measurement {
        id: args.id.clone(),
        role: args.role,
        label: args.label.clone(),
        short: args.short.clone(),
        backend: args.backend.clone(),
        concurrency: args.concurrency,
        target: args.target,
        rate: numbers.rate,
        requests: numbers.requests,
        errors: numbers.errors,
        p50_ms: numbers.p50_ms,
        p99_ms: numbers.p99_ms,
        exhausted: numbers.exhausted,
        rss_kib: args.rss_kib,
        body_bytes: args.body_bytes,
        cpu: args.cpu.clone().unwrap_or_default(),
        rss_target_mib: args.rss_target_mib,
        statements_per_op,
        statements,
        details: BTreeMap::new(),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.out)
        .with_context(|| format!("open {}", args.out.display()))?;
    writeln!(file, "{}", serde_json::to_string(&measurement)?)?;
    Ok(())
}

/// Appends measurements made elsewhere (the counting rows).
pub fn append(out: &Path, measurements: &[Measurement]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .with_context(|| format!("open {}", out.display()))?;
    for m in measurements {
        writeln!(file, "{}", serde_json::to_string(m)?)?;
    }
    Ok(())
}

/// pg_stat_statements' calls (`calls<TAB>query` per line) over the operations stored.
fn statements_per_op(path: &Path, ops: u64) -> Result<(Option<f64>, Vec<StatementShare>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut shares: Vec<StatementShare> = text
        .lines()
        .filter_map(|line| {
            let (calls, query) = line.split_once('\t')?;
            Some(StatementShare {
                per_op: 0.0,
                calls: calls.trim().parse().ok()?,
                query: query.trim().to_owned(),
            })
        })
        .collect();
    if ops == 0 {
        return Ok((None, shares));
    }
    let total: u64 = shares.iter().map(|s| s.calls).sum();
    for share in &mut shares {
        share.per_op = share.calls as f64 / ops as f64;
    }
    shares.sort_by_key(|share| std::cmp::Reverse(share.calls));
    Ok((Some(total as f64 / ops as f64), shares))
}

pub fn load(path: &Path) -> Result<Vec<Measurement>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).with_context(|| format!("bad line: {line}")))
        .collect()
}

fn from_wrk(path: &Path) -> Result<Numbers> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let Some(json) = text
        .lines()
        .find_map(|line| line.strip_prefix("BENCH_RESULT "))
    else {
        bail!(
            "{}: no BENCH_RESULT line; wrk said:\n{text}",
            path.display()
        );
    };
    let value: Value = serde_json::from_str(json)?;
    let field = |name: &str| value[name].as_u64().unwrap_or(0);
    let requests = field("requests");
    let errors = field("status_errors") + field("socket_errors");
    let seconds = field("duration_us") as f64 / 1e6;
    Ok(Numbers {
        rate: requests.saturating_sub(errors) as f64 / seconds.max(1e-9),
        requests,
        errors,
        p50_ms: field("p50_us") as f64 / 1000.0,
        p99_ms: field("p99_us") as f64 / 1000.0,
        exhausted: value["exhausted"].as_bool().unwrap_or(false),
    })
}

/// pgbench's own tps (without connection set-up) and failures; percentiles from its
/// per-transaction log (third column: latency in microseconds).
fn from_pgbench(output: &Path, logs: Option<&Path>) -> Result<Numbers> {
    let text =
        std::fs::read_to_string(output).with_context(|| format!("read {}", output.display()))?;
    let number_after = |prefix: &str| -> Option<f64> {
        text.lines().find_map(|line| {
            line.trim()
                .strip_prefix(prefix)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
    };
    let Some(rate) = number_after("tps = ") else {
        bail!("{}: no tps line; pgbench said:\n{text}", output.display());
    };
    let requests = number_after("number of transactions actually processed:").unwrap_or(0.0);
    let failed = number_after("number of failed transactions:").unwrap_or(0.0);
    let mut latencies = Vec::new();
    if let Some(dir) = logs {
        for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
            let log = std::fs::read_to_string(entry?.path())?;
            latencies.extend(log.lines().filter_map(|line| {
                line.split_whitespace()
                    .nth(2)
                    .and_then(|us| us.parse::<u64>().ok())
                    .map(Duration::from_micros)
            }));
        }
    }
    latencies.sort_unstable();
    Ok(Numbers {
        rate,
        requests: requests as u64,
        errors: failed as u64,
        p50_ms: percentile_ms(&latencies, 50.0),
        p99_ms: percentile_ms(&latencies, 99.0),
        exhausted: false,
    })
}

fn from_json(paths: &[PathBuf]) -> Result<Numbers> {
    let (mut ok, mut seconds, mut requests, mut errors) = (0.0, 0.0, 0, 0);
    let (mut p50_sum, mut p99_max) = (0.0, 0.0f64);
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let value: Value = serde_json::from_str(&text)?;
        let rate = value["rate"].as_f64().unwrap_or(0.0);
        let (n, failed) = (
            value["requests"].as_u64().unwrap_or(0),
            value["errors"].as_u64().unwrap_or(0),
        );
        let succeeded = n.saturating_sub(failed) as f64;
        if rate > 0.0 {
            ok += succeeded;
            seconds += succeeded / rate;
        }
        requests += n;
        errors += failed;
        p50_sum += value["p50_ms"].as_f64().unwrap_or(0.0);
        p99_max = p99_max.max(value["p99_ms"].as_f64().unwrap_or(0.0));
    }
    Ok(Numbers {
        rate: if seconds > 0.0 { ok / seconds } else { 0.0 },
        requests,
        errors,
        p50_ms: p50_sum / paths.len().max(1) as f64,
        p99_ms: p99_max,
        exhausted: false,
    })
}

/// Nearest-rank percentile of sorted latencies, in milliseconds (0 when there are none).
pub fn percentile_ms(sorted: &[Duration], percentile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((percentile / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&ms, 50.0), 50.0);
        assert_eq!(percentile_ms(&ms, 99.0), 99.0);
        assert_eq!(percentile_ms(&[], 99.0), 0.0);
    }
}
