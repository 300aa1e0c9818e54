//! Orrery's metadata store: accounts, sign-in tokens, projects and their collaborators, datacenters, hosts, layout versions, placements and leases, behind one typed API, the [`Store`] trait.
//! It owns the rules those records keep (one account per e-mail address ignoring case, who may rename, invite, remove or delete, one lease holder per project) so every backend enforces the same ones.
//! Backends: [`SqliteStore`], embedded SQLite with versioned migrations (the one-machine default), and [`CqlStore`], Cassandra or ScyllaDB through the `scylla` driver (many hubs and hosts, several datacenters; see [`cql`] for its keyspace, consistency levels and table layout).
//! [`Db`] wraps whichever backend a process opened (`Db::open` takes `cql://…` or a file path), so servers hold one concrete type; `conformance` (with the `test-support` feature, which only tests turn on) is the test suite every backend must pass.
//! Ids are random 128-bit UUIDs ([`id`]); times are milliseconds since the epoch from a [`Clock`] the caller supplies; password and token hashing happen in the hub, this crate stores hashes.
//! It must not depend on `hub`, `local-hub` or `ops`; it knows nothing of HTTP, files or the overlay.

pub mod account;
pub mod clock;
#[cfg(feature = "test-support")]
pub mod conformance;
pub mod cql;
pub mod datacenter;
mod db;
mod error;
pub mod host;
pub mod id;
pub mod layout;
pub mod lease;
pub mod placement;
pub mod project;
pub mod sqlite;
mod store;
pub mod token;
mod validate;

pub use account::{Account, NewAccount};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use cql::{CqlOptions, CqlStore};
pub use datacenter::Datacenter;
pub use db::Db;
pub use error::{Error, Result};
pub use host::{Host, HostState, NewHost};
pub use id::{AccountId, HostId, ProjectId};
pub use layout::{Layout, LayoutHost};
pub use lease::Lease;
pub use placement::{Placement, PlacementRole};
pub use project::{Collaborator, Membership, Project, Role};
pub use sqlite::SqliteStore;
pub use store::Store;
pub use token::{NewToken, SignInToken, TokenHash};
