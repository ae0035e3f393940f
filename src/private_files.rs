//! Files only the service's own user may read: the data directory (0700), the embedded
//! database with its `-wal` and `-shm` files and the generated secret (0600). Modes are set
//! explicitly after creation, so they do not depend on the process's umask.

use std::io;
use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700. A directory that already exists keeps
/// its mode (the operator may have chosen it, e.g. systemd's `StateDirectoryMode`).
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => set_mode(dir, 0o700),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes sure the SQLite database at `path` and its `-wal`/`-shm` files exist only with mode
/// 0600: the database is created empty with that mode before SQLite opens it (SQLite gives the
/// WAL and shared-memory files the database's mode), and files left readable by others, for
/// example by an older version, are tightened.
pub fn prepare_database_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    drop(options.open(path)?);
    set_mode(path, 0o600)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        match set_mode(Path::new(&companion), 0o600) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

/// Sets the permission bits of `path` to `mode`, whatever the umask.
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}
