//! `securevote elections ...`: the admin's election commands on the command line, audited with
//! the actor "cli" (no account).

use std::path::Path;

use crate::config::Config;
use crate::elections::{Action, Election, ElectionDocument, ElectionKey};
use crate::store::{self, Actor, Store};

use super::{CliError, failed};

async fn open_store(config: &Config) -> Result<std::sync::Arc<dyn Store>, CliError> {
    store::open(&config.database, 1)
        .await
        .map_err(|e| store::open_error(&config.database, &e).into())
}

fn summary(election: &Election) -> String {
    let times = |at: &Option<String>| at.clone().unwrap_or_else(|| "-".into());
    format!(
        "{}  {:<24} {:<10} opens {}  closes {}  {}{}",
        election.id,
        election.slug,
        election.state.as_str(),
        times(&election.opens_at_local),
        times(&election.closes_at_local),
        election.title,
        if election.is_default {
            "  (default)"
        } else {
            ""
        }
    )
}

/// `elections create FILE.json`: the same document as `POST /api/elections`.
pub(super) async fn create(config: &Config, file: &Path) -> Result<(), CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", file.display())))?;
    let document: ElectionDocument = serde_json::from_str(&text)
        .map_err(|e| CliError::Failed(format!("{}: {e}", file.display())))?;
    let election = document
        .parse()
        .map_err(|e| CliError::Failed(format!("{}: {e}", file.display())))?;
    let store = open_store(config).await?;
    let created = store.create_election(Actor::Cli, &election).await;
    store.close().await;
    let created = created.map_err(failed)?;
    println!("created {}", summary(&created));
    for contest in &created.contests {
        println!(
            "  contest {}  {} ({})",
            contest.id,
            contest.title,
            contest.method.as_str()
        );
    }
    Ok(())
}

/// `elections list`: every election, drafts and archived ones included.
pub(super) async fn list(config: &Config) -> Result<(), CliError> {
    let store = open_store(config).await?;
    let elections = store.elections().await;
    store.close().await;
    for election in elections.map_err(failed)? {
        println!("{}", summary(&election));
    }
    Ok(())
}

/// `elections schedule|open|close|publish|archive ID`.
pub(super) async fn act(config: &Config, key: &str, action: Action) -> Result<(), CliError> {
    let store = open_store(config).await?;
    let outcome = async {
        let election = store
            .election(&ElectionKey::parse(key))
            .await?
            .ok_or(store::StoreError::ElectionNotFound)?;
        let changed = store
            .transition(Actor::Cli, election.id, action, None)
            .await?;
        // The change is committed either way; a failed seal is done by the service's next
        // periodic seal.
        if let Err(e) = store.seal_closed().await {
            eprintln!(
                "warning: sealing closed elections failed (the service retries): {}",
                store::error_chain(&e)
            );
        }
        Ok::<_, store::StoreError>(changed)
    }
    .await;
    store.close().await;
    let changed = outcome.map_err(failed)?;
    println!("{}", summary(&changed));
    Ok(())
}
