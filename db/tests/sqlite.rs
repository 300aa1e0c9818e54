//! The SQLite backend: the whole conformance suite (directly and through `Db`), then what only a file can show:
//! migrations from an old schema, refusing a newer one, reopening, WAL mode, several connections racing on one file, and
//! damaged rows reported as corruption.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use orrery_db::sqlite::migrations::{self, LATEST_VERSION};
use orrery_db::{
    AccountId, Clock, Db, Error, ManualClock, NewAccount, NewHost, PlacementRole, SqliteStore,
    Store,
};
use rusqlite::Connection;
use tempfile::TempDir;

async fn open(path: &Path, clock: Arc<ManualClock>) -> SqliteStore {
    SqliteStore::open(path, clock)
        .await
        .unwrap_or_else(|error| panic!("opening {}: {error}", path.display()))
}

mod direct {
    use super::*;

    async fn make(clock: Arc<ManualClock>) -> (SqliteStore, TempDir) {
        let folder = tempfile::tempdir().expect("temporary folder");
        let store = open(&folder.path().join("metadata.sqlite"), clock).await;
        (store, folder)
    }

    orrery_db::conformance_tests!(make);
}

mod through_db {
    use super::*;

    async fn make(clock: Arc<ManualClock>) -> (Db, TempDir) {
        let folder = tempfile::tempdir().expect("temporary folder");
        let db = Db::open_sqlite(folder.path().join("metadata.sqlite"), clock)
            .await
            .expect("opening through Db");
        (db, folder)
    }

    orrery_db::conformance_tests!(make);
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(orrery_db::conformance::START))
}

fn new_account(email: &str) -> NewAccount {
    NewAccount {
        email: email.into(),
        display_name: "Ada".into(),
        password_hash: "$argon2id$hash".into(),
    }
}

/// The schema as version 1 shipped it, written out here by hand so later edits to the migrations cannot change it.
const VERSION_1_SCHEMA: &str = "
CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL, applied INTEGER NOT NULL) STRICT;
CREATE TABLE accounts (
    id BLOB PRIMARY KEY NOT NULL, email TEXT NOT NULL, email_key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL, password_hash TEXT NOT NULL, created INTEGER NOT NULL
) STRICT;
CREATE TABLE sign_in_tokens (
    hash BLOB PRIMARY KEY NOT NULL, account BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created INTEGER NOT NULL, expires INTEGER NOT NULL
) STRICT;
CREATE INDEX sign_in_tokens_by_account ON sign_in_tokens (account);
CREATE TABLE projects (
    id BLOB PRIMARY KEY NOT NULL, title TEXT NOT NULL, owner BLOB NOT NULL REFERENCES accounts (id),
    created INTEGER NOT NULL, deleted INTEGER
) STRICT;
CREATE TABLE collaborators (
    project BLOB NOT NULL REFERENCES projects (id), account BLOB NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL CHECK (role IN ('owner', 'collaborator')), added INTEGER NOT NULL,
    PRIMARY KEY (project, account)
) STRICT, WITHOUT ROWID;
CREATE INDEX collaborators_by_account ON collaborators (account, project);
CREATE UNIQUE INDEX one_owner_per_project ON collaborators (project) WHERE role = 'owner';
INSERT INTO schema_version (version, applied) VALUES (1, 1700000000000);
";

fn schema_version(path: &Path) -> u32 {
    let connection = Connection::open(path).expect("raw connection");
    migrations::current_version(&connection).expect("reading the schema version")
}

#[tokio::test]
async fn a_version_1_database_is_migrated_and_keeps_its_data() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("old.sqlite");
    let account = AccountId::random();
    let project = orrery_db::ProjectId::random();
    {
        let connection = Connection::open(&path).expect("raw connection");
        connection
            .execute_batch(VERSION_1_SCHEMA)
            .expect("version 1 schema");
        connection
            .execute(
                "INSERT INTO accounts VALUES (?1, 'Old.User@example.org', 'old.user@example.org', 'Old User', '$h', 1)",
                [&account.as_bytes()[..]],
            )
            .expect("an old account");
        connection
            .execute(
                "INSERT INTO projects (id, title, owner, created) VALUES (?1, 'Old project', ?2, 2)",
                [&project.as_bytes()[..], &account.as_bytes()[..]],
            )
            .expect("an old project");
        connection
            .execute(
                "INSERT INTO collaborators VALUES (?1, ?2, 'owner', 2)",
                [&project.as_bytes()[..], &account.as_bytes()[..]],
            )
            .expect("its owner");
    }
    assert_eq!(schema_version(&path), 1);

    let store = open(&path, clock()).await;
    assert_eq!(schema_version(&path), LATEST_VERSION);
    let old = store
        .account_by_email("old.user@EXAMPLE.org")
        .await
        .expect("the old account survives");
    assert_eq!(old.id, account);
    assert_eq!(old.display_name, "Old User");
    let projects = store
        .projects_for_account(account)
        .await
        .expect("its projects");
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].project.title, "Old project");

    // The tables of later versions work.
    store
        .add_datacenter("dc1")
        .await
        .expect("a version 2 table");
    let host = store
        .add_host(NewHost {
            datacenter: "dc1".into(),
            address: "127.0.0.2:7100".into(),
            weight: 1,
        })
        .await
        .expect("a host");
    store
        .set_placement(project, host.id, PlacementRole::Primary)
        .await
        .expect("a copy of the old project");
    store
        .acquire_lease(project, host.id, Duration::from_secs(10))
        .await
        .expect("a lease on the old project");

    // Opening again applies nothing twice.
    drop(store);
    let reopened = open(&path, clock()).await;
    assert_eq!(schema_version(&path), LATEST_VERSION);
    assert_eq!(reopened.hosts_in("dc1").await.expect("hosts"), vec![host]);
}

#[tokio::test]
async fn a_database_from_a_newer_orrery_is_refused_untouched() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("future.sqlite");
    let store = open(&path, clock()).await;
    store
        .create_account(new_account("ada@example.org"))
        .await
        .expect("an account");
    drop(store);
    let newer = LATEST_VERSION + 1;
    {
        let connection = Connection::open(&path).expect("raw connection");
        connection
            .execute_batch(&format!(
                "INSERT INTO schema_version (version, applied) VALUES ({newer}, 1);
                 CREATE TABLE from_the_future (x INTEGER);"
            ))
            .expect("pretending a newer Orrery wrote it");
    }

    let error = SqliteStore::open(&path, clock())
        .await
        .expect_err("a newer schema must be refused");
    match &error {
        Error::SchemaTooNew { found, supported } => {
            assert_eq!(*found, newer);
            assert_eq!(*supported, LATEST_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&newer.to_string()) && message.contains("upgrade Orrery"),
        "the message says what happened and what to do: {message}"
    );
    assert_eq!(
        schema_version(&path),
        newer,
        "nothing was rolled back or migrated"
    );
}

#[tokio::test]
async fn the_file_is_in_wal_mode_and_declares_its_foreign_keys() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("metadata.sqlite");
    let store = open(&path, clock()).await;
    let connection = Connection::open(&path).expect("raw connection");
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    // The store turns foreign keys on for its own connection; here a second connection shows the schema declares them.
    connection
        .execute_batch("PRAGMA foreign_keys = ON")
        .expect("pragma");
    let orphan = connection.execute(
        "INSERT INTO collaborators VALUES (?1, ?2, 'owner', 1)",
        [&[1u8; 16][..], &[2u8; 16][..]],
    );
    assert!(orphan.is_err(), "the schema declares the foreign keys");
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_connections_to_one_file_still_keep_the_rules() {
    const CONNECTIONS: usize = 6;
    const ATTEMPTS: usize = 60;
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("shared.sqlite");
    let clock = clock();
    // Stores on one file behave like the hub and `orrery admin` processes side by side: each has its own connection,
    // so only SQLite's locking (BEGIN IMMEDIATE, the busy timeout) keeps them apart.
    let mut stores = Vec::new();
    for _ in 0..CONNECTIONS {
        stores.push(open(&path, Arc::clone(&clock)).await);
    }

    let mut sign_ups = Vec::new();
    for attempt in 0..4 * CONNECTIONS {
        let store = stores[attempt % CONNECTIONS].clone();
        sign_ups.push(tokio::spawn(async move {
            store.create_account(new_account("Race@Example.org")).await
        }));
    }
    let mut winners = 0;
    for task in sign_ups {
        match task.await.expect("task") {
            Ok(_) => winners += 1,
            Err(Error::AlreadyExists(_)) => {}
            Err(other) => panic!("expected AlreadyExists, got {other:?}"),
        }
    }
    assert_eq!(winners, 1, "one account per address across connections");

    let owner = stores[0]
        .account_by_email("race@example.org")
        .await
        .expect("the winner");
    let project = stores[1]
        .create_project(owner.id, "Shared file")
        .await
        .expect("project");
    stores[0].add_datacenter("dc1").await.expect("dc");
    let holding = Arc::new(AtomicUsize::new(0));
    let mut contenders = Vec::new();
    for (index, store) in stores.iter().enumerate() {
        let host = store
            .add_host(NewHost {
                datacenter: "dc1".into(),
                address: format!("127.0.0.{}:7100", index + 2),
                weight: 1,
            })
            .await
            .expect("host");
        store
            .set_placement(project.id, host.id, PlacementRole::Replica)
            .await
            .expect("a copy on every host");
        let (store, holding, project) = (store.clone(), Arc::clone(&holding), project.id);
        contenders.push(tokio::spawn(async move {
            let mut tenures = 0;
            for _ in 0..ATTEMPTS {
                match store
                    .acquire_lease(project, host.id, Duration::from_secs(10))
                    .await
                {
                    Ok(_) => {
                        assert_eq!(
                            holding.fetch_add(1, Ordering::SeqCst),
                            0,
                            "two holders at once"
                        );
                        tokio::task::yield_now().await;
                        holding.fetch_sub(1, Ordering::SeqCst);
                        store
                            .release_lease(project, host.id)
                            .await
                            .expect("release");
                        tenures += 1;
                    }
                    Err(Error::Conflict(_)) => tokio::task::yield_now().await,
                    Err(other) => panic!("expected Conflict, got {other:?}"),
                }
            }
            tenures
        }));
    }
    let mut tenures = 0;
    for task in contenders {
        tenures += task.await.expect("task");
    }
    assert!(tenures > 0, "somebody held the lease");
    assert_eq!(clock.now(), orrery_db::conformance::START);
}

#[tokio::test]
async fn damaged_rows_are_reported_as_corruption_not_panics() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("damaged.sqlite");
    let store = open(&path, clock()).await;
    {
        let connection = Connection::open(&path).expect("raw connection");
        connection
            .execute(
                "INSERT INTO accounts VALUES (x'0102', 'short@example.org', 'short@example.org', 'Short', '$h', 1)",
                [],
            )
            .expect("an account whose id is 2 bytes long");
    }
    let error = store
        .account_by_email("short@example.org")
        .await
        .expect_err("a 2-byte id cannot be read back");
    assert!(matches!(error, Error::Corrupt(_)), "got {error:?}");
    assert_eq!(error.http_status(), 500);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_clear_error() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("notes.txt");
    std::fs::write(
        &path,
        "these are not the tables you are looking for\n".repeat(100),
    )
    .expect("writing a text file");
    let error = SqliteStore::open(&path, clock())
        .await
        .expect_err("a text file is not a database");
    assert!(matches!(error, Error::Corrupt(_)), "got {error:?}");
}
