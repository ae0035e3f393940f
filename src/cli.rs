//! Command-line interface: subcommands and the settings they share.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::app::{Application, shutdown_signal};
use crate::config::{self, Config, ConfigError};
use crate::store;

mod admin;
mod ballot;
mod elections;
mod offline;
mod roll;

pub use ballot::BallotCommand;
pub use offline::{OfflineError, TrusteeCommand};

#[derive(Debug, Parser)]
#[command(
    name = "securevote",
    version,
    about = "A secure, highly available online voting service",
    long_about = "A secure, highly available online voting service.\n\n\
        Every setting can be given as an option or as the environment variable shown, and is also \
        read from a .env file in the working directory. With no database settings, an embedded \
        SQLite database in DATA_DIR is used."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: crate::config::Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The command line and the environment. A setting's bad value is a [`ConfigError`] naming
    /// its variable; clap itself reports usage errors and answers `--help` (and exits).
    pub fn from_env() -> Result<Self, ConfigError> {
        let command = config::ignore_empty_env(Self::command());
        let error = match parse(command.clone()) {
            Ok(cli) => return Ok(cli),
            Err(error) => ConfigError::from_clap(&error, &command).unwrap_or_else(|| error.exit()),
        };
        // The offline commands read no setting, so a bad one in the environment does not stop
        // them.
        match parse(config::ignore_env(Self::command())) {
            Ok(cli) if cli.command.as_ref().is_some_and(Command::is_offline) => Ok(cli),
            _ => Err(error),
        }
    }
}

fn parse(command: clap::Command) -> Result<Cli, clap::Error> {
    command
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default when no subcommand is given).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage the candidates on the ballot.
    Candidates {
        #[command(subcommand)]
        action: CandidatesCommand,
    },
    /// Manage voters.
    Users {
        #[command(subcommand)]
        action: UsersCommand,
    },
    /// Manage administrators (the only way to make one).
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
    /// Count a ballot file with no server and no database: a BLT file (ranked methods;
    /// plurality counts first preferences, approval every ranked choice) or a JSON ballots file
    /// (score, STAR and approval; see docs/counting.md). Bad files exit with code 2 and a
    /// message naming the line.
    Tally {
        /// plurality, approval, irv, stv-scottish, stv-meek, schulze, ranked-pairs, copeland,
        /// borda, score or star.
        #[arg(long)]
        method: String,
        /// Seats to fill (default: what the file says).
        #[arg(long)]
        seats: Option<usize>,
        /// json (one object) or text (a result sheet).
        #[arg(long, default_value = "text")]
        format: String,
        /// Seed of the documented draw of lots, where a rule leaves a tie to lot.
        #[arg(long)]
        seed: Option<String>,
        /// The ballot file.
        file: PathBuf,
    },
    /// Manage an election's voter roll.
    Roll {
        #[command(subcommand)]
        action: RollCommand,
    },
    /// Create, list, open, close, publish and archive elections (audited with actor "cli").
    Elections {
        #[command(subcommand)]
        action: ElectionsCommand,
    },
    /// A trustee's offline tools for an encrypted election's key ceremony and decryption (run on
    /// the trustee's own machine; no setting, database or server is used).
    Trustee {
        #[command(subcommand)]
        action: TrusteeCommand,
    },
    /// The voter's client for encrypted elections, for scripts and tests: encrypts exactly as
    /// the browser does.
    Ballot {
        #[command(subcommand)]
        action: BallotCommand,
    },
    /// Check an election record (the board archive, JSON lines) from the record alone: the
    /// chain, every ballot's proofs, one counted ballot per voter, the homomorphic sums, every
    /// decryption proof and the result. Exit 0 only if all hold; otherwise 1 and the first
    /// failed check.
    Verify {
        /// The archive file (GET /api/elections/{id}/board/archive).
        archive: PathBuf,
    },
    /// Copy the embedded SQLite database to FILE while the service runs (SQLite's online
    /// backup API: one consistent snapshot holding every vote acknowledged before it began;
    /// votes keep being taken). FILE must not exist. To restore, stop the service and put the
    /// copy in place of DATA_DIR/securevote.db. PostgreSQL is backed up with pgBackRest or
    /// pg_basebackup instead (README, "Backups and restore").
    Backup {
        /// Where to write the copy (a new file).
        file: PathBuf,
    },
}

impl Command {
    /// Commands that need no configuration, database or server.
    pub fn is_offline(&self) -> bool {
        matches!(
            self,
            Command::Tally { .. }
                | Command::Trustee { .. }
                | Command::Verify { .. }
                | Command::Ballot { .. }
        )
    }
}

/// Runs an offline command (see [`Command::is_offline`]); `None` for every other command.
pub fn run_offline(command: &Command) -> Option<Result<String, (String, OfflineError)>> {
    let (name, outcome) = match command {
        Command::Tally {
            method,
            seats,
            format,
            seed,
            file,
        } => (
            "tally",
            tally(method, *seats, format, seed.as_deref(), file)
                .map_err(|message| OfflineError { code: 2, message }),
        ),
        Command::Trustee { action } => ("trustee", offline::trustee(action)),
        Command::Verify { archive } => ("verify", offline::verify(archive)),
        Command::Ballot { action } => ("ballot", ballot::run(action)),
        _ => return None,
    };
    Some(outcome.map_err(|error| (name.to_owned(), error)))
}

#[derive(Debug, Subcommand)]
pub enum RollCommand {
    /// Replace a draft election's roll with a CSV file (header email,name,external_id,weight,
    /// groups; UTF-8 with or without BOM; comma or semicolon separated), all or nothing. Every
    /// rejected line is printed with its number and reason; with any, nothing is imported.
    Import {
        /// Election id or slug.
        election: String,
        /// Path to the CSV file.
        file: PathBuf,
        /// Report what would be added, updated, unchanged and removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ElectionsCommand {
    /// Create an election as a draft from a JSON document (the body of POST /api/elections).
    Create {
        /// Path to the JSON file.
        file: PathBuf,
    },
    /// List every election with its state and times in its time zone.
    List,
    /// Freeze a draft's ballot; it opens at opens_at, or with `elections open`.
    Schedule { election: String },
    /// Open a scheduled election now.
    Open { election: String },
    /// Close an open election now.
    Close { election: String },
    /// Publish a closed election's results to everyone (cannot be undone).
    Publish { election: String },
    /// Archive a closed or published election.
    Archive { election: String },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account, or promote an existing account (its password is left as it is).
    /// A new account's password is asked for on the terminal (no echo), or read from the first
    /// line of stdin when stdin is not a terminal.
    Create {
        /// Email address of the admin.
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Load a voter list: CSV with the header `email,password` (plain passwords, hashed here
    /// with argon2id: about 13 ms of a core per row) or `email,password_hash` (argon2 PHC
    /// strings: tens of thousands of rows per second). Prints imported, skipped duplicates and
    /// rejected lines with their reasons; exits with 1 when a line was rejected.
    Import {
        /// Path to the CSV file.
        file: PathBuf,
        /// Rows per transaction.
        #[arg(long, default_value_t = crate::import::DEFAULT_BATCH_SIZE)]
        batch_size: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum CandidatesCommand {
    /// Add candidates from a JSON file: an array of {"name", "party", "description"}.
    Import {
        /// Path to the JSON file.
        file: PathBuf,
    },
}

/// A failure of a command: bad configuration (exit code 2) or a failure while running (1).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Failed(_) => 1,
        }
    }
}

/// `securevote tally`: reads, counts and prints; needs no configuration.
pub fn tally(
    method: &str,
    seats: Option<usize>,
    format: &str,
    seed: Option<&str>,
    file: &std::path::Path,
) -> Result<String, String> {
    let format: securevote_count::Format = format.parse().map_err(|e| format!("--format: {e}"))?;
    let contents = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    securevote_count::tally(
        method,
        seats,
        format,
        seed,
        &file.display().to_string(),
        &contents,
    )
    .map_err(|e| e.to_string())
}

pub async fn run(command: Option<Command>, config: Config) -> Result<(), CliError> {
    match command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(&config).await?;
            app.run_until(shutdown_signal())
                .await
                .map_err(|e| CliError::Failed(format!("server error: {e}")))
        }
        Command::Migrate => {
            let store = store::open(&config.database, 1)
                .await
                .map_err(|e| store::open_error(&config.database, &e))?;
            let version = store.schema_version().await.map_err(failed)?;
            store.close().await;
            println!("database schema is at version {version}");
            Ok(())
        }
        Command::Candidates {
            action: CandidatesCommand::Import { file },
        } => {
            let json = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", file.display())))?;
            let candidates = store::parse_candidates(&json)
                .map_err(|e| CliError::Failed(format!("{}: {e}", file.display())))?;
            let store = store::open(&config.database, 1)
                .await
                .map_err(|e| store::open_error(&config.database, &e))?;
            let inserted = store.add_candidates(&candidates).await.map_err(failed)?;
            store.close().await;
            println!("imported {inserted} candidates from {}", file.display());
            Ok(())
        }
        Command::Users {
            action: UsersCommand::Import { file, batch_size },
        } => import_users(&config, &file, batch_size).await,
        Command::Admin {
            action: AdminCommand::Create { email },
        } => admin::create(&config, &email).await,
        offline @ (Command::Tally { .. }
        | Command::Trustee { .. }
        | Command::Verify { .. }
        | Command::Ballot { .. }) => match run_offline(&offline) {
            Some(Ok(out)) => {
                print!("{out}");
                Ok(())
            }
            Some(Err((_, error))) => Err(CliError::Failed(error.message)),
            None => Ok(()),
        },
        Command::Roll {
            action:
                RollCommand::Import {
                    election,
                    file,
                    dry_run,
                },
        } => roll::import(&config, &election, &file, dry_run).await,
        Command::Backup { file } => backup(&config, file).await,
        Command::Elections { action } => {
            use crate::elections::Action;
            match action {
                ElectionsCommand::Create { file } => elections::create(&config, &file).await,
                ElectionsCommand::List => elections::list(&config).await,
                ElectionsCommand::Schedule { election } => {
                    elections::act(&config, &election, Action::Schedule).await
                }
                ElectionsCommand::Open { election } => {
                    elections::act(&config, &election, Action::Open).await
                }
                ElectionsCommand::Close { election } => {
                    elections::act(&config, &election, Action::Close).await
                }
                ElectionsCommand::Publish { election } => {
                    elections::act(&config, &election, Action::Publish).await
                }
                ElectionsCommand::Archive { election } => {
                    elections::act(&config, &election, Action::Archive).await
                }
            }
        }
    }
}

async fn import_users(
    config: &Config,
    file: &std::path::Path,
    batch_size: usize,
) -> Result<(), CliError> {
    let input = std::fs::File::open(file)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", file.display())))?;
    let store = store::open(&config.database, 1)
        .await
        .map_err(|e| store::open_error(&config.database, &e))?;
    let outcome =
        crate::import::import_users(store.as_ref(), std::io::BufReader::new(input), batch_size)
            .await;
    store.close().await;
    let summary = outcome.map_err(|e| CliError::Failed(format!("{}: {e}", file.display())))?;
    print!("{}", summary.render(&file.display().to_string()));
    match summary.rejected.len() {
        0 => Ok(()),
        n => Err(CliError::Failed(format!(
            "{}: {n} line(s) rejected (see above); the valid rows were imported",
            file.display()
        ))),
    }
}

async fn backup(config: &Config, file: PathBuf) -> Result<(), CliError> {
    let config::DatabaseConfig::Sqlite { path } = &config.database else {
        return Err(ConfigError::new(
            "DATABASE_URL",
            "`securevote backup` copies the embedded SQLite database; back up PostgreSQL with \
             pgBackRest or pg_basebackup and WAL archiving (README: Backups and restore)",
        )
        .into());
    };
    let source = path.clone();
    let summary = tokio::task::spawn_blocking(move || store::backup_sqlite(&source, &file))
        .await
        .map_err(|e| CliError::Failed(format!("backup stopped: {e}")))?
        .map_err(|e| CliError::Failed(e.to_string()))?;
    println!(
        "backed up {} to {}: {} bytes, schema version {}, {} election(s), {} ballot(s), \
         integrity ok, in {:.2} s",
        path.display(),
        summary.path.display(),
        summary.bytes,
        summary.schema_version,
        summary.elections,
        summary.ballots,
        summary.elapsed.as_secs_f64()
    );
    Ok(())
}

fn failed(error: store::StoreError) -> CliError {
    CliError::Failed(store::error_chain(&error))
}
