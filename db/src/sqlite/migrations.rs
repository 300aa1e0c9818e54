//! The SQLite schema as an ordered list of migrations, applied in one transaction when a database is opened.
//!
//! `schema_version` has one row per applied migration; the database's version is the largest. A database whose version is
//! above the last migration here was written by a newer Orrery and is refused ([`Error::SchemaTooNew`]) before anything
//! is touched. Migrations are never edited once released: a change is a new migration appended at the end.

use rusqlite::{Connection, TransactionBehavior};

use crate::{Clock, Error, Result};

/// One schema step.
#[derive(Debug)]
pub struct Migration {
    /// 1, 2, 3, … in order.
    pub version: u32,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "accounts, sign-in tokens, projects and collaborators",
        sql: V1_ACCOUNTS_AND_PROJECTS,
    },
    Migration {
        version: 2,
        description: "datacenters, hosts, layout versions, placements and leases",
        sql: V2_CLUSTER,
    },
];

/// The schema version this code writes.
pub const LATEST_VERSION: u32 = MIGRATIONS.len() as u32;

const CREATE_SCHEMA_VERSION: &str = "
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY NOT NULL,
    applied INTEGER NOT NULL
) STRICT;
";

const V1_ACCOUNTS_AND_PROJECTS: &str = "
CREATE TABLE accounts (
    id BLOB PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created INTEGER NOT NULL
) STRICT;

CREATE TABLE sign_in_tokens (
    hash BLOB PRIMARY KEY NOT NULL,
    account BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
) STRICT;
CREATE INDEX sign_in_tokens_by_account ON sign_in_tokens (account);

CREATE TABLE projects (
    id BLOB PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    owner BLOB NOT NULL REFERENCES accounts (id),
    created INTEGER NOT NULL,
    deleted INTEGER
) STRICT;

CREATE TABLE collaborators (
    project BLOB NOT NULL REFERENCES projects (id),
    account BLOB NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL CHECK (role IN ('owner', 'collaborator')),
    added INTEGER NOT NULL,
    PRIMARY KEY (project, account)
) STRICT, WITHOUT ROWID;
CREATE INDEX collaborators_by_account ON collaborators (account, project);
CREATE UNIQUE INDEX one_owner_per_project ON collaborators (project) WHERE role = 'owner';
";

const V2_CLUSTER: &str = "
CREATE TABLE datacenters (
    name TEXT PRIMARY KEY NOT NULL,
    created INTEGER NOT NULL
) STRICT;

CREATE TABLE hosts (
    id BLOB PRIMARY KEY NOT NULL,
    datacenter TEXT NOT NULL REFERENCES datacenters (name),
    address TEXT NOT NULL,
    weight INTEGER NOT NULL CHECK (weight > 0),
    state TEXT NOT NULL CHECK (state IN ('active', 'draining')),
    created INTEGER NOT NULL
) STRICT;
CREATE INDEX hosts_by_datacenter ON hosts (datacenter, address);

CREATE TABLE layout_versions (
    version INTEGER PRIMARY KEY NOT NULL CHECK (version > 0),
    created INTEGER NOT NULL
) STRICT;

-- A copy of each host as the version saw it, without a foreign key: removing a host must not rewrite history.
CREATE TABLE layout_hosts (
    version INTEGER NOT NULL REFERENCES layout_versions (version),
    host BLOB NOT NULL,
    datacenter TEXT NOT NULL,
    weight INTEGER NOT NULL CHECK (weight > 0),
    PRIMARY KEY (version, host)
) STRICT, WITHOUT ROWID;

CREATE TABLE placements (
    project BLOB NOT NULL REFERENCES projects (id),
    host BLOB NOT NULL REFERENCES hosts (id),
    role TEXT NOT NULL CHECK (role IN ('primary', 'replica')),
    updated INTEGER NOT NULL,
    PRIMARY KEY (project, host)
) STRICT, WITHOUT ROWID;
CREATE INDEX placements_by_host ON placements (host, project);

-- The row outlives releases (holder NULL) so the epoch never goes back.
CREATE TABLE leases (
    project BLOB PRIMARY KEY NOT NULL REFERENCES projects (id),
    holder BLOB REFERENCES hosts (id),
    epoch INTEGER NOT NULL CHECK (epoch > 0),
    acquired INTEGER NOT NULL,
    expires INTEGER NOT NULL
) STRICT;
CREATE INDEX leases_by_holder ON leases (holder);
";

/// The database's schema version: 0 for a new, empty file.
pub fn current_version(connection: &Connection) -> Result<u32> {
    let has_table: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version')",
        [],
        |row| row.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    let version: Option<i64> =
        connection.query_row("SELECT max(version) FROM schema_version", [], |row| {
            row.get(0)
        })?;
    let version = version.unwrap_or(0);
    u32::try_from(version).map_err(|_| {
        Error::Corrupt(format!(
            "schema_version holds {version}, not a version number"
        ))
    })
}

/// Brings the schema to [`LATEST_VERSION`], all or nothing, or refuses a database from a newer Orrery.
pub(crate) fn migrate(connection: &mut Connection) -> Result<()> {
    // IMMEDIATE: two processes opening one new file must not both apply migration 1.
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    transaction.execute_batch(CREATE_SCHEMA_VERSION)?;
    let found = current_version(&transaction)?;
    if found > LATEST_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: LATEST_VERSION,
        });
    }
    let applied = crate::SystemClock.now();
    for migration in MIGRATIONS
        .iter()
        .filter(|migration| migration.version > found)
    {
        transaction.execute_batch(migration.sql).map_err(|error| {
            Error::backend(
                format!(
                    "schema migration {} ({}) failed",
                    migration.version, migration.description
                ),
                error,
            )
        })?;
        transaction.execute(
            "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)",
            (migration.version, applied),
        )?;
    }
    transaction.commit()?;
    Ok(())
}
