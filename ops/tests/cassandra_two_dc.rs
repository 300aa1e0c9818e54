//! Orrery on a real two-datacenter Apache Cassandra cluster: one node in dc1 (127.0.0.11) and one in dc2 (127.0.0.12),
//! started by `ops/cassandra/cluster` (Java 17 and, the first time, Maven are needed; `.ci/run` installs them).
//!
//! One test, in phases, because stopping a datacenter affects everything else on the cluster:
//! 1. `orrery admin` on a keyspace that starts in dc1 only: `dc add` refuses a datacenter the cluster does not have and
//!    extends the keyspace's replication to dc2 (then `nodetool rebuild` copies what dc1 had); hosts are added, listed,
//!    drained and removed. Two admins creating another new keyspace at once through dc1 and dc2 both succeed.
//! 2. Two `orrery hub` processes, one per datacenter: an account created through dc1 signs in through dc2.
//! 3. dc2's node stops: dc1 keeps serving sign-ins, project lists and project opens at LOCAL_QUORUM, and takes new
//!    projects; a new sign-up is refused with 503 (one account per e-mail address needs a quorum across datacenters).
//! 4. dc2's node returns: what dc1 wrote meanwhile reaches dc2 (Cassandra's hints), seen through dc2's hub.
//! 5. Leases contended from both datacenters at once (SERIAL): one holder at any time, takeover after expiry, and a
//!    stale holder that can no longer renew.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orrery_db::conformance::unique_email;
use orrery_db::{
    Clock, CqlOptions, CqlStore, Error, HostId, ManualClock, NewAccount, NewHost, PlacementRole,
    Store,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{admin, admin_fails, admin_succeeds, free_port, session_cookie, unique_keyspace};

const DC1: &str = "127.0.0.11";
const DC2: &str = "127.0.0.12";

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// The cluster's nodes, stopped (and their files removed) when the test ends, however it ends.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn script(&self, args: &[&str]) {
        let status = Command::new(repository().join("ops/cassandra/cluster"))
            .arg(args[0])
            .arg(self.dir.path())
            .args(&args[1..])
            .status()
            .expect("running ops/cassandra/cluster");
        assert!(status.success(), "ops/cassandra/cluster {args:?} failed");
    }

    fn start() -> Cluster {
        let cluster = Cluster {
            dir: tempfile::Builder::new()
                .prefix("orrery-two-dc-")
                .tempdir()
                .expect("a folder for the cluster"),
        };
        cluster.script(&["start", "--layout", "two-dc", "--first-ip", DC1]);
        cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repository().join("ops/cassandra/cluster"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// An `orrery hub` on a free port, killed when dropped.
struct Hub {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Hub {
    async fn start(db: &str) -> Hub {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_orrery"))
            .args(["hub", "--listen", &format!("127.0.0.1:{port}"), "--db", db])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("orrery hub starts");
        let hub = Hub {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = hub.http.get(format!("{}/healthz", hub.base)).send().await {
                if response.status() == StatusCode::OK {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the hub on {db} never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        hub
    }

    async fn post(&self, path: &str, cookie: Option<&str>, body: Value) -> reqwest::Response {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.expect("the hub answers")
    }

    async fn get(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .expect("the hub answers")
    }

    async fn sign_up(&self, email: &str) -> reqwest::Response {
        self.post(
            "/api/accounts",
            None,
            json!({"email": email, "display_name": "Ada", "password": "correct horse battery"}),
        )
        .await
    }

    /// Signs in; returns the session cookie, or the failed response's status and body.
    async fn sign_in(&self, email: &str) -> Result<String, (StatusCode, String)> {
        let response = self
            .post(
                "/api/sign-in",
                None,
                json!({"email": email, "password": "correct horse battery"}),
            )
            .await;
        if response.status() != StatusCode::OK {
            return Err((response.status(), response.text().await.unwrap_or_default()));
        }
        Ok(session_cookie(&response))
    }

    async fn project_titles(&self, cookie: &str) -> Vec<String> {
        let response = self.get("/api/projects", cookie).await;
        assert_eq!(response.status(), StatusCode::OK, "listing projects");
        let body: Value = response.json().await.expect("JSON");
        let list = body
            .as_array()
            .or_else(|| body["projects"].as_array())
            .cloned()
            .unwrap_or_default();
        list.iter()
            .filter_map(|project| project["title"].as_str().map(String::from))
            .collect()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Retries `check` until it is true or `limit` passes.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn cql(keyspace: &str, node: &str, datacenter: &str) -> String {
    format!("cql://{node}/{keyspace}?dc={datacenter}")
}

async fn store(keyspace: &str, node: &str, datacenter: &str, clock: Arc<dyn Clock>) -> CqlStore {
    let options = CqlOptions::from_url(&cql(keyspace, node, datacenter)).expect("a CQL address");
    CqlStore::connect(options, clock)
        .await
        .unwrap_or_else(|error| panic!("connecting to {datacenter}: {error}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_datacenters() {
    let cluster = Cluster::start();
    let keyspace = unique_keyspace("orrery_two_dc");

    // ---- 1. admin: a keyspace in dc1 only, then dc2 added ----
    let dc1_only = format!("{}&replication=dc1:1", cql(&keyspace, DC1, "dc1"));
    let dc1_db = cql(&keyspace, DC1, "dc1");
    let dc2_db = cql(&keyspace, DC2, "dc2");
    let added = admin_succeeds(&dc1_only, &["dc", "add", "dc1"]);
    assert!(added.contains("datacenter dc1 added"), "{added}");
    assert!(
        added.contains("dc1: 1") && !added.contains("dc2"),
        "{added}"
    );

    let refused = admin_fails(&dc1_db, &["dc", "add", "dc3"]);
    assert!(
        refused.contains("no datacenter named dc3")
            && refused.contains("dc1")
            && refused.contains("dc2"),
        "the refusal names the datacenters the cluster has: {refused}"
    );
    let listed = admin_succeeds(&dc1_db, &["dc", "list"]);
    assert!(
        !listed.contains("dc3"),
        "a refused datacenter is not registered: {listed}"
    );

    let added = admin_succeeds(&dc1_db, &["dc", "add", "dc2"]);
    assert!(
        added.contains("dc1: 1, dc2: 1"),
        "replication now includes dc2: {added}"
    );
    assert!(
        added.contains("nodetool rebuild"),
        "it says how to copy what exists: {added}"
    );
    // What the admin does next: copy the data written before dc2 joined the keyspace to dc2's nodes.
    cluster.script(&[
        "nodetool",
        "2",
        "rebuild",
        "--keyspace",
        &keyspace,
        "--",
        "dc1",
    ]);
    let clock: Arc<dyn Clock> = Arc::new(orrery_db::SystemClock);
    let replication = store(&keyspace, DC1, "dc1", Arc::clone(&clock))
        .await
        .replication()
        .await
        .expect("reading the keyspace's replication");
    assert_eq!(
        replication,
        BTreeMap::from([("dc1".to_string(), 1), ("dc2".to_string(), 1)])
    );
    let listed = admin_succeeds(&dc2_db, &["dc", "list"]);
    assert!(
        listed.contains("dc1\t0 host(s)\tmetadata replicas 1")
            && listed.contains("dc2\t0 host(s)\tmetadata replicas 1"),
        "{listed}"
    );

    let added = admin_succeeds(
        &dc1_db,
        &[
            "host",
            "add",
            "--dc",
            "dc2",
            "--address",
            "127.0.0.12:7100",
            "--weight",
            "2",
        ],
    );
    assert!(
        added.contains("dc2\t127.0.0.12:7100\tweight 2\tactive"),
        "{added}"
    );
    let refused = admin_fails(
        &dc1_db,
        &["host", "add", "--dc", "dc9", "--address", "127.0.0.19:7100"],
    );
    assert!(refused.contains("dc9"), "{refused}");
    let drained = admin_succeeds(&dc1_db, &["host", "drain", "127.0.0.12:7100"]);
    assert!(drained.contains("is draining"), "{drained}");
    assert!(
        admin_succeeds(&dc1_db, &["host", "list"]).contains("127.0.0.12:7100\tweight 2\tdraining")
    );
    let removed = admin_succeeds(&dc1_db, &["host", "remove", "127.0.0.12:7100"]);
    assert!(removed.contains("removed"), "{removed}");
    assert!(!admin_succeeds(&dc1_db, &["host", "list"]).contains("127.0.0.12:7100"));

    // Two admins (or hubs) creating a new keyspace at the same moment through nodes of different datacenters: both
    // succeed and make one set of tables (each table's id is fixed by its name), which both datacenters then use.
    let fresh = unique_keyspace("orrery_race");
    let (fresh_dc1, fresh_dc2) = (cql(&fresh, DC1, "dc1"), cql(&fresh, DC2, "dc2"));
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| admin(&fresh_dc1, &["host", "list"]));
        let second = scope.spawn(|| admin(&fresh_dc2, &["host", "list"]));
        (
            first.join().expect("first admin"),
            second.join().expect("second admin"),
        )
    });
    for output in [&first, &second] {
        assert!(
            output.status.success(),
            "creating the keyspace from both datacenters at once: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    admin_succeeds(&fresh_dc2, &["dc", "add", "dc2"]);
    eventually(
        Duration::from_secs(30),
        "dc2's registration read through dc1",
        || {
            let fresh_dc1 = fresh_dc1.clone();
            async move {
                let output = admin(&fresh_dc1, &["dc", "list"]);
                String::from_utf8_lossy(&output.stdout).contains("dc2\t0 host(s)")
            }
        },
    )
    .await;

    // ---- 2. an account made through dc1 signs in through dc2 ----
    let hub1 = Hub::start(&dc1_db).await;
    let hub2 = Hub::start(&dc2_db).await;
    let email = unique_email("ada");
    let response = hub1.sign_up(&email).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "sign-up through dc1"
    );
    let cookie1 = session_cookie(&response);
    let created = hub1
        .post(
            "/api/projects",
            Some(&cookie1),
            json!({"title": "Before the outage"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let deadline = Instant::now() + Duration::from_secs(30);
    let cookie2 = loop {
        match hub2.sign_in(&email).await {
            Ok(cookie) => break cookie,
            Err(failure) => assert!(
                Instant::now() < deadline,
                "the account never signed in through dc2: {failure:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(hub2.project_titles(&cookie2).await, ["Before the outage"]);

    // ---- 3. dc2 goes away; dc1 keeps serving ----
    cluster.script(&["stop-node", "2"]);
    let cookie1 = hub1
        .sign_in(&email)
        .await
        .unwrap_or_else(|failure| panic!("signing in through dc1 while dc2 is down: {failure:?}"));
    assert_eq!(hub1.project_titles(&cookie1).await, ["Before the outage"]);
    let created = hub1
        .post(
            "/api/projects",
            Some(&cookie1),
            json!({"title": "During the outage"}),
        )
        .await;
    assert_eq!(
        created.status(),
        StatusCode::CREATED,
        "creating a project in dc1 while dc2 is down"
    );
    let project: Value = created.json().await.expect("JSON");
    let id = project["id"].as_str().expect("a project id").to_string();
    let opened = hub1.get(&format!("/api/projects/{id}"), &cookie1).await;
    assert_eq!(
        opened.status(),
        StatusCode::OK,
        "opening the project in dc1"
    );
    let refused = hub1.sign_up(&unique_email("bob")).await;
    assert_eq!(
        refused.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a new address cannot be checked unique without a quorum of every datacenter"
    );

    // ---- 4. dc2 returns and catches up ----
    cluster.script(&["start-node", "2"]);
    eventually(
        Duration::from_secs(120),
        "the project written during the outage reaching dc2",
        || {
            let (hub2, cookie2) = (&hub2, &cookie2);
            async move {
                let response = hub2.get("/api/projects", cookie2).await;
                if response.status() != StatusCode::OK {
                    return false;
                }
                let body = response.text().await.unwrap_or_default();
                body.contains("During the outage") && body.contains("Before the outage")
            }
        },
    )
    .await;
    drop((hub1, hub2));

    // ---- 5. leases contended from both datacenters ----
    leases_across_datacenters(&keyspace).await;
    drop(cluster);
}

async fn leases_across_datacenters(keyspace: &str) {
    let clock = Arc::new(ManualClock::new(orrery_db::conformance::START));
    let dc1 = store(keyspace, DC1, "dc1", clock.clone()).await;
    let dc2 = store(keyspace, DC2, "dc2", clock.clone()).await;
    let owner = dc1
        .create_account(NewAccount {
            email: unique_email("lease"),
            display_name: "Owner".into(),
            password_hash: "$argon2id$fake".into(),
        })
        .await
        .expect("an account");
    let project = dc1
        .create_project(owner.id, "Contended")
        .await
        .expect("a project");
    // Every host is registered and placed through dc1 and read back through dc2 once it has arrived there.
    let mut contenders: Vec<(CqlStore, HostId)> = Vec::new();
    let mut datacenter_of = BTreeMap::new();
    for index in 0..8 {
        let (datacenter, store) = if index % 2 == 0 {
            ("dc1", &dc1)
        } else {
            ("dc2", &dc2)
        };
        let host = dc1
            .add_host(NewHost {
                datacenter: datacenter.into(),
                address: format!("127.0.2.{index}:7100"),
                weight: 1,
            })
            .await
            .expect("a host");
        dc1.set_placement(project.id, host.id, PlacementRole::Replica)
            .await
            .expect("a copy on it");
        contenders.push((store.clone(), host.id));
        datacenter_of.insert(host.id, datacenter);
    }
    eventually(
        Duration::from_secs(30),
        "the placements reaching dc2",
        || {
            let dc2 = &dc2;
            async move {
                dc2.placements(project.id)
                    .await
                    .map(|placements| placements.len() == 8)
                    .unwrap_or(false)
            }
        },
    )
    .await;

    // Everybody at once, many times: never two holders. Paxos rounds from eight contenders on a two-core machine can
    // time out (the store then says the outcome is unknown: Unavailable); a host treats that as "not mine" and retries,
    // which is safe, because a lease it did get but did not learn of simply expires.
    let holding = Arc::new(AtomicUsize::new(0));
    let unknown = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (store, host) in contenders.clone() {
        let (holding, unknown) = (Arc::clone(&holding), Arc::clone(&unknown));
        tasks.push(tokio::spawn(async move {
            let mut tenures = 0;
            for _ in 0..5 {
                match store
                    .acquire_lease(project.id, host, Duration::from_secs(30))
                    .await
                {
                    Ok(lease) => {
                        assert_eq!(lease.holder, host);
                        assert_eq!(
                            holding.fetch_add(1, Ordering::SeqCst),
                            0,
                            "two holders at once"
                        );
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        holding.fetch_sub(1, Ordering::SeqCst);
                        release_held(&store, project.id, host).await;
                        tenures += 1;
                    }
                    Err(Error::Conflict(_)) => {}
                    Err(Error::Unavailable { .. }) => {
                        unknown.fetch_add(1, Ordering::SeqCst);
                        // It may hold the lease without knowing: give it up before trying again (Conflict: it
                        // does not, another host does).
                        match until_known(|| store.release_lease(project.id, host)).await {
                            Ok(()) | Err(Error::Conflict(_)) => {}
                            Err(other) => panic!("releasing a lease: {other}"),
                        }
                    }
                    Err(other) => panic!("a losing contender must get Conflict, got {other}"),
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            tenures
        }));
    }
    let mut tenures = 0;
    for task in tasks {
        tenures += task.await.expect("a contender panicked");
    }
    assert!(tenures > 0, "somebody held the lease");
    eprintln!(
        "leases: {tenures} tenures, {} attempts with an unknown outcome",
        unknown.load(Ordering::SeqCst)
    );

    // One race: at most one winner, and the holder both datacenters see is that winner.
    let mut race = Vec::new();
    for (store, host) in contenders.clone() {
        race.push(tokio::spawn(async move {
            (
                host,
                store
                    .acquire_lease(project.id, host, Duration::from_secs(10))
                    .await,
            )
        }));
    }
    let mut winners = Vec::new();
    for task in race {
        match task.await.expect("a contender panicked") {
            (host, Ok(_)) => winners.push(host),
            (_, Err(Error::Conflict(_) | Error::Unavailable { .. })) => {}
            (_, Err(other)) => panic!("expected Conflict, got {other}"),
        }
    }
    assert!(winners.len() <= 1, "two winners: {winners:?}");
    let seen1 = read_lease(&dc1, project.id)
        .await
        .expect("somebody holds the lease after a race");
    let seen2 = read_lease(&dc2, project.id)
        .await
        .expect("dc2 sees the holder too");
    assert_eq!(
        seen1.holder, seen2.holder,
        "both datacenters see one holder"
    );
    if let Some(winner) = winners.first() {
        assert_eq!(seen1.holder, *winner, "the holder is the one told it won");
    }
    let winner = seen1.holder;

    // The holder stops renewing; once expired, a host in the other datacenter takes over and the old one cannot renew.
    let (winner_store, _) = contenders
        .iter()
        .find(|(_, host)| *host == winner)
        .expect("the winner")
        .clone();
    let (taker_store, taker) = contenders
        .iter()
        .find(|(_, host)| datacenter_of[host] != datacenter_of[&winner])
        .cloned()
        .expect("a contender in the other datacenter");
    clock.advance(Duration::from_secs(11));
    let taken =
        until_known(|| taker_store.acquire_lease(project.id, taker, Duration::from_secs(10)))
            .await
            .expect("taking over an expired lease");
    assert_eq!(taken.holder, taker);
    assert!(taken.epoch > seen1.epoch, "the epoch moves on");
    match until_known(|| winner_store.renew_lease(project.id, winner, Duration::from_secs(10)))
        .await
    {
        Err(Error::Conflict(_)) => {}
        other => panic!("a stale holder must not renew, got {other:?}"),
    }
}

/// Runs a lease operation again while its outcome is unknown (Unavailable), as a host would.
async fn until_known<T, F, Fut>(mut operation: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    for _ in 0..20 {
        match operation().await {
            Err(Error::Unavailable { .. }) => tokio::time::sleep(Duration::from_millis(100)).await,
            known => return known,
        }
    }
    panic!("a lease operation stayed unavailable for 20 tries");
}

/// The holder gives the lease up. When an attempt's outcome is unknown, it may have applied and another host may have
/// taken the lease since, so a later attempt may find it held by another host: released all the same.
async fn release_held(store: &CqlStore, project: orrery_db::ProjectId, host: HostId) {
    match store.release_lease(project, host).await {
        Ok(()) => return,
        Err(Error::Unavailable { .. }) => {}
        Err(other) => panic!("the holder's release must succeed, got {other}"),
    }
    match until_known(|| store.release_lease(project, host)).await {
        Ok(()) | Err(Error::Conflict(_)) => {}
        Err(other) => panic!("releasing a lease: {other}"),
    }
}

/// The lease as one datacenter sees it at SERIAL, retrying while the cluster is busy.
async fn read_lease(store: &CqlStore, project: orrery_db::ProjectId) -> Option<orrery_db::Lease> {
    for _ in 0..20 {
        match store.lease(project).await {
            Ok(lease) => return lease,
            Err(Error::Unavailable { .. }) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(other) => panic!("reading a lease: {other}"),
        }
    }
    panic!("reading a lease stayed unavailable for 20 tries");
}
