//! `securevote roll import ELECTION FILE.csv [--dry-run]`: the roll of a draft election from a
//! CSV file, all or nothing, audited with no account as the actor.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::elections::ElectionKey;
use crate::rolls::{self, ImportReport};
use crate::store::{self, Actor};

use super::{CliError, failed};

fn render(report: &ImportReport, file: &str) -> String {
    let mut out = format!(
        "{file}: {} added, {} updated, {} unchanged, {} removed{}\nfingerprint {}\n",
        report.added,
        report.updated,
        report.unchanged,
        report.removed,
        if report.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        },
        report.fingerprint
    );
    for rejected in &report.rejected {
        out.push_str(&format!(
            "{file}:{}: rejected: {}\n",
            rejected.line, rejected.reason
        ));
    }
    out
}

pub(super) async fn import(
    config: &Config,
    election: &str,
    file: &Path,
    dry_run: bool,
) -> Result<(), CliError> {
    let bytes = std::fs::read(file)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", file.display())))?;
    let name = file.display().to_string();
    // A spinner on a terminal (hidden otherwise): parsing, then the one transaction.
    let progress = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        progress.set_style(style);
    }
    progress.enable_steady_tick(std::time::Duration::from_millis(120));
    progress.set_message(format!("reading {name}"));
    let parsed = rolls::parse_csv(&bytes).map_err(|e| CliError::Failed(format!("{name}: {e}")))?;
    progress.set_message(format!("storing {} entries", parsed.entries.len()));
    let store = store::open(&config.database, 1)
        .await
        .map_err(|e| store::open_error(&config.database, &e))?;
    let outcome = async {
        let target = store
            .election(&ElectionKey::parse(election))
            .await?
            .ok_or(store::StoreError::ElectionNotFound)?;
        let dry = dry_run || !parsed.rejected.is_empty();
        store
            .replace_roll(Actor::Cli, target.id, &parsed.entries, dry)
            .await
    }
    .await;
    store.close().await;
    progress.finish_and_clear();
    let mut report = outcome.map_err(failed)?;
    report.rejected = parsed.rejected;
    print!("{}", render(&report, &name));
    if !report.rejected.is_empty() && !dry_run {
        return Err(CliError::Failed(format!(
            "{name}: {} line(s) rejected (see above); nothing was imported",
            report.rejected.len()
        )));
    }
    Ok(())
}
