//! Textbook examples with known results, one or more per method.

use securevote_count::{Ballot, BallotForm, Contest, Method, Weight, count};

fn profile(names: &[&str], rows: &[(u64, &str)]) -> (Contest, Vec<Ballot>) {
    let contest = Contest::with_names(names, 1);
    let ballots = rows
        .iter()
        .map(|&(n, order)| {
            let ranking = order
                .split('>')
                .map(|s| contest.index_of(s.trim()).expect("known name"))
                .collect();
            Ballot::weighted(Weight::from_count(n).unwrap(), BallotForm::Ranking(ranking))
        })
        .collect();
    (contest, ballots)
}

fn winners(contest: &Contest, ballots: &[Ballot], method: Method) -> Vec<String> {
    count(contest, ballots, method, None)
        .unwrap()
        .elected_names()
        .into_iter()
        .map(String::from)
        .collect()
}

/// Wikipedia's "Tennessee capital" example.
fn tennessee() -> (Contest, Vec<Ballot>) {
    profile(
        &["Memphis", "Nashville", "Chattanooga", "Knoxville"],
        &[
            (42, "Memphis > Nashville > Chattanooga > Knoxville"),
            (26, "Nashville > Chattanooga > Knoxville > Memphis"),
            (15, "Chattanooga > Knoxville > Nashville > Memphis"),
            (17, "Knoxville > Chattanooga > Nashville > Memphis"),
        ],
    )
}

#[test]
fn tennessee_capital() {
    let (c, b) = tennessee();
    assert_eq!(winners(&c, &b, Method::Plurality), ["Memphis"]);
    assert_eq!(winners(&c, &b, Method::Irv), ["Knoxville"]);
    for m in [
        Method::Borda,
        Method::Copeland,
        Method::Schulze,
        Method::RankedPairs,
    ] {
        assert_eq!(winners(&c, &b, m), ["Nashville"], "{m}");
    }
    assert_eq!(winners(&c, &b, Method::StvScottish), ["Knoxville"]);
    assert_eq!(winners(&c, &b, Method::StvMeek), ["Knoxville"]);
    // Every ballot ranks every city: approval from rankings approves all four, a four-way tie.
    assert!(count(&c, &b, Method::Approval, None).unwrap().used_lot());
}

#[test]
fn tennessee_irv_rounds() {
    let (c, b) = tennessee();
    let r = count(&c, &b, Method::Irv, None).unwrap();
    let excluded: Vec<&str> = r
        .rounds
        .iter()
        .flat_map(|r| r.excluded.iter().map(|d| c.choices[d.choice].name.as_str()))
        .collect();
    assert_eq!(excluded, ["Chattanooga", "Nashville"]);
    let last = r.rounds.last().unwrap();
    assert_eq!(last.votes[3].unwrap().to_string(), "58");
    let borda = count(&c, &b, Method::Borda, None).unwrap();
    // Nashville: 42*2 + 26*3 + 15*1 + 17*1 = 194
    assert_eq!(borda.rounds[0].votes[1].unwrap().to_string(), "194");
}

/// Wikipedia's Schulze method example (45 voters, 5 candidates): E wins, order E A C B D.
#[test]
fn wikipedia_schulze_example() {
    let (c, b) = profile(
        &["A", "B", "C", "D", "E"],
        &[
            (5, "A>C>B>E>D"),
            (5, "A>D>E>C>B"),
            (8, "B>E>D>A>C"),
            (3, "C>A>B>E>D"),
            (7, "C>A>E>B>D"),
            (2, "C>B>A>D>E"),
            (7, "D>C>E>B>A"),
            (8, "E>B>A>D>C"),
        ],
    );
    let r = count(&c, &b, Method::Schulze, None).unwrap();
    let order: Vec<&str> = r
        .ranking
        .as_ref()
        .unwrap()
        .iter()
        .map(|&i| c.choices[i].name.as_str())
        .collect();
    assert_eq!(order, ["E", "A", "C", "B", "D"]);
    let p = r.rounds[0].strongest_paths.as_ref().unwrap();
    let d = r.rounds[0].pairwise.as_ref().unwrap();
    assert_eq!(d[0][1].to_string(), "20"); // d[A,B]
    assert_eq!(d[0][3].to_string(), "30"); // d[A,D]
    // Strongest paths as published: p[A,B]=28 p[A,C]=28 p[A,D]=30 p[A,E]=24, p[E,A]=25 ...
    let row = |i: usize| -> Vec<String> {
        (0..5)
            .filter(|&j| j != i)
            .map(|j| p[i][j].to_string())
            .collect()
    };
    assert_eq!(row(0), ["28", "28", "30", "24"]);
    assert_eq!(row(1), ["25", "28", "33", "24"]);
    assert_eq!(row(2), ["25", "29", "29", "24"]);
    assert_eq!(row(3), ["25", "28", "28", "24"]);
    assert_eq!(row(4), ["25", "28", "28", "31"]);
}

/// Wikipedia's STV example ("food at a party"): 20 voters, 3 seats, Droop quota 6.
fn food() -> (Contest, Vec<Ballot>) {
    let (mut c, b) = profile(
        &[
            "Oranges",
            "Pears",
            "Chocolate",
            "Strawberries",
            "Hamburgers",
        ],
        &[
            (4, "Oranges"),
            (2, "Pears > Oranges"),
            (8, "Chocolate > Strawberries"),
            (4, "Chocolate > Hamburgers"),
            (1, "Strawberries"),
            (1, "Hamburgers"),
        ],
    );
    c.seats = 3;
    (c, b)
}

#[test]
fn food_election_scottish_stages() {
    let (c, b) = food();
    let r = count(&c, &b, Method::StvScottish, None).unwrap();
    assert_eq!(r.elected_names(), ["Chocolate", "Oranges", "Strawberries"]);
    assert_eq!(r.quota.unwrap().to_string(), "6.00000");
    // Stage 2: Chocolate's surplus of 6 from 12 papers at value 1 -> transfer value 0.5.
    let s2 = &r.rounds[1];
    assert_eq!(s2.action, "Transfer of surplus of Chocolate");
    assert_eq!(s2.votes[3].unwrap().to_string(), "5.00000");
    assert_eq!(s2.votes[4].unwrap().to_string(), "3.00000");
    assert_eq!(s2.votes[2].unwrap().to_string(), "6.00000");
    let s3 = &r.rounds[2];
    assert_eq!(s3.action, "Exclusion of Pears");
    assert_eq!(s3.elected[0].choice, 0);
}

#[test]
fn food_election_meek() {
    let (c, b) = food();
    let r = count(&c, &b, Method::StvMeek, None).unwrap();
    let mut e = r.elected_names();
    e.sort();
    assert_eq!(e, ["Chocolate", "Oranges", "Strawberries"]);
    // Quota to 9 places: 20/4 + 10^-9 at the first iteration.
    assert_eq!(r.quota.unwrap().to_string(), "5.000000001");
}

#[test]
fn scottish_truncates_transfer_values_to_five_places() {
    // 7 ballots A>B, 3 papers A only; 2 seats; quota floor(10/3)+1 = 4; surplus 6 of 10:
    // transfer value 6 x 1 / 10 = 0.6; with 3 seats: quota 3, surplus 7/10 = 0.7.
    // Use a surplus that does not divide evenly: 9 A>B, 2 A, 1 B, 1 C; 2 seats; quota 5,
    // surplus 6 of 11 -> 0.545454.. truncated to 0.54545.
    let (mut c, b) = profile(
        &["A", "B", "C"],
        &[(9, "A>B"), (2, "A"), (1, "B"), (1, "C")],
    );
    c.seats = 2;
    let r = count(&c, &b, Method::StvScottish, None).unwrap();
    let s2 = &r.rounds[1];
    assert!(
        s2.notes[0].contains("transferred at 0.54545"),
        "{:?}",
        s2.notes
    );
    // B: 1 + 9 x 0.54545 = 5.90905 -> elected.
    assert_eq!(s2.votes[1].unwrap().to_string(), "5.90905");
    assert_eq!(s2.exhausted.unwrap().to_string(), "1.09090");
    assert_eq!(s2.loss_of_fractions.unwrap().to_string(), "0.00005");
    assert_eq!(r.elected_names(), ["A", "B"]);
}

#[test]
fn block_plurality_and_approval() {
    let mut c = Contest::with_names(&["A", "B", "C", "D"], 2);
    c.max_choices = Some(2);
    let set = |v: &[usize]| Ballot::weighted(Weight::ONE, BallotForm::Choices(v.to_vec()));
    let ballots = vec![set(&[0, 1]), set(&[0, 2]), set(&[1]), set(&[3, 1])];
    let r = count(&c, &ballots, Method::Plurality, None).unwrap();
    assert_eq!(r.elected_names(), ["B", "A"]);
    let too_many = vec![set(&[0, 1, 2])];
    assert!(count(&c, &too_many, Method::Plurality, None).is_err());
    let r = count(&c, &[set(&[0, 1, 2]), set(&[2])], Method::Approval, None).unwrap();
    assert_eq!(r.elected_names()[0], "C");
}

fn scores(contest: &Contest, rows: &[(u64, &[u32])]) -> Vec<Ballot> {
    let _ = contest;
    rows.iter()
        .map(|&(n, s)| {
            Ballot::weighted(
                Weight::from_count(n).unwrap(),
                BallotForm::Scores(s.iter().copied().enumerate().collect()),
            )
        })
        .collect()
}

#[test]
fn score_and_star() {
    // STAR: A has the highest total but B is preferred to A by more voters.
    let c = Contest::with_names(&["A", "B", "C"], 1);
    let b = scores(&c, &[(2, &[5, 0, 1]), (3, &[3, 4, 0]), (1, &[0, 1, 5])]);
    // totals: A 19, B 13, C 7 -> score elects A; runoff A vs B: A preferred by 2, B by 4.
    let r = count(&c, &b, Method::Score, None).unwrap();
    assert_eq!(r.elected_names(), ["A"]);
    assert_eq!(r.rounds[0].votes[0].unwrap().to_string(), "19");
    let r = count(&c, &b, Method::Star, None).unwrap();
    assert_eq!(r.elected_names(), ["B"]);
    assert_eq!(r.rounds[1].votes[1].unwrap().to_string(), "4");
    let over = scores(&c, &[(1, &[6, 0, 0])]);
    assert!(count(&c, &over, Method::Score, None).is_err());
}

#[test]
fn refusals() {
    let c = Contest::with_names(&["A", "B"], 1);
    let dup = vec![Ballot::ranking(vec![0, 0])];
    let e = count(&c, &dup, Method::Irv, None).unwrap_err();
    assert!(e.to_string().contains("ranked more than once"), "{e}");
    let unknown = vec![Ballot::ranking(vec![5])];
    assert!(count(&c, &unknown, Method::Schulze, None).is_err());
    let mut two = c.clone();
    two.seats = 2;
    assert!(count(&two, &[Ballot::ranking(vec![0])], Method::Irv, None).is_err());
    let mut named = c.clone();
    named.choices[1].name = "A".into();
    assert!(count(&named, &[], Method::Plurality, None).is_err());
}

#[test]
fn withdrawn_choices_are_skipped() {
    let (mut c, b) = tennessee();
    c.withdrawn = vec![0]; // Memphis withdraws: its voters go to Nashville
    assert_eq!(winners(&c, &b, Method::Plurality), ["Nashville"]);
    assert_eq!(winners(&c, &b, Method::Irv), ["Nashville"]);
    let r = count(&c, &b, Method::StvScottish, None).unwrap();
    assert!(r.rounds[0].votes[0].is_none());
}

#[test]
fn lot_is_reproducible_and_echoed() {
    let c = Contest::with_names(&["A", "B", "C"], 1);
    let b = vec![
        Ballot::ranking(vec![0]),
        Ballot::ranking(vec![1]),
        Ballot::ranking(vec![2]),
    ];
    let first = count(&c, &b, Method::Plurality, Some("2024-board")).unwrap();
    let again = count(&c, &b, Method::Plurality, Some("2024-board")).unwrap();
    assert_eq!(first, again);
    assert_eq!(first.seed, "2024-board");
    assert!(first.used_lot());
    // The draw falls on the smallest SHA-256(seed, 0, name).
    let drawn = ["A", "B", "C"]
        .into_iter()
        .min_by_key(|n| securevote_count::lot::lot_number_hex("2024-board", n))
        .unwrap();
    assert_eq!(first.elected_names(), [drawn]);
    let json = first.to_json();
    assert_eq!(json["seed"], "2024-board");
    assert_eq!(json["ties"][0]["resolved_by"], "lot");
}

#[test]
fn ballots_are_checked_one_at_a_time() {
    use securevote_count::check_ballot;
    let mut c = Contest::with_names(&["A", "B", "C"], 1);
    c.max_score = 3;
    let rank = |v: Vec<usize>| Ballot::ranking(v);
    assert!(check_ballot(&c, Method::Schulze, &rank(vec![0, 2])).is_ok());
    let e = check_ballot(&c, Method::Schulze, &rank(vec![0, 0])).unwrap_err();
    assert!(e.to_string().contains("ranked more than once"), "{e}");
    let e = check_ballot(&c, Method::Irv, &rank(vec![7])).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    let score = Ballot::weighted(Weight::ONE, BallotForm::Scores(vec![(1, 4)]));
    let e = check_ballot(&c, Method::Score, &score).unwrap_err();
    assert!(e.to_string().contains("above the maximum 3"), "{e}");
    let e = check_ballot(&c, Method::Star, &rank(vec![1])).unwrap_err();
    assert!(e.to_string().contains("star needs scores"), "{e}");
    let two = Ballot::weighted(Weight::ONE, BallotForm::Choices(vec![0, 1]));
    assert!(check_ballot(&c, Method::Plurality, &two).is_err());
    assert!(check_ballot(&c, Method::Approval, &two).is_ok());
}

#[test]
fn exclusion_ties_go_back_to_earlier_stages() {
    // Stage 1: A 6, B 3, C 4, D 2 -> D is excluded; of its ballots one goes to B, one is
    // exhausted. Then B 4, C 4 tie for fewest; at stage 1 B had fewer (3 < 4), so B is
    // excluded (IRV; Scottish rule 51(2)(a)).
    let (c, b) = profile(
        &["A", "B", "C", "D"],
        &[(6, "A"), (3, "B > C"), (4, "C"), (1, "D > B"), (1, "D")],
    );
    for m in [Method::Irv, Method::StvScottish] {
        let r = count(&c, &b, m, None).unwrap();
        let excluded: Vec<usize> = r
            .rounds
            .iter()
            .flat_map(|s| s.excluded.iter().map(|d| d.choice))
            .collect();
        assert_eq!(excluded[..2], [3, 1], "{m}");
        assert_eq!(r.ties[0].resolved_by, "earlier stage 1", "{m}");
        assert_eq!(r.ties[0].tied, vec![1, 2], "{m}");
    }
}

#[test]
fn equal_surpluses_go_by_earlier_stages_then_lot() {
    // Two seats, quota floor(12/3)+1 = 5. A and B both reach 6 at stage 1: equal at every
    // stage, so the order of their surplus transfers is drawn by lot (rule 49(3)).
    let (mut c, b) = profile(&["A", "B", "C"], &[(6, "A > C"), (6, "B > C")]);
    c.seats = 2;
    let r = count(&c, &b, Method::StvScottish, Some("x")).unwrap();
    assert_eq!(r.elected.len(), 2);
    assert!(r.ties.iter().all(|t| t.resolved_by == "lot"));
}
