//! Sign-in tokens in SQLite: `sign_in_tokens`, keyed by hash, indexed by account. Expired rows of an account are swept
//! whenever it signs in again (Cassandra drops them by TTL instead).

use rusqlite::{Connection, OptionalExtension};

use super::account;
use crate::{AccountId, Error, NewToken, Result, SignInToken, Timestamp, TokenHash};

pub(super) fn create(
    connection: &Connection,
    new: NewToken,
    now: Timestamp,
) -> Result<SignInToken> {
    let token = new.into_token(now)?;
    account::require(connection, token.account)?;
    connection.execute(
        "DELETE FROM sign_in_tokens WHERE account = ?1 AND expires <= ?2",
        (token.account, now),
    )?;
    let exists: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sign_in_tokens WHERE hash = ?1)",
        [token.hash],
        |row| row.get(0),
    )?;
    if exists {
        return Err(Error::AlreadyExists(format!(
            "a sign-in token with hash {:?}",
            token.hash
        )));
    }
    connection.execute(
        "INSERT INTO sign_in_tokens (hash, account, created, expires) VALUES (?1, ?2, ?3, ?4)",
        (token.hash, token.account, token.created, token.expires),
    )?;
    Ok(token)
}

pub(super) fn live(
    connection: &Connection,
    hash: &TokenHash,
    now: Timestamp,
) -> Result<SignInToken> {
    connection
        .query_row(
            "SELECT hash, account, created, expires FROM sign_in_tokens WHERE hash = ?1 AND expires > ?2",
            (hash, now),
            |row| {
                Ok(SignInToken {
                    hash: row.get(0)?,
                    account: row.get(1)?,
                    created: row.get(2)?,
                    expires: row.get(3)?,
                })
            },
        )
        .optional()?
        .ok_or_else(|| Error::NotFound("sign-in token (it may have expired or been revoked)".into()))
}

pub(super) fn revoke(connection: &Connection, hash: &TokenHash) -> Result<()> {
    connection.execute("DELETE FROM sign_in_tokens WHERE hash = ?1", [hash])?;
    Ok(())
}

pub(super) fn revoke_all(connection: &Connection, account: AccountId) -> Result<()> {
    connection.execute("DELETE FROM sign_in_tokens WHERE account = ?1", [account])?;
    Ok(())
}
