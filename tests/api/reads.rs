//! What the performance work (issue 6) must keep true: cached reads are never more than a second
//! old, a voter sees their own vote at once, concurrent votes are all stored (SQLite batches
//! them into shared transactions), and the benchmark's ceiling route exists only when asked for.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use securevote::config::Settings;
use serde_json::Value;

use crate::helpers::{
    Kind, TestDatabase, assert_error, both_stores, spawn_app_with_demo_candidates, spawn_with,
};
use rstest::rstest;
use rstest_reuse::apply;

async fn total_votes(app: &crate::helpers::TestApp) -> i64 {
    let tally: Value = app.get_json("/api/results").await;
    tally["total_votes"].as_i64().unwrap()
}

#[apply(both_stores)]
async fn results_count_a_vote_cast_on_another_instance_within_a_second(kind: Kind) {
    let db = TestDatabase::new(kind).await.with_demo_candidates().await;
    let (reader, writer) = (db.spawn().await, db.spawn().await);
    assert_eq!(total_votes(&reader).await, 0, "cached by the reader now");
    let token = writer.new_voter().await;
    let candidate = writer.first_candidate_id().await;

    assert_eq!(
        writer.vote(&token, &candidate, None).await.status(),
        StatusCode::CREATED
    );

    assert_eq!(
        total_votes(&writer).await,
        1,
        "the instance that stored the vote counts it at once"
    );
    tokio::time::sleep(securevote::http::read_cache::MAX_AGE + Duration::from_millis(50)).await;
    assert_eq!(
        total_votes(&reader).await,
        1,
        "no answer is older than MAX_AGE"
    );
}

#[apply(both_stores)]
async fn candidates_added_elsewhere_are_listed_within_a_second(kind: Kind) {
    let db = TestDatabase::new(kind).await.with_demo_candidates().await;
    let app = db.spawn().await;
    assert_eq!(app.candidates().await.len(), 4);
    // As `securevote candidates import` does, from another process.
    let extra = securevote::store::parse_candidates(r#"[{"name": "Zoe Late"}]"#).unwrap();
    app.store.add_candidates(&extra).await.unwrap();

    tokio::time::sleep(securevote::http::read_cache::MAX_AGE + Duration::from_millis(50)).await;

    let names: Vec<String> = app
        .candidates()
        .await
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"Zoe Late".to_owned()), "{names:?}");
    let tally: Value = app.get_json("/api/results").await;
    assert_eq!(tally["results"].as_array().unwrap().len(), 5);
}

#[apply(both_stores)]
async fn simultaneous_votes_by_different_voters_are_all_stored(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let candidates = app.candidates().await;
    let mut tokens = Vec::new();
    for _ in 0..12 {
        tokens.push(app.new_voter().await);
    }
    assert_eq!(total_votes(&app).await, 0);

    let votes = tokens.iter().enumerate().map(|(i, token)| {
        let candidate = candidates[i % candidates.len()]["id"].as_str().unwrap();
        let app = &app;
        async move { app.vote(token, candidate, Some(&format!("key-{i}"))).await }
    });
    let responses = join_all(votes).await;

    for response in responses {
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    assert_eq!(
        total_votes(&app).await,
        12,
        "this instance's own votes, at once"
    );
    let tally: Value = app.get_json("/api/results").await;
    let counts: Vec<i64> = tally["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["votes"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [3, 3, 3, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_ceiling_route_exists_only_when_asked_for() {
    let db = TestDatabase::new(Kind::Sqlite).await;
    let normal = db.spawn().await;
    assert_error(
        normal.get("/api/bench/ceiling/100").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let bench = spawn_with(Settings {
        bench_ceiling_route: true,
        ..db.settings.clone()
    })
    .await;

    let response = bench.get("/api/bench/ceiling/431").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), 431);
    serde_json::from_slice::<Value>(&body).expect("JSON");
    assert_error(
        bench.get("/api/bench/ceiling/100000000").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}
