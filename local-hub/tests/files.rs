//! The file service over a real local hub's socket: every operation, confinement (`..`, absolute paths, symlinks
//! that leave the project), malformed and oversized requests, a 20 MiB upload and download, and an upload whose
//! connection goes away.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use orrery_local_hub::client::Connection;
use orrery_local_hub::protocol::{
    kind, EntryKind, ErrorCode, FileOp, FileRequest, FileResponse, FileResult, Frame, Hello,
    Service, MAX_FRAME, VERSION,
};
use orrery_local_hub::Config;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A local hub serving a temporary project, stopped when dropped.
struct Hub {
    dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    socket: PathBuf,
    shutdown: CancellationToken,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start() -> Hub {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().canonicalize().expect("canonical");
    let root = base.join("project");
    let outside = base.join("outside");
    std::fs::create_dir_all(root.join("src")).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(root.join("README.md"), "# Project\n").expect("write");
    std::fs::write(root.join("src/lib.rs"), "pub fn answer() -> u32 { 42 }\n").expect("write");
    std::fs::write(outside.join("secret"), "not for clients\n").expect("write");
    std::os::unix::fs::symlink("/etc", root.join("etc")).expect("symlink");
    std::os::unix::fs::symlink(&outside, root.join("elsewhere")).expect("symlink");
    let socket = base.join("run/hub.sock");
    let mut config = Config::new(root.clone(), socket.clone());
    config.idle_timeout = Duration::ZERO;
    orrery_local_hub::prepare(&config).expect("prepare");
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        if let Err(error) = orrery_local_hub::run(config, token).await {
            panic!("the local hub failed: {error}");
        }
    });
    Hub {
        dir,
        root,
        outside,
        socket,
        shutdown,
    }
}

impl Hub {
    /// A connection with the file service open on it, once the hub listens.
    async fn files(&self) -> Files {
        let deadline = Instant::now() + TIMEOUT;
        let hello = Hello {
            version: VERSION,
            name: "Ada".into(),
            color: "#d33682".into(),
            ..Default::default()
        };
        let mut connection = loop {
            match Connection::connect(&self.socket, hello.clone()).await {
                Ok(connection) => break connection,
                Err(error) if Instant::now() > deadline => {
                    panic!("the hub never listened: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        let (channel, _) = connection
            .open(Service::Files)
            .await
            .expect("open the file service");
        Files {
            connection,
            channel,
        }
    }

    /// Every entry of the project and of the folder beside it, with content or link target.
    fn tree(&self) -> BTreeMap<PathBuf, String> {
        let mut tree = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut tree);
        // The socket is the hub's, not the project's.
        tree.retain(|path, _| !path.starts_with("run"));
        tree
    }
}

fn walk(base: &Path, folder: &Path, tree: &mut BTreeMap<PathBuf, String>) {
    for entry in std::fs::read_dir(folder).expect("list") {
        let path = entry.expect("entry").path();
        let name = path.strip_prefix(base).expect("inside").to_path_buf();
        let metadata = std::fs::symlink_metadata(&path).expect("metadata");
        if metadata.file_type().is_symlink() {
            tree.insert(
                name,
                format!("-> {}", std::fs::read_link(&path).expect("link").display()),
            );
        } else if metadata.is_dir() {
            tree.insert(name, "folder".into());
            walk(base, &path, tree);
        } else if metadata.is_file() {
            tree.insert(
                name,
                String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned(),
            );
        } else {
            tree.insert(name, "special".into());
        }
    }
}

/// One connection's file channel.
struct Files {
    connection: Connection,
    channel: u32,
}

impl Files {
    async fn send(&mut self, id: u64, op: FileOp) {
        let frame = Frame::json(self.channel, kind::FILE_REQUEST, &FileRequest { id, op });
        self.connection.send(&frame).await.expect("send");
    }

    async fn response(&mut self, id: u64) -> FileResult {
        let channel = self.channel;
        let frame = self
            .connection
            .wait_for(TIMEOUT, |frame| {
                frame.channel == channel
                    && frame.kind == kind::FILE_RESPONSE
                    && frame
                        .parse::<FileResponse>()
                        .is_ok_and(|response| response.id == id)
            })
            .await
            .expect("the response");
        frame.parse::<FileResponse>().expect("a response").result
    }

    async fn request(&mut self, id: u64, op: FileOp) -> FileResult {
        self.send(id, op).await;
        self.response(id).await
    }

    async fn data(&mut self, id: u64, bytes: &[u8]) {
        let mut body = varint(id);
        body.extend_from_slice(bytes);
        self.connection
            .send(&Frame::new(self.channel, kind::FILE_DATA, body))
            .await
            .expect("send data");
    }

    async fn upload(&mut self, id: u64, path: &str, bytes: &[u8]) -> FileResult {
        self.send(id, FileOp::Upload { path: path.into() }).await;
        for chunk in bytes.chunks(256 << 10) {
            self.data(id, chunk).await;
        }
        self.request(id, FileOp::UploadEnd).await
    }

    async fn download(&mut self, id: u64, path: &str) -> (Vec<u8>, FileResult) {
        self.send(id, FileOp::Download { path: path.into() }).await;
        let mut bytes = Vec::new();
        loop {
            let frame = self
                .connection
                .recv_timeout(TIMEOUT)
                .await
                .expect("a frame");
            if frame.channel != self.channel {
                continue;
            }
            match frame.kind {
                kind::FILE_DATA => {
                    let (got, chunk) = split_varint(&frame.body);
                    assert_eq!(got, id);
                    assert!(chunk.len() <= 64 << 10, "a chunk of {} bytes", chunk.len());
                    bytes.extend_from_slice(chunk);
                }
                kind::FILE_RESPONSE => {
                    let response: FileResponse = frame.parse().expect("a response");
                    assert_eq!(response.id, id);
                    return (bytes, response.result);
                }
                other => panic!("unexpected frame kind {other:#04x} during a download"),
            }
        }
    }
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

fn split_varint(bytes: &[u8]) -> (u64, &[u8]) {
    let mut value = 0u64;
    for (index, &byte) in bytes.iter().enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return (value, &bytes[index + 1..]);
        }
    }
    panic!("a FILE_DATA body without a whole request id")
}

fn code(result: &FileResult) -> Option<ErrorCode> {
    match result {
        FileResult::Error { code, .. } => Some(*code),
        _ => None,
    }
}

/// Bytes that neither repeat nor compress, from a seed.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_over_the_socket() {
    let hub = start().await;
    let mut files = hub.files().await;

    match files.request(1, FileOp::List { path: "".into() }).await {
        FileResult::Entries { entries } => {
            let listed: Vec<(&str, EntryKind)> = entries
                .iter()
                .map(|entry| (entry.name.as_str(), entry.kind))
                .collect();
            assert_eq!(
                listed,
                [
                    ("README.md", EntryKind::File),
                    ("elsewhere", EntryKind::Symlink),
                    ("etc", EntryKind::Symlink),
                    ("src", EntryKind::Directory)
                ]
            );
        }
        other => panic!("expected entries, got {other:?}"),
    }
    match files
        .request(
            2,
            FileOp::Stat {
                path: "README.md".into(),
            },
        )
        .await
    {
        FileResult::Stat { entry } => assert_eq!((entry.kind, entry.size), (EntryKind::File, 10)),
        other => panic!("expected a stat, got {other:?}"),
    }
    assert_eq!(
        files
            .request(
                3,
                FileOp::Mkdir {
                    path: "notes/2024".into()
                }
            )
            .await,
        FileResult::Done
    );
    assert!(hub.root.join("notes/2024").is_dir());
    let text = "Grüße, ✓\n".to_owned();
    assert_eq!(
        files
            .request(
                4,
                FileOp::Write {
                    path: "notes/2024/todo.md".into(),
                    text: text.clone()
                }
            )
            .await,
        FileResult::Done
    );
    assert_eq!(
        std::fs::read_to_string(hub.root.join("notes/2024/todo.md")).expect("read"),
        text
    );
    assert_eq!(
        files
            .request(
                5,
                FileOp::Read {
                    path: "notes/2024/todo.md".into()
                }
            )
            .await,
        FileResult::Text { text: text.clone() }
    );
    std::fs::write(hub.root.join("blob"), [0u8, 159, 146, 150]).expect("write");
    assert_eq!(
        files
            .request(
                6,
                FileOp::Read {
                    path: "blob".into()
                }
            )
            .await,
        FileResult::Base64 {
            data: "AJ+Slg==".into()
        }
    );
    assert_eq!(
        files
            .request(
                7,
                FileOp::Rename {
                    from: "notes/2024/todo.md".into(),
                    to: "todo.md".into()
                }
            )
            .await,
        FileResult::Done
    );
    assert_eq!(
        std::fs::read_to_string(hub.root.join("todo.md")).expect("read"),
        text
    );
    assert_eq!(
        files
            .request(
                8,
                FileOp::Delete {
                    path: "notes".into()
                }
            )
            .await,
        FileResult::Done
    );
    assert!(!hub.root.join("notes").exists());
    // Deleting a symlink that leads out of the project deletes the link only.
    assert_eq!(
        files
            .request(
                9,
                FileOp::Delete {
                    path: "elsewhere".into()
                }
            )
            .await,
        FileResult::Done
    );
    assert!(std::fs::symlink_metadata(hub.root.join("elsewhere")).is_err());
    assert!(hub.outside.join("secret").is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn escapes_malformed_and_oversized_requests_change_nothing() {
    let hub = start().await;
    let mut files = hub.files().await;
    let before = hub.tree();
    let escapes = [
        FileOp::Read {
            path: "../outside/secret".into(),
        },
        FileOp::Read {
            path: "src/../../outside/secret".into(),
        },
        FileOp::Read {
            path: "/etc/passwd".into(),
        },
        FileOp::Read {
            path: "etc/passwd".into(),
        },
        FileOp::Read {
            path: "elsewhere/secret".into(),
        },
        FileOp::List {
            path: "elsewhere".into(),
        },
        FileOp::List { path: "..".into() },
        FileOp::Write {
            path: "../outside/planted".into(),
            text: "x".into(),
        },
        FileOp::Write {
            path: "/tmp/orrery-planted".into(),
            text: "x".into(),
        },
        FileOp::Write {
            path: "elsewhere/secret".into(),
            text: "overwritten".into(),
        },
        FileOp::Mkdir {
            path: "elsewhere/made".into(),
        },
        FileOp::Rename {
            from: "README.md".into(),
            to: "elsewhere/README.md".into(),
        },
        FileOp::Rename {
            from: "elsewhere/secret".into(),
            to: "stolen".into(),
        },
        FileOp::Delete {
            path: "elsewhere/secret".into(),
        },
        FileOp::Delete {
            path: "../outside".into(),
        },
        FileOp::Upload {
            path: "elsewhere/uploaded".into(),
        },
    ];
    for (id, op) in (1..).zip(escapes) {
        let result = files.request(id, op.clone()).await;
        assert_eq!(
            code(&result),
            Some(ErrorCode::OutsideProject),
            "{op:?} gave {result:?}"
        );
    }
    let (bytes, result) = files.download(100, "elsewhere/secret").await;
    assert_eq!(
        (bytes.len(), code(&result)),
        (0, Some(ErrorCode::OutsideProject))
    );

    // Malformed: without an id the error comes as an Error frame on the channel; with one, as that request's answer.
    files
        .connection
        .send(&Frame::new(
            files.channel,
            kind::FILE_REQUEST,
            b"{\"op\":".to_vec(),
        ))
        .await
        .expect("send");
    let channel = files.channel;
    let error = files
        .connection
        .wait_for(TIMEOUT, |frame| {
            frame.channel == channel && frame.kind == kind::ERROR
        })
        .await
        .expect("an error frame");
    assert_eq!(
        orrery_local_hub::client::error_of(&error).code,
        ErrorCode::Malformed
    );
    let body = br#"{"id":200,"op":"delete","paths":["README.md"]}"#.to_vec();
    files
        .connection
        .send(&Frame::new(files.channel, kind::FILE_REQUEST, body))
        .await
        .expect("send");
    assert_eq!(code(&files.response(200).await), Some(ErrorCode::Malformed));

    // Oversized: a write over the read/write limit, and a frame over the protocol's limit.
    let result = files
        .request(
            201,
            FileOp::Write {
                path: "README.md".into(),
                text: "x".repeat(16 << 20 | 1),
            },
        )
        .await;
    assert_eq!(code(&result), Some(ErrorCode::TooLargeToEdit));
    let oversized = Frame::new(files.channel, kind::FILE_REQUEST, vec![b' '; MAX_FRAME]).encode();
    files.connection.send_raw(&oversized).await.expect("send");
    let error = files
        .connection
        .wait_for(TIMEOUT, |frame| frame.kind == kind::ERROR)
        .await
        .expect("an error for the oversized frame");
    assert_eq!(
        orrery_local_hub::client::error_of(&error).code,
        ErrorCode::TooLarge
    );

    assert_eq!(hub.tree(), before);
    // The connection and the channel still work.
    assert!(matches!(
        files
            .request(
                300,
                FileOp::Stat {
                    path: "README.md".into()
                }
            )
            .await,
        FileResult::Stat { .. }
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_mebibytes_round_trip_byte_identical() {
    let hub = start().await;
    let mut files = hub.files().await;
    let content = noise(20 << 20, 0x2545_f491_4f6c_dd1d);
    let result = files.upload(1, "src/dataset.bin", &content).await;
    assert_eq!(
        result,
        FileResult::Transferred {
            bytes: content.len() as u64
        }
    );
    assert!(
        std::fs::read(hub.root.join("src/dataset.bin")).expect("read") == content,
        "the uploaded file differs"
    );
    let (bytes, result) = files.download(2, "src/dataset.bin").await;
    assert_eq!(
        result,
        FileResult::Transferred {
            bytes: content.len() as u64
        }
    );
    assert_eq!(bytes.len(), content.len());
    assert!(bytes == content, "the downloaded bytes differ");
    let names: Vec<String> = std::fs::read_dir(hub.root.join("src"))
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names.len(), 2, "only lib.rs and dataset.bin: {names:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_whose_connection_goes_away_leaves_nothing() {
    let hub = start().await;
    let before = hub.tree();
    let mut files = hub.files().await;
    files
        .send(
            1,
            FileOp::Upload {
                path: "src/big.bin".into(),
            },
        )
        .await;
    files.data(1, &noise(3 << 20, 7)).await;
    // The upload is under way once its temporary file holds the data.
    let deadline = Instant::now() + TIMEOUT;
    while hub.tree() == before {
        assert!(Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(files);
    let deadline = Instant::now() + TIMEOUT;
    while hub.tree() != before {
        assert!(
            Instant::now() < deadline,
            "the abandoned upload left {:?}",
            hub.tree().keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // And the hub serves the next connection as before.
    let mut files = hub.files().await;
    assert_eq!(
        code(
            &files
                .request(
                    2,
                    FileOp::Stat {
                        path: "src/big.bin".into()
                    }
                )
                .await
        ),
        Some(ErrorCode::NotFound)
    );
}
