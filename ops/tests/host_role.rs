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
            ..Default::default()
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
    // As root the host made the project a Unix user; it is this test's to remove.
    let _ = std::process::Command::new("userdel")
        .arg(orrery_hub::host::project_user("p1"))
        .status();
}

/// The user ids (real, effective, saved, filesystem) of a process.
fn uids_of(pid: u32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .expect("a Uid line");
    line.split_whitespace()
        .skip(1)
        .map(|id| id.parse().expect("a number"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_root_each_project_runs_as_its_own_user() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test runs the host role as root, so it must run as root (CI and the test machine do)"
    );
    let data = tempfile::tempdir().expect("temp dir");
    let host = LocalHost::new(HostConfig {
        data: data.path().to_path_buf(),
        binary: env!("CARGO_BIN_EXE_orrery").into(),
        idle_timeout: Duration::from_secs(60),
        start_timeout: Duration::from_secs(20),
    });
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .subsec_nanos();
    let projects = [format!("{nanos:08x}aa"), format!("{nanos:08x}bb")];
    let mut uids = Vec::new();
    for project in &projects {
        let socket = host.socket_for(project).await.expect("starts");
        let name = orrery_hub::host::project_user(project);
        let user = nix::unistd::User::from_name(&name)
            .expect("look up")
            .expect("the host made the project's user");
        let pid = host.pid_of(project).await.expect("running");
        assert_eq!(uids_of(pid), [user.uid.as_raw(); 4], "{name}'s local hub");
        let directory = std::fs::metadata(host.project_dir(project).expect("dir")).expect("dir");
        assert_eq!(directory.uid(), user.uid.as_raw());
        assert_eq!(directory.permissions().mode() & 0o777, 0o700);
        // The host (root) still reaches the local hub.
        assert!(list_root(&socket).await.is_empty());
        uids.push(user.uid.as_raw());
    }
    assert_ne!(uids[0], uids[1], "two projects share a user");
    let projects_folder = std::fs::metadata(data.path().join("projects")).expect("projects");
    assert_eq!(projects_folder.permissions().mode() & 0o777, 0o711);
    host.shutdown().await;
    for project in &projects {
        let _ = std::process::Command::new("userdel")
            .arg(orrery_hub::host::project_user(project))
            .status();
    }
}

#[test]
fn a_local_hub_stops_when_its_host_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path().join("project");
    std::fs::create_dir(&project).expect("project");
    let socket = dir.path().join("run/hub.sock");
    let pid_file = dir.path().join("pid");
    // A stand-in host: a shell that starts the local hub as its child, then is killed with SIGKILL.
    let script = format!(
        "{bin} local-hub --project {project} --socket {socket} --parent $$ & echo $! > {pid_file}; sleep 60",
        bin = env!("CARGO_BIN_EXE_orrery"),
        project = project.display(),
        socket = socket.display(),
        pid_file = pid_file.display(),
    );
    let mut host = std::process::Command::new("sh")
        .args(["-c", &script])
        .spawn()
        .expect("sh");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the local hub never listened"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let hub: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    let alive = |pid: i32| {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    };
    assert!(alive(hub));
    host.kill().expect("kill -9 the host");
    host.wait().expect("reap");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive(hub) {
        assert!(
            std::time::Instant::now() < deadline,
            "the local hub outlived its host by 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
