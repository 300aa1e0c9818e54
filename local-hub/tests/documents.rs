//! Documents through a real local hub over its real Unix socket: co-editing, disk changes, saving, history, and bad input.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use orrery_local_hub::client::Connection;
use orrery_local_hub::protocol::{
    kind, ErrorBody, ErrorCode, Frame, Hello, HistoryRequest, HistoryResponse, Presence, Presences,
    Service,
};
use orrery_local_hub::Config;
use orrery_sync::wire::{decode_server, encode_client};
use orrery_sync::Client;
use tokio_util::sync::CancellationToken;

struct TestHub {
    _dir: tempfile::TempDir,
    root: PathBuf,
    socket: PathBuf,
    save_delay: Duration,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestHub {
    async fn start() -> TestHub {
        TestHub::start_saving_after(Duration::from_millis(100)).await
    }

    async fn start_saving_after(save_delay: Duration) -> TestHub {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("project");
        std::fs::create_dir(&root).expect("project dir");
        let root = root.canonicalize().expect("canonical");
        let socket = dir.path().join("run/hub.sock");
        let mut hub = TestHub {
            _dir: dir,
            root,
            socket,
            save_delay,
            shutdown: CancellationToken::new(),
            task: None,
        };
        hub.launch().await;
        hub
    }

    async fn launch(&mut self) {
        let mut config = Config::new(self.root.clone(), self.socket.clone());
        config.save_delay = self.save_delay;
        config.idle_timeout = Duration::ZERO;
        orrery_local_hub::prepare(&config).expect("prepare");
        self.shutdown = CancellationToken::new();
        let token = self.shutdown.clone();
        self.task = Some(tokio::spawn(async move {
            orrery_local_hub::run(config, token)
                .await
                .expect("hub runs");
        }));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.socket.exists() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the hub never opened its socket"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A clean stop (as on SIGTERM): every document is saved first.
    async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("stops in time")
                .expect("no panic");
        }
    }

    async fn connect(&self, name: &str) -> Connection {
        Connection::connect(
            &self.socket,
            Hello {
                version: 1,
                name: name.into(),
                color: "#268bd2".into(),
                ..Default::default()
            },
        )
        .await
        .expect("connects")
    }

    fn file(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

/// An editor: a sync client on a document channel.
struct Editor {
    connection: Connection,
    channel: u32,
    client: Client,
    notices: Vec<String>,
    presences: Option<Presences>,
}

impl Editor {
    async fn open(hub: &TestHub, name: &str, path: &str, client_id: u64) -> Editor {
        let mut connection = hub.connect(name).await;
        let (channel, opened) = connection
            .open(Service::Document {
                path: path.into(),
                client: client_id,
            })
            .await
            .expect("document opens");
        assert!(!opened.read_only);
        let mut editor = Editor {
            connection,
            channel,
            client: Client::new(),
            notices: Vec::new(),
            presences: None,
        };
        editor.settle().await;
        assert!(editor.client.is_synced());
        editor
    }

    /// Sends what the client has to send and handles what arrives, until nothing moves for a short while.
    async fn settle(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(message) = self.client.poll() {
                let frame = Frame::new(self.channel, kind::SYNC, encode_client(&message));
                self.connection.send(&frame).await.expect("send");
            }
            let quiet = if self.client.in_flight() {
                Duration::from_secs(5)
            } else {
                Duration::from_millis(150)
            };
            match self.connection.recv_timeout(quiet).await {
                Ok(frame) => self.handle(frame),
                Err(_) if !self.client.in_flight() => return,
                Err(error) => panic!("no reply from the hub: {error}"),
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the editor never settled"
            );
        }
    }

    fn handle(&mut self, frame: Frame) {
        match frame.kind {
            kind::SYNC_REPLY => {
                let message =
                    decode_server(&frame.body).expect("the hub sends valid sync messages");
                self.client.receive(message).expect("the client takes it");
            }
            kind::NOTICE => self
                .notices
                .push(String::from_utf8_lossy(&frame.body).into_owned()),
            kind::PRESENCES => self.presences = Some(frame.parse().expect("presences")),
            kind::ERROR => panic!("hub error: {:?}", frame.parse::<ErrorBody>()),
            _ => {}
        }
    }

    fn text(&self) -> String {
        self.client.text()
    }

    async fn request_history(&mut self, request: HistoryRequest) -> HistoryResponse {
        let frame = Frame::json(self.channel, kind::HISTORY, &request);
        self.connection.send(&frame).await.expect("send");
        let channel = self.channel;
        let reply = self
            .connection
            .wait_for(Duration::from_secs(10), |frame| {
                frame.channel == channel && matches!(frame.kind, kind::HISTORY_REPLY | kind::ERROR)
            })
            .await
            .expect("a history reply");
        assert_eq!(
            reply.kind,
            kind::HISTORY_REPLY,
            "{:?}",
            reply.parse::<ErrorBody>()
        );
        reply.parse().expect("history response")
    }
}

/// Sends a frame the hub must refuse, and checks the error's code.
async fn expect_error(connection: &mut Connection, frame: &Frame, code: ErrorCode) {
    connection.send(frame).await.expect("send");
    let error = connection
        .wait_for(Duration::from_secs(10), |frame| frame.kind == kind::ERROR)
        .await
        .expect("an error frame");
    assert_eq!(error.parse::<ErrorBody>().expect("body").code, code);
}

/// Waits until both editors show the same text (and settle), returning it.
async fn converge(a: &mut Editor, b: &mut Editor) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        a.settle().await;
        b.settle().await;
        if a.text() == b.text() && !a.client.has_unacknowledged() && !b.client.has_unacknowledged()
        {
            return a.text();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "editors never converged: {:?} vs {:?}",
            a.text(),
            b.text()
        );
    }
}

async fn wait_for_file(path: &Path, expected: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if std::fs::read_to_string(path).ok().as_deref() == Some(expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never became {expected:?}; it is {:?}",
            path.display(),
            std::fs::read_to_string(path)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_editors_converge_and_the_file_follows() {
    let hub = TestHub::start().await;
    std::fs::write(hub.file("notes.txt"), "first line\nsecond line\n").expect("write");
    let mut ann = Editor::open(&hub, "Ann", "notes.txt", 1).await;
    let mut bob = Editor::open(&hub, "Bob", "notes.txt", 2).await;
    assert_eq!(ann.text(), "first line\nsecond line\n");
    // Both type at once, before either hears of the other.
    ann.client
        .splice(0, 0, "Ann was here 🍊\n")
        .expect("splice");
    let end = bob.client.text_ref().len();
    bob.client.splice(end, 0, "Bob too\r\n").expect("splice");
    let text = converge(&mut ann, &mut bob).await;
    assert_eq!(
        text,
        "Ann was here 🍊\nfirst line\nsecond line\nBob too\r\n"
    );
    wait_for_file(&hub.file("notes.txt"), &text).await;

    // Presence: Bob's cursor reaches Ann, with his name.
    let presence = Frame::json(
        bob.channel,
        kind::PRESENCE,
        &Presence {
            cursor: 3,
            anchor: 7,
        },
    );
    bob.connection.send(&presence).await.expect("send");
    let channel = ann.channel;
    let frame = ann
        .connection
        .wait_for(Duration::from_secs(5), |frame| {
            frame.channel == channel && frame.kind == kind::PRESENCES
        })
        .await
        .expect("presences reach Ann");
    let presences: Presences = frame.parse().expect("presences");
    assert!(presences
        .peers
        .iter()
        .any(|peer| peer.name == "Bob" && peer.cursor == 3 && peer.anchor == 7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_disk_reaches_every_editor_and_keeps_unsaved_typing() {
    // A long save delay, so the typing below is certainly not on disk yet when the shell rewrites the file.
    let hub = TestHub::start_saving_after(Duration::from_secs(3)).await;
    std::fs::write(hub.file("config.txt"), "colour = blue\nsize = 3\n").expect("write");
    let mut ann = Editor::open(&hub, "Ann", "config.txt", 1).await;
    let mut bob = Editor::open(&hub, "Bob", "config.txt", 2).await;
    let status = std::process::Command::new("sed")
        .args(["-i", "s/blue/green/"])
        .arg(hub.file("config.txt"))
        .status()
        .expect("sed runs");
    assert!(status.success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(ann.text().contains("green") && bob.text().contains("green")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sed's change never reached the editors"
        );
        ann.client.request_sync();
        ann.settle().await;
        bob.client.request_sync();
        bob.settle().await;
    }
    assert_eq!(
        converge(&mut ann, &mut bob).await,
        "colour = green\nsize = 3\n"
    );
    assert_eq!(
        std::fs::read_to_string(hub.file("config.txt")).expect("read"),
        "colour = green\nsize = 3\n"
    );

    // Typing not yet saved when the disk changes is merged, not lost.
    let end = ann.client.text_ref().len();
    ann.client
        .splice(end, 0, "shape = round\n")
        .expect("splice");
    ann.settle().await;
    std::fs::write(
        hub.file("config.txt"),
        "# edited in a shell\ncolour = green\nsize = 3\n",
    )
    .expect("write");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        ann.client.request_sync();
        bob.client.request_sync();
        let text = converge(&mut ann, &mut bob).await;
        if text.starts_with("# edited") {
            assert_eq!(
                text,
                "# edited in a shell\ncolour = green\nsize = 3\nshape = round\n"
            );
            wait_for_file(&hub.file("config.txt"), &text).await;
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the shell's change never arrived: {text:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_fetches_reverts_and_survives_a_restart() {
    let mut hub = TestHub::start().await;
    std::fs::write(hub.file("story.md"), "Once upon a time.\n").expect("write");
    {
        let mut ann = Editor::open(&hub, "Ann", "story.md", 1).await;
        ann.client.splice(17, 0, " The end.").expect("splice");
        ann.settle().await;
        let HistoryResponse::List { versions } = ann.request_history(HistoryRequest::List).await
        else {
            panic!("a list")
        };
        assert_eq!(versions.len(), 2, "{versions:?}");
        assert_eq!(versions[0].author, "disk");
        assert_eq!(versions[1].author, "Ann");
        let HistoryResponse::Fetch { text, .. } = ann
            .request_history(HistoryRequest::Fetch { version: 1 })
            .await
        else {
            panic!("a fetch")
        };
        assert_eq!(text, "Once upon a time.\n");
        let HistoryResponse::Revert { new_version, .. } = ann
            .request_history(HistoryRequest::Revert { version: 1 })
            .await
        else {
            panic!("a revert")
        };
        assert_eq!(new_version, 3);
        ann.client.request_sync();
        ann.settle().await;
        assert_eq!(ann.text(), "Once upon a time.\n");
        wait_for_file(&hub.file("story.md"), "Once upon a time.\n").await;
    }
    hub.stop().await;
    hub.launch().await;
    let mut bob = Editor::open(&hub, "Bob", "story.md", 2).await;
    let HistoryResponse::List { versions } = bob.request_history(HistoryRequest::List).await else {
        panic!("a list")
    };
    assert_eq!(
        versions.len(),
        3,
        "history must survive a restart: {versions:?}"
    );
    let HistoryResponse::Fetch { text, .. } = bob
        .request_history(HistoryRequest::Fetch { version: 2 })
        .await
    else {
        panic!("a fetch")
    };
    assert_eq!(text, "Once upon a time. The end.\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_errors_and_change_nothing() {
    let hub = TestHub::start().await;
    std::fs::write(hub.file("keep.txt"), "unchanged\n").expect("write");
    std::fs::write(hub.file("image.bin"), [0u8, 159, 146, 150, 0, 1]).expect("write");
    std::os::unix::fs::symlink("/etc/passwd", hub.file("passwd")).expect("symlink");
    std::fs::write(hub.file("big.log"), "x".repeat(9 << 20)).expect("write");
    let mut connection = hub.connect("Eve").await;
    for (path, code) in [
        ("../outside.txt", ErrorCode::OutsideProject),
        ("/etc/passwd", ErrorCode::OutsideProject),
        ("passwd", ErrorCode::OutsideProject),
        ("image.bin", ErrorCode::Binary),
        (".orrery/history/keep.txt.log", ErrorCode::Refused),
    ] {
        let error = connection
            .open(Service::Document {
                path: path.into(),
                client: 9,
            })
            .await
            .expect_err(path);
        assert_eq!(error.code, code, "{path}: {error}");
    }
    // A file over the editing limit opens read-only, and an edit to it is refused.
    let (channel, opened) = connection
        .open(Service::Document {
            path: "big.log".into(),
            client: 9,
        })
        .await
        .expect("opens");
    assert!(opened.read_only);
    let read_only_limits = orrery_sync::Limits {
        max_document_bytes: 16 << 20,
        ..Default::default()
    };
    let mut client = Client::with_limits(read_only_limits.clone());
    let request = client.poll().expect("a resync request");
    connection
        .send(&Frame::new(channel, kind::SYNC, encode_client(&request)))
        .await
        .expect("send");
    let reply = connection
        .wait_for(Duration::from_secs(10), |frame| {
            frame.channel == channel && frame.kind == kind::SYNC_REPLY
        })
        .await
        .expect("reply");
    let resync =
        orrery_sync::wire::decode_server_with(&reply.body, &read_only_limits).expect("valid");
    client.receive(resync).expect("taken");
    assert_eq!(
        client.text_ref().len(),
        9 << 20,
        "a read-only file's text still arrives"
    );
    client.splice(0, 0, "no").expect("local edit");
    let sync = client.poll().expect("a sync");
    expect_error(
        &mut connection,
        &Frame::new(channel, kind::SYNC, encode_client(&sync)),
        ErrorCode::TooLargeToEdit,
    )
    .await;

    // Malformed sync bytes, an unknown channel, a malformed open, an oversized frame: errors, and the connection lives.
    let (channel, _) = connection
        .open(Service::Document {
            path: "keep.txt".into(),
            client: 10,
        })
        .await
        .expect("opens");
    expect_error(
        &mut connection,
        &Frame::new(channel, kind::SYNC, vec![0x02, 0xff]),
        ErrorCode::Sync,
    )
    .await;
    expect_error(
        &mut connection,
        &Frame::new(77, kind::SYNC, vec![1, 1]),
        ErrorCode::UnknownChannel,
    )
    .await;
    expect_error(
        &mut connection,
        &Frame::new(0, kind::OPEN, b"{not json".to_vec()),
        ErrorCode::Malformed,
    )
    .await;
    let mut oversized = ((orrery_local_hub::protocol::MAX_FRAME + 1) as u32)
        .to_le_bytes()
        .to_vec();
    oversized.extend(std::iter::repeat_n(
        0u8,
        orrery_local_hub::protocol::MAX_FRAME + 1,
    ));
    connection.send_raw(&oversized).await.expect("send");
    let error = connection
        .wait_for(Duration::from_secs(10), |frame| frame.kind == kind::ERROR)
        .await
        .expect("error");
    assert_eq!(
        error.parse::<ErrorBody>().expect("body").code,
        ErrorCode::TooLarge
    );
    let mut editor = Editor {
        connection,
        channel,
        client: Client::new(),
        notices: Vec::new(),
        presences: None,
    };
    editor.settle().await;
    assert_eq!(
        editor.text(),
        "unchanged\n",
        "the connection still works after all that"
    );
    assert_eq!(
        std::fs::read_to_string(hub.file("keep.txt")).expect("read"),
        "unchanged\n"
    );
    assert_eq!(
        std::fs::read(hub.file("image.bin")).expect("read"),
        [0u8, 159, 146, 150, 0, 1]
    );
}

/// A path that is not on disk is said to be missing when it opens, so no editor shows "saved" for it; once an edit
/// has made the file (or while an edit waits to be saved), it no longer is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_on_disk_opens_as_missing() {
    let hub = TestHub::start().await;
    std::fs::write(hub.file("empty.txt"), "").expect("write");
    let mut connection = hub.connect("Ann").await;
    let (_, opened) = connection
        .open(Service::Document {
            path: "nope.txt".into(),
            client: 1,
        })
        .await
        .expect("opens");
    assert!(opened.missing, "a path with no file is missing");
    assert!(!hub.file("nope.txt").exists(), "opening creates nothing");
    let (_, opened) = connection
        .open(Service::Document {
            path: "empty.txt".into(),
            client: 2,
        })
        .await
        .expect("opens");
    assert!(!opened.missing, "an empty file that exists is not missing");

    // An edit to the missing document creates the file, and from then on it is not missing.
    let mut bob = Editor::open(&hub, "Bob", "nope.txt", 3).await;
    bob.client.splice(0, 0, "made by typing\n").expect("edit");
    bob.settle().await;
    wait_for_file(&hub.file("nope.txt"), "made by typing\n").await;
    let mut later = hub.connect("Cy").await;
    let (_, opened) = later
        .open(Service::Document {
            path: "nope.txt".into(),
            client: 4,
        })
        .await
        .expect("opens");
    assert!(!opened.missing);
}
