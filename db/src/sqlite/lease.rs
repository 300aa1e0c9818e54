//! Leases in SQLite: one `leases` row per project that ever had one. Every change runs in the caller's `BEGIN IMMEDIATE`
//! transaction, so reading the current holder and writing the new one is atomic across connections and processes.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::column::{counter, read_counter};
use super::{host, project};
use crate::lease::{held_by_other, no_copy, not_holder, valid_ttl};
use crate::{Error, HostId, Lease, ProjectId, Result, Timestamp};

/// The stored row; `holder` is `None` after a release.
struct Row {
    holder: Option<HostId>,
    epoch: u64,
    acquired: Timestamp,
    expires: Timestamp,
}

impl Row {
    fn lease(&self, project: ProjectId, now: Timestamp) -> Option<Lease> {
        let holder = self.holder?;
        let lease = Lease {
            project,
            holder,
            epoch: self.epoch,
            acquired: self.acquired,
            expires: self.expires,
        };
        lease.is_live(now).then_some(lease)
    }
}

fn read(connection: &Connection, project: ProjectId) -> Result<Option<Row>> {
    Ok(connection
        .query_row(
            "SELECT holder, epoch, acquired, expires FROM leases WHERE project = ?1",
            [project],
            |row| {
                Ok(Row {
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
    let lease = match current.as_ref().and_then(|row| row.lease(project, now)) {
        Some(live) if live.holder == host => Lease {
            expires: now.after(ttl),
            ..live
        },
        Some(live) => return Err(held_by_other(project, &live)),
        None => {
            let previous_epoch = current.map_or(0, |row| row.epoch);
            Lease {
                project,
                holder: host,
                epoch: previous_epoch.checked_add(1).ok_or_else(|| {
                    Error::Corrupt(format!("project {project}'s lease epoch overflowed"))
                })?,
                acquired: now,
                expires: now.after(ttl),
            }
        }
    };
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
    match read(connection, project)?.and_then(|row| row.lease(project, now)) {
        Some(live) if live.holder == host => {
            let lease = Lease {
                expires: now.after(ttl),
                ..live
            };
            write(connection, &lease)?;
            Ok(lease)
        }
        _ => Err(not_holder(project, host)),
    }
}

pub(super) fn release(
    connection: &Connection,
    project: ProjectId,
    host: HostId,
    now: Timestamp,
) -> Result<()> {
    let Some(row) = read(connection, project)? else {
        return Ok(());
    };
    if row.holder == Some(host) {
        connection.execute(
            "UPDATE leases SET holder = NULL, expires = ?2 WHERE project = ?1",
            (project, now),
        )?;
        return Ok(());
    }
    match row.lease(project, now) {
        Some(live) => Err(held_by_other(project, &live)),
        None => Ok(()),
    }
}

pub(super) fn live(
    connection: &Connection,
    project: ProjectId,
    now: Timestamp,
) -> Result<Option<Lease>> {
    Ok(read(connection, project)?.and_then(|row| row.lease(project, now)))
}
