//! The binary itself: start-up failures exit with code 2 and one line naming the setting, with
//! no secret in it; `--help` documents every setting; `migrate` and `candidates import` work.

use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SECRET_PASSWORD: &str = "pa55-DO-NOT-LEAK";

fn securevote(args: &[&str], env: &[(&str, &str)], data_dir: &std::path::Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_securevote"));
    command
        .args(args)
        .env_clear()
        .env("DATA_DIR", data_dir)
        .current_dir(data_dir);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run securevote")
}

fn assert_config_error(output: &Output, setting: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "exit code; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("securevote: configuration error: "),
        "{stderr}"
    );
    assert!(last.contains(setting), "the line names {setting}: {stderr}");
    assert!(
        !stderr.contains(SECRET_PASSWORD),
        "a secret leaked: {stderr}"
    );
}

#[test]
fn bad_configuration_exits_with_code_2_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let dead_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("postgres://vote:{SECRET_PASSWORD}@127.0.0.1:{dead_port}/votes");
    let long_secret = "s".repeat(40);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("PORT", "not-a-port")], "PORT"),
        (vec![("BIND_ADDR", "somewhere")], "BIND_ADDR"),
        (vec![("LOG_FORMAT", "yaml")], "LOG_FORMAT"),
        (
            vec![("DB_CONNECT_TIMEOUT_SECONDS", "0")],
            "DB_CONNECT_TIMEOUT_SECONDS",
        ),
        (
            vec![("DB_CONNECT_TIMEOUT_SECONDS", "inf")],
            "DB_CONNECT_TIMEOUT_SECONDS",
        ),
        (
            vec![("DB_CONNECT_TIMEOUT_SECONDS", "soon")],
            "DB_CONNECT_TIMEOUT_SECONDS",
        ),
        (
            vec![("DB_REQUIRE_SYNC_STANDBY", "true")],
            "DB_REQUIRE_SYNC_STANDBY",
        ),
        (
            vec![("DB_REQUIRE_SYNC_STANDBY", "sometimes")],
            "DB_REQUIRE_SYNC_STANDBY",
        ),
        (
            vec![("DATABASE_URL", "mysql://root:pa55-DO-NOT-LEAK@db/votes")],
            "DATABASE_URL",
        ),
        (
            vec![
                ("DATABASE_URL", "postgres://u:pa55-DO-NOT-LEAK@h:99999/db"),
                ("JWT_SECRET", &long_secret),
            ],
            "DATABASE_URL",
        ),
        (vec![("DATABASE_URL", &unreachable)], "JWT_SECRET"),
        (
            vec![
                ("DATABASE_URL", &unreachable),
                ("JWT_SECRET", "pa55-DO-NOT-LEAK"),
            ],
            "JWT_SECRET",
        ),
        (
            vec![
                ("DB_HOST", "db1:x"),
                ("DB_PASSWORD", SECRET_PASSWORD),
                ("JWT_SECRET", &long_secret),
            ],
            "DB_HOST",
        ),
    ];
    for (env, setting) in cases {
        let output = securevote(&["serve"], &env, dir.path());
        assert_config_error(&output, setting);
    }
}

#[test]
fn commands_that_sign_no_tokens_do_not_need_the_jwt_secret() {
    let dir = tempfile::tempdir().unwrap();
    let dead_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://vote:{SECRET_PASSWORD}@127.0.0.1:{dead_port}/votes");
    std::fs::write(dir.path().join("ballot.json"), r#"[{"name": "Ada"}]"#).unwrap();
    std::fs::write(dir.path().join("voters.csv"), "email,password\n").unwrap();

    for args in [
        &["migrate"][..],
        &["candidates", "import", "ballot.json"],
        &["users", "import", "voters.csv"],
        &["admin", "create", "--email", "boss@example.org"],
    ] {
        let output = securevote(args, &[("DATABASE_URL", &url)], dir.path());

        // The command gets as far as the (unreachable) database.
        assert_config_error(&output, "DATABASE_URL");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("JWT_SECRET"), "{args:?}: {stderr}");
    }
}

#[test]
fn an_unreachable_database_stops_start_up_after_the_connect_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let dead_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://vote:{SECRET_PASSWORD}@127.0.0.1:{dead_port}/votes");
    let started = Instant::now();

    let output = securevote(
        &["serve"],
        &[("DATABASE_URL", &url), ("JWT_SECRET", &"k".repeat(32))],
        dir.path(),
    );

    assert_config_error(&output, "DATABASE_URL");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_port_in_use_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();

    let output = securevote(
        &["serve"],
        &[("PORT", &port), ("BIND_ADDR", "127.0.0.1")],
        dir.path(),
    );

    assert_config_error(&output, "PORT");
}

#[test]
fn a_malformed_env_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "PORT=3000\nthis line is not a setting\n",
    )
    .unwrap();

    let output = securevote(&["serve"], &[], dir.path());

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains(".env"));
}

#[test]
fn help_documents_every_subcommand_and_setting() {
    let dir = tempfile::tempdir().unwrap();
    let help = String::from_utf8(securevote(&["--help"], &[], dir.path()).stdout).unwrap();
    for word in [
        "serve",
        "migrate",
        "candidates",
        "backup",
        "trustee",
        "verify",
        "DATABASE_URL",
        "DB_HOST",
        "DB_PORT",
        "DB_USER",
        "DB_PASSWORD",
        "DB_NAME",
        "DB_SSLMODE",
        "DB_SSLROOTCERT",
        "DB_REQUIRE_SYNC_STANDBY",
        "DB_CONNECT_TIMEOUT_SECONDS",
        "JWT_SECRET",
        "JWT_TTL_SECONDS",
        "PORT",
        "BIND_ADDR",
        "DATA_DIR",
        "LOG_FORMAT",
        "DB_POOL_SIZE",
        "admin",
        "TRUSTED_PROXIES",
        "CORS_ALLOWED_ORIGINS",
        "REQUEST_TIMEOUT_SECONDS",
        "MAX_HEADER_BYTES",
        "MAX_BODY_BYTES",
        "ARGON2_MAX_CONCURRENT",
        "ARGON2_MAX_QUEUED",
        "LOGIN_LIMIT_PER_IP",
        "REGISTER_LIMIT_PER_IP",
        "REGISTER_LIMIT_PER_ACCOUNT",
        "LOGIN_MAX_FAILURES",
        "LOGIN_FAILURE_WINDOW_SECONDS",
        "LOGIN_LOCKOUT_SECONDS",
        "LOGIN_LOCKOUT_MAX_SECONDS",
    ] {
        assert!(
            help.contains(word),
            "--help does not mention {word}:\n{help}"
        );
    }
    let import_help =
        String::from_utf8(securevote(&["candidates", "import", "--help"], &[], dir.path()).stdout)
            .unwrap();
    assert!(import_help.contains("JSON"), "{import_help}");
}

#[test]
fn migrate_and_candidates_import_work_on_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ballot.json");
    std::fs::write(
        &file,
        r#"[{"name": "Ada", "party": null, "description": "Analytical"}, {"name": "Grace"}]"#,
    )
    .unwrap();

    let migrate = securevote(&["migrate"], &[], dir.path());
    let import = securevote(
        &["candidates", "import", file.to_str().unwrap()],
        &[],
        dir.path(),
    );
    let bad = securevote(&["candidates", "import", "missing.json"], &[], dir.path());

    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let latest = securevote::store::SQLITE_MIGRATIONS.len();
    assert!(String::from_utf8_lossy(&migrate.stdout).contains(&format!("version {latest}")));
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert!(String::from_utf8_lossy(&import.stdout).contains("imported 2 candidates"));
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("missing.json"));

    // The import is audited like an admin's change, with no account as the actor.
    let conn = rusqlite::Connection::open(dir.path().join("securevote.db")).unwrap();
    let imported: String = conn
        .query_row(
            "SELECT after FROM audit_log WHERE action = 'candidate.import' AND actor_id IS NULL
             AND after LIKE '%Analytical%'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(imported.contains("Grace"), "{imported}");

    // A name the database could not store is refused by the same rule as over HTTP.
    let long = dir.path().join("long.json");
    std::fs::write(&long, format!(r#"[{{"name": "{}"}}]"#, "x".repeat(300))).unwrap();
    let refused = securevote(
        &["candidates", "import", long.to_str().unwrap()],
        &[],
        dir.path(),
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("candidate #1: name: must be at most 255 characters"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn json_logs_metrics_and_graceful_shutdown_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let log_path = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_securevote"))
        .env_clear()
        .env("DATA_DIR", dir.path())
        .env("PORT", port.to_string())
        .env("BIND_ADDR", "127.0.0.1")
        .env("LOG_FORMAT", "json")
        .env("METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(
        client
            .get(format!("{base}/api/options"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let metrics = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = metrics.text().await.unwrap();
    for needle in [
        r#"securevote_http_requests_total{method="GET",route="/api/options",status="200"} 1"#,
        "securevote_http_request_duration_seconds_bucket",
        "securevote_db_pool_max_connections 16",
    ] {
        assert!(
            metrics.contains(needle),
            "metrics lack {needle}:\n{metrics}"
        );
    }
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(11),
            "no exit within the 10 s grace period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert!(status.success(), "exit status {status}");
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let request_line = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|entry| entry["span"]["route"] == "/api/options")
        .unwrap_or_else(|| panic!("no JSON request line for /api/options:\n{logs}"));
    assert_eq!(request_line["status"], 200);
    assert_eq!(request_line["span"]["method"], "GET");
    assert!(request_line["latency_ms"].is_number());
    assert!(logs.contains("stopped"), "{logs}");
}

fn securevote_with_stdin(args: &[&str], stdin: &str, data_dir: &std::path::Path) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_securevote"))
        .args(args)
        .env_clear()
        .env("DATA_DIR", data_dir)
        .current_dir(data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run securevote");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn admin_create_makes_or_promotes_an_admin_and_audits_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = securevote::store::open(
        &securevote::config::DatabaseConfig::Sqlite {
            path: dir.path().join("securevote.db"),
        },
        1,
    )
    .await
    .unwrap();
    let voter = securevote::domain::Email::parse("voter@example.org").unwrap();
    let voter_id = store
        .create_user(&voter, "$argon2id$v=19$unused")
        .await
        .unwrap()
        .id;

    let created = securevote_with_stdin(
        &["admin", "create", "--email", "Boss@Example.org"],
        "admin password 1\n",
        dir.path(),
    );
    let again = securevote_with_stdin(
        &["admin", "create", "--email", "boss@example.org"],
        "",
        dir.path(),
    );
    let promoted = securevote_with_stdin(
        &["admin", "create", "--email", "voter@example.org"],
        "",
        dir.path(),
    );
    let short = securevote_with_stdin(
        &["admin", "create", "--email", "new@example.org"],
        "short\n",
        dir.path(),
    );
    let bad_email =
        securevote_with_stdin(&["admin", "create", "--email", "nobody"], "", dir.path());

    let stdout = |o: &Output| String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(
        stdout(&created).contains("created admin boss@example.org"),
        "{}",
        stdout(&created)
    );
    assert!(
        stdout(&again).contains("already an admin"),
        "{}",
        stdout(&again)
    );
    assert!(
        stdout(&promoted).contains("promoted voter@example.org"),
        "{}",
        stdout(&promoted)
    );
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("8 to 128"));
    assert_eq!(bad_email.status.code(), Some(1));
    let credentials = store.credentials(&voter).await.unwrap().unwrap();
    assert_eq!(
        credentials.password_hash, "$argon2id$v=19$unused",
        "password left alone"
    );
    assert_eq!(
        store.user_role(voter_id).await.unwrap(),
        Some(securevote::store::Role::Admin)
    );
    let boss = securevote::domain::Email::parse("boss@example.org").unwrap();
    let boss_hash = store
        .credentials(&boss)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(boss_hash.starts_with("$argon2id$"));
    let actions: Vec<String> = store
        .audit_log(10, None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.action)
        .collect();
    assert_eq!(actions, ["user.promote", "user.create_admin"]);
    store.close().await;
}

#[test]
fn elections_are_created_listed_and_moved_through_their_lifecycle_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("election.json");
    std::fs::write(
        &file,
        r#"{"slug": "agm-2027", "title": "AGM 2027", "timezone": "America/New_York",
            "opens_at": "2030-06-01T13:00:00Z", "closes_at": "2030-06-02T13:00:00Z",
            "contests": [{"title": "Chair", "choices": [{"name": "Ada"}, {"name": "Grace"}]}]}"#,
    )
    .unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"slug": "bad", "title": "Bad", "contests": [{"title": "Empty", "choices": []}]}"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let output = securevote(args, &[], dir.path());
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (code, out, err) = run(&["elections", "create", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("agm-2027") && out.contains("draft"), "{out}");
    assert!(
        out.contains("2030-06-01T09:00:00.000-04:00"),
        "shown in its zone: {out}"
    );
    let (code, _, err) = run(&["elections", "create", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("contests[0].choices"), "{err}");
    let (code, out, err) = run(&["elections", "schedule", "agm-2027"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("scheduled"), "{out}");
    let (code, _, err) = run(&["elections", "publish", "agm-2027"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot publish an election that is scheduled"),
        "{err}"
    );
    for (action, state) in [
        ("open", "open"),
        ("close", "closed"),
        ("publish", "published"),
        ("archive", "archived"),
    ] {
        let (code, out, err) = run(&["elections", action, "agm-2027"]);
        assert_eq!(code, Some(0), "{action}: {err}");
        assert!(out.contains(state), "{action}: {out}");
    }
    let (code, out, _) = run(&["elections", "list"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("agm-2027") && out.contains("archived"),
        "{out}"
    );
    assert!(
        out.contains("(default)"),
        "the default election is listed: {out}"
    );

    // Every change is in the audit log with no account as its actor.
    let conn = rusqlite::Connection::open(dir.path().join("securevote.db")).unwrap();
    let actions: Vec<(String, Option<String>)> = conn
        .prepare(
            "SELECT action, actor_id FROM audit_log WHERE target_type = 'election' ORDER BY id",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        names,
        [
            "election.create",
            "election.schedule",
            "election.open",
            "election.close",
            "election.publish",
            "election.archive"
        ]
    );
    assert!(actions.iter().all(|(_, actor)| actor.is_none()));
}

#[test]
fn roll_import_names_bad_lines_in_a_dry_run_and_imports_a_fixed_file() {
    let dir = tempfile::tempdir().unwrap();
    let election = dir.path().join("election.json");
    std::fs::write(
        &election,
        r#"{"slug": "senate", "title": "Senate", "eligibility": "roll",
            "contests": [{"title": "Seat", "choices": [{"name": "Ada"}, {"name": "Grace"}]}]}"#,
    )
    .unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "\u{feff}email;name;weight\nada@example.org;Ada;1\nnope;X;1\ngrace@example.org;Grace;-2\n",
    )
    .unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "email,name,weight\nada@example.org,Ada,1\ngrace@example.org,Grace,2\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let output = securevote(args, &[], dir.path());
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(
        run(&["elections", "create", election.to_str().unwrap()]).0,
        Some(0)
    );

    let (code, out, err) = run(&[
        "roll",
        "import",
        "senate",
        bad.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("1 added") && out.contains("dry run"), "{out}");
    assert!(out.contains("bad.csv:3: rejected: bad email"), "{out}");
    assert!(out.contains("bad.csv:4: rejected: bad weight"), "{out}");
    let (code, _, err) = run(&["roll", "import", "senate", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("nothing was imported"), "{err}");
    let (code, out, err) = run(&["roll", "import", "senate", good.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("2 added, 0 updated, 0 unchanged, 0 removed"),
        "{out}"
    );
    let (_, again, _) = run(&["roll", "import", "senate", good.to_str().unwrap()]);
    assert!(
        again.contains("0 added, 0 updated, 2 unchanged, 0 removed"),
        "{again}"
    );
    assert_eq!(run(&["elections", "schedule", "senate"]).0, Some(0));
    let (code, _, err) = run(&["roll", "import", "senate", good.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("frozen"), "{err}");
}

/// systemd's notification protocol, spoken to a real datagram socket as systemd would listen:
/// READY=1 once listening, WATCHDOG=1 at half the interval while the process runs, none while
/// it is stopped (SIGSTOP), and STOPPING=1 at shutdown.
#[test]
fn systemd_is_told_when_the_service_is_ready_alive_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_securevote"))
        .env_clear()
        .env("DATA_DIR", dir.path())
        .env("PORT", free_port().to_string())
        .env("BIND_ADDR", "127.0.0.1")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args([name, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name}");
    };
    // Messages received within `window`.
    let receive = |window: Duration| {
        let mut messages = Vec::new();
        let until = Instant::now() + window;
        let mut buffer = [0u8; 256];
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match socket.recv(&mut buffer) {
                Ok(n) => messages.push(String::from_utf8_lossy(&buffer[..n]).trim().to_owned()),
                Err(_) => break,
            }
        }
        messages
    };
    let mut first = Vec::new();
    let started = Instant::now();
    while !first.iter().any(|m| m == "READY=1") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no READY=1: {first:?}"
        );
        first.extend(receive(Duration::from_millis(200)));
    }
    let pings = receive(Duration::from_millis(1500));
    let count = pings.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(count >= 4, "WATCHDOG=1 every 0.2 s: {pings:?}");

    signal("-STOP");
    receive(Duration::from_millis(100));
    let while_stopped = receive(Duration::from_millis(1200));
    signal("-CONT");
    assert!(
        while_stopped.is_empty(),
        "a stopped process pings: {while_stopped:?}"
    );
    let resumed = receive(Duration::from_millis(1000));
    assert!(resumed.iter().any(|m| m == "WATCHDOG=1"), "{resumed:?}");

    signal("-TERM");
    let last = receive(Duration::from_secs(3));
    assert!(last.iter().any(|m| m == "STOPPING=1"), "{last:?}");
    assert!(child.wait().unwrap().success());

    // The unit asks for exactly this.
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/securevote.service"),
    )
    .unwrap();
    for line in ["Type=notify", "NotifyAccess=main", "WatchdogSec=10s"] {
        assert!(
            unit.lines().any(|l| l.trim() == line),
            "the unit lacks {line}"
        );
    }
}
