//! Accounts: one per person, found by id or by e-mail address (unique regardless of letter case).
//! The password hash is opaque here: the hub hashes and verifies passwords, the store only keeps the string.

use std::fmt;

use crate::validate::single_line;
use crate::{AccountId, Error, Result, Timestamp};

/// Longest e-mail address accepted (RFC 5321's limit on a forward path).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest display name accepted.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;
/// Longest password hash accepted; a PHC-format Argon2id string is about 100 bytes.
pub const MAX_PASSWORD_HASH_BYTES: usize = 1024;

/// A person who signs in.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// The address as the person typed it (trimmed); uniqueness ignores letter case.
    pub email: String,
    pub display_name: String,
    /// Whatever the hub stored (a PHC string); never shown in `Debug` output.
    pub password_hash: String,
    pub created: Timestamp,
}

impl fmt::Debug for Account {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Account")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("password_hash", &"<redacted>")
            .field("created", &self.created)
            .finish()
    }
}

/// What a sign-up supplies.
#[derive(Clone)]
pub struct NewAccount {
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
}

impl fmt::Debug for NewAccount {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("NewAccount")
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

impl NewAccount {
    /// The account this sign-up creates, with a fresh id, after checking every field.
    pub(crate) fn into_account(self, created: Timestamp) -> Result<Account> {
        let email = valid_email(&self.email)?;
        Ok(Account {
            id: AccountId::random(),
            email,
            display_name: valid_display_name(&self.display_name)?,
            password_hash: valid_password_hash(&self.password_hash)?,
            created,
        })
    }
}

/// The e-mail address trimmed, if it looks like one: a non-empty local part, one `@`, a domain, no spaces.
/// Deliverability is not checked here.
pub(crate) fn valid_email(email: &str) -> Result<String> {
    let email = single_line("an e-mail address", email, MAX_EMAIL_CHARS)?;
    let well_formed = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !well_formed {
        return Err(Error::Invalid(format!(
            "{email:?} is not an e-mail address (expected something like name@example.org)"
        )));
    }
    Ok(email)
}

/// The key that makes e-mail addresses unique: the valid address in lower case.
/// Both backends look accounts up by this key, so `Ada@Example.org` and `ada@example.org` are one account.
pub fn email_key(email: &str) -> Result<String> {
    Ok(valid_email(email)?.to_lowercase())
}

pub(crate) fn valid_display_name(name: &str) -> Result<String> {
    single_line("a display name", name, MAX_DISPLAY_NAME_CHARS)
}

pub(crate) fn valid_password_hash(hash: &str) -> Result<String> {
    if hash.is_empty() {
        return Err(Error::Invalid("a password hash must not be empty".into()));
    }
    if hash.len() > MAX_PASSWORD_HASH_BYTES {
        return Err(Error::Invalid(format!(
            "a password hash has {} bytes; at most {MAX_PASSWORD_HASH_BYTES} are allowed",
            hash.len()
        )));
    }
    Ok(hash.to_string())
}
