use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::domain::Password;

/// OWASP's minimum for argon2id: 19 MiB of memory, two passes, one lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;
/// Bytes of a new hash (the PHC default).
const OUTPUT_LEN: usize = 32;
/// Highest bcrypt cost verified (the common default is 10): each step doubles the work, and a
/// login must not cost more than a few argon2 hashes.
pub const MAX_BCRYPT_COST: u32 = 12;

/// Whether `hash` is a legacy bcrypt hash (`$2a$`, `$2b$` or PHP's `$2y$`, all the same
/// algorithm) within [`MAX_BCRYPT_COST`]: verified at login, then replaced with argon2id.
pub fn is_legacy_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix))
        && hash
            .parse::<bcrypt::HashParts>()
            .is_ok_and(|parts| parts.get_cost() <= MAX_BCRYPT_COST)
}

/// The outcome of a login's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub matches: bool,
    /// When the password matched a legacy (bcrypt) hash: its argon2id replacement, to store in
    /// place of it.
    pub rehashed: Option<String>,
}

/// The hasher has too much queued work; the caller should answer 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("password hashing is at capacity")]
pub struct HasherBusy;

/// argon2id hashing off the async runtime, with bounded concurrency and a bounded queue.
///
/// Each hash costs ~19 MiB and tens of milliseconds of CPU, so running them on the runtime's
/// threads would stall every other request, and an unbounded queue would let a login flood
/// exhaust memory. Work beyond `max_concurrent` running plus `max_queued` waiting is refused.
///
/// Hashes run on `max_concurrent` threads of their own, which take the next queued hash as soon
/// as they finish one, so no core waits between hashes while work is queued (a blocking pool
/// behind a semaphore needs three thread wake-ups per hand-over, each waiting for a time slice
/// on a machine whose cores are all hashing).
///
/// The 19 MiB of working memory are allocated once per concurrent computation and reused, so
/// resident memory for hashing is at most `max_concurrent` x 19 MiB and a hash takes no page
/// faults. The argon2 crate's own `hash_password`/`verify_password` allocate (and zero) them on
/// every call, and glibc keeps freed blocks in per-thread arenas, so memory would grow with
/// every thread that ever hashed.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
    jobs: mpsc::Sender<Job>,
}

/// One hash or verification, run on a hashing thread.
type Job = Box<dyn FnOnce(&Inner) + Send>;

struct Inner {
    params: Params,
    admitted: AtomicUsize,
    max_admitted: usize,
    /// Verified against for unknown emails, so that path costs the same as a wrong password.
    dummy_hash: String,
    /// Working memory of finished computations, taken by the next ones (one per hashing thread
    /// at most).
    spare_memory: Mutex<Vec<Vec<Block>>>,
}

impl PasswordHasher {
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(OUTPUT_LEN))
            .expect("constant argon2 parameters are valid");
        let max_concurrent = max_concurrent.max(1);
        let mut inner = Inner {
            params,
            admitted: AtomicUsize::new(0),
            max_admitted: max_concurrent + max_queued,
            dummy_hash: String::new(),
            spare_memory: Mutex::new(Vec::new()),
        };
        inner.dummy_hash = inner.hash(b"securevote-dummy-password");
        let inner = Arc::new(inner);
        let jobs = start_hashing_threads(&inner, max_concurrent);
        Self { inner, jobs }
    }

    /// One hasher per CPU core, with a queue a few seconds deep at most.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::new(cores, cores * 32)
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub async fn hash(&self, password: Password) -> Result<String, HasherBusy> {
        self.run(move |inner| inner.hash(password.expose().as_bytes()))
            .await
    }

    /// Verifies against `stored_hash`, or against a dummy hash when the user does not exist, so
    /// both cases take the same time. Unparseable stored hashes count as a mismatch.
    pub async fn verify(
        &self,
        password: String,
        stored_hash: Option<String>,
    ) -> Result<bool, HasherBusy> {
        self.verify_upgrading(password, stored_hash)
            .await
            .map(|verified| verified.matches)
    }

    /// Like [`PasswordHasher::verify`]; a legacy bcrypt hash is verified with bcrypt, and when
    /// it matches, an argon2id hash of the password comes back to replace it. Unknown users
    /// cost one argon2 verification against the dummy hash, as in `verify`.
    pub async fn verify_upgrading(
        &self,
        password: String,
        stored_hash: Option<String>,
    ) -> Result<Verified, HasherBusy> {
        let known_user = stored_hash.is_some();
        self.run(move |inner| {
            let phc = stored_hash.as_deref().unwrap_or(&inner.dummy_hash);
            if is_legacy_bcrypt(phc) {
                // bcrypt reads the first 72 bytes only, in this crate's `verify` as in every
                // implementation that makes `$2a$`/`$2b$`/`$2y$` hashes.
                let matches = bcrypt::verify(password.as_bytes(), phc).unwrap_or(false);
                let rehashed = matches.then(|| inner.hash(password.as_bytes()));
                return Verified { matches, rehashed };
            }
            let matches = match inner.verify(password.as_bytes(), phc) {
                Some(matches) => matches,
                None => {
                    // Still spend the time, so an unusable row is not distinguishable by timing.
                    let _ = inner.verify(password.as_bytes(), &inner.dummy_hash);
                    false
                }
            };
            Verified {
                matches: matches && known_user,
                rehashed: None,
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T, HasherBusy> {
        // Counted from now until the job has run, even if the caller goes away meanwhile.
        let admission = Admission::try_new(&self.inner)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |inner| {
            let _admission = admission;
            // Nobody waits for it any more (client gone, request timed out): skip the work.
            if !reply.is_closed() {
                let _ = reply.send(work(inner));
            }
        });
        self.jobs.send(job).map_err(|_| HasherBusy)?;
        answer.await.map_err(|_| HasherBusy)
    }
}

/// `count` threads taking jobs from one queue; they end when every sender (hasher) is gone.
fn start_hashing_threads(inner: &Arc<Inner>, count: usize) -> mpsc::Sender<Job> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for n in 0..count {
        let (inner, queue) = (Arc::clone(inner), Arc::clone(&queue));
        std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job.
                    let next = queue
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .recv();
                    let Ok(job) = next else { return };
                    // A panic in one job must not take the thread, and the capacity, with it;
                    // its caller sees the reply dropped (503).
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&inner)));
                }
            })
            .expect("the operating system refused to start a password-hashing thread");
    }
    jobs
}

impl Inner {
    /// Runs `work` on at least `blocks` blocks of working memory, reusing a spare buffer.
    fn with_memory<T>(&self, blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        let spare = self
            .spare_memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let mut memory = spare.unwrap_or_default();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let result = work(&mut memory[..blocks]);
        // Only buffers of our own size are kept: an imported hash of a higher cost does not pin
        // its larger memory for good.
        if memory.len() == self.params.block_count() {
            self.spare_memory
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(memory);
        }
        result
    }

    /// A new argon2id hash with our parameters and a fresh salt, as a PHC string.
    fn hash(&self, password: &[u8]) -> String {
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_buffer = [0u8; 64];
        let salt_bytes = salt
            .decode_b64(&mut salt_buffer)
            .expect("a generated salt decodes");
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let mut output = [0u8; OUTPUT_LEN];
        self.with_memory(self.params.block_count(), |memory| {
            argon2.hash_password_into_with_memory(password, salt_bytes, &mut output, memory)
        })
        .expect("argon2 with valid parameters, salt and output length does not fail");
        PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).expect("parameters encode"),
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&output).expect("32 bytes is a valid output length")),
        }
        .to_string()
    }

    /// Whether `password` matches the PHC string, computed with the string's own algorithm,
    /// version and parameters (as the argon2 crate's `verify_password` does) and compared in
    /// constant time; `None` when the string is not a usable argon2 hash.
    fn verify(&self, password: &[u8], phc: &str) -> Option<bool> {
        let hash = PasswordHash::new(phc).ok()?;
        let (salt, expected) = (hash.salt?, hash.hash?);
        let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
        let version = match hash.version {
            Some(version) => Version::try_from(version).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&hash).ok()?;
        let mut salt_buffer = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buffer).ok()?;
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let mut output = vec![0u8; expected.len()];
        self.with_memory(params.block_count(), |memory| {
            argon2.hash_password_into_with_memory(password, salt_bytes, &mut output, memory)
        })
        .ok()?;
        // `Output`'s equality is constant-time.
        Some(Output::new(&output).ok()? == expected)
    }
}

/// Counts a request from the moment it queues until its job has run; dropping releases the slot.
struct Admission(Arc<Inner>);

impl Admission {
    fn try_new(inner: &Arc<Inner>) -> Result<Self, HasherBusy> {
        let previous = inner.admitted.fetch_add(1, Ordering::AcqRel);
        if previous >= inner.max_admitted {
            inner.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(HasherBusy);
        }
        Ok(Self(Arc::clone(inner)))
    }
}

impl Drop for Admission {
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
    async fn bcrypt_hashes_verify_and_come_back_as_argon2id() {
        let hasher = PasswordHasher::new(1, 1);
        let legacy = bcrypt::hash("node password", 4).unwrap();
        let wrong = hasher
            .verify_upgrading("node passwor".into(), Some(legacy.clone()))
            .await
            .unwrap();
        assert_eq!(
            wrong,
            Verified {
                matches: false,
                rehashed: None
            }
        );
        let right = hasher
            .verify_upgrading(
                "node password".into(),
                Some(legacy.replacen("$2b$", "$2y$", 1)),
            )
            .await
            .unwrap();
        assert!(right.matches);
        let new_hash = right.rehashed.expect("an argon2id replacement");
        assert!(new_hash.starts_with("$argon2id$"), "{new_hash}");
        assert!(
            hasher
                .verify("node password".into(), Some(new_hash))
                .await
                .unwrap()
        );
        // Above the cost limit: refused without running it.
        let costly = "$2b$31$abcdefghijklmnopqrstuu5sG0vJ3W2Kb6kq1QF6Xnqsd7yCwF2a";
        assert!(!is_legacy_bcrypt(costly));
    }

    #[tokio::test]
    async fn verifies_hashes_made_by_the_argon2_crate_with_other_parameters() {
        use argon2::password_hash::PasswordHasher as _;
        let hasher = PasswordHasher::new(1, 1);
        let params = Params::new(8 * 1024, 3, 1, None).unwrap();
        let foreign = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"imported pass", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(
            hasher
                .verify("imported pass".into(), Some(foreign.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("imported pas".into(), Some(foreign))
                .await
                .unwrap()
        );
        let spare = hasher.inner.spare_memory.lock().unwrap();
        assert!(
            spare
                .iter()
                .all(|m| m.len() == hasher.inner.params.block_count()),
            "a buffer of another size is not kept"
        );
    }

    #[tokio::test]
    async fn working_memory_is_reused_not_reallocated() {
        let hasher = PasswordHasher::new(2, 8);
        let attempts = (0..6).map(|_| hasher.verify("password1".into(), None));
        futures_util::future::join_all(attempts).await;
        let spare = hasher.inner.spare_memory.lock().unwrap().len();
        assert!(
            (1..=2).contains(&spare),
            "{spare} buffers for at most 2 concurrent hashes"
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
