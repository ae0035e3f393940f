//! Rough speed of the core on this machine: encrypting and verifying the benchmark ballot (one
//! plurality contest, 5 choices) and verifying a whole record of N ballots.
//! `cargo run --release -p securevote-crypto --example verify_speed -- 2000`

use std::time::Instant;

use securevote_crypto::*;

fn main() {
    let ballots: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let params = CeremonyParams {
        election_id: "speed".into(),
        trustees: 3,
        threshold: 2,
    };
    let mut rng = rand_core::OsRng;
    let mut nonces = RngNonces(&mut rng);
    let mut secrets = Vec::new();
    let mut publics = Vec::new();
    for i in 1..=3 {
        let (s, p) = trustee_keygen(&params, i, &mut nonces).expect("keygen");
        secrets.push(s);
        publics.push(p);
    }
    let mut shares = Vec::new();
    for s in &secrets {
        shares.extend(encrypt_shares(s, &publics, &mut nonces).expect("shares"));
    }
    let keys: Vec<_> = secrets
        .iter()
        .map(|s| receive_shares(s, &publics, &shares).expect("receive"))
        .collect();
    let election = Election {
        id: "speed".into(),
        title: "Speed".into(),
        contests: vec![Contest::Choices {
            title: "Chair".into(),
            choices: (0..5).map(|i| format!("C{i}")).collect(),
            min: 1,
            max: 1,
        }],
    };
    let roll: Vec<Bytes32> = (0..ballots).map(|i| sha256(&i.to_le_bytes())).collect();
    let setup = SetupEvent::new(election, 2, publics, roll.clone()).expect("setup");
    let mut board = Board::new();
    let line = board.append(&Event::Setup(setup.clone())).to_owned();
    let context = setup.context(event_hash(&line)).expect("context");

    let start = Instant::now();
    let made: Vec<Ballot> = roll
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut values = vec![0; 5];
            values[i % 5] = 1;
            encrypt_ballot(&context, p, &[values], &mut nonces)
                .expect("encrypt")
                .0
        })
        .collect();
    let encrypt = start.elapsed();
    let start = Instant::now();
    let verified: Vec<VerifiedBallot> = made
        .iter()
        .map(|b| verify_ballot(&context, b, Some(&b.pseudonym)).expect("verify"))
        .collect();
    let verify = start.elapsed();
    for (ballot, v) in made.into_iter().zip(&verified) {
        board.append(&Event::Ballot(BallotEvent {
            ballot,
            tracker: v.tracker.display(),
            supersedes: None,
        }));
    }
    board.append(&Event::Close(CloseEvent {
        ballots,
        counted: ballots,
    }));
    let tally = aggregate(&context, &verified);
    board.append(&Event::Tally(tally.clone()));
    let mut decryption = TallyDecryption::new(
        *context.election_hash(),
        TrusteeSet::new(&params, &setup.trustees).expect("set"),
        tally.clone(),
    )
    .expect("decryption");
    for key in &keys[..2] {
        let partial =
            partial_decrypt(context.election_hash(), key, &tally, &mut nonces).expect("partial");
        decryption.add(&partial).expect("add");
        board.append(&Event::PartialDecryption(partial));
    }
    let result = decryption.combine(context.contests()).expect("combine");
    board.append(&Event::Result(ResultEvent { contests: result }));
    let record = Record::from_jsonl(&board.into_record().to_jsonl());
    let start = Instant::now();
    verify_record(&record).expect("record");
    let record_time = start.elapsed();
    let per_second = |d: std::time::Duration| ballots as f64 / d.as_secs_f64();
    println!("{ballots} ballots of 5 choices");
    println!("encrypt: {:.0} ballots/s", per_second(encrypt));
    println!("verify_ballot: {:.0} ballots/s", per_second(verify));
    println!(
        "verify_record: {:.2} s ({:.0} ballots/s)",
        record_time.as_secs_f64(),
        per_second(record_time)
    );
}
