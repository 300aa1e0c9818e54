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

/// A project's lease row as every backend stores it: the last holder (`None` after a release), its epoch and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseRow {
    pub holder: Option<HostId>,
    pub epoch: u64,
    pub acquired: Timestamp,
    pub expires: Timestamp,
}

impl LeaseRow {
    /// The lease this row gives at `now`, or `None` when it is released or expired.
    pub fn lease(&self, project: ProjectId, now: Timestamp) -> Option<Lease> {
        let lease = Lease {
            project,
            holder: self.holder?,
            epoch: self.epoch,
            acquired: self.acquired,
            expires: self.expires,
        };
        lease.is_live(now).then_some(lease)
    }

    pub fn from_lease(lease: &Lease) -> LeaseRow {
        LeaseRow {
            holder: Some(lease.holder),
            epoch: lease.epoch,
            acquired: lease.acquired,
            expires: lease.expires,
        }
    }
}

/// The lease `host` holds after acquiring at `now` given the stored row: renewed when it holds it already, a new tenure
/// with the next epoch when the lease is free or expired. `Conflict` while another host holds it.
/// (The caller has checked the project, the host and its copy, and `ttl`.)
pub(crate) fn acquired(
    project: ProjectId,
    host: HostId,
    ttl: Duration,
    current: Option<&LeaseRow>,
    now: Timestamp,
) -> Result<Lease> {
    match current.and_then(|row| row.lease(project, now)) {
        Some(live) if live.holder == host => renewed(project, host, ttl, current, now),
        Some(live) => Err(held_by_other(project, &live)),
        None => Ok(Lease {
            project,
            holder: host,
            epoch: current
                .map_or(0, |row| row.epoch)
                .checked_add(1)
                .ok_or_else(|| {
                    Error::Corrupt(format!("project {project}'s lease epoch overflowed"))
                })?,
            acquired: now,
            expires: now.after(ttl),
        }),
    }
}

/// The lease after `host` renews it at `now`. `Conflict` unless `host` holds it unexpired.
pub(crate) fn renewed(
    project: ProjectId,
    host: HostId,
    ttl: Duration,
    current: Option<&LeaseRow>,
    now: Timestamp,
) -> Result<Lease> {
    match current.and_then(|row| row.lease(project, now)) {
        Some(live) if live.holder == host => Ok(Lease {
            expires: now.after(ttl),
            ..live
        }),
        _ => Err(not_holder(project, host)),
    }
}

/// The row to store when `host` releases at `now`: `Some` when it was the holder (the epoch is kept), `None` when there
/// is nothing to change (no lease, or an expired one). `Conflict` while another host holds it.
pub(crate) fn released(
    project: ProjectId,
    host: HostId,
    current: Option<&LeaseRow>,
    now: Timestamp,
) -> Result<Option<LeaseRow>> {
    let Some(row) = current else {
        return Ok(None);
    };
    if row.holder == Some(host) {
        return Ok(Some(LeaseRow {
            holder: None,
            expires: now,
            ..row.clone()
        }));
    }
    match row.lease(project, now) {
        Some(live) => Err(held_by_other(project, &live)),
        None => Ok(None),
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
