//! Sign-in tokens, stored only as hashes: the hub makes 256 random bits, gives them to the browser, and hands the store their SHA-256.
//! A stolen database therefore holds no usable token; a lookup by hash finds the token only until it expires.

use std::fmt;
use std::time::Duration;

use crate::{AccountId, Error, Result, Timestamp};

/// Tokens may live at most this long; a longer expiry is a bug in the caller.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// The 32-byte hash of a sign-in token, computed by the hub.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From stored bytes; anything but 32 bytes is corruption.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        <[u8; 32]>::try_from(bytes).map(TokenHash).map_err(|_| {
            Error::Corrupt(format!(
                "a stored token hash has {} bytes, not 32",
                bytes.len()
            ))
        })
    }
}

impl fmt::Debug for TokenHash {
    // A prefix is enough to tell tokens apart in a log, and keeps logs from becoming a lookup table.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "TokenHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A sign-in token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInToken {
    pub hash: TokenHash,
    pub account: AccountId,
    pub created: Timestamp,
    /// The token is refused from this instant on.
    pub expires: Timestamp,
}

/// What a sign-in stores.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub hash: TokenHash,
    pub account: AccountId,
    pub expires: Timestamp,
}

impl NewToken {
    /// The token to store, after checking that its expiry lies in the future and not absurdly far.
    pub(crate) fn into_token(self, now: Timestamp) -> Result<SignInToken> {
        if self.expires <= now {
            return Err(Error::Invalid(format!(
                "a sign-in token must expire in the future (expiry {}, now {now})",
                self.expires
            )));
        }
        if self.expires > now.after(MAX_TOKEN_LIFETIME) {
            return Err(Error::Invalid(format!(
                "a sign-in token may live at most {} days",
                MAX_TOKEN_LIFETIME.as_secs() / 86_400
            )));
        }
        Ok(SignInToken {
            hash: self.hash,
            account: self.account,
            created: now,
            expires: self.expires,
        })
    }
}
