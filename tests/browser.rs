//! End-to-end tests: the real `securevote` binary (embedded SQLite, fresh data directory) driven
//! through the real UI in a headless Chromium, via chromedriver and WebDriver (fantoccini).
//!
//! Every test starts its own server and its own chromedriver on free ports of 127.0.0.1; both
//! are stopped by `Drop` guards, also when an assertion fails. Waits are explicit (poll the page
//! until a condition holds, at most [`WAIT`]), and a failure message includes the page's
//! visible text. Screenshots of the main screens are written to `target/screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages `chromium` and
//! `chromium-driver`); the tests fail, rather than skip, when they are missing.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Longest explicit wait for something to appear on the page.
const WAIT: Duration = Duration::from_secs(10);
/// How often a wait re-checks its condition.
const POLL: Duration = Duration::from_millis(100);
/// The UI refreshes the results this often (`RESULTS_INTERVAL_MS` in web/app.js).
const RESULTS_INTERVAL: Duration = Duration::from_secs(5);

const PASSWORD: &str = "correct horse battery staple";
const SESSION_EXPIRED: &str = "Your session has expired. Please log in again.";
const WRONG_CREDENTIALS: &str = "Wrong email or password.";
const ALREADY_VOTED: &str = "You have already voted. Each voter can vote only once.";

// ------------------------------------------------------------------------------------------
// Processes: the server and chromedriver, each stopped by its guard's Drop.
// ------------------------------------------------------------------------------------------

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("reserve a free port on 127.0.0.1")
}

/// The last lines of a log file, for failure messages.
fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("build the HTTP client")
}

/// A `securevote` process with its own data directory. Killed on drop.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(extra_env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("create the server's temporary directory");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("create DATA_DIR");
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).expect("create the server log");
        let port = free_port();

        let mut command = Command::new(env!("CARGO_BIN_EXE_securevote"));
        // No .env from the working directory, and nothing from the caller's environment that
        // would point the server at another database or fix its secret.
        command.current_dir(dir.path());
        for var in [
            "DATABASE_URL",
            "DB_HOST",
            "DB_PORT",
            "DB_USER",
            "DB_PASSWORD",
            "DB_NAME",
            "JWT_SECRET",
            "JWT_TTL_SECONDS",
        ] {
            command.env_remove(var);
        }
        command
            .env("DATA_DIR", &data_dir)
            .env("PORT", port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("NO_COLOR", "1")
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("duplicate the log handle"))
            .stderr(log_file);
        let child = command.spawn().expect("spawn the securevote binary");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&mut self) {
        let client = http();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the server process") {
                panic!(
                    "securevote exited with {status} before becoming healthy; its log:\n{}",
                    log_tail(&self.log, 40)
                );
            }
            if let Ok(response) = client.get(format!("{}/health", self.base)).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "securevote did not answer GET /health with 200 within 30 s; its log:\n{}",
                log_tail(&self.log, 40)
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- securevote log (last lines) ---\n{}",
                log_tail(&self.log, 40)
            );
        }
    }
}

/// A chromedriver process. On drop it is asked to shut down (which quits the browsers of its
/// sessions), then killed, and any Chromium process still using one of its profile directories
/// is killed by PID.
struct Driver {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    log: PathBuf,
    profiles: std::cell::RefCell<Vec<PathBuf>>,
}

impl Driver {
    async fn start() -> Self {
        for (path, what) in [(CHROMEDRIVER, "chromedriver"), (CHROMIUM, "chromium")] {
            assert!(
                Path::new(path).exists(),
                "{what} is missing: {path} does not exist. The browser tests need the Debian \
                 packages `chromium` and `chromium-driver` (apt-get install -y chromium \
                 chromium-driver)."
            );
        }
        let dir = tempfile::tempdir().expect("create chromedriver's temporary directory");
        let log = dir.path().join("chromedriver.log");
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let mut driver = Driver {
            child,
            port,
            dir,
            log,
            profiles: std::cell::RefCell::new(Vec::new()),
        };
        driver.wait_ready().await;
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&mut self) {
        let client = http();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll chromedriver") {
                panic!(
                    "chromedriver exited with {status} before answering /status; its log:\n{}",
                    log_tail(&self.log, 40)
                );
            }
            if let Ok(response) = client.get(format!("{}/status", self.url())).send().await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer /status within 15 s; its log:\n{}",
                log_tail(&self.log, 40)
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// A new headless Chromium session with a fresh profile directory.
    async fn browser(&self, server: &Server) -> Browser {
        let profile = self
            .dir
            .path()
            .join(format!("profile-{}", self.profiles.borrow().len()));
        std::fs::create_dir_all(&profile).expect("create the Chromium profile directory");
        self.profiles.borrow_mut().push(profile.clone());

        let capabilities: Capabilities = serde_json::from_value(json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--disable-quic",
                    "--lang=en-US",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        }))
        .expect("capabilities are a JSON object");
        let client = ClientBuilder::rustls()
            .expect("WebDriver HTTP connector")
            .capabilities(capabilities)
            .connect(&self.url())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "could not start a Chromium session through chromedriver: {e}\n\
                     chromedriver log:\n{}",
                    log_tail(&self.log, 40)
                )
            });
        Browser {
            client,
            base: server.base.clone(),
            driver_url: self.url(),
        }
    }
}

/// A minimal blocking HTTP GET, usable from `Drop`.
fn blocking_get(port: u16, path: &str) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_ok() {
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
        }
    }
}

/// PIDs of processes whose command line has `--user-data-dir=<profile>`.
fn processes_using_profile(profile: &Path) -> Vec<u32> {
    let flag = format!("--user-data-dir={}", profile.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmdline| cmdline.split(|b| *b == 0).any(|arg| arg == flag.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver's /shutdown quits the browsers of all its sessions, then exits.
        blocking_get(self.port, "/shutdown");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Belt and braces: a browser that outlived chromedriver is one this test started.
        for profile in self.profiles.borrow().iter() {
            for pid in processes_using_profile(profile) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "--- chromedriver log (last lines) ---\n{}",
                log_tail(&self.log, 20)
            );
        }
    }
}

// ------------------------------------------------------------------------------------------
// Browser helpers: explicit waits, informative failures, screenshots.
// ------------------------------------------------------------------------------------------

struct Browser {
    client: Client,
    base: String,
    driver_url: String,
}

/// Truthiness of a value returned by a wait script.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// `true` when the element exists, is not `hidden` and is rendered (no hidden ancestor).
const IS_VISIBLE_JS: &str = "const visible = (el) => !!el && !el.hidden && el.checkVisibility();";

impl Browser {
    async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
    }

    /// The page's visible text (and URL), for failure messages.
    async fn page_text(&self) -> String {
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("<no URL: {e}>"));
        let text = match self
            .client
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await
        {
            Ok(Value::String(text)) => text,
            Ok(other) => other.to_string(),
            Err(e) => format!("<could not read the page: {e}>"),
        };
        format!("URL: {url}\n{text}")
    }

    async fn fail(&self, message: &str) -> ! {
        let page = self.page_text().await;
        panic!("{message}\n--- visible page text ---\n{page}\n---");
    }

    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        match self.client.execute(script, args).await {
            Ok(value) => value,
            Err(e) => self.fail(&format!("script failed: {e}\n{script}")).await,
        }
    }

    /// Polls `script` (a function body; `arguments` are `args`) until it returns something
    /// truthy, and returns that. Fails after [`WAIT`] with `what` and the page's text.
    async fn wait_js(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = match self.client.execute(script, args.clone()).await {
                Ok(value) if is_truthy(&value) => return value,
                Ok(value) => value,
                Err(e) => Value::String(format!("script error: {e}")),
            };
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "timed out after {WAIT:?} waiting for {what} (last result: {last})"
                ))
                .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_visible(&self, id: &str) {
        let script =
            format!("{IS_VISIBLE_JS} return visible(document.getElementById(arguments[0]));");
        self.wait_js(&format!("#{id} to be visible"), &script, vec![json!(id)])
            .await;
    }

    /// Waits until `#id` is visible and its text contains `needle`; returns the text.
    async fn wait_text(&self, id: &str, needle: &str) -> String {
        let script = format!(
            "{IS_VISIBLE_JS}
             const el = document.getElementById(arguments[0]);
             if (!visible(el)) return null;
             const text = el.innerText;
             return text.includes(arguments[1]) ? text : null;"
        );
        let value = self
            .wait_js(
                &format!("#{id} to be visible and contain {needle:?}"),
                &script,
                vec![json!(id), json!(needle)],
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    async fn is_visible(&self, id: &str) -> bool {
        let script =
            format!("{IS_VISIBLE_JS} return visible(document.getElementById(arguments[0]));");
        self.js(&script, vec![json!(id)]).await == Value::Bool(true)
    }

    async fn assert_hidden(&self, ids: &[&str]) {
        for id in ids {
            if self.is_visible(id).await {
                self.fail(&format!("#{id} should be hidden")).await;
            }
        }
    }

    async fn click(&self, id: &str) {
        self.wait_visible(id).await;
        let result = match self.client.find(Locator::Id(id)).await {
            Ok(element) => element.click().await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            self.fail(&format!("could not click #{id}: {e}")).await;
        }
    }

    async fn type_into(&self, id: &str, text: &str) {
        self.wait_visible(id).await;
        let result = async {
            let element = self.client.find(Locator::Id(id)).await?;
            element.clear().await?;
            element.send_keys(text).await
        }
        .await;
        if let Err(e) = result {
            self.fail(&format!("could not type into #{id}: {e}")).await;
        }
    }

    /// Clicks the ballot card (the `<label>`) of the candidate called `name`, and checks that
    /// this selected the radio input with the candidate's id as its value.
    async fn choose_candidate(&self, name: &str, candidate_id: &str) {
        let xpath = format!(
            "//ul[@id='candidate-list']//label[.//*[contains(@class,'candidate-name') and \
             normalize-space(.)='{name}']]"
        );
        let label = match self.client.find(Locator::XPath(&xpath)).await {
            Ok(label) => label,
            Err(e) => self.fail(&format!("no ballot entry for {name}: {e}")).await,
        };
        let input_id = label.attr("for").await.ok().flatten().unwrap_or_default();
        if let Err(e) = label.click().await {
            self.fail(&format!("could not click the ballot entry of {name}: {e}"))
                .await;
        }
        let state = self
            .js(
                "const input = document.getElementById(arguments[0]);
                 return input ? { checked: input.checked, value: input.value, name: input.name,
                                  type: input.type } : null;",
                vec![json!(input_id)],
            )
            .await;
        let expected =
            json!({ "checked": true, "value": candidate_id, "name": "candidate", "type": "radio" });
        if state != expected {
            self.fail(&format!(
                "clicking {name}'s label (for=#{input_id}) should select its radio input: \
                 expected {expected}, got {state}"
            ))
            .await;
        }
    }

    /// Votes, number and percentage shown for a candidate in the live results.
    async fn result_row(&self, candidate_id: &str) -> Value {
        self.js(
            "const row = document.querySelector(
                 `li.result-row[data-candidate-id=\"${CSS.escape(arguments[0])}\"]`);
             if (!row) return null;
             const badge = row.querySelector('.result-mine');
             return {
               name: row.querySelector('.result-name').innerText,
               votes: row.querySelector('.result-votes').innerText,
               percent: row.querySelector('.result-percent').innerText,
               mine: !!badge && !badge.hidden,
             };",
            vec![json!(candidate_id)],
        )
        .await
    }

    /// Waits until the results list shows `votes` for the candidate; returns the row.
    async fn wait_result(&self, candidate_id: &str, name: &str, votes: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let row = self.result_row(candidate_id).await;
            if row["votes"] == json!(votes) {
                if row["name"] != json!(name) {
                    self.fail(&format!(
                        "result row of {candidate_id} should be {name}: {row}"
                    ))
                    .await;
                }
                return row;
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "timed out waiting for {name} to show {votes} vote(s) in the results; row: {row}"
                ))
                .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn session_storage(&self) -> Value {
        self.js(
            "return sessionStorage.getItem('securevote.session');",
            vec![],
        )
        .await
    }

    /// Saves a PNG of the viewport (or of one element) as target/screenshots/<name>.png.
    async fn screenshot(&self, name: &str, element_id: Option<&str>) -> PathBuf {
        let png = match element_id {
            None => self.client.screenshot().await,
            Some(id) => match self.client.find(Locator::Id(id)).await {
                Ok(element) => element.screenshot().await,
                Err(e) => Err(e),
            },
        };
        let png = match png {
            Ok(png) => png,
            Err(e) => self.fail(&format!("screenshot {name}: {e}")).await,
        };
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "screenshot {name} is not a PNG"
        );
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create target/screenshots");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        println!("screenshot: {}", path.display());
        path
    }

    /// Every resource the page loaded, and the page itself, is on the server's origin.
    async fn assert_same_origin_only(&self) {
        let urls = self
            .js(
                "return [location.href,
                         ...performance.getEntriesByType('navigation').map(e => e.name),
                         ...performance.getEntriesByType('resource').map(e => e.name)];",
                vec![],
            )
            .await;
        let urls: Vec<String> = serde_json::from_value(urls).expect("a list of URLs");
        let origin = format!("{}/", self.base);
        let foreign: Vec<&String> = urls.iter().filter(|u| !u.starts_with(&origin)).collect();
        if !foreign.is_empty() {
            self.fail(&format!(
                "the page made requests to other origins than {}: {foreign:?} (all: {urls:?})",
                self.base
            ))
            .await;
        }
        for expected in ["/app.js", "/api.js", "/style.css", "/api/results"] {
            if !urls
                .iter()
                .any(|u| u.starts_with(&format!("{}{expected}", self.base)))
            {
                self.fail(&format!(
                    "expected the page to have loaded {expected}; resources: {urls:?}"
                ))
                .await;
            }
        }
    }

    /// The browser console must not report a Content-Security-Policy violation or a script
    /// error. Uses chromedriver's log endpoint, which drains the log.
    async fn assert_clean_console(&self) {
        let Ok(Some(session)) = self.client.session_id().await else {
            panic!("the WebDriver session has no id");
        };
        let response = http()
            .post(format!("{}/session/{session}/se/log", self.driver_url))
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .expect("ask chromedriver for the browser log");
        let body: Value = response.json().await.expect("chromedriver log as JSON");
        let entries = body["value"].as_array().cloned().unwrap_or_default();
        let bad: Vec<&Value> = entries
            .iter()
            .filter(|entry| {
                let message = entry["message"].as_str().unwrap_or_default();
                message.contains("Content Security Policy")
                    || message.contains("Content-Security-Policy")
                    // Expected 4xx answers (wrong password, already voted) are logged by
                    // Chromium as "network" errors; script errors are not expected.
                    || (entry["level"] == json!("SEVERE") && entry["source"] != json!("network"))
            })
            .collect();
        if !bad.is_empty() {
            self.fail(&format!("the browser console reported problems: {bad:#?}"))
                .await;
        }
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("screenshots")
}

// ------------------------------------------------------------------------------------------
// The JSON API, for setting up and checking state beside the browser.
// ------------------------------------------------------------------------------------------

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &Server) -> Self {
        Api {
            client: http(),
            base: server.base.clone(),
        }
    }

    async fn register(&self, email: &str) {
        let response = self
            .client
            .post(format!("{}/api/auth/register", self.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("POST /api/auth/register");
        assert_eq!(response.status(), 201, "register {email}");
    }

    async fn login(&self, email: &str) -> String {
        let response = self
            .client
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("POST /api/auth/login");
        assert_eq!(response.status(), 200, "log in {email}");
        let body: Value = response.json().await.expect("login response JSON");
        body["token"].as_str().expect("a token").to_owned()
    }

    async fn me_status(&self, token: &str) -> u16 {
        self.client
            .get(format!("{}/api/auth/me", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /api/auth/me")
            .status()
            .as_u16()
    }

    async fn vote(&self, token: &str, candidate_id: &str) {
        let response = self
            .client
            .post(format!("{}/api/votes", self.base))
            .bearer_auth(token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&json!({ "candidate_id": candidate_id }))
            .send()
            .await
            .expect("POST /api/votes");
        assert_eq!(response.status(), 201, "vote for {candidate_id}");
    }

    /// Candidate name → id.
    async fn candidates(&self) -> std::collections::HashMap<String, String> {
        let list: Value = self
            .client
            .get(format!("{}/api/candidates", self.base))
            .send()
            .await
            .expect("GET /api/candidates")
            .json()
            .await
            .expect("candidates JSON");
        list.as_array()
            .expect("a list of candidates")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().expect("name").to_owned(),
                    c["id"].as_str().expect("id").to_owned(),
                )
            })
            .collect()
    }

    async fn results(&self) -> Value {
        self.client
            .get(format!("{}/api/results", self.base))
            .send()
            .await
            .expect("GET /api/results")
            .json()
            .await
            .expect("results JSON")
    }
}

/// Logs in through the login form (which must be on screen) and waits for the ballot or the
/// voted view.
async fn ui_log_in(browser: &Browser, email: &str, password: &str) {
    browser.wait_visible("login-form").await;
    browser.type_into("login-email", email).await;
    browser.type_into("login-password", password).await;
    browser.click("login-submit").await;
}

// ------------------------------------------------------------------------------------------
// The tests.
// ------------------------------------------------------------------------------------------

/// Register → log out → wrong password → log in → ballot → confirmation (and back) → vote →
/// "you voted" and the results → reload → a second tab of the same voter tries to vote again.
/// Also: same-origin loads only, the CSP header, a clean console, and the screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voter_registers_votes_once_and_sees_the_result() {
    let server = Server::start(&[]).await;
    let api = Api::new(&server);
    let candidates = api.candidates().await;
    for name in ["John Doe", "Jane Smith", "Alex Johnson", "Chris Lee"] {
        assert!(
            candidates.contains_key(name),
            "seeded candidate {name}: {candidates:?}"
        );
    }
    let jane = candidates["Jane Smith"].clone();
    let john = candidates["John Doe"].clone();

    // The page is served with a same-origin-only Content-Security-Policy.
    let response = http().get(server.url("/")).send().await.expect("GET /");
    assert_eq!(response.status(), 200, "GET /");
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "CSP of /: {csp:?}");

    let driver = Driver::start().await;
    let browser = driver.browser(&server).await;

    // --- Login screen, with the (empty) live results beside it.
    browser.goto("/").await;
    browser.wait_visible("login-form").await;
    browser
        .assert_hidden(&["register-form", "voting", "logout", "auth-error"])
        .await;
    browser.wait_text("results-total", "0 votes cast").await;
    browser.assert_same_origin_only().await;
    browser.screenshot("login", None).await;

    // --- Register; the new voter is logged in automatically.
    let email = "alice@example.com";
    browser.click("show-register").await;
    browser.wait_visible("register-form").await;
    browser.assert_hidden(&["login-form"]).await;
    browser.type_into("register-email", email).await;
    browser.type_into("register-password", PASSWORD).await;
    browser.click("register-submit").await;
    browser.wait_visible("ballot").await;
    browser.wait_text("whoami", email).await;
    let stored = browser.session_storage().await;
    assert!(
        stored.as_str().is_some_and(|s| s.contains("\"token\"")),
        "the session token should be in sessionStorage: {stored}"
    );

    // --- Log out, then a wrong password shows its error and does not log in.
    browser.click("logout").await;
    browser.wait_visible("login-form").await;
    browser.assert_hidden(&["voting", "logout"]).await;
    assert_eq!(
        browser.session_storage().await,
        Value::Null,
        "logout clears the session"
    );
    ui_log_in(&browser, email, "not the right password").await;
    browser.wait_text("auth-error", WRONG_CREDENTIALS).await;
    browser.assert_hidden(&["voting", "ballot"]).await;
    browser.screenshot("wrong-password", None).await;

    // --- The right password logs in.
    ui_log_in(&browser, email, PASSWORD).await;
    browser.wait_visible("ballot").await;
    browser
        .assert_hidden(&["auth", "auth-error", "confirm", "voted"])
        .await;
    browser.wait_text("whoami", email).await;

    // A second tab of the same voter, still showing the ballot: used below to vote again.
    let first_tab = browser.client.window().await.expect("current window");
    let second_tab = browser
        .client
        .new_window(true)
        .await
        .expect("open a second tab")
        .handle;
    browser
        .client
        .switch_to_window(second_tab.clone())
        .await
        .expect("switch to the second tab");
    browser.goto("/").await;
    ui_log_in(&browser, email, PASSWORD).await;
    browser.wait_visible("ballot").await;
    browser
        .client
        .switch_to_window(first_tab.clone())
        .await
        .expect("switch back to the first tab");

    // --- The ballot lists every candidate with a radio button and a label.
    let ballot = browser.wait_text("ballot", "Chris Lee").await;
    for name in candidates.keys() {
        assert!(
            ballot.contains(name.as_str()),
            "ballot should list {name}:\n{ballot}"
        );
    }
    let radios = browser
        .js(
            "return document.querySelectorAll('#ballot input[type=radio][name=candidate]').length;",
            vec![],
        )
        .await;
    assert_eq!(
        radios,
        json!(candidates.len()),
        "one radio button per candidate"
    );
    browser.screenshot("ballot", None).await;

    // Reviewing without a choice asks for one.
    browser.click("ballot-submit").await;
    browser
        .wait_text("vote-error", "Please choose a candidate first.")
        .await;
    browser.assert_hidden(&["confirm"]).await;

    // --- Choose, review, go back (the choice is kept), review again, confirm.
    browser.choose_candidate("Jane Smith", &jane).await;
    browser.click("ballot-submit").await;
    browser.wait_text("confirm-text", "Jane Smith").await;
    browser
        .assert_hidden(&["ballot", "voted", "vote-error"])
        .await;
    browser.screenshot("confirm", None).await;
    browser.click("confirm-back").await;
    browser.wait_visible("ballot").await;
    let still_checked = browser
        .js(
            "const c = document.querySelector('input[name=candidate]:checked'); return c && c.value;",
            vec![],
        )
        .await;
    assert_eq!(still_checked, json!(jane), "going back keeps the choice");
    browser.click("ballot-submit").await;
    browser.wait_text("confirm-text", "Jane Smith").await;
    browser.click("confirm-vote").await;

    // --- The "you voted" state, and the vote in the live results.
    let voted = browser.wait_text("voted-text", "You voted for").await;
    assert!(
        voted.contains("Jane Smith"),
        "voted text names the candidate: {voted:?}"
    );
    browser
        .assert_hidden(&["ballot", "confirm", "vote-error"])
        .await;
    browser.wait_text("results-total", "1 vote cast").await;
    let row = browser.wait_result(&jane, "Jane Smith", "1").await;
    assert_eq!(row["percent"], json!("100%"), "Jane Smith's share: {row}");
    assert_eq!(
        row["mine"],
        json!(true),
        "the voter's own choice is marked: {row}"
    );
    let other = browser.result_row(&john).await;
    assert_eq!(other["votes"], json!("0"), "John Doe has no vote: {other}");
    assert_eq!(other["percent"], json!("0%"), "John Doe's share: {other}");
    browser.screenshot("voted", None).await;
    browser.screenshot("results", Some("results")).await;

    // --- A reload keeps the session and shows the recorded vote.
    browser.client.refresh().await.expect("reload the page");
    let voted = browser.wait_text("voted-text", "You voted for").await;
    assert!(voted.contains("Jane Smith"), "after reload: {voted:?}");
    browser.wait_text("whoami", email).await;
    browser.assert_hidden(&["auth", "ballot", "confirm"]).await;
    browser.wait_text("results-total", "1 vote cast").await;
    browser.wait_result(&jane, "Jane Smith", "1").await;
    browser.assert_same_origin_only().await;

    // --- Voting again, from the tab that still shows the ballot, is refused.
    browser
        .client
        .switch_to_window(second_tab)
        .await
        .expect("switch to the second tab");
    browser.wait_visible("ballot").await;
    browser.choose_candidate("John Doe", &john).await;
    browser.click("ballot-submit").await;
    browser.wait_text("confirm-text", "John Doe").await;
    browser.click("confirm-vote").await;
    browser.wait_text("vote-error", ALREADY_VOTED).await;
    let voted = browser.wait_text("voted-text", "You voted for").await;
    assert!(
        voted.contains("Jane Smith"),
        "the recorded vote (Jane Smith) is shown, not the refused one: {voted:?}"
    );
    browser.assert_hidden(&["ballot", "confirm"]).await;
    browser.screenshot("already-voted", None).await;

    let results = api.results().await;
    assert_eq!(
        results["total_votes"],
        json!(1),
        "still one vote: {results}"
    );

    browser.assert_clean_console().await;
    browser
        .client
        .switch_to_window(first_tab)
        .await
        .expect("switch to the first tab");
    browser.assert_clean_console().await;
    browser.close().await;
}

/// Another voter's vote shows up in the first voter's open page within one refresh interval,
/// without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_voters_vote_appears_within_the_refresh_interval() {
    let server = Server::start(&[]).await;
    let api = Api::new(&server);
    let candidates = api.candidates().await;
    let alex = candidates["Alex Johnson"].clone();
    let chris = candidates["Chris Lee"].clone();
    api.register("first@example.com").await;
    api.register("second@example.com").await;

    let driver = Driver::start().await;
    let browser = driver.browser(&server).await;
    browser.goto("/").await;
    ui_log_in(&browser, "first@example.com", PASSWORD).await;
    browser.wait_visible("ballot").await;
    browser.choose_candidate("Alex Johnson", &alex).await;
    browser.click("ballot-submit").await;
    browser.wait_text("confirm-text", "Alex Johnson").await;
    browser.click("confirm-vote").await;
    browser.wait_text("voted-text", "Alex Johnson").await;
    browser.wait_text("results-total", "1 vote cast").await;
    browser.wait_result(&alex, "Alex Johnson", "1").await;

    // The second voter votes elsewhere (through the API).
    let token = api.login("second@example.com").await;
    api.vote(&token, &chris).await;
    let cast_at = Instant::now();

    browser.wait_text("results-total", "2 votes cast").await;
    let row = browser.wait_result(&chris, "Chris Lee", "1").await;
    let elapsed = cast_at.elapsed();
    assert!(
        elapsed <= RESULTS_INTERVAL + Duration::from_secs(2),
        "the new vote took {elapsed:?} to appear; the page refreshes every {RESULTS_INTERVAL:?}"
    );
    assert_eq!(row["percent"], json!("50%"), "Chris Lee's share: {row}");
    assert_eq!(
        row["mine"],
        json!(false),
        "not the first voter's choice: {row}"
    );
    let mine = browser.result_row(&alex).await;
    assert_eq!(
        mine["percent"],
        json!("50%"),
        "Alex Johnson's share: {mine}"
    );
    assert_eq!(
        mine["mine"],
        json!(true),
        "the first voter's choice: {mine}"
    );
    browser.assert_same_origin_only().await;
    browser.close().await;
}

/// When the token expires, the page goes back to the login form with the expiry message, both
/// on its own timer and when the server refuses a stored token after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_returns_to_login_with_a_message() {
    let server = Server::start(&[("JWT_TTL_SECONDS", "3")]).await;
    let api = Api::new(&server);
    let email = "carol@example.com";
    api.register(email).await;
    // A token that will be expired by the time it is used below.
    let stale_token = api.login(email).await;

    let driver = Driver::start().await;
    let browser = driver.browser(&server).await;
    browser.goto("/").await;
    ui_log_in(&browser, email, PASSWORD).await;
    browser.wait_visible("ballot").await;

    // The page's own timer ends the session when the token expires.
    browser.wait_text("auth-error", SESSION_EXPIRED).await;
    browser.wait_visible("login-form").await;
    let status = browser
        .js(
            "return document.getElementById('status').innerText;",
            vec![],
        )
        .await;
    assert!(
        !status.as_str().unwrap_or_default().contains("Logged in"),
        "the status line must not still say the voter is logged in: {status}"
    );
    browser
        .assert_hidden(&["voting", "logout", "register-form"])
        .await;
    let prefilled = browser
        .js(
            "return document.getElementById('login-email').value;",
            vec![],
        )
        .await;
    assert_eq!(prefilled, json!(email), "the login form keeps the email");
    assert_eq!(
        browser.session_storage().await,
        Value::Null,
        "expired session is forgotten"
    );
    browser.screenshot("session-expired", None).await;

    // A stored session the page believes valid but the server refuses (e.g. clock skew):
    // reloading asks the server, gets 401, and shows the same message.
    let deadline = Instant::now() + WAIT;
    while api.me_status(&stale_token).await != 401 {
        assert!(
            Instant::now() < deadline,
            "the 3-second token never expired"
        );
        tokio::time::sleep(POLL).await;
    }
    browser
        .js(
            "sessionStorage.setItem('securevote.session', JSON.stringify(
                 { token: arguments[0], expiresAt: Date.now() + 3600000, email: arguments[1] }));",
            vec![json!(stale_token), json!(email)],
        )
        .await;
    browser.client.refresh().await.expect("reload the page");
    browser.wait_text("auth-error", SESSION_EXPIRED).await;
    browser.wait_visible("login-form").await;
    browser.assert_hidden(&["voting", "ballot"]).await;
    assert_eq!(
        browser.session_storage().await,
        Value::Null,
        "refused session is forgotten"
    );

    // Logging in again works.
    ui_log_in(&browser, email, PASSWORD).await;
    browser.wait_visible("ballot").await;
    browser.assert_hidden(&["auth-error"]).await;
    browser.close().await;
}
