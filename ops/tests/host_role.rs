//! The host role on one machine: a project's local hub starts on demand as `orrery local-hub`, is reached over its
//! socket, starts again after it died or stopped itself when idle, and stops (saving) on shutdown.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use orrery_hub::host::{HostConfig, LocalHost};
use orrery_local_hub::client::Connection;
use orrery_local_hub::protocol::{
    kind, FileOp, FileRequest, FileResponse, FileResult, Frame, Hello, Service,
};

async fn list_root(socket: &std::path::Path) -> Vec<String> {
    let mut connection = Connection::connect(
        socket,
        Hello {
            version: 1,
            name: "host test".into(),
            color: "#000".into(),
        },
    )
    .await
    .expect("connects");
    let (channel, _) = connection.open(Service::Files).await.expect("files open");
    let request = FileRequest {
        id: 1,
        op: FileOp::List {
            path: String::new(),
        },
    };
    connection
        .send(&Frame::json(channel, kind::FILE_REQUEST, &request))
        .await
        .expect("send");
    let reply = connection
        .wait_for(Duration::from_secs(10), |frame| {
            frame.kind == kind::FILE_RESPONSE
        })
        .await
        .expect("a response");
    match reply.parse::<FileResponse>().expect("response").result {
        FileResult::Entries { entries } => entries.into_iter().map(|entry| entry.name).collect(),
        other => panic!("not a listing: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_hubs_start_on_demand_restart_and_stop() {
    let data = tempfile::tempdir().expect("temp dir");
    let host = LocalHost::new(HostConfig {
        data: data.path().to_path_buf(),
        binary: env!("CARGO_BIN_EXE_orrery").into(),
        idle_timeout: Duration::from_secs(1),
        start_timeout: Duration::from_secs(20),
    });
    assert!(
        host.socket_for("../escape").await.is_err(),
        "a project id must be a plain name"
    );

    let socket = host.socket_for("p1").await.expect("starts");
    std::fs::write(host.project_dir("p1").expect("dir").join("notes.txt"), "hi").expect("write");
    assert_eq!(list_root(&socket).await, vec!["notes.txt".to_string()]);
    let first = host.pid_of("p1").await.expect("running");
    assert_eq!(host.socket_for("p1").await.expect("same"), socket);
    assert_eq!(
        host.pid_of("p1").await,
        Some(first),
        "a running local hub is reused"
    );

    // It dies: the next request starts another.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let socket = host.socket_for("p1").await.expect("restarts");
    let second = host.pid_of("p1").await.expect("running");
    assert_ne!(second, first);
    assert_eq!(list_root(&socket).await, vec!["notes.txt".to_string()]);

    // Left alone, it stops itself; asking again starts it again.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle local hub never stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let socket = host.socket_for("p1").await.expect("starts again");
    assert_ne!(host.pid_of("p1").await, Some(second));
    assert_eq!(list_root(&socket).await, vec!["notes.txt".to_string()]);
    let (starts, mean) = host.start_stats();
    assert_eq!(starts, 3);
    assert!(mean > Duration::ZERO);

    host.shutdown().await;
    assert!(!socket.exists(), "shutdown stops every local hub");
}
