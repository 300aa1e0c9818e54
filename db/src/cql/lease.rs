//! Leases in Cassandra: one `leases` row per project that ever had one, changed only by lightweight transactions.
//!
//! Acquiring, renewing and releasing each read the row at SERIAL, decide against the store's clock what it should become,
//! and write that with a compare-and-set on the holder, epoch and expiry just read (`INSERT … IF NOT EXISTS` for the first
//! lease of a project). Serial consistency is SERIAL, so two hosts in different datacenters cannot both win. When the
//! row changed in between, the decision is made again on the new row. When the request fails with its outcome unknown
//! (a timeout), the next SERIAL read, which finishes any half-done round, shows whether our row is the one stored: only
//! then is success reported, and a lost race is never reported as won.

use std::time::Duration;

use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{counter, host, placement, project, read_counter, timestamp, Inner, Preparer};
use crate::lease::{acquired, no_copy, released, renewed, valid_ttl, LeaseRow};
use crate::{Error, HostId, Lease, ProjectId, Result, Timestamp};

/// How many times a change is decided again after the row changed under it (or its outcome stayed unknown).
const ATTEMPTS: usize = 6;

pub(super) struct Statements {
    read: PreparedStatement,
    create: PreparedStatement,
    replace: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(preparer: &Preparer<'_>) -> Result<Self> {
        Ok(Statements {
            read: preparer
                .serial_read("SELECT holder, epoch, acquired, expires FROM leases WHERE project = ?")
                .await?,
            create: preparer
                .compare_and_set(
                    "INSERT INTO leases (project, holder, epoch, acquired, expires) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS",
                )
                .await?,
            replace: preparer
                .compare_and_set(
                    "UPDATE leases SET holder = ?, epoch = ?, acquired = ?, expires = ? WHERE project = ?
                     IF holder = ? AND epoch = ? AND expires = ?",
                )
                .await?,
        })
    }
}

/// What a change makes of the row it read.
enum Step<T> {
    /// Store this row, and answer this once it is stored.
    Write(LeaseRow, T),
    /// Nothing to store; answer this.
    Done(T),
}

async fn read(inner: &Inner, project: ProjectId) -> Result<Option<LeaseRow>> {
    let row = inner
        .row::<(Option<Uuid>, i64, i64, i64)>(&inner.statements.lease.read, (project.as_uuid(),))
        .await?;
    row.map(|(holder, epoch, acquired, expires)| {
        Ok(LeaseRow {
            holder: holder.map(HostId::from_uuid),
            epoch: read_counter("a lease epoch", epoch)?,
            acquired: timestamp(acquired),
            expires: timestamp(expires),
        })
    })
    .transpose()
}

/// Compare-and-set of the row from `current` to `next`: whether it was applied; `Err` when the outcome is unknown.
async fn swap(
    inner: &Inner,
    project: ProjectId,
    current: Option<&LeaseRow>,
    next: &LeaseRow,
) -> Result<bool> {
    let statements = &inner.statements.lease;
    let holder = next.holder.map(|host| *host.as_uuid());
    let (epoch, acquired, expires) = (
        counter(next.epoch)?,
        next.acquired.as_millis(),
        next.expires.as_millis(),
    );
    match current {
        None => {
            inner
                .compare_and_set(
                    &statements.create,
                    (project.as_uuid(), holder, epoch, acquired, expires),
                )
                .await
        }
        Some(current) => {
            inner
                .compare_and_set(
                    &statements.replace,
                    (
                        holder,
                        epoch,
                        acquired,
                        expires,
                        project.as_uuid(),
                        current.holder.map(|host| *host.as_uuid()),
                        counter(current.epoch)?,
                        current.expires.as_millis(),
                    ),
                )
                .await
        }
    }
}

/// Reads the row, lets `decide` say what it becomes at the store's current time, and stores that with a compare-and-set,
/// deciding again whenever the row changed first.
async fn change<T>(
    inner: &Inner,
    project: ProjectId,
    decide: impl Fn(Option<&LeaseRow>, Timestamp) -> Result<Step<T>>,
) -> Result<T> {
    // A write whose outcome is unknown, what it answers if it turns out applied, and the error it failed with.
    let mut pending: Option<(LeaseRow, T)> = None;
    let mut unknown_outcome: Option<Error> = None;
    for _ in 0..ATTEMPTS {
        let current = match (read(inner, project).await, unknown_outcome.take()) {
            (Ok(current), _) => current,
            (Err(_), Some(error)) => return Err(error),
            (Err(error), None) => return Err(error),
        };
        if let Some((written, answer)) = pending.take() {
            if current.as_ref() == Some(&written) {
                return Ok(answer);
            }
        }
        let (next, answer) = match decide(current.as_ref(), inner.now())? {
            Step::Done(answer) => return Ok(answer),
            Step::Write(next, answer) => (next, answer),
        };
        match swap(inner, project, current.as_ref(), &next).await {
            Ok(true) => return Ok(answer),
            Ok(false) => {}
            Err(error) => {
                pending = Some((next, answer));
                unknown_outcome = Some(error);
            }
        }
    }
    if let (Some((written, answer)), Some(error)) = (pending, unknown_outcome) {
        return match read(inner, project).await {
            Ok(current) if current.as_ref() == Some(&written) => Ok(answer),
            _ => Err(error),
        };
    }
    Err(Error::Unavailable {
        message: format!(
            "the lease on project {project} changed {ATTEMPTS} times while this host tried to change it; try again"
        ),
        source: None,
    })
}

pub(super) async fn acquire(
    inner: &Inner,
    project: ProjectId,
    host: HostId,
    ttl: Duration,
) -> Result<Lease> {
    let ttl = valid_ttl(ttl)?;
    project::live(inner, project).await?;
    host::by_id(inner, host).await?;
    if !placement::exists(inner, project, host).await? {
        return Err(no_copy(project, host));
    }
    change(inner, project, |current, now| {
        holding(acquired(project, host, ttl, current, now)?)
    })
    .await
}

pub(super) async fn renew(
    inner: &Inner,
    project: ProjectId,
    host: HostId,
    ttl: Duration,
) -> Result<Lease> {
    let ttl = valid_ttl(ttl)?;
    change(inner, project, |current, now| {
        holding(renewed(project, host, ttl, current, now)?)
    })
    .await
}

/// The step that stores `lease` and answers it.
fn holding(lease: Lease) -> Result<Step<Lease>> {
    Ok(Step::Write(LeaseRow::from_lease(&lease), lease))
}

pub(super) async fn release(inner: &Inner, project: ProjectId, host: HostId) -> Result<()> {
    change(inner, project, |current, now| {
        Ok(match released(project, host, current, now)? {
            Some(row) => Step::Write(row, ()),
            None => Step::Done(()),
        })
    })
    .await
}

/// The live lease, read at SERIAL so every datacenter sees the holder the last compare-and-set chose.
pub(super) async fn live(inner: &Inner, project: ProjectId) -> Result<Option<Lease>> {
    let now = inner.now();
    Ok(read(inner, project)
        .await?
        .and_then(|row| row.lease(project, now)))
}
