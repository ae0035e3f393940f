//! `securevote backup FILE` on the embedded database, as an operator runs it: the service takes
//! votes while backups are made; each backup is consistent (as many ballots as voters marked as
//! voted, integrity ok) and holds every vote acknowledged before it began and none sent after it
//! ended; a service started on a backup answers as of that backup.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// One vote as the test saw it: when it was sent and when (if) it was acknowledged.
#[derive(Clone)]
struct Sent {
    email: String,
    sent: Instant,
    acknowledged: Option<Instant>,
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
    let emails: Vec<String> = (0..VOTERS)
        .map(|i| format!("voter-{i:03}@example.org"))
        .collect();
    let mut tokens = Vec::new();
    for email in &emails {
        tokens.push(token(&client, &base, email, true).await);
    }

    // Four voters at a time, each voting once, until everyone has voted.
    let log: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let queue = Arc::new(Mutex::new((0..VOTERS).collect::<Vec<_>>()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (client, base, log, queue) = (client.clone(), base.clone(), log.clone(), queue.clone());
        let (emails, tokens, candidate_ids) =
            (emails.clone(), tokens.clone(), candidate_ids.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some(i) = queue.lock().unwrap().pop() else {
                    break;
                };
                let sent = Instant::now();
                let status = vote(&client, &base, &tokens[i], &candidate_ids[i % 3]).await;
                assert_eq!(status, StatusCode::CREATED, "voter {i}");
                log.lock().unwrap().push(Sent {
                    email: emails[i].clone(),
                    sent,
                    acknowledged: Some(Instant::now()),
                });
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }));
    }

    // Backups while the votes arrive.
    let mut backups = Vec::new();
    for k in 0..BACKUPS {
        tokio::time::sleep(Duration::from_millis(120)).await;
        let file = live.path().join(format!("backup-{k}.db"));
        let started = Instant::now();
        let before: Vec<Sent> = log.lock().unwrap().clone();
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
    for worker in workers {
        worker.await.unwrap();
    }
    let all: Vec<Sent> = log.lock().unwrap().clone();
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
        for sent in before.iter().filter(|s| s.acknowledged.unwrap() < *started) {
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
