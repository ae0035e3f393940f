//! `securevote admin create --email E`: the only way to make an admin. Whoever can run it
//! already holds the database credentials, so it needs no further authentication; no HTTP
//! request can create or promote an admin.

use std::io::{BufRead, IsTerminal};

use super::{CliError, failed};
use crate::auth::PasswordHasher;
use crate::config::Config;
use crate::domain::{Email, Password};
use crate::store::{self, Promotion, StoreError};

/// Promotes the account when it exists (its password is left as it is and none is read);
/// otherwise asks for a password and creates the account as an admin. Both are audited.
pub(super) async fn create(config: &Config, raw_email: &str) -> Result<(), CliError> {
    let email = Email::parse(raw_email)
        .map_err(|e| CliError::Failed(format!("--email {raw_email:?}: {e}")))?;
    let store = store::open(&config.database, 1)
        .await
        .map_err(|e| store::open_error(&config.database, &e))?;
    let outcome = create_or_promote(store.as_ref(), &email).await;
    store.close().await;
    println!("{}", outcome?);
    Ok(())
}

async fn create_or_promote(store: &dyn store::Store, email: &Email) -> Result<String, CliError> {
    if let Some(message) = promote(store, email).await? {
        return Ok(message);
    }
    let password = read_password(email)?;
    // One hash at a time; nothing else competes for the CPU here.
    let hash = PasswordHasher::new(1, 0)
        .hash(password)
        .await
        .map_err(|e| CliError::Failed(format!("cannot hash the password: {e}")))?;
    match store.create_admin(email, &hash).await {
        Ok(user) => Ok(format!("created admin {} ({})", user.email, user.id)),
        // Registered between the look-up and the insert: promote it after all.
        Err(StoreError::EmailTaken) => promote(store, email).await?.ok_or_else(|| {
            CliError::Failed(format!("{email} changed while being created; run again"))
        }),
        Err(e) => Err(failed(e)),
    }
}

async fn promote(store: &dyn store::Store, email: &Email) -> Result<Option<String>, CliError> {
    Ok(match store.promote_to_admin(email).await.map_err(failed)? {
        None => None,
        Some(Promotion::Promoted(id)) => Some(format!(
            "promoted {email} ({id}) to admin; the password is unchanged"
        )),
        Some(Promotion::AlreadyAdmin(id)) => Some(format!("{email} ({id}) is already an admin")),
    })
}

/// From a no-echo prompt (asked twice) on a terminal, else the first line of stdin, so
/// `printf '%s\n' "$PW" | securevote admin create --email E` works in scripts.
fn read_password(email: &Email) -> Result<Password, CliError> {
    let raw = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for the new admin {email}: "))
            .map_err(|e| CliError::Failed(format!("cannot read the password: {e}")))?;
        let again = rpassword::prompt_password("Repeat the password: ")
            .map_err(|e| CliError::Failed(format!("cannot read the password: {e}")))?;
        if first != again {
            return Err(CliError::Failed("the passwords do not match".into()));
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::Failed(format!("cannot read the password from stdin: {e}")))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    Password::parse(raw).map_err(|e| {
        CliError::Failed(format!(
            "{e} (there is no account for {email}, so a password for a new admin is needed)"
        ))
    })
}
