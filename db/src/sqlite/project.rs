//! Projects and membership in SQLite: `projects` (soft-deleted rows keep `deleted`) and `collaborators`, indexed both by
//! project and by account so each listing is a lookup by key.

use rusqlite::{Connection, OptionalExtension, Row};

use super::account;
use crate::project::{project_not_found, sort_collaborators, sort_memberships, valid_title};
use crate::{
    AccountId, Collaborator, Error, Membership, Project, ProjectId, Result, Role, Timestamp,
};

fn project_from_row(row: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: row.get(0)?,
        title: row.get(1)?,
        owner: row.get(2)?,
        created: row.get(3)?,
    })
}

pub(super) fn create(
    connection: &Connection,
    owner: AccountId,
    title: &str,
    now: Timestamp,
) -> Result<Project> {
    let title = valid_title(title)?;
    account::require(connection, owner)?;
    let project = Project {
        id: ProjectId::random(),
        title,
        owner,
        created: now,
    };
    connection.execute(
        "INSERT INTO projects (id, title, owner, created) VALUES (?1, ?2, ?3, ?4)",
        (project.id, &project.title, project.owner, project.created),
    )?;
    connection.execute(
        "INSERT INTO collaborators (project, account, role, added) VALUES (?1, ?2, ?3, ?4)",
        (project.id, owner, Role::Owner, now),
    )?;
    Ok(project)
}

pub(super) fn live(connection: &Connection, id: ProjectId) -> Result<Project> {
    connection
        .query_row(
            "SELECT id, title, owner, created FROM projects WHERE id = ?1 AND deleted IS NULL",
            [id],
            project_from_row,
        )
        .optional()?
        .ok_or_else(|| project_not_found(id))
}

pub(super) fn role(
    connection: &Connection,
    project: ProjectId,
    account: AccountId,
) -> Result<Option<Role>> {
    Ok(connection
        .query_row(
            "SELECT role FROM collaborators WHERE project = ?1 AND account = ?2",
            (project, account),
            |row| row.get(0),
        )
        .optional()?)
}

/// The actor's role, or the same `NotFound` a missing project gives: non-members learn nothing.
fn member_role(connection: &Connection, project: ProjectId, actor: AccountId) -> Result<Role> {
    role(connection, project, actor)?.ok_or_else(|| project_not_found(project))
}

fn require_owner(
    connection: &Connection,
    project: ProjectId,
    actor: AccountId,
    action: &str,
) -> Result<()> {
    match member_role(connection, project, actor)? {
        Role::Owner => Ok(()),
        Role::Collaborator => Err(Error::Forbidden(format!(
            "only the owner of project {project} can {action}"
        ))),
    }
}

pub(super) fn rename(
    connection: &Connection,
    id: ProjectId,
    actor: AccountId,
    title: &str,
) -> Result<Project> {
    let title = valid_title(title)?;
    member_role(connection, id, actor)?;
    connection.execute(
        "UPDATE projects SET title = ?2 WHERE id = ?1 AND deleted IS NULL",
        (id, &title),
    )?;
    live(connection, id)
}

pub(super) fn delete(
    connection: &Connection,
    id: ProjectId,
    actor: AccountId,
    now: Timestamp,
) -> Result<()> {
    require_owner(connection, id, actor, "delete it")?;
    connection.execute("UPDATE projects SET deleted = ?2 WHERE id = ?1", (id, now))?;
    connection.execute("DELETE FROM collaborators WHERE project = ?1", [id])?;
    Ok(())
}

pub(super) fn for_account(connection: &Connection, account: AccountId) -> Result<Vec<Membership>> {
    let mut statement = connection.prepare_cached(
        "SELECT p.id, p.title, p.owner, p.created, c.role, c.added
         FROM collaborators c JOIN projects p ON p.id = c.project
         WHERE c.account = ?1 AND p.deleted IS NULL",
    )?;
    let mut memberships = statement
        .query_map([account], |row| {
            Ok(Membership {
                project: project_from_row(row)?,
                role: row.get(4)?,
                added: row.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    sort_memberships(&mut memberships);
    Ok(memberships)
}

pub(super) fn collaborators(
    connection: &Connection,
    project: ProjectId,
) -> Result<Vec<Collaborator>> {
    live(connection, project)?;
    let mut statement = connection
        .prepare_cached("SELECT account, role, added FROM collaborators WHERE project = ?1")?;
    let mut collaborators = statement
        .query_map([project], |row| {
            Ok(Collaborator {
                account: row.get(0)?,
                role: row.get(1)?,
                added: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    sort_collaborators(&mut collaborators);
    Ok(collaborators)
}

pub(super) fn invite(
    connection: &Connection,
    project: ProjectId,
    inviter: AccountId,
    email: &str,
    now: Timestamp,
) -> Result<Collaborator> {
    member_role(connection, project, inviter)?;
    let invitee = account::by_email(connection, email).map_err(|error| match error {
        Error::NotFound(_) => Error::NotFound(format!(
            "an account with e-mail address {} (they must sign up before they can be invited)",
            email.trim()
        )),
        other => other,
    })?;
    if role(connection, project, invitee.id)?.is_some() {
        return Err(Error::AlreadyExists(format!(
            "{} is already a member of project {project}",
            invitee.email
        )));
    }
    connection.execute(
        "INSERT INTO collaborators (project, account, role, added) VALUES (?1, ?2, ?3, ?4)",
        (project, invitee.id, Role::Collaborator, now),
    )?;
    Ok(Collaborator {
        account: invitee.id,
        role: Role::Collaborator,
        added: now,
    })
}

pub(super) fn remove(
    connection: &Connection,
    project: ProjectId,
    actor: AccountId,
    account: AccountId,
) -> Result<()> {
    if actor == account {
        return leave(connection, project, account);
    }
    require_owner(connection, project, actor, "remove collaborators")?;
    match role(connection, project, account)? {
        None => Err(Error::NotFound(format!(
            "account {account} as a member of project {project}"
        ))),
        Some(Role::Owner) => Err(Error::Forbidden(format!(
            "the owner of project {project} cannot be removed"
        ))),
        Some(Role::Collaborator) => {
            connection.execute(
                "DELETE FROM collaborators WHERE project = ?1 AND account = ?2",
                (project, account),
            )?;
            Ok(())
        }
    }
}

pub(super) fn leave(connection: &Connection, project: ProjectId, account: AccountId) -> Result<()> {
    match member_role(connection, project, account)? {
        Role::Owner => Err(Error::Forbidden(format!(
            "the owner cannot leave project {project}: transfer ownership to a collaborator or delete the project"
        ))),
        Role::Collaborator => {
            connection.execute(
                "DELETE FROM collaborators WHERE project = ?1 AND account = ?2",
                (project, account),
            )?;
            Ok(())
        }
    }
}

pub(super) fn transfer(
    connection: &Connection,
    project: ProjectId,
    actor: AccountId,
    new_owner: AccountId,
) -> Result<Project> {
    require_owner(connection, project, actor, "transfer its ownership")?;
    if new_owner == actor {
        return live(connection, project);
    }
    if role(connection, project, new_owner)?.is_none() {
        return Err(Error::NotFound(format!(
            "account {new_owner} as a member of project {project} (invite them before making them the owner)"
        )));
    }
    // Demote first: the schema allows one owner per project at any moment.
    connection.execute(
        "UPDATE collaborators SET role = ?3 WHERE project = ?1 AND account = ?2",
        (project, actor, Role::Collaborator),
    )?;
    connection.execute(
        "UPDATE collaborators SET role = ?3 WHERE project = ?1 AND account = ?2",
        (project, new_owner, Role::Owner),
    )?;
    connection.execute(
        "UPDATE projects SET owner = ?2 WHERE id = ?1",
        (project, new_owner),
    )?;
    live(connection, project)
}
