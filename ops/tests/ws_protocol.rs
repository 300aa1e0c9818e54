//! The browser WebSocket through a real hub whose host role starts real local hubs (this build's `orrery` binary):
//! collaborators share documents and terminals through it, and every kind of bad request (no sign-in, another site's
//! page, an expired sign-in, an unknown project, a stranger's project, an oversized or malformed frame, a channel that
//! is not open) gets a clear error and changes nothing.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "../../hub/tests/support/harness.rs"]
mod harness;
mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use harness::{person, Browser, TestHub};
use orrery_hub::browser::{self, kind, HubError, HubErrorCode};
use orrery_hub::host::HostConfig;
use orrery_local_hub::protocol::{write_varint, Close, Opened, TerminalSize};
use orrery_sync::wire::{decode_server, encode_client};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The host role's configuration: projects under `data`, local hubs from this build's binary.
fn host_role(data: &TempDir) -> impl FnOnce(&mut orrery_hub::Config) {
    let path = data.path().to_path_buf();
    move |config| {
        config.host = Some(HostConfig {
            data: path,
            binary: env!("CARGO_BIN_EXE_orrery").into(),
            idle_timeout: Duration::from_secs(60),
            start_timeout: Duration::from_secs(10),
        });
    }
}

/// A hub that runs projects under a temporary data directory.
async fn hub_with_projects() -> (TestHub, TempDir) {
    let data = tempfile::tempdir().expect("a data directory");
    let hub = TestHub::start_with(host_role(&data)).await;
    (hub, data)
}

/// The same, with its metadata in a fresh keyspace of the real Cassandra node `ORRERY_TEST_CQL` names (`tests/run`
/// starts one).
async fn hub_with_projects_on_cassandra() -> (TestHub, TempDir) {
    let node = support::cql_node();
    let keyspace = support::unique_keyspace("orrery_ws");
    let clock = std::sync::Arc::new(orrery_db::ManualClock::new(harness::START));
    let db = orrery_db::Db::open(&format!("cql://{node}/{keyspace}"), clock.clone())
        .await
        .unwrap_or_else(|error| panic!("opening a keyspace on {node}: {error}"));
    let data = tempfile::tempdir().expect("a data directory");
    let hub = TestHub::start_on_store(db, clock, host_role(&data)).await;
    (hub, data)
}

/// Removes the Unix users the host made (as root) for projects under `data`: their home is their project directory.
fn remove_project_users(data: &TempDir) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let prefix = data.path().to_string_lossy().into_owned();
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 5 && fields[5].starts_with(&prefix) {
            let _ = std::process::Command::new("userdel")
                .arg(fields[0])
                .status();
        }
    }
}

/// One frame as the browser sees it.
#[derive(Debug)]
struct Frame {
    channel: u32,
    kind: u8,
    body: Vec<u8>,
}

impl Frame {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

fn encode(channel: u32, frame_kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(body.len() + 6);
    write_varint(&mut bytes, u64::from(channel));
    bytes.push(frame_kind);
    bytes.extend_from_slice(body);
    bytes
}

/// A browser tab's socket.
struct Socket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    welcome: browser::Welcome,
}

/// What an upgrade attempt got. `cookie` is the session token's value.
enum Upgrade {
    Open(Box<Socket>),
    Refused(StatusCode),
}

async fn upgrade(hub: &TestHub, cookie: Option<&str>, origin: Option<&str>) -> Upgrade {
    let mut request = format!("ws://{}/ws", hub.address)
        .into_client_request()
        .expect("a request");
    if let Some(token) = cookie {
        let cookie = format!("{}={token}", orrery_hub::COOKIE_NAME);
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(&cookie).expect("a cookie"));
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).expect("an origin"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((stream, _)) => {
            let mut socket = Socket {
                stream,
                welcome: browser::Welcome {
                    version: 0,
                    account: String::new(),
                    name: String::new(),
                    email: String::new(),
                    color: String::new(),
                    heartbeat_ms: 0,
                },
            };
            let welcome = socket.recv().await;
            assert_eq!((welcome.channel, welcome.kind), (0, kind::WELCOME));
            socket.welcome = serde_json::from_slice(&welcome.body).expect("a Welcome");
            Upgrade::Open(Box::new(socket))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Upgrade::Refused(StatusCode::from_u16(response.status().as_u16()).unwrap())
        }
        Err(error) => panic!("upgrade failed oddly: {error}"),
    }
}

async fn connect(hub: &TestHub, browser: &Browser) -> Socket {
    let origin = format!("http://{}", hub.address);
    match upgrade(hub, browser.cookie.as_deref(), Some(&origin)).await {
        Upgrade::Open(socket) => *socket,
        Upgrade::Refused(status) => panic!("the upgrade was refused with {status}"),
    }
}

impl Socket {
    async fn send(&mut self, channel: u32, frame_kind: u8, body: &[u8]) {
        let bytes = encode(channel, frame_kind, body);
        self.stream
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }

    async fn send_json(&mut self, channel: u32, frame_kind: u8, body: Value) {
        self.send(channel, frame_kind, body.to_string().as_bytes())
            .await;
    }

    /// The next frame, skipping WebSocket pings; panics after 10 s.
    async fn recv(&mut self) -> Frame {
        self.try_recv(Duration::from_secs(10))
            .await
            .expect("a frame within 10 s")
    }

    async fn try_recv(&mut self, timeout: Duration) -> Option<Frame> {
        loop {
            let message = tokio::time::timeout(timeout, self.stream.next())
                .await
                .ok()?
                .expect("the socket is open")
                .expect("a message");
            match message {
                Message::Binary(bytes) => {
                    let (channel, rest) =
                        orrery_local_hub::protocol::read_varint(&bytes).expect("a channel");
                    return Some(Frame {
                        channel: channel as u32,
                        kind: rest[0],
                        body: rest[1..].to_vec(),
                    });
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected message {other:?}"),
            }
        }
    }

    /// Frames until one matches.
    async fn wait_for(&mut self, mut wanted: impl FnMut(&Frame) -> bool) -> Frame {
        loop {
            let frame = self.recv().await;
            if wanted(&frame) {
                return frame;
            }
        }
    }

    async fn open(&mut self, channel: u32, project: &str, service: Value) -> Opened {
        let mut open = json!({"channel": channel, "project": project});
        open.as_object_mut()
            .unwrap()
            .extend(service.as_object().unwrap().clone());
        self.send_json(0, kind::OPEN, open).await;
        let answer = self
            .wait_for(|frame| {
                (frame.channel == 0 && frame.kind == kind::OPENED)
                    || (frame.channel == channel && frame.kind == kind::ERROR)
            })
            .await;
        assert_eq!(
            answer.kind,
            kind::OPENED,
            "open refused: {}",
            String::from_utf8_lossy(&answer.body)
        );
        serde_json::from_slice(&answer.body).expect("Opened")
    }

    /// Sends an open that must be refused with `code`: an error on the channel, then a Close for it.
    async fn open_refused(&mut self, channel: u32, project: &str, code: HubErrorCode) -> String {
        self.send_json(
            0,
            kind::OPEN,
            json!({"channel": channel, "project": project, "service": "files"}),
        )
        .await;
        let error = self.recv().await;
        assert_eq!((error.channel, error.kind), (channel, kind::ERROR));
        let error: HubError = serde_json::from_slice(&error.body).expect("a hub error");
        assert_eq!(error.code, code, "{}", error.message);
        let close = self.recv().await;
        assert_eq!((close.channel, close.kind), (0, kind::CLOSE));
        let close: Close = serde_json::from_slice(&close.body).expect("a Close");
        assert_eq!(close.channel, channel);
        error.message
    }

    /// The hub's error for something sent on the connection: on channel 0, with `code`.
    async fn expect_error(&mut self, code: HubErrorCode) -> String {
        let frame = self.wait_for(|frame| frame.kind == kind::ERROR).await;
        assert_eq!(frame.channel, 0);
        let error: HubError = serde_json::from_slice(&frame.body).expect("a hub error");
        assert_eq!(error.code, code, "{}", error.message);
        error.message
    }

    /// The code of the close the hub ends the socket with (frames before it are skipped); fails after 10 s without one.
    async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("the hub closes the socket")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
                Some(Ok(_)) => continue,
                other => panic!("expected a close, got {other:?}"),
            }
        }
    }

    /// The socket still works: a PING gets its PONG.
    async fn ping(&mut self) {
        self.send(0, kind::PING, &[]).await;
        self.wait_for(|frame| frame.channel == 0 && frame.kind == kind::PONG)
            .await;
    }
}

/// A sync client on a document channel.
struct Editor {
    client: orrery_sync::Client,
    channel: u32,
}

impl Editor {
    async fn open(socket: &mut Socket, channel: u32, project: &str, path: &str) -> Editor {
        socket
            .open(
                channel,
                project,
                json!({"service": "document", "path": path, "client": 42}),
            )
            .await;
        let mut editor = Editor {
            client: orrery_sync::Client::new(),
            channel,
        };
        editor.settle(socket).await;
        editor
    }

    /// Exchanges sync messages until nothing is in flight and nothing arrives for a moment.
    async fn settle(&mut self, socket: &mut Socket) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(message) = self.client.poll() {
                socket
                    .send(self.channel, kind::SYNC, &encode_client(&message))
                    .await;
            }
            let quiet = if self.client.in_flight() {
                Duration::from_secs(5)
            } else {
                Duration::from_millis(200)
            };
            match socket.try_recv(quiet).await {
                Some(frame) if frame.channel == self.channel && frame.kind == kind::SYNC_REPLY => {
                    let message = decode_server(&frame.body).expect("a sync message");
                    self.client.receive(message).expect("the client takes it");
                }
                Some(frame) if frame.kind == kind::ERROR => {
                    panic!("error: {}", String::from_utf8_lossy(&frame.body))
                }
                Some(_) => {}
                None if !self.client.in_flight() => return,
                None => panic!("no sync reply"),
            }
            assert!(tokio::time::Instant::now() < deadline, "never settled");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collaborators_share_documents_and_terminals_through_the_hub() {
    let (hub, data) = hub_with_projects().await;
    collaborate(hub, data).await;
}

/// The same as a user sees it, with the hub's metadata (accounts, sign-ins, projects, collaborators) in Cassandra.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collaborators_share_documents_and_terminals_with_metadata_in_cassandra() {
    let (hub, data) = hub_with_projects_on_cassandra().await;
    collaborate(hub, data).await;
}

async fn collaborate(hub: TestHub, data: TempDir) {
    let (mut ann, _) = person(&hub, "ann").await;
    let (bob_browser, _) = person(&hub, "bob").await;
    let project = ann.create_project("shared").await;
    ann.post(
        &format!("/api/projects/{project}/collaborators"),
        json!({"email": "bob@example.org"}),
    )
    .await
    .expect(StatusCode::CREATED);

    let mut a = connect(&hub, &ann).await;
    let mut b = connect(&hub, &bob_browser).await;
    assert_eq!(a.welcome.version, browser::VERSION);
    assert_eq!(a.welcome.name, "ann");
    assert_ne!(a.welcome.color, "");

    // Both open the same file with the same client number: the hub keeps their views apart.
    let mut editor_a = Editor::open(&mut a, 1, &project, "notes.md").await;
    let mut editor_b = Editor::open(&mut b, 7, &project, "notes.md").await;
    editor_a.client.splice(0, 0, "Ann was here. ").unwrap();
    editor_b.client.splice(0, 0, "Bob too. ").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        editor_a.settle(&mut a).await;
        editor_b.settle(&mut b).await;
        if editor_a.client.text() == editor_b.client.text()
            && !editor_a.client.has_unacknowledged()
            && !editor_b.client.has_unacknowledged()
        {
            break;
        }
        editor_a.client.request_sync();
        editor_b.client.request_sync();
        assert!(tokio::time::Instant::now() < deadline, "never converged");
    }
    let text = editor_a.client.text();
    assert!(
        text.contains("Ann was here. ") && text.contains("Bob too. "),
        "{text:?}"
    );
    let file = data.path().join("projects").join(&project).join("notes.md");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the file never matched"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A shared terminal: Bob sees what Ann's command printed. Its prompt is Ann's name at the project's title, which
    // the hub told the local hub.
    let size = TerminalSize { rows: 24, cols: 80 };
    let terminal = json!({"service": "terminal", "name": "main", "size": size});
    a.open(2, &project, terminal.clone()).await;
    a.send(2, kind::INPUT, b"echo shared-$((6*7))\r").await;
    let mut seen = String::new();
    while !seen.contains("shared-42") {
        let frame = a.recv().await;
        if frame.channel == 2 && matches!(frame.kind, kind::OUTPUT | kind::SNAPSHOT) {
            seen.push_str(&String::from_utf8_lossy(&frame.body));
        }
    }
    assert!(seen.contains("ann@shared"), "the prompt: {seen:?}");
    b.open(3, &project, terminal).await;
    let mut seen = String::new();
    while !seen.contains("shared-42") {
        let frame = b.recv().await;
        if frame.channel == 3 && matches!(frame.kind, kind::OUTPUT | kind::SNAPSHOT) {
            seen.push_str(&String::from_utf8_lossy(&frame.body));
        }
    }

    // Bob's project channel lists both of them, as the hub vouched for them, and the running terminal.
    b.open(4, &project, json!({"service": "project"})).await;
    let people = b
        .wait_for(|frame| frame.channel == 4 && frame.kind == kind::PEOPLE)
        .await
        .json();
    let mut ids: Vec<&str> = people["people"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|person| person["who"]["user"].as_str().expect("an id"))
        .collect();
    ids.sort_unstable();
    let mut expected = [a.welcome.account.as_str(), b.welcome.account.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "{people}");
    let terminals = b
        .wait_for(|frame| frame.channel == 4 && frame.kind == kind::TERMINALS)
        .await
        .json();
    assert_eq!(terminals["terminals"][0]["name"], "main", "{terminals}");
    assert_eq!(terminals["terminals"][0]["opened_by"]["name"], "ann");

    // Closing a channel ends it; its number can be opened again.
    a.send_json(0, kind::CLOSE, json!({"channel": 2})).await;
    a.open(2, &project, json!({"service": "files"})).await;
    a.ping().await;

    // What went through shows in the metrics.
    let metrics = ann.get("/metrics").await.expect(StatusCode::OK).text;
    for line in [
        "orrery_hub_ws_connections_total 2\n",
        "orrery_hub_ws_connections 2\n",
        "orrery_hub_ws_channels_opened_total 6\n",
        "orrery_hub_ws_channels 5\n",
        "orrery_hub_local_hub_starts_total 1\n",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
    hub.stop().await;
    remove_project_users(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let (hub, data) = hub_with_projects().await;
    let (mut ann, _) = person(&hub, "ann").await;
    let (carl, _) = person(&hub, "carl").await;
    let project = ann.create_project("private").await;

    // Wrong password: 401, and the right one still works afterwards.
    let mut guesser = hub.browser();
    guesser
        .sign_in("ann@example.org", "not-her-password")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "wrong_credentials");
    assert!(matches!(
        upgrade(&hub, guesser.cookie.as_deref(), None).await,
        Upgrade::Refused(StatusCode::UNAUTHORIZED)
    ));
    guesser
        .sign_in("ann@example.org", "password-of-ann")
        .await
        .expect(StatusCode::OK);

    // No sign-in, a made-up cookie, a page of another site: refused before the upgrade.
    assert!(matches!(
        upgrade(&hub, None, None).await,
        Upgrade::Refused(StatusCode::UNAUTHORIZED)
    ));
    let forged = "ab".repeat(32);
    assert!(matches!(
        upgrade(&hub, Some(&forged), None).await,
        Upgrade::Refused(StatusCode::UNAUTHORIZED)
    ));
    assert!(matches!(
        upgrade(&hub, ann.cookie.as_deref(), Some("http://evil.example")).await,
        Upgrade::Refused(StatusCode::FORBIDDEN)
    ));

    // A stranger cannot open the project's channels, nor can anyone open a project that does not exist.
    let mut stranger = connect(&hub, &carl).await;
    let message = stranger
        .open_refused(1, &project, HubErrorCode::NoProject)
        .await;
    assert!(
        message.contains("not one of its collaborators"),
        "{message}"
    );
    stranger
        .open_refused(
            1,
            "3ca4ca07-2cb3-42cf-9a0f-8f7a584328ab",
            HubErrorCode::NoProject,
        )
        .await;
    stranger
        .open_refused(1, "../../etc", HubErrorCode::NoProject)
        .await;
    // ... and a frame on the channel that was refused goes nowhere.
    stranger
        .send(
            1,
            kind::FILE_REQUEST,
            br#"{"id":1,"op":"write","path":"x","text":"x"}"#,
        )
        .await;
    stranger.expect_error(HubErrorCode::UnknownChannel).await;
    stranger.ping().await;

    // Malformed and oversized frames on the owner's own socket: errors, and the socket carries on.
    let mut socket = connect(&hub, &ann).await;
    socket.send(0, kind::OPEN, b"{not json").await;
    let message = socket.expect_error(HubErrorCode::Malformed).await;
    assert!(message.contains("OPEN must be JSON"), "{message}");
    socket
        .stream
        .send(Message::Binary(vec![0x80].into()))
        .await
        .unwrap();
    socket.expect_error(HubErrorCode::Malformed).await;
    socket
        .stream
        .send(Message::Text("hello".into()))
        .await
        .unwrap();
    socket.expect_error(HubErrorCode::Malformed).await;
    socket.send(0, 0x7f, b"").await;
    socket.expect_error(HubErrorCode::UnknownChannel).await;
    socket
        .send_json(
            0,
            kind::OPEN,
            json!({"channel": 0, "project": project, "service": "files"}),
        )
        .await;
    socket.expect_error(HubErrorCode::ChannelInUse).await;
    let huge = vec![b'x'; browser::MAX_MESSAGE + 1];
    socket.send(5, kind::INPUT, &huge).await;
    let message = socket.expect_error(HubErrorCode::TooLarge).await;
    assert!(message.contains("over the limit"), "{message}");
    socket.ping().await;

    // The same channel opened twice is refused; the first stays usable.
    socket.open(1, &project, json!({"service": "files"})).await;
    socket
        .send_json(
            0,
            kind::OPEN,
            json!({"channel": 1, "project": project, "service": "files"}),
        )
        .await;
    socket.expect_error(HubErrorCode::ChannelInUse).await;
    // Errors of the local hub come back on the channel (here: a path leaving the project).
    socket
        .send_json(
            1,
            kind::FILE_REQUEST,
            json!({"id": 9, "op": "write", "path": "../escape.txt", "text": "x"}),
        )
        .await;
    let answer = socket
        .wait_for(|frame| frame.channel == 1 && frame.kind == kind::FILE_RESPONSE)
        .await
        .json();
    assert_eq!(answer["result"], "error", "{answer}");
    assert_eq!(answer["code"], "outside_project", "{answer}");

    // Nothing was written anywhere: the project directory is as empty as it was created.
    let directory = data.path().join("projects").join(&project);
    let entries: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != ".orrery")
        .collect();
    assert!(entries.is_empty(), "{entries:?}");
    assert!(!data.path().join("projects").join("escape.txt").exists());
    hub.stop().await;
    remove_project_users(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_sign_in_ends_the_socket_and_opens_nothing() {
    let (hub, data) = hub_with_projects().await;
    let (mut ann, _) = person(&hub, "ann").await;
    let project = ann.create_project("mine").await;
    let mut socket = connect(&hub, &ann).await;
    socket.open(1, &project, json!({"service": "files"})).await;

    hub.clock
        .advance(hub.session_lifetime + Duration::from_secs(1));
    socket
        .send_json(
            0,
            kind::OPEN,
            json!({"channel": 2, "project": project, "service": "files"}),
        )
        .await;
    let message = socket.expect_error(HubErrorCode::NotSignedIn).await;
    assert!(message.contains("sign in again"), "{message}");
    assert_eq!(
        socket.close_code().await,
        Some(browser::CLOSE_NOT_SIGNED_IN)
    );
    assert!(matches!(
        upgrade(&hub, ann.cookie.as_deref(), None).await,
        Upgrade::Refused(StatusCode::UNAUTHORIZED)
    ));
    hub.stop().await;
    remove_project_users(&data);
}

/// Access is not only checked at OPEN: a collaborator removed from a project (through any hub) loses the channels it
/// already has open on it, keeping those of other projects, and signing out elsewhere ends the socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_and_sign_out_end_what_is_already_open() {
    let data = tempfile::tempdir().expect("a data directory");
    let host = host_role(&data);
    let hub = TestHub::start_with(move |config| {
        host(config);
        config.access_recheck = Duration::from_millis(200);
    })
    .await;
    let (mut ann, _) = person(&hub, "ann").await;
    let (mut bob, bob_id) = person(&hub, "bob").await;
    let shared = ann.create_project("shared").await;
    let kept = ann.create_project("kept").await;
    for project in [&shared, &kept] {
        ann.post(
            &format!("/api/projects/{project}/collaborators"),
            json!({"email": "bob@example.org"}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let mut socket = connect(&hub, &bob).await;
    socket.open(1, &shared, json!({"service": "files"})).await;
    socket.open(2, &kept, json!({"service": "files"})).await;

    ann.delete(&format!("/api/projects/{shared}/collaborators/{bob_id}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    let error = socket
        .wait_for(|frame| frame.channel == 1 && frame.kind == kind::ERROR)
        .await;
    let error: HubError = serde_json::from_slice(&error.body).expect("a hub error");
    assert_eq!(error.code, HubErrorCode::NoProject, "{}", error.message);
    assert!(
        error.message.contains("no longer a collaborator"),
        "{}",
        error.message
    );
    socket
        .wait_for(|frame| {
            frame.channel == 0 && frame.kind == kind::CLOSE && frame.json()["channel"] == 1
        })
        .await;
    // Channel 1 is gone; channel 2, on a project Bob still shares, is not.
    socket.send(1, kind::INPUT, b"ls\r").await;
    socket.expect_error(HubErrorCode::UnknownChannel).await;
    socket.open(3, &kept, json!({"service": "files"})).await;
    socket
        .open_refused(4, &shared, HubErrorCode::NoProject)
        .await;

    // Bob signs out in another tab: this socket ends as a signed-out one.
    bob.post("/api/sign-out", json!({}))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        socket.close_code().await,
        Some(browser::CLOSE_NOT_SIGNED_IN)
    );
    hub.stop().await;
    remove_project_users(&data);
}

/// An account's open sockets hear at once when its project list changes (it is invited, a project is renamed, it is
/// removed, a project is deleted), so a page can refresh its list without a reload; no one else hears anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_list_changes_are_pushed_to_the_accounts_concerned() {
    let hub = TestHub::start().await;
    let (mut ann, _) = person(&hub, "ann").await;
    let (bob, bob_id) = person(&hub, "bob").await;
    let (carol, _) = person(&hub, "carol").await;
    let mut ann_tab = connect(&hub, &ann).await;
    let mut bob_tabs = [connect(&hub, &bob).await, connect(&hub, &bob).await];
    let mut carol_tab = connect(&hub, &carol).await;
    let changed = |frame: &Frame| frame.channel == 0 && frame.kind == kind::PROJECTS_CHANGED;

    let project = ann.create_project("homework").await;
    ann_tab.wait_for(changed).await;
    ann.post(
        &format!("/api/projects/{project}/collaborators"),
        json!({"email": "bob@example.org"}),
    )
    .await
    .expect(StatusCode::CREATED);
    for tab in &mut bob_tabs {
        tab.wait_for(changed).await;
    }
    ann.patch(
        &format!("/api/projects/{project}"),
        json!({"title": "homework 2"}),
    )
    .await
    .expect(StatusCode::OK);
    ann_tab.wait_for(changed).await;
    for tab in &mut bob_tabs {
        tab.wait_for(changed).await;
    }
    ann.delete(&format!("/api/projects/{project}/collaborators/{bob_id}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    for tab in &mut bob_tabs {
        tab.wait_for(changed).await;
    }
    ann.delete(&format!("/api/projects/{project}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    ann_tab.wait_for(changed).await;

    // The notices were queued before each request was answered: a PING now comes back first unless one is due.
    for (tab, who) in [(&mut carol_tab, "carol"), (&mut bob_tabs[0], "bob")] {
        tab.send(0, kind::PING, &[]).await;
        let next = tab.recv().await;
        assert_eq!(
            (next.channel, next.kind),
            (0, kind::PONG),
            "{who} heard of a change that was not theirs"
        );
    }
    hub.stop().await;
}

/// A page that asked to be probed and stops answering (its network went away, its tab froze) is closed within a few
/// probe periods, and leaves the project: the others' list of people (and every cursor of its) drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probed_socket_that_stops_answering_leaves_the_project() {
    let (hub, data) = hub_with_projects().await;
    let (mut ann, _) = person(&hub, "ann").await;
    let (bob, _) = person(&hub, "bob").await;
    let project = ann.create_project("probed").await;
    ann.post(
        &format!("/api/projects/{project}/collaborators"),
        json!({"email": "bob@example.org"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let mut a = connect(&hub, &ann).await;
    let mut b = connect(&hub, &bob).await;
    b.send(0, kind::PROBE, &[]).await;
    b.open(1, &project, json!({"service": "project"})).await;
    a.open(1, &project, json!({"service": "project"})).await;
    let present = |count: usize| {
        move |frame: &Frame| {
            frame.channel == 1
                && frame.kind == kind::PEOPLE
                && frame.json()["people"].as_array().map(Vec::len) == Some(count)
        }
    };
    a.wait_for(present(2)).await;

    // Bob answers the hub's pings for a while and stays.
    for _ in 0..browser::PROBE_MISSES + 1 {
        b.wait_for(|frame| frame.channel == 0 && frame.kind == kind::PING)
            .await;
        b.send(0, kind::PONG, &[]).await;
    }
    b.ping().await;
    // Then his page is gone without a word: the hub closes the socket, and Ann sees him leave.
    assert_eq!(b.close_code().await, Some(1001));
    a.wait_for(present(1)).await;
    hub.stop().await;
    remove_project_users(&data);
}
