//! The trustees' offline tools and the verifier, as trustees and observers run them: three
//! trustees make a 2-of-3 election key on the command line, an election is run on it (ballots
//! made with the crypto crate, as the service will), two trustees decrypt the tally, and
//! `securevote verify` accepts the record and refuses it after any tampering, naming the check.

use std::path::Path;
use std::process::{Command, Output};

use securevote_crypto::{
    Ballot, BallotEvent, Board, CloseEvent, Contest, Election, EncryptedShare, Event,
    PartialDecryption, ResultEvent, SeededNonces, SetupEvent, TallyDecryption, TrusteePublicKey,
    TrusteeSet, aggregate, encrypt_ballot, event_hash, sha256, verify_ballot,
};

const ELECTION: &str = "board-2026";

fn securevote(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_securevote"))
        .env_clear()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run securevote")
}

fn ok(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Exit code `code` and a one-line message containing `needle`.
fn refused(output: Output, code: i32, needle: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{what}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{what}: expected {needle:?} in {stderr}"
    );
}

fn election() -> Election {
    Election {
        id: ELECTION.into(),
        title: "Board election".into(),
        contests: vec![
            Contest::Choices {
                title: "Chair".into(),
                choices: vec!["Ada".into(), "Grace".into(), "Edsger".into()],
                min: 1,
                max: 1,
            },
            Contest::Score {
                title: "Budget".into(),
                choices: vec!["Plan A".into(), "Plan B".into()],
                max_score: 5,
            },
        ],
    }
}

#[test]
fn trustees_make_a_key_decrypt_a_tally_and_anyone_verifies_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Step 1: each trustee makes a secret and publishes a public key.
    let mut publics: Vec<TrusteePublicKey> = Vec::new();
    for i in 1..=3 {
        let out = ok(
            securevote(
                d,
                &[
                    "trustee",
                    "keygen",
                    "--election",
                    ELECTION,
                    "--index",
                    &i.to_string(),
                    "--trustees",
                    "3",
                    "--threshold",
                    "2",
                    "--secret",
                    &format!("t{i}.secret"),
                ],
            ),
            "keygen",
        );
        publics.push(serde_json::from_str(&out).unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join(format!("t{i}.secret")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the secret is private");
    }
    let before = std::fs::read(d.join("t1.secret")).unwrap();
    refused(
        securevote(
            d,
            &[
                "trustee",
                "keygen",
                "--election",
                ELECTION,
                "--index",
                "1",
                "--trustees",
                "3",
                "--threshold",
                "2",
                "--secret",
                "t1.secret",
            ],
        ),
        2,
        "never overwritten",
        "a second keygen over the secret",
    );
    assert_eq!(std::fs::read(d.join("t1.secret")).unwrap(), before);
    refused(
        securevote(
            d,
            &[
                "trustee",
                "keygen",
                "--election",
                ELECTION,
                "--index",
                "4",
                "--trustees",
                "3",
                "--threshold",
                "2",
                "--secret",
                "t4.secret",
            ],
        ),
        2,
        "4",
        "an index beyond the trustees",
    );
    std::fs::write(
        d.join("keys.json"),
        serde_json::to_string(&publics).unwrap(),
    )
    .unwrap();

    // Step 2: each trustee checks the keys and sends encrypted shares to the others.
    let mut shares: Vec<EncryptedShare> = Vec::new();
    for i in 1..=3 {
        let out = ok(
            securevote(
                d,
                &[
                    "trustee",
                    "shares",
                    "--secret",
                    &format!("t{i}.secret"),
                    "--keys",
                    "keys.json",
                ],
            ),
            "shares",
        );
        shares.extend(serde_json::from_str::<Vec<EncryptedShare>>(&out).unwrap());
    }
    let mut forged = publics.clone();
    forged[1].commitments[0] = forged[2].commitments[0];
    std::fs::write(
        d.join("forged-keys.json"),
        serde_json::to_string(&forged).unwrap(),
    )
    .unwrap();
    refused(
        securevote(
            d,
            &[
                "trustee",
                "shares",
                "--secret",
                "t1.secret",
                "--keys",
                "forged-keys.json",
            ],
        ),
        1,
        "trustee 2",
        "a public key whose proof does not verify",
    );

    // Step 3: each trustee checks the shares it received and keeps its key share.
    for j in 1..=3u64 {
        let mine: Vec<&EncryptedShare> = shares.iter().filter(|s| s.to == j).collect();
        std::fs::write(
            d.join(format!("shares-{j}.json")),
            serde_json::to_string(&mine).unwrap(),
        )
        .unwrap();
        if j == 2 {
            let mut tampered: Vec<EncryptedShare> = mine.iter().map(|s| (*s).clone()).collect();
            tampered[0].ciphertext.0[0] ^= 1;
            std::fs::write(
                d.join("tampered.json"),
                serde_json::to_string(&tampered).unwrap(),
            )
            .unwrap();
            let out = securevote(
                d,
                &[
                    "trustee",
                    "finish",
                    "--secret",
                    "t2.secret",
                    "--keys",
                    "keys.json",
                    "--shares",
                    "tampered.json",
                    "--key-share",
                    "t2.key",
                ],
            );
            assert_eq!(out.status.code(), Some(1), "a tampered share is refused");
            assert!(!d.join("t2.key").exists(), "nothing written");
        }
        ok(
            securevote(
                d,
                &[
                    "trustee",
                    "finish",
                    "--secret",
                    &format!("t{j}.secret"),
                    "--keys",
                    "keys.json",
                    "--shares",
                    &format!("shares-{j}.json"),
                    "--key-share",
                    &format!("t{j}.key"),
                ],
            ),
            "finish",
        );
    }

    // The election on that key, as the service runs it: setup, ballots, close, tally.
    let roll: Vec<_> = (0..6u8).map(|n| sha256(&[n])).collect();
    let setup = SetupEvent::new(election(), 2, publics.clone(), roll.clone()).unwrap();
    let mut board = Board::new();
    let line = board.append(&Event::Setup(setup.clone())).to_owned();
    let context = setup.context(event_hash(&line)).unwrap();
    let votes: [&[&[u64]]; 5] = [
        &[&[1, 0, 0], &[5, 1]],
        &[&[0, 1, 0], &[2, 2]],
        &[&[1, 0, 0], &[0, 4]],
        &[&[0, 0, 1], &[3, 3]],
        &[&[1, 0, 0], &[1, 0]],
    ];
    let mut verified = Vec::new();
    for (n, values) in votes.iter().enumerate() {
        let values: Vec<Vec<u64>> = values.iter().map(|v| v.to_vec()).collect();
        let (ballot, _): (Ballot, _) = encrypt_ballot(
            &context,
            &roll[n],
            &values,
            &mut SeededNonces::new(format!("ballot {n}").as_bytes()),
        )
        .unwrap();
        let checked = verify_ballot(&context, &ballot, Some(&roll[n])).unwrap();
        board.append(&Event::Ballot(BallotEvent {
            ballot,
            tracker: checked.tracker.display(),
            supersedes: None,
        }));
        verified.push(checked);
    }
    board.append(&Event::Close(CloseEvent {
        ballots: 5,
        counted: 5,
    }));
    let tally = aggregate(&context, verified.iter());
    board.append(&Event::Tally(tally.clone()));
    let closed = board.clone().into_record().to_jsonl();
    std::fs::write(d.join("board.jsonl"), &closed).unwrap();

    // A trustee refuses to decrypt a board whose ballots were tampered with.
    let mut lines: Vec<String> = closed.lines().map(str::to_owned).collect();
    lines[2] = flip_a_hex_digit(&lines[2]);
    std::fs::write(d.join("tampered-board.jsonl"), lines.join("\n") + "\n").unwrap();
    refused(
        securevote(
            d,
            &[
                "trustee",
                "decrypt",
                "--key-share",
                "t1.key",
                "--record",
                "tampered-board.jsonl",
            ],
        ),
        1,
        "the board: check",
        "decrypting a tampered board",
    );

    // Two of three trustees decrypt; the service combines and publishes.
    let trustees = TrusteeSet::new(&setup.ceremony_params(), &publics).unwrap();
    let mut decryption =
        TallyDecryption::new(*context.election_hash(), trustees, tally.clone()).unwrap();
    for j in [3, 1] {
        let out = ok(
            securevote(
                d,
                &[
                    "trustee",
                    "decrypt",
                    "--key-share",
                    &format!("t{j}.key"),
                    "--record",
                    "board.jsonl",
                ],
            ),
            "decrypt",
        );
        let partial: PartialDecryption = serde_json::from_str(&out).unwrap();
        decryption.add(&partial).unwrap();
        board.append(&Event::PartialDecryption(partial));
    }
    let result = decryption.combine(context.contests()).unwrap();
    assert_eq!(result, vec![vec![3, 1, 1], vec![11, 10]]);
    board.append(&Event::Result(ResultEvent { contests: result }));
    let archive = board.into_record().to_jsonl();
    std::fs::write(d.join("archive.jsonl"), &archive).unwrap();

    // Anyone verifies the record.
    let summary = ok(securevote(d, &["verify", "archive.jsonl"]), "verify");
    for needle in [
        "verified",
        "counted 5",
        "Chair:",
        "  Ada: 3",
        "  Edsger: 1",
        "  Plan A: 11",
        "  Plan B: 10",
    ] {
        assert!(summary.contains(needle), "{needle:?} in {summary}");
    }
    refused(
        securevote(d, &["verify", "board.jsonl"]),
        1,
        "before the result",
        "a record without its result",
    );
    // Any single changed ballot byte, a removed ballot, a changed result: refused, naming the check.
    let lines: Vec<String> = archive.lines().map(str::to_owned).collect();
    for (what, edited) in [
        (
            "a changed ballot",
            replace(&lines, 3, flip_a_hex_digit(&lines[3])),
        ),
        ("a removed ballot", remove(&lines, 2)),
        (
            "a changed result",
            replace(
                &lines,
                lines.len() - 1,
                lines[lines.len() - 1].replace("[3,1,1]", "[1,3,1]"),
            ),
        ),
    ] {
        std::fs::write(d.join("edited.jsonl"), edited).unwrap();
        refused(
            securevote(d, &["verify", "edited.jsonl"]),
            1,
            "check ",
            what,
        );
    }
    refused(
        securevote(d, &["verify", "missing.jsonl"]),
        2,
        "cannot read",
        "a missing file",
    );
}

fn flip_a_hex_digit(line: &str) -> String {
    // The last hex digit inside the line's ballot (far from the hashes at its start).
    let at = line.rfind("\"ciphertexts\"").unwrap_or(line.len() / 2) + 40;
    let mut bytes = line.as_bytes().to_vec();
    let i = (at..bytes.len())
        .find(|&i| bytes[i].is_ascii_hexdigit())
        .unwrap();
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

fn replace(lines: &[String], at: usize, line: String) -> String {
    let mut lines = lines.to_vec();
    lines[at] = line;
    lines.join("\n") + "\n"
}

fn remove(lines: &[String], at: usize) -> String {
    let mut lines = lines.to_vec();
    lines.remove(at);
    lines.join("\n") + "\n"
}
