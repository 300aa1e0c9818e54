//! The typed metadata API every backend implements.
//!
//! Each operation is shaped as a query Cassandra serves from one table by key: no read needs a join or a scan of another
//! entity, membership and placements are kept in both directions, and only e-mail uniqueness, layout publishing and
//! leases need compare-and-set (lightweight transactions on CQL, `BEGIN IMMEDIATE` transactions on SQLite).
//! Times come from the [`Clock`](crate::Clock) the store was opened with.
//! Every future is `Send`, so a hub can drive the store from any tokio task; no backend blocks the async threads.

use std::future::Future;
use std::time::Duration;

use crate::{
    Account, AccountId, Collaborator, Datacenter, Host, HostId, HostState, Layout, LayoutHost,
    Lease, Membership, NewAccount, NewHost, NewToken, Placement, PlacementRole, Project, ProjectId,
    Result, Role, SignInToken, TokenHash,
};

/// The metadata store. See the crate documentation for the rules each group of operations keeps.
pub trait Store: Send + Sync {
    // ---- accounts ----

    /// Creates an account. `AlreadyExists` when the e-mail address, ignoring case, has one; `Invalid` on a malformed field.
    fn create_account(&self, new: NewAccount) -> impl Future<Output = Result<Account>> + Send;

    /// `NotFound` when there is no such account.
    fn account(&self, id: AccountId) -> impl Future<Output = Result<Account>> + Send;

    /// The account with this e-mail address, ignoring case. `NotFound` when none.
    fn account_by_email(&self, email: &str) -> impl Future<Output = Result<Account>> + Send;

    /// The accounts that exist among `ids`, in the order asked; unknown ids are left out.
    fn accounts(&self, ids: &[AccountId]) -> impl Future<Output = Result<Vec<Account>>> + Send;

    fn set_display_name(
        &self,
        id: AccountId,
        display_name: &str,
    ) -> impl Future<Output = Result<Account>> + Send;

    fn set_password_hash(
        &self,
        id: AccountId,
        password_hash: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    // ---- sign-in tokens ----

    /// Stores a token for an existing account. `Invalid` unless it expires in the future; `AlreadyExists` on a reused hash.
    fn create_token(&self, new: NewToken) -> impl Future<Output = Result<SignInToken>> + Send;

    /// The unexpired token with this hash. `NotFound` when it never existed, was revoked, or has expired.
    fn token(&self, hash: &TokenHash) -> impl Future<Output = Result<SignInToken>> + Send;

    /// Removes a token (sign out). Revoking an unknown token is not an error: signing out twice is fine.
    fn revoke_token(&self, hash: &TokenHash) -> impl Future<Output = Result<()>> + Send;

    /// Removes every token of an account (sign out everywhere, or after a password change).
    fn revoke_account_tokens(&self, account: AccountId) -> impl Future<Output = Result<()>> + Send;

    // ---- projects and collaborators ----

    /// Creates a project owned by `owner`. `NotFound` when the owner has no account.
    fn create_project(
        &self,
        owner: AccountId,
        title: &str,
    ) -> impl Future<Output = Result<Project>> + Send;

    /// A live project. `NotFound` when it never existed or was deleted. This does not authorize: check [`Store::role`].
    fn project(&self, id: ProjectId) -> impl Future<Output = Result<Project>> + Send;

    /// Renames a project; any member may. `NotFound` when `actor` is not a member.
    fn rename_project(
        &self,
        id: ProjectId,
        actor: AccountId,
        title: &str,
    ) -> impl Future<Output = Result<Project>> + Send;

    /// Deletes a project (softly, see [`crate::project`]); only the owner may (`Forbidden` for a collaborator).
    fn delete_project(
        &self,
        id: ProjectId,
        actor: AccountId,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The live projects an account is a member of, newest first.
    fn projects_for_account(
        &self,
        account: AccountId,
    ) -> impl Future<Output = Result<Vec<Membership>>> + Send;

    /// A live project's members: the owner first, then by joining time. `NotFound` for an unknown or deleted project.
    fn collaborators(
        &self,
        project: ProjectId,
    ) -> impl Future<Output = Result<Vec<Collaborator>>> + Send;

    /// What `account` is to `project`, or `None` when it is not a member (or the project does not exist).
    fn role(
        &self,
        project: ProjectId,
        account: AccountId,
    ) -> impl Future<Output = Result<Option<Role>>> + Send;

    /// The authorization question of every channel open: may `account` use `project`?
    fn is_collaborator(
        &self,
        project: ProjectId,
        account: AccountId,
    ) -> impl Future<Output = Result<bool>> + Send {
        async move { Ok(self.role(project, account).await?.is_some()) }
    }

    /// Makes the account with e-mail `email` a collaborator; any member may invite.
    /// `NotFound` when `inviter` is not a member or no account has that address; `AlreadyExists` when it is a member already.
    fn invite_collaborator(
        &self,
        project: ProjectId,
        inviter: AccountId,
        email: &str,
    ) -> impl Future<Output = Result<Collaborator>> + Send;

    /// Removes a collaborator; only the owner may, and the owner cannot be removed (`Forbidden`).
    /// A collaborator naming itself leaves, as with [`Store::leave_project`]. `NotFound` when `account` is not a member.
    fn remove_collaborator(
        &self,
        project: ProjectId,
        actor: AccountId,
        account: AccountId,
    ) -> impl Future<Output = Result<()>> + Send;

    /// `account` stops being a collaborator. The owner cannot leave (`Forbidden`): it transfers ownership or deletes the project.
    fn leave_project(
        &self,
        project: ProjectId,
        account: AccountId,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Makes collaborator `new_owner` the owner and the old owner a collaborator; only the owner may.
    fn transfer_ownership(
        &self,
        project: ProjectId,
        actor: AccountId,
        new_owner: AccountId,
    ) -> impl Future<Output = Result<Project>> + Send;

    // ---- datacenters and hosts ----

    /// Registers a datacenter. `AlreadyExists` when the name is taken.
    fn add_datacenter(&self, name: &str) -> impl Future<Output = Result<Datacenter>> + Send;

    /// Every datacenter, by name.
    fn datacenters(&self) -> impl Future<Output = Result<Vec<Datacenter>>> + Send;

    /// Removes a datacenter that has no hosts (`Conflict` otherwise).
    fn remove_datacenter(&self, name: &str) -> impl Future<Output = Result<()>> + Send;

    /// Registers an active host in an existing datacenter (`NotFound` otherwise).
    fn add_host(&self, new: NewHost) -> impl Future<Output = Result<Host>> + Send;

    fn host(&self, id: HostId) -> impl Future<Output = Result<Host>> + Send;

    /// Every host, by datacenter, then address, then id.
    fn hosts(&self) -> impl Future<Output = Result<Vec<Host>>> + Send;

    /// The hosts of one datacenter, by address, then id.
    fn hosts_in(&self, datacenter: &str) -> impl Future<Output = Result<Vec<Host>>> + Send;

    fn set_host_state(
        &self,
        id: HostId,
        state: HostState,
    ) -> impl Future<Output = Result<Host>> + Send;

    fn set_host_weight(&self, id: HostId, weight: u32)
        -> impl Future<Output = Result<Host>> + Send;

    /// Removes a host. `Conflict` while it still has placements (and so possibly a live lease): drain it first.
    fn remove_host(&self, id: HostId) -> impl Future<Output = Result<()>> + Send;

    // ---- layout versions ----

    /// Publishes the layout that follows `base` (`None` for the first). `Conflict` when `base` is not the newest version;
    /// `NotFound` for an unknown host; `Invalid` when a host's datacenter is wrong or a host appears twice.
    fn publish_layout(
        &self,
        base: Option<u64>,
        hosts: Vec<LayoutHost>,
    ) -> impl Future<Output = Result<Layout>> + Send;

    fn layout(&self, version: u64) -> impl Future<Output = Result<Layout>> + Send;

    /// The newest layout, or `None` before the first publish.
    fn latest_layout(&self) -> impl Future<Output = Result<Option<Layout>>> + Send;

    // ---- placements ----

    /// Records (or updates the role of) a copy of a live project on a host.
    fn set_placement(
        &self,
        project: ProjectId,
        host: HostId,
        role: PlacementRole,
    ) -> impl Future<Output = Result<Placement>> + Send;

    /// Forgets a copy; forgetting one that is not recorded is not an error.
    /// `Conflict` while the copy's host holds the project's lease: the project must stop there first.
    fn remove_placement(
        &self,
        project: ProjectId,
        host: HostId,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Where a project's copies are (also for a deleted project, so its volumes can be reclaimed), by host id.
    fn placements(&self, project: ProjectId)
        -> impl Future<Output = Result<Vec<Placement>>> + Send;

    /// The copies a host holds, by project id.
    fn placements_on_host(
        &self,
        host: HostId,
    ) -> impl Future<Output = Result<Vec<Placement>>> + Send;

    // ---- leases ----

    /// Takes the lease on a live project for `ttl`, when it is free, expired, or already held by `host` (then it is renewed).
    /// `Conflict` while another host holds it, or when `host` has no copy (placement) of the project.
    fn acquire_lease(
        &self,
        project: ProjectId,
        host: HostId,
        ttl: Duration,
    ) -> impl Future<Output = Result<Lease>> + Send;

    /// Extends `host`'s unexpired lease to now + `ttl`. `Conflict` when `host` does not hold it or it has expired.
    fn renew_lease(
        &self,
        project: ProjectId,
        host: HostId,
        ttl: Duration,
    ) -> impl Future<Output = Result<Lease>> + Send;

    /// Gives the lease up. Not an error when nobody holds it; `Conflict` when another host does.
    fn release_lease(
        &self,
        project: ProjectId,
        host: HostId,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The live lease on a project, or `None` when it is free.
    fn lease(&self, project: ProjectId) -> impl Future<Output = Result<Option<Lease>>> + Send;
}
