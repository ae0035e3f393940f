//! The outbox sender: every instance runs one. It claims a batch of the oldest due messages,
//! giving each voter a new link (only the token's hash is stored), hands them to the SMTP server
//! over a few pooled connections at once (claiming the next batches meanwhile) and records their
//! outcomes in group commits; temporary failures are retried with back-off, permanent ones are
//! kept with the server's reply. See `crate::store::outbox` for the delivery guarantees.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use uuid::Uuid;

use super::{Templates, link};
use crate::config::MailConfig;
use crate::store::{ClaimedMail, MailOutcome, Store, StoreError};

/// How long a claimed message is left to its sender before another may take it over.
pub const CLAIM_SECS: u32 = 30;
/// Most messages claimed at once by an instance, and most it has handed to the SMTP server
/// without their outcome recorded yet (see [`batch_size`]).
pub const BATCH: usize = 100;
/// SMTP connections per instance, and messages handed over at once.
pub const CONNECTIONS: usize = 4;
/// A claimed message is handed over only while this much of its claim is left (a message's
/// SMTP exchange and the record of its outcome fit in it); later ones are left to expire and
/// be claimed again.
const CLAIM_MARGIN: Duration = Duration::from_secs(10);
/// Attempts before a temporary failure is given up as permanent.
const MAX_ATTEMPTS: u32 = 12;
/// Wait between polls of an empty outbox.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Wait after a failed database call.
const DATABASE_RETRY: Duration = Duration::from_secs(1);

/// The batch of an instance sending at most `max_per_second` messages a second (0: no limit):
/// [`BATCH`], or one second's worth when that is fewer. It bounds both what one claim takes and
/// what an instance has handed to the SMTP server without a recorded outcome, so it is also the
/// most messages an instance that dies (or stalls past [`CLAIM_SECS`]) can leave to be sent twice.
pub fn batch_size(max_per_second: u32) -> usize {
    match usize::try_from(max_per_second) {
        Ok(0) | Err(_) => BATCH,
        Ok(rate) => rate.min(BATCH),
    }
}

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

/// Spaces messages `interval` apart across all of an instance's connections.
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next free slot.
    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// A claimed message, its link's token, and until when it may be handed over.
struct Claimed {
    mail: ClaimedMail,
    token: String,
    usable_until: Instant,
}

/// A message the SMTP server has answered for, waiting for its outcome to be recorded; its
/// permit (of the [`BATCH`]-sized window) is released once it is.
struct Answered {
    id: Uuid,
    outcome: MailOutcome,
    _permit: OwnedSemaphorePermit,
}

pub struct Sender {
    store: Arc<dyn Store>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
    templates: Templates,
    pacer: Option<Pacer>,
    batch: usize,
    /// Permits for messages handed over whose outcome is not recorded yet.
    window: Arc<Semaphore>,
    /// Whether the last record of outcomes committed: nothing is handed over while they cannot
    /// be recorded.
    recording: AtomicBool,
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
            .pool_config(PoolConfig::new().max_size(CONNECTIONS as u32))
            .build();
        let templates = Templates::load(config.templates_dir.as_deref())
            .map_err(|e| format!("MAIL_TEMPLATES_DIR: {e}"))?;
        let batch = batch_size(config.max_per_second);
        Ok(Some(Self {
            store,
            transport,
            from: config.mail_from.clone(),
            public_url: config.public_url.clone(),
            templates,
            pacer: (config.max_per_second > 0)
                .then(|| Pacer::new(Duration::from_secs(1) / config.max_per_second)),
            batch,
            window: Arc::new(Semaphore::new(batch)),
            recording: AtomicBool::new(true),
        }))
    }

    /// Sends until the task is dropped.
    pub async fn run(self) {
        let (claimed, batches) = mpsc::channel(1);
        let (answered, outcomes) = mpsc::unbounded_channel();
        tokio::join!(
            self.claim_ahead(claimed),
            self.send(batches, answered),
            self.record(outcomes)
        );
    }

    /// Claims batches ahead of the sending: one waiting in the channel and one more waiting to
    /// go in while a batch is being sent, so sending never waits for a claim.
    async fn claim_ahead(&self, claimed: mpsc::Sender<Vec<Claimed>>) {
        loop {
            match self.claim().await {
                Ok(batch) if !batch.is_empty() => {
                    if claimed.send(batch).await.is_err() {
                        return;
                    }
                }
                Ok(_) => tokio::time::sleep(IDLE_POLL).await,
                Err(error) => {
                    tracing::warn!(%error, "outbox: cannot reach the database; retrying");
                    tokio::time::sleep(DATABASE_RETRY).await;
                }
            }
        }
    }

    /// Hands the claimed messages over, [`CONNECTIONS`] at a time, one batch after another
    /// without a pause between them.
    async fn send(
        &self,
        batches: mpsc::Receiver<Vec<Claimed>>,
        answered: mpsc::UnboundedSender<Answered>,
    ) {
        let answered = &answered;
        futures_util::stream::unfold(batches, |mut batches| async move {
            batches.recv().await.map(|batch| (batch, batches))
        })
        .flat_map(futures_util::stream::iter)
        .map(|message| self.send_one(message, answered))
        .buffer_unordered(CONNECTIONS)
        .for_each(|()| async {})
        .await;
    }

    /// Claims the next batch, each message with a fresh link.
    async fn claim(&self) -> Result<Vec<Claimed>, StoreError> {
        let mut tokens: Vec<Option<String>> = Vec::with_capacity(self.batch);
        let mut hashes = Vec::with_capacity(self.batch);
        for _ in 0..self.batch {
            let (token, hash) = new_token();
            tokens.push(Some(token));
            hashes.push(hash);
        }
        // The claim's expiry counts from before it was asked for.
        let usable_until =
            Instant::now() + Duration::from_secs(u64::from(CLAIM_SECS)) - CLAIM_MARGIN;
        let claimed = self.store.claim_mail(&hashes, CLAIM_SECS).await?;
        Ok(claimed
            .into_iter()
            .filter_map(|(n, mail)| {
                let token = tokens.get_mut(n)?.take()?;
                Some(Claimed {
                    mail,
                    token,
                    usable_until,
                })
            })
            .collect())
    }

    /// Hands one message to the SMTP server, paced, and passes its outcome on to be recorded.
    async fn send_one(&self, message: Claimed, answered: &mpsc::UnboundedSender<Answered>) {
        let Claimed {
            mail,
            token,
            usable_until,
        } = message;
        let Ok(permit) = Arc::clone(&self.window).acquire_owned().await else {
            return;
        };
        while !self.recording.load(Ordering::Acquire) {
            if Instant::now() >= usable_until {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(pacer) = &self.pacer {
            pacer.wait().await;
        }
        if Instant::now() >= usable_until {
            tracing::debug!(election_id = %mail.election_id, "outbox: claim nearly expired; left for the next claim");
            return;
        }
        let sent = match self.message(&mail, &token) {
            Ok(message) => self.transport.send(message).await.map(|_| ()).map_err(|e| {
                let permanent = e.is_permanent();
                (format!("{e}"), permanent)
            }),
            Err(e) => Err((e, true)),
        };
        let outcome = match sent {
            Ok(()) => {
                tracing::debug!(election_id = %mail.election_id, kind = mail.kind.as_str(), "mail sent");
                MailOutcome::Sent { at: Utc::now() }
            }
            Err((reply, true)) => {
                tracing::warn!(election_id = %mail.election_id, %reply, "mail refused");
                MailOutcome::Failed { error: reply }
            }
            Err((reply, false)) if mail.attempts >= MAX_ATTEMPTS => MailOutcome::Failed {
                error: format!("gave up after {} attempts: {reply}", mail.attempts),
            },
            Err((reply, false)) => {
                let retry = 1u32 << mail.attempts.saturating_sub(1).min(6);
                tracing::warn!(election_id = %mail.election_id, %reply, retry_secs = retry, "mail delayed");
                MailOutcome::Retry {
                    retry_secs: retry,
                    error: reply,
                }
            }
        };
        let _ = answered.send(Answered {
            id: mail.id,
            outcome,
            _permit: permit,
        });
    }

    /// Records outcomes as they come, all that have arrived in one commit, retrying until it
    /// commits (the messages' permits are held until then).
    async fn record(&self, mut outcomes: mpsc::UnboundedReceiver<Answered>) {
        let mut pending: Vec<Answered> = Vec::new();
        loop {
            if pending.is_empty() {
                match outcomes.recv().await {
                    Some(answered) => pending.push(answered),
                    None => return,
                }
            }
            while let Ok(answered) = outcomes.try_recv() {
                pending.push(answered);
            }
            let batch: Vec<(Uuid, MailOutcome)> =
                pending.iter().map(|a| (a.id, a.outcome.clone())).collect();
            match self.store.record_mail(&batch).await {
                Ok(()) => {
                    self.recording.store(true, Ordering::Release);
                    let sent = batch
                        .iter()
                        .filter(|(_, o)| matches!(o, MailOutcome::Sent { .. }))
                        .count();
                    tracing::info!(sent, answered = batch.len(), "outbox: outcomes recorded");
                    pending.clear();
                }
                Err(error) => {
                    self.recording.store(false, Ordering::Release);
                    tracing::warn!(%error, waiting = batch.len(), "outbox: cannot record outcomes; retrying");
                    tokio::time::sleep(DATABASE_RETRY).await;
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_one_second_of_a_limited_rate_at_most_the_batch() {
        assert_eq!(batch_size(0), BATCH);
        assert_eq!(batch_size(1), 1);
        assert_eq!(batch_size(8), 8);
        assert_eq!(batch_size(100_000), BATCH);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pacer_spaces_messages_across_concurrent_senders() {
        // 21 slots 20 ms apart, taken by CONNECTIONS senders at once.
        let pacer = Arc::new(Pacer::new(Duration::from_millis(20)));
        let started = Instant::now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let senders: Vec<_> = (0..CONNECTIONS)
            .map(|i| {
                let (pacer, times) = (Arc::clone(&pacer), Arc::clone(&times));
                tokio::spawn(async move {
                    for _ in (i..21).step_by(CONNECTIONS) {
                        pacer.wait().await;
                        times.lock().unwrap().push(started.elapsed());
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.await.unwrap();
        }
        let mut times = times.lock().unwrap().clone();
        times.sort();
        assert_eq!(times.len(), 21);
        // Each message waits for its own slot: the k-th one goes no sooner than k slots in.
        for (k, at) in times.iter().enumerate() {
            assert!(*at >= Duration::from_millis(20) * k as u32, "{times:?}");
        }
    }
}
