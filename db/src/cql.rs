//! The CQL backend: Apache Cassandra (or ScyllaDB) through the `scylla` driver, for many hubs and hosts in several
//! datacenters (DESIGN.md §7).
//!
//! Connecting picks the local datacenter (the URL's `dc`, else the contact point's own), routes every request to that
//! datacenter's replicas (token-aware, DC-aware, no failover to other datacenters, so LOCAL_QUORUM means it), creates
//! the keyspace with NetworkTopologyStrategy when it is missing, migrates the schema (`cql/migrations.rs`, where the
//! table layout is) and prepares every statement once.
//!
//! Reads and writes run at LOCAL_QUORUM. Each table answers one query by key; rows kept in two directions (members,
//! placements, hosts by datacenter) are written together in a logged batch. Lightweight transactions (Paxos, serial
//! consistency SERIAL, so exclusive across datacenters) are used only where a rule needs compare-and-set: one account
//! per e-mail address, publishing a layout version, and leases. Every other rule is a read before the write, as the
//! SQLite backend does inside a transaction; here two writers can interleave, which the rules tolerate (a second
//! `dc add` of the same name, say, is harmless).
//! Times are the store's [`Clock`] in milliseconds, and expiry is always judged against it: Cassandra TTLs only sweep
//! rows long after they expired.
//!
//! A compare-and-set whose request failed (a timeout, a broken connection) may still have been applied, so the row is
//! read again at SERIAL, which completes any unfinished round, and the answer follows what is actually stored.

mod account;
mod error;
mod host;
mod layout;
mod lease;
pub mod migrations;
mod options;
mod placement;
mod project;
mod replication;
mod token;

use std::sync::Arc;
use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use scylla::response::query_result::QueryResult;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::serialize::batch::BatchValues;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use scylla::value::{CqlValue, Row};

pub use options::{CqlOptions, DEFAULT_KEYSPACE, DEFAULT_PORT, DEFAULT_REQUEST_TIMEOUT};

use self::error::Place;
use crate::{
    Account, AccountId, Clock, Collaborator, Datacenter, Error, Host, HostId, HostState, Layout,
    LayoutHost, Lease, Membership, NewAccount, NewHost, NewToken, Placement, PlacementRole,
    Project, ProjectId, Result, Role, SignInToken, Store, Timestamp, TokenHash,
};

/// Longest the first TCP connection to a contact point may take (less when the request timeout is shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The Cassandra metadata store. Cloning it is cheap and shares the session (its connection pools and prepared statements).
#[derive(Clone)]
pub struct CqlStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CqlStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &self.inner;
        formatter
            .debug_struct("CqlStore")
            .field("keyspace", &inner.options.keyspace)
            .field("contact_points", &inner.place.contact_points)
            .field("local_datacenter", &inner.place.local_datacenter)
            .field("clock", &inner.clock)
            .finish_non_exhaustive()
    }
}

struct Inner {
    session: Session,
    statements: Statements,
    clock: Arc<dyn Clock>,
    options: CqlOptions,
    place: Place,
}

/// Every statement the store runs, prepared once at connect, grouped by the module that runs them.
struct Statements {
    account: account::Statements,
    token: token::Statements,
    project: project::Statements,
    host: host::Statements,
    layout: layout::Statements,
    placement: placement::Statements,
    lease: lease::Statements,
    replication: replication::Statements,
}

impl CqlStore {
    /// Connects to the cluster, creates the keyspace when missing, migrates its schema and prepares every statement.
    ///
    /// Fails with `Unavailable` when no contact point answers, `NotFound` when `options.local_datacenter` (or a
    /// datacenter in `options.replication`) is not one the cluster has, and [`Error::SchemaTooNew`] when a newer
    /// Orrery migrated the keyspace.
    pub async fn connect(options: CqlOptions, clock: Arc<dyn Clock>) -> Result<CqlStore> {
        let options = checked(options)?;
        let mut place = Place {
            contact_points: options.contact_points.join(", "),
            local_datacenter: options
                .local_datacenter
                .clone()
                .unwrap_or_else(|| "the local datacenter".to_string()),
        };
        let mut profile_handle = profile(&options, None).into_handle();
        let builder = SessionBuilder::new()
            .known_nodes(&options.contact_points)
            .connection_timeout(options.request_timeout.min(CONNECT_TIMEOUT))
            .metadata_request_clientside_timeout(options.request_timeout)
            // Below the client side's, so a server that honours it (ScyllaDB) reports its own timeout first.
            .metadata_request_serverside_timeout(options.request_timeout * 4 / 5)
            .keyspaces_to_fetch([options.keyspace.clone()])
            // Client-side timestamps that only go up: one process's writes to a row land in the order it made them,
            // whichever node coordinates each.
            .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()))
            .default_execution_profile_handle(profile_handle.clone());
        let building = builder.build();
        // The driver retries unreachable contact points on its own; the caller asked for an answer within the timeout.
        let session = match tokio::time::timeout(options.request_timeout, building).await {
            Ok(built) => built.map_err(|error| place.connect_error(error))?,
            Err(_) => {
                return Err(Error::Unavailable {
                    message: format!(
                        "cannot reach the Cassandra cluster at {} within {} ms",
                        place.contact_points,
                        options.request_timeout.as_millis()
                    ),
                    source: None,
                })
            }
        };

        let local_datacenter = replication::local_datacenter(&session, &options, &place).await?;
        place.local_datacenter = local_datacenter.clone();
        // From here on every request is coordinated by a node of the local datacenter.
        profile_handle.map_to_another_profile(profile(&options, Some(&local_datacenter)));

        replication::ensure_keyspace(&session, &options, &place).await?;
        // Another hub may have just created the keyspace: its row can be readable a moment before the keyspace can be
        // used, so a refusal is retried briefly before it is believed.
        let mut attempts = 0;
        while let Err(error) = session.use_keyspace(options.keyspace.as_str(), false).await {
            attempts += 1;
            if attempts == 10 {
                return Err(place.use_keyspace_error(&options.keyspace, error));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        migrations::migrate(&session, &place, &options.keyspace).await?;

        let preparer = Preparer {
            session: &session,
            place: &place,
        };
        let statements = Statements {
            account: account::Statements::prepare(&preparer).await?,
            token: token::Statements::prepare(&preparer).await?,
            project: project::Statements::prepare(&preparer).await?,
            host: host::Statements::prepare(&preparer).await?,
            layout: layout::Statements::prepare(&preparer).await?,
            placement: placement::Statements::prepare(&preparer).await?,
            lease: lease::Statements::prepare(&preparer).await?,
            replication: replication::Statements::prepare(&preparer).await?,
        };
        Ok(CqlStore {
            inner: Arc::new(Inner {
                session,
                statements,
                clock,
                options,
                place,
            }),
        })
    }

    /// The options this store connected with.
    pub fn options(&self) -> &CqlOptions {
        &self.inner.options
    }

    /// The keyspace holding the tables.
    pub fn keyspace(&self) -> &str {
        &self.inner.options.keyspace
    }

    /// The datacenter whose nodes coordinate this store's requests.
    pub fn local_datacenter(&self) -> &str {
        &self.inner.place.local_datacenter
    }

    /// For logs: "Cassandra keyspace orrery at 127.0.0.1:9042 (local datacenter dc1)".
    pub fn describe(&self) -> String {
        format!(
            "Cassandra keyspace {} at {} (local datacenter {})",
            self.inner.options.keyspace,
            self.inner.place.contact_points,
            self.inner.place.local_datacenter
        )
    }
}

/// Options as given, or `Invalid` for what `from_url` would have refused.
fn checked(options: CqlOptions) -> Result<CqlOptions> {
    if options.contact_points.is_empty() {
        return Err(Error::Invalid(
            "the CQL backend needs at least one contact point (host:port)".into(),
        ));
    }
    options::valid_keyspace(&options.keyspace)?;
    if let Some(datacenter) = &options.local_datacenter {
        crate::datacenter::valid_datacenter_name(datacenter)?;
    }
    for (datacenter, factor) in options.replication.iter().flatten() {
        crate::datacenter::valid_datacenter_name(datacenter)?;
        if *factor == 0 {
            return Err(Error::Invalid(format!(
                "the replication factor for {datacenter} must be at least 1"
            )));
        }
    }
    if options.request_timeout.is_zero() {
        return Err(Error::Invalid(
            "the CQL request timeout must not be zero".into(),
        ));
    }
    Ok(options)
}

/// LOCAL_QUORUM for reads and writes, SERIAL for lightweight transactions, token-aware routing preferring `local`.
fn profile(options: &CqlOptions, local: Option<&str>) -> ExecutionProfile {
    let policy = match local {
        Some(datacenter) => DefaultPolicy::builder()
            .prefer_datacenter(datacenter.to_string())
            .token_aware(true)
            .permit_dc_failover(false)
            .build(),
        None => DefaultPolicy::builder().token_aware(true).build(),
    };
    ExecutionProfile::builder()
        .consistency(Consistency::LocalQuorum)
        .serial_consistency(Some(SerialConsistency::Serial))
        .request_timeout(Some(options.request_timeout))
        .load_balancing_policy(policy)
        .build()
}

/// Prepares statements on the connected session, each marked with how it may be retried and at what consistency it reads.
struct Preparer<'a> {
    session: &'a Session,
    place: &'a Place,
}

impl Preparer<'_> {
    async fn prepare(&self, cql: &str) -> Result<PreparedStatement> {
        self.session
            .prepare(cql)
            .await
            .map_err(|error| match self.place.prepare_error(error) {
                Error::Backend { message, source } => Error::Backend {
                    message: format!("preparing {cql:?}: {message}"),
                    source,
                },
                other => other,
            })
    }

    /// A read or a plain write: running it twice does what running it once does, so the driver may retry it.
    async fn idempotent(&self, cql: &str) -> Result<PreparedStatement> {
        let mut statement = self.prepare(cql).await?;
        statement.set_is_idempotent(true);
        Ok(statement)
    }

    /// A read at SERIAL: it sees the outcome of every lightweight transaction, finishing one left half done.
    async fn serial_read(&self, cql: &str) -> Result<PreparedStatement> {
        let mut statement = self.idempotent(cql).await?;
        statement.set_consistency(Consistency::Serial);
        Ok(statement)
    }

    /// A lightweight transaction (`IF …`): never retried blindly, since a retry of an applied one would report it lost.
    async fn compare_and_set(&self, cql: &str) -> Result<PreparedStatement> {
        let mut statement = self.prepare(cql).await?;
        statement.set_is_idempotent(false);
        statement.set_serial_consistency(Some(SerialConsistency::Serial));
        Ok(statement)
    }

    /// A logged batch of plain writes, applied all or (eventually) not at all.
    async fn batch(&self, cqls: &[&str]) -> Result<Batch> {
        let mut batch = Batch::new(BatchType::Logged);
        for cql in cqls {
            batch.append_statement(self.prepare(cql).await?);
        }
        batch.set_is_idempotent(true);
        Ok(batch)
    }
}

impl Inner {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn execute(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<QueryResult> {
        self.session
            .execute_unpaged(statement, values)
            .await
            .map_err(|error| self.place.execution_error(error))
    }

    /// Runs a write whose result holds nothing.
    async fn write(&self, statement: &PreparedStatement, values: impl SerializeRow) -> Result<()> {
        self.execute(statement, values).await.map(drop)
    }

    async fn write_batch(&self, batch: &Batch, values: impl BatchValues) -> Result<()> {
        self.session
            .batch(batch, values)
            .await
            .map(drop)
            .map_err(|error| self.place.execution_error(error))
    }

    /// The first row a read returns, if any.
    async fn row<R>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Option<R>>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        let rows = self
            .execute(statement, values)
            .await?
            .into_rows_result()
            .map_err(error::rows_error)?;
        rows.maybe_first_row::<R>().map_err(error::first_row_error)
    }

    /// Every row a read returns, page by page.
    async fn rows<R>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Vec<R>>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        let mut all = Vec::new();
        let mut paging = PagingState::start();
        loop {
            let (result, next) = self
                .session
                .execute_single_page(statement, &values, paging)
                .await
                .map_err(|error| self.place.execution_error(error))?;
            let rows = result.into_rows_result().map_err(error::rows_error)?;
            for row in rows.rows::<R>().map_err(error::typed_rows_error)? {
                all.push(row.map_err(error::row_error)?);
            }
            match next {
                PagingStateResponse::HasMorePages { state } => paging = state,
                PagingStateResponse::NoMorePages => return Ok(all),
            }
        }
    }

    /// Runs a lightweight transaction and says whether it was applied.
    /// An `Err` leaves the outcome unknown: the caller reads the row again at SERIAL before answering.
    async fn compare_and_set(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<bool> {
        let row: Option<Row> = self.row(statement, values).await?;
        match row.as_ref().and_then(|row| row.columns.first()) {
            Some(Some(CqlValue::Boolean(applied))) => Ok(*applied),
            _ => Err(Error::Backend {
                message: format!(
                    "a lightweight transaction answered without its [applied] column: {row:?}"
                ),
                source: None,
            }),
        }
    }
}

/// A stored time.
fn timestamp(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis)
}

/// A counter (epoch, layout version) as CQL's signed bigint; ours never pass `i64::MAX`.
fn counter(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::Invalid(format!("{value} is too large to store")))
}

/// Reads a counter written by [`counter`]; a negative one is corruption.
fn read_counter(what: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("{what} is {value}, below zero")))
}

/// Reads a stored capacity weight; CQL's `int` is signed.
fn read_weight(value: i32) -> Result<u32> {
    u32::try_from(value)
        .map_err(|_| Error::Corrupt(format!("a host weight is {value}, below zero")))
}

/// A weight as CQL's `int`; weights above `i32::MAX` are refused rather than wrapped.
fn weight_value(weight: u32) -> Result<i32> {
    i32::try_from(weight).map_err(|_| {
        Error::Invalid(format!(
            "a host's capacity weight of {weight} is too large (at most {})",
            i32::MAX
        ))
    })
}

impl Store for CqlStore {
    async fn create_account(&self, new: NewAccount) -> Result<Account> {
        account::create(&self.inner, new).await
    }

    async fn account(&self, id: AccountId) -> Result<Account> {
        account::by_id(&self.inner, id).await
    }

    async fn account_by_email(&self, email: &str) -> Result<Account> {
        account::by_email(&self.inner, email).await
    }

    async fn accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>> {
        account::many(&self.inner, ids).await
    }

    async fn set_display_name(&self, id: AccountId, display_name: &str) -> Result<Account> {
        account::set_display_name(&self.inner, id, display_name).await
    }

    async fn set_password_hash(&self, id: AccountId, password_hash: &str) -> Result<()> {
        account::set_password_hash(&self.inner, id, password_hash).await
    }

    async fn create_token(&self, new: NewToken) -> Result<SignInToken> {
        token::create(&self.inner, new).await
    }

    async fn token(&self, hash: &TokenHash) -> Result<SignInToken> {
        token::live(&self.inner, hash).await
    }

    async fn revoke_token(&self, hash: &TokenHash) -> Result<()> {
        token::revoke(&self.inner, hash).await
    }

    async fn revoke_account_tokens(&self, account: AccountId) -> Result<()> {
        token::revoke_all(&self.inner, account).await
    }

    async fn create_project(&self, owner: AccountId, title: &str) -> Result<Project> {
        project::create(&self.inner, owner, title).await
    }

    async fn project(&self, id: ProjectId) -> Result<Project> {
        project::live(&self.inner, id).await
    }

    async fn rename_project(
        &self,
        id: ProjectId,
        actor: AccountId,
        title: &str,
    ) -> Result<Project> {
        project::rename(&self.inner, id, actor, title).await
    }

    async fn delete_project(&self, id: ProjectId, actor: AccountId) -> Result<()> {
        project::delete(&self.inner, id, actor).await
    }

    async fn projects_for_account(&self, account: AccountId) -> Result<Vec<Membership>> {
        project::for_account(&self.inner, account).await
    }

    async fn collaborators(&self, project: ProjectId) -> Result<Vec<Collaborator>> {
        project::collaborators(&self.inner, project).await
    }

    async fn role(&self, project: ProjectId, account: AccountId) -> Result<Option<Role>> {
        project::role(&self.inner, project, account).await
    }

    async fn invite_collaborator(
        &self,
        project: ProjectId,
        inviter: AccountId,
        email: &str,
    ) -> Result<Collaborator> {
        project::invite(&self.inner, project, inviter, email).await
    }

    async fn remove_collaborator(
        &self,
        project: ProjectId,
        actor: AccountId,
        account: AccountId,
    ) -> Result<()> {
        project::remove(&self.inner, project, actor, account).await
    }

    async fn leave_project(&self, project: ProjectId, account: AccountId) -> Result<()> {
        project::leave(&self.inner, project, account).await
    }

    async fn transfer_ownership(
        &self,
        project: ProjectId,
        actor: AccountId,
        new_owner: AccountId,
    ) -> Result<Project> {
        project::transfer(&self.inner, project, actor, new_owner).await
    }

    async fn add_datacenter(&self, name: &str) -> Result<Datacenter> {
        host::add_datacenter(&self.inner, name).await
    }

    async fn datacenters(&self) -> Result<Vec<Datacenter>> {
        host::datacenters(&self.inner).await
    }

    async fn remove_datacenter(&self, name: &str) -> Result<()> {
        host::remove_datacenter(&self.inner, name).await
    }

    async fn add_host(&self, new: NewHost) -> Result<Host> {
        host::add(&self.inner, new).await
    }

    async fn host(&self, id: HostId) -> Result<Host> {
        host::by_id(&self.inner, id).await
    }

    async fn hosts(&self) -> Result<Vec<Host>> {
        host::all(&self.inner).await
    }

    async fn hosts_in(&self, datacenter: &str) -> Result<Vec<Host>> {
        host::in_datacenter(&self.inner, datacenter).await
    }

    async fn set_host_state(&self, id: HostId, state: HostState) -> Result<Host> {
        host::set_state(&self.inner, id, state).await
    }

    async fn set_host_weight(&self, id: HostId, weight: u32) -> Result<Host> {
        host::set_weight(&self.inner, id, weight).await
    }

    async fn remove_host(&self, id: HostId) -> Result<()> {
        host::remove(&self.inner, id).await
    }

    async fn publish_layout(&self, base: Option<u64>, hosts: Vec<LayoutHost>) -> Result<Layout> {
        layout::publish(&self.inner, base, hosts).await
    }

    async fn layout(&self, version: u64) -> Result<Layout> {
        layout::by_version(&self.inner, version).await
    }

    async fn latest_layout(&self) -> Result<Option<Layout>> {
        layout::latest(&self.inner).await
    }

    async fn set_placement(
        &self,
        project: ProjectId,
        host: HostId,
        role: PlacementRole,
    ) -> Result<Placement> {
        placement::set(&self.inner, project, host, role).await
    }

    async fn remove_placement(&self, project: ProjectId, host: HostId) -> Result<()> {
        placement::remove(&self.inner, project, host).await
    }

    async fn placements(&self, project: ProjectId) -> Result<Vec<Placement>> {
        placement::of_project(&self.inner, project).await
    }

    async fn placements_on_host(&self, host: HostId) -> Result<Vec<Placement>> {
        placement::on_host(&self.inner, host).await
    }

    async fn acquire_lease(
        &self,
        project: ProjectId,
        host: HostId,
        ttl: Duration,
    ) -> Result<Lease> {
        lease::acquire(&self.inner, project, host, ttl).await
    }

    async fn renew_lease(&self, project: ProjectId, host: HostId, ttl: Duration) -> Result<Lease> {
        lease::renew(&self.inner, project, host, ttl).await
    }

    async fn release_lease(&self, project: ProjectId, host: HostId) -> Result<()> {
        lease::release(&self.inner, project, host).await
    }

    async fn lease(&self, project: ProjectId) -> Result<Option<Lease>> {
        lease::live(&self.inner, project).await
    }
}
