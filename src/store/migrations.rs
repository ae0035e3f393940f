//! Versioned schema migrations, one list per backend, kept in step: the same versions with the
//! same names (a test checks it). Each is applied once, in order, inside a transaction.
//!
//! Hand-rolled rather than a migration crate because the runner must hold a PostgreSQL advisory
//! lock across the whole run (two instances starting together) and adopt a database created by
//! the original design's SQL; both are a few lines here.

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// `migration!("postgres", 1, "0001", "initial")` embeds `migrations/postgres/0001_initial.sql`.
macro_rules! migration {
    ($backend:literal, $version:literal, $file_prefix:literal, $name:literal) => {
        Migration {
            version: $version,
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

pub const POSTGRES_MIGRATIONS: &[Migration] = &[
    migration!("postgres", 1, "0001", "initial"),
    migration!("postgres", 2, "0002", "production_schema"),
    migration!("postgres", 3, "0003", "security"),
    migration!("postgres", 4, "0004", "elections"),
    migration!("postgres", 5, "0005", "rolls"),
    migration!("postgres", 6, "0006", "invitations"),
];

pub const SQLITE_MIGRATIONS: &[Migration] = &[
    migration!("sqlite", 1, "0001", "initial"),
    migration!("sqlite", 2, "0002", "production_schema"),
    migration!("sqlite", 3, "0003", "security"),
    migration!("sqlite", 4, "0004", "elections"),
    migration!("sqlite", 5, "0005", "rolls"),
    migration!("sqlite", 6, "0006", "invitations"),
];

/// Table recording applied versions; the same shape on both backends.
pub const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
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
}
