//! `Db`: the backend a process opened, as one concrete type a server can hold without being generic.
//! Each `Store` operation forwards to the backend; the few operations that differ by backend (registering a datacenter,
//! describing the store for logs) are methods here.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::datacenter::valid_datacenter_name;
use crate::{
    Account, AccountId, Clock, Collaborator, CqlOptions, CqlStore, Datacenter, Host, HostId,
    HostState, Layout, LayoutHost, Lease, Membership, NewAccount, NewHost, NewToken, Placement,
    PlacementRole, Project, ProjectId, Result, Role, SignInToken, SqliteStore, Store, TokenHash,
};

/// The metadata store of a running process. Cloning it is cheap and shares the backend's connections.
///
/// Open it with [`Db::open`] from a spec (`cql://…` or a SQLite file path), or with [`Db::open_sqlite`] /
/// [`Db::open_cql`]. Every [`Store`] method forwards to the backend.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Db {
    /// An embedded SQLite file: one machine.
    Sqlite(SqliteStore),
    /// A Cassandra (or ScyllaDB) keyspace: many hubs and hosts, several datacenters.
    Cql(CqlStore),
}

impl Db {
    /// Opens the store a spec names: `cql://HOST[:PORT][,…]/KEYSPACE[?dc=…&replication=…]` connects to Cassandra
    /// (see [`CqlOptions::from_url`]); anything else is the path of a SQLite file, created if missing.
    /// A spec starting `cql:` is always read as a URL, so a mistyped one is refused rather than made into a file.
    pub async fn open(spec: &str, clock: Arc<dyn Clock>) -> Result<Self> {
        if spec.starts_with("cql:") {
            Db::open_cql(CqlOptions::from_url(spec)?, clock).await
        } else {
            Db::open_sqlite(spec, clock).await
        }
    }

    /// Opens (creating if needed) an embedded SQLite database at `path`.
    pub async fn open_sqlite(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Self> {
        Ok(Db::Sqlite(SqliteStore::open(path, clock).await?))
    }

    /// Connects to a Cassandra cluster (see [`CqlStore::connect`]).
    pub async fn open_cql(options: CqlOptions, clock: Arc<dyn Clock>) -> Result<Self> {
        Ok(Db::Cql(CqlStore::connect(options, clock).await?))
    }

    /// What `orrery admin dc add NAME` does: registers datacenter `name` for placement, and on Cassandra first extends the
    /// keyspace's replication to the Cassandra datacenter of that name, so the metadata is stored there too.
    ///
    /// On Cassandra, `NotFound` when the cluster has no such datacenter, before anything is written (its nodes must join
    /// first); existing data reaches the new datacenter only after `nodetool rebuild` there
    /// (see [`CqlStore::extend_replication`]). `AlreadyExists` when the name is registered already (the replication is
    /// extended all the same, so repeating a half-done `dc add` finishes it).
    pub async fn register_datacenter(&self, name: &str) -> Result<Datacenter> {
        let name = valid_datacenter_name(name)?;
        match self {
            Db::Sqlite(store) => store.add_datacenter(&name).await,
            Db::Cql(store) => {
                store.extend_replication(&name).await?;
                store.add_datacenter(&name).await
            }
        }
    }

    /// For logs, e.g. "SQLite file /var/lib/orrery/orrery.db" or
    /// "Cassandra keyspace orrery at 127.0.0.1:9042 (local datacenter dc1)".
    pub fn describe(&self) -> String {
        match self {
            Db::Sqlite(store) => format!("SQLite file {}", store.path().display()),
            Db::Cql(store) => store.describe(),
        }
    }
}

impl From<SqliteStore> for Db {
    fn from(store: SqliteStore) -> Self {
        Db::Sqlite(store)
    }
}

impl From<CqlStore> for Db {
    fn from(store: CqlStore) -> Self {
        Db::Cql(store)
    }
}

/// Writes each `Store` method of `Db` as a match that forwards it to the backend.
macro_rules! forward {
    ($(fn $name:ident(&self $(, $argument:ident: $type:ty)*) -> $output:ty;)*) => {
        impl Store for Db {
            $(
                async fn $name(&self $(, $argument: $type)*) -> Result<$output> {
                    match self {
                        Db::Sqlite(store) => store.$name($($argument),*).await,
                        Db::Cql(store) => store.$name($($argument),*).await,
                    }
                }
            )*
        }
    };
}

forward! {
    fn create_account(&self, new: NewAccount) -> Account;
    fn account(&self, id: AccountId) -> Account;
    fn account_by_email(&self, email: &str) -> Account;
    fn accounts(&self, ids: &[AccountId]) -> Vec<Account>;
    fn set_display_name(&self, id: AccountId, display_name: &str) -> Account;
    fn set_password_hash(&self, id: AccountId, password_hash: &str) -> ();
    fn create_token(&self, new: NewToken) -> SignInToken;
    fn token(&self, hash: &TokenHash) -> SignInToken;
    fn revoke_token(&self, hash: &TokenHash) -> ();
    fn revoke_account_tokens(&self, account: AccountId) -> ();
    fn create_project(&self, owner: AccountId, title: &str) -> Project;
    fn project(&self, id: ProjectId) -> Project;
    fn rename_project(&self, id: ProjectId, actor: AccountId, title: &str) -> Project;
    fn delete_project(&self, id: ProjectId, actor: AccountId) -> ();
    fn projects_for_account(&self, account: AccountId) -> Vec<Membership>;
    fn collaborators(&self, project: ProjectId) -> Vec<Collaborator>;
    fn role(&self, project: ProjectId, account: AccountId) -> Option<Role>;
    fn invite_collaborator(&self, project: ProjectId, inviter: AccountId, email: &str) -> Collaborator;
    fn remove_collaborator(&self, project: ProjectId, actor: AccountId, account: AccountId) -> ();
    fn leave_project(&self, project: ProjectId, account: AccountId) -> ();
    fn transfer_ownership(&self, project: ProjectId, actor: AccountId, new_owner: AccountId) -> Project;
    fn add_datacenter(&self, name: &str) -> Datacenter;
    fn datacenters(&self) -> Vec<Datacenter>;
    fn remove_datacenter(&self, name: &str) -> ();
    fn add_host(&self, new: NewHost) -> Host;
    fn host(&self, id: HostId) -> Host;
    fn hosts(&self) -> Vec<Host>;
    fn hosts_in(&self, datacenter: &str) -> Vec<Host>;
    fn set_host_state(&self, id: HostId, state: HostState) -> Host;
    fn set_host_weight(&self, id: HostId, weight: u32) -> Host;
    fn remove_host(&self, id: HostId) -> ();
    fn publish_layout(&self, base: Option<u64>, hosts: Vec<LayoutHost>) -> Layout;
    fn layout(&self, version: u64) -> Layout;
    fn latest_layout(&self) -> Option<Layout>;
    fn set_placement(&self, project: ProjectId, host: HostId, role: PlacementRole) -> Placement;
    fn remove_placement(&self, project: ProjectId, host: HostId) -> ();
    fn placements(&self, project: ProjectId) -> Vec<Placement>;
    fn placements_on_host(&self, host: HostId) -> Vec<Placement>;
    fn acquire_lease(&self, project: ProjectId, host: HostId, ttl: Duration) -> Lease;
    fn renew_lease(&self, project: ProjectId, host: HostId, ttl: Duration) -> Lease;
    fn release_lease(&self, project: ProjectId, host: HostId) -> ();
    fn lease(&self, project: ProjectId) -> Option<Lease>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::{Error, SystemClock};

    #[tokio::test]
    async fn a_spec_that_is_not_a_url_is_a_sqlite_file() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("orrery.db");
        let db = Db::open(path.to_str().expect("a UTF-8 path"), Arc::new(SystemClock))
            .await
            .expect("opening a SQLite file");
        assert!(matches!(db, Db::Sqlite(_)));
        assert_eq!(db.describe(), format!("SQLite file {}", path.display()));
        let registered = db.register_datacenter("dc1").await.expect("register");
        assert_eq!(registered.name, "dc1");
        assert!(matches!(
            db.register_datacenter("dc1").await,
            Err(Error::AlreadyExists(_))
        ));
        assert!(matches!(
            db.register_datacenter("d c").await,
            Err(Error::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn a_mistyped_cql_url_is_refused_not_made_into_a_file() {
        for spec in ["cql:/127.0.0.1/orrery", "cql://127.0.0.1/Bad-Keyspace"] {
            match Db::open(spec, Arc::new(SystemClock)).await {
                Err(Error::Invalid(message)) => {
                    assert!(message.contains("cql://HOST"), "{message}")
                }
                other => panic!("{spec}: expected Invalid, got {other:?}"),
            }
        }
    }
}
