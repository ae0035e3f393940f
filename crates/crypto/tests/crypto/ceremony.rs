//! The key ceremony: honest runs, and the server and trustees refusing every bad message.

use securevote_crypto::*;

use crate::fixture::{ELECTION_ID, ceremony, fixture};

fn params(n: u64, t: u64) -> CeremonyParams {
    CeremonyParams {
        election_id: ELECTION_ID.into(),
        trustees: n,
        threshold: t,
    }
}

#[test]
fn key_shares_match_the_public_verification_keys() {
    for (n, t) in [(1, 1), (3, 2), (4, 4), (5, 3)] {
        let params = params(n, t);
        let (_, publics, _, key_shares) = ceremony(&params, b"shares");
        let set = TrusteeSet::new(&params, &publics).unwrap();
        assert_eq!(set.trustee_count(), n);
        for share in &key_shares {
            assert!(share.matches(&set), "n={n} t={t} trustee {}", share.index);
        }
    }
}

#[test]
fn a_trustee_uploading_twice_is_refused() {
    let params = params(3, 2);
    let mut server = CeremonyBoard::new(params.clone()).unwrap();
    let (_, public) = trustee_keygen(&params, 1, &mut SeededNonces::new(b"a")).unwrap();
    server.submit_public_key(public.clone()).unwrap();
    assert_eq!(
        server.submit_public_key(public),
        Err(CeremonyError::AlreadySubmitted(1))
    );
    let (_, again) = trustee_keygen(&params, 1, &mut SeededNonces::new(b"b")).unwrap();
    assert_eq!(
        server.submit_public_key(again),
        Err(CeremonyError::AlreadySubmitted(1))
    );
}

#[test]
fn the_mailbox_refuses_duplicate_misaddressed_and_early_shares() {
    let f = fixture();
    let mut server = CeremonyBoard::new(f.params.clone()).unwrap();
    let share = f.shares[0].clone();
    assert!(matches!(
        server.submit_share(share.clone()),
        Err(CeremonyError::Incomplete(_))
    ));
    for public in &f.publics {
        server.submit_public_key(public.clone()).unwrap();
    }
    server.submit_share(share.clone()).unwrap();
    assert_eq!(
        server.submit_share(share.clone()),
        Err(CeremonyError::AlreadySubmitted(share.from))
    );
    let mut to_self = share.clone();
    to_self.to = to_self.from;
    assert!(matches!(
        server.submit_share(to_self),
        Err(CeremonyError::InvalidShare { .. })
    ));
    let mut unknown = share.clone();
    unknown.to = 9;
    assert_eq!(
        server.submit_share(unknown),
        Err(CeremonyError::UnknownTrustee(9))
    );
}

#[test]
fn invalid_public_keys_are_refused() {
    let params = params(3, 2);
    let (_, public) = trustee_keygen(&params, 2, &mut SeededNonces::new(b"k")).unwrap();
    let mut server = CeremonyBoard::new(params.clone()).unwrap();

    let mut bad = public.clone();
    bad.proofs[1].r = bad.proofs[0].r;
    assert!(matches!(
        server.submit_public_key(bad),
        Err(CeremonyError::InvalidPublicKey { trustee: 2, .. })
    ));

    let mut bad = public.clone();
    bad.commitments.pop();
    assert!(matches!(
        server.submit_public_key(bad),
        Err(CeremonyError::InvalidPublicKey { .. })
    ));

    let mut bad = public.clone();
    bad.commitments[0] = Bytes32([0; 32]);
    assert!(matches!(
        server.submit_public_key(bad),
        Err(CeremonyError::InvalidPublicKey { .. })
    ));

    let mut bad = public.clone();
    bad.index = 4;
    assert_eq!(
        server.submit_public_key(bad),
        Err(CeremonyError::UnknownTrustee(4))
    );

    // A key made for another election does not verify for this one.
    let other = CeremonyParams {
        election_id: "another election".into(),
        ..params.clone()
    };
    let (_, foreign) = trustee_keygen(&other, 2, &mut SeededNonces::new(b"k")).unwrap();
    assert!(matches!(
        server.submit_public_key(foreign),
        Err(CeremonyError::InvalidPublicKey { .. })
    ));

    assert!(
        CeremonyBoard::new(CeremonyParams {
            threshold: 4,
            ..params.clone()
        })
        .is_err()
    );
    assert!(
        CeremonyBoard::new(CeremonyParams {
            threshold: 0,
            ..params
        })
        .is_err()
    );
}

#[test]
fn tampered_or_inconsistent_shares_are_refused_by_their_recipient() {
    let f = fixture();
    let to_two: Vec<_> = f.shares.iter().filter(|s| s.to == 2).cloned().collect();
    let recipient = &f.secrets[1];

    let mut tampered = to_two.clone();
    tampered[0].ciphertext.0[3] ^= 1;
    assert!(matches!(
        receive_shares(recipient, &f.publics, &tampered),
        Err(CeremonyError::InvalidShare { to: 2, .. })
    ));

    let mut missing = to_two.clone();
    missing.pop();
    assert!(matches!(
        receive_shares(recipient, &f.publics, &missing),
        Err(CeremonyError::Incomplete(_))
    ));

    let mut doubled = to_two.clone();
    doubled.push(to_two[0].clone());
    assert!(matches!(
        receive_shares(recipient, &f.publics, &doubled),
        Err(CeremonyError::AlreadySubmitted(_))
    ));

    // Trustee 1 sends shares of a polynomial other than the one it committed to: the MAC is
    // fine, the commitment check is not.
    let mut liar = f.secrets[0].clone();
    liar.coefficients[1] = liar.coefficients[0];
    let forged = encrypt_shares(&liar, &f.publics, &mut SeededNonces::new(b"liar")).unwrap();
    let mut inbox = to_two.clone();
    let position = inbox.iter().position(|s| s.from == 1).unwrap();
    inbox[position] = forged.into_iter().find(|s| s.to == 2).unwrap();
    match receive_shares(recipient, &f.publics, &inbox) {
        Err(CeremonyError::InvalidShare {
            from: 1,
            to: 2,
            detail,
        }) => {
            assert!(detail.contains("commitments"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn trustee_secrets_serialise_without_showing_in_debug() {
    let f = fixture();
    let debug = format!("{:?} {:?}", f.secrets[0], f.key_shares[0]);
    assert!(!debug.contains(&f.key_shares[0].share.to_hex()));
    assert!(!debug.contains(&f.secrets[0].coefficients[0].to_hex()));
    let json = serde_json::to_string(&f.key_shares[0]).unwrap();
    let back: TrusteeKeyShare = serde_json::from_str(&json).unwrap();
    assert_eq!(back.share, f.key_shares[0].share);
}
