//! PostgreSQL-only behaviour: several instances on one database, adopting the original
//! design's database, multi-host settings, and an unreachable or failed-over primary.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use securevote::config::Settings;
use serde_json::{Value, json};

use crate::helpers::{
    JWT_SECRET, Kind, PgCluster, TestApp, TestDatabase, assert_error, spawn_with,
};

/// The original design's schema and seed data, verbatim.
const ORIGINAL_SCHEMA: &str = r#"
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  email VARCHAR(255) UNIQUE NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  created_at TIMESTAMP NOT NULL
);
CREATE TABLE candidates (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  name VARCHAR(255) NOT NULL,
  party VARCHAR(255),
  description TEXT
);
CREATE TABLE votes (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  user_id UUID UNIQUE NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  candidate_id UUID NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
  created_at TIMESTAMP NOT NULL
);
INSERT INTO candidates (name, party, description) VALUES
('John Doe', 'Progressive Alliance', 'Advocate for social justice and economic reform.'),
('Jane Smith', 'Green Future', 'Focused on environmental sustainability and green energy.'),
('Alex Johnson', 'Unity Party', 'Promoting unity and bipartisan solutions.'),
('Chris Lee', 'Conservative Coalition', 'Emphasizing traditional values and fiscal responsibility.');
"#;

fn settings_for(url: String, data_dir: &std::path::Path) -> Settings {
    Settings {
        database_url: Some(url.into()),
        jwt_secret: Some(JWT_SECRET.into()),
        data_dir: data_dir.to_path_buf(),
        bind_addr: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 0,
        ..Settings::default()
    }
}

/// A PostgreSQL server of its own with an empty `votes` database.
async fn server_with_votes_database() -> PgCluster {
    let primary = PgCluster::start();
    primary
        .connect("postgres")
        .await
        .batch_execute("CREATE DATABASE votes")
        .await
        .unwrap();
    primary
}

/// An instance on `settings` with the demo candidates, and the first candidate's id.
async fn spawn_with_candidates(settings: Settings) -> (TestApp, String) {
    let app = spawn_with(settings).await;
    app.store
        .add_candidates(
            &securevote::store::parse_candidates(securevote::store::DEMO_CANDIDATES_JSON).unwrap(),
        )
        .await
        .unwrap();
    let candidate = app.first_candidate_id().await;
    (app, candidate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_store_exactly_one_of_many_simultaneous_votes() {
    let db = TestDatabase::new(Kind::Postgres)
        .await
        .with_demo_candidates()
        .await;
    let (first, second) = (db.spawn().await, db.spawn().await);
    let token = first.new_voter().await;
    let candidate = first.first_candidate_id().await;

    let attempts = (0..60).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        let (token, candidate) = (&token, &candidate);
        async move { app.vote(token, candidate, None).await.status() }
    });
    let statuses = join_all(attempts).await;

    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 59), "{statuses:?}");
    let rows = db
        .sql()
        .await
        .query_one("SELECT count(*) FROM participation", &[])
        .await
        .unwrap();
    assert_eq!(rows.get::<_, i64>(0), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_a_fresh_database_once() {
    let db = TestDatabase::new(Kind::Postgres).await;

    let apps = join_all((0..3).map(|_| db.spawn())).await;

    let sql = db.sql().await;
    let applied = sql
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let versions: Vec<i64> = applied.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        versions,
        (1..=securevote::store::POSTGRES_MIGRATIONS.len() as i64).collect::<Vec<_>>()
    );
    for app in &apps {
        assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_made_with_the_original_sql_is_adopted_with_its_data() {
    let db = TestDatabase::new(Kind::Postgres).await;
    let sql = db.sql().await;
    sql.batch_execute(ORIGINAL_SCHEMA).await.unwrap();
    let hasher = securevote::auth::PasswordHasher::new(1, 1);
    let hash = hasher
        .hash(securevote::domain::Password::parse("from the old app".into()).unwrap())
        .await
        .unwrap();
    sql.execute(
        "INSERT INTO users (email, password_hash, created_at) VALUES ('Old.Voter@Example.org', $1, '2024-03-01 12:00:00')",
        &[&hash],
    )
    .await
    .unwrap();
    sql.batch_execute(
        "INSERT INTO votes (user_id, candidate_id, created_at)
         SELECT u.id, c.id, '2024-03-02 08:30:00' FROM users u, candidates c WHERE c.name = 'Jane Smith'",
    )
    .await
    .unwrap();

    let app = db.spawn().await;

    assert_eq!(app.candidates().await.len(), 4);
    let tally: Value = app.get_json("/api/results").await;
    assert_eq!(tally["total_votes"], 1);
    assert_eq!(tally["results"][0]["name"], "Jane Smith");
    let login: Value = app
        .login("old.voter@example.org", "from the old app")
        .await
        .json()
        .await
        .unwrap();
    let token = login["token"]
        .as_str()
        .expect("the adopted user can log in");
    let vote: Value = app.get_authed_json("/api/votes/me", token).await;
    assert_eq!(vote["created_at"], "2024-03-02T08:30:00.000000Z");
    let candidate = app.first_candidate_id().await;
    assert_error(
        app.vote(token, &candidate, None).await,
        StatusCode::CONFLICT,
        "already_voted",
    )
    .await;
    let taken = app
        .register("OLD.VOTER@example.org", "another password")
        .await;
    assert_error(taken, StatusCode::CONFLICT, "email_taken").await;
    let newcomer = app.new_voter().await;
    assert_eq!(
        app.vote(&newcomer, &candidate, None).await.status(),
        StatusCode::CREATED
    );
    let cascade = sql
        .query_one(
            "SELECT confdeltype::text FROM pg_constraint WHERE conname = 'ballot_box_candidate_id_fkey'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        cascade.get::<_, String>(0),
        "r",
        "deleting a candidate no longer deletes votes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_host_that_is_down_is_skipped() {
    let cluster = PgCluster::shared();
    let database = cluster.create_database().await;
    let dead_port = crate::postgres::free_port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://postgres@127.0.0.1:{dead_port},127.0.0.1:{}/{database}",
        cluster.port
    );

    let app = spawn_with(settings_for(url, dir.path())).await;

    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    assert_eq!(
        app.register("multi@example.org", "two hosts here")
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_standby_listed_first_is_skipped_and_promotion_is_followed_without_restart() {
    let primary = server_with_votes_database().await;
    let standby = primary.start_standby();
    let in_recovery = standby
        .connect("votes")
        .await
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .unwrap();
    assert!(
        in_recovery.get::<_, bool>(0),
        "the second node is a standby"
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/votes",
        standby.port, primary.port
    );
    let (app, candidate) = spawn_with_candidates(settings_for(url, dir.path())).await;
    let before = app.new_voter().await;
    assert_eq!(
        app.vote(&before, &candidate, None).await.status(),
        StatusCode::CREATED
    );
    let after = app.new_voter().await;

    primary.stop_immediately();
    let mut promote = crate::postgres::pg_command("pg_ctl");
    promote
        .args(["-w", "-D"])
        .arg(&standby.data_dir)
        .arg("promote");
    assert!(promote.status().unwrap().success());
    let promoted_at = Instant::now();

    let status = loop {
        let status = app
            .vote(&after, &candidate, Some("after-failover"))
            .await
            .status();
        if status == StatusCode::CREATED || promoted_at.elapsed() > Duration::from_secs(15) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        status,
        StatusCode::CREATED,
        "votes succeed on the promoted standby"
    );
    let recovered_in = promoted_at.elapsed();
    assert!(
        recovered_in < Duration::from_secs(2),
        "votes resumed {recovered_in:?} after the promotion"
    );
    let tally: Value = app.get_json("/api/results").await;
    assert_eq!(
        tally["total_votes"], 2,
        "the vote made before the failover is on the new primary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_answers_503_quickly_and_recovers() {
    let cluster = PgCluster::start();
    cluster
        .connect("postgres")
        .await
        .batch_execute("CREATE DATABASE votes")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with(settings_for(cluster.url("votes"), dir.path())).await;
    let token = app.new_voter().await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);

    cluster.stop_immediately();
    for path in [
        "/api/options",
        "/api/results",
        "/api/auth/me",
        "/api/votes/me",
    ] {
        let started = Instant::now();
        let response = app.get_authed(path, &token).await;
        let took = started.elapsed();
        assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
        assert!(took < Duration::from_secs(5), "{path} took {took:?}");
    }
    let started = Instant::now();
    let health = app.get("/health").await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "degraded", "database": "unavailable"})
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    cluster.start_server();
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.get("/health").await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "the service did not reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.get_authed("/api/auth/me", &token).await.status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ballot_is_served_from_the_last_copy_with_its_age_while_the_database_is_down() {
    let cluster = PgCluster::start();
    cluster
        .connect("postgres")
        .await
        .batch_execute("CREATE DATABASE ballot_copy")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with(settings_for(cluster.url("ballot_copy"), dir.path())).await;
    let token = app.new_voter().await;
    let before = app.get("/api/options").await;
    assert_eq!(before.status(), StatusCode::OK);
    assert!(
        before.headers().get("age").is_none(),
        "a fresh copy has no Age"
    );
    let ballot = before.text().await.unwrap();
    let election = app.get("/api/elections/default").await;
    assert_eq!(election.status(), StatusCode::OK);
    assert!(election.headers().get("age").is_none());
    let election: Value = election.json().await.unwrap();

    cluster.stop_immediately();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for path in ["/api/options", "/api/candidates", "/api/options"] {
        let started = Instant::now();
        let response = app.get(path).await;
        let took = started.elapsed();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{path} during the outage"
        );
        let age: u64 = response.headers()["age"].to_str().unwrap().parse().unwrap();
        assert!((1..60).contains(&age), "{path}: Age {age}");
        assert_eq!(
            response.text().await.unwrap(),
            ballot,
            "{path}: the same ballot"
        );
        assert!(took < Duration::from_secs(5), "{path} took {took:?}");
    }
    let id = election["id"].as_str().unwrap().to_owned();
    for path in [
        "/api/elections/default".to_owned(),
        format!("/api/elections/{id}"),
    ] {
        let response = app.get(&path).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{path} during the outage"
        );
        assert!(
            response.headers().contains_key("age"),
            "{path}: an Age header"
        );
        assert_eq!(response.json::<Value>().await.unwrap(), election, "{path}");
    }
    let unknown = format!("/api/elections/{}", uuid::Uuid::new_v4());
    assert_error(
        app.get(&unknown).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    // What must be current is not served from a copy.
    for path in ["/api/results", "/api/votes/me"] {
        let response = app.get_authed(path, &token).await;
        assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    }

    cluster.start_server();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.get("/api/options").await;
        if response.status() == StatusCode::OK && response.headers().get("age").is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "the ballot was not read again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_db_require_sync_standby_no_ballot_is_written_while_the_primary_has_no_synchronous_standby()
 {
    let mut db = TestDatabase::new(Kind::Postgres)
        .await
        .with_demo_candidates()
        .await;
    // The shared test cluster is a lone server: synchronous_standby_names is empty.
    db.settings.db_require_sync_standby = true;
    let guarded = db.spawn().await;
    let token = guarded.new_voter().await;
    let candidate = guarded.first_candidate_id().await;
    let started = Instant::now();
    let refused = guarded.vote(&token, &candidate, Some("sync-guard-1")).await;
    let waited = started.elapsed();
    assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(
        waited >= Duration::from_secs(3),
        "the ballot waited {waited:?} for a synchronous standby before the refusal"
    );
    let stored: i64 = db
        .sql()
        .await
        .query_one("SELECT count(*) FROM participation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0, "nothing was written for the refused ballot");

    // The same voter and key on an instance without the setting: written once, now.
    db.settings.db_require_sync_standby = false;
    let plain = db.spawn().await;
    let accepted = plain.vote(&token, &candidate, Some("sync-guard-1")).await;
    assert_eq!(accepted.status(), StatusCode::CREATED);
}

/// Just after a failover pg_auto_failover's new primary runs a moment with
/// `synchronous_standby_names` empty while the other standby already streams from it: with
/// `DB_REQUIRE_SYNC_STANDBY` a ballot is then answered once that standby has flushed it, and never
/// while it is on the primary alone (a frozen standby: 503, the ballot kept, its retry answered
/// once the standby has it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_db_require_sync_standby_a_ballot_is_answered_once_a_streaming_standby_has_flushed_it()
{
    let primary = server_with_votes_database().await;
    // Streaming through its slot, but not named synchronous: commits do not wait for it.
    let standby = primary.start_synchronous_standby("pg2");
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_for(primary.url("votes"), dir.path());
    settings.db_require_sync_standby = true;
    let (app, candidate) = spawn_with_candidates(settings).await;

    let first = app.new_voter().await;
    let started = Instant::now();
    let answered = app.vote(&first, &candidate, Some("streaming-1")).await;
    assert_eq!(answered.status(), StatusCode::CREATED);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered in {:?}, not after the 3 s wait for a synchronous standby",
        started.elapsed()
    );

    // Freeze the standby's WAL receiver: it stays connected, and flushes nothing more.
    let receiver: i32 = standby
        .connect("postgres")
        .await
        .query_one("SELECT pid FROM pg_stat_wal_receiver", &[])
        .await
        .unwrap()
        .get(0);
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &receiver.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name} {receiver}");
    };
    signal("-STOP");
    let second = app.new_voter().await;
    let started = Instant::now();
    let unconfirmed = app.vote(&second, &candidate, Some("streaming-2")).await;
    let waited = started.elapsed();
    signal("-CONT");
    assert_error(unconfirmed, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(
        waited >= Duration::from_secs(3),
        "the ballot waited {waited:?} for the standby before the refusal"
    );
    let on_primary: i64 = primary
        .connect("votes")
        .await
        .query_one("SELECT count(*) FROM participation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        on_primary, 2,
        "the unanswered ballot is kept on the primary"
    );

    // The client's retry with its key: the same ballot, answered now that the standby has it.
    let retry = app.vote(&second, &candidate, Some("streaming-2")).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let tally: Value = app.get_json("/api/results").await;
    assert_eq!(tally["total_votes"], 2, "stored once");
}
