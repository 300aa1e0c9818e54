//! Projects and who may use them.
//!
//! Every project has exactly one owner and any number of collaborators; both may open it, rename it and invite others.
//! Only the owner may delete it, remove collaborators or hand ownership to a collaborator; the owner cannot leave.
//! Invitations are immediate: inviting an existing account by e-mail makes it a collaborator.
//! To someone who is not a collaborator a project does not exist: every operation answers `NotFound`, so ids cannot be probed.
//!
//! Deleting is soft: the project row stays, marked deleted, so its id is never reused and the storage reconciler of a later
//! issue can still find the volumes (placements) of a deleted project and reclaim them. Its memberships are removed at once,
//! so it vanishes from every list and no one is a collaborator of it any more.
//!
//! Membership is kept in two directions, project → collaborators and account → projects, so each read is one lookup by key
//! (two Cassandra tables, two indexes in SQLite) and listing an account's projects needs no join.

use serde::{Deserialize, Serialize};

use crate::validate::single_line;
use crate::{AccountId, Error, ProjectId, Result, Timestamp};

/// Longest project title accepted.
pub const MAX_TITLE_CHARS: usize = 200;

/// A live (not deleted) project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub title: String,
    pub owner: AccountId,
    pub created: Timestamp,
}

/// What an account is to a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Collaborator,
}

impl Role {
    /// The stored and wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Collaborator => "collaborator",
        }
    }

    /// From the stored spelling; anything else is corruption.
    pub fn parse_stored(text: &str) -> Result<Self> {
        match text {
            "owner" => Ok(Role::Owner),
            "collaborator" => Ok(Role::Collaborator),
            other => Err(Error::Corrupt(format!("unknown project role {other:?}"))),
        }
    }
}

/// One member of a project, as listed from the project's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collaborator {
    pub account: AccountId,
    pub role: Role,
    /// When the account joined (the owner: when the project was created).
    pub added: Timestamp,
}

/// One project of an account, as listed from the account's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub project: Project,
    pub role: Role,
    pub added: Timestamp,
}

/// A project title, trimmed, if it is one line of at most [`MAX_TITLE_CHARS`] characters.
pub(crate) fn valid_title(title: &str) -> Result<String> {
    single_line("a project title", title, MAX_TITLE_CHARS)
}

/// The error for a project that does not exist, was deleted, or that the caller may not know about: all three look alike.
pub(crate) fn project_not_found(project: ProjectId) -> Error {
    Error::NotFound(format!("project {project}"))
}

/// Orders an account's project list the one documented way: newest first, ties by id.
pub(crate) fn sort_memberships(memberships: &mut [Membership]) {
    memberships.sort_by(|left, right| {
        right
            .project
            .created
            .cmp(&left.project.created)
            .then(left.project.id.cmp(&right.project.id))
    });
}

/// Orders a project's collaborators the one documented way: the owner, then by joining time, ties by id.
pub(crate) fn sort_collaborators(collaborators: &mut [Collaborator]) {
    collaborators.sort_by_key(|collaborator| {
        (
            collaborator.role != Role::Owner,
            collaborator.added,
            collaborator.account,
        )
    });
}
