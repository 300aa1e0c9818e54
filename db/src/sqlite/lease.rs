//! Leases in SQLite: one `leases` row per project that ever had one. Every change runs in the caller's `BEGIN IMMEDIATE`
//! transaction, so reading the current holder and writing the new one is atomic across connections and processes.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::column::{counter, read_counter};
use super::{host, project};
use crate::lease::{acquired, no_copy, released, renewed, valid_ttl, LeaseRow};
use crate::{HostId, Lease, ProjectId, Result, Timestamp};

fn read(connection: &Connection, project: ProjectId) -> Result<Option<LeaseRow>> {
    Ok(connection
        .query_row(
            "SELECT holder, epoch, acquired, expires FROM leases WHERE project = ?1",
            [project],
            |row| {
                Ok(LeaseRow {
                    holder: row.get(0)?,
                    epoch: read_counter(row, 1)?,
                    acquired: row.get(2)?,
                    expires: row.get(3)?,
                })
            },
        )
        .optional()?)
}

fn write(connection: &Connection, lease: &Lease) -> Result<()> {
    connection.execute(
        "INSERT INTO leases (project, holder, epoch, acquired, expires) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (project) DO UPDATE SET holder = excluded.holder, epoch = excluded.epoch,
             acquired = excluded.acquired, expires = excluded.expires",
        (
            lease.project,
            lease.holder,
            counter(lease.epoch)?,
            lease.acquired,
            lease.expires,
        ),
    )?;
    Ok(())
}

pub(super) fn acquire(
    connection: &Connection,
    project: ProjectId,
    host: HostId,
    ttl: Duration,
    now: Timestamp,
) -> Result<Lease> {
    let ttl = valid_ttl(ttl)?;
    project::live(connection, project)?;
    host::by_id(connection, host)?;
    let has_copy: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM placements WHERE project = ?1 AND host = ?2)",
        (project, host),
        |row| row.get(0),
    )?;
    if !has_copy {
        return Err(no_copy(project, host));
    }
    let current = read(connection, project)?;
    let lease = acquired(project, host, ttl, current.as_ref(), now)?;
    write(connection, &lease)?;
    Ok(lease)
}

pub(super) fn renew(
    connection: &Connection,
    project: ProjectId,
    host: HostId,
    ttl: Duration,
    now: Timestamp,
) -> Result<Lease> {
    let ttl = valid_ttl(ttl)?;
    let lease = renewed(project, host, ttl, read(connection, project)?.as_ref(), now)?;
    write(connection, &lease)?;
    Ok(lease)
}

pub(super) fn release(
    connection: &Connection,
    project: ProjectId,
    host: HostId,
    now: Timestamp,
) -> Result<()> {
    if let Some(row) = released(project, host, read(connection, project)?.as_ref(), now)? {
        connection.execute(
            "UPDATE leases SET holder = NULL, expires = ?2 WHERE project = ?1",
            (project, row.expires),
        )?;
    }
    Ok(())
}

pub(super) fn live(
    connection: &Connection,
    project: ProjectId,
    now: Timestamp,
) -> Result<Option<Lease>> {
    Ok(read(connection, project)?.and_then(|row| row.lease(project, now)))
}
