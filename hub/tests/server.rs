//! Starting and stopping through `run`, as `orrery hub` does: it opens (and creates) the SQLite file it is given, listens
//! on the configured address, reports a taken port, stops when the shutdown token is cancelled, and refuses a
//! configuration that cannot work before it listens.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "support/harness.rs"]
mod harness;

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::time::Duration;

use orrery_hub::{Config, Database, Error, Hub, RateLimit};
use tokio_util::sync::CancellationToken;

/// A port that was free a moment ago: `run` binds its own listener, so the test cannot hand it one.
fn free_port() -> SocketAddr {
    let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap()
}

async fn wait_for_health(address: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(response) = reqwest::get(format!("http://{address}/healthz")).await {
            assert_eq!(response.text().await.unwrap(), "ok");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub did not answer within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn run_serves_from_a_new_sqlite_file_until_shutdown() {
    harness::init_logs();
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("metadata.db");
    let listen = free_port();
    let shutdown = CancellationToken::new();
    let config = Config {
        listen,
        database: Database::Sqlite(path.clone()),
        ..Config::default()
    };
    let running = tokio::spawn(orrery_hub::run(config, shutdown.clone()));
    wait_for_health(listen).await;
    assert!(path.is_file(), "the database file was created");

    // A second hub on the same address reports the taken port.
    let taken = Config {
        listen,
        database: Database::Sqlite(directory.path().join("other.db")),
        ..Config::default()
    };
    let error = orrery_hub::run(taken, CancellationToken::new())
        .await
        .expect_err("the port is taken");
    assert!(matches!(error, Error::Io { .. }), "{error}");
    assert!(error.to_string().contains(&listen.to_string()), "{error}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the hub stops within 10 s")
        .unwrap()
        .expect("a clean stop");
    assert!(reqwest::get(format!("http://{listen}/healthz"))
        .await
        .is_err());
}

#[tokio::test]
async fn configurations_that_cannot_work_are_refused_at_start() {
    let directory = tempfile::tempdir().unwrap();
    let base = || Config {
        database: Database::Sqlite(directory.path().join("orrery.db")),
        ..Config::default()
    };
    let no_burst = RateLimit {
        burst: 0,
        refill_every: Duration::from_secs(1),
    };
    let cases: Vec<(&str, Config)> = vec![
        (
            "a session lifetime over 400 days",
            Config {
                session_lifetime: Duration::from_secs(401 * 24 * 3600),
                ..base()
            },
        ),
        (
            "a session lifetime under a second",
            Config {
                session_lifetime: Duration::from_millis(500),
                ..base()
            },
        ),
        ("a rate limit with no burst", {
            let mut config = base();
            config.rate_limits.sign_in_per_email = no_burst;
            config
        }),
        (
            "no body at all",
            Config {
                max_body_bytes: 0,
                ..base()
            },
        ),
    ];
    for (what, config) in cases {
        let error = Hub::new(config).await.expect_err(what);
        assert!(matches!(error, Error::Config(_)), "{what}: {error}");
    }
    assert!(
        !directory.path().join("orrery.db").exists(),
        "nothing was created for a refused configuration"
    );
}
