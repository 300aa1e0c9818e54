//! The local hub's life: it stays up while clients come and go, and stops by itself after its idle time with nobody
//! connected, removing its socket.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use orrery_local_hub::client::Connection;
use orrery_local_hub::protocol::Hello;
use orrery_local_hub::Config;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stays_up_while_connected_and_stops_when_idle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("hub.sock");
    let mut config = Config::new(dir.path().to_path_buf(), socket.clone());
    config.idle_timeout = Duration::from_secs(1);
    let hub = tokio::spawn(orrery_local_hub::run(config, CancellationToken::new()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "no socket");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let hello = Hello {
        version: 1,
        name: "Ann".into(),
        color: "#000".into(),
        ..Default::default()
    };
    let connection = Connection::connect(&socket, hello.clone())
        .await
        .expect("connects");
    // Connected for three idle periods: it must still be there.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !hub.is_finished(),
        "the hub stopped while a client was connected"
    );
    drop(connection);
    let stopped = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), hub)
        .await
        .expect("stops when idle")
        .expect("no panic")
        .expect("clean");
    assert!(
        stopped.elapsed() >= Duration::from_millis(900),
        "stopped before its idle time"
    );
    assert!(!socket.exists(), "the socket is removed on the way out");
    assert!(Connection::connect(&socket, hello).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_of_another_protocol_version_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("hub.sock");
    let shutdown = CancellationToken::new();
    let hub = tokio::spawn(orrery_local_hub::run(
        Config::new(dir.path().to_path_buf(), socket.clone()),
        shutdown.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "no socket");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let error = Connection::connect(
        &socket,
        Hello {
            version: 99,
            name: "Old".into(),
            color: "#000".into(),
            ..Default::default()
        },
    )
    .await
    .expect_err("version 99 is refused");
    assert_eq!(error.code, orrery_local_hub::protocol::ErrorCode::Version);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), hub)
        .await
        .expect("stops")
        .expect("no panic")
        .expect("clean");
}
