//! Processes, pid files, waits and HTTP probes of the local cluster: what the bash script did
//! with `kill -0`, `/proc/PID/cmdline`, `date +%s` loops and curl.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type R<T> = Result<T, String>;

pub struct Style {
    pub bold: &'static str,
    pub red: &'static str,
    pub green: &'static str,
    pub yellow: &'static str,
    pub reset: &'static str,
}

pub fn style() -> Style {
    if std::io::stdout().is_terminal() {
        Style {
            bold: "\x1b[1m",
            red: "\x1b[31m",
            green: "\x1b[32m",
            yellow: "\x1b[33m",
            reset: "\x1b[0m",
        }
    } else {
        Style {
            bold: "",
            red: "",
            green: "",
            yellow: "",
            reset: "",
        }
    }
}

pub fn say(message: &str) {
    let s = style();
    println!("{}==>{} {message}", s.bold, s.reset);
}

pub fn ok(message: &str) {
    let s = style();
    println!("    {}ok{}  {message}", s.green, s.reset);
}

pub fn warn(message: &str) {
    let s = style();
    let _ = std::io::stdout().flush();
    eprintln!("{}warning:{} {message}", s.yellow, s.reset);
}

/// Seconds since `start`, one decimal (the failover timings).
pub fn secs(start: Instant) -> String {
    format!("{:.1}", start.elapsed().as_secs_f64())
}

/// Whether PID runs and its command line contains `word` (guards against pid reuse; a zombie
/// has an empty command line).
pub fn pid_alive(pid: u32, word: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(word)
        })
        .unwrap_or(false)
}

/// The first line of a pid file, when it is a number.
pub fn pidfile_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The pid of a pid file whose process runs with `word` in its command line.
pub fn live_pid(path: &Path, word: &str) -> Option<u32> {
    pidfile_pid(path).filter(|&pid| pid_alive(pid, word))
}

pub fn signal(pid: i32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) has no memory effects; a stale pid only yields ESRCH.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Signal PID, wait up to 20 s for it to be gone, then SIGKILL.
pub fn stop_pid(pid: u32, word: &str, name: &str, sig: libc::c_int, sig_name: &str) {
    if !pid_alive(pid, word) {
        return;
    }
    signal(pid as i32, sig);
    if wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
        !pid_alive(pid, word)
    }) {
        ok(&format!("stopped {name} (pid {pid})"));
        return;
    }
    warn(&format!(
        "{name} (pid {pid}) did not stop after SIG{sig_name}, sending SIGKILL"
    ));
    signal(pid as i32, libc::SIGKILL);
    std::thread::sleep(Duration::from_millis(500));
}

/// Polls `done` every `every` until it holds (true) or `limit` has passed (false); `done` is
/// always tried at least once, and once more at the limit.
pub fn wait_until(limit: Duration, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// `command`'s stdout when it exits 0, else its stderr (or exit status) as the error.
pub fn output(command: &mut Command) -> R<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        Err(if err.is_empty() {
            format!("{:?} exited with {}", command.get_program(), out.status)
        } else {
            err
        })
    }
}

/// `command` with stdin from `input`: its stdout when it exits 0.
pub fn output_with_input(command: &mut Command, input: &str) -> R<String> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{command:?}: {e}"))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Runs `command` with stdout and stderr appended to `log`; whether it exited 0.
pub fn run_logged(command: &mut Command, log: &Path) -> R<bool> {
    let file = append(log)?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    Ok(command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .status()
        .map_err(|e| format!("{command:?}: {e}"))?
        .success())
}

/// Like `run_logged`, the log truncated first (`>` rather than `>>`).
pub fn run_logged_fresh(command: &mut Command, log: &Path) -> R<bool> {
    File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    run_logged(command, log)
}

/// Starts `command` in the background (stdin /dev/null, output appended to `log`); its pid.
pub fn spawn_logged(command: &mut Command, log: &Path) -> R<Child> {
    let file = append(log)?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{command:?}: {e}"))
}

pub fn append(path: &Path) -> R<File> {
    File::options()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// How a command with a deadline ended.
pub enum Deadline {
    Exited(bool, String),
    TimedOut,
}

/// Runs `command` for at most `limit` (then SIGTERM, as timeout(1) does).
pub fn run_with_deadline(command: &mut Command, limit: Duration) -> R<Deadline> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{command:?}: {e}"))?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let mut text = String::new();
            if let Some(mut out) = child.stdout.take() {
                let _ = out.read_to_string(&mut text);
            }
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut text);
            }
            return Ok(Deadline::Exited(status.success(), text));
        }
        if start.elapsed() >= limit {
            signal(child.id() as i32, libc::SIGTERM);
            let _ = child.wait();
            return Ok(Deadline::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.0 GET (no chunked answer): the status and the body.
pub fn get(url: &str) -> R<(u16, String)> {
    request("GET", url, &[], None, Duration::from_secs(3))
}

/// One HTTP/1.0 request (no chunked answer) with extra `headers` and an optional JSON `body`,
/// all of it (connect, send, answer) within `timeout`: the status and the body.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    timeout: Duration,
) -> R<(u16, String)> {
    let start = Instant::now();
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let address = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let left = |start: Instant| {
        timeout
            .checked_sub(start.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer within {} s", timeout.as_secs_f64()))
    };
    let mut stream =
        TcpStream::connect_timeout(&address, left(start)?).map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(left(start)?))
        .map_err(|e| e.to_string())?;
    let mut head =
        format!("{method} {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n");
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    if let Some(body) = body {
        head += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    head += "\r\n";
    head += body.unwrap_or_default();
    stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        stream
            .set_read_timeout(Some(left(start)?))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, body.to_owned()))
}

/// The HTTP status of URL as three digits, 000 when there is no answer; https:// through curl
/// (the self-signed certificate of the local NGINX).
pub fn http_code(url: &str) -> String {
    if url.starts_with("https://") {
        return output(Command::new("curl").args([
            "-k",
            "-s",
            "-o",
            "/dev/null",
            "-m",
            "3",
            "-w",
            "%{http_code}",
            url,
        ]))
        .unwrap_or_else(|_| "000".into());
    }
    match get(url) {
        Ok((status, _)) => format!("{status:03}"),
        Err(_) => "000".into(),
    }
}

pub fn wait_http_200(url: &str, limit: Duration) -> bool {
    wait_until(limit, Duration::from_millis(200), || {
        http_code(url) == "200"
    })
}

/// The candidate names of a `securevote candidates import` file, or of a GET /api/options body.
pub fn names(json: &str) -> R<Vec<String>> {
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

/// Until URL (GET /api/options of one backend) answers 200 with every name of `expected`.
pub fn wait_ballot(expected: &[String], limit: Duration, url: &str) -> R<()> {
    let start = Instant::now();
    loop {
        let last = match get(url) {
            Ok((200, body)) => match names(&body) {
                Ok(served) => {
                    let missing: Vec<&String> =
                        expected.iter().filter(|n| !served.contains(n)).collect();
                    if missing.is_empty() {
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
                "{url} does not serve the imported ballot within {}s ({last})",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// 32 random bytes as hex (`openssl rand -hex 32`).
pub fn random_hex() -> R<String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_by_its_name_only() {
        let me = std::process::id();
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_str().unwrap();
        assert!(pid_alive(me, &name[..6]));
        assert!(!pid_alive(me, "no-such-word-in-the-cmdline"));
        assert!(!pid_alive(u32::MAX - 1, "x"));
    }

    #[test]
    fn waits_poll_until_true_or_the_limit() {
        let mut n = 0;
        assert!(wait_until(Duration::from_secs(1), Duration::ZERO, || {
            n += 1;
            n == 3
        }));
        let start = Instant::now();
        assert!(!wait_until(
            Duration::from_millis(100),
            Duration::from_millis(20),
            || false
        ));
        assert!(start.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn a_deadline_stops_a_slow_command() {
        let ended =
            run_with_deadline(Command::new("sleep").arg("5"), Duration::from_millis(200)).unwrap();
        assert!(matches!(ended, Deadline::TimedOut));
        let ended =
            run_with_deadline(Command::new("echo").arg("hi"), Duration::from_secs(5)).unwrap();
        assert!(matches!(ended, Deadline::Exited(true, ref out) if out == "hi\n"));
    }

    #[test]
    fn names_of_a_ballot() {
        assert_eq!(
            names(r#"[{"name":"a","id":1},{"name":"b"}]"#).unwrap(),
            ["a", "b"]
        );
        assert!(names(r#"{"name":"a"}"#).is_err());
    }

    #[test]
    fn random_secrets_differ() {
        let a = random_hex().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_hex().unwrap());
    }
}
