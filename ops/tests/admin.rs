//! `orrery admin` on the embedded SQLite store, as an operator runs it: datacenters and hosts are added, listed, drained
//! and removed, and every refusal says why and exits non-zero. (`cassandra_two_dc.rs` runs it on Cassandra.)

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::sync::Arc;

use orrery_db::{NewAccount, PlacementRole, SqliteStore, Store, SystemClock};
use support::{admin_fails as fails, admin_succeeds as succeeds};

#[tokio::test]
async fn datacenters_and_hosts_from_the_command_line() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let db = folder.path().join("orrery.db");

    assert!(succeeds(&db, &["dc", "list"]).contains("no datacenters yet"));
    assert!(succeeds(&db, &["dc", "add", "eu-west"]).contains("datacenter eu-west added"));
    assert!(fails(&db, &["dc", "add", "eu-west"]).contains("already exists"));
    assert!(fails(&db, &["dc", "add", "eu west"]).contains("not a datacenter name"));
    succeeds(&db, &["dc", "add", "us-east"]);
    let listed = succeeds(&db, &["dc", "list"]);
    assert!(
        listed.contains("eu-west\t0 host(s)") && listed.contains("us-east\t0 host(s)"),
        "{listed}"
    );

    let added = succeeds(
        &db,
        &[
            "host",
            "add",
            "--dc",
            "eu-west",
            "--address",
            "10.0.0.2:7100",
            "--weight",
            "3",
        ],
    );
    assert!(
        added.contains("eu-west\t10.0.0.2:7100\tweight 3\tactive"),
        "{added}"
    );
    let id = added
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("host "))
        .and_then(|rest| rest.split(' ').next())
        .expect("the new host's id")
        .to_string();
    succeeds(
        &db,
        &[
            "host",
            "add",
            "--dc",
            "us-east",
            "--address",
            "10.1.0.2:7100",
        ],
    );
    assert!(fails(
        &db,
        &["host", "add", "--dc", "mars", "--address", "10.9.0.2:7100"]
    )
    .contains("mars"));
    assert!(fails(
        &db,
        &[
            "host",
            "add",
            "--dc",
            "eu-west",
            "--address",
            "10.0.0.3:7100",
            "--weight",
            "0"
        ]
    )
    .contains("at least 1"));
    assert!(fails(&db, &["host", "add", "--dc", "eu-west"]).contains("--address"));
    assert!(succeeds(&db, &["dc", "list"]).contains("eu-west\t1 host(s)"));

    // Drain by address, activate by id.
    assert!(succeeds(&db, &["host", "drain", "10.0.0.2:7100"]).contains("is draining"));
    assert!(succeeds(&db, &["host", "list"]).contains("10.0.0.2:7100\tweight 3\tdraining"));
    succeeds(&db, &["host", "activate", &id]);
    assert!(succeeds(&db, &["host", "list"]).contains("10.0.0.2:7100\tweight 3\tactive"));
    assert!(fails(&db, &["host", "drain", "10.0.0.99:7100"]).contains("no host has"));

    // A host that holds a copy of a project cannot be removed until the copy has moved.
    let store = SqliteStore::open(&db, Arc::new(SystemClock))
        .await
        .expect("opening the same file");
    let owner = store
        .create_account(NewAccount {
            email: "owner@example.org".into(),
            display_name: "Owner".into(),
            password_hash: "$argon2id$fake".into(),
        })
        .await
        .expect("an account");
    let project = store
        .create_project(owner.id, "Placed")
        .await
        .expect("a project");
    let host = id.parse().expect("a host id");
    store
        .set_placement(project.id, host, PlacementRole::Primary)
        .await
        .expect("a copy on the host");
    let refused = fails(&db, &["host", "remove", &id]);
    assert!(refused.contains("conflict"), "{refused}");
    store
        .remove_placement(project.id, host)
        .await
        .expect("the copy moved away");
    assert!(succeeds(&db, &["host", "remove", &id]).contains("removed"));
    assert!(!succeeds(&db, &["host", "list"]).contains("10.0.0.2:7100"));
    assert!(fails(&db, &["host", "remove", &id]).contains("not found"));
}

#[test]
fn a_store_that_cannot_be_opened_is_a_clear_error() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let not_a_database = folder.path().join("notes.txt");
    std::fs::write(&not_a_database, "not a database\n".repeat(100)).expect("writing");
    let refused = fails(&not_a_database, &["dc", "list"]);
    assert!(refused.contains("opening the metadata store"), "{refused}");
    let refused = fails(Path::new("cql://127.0.0.1:1/orrery"), &["dc", "list"]);
    assert!(refused.contains("unavailable"), "{refused}");
}
