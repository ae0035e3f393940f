use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Kind, TestDatabase, both_stores, spawn_app};
use rstest::rstest;
use rstest_reuse::apply;

#[apply(both_stores)]
async fn a_restart_keeps_all_data(kind: Kind) {
    let db = TestDatabase::new(kind).await.with_demo_candidates().await;
    let app = db.spawn().await;
    let token = app.new_voter().await;
    let candidate = app.first_candidate_id().await;
    let vote: Value = app
        .vote(&token, &candidate, None)
        .await
        .json()
        .await
        .unwrap();
    let candidates_before = app.candidates().await;
    app.stop().await;

    let restarted = db.spawn().await;

    assert_eq!(
        restarted.candidates().await,
        candidates_before,
        "no candidates duplicated or lost"
    );
    let mine = restarted.get_authed("/api/votes/me", &token).await;
    assert_eq!(
        mine.status(),
        StatusCode::OK,
        "the token and the vote survive a restart"
    );
    let mine = mine.json::<Value>().await.unwrap();
    assert_eq!(
        mine["created_at"], vote["created_at"],
        "the participation survives"
    );
    let tally: Value = restarted.get_json("/api/results").await;
    assert_eq!(tally["total_votes"], 1);
}

#[apply(both_stores)]
async fn both_backends_reach_the_same_schema_version(kind: Kind) {
    let app = spawn_app(kind).await;

    let version = app.store.schema_version().await.unwrap();

    assert_eq!(version, securevote::store::POSTGRES_MIGRATIONS.len() as i64);
    assert_eq!(
        version,
        securevote::store::SQLITE_MIGRATIONS.last().unwrap().version
    );
}

#[apply(both_stores)]
async fn the_web_ui_is_served_at_the_root(kind: Kind) {
    let app = spawn_app(kind).await;

    let index = app.get("/").await;
    assert_eq!(index.status(), StatusCode::OK);
    assert_eq!(
        index.headers().get("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    let etag = index.headers().get("etag").unwrap().clone();
    let html = index.text().await.unwrap();
    assert!(
        html.contains("<script type=\"module\" src=\"/app.js\""),
        "{html}"
    );

    let deep_link = app.get("/results").await;
    assert_eq!(deep_link.status(), StatusCode::OK);
    assert_eq!(deep_link.text().await.unwrap(), html);
    let script = app.get("/app.js").await;
    assert!(
        script
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let css = app.get("/style.css").await;
    assert_eq!(
        css.headers().get("content-type").unwrap(),
        "text/css; charset=utf-8"
    );
    assert_eq!(app.get("/missing.js").await.status(), StatusCode::NOT_FOUND);
    let revalidated = app
        .client
        .get(app.url("/"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
}
