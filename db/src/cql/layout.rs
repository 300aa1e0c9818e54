//! Layout versions in Cassandra: `latest_layout` holds the newest version whole, and publishing replaces it with a
//! compare-and-set on its `version`, so of two admins building on the same version exactly one wins.
//! `layouts` keeps every version by number. The winner copies its version there right after the compare-and-set, and
//! every publisher first copies the version it replaces, so a publisher that died between the two steps loses nothing.

use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{counter, host, read_counter, read_weight, timestamp, weight_value, Inner, Preparer};
use crate::layout::{next_version, stale_base, valid_layout_hosts};
use crate::{Error, HostId, Layout, LayoutHost, Result};

/// The partition key of `latest_layout`'s one row.
const REGISTRY: &str = "layout";

pub(super) struct Statements {
    latest: PreparedStatement,
    latest_serial: PreparedStatement,
    publish_first: PreparedStatement,
    publish_next: PreparedStatement,
    archive: PreparedStatement,
    by_version: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(preparer: &Preparer<'_>) -> Result<Self> {
        const LATEST: &str = "SELECT version, created, hosts FROM latest_layout WHERE registry = ?";
        Ok(Statements {
            latest: preparer.idempotent(LATEST).await?,
            latest_serial: preparer.serial_read(LATEST).await?,
            publish_first: preparer
                .compare_and_set(
                    "INSERT INTO latest_layout (registry, version, created, hosts) VALUES (?, ?, ?, ?) IF NOT EXISTS",
                )
                .await?,
            publish_next: preparer
                .compare_and_set(
                    "UPDATE latest_layout SET version = ?, created = ?, hosts = ? WHERE registry = ? IF version = ?",
                )
                .await?,
            archive: preparer
                .idempotent("INSERT INTO layouts (version, created, hosts) VALUES (?, ?, ?)")
                .await?,
            by_version: preparer
                .idempotent("SELECT version, created, hosts FROM layouts WHERE version = ?")
                .await?,
        })
    }
}

type StoredHost = (Uuid, String, i32);
type LayoutRow = (i64, i64, Vec<StoredHost>);

fn from_row((version, created, hosts): LayoutRow) -> Result<Layout> {
    Ok(Layout {
        version: read_counter("a layout version", version)?,
        hosts: hosts
            .into_iter()
            .map(|(host, datacenter, weight)| {
                Ok(LayoutHost {
                    host: HostId::from_uuid(host),
                    datacenter,
                    weight: read_weight(weight)?,
                })
            })
            .collect::<Result<_>>()?,
        created: timestamp(created),
    })
}

fn stored_hosts(hosts: &[LayoutHost]) -> Result<Vec<StoredHost>> {
    hosts
        .iter()
        .map(|entry| {
            Ok((
                *entry.host.as_uuid(),
                entry.datacenter.clone(),
                weight_value(entry.weight)?,
            ))
        })
        .collect()
}

async fn read_latest(inner: &Inner, statement: &PreparedStatement) -> Result<Option<Layout>> {
    inner
        .row::<LayoutRow>(statement, (REGISTRY,))
        .await?
        .map(from_row)
        .transpose()
}

async fn archive(inner: &Inner, layout: &Layout) -> Result<()> {
    inner
        .write(
            &inner.statements.layout.archive,
            (
                counter(layout.version)?,
                layout.created.as_millis(),
                stored_hosts(&layout.hosts)?,
            ),
        )
        .await
}

pub(super) async fn publish(
    inner: &Inner,
    base: Option<u64>,
    hosts: Vec<LayoutHost>,
) -> Result<Layout> {
    let statements = &inner.statements.layout;
    let hosts = valid_layout_hosts(hosts)?;
    let current = read_latest(inner, &statements.latest_serial).await?;
    let latest = current.as_ref().map(|layout| layout.version);
    if latest != base {
        return Err(stale_base(base, latest));
    }
    for entry in &hosts {
        let registered = host::by_id(inner, entry.host).await?;
        if registered.datacenter != entry.datacenter {
            return Err(Error::Invalid(format!(
                "host {} is in datacenter {:?}, not {:?}",
                entry.host, registered.datacenter, entry.datacenter
            )));
        }
    }
    if let Some(current) = &current {
        archive(inner, current).await?;
    }
    let layout = Layout {
        version: next_version(base)?,
        hosts,
        created: inner.now(),
    };
    let (version, created, stored) = (
        counter(layout.version)?,
        layout.created.as_millis(),
        stored_hosts(&layout.hosts)?,
    );
    let attempt = match base {
        None => {
            inner
                .compare_and_set(
                    &statements.publish_first,
                    (REGISTRY, version, created, &stored),
                )
                .await
        }
        Some(base) => {
            inner
                .compare_and_set(
                    &statements.publish_next,
                    (version, created, &stored, REGISTRY, counter(base)?),
                )
                .await
        }
    };
    let published = match attempt {
        Ok(applied) => applied,
        // Unknown outcome: the newest layout says whether it is ours.
        Err(error) => match read_latest(inner, &statements.latest_serial).await {
            Ok(Some(newest)) if newest == layout => true,
            Ok(newest) if newest.as_ref().map(|newest| newest.version) != base => false,
            _ => return Err(error),
        },
    };
    if !published {
        let newest = read_latest(inner, &statements.latest_serial).await?;
        return Err(stale_base(base, newest.map(|layout| layout.version)));
    }
    archive(inner, &layout).await?;
    Ok(layout)
}

pub(super) async fn by_version(inner: &Inner, version: u64) -> Result<Layout> {
    let not_found = || Error::NotFound(format!("layout version {version}"));
    let Ok(stored_version) = i64::try_from(version) else {
        return Err(not_found());
    };
    let archived = inner
        .row::<LayoutRow>(&inner.statements.layout.by_version, (stored_version,))
        .await?;
    if let Some(row) = archived {
        return from_row(row);
    }
    // The newest version reaches `layouts` just after it is published.
    match latest(inner).await? {
        Some(newest) if newest.version == version => Ok(newest),
        _ => Err(not_found()),
    }
}

pub(super) async fn latest(inner: &Inner) -> Result<Option<Layout>> {
    read_latest(inner, &inner.statements.layout.latest).await
}
