//! Properties every count must have, over random profiles.

use proptest::prelude::*;
use securevote_count::{Ballot, BallotForm, Contest, Method, Weight, count};

const RANKED: [Method; 7] = [
    Method::Irv,
    Method::StvScottish,
    Method::StvMeek,
    Method::Schulze,
    Method::RankedPairs,
    Method::Copeland,
    Method::Borda,
];

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("C{i}")).collect()
}

/// Up to 5 choices and 25 rankings (partial rankings allowed).
fn profile() -> impl Strategy<Value = (usize, Vec<Vec<usize>>)> {
    (2usize..=5).prop_flat_map(|n| {
        let ranking = Just((0..n).collect::<Vec<usize>>())
            .prop_shuffle()
            .prop_flat_map(move |p| (1..=n).prop_map(move |k| p[..k].to_vec()));
        (Just(n), prop::collection::vec(ranking, 1..25))
    })
}

fn ballots(rankings: &[Vec<usize>]) -> Vec<Ballot> {
    rankings
        .iter()
        .map(|r| Ballot::ranking(r.clone()))
        .collect()
}

fn condorcet_winner(n: usize, rankings: &[Vec<usize>]) -> Option<usize> {
    let prefers = |a: usize, b: usize| {
        rankings
            .iter()
            .filter(|r| {
                let pa = r.iter().position(|&c| c == a);
                let pb = r.iter().position(|&c| c == b);
                match (pa, pb) {
                    (Some(x), Some(y)) => x < y,
                    (Some(_), None) => true,
                    _ => false,
                }
            })
            .count()
    };
    (0..n).find(|&a| (0..n).all(|b| a == b || prefers(a, b) > prefers(b, a)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn condorcet_winner_wins_condorcet_methods((n, rankings) in profile()) {
        if let Some(w) = condorcet_winner(n, &rankings) {
            let c = Contest::with_names(&names(n), 1);
            for m in [Method::Schulze, Method::RankedPairs, Method::Copeland] {
                let r = count(&c, &ballots(&rankings), m, None).unwrap();
                prop_assert_eq!(r.elected.clone(), vec![w], "{}", m);
            }
        }
    }

    #[test]
    fn irv_elects_a_majority_first_preference((n, rankings) in profile()) {
        let c = Contest::with_names(&names(n), 1);
        let total = rankings.len();
        for cand in 0..n {
            let firsts = rankings.iter().filter(|r| r[0] == cand).count();
            if firsts * 2 > total {
                for m in [Method::Irv, Method::StvScottish, Method::StvMeek] {
                    let r = count(&c, &ballots(&rankings), m, None).unwrap();
                    prop_assert_eq!(r.elected.clone(), vec![cand], "{}", m);
                }
            }
        }
    }

    #[test]
    fn weight_two_equals_two_copies((n, rankings) in profile(), seats in 1usize..3) {
        let seats = seats.min(n);
        let mut c = Contest::with_names(&names(n), seats);
        c.max_choices = Some(n);
        let doubled: Vec<Ballot> = rankings
            .iter()
            .map(|r| Ballot::weighted(Weight::from_count(2).unwrap(), BallotForm::Ranking(r.clone())))
            .collect();
        let copies: Vec<Ballot> = rankings.iter().flat_map(|r| [Ballot::ranking(r.clone()), Ballot::ranking(r.clone())]).collect();
        let mut methods = RANKED.to_vec();
        methods.extend([Method::Plurality, Method::Approval]);
        for m in methods {
            if seats > 1 && m == Method::Irv {
                continue;
            }
            let a = count(&c, &doubled, m, Some("s")).unwrap();
            let b = count(&c, &copies, m, Some("s")).unwrap();
            prop_assert_eq!(&a, &b, "{}", m);
        }
        // Scores and STAR too.
        let score_ballots = |k: u64, copies: usize| -> Vec<Ballot> {
            rankings
                .iter()
                .flat_map(|r| {
                    let form = BallotForm::Scores(r.iter().enumerate().map(|(i, &ch)| (ch, 5 - i.min(5) as u32)).collect());
                    std::iter::repeat_n(Ballot::weighted(Weight::from_count(k).unwrap(), form), copies)
                })
                .collect()
        };
        for m in [Method::Score, Method::Star] {
            let c1 = Contest::with_names(&names(n), 1);
            let a = count(&c1, &score_ballots(2, 1), m, Some("s")).unwrap();
            let b = count(&c1, &score_ballots(1, 2), m, Some("s")).unwrap();
            prop_assert_eq!(&a, &b, "{}", m);
        }
    }

    #[test]
    fn decimal_weights_scale_exactly((n, rankings) in profile()) {
        // Multiplying every weight by the same decimal never changes who is elected.
        let c = Contest::with_names(&names(n), 1);
        let scaled: Vec<Ballot> = rankings
            .iter()
            .map(|r| Ballot::weighted(Weight::parse("0.25").unwrap(), BallotForm::Ranking(r.clone())))
            .collect();
        for m in RANKED {
            let a = count(&c, &ballots(&rankings), m, Some("s")).unwrap();
            let b = count(&c, &scaled, m, Some("s")).unwrap();
            prop_assert_eq!(a.elected, b.elected, "{}", m);
        }
    }

    #[test]
    fn ranking_the_winner_first_never_makes_them_lose((n, rankings) in profile(), extra in prop::collection::vec(any::<prop::sample::Index>(), 1..4)) {
        // Methods that satisfy mono-add-top (Copeland and ranked pairs do not guarantee it;
        // IRV does, though it fails other monotonicity criteria).
        let c = Contest::with_names(&names(n), 1);
        for m in [Method::Plurality, Method::Borda, Method::Schulze, Method::Irv] {
            let before = count(&c, &ballots(&rankings), m, Some("s")).unwrap();
            if before.used_lot() {
                continue;
            }
            let w = before.elected[0];
            let mut more = rankings.clone();
            for i in &extra {
                let mut rest: Vec<usize> = (0..n).filter(|&x| x != w).collect();
                let k = i.index(rest.len() + 1);
                rest.truncate(k);
                let mut r = vec![w];
                r.extend(rest);
                more.push(r);
            }
            let after = count(&c, &ballots(&more), m, Some("s")).unwrap();
            prop_assert_eq!(after.elected[0], w, "{}", m);
        }
    }

    #[test]
    fn every_method_elects_the_seats_and_serialises((n, rankings) in profile(), seats in 1usize..4) {
        let seats = seats.min(n);
        let c = Contest::with_names(&names(n), seats);
        for m in [Method::StvScottish, Method::StvMeek, Method::Schulze, Method::Borda] {
            let r = count(&c, &ballots(&rankings), m, Some("x")).unwrap();
            prop_assert_eq!(r.elected.len(), seats);
            let mut e = r.elected.clone();
            e.sort_unstable();
            e.dedup();
            prop_assert_eq!(e.len(), seats);
            let json = r.to_json();
            prop_assert_eq!(json["elected"].as_array().map(|a| a.len()), Some(seats));
            let _ = securevote_count::text_report(&r);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn blt_export_then_import_counts_the_same(
        (n, rankings) in profile(),
        weights in prop::collection::vec(prop::sample::select(vec!["1", "2", "0.5", "1.25", "3"]), 25),
        seats in 1usize..3,
        withdraw in any::<bool>(),
    ) {
        let seats = seats.min(n.saturating_sub(1)).max(1);
        let mut c = Contest::with_names(&names(n), seats);
        c.title = Some("Round trip".into());
        if withdraw && n > seats + 1 {
            c.withdrawn = vec![n - 1];
        }
        let ballots: Vec<Ballot> = rankings
            .iter()
            .zip(&weights)
            .map(|(r, w)| Ballot::weighted(Weight::parse(w).unwrap(), BallotForm::Ranking(r.clone())))
            .collect();
        let text = securevote_count::blt::write(&c, &ballots).unwrap();
        let file = securevote_count::blt::parse(&text).unwrap();
        prop_assert_eq!(&file.ballots, &ballots);
        prop_assert_eq!(file.contest(), c.clone());
        for m in [Method::StvScottish, Method::StvMeek, Method::Schulze, Method::Plurality] {
            let a = count(&c, &ballots, m, Some("s")).unwrap();
            let b = count(&file.contest(), &file.ballots, m, Some("s")).unwrap();
            prop_assert_eq!(a, b, "{}", m);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn single_seat_stv_agrees_with_irv_without_ties((n, rankings) in profile()) {
        // With one seat both STV rules reduce to instant runoff: Meek's quota is a majority of
        // the votes still counting; the Scottish count goes on excluding until the majority
        // holder is the last one standing or reaches its quota.
        let c = Contest::with_names(&names(n), 1);
        let irv = count(&c, &ballots(&rankings), Method::Irv, Some("s")).unwrap();
        for m in [Method::StvScottish, Method::StvMeek] {
            let stv = count(&c, &ballots(&rankings), m, Some("s")).unwrap();
            if irv.ties.is_empty() && stv.ties.is_empty() {
                prop_assert_eq!(&stv.elected, &irv.elected, "{}", m);
            }
        }
    }
}
