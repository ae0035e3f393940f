//! Voter rolls: who may vote in a `roll` election, with what weight, in which groups. Pure:
//! parsing a roll file, its canonical form and fingerprint, what an import would change, and
//! how turnout per group is reported without singling anyone out.
//!
//! # Roll file
//! CSV (UTF-8, with or without a byte-order mark; comma or semicolon separated, detected from
//! the header line) whose header names the columns, in any order:
//! `email` (required), `name`, `external_id` (a membership number, unique in the roll when
//! given), `weight` (a positive decimal with at most 9 decimal places, default 1) and `groups`
//! (labels separated by `;`, e.g. `Faculty of Law;Staff`). The same as JSON: an array of
//! objects with those fields (`groups` an array of strings, `weight` a string or number).
//!
//! # Fingerprint
//! SHA-256, in lowercase hex, of the roll's canonical form: one line per entry, sorted by email,
//! each `email TAB name TAB external_id TAB weight TAB groups LF`, where a missing name or
//! external id is empty, the weight is written without trailing zeros (`1`, `0.5`), and the
//! groups are sorted and joined by `;`. All text is UTF-8 (emails lowercased, everything
//! trimmed; tabs and line breaks cannot occur in any field).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::domain::Email;

/// Weights are kept as whole nano-units (9 decimal places), exactly.
pub const WEIGHT_SCALE: u64 = 1_000_000_000;
/// Groups with fewer eligible voters than this are reported together as "other".
pub const MIN_GROUP_SIZE: u64 = 5;
/// The group that small groups are merged into.
pub const OTHER_GROUP: &str = "other";
const MAX_TEXT_CHARS: usize = 255;
const MAX_GROUPS: usize = 20;

/// One voter on a roll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RollEntry {
    pub email: String,
    pub name: Option<String>,
    pub external_id: Option<String>,
    /// The weight as a decimal string (`1`, `2.5`).
    #[schema(value_type = String)]
    #[serde(with = "weight_text")]
    pub weight: u64,
    pub groups: Vec<String>,
}

/// A line of a roll file that was not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rejected {
    pub line: u64,
    pub reason: String,
}

/// A roll file read line by line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedRoll {
    pub entries: Vec<RollEntry>,
    pub rejected: Vec<Rejected>,
}

/// What an import changes (or, for a dry run, would change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub rejected: Vec<Rejected>,
    /// The roll's fingerprint after the import.
    pub fingerprint: String,
}

mod weight_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(weight: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_weight(*weight))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_weight(&text).map_err(serde::de::Error::custom)
    }
}

/// `1.5` → 1_500_000_000 nano-units; positive, at most 9 decimal places.
pub fn parse_weight(raw: &str) -> Result<u64, String> {
    let text = raw.trim();
    securevote_count::Weight::parse(text).map_err(|e| e.to_string())?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let fraction = fraction.trim_end_matches('0');
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| format!("weight {text:?} is too large"))?
    };
    let fraction_nanos: u64 = format!("{fraction:0<9}")
        .parse()
        .map_err(|_| format!("'{text}' is not a positive decimal weight"))?;
    whole
        .checked_mul(WEIGHT_SCALE)
        .and_then(|w| w.checked_add(fraction_nanos))
        .filter(|w| *w > 0)
        .ok_or_else(|| format!("weight {text:?} is out of range"))
}

/// 1_500_000_000 → `1.5`.
pub fn format_weight(nanos: u64) -> String {
    let whole = nanos / WEIGHT_SCALE;
    let fraction = nanos % WEIGHT_SCALE;
    if fraction == 0 {
        whole.to_string()
    } else {
        let digits = format!("{fraction:09}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

fn text_field(field: &str, raw: Option<&str>) -> Result<Option<String>, String> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("{field} must be at most 255 characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(Some(text.to_owned()))
}

/// One entry from its raw fields; the error is the reason shown with the line number.
pub fn parse_entry(
    email: &str,
    name: Option<&str>,
    external_id: Option<&str>,
    weight: Option<&str>,
    groups: &[String],
) -> Result<RollEntry, String> {
    let email = Email::parse(email).map_err(|e| format!("bad email: {e}"))?;
    let weight = match weight.map(str::trim).filter(|w| !w.is_empty()) {
        None => WEIGHT_SCALE,
        Some(w) => parse_weight(w).map_err(|e| format!("bad weight: {e}"))?,
    };
    let mut labels = Vec::with_capacity(groups.len());
    for group in groups {
        if let Some(label) = text_field("a group", Some(group))? {
            labels.push(label);
        }
    }
    labels.sort();
    labels.dedup();
    if labels.len() > MAX_GROUPS {
        return Err(format!("at most {MAX_GROUPS} groups per voter"));
    }
    Ok(RollEntry {
        email: email.as_str().to_owned(),
        name: text_field("name", name)?,
        external_id: text_field("external_id", external_id)?,
        weight,
        groups: labels,
    })
}

/// Refuses later lines that repeat an email or an external id of an earlier one.
fn check_duplicates(lines: Vec<(u64, Result<RollEntry, String>)>) -> ParsedRoll {
    let mut emails = HashMap::new();
    let mut external_ids = HashMap::new();
    let mut parsed = ParsedRoll::default();
    for (line, entry) in lines {
        let entry = entry.and_then(|entry| {
            if let Some(first) = emails.get(&entry.email) {
                return Err(format!(
                    "duplicate email {} (first on line {first})",
                    entry.email
                ));
            }
            if let Some(id) = &entry.external_id
                && let Some(first) = external_ids.get(id)
            {
                return Err(format!(
                    "duplicate external_id {id} (first on line {first})"
                ));
            }
            Ok(entry)
        });
        match entry {
            Ok(entry) => {
                emails.insert(entry.email.clone(), line);
                if let Some(id) = &entry.external_id {
                    external_ids.insert(id.clone(), line);
                }
                parsed.entries.push(entry);
            }
            Err(reason) => parsed.rejected.push(Rejected { line, reason }),
        }
    }
    parsed
}

/// Reads a CSV roll file. A file-level fault (no header, no `email` column, not UTF-8) is an
/// error; a bad line is a [`Rejected`] entry with its line number.
pub fn parse_csv(bytes: &[u8]) -> Result<ParsedRoll, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the file is not UTF-8 ({e})"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header = text.lines().next().unwrap_or_default();
    let delimiter = if header.matches(';').count() > header.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("cannot read the header line: {e}"))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let email_at = column("email").ok_or("the header line has no email column")?;
    let known = ["email", "name", "external_id", "weight", "groups"];
    if let Some(unknown) = headers
        .iter()
        .find(|h| !known.iter().any(|k| h.eq_ignore_ascii_case(k)))
    {
        return Err(format!(
            "unknown column {unknown:?} in the header (columns: email,name,external_id,weight,groups)"
        ));
    }
    let (name_at, id_at, weight_at, groups_at) = (
        column("name"),
        column("external_id"),
        column("weight"),
        column("groups"),
    );
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                lines.push((line, Err(format!("unreadable line: {e}"))));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() > headers.len() {
            lines.push((
                line,
                Err(format!(
                    "{} fields but the header has {} (quote a field that holds the separator)",
                    record.len(),
                    headers.len()
                )),
            ));
            continue;
        }
        let field = |at: Option<usize>| at.and_then(|i| record.get(i));
        let groups: Vec<String> = field(groups_at)
            .map(|g| g.split(';').map(str::to_owned).collect())
            .unwrap_or_default();
        let entry = parse_entry(
            record.get(email_at).unwrap_or_default(),
            field(name_at),
            field(id_at),
            field(weight_at),
            &groups,
        );
        lines.push((line, entry));
    }
    Ok(check_duplicates(lines))
}

/// An entry of a JSON roll.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonRollEntry {
    email: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    /// A positive decimal, as a string or a number; default 1.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    weight: Option<serde_json::Value>,
    #[serde(default)]
    groups: Vec<String>,
}

/// Reads a JSON roll: entry `i` is "line" `i + 1`.
pub fn parse_json(entries: &[JsonRollEntry]) -> ParsedRoll {
    let lines = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let weight = e.weight.as_ref().map(|w| match w {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let entry = parse_entry(
                &e.email,
                e.name.as_deref(),
                e.external_id.as_deref(),
                weight.as_deref(),
                &e.groups,
            );
            (i as u64 + 1, entry)
        })
        .collect();
    check_duplicates(lines)
}

/// The roll's fingerprint (see the module documentation for the exact input).
pub fn fingerprint(entries: &[RollEntry]) -> String {
    let mut sorted: Vec<&RollEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.email.cmp(&b.email));
    let mut hasher = Sha256::new();
    for entry in sorted {
        hasher.update(entry.email.as_bytes());
        hasher.update(b"\t");
        hasher.update(entry.name.as_deref().unwrap_or_default().as_bytes());
        hasher.update(b"\t");
        hasher.update(entry.external_id.as_deref().unwrap_or_default().as_bytes());
        hasher.update(b"\t");
        hasher.update(format_weight(entry.weight).as_bytes());
        hasher.update(b"\t");
        hasher.update(entry.groups.join(";").as_bytes());
        hasher.update(b"\n");
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What replacing the roll `current` with `new` changes: (added, updated, unchanged, removed).
pub fn diff(current: &[RollEntry], new: &[RollEntry]) -> (u64, u64, u64, u64) {
    let by_email: HashMap<&str, &RollEntry> =
        current.iter().map(|e| (e.email.as_str(), e)).collect();
    let (mut added, mut updated, mut unchanged) = (0, 0, 0);
    let mut kept = HashSet::new();
    for entry in new {
        match by_email.get(entry.email.as_str()) {
            None => added += 1,
            Some(old) if *old == entry => unchanged += 1,
            Some(_) => updated += 1,
        }
        kept.insert(entry.email.as_str());
    }
    let removed = current
        .iter()
        .filter(|e| !kept.contains(e.email.as_str()))
        .count() as u64;
    (added, updated, unchanged, removed)
}

/// Turnout of one group.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupTurnout {
    pub group: String,
    pub eligible: u64,
    pub voted: u64,
    pub percentage: f64,
}

/// Per group (eligible, voted) → the reported rows: groups with fewer than
/// [`MIN_GROUP_SIZE`] eligible voters are merged into "other", which is itself left out while
/// it is still that small, so no row is about fewer than five people.
pub fn group_turnout(groups: &BTreeMap<String, (u64, u64)>) -> Vec<GroupTurnout> {
    let percent = |voted: u64, eligible: u64| {
        if eligible == 0 {
            0.0
        } else {
            (voted as f64 * 1000.0 / eligible as f64).round() / 10.0
        }
    };
    let mut rows = Vec::new();
    let (mut other_eligible, mut other_voted) = (0, 0);
    for (group, (eligible, voted)) in groups {
        if *eligible >= MIN_GROUP_SIZE && group != OTHER_GROUP {
            rows.push(GroupTurnout {
                group: group.clone(),
                eligible: *eligible,
                voted: *voted,
                percentage: percent(*voted, *eligible),
            });
        } else {
            other_eligible += eligible;
            other_voted += voted;
        }
    }
    if other_eligible >= MIN_GROUP_SIZE {
        rows.push(GroupTurnout {
            group: OTHER_GROUP.into(),
            eligible: other_eligible,
            voted: other_voted,
            percentage: percent(other_voted, other_eligible),
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_exact_decimals() {
        assert_eq!(parse_weight("1").unwrap(), WEIGHT_SCALE);
        assert_eq!(parse_weight("0.5").unwrap(), WEIGHT_SCALE / 2);
        assert_eq!(parse_weight("2.000000001").unwrap(), 2 * WEIGHT_SCALE + 1);
        for bad in ["0", "-1", "1e3", "abc", "1.0000000001", ""] {
            assert!(parse_weight(bad).is_err(), "{bad}");
        }
        assert_eq!(format_weight(1_500_000_000), "1.5");
        assert_eq!(format_weight(3 * WEIGHT_SCALE), "3");
    }

    #[test]
    fn a_csv_with_bom_and_semicolons_reports_each_bad_line() {
        let file = "\u{feff}email;name;external_id;weight;groups\n\
                    ada@example.org;Ada;M1;2;\"Law;Staff\"\n\
                    not-an-email;X;;;\n\
                    grace@example.org;Grace;M2;-1;\n\
                    ADA@example.org;Ada again;;;\n\
                    alan@example.org;Alan;M1;;\n\
                    \n\
                    edsger@example.org;;;0.25;Law\n\
                    barbara@example.org;;;1;Law;Staff\n";
        let parsed = parse_csv(file.as_bytes()).unwrap();
        let emails: Vec<&str> = parsed.entries.iter().map(|e| e.email.as_str()).collect();
        assert_eq!(emails, ["ada@example.org", "edsger@example.org"]);
        assert_eq!(parsed.entries[0].groups, ["Law", "Staff"]);
        assert_eq!(parsed.entries[1].weight, WEIGHT_SCALE / 4);
        let lines: Vec<u64> = parsed.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 9]);
        assert!(
            parsed.rejected[4]
                .reason
                .contains("6 fields but the header has 5")
        );
        assert!(parsed.rejected[0].reason.starts_with("bad email"));
        assert!(parsed.rejected[1].reason.starts_with("bad weight"));
        assert!(
            parsed.rejected[2]
                .reason
                .contains("duplicate email ada@example.org (first on line 2)")
        );
        assert!(
            parsed.rejected[3]
                .reason
                .contains("duplicate external_id M1")
        );
    }

    #[test]
    fn comma_files_carry_groups_separated_by_semicolons() {
        let parsed = parse_csv(b"email,groups\nada@example.org,\"Staff;Law;Staff\"\n").unwrap();
        assert_eq!(parsed.entries[0].groups, ["Law", "Staff"]);
        assert!(
            parse_csv(b"name\nAda\n")
                .unwrap_err()
                .contains("no email column")
        );
        assert!(
            parse_csv(b"email,colour\na@b.org,red\n")
                .unwrap_err()
                .contains("unknown column")
        );
    }

    #[test]
    fn the_fingerprint_ignores_order_and_sees_every_field() {
        let a = parse_csv(b"email,weight\na@x.org,1\nb@x.org,2\n")
            .unwrap()
            .entries;
        let b = parse_csv(b"email,weight\nb@x.org,2.0\na@x.org,1\n")
            .unwrap()
            .entries;
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let c = parse_csv(b"email,weight\nb@x.org,3\na@x.org,1\n")
            .unwrap()
            .entries;
        assert_ne!(fingerprint(&a), fingerprint(&c));
        // The documented input, by hand.
        let expected: String = Sha256::digest(b"a@x.org\t\t\t1\t\nb@x.org\t\t\t2\t\n")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(fingerprint(&a), expected);
        assert_eq!(diff(&a, &c), (0, 1, 1, 0));
        assert_eq!(diff(&a, &a[..1]), (0, 0, 1, 1));
    }

    #[test]
    fn small_groups_are_merged_and_never_shown_alone() {
        let mut groups = BTreeMap::new();
        groups.insert("Law".to_owned(), (10, 4));
        groups.insert("Music".to_owned(), (3, 3));
        groups.insert("Art".to_owned(), (2, 0));
        let rows = group_turnout(&groups);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].group, "Law");
        assert_eq!(rows[0].percentage, 40.0);
        assert_eq!(
            (rows[1].group.as_str(), rows[1].eligible, rows[1].voted),
            ("other", 5, 3)
        );
        groups.remove("Art");
        assert_eq!(
            group_turnout(&groups).len(),
            1,
            "an 'other' of three is left out"
        );
    }
}
