//! Datacenters, hosts, layout versions and placements: the registry admins edit and the reconciler reads.

use std::sync::Arc;

use super::{sign_up, unique};
use crate::{
    Clock, Error, Host, HostId, HostState, LayoutHost, ManualClock, NewHost, PlacementRole,
    ProjectId, Store,
};

async fn add_host<S: Store>(store: &S, datacenter: &str, address: &str, weight: u32) -> Host {
    store
        .add_host(NewHost {
            datacenter: datacenter.to_string(),
            address: address.to_string(),
            weight,
        })
        .await
        .expect("adding a host")
}

pub async fn datacenters_and_hosts<S: Store + Clone + 'static>(store: S, clock: Arc<ManualClock>) {
    let name = unique("dc");
    let datacenter = store
        .add_datacenter(&name)
        .await
        .expect("adding a datacenter");
    assert_eq!(datacenter.name, name);
    assert_eq!(datacenter.created, clock.now());
    assert_error!(store.add_datacenter(&name).await, Error::AlreadyExists(_));
    for bad in ["", "eu west", "dc/1", &"d".repeat(65)] {
        assert_error!(store.add_datacenter(bad).await, Error::Invalid(_));
    }
    assert!(store
        .datacenters()
        .await
        .expect("listing datacenters")
        .contains(&datacenter));

    let unknown = unique("nowhere");
    assert_error!(
        store
            .add_host(NewHost {
                datacenter: unknown,
                address: "127.0.0.9:7100".into(),
                weight: 1,
            })
            .await,
        Error::NotFound(_)
    );
    for (address, weight) in [("127.0.0.2:7100", 0), ("", 1), ("127.0.0.2 :7100", 1)] {
        assert_error!(
            store
                .add_host(NewHost {
                    datacenter: name.clone(),
                    address: address.into(),
                    weight,
                })
                .await,
            Error::Invalid(_)
        );
    }
    let second = add_host(&store, &name, "127.0.0.3:7100", 2).await;
    let first = add_host(&store, &name, "127.0.0.2:7100", 1).await;
    assert_eq!(first.state, HostState::Active);
    assert_eq!(first.datacenter, name);
    assert_eq!(store.host(first.id).await.expect("by id"), first);
    assert_error!(store.host(HostId::random()).await, Error::NotFound(_));
    assert_eq!(
        store.hosts_in(&name).await.expect("hosts of a datacenter"),
        vec![first.clone(), second.clone()],
        "by address"
    );
    let everywhere = store.hosts().await.expect("all hosts");
    assert!(everywhere.contains(&first) && everywhere.contains(&second));

    let draining = store
        .set_host_state(first.id, HostState::Draining)
        .await
        .expect("drain");
    assert_eq!(draining.state, HostState::Draining);
    assert_eq!(
        store.host(first.id).await.expect("reread").state,
        HostState::Draining
    );
    let heavier = store.set_host_weight(second.id, 5).await.expect("reweigh");
    assert_eq!(heavier.weight, 5);
    assert_error!(store.set_host_weight(second.id, 0).await, Error::Invalid(_));
    assert_error!(
        store
            .set_host_state(HostId::random(), HostState::Active)
            .await,
        Error::NotFound(_)
    );

    let error = assert_error!(store.remove_datacenter(&name).await, Error::Conflict(_));
    assert!(error.to_string().contains("host"), "says why: {error}");
    store.remove_host(first.id).await.expect("remove a host");
    store.remove_host(second.id).await.expect("remove a host");
    assert_error!(store.remove_host(first.id).await, Error::NotFound(_));
    assert!(store.hosts_in(&name).await.expect("empty now").is_empty());
    store
        .remove_datacenter(&name)
        .await
        .expect("remove an empty datacenter");
    assert_error!(store.remove_datacenter(&name).await, Error::NotFound(_));
    assert!(!store
        .datacenters()
        .await
        .expect("listing datacenters")
        .contains(&datacenter));
}

pub async fn layout_versions<S: Store + Clone + 'static>(store: S, clock: Arc<ManualClock>) {
    let east = unique("east");
    let west = unique("west");
    store.add_datacenter(&east).await.expect("dc");
    store.add_datacenter(&west).await.expect("dc");
    let a = add_host(&store, &east, "127.0.0.2:7100", 1).await;
    let b = add_host(&store, &west, "127.0.0.3:7100", 1).await;
    let c = add_host(&store, &east, "127.0.0.4:7100", 3).await;
    let entry = |host: &Host, weight: u32| LayoutHost {
        host: host.id,
        datacenter: host.datacenter.clone(),
        weight,
    };

    // Another case may share this database and have published already: build on whatever is newest.
    let base = store
        .latest_layout()
        .await
        .expect("newest layout")
        .map(|layout| layout.version);
    let published = store
        .publish_layout(base, vec![entry(&b, 1), entry(&c, 3), entry(&a, 1)])
        .await
        .expect("publishing a layout");
    assert_eq!(published.version, base.map_or(1, |version| version + 1));
    assert_eq!(published.created, clock.now());
    let mut expected_order = vec![entry(&a, 1), entry(&c, 3)];
    expected_order.sort_by_key(|host| host.host);
    expected_order.push(entry(&b, 1));
    if west < east {
        expected_order.rotate_right(1);
    }
    assert_eq!(
        published.hosts, expected_order,
        "by datacenter, then host id"
    );
    assert_eq!(
        store.layout(published.version).await.expect("by version"),
        published
    );

    let error = assert_error!(
        store.publish_layout(base, vec![entry(&a, 1)]).await,
        Error::Conflict(_)
    );
    assert!(error.to_string().contains("newest"), "says why: {error}");
    assert_error!(
        store
            .publish_layout(Some(published.version), vec![entry(&a, 1), entry(&a, 2)])
            .await,
        Error::Invalid(_)
    );
    assert_error!(
        store
            .publish_layout(Some(published.version), vec![entry(&a, 0)])
            .await,
        Error::Invalid(_)
    );
    let mut misplaced = entry(&a, 1);
    misplaced.datacenter = west.clone();
    assert_error!(
        store
            .publish_layout(Some(published.version), vec![misplaced])
            .await,
        Error::Invalid(_)
    );
    assert_error!(
        store
            .publish_layout(
                Some(published.version),
                vec![LayoutHost {
                    host: HostId::random(),
                    datacenter: east.clone(),
                    weight: 1,
                }],
            )
            .await,
        Error::NotFound(_)
    );

    let next = store
        .publish_layout(Some(published.version), vec![entry(&a, 2)])
        .await
        .expect("publishing the next layout");
    assert_eq!(next.version, published.version + 1);
    let latest = store
        .latest_layout()
        .await
        .expect("newest")
        .expect("some layout");
    assert!(latest.version >= next.version);
    assert_eq!(
        store
            .layout(published.version)
            .await
            .expect("old versions stay"),
        published
    );
    assert_error!(store.layout(u64::MAX).await, Error::NotFound(_));
}

pub async fn placements_both_ways<S: Store + Clone + 'static>(store: S, clock: Arc<ManualClock>) {
    let ada = sign_up(&store, "ada").await;
    let project = store
        .create_project(ada.id, "Placed")
        .await
        .expect("create");
    let other = store
        .create_project(ada.id, "Also placed")
        .await
        .expect("create");
    let name = unique("dc");
    store.add_datacenter(&name).await.expect("dc");
    let first = add_host(&store, &name, "127.0.0.2:7100", 1).await;
    let second = add_host(&store, &name, "127.0.0.3:7100", 1).await;

    let primary = store
        .set_placement(project.id, first.id, PlacementRole::Primary)
        .await
        .expect("placing");
    assert_eq!(primary.updated, clock.now());
    store
        .set_placement(project.id, second.id, PlacementRole::Replica)
        .await
        .expect("placing a replica");
    store
        .set_placement(other.id, first.id, PlacementRole::Replica)
        .await
        .expect("placing another project");

    let hosts: Vec<(HostId, PlacementRole)> = store
        .placements(project.id)
        .await
        .expect("placements of a project")
        .into_iter()
        .map(|placement| (placement.host, placement.role))
        .collect();
    let mut expected = vec![
        (first.id, PlacementRole::Primary),
        (second.id, PlacementRole::Replica),
    ];
    expected.sort_by_key(|(host, _)| *host);
    assert_eq!(hosts, expected, "by host id");
    let on_first: Vec<ProjectId> = store
        .placements_on_host(first.id)
        .await
        .expect("placements on a host")
        .into_iter()
        .map(|placement| placement.project)
        .collect();
    let mut expected_projects = vec![project.id, other.id];
    expected_projects.sort();
    assert_eq!(on_first, expected_projects, "by project id");

    // Swapping roles is an update in place, seen from both sides.
    store
        .set_placement(project.id, first.id, PlacementRole::Replica)
        .await
        .expect("demote");
    let on_first = store.placements_on_host(first.id).await.expect("on host");
    assert!(on_first.iter().any(
        |placement| placement.project == project.id && placement.role == PlacementRole::Replica
    ));
    assert_eq!(
        store
            .placements(project.id)
            .await
            .expect("of project")
            .len(),
        2
    );

    assert_error!(
        store
            .set_placement(ProjectId::random(), first.id, PlacementRole::Replica)
            .await,
        Error::NotFound(_)
    );
    assert_error!(
        store
            .set_placement(project.id, HostId::random(), PlacementRole::Replica)
            .await,
        Error::NotFound(_)
    );
    let error = assert_error!(store.remove_host(second.id).await, Error::Conflict(_));
    assert!(
        error.to_string().contains("drain"),
        "says what to do: {error}"
    );

    store
        .remove_placement(project.id, second.id)
        .await
        .expect("forgetting a copy");
    store
        .remove_placement(project.id, second.id)
        .await
        .expect("forgetting it twice");
    assert!(store
        .placements_on_host(second.id)
        .await
        .expect("on host")
        .is_empty());
    store
        .remove_host(second.id)
        .await
        .expect("an empty host can go");

    // A deleted project's copies stay listed so their volumes can be reclaimed, but it gets no new ones.
    store
        .delete_project(project.id, ada.id)
        .await
        .expect("delete");
    assert_eq!(
        store
            .placements(project.id)
            .await
            .expect("after delete")
            .len(),
        1
    );
    assert_error!(
        store
            .set_placement(project.id, first.id, PlacementRole::Primary)
            .await,
        Error::NotFound(_)
    );
}
