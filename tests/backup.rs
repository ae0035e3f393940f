//! Backups and restores, as an operator makes them, against the real binary.
//!
//! - Embedded SQLite: `securevote backup FILE` while the service takes votes; each backup is
//!   consistent (as many ballots as voters marked as voted, integrity ok) and holds every vote
//!   acknowledged before it began and none sent after it ended; a service started on a backup
//!   answers as of that backup.
//! - PostgreSQL: continuous WAL archiving and a base backup (`pg_basebackup`) under votes, then
//!   a point-in-time restore to a chosen moment on a fresh node: every vote acknowledged before
//!   that moment is there, none sent after it.

#[path = "support/postgres.rs"]
mod postgres;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "backup-test-secret-backup-test-secret-0123";
const PASSWORD: &str = "correct horse battery";
const VOTERS: usize = 90;
const BACKUPS: usize = 3;

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[]).await
    }

    async fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_securevote"))
            .env_clear()
            .env("DATA_DIR", data_dir)
            .env("PORT", port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("JWT_SECRET", SECRET)
            .env("REGISTER_LIMIT_PER_IP", "100000")
            .env("LOGIN_LIMIT_PER_IP", "100000")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .spawn()
            .expect("start securevote");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("{}/health", server.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// SIGTERM, then waits for the graceful exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exited = self.child.wait().unwrap();
        assert!(exited.success(), "the server exited with {exited}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn token(client: &reqwest::Client, base: &str, email: &str, register: bool) -> String {
    let body = json!({"email": email, "password": PASSWORD});
    if register {
        let registered = client
            .post(format!("{base}/api/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), StatusCode::CREATED);
    }
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    login.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn vote(client: &reqwest::Client, base: &str, token: &str, candidate: &str) -> StatusCode {
    client
        .post(format!("{base}/api/votes"))
        .bearer_auth(token)
        .json(&json!({"candidate_id": candidate}))
        .send()
        .await
        .unwrap()
        .status()
}

/// One acknowledged vote as the test saw it: when it was sent and when it was acknowledged,
/// on the monotonic clock and on the wall clock (which the database's commit times share).
#[derive(Clone)]
struct Sent {
    email: String,
    sent: Instant,
    acknowledged: Instant,
    sent_wall: DateTime<Utc>,
    acknowledged_wall: DateTime<Utc>,
}

/// Voters registered on a running service, with the ballot's candidates.
struct Electorate {
    emails: Vec<String>,
    tokens: Vec<String>,
    candidate_ids: Vec<String>,
}

impl Electorate {
    async fn register(client: &reqwest::Client, base: &str, voters: usize) -> Self {
        let candidates: Vec<Value> = client
            .get(format!("{base}/api/candidates"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let candidate_ids: Vec<String> = candidates
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(candidate_ids.len() >= 3, "the demo ballot: {candidates:?}");
        let emails: Vec<String> = (0..voters)
            .map(|i| format!("voter-{i:03}@example.org"))
            .collect();
        let mut tokens = Vec::new();
        for email in &emails {
            tokens.push(token(client, base, email, true).await);
        }
        Self {
            emails,
            tokens,
            candidate_ids,
        }
    }
}

/// Votes arriving while the test does something else: four voters at a time, each voting once
/// with a pause after each vote, until everyone has voted. Every vote must be acknowledged.
struct Voting {
    log: Arc<Mutex<Vec<Sent>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Voting {
    fn start(
        client: &reqwest::Client,
        base: &str,
        electorate: &Electorate,
        pause: Duration,
    ) -> Self {
        let log: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let queue = Arc::new(Mutex::new(
            (0..electorate.emails.len()).rev().collect::<Vec<_>>(),
        ));
        let workers = (0..4)
            .map(|_| {
                let (client, base, log, queue) =
                    (client.clone(), base.to_owned(), log.clone(), queue.clone());
                let (emails, tokens, candidate_ids) = (
                    electorate.emails.clone(),
                    electorate.tokens.clone(),
                    electorate.candidate_ids.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        let Some(i) = queue.lock().unwrap().pop() else {
                            break;
                        };
                        let (sent, sent_wall) = (Instant::now(), Utc::now());
                        let status = vote(&client, &base, &tokens[i], &candidate_ids[i % 3]).await;
                        assert_eq!(status, StatusCode::CREATED, "voter {i}");
                        log.lock().unwrap().push(Sent {
                            email: emails[i].clone(),
                            sent,
                            acknowledged: Instant::now(),
                            sent_wall,
                            acknowledged_wall: Utc::now(),
                        });
                        tokio::time::sleep(pause).await;
                    }
                })
            })
            .collect();
        Self { log, workers }
    }

    /// Waits until at least `count` votes have been acknowledged.
    async fn wait_for(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.log.lock().unwrap().len() < count {
            assert!(
                Instant::now() < deadline,
                "{count} votes were not acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn so_far(&self) -> Vec<Sent> {
        self.log.lock().unwrap().clone()
    }

    async fn finish(self) -> Vec<Sent> {
        for worker in self.workers {
            worker.await.unwrap();
        }
        let log = self.log.lock().unwrap();
        log.clone()
    }
}

/// What a backup file holds: the emails of voters marked as voted, and the ballot count.
fn read_backup(path: &Path) -> (BTreeSet<String>, i64) {
    let db = rusqlite::Connection::open(path).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{}", path.display());
    let mut statement = db
        .prepare("SELECT u.email FROM participation p JOIN users u ON u.id = p.user_id")
        .unwrap();
    let voted = statement
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let ballots = db
        .query_row("SELECT COUNT(*) FROM ballot_box", [], |r| r.get(0))
        .unwrap();
    (voted, ballots)
}

fn run_backup(data_dir: &Path, file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_securevote"))
        .env_clear()
        .env("DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .arg("backup")
        .arg(file)
        .output()
        .expect("run securevote backup")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_made_while_votes_arrive_are_consistent_and_restore() {
    let live = tempfile::tempdir().unwrap();
    let server = Server::start(live.path()).await;
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let electorate = Electorate::register(&client, &base, VOTERS).await;
    let Electorate {
        emails,
        candidate_ids,
        ..
    } = &electorate;
    let voting = Voting::start(&client, &base, &electorate, Duration::from_millis(25));

    // Backups while the votes arrive.
    let mut backups = Vec::new();
    for k in 0..BACKUPS {
        tokio::time::sleep(Duration::from_millis(120)).await;
        let file = live.path().join(format!("backup-{k}.db"));
        let started = Instant::now();
        let before = voting.so_far();
        let data_dir = live.path().to_owned();
        let (output, file) = tokio::task::spawn_blocking(move || {
            let output = run_backup(&data_dir, &file);
            (output, file)
        })
        .await
        .unwrap();
        let ended = Instant::now();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "backup {k}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("integrity ok"), "{stdout}");
        eprintln!("{}", stdout.trim());
        backups.push((file, started, ended, before));
    }
    let all = voting.finish().await;
    assert_eq!(all.len(), VOTERS);

    let mut saw_partial = false;
    for (file, started, ended, before) in &backups {
        let (voted, ballots) = read_backup(file);
        assert_eq!(
            ballots,
            voted.len() as i64,
            "{}: one ballot per voter marked as voted",
            file.display()
        );
        for sent in before.iter().filter(|s| s.acknowledged < *started) {
            assert!(
                voted.contains(&sent.email),
                "{}: {} was acknowledged before the backup began",
                file.display(),
                sent.email
            );
        }
        let sent_after: BTreeSet<&str> = all
            .iter()
            .filter(|s| s.sent > *ended)
            .map(|s| s.email.as_str())
            .collect();
        for email in &voted {
            assert!(
                !sent_after.contains(email.as_str()),
                "{}: {email} voted after the backup ended",
                file.display()
            );
        }
        saw_partial |= voted.len() < VOTERS && !voted.is_empty();
        eprintln!(
            "{}: {} of {VOTERS} votes, {ballots} ballots",
            file.display(),
            voted.len()
        );
    }
    assert!(
        saw_partial,
        "no backup was taken while votes were still arriving"
    );
    let refused = run_backup(live.path(), &backups[0].0);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "an existing file is refused"
    );
    server.stop();

    // Restore the earliest backup that misses some votes on a fresh data directory.
    let (file, _, _, _) = backups
        .iter()
        .find(|(file, ..)| read_backup(file).0.len() < VOTERS)
        .unwrap();
    let (voted, ballots) = read_backup(file);
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(file, restored.path().join("securevote.db")).unwrap();
    let server = Server::start(restored.path()).await;
    let base = server.base.clone();
    let results: Value = client
        .get(format!("{base}/api/results"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        results["total_votes"], ballots,
        "the restored service counts the backup's ballots: {results}"
    );
    let in_backup = emails.iter().find(|e| voted.contains(*e)).unwrap();
    let not_in_backup = emails.iter().find(|e| !voted.contains(*e)).unwrap();
    let again = token(&client, &base, in_backup, false).await;
    assert_eq!(
        vote(&client, &base, &again, &candidate_ids[0]).await,
        StatusCode::CONFLICT,
        "a vote in the backup stays cast"
    );
    let later = token(&client, &base, not_in_backup, false).await;
    assert_eq!(
        vote(&client, &base, &later, &candidate_ids[0]).await,
        StatusCode::CREATED,
        "a vote cast after the backup is not in it"
    );
    server.stop();
    let (voted_now, ballots_now) = read_backup(&restored.path().join("securevote.db"));
    assert_eq!(voted_now.len(), voted.len() + 1);
    assert_eq!(ballots_now, ballots + 1);
}

/// Runs a PostgreSQL tool (as the `postgres` user when root) and requires success.
fn pg(tool: &str, args: &[&str]) -> String {
    let output = postgres::pg_command(tool).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A directory the `postgres` user owns (mode 0700), under the test's temporary directory.
fn postgres_dir(parent: &Path, name: &str) -> std::path::PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(parent)
        .status()
        .unwrap();
    assert!(status.success());
    securevote_dir_mode(&dir);
    dir
}

fn securevote_dir_mode(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// A restored node: stopped at once when the test ends, however it ends.
struct Restored(std::path::PathBuf);

impl Drop for Restored {
    fn drop(&mut self) {
        let _ = postgres::pg_command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(&self.0)
            .arg("stop")
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restores_to_a_chosen_moment_from_a_base_backup_and_archived_wal() {
    let work = tempfile::tempdir().unwrap();
    let archive = postgres_dir(work.path(), "archive");
    let primary = postgres::PgCluster::start();
    let admin = primary.connect("postgres").await;
    for setting in [
        "archive_mode = on".to_owned(),
        format!(
            "archive_command = 'test ! -f {dir}/%f && cp %p {dir}/%f'",
            dir = archive.display()
        ),
    ] {
        admin
            .batch_execute(&format!("ALTER SYSTEM SET {setting}"))
            .await
            .unwrap();
    }
    drop(admin);
    pg(
        "pg_ctl",
        &[
            "-w",
            "-m",
            "fast",
            "-D",
            primary.data_dir.to_str().unwrap(),
            "stop",
        ],
    );
    primary.start_server();
    let database = primary.create_database().await;
    let url = primary.url(&database);
    let service_dir = tempfile::tempdir().unwrap();
    let candidates = Command::new(env!("CARGO_BIN_EXE_securevote"))
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .args(["candidates", "import"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/candidates.example.json"))
        .output()
        .unwrap();
    assert!(
        candidates.status.success(),
        "{}",
        String::from_utf8_lossy(&candidates.stderr)
    );
    let server = Server::start_with(service_dir.path(), &[("DATABASE_URL", &url)]).await;
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let electorate = Electorate::register(&client, &base, 2 * VOTERS).await;
    let voting = Voting::start(&client, &base, &electorate, Duration::from_millis(100));

    // A base backup while votes arrive.
    voting.wait_for(20).await;
    let base_backup = work.path().join("base");
    pg(
        "pg_basebackup",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &primary.port.to_string(),
            "-U",
            "postgres",
            "-D",
            base_backup.to_str().unwrap(),
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ],
    );
    let after_backup = voting.so_far().len();

    // More votes; the chosen moment; more votes.
    voting.wait_for(after_backup + 20).await;
    let moment = Utc::now();
    let all = voting.finish().await;
    server.stop();
    let before: Vec<&Sent> = all
        .iter()
        .filter(|s| s.acknowledged_wall < moment)
        .collect();
    let after: Vec<&Sent> = all.iter().filter(|s| s.sent_wall > moment).collect();
    eprintln!(
        "pitr: {} votes, {after_backup} before the base backup ended, {} acknowledged before \
         the moment, {} sent after it",
        all.len(),
        before.len(),
        after.len()
    );
    assert!(
        before.len() > after_backup,
        "votes acknowledged between the base backup and the moment"
    );
    assert!(!after.is_empty(), "votes sent after the moment");

    // Every WAL segment up to now in the archive.
    let admin = primary.connect("postgres").await;
    let last: String = admin
        .query_one("SELECT pg_walfile_name(pg_switch_wal())", &[])
        .await
        .unwrap()
        .get(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !archive.join(&last).exists() {
        assert!(Instant::now() < deadline, "{last} was not archived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Restore on a fresh node: the base backup, the archive, the moment.
    let restored_dir = postgres_dir(work.path(), "restored");
    let status = Command::new("cp")
        .args(["-a", &format!("{}/.", base_backup.display())])
        .arg(&restored_dir)
        .status()
        .unwrap();
    assert!(status.success());
    let target = moment.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string();
    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open(restored_dir.join("postgresql.auto.conf"))
        .unwrap();
    std::io::Write::write_all(
        &mut conf,
        format!(
            "archive_mode = off\nrestore_command = 'cp {}/%f %p'\nrecovery_target_time = '{target}'\nrecovery_target_action = 'promote'\n",
            archive.display()
        )
        .as_bytes(),
    )
    .unwrap();
    std::fs::write(restored_dir.join("recovery.signal"), b"").unwrap();
    let _ = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(&restored_dir)
        .status();
    let restored = postgres::PgCluster::attach("127.0.0.1", postgres::free_port(), restored_dir);
    let _guard = Restored(restored.data_dir.clone());
    restored.start_server();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !restored.accepts_writes().await {
        assert!(
            Instant::now() < deadline,
            "the restored node did not finish recovery"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let db = restored.connect(&database).await;
    let voted: BTreeSet<String> = db
        .query(
            "SELECT u.email FROM participation p JOIN users u ON u.id = p.user_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let ballots: i64 = db
        .query_one("SELECT COUNT(*) FROM ballot_box", &[])
        .await
        .unwrap()
        .get(0);
    eprintln!(
        "pitr: restored to {target}: {} voters marked as voted, {ballots} ballots",
        voted.len()
    );
    assert_eq!(ballots, voted.len() as i64, "one ballot per voter");
    for sent in &before {
        assert!(
            voted.contains(&sent.email),
            "{} was acknowledged before {target} but is not restored",
            sent.email
        );
    }
    for sent in &after {
        assert!(
            !voted.contains(&sent.email),
            "{} was sent after {target} but is restored",
            sent.email
        );
    }
}
