//! Shared test vectors: fixed keys and nonces give exact ballot bytes, trackers and reveals. The
//! JavaScript implementation (tests/js/crypto) must reproduce them byte for byte.
//! `SECUREVOTE_WRITE_VECTORS=1 cargo test -p securevote-crypto` rewrites the files.

use std::path::PathBuf;

use securevote_crypto::*;
use serde_json::{Value, json};

use crate::fixture::fixture;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn ballot_case(
    name: &str,
    contests: Vec<Contest>,
    voter: u8,
    values: Vec<Vec<u64>>,
    seed: &str,
) -> Value {
    let f = fixture();
    let election_hash = sha256(format!("securevote test vector election {name}").as_bytes());
    let context =
        ElectionContext::new(election_hash, f.context.public_key(), contests.clone()).unwrap();
    let pseudonym = Bytes32([voter; 32]);
    let (ballot, reveal) = encrypt_ballot(
        &context,
        &pseudonym,
        &values,
        &mut SeededNonces::new(seed.as_bytes()),
    )
    .unwrap();
    let verified = verify_ballot(&context, &ballot, Some(&pseudonym)).unwrap();
    assert_eq!(verify_reveal(&context, &ballot, &reveal).unwrap(), values);
    json!({
        "name": name,
        "election_hash": election_hash,
        "public_key": f.context.public_key(),
        "contests": contests,
        "pseudonym": pseudonym,
        "values": values,
        "nonce_seed_utf8": seed,
        "ballot": ballot,
        "ballot_json": ballot.to_json(),
        "ballot_bytes": to_hex(&ballot.canonical_bytes()),
        "tracker_hash": verified.tracker.hash,
        "tracker": verified.tracker.display(),
        "reveal": reveal,
    })
}

fn choices(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("Choice {}", i + 1)).collect()
}

fn ballots() -> Value {
    let f = fixture();
    json!({
        "description": "Ballots encrypted with the deterministic nonces of docs/election-record.md §7. An implementation given election_hash, public_key, contests, pseudonym, values and the nonce seed must produce exactly ballot (serialised as ballot_json, fields in this order), ballot_bytes, tracker_hash, tracker and reveal.",
        "cases": [
            ballot_case("mixed", f.setup.election.contests.clone(), 1, vec![vec![0, 1, 0], vec![1, 0, 0, 1], vec![3, 0]], "vector mixed"),
            ballot_case("plurality-5", vec![Contest::Choices { title: "Chair".into(), choices: choices(5), min: 1, max: 1 }], 2, vec![vec![0, 0, 0, 1, 0]], "vector plurality"),
            ballot_case("approval-blank", vec![Contest::Choices { title: "Committee".into(), choices: choices(3), min: 0, max: 3 }], 3, vec![vec![0, 0, 0]], "vector approval"),
            ballot_case("score-5", vec![Contest::Score { title: "Rate".into(), choices: choices(3), max_score: 5 }], 4, vec![vec![5, 0, 2]], "vector score"),
        ]
    })
}

fn primitives() -> Value {
    let mut nonces = SeededNonces::new(b"abc");
    let stream: Vec<Bytes32> = (0..4)
        .map(|_| Bytes32::from_scalar(&nonces.next_scalar()))
        .collect();
    json!({
        "description": "Building blocks: the deterministic nonce stream (§7), SHA-256 event hashes and Crockford base32.",
        "nonces": { "seed_utf8": "abc", "scalars": stream },
        "event_hash": { "line": "{\"seq\":0}", "hash": sha256(b"{\"seq\":0}") },
        "crockford": { "bytes": "0123456789abcdef0123456789abcd", "text": crockford_base32(&from_hex("0123456789abcdef0123456789abcd").unwrap()) },
    })
}

fn check_or_write(name: &str, value: Value) {
    let path = vectors_dir().join(name);
    let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
    if std::env::var_os("SECUREVOTE_WRITE_VECTORS").is_some() || !path.exists() {
        std::fs::create_dir_all(vectors_dir()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == text,
        "{} no longer matches the implementation; if the change is intended, regenerate with SECUREVOTE_WRITE_VECTORS=1",
        path.display()
    );
}

#[test]
fn ballot_vectors_match_the_committed_files() {
    check_or_write("ballots.json", ballots());
}

#[test]
fn primitive_vectors_match_the_committed_files() {
    check_or_write("primitives.json", primitives());
}

#[test]
fn committed_ballot_vectors_verify() {
    let text = std::fs::read_to_string(vectors_dir().join("ballots.json")).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    for case in value["cases"].as_array().unwrap() {
        let contests: Vec<Contest> = serde_json::from_value(case["contests"].clone()).unwrap();
        let hash: Bytes32 = serde_json::from_value(case["election_hash"].clone()).unwrap();
        let pk: Bytes32 = serde_json::from_value(case["public_key"].clone()).unwrap();
        let context = ElectionContext::new(hash, &pk, contests).unwrap();
        let ballot: Ballot = serde_json::from_value(case["ballot"].clone()).unwrap();
        let reveal: Reveal = serde_json::from_value(case["reveal"].clone()).unwrap();
        let verified = verify_ballot(&context, &ballot, None).unwrap();
        assert_eq!(
            verified.tracker.display(),
            case["tracker"].as_str().unwrap()
        );
        verify_reveal(&context, &ballot, &reveal).unwrap();
    }
}
