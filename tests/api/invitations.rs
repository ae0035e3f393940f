//! Invitations by email through a real SMTP server (aiosmtpd): links taken out of the delivered
//! messages sign voters in without a password, once; resends and reminders; the outbox sends
//! each message once across two instances and through an SMTP outage.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin::admin_token;
use crate::helpers::{Kind, TestApp, TestDatabase, assert_error, both_stores, json_of, send};
use crate::smtp::{SmtpSink, free_port, link_token, recipient};
use rstest::rstest;
use rstest_reuse::apply;

const WAIT: Duration = Duration::from_secs(30);
/// SMTP_MAX_PER_SECOND of the instance killed while sending.
const KILLED_RATE: u32 = 10;

#[apply(both_stores)]
async fn an_instance_killed_while_sending_loses_no_invitation(kind: Kind) {
    use secrecy::ExposeSecret;
    let sink = SmtpSink::start();
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    let admin = admin_token(&app).await;
    let election = open_roll_election(&app, &admin, "killed", 40).await;
    let id = election["id"].as_str().unwrap();
    send(
        &app,
        Method::POST,
        &format!("/api/elections/{id}/invitations"),
        Some(&admin),
        None,
    )
    .await;

    // A separate process sends at 10 messages a second and is killed -9 mid-way.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_securevote"));
    // Nothing from this environment or a .env file: only the settings below.
    command.env_clear().current_dir(db.data_path());
    if let Some(url) = &db.settings.database_url {
        command
            .env("DATABASE_URL", url.expose_secret())
            .env("JWT_SECRET", crate::helpers::JWT_SECRET);
    }
    let mut sender = command
        .arg("serve")
        .env("DATA_DIR", db.data_path())
        .env("BIND_ADDR", "127.0.0.1")
        .env("PORT", free_port().to_string())
        .env("SMTP_URL", sink.url())
        .env("MAIL_FROM", "Officer <officer@example.org>")
        .env("PUBLIC_URL", "https://vote.example.org")
        .env("SMTP_MAX_PER_SECOND", KILLED_RATE.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start securevote");
    sink.wait_for(8, WAIT).await;
    sender.kill().expect("kill -9");
    let _ = sender.wait();
    let at_kill = sink.messages().len();
    assert!(
        at_kill < 40,
        "the instance was killed before it had sent everything ({at_kill})"
    );

    // Another instance takes over; the messages handed over but not marked sent at the kill
    // wait out their claims.
    let mut settings = db.settings.clone();
    settings.mail.smtp_url = Some(sink.url());
    settings.mail.mail_from = Some("Officer <officer@example.org>".into());
    settings.mail.public_url = Some("https://vote.example.org".into());
    settings.mail.smtp_max_per_second = 0;
    let _takeover = crate::helpers::spawn_with(settings).await;
    let bound = securevote::mail::sender::batch_size(KILLED_RATE);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let by_recipient = tokens_by_recipient(&sink.messages());
        if by_recipient.len() == 40 {
            let duplicates: usize = by_recipient.values().map(|t| t.len() - 1).sum();
            println!(
                "killed while sending: {at_kill} sent before the kill, 40 of 40 delivered, {duplicates} duplicate(s)"
            );
            assert!(
                duplicates <= bound,
                "at most the batch handed over but not marked sent is sent twice ({bound}): {duplicates}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of 40 voters got their invitation",
            by_recipient.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let duplicates: usize = tokens_by_recipient(&sink.messages())
        .values()
        .map(|t| t.len() - 1)
        .sum();
    assert!(duplicates <= bound, "{duplicates} duplicates");
}

async fn database_with_mail(kind: Kind, smtp_url: &str) -> TestDatabase {
    let mut db = TestDatabase::new(kind).await;
    db.settings.mail.smtp_url = Some(smtp_url.to_owned());
    db.settings.mail.mail_from = Some("Returning Officer <officer@example.org>".into());
    db.settings.mail.public_url = Some("https://vote.example.org".into());
    db.settings.mail.smtp_max_per_second = 0;
    db
}

/// An open roll election with `voters` (emails voter0@example.org ...) on its roll.
async fn open_roll_election(app: &TestApp, admin: &str, slug: &str, voters: usize) -> Value {
    let doc = json!({
        "slug": slug, "title": "Union ballot", "eligibility": "roll", "results": "after_close",
        "timezone": "Europe/Paris", "closes_at": "2099-01-01T12:00:00Z",
        "contests": [{"title": "Strike?", "choices": [{"name": "Yes"}, {"name": "No"}]}]
    });
    let election = json_of(
        send(app, Method::POST, "/api/elections", Some(admin), Some(&doc)).await,
        StatusCode::CREATED,
    )
    .await;
    let id = election["id"].as_str().unwrap().to_owned();
    let mut csv = String::from("email,name\n");
    for i in 0..voters {
        csv.push_str(&format!("voter{i}@example.org,Voter {i}\n"));
    }
    let imported = app
        .client
        .post(app.url(&format!("/api/elections/{id}/roll")))
        .bearer_auth(admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), StatusCode::OK);
    for action in ["schedule", "open"] {
        json_of(
            send(
                app,
                Method::POST,
                &format!("/api/elections/{id}/{action}"),
                Some(admin),
                None,
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
    election
}

async fn sign_in(app: &TestApp, token: &str) -> reqwest::Response {
    send(
        app,
        Method::POST,
        "/api/auth/magic",
        None,
        Some(&json!({"token": token})),
    )
    .await
}

fn ballot(election: &Value, choice: usize) -> Value {
    let contest = election["contests"][0]["id"].as_str().unwrap();
    json!({"selections": {contest: [election["contests"][0]["choices"][choice]["id"]]}})
}

fn tokens_by_recipient(messages: &[String]) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for message in messages {
        out.entry(recipient(message))
            .or_default()
            .push(link_token(message).unwrap_or_else(|| panic!("no link in {message}")));
    }
    out
}

#[apply(both_stores)]
async fn invited_voters_vote_by_link_without_an_account_once(kind: Kind) {
    let sink = SmtpSink::start();
    let db = database_with_mail(kind, &sink.url()).await;
    let app = db.spawn().await;
    let admin = admin_token(&app).await;
    let election = open_roll_election(&app, &admin, "by-link", 3).await;
    let id = election["id"].as_str().unwrap();

    let queued = json_of(
        send(
            &app,
            Method::POST,
            &format!("/api/elections/{id}/invitations"),
            Some(&admin),
            None,
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(queued["queued"], 3);
    let again = json_of(
        send(
            &app,
            Method::POST,
            &format!("/api/elections/{id}/invitations"),
            Some(&admin),
            None,
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(again["queued"], 0, "nobody is invited twice");
    let messages = sink.wait_for(3, WAIT).await;
    let message = messages
        .iter()
        .find(|m| recipient(m) == "voter0@example.org")
        .unwrap();
    assert!(
        message.contains("Subject: Your ballot: Union ballot"),
        "{message}"
    );
    assert!(
        message.contains("Returning Officer") && message.contains("<officer@example.org>"),
        "{message}"
    );
    assert!(
        message.contains("text/plain") && message.contains("text/html"),
        "both parts: {message}"
    );
    assert!(
        message.contains("CET"),
        "times in the election's zone: {message}"
    );
    let token = link_token(message).unwrap();

    let signed_in = json_of(sign_in(&app, &token).await, StatusCode::OK).await;
    assert_eq!(signed_in["election_id"], id);
    let voter = signed_in["token"].as_str().unwrap().to_owned();
    assert_error(
        app.get_authed("/api/admin/stats", &voter).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let path = format!("/api/elections/{id}/ballots");
    assert_eq!(
        send(
            &app,
            Method::POST,
            &path,
            Some(&voter),
            Some(&ballot(&election, 0))
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    assert_error(
        sign_in(&app, &token).await,
        StatusCode::CONFLICT,
        "already_voted",
    )
    .await;
    assert_error(
        sign_in(&app, &"0".repeat(64)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // The link is for this election only.
    let other = json!({
        "slug": "other", "title": "Other", "contests": [{"title": "Q", "choices": [{"name": "A"}]}]
    });
    let other = json_of(
        send(
            &app,
            Method::POST,
            "/api/elections",
            Some(&admin),
            Some(&other),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let other_id = other["id"].as_str().unwrap();
    for action in ["schedule", "open"] {
        send(
            &app,
            Method::POST,
            &format!("/api/elections/{other_id}/{action}"),
            Some(&admin),
            None,
        )
        .await;
    }
    let contest = other["contests"][0]["id"].as_str().unwrap();
    let other_ballot = json!({"selections": {contest: [other["contests"][0]["choices"][0]["id"]]}});
    assert_error(
        send(
            &app,
            Method::POST,
            &format!("/api/elections/{other_id}/ballots"),
            Some(&voter),
            Some(&other_ballot),
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_eligible",
    )
    .await;
    let roll = json_of(
        app.get_authed(&format!("/api/elections/{id}/roll"), &admin)
            .await,
        StatusCode::OK,
    )
    .await;
    let voted: Vec<bool> = roll["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["voted"].as_bool().unwrap())
        .collect();
    assert_eq!(voted, [true, false, false]);
    let invited: Vec<&str> = roll["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["invitation"].as_str().unwrap())
        .collect();
    assert_eq!(
        invited,
        ["sent", "sent", "sent"],
        "the roll shows each voter's invitation"
    );
    let deliveries = json_of(
        app.get_authed(&format!("/api/elections/{id}/invitations"), &admin)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        deliveries
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "sent"),
        "{deliveries}"
    );
}

#[apply(both_stores)]
async fn a_resend_replaces_the_link_and_reminders_reach_only_non_voters(kind: Kind) {
    let sink = SmtpSink::start();
    let app = database_with_mail(kind, &sink.url()).await.spawn().await;
    let admin = admin_token(&app).await;
    let election = open_roll_election(&app, &admin, "resend", 3).await;
    let id = election["id"].as_str().unwrap();
    send(
        &app,
        Method::POST,
        &format!("/api/elections/{id}/invitations"),
        Some(&admin),
        None,
    )
    .await;
    let first = tokens_by_recipient(&sink.wait_for(3, WAIT).await);

    let resend = json!({"email": "Voter1@Example.org"});
    let queued = json_of(
        send(
            &app,
            Method::POST,
            &format!("/api/elections/{id}/invitations/resend"),
            Some(&admin),
            Some(&resend),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(queued["queued"], 1);
    assert_error(
        sign_in(&app, &first["voter1@example.org"][0]).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let second = tokens_by_recipient(&sink.wait_for(4, WAIT).await);
    let new_link = second["voter1@example.org"]
        .iter()
        .find(|t| **t != first["voter1@example.org"][0])
        .unwrap()
        .clone();
    let voter1 = json_of(sign_in(&app, &new_link).await, StatusCode::OK).await;
    let path = format!("/api/elections/{id}/ballots");
    assert_eq!(
        send(
            &app,
            Method::POST,
            &path,
            Some(voter1["token"].as_str().unwrap()),
            Some(&ballot(&election, 1))
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let outsider = json!({"email": "nobody@example.org"});
    assert_error(
        send(
            &app,
            Method::POST,
            &format!("/api/elections/{id}/invitations/resend"),
            Some(&admin),
            Some(&outsider),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // A voter asks for a fresh link: the same answer whether or not the address is on the roll.
    let asked = json_of(
        send(
            &app,
            Method::POST,
            "/api/auth/magic-link",
            None,
            Some(&json!({"election": "resend", "email": "voter2@example.org"})),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    let unknown = json_of(
        send(
            &app,
            Method::POST,
            "/api/auth/magic-link",
            None,
            Some(&json!({"election": "resend", "email": "stranger@example.org"})),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(asked, unknown);
    sink.wait_for(5, WAIT).await;

    let reminded = json_of(
        send(
            &app,
            Method::POST,
            &format!("/api/elections/{id}/reminders"),
            Some(&admin),
            None,
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(reminded["queued"], 2, "voter0 and voter2 have not voted");
    let all = sink.wait_for(7, WAIT).await;
    let reminders: Vec<String> = all
        .iter()
        .filter(|m| m.contains("Subject: Reminder"))
        .map(|m| recipient(m))
        .collect();
    let mut reminders = reminders;
    reminders.sort();
    assert_eq!(reminders, ["voter0@example.org", "voter2@example.org"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 7, "nothing more was sent");
}

#[apply(both_stores)]
async fn two_instances_send_each_invitation_once(kind: Kind) {
    let sink = SmtpSink::start();
    let db = database_with_mail(kind, &sink.url()).await;
    let (first, second) = (db.spawn().await, db.spawn().await);
    let admin = admin_token(&first).await;
    let election = open_roll_election(&first, &admin, "two-senders", 40).await;
    let id = election["id"].as_str().unwrap();
    send(
        &second,
        Method::POST,
        &format!("/api/elections/{id}/invitations"),
        Some(&admin),
        None,
    )
    .await;
    let messages = sink.wait_for(40, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let by_recipient = tokens_by_recipient(&sink.messages());
    assert_eq!(by_recipient.len(), 40);
    assert!(
        by_recipient.values().all(|t| t.len() == 1),
        "a message was sent twice"
    );
    assert_eq!(messages.len(), 40);
}

#[apply(both_stores)]
async fn invitations_wait_out_an_smtp_outage_and_arrive_once(kind: Kind) {
    let port = free_port();
    let db = database_with_mail(kind, &format!("smtp://127.0.0.1:{port}")).await;
    let app = db.spawn().await;
    let admin = admin_token(&app).await;
    let election = open_roll_election(&app, &admin, "outage", 5).await;
    let id = election["id"].as_str().unwrap();
    send(
        &app,
        Method::POST,
        &format!("/api/elections/{id}/invitations"),
        Some(&admin),
        None,
    )
    .await;
    // Nothing listens: every attempt fails as a temporary failure and is retried.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deliveries = json_of(
        app.get_authed(&format!("/api/elections/{id}/invitations"), &admin)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        deliveries
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] != "sent" && d["state"] != "failed"),
        "{deliveries}"
    );
    assert!(
        deliveries
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["last_error"].is_string()),
        "{deliveries}"
    );
    let sink = SmtpSink::start_on(port);
    let messages = sink.wait_for(5, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let by_recipient = tokens_by_recipient(&sink.messages());
    assert_eq!((by_recipient.len(), messages.len()), (5, 5));
    assert!(by_recipient.values().all(|t| t.len() == 1));
}
