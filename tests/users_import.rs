//! `securevote users import FILE` through the binary: plain passwords and argon2 PHC strings,
//! duplicates, rejected lines with their numbers, a re-run, and both stores.

#[path = "support/postgres.rs"]
mod postgres;

use std::path::Path;
use std::process::{Command, Output};

use postgres::PgCluster;
use securevote::auth::PasswordHasher;
use securevote::config::{Config, Settings};
use securevote::domain::{Email, Password};

const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

fn import(file: &Path, env: &[(&str, &str)], dir: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_securevote"));
    command
        .args(["users", "import"])
        .arg(file)
        .env_clear()
        .env("DATA_DIR", dir)
        .current_dir(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run securevote")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn hash_of(password: &str) -> String {
    PasswordHasher::new(1, 1)
        .hash(Password::parse(password.into()).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_voter_list_reports_each_line_and_can_be_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let hash = hash_of("pre-hashed pass").await;
    let csv = dir.path().join("voters.csv");
    std::fs::write(
        &csv,
        "email,password\n\
         ada@example.org,\"correct, horse\"\n\
         Bob@Example.org,battery staple\n\
         ADA@example.org,another one\n\
         not-an-email,whatever123\n\
         carol@example.org,short\n",
    )
    .unwrap();
    let hashed = dir.path().join("hashed.csv");
    std::fs::write(
        &hashed,
        format!("email,password_hash\ndan@example.org,{hash}\neve@example.org,\"{hash}\"\n"),
    )
    .unwrap();

    let first = import(&csv, &[], dir.path());
    let second = import(&hashed, &[], dir.path());
    let again = import(&csv, &[], dir.path());

    let text = stdout(&first);
    assert_eq!(first.status.code(), Some(1), "a rejected line: {text}");
    assert!(text.contains("imported 2 users"), "{text}");
    assert!(text.contains("skipped 1 duplicate ("), "{text}");
    assert!(text.contains("rejected 2 lines:"), "{text}");
    assert!(text.contains("  line 5: invalid email"), "{text}");
    assert!(text.contains("  line 6: invalid password"), "{text}");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("2 line(s) rejected"), "{stderr}");
    assert_eq!(second.status.code(), Some(0), "{}", stdout(&second));
    assert!(stdout(&second).contains("imported 2 users"));
    assert!(stdout(&again).contains("imported 0 users"));
    assert!(stdout(&again).contains("skipped 3 duplicates"));

    let config = Config::from_settings(&Settings {
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    })
    .unwrap();
    let store = securevote::store::open(&config.database, 1).await.unwrap();
    let hasher = PasswordHasher::new(1, 1);
    for (email, password) in [
        ("ada@example.org", "correct, horse"),
        ("bob@example.org", "battery staple"),
        ("dan@example.org", "pre-hashed pass"),
        ("eve@example.org", "pre-hashed pass"),
    ] {
        let credentials = store
            .credentials(&Email::parse(email).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{email} was imported"));
        assert!(
            hasher
                .verify(password.into(), Some(credentials.password_hash))
                .await
                .unwrap(),
            "{email} logs in with the password of the list"
        );
    }
    store.close().await;
}

#[test]
fn a_file_without_the_header_is_refused_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("voters.csv");
    std::fs::write(&csv, "ada@example.org,correct horse\n").unwrap();

    let output = import(&csv, &[], dir.path());

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("email,password_hash"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_in_batches_on_postgresql() {
    let cluster = PgCluster::shared();
    let database = cluster.create_database().await;
    let dir = tempfile::tempdir().unwrap();
    let hash = hash_of("pre-hashed pass").await;
    let mut csv = String::from("email,password_hash\n");
    for n in 0..2500 {
        csv.push_str(&format!("voter{n}@example.org,{hash}\n"));
    }
    csv.push_str(&format!("voter7@example.org,{hash}\n"));
    let file = dir.path().join("voters.csv");
    std::fs::write(&file, csv).unwrap();
    let url = cluster.url(&database);
    let env = [("DATABASE_URL", url.as_str()), ("JWT_SECRET", JWT_SECRET)];

    let output = import(&file, &env, dir.path());

    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("imported 2500 users"), "{text}");
    assert!(text.contains("skipped 1 duplicate ("), "{text}");
    let sql = cluster.connect(&database).await;
    let count: i64 = sql
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2500);
}
