//! Versioned schema migrations, one list per backend, kept in step: the same versions with the
//! same names (a test checks it). Each is applied once, in order, inside a transaction.
//!
//! Hand-rolled rather than a migration crate because the runner must hold a PostgreSQL advisory
//! lock across the whole run (two instances starting together) and adopt a database whose
//! users, candidates and votes tables were created without it; both are a few lines here.

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// `migration!("postgres", "0001", "initial")` embeds `migrations/postgres/0001_initial.sql` as
/// version 1: the version is read from the file name, so the two cannot disagree.
macro_rules! migration {
    ($backend:literal, $file_prefix:literal, $name:literal) => {
        Migration {
            version: version_of($file_prefix),
            name: $name,
            sql: include_str!(concat!(
                "../../migrations/",
                $backend,
                "/",
                $file_prefix,
                "_",
                $name,
                ".sql"
            )),
        }
    };
}

/// The version a file prefix of four digits stands for; anything else fails the build (the
/// migration lists are constants).
const fn version_of(file_prefix: &str) -> i64 {
    let digits = file_prefix.as_bytes();
    assert!(
        digits.len() == 4,
        "a migration file starts with four digits"
    );
    let mut version = 0;
    let mut i = 0;
    while i < digits.len() {
        assert!(
            digits[i].is_ascii_digit(),
            "a migration file starts with four digits"
        );
        version = version * 10 + (digits[i] - b'0') as i64;
        i += 1;
    }
    version
}

pub const POSTGRES_MIGRATIONS: &[Migration] = &[
    migration!("postgres", "0001", "initial"),
    migration!("postgres", "0002", "production_schema"),
    migration!("postgres", "0003", "security"),
    migration!("postgres", "0004", "elections"),
    migration!("postgres", "0005", "rolls"),
    migration!("postgres", "0006", "invitations"),
    migration!("postgres", "0007", "sessions"),
    migration!("postgres", "0008", "unlinkable_ballots"),
    migration!("postgres", "0009", "encrypted_elections"),
];

pub const SQLITE_MIGRATIONS: &[Migration] = &[
    migration!("sqlite", "0001", "initial"),
    migration!("sqlite", "0002", "production_schema"),
    migration!("sqlite", "0003", "security"),
    migration!("sqlite", "0004", "elections"),
    migration!("sqlite", "0005", "rolls"),
    migration!("sqlite", "0006", "invitations"),
    migration!("sqlite", "0007", "sessions"),
    migration!("sqlite", "0008", "unlinkable_ballots"),
    migration!("sqlite", "0009", "encrypted_elections"),
];

/// Table recording applied versions; the same shape on both backends.
pub(super) const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_have_the_same_migrations_in_order() {
        let names =
            |list: &[Migration]| list.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(names(POSTGRES_MIGRATIONS), names(SQLITE_MIGRATIONS));
        for (i, migration) in POSTGRES_MIGRATIONS.iter().enumerate() {
            assert_eq!(
                migration.version,
                i as i64 + 1,
                "versions are consecutive from 1"
            );
        }
    }

    #[test]
    fn the_version_is_the_number_of_the_file_prefix() {
        assert_eq!(version_of("0001"), 1);
        assert_eq!(version_of("0042"), 42);
        assert_eq!(version_of("1203"), 1203);
    }

    #[test]
    fn every_migration_file_is_listed() {
        for (backend, list) in [
            ("postgres", POSTGRES_MIGRATIONS),
            ("sqlite", SQLITE_MIGRATIONS),
        ] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(backend);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let listed: Vec<String> = list
                .iter()
                .map(|m| format!("{:04}_{}.sql", m.version, m.name))
                .collect();
            assert_eq!(files, listed, "migrations/{backend}");
        }
    }
}
