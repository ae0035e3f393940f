//! `securevote backup FILE`: a consistent copy of the embedded database while the service runs.
//!
//! The copy is made with SQLite's online backup API in a single step, that is under one read
//! transaction: in WAL mode that transaction sees exactly the transactions committed before it
//! began and does not block the writer, so votes keep being acknowledged during the copy and
//! the copy holds every vote acknowledged before it started. The copy is written to
//! `FILE.partial`, checked (`PRAGMA integrity_check`), flushed to disk and only then renamed to
//! `FILE`, so an interrupted backup never leaves a file that looks complete. An existing `FILE`
//! is never overwritten.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

/// What a finished backup holds, for the command's summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub path: PathBuf,
    pub bytes: u64,
    pub schema_version: i64,
    pub elections: i64,
    pub ballots: i64,
    pub elapsed: Duration,
}

/// A backup that could not be made; the message names the file and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackupError(String);

/// How long a step waits for a lock held by a checkpoint before it tries again, and how often.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
const RETRIES: usize = 200;

/// Copies the database at `source` to `dest` (see the module documentation).
pub fn backup(source: &Path, dest: &Path) -> Result<BackupSummary, BackupError> {
    let started = Instant::now();
    if dest.exists() {
        return Err(BackupError(format!(
            "{} already exists; a backup never overwrites a file, choose a new name",
            dest.display()
        )));
    }
    if !source.is_file() {
        return Err(BackupError(format!(
            "there is no database at {} (DATA_DIR)",
            source.display()
        )));
    }
    let partial = partial_path(dest);
    let result = copy_and_check(source, &partial).and_then(|summary| {
        std::fs::rename(&partial, dest).map_err(|e| fail(dest, "renaming the finished copy", e))?;
        sync_parent(dest)?;
        Ok(summary)
    });
    match result {
        Ok((bytes, schema_version, elections, ballots)) => Ok(BackupSummary {
            path: dest.to_owned(),
            bytes,
            schema_version,
            elections,
            ballots,
            elapsed: started.elapsed(),
        }),
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

fn copy_and_check(source: &Path, partial: &Path) -> Result<(u64, i64, i64, i64), BackupError> {
    let _ = std::fs::remove_file(partial);
    crate::private_files::prepare_database_file(partial)
        .map_err(|e| fail(partial, "creating the copy (mode 0600)", e))?;
    let from = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail(source, "opening the database", e))?;
    from.busy_timeout(Duration::from_secs(5))
        .map_err(|e| fail(source, "setting the busy timeout", e))?;
    let mut to = Connection::open(partial).map_err(|e| fail(partial, "opening the copy", e))?;
    {
        let backup = Backup::new(&from, &mut to).map_err(|e| fail(source, "starting", e))?;
        let mut tries = 0;
        loop {
            // -1: every page in one step, under one read transaction of the source.
            match backup.step(-1).map_err(|e| fail(source, "copying", e))? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked if tries < RETRIES => {
                    tries += 1;
                    std::thread::sleep(RETRY_PAUSE);
                }
                StepResult::Busy | StepResult::Locked => {
                    return Err(BackupError(format!(
                        "{}: the database stayed locked for {} s",
                        source.display(),
                        (RETRY_PAUSE * RETRIES as u32).as_secs()
                    )));
                }
                other => {
                    return Err(BackupError(format!(
                        "{}: unexpected backup step result {other:?}",
                        source.display()
                    )));
                }
            }
        }
    }
    drop(from);
    let check: String = to
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| fail(partial, "checking the copy", e))?;
    if check != "ok" {
        return Err(BackupError(format!(
            "{}: the copy failed its integrity check: {check}",
            partial.display()
        )));
    }
    let count = |sql: &str| -> Result<i64, BackupError> {
        to.query_row(sql, [], |row| row.get(0))
            .map_err(|e| fail(partial, "reading the copy", e))
    };
    let schema_version = count("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")?;
    let elections = count("SELECT COUNT(*) FROM elections")?;
    let ballots = count("SELECT COUNT(*) FROM ballot_box")?;
    // The copy is a single file: no WAL of its own to carry along.
    to.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(|e| fail(partial, "checkpointing the copy", e))?;
    to.close()
        .map_err(|(_, e)| fail(partial, "closing the copy", e))?;
    let file = std::fs::File::open(partial).map_err(|e| fail(partial, "reopening", e))?;
    file.sync_all()
        .map_err(|e| fail(partial, "flushing to disk", e))?;
    let bytes = file
        .metadata()
        .map_err(|e| fail(partial, "reading its size", e))?
        .len();
    for suffix in ["-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(with_suffix(partial, suffix));
    }
    Ok((bytes, schema_version, elections, ballots))
}

fn partial_path(dest: &Path) -> PathBuf {
    with_suffix(dest, ".partial")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn sync_parent(path: &Path) -> Result<(), BackupError> {
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| fail(parent, "flushing the directory", e))
}

fn fail(path: &Path, doing: &str, error: impl std::fmt::Display) -> BackupError {
    BackupError(format!("{}: {doing}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_file_is_never_overwritten_and_a_missing_database_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("securevote.db");
        let dest = dir.path().join("copy.db");
        std::fs::write(&dest, b"keep me").unwrap();
        let error = backup(&source, &dest).unwrap_err().to_string();
        assert!(error.contains("already exists"), "{error}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"keep me");
        let error = backup(&source, &dir.path().join("new.db"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no database at") && error.contains("DATA_DIR"));
        assert!(!dir.path().join("new.db").exists());
        assert!(!dir.path().join("new.db.partial").exists());
    }
}
