//! Sign-in tokens in Cassandra: `sign_in_tokens` by hash and `account_tokens` by account (to revoke them all).
//! Expiry is judged against the store's clock; both rows also get a TTL a day past expiry, so Cassandra sweeps them.
//! Hashes are 256 random bits, so a reused hash is a caller's bug: a plain read before the write finds it.

use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{account, timestamp, Inner, Preparer};
use crate::{AccountId, Error, NewToken, Result, SignInToken, Timestamp, TokenHash};

/// How long after its expiry a token's rows stay before Cassandra drops them (the clock decides expiry, not the TTL).
const SWEEP_AFTER_SECONDS: i64 = 24 * 60 * 60;

pub(super) struct Statements {
    insert: Batch,
    by_hash: PreparedStatement,
    delete: Batch,
    of_account: PreparedStatement,
    delete_of_account: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(preparer: &Preparer<'_>) -> Result<Self> {
        Ok(Statements {
            insert: preparer
                .batch(&[
                    "INSERT INTO sign_in_tokens (hash, account, created, expires) VALUES (?, ?, ?, ?) USING TTL ?",
                    "INSERT INTO account_tokens (account, hash, expires) VALUES (?, ?, ?) USING TTL ?",
                ])
                .await?,
            by_hash: preparer
                .idempotent(
                    "SELECT hash, account, created, expires FROM sign_in_tokens WHERE hash = ?",
                )
                .await?,
            delete: preparer
                .batch(&[
                    "DELETE FROM sign_in_tokens WHERE hash = ?",
                    "DELETE FROM account_tokens WHERE account = ? AND hash = ?",
                ])
                .await?,
            of_account: preparer
                .idempotent("SELECT hash FROM account_tokens WHERE account = ?")
                .await?,
            delete_of_account: preparer
                .idempotent("DELETE FROM account_tokens WHERE account = ?")
                .await?,
        })
    }
}

type TokenRow = (Vec<u8>, Uuid, i64, i64);

fn from_row((hash, account, created, expires): TokenRow) -> Result<SignInToken> {
    Ok(SignInToken {
        hash: TokenHash::from_slice(&hash)?,
        account: AccountId::from_uuid(account),
        created: timestamp(created),
        expires: timestamp(expires),
    })
}

/// Seconds until Cassandra may drop a token's rows: its remaining life by the store's clock, plus a day.
fn sweep_ttl(now: Timestamp, expires: Timestamp) -> i32 {
    let remaining = (expires.as_millis() - now.as_millis()).max(0) / 1000;
    i32::try_from(remaining + SWEEP_AFTER_SECONDS).unwrap_or(i32::MAX)
}

async fn stored(inner: &Inner, hash: &TokenHash) -> Result<Option<SignInToken>> {
    inner
        .row::<TokenRow>(&inner.statements.token.by_hash, (&hash.as_bytes()[..],))
        .await?
        .map(from_row)
        .transpose()
}

pub(super) async fn create(inner: &Inner, new: NewToken) -> Result<SignInToken> {
    let now = inner.now();
    let token = new.into_token(now)?;
    account::require(inner, token.account).await?;
    if let Some(existing) = stored(inner, &token.hash).await? {
        if existing.expires > now {
            return Err(Error::AlreadyExists(format!(
                "a sign-in token with hash {:?}",
                token.hash
            )));
        }
    }
    let hash = &token.hash.as_bytes()[..];
    let account = token.account.as_uuid();
    let ttl = sweep_ttl(now, token.expires);
    inner
        .write_batch(
            &inner.statements.token.insert,
            (
                (
                    hash,
                    account,
                    token.created.as_millis(),
                    token.expires.as_millis(),
                    ttl,
                ),
                (account, hash, token.expires.as_millis(), ttl),
            ),
        )
        .await?;
    Ok(token)
}

pub(super) async fn live(inner: &Inner, hash: &TokenHash) -> Result<SignInToken> {
    match stored(inner, hash).await? {
        Some(token) if token.expires > inner.now() => Ok(token),
        _ => Err(Error::NotFound(
            "sign-in token (it may have expired or been revoked)".into(),
        )),
    }
}

pub(super) async fn revoke(inner: &Inner, hash: &TokenHash) -> Result<()> {
    let Some(token) = stored(inner, hash).await? else {
        return Ok(());
    };
    let hash = &hash.as_bytes()[..];
    inner
        .write_batch(
            &inner.statements.token.delete,
            ((hash,), (token.account.as_uuid(), hash)),
        )
        .await
}

pub(super) async fn revoke_all(inner: &Inner, account: AccountId) -> Result<()> {
    let statements = &inner.statements.token;
    let hashes = inner
        .rows::<(Vec<u8>,)>(&statements.of_account, (account.as_uuid(),))
        .await?;
    for (hash,) in hashes {
        inner
            .write_batch(
                &statements.delete,
                ((&hash[..],), (account.as_uuid(), &hash[..])),
            )
            .await?;
    }
    inner
        .write(&statements.delete_of_account, (account.as_uuid(),))
        .await
}
