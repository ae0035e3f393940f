//! Unlinkable ballots: after an election closes, copies of the database (SQLite: the file, its
//! WAL and journal; PostgreSQL: pg_dump and the data directories, pg_wal included, of primary
//! and standby) together with the service's logs link no voter to a ballot better than chance.
//!
//! Known voters cast ballots in a known order with known choices (some with weak
//! Idempotency-Keys, some retried); the election is closed (which seals it), the copies are
//! taken, and each link is tried: the order of ballot rows (dump order, physical order: ctid
//! or the table's own order) against the order of voting, xmin of ballot and counter rows
//! against xmin of participation rows, the receipts and the key-derived ids, the bytes near a
//! voter's id in every copied file, the log lines, and timestamps. Each attack guesses every
//! voter's choice; its score (the voters it gets right) must stay within what the same attack
//! scores when the true choices are shuffled among the voters (mean + 5 sd of 400 shuffles).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use reqwest::{Method, StatusCode};
use rstest::rstest;
use rstest_reuse::apply;
use securevote::config::Settings;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::admin::admin_token;
use crate::encrypted::{cast, credential, encrypt, open_election, voter};
use crate::helpers::{
    JWT_SECRET, Kind, TestApp, TestDatabase, both_stores, json_of, send, spawn_with,
};
use crate::postgres::{PgCluster, pg_command};

const VOTERS: usize = 48;
const CHOICES: usize = 3;
/// Bytes either side of a voter's id searched for a choice's id.
const WINDOW: usize = 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_copies_and_logs_do_not_link_voters_to_ballots() {
    let db = TestDatabase::new(Kind::Sqlite).await;
    let app = db.spawn().await;
    let election = vote_and_close(&app).await;
    let copies = files_under(&db.data_path());
    assert!(
        copies.iter().any(|(p, _)| p.ends_with("securevote.db")),
        "the database file is among the copies"
    );
    let conn = rusqlite::Connection::open(db.data_path().join("securevote.db")).unwrap();
    let column_names = |table: &str| -> Vec<(String, String)> {
        conn.prepare(&format!(
            "SELECT name, type FROM pragma_table_info('{table}')"
        ))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let ballot_columns = column_names("ballot_box");
    let text_ids = |sql: &str| -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([election.id.to_string()], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    // The table's own order (what a reader of the file sees first) and the dump's.
    let ballot_order =
        text_ids("SELECT coalesce(candidate_id, '') FROM ballot_box WHERE election_id = ?1");
    let participation_order =
        text_ids("SELECT user_id FROM participation WHERE election_id = ?1 ORDER BY rowid");
    let ballot_ids = text_ids("SELECT id FROM ballot_box WHERE election_id = ?1");
    let digests: i64 = conn
        .query_row(
            "SELECT count(*) FROM participation WHERE election_id = ?1
               AND (key_hash IS NOT NULL OR request_hash IS NOT NULL)",
            [election.id.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    app.stop().await;

    let mut verdict = Verdict::new(&election);
    verdict.no_voter_or_time_column(&ballot_columns);
    verdict.check(
        digests == 0,
        format!("{digests} retry digests left after the seal"),
    );
    verdict.order("table order", &participation_order, &ballot_order);
    verdict.receipts(&ballot_ids);
    verdict.bytes(&copies);
    verdict.logs();
    verdict.assert_chance();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dump_data_directories_and_logs_do_not_link_voters_to_ballots() {
    // A cluster of its own, configured as deploy/ ships it: old WAL segments are deleted, not
    // renamed for reuse with their content.
    let primary = PgCluster::start_with(&["wal_recycle=off", "wal_keep_size=0"]);
    let standby = primary.start_standby();
    let database = primary.create_database().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        bind_addr: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 0,
        database_url: Some(primary.url(&database).into()),
        jwt_secret: Some(JWT_SECRET.into()),
        ..Settings::default()
    };
    let app = spawn_with(settings).await;
    let election = vote_and_close(&app).await;
    let sql = primary.connect(&database).await;
    let e = election.id;

    let ballot_columns: Vec<(String, String)> = sql
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_name = 'ballot_box'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let text = |v: Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    let ballots_by_ctid: Vec<(String, i64, Uuid)> = sql
        .query(
            "SELECT candidate_id, xmin::text::bigint, id FROM ballot_box WHERE election_id = $1 ORDER BY ctid",
            &[&e],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (text(r.get(0)), r.get(1), r.get(2)))
        .collect();
    let participation: Vec<(Uuid, i64)> = sql
        .query(
            "SELECT user_id, xmin::text::bigint FROM participation WHERE election_id = $1 ORDER BY voted_at",
            &[&e],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let tallies: Vec<(Uuid, i64)> = sql
        .query(
            "SELECT subject_id, xmin::text::bigint FROM tallies WHERE subject_id = ANY($1)",
            &[&election.choices],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let digests: i64 = sql
        .query_one(
            "SELECT count(*) FROM participation WHERE election_id = $1
               AND (key_hash IS NOT NULL OR request_hash IS NOT NULL)",
            &[&e],
        )
        .await
        .unwrap()
        .get(0);
    // The standby has replayed everything and made its restartpoint (it removes old WAL at
    // restartpoints, which it otherwise makes every checkpoint_timeout).
    let primary_lsn: String = sql
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .unwrap()
        .get(0);
    let replica = standby.connect("postgres").await;
    for _ in 0..200 {
        let caught_up: bool = replica
            .query_one(
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                &[&primary_lsn],
            )
            .await
            .unwrap()
            .get(0);
        if caught_up {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    replica.batch_execute("CHECKPOINT").await.unwrap();
    let dump = pg_dump(&primary, &database);
    app.stop().await;

    let mut verdict = Verdict::new(&election);
    verdict.no_voter_or_time_column(&ballot_columns);
    verdict.check(
        digests == 0,
        format!("{digests} retry digests left after the seal"),
    );
    let voting_order: Vec<String> = participation.iter().map(|(u, _)| u.to_string()).collect();
    let ctid_order: Vec<String> = ballots_by_ctid.iter().map(|(c, _, _)| c.clone()).collect();
    verdict.order("ctid order", &voting_order, &ctid_order);
    let (dump_participation, dump_ballots) = dump_order(&dump, &election);
    verdict.order(
        "pg_dump participation order",
        &dump_participation,
        &dump_ballots,
    );
    let ballot_xmins: Vec<(i64, String)> = ballots_by_ctid
        .iter()
        .map(|(c, x, _)| (*x, c.clone()))
        .collect();
    let tally_xmins: Vec<(i64, String)> =
        tallies.iter().map(|(s, x)| (*x, s.to_string())).collect();
    verdict.xmin("ballot xmin", &participation, &ballot_xmins);
    verdict.xmin("counter xmin", &participation, &tally_xmins);
    let ids: Vec<String> = ballots_by_ctid
        .iter()
        .map(|(_, _, id)| id.to_string())
        .collect();
    verdict.receipts(&ids);
    let mut copies = vec![(PathBuf::from("pg_dump.sql"), dump.into_bytes())];
    copies.extend(files_under(&primary.data_dir));
    copies.extend(files_under(&standby.data_dir));
    assert!(
        copies
            .iter()
            .any(|(p, _)| p.components().any(|c| c.as_os_str() == "pg_wal")),
        "pg_wal is among the copies"
    );
    verdict.bytes(&copies);
    verdict.logs();
    verdict.assert_chance();
}

/// The election voted in, and what the voters did, in order.
struct Election {
    id: Uuid,
    /// The choices' ids, by index.
    choices: Vec<Uuid>,
    choice_names: Vec<String>,
    voters: Vec<Voter>,
}

struct Voter {
    id: Uuid,
    email: String,
    choice: usize,
    receipt: Uuid,
}

/// A deterministic pattern of choices, not a plain cycle.
/// An encrypted election's board keeps its ballots in the order cast, each appended in one
/// transaction with its voter's participation row. After the close (which seals it), neither the
/// participation rows' physical order (SQLite rowid, PostgreSQL ctid), nor their times, nor
/// (PostgreSQL) their xmin may follow the board's order: voters registered in roll order vote
/// in a shuffled order, and each attack's guess of which voter cast the board's k-th ballot may
/// be right no more often than a random guess (at most 6 of 24: a random permutation of 24 has
/// 6 or more fixed points with probability below 0.001).
#[apply(both_stores)]
async fn an_encrypted_election_s_participation_does_not_follow_its_board_after_the_close(
    kind: Kind,
) {
    const N: usize = 24;
    const CHANCE: usize = 6;
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    let admin = admin_token(&app).await;
    let id = open_election(&app, &admin, "unlinkable-encrypted", N).await;
    let mut accounts = Vec::new();
    for i in 0..N {
        let token = voter(&app, &format!("enc{i}@example.org")).await;
        let me: Value = app.get_authed_json("/api/auth/me", &token).await;
        accounts.push((token, me["id"].as_str().unwrap().to_owned()));
    }
    let mut order: Vec<usize> = (0..N).collect();
    order.shuffle(&mut StdRng::seed_from_u64(13));
    let mut voter_at_seq = std::collections::BTreeMap::new();
    for (n, &i) in order.iter().enumerate() {
        let (token, user) = &accounts[i];
        let (pseudonym, context) = credential(&app, &id, token).await;
        let mut chair = [0u64; 3];
        chair[n % 3] = 1;
        let ballot = encrypt(&context, &pseudonym, &[&chair, &[0, 0]], &format!("u{n}"));
        let receipt = json_of(
            cast(&app, &id, token, &json!(ballot)).await,
            StatusCode::CREATED,
        )
        .await;
        voter_at_seq.insert(receipt["seq"].as_u64().unwrap(), user.clone());
    }
    let closed = send(
        &app,
        Method::POST,
        &format!("/api/elections/{id}/close"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(closed.status(), StatusCode::OK);
    // The board's ballots in order: the truth an attack must guess.
    let truth: Vec<String> = voter_at_seq.into_values().collect();

    // (user, voted_at as stored) in physical order, and xmin guesses (PostgreSQL).
    let (physical, xmin_right): (Vec<(String, String)>, Option<usize>) = match kind {
        Kind::Sqlite => {
            let conn = rusqlite::Connection::open(db.data_path().join("securevote.db")).unwrap();
            let rows = conn
                .prepare(
                    "SELECT user_id, voted_at FROM participation WHERE election_id = ?1
                     ORDER BY rowid",
                )
                .unwrap()
                .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (rows, None)
        }
        Kind::Postgres => {
            let sql = db.sql().await;
            let election: Uuid = id.parse().unwrap();
            let rows = sql
                .query(
                    "SELECT user_id::text, to_char(voted_at AT TIME ZONE 'UTC', 'HH24:MI:SS.US'),
                            xmin::text
                     FROM participation WHERE election_id = $1 ORDER BY ctid",
                    &[&election],
                )
                .await
                .unwrap();
            let by_xmin: HashMap<String, String> = rows
                .iter()
                .map(|r| (r.get::<_, String>(2), r.get::<_, String>(0)))
                .collect();
            let board = sql
                .query(
                    "SELECT xmin::text FROM board_events
                     WHERE election_id = $1 AND kind = 'ballot' ORDER BY seq",
                    &[&election],
                )
                .await
                .unwrap();
            let right = board
                .iter()
                .zip(&truth)
                .filter(|(row, user)| by_xmin.get(&row.get::<_, String>(0)) == Some(user))
                .count();
            let rows = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            (rows, Some(right))
        }
    };
    assert_eq!(physical.len(), N, "one participation row per voter");
    let right = |guess: &[String]| guess.iter().zip(&truth).filter(|(a, b)| a == b).count();
    let by_order: Vec<String> = physical.iter().map(|(user, _)| user.clone()).collect();
    let mut by_time = physical.clone();
    by_time.sort_by(|a, b| a.1.cmp(&b.1));
    let by_time: Vec<String> = by_time.into_iter().map(|(user, _)| user).collect();
    let scores = [
        ("physical order", right(&by_order)),
        ("order of voted_at", right(&by_time)),
        ("equal xmin", xmin_right.unwrap_or(0)),
    ];
    println!("{kind:?}: voters guessed right of {N}, by attack: {scores:?}");
    for (attack, score) in scores {
        assert!(
            score <= CHANCE,
            "{attack} links {score} of {N} voters to their ballots"
        );
    }
    // Times cut to the day: nothing finer than the day is left to order by.
    for (_, voted_at) in &physical {
        let midnight = match kind {
            Kind::Sqlite => chrono::DateTime::parse_from_rfc3339(voted_at)
                .map(|t| t.time() == chrono::NaiveTime::MIN)
                .unwrap_or(false),
            Kind::Postgres => voted_at == "00:00:00.000000",
        };
        assert!(midnight, "voted_at {voted_at} is finer than the day");
    }
}

fn choice_of(i: usize) -> usize {
    (i * 7 + i / 5) % CHOICES
}

async fn vote_and_close(app: &TestApp) -> Election {
    capture_logs();
    let admin = admin_token(app).await;
    let slug = format!("unlinkable-{}", Uuid::new_v4().simple());
    let document = json!({
        "slug": slug,
        "title": "Council",
        "timezone": "UTC",
        "results": "after_close",
        "contests": [{"title": "Chair", "choices": [{"name": "Ada"}, {"name": "Grace"}, {"name": "Hedy"}]}]
    });
    let created: Value = json_of(
        send(
            app,
            Method::POST,
            "/api/elections",
            Some(&admin),
            Some(&document),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    for action in ["schedule", "open"] {
        let response = send(
            app,
            Method::POST,
            &format!("/api/elections/{id}/{action}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{action}");
    }
    let contest = &created["contests"][0];
    let contest_id = contest["id"].as_str().unwrap().to_owned();
    let choices: Vec<Uuid> = contest["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let choice_names = contest["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let mut voters = Vec::new();
    for i in 0..VOTERS {
        let email = format!("voter-{i}-{}@example.org", Uuid::new_v4().simple());
        assert_eq!(
            app.register(&email, "correct horse battery").await.status(),
            StatusCode::CREATED
        );
        let login: Value = app
            .login(&email, "correct horse battery")
            .await
            .json()
            .await
            .unwrap();
        let token = login["token"].as_str().unwrap().to_owned();
        let me: Value = app.get_authed_json("/api/auth/me", &token).await;
        let user: Uuid = me["id"].as_str().unwrap().parse().unwrap();
        let choice = choice_of(i);
        let body = json!({"selections": {contest_id.clone(): [choices[choice]]}});
        // Every other voter sends a weak key (guessable: "1", "2", ...); every fifth retries.
        let key = (i % 2 == 0).then(|| (i / 2 + 1).to_string());
        let mut receipt = None;
        for _ in 0..if i % 5 == 0 && key.is_some() { 2 } else { 1 } {
            let mut request = app
                .client
                .post(app.url(&format!("/api/elections/{id}/ballots")))
                .bearer_auth(&token)
                .json(&body);
            if let Some(key) = &key {
                request = request.header("Idempotency-Key", key);
            }
            let answer = json_of(request.send().await.unwrap(), StatusCode::CREATED).await;
            let this: Uuid = answer["receipt"].as_str().unwrap().parse().unwrap();
            assert!(
                receipt.is_none_or(|r| r == this),
                "a replay gives the same receipt"
            );
            receipt = Some(this);
        }
        voters.push(Voter {
            id: user,
            email,
            choice,
            receipt: receipt.unwrap(),
        });
    }
    let closed = send(
        app,
        Method::POST,
        &format!("/api/elections/{id}/close"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(closed.status(), StatusCode::OK);
    // Results still count every ballot after the seal.
    let results: Value = app.get_json(&format!("/api/elections/{id}/results")).await;
    assert_eq!(results["ballots"], VOTERS, "{results}");
    Election {
        id,
        choices,
        choice_names,
        voters,
    }
}

/// Every attack's guesses and the verdict on them.
struct Verdict<'a> {
    election: &'a Election,
    /// (attack, per voter: a distribution over the choices, or no guess).
    attacks: Vec<(String, Vec<Option<Vec<f64>>>)>,
    /// Direct checks that failed, reported with the attacks' scores.
    failures: Vec<String>,
}

impl<'a> Verdict<'a> {
    fn new(election: &'a Election) -> Self {
        Self {
            election,
            attacks: Vec::new(),
            failures: Vec::new(),
        }
    }

    fn check(&mut self, ok: bool, failure: String) {
        if !ok {
            self.failures.push(failure);
        }
    }

    fn choice_index(&self, text: &str) -> Option<usize> {
        self.election
            .choices
            .iter()
            .position(|c| c.to_string() == text)
    }

    fn voter_index(&self, text: &str) -> Option<usize> {
        self.election
            .voters
            .iter()
            .position(|v| v.id.to_string() == text)
    }

    fn one_hot(choice: Option<usize>) -> Option<Vec<f64>> {
        choice.map(|c| {
            let mut d = vec![0.0; CHOICES];
            d[c] = 1.0;
            d
        })
    }

    fn normalise(counts: Vec<f64>) -> Option<Vec<f64>> {
        let total: f64 = counts.iter().sum();
        (total > 0.0).then(|| counts.iter().map(|c| c / total).collect())
    }

    fn no_voter_or_time_column(&mut self, columns: &[(String, String)]) {
        assert!(!columns.is_empty(), "the ballot box exists");
        for (name, kind) in columns {
            let kind = kind.to_lowercase();
            self.check(
                !name.contains("user") && !name.contains("voter"),
                format!("ballot column {name} names a voter"),
            );
            self.check(
                !kind.contains("time") && !kind.contains("date") && !name.ends_with("_at"),
                format!("ballot column {name} ({kind}) holds a time"),
            );
        }
    }

    /// The k-th voter (by `voters`, an order of voter ids) is guessed to have cast the k-th
    /// ballot (by `ballots`, their choices in some stored order).
    fn order(&mut self, name: &str, voters: &[String], ballots: &[String]) {
        assert_eq!(voters.len(), VOTERS, "{name}: participation rows");
        assert_eq!(ballots.len(), VOTERS, "{name}: ballot rows");
        let mut guesses = vec![None; VOTERS];
        for (voter, ballot) in voters.iter().zip(ballots) {
            if let Some(v) = self.voter_index(voter) {
                guesses[v] = Self::one_hot(self.choice_index(ballot));
            }
        }
        self.attacks.push((name.to_owned(), guesses));
    }

    /// A voter is guessed to have chosen what the rows sharing their participation's xmin hold.
    fn xmin(&mut self, name: &str, participation: &[(Uuid, i64)], rows: &[(i64, String)]) {
        let mut guesses = vec![None; VOTERS];
        for (user, xmin) in participation {
            let Some(v) = self.voter_index(&user.to_string()) else {
                continue;
            };
            let mut counts = vec![0.0; CHOICES];
            for (row_xmin, choice) in rows {
                if row_xmin == xmin
                    && let Some(c) = self.choice_index(choice)
                {
                    counts[c] += 1.0;
                }
            }
            guesses[v] = Self::normalise(counts);
        }
        self.attacks.push((name.to_owned(), guesses));
    }

    /// The receipts voters were given (random, or derived from their weak keys) must not name
    /// a stored ballot after the seal.
    fn receipts(&mut self, ballot_ids: &[String]) {
        let found = self
            .election
            .voters
            .iter()
            .filter(|v| ballot_ids.contains(&v.receipt.to_string()))
            .count();
        self.check(
            found == 0,
            format!("{found} receipts still name ballots after the seal"),
        );
    }

    /// In every copied file, the choices whose ids lie within [`WINDOW`] bytes of a voter's id.
    /// Also: no receipt a voter was given occurs in any copy at all.
    fn bytes(&mut self, copies: &[(PathBuf, Vec<u8>)]) {
        let needles = |id: &Uuid| -> Vec<Vec<u8>> {
            vec![
                id.as_bytes().to_vec(),
                id.to_string().into_bytes(),
                id.simple().to_string().into_bytes(),
            ]
        };
        let choice_needles: Vec<Vec<Vec<u8>>> = self.election.choices.iter().map(needles).collect();
        let mut guesses = vec![None; VOTERS];
        let mut receipts_found = Vec::new();
        for (v, voter) in self.election.voters.iter().enumerate() {
            let mut counts = vec![0.0; CHOICES];
            for (path, data) in copies {
                for needle in needles(&voter.id) {
                    for at in find_all(data, &needle) {
                        let from = at.saturating_sub(WINDOW);
                        let to = (at + needle.len() + WINDOW).min(data.len());
                        let window = &data[from..to];
                        for (c, choice) in choice_needles.iter().enumerate() {
                            if choice.iter().any(|n| !find_all(window, n).is_empty()) {
                                counts[c] += 1.0;
                            }
                        }
                    }
                }
                for needle in needles(&voter.receipt) {
                    if !find_all(data, &needle).is_empty() {
                        receipts_found.push(path.display().to_string());
                    }
                }
            }
            guesses[v] = Self::normalise(counts);
        }
        receipts_found.sort();
        receipts_found.dedup();
        self.check(
            receipts_found.is_empty(),
            format!("receipts found in the copies: {receipts_found:?}"),
        );
        self.attacks
            .push(("bytes near a voter's id".to_owned(), guesses));
    }

    /// No log line names both a voter (id or email) and anything of a ballot (a receipt, a
    /// choice's id or name).
    fn logs(&mut self) {
        let logs = String::from_utf8_lossy(&LOGS.get().unwrap().lock().unwrap()).into_owned();
        assert!(
            logs.contains(&self.election.id.to_string()),
            "the service's log of this election was captured"
        );
        let mut both = Vec::new();
        for line in logs.lines() {
            for voter in &self.election.voters {
                if !line.contains(&voter.id.to_string()) && !line.contains(&voter.email) {
                    continue;
                }
                let names_ballot = self
                    .election
                    .voters
                    .iter()
                    .any(|v| line.contains(&v.receipt.to_string()))
                    || self
                        .election
                        .choices
                        .iter()
                        .any(|c| line.contains(&c.to_string()))
                    || self
                        .election
                        .choice_names
                        .iter()
                        .any(|n| line.contains(n.as_str()));
                if names_ballot {
                    both.push(line.to_owned());
                }
            }
        }
        assert!(
            both.is_empty(),
            "log lines naming a voter and a ballot: {both:?}"
        );
    }

    /// Each attack's score against the scores of the same guesses when the true choices are
    /// shuffled among the voters.
    fn assert_chance(&self) {
        let truth: Vec<usize> = self.election.voters.iter().map(|v| v.choice).collect();
        let score = |guesses: &[Option<Vec<f64>>], truth: &[usize]| -> f64 {
            guesses
                .iter()
                .zip(truth)
                .map(|(g, t)| g.as_ref().map_or(0.0, |d| d[*t]))
                .sum::<f64>()
                / VOTERS as f64
        };
        let mut rng = StdRng::seed_from_u64(13);
        let mut report = Vec::new();
        let mut failed = self.failures.clone();
        for (name, guesses) in &self.attacks {
            let actual = score(guesses, &truth);
            let mut shuffled = truth.clone();
            let null: Vec<f64> = (0..400)
                .map(|_| {
                    shuffled.shuffle(&mut rng);
                    score(guesses, &shuffled)
                })
                .collect();
            let mean = null.iter().sum::<f64>() / null.len() as f64;
            let sd =
                (null.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / null.len() as f64).sqrt();
            let bound = mean + 5.0 * sd + 1e-9;
            report.push(format!("{name}: {actual:.3} (chance {mean:.3} ± {sd:.3})"));
            if actual > bound {
                failed.push(format!("{name}: {actual:.3} > {bound:.3}"));
            }
        }
        println!("linkage attacks: {}", report.join("; "));
        assert!(
            failed.is_empty(),
            "links better than chance: {failed:?}; all: {report:?}"
        );
    }
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    memchr::memmem::find_iter(haystack, needle).collect()
}

/// Every regular file under `dir`, with its content.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => {
                    if let Ok(data) = std::fs::read(&path) {
                        out.push((path, data));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn pg_dump(cluster: &PgCluster, database: &str) -> String {
    let output = pg_command("pg_dump")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
        .arg(cluster.port.to_string())
        .arg(database)
        .output()
        .expect("run pg_dump");
    assert!(
        output.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The dump's participation rows (user ids, in dump order) and ballot rows (choices, in dump
/// order) of the election.
fn dump_order(dump: &str, election: &Election) -> (Vec<String>, Vec<String>) {
    let rows = |table: &str| -> Vec<Vec<String>> {
        let header = format!("COPY public.{table} (");
        let Some(start) = dump.find(&header) else {
            return Vec::new();
        };
        let columns: Vec<String> = dump[start + header.len()..]
            .split(')')
            .next()
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect();
        let body = &dump[start..];
        let body = &body[body.find('\n').unwrap() + 1..];
        let body = &body[..body.find("\n\\.").unwrap_or(0)];
        body.lines()
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                columns
                    .iter()
                    .zip(fields)
                    .map(|(c, f)| format!("{c}={f}"))
                    .collect()
            })
            .collect()
    };
    let field = |row: &[String], name: &str| -> String {
        row.iter()
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .unwrap_or("")
            .to_owned()
    };
    let e = election.id.to_string();
    let participation = rows("participation")
        .iter()
        .filter(|r| field(r, "election_id") == e)
        .map(|r| field(r, "user_id"))
        .collect();
    let ballots = rows("ballot_box")
        .iter()
        .filter(|r| field(r, "election_id") == e)
        .map(|r| field(r, "candidate_id"))
        .collect();
    (participation, ballots)
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The service's log at its default level, captured for the whole test process.
fn capture_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(Arc::clone(&buffer));
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("the log is captured (run without TEST_LOG)");
        buffer
    });
}
