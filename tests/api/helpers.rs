//! Black-box harness: a real server on a random port, over a real store, spoken to over HTTP.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Method, Response, StatusCode};
use rstest_reuse::template;
use securevote::app::Application;
use securevote::config::{Config, Settings};
use securevote::store::Store;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::postgres::PgCluster;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// One test's database: a SQLite file in a temp dir, or a fresh database on the shared cluster.
pub struct TestDatabase {
    pub kind: Kind,
    /// Shared with every app spawned on it, so the files outlive a temporary `TestDatabase`.
    pub data_dir: Arc<TempDir>,
    pub settings: Settings,
    pub pg: Option<(&'static PgCluster, String)>,
}

impl TestDatabase {
    pub async fn new(kind: Kind) -> Self {
        let data_dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut settings = Settings {
            data_dir: data_dir.path().to_path_buf(),
            bind_addr: std::net::Ipv4Addr::LOCALHOST.into(),
            port: 0,
            ..Settings::default()
        };
        let pg = match kind {
            Kind::Sqlite => None,
            Kind::Postgres => {
                let cluster = PgCluster::shared();
                let database = cluster.create_database().await;
                settings.database_url = Some(cluster.url(&database).into());
                settings.jwt_secret = Some(JWT_SECRET.into());
                Some((cluster, database))
            }
        };
        Self {
            kind,
            data_dir,
            settings,
            pg,
        }
    }

    pub async fn spawn(&self) -> TestApp {
        let mut app = spawn_with(self.settings.clone()).await;
        app.data_dir = Some(Arc::clone(&self.data_dir));
        app
    }

    /// Direct SQL access for assertions (PostgreSQL only).
    pub async fn sql(&self) -> tokio_postgres::Client {
        let (cluster, database) = self.pg.as_ref().expect("a PostgreSQL test database");
        cluster.connect(database).await
    }

    /// Candidates seeded on SQLite by the service itself; imported here on PostgreSQL.
    pub async fn with_demo_candidates(self) -> Self {
        if self.kind == Kind::Postgres {
            let store = securevote::store::open(
                &Config::from_settings(&self.settings).unwrap().database,
                1,
            )
            .await
            .expect("open store");
            let demo = securevote::store::parse_candidates(securevote::store::DEMO_CANDIDATES_JSON)
                .unwrap();
            store
                .add_candidates(&demo)
                .await
                .expect("import candidates");
            store.close().await;
        }
        self
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().to_owned()
    }
}

/// A server on a fresh database of the given store.
pub async fn spawn_app(kind: Kind) -> TestApp {
    TestDatabase::new(kind).await.spawn().await
}

/// A server on a fresh database of the given store holding the demo candidates.
pub async fn spawn_app_with_demo_candidates(kind: Kind) -> TestApp {
    TestDatabase::new(kind)
        .await
        .with_demo_candidates()
        .await
        .spawn()
        .await
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    data_dir: Option<Arc<TempDir>>,
}

pub async fn spawn_with(settings: Settings) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        securevote::telemetry::init(securevote::config::LogFormat::Text);
    }
    let config = Config::from_settings(&settings).expect("valid test config");
    let app = Application::build(&config)
        .await
        .expect("application starts");
    let addr = app.local_addr().expect("bound address");
    let store = app.store();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store,
        shutdown: Some(tx),
        server: Some(server),
        data_dir: None,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Graceful shutdown, as on SIGTERM; waits until the server has stopped.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_authed(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// GET and the body parsed as JSON, whatever the status (assert it with `json_of` instead).
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> T {
        self.get(path).await.json().await.expect("a JSON body")
    }

    /// Authenticated GET and the body parsed as JSON, whatever the status (assert it with
    /// `json_of` instead).
    pub async fn get_authed_json<T: DeserializeOwned>(&self, path: &str, token: &str) -> T {
        self.get_authed(path, token)
            .await
            .json()
            .await
            .expect("a JSON body")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/register",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers a new user and returns their bearer token.
    pub async fn new_voter(&self) -> String {
        let email = format!("voter-{}@example.org", uuid::Uuid::new_v4().simple());
        let registered = self.register(&email, "correct horse battery").await;
        assert_eq!(registered.status(), StatusCode::CREATED);
        self.token_for(&email, "correct horse battery").await
    }

    /// Logs in (asserting 200) and returns the bearer token.
    pub async fn token_for(&self, email: &str, password: &str) -> String {
        let login = self.login(email, password).await;
        assert_eq!(login.status(), StatusCode::OK);
        login.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn vote(&self, token: &str, candidate_id: &str, key: Option<&str>) -> Response {
        let mut request = self
            .client
            .post(self.url("/api/votes"))
            .bearer_auth(token)
            .json(&json!({"candidate_id": candidate_id}));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request")
    }

    pub async fn candidates(&self) -> Vec<Value> {
        let response = self.get("/api/candidates").await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Vec<Value>>().await.unwrap()
    }

    pub async fn first_candidate_id(&self) -> String {
        self.candidates().await[0]["id"]
            .as_str()
            .expect("candidate id")
            .to_owned()
    }
}

/// Sends a request with an optional bearer token and an optional JSON body.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request")
}

/// Asserts the status of a response (showing its body if it differs) and parses its JSON body.
pub async fn json_of(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "body: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Asserts the status and the stable error code of a JSON error response.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let actual = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "body: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("error body is not JSON: {text}"));
    assert_eq!(body["error"]["code"], code, "body: {text}");
    assert!(body["error"]["message"].is_string(), "body: {text}");
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(
            headers.get("www-authenticate").map(|v| v.to_str().unwrap()),
            Some("Bearer")
        );
    }
    body
}

/// Runs a scenario once per store: `#[apply(both_stores)]` on `async fn name(kind: Kind)` makes the
/// tests `name::case_1_sqlite` and `name::case_2_postgres`, each on a multi-threaded runtime.
/// The module applying it imports `rstest::rstest` and `rstest_reuse::apply` beside `both_stores`.
/// A scenario for one store only is a plain `#[tokio::test]` (see the suite's doc in main.rs).
#[template]
#[rstest]
#[case::sqlite(Kind::Sqlite)]
#[case::postgres(Kind::Postgres)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub async fn both_stores(#[case] kind: Kind) {}
