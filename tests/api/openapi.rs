//! The OpenAPI document at /api/openapi.json against the routes the router really serves.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use securevote::app::Application;
use securevote::config::Config;
use serde_json::{Value, json};

use crate::admin::admin_token;
use crate::helpers::{Kind, TestDatabase, send, spawn_app};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every `/...` string in the router's Debug output: axum prints each registered path there.
/// Crude, but it reads the router itself rather than anything derived from the document.
fn served_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    // The fallback router (the web UI at `/`) is not a route of the API.
    let routes = debug.split("fallback_router:").next().unwrap_or_default();
    routes
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/') && !s.contains("__private__axum"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_exactly_the_routes_the_router_serves() {
    let db = TestDatabase::new(Kind::Sqlite).await;
    let app = db.spawn().await;
    let admin = admin_token(&app).await;
    let document: Value = app.get_json("/api/openapi.json").await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1."));
    let paths = document["paths"].as_object().unwrap();

    // 1. The router serves exactly the documented paths.
    let built = Application::build(&Config::from_settings(&db.settings).unwrap())
        .await
        .unwrap();
    let served = served_paths(built.router());
    let documented: BTreeSet<String> = paths.keys().cloned().collect();
    assert!(
        served.contains("/health"),
        "cannot read the router: {served:?}"
    );
    assert_eq!(served, documented, "served paths vs documented paths");

    // 2. Every documented operation is served, and answers with a documented status.
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                // 3. ...and no other method is served on a documented path.
                let response = send(
                    &app,
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &concrete,
                    Some(&admin),
                    None,
                )
                .await;
                assert_eq!(
                    response.status(),
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented"
                );
                continue;
            };
            operations += 1;
            let body = operation.get("requestBody").map(|_| json!({}));
            // Logging out ends the token's sessions: not the admin's, which the walk goes on with.
            let token = if path == "/api/auth/logout" {
                app.new_voter().await
            } else {
                admin.clone()
            };
            let response = send(
                &app,
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                &concrete,
                Some(&token),
                body.as_ref(),
            )
            .await;
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(
                operation["responses"].get(status.as_str()).is_some(),
                "{method} {path} answered {status}, which is not documented: {text}"
            );
            assert!(
                !text.contains("\"not_found\"") && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not served: {status} {text}"
            );
        }
    }
    assert!(operations >= 16, "{operations} operations in the document");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_security_and_errors() {
    let app = spawn_app(Kind::Sqlite).await;

    let document: Value = app.get_json("/api/openapi.json").await;

    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    let error = &document["components"]["schemas"]["ErrorDetail"]["required"];
    assert_eq!(error, &json!(["code", "message"]));
    // Validation errors may name their field; optional, so older clients see nothing new.
    let field = &document["components"]["schemas"]["ErrorDetail"]["properties"]["field"];
    assert!(
        field.to_string().contains("string"),
        "ErrorDetail documents `field`: {field}"
    );
    let voter = &document["components"]["schemas"]["VoterElection"];
    assert!(
        voter["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("encrypted"))),
        "VoterElection documents `encrypted`: {voter}"
    );
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let secured = operation.get("security").is_some();
            let responses = &operation["responses"];
            for status in ["431", "500", "503"] {
                assert!(responses.get(status).is_some(), "{method} {path}: {status}");
            }
            if secured {
                assert!(responses.get("401").is_some(), "{method} {path}: 401");
            } else if !["/api/auth/login", "/api/auth/magic"].contains(&path.as_str()) {
                // Public routes answer no 401, but those that exchange a credential (a password,
                // an invitation link's token) for a token.
                assert!(responses.get("401").is_none(), "{method} {path}: public");
            }
            if path.starts_with("/api/admin")
                || (path.starts_with("/api/candidates") && method != "get")
            {
                assert!(secured && responses.get("403").is_some(), "{method} {path}");
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses.get(status).is_some(), "{method} {path}: {status}");
                }
            }
        }
    }
    for path in ["/api/auth/login", "/api/auth/register"] {
        let limited = &document["paths"][path]["post"]["responses"]["429"];
        assert!(limited["headers"].get("Retry-After").is_some(), "{path}");
    }
}
