//! `kill -9` of the real `orrery local-hub` process in the middle of typing: the file on disk is always whole (an
//! earlier or later text, never half of one), and after a restart the editor's unacknowledged typing is merged back,
//! so nothing typed is lost.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use orrery_local_hub::client::Connection;
use orrery_local_hub::protocol::{kind, Frame, Hello, Service};
use orrery_sync::wire::{decode_server, encode_client};
use orrery_sync::Client;

struct HubProcess {
    child: Child,
}

impl HubProcess {
    fn start(project: &Path, socket: &Path) -> HubProcess {
        let _ = std::fs::remove_file(socket);
        let child = Command::new(env!("CARGO_BIN_EXE_orrery"))
            .args([
                "local-hub",
                "--idle-timeout",
                "0",
                "--save-delay",
                "20",
                "--project",
            ])
            .arg(project)
            .arg("--socket")
            .arg(socket)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("orrery starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the local hub never opened its socket"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        HubProcess { child }
    }

    fn kill_9(&mut self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill -9");
        self.child.wait().expect("reaped");
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn open_editor(socket: &Path, client: &mut Client) -> (Connection, u32) {
    let mut connection = Connection::connect(
        socket,
        Hello {
            version: 1,
            name: "Ann".into(),
            color: "#b58900".into(),
            ..Default::default()
        },
    )
    .await
    .expect("connects");
    let (channel, _) = connection
        .open(Service::Document {
            path: "essay.txt".into(),
            client: 42,
        })
        .await
        .expect("opens");
    // A new connection: whatever was in flight on the old one gets sent again.
    if let Some(message) = client.retransmit() {
        connection
            .send(&Frame::new(channel, kind::SYNC, encode_client(&message)))
            .await
            .expect("send");
    }
    (connection, channel)
}

/// Sends and receives until the client has nothing unacknowledged.
async fn settle(connection: &mut Connection, channel: u32, client: &mut Client) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(message) = client.poll() {
            connection
                .send(&Frame::new(channel, kind::SYNC, encode_client(&message)))
                .await
                .expect("send");
        }
        if client.is_synced() && !client.in_flight() && !client.has_unacknowledged() {
            return;
        }
        let frame = connection
            .recv_timeout(Duration::from_secs(5))
            .await
            .expect("the hub answers");
        if frame.channel == channel && frame.kind == kind::SYNC_REPLY {
            client
                .receive(decode_server(&frame.body).expect("valid"))
                .expect("taken");
        }
        assert!(tokio::time::Instant::now() < deadline, "never settled");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_typing_loses_nothing_and_never_leaves_half_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path().join("project");
    std::fs::create_dir(&project).expect("mkdir");
    let socket = dir.path().join("run/hub.sock");
    std::fs::create_dir_all(socket.parent().expect("parent")).expect("mkdir");
    // A large file, so a save takes long enough that a kill can land in the middle of one.
    let opening = "Opening paragraph.\n".repeat(40_000);
    std::fs::write(project.join("essay.txt"), &opening).expect("write");

    let mut hub = HubProcess::start(&project, &socket);
    let mut client = Client::new();
    let (mut connection, mut channel) = open_editor(&socket, &mut client).await;
    settle(&mut connection, channel, &mut client).await;

    let mut typed = String::new();
    let mut killed_with_unacknowledged = 0;
    for round in 0..4 {
        // Type, syncing as a person's editor does, so saves keep happening; then kill mid-flight.
        for index in 0..300 {
            let letter = char::from(b'a' + ((round * 300 + index) % 26) as u8);
            let end = client.text_ref().len();
            client.splice(end, 0, &letter.to_string()).expect("splice");
            typed.push(letter);
            if let Some(message) = client.poll() {
                connection
                    .send(&Frame::new(channel, kind::SYNC, encode_client(&message)))
                    .await
                    .expect("send");
            }
            if let Ok(frame) = connection.recv_timeout(Duration::from_millis(2)).await {
                if frame.kind == kind::SYNC_REPLY {
                    client
                        .receive(decode_server(&frame.body).expect("valid"))
                        .expect("taken");
                }
            }
        }
        // Finish with a message in flight whose reply we never read, and typing that was never sent.
        for burst in ["IN-FLIGHT ", "UNSENT "] {
            let end = client.text_ref().len();
            client.splice(end, 0, burst).expect("splice");
            typed.push_str(burst);
            if let Some(message) = client.poll() {
                connection
                    .send(&Frame::new(channel, kind::SYNC, encode_client(&message)))
                    .await
                    .expect("send");
            }
        }
        // Some of those are acknowledged, some in flight, some only typed: now the process dies.
        if client.has_unacknowledged() {
            killed_with_unacknowledged += 1;
        }
        hub.kill_9();
        let on_disk =
            std::fs::read_to_string(project.join("essay.txt")).expect("the file is there");
        let rest = on_disk
            .strip_prefix(&opening)
            .unwrap_or_else(|| panic!("round {round}: the opening was damaged"));
        assert!(
            typed.starts_with(rest),
            "round {round}: the file on disk is not a whole earlier text: ends {:?}",
            &rest[rest.len().saturating_sub(20)..]
        );

        hub = HubProcess::start(&project, &socket);
        client.reset_in_flight();
        (connection, channel) = open_editor(&socket, &mut client).await;
        settle(&mut connection, channel, &mut client).await;
        let text = client.text();
        let expected = format!("{opening}{typed}");
        if text != expected {
            let common = text
                .chars()
                .zip(expected.chars())
                .take_while(|(a, b)| a == b)
                .count();
            let show = |s: &str| {
                s.chars()
                    .skip(common.saturating_sub(40))
                    .take(120)
                    .collect::<String>()
            };
            panic!(
                "round {round}: typing was lost across the crash: {} chars vs {} expected; first difference at {common}:\n got      {:?}\n expected {:?}",
                text.chars().count(),
                expected.chars().count(),
                show(&text),
                show(&expected)
            );
        }
        // A kill mid-save leaves the save's temporary file; the restarted hub clears it when it opens the file.
        let leftovers: Vec<String> = std::fs::read_dir(&project)
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "round {round}: temporary files left behind after the restart: {leftovers:?}"
        );
    }
    assert!(
        killed_with_unacknowledged > 0,
        "no kill landed while typing was unacknowledged: the test proved nothing"
    );
    // A clean stop saves the last of it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hub.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let status = hub.child.wait().expect("exits");
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    assert_eq!(
        std::fs::read_to_string(project.join("essay.txt")).expect("read"),
        format!("{opening}{typed}")
    );
}
