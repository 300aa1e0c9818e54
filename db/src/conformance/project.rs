//! Projects and collaborators: lists from both sides, who may rename, invite, remove, leave, transfer and delete, and the
//! authorization question every channel open asks (`is_collaborator`).

use std::sync::Arc;
use std::time::Duration;

use super::sign_up;
use crate::{AccountId, Clock, Error, ManualClock, ProjectId, Role, Store};

async fn member_ids<S: Store>(store: &S, project: ProjectId) -> Vec<(AccountId, Role)> {
    store
        .collaborators(project)
        .await
        .expect("listing collaborators")
        .into_iter()
        .map(|collaborator| (collaborator.account, collaborator.role))
        .collect()
}

async fn project_ids<S: Store>(store: &S, account: AccountId) -> Vec<(ProjectId, Role)> {
    store
        .projects_for_account(account)
        .await
        .expect("listing an account's projects")
        .into_iter()
        .map(|membership| (membership.project.id, membership.role))
        .collect()
}

pub async fn create_rename_and_list<S: Store + Clone + 'static>(store: S, clock: Arc<ManualClock>) {
    let ada = sign_up(&store, "ada").await;
    let stranger = sign_up(&store, "stranger").await;
    assert!(project_ids(&store, ada.id).await.is_empty());

    let first = store
        .create_project(ada.id, "  Analytical Engine  ")
        .await
        .expect("creating a project");
    assert_eq!(first.title, "Analytical Engine");
    assert_eq!(first.owner, ada.id);
    assert_eq!(first.created, clock.now());
    clock.advance(Duration::from_secs(1));
    let second = store
        .create_project(ada.id, "Notes on the Engine")
        .await
        .expect("creating a second project");

    assert_eq!(store.project(first.id).await.expect("by id"), first);
    assert_eq!(
        project_ids(&store, ada.id).await,
        vec![(second.id, Role::Owner), (first.id, Role::Owner)],
        "newest first"
    );
    let memberships = store.projects_for_account(ada.id).await.expect("list");
    assert_eq!(
        memberships[1].project, first,
        "the list carries the project itself"
    );
    assert_eq!(memberships[1].added, first.created);
    assert_eq!(
        member_ids(&store, first.id).await,
        vec![(ada.id, Role::Owner)]
    );
    assert!(store
        .is_collaborator(first.id, ada.id)
        .await
        .expect("owner"));
    assert!(!store
        .is_collaborator(first.id, stranger.id)
        .await
        .expect("stranger"));
    assert!(!store
        .is_collaborator(ProjectId::random(), ada.id)
        .await
        .expect("unknown project"));

    let renamed = store
        .rename_project(first.id, ada.id, "Difference Engine")
        .await
        .expect("owner renames");
    assert_eq!(renamed.title, "Difference Engine");
    assert_eq!(
        store.project(first.id).await.expect("reread").title,
        "Difference Engine"
    );
    assert_eq!(
        store.projects_for_account(ada.id).await.expect("list")[1]
            .project
            .title,
        "Difference Engine",
        "the account's list shows the new title"
    );
    assert_error!(
        store
            .rename_project(first.id, stranger.id, "Mine now")
            .await,
        Error::NotFound(_)
    );
    for title in ["", "   ", "two\nlines", &"t".repeat(201)] {
        assert_error!(
            store.rename_project(first.id, ada.id, title).await,
            Error::Invalid(_)
        );
        assert_error!(store.create_project(ada.id, title).await, Error::Invalid(_));
    }
    assert_eq!(
        store.project(first.id).await.expect("unchanged").title,
        "Difference Engine"
    );
    assert_error!(
        store.create_project(AccountId::random(), "Orphan").await,
        Error::NotFound(_)
    );
    assert_error!(store.project(ProjectId::random()).await, Error::NotFound(_));
    assert_error!(
        store.collaborators(ProjectId::random()).await,
        Error::NotFound(_)
    );
}

pub async fn delete_is_for_the_owner_and_hides_everything<S: Store + Clone + 'static>(
    store: S,
    _clock: Arc<ManualClock>,
) {
    let ada = sign_up(&store, "ada").await;
    let grace = sign_up(&store, "grace").await;
    let stranger = sign_up(&store, "stranger").await;
    let project = store
        .create_project(ada.id, "Doomed")
        .await
        .expect("create");
    let kept = store.create_project(ada.id, "Kept").await.expect("create");
    store
        .invite_collaborator(project.id, ada.id, &grace.email)
        .await
        .expect("invite");

    assert_error!(
        store.delete_project(project.id, grace.id).await,
        Error::Forbidden(_)
    );
    assert_error!(
        store.delete_project(project.id, stranger.id).await,
        Error::NotFound(_)
    );
    assert!(
        store.project(project.id).await.is_ok(),
        "refused deletes change nothing"
    );

    store
        .delete_project(project.id, ada.id)
        .await
        .expect("owner deletes");
    assert_error!(store.project(project.id).await, Error::NotFound(_));
    assert_error!(store.collaborators(project.id).await, Error::NotFound(_));
    assert_eq!(
        project_ids(&store, ada.id).await,
        vec![(kept.id, Role::Owner)]
    );
    assert!(project_ids(&store, grace.id).await.is_empty());
    for account in [ada.id, grace.id] {
        assert!(!store
            .is_collaborator(project.id, account)
            .await
            .expect("after delete"));
    }
    assert_error!(
        store.rename_project(project.id, ada.id, "Revived").await,
        Error::NotFound(_)
    );
    assert_error!(
        store
            .invite_collaborator(project.id, ada.id, &stranger.email)
            .await,
        Error::NotFound(_)
    );
    assert_error!(
        store.delete_project(project.id, ada.id).await,
        Error::NotFound(_)
    );
}

pub async fn invite_and_authorize<S: Store + Clone + 'static>(store: S, clock: Arc<ManualClock>) {
    let ada = sign_up(&store, "ada").await;
    let grace = sign_up(&store, "grace").await;
    let alan = sign_up(&store, "alan").await;
    let stranger = sign_up(&store, "stranger").await;
    let project = store
        .create_project(ada.id, "Shared")
        .await
        .expect("create");

    assert!(!store
        .is_collaborator(project.id, grace.id)
        .await
        .expect("before invite"));
    assert_error!(
        store
            .invite_collaborator(project.id, stranger.id, &grace.email)
            .await,
        Error::NotFound(_)
    );
    assert_eq!(store.role(project.id, grace.id).await.expect("role"), None);

    clock.advance(Duration::from_secs(5));
    let invited = store
        .invite_collaborator(project.id, ada.id, &grace.email.to_uppercase())
        .await
        .expect("invite by e-mail, any case");
    assert_eq!(invited.account, grace.id);
    assert_eq!(invited.role, Role::Collaborator);
    assert_eq!(invited.added, clock.now());
    assert!(store
        .is_collaborator(project.id, grace.id)
        .await
        .expect("after invite"));
    assert_eq!(
        store.role(project.id, grace.id).await.expect("role"),
        Some(Role::Collaborator)
    );
    assert_eq!(
        project_ids(&store, grace.id).await,
        vec![(project.id, Role::Collaborator)]
    );
    assert_error!(
        store
            .invite_collaborator(project.id, ada.id, &grace.email)
            .await,
        Error::AlreadyExists(_)
    );
    assert_error!(
        store
            .invite_collaborator(project.id, ada.id, &ada.email)
            .await,
        Error::AlreadyExists(_)
    );
    let error = assert_error!(
        store
            .invite_collaborator(project.id, ada.id, &super::unique_email("nobody"))
            .await,
        Error::NotFound(_)
    );
    assert!(
        error.to_string().contains("sign up"),
        "says what to do: {error}"
    );
    assert_error!(
        store
            .invite_collaborator(project.id, ada.id, "not an address")
            .await,
        Error::Invalid(_)
    );

    // Any member may invite and rename, not only the owner.
    clock.advance(Duration::from_secs(5));
    store
        .invite_collaborator(project.id, grace.id, &alan.email)
        .await
        .expect("a collaborator invites");
    store
        .rename_project(project.id, grace.id, "Shared, renamed")
        .await
        .expect("a collaborator renames");
    assert_eq!(
        store.projects_for_account(ada.id).await.expect("list")[0]
            .project
            .title,
        "Shared, renamed"
    );
    assert_eq!(
        member_ids(&store, project.id).await,
        vec![
            (ada.id, Role::Owner),
            (grace.id, Role::Collaborator),
            (alan.id, Role::Collaborator)
        ],
        "the owner first, then by joining time"
    );
    assert!(!store
        .is_collaborator(project.id, stranger.id)
        .await
        .expect("stranger"));
}

pub async fn remove_and_leave<S: Store + Clone + 'static>(store: S, _clock: Arc<ManualClock>) {
    let ada = sign_up(&store, "ada").await;
    let grace = sign_up(&store, "grace").await;
    let alan = sign_up(&store, "alan").await;
    let stranger = sign_up(&store, "stranger").await;
    let project = store.create_project(ada.id, "Team").await.expect("create");
    for account in [&grace, &alan] {
        store
            .invite_collaborator(project.id, ada.id, &account.email)
            .await
            .expect("invite");
    }

    assert_error!(
        store
            .remove_collaborator(project.id, grace.id, alan.id)
            .await,
        Error::Forbidden(_)
    );
    assert_error!(
        store
            .remove_collaborator(project.id, stranger.id, alan.id)
            .await,
        Error::NotFound(_)
    );
    assert_error!(
        store
            .remove_collaborator(project.id, ada.id, stranger.id)
            .await,
        Error::NotFound(_)
    );
    assert_error!(
        store.remove_collaborator(project.id, ada.id, ada.id).await,
        Error::Forbidden(_)
    );
    assert!(store
        .is_collaborator(project.id, alan.id)
        .await
        .expect("still in"));

    store
        .remove_collaborator(project.id, ada.id, alan.id)
        .await
        .expect("the owner removes a collaborator");
    assert!(!store
        .is_collaborator(project.id, alan.id)
        .await
        .expect("removed"));
    assert!(project_ids(&store, alan.id).await.is_empty());
    assert_error!(
        store.remove_collaborator(project.id, ada.id, alan.id).await,
        Error::NotFound(_)
    );
    assert_error!(
        store.rename_project(project.id, alan.id, "Revenge").await,
        Error::NotFound(_)
    );

    let error = assert_error!(
        store.leave_project(project.id, ada.id).await,
        Error::Forbidden(_)
    );
    assert!(
        error.to_string().contains("transfer"),
        "says what to do: {error}"
    );
    store
        .leave_project(project.id, grace.id)
        .await
        .expect("a collaborator leaves");
    assert!(!store
        .is_collaborator(project.id, grace.id)
        .await
        .expect("left"));
    assert!(project_ids(&store, grace.id).await.is_empty());
    assert_error!(
        store.leave_project(project.id, grace.id).await,
        Error::NotFound(_)
    );
    assert_eq!(
        member_ids(&store, project.id).await,
        vec![(ada.id, Role::Owner)]
    );

    // Removing oneself is leaving.
    store
        .invite_collaborator(project.id, ada.id, &grace.email)
        .await
        .expect("invite again");
    store
        .remove_collaborator(project.id, grace.id, grace.id)
        .await
        .expect("a collaborator removes itself");
    assert!(!store
        .is_collaborator(project.id, grace.id)
        .await
        .expect("left"));
}

pub async fn transfer_ownership<S: Store + Clone + 'static>(store: S, _clock: Arc<ManualClock>) {
    let ada = sign_up(&store, "ada").await;
    let grace = sign_up(&store, "grace").await;
    let stranger = sign_up(&store, "stranger").await;
    let project = store
        .create_project(ada.id, "Handover")
        .await
        .expect("create");
    store
        .invite_collaborator(project.id, ada.id, &grace.email)
        .await
        .expect("invite");

    assert_error!(
        store
            .transfer_ownership(project.id, grace.id, grace.id)
            .await,
        Error::Forbidden(_)
    );
    assert_error!(
        store
            .transfer_ownership(project.id, ada.id, stranger.id)
            .await,
        Error::NotFound(_)
    );
    assert_error!(
        store
            .transfer_ownership(project.id, stranger.id, grace.id)
            .await,
        Error::NotFound(_)
    );
    assert_eq!(
        store
            .transfer_ownership(project.id, ada.id, ada.id)
            .await
            .expect("to oneself")
            .owner,
        ada.id
    );

    let handed = store
        .transfer_ownership(project.id, ada.id, grace.id)
        .await
        .expect("the owner hands over");
    assert_eq!(handed.owner, grace.id);
    assert_eq!(
        store.project(project.id).await.expect("reread").owner,
        grace.id
    );
    assert_eq!(
        member_ids(&store, project.id).await,
        vec![(grace.id, Role::Owner), (ada.id, Role::Collaborator)]
    );
    assert_eq!(
        project_ids(&store, ada.id).await,
        vec![(project.id, Role::Collaborator)]
    );
    assert_eq!(
        project_ids(&store, grace.id).await,
        vec![(project.id, Role::Owner)]
    );
    let memberships = store.projects_for_account(ada.id).await.expect("list");
    assert_eq!(
        memberships[0].project.owner, grace.id,
        "the list shows the new owner"
    );

    assert_error!(
        store.delete_project(project.id, ada.id).await,
        Error::Forbidden(_)
    );
    assert_error!(
        store.leave_project(project.id, grace.id).await,
        Error::Forbidden(_)
    );
    store
        .leave_project(project.id, ada.id)
        .await
        .expect("the former owner may leave");
    assert_eq!(
        member_ids(&store, project.id).await,
        vec![(grace.id, Role::Owner)]
    );
}
