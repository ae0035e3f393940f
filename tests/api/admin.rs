//! The admin role: who may use the admin endpoints, what they change, and the audit log.

use reqwest::{Method, StatusCode};
use securevote::domain::Email;
use serde_json::{Value, json};

use crate::helpers::{
    Kind, TestApp, TestDatabase, assert_error, both_stores, json_of, send, spawn_app,
    spawn_app_with_demo_candidates,
};
use rstest::rstest;
use rstest_reuse::apply;

const PASSWORD: &str = "correct horse battery";

/// Registers an account, promotes it the way `securevote admin create` does, and logs in.
pub async fn admin_token(app: &TestApp) -> String {
    let email = format!("admin-{}@example.org", uuid::Uuid::new_v4().simple());
    assert_eq!(
        app.register(&email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    app.store
        .promote_to_admin(&Email::parse(&email).unwrap())
        .await
        .unwrap()
        .expect("the account exists");
    token_of(app, &email).await
}

pub async fn token_of(app: &TestApp, email: &str) -> String {
    app.token_for(email, PASSWORD).await
}

/// Runs SQL straight on the test database, as a DBA (or an attacker with database access) would.
pub async fn raw_sql(db: &TestDatabase, sql: &str) -> Result<(), String> {
    match db.kind {
        Kind::Postgres => db.sql().await.batch_execute(sql).await.map_err(|e| {
            e.as_db_error()
                .map_or_else(|| e.to_string(), |db| db.message().to_owned())
        }),
        Kind::Sqlite => {
            let path = db.data_path().join("securevote.db");
            let sql = sql.to_owned();
            tokio::task::spawn_blocking(move || {
                let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(|e| e.to_string())?;
                conn.execute_batch(&sql).map_err(|e| e.to_string())
            })
            .await
            .unwrap()
        }
    }
}

async fn audit(app: &TestApp, token: &str, query: &str) -> Value {
    json_of(
        app.get_authed(&format!("/api/admin/audit{query}"), token)
            .await,
        StatusCode::OK,
    )
    .await
}

#[apply(both_stores)]
async fn admin_endpoints_refuse_anonymous_callers_and_voters(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let voter = app.new_voter().await;
    let candidate = format!("/api/candidates/{}", app.first_candidate_id().await);
    let body = json!({"name": "Mallory"});
    let endpoints = [
        (Method::POST, "/api/candidates".to_owned(), Some(&body)),
        (Method::PATCH, candidate.clone(), Some(&body)),
        (Method::DELETE, candidate.clone(), None),
        (Method::GET, "/api/admin/stats".to_owned(), None),
        (Method::GET, "/api/admin/audit".to_owned(), None),
    ];

    for (method, path, body) in &endpoints {
        let anonymous = send(&app, method.clone(), path, None, *body).await;
        assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let as_voter = send(&app, method.clone(), path, Some(&voter), *body).await;
        assert_error(as_voter, StatusCode::FORBIDDEN, "forbidden").await;
    }

    assert_eq!(app.candidates().await.len(), 4, "nothing changed");
}

#[apply(both_stores)]
async fn an_admin_manages_the_ballot_and_every_change_is_audited(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let me = app.get_authed_json::<Value>("/api/auth/me", &admin).await;
    assert_eq!(me["is_admin"], true);
    let admin_id = me["id"].clone();

    let created: Value = json_of(
        send(
            &app,
            Method::POST,
            "/api/candidates",
            Some(&admin),
            Some(&json!({"name": "  Ada Lovelace ", "party": "Engines", "description": "Notes\non the engine"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["name"], "Ada Lovelace");
    let path = format!("/api/candidates/{}", created["id"].as_str().unwrap());
    let updated: Value = json_of(
        send(
            &app,
            Method::PATCH,
            &path,
            Some(&admin),
            Some(&json!({"name": "Ada King", "party": null})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        updated,
        json!({"id": created["id"], "name": "Ada King", "party": null, "description": "Notes\non the engine"})
    );
    assert_eq!(app.get_json::<Value>(&path).await, updated);
    let deleted = send(&app, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get(&path).await,
        StatusCode::NOT_FOUND,
        "candidate_not_found",
    )
    .await;
    assert_error(
        send(&app, Method::DELETE, &path, Some(&admin), None).await,
        StatusCode::NOT_FOUND,
        "candidate_not_found",
    )
    .await;

    let log = audit(&app, &admin, "").await;
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "candidate.delete",
            "candidate.update",
            "candidate.create",
            "user.promote"
        ],
        "newest first"
    );
    let only = |log: Value| -> Vec<String> {
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        only(audit(&app, &admin, "?action=candidate.update").await),
        ["candidate.update"]
    );
    assert_eq!(
        only(audit(&app, &admin, "?action=candidate.").await),
        ["candidate.delete", "candidate.update", "candidate.create"],
        "a prefix ending in a dot"
    );
    assert_eq!(
        only(audit(&app, &admin, "?action=candidate.&limit=1&before=1000000").await),
        ["candidate.delete"],
        "the filter pages like the whole log"
    );
    assert!(only(audit(&app, &admin, "?action=candidate").await).is_empty());
    assert!(only(audit(&app, &admin, "?action=candidate_").await).is_empty());
    let (delete, update, create, promote) = (&entries[0], &entries[1], &entries[2], &entries[3]);
    assert_eq!(create["before"], Value::Null);
    assert_eq!(create["after"], created);
    assert_eq!(update["before"], created);
    assert_eq!(update["after"], updated);
    assert_eq!(delete["before"], updated);
    assert_eq!(delete["after"], Value::Null);
    for entry in [delete, update, create] {
        assert_eq!(entry["actor_id"], admin_id);
        assert_eq!(entry["target_type"], "candidate");
        assert_eq!(entry["target_id"], created["id"]);
        assert!(entry["actor_email"].as_str().unwrap().starts_with("admin-"));
        assert!(entry["at"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(promote["actor_id"], Value::Null, "made on the command line");
    assert_eq!(promote["before"]["role"], "voter");
    assert_eq!(promote["after"]["role"], "admin");
    assert_eq!(log["next_before"], Value::Null);

    let first_page = audit(&app, &admin, "?limit=3").await;
    assert_eq!(first_page["entries"].as_array().unwrap().len(), 3);
    let cursor = first_page["next_before"].as_i64().unwrap();
    let second_page = audit(&app, &admin, &format!("?limit=3&before={cursor}")).await;
    assert_eq!(second_page["entries"].as_array().unwrap().len(), 1);
    assert_eq!(second_page["entries"][0]["action"], "user.promote");
    assert_eq!(second_page["next_before"], Value::Null);
}

#[apply(both_stores)]
async fn a_candidate_with_votes_cannot_be_deleted(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let admin = admin_token(&app).await;
    let voter = app.new_voter().await;
    let candidate = app.first_candidate_id().await;
    assert_eq!(
        app.vote(&voter, &candidate, None).await.status(),
        StatusCode::CREATED
    );
    let audited_before = audit(&app, &admin, "").await["entries"]
        .as_array()
        .unwrap()
        .len();

    let before = app.candidates().await;
    let edited = send(
        &app,
        Method::PATCH,
        &format!("/api/candidates/{candidate}"),
        Some(&admin),
        Some(&json!({"party": "Another Party"})),
    )
    .await;
    assert_error(edited, StatusCode::CONFLICT, "candidate_has_votes").await;
    assert_eq!(
        app.candidates().await,
        before,
        "a voted-for candidate is unchanged"
    );

    let refused = send(
        &app,
        Method::DELETE,
        &format!("/api/candidates/{candidate}"),
        Some(&admin),
        None,
    )
    .await;

    assert_error(refused, StatusCode::CONFLICT, "candidate_has_votes").await;
    assert_eq!(app.candidates().await.len(), 4);
    let tally: Value = app.get_json("/api/results").await;
    assert_eq!(tally["total_votes"], 1);
    assert_eq!(
        app.get_authed("/api/votes/me", &voter).await.status(),
        StatusCode::OK
    );
    let audited_after = audit(&app, &admin, "").await["entries"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        audited_after, audited_before,
        "a refused change is not audited"
    );
}

#[apply(both_stores)]
async fn stats_count_users_votes_and_turnout(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let admin = admin_token(&app).await;
    let voter = app.new_voter().await;
    app.new_voter().await;
    let candidate = app.first_candidate_id().await;
    app.vote(&voter, &candidate, None).await;

    let stats: Value = app.get_authed_json("/api/admin/stats", &admin).await;

    assert_eq!(stats["registered_users"], 3);
    assert_eq!(stats["votes_cast"], 1);
    assert!(
        (stats["turnout"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9,
        "{stats}"
    );
}

#[apply(both_stores)]
async fn a_demoted_admin_loses_access_at_once(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    let admin = admin_token(&app).await;
    assert_eq!(
        app.get_authed("/api/admin/stats", &admin).await.status(),
        StatusCode::OK
    );

    raw_sql(&db, "UPDATE users SET role = 'voter'")
        .await
        .unwrap();

    assert_error(
        app.get_authed("/api/admin/stats", &admin).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[apply(both_stores)]
async fn the_audit_log_is_append_only_in_the_database(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    let admin = admin_token(&app).await;
    send(
        &app,
        Method::POST,
        "/api/candidates",
        Some(&admin),
        Some(&json!({"name": "Grace Hopper"})),
    )
    .await;

    let update = raw_sql(&db, "UPDATE audit_log SET action = 'nothing happened'").await;
    let delete = raw_sql(&db, "DELETE FROM audit_log").await;

    assert!(update.unwrap_err().contains("append-only"));
    assert!(delete.unwrap_err().contains("append-only"));
    if kind == Kind::Postgres {
        let truncate = raw_sql(&db, "TRUNCATE audit_log").await;
        assert!(truncate.unwrap_err().contains("append-only"));
    }
    let log = audit(&app, &admin, "").await;
    assert_eq!(log["entries"].as_array().unwrap().len(), 2);
    assert_eq!(log["entries"][0]["action"], "candidate.create");
}

#[apply(both_stores)]
async fn no_request_can_make_an_admin(kind: Kind) {
    let app = spawn_app(kind).await;

    let registered = app
        .post_json(
            "/api/auth/register",
            &json!({"email": "eve@example.org", "password": PASSWORD, "role": "admin", "is_admin": true}),
        )
        .await;

    assert_error(registered, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(
        app.register("eve@example.org", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let token = token_of(&app, "eve@example.org").await;
    assert_error(
        app.get_authed("/api/admin/stats", &token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[apply(both_stores)]
async fn invalid_admin_input_is_a_400(kind: Kind) {
    let app = spawn_app_with_demo_candidates(kind).await;
    let admin = admin_token(&app).await;
    let candidate = format!("/api/candidates/{}", app.first_candidate_id().await);
    let long = "x".repeat(10_000);
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (Method::POST, "/api/candidates".into(), json!({}), "no name"),
        (
            Method::POST,
            "/api/candidates".into(),
            json!({"name": "  "}),
            "blank name",
        ),
        (
            Method::POST,
            "/api/candidates".into(),
            json!({"name": long}),
            "10 kB name",
        ),
        (
            Method::POST,
            "/api/candidates".into(),
            json!({"name": "A", "party": long}),
            "10 kB party",
        ),
        (
            Method::POST,
            "/api/candidates".into(),
            json!({"name": "A", "description": long}),
            "10 kB description",
        ),
        (
            Method::POST,
            "/api/candidates".into(),
            json!({"name": "A\u{7}"}),
            "control character",
        ),
        (
            Method::POST,
            "/api/candidates".into(),
            json!({"name": "A", "votes": 1000}),
            "unknown field",
        ),
        (Method::PATCH, candidate.clone(), json!({}), "empty patch"),
        (
            Method::PATCH,
            candidate.clone(),
            json!({"name": null}),
            "null name",
        ),
        (
            Method::PATCH,
            candidate.clone(),
            json!({"description": long}),
            "10 kB description",
        ),
        (
            Method::PATCH,
            "/api/candidates/not-a-uuid".into(),
            json!({"name": "A"}),
            "bad id",
        ),
    ];
    for (method, path, body, why) in cases {
        let response = send(&app, method, &path, Some(&admin), Some(&body)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    for query in [
        "?limit=0",
        "?limit=201",
        "?limit=ten",
        "?before=0",
        "?before=x",
        "?page=2",
        "?action=",
        "?action=Election.open",
        "?action=election%20open",
        "?action=election.%25",
    ] {
        let response = app
            .get_authed(&format!("/api/admin/audit{query}"), &admin)
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let unknown = format!("/api/candidates/{}", uuid::Uuid::new_v4());
    assert_error(
        send(
            &app,
            Method::PATCH,
            &unknown,
            Some(&admin),
            Some(&json!({"name": "A"})),
        )
        .await,
        StatusCode::NOT_FOUND,
        "candidate_not_found",
    )
    .await;
    assert_eq!(app.candidates().await.len(), 4, "nothing was created");
}
