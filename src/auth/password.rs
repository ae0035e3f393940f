use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{
    PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;

/// OWASP's minimum for argon2id: 19 MiB of memory, two passes, one lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

/// The hasher has too much queued work; the caller should answer 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("password hashing is at capacity")]
pub struct HasherBusy;

/// argon2id hashing off the async runtime, with bounded concurrency and a bounded queue.
///
/// Each hash costs ~19 MiB and tens of milliseconds of CPU, so running them on the runtime's
/// threads would stall every other request, and an unbounded queue would let a login flood
/// exhaust memory. Work beyond `max_concurrent` running plus `max_queued` waiting is refused.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    running: Semaphore,
    admitted: AtomicUsize,
    max_admitted: usize,
    /// Verified against for unknown emails, so that path costs the same as a wrong password.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
            .expect("constant argon2 parameters are valid");
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2
            .hash_password(b"securevote-dummy-password", &salt)
            .expect("hashing a constant with a fresh salt cannot fail")
            .to_string();
        let max_concurrent = max_concurrent.max(1);
        Self {
            inner: Arc::new(Inner {
                argon2,
                running: Semaphore::new(max_concurrent),
                admitted: AtomicUsize::new(0),
                max_admitted: max_concurrent + max_queued,
                dummy_hash,
            }),
        }
    }

    /// One hasher per CPU core, with a queue a few seconds deep at most.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::new(cores, cores * 32)
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub async fn hash(&self, password: Password) -> Result<String, HasherBusy> {
        self.run(move |inner| {
            let salt = SaltString::generate(&mut OsRng);
            inner
                .argon2
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .ok()
        })
        .await
        .map(|hash| hash.expect("argon2 with valid parameters and salt does not fail"))
    }

    /// Verifies against `stored_hash`, or against a dummy hash when the user does not exist, so
    /// both cases take the same time. Unparseable stored hashes count as a mismatch.
    pub async fn verify(
        &self,
        password: String,
        stored_hash: Option<String>,
    ) -> Result<bool, HasherBusy> {
        let known_user = stored_hash.is_some();
        self.run(move |inner| {
            let phc = stored_hash.as_deref().unwrap_or(&inner.dummy_hash);
            let matches = match PasswordHash::new(phc) {
                Ok(parsed) => inner
                    .argon2
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
                Err(_) => {
                    // Still spend the time, so a legacy row is not distinguishable by timing.
                    let dummy = PasswordHash::new(&inner.dummy_hash).expect("dummy hash is valid");
                    let _ = inner.argon2.verify_password(password.as_bytes(), &dummy);
                    false
                }
            };
            matches && known_user
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T, HasherBusy> {
        let _admission = Admission::try_new(&self.inner)?;
        let _permit = self.inner.running.acquire().await.map_err(|_| HasherBusy)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|_| HasherBusy)
    }
}

/// Counts a request from the moment it queues until it finishes; dropping releases the slot.
struct Admission<'a>(&'a Inner);

impl<'a> Admission<'a> {
    fn try_new(inner: &'a Inner) -> Result<Self, HasherBusy> {
        let previous = inner.admitted.fetch_add(1, Ordering::AcqRel);
        if previous >= inner.max_admitted {
            inner.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(HasherBusy);
        }
        Ok(Self(inner))
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_argon2id_at_owasp_cost_and_verifies() {
        let hasher = PasswordHasher::new(2, 4);
        let hash = hasher
            .hash(Password::parse("correct horse".into()).unwrap())
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_users_and_garbage_hashes_never_verify() {
        let hasher = PasswordHasher::new(1, 1);
        assert!(
            !hasher
                .verify("securevote-dummy-password".into(), None)
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("whatever1".into(), Some("$2b$10$notargon".into()))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn refuses_work_beyond_the_queue_instead_of_growing_it() {
        let hasher = PasswordHasher::new(1, 1);
        let attempts = (0..6).map(|_| hasher.verify("password1".into(), None));
        let outcomes = futures_util::future::join_all(attempts).await;
        let busy = outcomes.iter().filter(|o| o.is_err()).count();
        assert_eq!(busy, 4, "1 running + 1 queued admitted, the rest refused");
    }
}
