use reqwest::StatusCode;

use crate::helpers::{Kind, assert_error, both_stores, spawn_app};
use rstest::rstest;
use rstest_reuse::apply;

#[apply(both_stores)]
async fn unknown_api_routes_and_wrong_methods_get_json_errors(kind: Kind) {
    let app = spawn_app(kind).await;

    assert_error(
        app.get("/api/nothing-here").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(app.get("/api").await, StatusCode::NOT_FOUND, "not_found").await;
    let delete = app
        .client
        .delete(app.url("/api/results"))
        .send()
        .await
        .unwrap();
    assert_error(delete, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let get_votes = app.get("/api/votes").await;
    assert_error(
        get_votes,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let put_login = app
        .client
        .put(app.url("/api/auth/login"))
        .send()
        .await
        .unwrap();
    assert_error(
        put_login,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[apply(both_stores)]
async fn oversized_and_malformed_bodies_get_json_errors(kind: Kind) {
    let app = spawn_app(kind).await;
    let post_raw = |body: Vec<u8>| {
        app.client
            .post(app.url("/api/auth/register"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let padding = "x".repeat(17 * 1024);
    let too_large = format!(r#"{{"email":"a@example.org","password":"{padding}"}}"#);
    assert_error(
        post_raw(too_large.into_bytes()).await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let megabyte = vec![b' '; 1024 * 1024];
    assert_error(
        post_raw(megabyte).await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;

    let invalid_utf8 =
        b"{\"email\":\"\xff\xfe@example.org\",\"password\":\"long enough\"}".to_vec();
    assert_error(
        post_raw(invalid_utf8).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let deeply_nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    assert_error(
        post_raw(deeply_nested.into_bytes()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        post_raw(b"".to_vec()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let no_content_type = app
        .client
        .post(app.url("/api/auth/login"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(
        no_content_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[apply(both_stores)]
async fn every_response_carries_the_security_headers(kind: Kind) {
    let app = spawn_app(kind).await;

    for path in ["/health", "/api/options", "/api/nothing", "/", "/app.js"] {
        let response = app.get(path).await;
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            csp.as_deref().is_some_and(
                |v| v.contains("default-src 'self'") && v.contains("frame-ancestors 'none'")
            ),
            "{path}: {csp:?}"
        );
        assert_eq!(
            headers.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert!(headers.get("referrer-policy").is_some(), "{path}");
    }
    let api = app.get("/api/options").await;
    assert_eq!(
        api.headers().get("content-type").unwrap(),
        "application/json"
    );
    assert_eq!(api.headers().get("cache-control").unwrap(), "no-store");
}
