use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Kind, TestDatabase, both_stores};
use rstest::rstest;
use rstest_reuse::apply;

#[apply(both_stores)]
async fn health_reports_the_database(kind: Kind) {
    let app = TestDatabase::new(kind).await.spawn().await;

    let response = app.get("/health").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok", "database": "ok"})
    );
}
