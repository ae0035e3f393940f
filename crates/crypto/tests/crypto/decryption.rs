//! Partial decryptions: any t trustees decrypt; wrong proofs, duplicates and strangers are refused.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT;
use securevote_crypto::*;

use crate::fixture::{expected_result, fixture, pseudonym, votes};

fn tally_of_votes() -> (crate::fixture::Fixture, EncryptedTally) {
    let f = fixture();
    let mut last = std::collections::BTreeMap::new();
    for (n, (voter, values)) in votes().into_iter().enumerate() {
        let (ballot, _) = f.encrypt(voter, &values, format!("ballot {n}").as_bytes());
        last.insert(
            voter,
            verify_ballot(&f.context, &ballot, Some(&pseudonym(voter))).unwrap(),
        );
    }
    let tally = aggregate(&f.context, last.values());
    (f, tally)
}

#[test]
fn any_threshold_of_trustees_decrypts_the_same_result() {
    let (f, tally) = tally_of_votes();
    assert_eq!(tally.counted, 4);
    for subset in [vec![0, 1], vec![1, 2], vec![2, 0], vec![0, 1, 2]] {
        let mut decryption = TallyDecryption::new(
            *f.context.election_hash(),
            f.trustees.clone(),
            tally.clone(),
        )
        .unwrap();
        for &i in &subset {
            let partial = partial_decrypt(
                f.context.election_hash(),
                &f.key_shares[i],
                &tally,
                &mut SeededNonces::new(b"p"),
            )
            .unwrap();
            verify_partial_decryption(f.context.election_hash(), &f.trustees, &tally, &partial)
                .unwrap();
            decryption.add(&partial).unwrap();
        }
        let result = decryption.combine(f.context.contests()).unwrap();
        assert_eq!(result, expected_result(), "subset {subset:?}");
        decryption
            .check_result(f.context.contests(), &result)
            .unwrap();
        let mut wrong = result.clone();
        wrong[0][0] += 1;
        assert!(
            decryption
                .check_result(f.context.contests(), &wrong)
                .is_err()
        );
    }
}

#[test]
fn fewer_than_threshold_cannot_combine() {
    let (f, tally) = tally_of_votes();
    let mut decryption = TallyDecryption::new(
        *f.context.election_hash(),
        f.trustees.clone(),
        tally.clone(),
    )
    .unwrap();
    let partial = partial_decrypt(
        f.context.election_hash(),
        &f.key_shares[0],
        &tally,
        &mut SeededNonces::new(b"p"),
    )
    .unwrap();
    decryption.add(&partial).unwrap();
    assert_eq!(
        decryption.combine(f.context.contests()),
        Err(DecryptionError::NotEnoughShares { have: 1, need: 2 })
    );
}

#[test]
fn wrong_partial_decryptions_are_refused() {
    let (f, tally) = tally_of_votes();
    let hash = f.context.election_hash();
    let partial =
        partial_decrypt(hash, &f.key_shares[1], &tally, &mut SeededNonces::new(b"p")).unwrap();
    let mut decryption = TallyDecryption::new(*hash, f.trustees.clone(), tally.clone()).unwrap();

    // A share shifted by G (which would add one vote) with the original proof.
    let mut bad = partial.clone();
    let share = bad.contests[0][1].share.point().unwrap();
    bad.contests[0][1].share = Bytes32::from_point(&(share + RISTRETTO_BASEPOINT_POINT));
    assert_eq!(
        decryption.add(&bad),
        Err(DecryptionError::InvalidProof {
            trustee: 2,
            contest: 0,
            choice: 1
        })
    );

    // A valid-looking proof from the wrong trustee's key.
    let mut impostor =
        partial_decrypt(hash, &f.key_shares[0], &tally, &mut SeededNonces::new(b"p")).unwrap();
    impostor.trustee = 3;
    assert!(matches!(
        decryption.add(&impostor),
        Err(DecryptionError::InvalidProof { trustee: 3, .. })
    ));

    // A proof made for another election.
    let other = partial_decrypt(
        &Bytes32([9; 32]),
        &f.key_shares[1],
        &tally,
        &mut SeededNonces::new(b"p"),
    )
    .unwrap();
    assert!(matches!(
        decryption.add(&other),
        Err(DecryptionError::InvalidProof { .. })
    ));

    let mut stranger = partial.clone();
    stranger.trustee = 4;
    assert_eq!(
        decryption.add(&stranger),
        Err(DecryptionError::UnknownTrustee(4))
    );

    let mut short = partial.clone();
    short.contests[1].pop();
    assert!(matches!(
        decryption.add(&short),
        Err(DecryptionError::Shape(_))
    ));

    decryption.add(&partial).unwrap();
    assert_eq!(
        decryption.add(&partial),
        Err(DecryptionError::AlreadySubmitted(2))
    );
    assert_eq!(decryption.trustees_in(), vec![2]);
}

#[test]
fn an_empty_tally_decrypts_to_zero() {
    let f = fixture();
    let tally = aggregate(&f.context, []);
    let mut decryption = TallyDecryption::new(
        *f.context.election_hash(),
        f.trustees.clone(),
        tally.clone(),
    )
    .unwrap();
    for key in &f.key_shares[..2] {
        decryption
            .add(
                &partial_decrypt(
                    f.context.election_hash(),
                    key,
                    &tally,
                    &mut SeededNonces::new(b"z"),
                )
                .unwrap(),
            )
            .unwrap();
    }
    assert_eq!(
        decryption.combine(f.context.contests()).unwrap(),
        vec![vec![0; 3], vec![0; 4], vec![0; 2]]
    );
}
