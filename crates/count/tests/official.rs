//! Real elections counted from their ballot data, checked against the declared results.
//!
//! The ballot data is not in this repository: scripts/fetch-ward-data downloads it (the votekit
//! sdist from PyPI, pinned by SHA-256) and converts it to BLT files in target/ward-data (or
//! $WARD_DATA_DIR). These tests run that script when a file is missing and fail, saying why,
//! when the data still cannot be had; they never pass without counting. The data sets, their
//! licence and the official results are described in docs/counting.md, "Real elections".

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use securevote_count::{CountResult, Fixed, Method, blt, count};

const WARD: &str = "eilean_siar_2012_ward3.blt";
const MINNEAPOLIS: &str = "minneapolis_2013_mayor.blt";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data_dir() -> PathBuf {
    // Relative to the repository root, as scripts/fetch-ward-data takes it.
    match std::env::var_os("WARD_DATA_DIR") {
        Some(dir) => workspace().join(dir),
        None => workspace().join("target/ward-data"),
    }
}

/// Runs scripts/fetch-ward-data once per test binary when a data file is missing.
fn fetch() -> &'static Result<(), String> {
    static FETCHED: OnceLock<Result<(), String>> = OnceLock::new();
    FETCHED.get_or_init(|| {
        let dir = data_dir();
        if [WARD, MINNEAPOLIS].iter().all(|f| dir.join(f).is_file()) {
            return Ok(());
        }
        let script = workspace().join("scripts/fetch-ward-data");
        let out = Command::new(&script)
            .env("WARD_DATA_DIR", &dir)
            .output()
            .map_err(|e| format!("could not run {}: {e}", script.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}):\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })
}

/// Counts a BLT file of the fetched data with `method`.
fn count_file(file: &str, method: Method) -> CountResult {
    if let Err(e) = fetch() {
        panic!("the ballot data for this test is missing and could not be fetched: {e}");
    }
    let path = data_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}); scripts/fetch-ward-data should have written it",
            path.display()
        )
    });
    let parsed = blt::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    count(&parsed.contest(), &parsed.ballots, method, None)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Votes for `name` at the end of round `round` (1-based), as a decimal string.
fn votes(result: &CountResult, round: usize, name: &str) -> String {
    let i = result
        .choices
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| panic!("no choice named {name}"));
    let v: Option<Fixed> = result.rounds[round - 1].votes[i];
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Comhairle nan Eilean Siar, 3 May 2012, ward 3 (Na Hearadh agus Ceann a Deas nan Loch,
/// Harris and South Lochs): 3 seats, 4 candidates, 802 valid papers.
///
/// Declared result: Catherine Macdonald (Independent), Philip R Mclean (SNP) and D J Macrae
/// (Labour) elected; David Wilson (SNP) not elected. Sources: Wikipedia, "Comhairle nan Eilean
/// Siar election, 2012" (https://wikimili.com/en/Comhairle_nan_Eilean_Siar_election,_2012);
/// the three named as the ward's sitting councillors before the 2017 election in "Sixty
/// hopefuls to stand in Comhairle council elections 2017", welovestornoway.com (Macdonald and
/// Macrae standing again, Philip R Mclean retiring), with no by-election in the ward between
/// 2012 and 2020 (andrewteale.me.uk/leap, Eilean Siar by-elections).
#[test]
fn eilean_siar_2012_ward_3_elects_the_declared_members() {
    let r = count_file(WARD, Method::StvScottish);
    assert_eq!(r.seats, 3);
    assert_eq!(r.valid_votes.to_string(), "802");
    // Rule 46: 802 / (3 + 1) = 200.5, fraction disregarded, + 1.
    assert_eq!(r.quota.map(|q| q.to_string()).as_deref(), Some("201.00000"));
    assert_eq!(
        r.elected_names(),
        [
            "Catherine Macdonald (Ind)",
            "Philip Robert Mclean (SNP)",
            "D J Macrae (Lab)"
        ],
        "the elected members differ from the declared result"
    );
    assert!(!r.used_lot(), "no tie should need a lot in this count");
    // The count's course from this data: both SNP and Independent leaders over the quota on
    // first preferences, their surpluses transferred, then Wilson excluded and Macrae elected
    // under rule 52 as the last continuing candidate.
    assert_eq!(votes(&r, 1, "Catherine Macdonald (Ind)"), "498.00000");
    assert_eq!(votes(&r, 1, "Philip Robert Mclean (SNP)"), "202.00000");
    assert_eq!(votes(&r, 1, "D J Macrae (Lab)"), "69.00000");
    assert_eq!(votes(&r, 1, "David Cameron Wilson (SNP)"), "33.00000");
    assert_eq!(r.rounds.len(), 4);
    let last = r.rounds.last().unwrap();
    assert_eq!(
        last.excluded
            .iter()
            .map(|d| r.choices[d.choice].name.as_str())
            .collect::<Vec<_>>(),
        ["David Cameron Wilson (SNP)"]
    );
    // The same ward under Meek STV elects the same three.
    let mut meek = count_file(WARD, Method::StvMeek)
        .elected_names()
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    meek.sort();
    assert_eq!(
        meek,
        [
            "Catherine Macdonald (Ind)",
            "D J Macrae (Lab)",
            "Philip Robert Mclean (SNP)"
        ]
    );
}

/// Minneapolis mayor, 5 November 2013: instant-runoff (ranked choice, three rankings), 35
/// candidates and write-ins, 79,415 ballots with a preference.
///
/// Declared result: Betsy Hodges elected mayor (City of Minneapolis, "Minneapolis wraps up
/// second ranked-choice voting election", minneapolismn.gov, 13 November 2013). The official
/// tabulation's first round gave Hodges 28,962, Mark Andrew 19,648, Don Samuels 8,350 and Cam
/// Winton 7,533, and its last round (33rd) Hodges 38,870 and Andrew 24,972 (Wikipedia, "2013
/// Minneapolis mayoral election", https://wikimili.com/en/2013_Minneapolis_mayoral_election).
/// The city excluded candidates in batches; one at a time reaches the same final pair.
#[test]
fn minneapolis_2013_mayor_elects_the_declared_winner() {
    let r = count_file(MINNEAPOLIS, Method::Irv);
    assert_eq!(r.valid_votes.to_string(), "79415");
    assert_eq!(r.elected_names(), ["BETSY HODGES"]);
    for (name, first) in [
        ("BETSY HODGES", "28962"),
        ("MARK ANDREW", "19648"),
        ("DON SAMUELS", "8350"),
        ("CAM WINTON", "7533"),
    ] {
        assert_eq!(votes(&r, 1, name), first, "first-round votes of {name}");
    }
    let last = r.rounds.len();
    assert_eq!(votes(&r, last, "BETSY HODGES"), "38870");
    assert_eq!(votes(&r, last, "MARK ANDREW"), "24972");
    // With one seat, Scottish STV is instant-runoff with a quota: the same winner.
    assert_eq!(
        count_file(MINNEAPOLIS, Method::StvScottish).elected_names(),
        ["BETSY HODGES"]
    );
}
