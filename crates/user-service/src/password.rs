//! Password policy and Argon2id hashing.
//!
//! Hashing is CPU-bound and deliberately slow, so it runs on the blocking pool behind a
//! semaphore: a login flood queues on the semaphore instead of occupying every runtime
//! worker, and `/health` or the JWKS keep answering (I04).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::crypto::random_bytes;

/// Passwords nobody should use; lengths >= 12 so the length rule does not already catch
/// them (I03). A breached-password service can be added behind the same check.
pub(crate) const COMMON_PASSWORDS: &[&str] = &[
    "password1234",
    "password12345",
    "password123456",
    "passwordpassword",
    "123456789012",
    "1234567890123",
    "12345678901234",
    "qwertyuiop12",
    "qwertyuiopasdf",
    "qwerty123456",
    "iloveyou1234",
    "adminadmin123",
    "administrator",
    "letmein12345",
    "welcome12345",
    "changeme1234",
    "aaaaaaaaaaaa",
    "abcdefghijkl",
    "abcdefghijklmn",
    "111111111111",
    "000000000000",
    "trustno1trustno1",
    "baseball1234",
    "football1234",
    "monkey123456",
    "sunshine1234",
    "princess1234",
    "superman1234",
    "starwars1234",
    "correcthorsebatterystaple",
];

/// The longest password accepted, in characters.
pub(crate) const MAX_CHARS: usize = 128;

/// Why a new password is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PolicyError {
    TooShort(usize),
    TooLong,
    Common,
}

impl PolicyError {
    pub(crate) fn message(&self) -> String {
        match self {
            PolicyError::TooShort(min) => format!("The password must have at least {min} characters"),
            PolicyError::TooLong => format!("The password must have at most {MAX_CHARS} characters"),
            PolicyError::Common => "This password is too common; choose another".to_owned(),
        }
    }
}

/// Length in characters (not bytes) between `min` and 128, any Unicode, no composition
/// rules, never truncated (I01); common passwords refused (I03).
pub(crate) fn check_policy(password: &str, min_chars: usize) -> Result<(), PolicyError> {
    let chars = password.chars().count();
    if chars < min_chars {
        return Err(PolicyError::TooShort(min_chars));
    }
    if chars > MAX_CHARS {
        return Err(PolicyError::TooLong);
    }
    let lower = password.to_lowercase();
    let first = lower.chars().next();
    if COMMON_PASSWORDS.contains(&lower.as_str()) || lower.chars().all(|c| Some(c) == first) {
        return Err(PolicyError::Common);
    }
    Ok(())
}

/// Argon2id hashing off the async runtime, bounded by a semaphore.
#[derive(Clone)]
pub(crate) struct Passwords {
    argon: Arc<Argon2<'static>>,
    permits: Arc<Semaphore>,
    dummy_hash: Arc<String>,
    waiting: Arc<AtomicU64>,
    verifications: Arc<AtomicU64>,
}

impl Passwords {
    pub(crate) fn new(params: Params, concurrency: usize) -> Passwords {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        // A hash of a random password: unknown users are verified against it so they cost
        // the same time as known users (I05).
        let dummy = hash_with(&argon, &crate::crypto::random_token()).expect("hashing a random password");
        Passwords {
            argon: Arc::new(argon),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: Arc::new(dummy),
            waiting: Arc::new(AtomicU64::new(0)),
            verifications: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Requests currently queued for a hashing permit (exported as a metric).
    pub(crate) fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Password verifications started so far (exported as a metric: the throttle's
    /// guarantees are about how many guesses reach Argon2).
    pub(crate) fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&Argon2<'static>) -> T + Send + 'static) -> T {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let permit = permit.expect("the hashing semaphore is never closed");
        let argon = self.argon.clone();
        let out = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&argon)
        })
        .await;
        match out {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Hashes a new password (PHC string with a unique random salt).
    pub(crate) async fn hash(&self, password: String) -> Result<String, argon2::password_hash::Error> {
        self.run(move |argon| hash_with(argon, &password)).await
    }

    /// Verifies against `stored`, or against the dummy hash when there is no user, so both
    /// paths take the same time; the dummy path always answers `false`.
    pub(crate) async fn verify(&self, password: String, stored: Option<String>) -> bool {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.as_str().to_owned());
        let ok = self
            .run(move |argon| {
                PasswordHash::new(&hash)
                    .map(|parsed| argon.verify_password(password.as_bytes(), &parsed).is_ok())
            })
            .await
            .unwrap_or(false);
        ok && known
    }
}

/// A PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`) with a 128-bit salt from
/// aws-lc-rs: the format argon2 0.5 wrote too, so stored hashes verify unchanged.
fn hash_with(argon: &Argon2<'_>, password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(argon.hash_password_with_salt(password.as_bytes(), &random_bytes::<16>())?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i01_length_counts_characters_and_allows_any_unicode() {
        assert_eq!(check_policy("short", 12), Err(PolicyError::TooShort(12)));
        assert!(check_policy("ünïcødé-pässwörd", 12).is_ok());
        assert!(check_policy("密码密码密码密码密码密码", 12).is_ok());
        assert_eq!(check_policy(&"x1".repeat(65), 12), Err(PolicyError::TooLong));
        assert!(check_policy("only lowercase words here", 14).is_ok());
        assert_eq!(check_policy("thirteen-chr!", 14), Err(PolicyError::TooShort(14)));
    }

    #[test]
    fn i03_common_passwords_are_refused() {
        assert_eq!(check_policy("Password1234", 12), Err(PolicyError::Common));
        assert_eq!(check_policy("zzzzzzzzzzzzzz", 12), Err(PolicyError::Common));
    }

    #[tokio::test]
    async fn i04_hashes_are_argon2id_with_unique_salts_and_never_truncate() {
        let p = Passwords::new(Params::new(1024, 1, 1, None).unwrap(), 2);
        let long = "a".repeat(100) + "b";
        let h1 = p.hash(long.clone()).await.unwrap();
        let h2 = p.hash(long.clone()).await.unwrap();
        assert!(h1.starts_with("$argon2id$v=19$"));
        assert_ne!(h1, h2);
        assert!(p.verify(long.clone(), Some(h1.clone())).await);
        assert!(!p.verify("a".repeat(100) + "c", Some(h1)).await);
        assert!(!p.verify(long, None).await);
    }

    #[tokio::test]
    async fn hashes_written_with_argon2_0_5_still_verify() {
        // Written by user-service's `hash_with` on argon2 0.5 (fixed salt 16 x 0x5a), and
        // the Argon2 reference implementation's vector for "password" / "somesalt": each
        // carries its own parameters, whatever the current ones are.
        let p = Passwords::new(Params::new(2048, 2, 1, None).unwrap(), 1);
        let ours = "$argon2id$v=19$m=1024,t=1,p=1$WlpaWlpaWlpaWlpaWlpaWg$mmt4sTt4AR1kRnn10wxjuApAnlMhHqCwZVbsZ2hhv5A";
        assert!(p.verify("correct horse battery".into(), Some(ours.into())).await);
        assert!(!p.verify("correct horse batterY".into(), Some(ours.into())).await);
        let reference =
            "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
        assert!(p.verify("password".into(), Some(reference.into())).await);
        // New hashes keep the PHC form.
        let new = p.hash("correct horse battery".into()).await.unwrap();
        assert!(new.starts_with("$argon2id$v=19$m=2048,t=2,p=1$"), "{new}");
    }
}
