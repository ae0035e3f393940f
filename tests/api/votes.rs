use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Kind, assert_error, both_stores, spawn_app_with_demo_candidates};
use rstest::rstest;
use rstest_reuse::apply;

#[apply(both_stores)]
async fn a_voter_votes_once_and_sees_their_vote(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let token = app.new_voter().await;
    let candidate = app.first_candidate_id().await;
    assert_error(
        app.get_authed("/api/votes/me", &token).await,
        StatusCode::NOT_FOUND,
        "not_voted",
    )
    .await;

    let response = app.vote(&token, &candidate, None).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().get("idempotent-replayed").is_none());
    let vote: Value = response.json().await.unwrap();
    assert_eq!(vote["candidate_id"], candidate.as_str());
    assert!(vote["created_at"].as_str().unwrap().ends_with('Z'));
    let mine: Value = app.get_authed_json("/api/votes/me", &token).await;
    // Ballots name no voter: the service says when the voter voted, not how (nor the ballot's id).
    assert_eq!(mine["created_at"], vote["created_at"]);
    assert_eq!(mine["candidate_id"], Value::Null);
    assert_ne!(mine["id"], vote["id"]);
    let me: Value = app.get_authed_json("/api/auth/me", &token).await;
    assert_eq!(me["has_voted"], true);
}

#[apply(both_stores)]
async fn a_second_vote_is_refused(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let token = app.new_voter().await;
    let candidates = app.candidates().await;
    let first = candidates[0]["id"].as_str().unwrap();
    let second = candidates[1]["id"].as_str().unwrap();
    assert_eq!(
        app.vote(&token, first, None).await.status(),
        StatusCode::CREATED
    );

    assert_error(
        app.vote(&token, second, None).await,
        StatusCode::CONFLICT,
        "already_voted",
    )
    .await;
    assert_error(
        app.vote(&token, first, Some("fresh-key")).await,
        StatusCode::CONFLICT,
        "already_voted",
    )
    .await;
    let mine: Value = app.get_authed_json("/api/votes/me", &token).await;
    // The participation is the first vote's; ballots name no voter, so the choice kept is
    // checked in the results: the refused second vote counted nothing.
    assert_eq!(mine["candidate_id"], Value::Null);
    let results: Value = app.get_json("/api/results").await;
    assert_eq!(results["total_votes"], 1, "{results}");
    let votes_for = |id: &str| {
        results["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["candidate_id"] == id)
            .map(|r| r["votes"].clone())
    };
    assert_eq!(votes_for(first), Some(json!(1)), "{results}");
    assert_eq!(votes_for(second), Some(json!(0)), "{results}");
}

#[apply(both_stores)]
async fn voting_requires_a_token_and_an_existing_candidate(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let candidate = app.first_candidate_id().await;
    let token = app.new_voter().await;

    let anonymous = app
        .client
        .post(app.url("/api/votes"))
        .json(&json!({"candidate_id": candidate}))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(
        app.get("/api/votes/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(
        app.vote(&token, &unknown, None).await,
        StatusCode::NOT_FOUND,
        "candidate_not_found",
    )
    .await;
    let cases = [
        (json!({}), "missing candidate_id"),
        (json!({"candidate_id": "not-a-uuid"}), "not a UUID"),
        (json!({"candidate_id": 7}), "wrong type"),
    ];
    for (body, why) in cases {
        let response = app
            .client
            .post(app.url("/api/votes"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let long_key = "k".repeat(256);
    assert_error(
        app.vote(&token, &candidate, Some(&long_key)).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        app.get_authed("/api/votes/me", &token).await,
        StatusCode::NOT_FOUND,
        "not_voted",
    )
    .await;
}

#[apply(both_stores)]
async fn a_retried_vote_with_the_same_key_replays_the_first_answer(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let token = app.new_voter().await;
    let candidate = app.first_candidate_id().await;
    let key = uuid::Uuid::new_v4().to_string();
    let first: Value = app
        .vote(&token, &candidate, Some(&key))
        .await
        .json()
        .await
        .unwrap();

    let retry = app.vote(&token, &candidate, Some(&key)).await;

    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers().get("idempotent-replayed").unwrap(), "true");
    let replayed: Value = retry.json().await.unwrap();
    assert_eq!(replayed, first);
    let tally: Value = app.get_json("/api/results").await;
    assert_eq!(tally["total_votes"], 1);
}

#[apply(both_stores)]
async fn an_idempotency_key_cannot_be_reused_for_another_candidate(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let token = app.new_voter().await;
    let candidates = app.candidates().await;
    let key = "retry-key-1";
    app.vote(&token, candidates[0]["id"].as_str().unwrap(), Some(key))
        .await;

    let reused = app
        .vote(&token, candidates[1]["id"].as_str().unwrap(), Some(key))
        .await;

    assert_error(
        reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
}

#[apply(both_stores)]
async fn many_simultaneous_votes_by_one_user_store_exactly_one(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let token = app.new_voter().await;
    let candidates = app.candidates().await;

    let attempts = (0..50).map(|i| {
        let candidate = candidates[i % candidates.len()]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (app, token) = (&app, &token);
        async move { app.vote(token, &candidate, None).await.status() }
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
    assert_eq!((created, conflicts), (1, 49), "{statuses:?}");
    let tally: Value = app.get_json("/api/results").await;
    assert_eq!(tally["total_votes"], 1);
}

#[apply(both_stores)]
async fn results_count_votes_ordered_by_votes_then_name(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let by_name: Vec<(String, String)> = app
        .candidates()
        .await
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let id_of = |name: &str| by_name.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let empty: Value = app.get_json("/api/results").await;
    assert_eq!(empty["total_votes"], 0);
    assert_eq!(empty["results"].as_array().unwrap().len(), 4);

    for name in ["John Doe", "Jane Smith", "John Doe"] {
        let token = app.new_voter().await;
        assert_eq!(
            app.vote(&token, &id_of(name), None).await.status(),
            StatusCode::CREATED
        );
    }
    let tally: Value = app.get_json("/api/results").await;

    assert_eq!(tally["total_votes"], 3);
    let rows: Vec<(&str, i64)> = tally["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["votes"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            ("John Doe", 2),
            ("Jane Smith", 1),
            ("Alex Johnson", 0),
            ("Chris Lee", 0)
        ]
    );
    let first = &tally["results"][0];
    assert_eq!(first["candidate_id"], id_of("John Doe").as_str());
    assert_eq!(first["party"], "Progressive Alliance");
}

#[apply(both_stores)]
async fn two_voters_may_send_the_same_idempotency_key(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let candidate = app.first_candidate_id().await;
    let (first, second) = (app.new_voter().await, app.new_voter().await);
    let a: Value = app
        .vote(&first, &candidate, Some("1"))
        .await
        .json()
        .await
        .unwrap();
    let response = app.vote(&second, &candidate, Some("1")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().get("idempotent-replayed").is_none());
    let b: Value = response.json().await.unwrap();
    assert_ne!(a["id"], b["id"], "each voter's ballot has its own id");
    let replay = app.vote(&second, &candidate, Some("1")).await;
    assert_eq!(replay.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), b);
}
