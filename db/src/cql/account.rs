//! Accounts in Cassandra: `accounts` by id and `account_emails` from the lower-cased address to the id.
//! A sign-up writes its account row first and then claims the address with `INSERT … IF NOT EXISTS`; the loser of a race
//! deletes the row it wrote, so an address always names exactly one account.

use futures_util::future::try_join_all;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{timestamp, Inner, Preparer};
use crate::account::{email_key, valid_display_name, valid_password_hash};
use crate::{Account, AccountId, Error, NewAccount, Result};

pub(super) struct Statements {
    insert: PreparedStatement,
    delete: PreparedStatement,
    by_id: PreparedStatement,
    exists: PreparedStatement,
    claim_email: PreparedStatement,
    email: PreparedStatement,
    email_serial: PreparedStatement,
    set_display_name: PreparedStatement,
    set_password_hash: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(preparer: &Preparer<'_>) -> Result<Self> {
        Ok(Statements {
            insert: preparer
                .idempotent(
                    "INSERT INTO accounts (id, email, display_name, password_hash, created) VALUES (?, ?, ?, ?, ?)",
                )
                .await?,
            delete: preparer
                .idempotent("DELETE FROM accounts WHERE id = ?")
                .await?,
            by_id: preparer
                .idempotent(
                    "SELECT id, email, display_name, password_hash, created FROM accounts WHERE id = ?",
                )
                .await?,
            exists: preparer
                .idempotent("SELECT id FROM accounts WHERE id = ?")
                .await?,
            claim_email: preparer
                .compare_and_set(
                    "INSERT INTO account_emails (email_key, account) VALUES (?, ?) IF NOT EXISTS",
                )
                .await?,
            email: preparer
                .idempotent("SELECT account FROM account_emails WHERE email_key = ?")
                .await?,
            email_serial: preparer
                .serial_read("SELECT account FROM account_emails WHERE email_key = ?")
                .await?,
            set_display_name: preparer
                .idempotent("UPDATE accounts SET display_name = ? WHERE id = ?")
                .await?,
            set_password_hash: preparer
                .idempotent("UPDATE accounts SET password_hash = ? WHERE id = ?")
                .await?,
        })
    }
}

type AccountRow = (Uuid, String, String, String, i64);

fn from_row((id, email, display_name, password_hash, created): AccountRow) -> Account {
    Account {
        id: AccountId::from_uuid(id),
        email,
        display_name,
        password_hash,
        created: timestamp(created),
    }
}

fn email_taken(email: &str) -> Error {
    Error::AlreadyExists(format!("an account with e-mail address {email}"))
}

pub(super) fn account_not_found(id: AccountId) -> Error {
    Error::NotFound(format!("account {id}"))
}

pub(super) async fn create(inner: &Inner, new: NewAccount) -> Result<Account> {
    let statements = &inner.statements.account;
    let account = new.into_account(inner.now())?;
    let key = email_key(&account.email)?;
    let id = *account.id.as_uuid();
    // Cheap refusal of the common case (the address is taken) without a lightweight transaction.
    if inner
        .row::<(Uuid,)>(&statements.email, (&key,))
        .await?
        .is_some()
    {
        return Err(email_taken(&account.email));
    }
    inner
        .write(
            &statements.insert,
            (
                id,
                &account.email,
                &account.display_name,
                &account.password_hash,
                account.created.as_millis(),
            ),
        )
        .await?;
    let claimed = match inner
        .compare_and_set(&statements.claim_email, (&key, id))
        .await
    {
        Ok(applied) => applied,
        // The claim may or may not have been applied: the address's row says which.
        Err(error) => match inner
            .row::<(Option<Uuid>,)>(&statements.email_serial, (&key,))
            .await
        {
            Ok(Some((Some(owner),))) => owner == id,
            _ => return Err(error),
        },
    };
    if claimed {
        Ok(account)
    } else {
        // Another sign-up owns the address; the row written above must not linger as a second account.
        inner.write(&statements.delete, (id,)).await?;
        Err(email_taken(&account.email))
    }
}

pub(super) async fn by_id(inner: &Inner, id: AccountId) -> Result<Account> {
    inner
        .row::<AccountRow>(&inner.statements.account.by_id, (id.as_uuid(),))
        .await?
        .map(from_row)
        .ok_or_else(|| account_not_found(id))
}

pub(super) async fn by_email(inner: &Inner, email: &str) -> Result<Account> {
    let key = email_key(email)?;
    let not_found = || Error::NotFound(format!("an account with e-mail address {}", email.trim()));
    let Some((Some(id),)) = inner
        .row::<(Option<Uuid>,)>(&inner.statements.account.email, (&key,))
        .await?
    else {
        return Err(not_found());
    };
    match by_id(inner, AccountId::from_uuid(id)).await {
        Err(Error::NotFound(_)) => Err(Error::Corrupt(format!(
            "e-mail address {key} names account {id}, which does not exist"
        ))),
        other => other,
    }
}

pub(super) async fn many(inner: &Inner, ids: &[AccountId]) -> Result<Vec<Account>> {
    let found = try_join_all(ids.iter().map(|id| async move {
        inner
            .row::<AccountRow>(&inner.statements.account.by_id, (id.as_uuid(),))
            .await
    }))
    .await?;
    Ok(found.into_iter().flatten().map(from_row).collect())
}

pub(super) async fn set_display_name(
    inner: &Inner,
    id: AccountId,
    display_name: &str,
) -> Result<Account> {
    let display_name = valid_display_name(display_name)?;
    let mut account = by_id(inner, id).await?;
    inner
        .write(
            &inner.statements.account.set_display_name,
            (&display_name, id.as_uuid()),
        )
        .await?;
    account.display_name = display_name;
    Ok(account)
}

pub(super) async fn set_password_hash(
    inner: &Inner,
    id: AccountId,
    password_hash: &str,
) -> Result<()> {
    let password_hash = valid_password_hash(password_hash)?;
    require(inner, id).await?;
    inner
        .write(
            &inner.statements.account.set_password_hash,
            (&password_hash, id.as_uuid()),
        )
        .await
}

/// Fails with `NotFound` unless the account exists.
pub(super) async fn require(inner: &Inner, id: AccountId) -> Result<()> {
    match inner
        .row::<(Uuid,)>(&inner.statements.account.exists, (id.as_uuid(),))
        .await?
    {
        Some(_) => Ok(()),
        None => Err(account_not_found(id)),
    }
}
