//! Ballots: round trips, and every malformed or malicious ballot refused with its reason.

use proptest::prelude::*;
use securevote_crypto::*;

use crate::fixture::{fixture, pseudonym};

const GOOD: [[u64; 4]; 3] = [[0, 1, 0, 0], [1, 0, 0, 1], [2, 3, 0, 0]];

fn good_values() -> Vec<Vec<u64>> {
    vec![
        GOOD[0][..3].to_vec(),
        GOOD[1].to_vec(),
        GOOD[2][..2].to_vec(),
    ]
}

#[test]
fn an_honest_ballot_verifies_and_its_reveal_shows_the_values() {
    let f = fixture();
    let (ballot, reveal) = f.encrypt(1, &good_values(), b"honest");
    let verified = verify_ballot(&f.context, &ballot, Some(&pseudonym(1))).unwrap();
    assert_eq!(verified.tracker.display(), reveal.tracker);
    assert_eq!(
        verify_reveal(&f.context, &ballot, &reveal).unwrap(),
        good_values()
    );
    // JSON round trip keeps every byte.
    let again = Ballot::from_json(&ballot.to_json()).unwrap();
    assert_eq!(again, ballot);
    assert_eq!(again.tracker(), ballot.tracker());
}

#[test]
fn tracker_is_six_groups_of_four_crockford_characters() {
    let f = fixture();
    let (ballot, _) = f.encrypt(1, &good_values(), b"tracker");
    let tracker = ballot.tracker().display();
    assert_eq!(tracker.len(), 29);
    let groups: Vec<_> = tracker.split('-').collect();
    assert_eq!(groups.len(), 6);
    assert!(groups.iter().all(|g| {
        g.len() == 4
            && g.chars()
                .all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c))
    }));
}

#[test]
fn a_ballot_from_a_real_random_generator_verifies() {
    let f = fixture();
    let mut rng = rand::rngs::OsRng;
    let (ballot, reveal) = encrypt_ballot(
        &f.context,
        &pseudonym(2),
        &good_values(),
        &mut RngNonces(&mut rng),
    )
    .unwrap();
    verify_ballot(&f.context, &ballot, Some(&pseudonym(2))).unwrap();
    verify_reveal(&f.context, &ballot, &reveal).unwrap();
}

#[test]
fn the_encrypter_refuses_values_outside_the_rules() {
    let f = fixture();
    let cases: [(&str, Vec<Vec<u64>>); 5] = [
        (
            "two choices in a single-choice contest",
            vec![vec![1, 1, 0], vec![0; 4], vec![0, 0]],
        ),
        (
            "no choice where one is required",
            vec![vec![0, 0, 0], vec![0; 4], vec![0, 0]],
        ),
        (
            "a value of 2 in a 0/1 contest",
            vec![vec![2, 0, 0], vec![0; 4], vec![0, 0]],
        ),
        (
            "three approvals where two are allowed",
            vec![vec![1, 0, 0], vec![1, 1, 1, 0], vec![0, 0]],
        ),
        (
            "a score above the maximum",
            vec![vec![1, 0, 0], vec![0; 4], vec![4, 0]],
        ),
    ];
    for (what, values) in cases {
        let result = encrypt_ballot(
            &f.context,
            &pseudonym(1),
            &values,
            &mut SeededNonces::new(b"x"),
        );
        assert!(
            matches!(result, Err(BallotError::InvalidChoice(_))),
            "{what}: {result:?}"
        );
    }
}

fn refuse(f: &crate::fixture::Fixture, ballot: &Ballot, what: &str) -> BallotError {
    match verify_ballot(&f.context, ballot, Some(&ballot.pseudonym)) {
        Ok(_) => panic!("{what}: accepted"),
        Err(e) => e,
    }
}

const L_LE: &str = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

/// Adds the group order to a canonical scalar: the same value mod l, a non-canonical encoding.
fn plus_l(s: &Bytes32) -> Option<Bytes32> {
    let l = from_hex(L_LE).unwrap();
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s.0[i]) + u16::from(l[i]) + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    (carry == 0).then_some(Bytes32(out))
}

#[test]
fn malformed_and_non_canonical_encodings_are_refused() {
    let f = fixture();
    let (ballot, _) = f.encrypt(1, &good_values(), b"encodings");

    let mut bad = ballot.clone();
    bad.contests[0].choices[1].alpha = Bytes32([0xff; 32]);
    assert!(matches!(
        refuse(&f, &bad, "not a point"),
        BallotError::Encoding {
            source: EncodingError::NonCanonicalPoint,
            ..
        }
    ));

    let mut bad = ballot.clone();
    // p = 2^255 - 19: a non-canonical field element.
    bad.contests[0].choices[0].beta =
        Bytes32::from_hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
            .unwrap();
    assert!(matches!(
        refuse(&f, &bad, "non-canonical point"),
        BallotError::Encoding {
            source: EncodingError::NonCanonicalPoint,
            ..
        }
    ));

    let mut bad = ballot.clone();
    bad.contests[2].choices[0].alpha = Bytes32([0; 32]);
    assert!(matches!(
        refuse(&f, &bad, "identity alpha"),
        BallotError::Encoding {
            source: EncodingError::IdentityPoint,
            ..
        }
    ));

    // c + l is the same challenge modulo l: accepted by a lax decoder, refused here.
    let mut bad = ballot.clone();
    let pair = &mut bad.contests[1].choices[2].proof[0];
    pair.c = (0..)
        .find_map(|_| plus_l(&pair.c))
        .expect("a small enough scalar");
    assert!(matches!(
        refuse(&f, &bad, "non-canonical scalar"),
        BallotError::Encoding {
            source: EncodingError::NonCanonicalScalar,
            ..
        }
    ));

    // JSON-level: upper-case hex, short strings, unknown fields.
    let json = ballot.to_json();
    let alpha = ballot.contests[0].choices[0].alpha.to_hex();
    assert_ne!(alpha, alpha.to_uppercase());
    assert!(matches!(
        Ballot::from_json(&json.replacen(&alpha, &alpha.to_uppercase(), 1)),
        Err(BallotError::Malformed(_))
    ));
    assert!(Ballot::from_json(&json.replacen("\"alpha\":\"", "\"alpha\":\"00", 1)).is_err());
    assert!(
        Ballot::from_json(&json.replacen(
            "{\"election_hash\"",
            "{\"extra\":1,\"election_hash\"",
            1
        ))
        .is_err()
    );
}

#[test]
fn a_ciphertext_of_two_is_refused() {
    let f = fixture();
    let (ballot, _) = f.encrypt(1, &good_values(), b"two");
    // Choice 1 of contest 0 encrypts 1; adding G makes it an encryption of 2 under the same nonce.
    let mut bad = ballot.clone();
    let beta = bad.contests[0].choices[1].beta.point().unwrap();
    let g = curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
    bad.contests[0].choices[1].beta = Bytes32::from_point(&(beta + g));
    assert_eq!(
        refuse(&f, &bad, "ciphertext of 2"),
        BallotError::InvalidProof("contest/0/choice/1".into())
    );
}

#[test]
fn two_choices_in_a_single_choice_contest_are_refused() {
    let f = fixture();
    // A cheating client proves each choice 0/1 honestly, selects two, and has no proof that the
    // sum is 1: it borrows the sum proof of an honest ballot.
    let lax_contests = vec![
        Contest::Choices {
            title: "Chair".into(),
            choices: vec!["Ada".into(), "Grace".into(), "Edsger".into()],
            min: 0,
            max: 3,
        },
        f.setup.election.contests[1].clone(),
        f.setup.election.contests[2].clone(),
    ];
    let lax = ElectionContext::new(
        *f.context.election_hash(),
        f.context.public_key(),
        lax_contests,
    )
    .unwrap();
    let values = vec![vec![1, 1, 0], vec![0; 4], vec![0, 0]];
    let (mut cheat, _) = encrypt_ballot(
        &lax,
        &pseudonym(1),
        &values,
        &mut SeededNonces::new(b"cheat"),
    )
    .unwrap();
    let (honest, _) = f.encrypt(1, &good_values(), b"honest");
    assert!(matches!(
        refuse(&f, &cheat, "wrong sum proof length"),
        BallotError::Shape(_)
    ));
    cheat.contests[0].sum_proof = honest.contests[0].sum_proof.clone();
    assert_eq!(
        refuse(&f, &cheat, "two choices"),
        BallotError::InvalidProof("contest/0/sum".into())
    );
}

#[test]
fn a_proof_for_another_election_is_refused() {
    let f = fixture();
    let other = ElectionContext::new(
        Bytes32([7; 32]),
        f.context.public_key(),
        f.context.contests().to_vec(),
    )
    .unwrap();
    let (mut ballot, _) = encrypt_ballot(
        &other,
        &pseudonym(1),
        &good_values(),
        &mut SeededNonces::new(b"other"),
    )
    .unwrap();
    assert_eq!(
        refuse(&f, &ballot, "other election"),
        BallotError::WrongElection
    );
    ballot.election_hash = *f.context.election_hash();
    assert_eq!(
        refuse(&f, &ballot, "relabelled"),
        BallotError::InvalidProof("contest/0/choice/0".into())
    );
}

#[test]
fn a_ballot_copied_for_another_voter_is_refused() {
    let f = fixture();
    let (ballot, _) = f.encrypt(1, &good_values(), b"copied");
    // Cast as voter 2 unchanged: the pseudonym is voter 1's.
    assert_eq!(
        verify_ballot(&f.context, &ballot, Some(&pseudonym(2))).unwrap_err(),
        BallotError::WrongPseudonym
    );
    // Relabelled with voter 2's pseudonym: the proofs are bound to voter 1's.
    let mut copied = ballot.clone();
    copied.pseudonym = pseudonym(2);
    assert_eq!(
        verify_ballot(&f.context, &copied, Some(&pseudonym(2))).unwrap_err(),
        BallotError::InvalidProof("contest/0/choice/0".into())
    );
}

#[test]
fn shape_errors_are_refused() {
    let f = fixture();
    let (ballot, _) = f.encrypt(1, &good_values(), b"shape");
    let mut bad = ballot.clone();
    bad.contests.pop();
    assert!(matches!(
        refuse(&f, &bad, "missing contest"),
        BallotError::Shape(_)
    ));
    let mut bad = ballot.clone();
    bad.contests[1].choices.pop();
    assert!(matches!(
        refuse(&f, &bad, "missing choice"),
        BallotError::Shape(_)
    ));
    let mut bad = ballot.clone();
    bad.contests[2].choices[0].proof.pop();
    assert!(matches!(
        refuse(&f, &bad, "short proof"),
        BallotError::Shape(_)
    ));
    let mut bad = ballot.clone();
    bad.contests[2].sum_proof = bad.contests[0].sum_proof.clone();
    assert!(matches!(
        refuse(&f, &bad, "sum proof on a score contest"),
        BallotError::Shape(_)
    ));
}

#[test]
fn a_false_reveal_is_refused() {
    let f = fixture();
    let (ballot, reveal) = f.encrypt(1, &good_values(), b"reveal");
    let mut lie = reveal.clone();
    lie.contests[0].values = vec![1, 0, 0];
    assert_eq!(
        verify_reveal(&f.context, &ballot, &lie).unwrap_err(),
        RevealError::Mismatch("contest/0/choice/0".into())
    );
    let mut lie = reveal.clone();
    lie.contests[2].nonces.swap(0, 1);
    assert!(matches!(
        verify_reveal(&f.context, &ballot, &lie),
        Err(RevealError::Mismatch(_))
    ));
    let mut lie = reveal.clone();
    lie.tracker = "0000-0000-0000-0000-0000-0000".into();
    assert_eq!(
        verify_reveal(&f.context, &ballot, &lie).unwrap_err(),
        RevealError::WrongTracker
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn any_valid_choice_round_trips(
        chair in 0usize..3,
        committee in proptest::collection::vec(any::<bool>(), 4),
        scores in proptest::collection::vec(0u64..=3, 2),
        seed in any::<[u8; 8]>(),
    ) {
        let f = fixture();
        let mut committee: Vec<u64> = committee.into_iter().map(u64::from).collect();
        while committee.iter().sum::<u64>() > 2 {
            let i = committee.iter().position(|v| *v == 1).unwrap();
            committee[i] = 0;
        }
        let mut chair_values = vec![0; 3];
        chair_values[chair] = 1;
        let values = vec![chair_values, committee, scores];
        let (ballot, reveal) = f.encrypt(3, &values, &seed);
        prop_assert!(verify_ballot(&f.context, &ballot, Some(&pseudonym(3))).is_ok());
        prop_assert_eq!(verify_reveal(&f.context, &ballot, &reveal).unwrap(), values);
    }
}
