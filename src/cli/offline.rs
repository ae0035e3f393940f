//! The commands that need no configuration, database or server: `tally`, the trustees' offline
//! tools (`trustee keygen|shares|finish|decrypt`) and `verify`. A trustee runs them on their own
//! machine; their private files (the polynomial secret and the key share) are written with mode
//! 0600, never overwritten, and never leave that machine. What they print is what the trustee
//! uploads (public key, encrypted shares, partial decryption), as JSON on stdout.
//!
//! Exit codes: 0 done; 1 a check failed (a record that does not verify, a share or key that does
//! not match); 2 a file that cannot be read or parsed, or a wrong argument.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use securevote_crypto::{
    CeremonyParams, Contest, EncryptedShare, Event, PartialDecryption, Record, RngNonces,
    TrusteeKeyShare, TrusteePublicKey, TrusteeSecret, encrypt_shares, partial_decrypt,
    receive_shares, trustee_keygen, verify_board, verify_record,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, Subcommand)]
pub enum TrusteeCommand {
    /// Step 1 of the key ceremony: make this trustee's secret polynomial (written to --secret,
    /// mode 0600) and print its public key with proofs of knowledge, to upload.
    Keygen {
        /// The election's id (the ceremony is bound to it).
        #[arg(long)]
        election: String,
        /// This trustee's number, 1..=trustees.
        #[arg(long)]
        index: u64,
        /// How many trustees the election has.
        #[arg(long)]
        trustees: u64,
        /// How many of them are needed to decrypt.
        #[arg(long)]
        threshold: u64,
        /// Where to write the secret (a new file).
        #[arg(long)]
        secret: PathBuf,
    },
    /// Step 2: check every trustee's public key (a JSON array, as the election publishes them)
    /// and print this trustee's encrypted shares for the others, to upload.
    Shares {
        #[arg(long)]
        secret: PathBuf,
        /// JSON array of every trustee's public key.
        #[arg(long)]
        keys: PathBuf,
    },
    /// Step 3: check the shares addressed to this trustee (a JSON array) against the public keys
    /// and write this trustee's key share (mode 0600), the only key it needs to decrypt.
    Finish {
        #[arg(long)]
        secret: PathBuf,
        #[arg(long)]
        keys: PathBuf,
        /// JSON array of the encrypted shares addressed to this trustee.
        #[arg(long)]
        shares: PathBuf,
        /// Where to write the key share (a new file).
        #[arg(long)]
        key_share: PathBuf,
    },
    /// After the close: verify the board (every ballot's proofs, the homomorphic sums) and print
    /// this trustee's partial decryption of its encrypted tally, with proofs, to upload.
    Decrypt {
        #[arg(long)]
        key_share: PathBuf,
        /// The board (JSON lines, as GET /api/elections/{id}/board/archive returns it), up to
        /// and including the tally event.
        #[arg(long)]
        record: PathBuf,
    },
}

/// A failed offline command: its exit code and the one-line message.
#[derive(Debug)]
pub struct OfflineError {
    pub code: u8,
    pub message: String,
}

fn unusable(message: impl Into<String>) -> OfflineError {
    OfflineError {
        code: 2,
        message: message.into(),
    }
}

fn failed(message: impl Into<String>) -> OfflineError {
    OfflineError {
        code: 1,
        message: message.into(),
    }
}

fn read_text(path: &Path) -> Result<String, OfflineError> {
    std::fs::read_to_string(path)
        .map_err(|e| unusable(format!("cannot read {}: {e}", path.display())))
}

fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T, OfflineError> {
    serde_json::from_str(&read_text(path)?)
        .map_err(|e| unusable(format!("{} is not {what}: {e}", path.display())))
}

fn to_json(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes a private file: mode 0600, and never over an existing file.
fn write_private(path: &Path, value: &impl Serialize) -> Result<(), OfflineError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        unusable(format!(
            "cannot create {} (a private file is never overwritten): {e}",
            path.display()
        ))
    })?;
    file.write_all(to_json(value).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| unusable(format!("cannot write {}: {e}", path.display())))
}

/// Runs a trustee step; returns what to print.
pub(super) fn trustee(command: &TrusteeCommand) -> Result<String, OfflineError> {
    let mut rng = rand::rngs::OsRng;
    match command {
        TrusteeCommand::Keygen {
            election,
            index,
            trustees,
            threshold,
            secret,
        } => {
            let params = CeremonyParams {
                election_id: election.clone(),
                trustees: *trustees,
                threshold: *threshold,
            };
            let (private, public) = trustee_keygen(&params, *index, &mut RngNonces(&mut rng))
                .map_err(|e| unusable(e.to_string()))?;
            write_private(secret, &private)?;
            Ok(to_json(&public))
        }
        TrusteeCommand::Shares { secret, keys } => {
            let private: TrusteeSecret = read_json(secret, "a trustee secret")?;
            let keys: Vec<TrusteePublicKey> = read_json(keys, "a JSON array of public keys")?;
            let shares = encrypt_shares(&private, &keys, &mut RngNonces(&mut rng))
                .map_err(|e| failed(e.to_string()))?;
            Ok(to_json(&shares))
        }
        TrusteeCommand::Finish {
            secret,
            keys,
            shares,
            key_share,
        } => {
            let private: TrusteeSecret = read_json(secret, "a trustee secret")?;
            let keys: Vec<TrusteePublicKey> = read_json(keys, "a JSON array of public keys")?;
            let shares: Vec<EncryptedShare> =
                read_json(shares, "a JSON array of encrypted shares")?;
            let share =
                receive_shares(&private, &keys, &shares).map_err(|e| failed(e.to_string()))?;
            write_private(key_share, &share)?;
            Ok(format!(
                "key share of trustee {} of {} (threshold {}) for election {} written to {}\n",
                share.index,
                share.params.trustees,
                share.params.threshold,
                share.params.election_id,
                key_share.display()
            ))
        }
        TrusteeCommand::Decrypt { key_share, record } => {
            let share: TrusteeKeyShare = read_json(key_share, "a trustee key share")?;
            let record = Record::from_jsonl(&read_text(record)?);
            let verified = verify_board(&record).map_err(|e| failed(format!("the board: {e}")))?;
            if verified.election.id != share.params.election_id {
                return Err(failed(format!(
                    "the key share is for election {}, the board is election {}",
                    share.params.election_id, verified.election.id
                )));
            }
            let tally = record
                .lines
                .iter()
                .filter_map(|line| securevote_crypto::parse_event_line(line).ok())
                .find_map(|(_, _, event)| match event {
                    Event::Tally(tally) => Some(tally),
                    _ => None,
                })
                .ok_or_else(|| {
                    failed("the board has no tally event yet (is the election closed?)")
                })?;
            let partial: PartialDecryption = partial_decrypt(
                &verified.election_hash,
                &share,
                &tally,
                &mut RngNonces(&mut rng),
            )
            .map_err(|e| failed(e.to_string()))?;
            Ok(to_json(&partial))
        }
    }
}

/// `securevote verify ARCHIVE`: every check of the record; returns the summary to print.
pub(super) fn verify(archive: &Path) -> Result<String, OfflineError> {
    let record = Record::from_jsonl(&read_text(archive)?);
    let verified = verify_record(&record).map_err(|e| failed(e.to_string()))?;
    let mut out = format!(
        "record of election {} ({}) verified: {} events, head {}\n\
         ballots on the board {}, counted {} (one per voter), superseded {}, spoiled {}\n",
        verified.election.id,
        verified.election.title,
        verified.events,
        verified.head_hash.to_hex(),
        verified.ballots,
        verified.counted_trackers.len(),
        verified.superseded_trackers.len(),
        verified.spoiled_trackers.len(),
    );
    let result = verified.result.unwrap_or_default();
    for (contest, counts) in verified.election.contests.iter().zip(&result) {
        let (Contest::Choices { title, choices, .. } | Contest::Score { title, choices, .. }) =
            contest;
        out.push_str(&format!("{title}:\n"));
        for (choice, count) in choices.iter().zip(counts) {
            out.push_str(&format!("  {choice}: {count}\n"));
        }
    }
    Ok(out)
}
