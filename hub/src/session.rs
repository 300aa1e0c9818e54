//! Sign-in sessions: a random 256-bit token in an `HttpOnly; SameSite=Lax` cookie, its SHA-256 in the metadata store.
//!
//! The store holds only the hash with an expiry, so any hub can check a cookie (the token is valid on every hub) and a
//! stolen database holds no usable token. `SameSite=Lax` keeps the cookie off cross-site POSTs, and the API only accepts
//! JSON bodies, which a cross-site form cannot send; together they stand in for a CSRF token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use orrery_db::{Account, NewToken, Store, TokenHash};
use sha2::{Digest, Sha256};

use crate::state::AppState;
use crate::{Error, Result};

/// The cookie's name.
pub const COOKIE_NAME: &str = "orrery_session";

/// A sign-in token as the browser holds it: 32 random bytes, written as 64 lowercase hex digits in the cookie.
pub(crate) struct Token([u8; 32]);

impl Token {
    fn random() -> Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|error| Error::Internal(format!("reading random bytes failed: {error}")))?;
        Ok(Token(bytes))
    }

    /// What the store keeps: SHA-256 of the 32 raw bytes.
    pub(crate) fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0).into())
    }

    fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn from_hex(text: &str) -> Option<Self> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Token(bytes))
    }

    /// The token in the request's cookies, if there is a well-formed one.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE_NAME)
            .and_then(|(_, value)| Token::from_hex(value.trim()))
    }
}

/// Stores a new sign-in for `account` and returns the `Set-Cookie` value that hands it to the browser.
pub(crate) async fn start(state: &AppState, account: &Account) -> Result<HeaderValue> {
    let token = Token::random()?;
    state
        .db
        .create_token(NewToken {
            hash: token.hash(),
            account: account.id,
            expires: state.clock.now().after(state.session_lifetime),
        })
        .await?;
    let cookie = format!(
        "{COOKIE_NAME}={}; Max-Age={}{}",
        token.to_hex(),
        state.session_lifetime.as_secs(),
        attributes(state.secure_cookies)
    );
    HeaderValue::from_str(&cookie)
        .map_err(|error| Error::Internal(format!("a session cookie is not a header: {error}")))
}

/// The `Set-Cookie` value that makes the browser forget its sign-in.
pub(crate) fn clearing_cookie(secure: bool) -> HeaderValue {
    let cookie = format!("{COOKIE_NAME}=; Max-Age=0{}", attributes(secure));
    HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static(""))
}

fn attributes(secure: bool) -> &'static str {
    if secure {
        "; Path=/; HttpOnly; SameSite=Lax; Secure"
    } else {
        "; Path=/; HttpOnly; SameSite=Lax"
    }
}

/// The signed-in account of a request; extracting it answers 401 when the cookie is missing, unknown, revoked or expired.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub account: Account,
    /// The sign-in's token hash, for re-checking it later (a WebSocket outlives the request that opened it).
    pub token: TokenHash,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = Token::from_headers(&parts.headers)
            .ok_or(Error::NotSignedIn)?
            .hash();
        let stored = match state.db.token(&token).await {
            Ok(stored) => stored,
            Err(orrery_db::Error::NotFound(_)) => return Err(Error::NotSignedIn),
            Err(error) => return Err(error.into()),
        };
        match state.db.account(stored.account).await {
            Ok(account) => Ok(SignedIn { account, token }),
            Err(orrery_db::Error::NotFound(_)) => Err(Error::NotSignedIn),
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_through_its_cookie() {
        let token = Token::random().unwrap();
        let mut headers = HeaderMap::new();
        let cookie = format!("theme=dark; {COOKIE_NAME}={}; other=1", token.to_hex());
        headers.insert(header::COOKIE, cookie.parse().unwrap());
        let read = Token::from_headers(&headers).unwrap();
        assert_eq!(read.hash(), token.hash());
        assert_ne!(Token::random().unwrap().hash(), token.hash());
    }

    #[test]
    fn malformed_cookies_are_no_token() {
        for value in [
            format!("{COOKIE_NAME}=abc"),
            format!("{COOKIE_NAME}={}", "g".repeat(64)),
            format!("{COOKIE_NAME}={}", "é".repeat(32)),
            "unrelated=1".to_string(),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, value.parse().unwrap());
            assert!(Token::from_headers(&headers).is_none(), "{value}");
        }
    }

    #[test]
    fn the_cookie_is_secure_only_when_asked() {
        let plain = clearing_cookie(false);
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Lax"));
        assert!(!plain.contains("Secure"));
        assert!(clearing_cookie(true)
            .to_str()
            .unwrap()
            .ends_with("; Secure"));
    }
}
