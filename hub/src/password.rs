//! Password hashing: Argon2id with the `argon2` crate's defaults (19 MiB, 2 passes, 1 lane), as PHC strings.
//!
//! Hashing takes tens of milliseconds of one core and 19 MiB, so it runs on tokio's blocking pool, never on the async
//! threads, and a semaphore bounds how many run at once: a burst of sign-ins queues instead of exhausting memory.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use tokio::sync::Semaphore;

use crate::{Error, Result};

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in bytes: far beyond any real password, and a bound on the work one request can ask for.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes and verifies passwords off the async threads, a bounded number at a time.
#[derive(Debug)]
pub(crate) struct Passwords {
    permits: Semaphore,
    /// A hash of a random password, verified against when an e-mail address has no account, so that answer takes as long
    /// as a wrong password and does not tell which addresses have accounts.
    decoy: String,
}

impl Passwords {
    pub(crate) async fn new(concurrency: usize) -> Result<Self> {
        let mut decoy_password = [0u8; 32];
        getrandom::fill(&mut decoy_password)
            .map_err(|error| Error::Internal(format!("reading random bytes failed: {error}")))?;
        let passwords = Passwords {
            permits: Semaphore::new(concurrency.max(1)),
            decoy: String::new(),
        };
        let decoy = passwords.run(move || hash_now(&decoy_password)).await??;
        Ok(Passwords { decoy, ..passwords })
    }

    /// Checks a new password against the rules, before any hashing work is spent on it.
    pub(crate) fn check_rules(password: &str) -> Result<()> {
        let length = password.chars().count();
        if length < MIN_PASSWORD_CHARS {
            return Err(Error::Invalid(format!(
                "a password needs at least {MIN_PASSWORD_CHARS} characters; this one has {length}"
            )));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::Invalid(format!(
                "a password may have at most {MAX_PASSWORD_BYTES} bytes"
            )));
        }
        Ok(())
    }

    /// The PHC string of a fresh Argon2id hash with a random salt.
    pub(crate) async fn hash(&self, password: String) -> Result<String> {
        self.run(move || hash_now(password.as_bytes())).await?
    }

    /// Whether `password` matches the stored PHC string; `None` checks against the decoy and is always false.
    pub(crate) async fn verify(&self, password: String, stored: Option<String>) -> Result<bool> {
        let is_decoy = stored.is_none();
        let stored = stored.unwrap_or_else(|| self.decoy.clone());
        let matches = self
            .run(move || verify_now(password.as_bytes(), &stored))
            .await??;
        Ok(matches && !is_decoy)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("the password hasher was shut down".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| Error::Internal(format!("a password hashing task failed: {error}")))
    }
}

fn hash_now(password: &[u8]) -> Result<String> {
    Argon2::default()
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|error| Error::Internal(format!("hashing a password failed: {error}")))
}

fn verify_now(password: &[u8], stored: &str) -> Result<bool> {
    let hash = PasswordHash::new(stored).map_err(|error| {
        Error::Internal(format!("a stored password hash cannot be read: {error}"))
    })?;
    // The parameters come from the stored string, so hashes made with older defaults still verify.
    match Argon2::default().verify_password(password, &hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(error) => Err(Error::Internal(format!(
            "verifying a password failed: {error}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let passwords = Passwords::new(2).await.unwrap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(passwords
            .verify("correct horse".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!passwords
            .verify("correct horsf".into(), Some(hash))
            .await
            .unwrap());
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
    }

    #[test]
    fn rules_count_characters_not_bytes() {
        assert!(Passwords::check_rules("1234567").is_err());
        assert!(Passwords::check_rules("12345678").is_ok());
        // Seven characters of two bytes each are still seven characters.
        assert!(Passwords::check_rules("ééééééé").is_err());
        assert!(Passwords::check_rules(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }
}
