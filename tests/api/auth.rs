use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Kind, assert_error, both_stores, json_of, spawn_app};
use rstest::rstest;
use rstest_reuse::apply;

#[apply(both_stores)]
async fn register_creates_a_user_with_a_normalised_email(kind: Kind) {
    let app = spawn_app(kind).await;

    let body: Value = json_of(
        app.register("  Ada.Lovelace@Example.ORG ", "analytical engine")
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(body["email"], "ada.lovelace@example.org");
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    let created_at = body["created_at"].as_str().unwrap();
    assert!(created_at.ends_with('Z'), "UTC RFC 3339: {created_at}");
    assert!(chrono::DateTime::parse_from_rfc3339(created_at).is_ok());
    assert!(body.get("password_hash").is_none());
}

#[apply(both_stores)]
async fn register_refuses_invalid_input_with_the_right_code(kind: Kind) {
    let app = spawn_app(kind).await;
    let long_email = format!("{}@example.org", "a".repeat(250));
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"email": "no-at-sign.example.org", "password": "long enough"}),
            "invalid_email",
            "no @",
        ),
        (
            json!({"email": "two@@example.org", "password": "long enough"}),
            "invalid_email",
            "two @",
        ),
        (
            json!({"email": "@example.org", "password": "long enough"}),
            "invalid_email",
            "empty local part",
        ),
        (
            json!({"email": "ada@localhost", "password": "long enough"}),
            "invalid_email",
            "no dot in domain",
        ),
        (
            json!({"email": "ada lovelace@example.org", "password": "long enough"}),
            "invalid_email",
            "space",
        ),
        (
            json!({"email": long_email, "password": "long enough"}),
            "invalid_email",
            "over 254 characters",
        ),
        (
            json!({"email": "ada@example.org", "password": "short"}),
            "invalid_password",
            "7 characters",
        ),
        (
            json!({"email": "ada@example.org", "password": "x".repeat(129)}),
            "invalid_password",
            "129 characters",
        ),
        (
            json!({"email": "ada@example.org"}),
            "invalid_request",
            "missing password",
        ),
        (
            json!({"password": "long enough"}),
            "invalid_request",
            "missing email",
        ),
        (
            json!({"email": 42, "password": "long enough"}),
            "invalid_request",
            "email of the wrong type",
        ),
        (
            json!(["ada@example.org", "long enough"]),
            "invalid_request",
            "array instead of object",
        ),
    ];
    for (body, code, why) in cases {
        let response = app.post_json("/api/auth/register", &body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["error"]["code"], code, "{why}: {text}");
    }

    let malformed = app
        .client
        .post(app.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_error(malformed, StatusCode::BAD_REQUEST, "invalid_request").await;

    let not_json = app
        .client
        .post(app.url("/api/auth/register"))
        .header("content-type", "text/plain")
        .body(r#"{"email":"ada@example.org","password":"long enough"}"#)
        .send()
        .await
        .unwrap();
    assert_error(
        not_json,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[apply(both_stores)]
async fn emails_are_unique_regardless_of_case(kind: Kind) {
    let app = spawn_app(kind).await;
    assert_eq!(
        app.register("grace@example.org", "compiler one")
            .await
            .status(),
        StatusCode::CREATED
    );

    let again = app.register("Grace@EXAMPLE.org", "compiler two").await;

    assert_error(again, StatusCode::CONFLICT, "email_taken").await;
}

#[apply(both_stores)]
async fn login_returns_a_bearer_token_that_me_accepts(kind: Kind) {
    let app = spawn_app(kind).await;
    app.register("alan@example.org", "enigma machine").await;

    let body: Value = json_of(
        app.login("ALAN@example.org", "enigma machine").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["token"].as_str().unwrap();
    let me: Value = json_of(app.get_authed("/api/auth/me", token).await, StatusCode::OK).await;
    assert_eq!(me["email"], "alan@example.org");
    assert_eq!(me["has_voted"], false);
    assert_eq!(me["is_admin"], false);
    assert!(me["created_at"].as_str().unwrap().ends_with('Z'));
}

#[apply(both_stores)]
async fn login_does_not_reveal_whether_an_email_exists(kind: Kind) {
    let app = spawn_app(kind).await;
    app.register("known@example.org", "the right one").await;

    let wrong_password = app.login("known@example.org", "the wrong one").await;
    let unknown_email = app.login("unknown@example.org", "the right one").await;
    let malformed_email = app.login("not-an-email", "the right one").await;

    let a = assert_error(
        wrong_password,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let b = assert_error(
        unknown_email,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let c = assert_error(
        malformed_email,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(a, b);
    assert_eq!(b, c);
    let missing = app
        .post_json("/api/auth/login", &json!({"email": "known@example.org"}))
        .await;
    assert_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[apply(both_stores)]
async fn me_requires_a_valid_token(kind: Kind) {
    let app = spawn_app(kind).await;
    let token = app.new_voter().await;

    let cases = [
        (None, "no header"),
        (Some("Bearer".to_owned()), "no token"),
        (Some("Basic dXNlcjpwYXNz".to_owned()), "wrong scheme"),
        (Some("Bearer not.a.jwt".to_owned()), "garbage token"),
        (Some(format!("Bearer {token}x")), "tampered signature"),
    ];
    for (header, why) in cases {
        let mut request = app.client.get(app.url("/api/auth/me"));
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let lowercase_scheme = app
        .client
        .get(app.url("/api/auth/me"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lowercase_scheme.status(), StatusCode::OK);
}
