//! The CQL backend against a real Apache Cassandra node: the whole conformance suite (directly and through `Db`), then
//! what only a cluster can show: refusing a keyspace from a newer Orrery, an unreachable cluster, too few replicas,
//! unknown datacenters, and the keyspace's replication.
//!
//! The node is named by `ORRERY_TEST_CQL` (e.g. `127.0.0.1:9042`): a one-node cluster in datacenter dc1, as
//! `ops/cassandra/cluster start DIR` runs it. Without the variable every test fails and says how to start one.
//! The suite shares one keyspace per run of this binary (`orrery_test_<12 hex>`), made once before the first case; each
//! case connects on its own, since every `#[tokio::test]` has its own runtime and a session lives on the runtime that
//! made it. A test binary cannot act after its last test, so each run drops the test keyspaces earlier runs left behind.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use orrery_db::cql::migrations::{LATEST_VERSION, MIGRATIONS_COMPONENT};
use orrery_db::{
    Clock, CqlOptions, CqlStore, Db, Error, ManualClock, NewHost, Store, SystemClock, Timestamp,
};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

/// Test keyspaces older than this were left by an earlier run (a run takes well under a minute) and are dropped, so runs
/// do not pile up tables in the test node's small heap.
const LEFTOVER_AGE: Duration = Duration::from_secs(15 * 60);
const PREFIX: &str = "orrery_test_";

fn node() -> String {
    match std::env::var("ORRERY_TEST_CQL") {
        Ok(node) if !node.trim().is_empty() => node,
        _ => panic!(
            "ORRERY_TEST_CQL is not set, and these tests need a real Cassandra node: start one with \
             `ORRERY_CASSANDRA_CACHE=/var/cache/orrery/cassandra ops/cassandra/cluster start /tmp/c1` \
             (it listens on 127.0.0.1:9042 in datacenter dc1), then run \
             `ORRERY_TEST_CQL=127.0.0.1:9042 cargo test -p orrery-db --test cql`"
        ),
    }
}

fn options(keyspace: &str) -> CqlOptions {
    CqlOptions {
        contact_points: node()
            .split(',')
            .map(|point| point.trim().to_string())
            .collect(),
        keyspace: keyspace.to_string(),
        local_datacenter: None,
        replication: None,
        request_timeout: Duration::from_secs(20),
    }
}

fn unique_keyspace(label: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{PREFIX}{}{label}", &hex[..12])
}

async fn raw_session() -> Session {
    SessionBuilder::new()
        .known_nodes(node().split(',').map(str::trim))
        .build()
        .await
        .unwrap_or_else(|error| panic!("connecting to the test node {}: {error}", node()))
}

/// Drops the `orrery_test_` keyspaces that earlier runs of this binary left behind.
async fn drop_leftover_keyspaces(session: &Session) {
    let rows = session
        .query_unpaged(
            "SELECT keyspace_name, writetime(durable_writes) FROM system_schema.keyspaces",
            (),
        )
        .await
        .expect("listing keyspaces")
        .into_rows_result()
        .expect("rows");
    let now_micros = SystemClock.now().as_millis() * 1000;
    let age_micros = i64::try_from(LEFTOVER_AGE.as_micros()).unwrap();
    for row in rows.rows::<(String, Option<i64>)>().expect("typed rows") {
        let (name, written) = row.expect("a keyspace row");
        let old = written.is_some_and(|written| now_micros - written > age_micros);
        if name.starts_with(PREFIX) && old {
            session
                .query_unpaged(format!("DROP KEYSPACE IF EXISTS {name}"), ())
                .await
                .unwrap_or_else(|error| panic!("dropping leftover keyspace {name}: {error}"));
        }
    }
}

/// The keyspace every conformance case of this run shares, made (and migrated) on first use on a runtime of its own.
fn shared_keyspace() -> &'static str {
    static KEYSPACE: OnceLock<String> = OnceLock::new();
    KEYSPACE.get_or_init(|| {
        let keyspace = unique_keyspace("");
        let made = keyspace.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for making the keyspace");
            runtime.block_on(async {
                drop_leftover_keyspaces(&raw_session().await).await;
                CqlStore::connect(options(&made), Arc::new(SystemClock))
                    .await
                    .unwrap_or_else(|error| panic!("making test keyspace {made}: {error}"));
            });
        })
        .join()
        .expect("making the shared test keyspace");
        keyspace
    })
}

async fn connect_shared(clock: Arc<dyn Clock>) -> CqlStore {
    CqlStore::connect(options(shared_keyspace()), clock)
        .await
        .unwrap_or_else(|error| panic!("connecting to {}: {error}", shared_keyspace()))
}

mod direct {
    use super::*;

    async fn make(clock: Arc<ManualClock>) -> (CqlStore, ()) {
        (connect_shared(clock).await, ())
    }

    orrery_db::conformance_tests!(make);
}

mod through_db {
    use super::*;

    async fn make(clock: Arc<ManualClock>) -> (Db, ()) {
        let spec = format!("cql://{}/{}", node(), shared_keyspace());
        let db = Db::open(&spec, clock)
            .await
            .unwrap_or_else(|error| panic!("opening {spec}: {error}"));
        assert!(matches!(db, Db::Cql(_)), "a cql:// spec opens Cassandra");
        (db, ())
    }

    orrery_db::conformance_tests!(make);
}

/// Drops a keyspace a test made for itself when the test ends, passed or not.
struct DropOnExit(String);

impl Drop for DropOnExit {
    fn drop(&mut self) {
        let keyspace = self.0.clone();
        // The test's runtime may be gone or mid-panic; a thread with its own runtime always works.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let session = SessionBuilder::new()
                    .known_nodes(node().split(',').map(str::trim))
                    .build()
                    .await
                    .map_err(std::io::Error::other)?;
                session
                    .query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), ())
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(())
            })
        })
        .join();
    }
}

async fn tables_of(session: &Session, keyspace: &str) -> Vec<String> {
    session
        .query_unpaged(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
            (keyspace,),
        )
        .await
        .expect("listing tables")
        .into_rows_result()
        .expect("rows")
        .rows::<(String,)>()
        .expect("typed rows")
        .map(|row| row.expect("a table row").0)
        .collect()
}

#[tokio::test]
async fn a_keyspace_from_a_newer_orrery_is_refused_untouched() {
    let keyspace = unique_keyspace("_future");
    let _cleanup = DropOnExit(keyspace.clone());
    let session = raw_session().await;
    let newer = LATEST_VERSION + 1;
    // The migrations table as version 1 shipped it, written out here by hand so later edits cannot change it.
    for statement in [
        format!(
            "CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 1}}"
        ),
        format!(
            "CREATE TABLE {keyspace}.schema_migrations (component text, version int, description text, applied bigint, PRIMARY KEY (component, version))"
        ),
        format!(
            "INSERT INTO {keyspace}.schema_migrations (component, version, description, applied) VALUES ('{MIGRATIONS_COMPONENT}', {newer}, 'from the future', 1)"
        ),
    ] {
        session
            .query_unpaged(statement.as_str(), ())
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }

    let error = CqlStore::connect(options(&keyspace), Arc::new(SystemClock))
        .await
        .expect_err("a newer schema must be refused");
    match &error {
        Error::SchemaTooNew { found, supported } => {
            assert_eq!(*found, newer);
            assert_eq!(*supported, LATEST_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(
        error.to_string().contains("upgrade Orrery"),
        "says what to do: {error}"
    );
    assert_eq!(
        tables_of(&session, &keyspace).await,
        vec!["schema_migrations".to_string()],
        "no migration ran"
    );
}

#[tokio::test]
async fn an_unreachable_cluster_is_unavailable_quickly_and_named() {
    let mut options = options("orrery");
    options.contact_points = vec!["127.0.0.1:1".into()];
    options.request_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let error = CqlStore::connect(options, Arc::new(SystemClock))
        .await
        .expect_err("nothing listens on port 1");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up after {:?}",
        started.elapsed()
    );
    assert!(matches!(error, Error::Unavailable { .. }), "got {error:?}");
    assert_eq!(error.http_status(), 503);
    let message = error.to_string();
    assert!(
        message.contains("127.0.0.1:1") && message.contains("cannot reach"),
        "names the contact point: {message}"
    );
}

#[tokio::test]
async fn too_few_live_replicas_says_how_many_are_needed_and_where() {
    // Two copies in dc1 on a one-node datacenter: every LOCAL_QUORUM request needs two replicas and finds one.
    let keyspace = unique_keyspace("_starved");
    let _cleanup = DropOnExit(keyspace.clone());
    let mut options = options(&keyspace);
    options.replication = Some(BTreeMap::from([("dc1".to_string(), 2)]));
    let error = CqlStore::connect(options, Arc::new(SystemClock))
        .await
        .expect_err("LOCAL_QUORUM of 2 cannot be met by one node");
    assert!(matches!(error, Error::Unavailable { .. }), "got {error:?}");
    let message = error.to_string();
    assert!(
        message.contains("LOCAL_QUORUM needs 2 replicas in dc1, 1 is alive"),
        "says what is missing where: {message}"
    );
}

#[tokio::test]
async fn an_unknown_local_datacenter_is_refused_naming_the_known_ones() {
    let mut options = options(shared_keyspace());
    options.local_datacenter = Some("atlantis".into());
    let error = CqlStore::connect(options, Arc::new(SystemClock))
        .await
        .expect_err("no such datacenter");
    assert!(matches!(error, Error::NotFound(_)), "got {error:?}");
    let message = error.to_string();
    assert!(
        message.contains("no datacenter named atlantis") && message.contains("it has: dc1"),
        "names the known datacenters: {message}"
    );

    let spec = format!("cql://{}/{}?dc=dc1", node(), shared_keyspace());
    let store = CqlStore::connect(
        CqlOptions::from_url(&spec).expect("a good URL"),
        Arc::new(SystemClock),
    )
    .await
    .expect("dc1 exists");
    assert_eq!(store.local_datacenter(), "dc1");
}

#[tokio::test]
async fn the_keyspace_is_replicated_to_the_local_datacenter() {
    let store = connect_shared(Arc::new(SystemClock)).await;
    assert_eq!(store.local_datacenter(), "dc1", "the contact point's own");
    let cluster = store
        .cluster_datacenters()
        .await
        .expect("the cluster's datacenters");
    let nodes = *cluster.get("dc1").expect("the test node is in dc1");
    assert!(nodes >= 1);
    let replication = store.replication().await.expect("replication");
    let expected = u32::try_from(nodes.min(3)).unwrap();
    assert_eq!(
        replication.get("dc1"),
        Some(&expected),
        "min(3, nodes): {replication:?}"
    );
    assert_eq!(
        store
            .extend_replication("dc1")
            .await
            .expect("already there"),
        replication,
        "extending to a datacenter already replicated to changes nothing"
    );
    assert_eq!(
        store.describe(),
        format!(
            "Cassandra keyspace {} at {} (local datacenter dc1)",
            shared_keyspace(),
            node()
        )
    );
}

#[tokio::test]
async fn extending_to_an_unknown_datacenter_is_refused_before_anything_is_written() {
    let store = connect_shared(Arc::new(SystemClock)).await;
    let known: Vec<String> = store
        .cluster_datacenters()
        .await
        .expect("datacenters")
        .into_keys()
        .collect();
    let name = format!(
        "nowhere-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let error = store
        .extend_replication(&name)
        .await
        .expect_err("the cluster has no such datacenter");
    assert!(matches!(error, Error::NotFound(_)), "got {error:?}");
    assert!(
        error.to_string().contains(&format!(
            "the Cassandra cluster has no datacenter named {name} (it has: {}); start its nodes with dc={name} in cassandra-rackdc.properties first",
            known.join(", ")
        )),
        "says what to do: {error}"
    );

    let db = Db::from(store.clone());
    let error = db
        .register_datacenter(&name)
        .await
        .expect_err("registering it is refused too");
    assert!(matches!(error, Error::NotFound(_)), "got {error:?}");
    assert!(
        !db.datacenters()
            .await
            .expect("datacenters")
            .iter()
            .any(|datacenter| datacenter.name == name),
        "nothing was registered"
    );
    assert!(
        matches!(
            db.register_datacenter("no spaces allowed").await,
            Err(Error::Invalid(_))
        ),
        "a malformed name is refused as such"
    );
    assert!(!store
        .replication()
        .await
        .expect("replication")
        .contains_key(&name));
}

#[tokio::test]
async fn registering_the_clusters_own_datacenter_makes_it_usable_for_hosts() {
    // Only this test registers the real datacenter's name in this run's keyspace; the conformance cases use made-up names.
    let keyspace = shared_keyspace();
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_704_067_200_000)));
    let db = Db::open(&format!("cql://{}/{keyspace}", node()), clock.clone())
        .await
        .expect("opening through a spec");
    let registered = db
        .register_datacenter("dc1")
        .await
        .expect("dc1 exists in the cluster");
    assert_eq!(registered.name, "dc1");
    assert_eq!(registered.created, clock.now());
    assert!(matches!(
        db.register_datacenter("dc1").await,
        Err(Error::AlreadyExists(_))
    ));
    let host = db
        .add_host(NewHost {
            datacenter: "dc1".into(),
            address: "127.0.0.2:7100".into(),
            weight: 1,
        })
        .await
        .expect("a host in the registered datacenter");
    assert_eq!(db.hosts_in("dc1").await.expect("hosts"), vec![host]);
    assert!(db
        .describe()
        .starts_with(&format!("Cassandra keyspace {keyspace} at ")));
}

/// Every table gets the id its keyspace and name give it, the same from every hub, so hubs creating a new keyspace at
/// once through different nodes make one set of tables; and two connects racing on a new keyspace both succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tables_have_the_same_id_whichever_hub_creates_them() {
    let keyspace = unique_keyspace("_ids");
    let _cleanup = DropOnExit(keyspace.clone());
    let racing = (0..3).map(|_| {
        let options = options(&keyspace);
        tokio::spawn(async move { CqlStore::connect(options, Arc::new(SystemClock)).await })
    });
    for store in futures_util::future::join_all(racing).await {
        store
            .expect("a connect task")
            .expect("every racing connect succeeds");
    }
    let session = raw_session().await;
    let rows = session
        .query_unpaged(
            "SELECT table_name, id FROM system_schema.tables WHERE keyspace_name = ?",
            (keyspace.as_str(),),
        )
        .await
        .expect("listing tables")
        .into_rows_result()
        .expect("rows");
    let mut tables = 0;
    for row in rows.rows::<(String, uuid::Uuid)>().expect("typed rows") {
        let (table, id) = row.expect("a table row");
        assert_eq!(
            id,
            orrery_db::cql::migrations::table_id(&keyspace, &table),
            "table {table}"
        );
        tables += 1;
    }
    assert_eq!(tables, 16, "the migrations table and 15 tables");
}
