//! `securevote users import FILE`: a voter list loaded in batches.
//!
//! The file is CSV with a header naming its second column:
//!
//! ```text
//! email,password                      plain passwords, hashed here with argon2id
//! email,password_hash                 argon2 PHC strings ($argon2id$v=19$m=19456,t=2,p=1$...)
//!                                     or legacy bcrypt hashes ($2b$10$...)
//! ```
//!
//! Plain passwords cost one argon2id hash each (19 MiB, two passes), so such a list loads at the
//! pace of the hashing threads; a pre-hashed list costs no hash. Every row is checked like a
//! registration (email rules, 8 to 128 characters) and either imported, skipped as a duplicate
//! (already registered, or earlier in the same file), or rejected with its line number and the
//! reason. Valid rows are imported even when others are rejected, and a re-run skips what is
//! already in, so a corrected file can simply be imported again.

use std::collections::HashSet;
use std::io::Read;
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHash;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use crate::auth::PasswordHasher;
use crate::domain::{Email, Password};
use crate::store::{ImportedUser, Store, StoreError, error_chain};

/// Rows per transaction unless `--batch-size` says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 1000;
/// A stored hash is verified with its own parameters at every login, so an imported hash may
/// not make a login dearer than this (64 MiB, 10 passes): a larger one would let a voter list
/// turn each login into a denial of service.
const MAX_IMPORTED_MEMORY_KIB: u32 = 64 * 1024;
const MAX_IMPORTED_ITERATIONS: u32 = 10;
/// A wholly wrong file should not print a line per row; the first ones show what is wrong.
const MAX_LISTED_REJECTIONS: usize = 100;

/// What the second column holds, from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretColumn {
    Password,
    PasswordHash,
}

/// A line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub line: u64,
    pub reason: String,
}

/// The outcome of an import.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub imported: u64,
    pub duplicates: u64,
    pub rejected: Vec<Rejected>,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the file: {0}")]
    Read(String),
    #[error(
        "the first line must be the header `email,password` or `email,password_hash`, found {0:?}"
    )]
    Header(String),
    #[error("{}", error_chain(.0))]
    Store(#[from] StoreError),
}

enum Secret {
    Password(Password),
    Hash(String),
}

struct Row {
    email: Email,
    secret: Secret,
}

/// The parsed file: rows to import, in file order, and the lines already decided.
struct Parsed {
    rows: Vec<Row>,
    duplicates: u64,
    rejected: Vec<Rejected>,
}

fn parse(input: impl Read) -> Result<Parsed, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| ImportError::Read(e.to_string()))?
        .clone();
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let column = match names.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["email", "password"] => SecretColumn::Password,
        ["email", "password_hash"] => SecretColumn::PasswordHash,
        _ => {
            return Err(ImportError::Header(
                header.iter().collect::<Vec<_>>().join(","),
            ));
        }
    };
    let mut parsed = Parsed {
        rows: Vec::new(),
        duplicates: 0,
        rejected: Vec::new(),
    };
    let mut seen = HashSet::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                // A malformed line (e.g. invalid UTF-8) is rejected; an I/O error ends the import.
                let Some(line) = error.position().map(|p| p.line()) else {
                    return Err(ImportError::Read(error.to_string()));
                };
                parsed.rejected.push(Rejected {
                    line,
                    reason: format!("unreadable line: {}", first_line(&error.to_string())),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        match parse_row(&record, column) {
            Ok(row) => {
                if seen.insert(row.email.as_str().to_owned()) {
                    parsed.rows.push(row);
                } else {
                    parsed.duplicates += 1;
                }
            }
            Err(reason) => parsed.rejected.push(Rejected { line, reason }),
        }
    }
    Ok(parsed)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn parse_row(record: &csv::StringRecord, column: SecretColumn) -> Result<Row, String> {
    let email = Email::parse(record.get(0).unwrap_or_default())
        .map_err(|e| format!("invalid email: {}", e.0))?;
    let secret = match column {
        // A PHC string holds commas (`m=19456,t=2,p=1`), and lists often leave it unquoted:
        // everything after the first comma is the hash, which is then checked as one.
        SecretColumn::PasswordHash if record.len() >= 2 => Secret::Hash(check_phc(
            record.iter().skip(1).collect::<Vec<_>>().join(",").trim(),
        )?),
        // A password may be anything, so a third field is an error, never part of it.
        SecretColumn::Password if record.len() == 2 => Secret::Password(
            Password::parse(record[1].to_owned())
                .map_err(|e| format!("invalid password: {}", e.0))?,
        ),
        _ => return Err(format!("expected 2 fields, found {}", record.len())),
    };
    Ok(Row { email, secret })
}

/// An argon2 PHC string whose verification costs at most the import limit, or a legacy bcrypt
/// hash (`$2a$`, `$2b$`, `$2y$`, cost at most 12), which is replaced with argon2id at the
/// account's first login.
fn check_phc(raw: &str) -> Result<String, String> {
    if raw.starts_with("$2") {
        if crate::auth::is_legacy_bcrypt(raw) {
            return Ok(raw.to_owned());
        }
        return Err(format!(
            "password_hash is not a bcrypt hash this service verifies ($2a$, $2b$ or $2y$, cost at most {})",
            crate::auth::MAX_BCRYPT_COST
        ));
    }
    let hash =
        PasswordHash::new(raw).map_err(|_| "password_hash is not a PHC string".to_owned())?;
    if !matches!(hash.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d") {
        return Err(format!(
            "password_hash uses {}, not argon2 (argon2id, argon2i or argon2d)",
            hash.algorithm
        ));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err("password_hash lacks its salt or its hash".to_owned());
    }
    let params = argon2::Params::try_from(&hash)
        .map_err(|e| format!("password_hash has invalid argon2 parameters: {e}"))?;
    if params.m_cost() > MAX_IMPORTED_MEMORY_KIB || params.t_cost() > MAX_IMPORTED_ITERATIONS {
        return Err(format!(
            "password_hash costs more than a login may (m={} KiB, t={}; at most m={MAX_IMPORTED_MEMORY_KIB}, t={MAX_IMPORTED_ITERATIONS})",
            params.m_cost(),
            params.t_cost()
        ));
    }
    Ok(raw.to_owned())
}

/// Reads, checks and stores the voter list, `batch_size` rows per transaction, with a progress
/// bar on a terminal.
pub async fn import_users(
    store: &dyn Store,
    input: impl Read,
    batch_size: usize,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let Parsed {
        rows,
        duplicates,
        rejected,
    } = parse(input)?;
    let mut summary = ImportSummary {
        duplicates,
        rejected,
        ..ImportSummary::default()
    };
    let progress = ProgressBar::new(rows.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} users  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let hasher = PasswordHasher::for_this_machine();
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<Row> = rows.by_ref().take(batch_size.max(1)).collect();
        let prehashed = batch
            .iter()
            .filter(|row| matches!(row.secret, Secret::Hash(_)))
            .count() as u64;
        let users: Vec<ImportedUser> = futures_util::stream::iter(batch)
            .map(|row| {
                let (hasher, progress) = (hasher.clone(), progress.clone());
                async move {
                    let password_hash = match row.secret {
                        Secret::Hash(hash) => hash,
                        Secret::Password(password) => {
                            let hash = hash_until_admitted(&hasher, password).await;
                            progress.inc(1);
                            hash
                        }
                    };
                    ImportedUser {
                        email: row.email,
                        password_hash,
                    }
                }
            })
            .buffered(cores)
            .collect()
            .await;
        let inserted = store.import_users(&users).await?;
        let new = inserted.iter().filter(|i| **i).count() as u64;
        summary.imported += new;
        summary.duplicates += inserted.len() as u64 - new;
        progress.inc(prehashed);
    }
    progress.finish_and_clear();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The shared hasher refuses work beyond its queue; here there is no client to answer 503 to,
/// so the import waits its turn (at most `cores` hashes are ever in flight anyway).
async fn hash_until_admitted(hasher: &PasswordHasher, password: Password) -> String {
    loop {
        match hasher.hash(password.clone()).await {
            Ok(hash) => return hash,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

impl ImportSummary {
    /// The summary printed after an import, one fact per line.
    pub fn render(&self, source: &str) -> String {
        let seconds = self.elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            self.imported as f64 / seconds
        } else {
            0.0
        };
        let mut text = format!(
            "imported {} {} from {source} in {seconds:.1} s ({rate:.0}/s)\n\
             skipped {} {} (already registered, or repeated in the file)\n",
            self.imported,
            plural(self.imported, "user", "users"),
            self.duplicates,
            plural(self.duplicates, "duplicate", "duplicates"),
        );
        let rejected = self.rejected.len() as u64;
        text.push_str(&format!(
            "rejected {rejected} {}",
            plural(rejected, "line", "lines")
        ));
        if self.rejected.is_empty() {
            text.push('\n');
        } else {
            text.push_str(":\n");
            for Rejected { line, reason } in self.rejected.iter().take(MAX_LISTED_REJECTIONS) {
                text.push_str(&format!("  line {line}: {reason}\n"));
            }
            if let Some(more) = self.rejected.len().checked_sub(MAX_LISTED_REJECTIONS)
                && more > 0
            {
                text.push_str(&format!("  ... and {more} more\n"));
            }
        }
        text
    }
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Ck3wzxnGkyv/Xw3SX9VKL3ySphLs8mAVT2fEjJ0MZ2E";

    fn parsed(text: &str) -> Parsed {
        parse(text.as_bytes()).expect("parses")
    }

    #[test]
    fn the_header_decides_what_the_second_column_holds() {
        let passwords = parsed("email,password\nada@example.org,correct horse\n");
        assert!(matches!(passwords.rows[0].secret, Secret::Password(_)));
        let hashes = parsed(&format!(
            " Email , Password_Hash \nada@example.org,{HASH}\nbob@example.org,\"{HASH}\"\n"
        ));
        assert_eq!(hashes.rows.len(), 2, "quoted or not");
        assert!(matches!(&hashes.rows[0].secret, Secret::Hash(h) if h == HASH));
        assert!(matches!(&hashes.rows[1].secret, Secret::Hash(h) if h == HASH));
        for header in [
            "",
            "email\n",
            "mail,password\n",
            "ada@example.org,secret12\n",
        ] {
            assert!(
                matches!(parse(header.as_bytes()), Err(ImportError::Header(_))),
                "{header:?} is not a valid header"
            );
        }
    }

    #[test]
    fn bcrypt_hashes_of_the_original_design_are_accepted() {
        let node = bcrypt::hash("from the node app", 4).unwrap();
        let text = format!(
            "email,password_hash\na@example.org,{node}\nb@example.org,{}\nc@example.org,{}\n",
            node.replacen("$2b$", "$2a$", 1),
            node.replacen("$2b$", "$2y$", 1)
        );
        let parsed = parsed(&text);
        assert_eq!(parsed.rows.len(), 3, "{:?}", parsed.rejected);
        assert!(parsed.rejected.is_empty());
    }

    #[test]
    fn rejected_lines_carry_their_line_number_and_reason() {
        let text = format!(
            "email,password_hash\n\
             ok@example.org,{HASH}\n\
             not-an-email,{HASH}\n\
             bcrypt@example.org,$2b$31$abcdefghijklmnopqrstuu5sG0vJ3W2Kb6kq1QF6Xnqsd7yCwF2a\n\
             weak@example.org,plain-text\n\
             two@example.org\n\
             costly@example.org,$argon2id$v=19$m=1048576,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Ck3wzxnGkyv/Xw3SX9VKL3ySphLs8mAVT2fEjJ0MZ2E\n"
        );
        let parsed = parsed(&text);
        assert_eq!(parsed.rows.len(), 1);
        let lines: Vec<u64> = parsed.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7]);
        let reasons: Vec<&str> = parsed.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert!(reasons[0].starts_with("invalid email"), "{reasons:?}");
        assert!(reasons[1].contains("cost at most 12"), "{reasons:?}");
        assert!(reasons[2].contains("PHC"), "{reasons:?}");
        assert!(
            reasons[3].contains("expected 2 fields, found 1"),
            "{reasons:?}"
        );
        assert!(reasons[4].contains("costs more"), "{reasons:?}");
    }

    #[test]
    fn passwords_follow_the_registration_rules_and_may_hold_commas_and_quotes() {
        let parsed = parsed(
            "email,password\n\
             ok@example.org,\"a, \"\"quoted\"\" pass\"\n\
             short@example.org,1234567\n\
             three@example.org,secret-one,secret-two\n",
        );
        assert_eq!(parsed.rows.len(), 1);
        assert!(
            matches!(&parsed.rows[0].secret, Secret::Password(p) if p.expose() == "a, \"quoted\" pass")
        );
        assert_eq!(parsed.rejected[0].line, 3);
        assert!(parsed.rejected[0].reason.starts_with("invalid password"));
        assert_eq!(parsed.rejected[1].line, 4);
        assert!(
            parsed.rejected[1]
                .reason
                .contains("expected 2 fields, found 3")
        );
    }

    #[test]
    fn repeated_emails_are_duplicates_whatever_their_case() {
        let parsed = parsed(&format!(
            "email,password_hash\nAda@Example.org,{HASH}\nada@example.org,{HASH}\n"
        ));
        assert_eq!((parsed.rows.len(), parsed.duplicates), (1, 1));
        assert_eq!(parsed.rows[0].email.as_str(), "ada@example.org");
    }

    #[test]
    fn the_summary_names_each_rejected_line() {
        let summary = ImportSummary {
            imported: 2,
            duplicates: 1,
            rejected: vec![Rejected {
                line: 4,
                reason: "invalid email: email is required".into(),
            }],
            elapsed: Duration::from_secs(1),
        };
        let text = summary.render("voters.csv");
        assert!(
            text.starts_with("imported 2 users from voters.csv"),
            "{text}"
        );
        assert!(text.contains("skipped 1 duplicate ("), "{text}");
        assert!(
            text.contains("rejected 1 line:\n  line 4: invalid email"),
            "{text}"
        );
    }
}
