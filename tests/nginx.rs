//! The real NGINX with the project's configuration (deploy/nginx) in front of the service:
//! NGINX's own errors are the API's JSON, ACME challenges are served, one address flooding it
//! with slow or half-sent requests does not stop other clients, and a frozen backend (SIGSTOP)
//! costs reads and votes a short delay, never an error.

#[path = "support/nginx.rs"]
mod nginx;
#[path = "support/postgres.rs"]
mod postgres;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use nginx::Nginx;
use postgres::free_port;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// NGINX with the project's configuration (production defaults for the per-address limits) in
/// front of backends on these loopback ports, ACME challenges served from `acme_root`.
fn start_nginx(backend_ports: &[u16], work: &Path, acme_root: &Path) -> Nginx {
    let backends: Vec<String> = backend_ports
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    Nginx::start(&backends, work, &[("ACME_ROOT", acme_root.into())])
}

/// The service on SQLite, in this process, trusting NGINX's X-Forwarded-For.
struct Backend {
    port: u16,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _data: tempfile::TempDir,
}

impl Backend {
    async fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut settings = securevote::config::Settings {
            data_dir: data.path().to_path_buf(),
            bind_addr: std::net::Ipv4Addr::LOCALHOST.into(),
            port: 0,
            ..Default::default()
        };
        settings.security.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        let config = securevote::config::Config::from_settings(&settings).unwrap();
        let app = securevote::app::Application::build(&config).await.unwrap();
        let port = app.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            port,
            shutdown: Some(tx),
            server: Some(server),
            _data: data,
        }
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

/// Status, headers and body of a raw HTTP/1.1 exchange (the request as bytes, as sent).
async fn raw(port: u16, source: [u8; 4], request: &[u8]) -> (u16, String, String) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let mut stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn assert_json_error(what: &str, status: u16, head: &str, body: &str, want: u16, code: &str) {
    assert_eq!(status, want, "{what}: {head}\n{body}");
    assert!(
        head.contains("content-type: application/json"),
        "{what}: {head}"
    );
    let json: Value = serde_json::from_str(body.trim())
        .unwrap_or_else(|_| panic!("{what}: body is not JSON: {body}"));
    assert_eq!(json["error"]["code"], code, "{what}: {body}");
    assert!(json["error"]["message"].is_string(), "{what}: {body}");
}

async fn get(port: u16, path: &str, extra_headers: &str) -> (u16, String, String) {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    raw(port, [127, 0, 0, 1], request.as_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_own_errors_are_the_api_json_shape_and_acme_challenges_are_served() {
    let work = tempfile::tempdir().unwrap();
    let acme = work.path().join("acme");
    std::fs::create_dir_all(acme.join(".well-known/acme-challenge")).unwrap();
    std::fs::write(
        acme.join(".well-known/acme-challenge/tok3n"),
        "tok3n.thumbprint",
    )
    .unwrap();
    let mut backend = Backend::start().await;
    let nginx = start_nginx(&[backend.port], work.path(), &acme);
    let port = nginx.port;

    // Through to the backend as usual.
    let (status, _, body) = get(port, "/api/options", "").await;
    assert_eq!(status, 200, "{body}");

    // 413: a body over client_max_body_size, refused by NGINX before any backend.
    let big = format!(
        r#"{{"email":"a@example.org","password":"{}"}}"#,
        "x".repeat(20_000)
    );
    let request = format!(
        "POST /api/auth/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
        big.len()
    );
    let (status, head, body) = raw(port, [127, 0, 0, 1], request.as_bytes()).await;
    assert_json_error("413", status, &head, &body, 413, "payload_too_large");

    // 414: a request line over large_client_header_buffers.
    let (status, head, body) = get(port, &format!("/api/{}", "a".repeat(9000)), "").await;
    if status != 414 {
        eprintln!(
            "{}",
            std::fs::read_to_string(work.path().join("nginx/logs/error.log")).unwrap_or_default()
        );
    }
    assert_json_error("414", status, &head, &body, 414, "uri_too_long");

    // 494 (a header over the buffers), answered as 431.
    let (status, head, body) = get(
        port,
        "/api/options",
        &format!("X-Big: {}\r\n", "b".repeat(9000)),
    )
    .await;
    assert_json_error("431", status, &head, &body, 431, "headers_too_large");

    // 400: a malformed request (two Host headers).
    let (status, head, body) = raw(
        port,
        [127, 0, 0, 1],
        b"GET /api/options HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n",
    )
    .await;
    assert_json_error("400", status, &head, &body, 400, "invalid_request");

    // 404 from NGINX itself: /metrics and dot-files never reach a backend.
    for path in [
        "/metrics",
        "/.git/config",
        "/.env",
        "/.well-known/security.txt",
    ] {
        let (status, head, body) = get(port, path, "").await;
        assert_json_error(path, status, &head, &body, 404, "not_found");
    }

    // 405: a POST to a static file.
    let (status, head, body) = raw(
        port,
        [127, 0, 0, 1],
        b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_json_error("405", status, &head, &body, 405, "method_not_allowed");

    // ACME HTTP-01: the challenge file, despite the dot-file rule.
    let (status, _, body) = get(port, "/.well-known/acme-challenge/tok3n", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "tok3n.thumbprint");
    let (status, head, body) = get(port, "/.well-known/acme-challenge/missing", "").await;
    assert_json_error("missing challenge", status, &head, &body, 404, "not_found");

    // 502 (no backend answers) becomes the API's 503 `unavailable`, with Retry-After.
    backend.stop().await;
    let (status, head, body) = get(port, "/api/options", "").await;
    assert_json_error("502", status, &head, &body, 503, "unavailable");
    assert!(head.contains("retry-after: 5"), "{head}");
    drop(nginx);
}

/// A connection from `source` that sends half a request line and then nothing.
async fn half_request(port: u16, source: [u8; 4]) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind((source, 0).into()).ok()?;
    let mut stream = socket.connect(([127, 0, 0, 1], port).into()).await.ok()?;
    stream.write_all(b"GET /api/opt").await.ok()?;
    Some(stream)
}

/// A POST from `source` whose headers are complete but whose body never comes.
async fn slow_body(port: u16, source: [u8; 4]) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind((source, 0).into()).ok()?;
    let mut stream = socket.connect(([127, 0, 0, 1], port).into()).await.ok()?;
    stream
        .write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        .await
        .ok()?;
    Some(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_flooding_nginx_does_not_stop_other_clients() {
    let work = tempfile::tempdir().unwrap();
    let mut backend = Backend::start().await;
    let nginx = start_nginx(&[backend.port], work.path(), work.path());
    let port = nginx.port;
    let flooder = [127, 0, 0, 2];

    // Half-sent request lines (held until client_header_timeout) and slow bodies.
    let mut held = Vec::new();
    for _ in 0..300 {
        held.extend(half_request(port, flooder).await);
    }
    let mut slow = Vec::new();
    for _ in 0..80 {
        slow.extend(slow_body(port, flooder).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Meanwhile, everyone else is served normally.
    let client = reqwest::Client::new();
    for n in 0..50 {
        let response = client
            .get(format!("{}/api/options", nginx.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "request {n} during the flood");
        tokio::time::sleep(Duration::from_millis(60)).await;
    }

    // The flooder's requests beyond its burst (limit_req) or its connections (limit_conn) are
    // answered with the JSON 429 or 503 (once NGINX has discarded what body arrives), instead
    // of each holding a connection for as long as it trickles.
    let answers = futures_util::future::join_all(slow.iter_mut().map(|stream| async move {
        let mut buffer = vec![0u8; 2048];
        match tokio::time::timeout(Duration::from_secs(12), stream.read(&mut buffer)).await {
            Ok(Ok(n)) => String::from_utf8_lossy(&buffer[..n]).into_owned(),
            _ => String::new(),
        }
    }))
    .await;
    let refused = answers
        .iter()
        .filter(|text| {
            (text.starts_with("HTTP/1.1 429") && text.contains(r#""code":"rate_limited""#))
                || (text.starts_with("HTTP/1.1 503") && text.contains(r#""code":"unavailable""#))
        })
        .count();
    assert!(
        refused >= 30,
        "only {refused} of 80 slow bodies were refused"
    );

    // A burst of requests from one address: beyond the rate and its burst, JSON 429.
    let burst = (0..120).map(|_| {
        raw(
            port,
            [127, 0, 0, 3],
            b"GET /api/options HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
    });
    let answers = futures_util::future::join_all(burst).await;
    let limited: Vec<_> = answers
        .iter()
        .filter(|(status, _, _)| *status == 429)
        .collect();
    assert!(!limited.is_empty(), "no 429 in a burst of 120");
    let (_, head, body) = limited[0];
    assert_json_error("429", 429, head, body, 429, "rate_limited");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert!(
        answers
            .iter()
            .all(|(status, _, _)| matches!(status, 200 | 429)),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    drop(held);
    drop(slow);
    backend.stop().await;
}

/// The service as its own process (so that it can be frozen with SIGSTOP), on PostgreSQL.
struct BackendProcess {
    port: u16,
    child: Child,
}

impl BackendProcess {
    async fn start(database_url: &str, data_dir: &Path) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_securevote"))
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("JWT_SECRET", "frozen-backend-test-secret-0123456789abcdef")
            .env("DATA_DIR", data_dir)
            .env("PORT", port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("TRUSTED_PROXIES", "127.0.0.1/32")
            .env("REGISTER_LIMIT_PER_IP", "100000")
            .env("LOGIN_LIMIT_PER_IP", "100000")
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("start securevote");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "backend did not become healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { port, child }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for BackendProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_backend_costs_a_short_delay_never_an_error() {
    const VOTERS: usize = 24;
    let work = tempfile::tempdir().unwrap();
    let pg = postgres::PgCluster::start();
    let database = pg.create_database().await;
    let url = pg.url(&database);
    let import = Command::new(env!("CARGO_BIN_EXE_securevote"))
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .args(["candidates", "import"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/candidates.example.json"))
        .output()
        .unwrap();
    assert!(import.status.success());
    let frozen = BackendProcess::start(&url, work.path()).await;
    let healthy = BackendProcess::start(&url, work.path()).await;
    let nginx = start_nginx(&[frozen.port, healthy.port], work.path(), work.path());
    let client = reqwest::Client::new();

    // Voters sign in directly at the healthy backend, before anything is frozen.
    let direct = format!("http://127.0.0.1:{}", healthy.port);
    let mut tokens = Vec::new();
    for i in 0..VOTERS {
        let body = serde_json::json!({"email": format!("frozen-{i}@example.org"), "password": "correct horse battery"});
        let registered = client
            .post(format!("{direct}/api/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 201);
        let login: Value = client
            .post(format!("{direct}/api/auth/login"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(login["token"].as_str().unwrap().to_owned());
    }
    let candidates: Value = client
        .get(format!("{}/api/candidates", nginx.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let candidate = candidates[0]["id"].as_str().unwrap().to_owned();

    frozen.signal("-STOP");
    // Reads and votes through NGINX, four at a time, while one backend is frozen.
    let started = Instant::now();
    let outcomes = futures_util::future::join_all((0..4).map(|lane| {
        let (client, tokens, candidate) = (client.clone(), tokens.clone(), candidate.clone());
        let (reads, votes) = (
            format!("{}/api/options", nginx.url()),
            format!("{}/api/votes", nginx.url()),
        );
        async move {
            let mut seen = Vec::new();
            for i in (lane..VOTERS).step_by(4) {
                let at = Instant::now();
                let status = client.get(&reads).send().await.unwrap().status().as_u16();
                seen.push(("read", status, at.elapsed()));
                let at = Instant::now();
                let status = client
                    .post(&votes)
                    .bearer_auth(&tokens[i])
                    .header("Idempotency-Key", format!("frozen-vote-{i}"))
                    .json(&serde_json::json!({"candidate_id": candidate}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                seen.push(("vote", status, at.elapsed()));
            }
            seen
        }
    }))
    .await;
    let elapsed = started.elapsed();
    frozen.signal("-CONT");
    let outcomes: Vec<_> = outcomes.into_iter().flatten().collect();
    for kind in ["read", "vote"] {
        let mut times: Vec<Duration> = outcomes
            .iter()
            .filter(|o| o.0 == kind)
            .map(|o| o.2)
            .collect();
        times.sort();
        eprintln!(
            "frozen backend: {} {kind}s, median {:.3} s, max {:.3} s (all within {:.1} s)",
            times.len(),
            times[times.len() / 2].as_secs_f64(),
            times[times.len() - 1].as_secs_f64(),
            elapsed.as_secs_f64()
        );
    }
    for (kind, status, took) in &outcomes {
        let expected = if *kind == "read" { 200 } else { 201 };
        assert_eq!(
            *status, expected,
            "a {kind} during the freeze: {outcomes:?}"
        );
        let bound = if *kind == "read" { 13.5 } else { 17.5 };
        assert!(
            took.as_secs_f64() < bound,
            "a {kind} took {took:?} (bound {bound} s)"
        );
    }
    let results: Value = client
        .get(format!("{}/api/results", nginx.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(results["total_votes"], VOTERS, "{results}");
}
