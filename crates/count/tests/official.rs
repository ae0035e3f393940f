//! A real council ward counted under the Scottish rules, against its declared result.

use securevote_count::{Format, Method, count, load, tally};

const ALMOND: &str = include_str!("data/edinburgh-2017-ward01-almond.blt");

#[test]
fn edinburgh_2017_almond_matches_the_declared_result() {
    let file = load("almond.blt", ALMOND).unwrap();
    let r = count(&file.contest, &file.ballots, Method::StvScottish, None).unwrap();
    assert_eq!(
        r.elected_names(),
        [
            "Kevin LANG (LD)",
            "Louise YOUNG (LD)",
            "Graham HUTCHISON (C)",
            "Norrie WORK (SNP)"
        ]
    );
    let stage_of = |name: &str| {
        let c = file.contest.index_of(name).unwrap();
        r.rounds
            .iter()
            .find(|s| s.elected.iter().any(|d| d.choice == c))
            .map(|s| s.number)
    };
    assert_eq!(stage_of("Kevin LANG (LD)"), Some(1));
    assert_eq!(stage_of("Louise YOUNG (LD)"), Some(2));
    assert_eq!(stage_of("Graham HUTCHISON (C)"), Some(3));
    assert_eq!(stage_of("Norrie WORK (SNP)"), Some(10));
    assert!(r.ties.is_empty());
}

#[test]
fn edinburgh_2017_almond_other_methods_agree_on_the_winners() {
    let file = load("almond.blt", ALMOND).unwrap();
    let meek = count(&file.contest, &file.ballots, Method::StvMeek, None).unwrap();
    let mut names = meek.elected_names();
    names.sort();
    assert_eq!(
        names,
        [
            "Graham HUTCHISON (C)",
            "Kevin LANG (LD)",
            "Louise YOUNG (LD)",
            "Norrie WORK (SNP)"
        ]
    );
}

#[test]
fn edinburgh_2017_almond_text_sheet() {
    let sheet = tally(
        "stv-scottish",
        None,
        Format::Text,
        None,
        "almond.blt",
        ALMOND,
    )
    .unwrap();
    assert!(sheet.starts_with("Ward 1 - Almond\n"));
    assert!(sheet.contains("Stage 2: Transfer of surplus of Kevin LANG (LD)"));
    assert!(sheet.contains("4. Norrie WORK (SNP) (stage 10)"), "{sheet}");
}
