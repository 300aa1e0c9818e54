//! Datacenters and hosts in Cassandra: `datacenters` in one partition (there are few), `hosts` by id, and a copy of each
//! host row in `datacenter_hosts` by datacenter; both host rows are written whole, together, in logged batches.

use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{read_weight, timestamp, weight_value, Inner, Preparer};
use crate::datacenter::valid_datacenter_name;
use crate::host::{host_not_found, valid_weight};
use crate::{Datacenter, Error, Host, HostId, HostState, NewHost, Result};

/// The partition key of `datacenters`: every datacenter in one partition, so listing them is one read.
const REGISTRY: &str = "datacenters";

pub(super) struct Statements {
    add_datacenter: PreparedStatement,
    datacenter: PreparedStatement,
    datacenters: PreparedStatement,
    remove_datacenter: PreparedStatement,
    insert: Batch,
    by_id: PreparedStatement,
    in_datacenter: PreparedStatement,
    any_in_datacenter: PreparedStatement,
    delete: Batch,
    any_placement: PreparedStatement,
}

const HOST_COLUMNS: &str = "id, datacenter, address, weight, state, created";

impl Statements {
    pub(super) async fn prepare(preparer: &Preparer<'_>) -> Result<Self> {
        Ok(Statements {
            add_datacenter: preparer
                .idempotent("INSERT INTO datacenters (registry, name, created) VALUES (?, ?, ?)")
                .await?,
            datacenter: preparer
                .idempotent("SELECT name FROM datacenters WHERE registry = ? AND name = ?")
                .await?,
            datacenters: preparer
                .idempotent("SELECT name, created FROM datacenters WHERE registry = ?")
                .await?,
            remove_datacenter: preparer
                .idempotent("DELETE FROM datacenters WHERE registry = ? AND name = ?")
                .await?,
            insert: preparer
                .batch(&[
                    &format!("INSERT INTO hosts ({HOST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"),
                    &format!(
                        "INSERT INTO datacenter_hosts ({HOST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
                    ),
                ])
                .await?,
            by_id: preparer
                .idempotent(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = ?"))
                .await?,
            in_datacenter: preparer
                .idempotent(&format!(
                    "SELECT {HOST_COLUMNS} FROM datacenter_hosts WHERE datacenter = ?"
                ))
                .await?,
            any_in_datacenter: preparer
                .idempotent("SELECT COUNT(*) FROM datacenter_hosts WHERE datacenter = ?")
                .await?,
            delete: preparer
                .batch(&[
                    "DELETE FROM hosts WHERE id = ?",
                    "DELETE FROM datacenter_hosts WHERE datacenter = ? AND id = ?",
                ])
                .await?,
            any_placement: preparer
                .idempotent("SELECT COUNT(*) FROM host_placements WHERE host = ?")
                .await?,
        })
    }
}

type HostRow = (Uuid, String, String, i32, String, i64);

fn from_row((id, datacenter, address, weight, state, created): HostRow) -> Result<Host> {
    Ok(Host {
        id: HostId::from_uuid(id),
        datacenter,
        address,
        weight: read_weight(weight)?,
        state: HostState::parse_stored(&state)?,
        created: timestamp(created),
    })
}

async fn datacenter_exists(inner: &Inner, name: &str) -> Result<bool> {
    Ok(inner
        .row::<(String,)>(&inner.statements.host.datacenter, (REGISTRY, name))
        .await?
        .is_some())
}

fn datacenter_not_found(name: &str) -> Error {
    Error::NotFound(format!(
        "datacenter {name:?} (add it first with `orrery admin dc add {name}`)"
    ))
}

pub(super) async fn add_datacenter(inner: &Inner, name: &str) -> Result<Datacenter> {
    let name = valid_datacenter_name(name)?;
    if datacenter_exists(inner, &name).await? {
        return Err(Error::AlreadyExists(format!("datacenter {name:?}")));
    }
    let created = inner.now();
    inner
        .write(
            &inner.statements.host.add_datacenter,
            (REGISTRY, &name, created.as_millis()),
        )
        .await?;
    Ok(Datacenter { name, created })
}

pub(super) async fn datacenters(inner: &Inner) -> Result<Vec<Datacenter>> {
    // The clustering order is by name.
    Ok(inner
        .rows::<(String, i64)>(&inner.statements.host.datacenters, (REGISTRY,))
        .await?
        .into_iter()
        .map(|(name, created)| Datacenter {
            name,
            created: timestamp(created),
        })
        .collect())
}

/// A count read from `SELECT COUNT(*)`, which is a bigint.
async fn count(
    inner: &Inner,
    statement: &PreparedStatement,
    key: impl scylla::serialize::row::SerializeRow,
) -> Result<i64> {
    Ok(inner
        .row::<(i64,)>(statement, key)
        .await?
        .map_or(0, |(count,)| count))
}

pub(super) async fn remove_datacenter(inner: &Inner, name: &str) -> Result<()> {
    if !datacenter_exists(inner, name).await? {
        return Err(datacenter_not_found(name));
    }
    let hosts = count(inner, &inner.statements.host.any_in_datacenter, (name,)).await?;
    if hosts > 0 {
        return Err(Error::Conflict(format!(
            "datacenter {name:?} still has {hosts} host(s): remove them first"
        )));
    }
    inner
        .write(&inner.statements.host.remove_datacenter, (REGISTRY, name))
        .await
}

pub(super) async fn add(inner: &Inner, new: NewHost) -> Result<Host> {
    let host = new.into_host(inner.now())?;
    if !datacenter_exists(inner, &host.datacenter).await? {
        return Err(datacenter_not_found(&host.datacenter));
    }
    write(inner, &host).await?;
    Ok(host)
}

pub(super) async fn by_id(inner: &Inner, id: HostId) -> Result<Host> {
    inner
        .row::<HostRow>(&inner.statements.host.by_id, (id.as_uuid(),))
        .await?
        .map(from_row)
        .transpose()?
        .ok_or_else(|| host_not_found(id))
}

pub(super) async fn in_datacenter(inner: &Inner, datacenter: &str) -> Result<Vec<Host>> {
    let mut hosts = inner
        .rows::<HostRow>(&inner.statements.host.in_datacenter, (datacenter,))
        .await?
        .into_iter()
        .map(from_row)
        .collect::<Result<Vec<_>>>()?;
    hosts.sort_by(|left, right| (&left.address, left.id).cmp(&(&right.address, right.id)));
    Ok(hosts)
}

pub(super) async fn all(inner: &Inner) -> Result<Vec<Host>> {
    let mut hosts = Vec::new();
    // Datacenters come by name, so hosts come by datacenter, then address, then id.
    for datacenter in datacenters(inner).await? {
        hosts.extend(in_datacenter(inner, &datacenter.name).await?);
    }
    Ok(hosts)
}

/// Writes every column of both copies of a host, so a change racing a removal can bring back a whole host, never a
/// fragment of one.
async fn write(inner: &Inner, host: &Host) -> Result<()> {
    let row = (
        host.id.as_uuid(),
        &host.datacenter,
        &host.address,
        weight_value(host.weight)?,
        host.state.as_str(),
        host.created.as_millis(),
    );
    inner
        .write_batch(&inner.statements.host.insert, (row, row))
        .await
}

pub(super) async fn set_state(inner: &Inner, id: HostId, state: HostState) -> Result<Host> {
    let mut host = by_id(inner, id).await?;
    host.state = state;
    write(inner, &host).await?;
    Ok(host)
}

pub(super) async fn set_weight(inner: &Inner, id: HostId, weight: u32) -> Result<Host> {
    let weight = valid_weight(weight)?;
    let mut host = by_id(inner, id).await?;
    host.weight = weight;
    write(inner, &host).await?;
    Ok(host)
}

pub(super) async fn remove(inner: &Inner, id: HostId) -> Result<()> {
    let host = by_id(inner, id).await?;
    // A host holds leases only on projects it has a copy of, so no copies also means no live lease.
    let placements = count(inner, &inner.statements.host.any_placement, (id.as_uuid(),)).await?;
    if placements > 0 {
        return Err(Error::Conflict(format!(
            "host {id} still holds {placements} project copy(ies): drain it and wait until they have moved"
        )));
    }
    let key = id.as_uuid();
    inner
        .write_batch(
            &inner.statements.host.delete,
            ((key,), (&host.datacenter, key)),
        )
        .await
}
