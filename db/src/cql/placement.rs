//! Placements in Cassandra: `project_placements` by project and `host_placements` by host, written together in logged
//! batches. Lists are sorted here, since Cassandra orders `uuid` clustering keys its own way.

use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{host, lease, project, timestamp, Inner, Preparer};
use crate::{Error, HostId, Placement, PlacementRole, ProjectId, Result};

pub(super) struct Statements {
    set: Batch,
    remove: Batch,
    one: PreparedStatement,
    of_project: PreparedStatement,
    on_host: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(preparer: &Preparer<'_>) -> Result<Self> {
        Ok(Statements {
            set: preparer
                .batch(&[
                    "INSERT INTO project_placements (project, host, role, updated) VALUES (?, ?, ?, ?)",
                    "INSERT INTO host_placements (host, project, role, updated) VALUES (?, ?, ?, ?)",
                ])
                .await?,
            remove: preparer
                .batch(&[
                    "DELETE FROM project_placements WHERE project = ? AND host = ?",
                    "DELETE FROM host_placements WHERE host = ? AND project = ?",
                ])
                .await?,
            one: preparer
                .idempotent("SELECT host FROM project_placements WHERE project = ? AND host = ?")
                .await?,
            of_project: preparer
                .idempotent(
                    "SELECT project, host, role, updated FROM project_placements WHERE project = ?",
                )
                .await?,
            on_host: preparer
                .idempotent(
                    "SELECT project, host, role, updated FROM host_placements WHERE host = ?",
                )
                .await?,
        })
    }
}

type PlacementRow = (Uuid, Uuid, String, i64);

fn from_row((project, host, role, updated): PlacementRow) -> Result<Placement> {
    Ok(Placement {
        project: ProjectId::from_uuid(project),
        host: HostId::from_uuid(host),
        role: PlacementRole::parse_stored(&role)?,
        updated: timestamp(updated),
    })
}

pub(super) async fn set(
    inner: &Inner,
    project: ProjectId,
    host: HostId,
    role: PlacementRole,
) -> Result<Placement> {
    project::live(inner, project).await?;
    host::by_id(inner, host).await?;
    let updated = inner.now();
    let (project_key, host_key, role_text) = (project.as_uuid(), host.as_uuid(), role.as_str());
    inner
        .write_batch(
            &inner.statements.placement.set,
            (
                (project_key, host_key, role_text, updated.as_millis()),
                (host_key, project_key, role_text, updated.as_millis()),
            ),
        )
        .await?;
    Ok(Placement {
        project,
        host,
        role,
        updated,
    })
}

pub(super) async fn remove(inner: &Inner, project: ProjectId, host: HostId) -> Result<()> {
    if let Some(live) = lease::live(inner, project).await? {
        if live.holder == host {
            return Err(Error::Conflict(format!(
                "host {host} runs project {project} under a lease until {}: stop it there before removing its copy",
                live.expires
            )));
        }
    }
    let (project_key, host_key) = (project.as_uuid(), host.as_uuid());
    inner
        .write_batch(
            &inner.statements.placement.remove,
            ((project_key, host_key), (host_key, project_key)),
        )
        .await
}

/// Whether `host` has a copy of `project`.
pub(super) async fn exists(inner: &Inner, project: ProjectId, host: HostId) -> Result<bool> {
    Ok(inner
        .row::<(Uuid,)>(
            &inner.statements.placement.one,
            (project.as_uuid(), host.as_uuid()),
        )
        .await?
        .is_some())
}

pub(super) async fn of_project(inner: &Inner, project: ProjectId) -> Result<Vec<Placement>> {
    let mut placements = inner
        .rows::<PlacementRow>(&inner.statements.placement.of_project, (project.as_uuid(),))
        .await?
        .into_iter()
        .map(from_row)
        .collect::<Result<Vec<_>>>()?;
    placements.sort_by_key(|placement| placement.host);
    Ok(placements)
}

pub(super) async fn on_host(inner: &Inner, host: HostId) -> Result<Vec<Placement>> {
    let mut placements = inner
        .rows::<PlacementRow>(&inner.statements.placement.on_host, (host.as_uuid(),))
        .await?
        .into_iter()
        .map(from_row)
        .collect::<Result<Vec<_>>>()?;
    placements.sort_by_key(|placement| placement.project);
    Ok(placements)
}
