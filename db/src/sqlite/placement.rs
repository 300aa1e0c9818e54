//! Placements in SQLite: `placements`, keyed by (project, host) and indexed by (host, project).

use rusqlite::{Connection, Row};

use super::{host, lease, project};
use crate::{Error, HostId, Placement, PlacementRole, ProjectId, Result, Timestamp};

fn from_row(row: &Row<'_>) -> rusqlite::Result<Placement> {
    Ok(Placement {
        project: row.get(0)?,
        host: row.get(1)?,
        role: row.get(2)?,
        updated: row.get(3)?,
    })
}

pub(super) fn set(
    connection: &Connection,
    project: ProjectId,
    host: HostId,
    role: PlacementRole,
    now: Timestamp,
) -> Result<Placement> {
    project::live(connection, project)?;
    host::by_id(connection, host)?;
    connection.execute(
        "INSERT INTO placements (project, host, role, updated) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (project, host) DO UPDATE SET role = excluded.role, updated = excluded.updated",
        (project, host, role, now),
    )?;
    Ok(Placement {
        project,
        host,
        role,
        updated: now,
    })
}

pub(super) fn remove(
    connection: &Connection,
    project: ProjectId,
    host: HostId,
    now: Timestamp,
) -> Result<()> {
    if let Some(live) = lease::live(connection, project, now)? {
        if live.holder == host {
            return Err(Error::Conflict(format!(
                "host {host} runs project {project} under a lease until {}: stop it there before removing its copy",
                live.expires
            )));
        }
    }
    connection.execute(
        "DELETE FROM placements WHERE project = ?1 AND host = ?2",
        (project, host),
    )?;
    Ok(())
}

pub(super) fn of_project(connection: &Connection, project: ProjectId) -> Result<Vec<Placement>> {
    let mut statement = connection.prepare_cached(
        "SELECT project, host, role, updated FROM placements WHERE project = ?1 ORDER BY host",
    )?;
    let placements = statement
        .query_map([project], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(placements)
}

pub(super) fn on_host(connection: &Connection, host: HostId) -> Result<Vec<Placement>> {
    let mut statement = connection.prepare_cached(
        "SELECT project, host, role, updated FROM placements WHERE host = ?1 ORDER BY project",
    )?;
    let placements = statement
        .query_map([host], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(placements)
}
