//! A small election run end to end with deterministic nonces: 3 trustees, threshold 2, three
//! contests (plurality, approval with at most 2, score 0..=3), five voters on the roll.

use securevote_crypto::*;

pub const ELECTION_ID: &str = "3f1c2a9e-5b7d-4e21-9a0c-0d6b8e4f7a12";

pub fn pseudonym(n: u8) -> Bytes32 {
    Bytes32([n; 32])
}

pub fn election() -> Election {
    Election {
        id: ELECTION_ID.into(),
        title: "Association board 2025".into(),
        contests: vec![
            Contest::Choices {
                title: "Chair".into(),
                choices: vec!["Ada".into(), "Grace".into(), "Edsger".into()],
                min: 1,
                max: 1,
            },
            Contest::Choices {
                title: "Committee".into(),
                choices: vec![
                    "Alan".into(),
                    "Barbara".into(),
                    "Donald".into(),
                    "Frances".into(),
                ],
                min: 0,
                max: 2,
            },
            Contest::Score {
                title: "Budget".into(),
                choices: vec!["Plan A".into(), "Plan B".into()],
                max_score: 3,
            },
        ],
    }
}

pub struct Fixture {
    pub params: CeremonyParams,
    pub publics: Vec<TrusteePublicKey>,
    pub secrets: Vec<TrusteeSecret>,
    pub shares: Vec<EncryptedShare>,
    pub key_shares: Vec<TrusteeKeyShare>,
    pub trustees: TrusteeSet,
    pub setup: SetupEvent,
    pub board: Board,
    pub context: ElectionContext,
}

pub fn ceremony(
    params: &CeremonyParams,
    seed: &[u8],
) -> (
    Vec<TrusteeSecret>,
    Vec<TrusteePublicKey>,
    Vec<EncryptedShare>,
    Vec<TrusteeKeyShare>,
) {
    let mut nonces = SeededNonces::new(seed);
    let mut server = CeremonyBoard::new(params.clone()).unwrap();
    let mut secrets = Vec::new();
    for index in 1..=params.trustees {
        let (secret, public) = trustee_keygen(params, index, &mut nonces).unwrap();
        server.submit_public_key(public).unwrap();
        secrets.push(secret);
    }
    let publics = server.public_keys();
    for secret in &secrets {
        for share in encrypt_shares(secret, &publics, &mut nonces).unwrap() {
            server.submit_share(share).unwrap();
        }
    }
    assert!(server.all_shares_submitted());
    let key_shares: Vec<_> = secrets
        .iter()
        .map(|s| receive_shares(s, &publics, &server.shares_for(s.index)).unwrap())
        .collect();
    let shares = (1..=params.trustees)
        .flat_map(|j| server.shares_for(j))
        .collect();
    (secrets, publics, shares, key_shares)
}

pub fn fixture() -> Fixture {
    let params = CeremonyParams {
        election_id: ELECTION_ID.into(),
        trustees: 3,
        threshold: 2,
    };
    let (secrets, publics, shares, key_shares) = ceremony(&params, b"fixture ceremony");
    let trustees = TrusteeSet::new(&params, &publics).unwrap();
    let roll = (1..=5).map(pseudonym).collect();
    let setup = SetupEvent::new(election(), 2, publics.clone(), roll).unwrap();
    let mut board = Board::new();
    let line = board.append(&Event::Setup(setup.clone())).to_owned();
    let context = setup.context(event_hash(&line)).unwrap();
    Fixture {
        params,
        publics,
        secrets,
        shares,
        key_shares,
        trustees,
        setup,
        board,
        context,
    }
}

impl Fixture {
    pub fn encrypt(&self, voter: u8, values: &[Vec<u64>], seed: &[u8]) -> (Ballot, Reveal) {
        encrypt_ballot(
            &self.context,
            &pseudonym(voter),
            values,
            &mut SeededNonces::new(seed),
        )
        .unwrap()
    }
}

/// Votes: voter 1..=5 with these values; voter 2 re-votes; one challenged ballot is spoiled.
pub fn votes() -> Vec<(u8, Vec<Vec<u64>>)> {
    vec![
        (1, vec![vec![1, 0, 0], vec![1, 1, 0, 0], vec![3, 0]]),
        (2, vec![vec![0, 1, 0], vec![0, 0, 0, 0], vec![1, 2]]),
        (3, vec![vec![0, 1, 0], vec![0, 0, 1, 1], vec![2, 2]]),
        (2, vec![vec![0, 0, 1], vec![0, 1, 0, 0], vec![0, 3]]),
        (4, vec![vec![1, 0, 0], vec![1, 0, 0, 1], vec![3, 3]]),
    ]
}

/// Expected result: the last ballot of each voter counts (voter 2's second).
pub fn expected_result() -> Vec<Vec<u64>> {
    vec![vec![2, 1, 1], vec![2, 2, 1, 2], vec![8, 8]]
}

/// A complete record of the fixture election.
pub fn complete_record() -> (Fixture, Record) {
    let mut f = fixture();
    let mut last: std::collections::HashMap<u8, String> = Default::default();
    let (spoiled_ballot, spoiled_reveal) = f.encrypt(
        5,
        &[vec![0, 1, 0], vec![0, 0, 0, 0], vec![0, 0]],
        b"spoiled",
    );
    let spoiled_tracker = spoiled_ballot.tracker().display();
    f.board.append(&Event::Spoiled(SpoiledEvent {
        ballot: spoiled_ballot,
        tracker: spoiled_tracker,
        reveal: spoiled_reveal,
    }));
    let mut verified = std::collections::BTreeMap::new();
    for (n, (voter, values)) in votes().into_iter().enumerate() {
        let (ballot, _) = f.encrypt(voter, &values, format!("ballot {n}").as_bytes());
        let checked = verify_ballot(&f.context, &ballot, Some(&pseudonym(voter))).unwrap();
        let tracker = checked.tracker.display();
        f.board.append(&Event::Ballot(BallotEvent {
            ballot,
            tracker: tracker.clone(),
            supersedes: last.insert(voter, tracker),
        }));
        verified.insert(voter, checked);
    }
    f.board.append(&Event::Close(CloseEvent {
        ballots: 5,
        counted: 4,
    }));
    let tally = aggregate(&f.context, verified.values());
    f.board.append(&Event::Tally(tally.clone()));
    let mut decryption = TallyDecryption::new(
        *f.context.election_hash(),
        f.trustees.clone(),
        tally.clone(),
    )
    .unwrap();
    let mut nonces = SeededNonces::new(b"decryption");
    for key in [&f.key_shares[2], &f.key_shares[0]] {
        let partial = partial_decrypt(f.context.election_hash(), key, &tally, &mut nonces).unwrap();
        decryption.add(&partial).unwrap();
        f.board.append(&Event::PartialDecryption(partial));
    }
    let result = decryption.combine(f.context.contests()).unwrap();
    assert_eq!(result, expected_result());
    f.board
        .append(&Event::Result(ResultEvent { contests: result }));
    let record = f.board.clone().into_record();
    (f, record)
}
