//! Elections: documents, the lifecycle, the frozen ballot, casting by the database's clock, the
//! results embargo, and the original API on the default election.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin::admin_token;
use crate::helpers::{
    Kind, TestApp, TestDatabase, assert_error, both_stores, json_of, send, spawn_app,
    spawn_app_with_demo_candidates,
};
use rstest::rstest;
use rstest_reuse::apply;

fn document(slug: &str) -> Value {
    json!({
        "slug": slug,
        "title": "Board election 2027",
        "description": "Annual general meeting",
        "timezone": "Europe/Berlin",
        "contests": [
            {"title": "Chair", "choices": [{"name": "Ada"}, {"name": "Grace", "party": "Compilers"}]},
            {"title": "Members", "method": "approval", "max_choices": 2,
             "choices": [{"name": "Alan"}, {"name": "Barbara"}, {"name": "Edsger"}]}
        ]
    })
}

async fn create(app: &TestApp, admin: &str, document: &Value) -> Value {
    json_of(
        send(
            app,
            Method::POST,
            "/api/elections",
            Some(admin),
            Some(document),
        )
        .await,
        StatusCode::CREATED,
    )
    .await
}

async fn act(app: &TestApp, admin: &str, election: &Value, action: &str) -> reqwest::Response {
    let path = format!(
        "/api/elections/{}/{action}",
        election["id"].as_str().unwrap()
    );
    send(app, Method::POST, &path, Some(admin), None).await
}

async fn act_ok(app: &TestApp, admin: &str, election: &Value, action: &str) -> Value {
    json_of(act(app, admin, election, action).await, StatusCode::OK).await
}

/// A ballot choosing the first choice of every plurality contest and the first two of every
/// approval contest.
fn ballot_for(election: &Value) -> Value {
    let mut selections = serde_json::Map::new();
    for contest in election["contests"].as_array().unwrap() {
        let ids: Vec<&Value> = contest["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["id"])
            .collect();
        let picked = match contest["method"].as_str().unwrap() {
            "approval" => json!([ids[0], ids[1]]),
            _ => json!([ids[0]]),
        };
        selections.insert(contest["id"].as_str().unwrap().to_owned(), picked);
    }
    json!({ "selections": selections })
}

async fn cast(app: &TestApp, token: &str, election: &Value, ballot: &Value) -> reqwest::Response {
    let path = format!(
        "/api/elections/{}/ballots",
        election["id"].as_str().unwrap()
    );
    send(app, Method::POST, &path, Some(token), Some(ballot)).await
}

async fn open_election(app: &TestApp, admin: &str, mut document: Value) -> Value {
    document["results"] = json!("after_publish");
    let election = create(app, admin, &document).await;
    act_ok(app, admin, &election, "schedule").await;
    act_ok(app, admin, &election, "open").await
}

#[apply(both_stores)]
async fn an_admin_creates_an_election_that_voters_see_only_once_scheduled(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let voter = app.new_voter().await;

    let election = create(&app, &admin, &document("board-2027")).await;

    assert_eq!(election["state"], "draft");
    assert_eq!(election["results"], "after_publish");
    assert_eq!(election["timezone"], "Europe/Berlin");
    assert_eq!(election["contests"][1]["max_choices"], 2);
    assert_eq!(election["contests"][0]["choices"][1]["party"], "Compilers");
    let listed = |v: Value| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|e| e["slug"] == "board-2027")
    };
    let as_voter = json_of(
        app.get_authed("/api/elections", &voter).await,
        StatusCode::OK,
    )
    .await;
    assert!(!listed(as_voter), "a draft is the admins' only");
    assert_error(
        app.get("/api/elections/board-2027").await,
        StatusCode::NOT_FOUND,
        "election_not_found",
    )
    .await;
    let as_admin = json_of(
        app.get_authed("/api/elections", &admin).await,
        StatusCode::OK,
    )
    .await;
    assert!(listed(as_admin));
    // A bad or ended token on these public routes is no admin, never a 401.
    let stale = json_of(
        app.get_authed("/api/elections", "not-a-token").await,
        StatusCode::OK,
    )
    .await;
    assert!(!listed(stale));

    act_ok(&app, &admin, &election, "schedule").await;

    let by_slug = json_of(app.get("/api/elections/board-2027").await, StatusCode::OK).await;
    assert_eq!(by_slug["id"], election["id"]);
    assert_eq!(by_slug["state"], "scheduled");
    let me = json_of(app.get_authed("/api/auth/me", &voter).await, StatusCode::OK).await;
    let entry = me["elections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["slug"] == "board-2027")
        .cloned()
        .expect("the scheduled election is listed for the voter");
    assert_eq!(entry["has_voted"], false);
    assert_eq!(entry["encrypted"], false, "a plain election");
}

#[apply(both_stores)]
async fn invalid_documents_are_refused_naming_the_field_and_nothing_is_stored(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let base = document("bad");
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut with = |pointer: &str, value: Value, expected: &'static str| {
        let mut doc = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = doc.pointer_mut(parent).unwrap();
        match key.parse::<usize>() {
            Ok(index) => parent[index] = value,
            Err(_) => parent[key] = value,
        }
        cases.push((doc, expected));
    };
    with(
        "/contests/1/max_choices",
        json!(4),
        "contests[1].max_choices: must be between 1 and 3",
    );
    with("/timezone", json!("Europe/Atlantis"), "timezone:");
    with("/contests", json!([]), "contests:");
    with("/contests/0/choices", json!([]), "contests[0].choices:");
    with(
        "/contests/0/choices/1/name",
        json!("ADA"),
        "contests[0].choices[1].name:",
    );
    with(
        "/closes_at",
        json!("2020-01-01T00:00:00Z"),
        "closes_at: must be after opens_at",
    );
    with("/slug", json!("Not A Slug"), "slug:");
    with("/unexpected", json!(1), "unknown field");
    with(
        "/contests/1/choices",
        json!(
            (0..1001)
                .map(|i| json!({"name": format!("c{i}")}))
                .collect::<Vec<_>>()
        ),
        "contests[1].choices: at most 1000",
    );
    for (doc, expected) in cases {
        let mut doc = doc;
        if doc["closes_at"].is_string() {
            doc["opens_at"] = json!("2030-01-01T00:00:00Z");
        }
        let response = send(
            &app,
            Method::POST,
            "/api/elections",
            Some(&admin),
            Some(&doc),
        )
        .await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{message:?} should name {expected:?}"
        );
        // The field at fault, structured: the path the message starts with (none for a body
        // that is not an election document).
        let field = expected.split_once(':').map(|(path, _)| path);
        assert_eq!(
            body["error"]["field"].as_str(),
            field,
            "the field of {message:?}"
        );
    }
    let all = json_of(
        app.get_authed("/api/elections", &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        all.as_array().unwrap().len(),
        1,
        "only the default election: {all}"
    );

    create(&app, &admin, &document("taken")).await;
    assert_error(
        send(
            &app,
            Method::POST,
            "/api/elections",
            Some(&admin),
            Some(&document("taken")),
        )
        .await,
        StatusCode::CONFLICT,
        "slug_taken",
    )
    .await;
    let voter = app.new_voter().await;
    assert_error(
        send(
            &app,
            Method::POST,
            "/api/elections",
            Some(&voter),
            Some(&document("x")),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[apply(both_stores)]
async fn every_invalid_transition_is_a_409(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let election = create(&app, &admin, &document("lifecycle")).await;
    let all = ["schedule", "open", "close", "publish", "archive"];
    // (state reached, the one action allowed next)
    let path = [
        ("draft", "schedule"),
        ("scheduled", "open"),
        ("open", "close"),
        ("closed", "publish"),
        ("published", "archive"),
    ];
    for (state, next) in path {
        for action in all.iter().filter(|a| **a != next) {
            // From closed, archive is also allowed; it is tested last.
            if state == "closed" && *action == "archive" {
                continue;
            }
            let refused = act(&app, &admin, &election, action).await;
            let body = assert_error(refused, StatusCode::CONFLICT, "invalid_transition").await;
            assert!(
                body["error"]["message"].as_str().unwrap().contains(state),
                "{action} from {state}: {body}"
            );
        }
        let changed = act_ok(&app, &admin, &election, next).await;
        assert_ne!(changed["state"], state);
    }
    let archived = json_of(
        app.get_authed(
            &format!("/api/elections/{}", election["id"].as_str().unwrap()),
            &admin,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(archived["state"], "archived");
    for action in all {
        assert_error(
            act(&app, &admin, &election, action).await,
            StatusCode::CONFLICT,
            "invalid_transition",
        )
        .await;
    }
    let voter = app.new_voter().await;
    assert_error(
        act(&app, &voter, &election, "open").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[apply(both_stores)]
async fn a_frozen_election_cannot_be_edited_or_deleted(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let election = create(&app, &admin, &document("frozen")).await;
    let path = format!("/api/elections/{}", election["id"].as_str().unwrap());

    let renamed = json_of(
        send(
            &app,
            Method::PATCH,
            &path,
            Some(&admin),
            Some(&json!({"title": "Renamed"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["title"], "Renamed");
    assert_eq!(
        renamed["contests"].as_array().unwrap().len(),
        2,
        "contests kept"
    );
    act_ok(&app, &admin, &election, "schedule").await;

    let edits = [
        json!({"title": "Again"}),
        json!({"contests": [{"title": "Only", "choices": [{"name": "X"}]}]}),
    ];
    for edit in edits {
        assert_error(
            send(&app, Method::PATCH, &path, Some(&admin), Some(&edit)).await,
            StatusCode::CONFLICT,
            "election_frozen",
        )
        .await;
    }
    assert_error(
        send(&app, Method::DELETE, &path, Some(&admin), None).await,
        StatusCode::CONFLICT,
        "election_frozen",
    )
    .await;
    let after = json_of(app.get(&path).await, StatusCode::OK).await;
    assert_eq!(after["title"], "Renamed");
    assert_eq!(after["contests"], renamed["contests"], "choices unchanged");

    let draft = create(&app, &admin, &document("deletable")).await;
    let draft_path = format!("/api/elections/{}", draft["id"].as_str().unwrap());
    assert_eq!(
        send(&app, Method::DELETE, &draft_path, Some(&admin), None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.get_authed(&draft_path, &admin).await,
        StatusCode::NOT_FOUND,
        "election_not_found",
    )
    .await;
}

/// The database's clock as RFC 3339, `offset_ms` from now.
async fn database_time(db: &TestDatabase, offset_ms: i64) -> String {
    let now: chrono::DateTime<chrono::Utc> = match db.kind {
        Kind::Postgres => db
            .sql()
            .await
            .query_one("SELECT now()", &[])
            .await
            .unwrap()
            .get(0),
        Kind::Sqlite => chrono::Utc::now(),
    };
    (now + chrono::TimeDelta::milliseconds(offset_ms)).to_rfc3339()
}

#[apply(both_stores)]
async fn ballots_count_only_between_opening_and_closing_by_the_database_clock(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    let admin = admin_token(&app).await;
    let (early, on_time, second, late) = (
        app.new_voter().await,
        app.new_voter().await,
        app.new_voter().await,
        app.new_voter().await,
    );
    let mut doc = document("window");
    doc["opens_at"] = json!(database_time(&db, 1_500).await);
    doc["closes_at"] = json!(database_time(&db, 4_000).await);
    doc["results"] = json!("after_close");
    let election = create(&app, &admin, &doc).await;
    let ballot = ballot_for(&election);
    assert_error(
        cast(&app, &early, &election, &ballot).await,
        StatusCode::CONFLICT,
        "election_not_open",
    )
    .await;
    let scheduled = act_ok(&app, &admin, &election, "schedule").await;
    assert_eq!(scheduled["state"], "scheduled");
    assert!(
        scheduled["opens_at_local"]
            .as_str()
            .unwrap()
            .ends_with("+01:00")
    );

    assert_error(
        cast(&app, &early, &election, &ballot).await,
        StatusCode::CONFLICT,
        "election_not_open",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let receipt = json_of(
        cast(&app, &on_time, &election, &ballot).await,
        StatusCode::CREATED,
    )
    .await;
    assert!(receipt["receipt"].is_string());
    assert_eq!(receipt["election_id"], election["id"]);
    assert_error(
        cast(&app, &on_time, &election, &ballot).await,
        StatusCode::CONFLICT,
        "already_voted",
    )
    .await;
    assert_eq!(
        cast(&app, &second, &election, &ballot).await.status(),
        StatusCode::CREATED
    );
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    assert_error(
        cast(&app, &late, &election, &ballot).await,
        StatusCode::CONFLICT,
        "election_not_open",
    )
    .await;

    let id = election["id"].as_str().unwrap();
    let now = json_of(
        app.get(&format!("/api/elections/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        now["state"], "closed",
        "closed by its schedule, with nobody acting"
    );
    let results = json_of(
        app.get(&format!("/api/elections/{id}/results")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(results["ballots"], 2);
    assert_eq!(results["contests"][0]["results"][0]["name"], "Ada");
    assert_eq!(results["contests"][0]["results"][0]["votes"], 2);
    assert_eq!(results["contests"][1]["results"][2]["votes"], 0);
    let me = json_of(
        app.get_authed("/api/auth/me", &on_time).await,
        StatusCode::OK,
    )
    .await;
    let voted = me["elections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["election_id"] == id)
        .unwrap()
        .clone();
    assert_eq!(voted["has_voted"], true);
}

#[apply(both_stores)]
async fn invalid_ballots_are_refused_with_the_fault_named(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let voter = app.new_voter().await;
    let election = open_election(&app, &admin, document("invalid-ballots")).await;
    let chair = election["contests"][0]["id"].as_str().unwrap();
    let members = election["contests"][1]["id"].as_str().unwrap();
    let c = |contest: usize, choice: usize| {
        election["contests"][contest]["choices"][choice]["id"].clone()
    };
    let cases = [
        (
            json!({"selections": {chair: [c(0, 0), c(0, 1)], members: []}}),
            "exactly 1",
        ),
        (
            json!({"selections": {chair: [c(0, 0)], members: [c(1, 0), c(1, 1), c(1, 2)]}}),
            "0 to 2",
        ),
        (
            json!({"selections": {chair: [c(0, 0)], members: [c(1, 0), c(1, 0)]}}),
            "twice",
        ),
        (
            json!({"selections": {chair: [c(1, 0)], members: []}}),
            "not a choice",
        ),
        (json!({"selections": {chair: [c(0, 0)]}}), "missing"),
        (
            json!({"selections": {chair: [c(0, 0)], members: [], uuid::Uuid::new_v4().to_string(): []}}),
            "not a contest",
        ),
        (
            json!({"selections": {chair: {"ranking": [c(0, 0)]}, members: []}}),
            "array",
        ),
    ];
    for (ballot, expected) in cases {
        let body = assert_error(
            cast(&app, &voter, &election, &ballot).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ballot",
        )
        .await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{message:?} should say {expected:?}"
        );
    }
    let missing = json!({"selections": {}});
    let unknown = format!("/api/elections/{}/ballots", uuid::Uuid::new_v4());
    assert_error(
        send(&app, Method::POST, &unknown, Some(&voter), Some(&missing)).await,
        StatusCode::NOT_FOUND,
        "election_not_found",
    )
    .await;
    assert_eq!(
        cast(&app, &voter, &election, &ballot_for(&election))
            .await
            .status(),
        StatusCode::CREATED,
        "nothing of the refused ballots was stored"
    );
}

#[apply(both_stores)]
async fn results_are_embargoed_for_everyone_until_published(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let voter = app.new_voter().await;
    let election = open_election(&app, &admin, document("embargo")).await;
    let results = format!(
        "/api/elections/{}/results",
        election["id"].as_str().unwrap()
    );
    assert_eq!(
        cast(&app, &voter, &election, &ballot_for(&election))
            .await
            .status(),
        StatusCode::CREATED
    );
    for stage in ["open", "close"] {
        if stage == "close" {
            act_ok(&app, &admin, &election, "close").await;
            tokio::time::sleep(Duration::from_millis(1_100)).await;
        }
        for token in [None, Some(&voter), Some(&admin)] {
            let response = match token {
                None => app.get(&results).await,
                Some(token) => app.get_authed(&results, token).await,
            };
            assert_error(response, StatusCode::FORBIDDEN, "results_embargoed").await;
        }
    }
    let turnout = format!(
        "/api/elections/{}/turnout",
        election["id"].as_str().unwrap()
    );
    let counted = json_of(app.get_authed(&turnout, &admin).await, StatusCode::OK).await;
    assert_eq!(counted["ballots_cast"], 1);
    assert_error(
        app.get_authed(&turnout, &voter).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    act_ok(&app, &admin, &election, "publish").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let shown = json_of(app.get(&results).await, StatusCode::OK).await;
    assert_eq!(shown["state"], "published");
    assert_eq!(shown["contests"][0]["results"][0]["votes"], 1);
}

#[apply(both_stores)]
async fn live_results_wait_for_enough_ballots(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let mut doc = document("live");
    doc["results"] = json!("live");
    doc["live_min_ballots"] = json!(3);
    let election = create(&app, &admin, &doc).await;
    act_ok(&app, &admin, &election, "schedule").await;
    let election = act_ok(&app, &admin, &election, "open").await;
    let results = format!(
        "/api/elections/{}/results",
        election["id"].as_str().unwrap()
    );
    for n in 1..=3 {
        let voter = app.new_voter().await;
        assert_eq!(
            cast(&app, &voter, &election, &ballot_for(&election))
                .await
                .status(),
            StatusCode::CREATED
        );
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let response = app.get(&results).await;
        if n < 3 {
            assert_error(response, StatusCode::FORBIDDEN, "results_embargoed").await;
        } else {
            let shown = json_of(response, StatusCode::OK).await;
            assert_eq!(shown["ballots"], 3);
        }
    }
}

#[apply(both_stores)]
async fn two_instances_racing_one_voter_store_one_ballot(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let (first, second) = (db.spawn().await, db.spawn().await);
    let admin = admin_token(&first).await;
    let voter = first.new_voter().await;
    let election = open_election(&first, &admin, document("race")).await;
    let ballot = ballot_for(&election);
    let attempts = (0..16).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        cast(app, &voter, &election, &ballot)
    });
    let statuses: Vec<StatusCode> = join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (1, 15), "{statuses:?}");
    let turnout = format!(
        "/api/elections/{}/turnout",
        election["id"].as_str().unwrap()
    );
    let counted = json_of(second.get_authed(&turnout, &admin).await, StatusCode::OK).await;
    assert_eq!(counted["ballots_cast"], 1);
}

#[apply(both_stores)]
async fn a_retried_ballot_replays_and_a_changed_one_is_refused(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let voter = app.new_voter().await;
    let election = open_election(&app, &admin, document("retry")).await;
    let path = format!(
        "/api/elections/{}/ballots",
        election["id"].as_str().unwrap()
    );
    let ballot = ballot_for(&election);
    let post = |body: Value| {
        app.client
            .post(app.url(&path))
            .bearer_auth(&voter)
            .header("Idempotency-Key", "ballot-key-1")
            .json(&body)
            .send()
    };
    let first = json_of(post(ballot.clone()).await.unwrap(), StatusCode::CREATED).await;
    let retry = post(ballot.clone()).await.unwrap();
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(
        retry.json::<Value>().await.unwrap()["receipt"],
        first["receipt"]
    );
    let mut changed = ballot.clone();
    let chair = election["contests"][0]["id"].as_str().unwrap();
    changed["selections"][chair] = json!([election["contests"][0]["choices"][1]["id"]]);
    assert_error(
        post(changed).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
}

#[apply(both_stores)]
async fn the_default_election_answers_the_original_endpoints(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let admin = admin_token(&app).await;
    let voter = app.new_voter().await;
    let default = json_of(app.get("/api/elections/default").await, StatusCode::OK).await;
    assert_eq!(default["is_default"], true);
    assert_eq!(default["state"], "open");
    assert_eq!(default["results"], "live");
    assert_eq!(
        default["contests"][0]["choices"].as_array().unwrap().len(),
        4
    );

    let mut doc = document("new-default");
    doc["contests"] = json!([{"title": "Chair", "choices": [{"name": "Ada"}, {"name": "Grace"}]}]);
    let election = open_election(&app, &admin, doc).await;
    act_ok(&app, &admin, &election, "default").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let options = json_of(app.get("/api/options").await, StatusCode::OK).await;
    let names: Vec<&str> = options
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada", "Grace"]);
    let grace = options[1]["id"].as_str().unwrap().to_owned();
    let vote = json_of(app.vote(&voter, &grace, None).await, StatusCode::CREATED).await;
    assert_eq!(vote["candidate_id"], grace.as_str());
    let mine = json_of(
        app.get_authed("/api/votes/me", &voter).await,
        StatusCode::OK,
    )
    .await;
    // The participation, never the ballot: its id is not the receipt.
    assert_eq!(mine["created_at"], vote["created_at"]);
    assert_ne!(mine["id"], vote["id"]);
    let me = json_of(app.get_authed("/api/auth/me", &voter).await, StatusCode::OK).await;
    assert_eq!(me["has_voted"], true);
    assert_error(
        send(
            &app,
            Method::POST,
            "/api/candidates",
            Some(&admin),
            Some(&json!({"name": "Late"})),
        )
        .await,
        StatusCode::CONFLICT,
        "election_frozen",
    )
    .await;
    let other = app.new_voter().await;
    let old_candidate = default["contests"][0]["choices"][0]["id"].as_str().unwrap();
    assert_error(
        app.vote(&other, old_candidate, None).await,
        StatusCode::NOT_FOUND,
        "candidate_not_found",
    )
    .await;
}

#[apply(both_stores)]
async fn closing_early_and_extending_change_the_window(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    let admin = admin_token(&app).await;
    let mut doc = document("extend");
    doc["closes_at"] = json!(database_time(&db, 60_000).await);
    let election = open_election(&app, &admin, doc).await;
    let path = format!("/api/elections/{}/extend", election["id"].as_str().unwrap());
    let earlier = json!({"closes_at": database_time(&db, 30_000).await});
    assert_error(
        send(&app, Method::POST, &path, Some(&admin), Some(&earlier)).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let later_time = database_time(&db, 120_000).await;
    let extended = json_of(
        send(
            &app,
            Method::POST,
            &path,
            Some(&admin),
            Some(&json!({"closes_at": later_time})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(extended["state"], "open");
    let closed = act_ok(&app, &admin, &election, "close").await;
    assert_eq!(closed["state"], "closed");
    let voter = app.new_voter().await;
    assert_error(
        cast(&app, &voter, &election, &ballot_for(&election)).await,
        StatusCode::CONFLICT,
        "election_not_open",
    )
    .await;
    assert_error(
        send(
            &app,
            Method::POST,
            &path,
            Some(&admin),
            Some(&json!({"closes_at": later_time})),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    )
    .await;
}

#[apply(both_stores)]
async fn every_change_is_audited_with_before_and_after(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let election = create(&app, &admin, &document("audited")).await;
    act_ok(&app, &admin, &election, "schedule").await;
    act_ok(&app, &admin, &election, "open").await;
    let log = json_of(
        app.get_authed("/api/admin/audit", &admin).await,
        StatusCode::OK,
    )
    .await;
    let entries = log["entries"]
        .as_array()
        .unwrap_or_else(|| log.as_array().unwrap());
    let actions: Vec<&str> = entries
        .iter()
        .filter(|e| e["target_id"] == election["id"])
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["election.open", "election.schedule", "election.create"]
    );
    let open = entries
        .iter()
        .find(|e| e["action"] == "election.open")
        .unwrap();
    assert_eq!(open["before"]["state"], "scheduled");
    assert_eq!(open["after"]["state"], "open");
    assert_eq!(open["target_type"], "election");
}

#[apply(both_stores)]
async fn stv_schulze_and_score_contests_count_with_their_working(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let names = ["Memphis", "Nashville", "Chattanooga", "Knoxville"];
    let choices: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
    let doc = json!({
        "slug": "methods", "title": "Methods",
        "contests": [
            {"title": "Capital (STV)", "method": "stv-scottish", "seats": 1, "choices": choices},
            {"title": "Capital (Schulze)", "method": "schulze", "choices": choices},
            {"title": "Capital (score)", "method": "score", "max_score": 5, "choices": choices}
        ]
    });
    let election = open_election(&app, &admin, doc).await;
    let id = |contest: usize, name: &str| {
        election["contests"][contest]["choices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["id"]
            .clone()
    };
    // The Tennessee capital example, scaled down: 42 % Memphis > Nashville > Chattanooga >
    // Knoxville, 26 % Nashville > Chattanooga > Knoxville > Memphis, 15 % Chattanooga >
    // Knoxville > Nashville > Memphis, 17 % Knoxville > Chattanooga > Nashville > Memphis.
    let blocs: [(usize, [&str; 4]); 4] = [
        (42, ["Memphis", "Nashville", "Chattanooga", "Knoxville"]),
        (26, ["Nashville", "Chattanooga", "Knoxville", "Memphis"]),
        (15, ["Chattanooga", "Knoxville", "Nashville", "Memphis"]),
        (17, ["Knoxville", "Chattanooga", "Nashville", "Memphis"]),
    ];
    let contests: Vec<String> = (0..3)
        .map(|i| election["contests"][i]["id"].as_str().unwrap().to_owned())
        .collect();
    for (percent, order) in blocs {
        for _ in 0..percent / 5 + 1 {
            let voter = app.new_voter().await;
            let ranking =
                |contest: usize| json!(order.iter().map(|n| id(contest, n)).collect::<Vec<_>>());
            let mut scores = serde_json::Map::new();
            for (place, name) in order.iter().enumerate() {
                scores.insert(
                    id(2, name).as_str().unwrap().to_owned(),
                    json!(5 - 2 * place.min(2)),
                );
            }
            let ballot = json!({"selections": {
                contests[0].clone(): {"ranking": ranking(0)},
                contests[1].clone(): {"ranking": ranking(1)},
                contests[2].clone(): {"scores": scores},
            }});
            assert_eq!(
                cast(&app, &voter, &election, &ballot).await.status(),
                StatusCode::CREATED
            );
        }
    }
    let voter = app.new_voter().await;
    let twice = json!({"selections": {
        contests[0].clone(): {"ranking": [id(0, "Memphis"), id(0, "Memphis")]},
        contests[1].clone(): {"ranking": [id(1, "Memphis")]},
        contests[2].clone(): {"scores": {}},
    }});
    assert_error(
        cast(&app, &voter, &election, &twice).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_ballot",
    )
    .await;
    act_ok(&app, &admin, &election, "close").await;
    act_ok(&app, &admin, &election, "publish").await;
    let election_id = election["id"].as_str().unwrap();
    let results = json_of(
        app.get(&format!("/api/elections/{election_id}/results"))
            .await,
        StatusCode::OK,
    )
    .await;
    let count = |i: usize| results["contests"][i]["count"].clone();
    // Blocs of 9, 6, 4 and 4 ballots, quota 12: Chattanooga and Knoxville tie for last at
    // stage 1 (a lot decides), the survivor takes the other's 4, then Nashville's 6 and is
    // elected with 14 against Memphis's 9.
    assert_eq!(count(0)["method"], "stv-scottish");
    let stv_winner = count(0)["elected"][0].as_str().unwrap().to_owned();
    assert!(
        ["Chattanooga", "Knoxville"].contains(&stv_winner.as_str()),
        "{}",
        count(0)
    );
    assert!(
        count(0)["rounds"].as_array().unwrap().len() >= 2,
        "{}",
        count(0)
    );
    assert_eq!(
        count(0)["seed"],
        election_id,
        "lots drawn from the published seed"
    );
    assert_eq!(count(1)["method"], "schulze");
    assert_eq!(
        count(1)["elected"],
        json!(["Nashville"]),
        "the Condorcet winner"
    );
    assert_eq!(count(2)["method"], "score");
    assert_eq!(count(2)["elected"].as_array().unwrap().len(), 1);

    // The exported BLT file counts to the same result.
    let blt_path = format!(
        "/api/elections/{election_id}/contests/{}/ballots.blt",
        contests[0]
    );
    let blt = app.get(&blt_path).await;
    assert_eq!(blt.status(), StatusCode::OK);
    let text = blt.text().await.unwrap();
    assert!(text.starts_with("4 1"), "{text}");
    let recount = securevote_count::tally(
        "stv-scottish",
        None,
        securevote_count::Format::Json,
        Some(election_id),
        "export.blt",
        &text,
    )
    .unwrap();
    let recount: Value = serde_json::from_str(&recount).unwrap();
    assert_eq!(recount["elected"], count(0)["elected"]);
}

/// Runs SQL on the test database before any instance has touched it.
async fn prepare(db: &TestDatabase, sql: &str) {
    match db.kind {
        Kind::Postgres => db.sql().await.batch_execute(sql).await.unwrap(),
        Kind::Sqlite => {
            let path = db.data_path().join("securevote.db");
            let sql = sql.to_owned();
            tokio::task::spawn_blocking(move || {
                rusqlite::Connection::open(path)
                    .unwrap()
                    .execute_batch(&sql)
                    .unwrap()
            })
            .await
            .unwrap()
        }
    }
}

/// A database at schema version 3 (the last before elections) with users, candidates and votes.
#[apply(both_stores)]
async fn an_earlier_schema_upgrades_with_every_vote_in_the_default_election(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let (migrations, now) = match kind {
        Kind::Postgres => (securevote::store::POSTGRES_MIGRATIONS, "now()"),
        Kind::Sqlite => (
            securevote::store::SQLITE_MIGRATIONS,
            "'2026-01-05T10:00:00.000000Z'",
        ),
    };
    let mut sql = String::from(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);\n",
    );
    for migration in migrations.iter().filter(|m| m.version <= 3) {
        sql.push_str(migration.sql);
        sql.push_str(&format!(
            "\nINSERT INTO schema_migrations VALUES ({}, '{}', '2026-01-01T00:00:00Z');\n",
            migration.version, migration.name
        ));
    }
    let ids: Vec<String> = (0..7).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for (i, name) in ["Ada", "Grace", "Alan"].iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO candidates (id, name, party, description) VALUES ('{}', '{name}', NULL, NULL);\n",
            ids[i]
        ));
    }
    for (i, candidate) in [0, 0, 1].iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES ('{}', 'old{i}@example.org', '!', {now});
             INSERT INTO votes (id, user_id, candidate_id, created_at) VALUES ('{}', '{}', '{}', {now});\n",
            ids[3 + i],
            uuid::Uuid::new_v4(),
            ids[3 + i],
            ids[*candidate]
        ));
    }
    prepare(&db, &sql).await;

    let app = db.spawn().await;

    assert_eq!(
        app.store.schema_version().await.unwrap(),
        migrations.len() as i64
    );
    let tally: Value = app.get_json("/api/results").await;
    assert_eq!(tally["total_votes"], 3);
    assert_eq!(tally["results"][0]["name"], "Ada");
    assert_eq!(tally["results"][0]["votes"], 2);
    let default = json_of(app.get("/api/elections/default").await, StatusCode::OK).await;
    assert_eq!(
        (default["state"].as_str(), default["results"].as_str()),
        (Some("open"), Some("live"))
    );
    let results = json_of(
        app.get("/api/elections/default/results").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        results["ballots"], 3,
        "every vote is a ballot of the default election"
    );
    let newcomer = app.new_voter().await;
    let grace = &ids[1];
    assert_eq!(
        app.vote(&newcomer, grace, None).await.status(),
        StatusCode::CREATED
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let results = json_of(
        app.get("/api/elections/default/results").await,
        StatusCode::OK,
    )
    .await;
    let counts: Vec<(String, u64)> = results["contests"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["votes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [("Ada".into(), 2), ("Grace".into(), 2), ("Alan".into(), 0)]
    );
}

/// `closes_at` a moment ahead by the database's clock: a ballot before it is stored, one a few
/// milliseconds after it is refused. The instance's own clock plays no part.
#[apply(both_stores)]
async fn a_ballot_just_before_closing_counts_and_one_just_after_does_not(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    let admin = admin_token(&app).await;
    let (before, after) = (app.new_voter().await, app.new_voter().await);
    let election = open_election(&app, &admin, document("epsilon")).await;
    let ballot = ballot_for(&election);
    // Warm the path (the election's ballot is read once per instance).
    let warm = app.new_voter().await;
    assert_eq!(
        cast(&app, &warm, &election, &ballot).await.status(),
        StatusCode::CREATED
    );
    let path = format!("/api/elections/{}/extend", election["id"].as_str().unwrap());
    let closes_at = database_time(&db, 700).await;
    json_of(
        send(
            &app,
            Method::POST,
            &path,
            Some(&admin),
            Some(&json!({"closes_at": closes_at})),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    assert_eq!(
        cast(&app, &before, &election, &ballot).await.status(),
        StatusCode::CREATED,
        "before closes_at"
    );
    let closes: chrono::DateTime<chrono::Utc> = closes_at.parse().unwrap();
    loop {
        let now: chrono::DateTime<chrono::Utc> = database_time(&db, 0).await.parse().unwrap();
        if now >= closes + chrono::TimeDelta::milliseconds(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_error(
        cast(&app, &after, &election, &ballot).await,
        StatusCode::CONFLICT,
        "election_not_open",
    )
    .await;
}
