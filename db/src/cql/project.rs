//! Projects and membership in Cassandra: `projects` by id (soft-deleted rows keep `deleted`), and each membership twice,
//! `project_members` by project and `account_projects` by account, written together in logged batches.
//! An account's list reads its memberships and then each project by key, so renames and transfers touch one row.

use futures_util::future::try_join_all;
use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{account, timestamp, Inner, Preparer};
use crate::project::{project_not_found, sort_collaborators, sort_memberships, valid_title};
use crate::{AccountId, Collaborator, Error, Membership, Project, ProjectId, Result, Role};

pub(super) struct Statements {
    create: Batch,
    by_id: PreparedStatement,
    set_title: PreparedStatement,
    mark_deleted: PreparedStatement,
    add_member: Batch,
    remove_member: Batch,
    remove_all_members: PreparedStatement,
    transfer: Batch,
    role: PreparedStatement,
    members: PreparedStatement,
    of_account: PreparedStatement,
}

const INSERT_MEMBER: &str =
    "INSERT INTO project_members (project, account, role, added) VALUES (?, ?, ?, ?)";
const INSERT_ACCOUNT_PROJECT: &str =
    "INSERT INTO account_projects (account, project, role, added) VALUES (?, ?, ?, ?)";

impl Statements {
    pub(super) async fn prepare(preparer: &Preparer<'_>) -> Result<Self> {
        Ok(Statements {
            create: preparer
                .batch(&[
                    "INSERT INTO projects (id, title, owner, created) VALUES (?, ?, ?, ?)",
                    INSERT_MEMBER,
                    INSERT_ACCOUNT_PROJECT,
                ])
                .await?,
            by_id: preparer
                .idempotent("SELECT id, title, owner, created, deleted FROM projects WHERE id = ?")
                .await?,
            set_title: preparer
                .idempotent("UPDATE projects SET title = ? WHERE id = ?")
                .await?,
            mark_deleted: preparer
                .idempotent("UPDATE projects SET deleted = ? WHERE id = ?")
                .await?,
            add_member: preparer
                .batch(&[INSERT_MEMBER, INSERT_ACCOUNT_PROJECT])
                .await?,
            remove_member: preparer
                .batch(&[
                    "DELETE FROM project_members WHERE project = ? AND account = ?",
                    "DELETE FROM account_projects WHERE account = ? AND project = ?",
                ])
                .await?,
            remove_all_members: preparer
                .idempotent("DELETE FROM project_members WHERE project = ?")
                .await?,
            transfer: preparer
                .batch(&[
                    INSERT_MEMBER,
                    INSERT_ACCOUNT_PROJECT,
                    INSERT_MEMBER,
                    INSERT_ACCOUNT_PROJECT,
                    "UPDATE projects SET owner = ? WHERE id = ?",
                ])
                .await?,
            role: preparer
                .idempotent(
                    "SELECT role, added FROM project_members WHERE project = ? AND account = ?",
                )
                .await?,
            members: preparer
                .idempotent("SELECT account, role, added FROM project_members WHERE project = ?")
                .await?,
            of_account: preparer
                .idempotent("SELECT project, role, added FROM account_projects WHERE account = ?")
                .await?,
        })
    }
}

type ProjectRow = (Uuid, String, Uuid, i64, Option<i64>);

/// The project, live or deleted; `None` when it never existed.
async fn stored(inner: &Inner, id: ProjectId) -> Result<Option<(Project, bool)>> {
    Ok(inner
        .row::<ProjectRow>(&inner.statements.project.by_id, (id.as_uuid(),))
        .await?
        .map(|(id, title, owner, created, deleted)| {
            (
                Project {
                    id: ProjectId::from_uuid(id),
                    title,
                    owner: AccountId::from_uuid(owner),
                    created: timestamp(created),
                },
                deleted.is_some(),
            )
        }))
}

pub(super) async fn live(inner: &Inner, id: ProjectId) -> Result<Project> {
    match stored(inner, id).await? {
        Some((project, false)) => Ok(project),
        _ => Err(project_not_found(id)),
    }
}

pub(super) async fn create(inner: &Inner, owner: AccountId, title: &str) -> Result<Project> {
    let title = valid_title(title)?;
    account::require(inner, owner).await?;
    let project = Project {
        id: ProjectId::random(),
        title,
        owner,
        created: inner.now(),
    };
    let (id, owner, created) = (
        project.id.as_uuid(),
        owner.as_uuid(),
        project.created.as_millis(),
    );
    let role = Role::Owner.as_str();
    inner
        .write_batch(
            &inner.statements.project.create,
            (
                (id, &project.title, owner, created),
                (id, owner, role, created),
                (owner, id, role, created),
            ),
        )
        .await?;
    Ok(project)
}

/// The account's role in the project and when it joined, or `None` when it is not a member.
async fn membership(
    inner: &Inner,
    project: ProjectId,
    account: AccountId,
) -> Result<Option<(Role, i64)>> {
    inner
        .row::<(String, i64)>(
            &inner.statements.project.role,
            (project.as_uuid(), account.as_uuid()),
        )
        .await?
        .map(|(role, added)| Ok((Role::parse_stored(&role)?, added)))
        .transpose()
}

pub(super) async fn role(
    inner: &Inner,
    project: ProjectId,
    account: AccountId,
) -> Result<Option<Role>> {
    Ok(membership(inner, project, account)
        .await?
        .map(|(role, _)| role))
}

/// The actor's role, or the same `NotFound` a missing project gives: non-members learn nothing.
async fn member_role(inner: &Inner, project: ProjectId, actor: AccountId) -> Result<Role> {
    role(inner, project, actor)
        .await?
        .ok_or_else(|| project_not_found(project))
}

async fn require_owner(
    inner: &Inner,
    project: ProjectId,
    actor: AccountId,
    action: &str,
) -> Result<()> {
    match member_role(inner, project, actor).await? {
        Role::Owner => Ok(()),
        Role::Collaborator => Err(Error::Forbidden(format!(
            "only the owner of project {project} can {action}"
        ))),
    }
}

pub(super) async fn rename(
    inner: &Inner,
    id: ProjectId,
    actor: AccountId,
    title: &str,
) -> Result<Project> {
    let title = valid_title(title)?;
    member_role(inner, id, actor).await?;
    let mut project = live(inner, id).await?;
    inner
        .write(&inner.statements.project.set_title, (&title, id.as_uuid()))
        .await?;
    project.title = title;
    Ok(project)
}

async fn remove_membership(inner: &Inner, project: ProjectId, account: AccountId) -> Result<()> {
    let (project, account) = (project.as_uuid(), account.as_uuid());
    inner
        .write_batch(
            &inner.statements.project.remove_member,
            ((project, account), (account, project)),
        )
        .await
}

async fn members(inner: &Inner, project: ProjectId) -> Result<Vec<Collaborator>> {
    inner
        .rows::<(Uuid, String, i64)>(&inner.statements.project.members, (project.as_uuid(),))
        .await?
        .into_iter()
        .map(|(account, role, added)| {
            Ok(Collaborator {
                account: AccountId::from_uuid(account),
                role: Role::parse_stored(&role)?,
                added: timestamp(added),
            })
        })
        .collect()
}

pub(super) async fn delete(inner: &Inner, id: ProjectId, actor: AccountId) -> Result<()> {
    require_owner(inner, id, actor, "delete it").await?;
    inner
        .write(
            &inner.statements.project.mark_deleted,
            (inner.now().as_millis(), id.as_uuid()),
        )
        .await?;
    for member in members(inner, id).await? {
        remove_membership(inner, id, member.account).await?;
    }
    inner
        .write(
            &inner.statements.project.remove_all_members,
            (id.as_uuid(),),
        )
        .await
}

pub(super) async fn for_account(inner: &Inner, account: AccountId) -> Result<Vec<Membership>> {
    let joined = inner
        .rows::<(Uuid, String, i64)>(&inner.statements.project.of_account, (account.as_uuid(),))
        .await?;
    let found = try_join_all(joined.into_iter().map(|(project, role, added)| async move {
        let role = Role::parse_stored(&role)?;
        // A project being deleted loses its memberships right after it is marked: it is already gone from every list.
        Ok::<_, Error>(match stored(inner, ProjectId::from_uuid(project)).await? {
            Some((project, false)) => Some(Membership {
                project,
                role,
                added: timestamp(added),
            }),
            _ => None,
        })
    }))
    .await?;
    let mut memberships: Vec<Membership> = found.into_iter().flatten().collect();
    sort_memberships(&mut memberships);
    Ok(memberships)
}

pub(super) async fn collaborators(inner: &Inner, project: ProjectId) -> Result<Vec<Collaborator>> {
    live(inner, project).await?;
    let mut collaborators = members(inner, project).await?;
    sort_collaborators(&mut collaborators);
    Ok(collaborators)
}

pub(super) async fn invite(
    inner: &Inner,
    project: ProjectId,
    inviter: AccountId,
    email: &str,
) -> Result<Collaborator> {
    member_role(inner, project, inviter).await?;
    let invitee = account::by_email(inner, email)
        .await
        .map_err(|error| match error {
            Error::NotFound(_) => Error::NotFound(format!(
                "an account with e-mail address {} (they must sign up before they can be invited)",
                email.trim()
            )),
            other => other,
        })?;
    if role(inner, project, invitee.id).await?.is_some() {
        return Err(Error::AlreadyExists(format!(
            "{} is already a member of project {project}",
            invitee.email
        )));
    }
    let added = inner.now();
    let (project_key, account_key) = (project.as_uuid(), invitee.id.as_uuid());
    let role = Role::Collaborator.as_str();
    inner
        .write_batch(
            &inner.statements.project.add_member,
            (
                (project_key, account_key, role, added.as_millis()),
                (account_key, project_key, role, added.as_millis()),
            ),
        )
        .await?;
    Ok(Collaborator {
        account: invitee.id,
        role: Role::Collaborator,
        added,
    })
}

pub(super) async fn remove(
    inner: &Inner,
    project: ProjectId,
    actor: AccountId,
    account: AccountId,
) -> Result<()> {
    if actor == account {
        return leave(inner, project, account).await;
    }
    require_owner(inner, project, actor, "remove collaborators").await?;
    match role(inner, project, account).await? {
        None => Err(Error::NotFound(format!(
            "account {account} as a member of project {project}"
        ))),
        Some(Role::Owner) => Err(Error::Forbidden(format!(
            "the owner of project {project} cannot be removed"
        ))),
        Some(Role::Collaborator) => remove_membership(inner, project, account).await,
    }
}

pub(super) async fn leave(inner: &Inner, project: ProjectId, account: AccountId) -> Result<()> {
    match member_role(inner, project, account).await? {
        Role::Owner => Err(Error::Forbidden(format!(
            "the owner cannot leave project {project}: transfer ownership to a collaborator or delete the project"
        ))),
        Role::Collaborator => remove_membership(inner, project, account).await,
    }
}

pub(super) async fn transfer(
    inner: &Inner,
    project: ProjectId,
    actor: AccountId,
    new_owner: AccountId,
) -> Result<Project> {
    require_owner(inner, project, actor, "transfer its ownership").await?;
    let mut current = live(inner, project).await?;
    if new_owner == actor {
        return Ok(current);
    }
    let Some((_, new_owner_added)) = membership(inner, project, new_owner).await? else {
        return Err(Error::NotFound(format!(
            "account {new_owner} as a member of project {project} (invite them before making them the owner)"
        )));
    };
    let Some((_, old_owner_added)) = membership(inner, project, actor).await? else {
        return Err(project_not_found(project));
    };
    // Whole rows rather than role updates: racing a removal, an update would leave a fragment without `added`.
    let (project_key, old, new) = (project.as_uuid(), actor.as_uuid(), new_owner.as_uuid());
    let (owner, collaborator) = (Role::Owner.as_str(), Role::Collaborator.as_str());
    inner
        .write_batch(
            &inner.statements.project.transfer,
            (
                (project_key, old, collaborator, old_owner_added),
                (old, project_key, collaborator, old_owner_added),
                (project_key, new, owner, new_owner_added),
                (new, project_key, owner, new_owner_added),
                (new, project_key),
            ),
        )
        .await?;
    current.owner = new_owner;
    Ok(current)
}
