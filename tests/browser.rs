//! End-to-end tests: the real `securevote` binary (embedded SQLite, fresh data directory) driven
//! through the real UI in a headless Chromium, via chromedriver and WebDriver (fantoccini).
//!
//! Every test starts its own server and its own chromedriver on free ports of 127.0.0.1; both
//! are stopped by `Drop` guards, also when an assertion fails. Waits are explicit (poll the page
//! until a condition holds), and a failure message includes the page's visible text. Every page
//! a test visits goes through axe-core (WCAG 2.0, 2.1 and 2.2, A and AA) in the light and the
//! dark colour scheme, is checked for horizontal scrolling at 320 px, and is photographed into
//! `target/screenshots/`. The harness is in tests/support/browser.rs.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages `chromium` and
//! `chromium-driver`) and npm (axe-core is fetched by scripts/fetch-axe on first use); the
//! tests fail, rather than skip, when they are missing.

#[path = "support/smtp.rs"]
mod smtp;
#[path = "support/browser.rs"]
mod support;
#[path = "support/trustees.rs"]
mod trustees;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;
// ------------------------------------------------------------------------------------------
// The tests.
// ------------------------------------------------------------------------------------------

/// Register → log out → wrong password → log in → ballot → confirmation (and back) → vote →
/// "you voted" and the results → reload → a second tab of the same voter tries to vote again.
/// Also: same-origin loads only, the CSP header, a clean console, and the screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voter_registers_votes_once_and_sees_the_result() {
    let server = Server::start(&[]).await;
    let api = Api::new(&server);
    let candidates = api.candidates().await;
    for name in ["John Doe", "Jane Smith", "Alex Johnson", "Chris Lee"] {
        assert!(
            candidates.contains_key(name),
            "seeded candidate {name}: {candidates:?}"
        );
    }
    let jane = candidates["Jane Smith"].clone();
    let john = candidates["John Doe"].clone();

    // The page is served with a same-origin-only Content-Security-Policy.
    let response = http().get(server.url("/")).send().await.expect("GET /");
    assert_eq!(response.status(), 200, "GET /");
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "CSP of /: {csp:?}");

    let driver = Driver::start().await;
    let browser = driver.browser(&server).await;

    // --- Login screen, with the (empty) live results beside it.
    browser.goto("/").await;
    browser.wait_visible("login-form").await;
    browser
        .assert_hidden(&["register-form", "voting", "logout", "auth-error"])
        .await;
    browser.wait_text("results-total", "0 votes cast").await;
    browser.assert_same_origin_only().await;
    browser.check_page("login").await;

    // --- Register; the new voter is logged in automatically.
    let email = "alice@example.com";
    browser.click("show-register").await;
    browser.wait_visible("register-form").await;
    browser.assert_hidden(&["login-form"]).await;
    browser.type_into("register-email", email).await;
    // A common password is refused, and the page says why (the server's reason).
    browser.type_into("register-password", "12345678").await;
    browser.click("register-submit").await;
    browser
        .wait_text("auth-error", "Password is one of the most common passwords")
        .await;
    browser.type_into("register-password", PASSWORD).await;
    browser.click("register-submit").await;
    browser.wait_visible("ballot").await;
    browser.wait_text("whoami", email).await;
    let stored = browser.session_storage().await;
    assert!(
        stored.as_str().is_some_and(|s| s.contains("\"token\"")),
        "the session token should be in sessionStorage: {stored}"
    );

    // --- Log out, then a wrong password shows its error and does not log in.
    let session: Value = serde_json::from_str(stored.as_str().unwrap()).unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    assert_eq!(api.me_status(&token).await, 200);
    browser.click("logout").await;
    browser.wait_visible("login-form").await;
    browser.assert_hidden(&["voting", "logout"]).await;
    assert_eq!(
        browser.session_storage().await,
        Value::Null,
        "logout clears the session"
    );
    // The server ended the session too: the token no longer works.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while api.me_status(&token).await != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the token still works after logging out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ui_log_in(&browser, email, "not the right password").await;
    browser.wait_text("auth-error", WRONG_CREDENTIALS).await;
    browser.assert_hidden(&["voting", "ballot"]).await;
    browser.check_page("wrong-password").await;

    // --- The right password logs in.
    ui_log_in(&browser, email, PASSWORD).await;
    browser.wait_visible("ballot").await;
    browser
        .assert_hidden(&["auth", "auth-error", "confirm", "voted"])
        .await;
    browser.wait_text("whoami", email).await;

    // A second tab of the same voter, still showing the ballot: used below to vote again.
    let first_tab = browser.client.window().await.expect("current window");
    let second_tab = browser
        .client
        .new_window(true)
        .await
        .expect("open a second tab")
        .handle;
    browser
        .client
        .switch_to_window(second_tab.clone())
        .await
        .expect("switch to the second tab");
    browser.goto("/").await;
    ui_log_in(&browser, email, PASSWORD).await;
    browser.wait_visible("ballot").await;
    browser
        .client
        .switch_to_window(first_tab.clone())
        .await
        .expect("switch back to the first tab");

    // --- The ballot lists every candidate with a radio button and a label.
    let ballot = browser.wait_text("ballot", "Chris Lee").await;
    for name in candidates.keys() {
        assert!(
            ballot.contains(name.as_str()),
            "ballot should list {name}:\n{ballot}"
        );
    }
    let radios = browser
        .js(
            "return document.querySelectorAll('#ballot input[type=radio][name=candidate]').length;",
            vec![],
        )
        .await;
    assert_eq!(
        radios,
        json!(candidates.len()),
        "one radio button per candidate"
    );
    browser.check_page("ballot").await;

    // Reviewing without a choice asks for one.
    browser.click("ballot-submit").await;
    browser
        .wait_text("vote-error", "Please choose a candidate first.")
        .await;
    browser.assert_hidden(&["confirm"]).await;

    // --- Choose, review, go back (the choice is kept), review again, confirm.
    browser.choose_candidate("Jane Smith", &jane).await;
    browser.click("ballot-submit").await;
    browser.wait_text("confirm-text", "Jane Smith").await;
    browser
        .assert_hidden(&["ballot", "voted", "vote-error"])
        .await;
    browser.check_page("confirm").await;
    browser.click("confirm-back").await;
    browser.wait_visible("ballot").await;
    let still_checked = browser
        .js(
            "const c = document.querySelector('input[name=candidate]:checked'); return c && c.value;",
            vec![],
        )
        .await;
    assert_eq!(still_checked, json!(jane), "going back keeps the choice");
    browser.click("ballot-submit").await;
    browser.wait_text("confirm-text", "Jane Smith").await;
    browser.click("confirm-vote").await;

    // --- The "you voted" state, and the vote in the live results.
    let voted = browser.wait_text("voted-text", "You voted for").await;
    assert!(
        voted.contains("Jane Smith"),
        "voted text names the candidate: {voted:?}"
    );
    browser
        .assert_hidden(&["ballot", "confirm", "vote-error"])
        .await;
    browser.wait_text("results-total", "1 vote cast").await;
    let row = browser.wait_result(&jane, "Jane Smith", "1").await;
    assert_eq!(row["percent"], json!("100%"), "Jane Smith's share: {row}");
    assert_eq!(
        row["mine"],
        json!(true),
        "the voter's own choice is marked: {row}"
    );
    let other = browser.result_row(&john).await;
    assert_eq!(other["votes"], json!("0"), "John Doe has no vote: {other}");
    assert_eq!(other["percent"], json!("0%"), "John Doe's share: {other}");
    browser.check_page("voted").await;
    browser.screenshot("results", Some("results")).await;

    // --- A reload keeps the session and shows the recorded vote.
    browser.client.refresh().await.expect("reload the page");
    let voted = browser.wait_text("voted-text", "You voted for").await;
    assert!(voted.contains("Jane Smith"), "after reload: {voted:?}");
    browser.wait_text("whoami", email).await;
    browser.assert_hidden(&["auth", "ballot", "confirm"]).await;
    browser.wait_text("results-total", "1 vote cast").await;
    browser.wait_result(&jane, "Jane Smith", "1").await;
    browser.assert_same_origin_only().await;

    // --- Voting again, from the tab that still shows the ballot, is refused.
    browser
        .client
        .switch_to_window(second_tab)
        .await
        .expect("switch to the second tab");
    browser.wait_visible("ballot").await;
    browser.choose_candidate("John Doe", &john).await;
    browser.click("ballot-submit").await;
    browser.wait_text("confirm-text", "John Doe").await;
    browser.click("confirm-vote").await;
    browser.wait_text("vote-error", ALREADY_VOTED).await;
    let voted = browser.wait_text("voted-text", "You voted for").await;
    assert!(
        voted.contains("Jane Smith"),
        "the recorded vote (Jane Smith) is shown, not the refused one: {voted:?}"
    );
    browser.assert_hidden(&["ballot", "confirm"]).await;
    browser.check_page("already-voted").await;

    let results = api.results().await;
    assert_eq!(
        results["total_votes"],
        json!(1),
        "still one vote: {results}"
    );

    browser.assert_clean_console().await;
    browser
        .client
        .switch_to_window(first_tab)
        .await
        .expect("switch to the first tab");
    browser.assert_clean_console().await;
    browser.close().await;
}

/// Another voter's vote shows up in the first voter's open page within one refresh interval,
/// without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_voters_vote_appears_within_the_refresh_interval() {
    let server = Server::start(&[]).await;
    let api = Api::new(&server);
    let candidates = api.candidates().await;
    let alex = candidates["Alex Johnson"].clone();
    let chris = candidates["Chris Lee"].clone();
    api.register("first@example.com").await;
    api.register("second@example.com").await;

    let driver = Driver::start().await;
    let browser = driver.browser(&server).await;
    browser.goto("/").await;
    ui_log_in(&browser, "first@example.com", PASSWORD).await;
    browser.wait_visible("ballot").await;
    browser.choose_candidate("Alex Johnson", &alex).await;
    browser.click("ballot-submit").await;
    browser.wait_text("confirm-text", "Alex Johnson").await;
    browser.click("confirm-vote").await;
    browser.wait_text("voted-text", "Alex Johnson").await;
    browser.wait_text("results-total", "1 vote cast").await;
    browser.wait_result(&alex, "Alex Johnson", "1").await;

    // The second voter votes elsewhere (through the API).
    let token = api.login("second@example.com").await;
    api.vote(&token, &chris).await;
    let cast_at = Instant::now();

    browser.wait_text("results-total", "2 votes cast").await;
    let row = browser.wait_result(&chris, "Chris Lee", "1").await;
    let elapsed = cast_at.elapsed();
    assert!(
        elapsed <= RESULTS_INTERVAL + Duration::from_secs(2),
        "the new vote took {elapsed:?} to appear; the page refreshes every {RESULTS_INTERVAL:?}"
    );
    assert_eq!(row["percent"], json!("50%"), "Chris Lee's share: {row}");
    assert_eq!(
        row["mine"],
        json!(false),
        "not the first voter's choice: {row}"
    );
    let mine = browser.result_row(&alex).await;
    assert_eq!(
        mine["percent"],
        json!("50%"),
        "Alex Johnson's share: {mine}"
    );
    assert_eq!(
        mine["mine"],
        json!(true),
        "the first voter's choice: {mine}"
    );
    browser.assert_same_origin_only().await;
    browser.close().await;
}

/// When the token expires, the page goes back to the login form with the expiry message, both
/// on its own timer and when the server refuses a stored token after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_returns_to_login_with_a_message() {
    let server = Server::start(&[("JWT_TTL_SECONDS", "3")]).await;
    let api = Api::new(&server);
    let email = "carol@example.com";
    api.register(email).await;
    // A token that will be expired by the time it is used below.
    let stale_token = api.login(email).await;

    let driver = Driver::start().await;
    let browser = driver.browser(&server).await;
    browser.goto("/").await;
    ui_log_in(&browser, email, PASSWORD).await;
    browser.wait_visible("ballot").await;

    // The page's own timer ends the session when the token expires.
    browser.wait_text("auth-error", SESSION_EXPIRED).await;
    browser.wait_visible("login-form").await;
    let status = browser
        .js(
            "return document.getElementById('status').innerText;",
            vec![],
        )
        .await;
    assert!(
        !status.as_str().unwrap_or_default().contains("Logged in"),
        "the status line must not still say the voter is logged in: {status}"
    );
    browser
        .assert_hidden(&["voting", "logout", "register-form"])
        .await;
    let prefilled = browser
        .js(
            "return document.getElementById('login-email').value;",
            vec![],
        )
        .await;
    assert_eq!(prefilled, json!(email), "the login form keeps the email");
    assert_eq!(
        browser.session_storage().await,
        Value::Null,
        "expired session is forgotten"
    );
    browser.check_page("session-expired").await;

    // A stored session the page believes valid but the server refuses (e.g. clock skew):
    // reloading asks the server, gets 401, and shows the same message.
    let deadline = Instant::now() + WAIT;
    while api.me_status(&stale_token).await != 401 {
        assert!(
            Instant::now() < deadline,
            "the 3-second token never expired"
        );
        tokio::time::sleep(POLL).await;
    }
    browser
        .js(
            "sessionStorage.setItem('securevote.session', JSON.stringify(
                 { token: arguments[0], expiresAt: Date.now() + 3600000, email: arguments[1] }));",
            vec![json!(stale_token), json!(email)],
        )
        .await;
    browser.client.refresh().await.expect("reload the page");
    browser.wait_text("auth-error", SESSION_EXPIRED).await;
    browser.wait_visible("login-form").await;
    browser.assert_hidden(&["voting", "ballot"]).await;
    assert_eq!(
        browser.session_storage().await,
        Value::Null,
        "refused session is forgotten"
    );

    // Logging in again works.
    ui_log_in(&browser, email, PASSWORD).await;
    browser.wait_visible("ballot").await;
    browser.assert_hidden(&["auth-error"]).await;
    browser.close().await;
}

// ------------------------------------------------------------------------------------------
// Elections: the admin console and the voter portal.
// ------------------------------------------------------------------------------------------

const ADMIN: &str = "officer@example.org";
const SLUG: &str = "club-board-2026";
const PUBLISH_WARNING: &str = "Publishing shows the results to everyone. This cannot be undone.";

/// A field of the election form, by its path in the election document.
fn path(p: &str) -> String {
    format!("#election-form [data-path=\"{p}\"]")
}

/// The admin creates an election with a plurality, a ranked (STV) and a score contest in the
/// console (with a validation error on the way), imports a second one from JSON, schedules and
/// opens the first behind confirmations; one voter votes with the keyboard only, another on a
/// 375 px phone in German; turnout counts both without a reload; results stay embargoed until
/// the admin closes and publishes; both voters see the results with the rounds of the count;
/// the audit log pages and filters. axe-core, dark scheme and 320 px on every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_election_from_the_console_to_the_published_results() {
    let server = Server::start(&[]).await;
    let api = Api::new(&server);
    api.register(ADMIN).await;
    server.promote_admin(ADMIN);
    api.register("kim@example.org").await;
    api.register("lena@example.de").await;

    let driver = Driver::start().await;
    let admin = driver.browser(&server).await;

    // --- The console asks for a login first, then shows the elections.
    admin.goto("/admin").await;
    ui_log_in(&admin, ADMIN, PASSWORD).await;
    admin.wait_visible("admin-new").await;
    admin.wait_visible("nav-admin").await;
    admin
        .wait_css_text("#admin-election-table", "Election")
        .await;
    admin.check_page("admin-console").await;

    // --- A new election by form.
    admin.click("admin-new").await;
    admin.wait_visible("election-form").await;
    admin.type_css(&path("title"), "Club board 2026").await;
    let slug = admin
        .js(
            "return document.querySelector('[data-path=slug]').value;",
            vec![],
        )
        .await;
    assert_eq!(slug, json!(SLUG), "the web address follows the title");
    admin.select_css(&path("timezone"), "Europe/Berlin").await;
    admin.select_css(&path("results"), "after_publish").await;
    admin.type_css(&path("contests[0].title"), "Chair").await;
    admin
        .type_css(&path("contests[0].choices[0].name"), "Ada")
        .await;
    admin
        .type_css(&path("contests[0].choices[1].name"), "Grace")
        .await;
    admin
        .click_css("#election-form [data-action=add-choice]")
        .await;
    // Saving with the new choice left empty: the error is announced and tied to the field.
    admin.click("election-save").await;
    admin
        .wait_css_text("#form-errors", "Enter the name of choice 3 of contest 1")
        .await;
    let tied = admin
        .js(
            "const input = document.querySelector('[data-path=\"contests[0].choices[2].name\"]');
             const ids = (input.getAttribute('aria-describedby') || '').split(' ');
             return { invalid: input.getAttribute('aria-invalid'), focused: document.activeElement === input,
                      described: ids.map((id) => document.getElementById(id)?.innerText || '').join(' | ') };",
            vec![],
        )
        .await;
    assert_eq!(tied["invalid"], json!("true"), "{tied}");
    assert_eq!(
        tied["focused"],
        json!(true),
        "focus goes to the field: {tied}"
    );
    assert!(
        tied["described"]
            .as_str()
            .unwrap_or_default()
            .contains("Enter the name of choice 3"),
        "the error is the field's description: {tied}"
    );
    admin.check_page("admin-form-error").await;
    admin
        .type_css(&path("contests[0].choices[2].name"), "Linus")
        .await;

    admin.click("add-contest").await;
    admin.type_css(&path("contests[1].title"), "Board").await;
    admin
        .select_css(&path("contests[1].method"), "stv-scottish")
        .await;
    admin.type_css(&path("contests[1].seats"), "2").await;
    admin
        .type_css(&path("contests[1].choices[0].name"), "Ada")
        .await;
    admin
        .type_css(&path("contests[1].choices[1].name"), "Grace")
        .await;
    admin
        .click_css("#election-form fieldset[data-index='1'] [data-action=add-choice]")
        .await;
    admin
        .type_css(&path("contests[1].choices[2].name"), "Linus")
        .await;

    admin.click("add-contest").await;
    admin.type_css(&path("contests[2].title"), "Projects").await;
    admin.select_css(&path("contests[2].method"), "score").await;
    admin.type_css(&path("contests[2].max_score"), "5").await;
    admin
        .type_css(&path("contests[2].choices[0].name"), "Garden")
        .await;
    admin
        .type_css(&path("contests[2].choices[1].name"), "Library")
        .await;
    admin.check_page("admin-form").await;
    admin.click("election-save").await;
    admin.wait_text("admin-state", "Draft").await;
    admin.check_page("admin-election-draft").await;

    // --- A second election, imported from JSON.
    admin.goto("/admin/elections/new").await;
    admin.click_css("#import-section summary").await;
    admin
        .type_css(
            "#import-section textarea",
            &json!({
                "slug": "referendum",
                "title": "Imported referendum",
                "timezone": "America/New_York",
                "opens_at": "2030-01-15T15:00:00Z",
                "contests": [{ "title": "New statutes?", "method": "approval",
                               "choices": [{ "name": "Yes" }, { "name": "No" }] }]
            })
            .to_string(),
        )
        .await;
    admin.click("import-load").await;
    let title = admin
        .js(
            "return document.querySelector('[data-path=title]').value;",
            vec![],
        )
        .await;
    assert_eq!(
        title,
        json!("Imported referendum"),
        "the import fills the form"
    );
    admin.check_page("admin-import").await;
    admin.click("election-save").await;
    admin.wait_text("admin-state", "Draft").await;
    admin.click("action-schedule").await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("admin-state", "Scheduled").await;

    // --- Schedule and open the first one, each behind its confirmation.
    admin.goto(&format!("/admin/elections/{SLUG}")).await;
    admin.click("action-schedule").await;
    admin
        .wait_text("confirm-dialog-text", "freezes the ballot")
        .await;
    admin.check_page("admin-confirm-schedule").await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("admin-state", "Scheduled").await;
    admin.click("action-open").await;
    admin
        .wait_text("confirm-dialog-title", "Open voting now?")
        .await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("admin-state", "Open").await;
    admin.wait_text("turnout-figure", "0 ballots cast").await;
    admin.check_page("admin-election-open").await;

    // --- Voter 1, keyboard only.
    let kim = driver.browser(&server).await;
    kim.goto(&format!("/elections/{SLUG}")).await;
    kim.wait_visible("login-to-vote-button").await;
    kim.tab_to("#login-to-vote-button").await;
    kim.assert_focus_visible().await;
    kim.keys(ENTER).await;
    kim.wait_visible("login-form").await;
    kim.tab_to("#login-email").await;
    kim.keys("kim@example.org").await;
    kim.keys(TAB).await;
    kim.keys(PASSWORD).await;
    kim.keys(ENTER).await;
    kim.wait_visible("election-ballot").await;

    // The ballot page on Chromium's slow-3G profile (400 ms latency, 50 KB/s), without cache.
    kim.cdp("Network.enable", json!({})).await;
    kim.cdp("Network.setCacheDisabled", json!({ "cacheDisabled": true }))
        .await;
    kim.cdp(
        "Network.emulateNetworkConditions",
        json!({ "offline": false, "latency": 400, "downloadThroughput": 51200, "uploadThroughput": 51200 }),
    )
    .await;
    let started = Instant::now();
    kim.client.refresh().await.expect("reload the ballot page");
    let deadline = started + Duration::from_secs(60);
    loop {
        let ready = kim
            .js(
                "const b = document.getElementById('election-ballot'); return !!b && b.checkVisibility();",
                vec![],
            )
            .await;
        if ready == json!(true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the ballot page did not load within 60 s on slow 3G"
        );
        tokio::time::sleep(POLL).await;
    }
    let slow = started.elapsed();
    println!("ballot page usable on slow 3G (400 ms, 50 KB/s, no cache) after {slow:.1?}");
    assert!(
        slow < Duration::from_secs(20),
        "the ballot page took {slow:?} on slow 3G"
    );
    kim.cdp(
        "Network.emulateNetworkConditions",
        json!({ "offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1 }),
    )
    .await;
    kim.cdp(
        "Network.setCacheDisabled",
        json!({ "cacheDisabled": false }),
    )
    .await;
    let (weight, resources) = kim.page_weight().await;
    println!(
        "page weight of the ballot page: {weight} bytes ({:.1} KB, {} resources, uncompressed)",
        weight as f64 / 1000.0,
        resources.len()
    );
    for (url, size) in &resources {
        println!("  {size:>7}  {url}");
    }
    assert!(
        weight < 250_000,
        "the ballot page weighs {weight} bytes: {resources:?}"
    );
    kim.check_page("ballot-election").await;

    // Reviewing an empty ballot: errors per contest, announced, focus on the first.
    kim.tab_to("#ballot-review").await;
    kim.keys(ENTER).await;
    kim.wait_css_text("#ballot-errors", "Chair").await;
    kim.wait_css_text("#contest-0-error", "Choose exactly one.")
        .await;
    kim.check_page("ballot-election-errors").await;

    // Chair: the radio group, with the arrow keys.
    kim.tab_to("input[name=contest-0]").await;
    kim.keys(SPACE).await;
    kim.keys(ARROW_DOWN).await;
    // Board (STV): rank Linus, then Ada, then move Ada up.
    kim.tab_to("button[aria-label='Add to ranking: Linus']")
        .await;
    kim.assert_focus_visible().await;
    kim.keys(ENTER).await;
    kim.tab_to("button[aria-label='Add to ranking: Ada']").await;
    kim.keys(ENTER).await;
    kim.tab_to("button[aria-label='Move up: Ada']").await;
    kim.keys(ENTER).await;
    let order = kim
        .js(
            "return [...document.querySelectorAll('#contest-1 .ranked-item .ranked-name')].map((n) => n.lastChild.textContent);",
            vec![],
        )
        .await;
    assert_eq!(order, json!(["Ada", "Linus"]), "ranked with the keyboard");
    // Projects: a score per choice.
    kim.tab_to("#contest-2 select[data-choice-id]").await;
    kim.keys("4").await;
    kim.check_page("ballot-election-filled").await;
    kim.tab_to("#ballot-review").await;
    kim.keys(ENTER).await;
    let review = kim.wait_text("ballot-review-card", "1. Ada").await;
    for needle in ["Grace", "2. Linus", "Garden: 4 of 5", "Library"] {
        if needle == "Library" {
            assert!(
                !review.contains("Library:"),
                "Library has no score: {review}"
            );
        } else {
            assert!(review.contains(needle), "review shows {needle}: {review}");
        }
    }
    kim.check_page("ballot-review").await;
    kim.tab_to("#ballot-cast").await;
    kim.keys(ENTER).await;
    kim.wait_visible("receipt-code").await;
    let receipt = kim
        .js(
            "return document.getElementById('receipt-code').innerText;",
            vec![],
        )
        .await;
    assert!(
        uuid::Uuid::parse_str(receipt.as_str().unwrap_or_default()).is_ok(),
        "receipt: {receipt}"
    );
    kim.click("receipt-copy").await;
    kim.wait_text("receipt-copy-status", "receipt").await;
    kim.check_page("receipt").await;

    // --- Voter 2, on a 375 px phone, in German (from the browser's Accept-Language).
    let lena = driver.browser_in(&server, "de-DE").await;
    lena.viewport(Some((375, 812))).await;
    lena.goto("/elections").await;
    lena.wait_text("page-title", "Wahlen").await;
    let lang = lena
        .js("return document.documentElement.lang;", vec![])
        .await;
    assert_eq!(lang, json!("de"));
    lena.click_css("#view .notice .link-button").await;
    ui_log_in(&lena, "lena@example.de", PASSWORD).await;
    lena.wait_css_text(&format!("[data-slug='{SLUG}']"), "Jetzt abstimmen")
        .await;
    lena.assert_no_horizontal_scroll("the election list at 375 px")
        .await;
    lena.click_css(&format!("[data-slug='{SLUG}'] a.button-primary"))
        .await;
    lena.wait_visible("election-ballot").await;
    lena.wait_text("ballot-review", "Stimmzettel prüfen").await;
    lena.assert_no_horizontal_scroll("the ballot at 375 px")
        .await;
    lena.screenshot("ballot-de-375", None).await;
    lena.click_css("#contest-0 li[data-choice-id] label").await; // Ada
    lena.click_css("button[aria-label='Hinzufügen zur Rangfolge: Grace']")
        .await;
    lena.click_css("button[aria-label='Hinzufügen zur Rangfolge: Ada']")
        .await;
    lena.select_css("#contest-2 li:nth-child(2) select", "5")
        .await;
    lena.axe("ballot (de, 375 px)").await;
    lena.click("ballot-review").await;
    lena.wait_text("ballot-review-card", "1. Grace").await;
    lena.wait_text("ballot-review-card", "Library: 5 von 5")
        .await;
    lena.click("ballot-cast").await;
    lena.wait_text("receipt-heading", "Ihr Stimmzettel wurde abgegeben")
        .await;
    lena.axe("receipt (de, 375 px)").await;
    lena.screenshot("receipt-de-375", None).await;

    // The language switch: French, remembered on the next page load.
    lena.select_css("#lang-select", "fr").await;
    lena.wait_text("page-title", "Club board 2026").await;
    lena.wait_css_text("#view", "Vous avez voté").await;
    lena.goto("/elections").await;
    lena.wait_text("page-title", "Élections").await;
    lena.wait_css_text(&format!("[data-slug='{SLUG}']"), "Vous avez voté")
        .await;
    lena.check_page("elections-fr").await;

    // --- Turnout counts both ballots, without a reload.
    admin.wait_text("turnout-figure", "2 ballots cast").await;

    // --- Embargo until published.
    kim.goto(&format!("/elections/{SLUG}/results")).await;
    kim.wait_visible("results-embargoed").await;
    kim.check_page("results-embargoed").await;
    kim.goto("/elections").await;
    kim.wait_css_text(&format!("[data-slug='{SLUG}']"), "You have voted")
        .await;
    let voted = kim
        .js(
            "return !!document.querySelector(`[data-slug='${arguments[0]}'] [data-voted]`);",
            vec![json!(SLUG)],
        )
        .await;
    assert_eq!(
        voted,
        json!(true),
        "the list marks where the voter has voted"
    );
    // Scheduled: the opening time in the election's zone (New York) and in the voter's own.
    let coming = kim
        .wait_css_text(
            "#group-scheduled-section [data-slug=referendum]",
            "your time",
        )
        .await;
    assert!(
        coming.contains("Jan 15, 2030, 10:00 AM EST") && coming.contains("3:00 PM UTC"),
        "opening time in both zones: {coming}"
    );
    kim.check_page("elections").await;

    // Extend: the dialog asks for the new closing time (prefilled an hour from now).
    admin.click("action-extend").await;
    admin
        .wait_text("confirm-dialog-text", "until the new closing time")
        .await;
    admin
        .find_css("#confirm-dialog-extra input[type=datetime-local]")
        .await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("status", "has been extended").await;
    admin.wait_text("admin-state", "Open").await;
    // Escape cancels a confirmation: nothing changes.
    admin.click("action-close").await;
    admin.wait_visible("confirm-dialog").await;
    admin.keys(ESCAPE).await;
    let open = admin
        .js(
            "return document.getElementById('confirm-dialog').open;",
            vec![],
        )
        .await;
    assert_eq!(open, json!(false), "Escape closes the dialog");
    admin.wait_text("admin-state", "Open").await;
    admin.click("action-close").await;
    admin
        .wait_text("confirm-dialog-text", "This cannot be undone")
        .await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("admin-state", "Closed").await;
    admin.click("action-publish").await;
    admin
        .wait_text("confirm-dialog-text", PUBLISH_WARNING)
        .await;
    admin.check_page("admin-confirm-publish").await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("admin-state", "Results published").await;

    // --- Both voters see the results, with the rounds of the STV count.
    kim.goto(&format!("/elections/{SLUG}/results")).await;
    kim.wait_text("election-ballots", "2 ballots cast").await;
    let chair = kim.wait_css_text(".result-contest table", "Ada").await;
    assert!(chair.contains("Grace"), "the plurality table: {chair}");
    let rounds = kim.wait_css_text(".rounds-table", "Round 1").await;
    println!("rounds of the Board count:\n{rounds}");
    kim.check_page("results").await;
    lena.goto(&format!("/elections/{SLUG}/results")).await;
    lena.wait_css_text(".rounds-table", "Tour 1").await;
    lena.screenshot("results-fr-375", None).await;

    // --- The audit log, filtered by action.
    admin.goto("/admin/audit").await;
    admin.wait_css_text("#audit-table", "election").await;
    let publish = "election.publish";
    admin.select_css("#audit-filter", publish).await;
    // The server filters: wait for the page it answered for this action.
    let shown = admin
        .wait_js(
            "the audit page filtered by election.publish",
            "const body = document.querySelector('#audit-table tbody');
             return body.dataset.filter === arguments[0]
                 && [...body.querySelectorAll('tr')].map((r) => r.dataset.action);",
            vec![json!(publish)],
        )
        .await;
    assert_eq!(shown, json!([publish]), "the filter shows only {publish}");
    admin.select_css("#audit-filter", "election.").await;
    let shown = admin
        .wait_js(
            "the audit page filtered by election.*",
            "const body = document.querySelector('#audit-table tbody');
             return body.dataset.filter === 'election.'
                 && [...body.querySelectorAll('tr')].map((r) => r.dataset.action);",
            vec![],
        )
        .await;
    let shown: Vec<String> = serde_json::from_value(shown).expect("actions");
    assert!(
        shown.len() > 1 && shown.iter().all(|a| a.starts_with("election.")),
        "every election action, and only those: {shown:?}"
    );
    admin.select_css("#audit-filter", "").await;
    admin.check_page("admin-audit").await;

    // Pages of 3 entries: older, then newer again, each a different set.
    admin.goto("/admin/audit?per_page=3").await;
    admin
        .wait_text("audit-page-info", "Page 1: 3 entries")
        .await;
    let first = admin.main_text().await;
    admin.click("audit-older").await;
    admin.wait_text("audit-page-info", "Page 2").await;
    let second = admin.main_text().await;
    assert_ne!(first, second, "the older page shows other entries");
    admin.click("audit-newer").await;
    admin.wait_text("audit-page-info", "Page 1").await;
    assert!(
        admin
            .js(
                "return document.getElementById('audit-newer').disabled;",
                vec![]
            )
            .await
            == json!(true),
        "no newer page than the first"
    );

    for browser in [&admin, &kim, &lena] {
        browser
            .assert_same_origin_only_of(&["/app.js", "/style.css"])
            .await;
        browser.assert_clean_console().await;
    }
    admin.close().await;
    kim.close().await;
    lena.close().await;
}

const ROLL_SLUG: &str = "members-vote-2026";

/// A roll file of ten voters (five in North, five in South), with `bad` in place of line 4.
/// A published election with an STV and a Schulze contest, set up and voted through the API:
/// the results page shows the STV rounds as a chart next to their table, and the Schulze
/// pairwise matrix as a table whose cells are the ballots counted from what was cast; the
/// election's console page offers the exports (results JSON, the BLT file of each ranked
/// contest) and they download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_show_the_rounds_as_a_chart_and_the_pairwise_matrix_and_the_console_exports_them() {
    let server = Server::start(&[]).await;
    let api = Api::new(&server);
    api.register(ADMIN).await;
    server.promote_admin(ADMIN);
    let admin_token = api.login(ADMIN).await;
    let document = json!({
        "slug": "council",
        "title": "Council 2027",
        "timezone": "Europe/Paris",
        "results": "after_publish",
        "contests": [
            {"title": "Council", "method": "stv-scottish", "seats": 2,
             "choices": [{"name": "Ada"}, {"name": "Grace"}, {"name": "Linus"}, {"name": "Mary"}]},
            {"title": "Motto", "method": "schulze",
             "choices": [{"name": "Forward"}, {"name": "Together"}, {"name": "Onward"}]}
        ]
    });
    let election = api
        .call(
            reqwest::Method::POST,
            "/api/elections",
            &admin_token,
            Some(document),
            201,
        )
        .await;
    let id = election["id"].as_str().unwrap().to_owned();
    api.transition(&admin_token, &id, &["schedule", "open"])
        .await;
    let contest = |i: usize| election["contests"][i]["id"].as_str().unwrap().to_owned();
    let choice = |i: usize, j: usize| election["contests"][i]["choices"][j]["id"].clone();
    // Rankings by index: the STV contest, then the Schulze contest.
    let ballots: [(&[usize], &[usize]); 6] = [
        (&[0, 1], &[0, 1, 2]),
        (&[0, 2], &[0, 2, 1]),
        (&[0, 3, 1], &[1, 0, 2]),
        (&[1, 0], &[1, 2, 0]),
        (&[2, 1], &[2, 0, 1]),
        (&[3, 2], &[0, 1, 2]),
    ];
    for (n, (stv, schulze)) in ballots.iter().enumerate() {
        let email = format!("voter{n}@example.org");
        api.register(&email).await;
        let token = api.login(&email).await;
        let body = json!({"selections": {
            contest(0): {"ranking": stv.iter().map(|j| choice(0, *j)).collect::<Vec<_>>()},
            contest(1): {"ranking": schulze.iter().map(|j| choice(1, *j)).collect::<Vec<_>>()},
        }});
        let path = format!("/api/elections/{id}/ballots");
        api.call(reqwest::Method::POST, &path, &token, Some(body), 201)
            .await;
    }
    api.transition(&admin_token, &id, &["close", "publish"])
        .await;
    // What the matrix must show: d[a][b] = ballots ranking a above b.
    let mut expected = [[0u32; 3]; 3];
    for (_, ranking) in &ballots {
        for (pos, a) in ranking.iter().enumerate() {
            for b in &ranking[pos + 1..] {
                expected[*a][*b] += 1;
            }
        }
    }

    let driver = Driver::start().await;
    let admin = driver.browser(&server).await;
    admin.goto("/admin").await;
    ui_log_in(&admin, ADMIN, PASSWORD).await;
    admin.wait_visible("admin-new").await;

    admin.goto("/elections/council/results").await;
    admin.wait_css_text(".pairwise-table", "over Forward").await;
    let cells = admin
        .js(
            "return [...document.querySelectorAll('.pairwise-table tbody tr')].map((row) =>
               [...row.querySelectorAll('td')].map((td) => td.firstChild ? td.firstChild.textContent : ''));",
            vec![],
        )
        .await;
    let shown: Vec<Vec<String>> = serde_json::from_value(cells).unwrap();
    for (a, row) in shown.iter().enumerate() {
        for (b, cell) in row.iter().enumerate() {
            let want = if a == b {
                "–".to_owned()
            } else {
                expected[a][b].to_string()
            };
            assert_eq!(cell.trim(), want, "pairwise[{a}][{b}]: {shown:?}");
        }
    }
    let outcomes = admin
        .js(
            "return [...document.querySelectorAll('.pairwise-table td[data-outcome=win]')].length;",
            vec![],
        )
        .await;
    assert!(
        outcomes.as_u64().unwrap_or(0) >= 1,
        "a pairwise win is marked: {outcomes}"
    );
    let chart = admin
        .js(
            "const chart = document.querySelector('.rounds-chart');
             return chart && {
               hidden: chart.querySelector('.rounds-chart-grid').getAttribute('aria-hidden'),
               rounds: chart.querySelectorAll('.rounds-chart-round').length,
               table_rounds: chart.closest('.result-contest').querySelectorAll('.rounds-table thead th').length - 1,
             };",
            vec![],
        )
        .await;
    assert_eq!(
        chart["hidden"],
        json!("true"),
        "the chart is hidden from assistive technology: {chart}"
    );
    assert!(chart["rounds"].as_u64().unwrap_or(0) >= 2, "{chart}");
    assert_eq!(
        chart["rounds"], chart["table_rounds"],
        "one chart per round of the table: {chart}"
    );
    admin.check_page("results-rounds-pairwise").await;
    // The chart and the matrix in one picture (for the README).
    admin
        .js(
            "document.querySelector('.rounds-chart').scrollIntoView({block: 'start'});",
            vec![],
        )
        .await;
    admin.screenshot("results-count", None).await;

    admin.goto(&format!("/admin/elections/{id}")).await;
    admin.wait_visible("election-exports").await;
    admin.click("export-blt-0").await;
    admin
        .wait_text("election-export-status", "council-1.blt")
        .await;
    admin.click("export-results").await;
    admin
        .wait_text("election-export-status", "council-results.json")
        .await;
    admin.check_page("admin-exports").await;
    admin.assert_clean_console().await;
    admin.close().await;
}

/// The ballot cryptography in the real browser: web/crypto, loaded by Chromium from the
/// service, encrypts the shared test vectors to the same bytes and trackers as the Rust
/// implementation, verifies the Rust ballots, and the time to encrypt (and to verify) a ballot of
/// one 5-choice contest with its proofs is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_encrypts_the_shared_vectors_like_rust_and_its_encryption_time_is_printed() {
    const RUNS: u32 = 20;
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crates/crypto/tests/vectors/ballots.json"
        ))
        .expect("the shared ballot vectors"),
    )
    .unwrap();
    let server = Server::start(&[]).await;
    let driver = Driver::start().await;
    let browser = driver.browser(&server).await;
    browser.goto("/").await;
    let outcome = browser
        .js(
            "const [cases, runs] = arguments;
             return (async () => {
               const m = await import('/crypto/securevote-crypto.js');
               const contextOf = (c) => m.electionContext({ electionHash: c.election_hash, publicKey: c.public_key, contests: c.contests });
               const checked = [];
               for (const c of cases) {
                 const ctx = contextOf(c);
                 const { ballot, tracker } = m.encryptBallot(ctx, c.pseudonym, c.values, m.seededNonces(c.nonce_seed_utf8));
                 if (JSON.stringify(ballot) !== c.ballot_json) return { error: `${c.name}: the ballot differs from Rust's` };
                 if (m.toHex(m.ballotBytes(ballot)) !== c.ballot_bytes) return { error: `${c.name}: the ballot bytes differ` };
                 if (tracker.display !== c.tracker) return { error: `${c.name}: the tracker differs` };
                 m.verifyBallot(ctx, c.ballot, c.pseudonym);
                 checked.push(c.name);
               }
               const c = cases.find((x) => x.name === 'plurality-5');
               const ctx = contextOf(c);
               let last = null;
               const t0 = performance.now();
               for (let i = 0; i < runs; i++) last = m.encryptBallot(ctx, c.pseudonym, c.values, m.randomNonces()).ballot;
               const t1 = performance.now();
               for (let i = 0; i < runs; i++) m.verifyBallot(ctx, last, c.pseudonym);
               const t2 = performance.now();
               return { checked, encrypt_ms: (t1 - t0) / runs, verify_ms: (t2 - t1) / runs };
             })();",
            vec![vectors["cases"].clone(), json!(RUNS)],
        )
        .await;
    assert!(outcome.get("error").is_none(), "{outcome}");
    assert_eq!(
        outcome["checked"].as_array().map(Vec::len),
        vectors["cases"].as_array().map(Vec::len),
        "every vector checked: {outcome}"
    );
    println!(
        "browser ballot cryptography (headless Chromium, one contest of 5 choices, {RUNS} runs): \
         encrypt with proofs {:.1} ms, verify {:.1} ms per ballot",
        outcome["encrypt_ms"].as_f64().unwrap_or(f64::NAN),
        outcome["verify_ms"].as_f64().unwrap_or(f64::NAN)
    );
    browser.assert_clean_console().await;
    browser.close().await;
}

fn roll_csv(bad: Option<&str>) -> String {
    let mut lines = vec!["email,name,external_id,weight,groups".to_owned()];
    for i in 1..=10 {
        let group = if i <= 5 { "North" } else { "South" };
        lines.push(format!("voter{i}@example.org,Voter {i},M-{i:03},1,{group}"));
    }
    if let Some(bad) = bad {
        lines.insert(3, bad.to_owned());
    }
    lines.join("\n") + "\n"
}

/// The sign-in token of the newest message to `to` that is not among `seen`.
fn token_for(messages: &[String], to: &str, seen: &[String]) -> String {
    let tokens: Vec<String> = messages
        .iter()
        .filter(|m| smtp::recipient(m) == to)
        .filter_map(|m| smtp::link_token(m))
        .filter(|t| !seen.contains(t))
        .collect();
    assert_eq!(tokens.len(), 1, "one new link for {to}: {tokens:?}");
    tokens[0].clone()
}

/// An officer runs a roll election from the console with a real SMTP server: a roll with a bad
/// line (the dry run names it, import stays disabled), the fixed file imported, search, schedule
/// and open (the fingerprint shown), invitations sent; the voter follows the link taken out of
/// the delivered message and votes without a password; the link again says "you have voted";
/// a resend makes another voter's old link invalid, and the "request a new link" form brings a
/// working one; turnout per group follows without a reload. axe-core on every new page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roll_election_from_the_csv_to_the_ballot_by_invitation_link() {
    let sink = smtp::SmtpSink::start();
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let smtp_url = sink.url();
    let server = Server::start_on(
        port,
        &[
            ("SMTP_URL", smtp_url.as_str()),
            ("MAIL_FROM", "Officer <officer@example.org>"),
            ("PUBLIC_URL", public_url.as_str()),
            ("SMTP_MAX_PER_SECOND", "0"),
        ],
    )
    .await;
    let api = Api::new(&server);
    api.register(ADMIN).await;
    server.promote_admin(ADMIN);

    let driver = Driver::start().await;
    let admin = driver.browser(&server).await;
    admin.goto("/admin/elections/new").await;
    ui_log_in(&admin, ADMIN, PASSWORD).await;
    admin.wait_visible("election-form").await;
    admin.type_css(&path("title"), "Members vote 2026").await;
    admin.select_css(&path("eligibility"), "roll").await;
    admin.type_css(&path("contests[0].title"), "Chair").await;
    admin
        .type_css(&path("contests[0].choices[0].name"), "Ada")
        .await;
    admin
        .type_css(&path("contests[0].choices[1].name"), "Grace")
        .await;
    admin.click("election-save").await;
    admin.wait_text("admin-state", "Draft").await;
    admin
        .wait_text("roll-summary", "Import the roll before scheduling")
        .await;
    admin.check_page("admin-election-roll-draft").await;
    admin.click("roll-link").await;
    admin.wait_visible("roll-upload").await;
    admin.wait_visible("roll-empty").await;
    admin.check_page("admin-roll-draft").await;

    // --- A file with a bad line: the dry run names it, and the import stays disabled.
    let files = tempfile::tempdir().expect("a directory for the roll files");
    let bad_file = files.path().join("members-bad.csv");
    std::fs::write(
        &bad_file,
        roll_csv(Some("not-an-email,Nobody,M-999,1,North")),
    )
    .unwrap();
    admin.upload_file("#roll-file", &bad_file).await;
    admin.click("roll-check").await;
    admin
        .wait_text("roll-rejected-summary", "1 line of the file is rejected")
        .await;
    let rejected = admin
        .js(
            "return [...document.querySelectorAll('#roll-rejected tbody tr')].map((r) => r.innerText);",
            vec![],
        )
        .await;
    println!("dry run rejected: {rejected}");
    let rows = rejected.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 1, "one rejected line: {rejected}");
    let row = rows[0].as_str().unwrap_or_default();
    assert!(
        row.starts_with('4') && row.to_lowercase().contains("email"),
        "line 4 and its reason: {row}"
    );
    let disabled = admin
        .js(
            "return document.getElementById('roll-import').disabled;",
            vec![],
        )
        .await;
    assert_eq!(disabled, json!(true), "no import while lines are rejected");
    admin.check_page("admin-roll-dry-run-rejected").await;
    admin
        .js(
            "document.getElementById('roll-report').scrollIntoView();",
            vec![],
        )
        .await;
    admin.screenshot("admin-roll-report-rejected", None).await;

    // --- The fixed file: every line can be imported; import.
    let good_file = files.path().join("members.csv");
    std::fs::write(&good_file, roll_csv(None)).unwrap();
    admin.upload_file("#roll-file", &good_file).await;
    admin.click("roll-check").await;
    admin.wait_visible("roll-no-rejected").await;
    let added = admin
        .js(
            "return document.querySelector('#roll-counts [data-count=added]').innerText;",
            vec![],
        )
        .await;
    assert_eq!(added, json!("10"), "ten voters would be added");
    admin.check_page("admin-roll-dry-run-ok").await;
    admin.click("roll-import").await;
    admin.wait_text("roll-imported", "10 added").await;
    admin
        .wait_css_text("#roll-table", "voter10@example.org")
        .await;
    let draft_fingerprint = admin
        .js(
            "return document.getElementById('roll-draft-fingerprint').innerText;",
            vec![],
        )
        .await;
    admin.check_page("admin-roll-imported").await;
    admin.type_css("#roll-search", "voter7").await;
    admin.click("roll-search-submit").await;
    admin.wait_text("roll-page-info", "1 voter shown").await;
    admin.wait_css_text("#roll-table", "Voter 7").await;

    // --- Schedule and open; the roll's fingerprint is shown.
    admin.click("roll-back").await;
    admin.click("action-schedule").await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("admin-state", "Scheduled").await;
    admin.wait_text("roll-summary", "SHA-256").await;
    admin.click("action-open").await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("admin-state", "Open").await;
    admin.click("roll-link").await;
    admin.wait_visible("roll-fingerprint").await;
    let fingerprint = admin
        .js(
            "return document.getElementById('roll-fingerprint').innerText;",
            vec![],
        )
        .await;
    assert_eq!(
        fingerprint, draft_fingerprint,
        "the frozen roll's fingerprint is the imported one"
    );
    assert_eq!(
        fingerprint.as_str().map(str::len),
        Some(64),
        "{fingerprint}"
    );

    // --- Invitations, behind a confirmation; the real SMTP server receives one per voter.
    admin.click("roll-send").await;
    admin
        .wait_text("confirm-dialog-text", "has not been invited yet")
        .await;
    admin.check_page("admin-roll-confirm-send").await;
    admin.click("confirm-dialog-ok").await;
    admin
        .wait_text("status", "10 invitations are on their way")
        .await;
    let messages = sink.wait_for(10, Duration::from_secs(30)).await;
    assert_eq!(messages.len(), 10, "one message per voter");
    admin
        .wait_js(
            "every invitation shown as sent",
            "const cells = [...document.querySelectorAll('#roll-table td.delivery')];
             return cells.length === 10 && cells.every((c) => c.dataset.state === 'sent');",
            vec![],
        )
        .await;
    admin.check_page("admin-roll-sent").await;
    admin
        .screenshot("admin-roll-entries", Some("roll-entries"))
        .await;
    let token1 = token_for(&messages, "voter1@example.org", &[]);
    let token2 = token_for(&messages, "voter2@example.org", &[]);

    // --- Voter 1 follows the link: straight to the ballot, no password, the token out of the URL.
    let voter = driver.browser(&server).await;
    voter.goto(&format!("/#/magic/{token1}")).await;
    voter.wait_visible("election-ballot").await;
    let location = voter
        .js(
            "return { path: location.pathname, href: location.href };",
            vec![],
        )
        .await;
    assert_eq!(
        location["path"],
        json!(format!("/elections/{ROLL_SLUG}")),
        "{location}"
    );
    assert!(
        !location["href"]
            .as_str()
            .unwrap_or_default()
            .contains(&token1),
        "the link's token is gone from the address bar: {location}"
    );
    voter.wait_text("whoami", "voter1@example.org").await;
    voter.check_page("magic-ballot").await;
    voter.click_css("#contest-0 li[data-choice-id] label").await;
    voter.click("ballot-review").await;
    voter.wait_text("ballot-review-card", "Ada").await;
    voter.click("ballot-cast").await;
    voter.wait_visible("receipt-code").await;
    voter.check_page("magic-receipt").await;

    // The same link again: "you have voted", and nothing else.
    voter.goto(&format!("/elections#/magic/{token1}")).await;
    voter.wait_visible("magic-voted").await;
    let ballot = voter
        .js(
            "return !!document.getElementById('election-ballot');",
            vec![],
        )
        .await;
    assert_eq!(ballot, json!(false), "no ballot after voting");
    voter.check_page("magic-voted").await;

    // --- Turnout per group and participation follow without a reload.
    admin
        .wait_js(
            "North to show 1 voted",
            "const row = document.querySelector('#roll-turnout-table tr[data-group=North]');
             return !!row && row.cells[2].innerText === '1';",
            vec![],
        )
        .await;
    admin
        .wait_text("roll-turnout-figure", "1 of 10 voters")
        .await;
    let turnout = admin
        .js(
            "return document.getElementById('roll-turnout-table').innerText;",
            vec![],
        )
        .await;
    println!(
        "turnout per group:\n{}",
        turnout.as_str().unwrap_or_default()
    );
    admin.click("roll-search-submit").await; // search is empty again after the page change
    admin
        .wait_js(
            "voter1 marked as voted",
            "const cell = document.querySelector('#roll-table tr[data-email=\"voter1@example.org\"] td[data-voted]');
             return !!cell && cell.dataset.voted === 'true';",
            vec![],
        )
        .await;
    admin.check_page("admin-roll-turnout").await;
    admin
        .screenshot("admin-roll-turnout-card", Some("roll-turnout"))
        .await;
    admin.click("export-turnout").await;
    admin.wait_text("roll-export-status", "turnout.csv").await;

    // --- Resend to voter 2: their old link stops working at once.
    admin
        .click_css("button[data-resend='voter2@example.org']")
        .await;
    admin
        .wait_text(
            "confirm-dialog-text",
            "Resending gives this voter a new link; the old one stops working at once.",
        )
        .await;
    admin.check_page("admin-roll-confirm-resend").await;
    admin.click("confirm-dialog-ok").await;
    admin
        .wait_text("status", "A new link to voter2@example.org")
        .await;
    let messages = sink.wait_for(11, Duration::from_secs(30)).await;
    let resent = token_for(
        &messages,
        "voter2@example.org",
        std::slice::from_ref(&token2),
    );

    let second = driver.browser(&server).await;
    second.goto(&format!("/#/magic/{token2}")).await;
    second.wait_visible("magic-invalid").await;
    second.wait_visible("request-link-form").await;
    second.check_page("magic-invalid").await;
    // An empty address is refused in the form, tied to the field.
    second.click("request-link-submit").await;
    let error = second
        .js(
            "const input = document.querySelector('#request-link-form input[type=email]');
             const ids = input.getAttribute('aria-describedby').split(' ');
             return { invalid: input.getAttribute('aria-invalid'),
                      described: ids.map((id) => document.getElementById(id)?.innerText || '').join(' | ') };",
            vec![],
        )
        .await;
    assert_eq!(error["invalid"], json!("true"), "{error}");
    second.axe("request a new link (error)").await;
    second
        .type_css("#request-link-form input[type=email]", "voter2@example.org")
        .await;
    second.click("request-link-submit").await;
    second
        .wait_text("request-link-done", "a new link is on its way")
        .await;
    second.check_page("magic-link-requested").await;
    let messages = sink.wait_for(12, Duration::from_secs(30)).await;
    let fresh = token_for(
        &messages,
        "voter2@example.org",
        &[token2.clone(), resent.clone()],
    );
    // The newest link works; the one it replaced does not.
    second.goto(&format!("/#/magic/{resent}")).await;
    second.wait_visible("magic-invalid").await;
    second.goto(&format!("/#/magic/{fresh}")).await;
    second.wait_visible("election-ballot").await;
    second.wait_text("whoami", "voter2@example.org").await;

    for browser in [&admin, &voter, &second] {
        browser.assert_clean_console().await;
    }
    admin.close().await;
    voter.close().await;
    second.close().await;
}

/// A JSON request to the API with an optional bearer token: the status and the body (`null`
/// when it is not JSON).
async fn api_call(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = api
        .client
        .request(method.clone(), format!("{}{path}", api.base))
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn api_ok(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let (status, answer) = api_call(api, method.clone(), path, token, body).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {answer}"
    );
    answer
}

/// The tracker shown on the receipt after casting, and the encryption time the page measured.
async fn cast_from_review(browser: &Browser) -> (String, u64) {
    browser.click("ballot-cast").await;
    browser.wait_visible("receipt-code").await;
    let shown = browser
        .js(
            "const c = document.getElementById('receipt-code'); return [c.innerText, c.dataset.encryptMs || ''];",
            vec![],
        )
        .await;
    let tracker = shown[0].as_str().unwrap_or_default().to_owned();
    let ms = shown[1].as_str().unwrap_or_default().parse().unwrap_or(0);
    assert_eq!(tracker.len(), 29, "a tracker of six groups: {tracker}");
    (tracker, ms)
}

/// The check page's verdict for a tracker.
async fn check_tracker(browser: &Browser, slug: &str, tracker: &str) -> String {
    browser
        .goto(&format!("/elections/{slug}/check?tracker={tracker}"))
        .await;
    browser.wait_visible("check-form").await;
    browser.click("check-submit").await;
    browser.wait_visible("check-result").await;
    let status = browser
        .js(
            "return document.getElementById('check-result').dataset.status;",
            vec![],
        )
        .await;
    status.as_str().unwrap_or_default().to_owned()
}

/// The contents of the textarea `#id` once a chosen file has been read into it.
async fn wait_filled(browser: &Browser, id: &str) {
    browser
        .wait_js(
            &format!("the file read into #{id}"),
            "const el = document.getElementById(arguments[0]); return el && el.value.length > 0 ? true : null;",
            vec![json!(id)],
        )
        .await;
}

/// Whether `#id` is marked invalid, has the focus, and its description includes its error.
async fn error_tied_to(browser: &Browser, id: &str) -> Value {
    browser
        .js(
            "const input = document.getElementById(arguments[0]);
             const ids = (input.getAttribute('aria-describedby') || '').split(' ');
             return { invalid: input.getAttribute('aria-invalid'), focused: document.activeElement === input,
                      described: ids.map((i) => document.getElementById(i)?.innerText || '').join(' | ') };",
            vec![json!(id)],
        )
        .await
}

/// An encrypted election run from the console: the admin creates the roll election and imports
/// its roll, makes it encrypted (2 of 3; a threshold of 4 is refused by the API, the error tied
/// to its field), and runs the key ceremony through the Trustees card with three trustees who
/// run the real `securevote trustee keygen/shares/finish` offline (their outputs uploaded as
/// files or pasted, keys.json and shares-j.json downloaded); schedules and opens. Voter A votes
/// and gets a tracker, and the list says "voted — you may vote again"; voter B audits a ballot
/// (its decrypted content is the choice), casts, then votes again; the check page finds the
/// trackers, counted or superseded. The admin closes, downloads the record, two trustees run
/// `trustee decrypt` on it, the admin uploads their outputs and publishes; the result is shown,
/// and the downloaded record passes `securevote verify` and the crypto crate's verifier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_election_is_encrypted_audited_checked_and_verified_in_the_browser() {
    use reqwest::Method;
    use securevote_crypto::{Record, verify_record};
    const ENC_SLUG: &str = "encrypted-board-2026";
    let server = Server::start(&[]).await;
    let api = Api::new(&server);
    api.register(ADMIN).await;
    server.promote_admin(ADMIN);
    let admin_token = api.login(ADMIN).await;
    for voter in ["voter-a@example.org", "voter-b@example.org"] {
        api.register(voter).await;
    }
    let files = tempfile::tempdir().expect("a directory for the officer's files");
    let downloads = files.path();

    // --- The roll election in the console: a plurality and a score contest, then its roll.
    let driver = Driver::start().await;
    let admin = driver.browser(&server).await;
    admin.download_into(downloads).await;
    admin.goto("/admin/elections/new").await;
    ui_log_in(&admin, ADMIN, PASSWORD).await;
    admin.wait_visible("election-form").await;
    admin.type_css(&path("title"), "Encrypted board 2026").await;
    admin.select_css(&path("eligibility"), "roll").await;
    admin.select_css(&path("results"), "after_close").await;
    admin.type_css(&path("contests[0].title"), "Chair").await;
    for (j, name) in ["Ada", "Grace", "Edsger"].iter().enumerate() {
        if j == 2 {
            admin
                .click_css("#election-form fieldset[data-index='0'] [data-action=add-choice]")
                .await;
        }
        admin
            .type_css(&path(&format!("contests[0].choices[{j}].name")), name)
            .await;
    }
    admin.click("add-contest").await;
    admin.type_css(&path("contests[1].title"), "Budget").await;
    admin.select_css(&path("contests[1].method"), "score").await;
    admin.type_css(&path("contests[1].max_score"), "5").await;
    admin
        .type_css(&path("contests[1].choices[0].name"), "Plan A")
        .await;
    admin
        .type_css(&path("contests[1].choices[1].name"), "Plan B")
        .await;
    // A maximum above the number of choices: the API refuses it naming the field (`field` of
    // its error), and the console ties the error to that field.
    admin.type_css(&path("contests[0].max_choices"), "4").await;
    admin.click("election-save").await;
    admin
        .wait_css_text("#form-errors", "contests[0].max_choices")
        .await;
    let max_id = admin
        .js(
            "return document.querySelector('[data-path=\"contests[0].max_choices\"]').id;",
            vec![],
        )
        .await;
    let tied = error_tied_to(&admin, max_id.as_str().unwrap_or_default()).await;
    assert_eq!(tied["invalid"], json!("true"), "{tied}");
    assert_eq!(tied["focused"], json!(true), "focus on the field: {tied}");
    assert!(
        tied["described"]
            .as_str()
            .unwrap_or_default()
            .contains("contests[0].max_choices"),
        "the API's error is the field's description: {tied}"
    );
    admin.check_page("admin-form-server-error").await;
    admin.type_css(&path("contests[0].max_choices"), "").await;
    admin.click("election-save").await;
    admin.wait_text("admin-state", "Draft").await;
    admin.click("roll-link").await;
    admin.wait_visible("roll-upload").await;
    let roll_file = downloads.join("board-roll.csv");
    std::fs::write(
        &roll_file,
        "email,name,external_id,weight,groups\nvoter-a@example.org,Voter A,,1,\nvoter-b@example.org,Voter B,,1,\nvoter-c@example.org,Voter C,,1,\n",
    )
    .unwrap();
    admin.upload_file("#roll-file", &roll_file).await;
    admin.click("roll-check").await;
    admin.wait_visible("roll-no-rejected").await;
    admin.click("roll-import").await;
    admin.wait_text("roll-imported", "3 added").await;
    admin.click("roll-back").await;

    // --- Encryption: a threshold above the trustees is refused by the API, tied to its field.
    admin.wait_visible("encryption-card").await;
    admin
        .wait_text("encryption-card", "ranked contests (IRV, STV")
        .await;
    admin.check_page("admin-encryption-form").await;
    admin
        .js(
            "document.getElementById('encryption-card').scrollIntoView();",
            vec![],
        )
        .await;
    admin.screenshot("admin-encryption-card", None).await;
    admin.type_css("#encryption-trustees", "3").await;
    admin.type_css("#encryption-threshold", "4").await;
    admin.click("encryption-save").await;
    admin
        .wait_text("confirm-dialog-text", "Ranked contests are refused")
        .await;
    admin
        .wait_text(
            "confirm-dialog-text",
            "fixed once a trustee's public key is uploaded",
        )
        .await;
    admin.check_page("admin-encryption-confirm").await;
    admin.click("confirm-dialog-ok").await;
    let refusal = admin
        .wait_text("encryption-threshold-error", "encryption.threshold")
        .await;
    println!("a threshold of 4 of 3: {refusal}");
    let tied = error_tied_to(&admin, "encryption-threshold").await;
    assert_eq!(tied["invalid"], json!("true"), "{tied}");
    assert_eq!(tied["focused"], json!(true), "focus on the field: {tied}");
    assert!(
        tied["described"]
            .as_str()
            .unwrap_or_default()
            .contains("must be between 1 and 3"),
        "the API's error is the field's description: {tied}"
    );
    admin.check_page("admin-encryption-error").await;
    admin
        .js(
            "document.getElementById('encryption-form').scrollIntoView();",
            vec![],
        )
        .await;
    admin.screenshot("admin-encryption-card-error", None).await;
    admin.type_css("#encryption-threshold", "2").await;
    admin.click("encryption-save").await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("trustees-keys", "0 of 3").await;
    admin
        .wait_text("trustees-threshold", "Any 2 of the 3")
        .await;
    admin.check_page("admin-trustees-no-keys").await;

    // --- Step 1: three trustees make their keys offline; the admin uploads them (a file, a
    // paste, a file); a second upload of a key is refused, tied to the field.
    let id = admin
        .js(
            "return document.getElementById('trustees-election-id').innerText;",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let keygen = admin
        .js(
            "return document.getElementById('command-keygen').innerText;",
            vec![],
        )
        .await;
    assert!(
        keygen.as_str().unwrap_or_default().contains(&format!(
            "--election {id} --index I --trustees 3 --threshold 2"
        )),
        "the console shows the trustees their command: {keygen}"
    );
    let trustees = trustees::Trustees::new(service_binary());
    let publics: Vec<std::path::PathBuf> = (1..=3).map(|i| trustees.keygen(&id, i, 3, 2)).collect();
    admin.upload_file("#trustees-key-file", &publics[0]).await;
    wait_filled(&admin, "trustees-key-text").await;
    admin.click("trustees-key-submit").await;
    admin.wait_text("trustees-keys", "1 of 3").await;
    admin
        .wait_text("trustees-status", "public key of trustee 1 is in")
        .await;
    admin.upload_file("#trustees-key-file", &publics[0]).await;
    wait_filled(&admin, "trustees-key-text").await;
    admin.click("trustees-key-submit").await;
    admin
        .wait_text("trustees-key-error", "already uploaded")
        .await;
    let tied = error_tied_to(&admin, "trustees-key-text").await;
    assert_eq!(
        (tied["invalid"].clone(), tied["focused"].clone()),
        (json!("true"), json!(true)),
        "{tied}"
    );
    admin.check_page("admin-trustees-key-refused").await;
    let pasted = std::fs::read_to_string(&publics[1]).unwrap();
    admin.set_value_css("#trustees-key-text", &pasted).await;
    admin.click("trustees-key-submit").await;
    admin.wait_text("trustees-keys", "2 of 3").await;
    let keys_shown = admin
        .js(
            "return [...document.querySelectorAll('#trustees-table [data-key]')].map((c) => c.dataset.key);",
            vec![],
        )
        .await;
    assert_eq!(keys_shown, json!(["true", "true", "false"]));
    admin
        .wait_text("trustees-shares", "Key shares relayed: 0 of 6")
        .await;
    admin.check_page("admin-trustees-ceremony").await;
    admin
        .js(
            "document.getElementById('trustees-card').scrollIntoView();",
            vec![],
        )
        .await;
    admin.screenshot("admin-trustees-ceremony-card", None).await;
    admin.upload_file("#trustees-key-file", &publics[2]).await;
    wait_filled(&admin, "trustees-key-text").await;
    admin.click("trustees-key-submit").await;
    admin.wait_text("trustees-keys", "3 of 3").await;
    admin.wait_text("step-keys-state", "Done").await;

    // --- Step 2: keys.json to the trustees, their shares back (files, and one pasted).
    let keys = admin
        .download_file(downloads, "keys-download", "keys.json")
        .await;
    admin
        .wait_text("trustees-status", "keys.json has been downloaded")
        .await;
    for i in 1..=3u64 {
        let shares = trustees.shares(i, &keys);
        if i == 2 {
            let text = std::fs::read_to_string(&shares).unwrap();
            admin.set_value_css("#trustees-shares-text", &text).await;
        } else {
            admin.upload_file("#trustees-shares-file", &shares).await;
            wait_filled(&admin, "trustees-shares-text").await;
        }
        if i == 2 {
            admin.check_page("admin-trustees-shares").await;
        }
        admin.click("trustees-shares-submit").await;
        admin
            .wait_text(
                "trustees-shares",
                &format!("Key shares relayed: {} of 6", 2 * i),
            )
            .await;
    }
    admin.wait_text("step-shares-state", "Done").await;

    // --- Step 3: each trustee's shares-j.json; each makes their key share offline.
    for j in 1..=3u64 {
        let mine = admin
            .download_file(
                downloads,
                &format!("shares-download-{j}"),
                &format!("shares-{j}.json"),
            )
            .await;
        trustees.finish(j, &keys, &mine);
    }
    admin
        .wait_text("trustees-schedule-hint", "can be scheduled")
        .await;
    admin.check_page("admin-trustees-ceremony-complete").await;
    admin
        .js(
            "document.getElementById('ceremony-steps').scrollIntoView();",
            vec![],
        )
        .await;
    admin.screenshot("admin-trustees-steps", None).await;

    // --- Schedule and open in the console.
    admin.click("action-schedule").await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("admin-state", "Scheduled").await;
    admin.click("action-open").await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("admin-state", "Open").await;
    admin.wait_visible("trustees-head").await;

    let shown = api_ok(
        &api,
        Method::GET,
        &format!("/api/elections/{ENC_SLUG}"),
        &admin_token,
        None,
    )
    .await;
    assert_eq!(shown["encryption"], json!({"threshold": 2, "trustees": 3}));
    assert!(shown["board_head"].is_string(), "the setup event's hash");

    // --- Voter A: the encrypted ballot, the review, casting, the tracker.
    let a = driver.browser(&server).await;
    a.goto(&format!("/elections/{ENC_SLUG}")).await;
    a.wait_visible("login-to-vote-button").await;
    a.wait_visible("board-head-hash").await;
    a.click("login-to-vote-button").await;
    ui_log_in(&a, "voter-a@example.org", PASSWORD).await;
    a.wait_visible("election-ballot").await;
    a.wait_text(
        "encrypted-notice",
        "your last ballot is the one that counts",
    )
    .await;
    a.check_page("encrypted-ballot").await;
    a.click_css("label[for='contest-0-choice-0']").await;
    a.select_css("#contest-1-score-1", "4").await;
    a.click("ballot-review").await;
    let review = a.wait_text("ballot-review-card", "Ada").await;
    assert!(review.contains("Plan B: 4 of 5"), "review: {review}");
    a.wait_visible("ballot-audit").await;
    a.check_page("encrypted-review").await;
    let started = Instant::now();
    let (tracker_a, ms_a) = cast_from_review(&a).await;
    println!(
        "voter A's ballot: encrypted in the browser in {ms_a} ms (cast and confirmed in {} ms); tracker {tracker_a}",
        started.elapsed().as_millis()
    );
    a.wait_text("receipt-card", "Vote again").await;
    a.check_page("encrypted-receipt").await;
    // The list of elections: voted, and in an encrypted election a voter may vote again.
    a.goto("/elections").await;
    let mark = a
        .wait_css_text(
            &format!("[data-slug='{ENC_SLUG}'] [data-voted=again]"),
            "Voted — you may vote again",
        )
        .await;
    println!("voter A's list: {mark}");
    a.wait_css_text(&format!("[data-slug='{ENC_SLUG}'] a.button"), "Vote again")
        .await;
    a.check_page("encrypted-list-voted").await;

    // --- Voter B: audits a ballot first, then casts, then votes again.
    let b = driver.browser(&server).await;
    b.goto(&format!("/elections/{ENC_SLUG}")).await;
    b.click("login-to-vote-button").await;
    ui_log_in(&b, "voter-b@example.org", PASSWORD).await;
    b.wait_visible("election-ballot").await;
    b.click_css("label[for='contest-0-choice-1']").await;
    b.select_css("#contest-1-score-0", "2").await;
    b.click("ballot-review").await;
    b.wait_text("ballot-review-card", "Grace").await;
    // The audit with the keyboard: focus moves to the audit card, then to its next step.
    b.tab_to("#ballot-audit").await;
    b.keys(ENTER).await;
    b.wait_visible("audit-card").await;
    let focused = b
        .js(
            "return document.activeElement && document.activeElement.id;",
            vec![],
        )
        .await;
    assert_eq!(
        focused,
        json!("audit-heading"),
        "focus on the audit heading"
    );
    let audited = b
        .js(
            "return document.getElementById('audit-tracker').innerText;",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    b.check_page("encrypted-audit-tracker").await;
    b.tab_to("#audit-reveal").await;
    b.keys(ENTER).await;
    b.wait_text("audit-verdict", "exactly what you chose").await;
    let table = b
        .js(
            "return [...document.querySelectorAll('#audit-ballot-table tbody tr')].map((r) => [r.querySelector('[data-chosen]').innerText, r.querySelector('[data-decrypted]').innerText]);",
            vec![],
        )
        .await;
    println!("voter B's audited ballot {audited}: {table}");
    let rows = table.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "two contests: {table}");
    for row in &rows {
        assert_eq!(row[0], row[1], "decrypted equals chosen: {table}");
    }
    assert_eq!(rows[0][0], json!("Grace"));
    assert!(
        rows[1][1]
            .as_str()
            .unwrap_or_default()
            .contains("Plan A: 2 of 5"),
        "the score: {table}"
    );
    b.wait_css_text("#audit-posted[data-posted=true]", "public board")
        .await;
    b.check_page("encrypted-audit-revealed").await;
    b.js(
        "document.getElementById('audit-result').scrollIntoView();",
        vec![],
    )
    .await;
    b.screenshot("encrypted-audit-revealed-table", None).await;
    b.click("audit-back").await;
    b.wait_visible("ballot-review-card").await;
    b.wait_text("ballot-progress", "fresh randomness").await;
    let (tracker_b1, ms_b1) = cast_from_review(&b).await;
    assert_ne!(tracker_b1, audited, "the cast ballot is encrypted afresh");
    b.click("vote-again").await;
    b.wait_visible("election-ballot").await;
    b.click_css("label[for='contest-0-choice-2']").await;
    b.click("ballot-review").await;
    b.wait_text("ballot-review-card", "Edsger").await;
    let (tracker_b2, ms_b2) = cast_from_review(&b).await;
    println!(
        "voter B's ballots: {tracker_b1} ({ms_b1} ms), then {tracker_b2} ({ms_b2} ms); audited {audited}"
    );
    assert_ne!(tracker_b1, tracker_b2);

    // --- The check page: found, the latest or superseded, the audited one spoiled, an unknown
    // tracker is not there.
    assert_eq!(check_tracker(&b, ENC_SLUG, &tracker_b1).await, "superseded");
    b.check_page("encrypted-check-superseded").await;
    assert_eq!(check_tracker(&b, ENC_SLUG, &tracker_b2).await, "latest");
    assert_eq!(check_tracker(&a, ENC_SLUG, &tracker_a).await, "latest");
    a.check_page("encrypted-check-found").await;
    assert_eq!(check_tracker(&a, ENC_SLUG, &audited).await, "spoiled");
    a.check_page("encrypted-check-spoiled").await;
    let unknown = "0000-0000-0000-0000-0000-0000";
    assert_eq!(check_tracker(&a, ENC_SLUG, unknown).await, "missing");
    a.check_page("encrypted-check-missing").await;
    // The check page in German and French (longer words at 320 px).
    for lang in ["de", "fr"] {
        let visitor = driver.browser_in(&server, lang).await;
        assert_eq!(
            check_tracker(&visitor, ENC_SLUG, &tracker_b1).await,
            "superseded"
        );
        visitor.check_page(&format!("encrypted-check-{lang}")).await;
        visitor.assert_clean_console().await;
        visitor.close().await;
    }

    // --- The console: the trustees card while open.
    admin.goto(&format!("/admin/elections/{ENC_SLUG}")).await;
    admin
        .wait_text("trustees-shares", "Key shares relayed: 6 of 6")
        .await;
    admin
        .wait_text("trustees-threshold", "Any 2 of the 3")
        .await;
    admin.check_page("admin-trustees-open").await;
    // The same card in German.
    let officer_de = driver.browser_in(&server, "de").await;
    officer_de
        .goto(&format!("/admin/elections/{ENC_SLUG}"))
        .await;
    ui_log_in(&officer_de, ADMIN, PASSWORD).await;
    officer_de.wait_text("trustees-shares", "6 von 6").await;
    officer_de.wait_text("step-finish-state", "Erledigt").await;
    officer_de.check_page("admin-trustees-open-de").await;
    officer_de
        .js(
            "document.getElementById('ceremony-steps').scrollIntoView();",
            vec![],
        )
        .await;
    officer_de.screenshot("admin-trustees-steps-de", None).await;
    officer_de.assert_clean_console().await;
    officer_de.close().await;

    // --- Close in the console; the record to the trustees; two of them decrypt offline; their
    // partial decryptions uploaded (a file, a paste); publish.
    admin.click("action-close").await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("admin-state", "Closed").await;
    admin
        .wait_text(
            "trustees-decryptions",
            "Partial decryptions received: 0 (needed: 2 of 3)",
        )
        .await;
    admin.check_page("admin-trustees-closed").await;
    let record = admin
        .download_file(
            downloads,
            "board-download",
            &format!("{ENC_SLUG}-record.jsonl"),
        )
        .await;
    let first = trustees.decrypt(1, &record);
    admin.upload_file("#trustees-decryption-file", &first).await;
    wait_filled(&admin, "trustees-decryption-text").await;
    admin.click("trustees-decryption-submit").await;
    admin
        .wait_text(
            "trustees-decryptions",
            "Partial decryptions received: 1 (needed: 2 of 3)",
        )
        .await;
    admin.wait_text("trustees-result", "not combined yet").await;
    admin.check_page("admin-trustees-one-decryption").await;
    let third = trustees.decrypt(3, &record);
    admin
        .set_value_css(
            "#trustees-decryption-text",
            &std::fs::read_to_string(&third).unwrap(),
        )
        .await;
    admin.click("trustees-decryption-submit").await;
    admin
        .wait_text(
            "trustees-decryptions",
            "Partial decryptions received: 2 (needed: 2 of 3)",
        )
        .await;
    admin
        .wait_text("trustees-result", "decrypted and combined")
        .await;
    admin.wait_text("step-decrypt-state", "Done").await;
    admin.check_page("admin-trustees-decrypted").await;
    admin
        .js(
            "document.getElementById('step-decrypt').scrollIntoView();",
            vec![],
        )
        .await;
    admin
        .screenshot("admin-trustees-decrypted-step", None)
        .await;
    admin.click("action-publish").await;
    admin.click("confirm-dialog-ok").await;
    admin.wait_text("admin-state", "Results published").await;
    let published = admin
        .download_file(
            downloads,
            "board-download",
            &format!("{ENC_SLUG}-record.jsonl"),
        )
        .await;
    let verify = std::process::Command::new(service_binary())
        .env_clear()
        .arg("verify")
        .arg(&published)
        .output()
        .expect("run securevote verify");
    println!(
        "securevote verify on the record downloaded in the console: {} {}",
        verify.status,
        String::from_utf8_lossy(&verify.stdout).trim()
    );
    assert!(
        verify.status.success(),
        "the record verifies: {}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // --- The result in the browser, with the board's head; A's ballot is counted.
    a.goto(&format!("/elections/{ENC_SLUG}/results")).await;
    a.wait_css_text("#view", "Edsger").await;
    a.wait_visible("board-head-hash").await;
    let head = a
        .js(
            "return document.getElementById('board-head-hash').innerText;",
            vec![],
        )
        .await;
    a.check_page("encrypted-results").await;
    assert_eq!(check_tracker(&a, ENC_SLUG, &tracker_a).await, "counted");

    // --- The record downloaded in the console also verifies with the crypto crate.
    let record = std::fs::read_to_string(&published).expect("the downloaded record");
    let verified = verify_record(&Record::from_jsonl(&record)).expect("the record verifies");
    assert_eq!(verified.ballots, 3);
    assert_eq!(verified.result, Some(vec![vec![1, 0, 1], vec![0, 4]]));
    let mut counted = verified.counted_trackers.clone();
    counted.sort();
    let mut expected = vec![tracker_a.clone(), tracker_b2.clone()];
    expected.sort();
    assert_eq!(counted, expected);
    assert_eq!(verified.superseded_trackers, vec![tracker_b1.clone()]);
    let last = record.lines().last().expect("the result line");
    assert_eq!(
        head,
        json!(securevote_crypto::event_hash(last).to_hex()),
        "the results page shows the hash of the record's last line"
    );
    println!("the board's head on the results page: {head}");

    for browser in [&a, &b, &admin] {
        browser.assert_clean_console().await;
    }
    a.close().await;
    b.close().await;
    admin.close().await;
}

/// Every message key of the English catalogue is in every other one (and no other key), with
/// the same placeholders and plural forms; every key the pages use exists.
#[test]
fn every_language_has_every_message() {
    use std::collections::BTreeSet;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let load = |lang: &str| -> serde_json::Map<String, Value> {
        let text = std::fs::read_to_string(dir.join(format!("i18n/{lang}.json")))
            .unwrap_or_else(|e| panic!("read web/i18n/{lang}.json: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("web/i18n/{lang}.json: {e}"))
    };
    let placeholders = |value: &Value| -> BTreeSet<String> {
        let texts: Vec<String> = match value {
            Value::String(s) => vec![s.clone()],
            Value::Object(forms) => forms
                .values()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            other => panic!("a message is a string or plural forms, not {other}"),
        };
        texts
            .iter()
            .flat_map(|t| {
                t.split('{')
                    .skip(1)
                    .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let english = load("en");
    for lang in ["de", "fr"] {
        let other = load(lang);
        let missing: Vec<&String> = english.keys().filter(|k| !other.contains_key(*k)).collect();
        let extra: Vec<&String> = other.keys().filter(|k| !english.contains_key(*k)).collect();
        assert!(missing.is_empty(), "web/i18n/{lang}.json lacks {missing:?}");
        assert!(
            extra.is_empty(),
            "web/i18n/{lang}.json has keys English lacks: {extra:?}"
        );
        for (key, value) in &english {
            // A language may use fewer words than English for a placeholder, never others.
            let (en, theirs) = (placeholders(value), placeholders(&other[key]));
            assert!(
                theirs.is_subset(&en)
                    && (en.len() == theirs.len()
                        || key.ends_with("minutes")
                        || key.ends_with("_unit")),
                "{lang}: {key} has placeholders {theirs:?}, English {en:?}"
            );
            if let Value::Object(forms) = &other[key] {
                assert!(
                    forms.contains_key("other"),
                    "{lang}: {key} lacks the plural form \"other\""
                );
            }
            assert!(
                !other[key].as_str().is_some_and(str::is_empty),
                "{lang}: {key} is empty"
            );
        }
        println!("web/i18n/{lang}.json: all {} keys", other.len());
    }
    // Every key named in the pages' code and markup is in the catalogue. Keys built at run time
    // (`state.${state}`) are checked by their prefix.
    let mut used = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("read web/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !(name.ends_with(".js") || name.ends_with(".html")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a page file");
        for marker in ["t('", "t(`", "data-i18n=\"", ":"] {
            for piece in text.split(marker).skip(1) {
                let key: String = piece
                    .chars()
                    .take_while(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '$' | '{' | '}')
                    })
                    .collect();
                let looks_like_key = key.contains('.')
                    && key
                        .split('.')
                        .next()
                        .is_some_and(|p| english.keys().any(|k| k.starts_with(&format!("{p}."))));
                if marker == ":"
                    && !(text.contains("data-i18n-attr")
                        && looks_like_key
                        && name.ends_with(".html"))
                {
                    continue;
                }
                if looks_like_key {
                    used.insert(key);
                }
            }
        }
    }
    assert!(
        used.len() > 100,
        "found only {} keys in the page code",
        used.len()
    );
    for key in &used {
        if let Some((prefix, _)) = key.split_once("${") {
            assert!(
                english.keys().any(|k| k.starts_with(prefix)),
                "no message starts with {prefix} (used as {key})"
            );
        } else {
            assert!(
                english.contains_key(key),
                "web uses the message {key}, which en.json lacks"
            );
        }
    }
    println!(
        "{} message keys used by the pages, all in en.json",
        used.len()
    );
}
