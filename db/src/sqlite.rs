//! The embedded backend: one SQLite file, the default for `orrery up` and most tests.
//!
//! One connection sits behind a mutex and is only used from `tokio::task::spawn_blocking`, so the hub's async threads
//! never wait on the disk. Every change runs in a `BEGIN IMMEDIATE` transaction: it takes the write lock before reading,
//! so read-then-write rules (one account per e-mail, one lease holder) hold even when another process (an `orrery admin`)
//! opens the same file. The file is in WAL mode with foreign keys on; its schema is migrated on open (`sqlite/migrations.rs`).
//! The database and its WAL and SHM files are readable by this process's user only (`sqlite/file.rs`).

mod account;
mod column;
pub mod file;
mod host;
mod layout;
mod lease;
pub mod migrations;
mod placement;
mod project;
mod token;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

use crate::{
    Account, AccountId, Clock, Collaborator, Datacenter, Error, Host, HostId, HostState, Layout,
    LayoutHost, Lease, Membership, NewAccount, NewHost, NewToken, Placement, PlacementRole,
    Project, ProjectId, Result, Role, SignInToken, Store, Timestamp, TokenHash,
};

/// How long a write waits for another process's write lock before the store reports itself busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite metadata store. Cloning it is cheap and shares the connection.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    connection: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// Fails with [`Error::SchemaTooNew`] when a newer Orrery wrote it.
    pub async fn open(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let opened_path = path.clone();
        let connection = tokio::task::spawn_blocking(move || open_connection(&opened_path))
            .await
            .map_err(|error| {
                Error::backend("opening the SQLite database was cancelled", error)
            })??;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                connection: Mutex::new(connection),
                clock,
                path,
            }),
        })
    }

    /// Moves a database no process has open to `to` (see [`file::relocate`]): what a data directory's new layout does to
    /// the database an older Orrery kept elsewhere. Blocking.
    pub fn relocate(from: &Path, to: &Path) -> Result<()> {
        file::relocate(from, to)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `operation` on the connection, off the async threads, with the clock read once the connection is ours.
    async fn call<T, F>(&self, operation: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, Timestamp) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic inside an operation rolled its transaction back when the transaction dropped, so the connection
            // is still consistent and a poisoned lock can be taken over.
            let mut connection = inner
                .connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = inner.clock.now();
            operation(&mut connection, now)
        })
        .await
        .map_err(|error| Error::backend("a metadata operation did not finish", error))?
    }

    /// Runs `operation` inside a `BEGIN IMMEDIATE` transaction that commits only if it succeeds.
    async fn write<T, F>(&self, operation: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, Timestamp) -> Result<T> + Send + 'static,
    {
        self.call(move |connection, now| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = operation(&transaction, now)?;
            transaction.commit()?;
            Ok(value)
        })
        .await
    }
}

fn open_connection(path: &Path) -> Result<Connection> {
    file::create_private(path)?;
    let mut connection = Connection::open(path).map_err(|error| Error::Unavailable {
        message: format!("cannot open the SQLite database {}", path.display()),
        source: Some(Box::new(error)),
    })?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Unavailable {
            message: format!(
                "SQLite would not put {} in WAL mode (it stayed in {mode:?} mode); is it on a network file system?",
                path.display()
            ),
            source: None,
        });
    }
    // WAL with synchronous=NORMAL is durable against process crashes and keeps the database consistent after power loss.
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    migrations::migrate(&mut connection)?;
    file::make_private(path)?;
    Ok(connection)
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Unavailable {
                message: format!(
                    "the SQLite database stayed locked by another process for over {} s",
                    BUSY_TIMEOUT.as_secs()
                ),
                source: Some(Box::new(error)),
            },
            Some(ErrorCode::CannotOpen | ErrorCode::DiskFull | ErrorCode::ReadOnly) => {
                Error::Unavailable {
                    message: format!("SQLite cannot write the database: {error}"),
                    source: Some(Box::new(error)),
                }
            }
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                Error::Corrupt(format!("SQLite says: {error}"))
            }
            _ => match error {
                rusqlite::Error::FromSqlConversionFailure(column, _, cause) => {
                    Error::Corrupt(format!("column {column}: {cause}"))
                }
                rusqlite::Error::IntegralValueOutOfRange(column, value) => Error::Corrupt(format!(
                    "column {column} holds {value}, which is out of range"
                )),
                other => Error::backend(format!("SQLite: {other}"), other),
            },
        }
    }
}

impl Store for SqliteStore {
    async fn create_account(&self, new: NewAccount) -> Result<Account> {
        self.write(move |transaction, now| account::create(transaction, new, now))
            .await
    }

    async fn account(&self, id: AccountId) -> Result<Account> {
        self.call(move |connection, _| account::by_id(connection, id))
            .await
    }

    async fn account_by_email(&self, email: &str) -> Result<Account> {
        let email = email.to_string();
        self.call(move |connection, _| account::by_email(connection, &email))
            .await
    }

    async fn accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>> {
        let ids = ids.to_vec();
        self.call(move |connection, _| account::many(connection, &ids))
            .await
    }

    async fn set_display_name(&self, id: AccountId, display_name: &str) -> Result<Account> {
        let display_name = display_name.to_string();
        self.write(move |transaction, _| account::set_display_name(transaction, id, &display_name))
            .await
    }

    async fn set_password_hash(&self, id: AccountId, password_hash: &str) -> Result<()> {
        let password_hash = password_hash.to_string();
        self.write(move |transaction, _| {
            account::set_password_hash(transaction, id, &password_hash)
        })
        .await
    }

    async fn create_token(&self, new: NewToken) -> Result<SignInToken> {
        self.write(move |transaction, now| token::create(transaction, new, now))
            .await
    }

    async fn token(&self, hash: &TokenHash) -> Result<SignInToken> {
        let hash = *hash;
        self.call(move |connection, now| token::live(connection, &hash, now))
            .await
    }

    async fn revoke_token(&self, hash: &TokenHash) -> Result<()> {
        let hash = *hash;
        self.write(move |transaction, _| token::revoke(transaction, &hash))
            .await
    }

    async fn revoke_account_tokens(&self, account: AccountId) -> Result<()> {
        self.write(move |transaction, _| token::revoke_all(transaction, account))
            .await
    }

    async fn create_project(&self, owner: AccountId, title: &str) -> Result<Project> {
        let title = title.to_string();
        self.write(move |transaction, now| project::create(transaction, owner, &title, now))
            .await
    }

    async fn project(&self, id: ProjectId) -> Result<Project> {
        self.call(move |connection, _| project::live(connection, id))
            .await
    }

    async fn rename_project(
        &self,
        id: ProjectId,
        actor: AccountId,
        title: &str,
    ) -> Result<Project> {
        let title = title.to_string();
        self.write(move |transaction, _| project::rename(transaction, id, actor, &title))
            .await
    }

    async fn delete_project(&self, id: ProjectId, actor: AccountId) -> Result<()> {
        self.write(move |transaction, now| project::delete(transaction, id, actor, now))
            .await
    }

    async fn projects_for_account(&self, account: AccountId) -> Result<Vec<Membership>> {
        self.call(move |connection, _| project::for_account(connection, account))
            .await
    }

    async fn collaborators(&self, project: ProjectId) -> Result<Vec<Collaborator>> {
        self.call(move |connection, _| project::collaborators(connection, project))
            .await
    }

    async fn role(&self, project: ProjectId, account: AccountId) -> Result<Option<Role>> {
        self.call(move |connection, _| project::role(connection, project, account))
            .await
    }

    async fn invite_collaborator(
        &self,
        project: ProjectId,
        inviter: AccountId,
        email: &str,
    ) -> Result<Collaborator> {
        let email = email.to_string();
        self.write(move |transaction, now| {
            project::invite(transaction, project, inviter, &email, now)
        })
        .await
    }

    async fn remove_collaborator(
        &self,
        project: ProjectId,
        actor: AccountId,
        account: AccountId,
    ) -> Result<()> {
        self.write(move |transaction, _| project::remove(transaction, project, actor, account))
            .await
    }

    async fn leave_project(&self, project: ProjectId, account: AccountId) -> Result<()> {
        self.write(move |transaction, _| project::leave(transaction, project, account))
            .await
    }

    async fn transfer_ownership(
        &self,
        project: ProjectId,
        actor: AccountId,
        new_owner: AccountId,
    ) -> Result<Project> {
        self.write(move |transaction, _| project::transfer(transaction, project, actor, new_owner))
            .await
    }

    async fn add_datacenter(&self, name: &str) -> Result<Datacenter> {
        let name = name.to_string();
        self.write(move |transaction, now| host::add_datacenter(transaction, &name, now))
            .await
    }

    async fn datacenters(&self) -> Result<Vec<Datacenter>> {
        self.call(|connection, _| host::datacenters(connection))
            .await
    }

    async fn remove_datacenter(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |transaction, _| host::remove_datacenter(transaction, &name))
            .await
    }

    async fn add_host(&self, new: NewHost) -> Result<Host> {
        self.write(move |transaction, now| host::add(transaction, new, now))
            .await
    }

    async fn host(&self, id: HostId) -> Result<Host> {
        self.call(move |connection, _| host::by_id(connection, id))
            .await
    }

    async fn hosts(&self) -> Result<Vec<Host>> {
        self.call(|connection, _| host::all(connection)).await
    }

    async fn hosts_in(&self, datacenter: &str) -> Result<Vec<Host>> {
        let datacenter = datacenter.to_string();
        self.call(move |connection, _| host::in_datacenter(connection, &datacenter))
            .await
    }

    async fn set_host_state(&self, id: HostId, state: HostState) -> Result<Host> {
        self.write(move |transaction, _| host::set_state(transaction, id, state))
            .await
    }

    async fn set_host_weight(&self, id: HostId, weight: u32) -> Result<Host> {
        self.write(move |transaction, _| host::set_weight(transaction, id, weight))
            .await
    }

    async fn remove_host(&self, id: HostId) -> Result<()> {
        self.write(move |transaction, _| host::remove(transaction, id))
            .await
    }

    async fn publish_layout(&self, base: Option<u64>, hosts: Vec<LayoutHost>) -> Result<Layout> {
        self.write(move |transaction, now| layout::publish(transaction, base, hosts, now))
            .await
    }

    async fn layout(&self, version: u64) -> Result<Layout> {
        self.call(move |connection, _| layout::by_version(connection, version))
            .await
    }

    async fn latest_layout(&self) -> Result<Option<Layout>> {
        self.call(|connection, _| layout::latest(connection)).await
    }

    async fn set_placement(
        &self,
        project: ProjectId,
        host: HostId,
        role: PlacementRole,
    ) -> Result<Placement> {
        self.write(move |transaction, now| placement::set(transaction, project, host, role, now))
            .await
    }

    async fn remove_placement(&self, project: ProjectId, host: HostId) -> Result<()> {
        self.write(move |transaction, now| placement::remove(transaction, project, host, now))
            .await
    }

    async fn placements(&self, project: ProjectId) -> Result<Vec<Placement>> {
        self.call(move |connection, _| placement::of_project(connection, project))
            .await
    }

    async fn placements_on_host(&self, host: HostId) -> Result<Vec<Placement>> {
        self.call(move |connection, _| placement::on_host(connection, host))
            .await
    }

    async fn acquire_lease(
        &self,
        project: ProjectId,
        host: HostId,
        ttl: Duration,
    ) -> Result<Lease> {
        self.write(move |transaction, now| lease::acquire(transaction, project, host, ttl, now))
            .await
    }

    async fn renew_lease(&self, project: ProjectId, host: HostId, ttl: Duration) -> Result<Lease> {
        self.write(move |transaction, now| lease::renew(transaction, project, host, ttl, now))
            .await
    }

    async fn release_lease(&self, project: ProjectId, host: HostId) -> Result<()> {
        self.write(move |transaction, now| lease::release(transaction, project, host, now))
            .await
    }

    async fn lease(&self, project: ProjectId) -> Result<Option<Lease>> {
        self.call(move |connection, now| lease::live(connection, project, now))
            .await
    }
}
