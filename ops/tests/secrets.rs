//! Orrery's secrets are out of every project's reach: run as root, `orrery up` keeps its metadata database (and its
//! write-ahead log) in `DATA/private/`, mode 0600 in a 0700 folder, and a process running as a project's Unix user can
//! neither read any file of the data directory outside its own project nor list any folder there. A data directory
//! laid out by an older Orrery (the database in `DATA/` with mode 0644) is repaired on start, losing nothing.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::session_cookie;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "correct horse battery";

/// A running `orrery up` on a data directory: its address and everything it logged.
struct Up {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Up {
    fn start(data: &Path) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orrery"))
            .args(["up", "--port", "0", "--idle-timeout", "600", "--data"])
            .arg(data)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("orrery up starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("orrery up: {line}");
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let base = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                line.strip_prefix("Orrery is running at ")
                    .map(|url| url.trim_end_matches('/').to_string())
            })
            .unwrap_or_else(|| panic!("orrery up did not start:\n{}", log.lock().unwrap()));
        std::thread::spawn(move || for _ in lines {});
        Up { child, base, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Stops it as a crash would: nothing is checkpointed, the write-ahead log keeps the latest transactions.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    fn stop(mut self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
        let status = self.child.wait().expect("exits");
        assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Signs up `email` and creates a project titled `title`; returns the session cookie and the project's id.
async fn account_with_project(up: &Up, email: &str, title: &str) -> (String, String) {
    let http = http();
    let response = http
        .post(format!("{}/api/accounts", up.base))
        .header("origin", &up.base)
        .json(&json!({"email": email, "display_name": "Ada", "password": PASSWORD}))
        .send()
        .await
        .expect("sign-up answered");
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = session_cookie(&response);
    let response = http
        .post(format!("{}/api/projects", up.base))
        .header("origin", &up.base)
        .header("cookie", &cookie)
        .json(&json!({ "title": title }))
        .send()
        .await
        .expect("create answered");
    assert_eq!(response.status(), StatusCode::CREATED);
    let project: Value = response.json().await.expect("JSON");
    let id = project["id"].as_str().expect("an id").to_string();
    (cookie, id)
}

/// Opens the project's files over the browser WebSocket, so the host starts its local hub (as its own user, as root).
async fn start_project(up: &Up, cookie: &str, project: &str) {
    let address = up.base.trim_start_matches("http://");
    let mut request = format!("ws://{address}/ws")
        .into_client_request()
        .expect("a request");
    let headers = request.headers_mut();
    headers.insert("cookie", HeaderValue::from_str(cookie).expect("cookie"));
    headers.insert("origin", HeaderValue::from_str(&up.base).expect("origin"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the WebSocket opens");
    let open = json!({"channel": 1, "project": project, "service": "files"}).to_string();
    let mut frame = vec![0u8, orrery_hub::browser::kind::OPEN];
    frame.extend_from_slice(open.as_bytes());
    socket
        .send(Message::Binary(frame.into()))
        .await
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, socket.next())
            .await
            .expect("the project's files open within 30 s")
            .expect("the socket stays open")
            .expect("a message");
        if let Message::Binary(bytes) = message {
            let (channel, rest) =
                orrery_local_hub::protocol::read_varint(&bytes).expect("a channel");
            match (channel, rest[0]) {
                (0, orrery_hub::browser::kind::OPENED) => break,
                (_, orrery_hub::browser::kind::ERROR) => {
                    panic!("open refused: {}", String::from_utf8_lossy(&rest[1..]))
                }
                _ => {}
            }
        }
    }
    let _ = socket.close(None).await;
}

/// Every path under `root`, folders before what they hold, not following symbolic links.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut paths = vec![root.to_path_buf()];
    let mut index = 0;
    while index < paths.len() {
        let path = paths[index].clone();
        index += 1;
        if std::fs::symlink_metadata(&path).is_ok_and(|metadata| metadata.is_dir()) {
            for entry in std::fs::read_dir(&path).expect("list as root") {
                paths.push(entry.expect("an entry").path());
            }
        }
    }
    paths
}

/// Runs `program args` as `user` (its own group, no others), as a project's terminal would; whether it succeeded.
fn succeeds_as(user: &nix::unistd::User, program: &str, argument: &Path) -> bool {
    Command::new(program)
        .arg(argument)
        .uid(user.uid.as_raw())
        .gid(user.gid.as_raw())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the command runs")
        .success()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").mode() & 0o7777
}

fn remove_user(project: &str) {
    let _ = Command::new("userdel")
        .arg(orrery_hub::host::project_user(project))
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projects_user_can_read_no_secret_of_the_data_directory() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test runs orrery up as root with a Unix user per project, so it must run as root (CI and the test machine do)"
    );
    let data = tempfile::tempdir().expect("a data directory");
    let up = Up::start(data.path());
    let (cookie, project) = account_with_project(&up, "ada@example.org", "Sealed").await;
    start_project(&up, &cookie, &project).await;
    let user = nix::unistd::User::from_name(&orrery_hub::host::project_user(&project))
        .expect("look up")
        .expect("the host made the project's user");

    // Only the project's own folders are open to its user: no other folder of the data directory lists, no file reads.
    let own = [
        data.path().join("projects").join(&project),
        data.path().join("run").join(&project),
    ];
    assert!(
        succeeds_as(&user, "ls", &own[0]),
        "the project's user lists its own project (so the refusals below are not a broken user)"
    );
    let mut checked = 0;
    for path in walk(data.path()) {
        if own.iter().any(|folder| path.starts_with(folder)) {
            continue;
        }
        let metadata = std::fs::symlink_metadata(&path).expect("metadata");
        if metadata.is_dir() {
            assert!(
                !succeeds_as(&user, "ls", &path),
                "the project's user listed {}",
                path.display()
            );
        } else if metadata.is_file() {
            assert!(
                !succeeds_as(&user, "cat", &path),
                "the project's user read {}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "the walk saw the data directory's folders and files"
    );

    let private = data.path().join("private");
    let database = private.join("orrery.db");
    let log = private.join("orrery.db-wal");
    assert!(
        database.exists() && log.exists(),
        "the database and its write-ahead log are in {}",
        private.display()
    );
    assert_eq!(
        (mode(&private), mode(&database), mode(&log)),
        (0o700, 0o600, 0o600)
    );
    let listing: Vec<String> = std::fs::read_dir(data.path())
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(
        !listing.iter().any(|name| name.starts_with("orrery.db")),
        "the data directory holds no database file: {listing:?}"
    );

    for path in [database, log] {
        assert!(
            !succeeds_as(&user, "cat", &path),
            "{} was read",
            path.display()
        );
    }
    up.stop();
    remove_user(&project);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_layout_is_repaired_on_start_and_keeps_its_accounts() {
    let data = tempfile::tempdir().expect("a data directory");
    let root = data.path();
    let up = Up::start(root);
    let (cookie, project) = account_with_project(&up, "grace@example.org", "Kept").await;
    start_project(&up, &cookie, &project).await;
    // Killed, so the account and the project are still only in the write-ahead log.
    up.kill();

    // The layout an older Orrery left: the database and its log in the data directory itself, 0644, and the data
    // directory passable by everyone (it became 0711 when a project started).
    let private = root.join("private");
    let mut moved = 0;
    for name in ["orrery.db", "orrery.db-wal", "orrery.db-shm"] {
        if private.join(name).exists() {
            std::fs::rename(private.join(name), root.join(name)).expect("move back");
            std::fs::set_permissions(root.join(name), std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
            moved += 1;
        }
    }
    assert!(
        std::fs::metadata(root.join("orrery.db-wal"))
            .expect("a log")
            .len()
            > 0,
        "the old layout has transactions only in its log ({moved} files)"
    );
    // (Today's Orrery makes no such folder; an older one never had one.)
    let _ = std::fs::remove_dir(&private);
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let up = Up::start(root);
    let log = up.log();
    assert!(
        log.contains("moved the metadata database")
            && log.contains(&root.join("private/orrery.db").display().to_string()),
        "the move is logged:\n{log}"
    );
    assert!(
        log.contains("had mode 0755"),
        "the data directory's repair is logged:\n{log}"
    );
    for name in ["orrery.db", "orrery.db-wal", "orrery.db-shm"] {
        assert!(
            !root.join(name).exists(),
            "{name} is left in the data directory"
        );
    }
    assert_eq!(
        mode(root) & 0o066,
        0,
        "others cannot list the data directory"
    );
    assert_eq!(
        (mode(&private), mode(&private.join("orrery.db"))),
        (0o700, 0o600)
    );

    let http = http();
    let response = http
        .post(format!("{}/api/sign-in", up.base))
        .header("origin", &up.base)
        .json(&json!({"email": "grace@example.org", "password": PASSWORD}))
        .send()
        .await
        .expect("sign-in answered");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the account survived the move"
    );
    let cookie = session_cookie(&response);
    let projects: Value = http
        .get(format!("{}/api/projects", up.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("list answered")
        .json()
        .await
        .expect("JSON");
    assert!(projects.to_string().contains(&project), "{projects}");
    up.stop();
    remove_user(&project);
}
