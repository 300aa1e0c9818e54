//! Layout versions in SQLite: `layout_versions` and the hosts of each in `layout_hosts`.

use rusqlite::{Connection, OptionalExtension};

use super::column::counter;
use super::host;
use crate::layout::{next_version, stale_base, valid_layout_hosts};
use crate::{Error, Layout, LayoutHost, Result, Timestamp};

fn latest_version(connection: &Connection) -> Result<Option<u64>> {
    let version: Option<i64> =
        connection.query_row("SELECT max(version) FROM layout_versions", [], |row| {
            row.get(0)
        })?;
    version
        .map(|version| {
            u64::try_from(version)
                .map_err(|_| Error::Corrupt(format!("layout version {version} is negative")))
        })
        .transpose()
}

pub(super) fn publish(
    connection: &Connection,
    base: Option<u64>,
    hosts: Vec<LayoutHost>,
    now: Timestamp,
) -> Result<Layout> {
    let hosts = valid_layout_hosts(hosts)?;
    let latest = latest_version(connection)?;
    if latest != base {
        return Err(stale_base(base, latest));
    }
    for entry in &hosts {
        let registered = host::by_id(connection, entry.host)?;
        if registered.datacenter != entry.datacenter {
            return Err(Error::Invalid(format!(
                "host {} is in datacenter {:?}, not {:?}",
                entry.host, registered.datacenter, entry.datacenter
            )));
        }
    }
    let version = next_version(base)?;
    connection.execute(
        "INSERT INTO layout_versions (version, created) VALUES (?1, ?2)",
        (counter(version)?, now),
    )?;
    let mut insert = connection.prepare_cached(
        "INSERT INTO layout_hosts (version, host, datacenter, weight) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for entry in &hosts {
        insert.execute((
            counter(version)?,
            entry.host,
            &entry.datacenter,
            entry.weight,
        ))?;
    }
    Ok(Layout {
        version,
        hosts,
        created: now,
    })
}

pub(super) fn by_version(connection: &Connection, version: u64) -> Result<Layout> {
    let not_found = || Error::NotFound(format!("layout version {version}"));
    let Ok(stored_version) = i64::try_from(version) else {
        return Err(not_found());
    };
    let created: Timestamp = connection
        .query_row(
            "SELECT created FROM layout_versions WHERE version = ?1",
            [stored_version],
            |row| row.get(0),
        )
        .optional()?
        .ok_or_else(not_found)?;
    let mut statement = connection.prepare_cached(
        "SELECT host, datacenter, weight FROM layout_hosts WHERE version = ?1
         ORDER BY datacenter, host",
    )?;
    let hosts = statement
        .query_map([stored_version], |row| {
            Ok(LayoutHost {
                host: row.get(0)?,
                datacenter: row.get(1)?,
                weight: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Layout {
        version,
        hosts,
        created,
    })
}

pub(super) fn latest(connection: &Connection) -> Result<Option<Layout>> {
    match latest_version(connection)? {
        None => Ok(None),
        Some(version) => by_version(connection, version).map(Some),
    }
}
