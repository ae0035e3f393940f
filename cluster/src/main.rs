//! `cargo run -p cluster -- up|status|failover|rejoin|sync-demo|down|destroy`: the local cluster
//! (deploy/local-cluster, same commands, options, environment and output).
//!
//! What is ported to Rust so far is what the script and the pg_auto_failover fault drills share
//! (settings.rs: reading and rendering the files under deploy/postgres/, the pg_hba rules of
//! auto mode) and the readiness wait on the backends; the script calls these as the helper
//! commands below, and still does the orchestration itself.
//!
//! Helper commands (used by deploy/local-cluster; output on stdout):
//!   render FILE [NAME=VALUE...]     FILE with its @NAME@ placeholders filled in
//!   conf-section FILE SECTION       the `key = value` lines of [SECTION], as key=value
//!   harden-hba PG_HBA RULES HOST    PG_HBA with its rules replaced by RULES' (auto mode)
//!   wait-ballot CANDIDATES SECONDS URL
//!                                   until URL (GET /api/options of one backend) answers 200
//!                                   with every candidate of CANDIDATES; prints their number

mod settings;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const COMMANDS: &[&str] = &[
    "up",
    "status",
    "failover",
    "rejoin",
    "sync-demo",
    "down",
    "destroy",
    "help",
    "-h",
    "--help",
];

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local-cluster")
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("read {path}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None => run_script(&[]),
        Some(command) if COMMANDS.contains(&command) => run_script(&args),
        Some("render") => render(&args[1..]),
        Some("conf-section") => conf_section(&args[1..]),
        Some("harden-hba") => harden_hba(&args[1..]),
        Some("wait-ballot") => wait_ballot(&args[1..]),
        // Unknown commands: the script prints its usage and the error, as before.
        Some(_) => run_script(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cluster: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The command itself: deploy/local-cluster, told where this tool is (for its helper commands).
fn run_script(args: &[String]) -> Result<(), String> {
    let mut command = Command::new(script());
    command.args(args);
    if let Ok(me) = std::env::current_exe() {
        command.env("CLUSTER_BIN", me);
    }
    Err(format!(
        "cannot run {}: {}",
        script().display(),
        command.exec()
    ))
}

fn render(args: &[String]) -> Result<(), String> {
    let file = args.first().ok_or("render FILE [NAME=VALUE...]")?;
    let values = args[1..]
        .iter()
        .map(|kv| kv.split_once('=').ok_or(format!("not NAME=VALUE: {kv}")))
        .collect::<Result<Vec<_>, _>>()?;
    let text = settings::render(&read(file)?, &values).map_err(|e| format!("{file}: {e}"))?;
    print!("{text}");
    Ok(())
}

fn conf_section(args: &[String]) -> Result<(), String> {
    let [file, section] = args else {
        return Err("conf-section FILE SECTION".into());
    };
    let settings = settings::conf_section(&read(file)?, section)?;
    if settings.is_empty() {
        return Err(format!("no [{section}] settings in {file}"));
    }
    for (key, value) in settings {
        println!("{key}={value}");
    }
    Ok(())
}

fn harden_hba(args: &[String]) -> Result<(), String> {
    let [hba, rules, host] = args else {
        return Err("harden-hba PG_HBA RULES HOST".into());
    };
    let rules_text = read(rules)?;
    if !settings::has_pg_auto_failover_marker(&rules_text) {
        return Err(format!(
            "no `# {}` line in {rules}",
            settings::PG_AUTO_FAILOVER_RULES
        ));
    }
    print!(
        "{}",
        settings::hardened_hba(&read(hba)?, &rules_text, host)
            .map_err(|e| format!("{rules}: {e}"))?
    );
    Ok(())
}

/// The candidate names of a `securevote candidates import` file, or of a GET /api/options body.
fn names(json: &str) -> Result<Vec<String>, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    value
        .as_array()
        .ok_or("not a JSON array")?
        .iter()
        .map(|c| {
            c.get("name")
                .and_then(|n| n.as_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("a candidate without a name: {c}"))
        })
        .collect()
}

/// One HTTP/1.0 GET (no chunked answer): the status and the body.
fn get(url: &str) -> Result<(u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let address = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&address, Duration::from_secs(3)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, body.to_owned()))
}

fn wait_ballot(args: &[String]) -> Result<(), String> {
    let [candidates, seconds, url] = args else {
        return Err("wait-ballot CANDIDATES SECONDS URL".into());
    };
    let expected = names(&read(candidates)?).map_err(|e| format!("{candidates}: {e}"))?;
    if expected.is_empty() {
        return Err(format!("no candidates in {candidates}"));
    }
    let limit = Duration::from_secs(seconds.parse().map_err(|_| "SECONDS: a number")?);
    let start = Instant::now();
    loop {
        let last = match get(url) {
            Ok((200, body)) => match names(&body) {
                Ok(served) => {
                    let missing: Vec<&String> =
                        expected.iter().filter(|n| !served.contains(n)).collect();
                    if missing.is_empty() {
                        println!("{}", expected.len());
                        return Ok(());
                    }
                    format!("HTTP 200, missing: {missing:?}")
                }
                Err(e) => format!("HTTP 200, body: {e}"),
            },
            Ok((status, _)) => format!("HTTP {status}"),
            Err(e) => e,
        };
        if start.elapsed() >= limit {
            return Err(format!(
                "{url} does not serve the imported ballot within {seconds}s ({last})"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
