//! Accounts in SQLite: the `accounts` table, unique on the lower-cased e-mail key.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::account::{email_key, valid_display_name, valid_password_hash};
use crate::{Account, AccountId, Error, NewAccount, Result, Timestamp};

const COLUMNS: &str = "id, email, display_name, password_hash, created";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get(0)?,
        email: row.get(1)?,
        display_name: row.get(2)?,
        password_hash: row.get(3)?,
        created: row.get(4)?,
    })
}

pub(super) fn create(connection: &Connection, new: NewAccount, now: Timestamp) -> Result<Account> {
    let account = new.into_account(now)?;
    let key = email_key(&account.email)?;
    // The transaction holds the write lock, so nobody can take the address between this check and the insert;
    // the UNIQUE constraint would still catch it.
    let taken: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM accounts WHERE email_key = ?1)",
        [&key],
        |row| row.get(0),
    )?;
    if taken {
        return Err(email_taken(&account.email));
    }
    connection.execute(
        "INSERT INTO accounts (id, email, email_key, display_name, password_hash, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        (
            account.id,
            &account.email,
            &key,
            &account.display_name,
            &account.password_hash,
            account.created,
        ),
    )?;
    Ok(account)
}

fn email_taken(email: &str) -> Error {
    Error::AlreadyExists(format!("an account with e-mail address {email}"))
}

pub(super) fn by_id(connection: &Connection, id: AccountId) -> Result<Account> {
    connection
        .query_row(
            &format!("SELECT {COLUMNS} FROM accounts WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?
        .ok_or_else(|| account_not_found(id))
}

pub(super) fn account_not_found(id: AccountId) -> Error {
    Error::NotFound(format!("account {id}"))
}

pub(super) fn by_email(connection: &Connection, email: &str) -> Result<Account> {
    let key = email_key(email)?;
    connection
        .query_row(
            &format!("SELECT {COLUMNS} FROM accounts WHERE email_key = ?1"),
            [&key],
            from_row,
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("an account with e-mail address {}", email.trim())))
}

pub(super) fn many(connection: &Connection, ids: &[AccountId]) -> Result<Vec<Account>> {
    let mut statement =
        connection.prepare_cached(&format!("SELECT {COLUMNS} FROM accounts WHERE id = ?1"))?;
    let mut accounts = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(account) = statement.query_row([id], from_row).optional()? {
            accounts.push(account);
        }
    }
    Ok(accounts)
}

pub(super) fn set_display_name(
    connection: &Connection,
    id: AccountId,
    display_name: &str,
) -> Result<Account> {
    let display_name = valid_display_name(display_name)?;
    let changed = connection.execute(
        "UPDATE accounts SET display_name = ?2 WHERE id = ?1",
        (id, &display_name),
    )?;
    if changed == 0 {
        return Err(account_not_found(id));
    }
    by_id(connection, id)
}

pub(super) fn set_password_hash(
    connection: &Connection,
    id: AccountId,
    password_hash: &str,
) -> Result<()> {
    let password_hash = valid_password_hash(password_hash)?;
    let changed = connection.execute(
        "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
        (id, &password_hash),
    )?;
    if changed == 0 {
        return Err(account_not_found(id));
    }
    Ok(())
}

/// Fails with `NotFound` unless the account exists.
pub(super) fn require(connection: &Connection, id: AccountId) -> Result<()> {
    let exists: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = ?1)",
        [id],
        |row| row.get(0),
    )?;
    if exists {
        Ok(())
    } else {
        Err(account_not_found(id))
    }
}
