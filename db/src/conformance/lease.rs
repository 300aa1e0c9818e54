//! Leases: one holder per project under contention, expiry and takeover, a stale holder that can neither renew nor
//! release, and epochs that only go up.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{sign_up, unique};
use crate::{
    Clock, Error, Host, HostId, ManualClock, NewHost, PlacementRole, Project, ProjectId, Store,
};

const TTL: Duration = Duration::from_secs(10);

/// A project and `count` hosts, each with a copy of it, to fight over it.
async fn arena<S: Store>(store: &S, count: usize) -> (Project, Vec<Host>) {
    let owner = sign_up(store, "owner").await;
    let project = store
        .create_project(owner.id, "Contended")
        .await
        .expect("create");
    let name = unique("dc");
    store.add_datacenter(&name).await.expect("dc");
    let mut hosts = Vec::new();
    for index in 0..count {
        hosts.push(
            store
                .add_host(NewHost {
                    datacenter: name.clone(),
                    address: format!("127.0.1.{index}:7100"),
                    weight: 1,
                })
                .await
                .expect("host"),
        );
    }
    for host in &hosts {
        store
            .set_placement(project.id, host.id, PlacementRole::Replica)
            .await
            .expect("placing a copy");
    }
    (project, hosts)
}

/// Every host tries at once; returns the winners.
async fn race<S: Store + Clone + 'static>(
    store: &S,
    project: ProjectId,
    hosts: &[Host],
) -> Vec<HostId> {
    let mut tasks = Vec::new();
    for host in hosts {
        let store = store.clone();
        let host = host.id;
        tasks.push(tokio::spawn(async move {
            (host, store.acquire_lease(project, host, TTL).await)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("a contender panicked") {
            (host, Ok(lease)) => {
                assert_eq!(lease.holder, host);
                winners.push(host);
            }
            (_, Err(Error::Conflict(_))) => {}
            (_, Err(other)) => panic!("a losing contender must get Conflict, got {other:?}"),
        }
    }
    winners
}

pub async fn exclusive_among_concurrent_contenders<S: Store + Clone + 'static>(
    store: S,
    _clock: Arc<ManualClock>,
) {
    let (project, hosts) = arena(&store, 24).await;
    let mut last_epoch = 0;
    for round in 0..5 {
        let winners = race(&store, project.id, &hosts).await;
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one winner, got {winners:?}"
        );
        let lease = store.lease(project.id).await.expect("lease").expect("held");
        assert_eq!(lease.holder, winners[0]);
        assert_eq!(
            lease.epoch,
            last_epoch + 1,
            "each new holder gets the next epoch"
        );
        last_epoch = lease.epoch;
        // While it is held, a second race has no winner at all.
        let others: Vec<Host> = hosts
            .iter()
            .filter(|host| host.id != lease.holder)
            .cloned()
            .collect();
        assert!(race(&store, project.id, &others).await.is_empty());
        store
            .release_lease(project.id, lease.holder)
            .await
            .expect("the holder releases");
        assert_eq!(store.lease(project.id).await.expect("lease"), None);
    }
}

pub async fn one_holder_at_any_time<S: Store + Clone + 'static>(
    store: S,
    _clock: Arc<ManualClock>,
) {
    const ATTEMPTS: usize = 40;
    let (project, hosts) = arena(&store, 12).await;
    let holding = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for host in &hosts {
        let (store, holding, host) = (store.clone(), Arc::clone(&holding), host.id);
        tasks.push(tokio::spawn(async move {
            let mut epochs = Vec::new();
            for _ in 0..ATTEMPTS {
                match store.acquire_lease(project.id, host, TTL).await {
                    Ok(lease) => {
                        let before = holding.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(
                            before, 0,
                            "host {host} acquired while another host held the lease"
                        );
                        epochs.push(lease.epoch);
                        let seen = store.lease(project.id).await.expect("lease").expect("held");
                        assert_eq!(seen.holder, host, "the store names the holder that won");
                        tokio::task::yield_now().await;
                        holding.fetch_sub(1, Ordering::SeqCst);
                        store
                            .release_lease(project.id, host)
                            .await
                            .expect("the holder releases");
                    }
                    Err(Error::Conflict(_)) => tokio::task::yield_now().await,
                    Err(other) => panic!("acquire failed with {other:?}"),
                }
            }
            epochs
        }));
    }
    let mut epochs = Vec::new();
    for task in tasks {
        epochs.extend(task.await.expect("a contender panicked"));
    }
    assert!(!epochs.is_empty(), "somebody must have won");
    let distinct: HashSet<u64> = epochs.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        epochs.len(),
        "every tenure has its own epoch"
    );
}

pub async fn expired_lease_is_taken_over_and_stale_holder_cannot_renew<
    S: Store + Clone + 'static,
>(
    store: S,
    clock: Arc<ManualClock>,
) {
    let (project, hosts) = arena(&store, 2).await;
    let (old, new) = (hosts[0].id, hosts[1].id);

    let first = store
        .acquire_lease(project.id, old, TTL)
        .await
        .expect("acquire");
    assert_eq!(first.acquired, clock.now());
    assert_eq!(first.expires, clock.now().after(TTL));
    let error = assert_error!(
        store.acquire_lease(project.id, new, TTL).await,
        Error::Conflict(_)
    );
    assert!(
        error.to_string().contains(&old.to_string()),
        "names the holder: {error}"
    );

    clock.advance(TTL - Duration::from_millis(1));
    assert_error!(
        store.acquire_lease(project.id, new, TTL).await,
        Error::Conflict(_)
    );
    let renewed = store
        .renew_lease(project.id, old, TTL)
        .await
        .expect("renew in time");
    assert_eq!(renewed.expires, clock.now().after(TTL));
    assert_eq!(renewed.epoch, first.epoch, "renewing keeps the epoch");
    assert_eq!(renewed.acquired, first.acquired);

    clock.advance(TTL);
    assert_eq!(
        store.lease(project.id).await.expect("lease"),
        None,
        "expired leases are free"
    );
    let taken = store
        .acquire_lease(project.id, new, TTL)
        .await
        .expect("takeover");
    assert_eq!(taken.holder, new);
    assert_eq!(taken.epoch, first.epoch + 1);

    let error = assert_error!(
        store.renew_lease(project.id, old, TTL).await,
        Error::Conflict(_)
    );
    assert!(
        error.to_string().contains("acquire"),
        "says what to do: {error}"
    );
    assert_error!(
        store.release_lease(project.id, old).await,
        Error::Conflict(_)
    );
    assert_eq!(
        store
            .lease(project.id)
            .await
            .expect("lease")
            .expect("held")
            .holder,
        new,
        "the stale holder changed nothing"
    );
    store
        .renew_lease(project.id, new, TTL)
        .await
        .expect("the new holder renews");

    // A holder whose lease lapsed with nobody taking it still cannot renew; it acquires again, in a new epoch.
    clock.advance(TTL);
    assert_error!(
        store.renew_lease(project.id, new, TTL).await,
        Error::Conflict(_)
    );
    let again = store
        .acquire_lease(project.id, new, TTL)
        .await
        .expect("re-acquire");
    assert_eq!(again.epoch, taken.epoch + 1);
}

pub async fn lease_rules<S: Store + Clone + 'static>(store: S, clock: Arc<ManualClock>) {
    let (project, hosts) = arena(&store, 2).await;
    let (host, other) = (hosts[0].id, hosts[1].id);
    for ttl in [
        Duration::ZERO,
        Duration::from_millis(999),
        Duration::from_secs(3601),
    ] {
        assert_error!(
            store.acquire_lease(project.id, host, ttl).await,
            Error::Invalid(_)
        );
    }
    assert_error!(
        store.acquire_lease(ProjectId::random(), host, TTL).await,
        Error::NotFound(_)
    );
    assert_error!(
        store.acquire_lease(project.id, HostId::random(), TTL).await,
        Error::NotFound(_)
    );
    assert_eq!(store.lease(project.id).await.expect("lease"), None);
    assert_error!(
        store.renew_lease(project.id, host, TTL).await,
        Error::Conflict(_)
    );
    store
        .release_lease(project.id, host)
        .await
        .expect("releasing a free lease is fine");

    let first = store
        .acquire_lease(project.id, host, TTL)
        .await
        .expect("acquire");
    clock.advance(Duration::from_secs(3));
    let again = store
        .acquire_lease(project.id, host, TTL)
        .await
        .expect("the holder acquiring again renews");
    assert_eq!(again.epoch, first.epoch);
    assert_eq!(again.expires, clock.now().after(TTL));
    assert_error!(
        store.release_lease(project.id, other).await,
        Error::Conflict(_)
    );

    // A host runs only projects it has a copy of, and its copy stays while it runs the project.
    let name = store.host(host).await.expect("host").datacenter;
    let bare = store
        .add_host(NewHost {
            datacenter: name,
            address: "127.0.2.1:7100".into(),
            weight: 1,
        })
        .await
        .expect("a host without copies");
    clock.advance(TTL);
    let error = assert_error!(
        store.acquire_lease(project.id, bare.id, TTL).await,
        Error::Conflict(_)
    );
    assert!(error.to_string().contains("copy"), "says why: {error}");
    let running = store
        .acquire_lease(project.id, host, TTL)
        .await
        .expect("acquire");
    assert_eq!(running.epoch, first.epoch + 1);
    let error = assert_error!(
        store.remove_placement(project.id, host).await,
        Error::Conflict(_)
    );
    assert!(
        error.to_string().contains("stop"),
        "says what to do: {error}"
    );
    assert_error!(store.remove_host(host).await, Error::Conflict(_));
    store
        .remove_placement(project.id, other)
        .await
        .expect("a copy whose host does not run the project can go");

    // Once the lease is gone the copy and then the host can go, and the epoch carries on.
    clock.advance(TTL);
    store
        .remove_placement(project.id, host)
        .await
        .expect("the lease expired");
    store.remove_host(host).await.expect("no copies left");
    store
        .set_placement(project.id, other, PlacementRole::Primary)
        .await
        .expect("placing again");
    let next = store
        .acquire_lease(project.id, other, TTL)
        .await
        .expect("acquire");
    assert_eq!(
        next.epoch,
        running.epoch + 1,
        "the epoch survives the holder's removal"
    );
}
