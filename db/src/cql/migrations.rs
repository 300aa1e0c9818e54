//! The CQL schema as an ordered list of migrations, applied on connect, and the table layout they make.
//!
//! `schema_migrations` has a row per applied version in one partition (`component = 'metadata'`); the keyspace's version
//! is the largest. A keyspace whose version is above the last migration here was migrated by a newer Orrery and is
//! refused ([`Error::SchemaTooNew`]) before anything is changed. Every statement is `CREATE TABLE IF NOT EXISTS` with a
//! fixed id per keyspace and table ([`table_id`]), so two hubs starting at once on a new keyspace, through different
//! nodes, make the same tables, and a migration interrupted halfway is finished by the next connect. Migrations are never edited once released: a change is a new migration appended at the end.
//!
//! Each table answers one query by its key; there are no secondary indexes and nothing reads with ALLOW FILTERING.
//! Ids are `uuid`; times are `bigint` milliseconds from the store's clock.
//!
//! | table | key | answers |
//! |---|---|---|
//! | `accounts` | id | an account by id |
//! | `account_emails` | lower-cased e-mail | the account of an address; `INSERT … IF NOT EXISTS` makes addresses unique |
//! | `sign_in_tokens` | token hash | a sign-in token (TTL sweeps it a day after it expired) |
//! | `account_tokens` | account, hash | an account's tokens, to revoke them all |
//! | `projects` | id | a project (`deleted` set when soft-deleted) |
//! | `project_members` | project, account | a project's members and one member's role |
//! | `account_projects` | account, project | an account's projects |
//! | `datacenters` | `registry = 'datacenters'`, name | every registered datacenter, in one partition |
//! | `hosts` | id | a host |
//! | `datacenter_hosts` | datacenter, id | the hosts of a datacenter (a copy of each host row) |
//! | `layouts` | version | a published layout version |
//! | `latest_layout` | `registry = 'layout'` | the newest layout; publishing is a compare-and-set of its `version` |
//! | `project_placements` | project, host | where a project's copies are |
//! | `host_placements` | host, project | the copies a host holds |
//! | `leases` | project | who runs a project; every change is a compare-and-set of holder, epoch and expiry |

use scylla::client::session::Session;

use super::error::Place;
use crate::{Clock, Error, Result, SystemClock};

/// One schema step.
#[derive(Debug)]
pub struct Migration {
    /// 1, 2, 3, … in order.
    pub version: u32,
    pub description: &'static str,
    /// Each a single CQL statement, idempotent (`IF NOT EXISTS`).
    pub statements: &'static [&'static str],
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "accounts, sign-in tokens, projects and collaborators",
        statements: V1_ACCOUNTS_AND_PROJECTS,
    },
    Migration {
        version: 2,
        description: "datacenters, hosts, layout versions, placements and leases",
        statements: V2_CLUSTER,
    },
];

/// The schema version this code writes.
pub const LATEST_VERSION: u32 = MIGRATIONS.len() as u32;

/// The table recording applied migrations, and the partition they are kept in.
pub const MIGRATIONS_TABLE: &str = "schema_migrations";
pub const MIGRATIONS_COMPONENT: &str = "metadata";

const CREATE_MIGRATIONS_TABLE: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    component text,
    version int,
    description text,
    applied bigint,
    PRIMARY KEY (component, version)
)";

const V1_ACCOUNTS_AND_PROJECTS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS accounts (
        id uuid PRIMARY KEY,
        email text,
        display_name text,
        password_hash text,
        created bigint
    )",
    "CREATE TABLE IF NOT EXISTS account_emails (
        email_key text PRIMARY KEY,
        account uuid
    )",
    "CREATE TABLE IF NOT EXISTS sign_in_tokens (
        hash blob PRIMARY KEY,
        account uuid,
        created bigint,
        expires bigint
    )",
    "CREATE TABLE IF NOT EXISTS account_tokens (
        account uuid,
        hash blob,
        expires bigint,
        PRIMARY KEY (account, hash)
    )",
    "CREATE TABLE IF NOT EXISTS projects (
        id uuid PRIMARY KEY,
        title text,
        owner uuid,
        created bigint,
        deleted bigint
    )",
    "CREATE TABLE IF NOT EXISTS project_members (
        project uuid,
        account uuid,
        role text,
        added bigint,
        PRIMARY KEY (project, account)
    )",
    "CREATE TABLE IF NOT EXISTS account_projects (
        account uuid,
        project uuid,
        role text,
        added bigint,
        PRIMARY KEY (account, project)
    )",
];

const V2_CLUSTER: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS datacenters (
        registry text,
        name text,
        created bigint,
        PRIMARY KEY (registry, name)
    )",
    "CREATE TABLE IF NOT EXISTS hosts (
        id uuid PRIMARY KEY,
        datacenter text,
        address text,
        weight int,
        state text,
        created bigint
    )",
    "CREATE TABLE IF NOT EXISTS datacenter_hosts (
        datacenter text,
        id uuid,
        address text,
        weight int,
        state text,
        created bigint,
        PRIMARY KEY (datacenter, id)
    )",
    // Each host as (id, datacenter, weight), a copy, so later changes to the host do not rewrite history.
    "CREATE TABLE IF NOT EXISTS layouts (
        version bigint PRIMARY KEY,
        created bigint,
        hosts frozen<list<tuple<uuid, text, int>>>
    )",
    "CREATE TABLE IF NOT EXISTS latest_layout (
        registry text PRIMARY KEY,
        version bigint,
        created bigint,
        hosts frozen<list<tuple<uuid, text, int>>>
    )",
    "CREATE TABLE IF NOT EXISTS project_placements (
        project uuid,
        host uuid,
        role text,
        updated bigint,
        PRIMARY KEY (project, host)
    )",
    "CREATE TABLE IF NOT EXISTS host_placements (
        host uuid,
        project uuid,
        role text,
        updated bigint,
        PRIMARY KEY (host, project)
    )",
    // The row outlives releases (holder null) so the epoch never goes back.
    "CREATE TABLE IF NOT EXISTS leases (
        project uuid PRIMARY KEY,
        holder uuid,
        epoch bigint,
        acquired bigint,
        expires bigint
    )",
];

async fn run(session: &Session, place: &Place, cql: &str) -> Result<()> {
    session
        .query_unpaged(cql, ())
        .await
        .map(drop)
        .map_err(|error| place.execution_error(error))
}

/// Where table ids come from: Orrery's own UUID namespace, so no other name-based id collides with ours.
const TABLE_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6f72_7265_7279_4d65_7461_6461_7461_5462);

/// The id every hub gives `keyspace.table` when it creates it. Cassandra (before 5.1) gives each table a random id on
/// the node that coordinates its creation, so two hubs creating a new keyspace's tables at once through different nodes
/// would make two tables of one name that the cluster never reconciles; with one id for each name they are the same
/// table.
pub fn table_id(keyspace: &str, table: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &TABLE_ID_NAMESPACE,
        format!("{keyspace}.{table}").as_bytes(),
    )
}

/// Runs a `CREATE TABLE IF NOT EXISTS name (…)` with the table's fixed id, falling back to the plain statement where
/// the database does not take `WITH ID` (some CQL servers do not); any other statement runs as it is.
async fn create(session: &Session, place: &Place, keyspace: &str, cql: &str) -> Result<()> {
    let table = cql
        .trim_start()
        .strip_prefix("CREATE TABLE IF NOT EXISTS ")
        .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == '(').next());
    let Some(table) = table else {
        return run(session, place, cql).await;
    };
    let id = table_id(keyspace, table);
    let has_options = cql
        .split_whitespace()
        .any(|word| word.eq_ignore_ascii_case("WITH"));
    let joiner = if has_options { "AND" } else { "WITH" };
    match run(
        session,
        place,
        &format!("{} {joiner} ID = {id}", cql.trim_end()),
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(error @ Error::Unavailable { .. }) => Err(error),
        Err(_) => run(session, place, cql).await,
    }
}

/// The keyspace's schema version: 0 for a new keyspace.
pub(super) async fn current_version(session: &Session, place: &Place) -> Result<u32> {
    let rows = session
        .query_unpaged(
            "SELECT version FROM schema_migrations WHERE component = ?",
            (MIGRATIONS_COMPONENT,),
        )
        .await
        .map_err(|error| place.execution_error(error))?
        .into_rows_result()
        .map_err(super::error::rows_error)?;
    let mut found = 0;
    for row in rows
        .rows::<(i32,)>()
        .map_err(super::error::typed_rows_error)?
    {
        let (version,) = row.map_err(super::error::row_error)?;
        let version = u32::try_from(version).map_err(|_| {
            Error::Corrupt(format!(
                "schema_migrations holds {version}, not a version number"
            ))
        })?;
        found = found.max(version);
    }
    Ok(found)
}

/// Brings the keyspace (already the session's) to [`LATEST_VERSION`], or refuses one migrated by a newer Orrery.
pub(super) async fn migrate(session: &Session, place: &Place, keyspace: &str) -> Result<()> {
    create(session, place, keyspace, CREATE_MIGRATIONS_TABLE).await?;
    let found = current_version(session, place).await?;
    if found > LATEST_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: LATEST_VERSION,
        });
    }
    for migration in MIGRATIONS
        .iter()
        .filter(|migration| migration.version > found)
    {
        for statement in migration.statements {
            create(session, place, keyspace, statement)
                .await
                .map_err(|error| {
                    let reason = error.to_string();
                    match error {
                        Error::Unavailable { source, .. } => Error::Unavailable {
                            message: format!(
                                "schema migration {} ({}) could not finish: {reason}",
                                migration.version, migration.description
                            ),
                            source,
                        },
                        Error::Backend { source, .. } => Error::Backend {
                            message: format!(
                                "schema migration {} ({}) failed: {reason}",
                                migration.version, migration.description
                            ),
                            source,
                        },
                        other => other,
                    }
                })?;
        }
        session
            .query_unpaged(
                "INSERT INTO schema_migrations (component, version, description, applied) VALUES (?, ?, ?, ?)",
                (
                    MIGRATIONS_COMPONENT,
                    i32::try_from(migration.version).unwrap_or(i32::MAX),
                    migration.description,
                    SystemClock.now().as_millis(),
                ),
            )
            .await
            .map_err(|error| place.execution_error(error))?;
    }
    Ok(())
}
