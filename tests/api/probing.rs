//! Weaknesses found by probing the service as an attacker would: routing of non-UI paths,
//! unknown fields, weak passwords, deceptive text, file permissions, sessions, counter keys,
//! legacy password hashes and slow clients.

use reqwest::StatusCode;
use serde_json::json;

use reqwest::Method;

use crate::admin::admin_token;
use crate::helpers::{Kind, TestDatabase, assert_error, both_stores, json_of, send};
use rstest::rstest;
use rstest_reuse::apply;

#[apply(both_stores)]
async fn non_ui_paths_get_the_json_404_not_the_index_page(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    for path in [
        "/API/admin/stats",
        "/Api/auth/me",
        "/aPi",
        "/.git/config",
        "/.env",
        "/.git",
        "/static/.htaccess",
        "/metrics",
        "/METRICS",
        "/metrics/",
    ] {
        assert_error(app.get(path).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    // The UI's own deep links still get the index page.
    for path in ["/", "/vote", "/admin/elections"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.text().await.unwrap().contains("<html"), "{path}");
    }
    app.stop().await;
}

#[apply(both_stores)]
async fn unknown_fields_are_refused_on_every_body(kind: Kind) {
    let db = TestDatabase::new(kind).await.with_demo_candidates().await;
    let app = db.spawn().await;
    let deep = format!("{}{}", "[".repeat(7000), "]".repeat(7000));
    let deep_body =
        format!(r#"{{"email":"deep@example.org","password":"correct horse battery","x":{deep}}}"#);
    let response = app
        .client
        .post(app.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body(deep_body)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let extra =
        json!({"email": "extra@example.org", "password": "correct horse battery", "role": "admin"});
    let body = assert_error(
        app.post_json("/api/auth/register", &extra).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("role"),
        "{body}"
    );
    assert_error(
        app.post_json("/api/auth/login", &extra).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let token = app.new_voter().await;
    let candidate = app.first_candidate_id().await;
    let response = app
        .client
        .post(app.url("/api/votes"))
        .bearer_auth(&token)
        .json(&json!({"candidate_id": candidate, "weight": 2}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let mine = app.get_authed("/api/votes/me", &token).await;
    assert_eq!(
        mine.status(),
        StatusCode::NOT_FOUND,
        "the vote was not stored"
    );
    app.stop().await;
}

#[apply(both_stores)]
async fn deceptive_text_is_refused_in_names_and_emails(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    for email in [
        "ada\u{200B}@example.org",
        "ada@exam\u{00AD}ple.org",
        "\u{FEFF}ada@example.org",
        "ada\u{202E}@example.org",
    ] {
        assert_error(
            app.register(email, "correct horse battery").await,
            StatusCode::BAD_REQUEST,
            "invalid_email",
        )
        .await;
    }
    let admin = admin_token(&app).await;
    for name in [
        "Jane \u{202E}htimS",
        "Jane\u{2066} Smith",
        "Jane\u{200D}Smith",
        "Ja\u{00AD}ne",
    ] {
        let response = send(
            &app,
            Method::POST,
            "/api/candidates",
            Some(&admin),
            Some(&json!({"name": name})),
        )
        .await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let response = send(
        &app,
        Method::POST,
        "/api/candidates",
        Some(&admin),
        Some(&json!({"name": "Jane", "party": "Gr\u{FEFF}een"})),
    )
    .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    // What is kept is NFC: a decomposed "é" is stored precomposed.
    let created = json_of(
        send(
            &app,
            Method::POST,
            "/api/candidates",
            Some(&admin),
            Some(&json!({"name": "Rene\u{301} Dupont"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["name"], "Ren\u{e9} Dupont");
    let registered = app
        .register("jose\u{301}@example.org", "correct horse battery")
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    assert_error(
        app.register("jos\u{e9}@example.org", "correct horse battery")
            .await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    app.stop().await;
}

#[apply(both_stores)]
async fn weak_passwords_are_refused_with_the_reason(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    for (password, why) in [
        ("12345678", "most common"),
        ("password", "most common"),
        ("        ", "repeated"),
        ("iloveyou1", "common"),
        ("qwertyuiop", "common"),
        ("weak.voter.2024", "email"),
    ] {
        let body = assert_error(
            app.register("weak.voter.2024@example.org", password).await,
            StatusCode::BAD_REQUEST,
            "invalid_password",
        )
        .await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{password:?}: {message}");
    }
    assert_eq!(
        app.register("weak.voter.2024@example.org", "long enough")
            .await
            .status(),
        StatusCode::CREATED
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_is_0700_and_the_database_files_0600() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("fresh").join("data");
    let settings = securevote::config::Settings {
        data_dir: data_dir.clone(),
        bind_addr: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 0,
        ..Default::default()
    };
    let app = crate::helpers::spawn_with(settings.clone()).await;
    // A write, so the WAL and its index exist.
    let _token = app.new_voter().await;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data_dir), 0o700, "DATA_DIR");
    for file in [
        "securevote.db",
        "securevote.db-wal",
        "securevote.db-shm",
        "jwt_secret",
    ] {
        assert_eq!(mode(&data_dir.join(file)), 0o600, "{file}");
    }
    app.stop().await;
    // A database left readable by an older version is tightened at the next start.
    std::fs::set_permissions(
        data_dir.join("securevote.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let app = crate::helpers::spawn_with(settings).await;
    assert_eq!(
        mode(&data_dir.join("securevote.db")),
        0o600,
        "after a restart"
    );
    app.stop().await;
}

/// Every key of the abuse counters, as stored.
async fn counter_keys(db: &TestDatabase) -> Vec<String> {
    const SQL: &str =
        "SELECT key FROM rate_limit_hits UNION ALL SELECT account FROM login_lockouts";
    match db.kind {
        Kind::Postgres => db
            .sql()
            .await
            .query(SQL, &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect(),
        Kind::Sqlite => {
            let conn = rusqlite::Connection::open(db.data_path().join("securevote.db")).unwrap();
            let mut statement = conn.prepare(SQL).unwrap();
            statement
                .query_map([], |row| row.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
    }
}

fn unsalted(scope: &str, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    hasher.update(key.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[apply(both_stores)]
async fn counter_keys_are_keyed_digests_and_ipv6_is_limited_per_64(kind: Kind) {
    let mut db = TestDatabase::new(kind).await;
    db.settings.security.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    db.settings.security.register_limit_per_ip = 2;
    let app = db.spawn().await;
    crate::security::wait_for_a_fresh_minute().await;
    let register_from = |forwarded: &str, n: u32| {
        let request = app
            .client
            .post(app.url("/api/auth/register"))
            .header("x-forwarded-for", forwarded.to_owned())
            .json(&json!({"email": format!("v6-{n}@example.org"), "password": "correct horse battery"}));
        async move { request.send().await.unwrap() }
    };
    assert_eq!(
        register_from("2001:db8:1:2::1", 1).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        register_from("2001:db8:1:2::2", 2).await.status(),
        StatusCode::CREATED
    );
    // Another address of the same /64 (one customer's network) shares its limit.
    assert_error(
        register_from("2001:db8:1:2:ffff:ffff:ffff:3", 3).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // The next /64 has a limit of its own; so do IPv4 addresses.
    assert_eq!(
        register_from("2001:db8:1:3::1", 4).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        register_from("192.0.2.1", 5).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.login("v6-1@example.org", "wrong password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let keys = counter_keys(&db).await;
    assert!(keys.len() >= 5, "{keys:?}");
    for key in &keys {
        assert!(
            key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()),
            "{key}"
        );
    }
    // Not the plain SHA-256 of what they count, which anyone holding the database could
    // reverse by hashing every address or a list of emails.
    for (scope, plain) in [
        ("register_ip", "2001:db8:1:2::1"),
        ("register_ip", "2001:db8:1:2::"),
        ("register_ip", "2001:db8:1:2::/64"),
        ("register_ip", "192.0.2.1"),
        ("register_account", "v6-1@example.org"),
        ("login_ip", "127.0.0.1"),
        ("login_account", "v6-1@example.org"),
    ] {
        assert!(
            !keys.contains(&unsalted(scope, plain)),
            "{scope} {plain} is stored as its unsalted SHA-256"
        );
    }
    app.stop().await;
}

#[apply(both_stores)]
async fn bcrypt_hashes_of_the_original_design_log_in_and_become_argon2id(kind: Kind) {
    use securevote::domain::Email;
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    // What the original Node service stored: bcryptjs/node.bcrypt.js at cost 10, as $2a$ or
    // $2b$ (PHP's $2y$ is the same algorithm).
    let original = bcrypt::hash("from the node app", 10).unwrap();
    assert!(original.starts_with("$2b$10$"), "{original}");
    for prefix in ["$2a$", "$2b$", "$2y$"] {
        let email = format!("node-{}@example.org", &prefix[1..3]);
        let hash = format!("{prefix}{}", &original[4..]);
        let parsed = Email::parse(&email).unwrap();
        app.store.create_user(&parsed, &hash).await.unwrap();
        assert_error(
            app.login(&email, "from the node ap").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
        let stored = app.store.credentials(&parsed).await.unwrap().unwrap();
        assert_eq!(stored.password_hash, hash, "a failed login changes nothing");
        assert_eq!(
            app.login(&email, "from the node app").await.status(),
            StatusCode::OK,
            "{prefix}"
        );
        let upgraded = app.store.credentials(&parsed).await.unwrap().unwrap();
        assert!(
            upgraded
                .password_hash
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            upgraded.password_hash
        );
        assert_eq!(
            app.login(&email, "from the node app").await.status(),
            StatusCode::OK,
            "with the new hash"
        );
    }
    app.stop().await;
}

async fn token_of(app: &crate::helpers::TestApp, email: &str) -> String {
    app.token_for(email, "correct horse battery").await
}

async fn me_status(app: &crate::helpers::TestApp, token: &str) -> StatusCode {
    app.get_authed("/api/auth/me", token).await.status()
}

#[apply(both_stores)]
async fn logout_ends_the_session_on_every_instance(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let one = db.spawn().await;
    let two = db.spawn().await;
    let email = "leaving@example.org";
    assert_eq!(
        one.register(email, "correct horse battery").await.status(),
        StatusCode::CREATED
    );
    let token = token_of(&one, email).await;
    assert_eq!(me_status(&two, &token).await, StatusCode::OK);
    let response = one
        .client
        .post(one.url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The same token, on this instance and on another one, is refused from now on.
    assert_error(
        one.get_authed("/api/auth/me", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(me_status(&two, &token).await, StatusCode::UNAUTHORIZED);
    let again = one
        .client
        .post(one.url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    // A new login works.
    let fresh = token_of(&two, email).await;
    assert_eq!(me_status(&one, &fresh).await, StatusCode::OK);
    one.stop().await;
    two.stop().await;
}

#[apply(both_stores)]
async fn future_nbf_and_iat_are_refused(kind: Kind) {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let mut db = TestDatabase::new(kind).await;
    db.settings.jwt_secret = Some(crate::helpers::JWT_SECRET.into());
    let app = db.spawn().await;
    let email = "clock@example.org";
    assert_eq!(
        app.register(email, "correct horse battery").await.status(),
        StatusCode::CREATED
    );
    let token = token_of(&app, email).await;
    let me: serde_json::Value = app.get_authed_json("/api/auth/me", &token).await;
    let sub = me["id"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: serde_json::Value| {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(crate::helpers::JWT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    let slightly_ahead = sign(json!({"sub": sub, "iat": now + 5, "exp": now + 600}));
    assert_eq!(
        me_status(&app, &slightly_ahead).await,
        StatusCode::OK,
        "small clock skew"
    );
    for (claims, why) in [
        (
            json!({"sub": sub, "iat": now, "nbf": now + 600, "exp": now + 1200}),
            "nbf in the future",
        ),
        (
            json!({"sub": sub, "iat": now + 600, "exp": now + 1200}),
            "iat in the future",
        ),
        (
            json!({"sub": sub, "iat": now + 86_400 * 365, "exp": now + 86_400 * 366}),
            "iat next year",
        ),
    ] {
        assert_eq!(
            me_status(&app, &sign(claims)).await,
            StatusCode::UNAUTHORIZED,
            "{why}"
        );
    }
    app.stop().await;
}

#[apply(both_stores)]
async fn an_admin_signs_an_account_out_everywhere(kind: Kind) {
    let db = TestDatabase::new(kind).await;
    let app = db.spawn().await;
    let admin = admin_token(&app).await;
    let email = "stolen@example.org";
    assert_eq!(
        app.register(email, "correct horse battery").await.status(),
        StatusCode::CREATED
    );
    let laptop = token_of(&app, email).await;
    let phone = token_of(&app, email).await;
    let me: serde_json::Value = app.get_authed_json("/api/auth/me", &laptop).await;
    let id = me["id"].as_str().unwrap().to_owned();
    let path = format!("/api/admin/users/{id}/logout");
    // Voters cannot sign others out.
    assert_error(
        send(&app, Method::POST, &path, Some(&phone), None).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let response = send(&app, Method::POST, &path, Some(&admin), None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&app, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me_status(&app, &admin).await,
        StatusCode::OK,
        "the admin's own session"
    );
    let audit: serde_json::Value = app.get_authed_json("/api/admin/audit", &admin).await;
    let entry = &audit["entries"][0];
    assert_eq!(entry["action"], "user.logout_everywhere", "{audit}");
    assert_eq!(entry["target_type"], "user");
    assert_eq!(entry["target_id"], id.as_str());
    assert_eq!(entry["after"]["email"], email);
    assert_error(
        send(
            &app,
            Method::POST,
            &format!("/api/admin/users/{}/logout", uuid::Uuid::new_v4()),
            Some(&admin),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
    let document: serde_json::Value = app.get_json("/api/openapi.json").await;
    assert!(document["paths"]["/api/auth/logout"]["post"].is_object());
    assert!(document["paths"]["/api/admin/users/{id}/logout"]["post"].is_object());
    app.stop().await;
}

mod slow_clients {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use crate::helpers::{Kind, TestApp, TestDatabase};

    async fn app_with(header: u64, idle: u64, per_ip: usize) -> (TestDatabase, TestApp) {
        let mut db = TestDatabase::new(Kind::Sqlite).await;
        db.settings.security.header_read_timeout_seconds = header;
        db.settings.security.idle_timeout_seconds = idle;
        db.settings.security.max_connections_per_ip = per_ip;
        let app = db.spawn().await;
        (db, app)
    }

    /// Reads until the server closes the connection; how long that took, and what it sent.
    async fn wait_for_close(
        stream: &mut (impl AsyncReadExt + Unpin),
        limit: Duration,
    ) -> (Duration, String) {
        let started = Instant::now();
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buffer)).await
            {
                Err(_) => panic!(
                    "still open after {limit:?}; received {:?}",
                    String::from_utf8_lossy(&received)
                ),
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            }
        }
        (
            started.elapsed(),
            String::from_utf8_lossy(&received).into_owned(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_half_sent_request_is_closed_after_the_header_timeout() {
        let (_db, app) = app_with(2, 60, 0).await;
        let stream = TcpStream::connect(app.addr).await.unwrap();
        let (mut stream, mut sender) = stream.into_split();
        sender
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // One more header line every 0.7 s: the timeout does not restart with each of them.
        let trickle = tokio::spawn(async move {
            for n in 0..20 {
                tokio::time::sleep(Duration::from_millis(700)).await;
                if sender
                    .write_all(format!("X-Slow-{n}: 1\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let (took, _) = wait_for_close(&mut stream, Duration::from_secs(8)).await;
        assert!(took >= Duration::from_millis(1500), "closed after {took:?}");
        trickle.abort();
        // Ordinary requests are unaffected.
        assert_eq!(app.get("/health").await.status(), reqwest::StatusCode::OK);
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_connection_is_closed_after_the_idle_timeout() {
        let (_db, app) = app_with(10, 2, 0).await;
        // Silent from the start.
        let mut silent = TcpStream::connect(app.addr).await.unwrap();
        // Kept alive after one request.
        let mut kept = TcpStream::connect(app.addr).await.unwrap();
        kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buffer = [0u8; 1024];
        let n = kept.read(&mut buffer).await.unwrap();
        assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
        let (took, _) = wait_for_close(&mut kept, Duration::from_secs(8)).await;
        assert!(took >= Duration::from_millis(1500), "closed after {took:?}");
        wait_for_close(&mut silent, Duration::from_secs(8)).await;
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_address_cannot_hold_more_than_its_connections() {
        let (_db, app) = app_with(30, 60, 3).await;
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(TcpStream::connect(app.addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut extra = TcpStream::connect(app.addr).await.unwrap();
        let _ = extra
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let (_, answer) = wait_for_close(&mut extra, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
        assert!(answer.contains(r#""code":"unavailable""#), "{answer:?}");
        // Once one is closed, the address may connect again.
        drop(held.pop());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut again = TcpStream::connect(app.addr).await.unwrap();
        again
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let (_, answer) = wait_for_close(&mut again, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        drop(held);
        app.stop().await;
    }
}
