//! The outbox sender: every instance runs one. It claims the oldest due message, gives its
//! voter a new link (only the token's hash is stored), hands the message to the SMTP server and
//! records the outcome; temporary failures are retried with back-off, permanent ones are kept
//! with the server's reply. See `crate::store::outbox` for the delivery guarantees.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{Templates, link};
use crate::config::MailConfig;
use crate::store::{ClaimedMail, Store};

/// How long a claimed message is left to its sender before another may take it over.
pub const CLAIM_SECS: u32 = 30;
/// Attempts before a temporary failure is given up as permanent.
const MAX_ATTEMPTS: u32 = 12;
/// Wait between polls of an empty outbox.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// A fresh link token (256 random bits, hex) and the SHA-256 the store keeps of it.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hash = token_hash(&token);
    (token, hash)
}

/// What the store keeps of a link token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub struct Sender {
    store: Arc<dyn Store>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
    templates: Templates,
    interval: Option<Duration>,
}

impl Sender {
    /// A sender for `config`, or `None` when no SMTP server is configured.
    pub fn new(store: Arc<dyn Store>, config: &MailConfig) -> Result<Option<Self>, String> {
        let Some(url) = &config.smtp_url else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let templates = Templates::load(config.templates_dir.as_deref())
            .map_err(|e| format!("MAIL_TEMPLATES_DIR: {e}"))?;
        Ok(Some(Self {
            store,
            transport,
            from: config.mail_from.clone(),
            public_url: config.public_url.clone(),
            templates,
            interval: (config.max_per_second > 0)
                .then(|| Duration::from_secs(1) / config.max_per_second),
        }))
    }

    /// Sends until the task is dropped.
    pub async fn run(self) {
        loop {
            let started = Instant::now();
            match self.send_one().await {
                Ok(true) => {
                    if let Some(interval) = self.interval {
                        tokio::time::sleep(interval.saturating_sub(started.elapsed())).await;
                    }
                }
                Ok(false) => tokio::time::sleep(IDLE_POLL).await,
                Err(error) => {
                    tracing::warn!(%error, "outbox: cannot reach the database; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Sends the oldest due message; `false` when there was none.
    pub async fn send_one(&self) -> Result<bool, crate::store::StoreError> {
        let (token, hash) = new_token();
        let Some(mail) = self.store.claim_mail(&hash, CLAIM_SECS).await? else {
            return Ok(false);
        };
        let outcome = match self.message(&mail, &token) {
            Ok(message) => self.transport.send(message).await.map(|_| ()).map_err(|e| {
                let permanent = e.is_permanent();
                (format!("{e}"), permanent)
            }),
            Err(e) => Err((e, true)),
        };
        match outcome {
            Ok(()) => {
                self.store.mail_sent(mail.id).await?;
                tracing::info!(election_id = %mail.election_id, kind = mail.kind.as_str(), "mail sent");
            }
            Err((reply, true)) => {
                tracing::warn!(election_id = %mail.election_id, %reply, "mail refused");
                self.store.mail_failed(mail.id, &reply).await?;
            }
            Err((reply, false)) if mail.attempts >= MAX_ATTEMPTS => {
                self.store
                    .mail_failed(
                        mail.id,
                        &format!("gave up after {} attempts: {reply}", mail.attempts),
                    )
                    .await?;
            }
            Err((reply, false)) => {
                let retry = 1u32 << mail.attempts.saturating_sub(1).min(6);
                tracing::warn!(election_id = %mail.election_id, %reply, retry_secs = retry, "mail delayed");
                self.store.mail_retry(mail.id, retry, &reply).await?;
            }
        }
        Ok(true)
    }

    fn message(&self, mail: &ClaimedMail, token: &str) -> Result<Message, String> {
        let rendered = self.templates.render(mail, &link(&self.public_url, token));
        let to: Mailbox = mail
            .email
            .parse()
            .map_err(|e| format!("not a deliverable address: {e}"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| format!("cannot build the message: {e}"))
    }
}
