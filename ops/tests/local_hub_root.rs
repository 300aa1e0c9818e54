//! The real `orrery local-hub` binary started as root with a project user: it drops to that user before serving, so
//! the hub process, the files it creates, its folders and its terminals' shells belong to the user. Needs root (the
//! test machine and CI run as root): it creates a throwaway system user and removes it at the end.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orrery_local_hub::client::Connection;
use orrery_local_hub::protocol::{
    kind, FileOp, FileRequest, FileResponse, FileResult, Frame, Hello, Service, TerminalSize,
    VERSION,
};

const TIMEOUT: Duration = Duration::from_secs(20);

/// The `orrery` binary cargo built for this test.
fn orrery_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_orrery"))
}

/// A throwaway system user, deleted on drop.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TestUser {
    fn create() -> TestUser {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test starts the hub as root with a project user, so it must run as root (CI and the test machine do)"
        );
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let name = format!(
            "orrery-test-{:08x}",
            nanos ^ std::process::id().rotate_left(16)
        );
        let output = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--user-group",
                "--shell",
                "/bin/bash",
                &name,
            ])
            .output()
            .expect("run useradd");
        assert!(
            output.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let user = nix::unistd::User::from_name(&name)
            .expect("look up")
            .expect("the new user exists");
        TestUser {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// A running `orrery local-hub`, killed on drop; its log is kept for failure messages.
struct HubProcess {
    child: Child,
    log: PathBuf,
}

impl HubProcess {
    fn start(project: &Path, socket: &Path, user: &str, log: PathBuf) -> HubProcess {
        HubProcess::spawn(Command::new(orrery_binary()), project, socket, user, log)
    }

    /// Starts `command` (the binary, perhaps set to run as someone) as `orrery local-hub`.
    fn spawn(
        mut command: Command,
        project: &Path,
        socket: &Path,
        user: &str,
        log: PathBuf,
    ) -> HubProcess {
        let stderr = File::create(&log).expect("log file");
        let child = command
            .arg("local-hub")
            .arg("--project")
            .arg(project)
            .arg("--socket")
            .arg(socket)
            .args(["--user", user])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start orrery local-hub");
        HubProcess { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to end by itself.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the hub did not exit; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Connects once the hub listens.
    async fn connect(&mut self, socket: &Path) -> Connection {
        let deadline = Instant::now() + TIMEOUT;
        let hello = Hello {
            version: VERSION,
            name: "root test".into(),
            color: "#268bd2".into(),
            ..Default::default()
        };
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                panic!("the hub exited with {status}; its log:\n{}", self.log());
            }
            match Connection::connect(socket, hello.clone()).await {
                Ok(connection) => return connection,
                Err(error) if Instant::now() > deadline => {
                    panic!("the hub never listened ({error}); its log:\n{}", self.log())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary folder the project user can walk through (tempfile makes them 0700).
fn temporary_folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = dir.path().canonicalize().expect("canonical");
    (dir, path)
}

async fn request(connection: &mut Connection, channel: u32, id: u64, op: FileOp) -> FileResult {
    connection
        .send(&Frame::json(
            channel,
            kind::FILE_REQUEST,
            &FileRequest { id, op },
        ))
        .await
        .expect("send");
    let frame = connection
        .wait_for(TIMEOUT, |frame| {
            frame.channel == channel
                && frame.kind == kind::FILE_RESPONSE
                && frame
                    .parse::<FileResponse>()
                    .is_ok_and(|response| response.id == id)
        })
        .await
        .expect("a response");
    frame.parse::<FileResponse>().expect("a response").result
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// The real, effective, saved and file-system ids on a `Uid:` or `Gid:` line of /proc/<pid>/status.
fn proc_ids(pid: u32, field: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .expect("the ids line");
    line[field.len()..]
        .split_whitespace()
        .map(|id| id.parse().expect("an id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn started_as_root_the_hub_and_its_files_belong_to_the_project_user() {
    let user = TestUser::create();
    let (_dir, base) = temporary_folder();
    // Neither folder exists yet: the hub makes both and gives them to the user.
    let project = base.join("projects/alpha");
    let socket = base.join("sockets/alpha/hub.sock");
    let mut hub = HubProcess::start(&project, &socket, &user.name, base.join("hub.log"));
    let mut connection = hub.connect(&socket).await;

    let pid = hub.child.id();
    assert_eq!(
        proc_ids(pid, "Uid:"),
        [user.uid; 4],
        "the hub's user ids; its log:\n{}",
        hub.log()
    );
    assert_eq!(proc_ids(pid, "Gid:"), [user.gid; 4], "the hub's group ids");
    let socket_folder = std::fs::metadata(socket.parent().expect("folder")).expect("socket folder");
    assert_eq!(
        (socket_folder.uid(), socket_folder.mode() & 0o777),
        (user.uid, 0o700)
    );
    let project_folder = std::fs::metadata(&project).expect("project folder");
    assert_eq!(project_folder.uid(), user.uid);
    // The folders above the project stay root's: other projects may live there.
    assert_eq!(
        std::fs::metadata(base.join("projects"))
            .expect("projects")
            .uid(),
        0
    );

    let (channel, _) = connection
        .open(Service::Files)
        .await
        .expect("open the file service");
    assert_eq!(
        request(
            &mut connection,
            channel,
            1,
            FileOp::Write {
                path: "notes.md".into(),
                text: "mine\n".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert_eq!(
        request(
            &mut connection,
            channel,
            2,
            FileOp::Mkdir {
                path: "data/raw".into()
            }
        )
        .await,
        FileResult::Done
    );
    connection
        .send(&Frame::json(
            channel,
            kind::FILE_REQUEST,
            &FileRequest {
                id: 3,
                op: FileOp::Upload {
                    path: "data/raw/x.bin".into(),
                },
            },
        ))
        .await
        .expect("send");
    connection
        .send(&Frame::new(
            channel,
            kind::FILE_DATA,
            [&[3u8][..], b"uploaded bytes"].concat(),
        ))
        .await
        .expect("send");
    assert_eq!(
        request(&mut connection, channel, 3, FileOp::UploadEnd).await,
        FileResult::Transferred { bytes: 14 }
    );
    for made in ["notes.md", "data", "data/raw", "data/raw/x.bin"] {
        let metadata = std::fs::metadata(project.join(made)).expect("made by the hub");
        assert_eq!(
            (metadata.uid(), metadata.gid()),
            (user.uid, user.gid),
            "{made}"
        );
    }

    // The shell of a terminal runs as the user too.
    let size = TerminalSize { rows: 24, cols: 80 };
    let (terminal, _) = connection
        .open(Service::Terminal {
            name: "main".into(),
            size,
            resume: None,
        })
        .await
        .expect("open a terminal");
    let command = "echo \"uid=$(id -u) gid=$(id -g) user=$USER home=$HOME\"\r";
    connection
        .send(&Frame::new(
            terminal,
            kind::INPUT,
            command.as_bytes().to_vec(),
        ))
        .await
        .expect("type");
    let expected = format!("uid={} gid={} user={} home=", user.uid, user.gid, user.name);
    let mut output = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while !String::from_utf8_lossy(&output).contains(&expected) {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = connection.recv_timeout(left).await.unwrap_or_else(|error| {
            panic!(
                "waiting for {expected:?} ({error}); the terminal showed:\n{}",
                String::from_utf8_lossy(&output)
            )
        });
        if frame.channel == terminal && matches!(frame.kind, kind::OUTPUT | kind::SNAPSHOT) {
            output.extend_from_slice(&frame.body);
            // Credit back for what was shown, as a viewer does.
            let consumed = varint(frame.body.len() as u64);
            connection
                .send(&Frame::new(terminal, kind::ACK, consumed))
                .await
                .expect("ack");
        }
    }

    // SIGTERM: a clean stop that removes the socket.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal");
    let status = hub.wait_exit();
    assert!(
        status.success(),
        "the hub exited with {status}; its log:\n{}",
        hub.log()
    );
    assert!(!socket.exists(), "the socket was left behind");
}

#[test]
fn unknown_users_shared_socket_folders_and_switching_without_root_are_refused() {
    let (_dir, base) = temporary_folder();
    let project = base.join("project");
    let mut hub = HubProcess::start(
        &project,
        &base.join("run/hub.sock"),
        "no-such-user-orrery",
        base.join("unknown.log"),
    );
    assert!(!hub.wait_exit().success());
    assert!(
        hub.log()
            .contains("no Unix user is named \"no-such-user-orrery\""),
        "log:\n{}",
        hub.log()
    );

    // A socket folder that exists and is not the user's (here: root's, like /run or /tmp) is never given away.
    let user = TestUser::create();
    let shared = base.join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    let mut hub = HubProcess::start(
        &project,
        &shared.join("hub.sock"),
        &user.name,
        base.join("shared.log"),
    );
    assert!(!hub.wait_exit().success());
    assert!(
        hub.log().contains("belongs to uid 0"),
        "log:\n{}",
        hub.log()
    );
    let metadata = std::fs::metadata(&shared).expect("shared folder");
    assert_eq!((metadata.uid(), metadata.mode() & 0o777), (0, 0o755));

    // Started as the user (not root), it may not become anyone else. A copy of the binary in the temporary folder
    // is sure to be reachable by the user wherever the build lives.
    let binary = base.join("orrery");
    std::fs::copy(orrery_binary(), &binary).expect("copy the binary");
    let mut as_user = Command::new(&binary);
    as_user.uid(user.uid).gid(user.gid);
    let mut hub = HubProcess::spawn(
        as_user,
        &project,
        &base.join("run/hub.sock"),
        "root",
        base.join("user.log"),
    );
    assert!(!hub.wait_exit().success());
    assert!(
        hub.log().contains("only root can switch users"),
        "log:\n{}",
        hub.log()
    );
    assert!(
        !base.join("run").exists() && !project.exists(),
        "a refused start changes nothing"
    );
}
