//! The pgbench ceiling's script: the very statement `cast_ballot` runs (read from the
//! PostgreSQL store's source, so the ceiling cannot drift from it), with its parameters taken
//! from pgbench variables. A change to the statement's text shows in the ceiling at the next
//! run; a change to its parameters makes this refuse to build the script until it is updated.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// `cast_ballot`'s parameters, in the order the store binds them, and what pgbench puts in
/// their place: its own voters are `md5('pgbench-N')::uuid` (one per transaction, from a
/// per-client counter), the digests of their retry keys from N, their ballot ids from election
/// and N (a ballot run's voters also voted in the vote run's election), the shard is drawn as
/// the store draws it.
const PARAMETERS: [(&str, &str); 9] = [
    ("&ballot.election_id", ":election"),
    ("&ballot.user_id", "md5('pgbench-' || :n::text)::uuid"),
    ("&ballot.candidate_id", ":candidate"),
    ("&ballot.selections", ":selections"),
    (
        "&key_hash",
        "sha256(convert_to('key-' || :n::text, 'UTF8'))",
    ),
    ("&ballot.counted", ":counted"),
    ("&shard", ":shard"),
    (
        "&request_hash",
        "sha256(convert_to('request-' || :n::text, 'UTF8'))",
    ),
    (
        "&receipt",
        "md5('ballot-' || :election::text || '-' || :n::text)::uuid",
    ),
];

/// Text between `start` (included or not) and the first `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str, keep_start: bool) -> Option<&'a str> {
    let from = text.find(start)?;
    let body_from = if keep_start { from } else { from + start.len() };
    let len = text[from + start.len()..].find(end)? + (from + start.len() - body_from);
    Some(&text[body_from..body_from + len])
}

/// Writes the pgbench script for `cast_ballot` of `store_source` (src/store/postgres/elections.rs),
/// with shards from `shards_source` (src/store/elections.rs).
pub fn ballot_script(store_source: &Path, shards_source: &Path, out: &Path) -> Result<()> {
    let source = std::fs::read_to_string(store_source)
        .with_context(|| format!("read {}", store_source.display()))?;
    let shards_text = std::fs::read_to_string(shards_source)
        .with_context(|| format!("read {}", shards_source.display()))?;
    let effective_state = between(&source, "const EFFECTIVE_STATE: &str = \"", "\";", false)
        .context("EFFECTIVE_STATE not found in the store's source")?;
    let cast = &source[source
        .find("async fn cast_ballot")
        .context("cast_ballot not found in the store's source")?..];
    let statement = between(cast, "WITH open_election AS (", "\"", true)
        .context("cast_ballot's WITH open_election statement not found")?;
    let mut statement = statement.replace("{EFFECTIVE_STATE}", effective_state);
    if statement.contains('{') {
        bail!("cast_ballot's statement has a placeholder this tool does not know: {statement}");
    }
    // The parameters as bound: the slice `&[ ... ]` after `&insert,`.
    let after_insert = &cast[cast
        .find("&insert,")
        .context("cast_ballot's query with its parameters not found")?..];
    let bound = between(after_insert, "&[", "]", false)
        .context("cast_ballot's parameter list not found")?;
    let bound: Vec<&str> = bound
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let expected: Vec<&str> = PARAMETERS.iter().map(|(name, _)| *name).collect();
    if bound != expected {
        bail!(
            "cast_ballot binds {bound:?}, this tool knows {expected:?}: update bench/tool/src/pgbench.rs"
        );
    }
    if statement.contains(&format!("${}", PARAMETERS.len() + 1)) {
        bail!("cast_ballot's statement has more parameters than it binds");
    }
    for (n, (_, with)) in PARAMETERS.iter().enumerate().rev() {
        statement = statement.replace(&format!("${}", n + 1), with);
    }
    let shards: u32 = between(&shards_text, "pub const TALLY_SHARDS: i16 = ", ";", false)
        .context("TALLY_SHARDS not found")?
        .trim()
        .parse()
        .context("TALLY_SHARDS is not a number")?;
    // Indented continuation lines are fine for pgbench; a blank line is not.
    let statement: Vec<&str> = statement.lines().filter(|l| !l.trim().is_empty()).collect();
    let script = format!(
        "\\set n :base + :client_id + :nclients * :i\n\
         \\set i :i + 1\n\
         \\set shard random(0, {})\n\
         {};\n",
        shards - 1,
        statement.join("\n")
    );
    std::fs::write(out, script).with_context(|| format!("write {}", out.display()))
}
