//! Preparing a run: the voter list to import and the voters' login tokens.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use securevote::auth::{PasswordHasher, TokenKeys};
use securevote::config::SecretString;
use securevote::domain::Password;
use uuid::Uuid;

/// Longer than any run; the service verifies the expiry like any other token's.
const TOKEN_TTL: Duration = Duration::from_secs(4 * 3600);
/// Voters made for the benchmark, and only they, have emails in this domain.
pub const BENCH_EMAIL_PATTERN: &str = "%@bench.invalid";

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")
}

/// Hashing 100,000 passwords with argon2id at 19 MiB would take most of an hour on two cores,
/// so every voter gets the same hash of the same password: one hash, computed here with the
/// service's own hasher (and so its parameters). Logins still verify it in full.
pub fn users_csv(count: usize, password: &str, out: &Path) -> Result<()> {
    let password =
        Password::parse(password.to_owned()).map_err(|e| anyhow::anyhow!("password: {}", e.0))?;
    let hash = runtime()?
        .block_on(PasswordHasher::new(1, 1).hash(password))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let file = std::fs::File::create(out).with_context(|| format!("create {}", out.display()))?;
    let mut csv = BufWriter::new(file);
    writeln!(csv, "email,password_hash")?;
    for n in 0..count {
        // PHC strings contain commas; `users import` accepts them quoted or not.
        writeln!(csv, "voter{n}@bench.invalid,{hash}")?;
    }
    csv.flush()?;
    Ok(())
}

pub fn tokens(
    postgres: Option<&str>,
    sqlite: Option<&Path>,
    secret: &str,
    out: &Path,
) -> Result<()> {
    let ids: Vec<Uuid> = match (postgres, sqlite) {
        (Some(url), None) => runtime()?.block_on(postgres_ids(url))?,
        (None, Some(path)) => sqlite_ids(path)?,
        _ => bail!("give exactly one of --postgres and --sqlite"),
    };
    if ids.is_empty() {
        bail!("no bench voters ({BENCH_EMAIL_PATTERN}) in the database; import them first");
    }
    let keys = TokenKeys::new(&SecretString::from(secret), TOKEN_TTL);
    let file = std::fs::File::create(out).with_context(|| format!("create {}", out.display()))?;
    let mut lines = BufWriter::new(file);
    for id in ids {
        writeln!(lines, "{}", keys.issue(id).token)?;
    }
    lines.flush()?;
    Ok(())
}

async fn postgres_ids(url: &str) -> Result<Vec<Uuid>> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connect to PostgreSQL")?;
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT id FROM users WHERE email LIKE $1 ORDER BY created_at, email",
            &[&BENCH_EMAIL_PATTERN],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

fn sqlite_ids(path: &Path) -> Result<Vec<Uuid>> {
    let conn =
        rusqlite::Connection::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut query =
        conn.prepare("SELECT id FROM users WHERE email LIKE ?1 ORDER BY created_at, email")?;
    let ids = query
        .query_map([BENCH_EMAIL_PATTERN], |row| row.get::<_, String>(0))?
        .map(|id| Ok(Uuid::parse_str(&id?)?))
        .collect::<Result<Vec<_>>>()?;
    Ok(ids)
}
