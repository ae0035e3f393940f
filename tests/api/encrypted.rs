//! Encrypted, end-to-end verifiable elections through the API (docs/election-record.md): the
//! crypto crate plays the three trustees and the voters, as `securevote trustee …` and the
//! browser do. An admin makes a draft encrypted (2 of 3), relays the key ceremony, schedules
//! and opens it; voters cast encrypted ballots (one re-votes, forged ones are refused); at close
//! the board holds the tally; two trustees decrypt; the result is published and the downloaded
//! record verifies, and fails after one changed byte.

use reqwest::{Method, StatusCode};
use rstest::rstest;
use rstest_reuse::apply;
use securevote_crypto::{
    Ballot, Bytes32, Contest, ElectionContext, EncryptedShare, EncryptedTally, Event,
    PartialDecryption, Record, SeededNonces, TrusteeKeyShare, TrusteePublicKey, TrusteeSecret,
    encrypt_ballot, encrypt_shares, event_hash, parse_event_line, partial_decrypt, receive_shares,
    trustee_keygen, verify_record,
};
use serde_json::{Value, json};

use crate::admin::admin_token;
use crate::helpers::{Kind, TestApp, assert_error, both_stores, json_of, send, spawn_app};

const PASSWORD: &str = "correct horse battery";

async fn create(app: &TestApp, admin: &str, slug: &str, chair_method: &str) -> Value {
    let doc = json!({
        "slug": slug, "title": "Board 2026", "eligibility": "roll", "results": "after_close",
        "contests": [
            {"title": "Chair", "method": chair_method, "min_choices": 1, "max_choices": 1,
             "choices": [{"name": "Ada"}, {"name": "Grace"}, {"name": "Edsger"}]},
            {"title": "Budget", "method": "score", "max_score": 5,
             "choices": [{"name": "Plan A"}, {"name": "Plan B"}]}
        ]
    });
    json_of(
        send(app, Method::POST, "/api/elections", Some(admin), Some(&doc)).await,
        StatusCode::CREATED,
    )
    .await
}

async fn upload_roll(app: &TestApp, admin: &str, id: &str, voters: usize) {
    let mut csv = String::from("email,name,external_id,weight,groups\n");
    for i in 0..voters {
        csv.push_str(&format!("enc{i}@example.org,Voter {i},,1,\n"));
    }
    let response = app
        .client
        .post(app.url(&format!("/api/elections/{id}/roll")))
        .bearer_auth(admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

pub(crate) async fn voter(app: &TestApp, email: &str) -> String {
    assert_eq!(
        app.register(email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    app.token_for(email, PASSWORD).await
}

fn params(id: &str) -> securevote_crypto::CeremonyParams {
    securevote_crypto::CeremonyParams {
        election_id: id.to_owned(),
        trustees: 3,
        threshold: 2,
    }
}

struct Voter {
    token: String,
    pseudonym: Bytes32,
}

pub(crate) async fn credential(app: &TestApp, id: &str, token: &str) -> (Bytes32, ElectionContext) {
    let body = json_of(
        app.get_authed(&format!("/api/elections/{id}/pseudonym"), token)
            .await,
        StatusCode::OK,
    )
    .await;
    let line = body["setup"].as_str().unwrap();
    let (_, _, Event::Setup(setup)) = parse_event_line(line).unwrap() else {
        panic!("the setup line is a setup event");
    };
    assert_eq!(body["election_hash"], event_hash(line).to_hex());
    let context = setup.context(event_hash(line)).unwrap();
    (
        Bytes32::from_hex(body["pseudonym"].as_str().unwrap()).unwrap(),
        context,
    )
}

pub(crate) fn encrypt(
    context: &ElectionContext,
    pseudonym: &Bytes32,
    values: &[&[u64]],
    seed: &str,
) -> Ballot {
    let values: Vec<Vec<u64>> = values.iter().map(|v| v.to_vec()).collect();
    encrypt_ballot(
        context,
        pseudonym,
        &values,
        &mut SeededNonces::new(seed.as_bytes()),
    )
    .unwrap()
    .0
}

pub(crate) async fn cast(
    app: &TestApp,
    id: &str,
    token: &str,
    ballot: &Value,
) -> reqwest::Response {
    send(
        app,
        Method::POST,
        &format!("/api/elections/{id}/ballots"),
        Some(token),
        Some(&json!({ "encrypted": ballot })),
    )
    .await
}

async fn archive(app: &TestApp, id: &str) -> String {
    let response = app.get(&format!("/api/elections/{id}/board/archive")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    response.text().await.unwrap()
}

/// The last hex digit inside the first ballot line's ciphertexts.
fn flip_a_ballot_digit(record: &str) -> String {
    let mut lines: Vec<String> = record.lines().map(str::to_owned).collect();
    let at = lines
        .iter()
        .position(|l| l.contains("\"type\":\"ballot\""))
        .unwrap();
    let line = &lines[at];
    let start = line.find("\"alpha\":\"").unwrap() + 9;
    let mut bytes = line.as_bytes().to_vec();
    bytes[start + 10] = if bytes[start + 10] == b'0' {
        b'1'
    } else {
        b'0'
    };
    lines[at] = String::from_utf8(bytes).unwrap();
    lines.join("\n") + "\n"
}

#[apply(both_stores)]
async fn an_encrypted_election_runs_from_key_ceremony_to_a_verified_record(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;

    // Ranked contests, a plain roll-less election and a bad threshold are refused, naming the field.
    let ranked = create(&app, &admin, "ranked", "irv").await;
    let refused = assert_error(
        send(
            &app,
            Method::PUT,
            &format!(
                "/api/elections/{}/encryption",
                ranked["id"].as_str().unwrap()
            ),
            Some(&admin),
            Some(&json!({"trustees": 3, "threshold": 2})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_encryption",
    )
    .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("contests[0].method: irv")
    );
    assert_eq!(refused["error"]["field"], "contests[0].method");

    // A ballot too large for the body limit is refused before any voter meets it.
    let names: Vec<Value> = (0..40)
        .map(|i| json!({"name": format!("Member {i}")}))
        .collect();
    let wide = json_of(
        send(
            &app,
            Method::POST,
            "/api/elections",
            Some(&admin),
            Some(&json!({
                "slug": "committee", "title": "Committee", "eligibility": "roll",
                "contests": [{"title": "Members", "method": "approval", "choices": names}]
            })),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let refused = assert_error(
        send(
            &app,
            Method::PUT,
            &format!("/api/elections/{}/encryption", wide["id"].as_str().unwrap()),
            Some(&admin),
            Some(&json!({"trustees": 3, "threshold": 2})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_encryption",
    )
    .await;
    let message = refused["error"]["message"].as_str().unwrap();
    println!("40 approval choices: {message}");
    assert!(
        message.starts_with("contests: an encrypted ballot of this election is ")
            && message.contains("over MAX_BODY_BYTES (16384)"),
        "{message}"
    );

    let election = create(&app, &admin, "board-2026", "plurality").await;
    let id = election["id"].as_str().unwrap().to_owned();
    let path = |tail: &str| format!("/api/elections/{id}/{tail}");
    upload_roll(&app, &admin, &id, 4).await;
    let too_high = assert_error(
        send(
            &app,
            Method::PUT,
            &path("encryption"),
            Some(&admin),
            Some(&json!({"trustees": 3, "threshold": 4})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_encryption",
    )
    .await;
    assert_eq!(too_high["error"]["field"], "encryption.threshold");
    let status = json_of(
        send(
            &app,
            Method::PUT,
            &path("encryption"),
            Some(&admin),
            Some(&json!({"trustees": 3, "threshold": 2})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["keys"], json!([]));
    assert_error(
        send(&app, Method::POST, &path("schedule"), Some(&admin), None).await,
        StatusCode::CONFLICT,
        "ceremony_incomplete",
    )
    .await;

    // The key ceremony: each trustee's public key, verified, once per index.
    let mut secrets: Vec<TrusteeSecret> = Vec::new();
    let mut publics: Vec<TrusteePublicKey> = Vec::new();
    for i in 1..=3u64 {
        let (secret, public) = trustee_keygen(
            &params(&id),
            i,
            &mut SeededNonces::new(format!("trustee {i}").as_bytes()),
        )
        .unwrap();
        secrets.push(secret);
        publics.push(public);
    }
    let mut forged = publics[1].clone();
    forged.commitments[0] = publics[2].commitments[0];
    for (key, status, code) in [
        (json!(publics[0]), StatusCode::CREATED, None),
        (
            json!(publics[0]),
            StatusCode::CONFLICT,
            Some("trustee_key_exists"),
        ),
        (
            json!(forged),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_trustee_key"),
        ),
        (
            json!({"index": 2}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_trustee_key"),
        ),
        (json!(publics[1]), StatusCode::CREATED, None),
    ] {
        let response = send(
            &app,
            Method::POST,
            &path("trustees"),
            Some(&admin),
            Some(&key),
        )
        .await;
        match code {
            Some(code) => {
                assert_error(response, status, code).await;
            }
            None => assert_eq!(response.status(), status),
        }
    }
    // Shares wait for every public key.
    let early = encrypt_shares(&secrets[0], &publics, &mut SeededNonces::new(b"early")).unwrap();
    assert_error(
        send(
            &app,
            Method::POST,
            &path("shares"),
            Some(&admin),
            Some(&json!(early[0])),
        )
        .await,
        StatusCode::CONFLICT,
        "ceremony_incomplete",
    )
    .await;
    let status = json_of(
        send(
            &app,
            Method::POST,
            &path("trustees"),
            Some(&admin),
            Some(&json!(publics[2])),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(status["keys"], json!([1, 2, 3]));
    assert!(status["public_key"].is_string());
    let keys: Vec<TrusteePublicKey> = serde_json::from_value(
        json_of(
            app.get_authed(&path("trustees"), &admin).await,
            StatusCode::OK,
        )
        .await,
    )
    .unwrap();
    assert_eq!(keys, publics);
    for (i, secret) in secrets.iter().enumerate() {
        let shares = encrypt_shares(
            secret,
            &keys,
            &mut SeededNonces::new(format!("shares {i}").as_bytes()),
        )
        .unwrap();
        for share in shares {
            let response = send(
                &app,
                Method::POST,
                &path("shares"),
                Some(&admin),
                Some(&json!(share)),
            )
            .await;
            assert_eq!(response.status(), StatusCode::CREATED);
        }
    }
    let status = json_of(
        app.get_authed(&path("ceremony"), &admin).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (status["shares"].clone(), status["shares_expected"].clone()),
        (json!(6), json!(6))
    );
    assert_error(
        send(
            &app,
            Method::POST,
            &path("shares"),
            Some(&admin),
            Some(&json!(early[0])),
        )
        .await,
        StatusCode::CONFLICT,
        "share_exists",
    )
    .await;
    let mut key_shares: Vec<TrusteeKeyShare> = Vec::new();
    for (j, secret) in secrets.iter().enumerate() {
        let mine: Vec<EncryptedShare> = serde_json::from_value(
            json_of(
                app.get_authed(&format!("/api/elections/{id}/shares?to={}", j + 1), &admin)
                    .await,
                StatusCode::OK,
            )
            .await,
        )
        .unwrap();
        assert_eq!(mine.len(), 2);
        key_shares.push(receive_shares(secret, &keys, &mine).unwrap());
    }

    // Scheduling writes the setup event; its hash is the board's head on the election page.
    json_of(
        send(&app, Method::POST, &path("schedule"), Some(&admin), None).await,
        StatusCode::OK,
    )
    .await;
    let board = json_of(app.get(&path("board")).await, StatusCode::OK).await;
    assert_eq!(board["lines"].as_array().unwrap().len(), 1);
    let shown = json_of(
        app.get(&format!("/api/elections/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(shown["board_head"], board["head"]["hash"]);
    assert_eq!(shown["encryption"], json!({"trustees": 3, "threshold": 2}));
    json_of(
        send(&app, Method::POST, &path("open"), Some(&admin), None).await,
        StatusCode::OK,
    )
    .await;

    // Voters cast encrypted ballots; one re-votes.
    let mut voters = Vec::new();
    let mut context = None;
    for i in 0..4 {
        let token = voter(&app, &format!("enc{i}@example.org")).await;
        let (pseudonym, ctx) = credential(&app, &id, &token).await;
        context = Some(ctx);
        voters.push(Voter { token, pseudonym });
    }
    let context = context.unwrap();
    let outsider = app.new_voter().await;
    assert_error(
        app.get_authed(&path("pseudonym"), &outsider).await,
        StatusCode::FORBIDDEN,
        "not_eligible",
    )
    .await;
    let plans: [(usize, &[&[u64]]); 4] = [
        (0, &[&[1, 0, 0], &[5, 1]]),
        (0, &[&[0, 1, 0], &[2, 2]]),
        (1, &[&[1, 0, 0], &[0, 4]]),
        (2, &[&[1, 0, 0], &[3, 3]]),
    ];
    let mut trackers = Vec::new();
    let mut cast_ballots = Vec::new();
    for (n, (who, values)) in plans.iter().enumerate() {
        let v = &voters[*who];
        let ballot = encrypt(&context, &v.pseudonym, values, &format!("ballot {n}"));
        let receipt = json_of(
            cast(&app, &id, &v.token, &json!(ballot)).await,
            StatusCode::CREATED,
        )
        .await;
        trackers.push(receipt["tracker"].as_str().unwrap().to_owned());
        cast_ballots.push(ballot);
    }
    // The voter's list says the election is encrypted (a voter there may vote again).
    let me = json_of(
        app.get_authed("/api/auth/me", &voters[0].token).await,
        StatusCode::OK,
    )
    .await;
    let listed = me["elections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["election_id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (listed["has_voted"].clone(), listed["encrypted"].clone()),
        (json!(true), json!(true))
    );
    // Forged, replayed and malformed ballots: 422 invalid_ballot_proof, nothing stored.
    let before = json_of(app.get(&path("board")).await, StatusCode::OK).await["head"].clone();
    let replayed = json!(cast_ballots[2]);
    let mut bad_point = replayed.clone();
    bad_point["contests"][0]["choices"][0]["alpha"] = json!("ff".repeat(32));
    let mut upper = replayed.clone();
    let alpha = upper["contests"][0]["choices"][0]["alpha"]
        .as_str()
        .unwrap()
        .to_uppercase();
    upper["contests"][0]["choices"][0]["alpha"] = json!(alpha);
    let wide = ElectionContext::new(
        *context.election_hash(),
        context.public_key(),
        vec![
            Contest::Choices {
                title: "Chair".into(),
                choices: vec!["Ada".into(), "Grace".into(), "Edsger".into()],
                min: 1,
                max: 2,
            },
            context.contests()[1].clone(),
        ],
    )
    .unwrap();
    let two_choices = encrypt(&wide, &voters[3].pseudonym, &[&[1, 1, 0], &[0, 0]], "two");
    let score_chair = ElectionContext::new(
        *context.election_hash(),
        context.public_key(),
        vec![
            Contest::Score {
                title: "Chair".into(),
                choices: vec!["Ada".into(), "Grace".into(), "Edsger".into()],
                max_score: 2,
            },
            context.contests()[1].clone(),
        ],
    )
    .unwrap();
    let a_two = encrypt(
        &score_chair,
        &voters[3].pseudonym,
        &[&[2, 0, 0], &[0, 0]],
        "two-votes",
    );
    let elsewhere = ElectionContext::new(
        securevote_crypto::sha256(b"another election"),
        context.public_key(),
        context.contests().to_vec(),
    )
    .unwrap();
    let other_election = encrypt(
        &elsewhere,
        &voters[3].pseudonym,
        &[&[1, 0, 0], &[0, 0]],
        "other",
    );
    // A retry of a voter's last ballot (its answer lost) gets the original answer, stored once.
    let retried = cast(&app, &id, &voters[1].token, &replayed).await;
    assert_eq!(
        retried
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let retried = json_of(retried, StatusCode::CREATED).await;
    assert_eq!(retried["tracker"], json!(trackers[2]));
    let original = json_of(app.get(&path("board")).await, StatusCode::OK).await;
    let original = original["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["line"].as_str().unwrap().contains(&trackers[2]))
        .unwrap()
        .clone();
    assert_eq!(retried["seq"], original["seq"]);
    assert_eq!(retried["hash"], original["hash"]);
    for (who, ballot, what) in [
        (
            0,
            json!(cast_ballots[0]),
            "a superseded board ballot replayed by its voter",
        ),
        (0, replayed.clone(), "a replayed board ballot"),
        (3, replayed.clone(), "another voter's ballot"),
        (3, bad_point, "a malformed point"),
        (3, upper, "a non-canonical encoding"),
        (
            3,
            json!(two_choices),
            "two choices in a single-choice contest",
        ),
        (3, json!(other_election), "a ballot for another election"),
        (3, json!(a_two), "a ciphertext of 2"),
        (3, json!({"election_hash": "00"}), "a malformed ballot"),
    ] {
        let response = cast(&app, &id, &voters[who].token, &ballot).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {text}");
        assert!(text.contains("invalid_ballot_proof"), "{what}: {text}");
    }
    let after = json_of(app.get(&path("board")).await, StatusCode::OK).await;
    assert_eq!(after["head"], before, "nothing stored");
    assert_error(
        send(
            &app,
            Method::POST,
            &path("ballots"),
            Some(&voters[3].token),
            Some(&json!({"selections": {}})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // Paging: after=1, limit=2 gives lines 2 and 3.
    let page = json_of(
        app.get(&path("board?after=1&limit=2")).await,
        StatusCode::OK,
    )
    .await;
    let seqs: Vec<u64> = page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3]);
    assert!(
        page["lines"][0]["line"]
            .as_str()
            .unwrap()
            .contains(&format!("\"supersedes\":\"{}\"", trackers[0]))
    );

    // Close: the board gains `close` and `tally`; nothing is decrypted yet.
    json_of(
        send(&app, Method::POST, &path("close"), Some(&admin), None).await,
        StatusCode::OK,
    )
    .await;
    assert_error(
        cast(
            &app,
            &id,
            &voters[3].token,
            &json!(encrypt(
                &context,
                &voters[3].pseudonym,
                &[&[0, 0, 1], &[1, 1]],
                "late"
            )),
        )
        .await,
        StatusCode::CONFLICT,
        "election_not_open",
    )
    .await;
    assert_error(
        app.get(&path("results")).await,
        StatusCode::FORBIDDEN,
        "results_embargoed",
    )
    .await;
    let closed = archive(&app, &id).await;
    let lines: Vec<&str> = closed.lines().collect();
    assert_eq!(lines.len(), 7, "setup, 4 ballots, close, tally");
    let (_, _, Event::Tally(tally)) = parse_event_line(lines[6]).unwrap() else {
        panic!("the last line is the tally");
    };
    let tally: EncryptedTally = tally;
    assert_eq!(tally.counted, 3);

    // Two trustees decrypt; a wrong proof and a second upload are refused.
    let partial = |j: usize| -> PartialDecryption {
        partial_decrypt(
            context.election_hash(),
            &key_shares[j - 1],
            &tally,
            &mut SeededNonces::new(format!("decrypt {j}").as_bytes()),
        )
        .unwrap()
    };
    let mut wrong = partial(1);
    wrong.contests[0][0].share = wrong.contests[0][1].share;
    assert_error(
        send(
            &app,
            Method::POST,
            &path("decryptions"),
            Some(&admin),
            Some(&json!(wrong)),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_decryption_proof",
    )
    .await;
    let first = json_of(
        send(
            &app,
            Method::POST,
            &path("decryptions"),
            Some(&admin),
            Some(&json!(partial(3))),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(first["result"], Value::Null);
    assert_error(
        send(
            &app,
            Method::POST,
            &path("decryptions"),
            Some(&admin),
            Some(&json!(partial(3))),
        )
        .await,
        StatusCode::CONFLICT,
        "partial_decryption_exists",
    )
    .await;
    let second = json_of(
        send(
            &app,
            Method::POST,
            &path("decryptions"),
            Some(&admin),
            Some(&json!(partial(1))),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(second["result"], json!([[2, 1, 0], [5, 9]]));
    assert_error(
        send(
            &app,
            Method::POST,
            &path("decryptions"),
            Some(&admin),
            Some(&json!(partial(2))),
        )
        .await,
        StatusCode::CONFLICT,
        "decryption_complete",
    )
    .await;

    // The result, through the results endpoint.
    let results = json_of(app.get(&path("results")).await, StatusCode::OK).await;
    assert_eq!(results["ballots"], 3);
    assert_eq!(results["contests"][0]["results"][0]["name"], "Ada");
    assert_eq!(results["contests"][0]["results"][0]["votes"], 2);
    assert_eq!(results["contests"][1]["results"][0]["name"], "Plan B");
    assert_eq!(results["contests"][1]["results"][0]["votes"], 9);

    // The record verifies, with the crypto crate and with `securevote verify`; one changed byte
    // of a ballot fails it.
    let record = archive(&app, &id).await;
    let verified = verify_record(&Record::from_jsonl(&record)).unwrap();
    assert_eq!(verified.ballots, 4);
    assert_eq!(verified.result, Some(vec![vec![2, 1, 0], vec![5, 9]]));
    let mut counted = verified.counted_trackers.clone();
    counted.sort();
    let mut expected = trackers[1..].to_vec();
    expected.sort();
    assert_eq!(counted, expected);
    assert_eq!(verified.superseded_trackers, vec![trackers[0].clone()]);
    let tampered = flip_a_ballot_digit(&record);
    assert!(verify_record(&Record::from_jsonl(&tampered)).is_err());

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("record.jsonl"), &record).unwrap();
    std::fs::write(dir.path().join("tampered.jsonl"), &tampered).unwrap();
    let run = |file: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_securevote"))
            .env_clear()
            .current_dir(dir.path())
            .args(["verify", file])
            .output()
            .unwrap()
    };
    let ok = run("record.jsonl");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("counted 3"));
    let bad = run("tampered.jsonl");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("check "));
}

#[apply(both_stores)]
async fn plain_elections_refuse_encrypted_ballots_and_have_no_board(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let election = create(&app, &admin, "plain", "plurality").await;
    let id = election["id"].as_str().unwrap();
    assert_error(
        app.get(&format!("/api/elections/{id}/board")).await,
        StatusCode::NOT_FOUND,
        "election_not_found",
    )
    .await;
    assert_error(
        app.get_authed(&format!("/api/elections/{id}/ceremony"), &admin)
            .await,
        StatusCode::CONFLICT,
        "not_encrypted",
    )
    .await;
    let shown = json_of(
        app.get_authed(&format!("/api/elections/{id}"), &admin)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(shown.get("encryption").is_none() && shown.get("board_head").is_none());
}

/// An open encrypted election (3 trustees, 2 needed) with `voters` voters on its roll.
pub(crate) async fn open_election(app: &TestApp, admin: &str, slug: &str, voters: usize) -> String {
    let election = create(app, admin, slug, "plurality").await;
    let id = election["id"].as_str().unwrap().to_owned();
    let path = |tail: &str| format!("/api/elections/{id}/{tail}");
    upload_roll(app, admin, &id, voters).await;
    let settings = json!({"trustees": 3, "threshold": 2});
    let response = send(
        app,
        Method::PUT,
        &path("encryption"),
        Some(admin),
        Some(&settings),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    for i in 1..=3u64 {
        let (_, public) = trustee_keygen(
            &params(&id),
            i,
            &mut SeededNonces::new(format!("{slug} {i}").as_bytes()),
        )
        .unwrap();
        let response = send(
            app,
            Method::POST,
            &path("trustees"),
            Some(admin),
            Some(&json!(public)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    for action in ["schedule", "open"] {
        let response = send(app, Method::POST, &path(action), Some(admin), None).await;
        assert_eq!(response.status(), StatusCode::OK, "{action}");
    }
    id
}

#[apply(both_stores)]
async fn the_ballot_cast_command_encrypts_casts_and_prints_the_tracker(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let id = open_election(&app, &admin, "cli-vote", 2).await;
    let token = voter(&app, "enc0@example.org").await;
    let run = |choices: &[&str]| {
        let mut args = vec![
            "ballot".to_owned(),
            "cast".into(),
            "--url".into(),
            app.base.clone(),
            "--election".into(),
            id.clone(),
            "--token".into(),
            token.clone(),
        ];
        for choice in choices {
            args.push("--choice".into());
            args.push((*choice).to_owned());
        }
        std::process::Command::new(env!("CARGO_BIN_EXE_securevote"))
            .env_clear()
            .args(&args)
            .output()
            .unwrap()
    };
    let out = run(&["Chair=Grace", "Budget=Plan A:4,Plan B:1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tracker = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(tracker.len(), 29, "6 groups of 4: {tracker}");
    let record = archive(&app, &id).await;
    let ballot_line = record.lines().nth(1).unwrap();
    assert!(ballot_line.contains(&format!("\"tracker\":\"{tracker}\"")));

    // Two choices in a single-choice contest, an unknown choice: refused before anything is sent.
    for bad in [
        &["Chair=Ada,Grace"][..],
        &["Chair=Nobody"][..],
        &["Nowhere=Ada"][..],
    ] {
        let out = run(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    // The server's refusal is reported with its code (voting closed).
    let response = send(
        &app,
        Method::POST,
        &format!("/api/elections/{id}/close"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let out = run(&["Chair=Ada"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("election_not_open"));
}

/// Concurrent ballots (on PostgreSQL through two instances on one database) make one chain:
/// every acknowledged ballot is on the board, numbered without gap or fork.
#[apply(both_stores)]
async fn concurrent_ballots_make_one_chain_without_gap_or_fork(kind: Kind) {
    let db = crate::helpers::TestDatabase::new(kind).await;
    let first = db.spawn().await;
    let second = match kind {
        Kind::Postgres => Some(db.spawn().await),
        Kind::Sqlite => None,
    };
    let admin = admin_token(&first).await;
    let voters = 12;
    let id = open_election(&first, &admin, "concurrent", voters).await;
    let mut ballots = Vec::new();
    for i in 0..voters {
        let app = match (&second, i % 2) {
            (Some(second), 1) => second,
            _ => &first,
        };
        let token = voter(app, &format!("enc{i}@example.org")).await;
        let (pseudonym, context) = credential(app, &id, &token).await;
        let ballot = encrypt(
            &context,
            &pseudonym,
            &[&[0, 0, 1], &[1, 2]],
            &format!("c{i}"),
        );
        ballots.push((i, token, ballot));
    }
    // Sent at the same time as the others: a retry of voter 0's ballot (the same bytes) and a
    // second ballot of voter 1. Concurrent ballots share board appends (group commit); a batch
    // holding a ballot already on the board falls back to one append per ballot.
    let (_, token0, ballot0) = ballots[0].clone();
    ballots.push((0, token0, ballot0));
    let token1 = ballots[1].1.clone();
    let app1 = second.as_ref().unwrap_or(&first);
    let (pseudonym1, context1) = credential(app1, &id, &token1).await;
    let again = encrypt(&context1, &pseudonym1, &[&[1, 0, 0], &[0, 0]], "again");
    ballots.push((1, token1, again));
    let id = id.as_str();
    let casts = ballots.iter().map(|(i, token, ballot)| {
        let app = match (&second, i % 2) {
            (Some(second), 1) => second,
            _ => &first,
        };
        async move { cast(app, id, token, &json!(ballot)).await.status() }
    });
    let statuses = futures_util::future::join_all(casts).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    let record = archive(&first, id).await;
    let lines: Vec<&str> = record.lines().collect();
    assert_eq!(
        lines.len(),
        voters + 2,
        "setup, the ballots and the re-vote; the retry once"
    );
    let summary = securevote_crypto::verify_board(&Record::from_jsonl(&record)).unwrap();
    assert_eq!(summary.ballots, voters as u64 + 1);
    assert_eq!(summary.counted_trackers.len(), voters);
    assert_eq!(summary.superseded_trackers.len(), 1);
    if let Some(second) = second {
        second.stop().await;
    }
}

#[apply(both_stores)]
async fn a_challenged_ballot_is_spoiled_on_the_board_and_can_never_be_cast(kind: Kind) {
    let app = spawn_app(kind).await;
    let admin = admin_token(&app).await;
    let id = open_election(&app, &admin, "benaloh", 2).await;
    let token = voter(&app, "enc0@example.org").await;
    let other = voter(&app, "enc1@example.org").await;
    let (pseudonym, context) = credential(&app, &id, &token).await;
    let (ballot, reveal) = encrypt_ballot(
        &context,
        &pseudonym,
        &[vec![0, 1, 0], vec![4, 0]],
        &mut SeededNonces::new(b"challenged"),
    )
    .unwrap();
    let spoil = |token: String, body: Value| {
        let app = &app;
        let id = id.clone();
        async move {
            send(
                app,
                Method::POST,
                &format!("/api/elections/{id}/spoiled"),
                Some(&token),
                Some(&body),
            )
            .await
        }
    };
    let mut lying = json!(reveal);
    lying["contests"][0]["values"] = json!([1, 0, 0]);
    assert_error(
        spoil(token.clone(), json!({"ballot": ballot, "reveal": lying})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reveal",
    )
    .await;
    assert_error(
        spoil(other.clone(), json!({"ballot": ballot, "reveal": reveal})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_ballot_proof",
    )
    .await;
    let spoiled = json_of(
        spoil(token.clone(), json!({"ballot": ballot, "reveal": reveal})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(spoiled["values"], json!([[0, 1, 0], [4, 0]]));
    assert_eq!(spoiled["tracker"], reveal.tracker);
    assert_error(
        cast(&app, &id, &token, &json!(ballot)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_ballot_proof",
    )
    .await;
    let fresh = encrypt(&context, &pseudonym, &[&[0, 1, 0], &[4, 0]], "fresh");
    json_of(
        cast(&app, &id, &token, &json!(fresh)).await,
        StatusCode::CREATED,
    )
    .await;
    let record = archive(&app, &id).await;
    let summary = securevote_crypto::verify_board(&Record::from_jsonl(&record)).unwrap();
    assert_eq!(summary.spoiled_trackers, vec![reveal.tracker.clone()]);
    assert_eq!(summary.ballots, 1);
}
