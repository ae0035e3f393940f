//! Voter rolls: import with a dry run, frozen with its fingerprint, eligibility and weight in
//! the ballot's own statement, participation and turnout per group.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::admin::{admin_token, token_of};
use crate::helpers::{
    Kind, TestApp, TestDatabase, assert_error, both_stores, json_of, send, spawn_app,
};
use rstest::rstest;
use rstest_reuse::apply;

const PASSWORD: &str = "correct horse battery";

async fn roll_election(app: &TestApp, admin: &str, slug: &str) -> Value {
    let doc = json!({
        "slug": slug, "title": "Senate", "eligibility": "roll", "results": "after_close",
        "contests": [{"title": "Seat", "choices": [{"name": "Ada"}, {"name": "Grace"}]}]
    });
    json_of(
        send(app, Method::POST, "/api/elections", Some(admin), Some(&doc)).await,
        StatusCode::CREATED,
    )
    .await
}

async fn upload(
    app: &TestApp,
    admin: &str,
    election: &Value,
    csv: &str,
    dry_run: bool,
) -> reqwest::Response {
    let path = format!(
        "/api/elections/{}/roll{}",
        election["id"].as_str().unwrap(),
        if dry_run { "?dry_run=true" } else { "" }
    );
    app.client
        .post(app.url(&path))
        .bearer_auth(admin)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap()
}

fn roll_of(n: usize, extra: &str) -> String {
    let mut csv = String::from("email,name,external_id,weight,groups\n");
    for i in 0..n {
        let group = if i < 6 { "Law" } else { "Music" };
        csv.push_str(&format!("voter{i}@example.org,Voter {i},M{i},1,{group}\n"));
    }
    csv.push_str(extra);
    csv
}

#[apply(both_stores)]
async fn a_roll_import_reports_bad_lines_and_stores_all_or_nothing(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let election = roll_election(&app, &admin, "import").await;
    let bad = roll_of(
        3,
        "not-an-email,X,,,\nvoter0@example.org,Again,,,\nz@example.org,Z,M1,,\nw@example.org,W,,0,\n",
    );

    let report = json_of(
        upload(&app, &admin, &election, &bad, true).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["added"], 3);
    let rejected: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let lines: Vec<u64> = rejected.iter().map(|r| r.0).collect();
    assert_eq!(lines, [5, 6, 7, 8], "{rejected:?}");
    assert!(rejected[0].1.starts_with("bad email"));
    assert!(rejected[1].1.contains("duplicate email"));
    assert!(rejected[2].1.contains("duplicate external_id M1"));
    assert!(rejected[3].1.starts_with("bad weight"));

    let refused = assert_error(
        upload(&app, &admin, &election, &bad, false).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_roll",
    )
    .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 5: bad email")
    );
    let roll_path = format!("/api/elections/{}/roll", election["id"].as_str().unwrap());
    let page = json_of(app.get_authed(&roll_path, &admin).await, StatusCode::OK).await;
    assert_eq!(
        page["entries"].as_array().unwrap().len(),
        0,
        "nothing imported"
    );

    let good = roll_of(3, "");
    let first = json_of(
        upload(&app, &admin, &election, &good, false).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (first["added"].as_u64(), first["dry_run"].as_bool()),
        (Some(3), Some(false))
    );
    let again = json_of(
        upload(&app, &admin, &election, &good, false).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (again["added"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(again["fingerprint"], first["fingerprint"]);
    let changed = roll_of(
        2,
        "voter2@example.org,Voter 2,M2,2.5,Law\nnew@example.org,,,,\n",
    );
    let report = json_of(
        upload(&app, &admin, &election, &changed, true).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            report["added"].as_u64(),
            report["updated"].as_u64(),
            report["unchanged"].as_u64(),
            report["removed"].as_u64()
        ),
        (Some(1), Some(1), Some(2), Some(0))
    );
    let semicolons = "\u{feff}email;weight;groups\nvoter0@example.org;1;\"Law;Staff\"\n";
    let replaced = json_of(
        upload(&app, &admin, &election, semicolons, false).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (replaced["updated"].as_u64(), replaced["removed"].as_u64()),
        (Some(1), Some(2))
    );
    let page = json_of(app.get_authed(&roll_path, &admin).await, StatusCode::OK).await;
    assert_eq!(page["entries"][0]["groups"], json!(["Law", "Staff"]));
    assert_eq!(page["entries"][0]["voted"], false);
    let voter = app.new_voter().await;
    assert_error(
        app.get_authed(&roll_path, &voter).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        upload(&app, &voter, &election, &good, false).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[apply(both_stores)]
async fn the_roll_freezes_with_its_fingerprint_when_scheduled(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let election = roll_election(&app, &admin, "frozen-roll").await;
    let schedule = format!(
        "/api/elections/{}/schedule",
        election["id"].as_str().unwrap()
    );
    assert_error(
        send(&app, Method::POST, &schedule, Some(&admin), None).await,
        StatusCode::CONFLICT,
        "invalid_transition",
    )
    .await;
    json_of(
        upload(
            &app,
            &admin,
            &election,
            "email,weight\nb@x.org,2\na@x.org,1\n",
            false,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let scheduled = json_of(
        send(&app, Method::POST, &schedule, Some(&admin), None).await,
        StatusCode::OK,
    )
    .await;
    let expected: String = Sha256::digest(b"a@x.org\t\t\t1\t\nb@x.org\t\t\t2\t\n")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        scheduled["roll_fingerprint"],
        expected.as_str(),
        "the documented canonical form"
    );
    assert_error(
        upload(&app, &admin, &election, "email\nc@x.org\n", false).await,
        StatusCode::CONFLICT,
        "election_frozen",
    )
    .await;
    let log = json_of(
        app.get_authed("/api/admin/audit", &admin).await,
        StatusCode::OK,
    )
    .await;
    let scheduled_entry = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "election.schedule")
        .unwrap()
        .clone();
    assert_eq!(
        scheduled_entry["after"]["roll_fingerprint"],
        expected.as_str()
    );
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "roll.import")
    );
}

#[apply(both_stores)]
async fn only_voters_on_the_roll_vote_and_their_weight_counts(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let election = roll_election(&app, &admin, "weights").await;
    let mut csv = String::from("email,weight,groups\nheavy@example.org,2.5,Law\n");
    for i in 0..6 {
        csv.push_str(&format!(
            "v{i}@example.org,1,{}\n",
            if i < 5 { "Law" } else { "Music" }
        ));
    }
    json_of(
        upload(&app, &admin, &election, &csv, false).await,
        StatusCode::OK,
    )
    .await;
    let id = election["id"].as_str().unwrap();
    for action in ["schedule", "open"] {
        json_of(
            send(
                &app,
                Method::POST,
                &format!("/api/elections/{id}/{action}"),
                Some(&admin),
                None,
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
    let contest = election["contests"][0]["id"].as_str().unwrap();
    let (ada, grace) = (
        &election["contests"][0]["choices"][0]["id"],
        &election["contests"][0]["choices"][1]["id"],
    );
    let vote = |choice: &Value| json!({"selections": {contest: [choice]}});
    let ballots = format!("/api/elections/{id}/ballots");
    let account = |email: &'static str| {
        let app = &app;
        async move {
            assert_eq!(
                app.register(email, PASSWORD).await.status(),
                StatusCode::CREATED
            );
            token_of(app, email).await
        }
    };
    // Emails match whatever their case.
    let heavy = account("Heavy@Example.org").await;
    let light = account("v0@example.org").await;
    let other = account("v5@example.org").await;
    let outsider = account("outsider@example.org").await;
    assert_error(
        send(
            &app,
            Method::POST,
            &ballots,
            Some(&outsider),
            Some(&vote(ada)),
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_eligible",
    )
    .await;
    assert_eq!(
        send(
            &app,
            Method::POST,
            &ballots,
            Some(&heavy),
            Some(&vote(grace))
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        send(&app, Method::POST, &ballots, Some(&light), Some(&vote(ada)))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        send(&app, Method::POST, &ballots, Some(&other), Some(&vote(ada)))
            .await
            .status(),
        StatusCode::CREATED
    );

    let turnout = json_of(
        app.get_authed(&format!("/api/elections/{id}/turnout"), &admin)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            turnout["eligible"].as_u64(),
            turnout["voted"].as_u64(),
            turnout["ballots_cast"].as_u64()
        ),
        (Some(7), Some(3), Some(3))
    );
    let groups = turnout["groups"].as_array().unwrap();
    assert_eq!(
        groups.len(),
        1,
        "Music has one voter and is never shown alone: {turnout}"
    );
    assert_eq!(
        (
            groups[0]["group"].as_str(),
            groups[0]["eligible"].as_u64(),
            groups[0]["voted"].as_u64()
        ),
        (Some("Law"), Some(6), Some(2))
    );
    let csv = app
        .get_authed(&format!("/api/elections/{id}/turnout.csv"), &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.starts_with("group,eligible,voted,percentage\nLaw,6,2,33.3\n"),
        "{csv}"
    );
    let page = json_of(
        app.get_authed(&format!("/api/elections/{id}/roll?search=heavy"), &admin)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    assert_eq!(page["entries"][0]["voted"], true);
    assert_eq!(page["entries"][0]["weight"], "2.5");

    json_of(
        send(
            &app,
            Method::POST,
            &format!("/api/elections/{id}/close"),
            Some(&admin),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let results = json_of(
        app.get(&format!("/api/elections/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    let count = &results["contests"][0]["count"];
    assert_eq!(
        count["elected"],
        json!(["Grace"]),
        "2.5 outweighs 2: {count}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_registration_closed_nobody_registers_and_invited_voters_still_vote() {
    let mut db = TestDatabase::new(Kind::Sqlite).await;
    db.settings.registration = securevote::config::Registration::Closed;
    let app = db.spawn().await;
    let refused = app.register("someone@example.org", PASSWORD).await;
    assert_error(refused, StatusCode::FORBIDDEN, "registration_closed").await;
    // Roll voters need no account of their own: the magic-link tests sign them in by link.
    let admin = app.store.account_for("officer@example.org").await.unwrap();
    assert!(!admin.is_nil());
}
