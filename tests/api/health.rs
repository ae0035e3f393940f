use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Kind, both_stores, json_of, spawn_app};
use rstest::rstest;
use rstest_reuse::apply;

#[apply(both_stores)]
async fn health_reports_the_database(kind: Kind) {
    let app = spawn_app(kind).await;

    let health = json_of(app.get("/health").await, StatusCode::OK).await;

    assert_eq!(health, json!({"status": "ok", "database": "ok"}));
}
