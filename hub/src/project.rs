//! Projects and their collaborators over HTTP. Every route needs a sign-in; the rules (who may rename, delete, invite,
//! remove) are the metadata store's, and to anyone who is not a collaborator a project does not exist (404), so project
//! ids cannot be probed.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `GET /api/projects` | | 200, my projects, newest first |
//! | `POST /api/projects` | `{title}` | 201, the project |
//! | `GET /api/projects/{project}` | | 200, the project and my role |
//! | `PATCH /api/projects/{project}` | `{title}` | 200, the renamed project (any collaborator) |
//! | `DELETE /api/projects/{project}` | | 204 (owner only: 403 for a collaborator) |
//! | `GET /api/projects/{project}/collaborators` | | 200, owner first, then by joining time |
//! | `POST /api/projects/{project}/collaborators` | `{email}` | 201, the new collaborator (an existing account) |
//! | `DELETE /api/projects/{project}/collaborators/{account}` | | 204 (owner only; naming yourself leaves) |
//! | `POST /api/projects/{project}/leave` | | 204 (a collaborator; the owner gets 403) |
//!
//! Every change to who belongs to a project, or to its title, is pushed to the accounts concerned as `PROJECTS_CHANGED`
//! on their open WebSockets on this hub (`ws/sockets.rs`), so their project lists refresh without a reload.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use orrery_db::{
    Account, AccountId, Collaborator, Membership, Project, ProjectId, Role, Store, Timestamp,
};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::json::Json;
use crate::session::SignedIn;
use crate::state::AppState;
use crate::Result;

/// A project as the API shows it, with the caller's role in it.
#[derive(Debug, Serialize)]
pub(crate) struct ProjectView {
    id: ProjectId,
    title: String,
    owner: AccountId,
    created: Timestamp,
    role: Role,
}

impl ProjectView {
    fn new(project: Project, role: Role) -> Self {
        ProjectView {
            id: project.id,
            title: project.title,
            owner: project.owner,
            created: project.created,
            role,
        }
    }
}

/// A member of a project, with what collaborators may know of each other: name and e-mail address.
#[derive(Debug, Serialize)]
pub(crate) struct CollaboratorView {
    id: AccountId,
    email: String,
    display_name: String,
    role: Role,
    added: Timestamp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Title {
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Invitation {
    email: String,
}

/// A project id from the path; a malformed one is a 400 that names it.
fn project_id(text: &str) -> Result<ProjectId> {
    Ok(text.parse()?)
}

/// The caller's role in a project, or the store's 404 when it is none of theirs (or does not exist).
async fn membership(state: &AppState, project: ProjectId, account: AccountId) -> Result<Role> {
    match state.db.role(project, account).await? {
        Some(role) => Ok(role),
        None => Err(orrery_db::Error::NotFound(format!("project {project}")).into()),
    }
}

/// `GET /api/projects`.
#[instrument(skip_all, fields(account = %me.account.id))]
pub(crate) async fn list(
    State(state): State<AppState>,
    me: SignedIn,
) -> Result<axum::Json<Vec<ProjectView>>> {
    let memberships = state.db.projects_for_account(me.account.id).await?;
    Ok(axum::Json(
        memberships
            .into_iter()
            .map(|Membership { project, role, .. }| ProjectView::new(project, role))
            .collect(),
    ))
}

/// `POST /api/projects`.
#[instrument(skip_all, fields(account = %me.account.id))]
pub(crate) async fn create(
    State(state): State<AppState>,
    me: SignedIn,
    Json(request): Json<Title>,
) -> Result<(StatusCode, axum::Json<ProjectView>)> {
    let project = state
        .db
        .create_project(me.account.id, &request.title)
        .await?;
    tracing::info!(project = %project.id, "project created");
    state.sockets.projects_changed([me.account.id]);
    Ok((
        StatusCode::CREATED,
        axum::Json(ProjectView::new(project, Role::Owner)),
    ))
}

/// `GET /api/projects/{project}`.
#[instrument(skip_all, fields(account = %me.account.id))]
pub(crate) async fn show(
    State(state): State<AppState>,
    me: SignedIn,
    Path(project): Path<String>,
) -> Result<axum::Json<ProjectView>> {
    let project = project_id(&project)?;
    let role = membership(&state, project, me.account.id).await?;
    let project = state.db.project(project).await?;
    Ok(axum::Json(ProjectView::new(project, role)))
}

/// `PATCH /api/projects/{project}`: renames it.
#[instrument(skip_all, fields(account = %me.account.id))]
pub(crate) async fn rename(
    State(state): State<AppState>,
    me: SignedIn,
    Path(project): Path<String>,
    Json(request): Json<Title>,
) -> Result<axum::Json<ProjectView>> {
    let project = project_id(&project)?;
    let role = membership(&state, project, me.account.id).await?;
    let project = state
        .db
        .rename_project(project, me.account.id, &request.title)
        .await?;
    tell_members(&state, project.id).await;
    Ok(axum::Json(ProjectView::new(project, role)))
}

/// `DELETE /api/projects/{project}`.
#[instrument(skip_all, fields(account = %me.account.id))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    me: SignedIn,
    Path(project): Path<String>,
) -> Result<StatusCode> {
    let project = project_id(&project)?;
    membership(&state, project, me.account.id).await?;
    let members = state.db.collaborators(project).await.unwrap_or_default();
    state.db.delete_project(project, me.account.id).await?;
    tracing::info!(%project, "project deleted");
    state
        .sockets
        .projects_changed(members.iter().map(|member| member.account));
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/projects/{project}/collaborators`.
#[instrument(skip_all, fields(account = %me.account.id))]
pub(crate) async fn collaborators(
    State(state): State<AppState>,
    me: SignedIn,
    Path(project): Path<String>,
) -> Result<axum::Json<Vec<CollaboratorView>>> {
    let project = project_id(&project)?;
    membership(&state, project, me.account.id).await?;
    let members = state.db.collaborators(project).await?;
    Ok(axum::Json(views(&state, members).await?))
}

/// `POST /api/projects/{project}/collaborators`: invites an existing account by e-mail address.
#[instrument(skip_all, fields(account = %me.account.id))]
pub(crate) async fn invite(
    State(state): State<AppState>,
    me: SignedIn,
    Path(project): Path<String>,
    Json(request): Json<Invitation>,
) -> Result<(StatusCode, axum::Json<CollaboratorView>)> {
    let project = project_id(&project)?;
    membership(&state, project, me.account.id).await?;
    let added = state
        .db
        .invite_collaborator(project, me.account.id, &request.email)
        .await?;
    tracing::info!(%project, collaborator = %added.account, "collaborator invited");
    state.sockets.projects_changed([added.account]);
    let view = views(&state, vec![added])
        .await?
        .pop()
        .ok_or_else(|| orrery_db::Error::NotFound("the invited account no longer exists".into()))?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// `DELETE /api/projects/{project}/collaborators/{account}`.
#[instrument(skip_all, fields(account = %me.account.id))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    me: SignedIn,
    Path((project, account)): Path<(String, String)>,
) -> Result<StatusCode> {
    let project = project_id(&project)?;
    let account: AccountId = account.parse()?;
    membership(&state, project, me.account.id).await?;
    state
        .db
        .remove_collaborator(project, me.account.id, account)
        .await?;
    tracing::info!(%project, collaborator = %account, "collaborator removed");
    state.sockets.projects_changed([account]);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/projects/{project}/leave`.
#[instrument(skip_all, fields(account = %me.account.id))]
pub(crate) async fn leave(
    State(state): State<AppState>,
    me: SignedIn,
    Path(project): Path<String>,
) -> Result<StatusCode> {
    let project = project_id(&project)?;
    membership(&state, project, me.account.id).await?;
    state.db.leave_project(project, me.account.id).await?;
    tracing::info!(%project, "left project");
    state.sockets.projects_changed([me.account.id]);
    Ok(StatusCode::NO_CONTENT)
}

/// Tells every member's open sockets on this hub that their project list changed. A store that cannot list the members
/// now only delays the news until the pages' next periodic check.
async fn tell_members(state: &AppState, project: ProjectId) {
    let members = state.db.collaborators(project).await.unwrap_or_default();
    state
        .sockets
        .projects_changed(members.iter().map(|member| member.account));
}

/// Members with their names and addresses, in the store's order; a member whose account vanished meanwhile is left out.
async fn views(state: &AppState, members: Vec<Collaborator>) -> Result<Vec<CollaboratorView>> {
    let ids: Vec<AccountId> = members.iter().map(|member| member.account).collect();
    let mut accounts: HashMap<AccountId, Account> = state
        .db
        .accounts(&ids)
        .await?
        .into_iter()
        .map(|account| (account.id, account))
        .collect();
    Ok(members
        .into_iter()
        .filter_map(|member| {
            let account = accounts.remove(&member.account)?;
            Some(CollaboratorView {
                id: member.account,
                email: account.email,
                display_name: account.display_name,
                role: member.role,
                added: member.added,
            })
        })
        .collect())
}
