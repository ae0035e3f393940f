use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::for_both_stores;
use crate::helpers::{Kind, TestDatabase};

for_both_stores!(health_reports_the_database);

async fn health_reports_the_database(kind: Kind) {
    let app = TestDatabase::new(kind).await.spawn().await;

    let response = app.get("/health").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok", "database": "ok"})
    );
}
