//! The browser-test harness: the real `securevote` binary (embedded SQLite, fresh data directory) driven
//! through the real UI in a headless Chromium, via chromedriver and WebDriver (fantoccini).
//!
//! Every test starts its own server and its own chromedriver on free ports of 127.0.0.1; both
//! are stopped by `Drop` guards, also when an assertion fails. Waits are explicit (poll the page
//! until a condition holds, at most [`WAIT`]), and a failure message includes the page's
//! visible text. Screenshots of the main screens are written to `target/screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages `chromium` and
//! `chromium-driver`); the tests fail, rather than skip, when they are missing.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use fantoccini::Locator;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Longest explicit wait for something to appear on the page.
pub const WAIT: Duration = Duration::from_secs(10);
/// How often a wait re-checks its condition.
pub const POLL: Duration = Duration::from_millis(100);
/// The UI refreshes the results this often (`RESULTS_INTERVAL_MS` in web/app.js).
pub const RESULTS_INTERVAL: Duration = Duration::from_secs(5);

pub const PASSWORD: &str = "correct horse battery staple";
pub const SESSION_EXPIRED: &str = "Your session has expired. Please log in again.";
pub const WRONG_CREDENTIALS: &str = "Wrong email or password.";
pub const ALREADY_VOTED: &str = "You have already voted. Each voter can vote only once.";

// ------------------------------------------------------------------------------------------
// Processes: the server and chromedriver, each stopped by its guard's Drop.
// ------------------------------------------------------------------------------------------

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("reserve a free port on 127.0.0.1")
}

/// The last lines of a log file, for failure messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("build the HTTP client")
}

/// A `securevote` process with its own data directory. Killed on drop.
/// The service's binary: `SECUREVOTE_BIN` if set (e.g. a copy taken out of a target directory
/// that several checkouts share), else the one cargo built for this test.
pub fn service_binary() -> PathBuf {
    std::env::var_os("SECUREVOTE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_securevote")))
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
    pub data_dir: PathBuf,
    pub _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(extra_env: &[(&str, &str)]) -> Self {
        Self::start_on(free_port(), extra_env).await
    }

    /// Starts the server on `port` (for settings that must name the server's own address, such
    /// as `PUBLIC_URL`).
    pub async fn start_on(port: u16, extra_env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("create the server's temporary directory");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("create DATA_DIR");
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).expect("create the server log");

        let mut command = Command::new(service_binary());
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
            data_dir: data_dir.clone(),
            _dir: dir,
        };
        server.wait_healthy().await;
        server
    }

    pub async fn wait_healthy(&mut self) {
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Makes an existing account an admin with `securevote admin create` on the same data
    /// directory, as the README tells an operator to.
    pub fn promote_admin(&self, email: &str) {
        let output = Command::new(service_binary())
            .args(["admin", "create", "--email", email])
            .env_remove("DATABASE_URL")
            .env("DATA_DIR", &self.data_dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run securevote admin create");
        assert!(
            output.status.success(),
            "securevote admin create --email {email}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
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
pub struct Driver {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
    pub profiles: std::cell::RefCell<Vec<PathBuf>>,
}

impl Driver {
    pub async fn start() -> Self {
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

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn wait_ready(&mut self) {
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

    /// A new headless Chromium session with a fresh profile directory, in English.
    pub async fn browser(&self, server: &Server) -> Browser {
        self.browser_in(server, "en-US").await
    }

    /// A new headless Chromium session whose preferred language (Accept-Language and
    /// `navigator.languages`) is `lang`.
    pub async fn browser_in(&self, server: &Server, lang: &str) -> Browser {
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
                    format!("--lang={lang}"),
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": { "intl.accept_languages": lang },
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
pub fn blocking_get(port: u16, path: &str) {
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
pub fn processes_using_profile(profile: &Path) -> Vec<u32> {
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

pub struct Browser {
    pub client: Client,
    pub base: String,
    pub driver_url: String,
}

/// Truthiness of a value returned by a wait script.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// `true` when the element exists, is not `hidden` and is rendered (no hidden ancestor).
pub const IS_VISIBLE_JS: &str =
    "const visible = (el) => !!el && !el.hidden && el.checkVisibility();";

impl Browser {
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
    }

    /// The page's visible text (and URL), for failure messages.
    pub async fn page_text(&self) -> String {
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

    pub async fn fail(&self, message: &str) -> ! {
        let page = self.page_text().await;
        let console = self.console_log().await;
        panic!(
            "{message}\n--- visible page text ---\n{page}\n--- browser console ---\n{console:#?}\n---"
        );
    }

    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        match self.client.execute(script, args).await {
            Ok(value) => value,
            Err(e) => self.fail(&format!("script failed: {e}\n{script}")).await,
        }
    }

    /// Polls `script` (a function body; `arguments` are `args`) until it returns something
    /// truthy, and returns that. Fails after [`WAIT`] with `what` and the page's text.
    pub async fn wait_js(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
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

    pub async fn wait_visible(&self, id: &str) {
        let script =
            format!("{IS_VISIBLE_JS} return visible(document.getElementById(arguments[0]));");
        self.wait_js(&format!("#{id} to be visible"), &script, vec![json!(id)])
            .await;
    }

    /// Waits until `#id` is visible and its text contains `needle`; returns the text.
    pub async fn wait_text(&self, id: &str, needle: &str) -> String {
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

    pub async fn is_visible(&self, id: &str) -> bool {
        let script =
            format!("{IS_VISIBLE_JS} return visible(document.getElementById(arguments[0]));");
        self.js(&script, vec![json!(id)]).await == Value::Bool(true)
    }

    pub async fn assert_hidden(&self, ids: &[&str]) {
        for id in ids {
            if self.is_visible(id).await {
                self.fail(&format!("#{id} should be hidden")).await;
            }
        }
    }

    pub async fn click(&self, id: &str) {
        self.wait_visible(id).await;
        let result = match self.client.find(Locator::Id(id)).await {
            Ok(element) => element.click().await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            self.fail(&format!("could not click #{id}: {e}")).await;
        }
    }

    pub async fn type_into(&self, id: &str, text: &str) {
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
    pub async fn choose_candidate(&self, name: &str, candidate_id: &str) {
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
    pub async fn result_row(&self, candidate_id: &str) -> Value {
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
    pub async fn wait_result(&self, candidate_id: &str, name: &str, votes: &str) -> Value {
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

    pub async fn session_storage(&self) -> Value {
        self.js(
            "return sessionStorage.getItem('securevote.session');",
            vec![],
        )
        .await
    }

    /// Saves a PNG of the viewport (or of one element) as target/screenshots/<name>.png.
    pub async fn screenshot(&self, name: &str, element_id: Option<&str>) -> PathBuf {
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

    /// Every resource the page loaded, and the page itself, is on the server's origin, and the
    /// page loaded the quick-vote page's files.
    pub async fn assert_same_origin_only(&self) {
        self.assert_same_origin_only_of(&["/app.js", "/api.js", "/style.css", "/api/results"])
            .await;
    }

    /// Every resource the page loaded is on the server's origin, and `expected` among them.
    pub async fn assert_same_origin_only_of(&self, expected: &[&str]) {
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
        for expected in expected {
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

    /// The browser console's entries since the last call (chromedriver drains the log).
    pub async fn console_log(&self) -> Vec<Value> {
        let Ok(Some(session)) = self.client.session_id().await else {
            return Vec::new();
        };
        let Ok(response) = http()
            .post(format!("{}/session/{session}/se/log", self.driver_url))
            .json(&json!({ "type": "browser" }))
            .send()
            .await
        else {
            return Vec::new();
        };
        let body: Value = response.json().await.unwrap_or(Value::Null);
        body["value"].as_array().cloned().unwrap_or_default()
    }

    /// The browser console must not report a Content-Security-Policy violation or a script
    /// error. Uses chromedriver's log endpoint, which drains the log.
    pub async fn assert_clean_console(&self) {
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

    /// The element matching the CSS `selector`, waiting until it is visible.
    pub async fn find_css(&self, selector: &str) -> fantoccini::elements::Element {
        let script =
            format!("{IS_VISIBLE_JS} return visible(document.querySelector(arguments[0]));");
        self.wait_js(
            &format!("{selector} to be visible"),
            &script,
            vec![json!(selector)],
        )
        .await;
        match self.client.find(Locator::Css(selector)).await {
            Ok(element) => element,
            Err(e) => self.fail(&format!("no element {selector}: {e}")).await,
        }
    }

    pub async fn click_css(&self, selector: &str) {
        let element = self.find_css(selector).await;
        if let Err(e) = element.click().await {
            self.fail(&format!("could not click {selector}: {e}")).await;
        }
    }

    /// Replaces the value of the input matching `selector` by typing `text`.
    pub async fn type_css(&self, selector: &str, text: &str) {
        let element = self.find_css(selector).await;
        let result = async {
            element.clear().await?;
            element.send_keys(text).await
        }
        .await;
        if let Err(e) = result {
            self.fail(&format!("could not type into {selector}: {e}"))
                .await;
        }
    }

    /// Sets a control's value the way a picker would (for date/time inputs, whose typing
    /// order depends on the locale), firing `input` and `change`.
    pub async fn set_value_css(&self, selector: &str, value: &str) {
        self.find_css(selector).await;
        self.js(
            "const el = document.querySelector(arguments[0]); el.value = arguments[1];
             el.dispatchEvent(new Event('input', { bubbles: true }));
             el.dispatchEvent(new Event('change', { bubbles: true }));",
            vec![json!(selector), json!(value)],
        )
        .await;
    }

    /// Chooses the option with `value` in the `<select>` matching `selector`.
    /// Chooses the file at `path` in the file input matching `selector`.
    pub async fn upload_file(&self, selector: &str, path: &Path) {
        let element = self.find_css(selector).await;
        if let Err(e) = element.send_keys(&path.display().to_string()).await {
            self.fail(&format!(
                "could not choose {} in {selector}: {e}",
                path.display()
            ))
            .await;
        }
    }

    pub async fn select_css(&self, selector: &str, value: &str) {
        let element = self.find_css(selector).await;
        if let Err(e) = element.select_by_value(value).await {
            self.fail(&format!("could not choose {value:?} in {selector}: {e}"))
                .await;
        }
    }

    /// Waits until the element matching `selector` is visible and contains `needle`.
    pub async fn wait_css_text(&self, selector: &str, needle: &str) -> String {
        let script = format!(
            "{IS_VISIBLE_JS}
             const el = document.querySelector(arguments[0]);
             if (!visible(el)) return null;
             return el.innerText.includes(arguments[1]) ? el.innerText : null;"
        );
        let value = self
            .wait_js(
                &format!("{selector} to be visible and contain {needle:?}"),
                &script,
                vec![json!(selector), json!(needle)],
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The visible text of the whole main region.
    pub async fn main_text(&self) -> String {
        self.js("return document.getElementById('main').innerText;", vec![])
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let Ok(Some(session)) = self.client.session_id().await else {
            panic!("the WebDriver session has no id");
        };
        let response = http()
            .post(format!(
                "{}/session/{session}/goog/cdp/execute",
                self.driver_url
            ))
            .json(&json!({ "cmd": cmd, "params": params }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "CDP {cmd}: {status} {body}");
        body["value"].clone()
    }

    /// Saves the files this browser downloads in `dir` (CDP `Browser.setDownloadBehavior`).
    pub async fn download_into(&self, dir: &Path) {
        self.cdp(
            "Browser.setDownloadBehavior",
            json!({ "behavior": "allow", "downloadPath": dir.display().to_string() }),
        )
        .await;
    }

    /// Clicks `#button_id`, which downloads `name` into `dir` (see [`Browser::download_into`]),
    /// and waits for the whole file; returns its path.
    pub async fn download_file(&self, dir: &Path, button_id: &str, name: &str) -> PathBuf {
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        self.click(button_id).await;
        let deadline = Instant::now() + WAIT;
        loop {
            let partial = std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
                })
                .unwrap_or(false);
            if !partial && std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
                return path;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("{name} was not downloaded into {}", dir.display()))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Emulates a viewport `width` CSS pixels wide (a phone when `mobile`), or clears it.
    pub async fn viewport(&self, size: Option<(u32, u32)>) {
        match size {
            Some((width, height)) => {
                self.cdp(
                    "Emulation.setDeviceMetricsOverride",
                    json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": true }),
                )
                .await
            }
            None => {
                self.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
                    .await
            }
        };
    }

    /// Emulates the dark colour scheme (or the light one).
    pub async fn color_scheme(&self, scheme: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        )
        .await;
    }

    /// Runs axe-core on the page with the WCAG 2.0/2.1/2.2 A and AA rules and fails on any
    /// violation. Returns the number of rules that passed.
    pub async fn axe(&self, page: &str) -> u64 {
        let loaded = self
            .js("return typeof window.axe === 'object';", vec![])
            .await;
        if loaded != Value::Bool(true) {
            let source = axe_source();
            // Through WebDriver, not a <script> element: the page's CSP stays as it is.
            self.js(&format!("{source}\n;return true;"), vec![]).await;
        }
        let script = "const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
                                resultTypes: ['violations'] })
              .then((r) => done({ passes: r.passes.length, violations: r.violations.map((v) => ({
                  id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target, summary: n.failureSummary })) })) }))
              .catch((e) => done({ error: String(e) }));";
        let result = match self.client.execute_async(script, vec![]).await {
            Ok(value) => value,
            Err(e) => self.fail(&format!("axe-core on {page}: {e}")).await,
        };
        if let Some(error) = result.get("error") {
            self.fail(&format!("axe-core on {page} failed: {error}"))
                .await;
        }
        let violations = result["violations"].as_array().cloned().unwrap_or_default();
        if !violations.is_empty() {
            self.fail(&format!(
                "axe-core found {} violation(s) on {page}:\n{:#}",
                violations.len(),
                Value::Array(violations)
            ))
            .await;
        }
        let passes = result["passes"].as_u64().unwrap_or(0);
        println!("axe-core {AXE_VERSION}: {page}: 0 violations ({passes} rules passed)");
        passes
    }

    /// The page is no wider than the viewport (no horizontal scrolling).
    pub async fn assert_no_horizontal_scroll(&self, page: &str) {
        let sizes = self
            .js(
                "return { scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth };",
                vec![],
            )
            .await;
        let (scroll, client) = (
            sizes["scroll"].as_u64().unwrap_or(0),
            sizes["client"].as_u64().unwrap_or(0),
        );
        if scroll > client {
            let wide = self
                .js(
                    "const w = document.documentElement.clientWidth;
                     return [...document.querySelectorAll('body *')]
                       .filter((e) => e.getBoundingClientRect().right > w + 1)
                       .slice(0, 8).map((e) => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className);",
                    vec![],
                )
                .await;
            self.fail(&format!(
                "{page} scrolls horizontally: {scroll} px wide in a {client} px viewport; too wide: {wide}"
            ))
            .await;
        }
    }

    /// What every visited page goes through: axe-core in the light and the dark scheme, no
    /// horizontal scrolling at 320 px, and screenshots of all three.
    pub async fn check_page(&self, name: &str) {
        // Let transitions (e.g. of a hovered card) finish before colours are measured.
        tokio::time::sleep(SETTLE).await;
        self.axe(name).await;
        self.screenshot(name, None).await;
        self.color_scheme("dark").await;
        tokio::time::sleep(SETTLE).await;
        self.axe(&format!("{name} (dark)")).await;
        self.screenshot(&format!("{name}-dark"), None).await;
        self.color_scheme("light").await;
        self.viewport(Some((320, 640))).await;
        tokio::time::sleep(SETTLE).await;
        self.assert_no_horizontal_scroll(&format!("{name} at 320 px"))
            .await;
        self.axe(&format!("{name} (320 px)")).await;
        self.screenshot(&format!("{name}-320"), None).await;
        self.viewport(None).await;
    }

    /// Bytes of every resource the page loaded (uncompressed), the page itself included.
    pub async fn page_weight(&self) -> (u64, Vec<(String, u64)>) {
        let entries = self
            .js(
                "return [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
                   .map((e) => [e.name, e.decodedBodySize || 0]);",
                vec![],
            )
            .await;
        let list: Vec<(String, u64)> = serde_json::from_value(entries).expect("resource sizes");
        (list.iter().map(|(_, size)| size).sum(), list)
    }

    /// Presses keys in the element that has the focus (as a keyboard user would).
    pub async fn keys(&self, keys: &str) {
        let result = async {
            let element = self.client.active_element().await?;
            element.send_keys(keys).await
        }
        .await;
        if let Err(e) = result {
            self.fail(&format!("could not press {keys:?}: {e}")).await;
        }
    }

    /// Presses Tab until the focused element matches `selector` (at most 200 times), failing
    /// if it is never reached: the element is reachable with the keyboard.
    pub async fn tab_to(&self, selector: &str) {
        for _ in 0..200 {
            let here = self
                .js(
                    "const a = document.activeElement; return !!a && a.matches(arguments[0]);",
                    vec![json!(selector)],
                )
                .await;
            if here == Value::Bool(true) {
                return;
            }
            self.keys(TAB).await;
        }
        self.fail(&format!("Tab never reached {selector}")).await;
    }

    /// The focused element has a visible focus indicator (an outline or a box shadow).
    pub async fn assert_focus_visible(&self) {
        let style = self
            .js(
                "const a = document.activeElement; if (!a || a === document.body) return null;
                 const s = getComputedStyle(a);
                 return { tag: a.tagName, id: a.id, outline: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow };",
                vec![],
            )
            .await;
        let visible = style["outline"] != json!("none") && style["width"] != json!("0px")
            || style["shadow"].as_str().is_some_and(|s| s != "none");
        if !visible {
            self.fail(&format!(
                "the focused element shows no focus indicator: {style}"
            ))
            .await;
        }
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// Time for CSS transitions to end after the colour scheme or the viewport changes.
pub const SETTLE: Duration = Duration::from_millis(400);

/// WebDriver key codes.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";
pub const SPACE: &str = " ";
pub const ARROW_DOWN: &str = "\u{E015}";
pub const ESCAPE: &str = "\u{E00C}";

/// The pinned axe-core, fetched by scripts/fetch-axe into target/axe-core/.
pub const AXE_VERSION: &str = "4.14.1";

pub fn axe_source() -> String {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let path = root.join(format!("target/axe-core/{AXE_VERSION}/axe.min.js"));
            if !path.exists() {
                let status = Command::new(root.join("scripts/fetch-axe"))
                    .status()
                    .expect("run scripts/fetch-axe");
                assert!(status.success(), "scripts/fetch-axe failed");
            }
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        })
        .clone()
}

pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("screenshots")
}

// ------------------------------------------------------------------------------------------
// The JSON API, for setting up and checking state beside the browser.
// ------------------------------------------------------------------------------------------

pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(server: &Server) -> Self {
        Api {
            client: http(),
            base: server.base.clone(),
        }
    }

    /// `method path` with a bearer token and an optional JSON body; asserts the status and
    /// returns the body (`null` when it is empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let actual = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(actual, status, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Each of `actions` (`schedule`, `open`, `close`, `publish`, ...) on the election, in order.
    pub async fn transition(&self, token: &str, election_id: &str, actions: &[&str]) {
        for action in actions {
            let path = format!("/api/elections/{election_id}/{action}");
            self.call(reqwest::Method::POST, &path, token, None, 200)
                .await;
        }
    }

    pub async fn register(&self, email: &str) {
        let response = self
            .client
            .post(format!("{}/api/auth/register", self.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("POST /api/auth/register");
        assert_eq!(response.status(), 201, "register {email}");
    }

    pub async fn login(&self, email: &str) -> String {
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

    pub async fn me_status(&self, token: &str) -> u16 {
        self.client
            .get(format!("{}/api/auth/me", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /api/auth/me")
            .status()
            .as_u16()
    }

    pub async fn vote(&self, token: &str, candidate_id: &str) {
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
    pub async fn candidates(&self) -> std::collections::HashMap<String, String> {
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

    pub async fn results(&self) -> Value {
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
pub async fn ui_log_in(browser: &Browser, email: &str, password: &str) {
    browser.wait_visible("login-form").await;
    browser.type_into("login-email", email).await;
    browser.type_into("login-password", password).await;
    browser.click("login-submit").await;
}
