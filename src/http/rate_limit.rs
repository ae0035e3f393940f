//! Abuse limits on login and registration, counted in the database so that all instances behind
//! the load balancer enforce one limit together.
//!
//! Checks run before any password hashing, so a flood of attempts costs a few cheap queries each
//! and never argon2 time. Counters use fixed one-minute windows; keys are HMAC-SHA-256 digests
//! under a key derived from the server's secret, so the tables hold no addresses or emails, and
//! whoever reads them without the secret cannot test guesses (an unkeyed digest of an IPv4
//! address is reversed by hashing all 2^32 of them). IPv6 clients are counted per /64, the
//! smallest network a customer is usually given: one machine can pick any of its 2^64
//! addresses.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use hmac::{Hmac, Mac};
use ipnet::Ipv6Net;
use sha2::Sha256;

use secrecy::ExposeSecret;

use super::error::ApiError;

use crate::config::{SecretString, SecurityConfig};
use crate::domain::Email;
use crate::metric_names::RATE_LIMITED_TOTAL;
use crate::store::{HIT_WINDOW_SECS, LockoutPolicy, LoginGate, Store};

/// How often (at most) one instance deletes dead counters.
const SWEEP_EVERY_SECS: i64 = 60;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    LoginPerIp,
    RegisterPerIp,
    RegisterPerAccount,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Self::LoginPerIp => "login_ip",
            Self::RegisterPerIp => "register_ip",
            Self::RegisterPerAccount => "register_account",
        }
    }
}

pub(crate) struct RateLimiter {
    store: Arc<dyn Store>,
    config: Arc<SecurityConfig>,
    last_sweep: AtomicI64,
    keys: CounterKeys,
}

impl RateLimiter {
    /// `secret` is the token secret, the same on every instance, so all of them compute the same
    /// counter keys; the HMAC key is derived from it, never the secret itself.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        config: Arc<SecurityConfig>,
        secret: &SecretString,
    ) -> Self {
        Self {
            store,
            config,
            last_sweep: AtomicI64::new(0),
            keys: CounterKeys::new(secret),
        }
    }

    fn lockout_policy(&self) -> LockoutPolicy {
        let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        LockoutPolicy {
            max_failures: i64::from(self.config.login_max_failures),
            window_secs: secs(self.config.login_failure_window_seconds),
            base_lock_secs: secs(self.config.login_lockout_seconds),
            max_lock_secs: secs(self.config.login_lockout_max_seconds),
        }
    }

    pub(crate) async fn check_login_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.check(
            Scope::LoginPerIp,
            &address_key(ip),
            self.config.login_limit_per_ip,
        )
        .await
    }

    pub(crate) async fn check_register(&self, ip: IpAddr, email: &Email) -> Result<(), ApiError> {
        self.check(
            Scope::RegisterPerIp,
            &address_key(ip),
            self.config.register_limit_per_ip,
        )
        .await?;
        self.check(
            Scope::RegisterPerAccount,
            email.as_str(),
            self.config.register_limit_per_account,
        )
        .await
    }

    /// Counts a login attempt for the account and refuses it while the account is locked out.
    /// `raw_email` is what the client sent: unknown and malformed emails are limited exactly
    /// like real accounts, so the limit reveals nothing about which accounts exist.
    pub(crate) async fn check_login_account(&self, raw_email: &str) -> Result<(), ApiError> {
        let policy = self.lockout_policy();
        if policy.max_failures == 0 {
            return Ok(());
        }
        let now = now();
        self.maybe_sweep(now);
        let account = self.keys.digest("login_account", &account_name(raw_email));
        match self.store.login_attempt(&account, now, &policy).await? {
            LoginGate::Open => Ok(()),
            LoginGate::Locked { retry_after_secs } => {
                ::metrics::counter!(RATE_LIMITED_TOTAL, "scope" => "login_account").increment(1);
                tracing::info!(retry_after_secs, "login refused: account locked out");
                Err(ApiError::RateLimited { retry_after_secs })
            }
        }
    }

    /// Clears the account's failure count. A failure here must not undo a correct login; the
    /// count then simply expires with its window.
    pub(crate) async fn login_succeeded(&self, raw_email: &str) {
        if self.config.login_max_failures == 0 {
            return;
        }
        let account = self.keys.digest("login_account", &account_name(raw_email));
        if let Err(error) = self.store.login_succeeded(&account).await {
            tracing::warn!(error = %crate::store::error_chain(&error), "could not clear failed logins");
        }
    }

    async fn check(&self, scope: Scope, key: &str, limit: u32) -> Result<(), ApiError> {
        if limit == 0 {
            return Ok(());
        }
        let now = now();
        self.maybe_sweep(now);
        let window_start = now - now.rem_euclid(HIT_WINDOW_SECS);
        let hits = self
            .store
            .count_hit(
                scope.as_str(),
                &self.keys.digest(scope.as_str(), key),
                window_start,
            )
            .await?;
        if hits > i64::from(limit) {
            let retry_after_secs = u64::try_from(window_start + HIT_WINDOW_SECS - now)
                .unwrap_or(1)
                .max(1);
            ::metrics::counter!(RATE_LIMITED_TOTAL, "scope" => scope.as_str()).increment(1);
            tracing::info!(scope = scope.as_str(), retry_after_secs, "rate limited");
            return Err(ApiError::RateLimited { retry_after_secs });
        }
        Ok(())
    }

    /// Dead counters are deleted in the background, at most once a minute per instance, so no
    /// request waits for it.
    fn maybe_sweep(&self, now: i64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now - last < SWEEP_EVERY_SECS
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let store = Arc::clone(&self.store);
        let policy = self.lockout_policy();
        tokio::spawn(async move {
            match store.sweep_limits(now, &policy).await {
                Ok(deleted) => tracing::debug!(deleted, "swept expired rate-limit counters"),
                Err(error) => tracing::warn!(
                    error = %crate::store::error_chain(&error),
                    "could not sweep rate-limit counters"
                ),
            }
        });
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The normalised email when it parses, else the trimmed, lowercased text (bounded by the
/// length check the handler has already made).
fn account_name(raw_email: &str) -> String {
    Email::parse(raw_email).map_or_else(
        |_| raw_email.trim().to_lowercase(),
        |email| email.as_str().to_owned(),
    )
}

/// What a per-address counter counts: an IPv4 address, or the /64 network of an IPv6 one.
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            Ipv6Net::new(v6, 64).map_or_else(|_| v6.to_string(), |net| net.trunc().to_string())
        }
    }
}

/// HMAC-SHA-256 of `scope`, a NUL and the key, under a key derived from the server secret.
#[derive(Clone)]
struct CounterKeys {
    mac: Hmac<Sha256>,
}

impl CounterKeys {
    fn new(secret: &SecretString) -> Self {
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        derive.update(b"securevote abuse-limit counter keys v1");
        let key = derive.finalize().into_bytes();
        Self {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(&key)
                .expect("HMAC takes a key of any length"),
        }
    }

    fn digest(&self, scope: &str, key: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(key.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> CounterKeys {
        CounterKeys::new(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn accounts_are_keyed_by_their_normalised_email() {
        let keys = keys("0123456789abcdef0123456789abcdef");
        assert_eq!(account_name("  Ada@Example.ORG "), "ada@example.org");
        assert_eq!(account_name(" Not An Email "), "not an email");
        assert_eq!(
            keys.digest("login_account", "ada@example.org"),
            keys.digest("login_account", &account_name("ADA@example.org"))
        );
        assert_ne!(keys.digest("a", "bc"), keys.digest("ab", "c"));
        assert_eq!(keys.digest("s", "k").len(), 64);
    }

    #[test]
    fn digests_depend_on_the_secret() {
        let one = keys("0123456789abcdef0123456789abcdef");
        let other = keys("another-secret-another-secret-xx");
        assert_ne!(
            one.digest("login_ip", "192.0.2.1"),
            other.digest("login_ip", "192.0.2.1")
        );
    }

    #[test]
    fn ipv6_addresses_are_counted_per_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(address_key(ip("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_eq!(
            address_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            "2001:db8:1:2::/64"
        );
        assert_ne!(address_key(ip("2001:db8:1:3::1")), "2001:db8:1:2::/64");
        assert_eq!(address_key(ip("192.0.2.1")), "192.0.2.1");
    }
}
