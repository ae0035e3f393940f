//! The election record: a complete record verifies; every kind of tampering is caught by the
//! check that names it.

use securevote_crypto::*;
use serde_json::Value;

use crate::fixture::{complete_record, expected_result, pseudonym};

// Events of the fixture record.
const SPOILED: usize = 1;
const FIRST_BALLOT: usize = 2;
const VOTER2_FIRST: usize = 3;
const VOTER2_SECOND: usize = 5;
const CLOSE: usize = 7;
const TALLY: usize = 8;
const PARTIAL: usize = 9;
const RESULT: usize = 11;

/// Recomputes `seq` and `prev` of every line, as a dishonest server rewriting its board would.
fn rechain(lines: Vec<String>) -> Record {
    let mut prev = GENESIS_PREV;
    let mut out = Vec::new();
    for (seq, line) in lines.into_iter().enumerate() {
        let mut value: Value = serde_json::from_str(&line).unwrap();
        let line = if value["seq"] == seq as u64 && value["prev"] == prev.to_hex() {
            line
        } else {
            value["seq"] = Value::from(seq as u64);
            value["prev"] = Value::from(prev.to_hex());
            value.to_string()
        };
        prev = event_hash(&line);
        out.push(line);
    }
    Record { lines: out }
}

fn edit(record: &Record, seq: usize, change: impl FnOnce(&mut Value)) -> Record {
    let mut lines = record.lines.clone();
    let mut value: Value = serde_json::from_str(&lines[seq]).unwrap();
    change(&mut value);
    lines[seq] = value.to_string();
    rechain(lines)
}

fn failed(record: &Record) -> (Check, Option<u64>) {
    let error = verify_record(record).expect_err("tampering must be detected");
    (error.check, error.seq)
}

#[test]
fn the_complete_record_verifies() {
    let (_, record) = complete_record();
    let verified = verify_record(&record).unwrap();
    assert_eq!(verified.result, Some(expected_result()));
    assert_eq!(verified.ballots, 5);
    assert_eq!(verified.counted_trackers.len(), 4);
    assert_eq!(verified.superseded_trackers.len(), 1);
    assert_eq!(verified.spoiled_trackers.len(), 1);
    assert_eq!(verified.head_hash, record.head_hash());
    assert_eq!(verified.election_hash, event_hash(&record.lines[0]));
    // Through the archive file and back.
    let again = Record::from_jsonl(&record.to_jsonl());
    assert_eq!(again, record);
    // A ballot line re-serialised with another key order still verifies once the chain is
    // rewritten: event hashes bind bytes, proofs and trackers bind values.
    let reordered = edit(&record, FIRST_BALLOT, |_| {});
    assert_ne!(reordered.lines[FIRST_BALLOT], record.lines[FIRST_BALLOT]);
    assert_eq!(
        verify_record(&reordered).unwrap().result,
        Some(expected_result())
    );
}

#[test]
fn a_board_in_progress_verifies_but_is_not_a_complete_record() {
    let (_, record) = complete_record();
    let prefix = Record {
        lines: record.lines[..CLOSE].to_vec(),
    };
    let board = verify_board(&prefix).unwrap();
    assert!(!board.is_complete());
    assert_eq!(board.counted_trackers.len(), 4);
    assert_eq!(failed(&prefix), (Check::Structure, None));
}

#[test]
fn any_single_byte_changed_in_a_ballot_fails() {
    let (_, record) = complete_record();
    let line = &record.lines[FIRST_BALLOT];
    // Every 97th byte of the ballot line, flipped to another hex digit or character.
    for position in (0..line.len()).step_by(97) {
        let mut bytes = line.clone().into_bytes();
        bytes[position] = if bytes[position] == b'0' { b'1' } else { b'0' };
        let Ok(changed) = String::from_utf8(bytes) else {
            continue;
        };
        let mut lines = record.lines.clone();
        lines[FIRST_BALLOT] = changed;
        let tampered = Record { lines };
        let error = verify_record(&tampered).expect_err("a changed byte must be detected");
        let at = FIRST_BALLOT as u64;
        assert!(
            error.seq == Some(at) || (error.check == Check::Chain && error.seq == Some(at + 1)),
            "{error}"
        );
    }
}

#[test]
fn a_changed_ballot_fails_its_proofs_even_when_rechained() {
    let (_, record) = complete_record();
    let tampered = edit(&record, FIRST_BALLOT, |v| {
        let beta = v["ballot"]["contests"][0]["choices"][0]["beta"]
            .as_str()
            .unwrap()
            .to_owned();
        let other = v["ballot"]["contests"][0]["choices"][1]["beta"]
            .as_str()
            .unwrap()
            .to_owned();
        v["ballot"]["contests"][0]["choices"][0]["beta"] = Value::from(other);
        v["ballot"]["contests"][0]["choices"][1]["beta"] = Value::from(beta);
    });
    assert_eq!(
        failed(&tampered),
        (Check::BallotProofs, Some(FIRST_BALLOT as u64))
    );
}

#[test]
fn a_changed_tracker_fails() {
    let (_, record) = complete_record();
    let tampered = edit(&record, FIRST_BALLOT, |v| {
        v["tracker"] = Value::from("0000-0000-0000-0000-0000-0000")
    });
    assert_eq!(
        failed(&tampered),
        (Check::Tracker, Some(FIRST_BALLOT as u64))
    );
}

#[test]
fn a_removed_ballot_fails() {
    let (_, record) = complete_record();
    let mut lines = record.lines.clone();
    lines.remove(FIRST_BALLOT);
    // Without rewriting the chain: the next line's prev (and seq) no longer match.
    assert_eq!(
        failed(&Record {
            lines: lines.clone()
        }),
        (Check::Chain, Some(FIRST_BALLOT as u64))
    );
    // With the chain rewritten: the close event's counts.
    assert_eq!(
        failed(&rechain(lines.clone())),
        (Check::Close, Some(CLOSE as u64 - 1))
    );
    // With the close event adjusted too: the encrypted tally is no longer the sum.
    let adjusted = edit(&rechain(lines), CLOSE - 1, |v| {
        v["ballots"] = Value::from(4);
        v["counted"] = Value::from(3);
    });
    assert_eq!(
        failed(&adjusted),
        (Check::HomomorphicSums, Some(TALLY as u64 - 1))
    );
}

#[test]
fn an_inserted_ballot_fails() {
    let (f, record) = complete_record();
    let (ballot, _) = f.encrypt(5, &[vec![1, 0, 0], vec![0; 4], vec![0, 0]], b"inserted");
    let event = BallotEvent {
        tracker: ballot.tracker().display(),
        ballot,
        supersedes: None,
    };
    let mut lines = record.lines.clone();
    lines.insert(CLOSE, event_line(0, &GENESIS_PREV, &Event::Ballot(event)));
    assert_eq!(
        failed(&Record {
            lines: lines.clone()
        }),
        (Check::Chain, Some(CLOSE as u64))
    );
    assert_eq!(
        failed(&rechain(lines)),
        (Check::Close, Some(CLOSE as u64 + 1))
    );
}

#[test]
fn a_ballot_of_a_pseudonym_not_on_the_roll_fails() {
    let (f, record) = complete_record();
    let (ballot, _) = f.encrypt(9, &[vec![1, 0, 0], vec![0; 4], vec![0, 0]], b"stranger");
    let event = BallotEvent {
        tracker: ballot.tracker().display(),
        ballot,
        supersedes: None,
    };
    let mut lines = record.lines.clone();
    lines.insert(CLOSE, event_line(0, &GENESIS_PREV, &Event::Ballot(event)));
    assert_eq!(failed(&rechain(lines)), (Check::Roll, Some(CLOSE as u64)));
    assert!(!f.setup.roll.contains(&pseudonym(9)));
}

#[test]
fn a_replayed_ballot_fails() {
    let (_, record) = complete_record();
    let mut lines = record.lines.clone();
    let replay = edit(&record, VOTER2_SECOND, |_| {}).lines[VOTER2_SECOND].clone();
    lines.insert(VOTER2_SECOND + 1, replay);
    assert_eq!(
        failed(&rechain(lines)),
        (Check::OneBallotPerPseudonym, Some(VOTER2_SECOND as u64 + 1))
    );
}

#[test]
fn reordered_ballots_fail() {
    let (_, record) = complete_record();
    let mut lines = record.lines.clone();
    lines.swap(VOTER2_FIRST, VOTER2_SECOND);
    assert_eq!(
        failed(&Record {
            lines: lines.clone()
        }),
        (Check::Chain, Some(VOTER2_FIRST as u64))
    );
    // Rechained, the re-vote marks no longer match: the counted ballot would change.
    assert_eq!(
        failed(&rechain(lines)),
        (Check::OneBallotPerPseudonym, Some(VOTER2_FIRST as u64))
    );
}

#[test]
fn a_hidden_revote_mark_fails() {
    let (_, record) = complete_record();
    let tampered = edit(&record, VOTER2_SECOND, |v| v["supersedes"] = Value::Null);
    assert_eq!(
        failed(&tampered),
        (Check::OneBallotPerPseudonym, Some(VOTER2_SECOND as u64))
    );
}

#[test]
fn a_spoiled_ballot_that_is_then_cast_fails() {
    let (_, record) = complete_record();
    let spoiled: Value = serde_json::from_str(&record.lines[SPOILED]).unwrap();
    let cast = serde_json::json!({
        "seq": 0, "prev": GENESIS_PREV.to_hex(), "type": "ballot",
        "ballot": spoiled["ballot"], "tracker": spoiled["tracker"], "supersedes": null,
    });
    let mut lines = record.lines.clone();
    lines.insert(CLOSE, cast.to_string());
    assert_eq!(
        failed(&rechain(lines)),
        (Check::Spoiled, Some(CLOSE as u64))
    );
    let lie = edit(&record, SPOILED, |v| {
        v["reveal"]["contests"][0]["values"] = serde_json::json!([1, 0, 0])
    });
    assert_eq!(failed(&lie), (Check::Spoiled, Some(SPOILED as u64)));
}

#[test]
fn a_wrong_encrypted_tally_fails() {
    let (_, record) = complete_record();
    let tampered = edit(&record, TALLY, |v| {
        let a = v["contests"][0][0].clone();
        v["contests"][0][0] = v["contests"][0][1].clone();
        v["contests"][0][1] = a;
    });
    assert_eq!(
        failed(&tampered),
        (Check::HomomorphicSums, Some(TALLY as u64))
    );
}

#[test]
fn a_wrong_partial_decryption_fails() {
    let (_, record) = complete_record();
    let tampered = edit(&record, PARTIAL, |v| {
        let share = v["contests"][1][1]["share"].clone();
        v["contests"][1][1]["share"] = v["contests"][1][0]["share"].clone();
        v["contests"][1][0]["share"] = share;
    });
    assert_eq!(
        failed(&tampered),
        (Check::DecryptionProofs, Some(PARTIAL as u64))
    );
    // The same trustee twice.
    let mut lines = record.lines.clone();
    lines.insert(PARTIAL + 1, lines[PARTIAL].clone());
    assert_eq!(
        failed(&rechain(lines)),
        (Check::DecryptionProofs, Some(PARTIAL as u64 + 1))
    );
}

#[test]
fn too_few_partial_decryptions_fail() {
    let (_, record) = complete_record();
    let mut lines = record.lines.clone();
    lines.remove(PARTIAL);
    assert_eq!(
        failed(&rechain(lines)),
        (Check::Result, Some(RESULT as u64 - 1))
    );
}

#[test]
fn an_altered_result_fails() {
    let (_, record) = complete_record();
    let tampered = edit(&record, RESULT, |v| {
        v["contests"][0] = serde_json::json!([1, 2, 1])
    });
    assert_eq!(failed(&tampered), (Check::Result, Some(RESULT as u64)));
}

#[test]
fn a_broken_chain_fails() {
    let (_, record) = complete_record();
    let mut lines = record.lines.clone();
    let mut value: Value = serde_json::from_str(&lines[CLOSE]).unwrap();
    value["prev"] = Value::from(Bytes32([1; 32]).to_hex());
    lines[CLOSE] = value.to_string();
    assert_eq!(
        failed(&Record { lines }),
        (Check::Chain, Some(CLOSE as u64))
    );
}

#[test]
fn a_changed_setup_fails() {
    let (_, record) = complete_record();
    // Another roll: the fingerprint no longer matches.
    let tampered = edit(&record, 0, |v| {
        v["roll"].as_array_mut().unwrap().pop().map(|_| ()).unwrap()
    });
    assert_eq!(failed(&tampered), (Check::Roll, Some(0)));
    // Another public key.
    let tampered = edit(&record, 0, |v| {
        v["public_key"] = v["trustees"][0]["commitments"][0].clone()
    });
    assert_eq!(failed(&tampered), (Check::Setup, Some(0)));
    // Any change to the setup changes the election hash, so no ballot (here: first the spoiled
    // one) verifies any more.
    let tampered = edit(&record, 0, |v| {
        v["election"]["title"] = Value::from("Another title")
    });
    assert_eq!(failed(&tampered), (Check::Spoiled, Some(SPOILED as u64)));
    let mut lines = tampered.lines.clone();
    lines.remove(SPOILED);
    assert_eq!(
        failed(&rechain(lines)),
        (Check::BallotProofs, Some(FIRST_BALLOT as u64 - 1))
    );
}

#[test]
fn events_out_of_order_or_unknown_fail() {
    let (_, record) = complete_record();
    let mut lines = record.lines.clone();
    lines.swap(CLOSE, TALLY);
    assert_eq!(
        failed(&rechain(lines)),
        (Check::Structure, Some(CLOSE as u64))
    );
    let unknown = edit(&record, CLOSE, |v| v["type"] = Value::from("reopen"));
    assert_eq!(failed(&unknown), (Check::Format, Some(CLOSE as u64)));
    let extra = edit(&record, CLOSE, |v| v["note"] = Value::from("hello"));
    assert_eq!(failed(&extra), (Check::Format, Some(CLOSE as u64)));
    let mut lines = record.lines.clone();
    lines.push(lines[RESULT].clone());
    assert_eq!(
        failed(&rechain(lines)),
        (Check::Structure, Some(RESULT as u64 + 1))
    );
    assert_eq!(
        failed(&Record {
            lines: vec!["not json".into()]
        }),
        (Check::Format, Some(0))
    );
}
