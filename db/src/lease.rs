//! Leases: at most one host runs a project at a time (DESIGN.md §6).
//!
//! A host acquires a project's lease for a time to live and renews it well before it expires; while it is unexpired no
//! other host can acquire it. Once it has expired any host may take it over, and the old holder can no longer renew it
//! (nor release it once taken over): a host whose lease lapsed must stop the project and acquire again.
//! A host may only hold the lease on a project it has a copy of (a placement), and a copy cannot be removed while its
//! host holds the lease; so a host without placements holds no lease and can be removed.
//! Each change of holder increments the lease's epoch, a fencing token that hosts attach to what they do on the project's
//! behalf, so a stale holder's late writes can be refused. The epoch survives releases; it never goes back.

use std::time::Duration;

use crate::{Error, HostId, ProjectId, Result, Timestamp};

/// Shortest time to live accepted; shorter leases would expire before a renewal could travel.
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(1);
/// Longest time to live accepted; a dead holder blocks its project at most this long.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub project: ProjectId,
    pub holder: HostId,
    /// Increases by one each time the lease passes to a holder (including a re-acquisition after expiry).
    pub epoch: u64,
    /// When this holder acquired it.
    pub acquired: Timestamp,
    /// The lease is free from this instant on unless renewed.
    pub expires: Timestamp,
}

impl Lease {
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires
    }
}

pub(crate) fn valid_ttl(ttl: Duration) -> Result<Duration> {
    if !(MIN_LEASE_TTL..=MAX_LEASE_TTL).contains(&ttl) {
        return Err(Error::Invalid(format!(
            "a lease's time to live must be between {} s and {} s, not {} ms",
            MIN_LEASE_TTL.as_secs(),
            MAX_LEASE_TTL.as_secs(),
            ttl.as_millis()
        )));
    }
    Ok(ttl)
}

pub(crate) fn held_by_other(project: ProjectId, lease: &Lease) -> Error {
    Error::Conflict(format!(
        "the lease on project {project} is held by host {} until {}",
        lease.holder, lease.expires
    ))
}

pub(crate) fn not_holder(project: ProjectId, host: HostId) -> Error {
    Error::Conflict(format!(
        "host {host} does not hold the lease on project {project} (it expired or passed to another host): stop the project and acquire the lease again"
    ))
}

pub(crate) fn no_copy(project: ProjectId, host: HostId) -> Error {
    Error::Conflict(format!(
        "host {host} holds no copy of project {project}, so it cannot run it: place the project there first"
    ))
}
