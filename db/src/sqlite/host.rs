//! Datacenters and hosts in SQLite: `datacenters` and `hosts`, hosts indexed by datacenter.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::datacenter::valid_datacenter_name;
use crate::host::{host_not_found, valid_weight};
use crate::{Datacenter, Error, Host, HostId, HostState, NewHost, Result, Timestamp};

const HOST_COLUMNS: &str = "id, datacenter, address, weight, state, created";

fn host_from_row(row: &Row<'_>) -> rusqlite::Result<Host> {
    Ok(Host {
        id: row.get(0)?,
        datacenter: row.get(1)?,
        address: row.get(2)?,
        weight: row.get(3)?,
        state: row.get(4)?,
        created: row.get(5)?,
    })
}

fn datacenter_exists(connection: &Connection, name: &str) -> Result<bool> {
    Ok(connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM datacenters WHERE name = ?1)",
        [name],
        |row| row.get(0),
    )?)
}

fn datacenter_not_found(name: &str) -> Error {
    Error::NotFound(format!(
        "datacenter {name:?} (add it first with `orrery admin dc add {name}`)"
    ))
}

pub(super) fn add_datacenter(
    connection: &Connection,
    name: &str,
    now: Timestamp,
) -> Result<Datacenter> {
    let name = valid_datacenter_name(name)?;
    if datacenter_exists(connection, &name)? {
        return Err(Error::AlreadyExists(format!("datacenter {name:?}")));
    }
    connection.execute(
        "INSERT INTO datacenters (name, created) VALUES (?1, ?2)",
        (&name, now),
    )?;
    Ok(Datacenter { name, created: now })
}

pub(super) fn datacenters(connection: &Connection) -> Result<Vec<Datacenter>> {
    let mut statement =
        connection.prepare_cached("SELECT name, created FROM datacenters ORDER BY name")?;
    let datacenters = statement
        .query_map([], |row| {
            Ok(Datacenter {
                name: row.get(0)?,
                created: row.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(datacenters)
}

pub(super) fn remove_datacenter(connection: &Connection, name: &str) -> Result<()> {
    if !datacenter_exists(connection, name)? {
        return Err(datacenter_not_found(name));
    }
    let hosts: i64 = connection.query_row(
        "SELECT count(*) FROM hosts WHERE datacenter = ?1",
        [name],
        |row| row.get(0),
    )?;
    if hosts > 0 {
        return Err(Error::Conflict(format!(
            "datacenter {name:?} still has {hosts} host(s): remove them first"
        )));
    }
    connection.execute("DELETE FROM datacenters WHERE name = ?1", [name])?;
    Ok(())
}

pub(super) fn add(connection: &Connection, new: NewHost, now: Timestamp) -> Result<Host> {
    let host = new.into_host(now)?;
    if !datacenter_exists(connection, &host.datacenter)? {
        return Err(datacenter_not_found(&host.datacenter));
    }
    connection.execute(
        &format!("INSERT INTO hosts ({HOST_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        (
            host.id,
            &host.datacenter,
            &host.address,
            host.weight,
            host.state,
            host.created,
        ),
    )?;
    Ok(host)
}

pub(super) fn by_id(connection: &Connection, id: HostId) -> Result<Host> {
    connection
        .query_row(
            &format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = ?1"),
            [id],
            host_from_row,
        )
        .optional()?
        .ok_or_else(|| host_not_found(id))
}

pub(super) fn all(connection: &Connection) -> Result<Vec<Host>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {HOST_COLUMNS} FROM hosts ORDER BY datacenter, address, id"
    ))?;
    let hosts = statement
        .query_map([], host_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(hosts)
}

pub(super) fn in_datacenter(connection: &Connection, datacenter: &str) -> Result<Vec<Host>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {HOST_COLUMNS} FROM hosts WHERE datacenter = ?1 ORDER BY address, id"
    ))?;
    let hosts = statement
        .query_map([datacenter], host_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(hosts)
}

pub(super) fn set_state(connection: &Connection, id: HostId, state: HostState) -> Result<Host> {
    let changed = connection.execute("UPDATE hosts SET state = ?2 WHERE id = ?1", (id, state))?;
    if changed == 0 {
        return Err(host_not_found(id));
    }
    by_id(connection, id)
}

pub(super) fn set_weight(connection: &Connection, id: HostId, weight: u32) -> Result<Host> {
    let weight = valid_weight(weight)?;
    let changed = connection.execute("UPDATE hosts SET weight = ?2 WHERE id = ?1", (id, weight))?;
    if changed == 0 {
        return Err(host_not_found(id));
    }
    by_id(connection, id)
}

pub(super) fn remove(connection: &Connection, id: HostId) -> Result<()> {
    by_id(connection, id)?;
    // A host holds leases only on projects it has a copy of, so no copies also means no live lease.
    let placements: i64 = connection.query_row(
        "SELECT count(*) FROM placements WHERE host = ?1",
        [id],
        |row| row.get(0),
    )?;
    if placements > 0 {
        return Err(Error::Conflict(format!(
            "host {id} still holds {placements} project copy(ies): drain it and wait until they have moved"
        )));
    }
    // Released and expired leases that last named this host keep their epoch; only the reference goes.
    connection.execute("UPDATE leases SET holder = NULL WHERE holder = ?1", [id])?;
    connection.execute("DELETE FROM hosts WHERE id = ?1", [id])?;
    Ok(())
}
