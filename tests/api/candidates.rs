use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    Kind, TestDatabase, assert_error, both_stores, json_of, send, spawn_app,
    spawn_app_with_demo_candidates,
};
use rstest::rstest;
use rstest_reuse::apply;

/// The one rule: Unicode lowercase, then the exact name; the same on SQLite and PostgreSQL,
/// for the list and for the results' tie order.
#[apply(both_stores)]
async fn non_ascii_names_are_ordered_alike_on_both_stores(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = crate::admin::admin_token(&app).await;
    for name in ["Zoë", "émile", "Ábel", "Émile", "abel", "Øystein", "Zoe"] {
        let created = send(
            &app,
            reqwest::Method::POST,
            "/api/candidates",
            Some(&admin),
            Some(&serde_json::json!({ "name": name })),
        )
        .await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let names: Vec<String> = app
        .candidates()
        .await
        .iter()
        .filter(|c| !c["name"].as_str().unwrap().contains(' '))
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["abel", "Zoe", "Zoë", "Ábel", "Émile", "émile", "Øystein"]
    );
    let results: Value = app.get_json("/api/results").await;
    let tied: Vec<String> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .filter(|n| !n.contains(' '))
        .collect();
    assert_eq!(
        tied, names,
        "no votes yet: the results tie in the same order"
    );
}

#[apply(both_stores)]
async fn options_and_candidates_list_the_ballot_ordered_by_name(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;

    let options: Vec<Value> = app.get_json("/api/options").await;
    let candidates = app.candidates().await;

    assert_eq!(options, candidates);
    let names: Vec<&str> = candidates
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Alex Johnson", "Chris Lee", "Jane Smith", "John Doe"]
    );
    for candidate in &candidates {
        let keys: Vec<&String> = candidate.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4, "{candidate}");
        assert!(candidate["party"].is_string() && candidate["description"].is_string());
    }
}

#[apply(both_stores)]
async fn a_candidate_is_found_by_id(kind: Kind) {
    let db = TestDatabase::new(kind).await.with_demo_candidates().await;
    let app = db.spawn().await;
    app.store
        .add_candidates(
            &securevote::store::parse_candidates(r#"[{"name": "Ada Independent"}]"#).unwrap(),
        )
        .await
        .unwrap();
    let independent = app
        .candidates()
        .await
        .into_iter()
        .find(|c| c["name"] == "Ada Independent")
        .unwrap();

    let body: Value = json_of(
        app.get(&format!(
            "/api/candidates/{}",
            independent["id"].as_str().unwrap()
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body, independent);
    assert!(body["party"].is_null() && body["description"].is_null());
}

#[apply(both_stores)]
async fn candidate_lookup_errors(kind: Kind) {
    let app = spawn_app(kind).await;

    assert_error(
        app.get("/api/candidates/not-a-uuid").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        app.get(&format!("/api/candidates/{}", uuid::Uuid::new_v4()))
            .await,
        StatusCode::NOT_FOUND,
        "candidate_not_found",
    )
    .await;
}
