//! benchtool: the computing half of `bench/run` (which starts and stops everything).
//!
//! ```text
//! benchtool users-csv --count N --password P --out FILE    voter list with one argon2 hash
//! benchtool tokens (--postgres URL | --sqlite PATH) --secret S --out FILE
//! benchtool argon2-ceiling --seconds S --threads T --out FILE
//! benchtool sqlite-ceiling --db PATH --candidate ID --concurrency C --seconds S --max N --out FILE
//! benchtool pgbench-ballot --store-source FILE --shards-source FILE --out FILE
//! benchtool schulze-ceiling --ballots N --choices C --out FILE
//! benchtool count-rows --count-bench FILE --schulze FILE --out FILE
//! benchtool roll-csv --count N --out FILE [--copy-out FILE]
//! benchtool smtp-ceiling --url SMTP_URL --count N --from MAILBOX --public-url URL --title T --timezone TZ --out FILE
//! benchtool outbox-rate --postgres URL --election ID --expected N --out FILE
//! benchtool enc-ceremony --election ID --out-dir DIR
//! benchtool enc-roll --postgres URL --count N --out FILE
//! benchtool enc-ballots --postgres URL --secret S --election ID --setup FILE --count N --tokens-out FILE --bodies-out FILE
//! benchtool proof-bench --seconds S --out FILE --encrypt-out FILE
//! benchtool enc-record --ballots N --out FILE
//! benchtool record --out FILE --id ID ... (--wrk FILE | --pgbench FILE --pgbench-logs DIR | --json FILE)
//! benchtool report --measurements FILE --out-dir DIR [--meta KEY=VALUE ...]
//! ```

mod ceilings;
mod counting;
mod encrypted;
mod measure;
mod pgbench;
mod report;
mod rolls;
mod setup;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "benchtool", about = "Helper of bench/run")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a CSV voter list (`email,password_hash`) of voter0..voterN-1@bench.invalid, all
    /// with one argon2id hash of PASSWORD made with the service's own parameters.
    UsersCsv {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        password: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes one login token per bench voter (`%@bench.invalid`), signed with SECRET as the
    /// service would sign it.
    Tokens {
        #[arg(long, conflicts_with = "sqlite")]
        postgres: Option<String>,
        #[arg(long)]
        sqlite: Option<PathBuf>,
        #[arg(long)]
        secret: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verifications per second of the service's argon2id hash on THREADS threads.
    Argon2Ceiling {
        #[arg(long)]
        seconds: f64,
        #[arg(long)]
        threads: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// The SQLite store's vote transaction run directly on the database file, CONCURRENCY
    /// threads with a connection each, at most MAX votes.
    SqliteCeiling {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        candidate: String,
        #[arg(long)]
        concurrency: usize,
        #[arg(long)]
        seconds: f64,
        #[arg(long)]
        max: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes the pgbench script of the ceiling: `cast_ballot`'s statement, read from the
    /// PostgreSQL store's source, with its parameters from pgbench variables.
    PgbenchBallot {
        #[arg(long)]
        store_source: PathBuf,
        #[arg(long)]
        shards_source: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Schulze on BALLOTS ballots over CHOICES choices, and reading + parsing their BLT file.
    SchulzeCeiling {
        #[arg(long)]
        ballots: usize,
        #[arg(long)]
        choices: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Appends the counting rows from count-bench's output and the Schulze ceiling's.
    CountRows {
        #[arg(long)]
        count_bench: PathBuf,
        #[arg(long)]
        schulze: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes a roll file of COUNT entries (roll0..@bench.invalid, every column filled) and,
    /// with --copy-out, the same rows as the store keeps them, for the ceiling's `\copy`.
    RollCsv {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        copy_out: Option<PathBuf>,
    },
    /// The service's invitation to COUNT roll entries handed straight to the SMTP server with
    /// lettre, one after another: messages per second.
    SmtpCeiling {
        #[arg(long)]
        url: String,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        from: String,
        #[arg(long)]
        public_url: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        timezone: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// The service's sending rate for ELECTION, from its outbox (fails unless EXPECTED were sent).
    OutboxRate {
        #[arg(long)]
        postgres: String,
        #[arg(long)]
        election: String,
        #[arg(long)]
        expected: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes the trustees' public keys (`trustee-{i}.json`) and encrypted shares
    /// (`shares.jsonl`) of a 2-of-3 key ceremony for ELECTION, for bench/run to upload.
    EncCeremony {
        #[arg(long)]
        election: String,
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Writes the roll of the encrypted election: the first COUNT bench voters (token order).
    EncRoll {
        #[arg(long)]
        postgres: String,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Encrypts a ballot (one plurality contest of 5 choices) for each of the first COUNT bench
    /// voters' pseudonyms on every core: their tokens and request bodies, line by line.
    EncBallots {
        #[arg(long)]
        postgres: String,
        #[arg(long)]
        secret: String,
        #[arg(long)]
        election: String,
        /// The board's setup line (the first line of the archive).
        #[arg(long)]
        setup: PathBuf,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        tokens_out: PathBuf,
        #[arg(long)]
        bodies_out: PathBuf,
    },
    /// One ballot's verification in a loop vs its scalar multiplications' raw cost (OUT, and
    /// OUT with the extension `ceiling.json`); and its encryption time (ENCRYPT_OUT).
    ProofBench {
        #[arg(long)]
        seconds: f64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        encrypt_out: PathBuf,
    },
    /// Writes a complete, valid election record of BALLOTS ballots (JSON Lines).
    EncRecord {
        #[arg(long)]
        ballots: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Appends one measurement (from wrk, pgbench or a ceiling's JSON) to the measurements file.
    Record(Box<measure::RecordArgs>),
    /// Renders the measurements as a markdown table (stdout, results.md) and a PNG chart.
    Report {
        #[arg(long)]
        measurements: PathBuf,
        #[arg(long)]
        out_dir: PathBuf,
        /// Facts about the run shown above the table, e.g. `machine=2 cores`.
        #[arg(long = "meta", value_parser = parse_meta)]
        meta: Vec<(String, String)>,
    },
}

fn parse_meta(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{raw:?} is not KEY=VALUE"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::UsersCsv {
            count,
            password,
            out,
        } => setup::users_csv(count, &password, &out),
        Command::Tokens {
            postgres,
            sqlite,
            secret,
            out,
        } => setup::tokens(postgres.as_deref(), sqlite.as_deref(), &secret, &out),
        Command::Argon2Ceiling {
            seconds,
            threads,
            out,
        } => ceilings::argon2(seconds, threads, &out),
        Command::SqliteCeiling {
            db,
            candidate,
            concurrency,
            seconds,
            max,
            out,
        } => ceilings::sqlite(&db, &candidate, concurrency, seconds, max, &out),
        Command::PgbenchBallot {
            store_source,
            shards_source,
            out,
        } => pgbench::ballot_script(&store_source, &shards_source, &out),
        Command::SchulzeCeiling {
            ballots,
            choices,
            out,
        } => counting::schulze(ballots, choices, &out),
        Command::CountRows {
            count_bench,
            schulze,
            out,
        } => counting::rows(&count_bench, &schulze, &out),
        Command::RollCsv {
            count,
            out,
            copy_out,
        } => rolls::roll_csv(count, &out, copy_out.as_deref()),
        Command::SmtpCeiling {
            url,
            count,
            from,
            public_url,
            title,
            timezone,
            out,
        } => rolls::smtp_ceiling(&rolls::SmtpCeiling {
            url: &url,
            count,
            from: &from,
            public_url: &public_url,
            title: &title,
            timezone: &timezone,
            out: &out,
        }),
        Command::OutboxRate {
            postgres,
            election,
            expected,
            out,
        } => rolls::outbox_rate(&postgres, &election, expected, &out),
        Command::EncCeremony { election, out_dir } => encrypted::ceremony(&election, &out_dir),
        Command::EncRoll {
            postgres,
            count,
            out,
        } => encrypted::roll(&postgres, count, &out),
        Command::EncBallots {
            postgres,
            secret,
            election,
            setup,
            count,
            tokens_out,
            bodies_out,
        } => encrypted::ballots(
            &postgres,
            &secret,
            &election,
            &setup,
            count,
            &tokens_out,
            &bodies_out,
        ),
        Command::ProofBench {
            seconds,
            out,
            encrypt_out,
        } => encrypted::proof_bench(seconds, &out, &encrypt_out),
        Command::EncRecord { ballots, out } => encrypted::record(ballots, &out),
        Command::Record(args) => measure::record(&args),
        Command::Report {
            measurements,
            out_dir,
            meta,
        } => report::report(&measurements, &out_dir, &meta),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("benchtool: {error:#}");
            ExitCode::FAILURE
        }
    }
}
