//! The command-line path: files in, rendered results or one-line errors out.

use securevote_count::{Format, tally};

const BLT: &str = "\
# Tennessee capital, as weighted ballots
4 1
42 1 2 3 4 0
26 2 3 4 1 0
15 3 4 2 1 0
17 4 3 2 1 0
0
\"Memphis\"
\"Nashville\"
\"Chattanooga\"
\"Knoxville\"
\"Capital of Tennessee\"
";

fn json(method: &str, file: &str) -> serde_json::Value {
    let out = tally(method, None, Format::Json, Some("seed-1"), "t.blt", file).unwrap();
    serde_json::from_str(&out).unwrap()
}

#[test]
fn json_output_has_the_documented_top_level() {
    for (method, winner) in [
        ("plurality", "Memphis"),
        ("irv", "Knoxville"),
        ("borda", "Nashville"),
        ("copeland", "Nashville"),
        ("schulze", "Nashville"),
        ("ranked-pairs", "Nashville"),
        ("stv-scottish", "Knoxville"),
        ("stv-meek", "Knoxville"),
    ] {
        let v = json(method, BLT);
        assert_eq!(v["method"], method);
        assert_eq!(v["seats"], 1);
        assert_eq!(v["seed"], "seed-1");
        assert_eq!(v["elected"], serde_json::json!([winner]), "{method}");
        assert!(
            v["rounds"].as_array().is_some_and(|r| !r.is_empty()),
            "{method}"
        );
    }
    let irv = json("irv", BLT);
    assert_eq!(irv["rounds"][0]["votes"][0]["choice"], "Memphis");
    assert_eq!(irv["rounds"][0]["votes"][0]["votes"], "42");
    assert_eq!(irv["rounds"][0]["excluded"][0]["choice"], "Chattanooga");
    let schulze = json("schulze", BLT);
    assert_eq!(schulze["rounds"][0]["pairwise"][1][0], "58");
}

#[test]
fn seats_override_and_text_sheet() {
    let out = tally("stv-scottish", Some(2), Format::Text, None, "t.blt", BLT).unwrap();
    assert!(out.starts_with("Capital of Tennessee\n"));
    assert!(out.contains("Seats:       2"));
    assert!(out.contains("Quota:       34.00000"));
    assert!(out.contains("Declaration: elected, in order of election"));
}

#[test]
fn json_ballot_files_for_score_star_and_approval() {
    let file = r#"{
  "title": "Lunch",
  "max_score": 5,
  "choices": ["Pizza", "Sushi", "Tacos"],
  "ballots": [
    {"weight": "2", "scores": {"Pizza": 5, "Sushi": 0, "Tacos": 1}},
    {"weight": 3, "scores": {"Pizza": 3, "Sushi": 4}},
    {"scores": {"Tacos": 5, "Sushi": 1}}
  ]
}"#;
    let score = tally("score", None, Format::Json, None, "l.json", file).unwrap();
    assert!(
        score.contains("\"elected\": [\n    \"Pizza\"\n  ]"),
        "{score}"
    );
    let star = tally("star", None, Format::Json, None, "l.json", file).unwrap();
    let v: serde_json::Value = serde_json::from_str(&star).unwrap();
    assert_eq!(v["elected"], serde_json::json!(["Sushi"]));
    assert_eq!(
        v["rounds"][1]["action"],
        "Automatic runoff between the two highest scores"
    );
    let approvals =
        r#"{"choices": ["A", "B"], "ballots": [{"approve": ["A", "B"]}, {"approve": ["B"]}]}"#;
    let v: serde_json::Value = serde_json::from_str(
        &tally("approval", None, Format::Json, None, "a.json", approvals).unwrap(),
    )
    .unwrap();
    assert_eq!(v["elected"], serde_json::json!(["B"]));
}

#[test]
fn errors_are_one_line_with_file_and_line() {
    let cases = [
        (
            "irv",
            "3 1\n1 1 2 2 0\n0\nA\nB\nC\nT\n",
            "bad.blt:2: candidate 2 is ranked twice",
        ),
        (
            "irv",
            "3 1\n1 1 2\n",
            "bad.blt:2: a ballot line must end with 0",
        ),
        (
            "score",
            "3 1\n1 1 2 0\n0\nA\nB\nC\nT\n",
            "bad.blt:2: score needs scores",
        ),
        ("nonesuch", BLT, "bad.blt: unknown method 'nonesuch'"),
        (
            "score",
            "{\"choices\": [\"A\"],\n \"ballots\": [\n {\"scores\": {\"A\": 9}}]}",
            "bad.blt:3: score 9 for choice 1 is above the maximum 5",
        ),
        (
            "irv",
            "3 2\n1 1 0\n0\nA\nB\nC\nT\n",
            "bad.blt: irv elects one choice",
        ),
    ];
    for (method, file, expect) in cases {
        let e = tally(method, None, Format::Text, None, "bad.blt", file).unwrap_err();
        let line = e.to_string();
        assert!(
            line.starts_with(expect),
            "{line:?} should start with {expect:?}"
        );
        assert!(!line.contains('\n'));
    }
}

#[test]
fn a_result_serialises_as_its_json_form() {
    let file = securevote_count::load("t.blt", BLT).unwrap();
    let r = securevote_count::count(
        &file.contest,
        &file.ballots,
        securevote_count::Method::Schulze,
        None,
    )
    .unwrap();
    assert_eq!(serde_json::to_value(&r).unwrap(), r.to_json());
}
