//! The file service against real files, through a channel whose frames land in an mpsc queue.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use tokio::sync::mpsc;

use super::*;
use crate::protocol::{Entry, EntryKind};

const CHANNEL: u32 = 7;

struct Harness {
    _dir: tempfile::TempDir,
    root: PathBuf,
    /// A folder beside the project, which no request may reach.
    outside: PathBuf,
    files: FileChannel,
    frames: mpsc::Receiver<Frame>,
}

fn harness() -> Harness {
    harness_with(64, MAX_UPLOAD_BYTES)
}

/// A project with an outgoing queue of `capacity` frames and uploads limited to `upload_limit` bytes.
fn harness_with(capacity: usize, upload_limit: u64) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().canonicalize().expect("canonical");
    let root = base.join("project");
    let outside = base.join("outside");
    std::fs::create_dir_all(root.join("src")).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(root.join("a.txt"), "alpha\n").expect("write");
    std::fs::write(root.join("src/main.rs"), "fn main() {}\n").expect("write");
    std::fs::write(outside.join("secret"), "secret\n").expect("write");
    std::os::unix::fs::symlink("/etc", root.join("etc")).expect("symlink");
    std::os::unix::fs::symlink(&outside, root.join("out")).expect("symlink");
    std::os::unix::fs::symlink(root.join("src"), root.join("code")).expect("symlink");
    let (tx, frames) = mpsc::channel(capacity);
    let files = FileChannel::new(root.clone(), ChannelSink::new(1, CHANNEL, tx))
        .with_upload_limit(upload_limit);
    Harness {
        _dir: dir,
        root,
        outside,
        files,
        frames,
    }
}

impl Harness {
    async fn send(&mut self, id: u64, op: FileOp) {
        let frame = Frame::json(CHANNEL, kind::FILE_REQUEST, &FileRequest { id, op });
        self.files
            .handle(&frame)
            .await
            .expect("a request is answered on the channel");
    }

    async fn response(&mut self) -> FileResponse {
        let frame = self.frames.recv().await.expect("a frame");
        assert_eq!(frame.channel, CHANNEL);
        assert_eq!(
            frame.kind,
            kind::FILE_RESPONSE,
            "expected a response, got kind {:#04x}",
            frame.kind
        );
        frame.parse().expect("a FileResponse")
    }

    async fn request(&mut self, id: u64, op: FileOp) -> FileResult {
        self.send(id, op).await;
        let response = self.response().await;
        assert_eq!(response.id, id);
        response.result
    }

    async fn data(&mut self, id: u64, bytes: &[u8]) {
        let mut body = Vec::new();
        write_varint(&mut body, id);
        body.extend_from_slice(bytes);
        self.files
            .handle(&Frame::new(CHANNEL, kind::FILE_DATA, body))
            .await
            .expect("data is accepted");
    }

    /// Uploads `bytes` in chunks of `chunk` bytes and returns the final answer.
    async fn upload(&mut self, id: u64, path: &str, bytes: &[u8], chunk: usize) -> FileResult {
        self.send(id, FileOp::Upload { path: path.into() }).await;
        for piece in bytes.chunks(chunk) {
            self.data(id, piece).await;
        }
        self.request(id, FileOp::UploadEnd).await
    }

    /// Downloads `path`: the bytes of its FILE_DATA chunks, and the final answer.
    async fn download(&mut self, id: u64, path: &str) -> (Vec<u8>, FileResult) {
        self.send(id, FileOp::Download { path: path.into() }).await;
        let mut bytes = Vec::new();
        loop {
            let frame = self.frames.recv().await.expect("a frame");
            match frame.kind {
                kind::FILE_DATA => {
                    let (got, chunk) = read_varint(&frame.body).expect("a request id");
                    assert_eq!(got, id);
                    assert!(
                        chunk.len() <= CHUNK_BYTES && !chunk.is_empty(),
                        "chunk of {} bytes",
                        chunk.len()
                    );
                    bytes.extend_from_slice(chunk);
                }
                kind::FILE_RESPONSE => {
                    let response: FileResponse = frame.parse().expect("a FileResponse");
                    assert_eq!(response.id, id);
                    return (bytes, response.result);
                }
                other => panic!("unexpected frame kind {other:#04x}"),
            }
        }
    }

    fn tree(&self) -> BTreeMap<String, String> {
        let mut tree = snapshot(&self.root);
        for (path, what) in snapshot(&self.outside) {
            tree.insert(format!("outside/{path}"), what);
        }
        tree
    }
}

/// Every entry under `root` (not following symlinks) with its content or link target.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, folder: &Path, tree: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(folder).expect("list") {
            let path = entry.expect("entry").path();
            let name = path
                .strip_prefix(root)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            let metadata = std::fs::symlink_metadata(&path).expect("metadata");
            if metadata.file_type().is_symlink() {
                tree.insert(
                    name,
                    format!("-> {}", std::fs::read_link(&path).expect("link").display()),
                );
            } else if metadata.is_dir() {
                tree.insert(name, "folder".into());
                walk(root, &path, tree);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                tree.insert(
                    name,
                    format!("{} bytes, {:x}", bytes.len(), checksum(&bytes)),
                );
            }
        }
    }
    let mut tree = BTreeMap::new();
    walk(root, root, &mut tree);
    tree
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Deterministic bytes that do not compress or repeat.
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

fn error_code(result: &FileResult) -> Option<ErrorCode> {
    match result {
        FileResult::Error { code, .. } => Some(*code),
        _ => None,
    }
}

fn names(result: FileResult) -> Vec<(String, EntryKind)> {
    match result {
        FileResult::Entries { entries } => entries
            .into_iter()
            .map(|entry| (entry.name, entry.kind))
            .collect(),
        other => panic!("expected entries, got {other:?}"),
    }
}

#[tokio::test]
async fn every_operation_works() {
    let mut hub = harness();
    assert_eq!(
        names(hub.request(1, FileOp::List { path: "".into() }).await),
        vec![
            ("a.txt".to_owned(), EntryKind::File),
            ("code".to_owned(), EntryKind::Symlink),
            ("etc".to_owned(), EntryKind::Symlink),
            ("out".to_owned(), EntryKind::Symlink),
            ("src".to_owned(), EntryKind::Directory),
        ]
    );
    // A symlink that stays inside the project can be listed through.
    assert_eq!(
        names(
            hub.request(
                2,
                FileOp::List {
                    path: "code".into()
                }
            )
            .await
        ),
        vec![("main.rs".into(), EntryKind::File)]
    );

    assert_eq!(
        hub.request(
            3,
            FileOp::Mkdir {
                path: "docs/notes/2024".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(hub.root.join("docs/notes/2024").is_dir());
    assert_eq!(
        hub.request(
            4,
            FileOp::Write {
                path: "docs/notes/2024/plan.md".into(),
                text: "# Plan\n".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert_eq!(
        std::fs::read_to_string(hub.root.join("docs/notes/2024/plan.md")).expect("read"),
        "# Plan\n"
    );
    assert_eq!(
        hub.request(
            5,
            FileOp::Read {
                path: "docs/notes/2024/plan.md".into()
            }
        )
        .await,
        FileResult::Text {
            text: "# Plan\n".into()
        }
    );
    match hub
        .request(
            6,
            FileOp::Stat {
                path: "docs/notes/2024/plan.md".into(),
            },
        )
        .await
    {
        FileResult::Stat {
            entry:
                Entry {
                    name,
                    kind: EntryKind::File,
                    size: 7,
                    modified_ms,
                },
        } => {
            assert_eq!(name, "plan.md");
            assert!(modified_ms > 1_600_000_000_000, "modified_ms {modified_ms}");
        }
        other => panic!("unexpected stat {other:?}"),
    }
    match hub.request(7, FileOp::Stat { path: "".into() }).await {
        FileResult::Stat { entry } => assert_eq!(
            (entry.name.as_str(), entry.kind),
            ("", EntryKind::Directory)
        ),
        other => panic!("unexpected stat {other:?}"),
    }
    // Overwriting keeps the file's mode.
    std::fs::set_permissions(
        hub.root.join("a.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    assert_eq!(
        hub.request(
            8,
            FileOp::Write {
                path: "a.txt".into(),
                text: "beta\n".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert_eq!(
        std::fs::read_to_string(hub.root.join("a.txt")).expect("read"),
        "beta\n"
    );
    assert_eq!(
        std::fs::metadata(hub.root.join("a.txt"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777,
        0o640
    );

    std::fs::write(hub.root.join("image.bin"), [0xff, 0x00, 0xfe, 0x01]).expect("write");
    match hub
        .request(
            9,
            FileOp::Read {
                path: "image.bin".into(),
            },
        )
        .await
    {
        FileResult::Base64 { data } => {
            assert_eq!(
                base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .expect("base64"),
                [0xff, 0x00, 0xfe, 0x01]
            );
        }
        other => panic!("expected base64, got {other:?}"),
    }

    assert_eq!(
        hub.request(
            10,
            FileOp::Rename {
                from: "docs/notes/2024/plan.md".into(),
                to: "plan.md".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(!hub.root.join("docs/notes/2024/plan.md").exists());
    assert_eq!(
        std::fs::read_to_string(hub.root.join("plan.md")).expect("read"),
        "# Plan\n"
    );
    assert_eq!(
        hub.request(
            11,
            FileOp::Rename {
                from: "docs".into(),
                to: "src/docs".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(hub.root.join("src/docs/notes/2024").is_dir());

    assert_eq!(
        hub.request(
            12,
            FileOp::Delete {
                path: "src/docs".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(!hub.root.join("src/docs").exists());
    assert_eq!(
        hub.request(
            13,
            FileOp::Delete {
                path: "plan.md".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(!hub.root.join("plan.md").exists());

    // Deleting a symlink deletes the link, never what it points to.
    assert_eq!(
        hub.request(
            14,
            FileOp::Delete {
                path: "code".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert!(std::fs::symlink_metadata(hub.root.join("code")).is_err());
    assert!(hub.root.join("src/main.rs").is_file());
    assert_eq!(
        hub.request(15, FileOp::Delete { path: "out".into() }).await,
        FileResult::Done
    );
    assert!(hub.outside.join("secret").is_file());
    assert_eq!(
        hub.request(16, FileOp::Delete { path: "etc".into() }).await,
        FileResult::Done
    );
    assert!(Path::new("/etc").is_dir());
    // Renaming a symlink renames the link.
    std::os::unix::fs::symlink("/etc", hub.root.join("etc")).expect("symlink");
    assert_eq!(
        hub.request(
            17,
            FileOp::Rename {
                from: "etc".into(),
                to: "system".into()
            }
        )
        .await,
        FileResult::Done
    );
    assert_eq!(
        std::fs::read_link(hub.root.join("system")).expect("link"),
        Path::new("/etc")
    );
    // A symlink is stat'ed as itself.
    match hub
        .request(
            18,
            FileOp::Stat {
                path: "system".into(),
            },
        )
        .await
    {
        FileResult::Stat { entry } => assert_eq!(entry.kind, EntryKind::Symlink),
        other => panic!("unexpected stat {other:?}"),
    }
}

#[tokio::test]
async fn failures_are_clear_and_change_nothing() {
    let mut hub = harness();
    std::fs::write(hub.root.join("b.txt"), "bee\n").expect("write");
    let before = hub.tree();
    let cases: Vec<(FileOp, ErrorCode)> = vec![
        (
            FileOp::Read {
                path: "missing.txt".into(),
            },
            ErrorCode::NotFound,
        ),
        (FileOp::Read { path: "src".into() }, ErrorCode::Refused),
        (
            FileOp::Stat {
                path: "missing.txt".into(),
            },
            ErrorCode::NotFound,
        ),
        (
            FileOp::List {
                path: "a.txt".into(),
            },
            ErrorCode::Refused,
        ),
        (
            FileOp::List {
                path: "missing".into(),
            },
            ErrorCode::NotFound,
        ),
        (
            FileOp::Write {
                path: "src".into(),
                text: "x".into(),
            },
            ErrorCode::Refused,
        ),
        (
            FileOp::Write {
                path: "nofolder/x.txt".into(),
                text: "x".into(),
            },
            ErrorCode::NotFound,
        ),
        (
            FileOp::Mkdir { path: "src".into() },
            ErrorCode::AlreadyExists,
        ),
        (
            FileOp::Mkdir {
                path: "a.txt".into(),
            },
            ErrorCode::AlreadyExists,
        ),
        (
            FileOp::Mkdir {
                path: "a.txt/sub".into(),
            },
            ErrorCode::Refused,
        ),
        (
            FileOp::Rename {
                from: "a.txt".into(),
                to: "b.txt".into(),
            },
            ErrorCode::AlreadyExists,
        ),
        (
            FileOp::Rename {
                from: "a.txt".into(),
                to: "src".into(),
            },
            ErrorCode::AlreadyExists,
        ),
        (
            FileOp::Rename {
                from: "missing".into(),
                to: "c.txt".into(),
            },
            ErrorCode::NotFound,
        ),
        (
            FileOp::Rename {
                from: "a.txt".into(),
                to: "nofolder/a.txt".into(),
            },
            ErrorCode::NotFound,
        ),
        (
            FileOp::Rename {
                from: "src".into(),
                to: "src/inner".into(),
            },
            ErrorCode::Refused,
        ),
        (
            FileOp::Delete {
                path: "missing".into(),
            },
            ErrorCode::NotFound,
        ),
        (FileOp::Delete { path: "".into() }, ErrorCode::Refused),
        (FileOp::Delete { path: ".".into() }, ErrorCode::Refused),
        (
            FileOp::Rename {
                from: "".into(),
                to: "elsewhere".into(),
            },
            ErrorCode::Refused,
        ),
        (
            FileOp::Read {
                path: "x".repeat(5000),
            },
            ErrorCode::Malformed,
        ),
        (FileOp::Upload { path: "src".into() }, ErrorCode::Refused),
        (
            FileOp::Upload {
                path: "nofolder/x".into(),
            },
            ErrorCode::NotFound,
        ),
        (FileOp::UploadEnd, ErrorCode::NotFound),
    ];
    for (id, (op, code)) in (1..).zip(cases) {
        let result = hub.request(id, op.clone()).await;
        match &result {
            FileResult::Error { code: got, message } => {
                assert_eq!(*got, code, "{op:?}: {message}");
                assert!(!message.is_empty());
            }
            other => panic!("{op:?} should fail with {code:?}, got {other:?}"),
        }
    }
    let (bytes, result) = hub.download(100, "missing").await;
    assert_eq!(
        (bytes.len(), error_code(&result)),
        (0, Some(ErrorCode::NotFound))
    );
    let (bytes, result) = hub.download(101, "src").await;
    assert_eq!(
        (bytes.len(), error_code(&result)),
        (0, Some(ErrorCode::Refused))
    );
    assert_eq!(hub.tree(), before);
}

#[tokio::test]
async fn escapes_are_refused_and_change_nothing() {
    let mut hub = harness();
    let before = hub.tree();
    let etc_before = snapshot_names(Path::new("/etc"));
    let escapes = vec![
        FileOp::List { path: "..".into() },
        FileOp::List { path: "/".into() },
        FileOp::List { path: "etc".into() },
        FileOp::List { path: "out".into() },
        FileOp::Stat {
            path: "../outside/secret".into(),
        },
        FileOp::Stat {
            path: "/etc/passwd".into(),
        },
        FileOp::Stat {
            path: "out/secret".into(),
        },
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
            path: "out/secret".into(),
        },
        FileOp::Read {
            path: "a.txt\0/x".into(),
        },
        FileOp::Write {
            path: "../outside/new".into(),
            text: "x".into(),
        },
        FileOp::Write {
            path: "/tmp/orrery-escape".into(),
            text: "x".into(),
        },
        FileOp::Write {
            path: "out/secret".into(),
            text: "overwritten".into(),
        },
        FileOp::Write {
            path: "out/new".into(),
            text: "x".into(),
        },
        FileOp::Write {
            path: "etc/orrery-escape".into(),
            text: "x".into(),
        },
        FileOp::Mkdir {
            path: "../outside/made".into(),
        },
        FileOp::Mkdir {
            path: "out/made".into(),
        },
        FileOp::Mkdir {
            path: "etc/orrery-escape".into(),
        },
        FileOp::Rename {
            from: "a.txt".into(),
            to: "../outside/a.txt".into(),
        },
        FileOp::Rename {
            from: "a.txt".into(),
            to: "out/a.txt".into(),
        },
        FileOp::Rename {
            from: "out/secret".into(),
            to: "stolen".into(),
        },
        FileOp::Rename {
            from: "../outside/secret".into(),
            to: "stolen".into(),
        },
        FileOp::Delete {
            path: "../outside/secret".into(),
        },
        FileOp::Delete {
            path: "out/secret".into(),
        },
        FileOp::Delete { path: "..".into() },
        FileOp::Delete {
            path: "/tmp".into(),
        },
        FileOp::Delete {
            path: "etc/hostname".into(),
        },
        FileOp::Upload {
            path: "out/uploaded".into(),
        },
        FileOp::Upload {
            path: "../outside/uploaded".into(),
        },
    ];
    for (id, op) in (1..).zip(escapes) {
        let result = hub.request(id, op.clone()).await;
        assert_eq!(
            error_code(&result),
            Some(ErrorCode::OutsideProject),
            "{op:?} gave {result:?}"
        );
    }
    // Data sent to the refused uploads is dropped without another answer; their ends get none either.
    hub.data(31, b"payload").await;
    hub.send(31, FileOp::UploadEnd).await;
    for path in [
        "out/secret",
        "../outside/secret",
        "etc/passwd",
        "/etc/passwd",
    ] {
        let (bytes, result) = hub.download(200, path).await;
        assert_eq!(
            (bytes.len(), error_code(&result)),
            (0, Some(ErrorCode::OutsideProject)),
            "{path}"
        );
    }
    assert!(
        hub.frames.try_recv().is_err(),
        "no frame beyond the one answer per request"
    );
    assert_eq!(hub.tree(), before);
    assert_eq!(snapshot_names(Path::new("/etc")), etc_before);
}

fn snapshot_names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_history_folder_is_readable_but_not_changeable() {
    let mut hub = harness();
    std::fs::create_dir_all(hub.root.join(".orrery/history")).expect("mkdir");
    std::fs::write(hub.root.join(".orrery/history/a.txt.log"), "v1\n").expect("write");
    std::os::unix::fs::symlink(hub.root.join(".orrery"), hub.root.join("history-link"))
        .expect("symlink");
    let before = hub.tree();
    assert_eq!(
        names(
            hub.request(
                1,
                FileOp::List {
                    path: ".orrery".into()
                }
            )
            .await
        ),
        vec![("history".into(), EntryKind::Directory)]
    );
    assert_eq!(
        hub.request(
            2,
            FileOp::Read {
                path: ".orrery/history/a.txt.log".into()
            }
        )
        .await,
        FileResult::Text {
            text: "v1\n".into()
        }
    );
    let (bytes, result) = hub.download(3, ".orrery/history/a.txt.log").await;
    assert_eq!(
        (bytes.as_slice(), result),
        (b"v1\n".as_slice(), FileResult::Transferred { bytes: 3 })
    );
    let refused = vec![
        FileOp::Delete {
            path: ".orrery".into(),
        },
        FileOp::Delete {
            path: ".orrery/history/a.txt.log".into(),
        },
        FileOp::Delete {
            path: "history-link/history".into(),
        },
        FileOp::Rename {
            from: ".orrery".into(),
            to: "old-history".into(),
        },
        FileOp::Rename {
            from: ".orrery/history".into(),
            to: "h".into(),
        },
        FileOp::Rename {
            from: "a.txt".into(),
            to: ".orrery/a.txt".into(),
        },
        FileOp::Write {
            path: ".orrery/history/a.txt.log".into(),
            text: "forged\n".into(),
        },
        FileOp::Write {
            path: "history-link/new".into(),
            text: "forged\n".into(),
        },
        FileOp::Mkdir {
            path: ".orrery/more".into(),
        },
        FileOp::Upload {
            path: ".orrery/uploaded".into(),
        },
    ];
    for (id, op) in (10..).zip(refused) {
        let result = hub.request(id, op.clone()).await;
        assert_eq!(
            error_code(&result),
            Some(ErrorCode::Refused),
            "{op:?} gave {result:?}"
        );
    }
    assert_eq!(hub.tree(), before);
}

#[tokio::test]
async fn malformed_and_oversized_requests_change_nothing() {
    let mut hub = harness();
    let before = hub.tree();
    // Unparseable and without an id: the error goes on the channel (the connection sends it).
    let error = hub
        .files
        .handle(&Frame::new(
            CHANNEL,
            kind::FILE_REQUEST,
            b"{not json".to_vec(),
        ))
        .await;
    assert_eq!(error.map_err(|error| error.code), Err(ErrorCode::Malformed));
    // With an id: answered as that request's failure.
    for (id, body) in [
        (41, r#"{"id":41,"op":"explode","path":"a.txt"}"#),
        (42, r#"{"id":42,"op":"delete"}"#),
        (43, r#"{"id":43,"op":"write","path":"a.txt","text":17}"#),
    ] {
        hub.files
            .handle(&Frame::new(
                CHANNEL,
                kind::FILE_REQUEST,
                body.as_bytes().to_vec(),
            ))
            .await
            .expect("answered");
        let response = hub.response().await;
        assert_eq!(
            (response.id, error_code(&response.result)),
            (id, Some(ErrorCode::Malformed)),
            "{body}"
        );
    }
    let error = hub
        .files
        .handle(&Frame::new(CHANNEL, kind::FILE_DATA, vec![0x80]))
        .await;
    assert_eq!(error.map_err(|error| error.code), Err(ErrorCode::Malformed));
    let error = hub
        .files
        .handle(&Frame::new(CHANNEL, kind::INPUT, b"ls\r".to_vec()))
        .await;
    assert_eq!(
        error.map_err(|error| error.code),
        Err(ErrorCode::UnknownChannel)
    );

    let huge = "x".repeat(MAX_READ_BYTES as usize + 1);
    let result = hub
        .request(
            50,
            FileOp::Write {
                path: "a.txt".into(),
                text: huge,
            },
        )
        .await;
    assert_eq!(error_code(&result), Some(ErrorCode::TooLargeToEdit));
    assert_eq!(hub.tree(), before);

    std::fs::write(
        hub.root.join("big.bin"),
        vec![b'y'; MAX_READ_BYTES as usize + 1],
    )
    .expect("write");
    let result = hub
        .request(
            51,
            FileOp::Read {
                path: "big.bin".into(),
            },
        )
        .await;
    assert_eq!(error_code(&result), Some(ErrorCode::TooLargeToEdit));
    // A binary file that is under the read limit but whose base64 would not fit in a frame.
    std::fs::write(
        hub.root.join("big.bin"),
        noise(MAX_READ_BYTES as usize - 1, 3),
    )
    .expect("write");
    let result = hub
        .request(
            52,
            FileOp::Read {
                path: "big.bin".into(),
            },
        )
        .await;
    assert_eq!(error_code(&result), Some(ErrorCode::TooLargeToEdit));
}

#[tokio::test]
async fn uploads_over_the_limit_leave_nothing() {
    let mut hub = harness_with(64, 1000);
    let before = hub.tree();
    hub.send(
        1,
        FileOp::Upload {
            path: "a.txt".into(),
        },
    )
    .await;
    hub.data(1, &[b'z'; 600]).await;
    hub.data(1, &[b'z'; 600]).await;
    let response = hub.response().await;
    assert_eq!(
        (response.id, error_code(&response.result)),
        (1, Some(ErrorCode::TooLarge))
    );
    // The rest of that upload is dropped without another answer.
    hub.data(1, &[b'z'; 10]).await;
    hub.send(1, FileOp::UploadEnd).await;
    assert!(hub.frames.try_recv().is_err());
    assert_eq!(hub.tree(), before);
    // Exactly at the limit is fine.
    let result = hub.upload(2, "a.txt", &[b'q'; 1000], 300).await;
    assert_eq!(result, FileResult::Transferred { bytes: 1000 });
    assert_eq!(
        std::fs::read(hub.root.join("a.txt")).expect("read"),
        vec![b'q'; 1000]
    );
}

fn sink_nowhere() -> ChannelSink {
    ChannelSink::new(0, 0, mpsc::channel(1).0)
}

#[tokio::test]
async fn a_large_file_round_trips_through_upload_and_download() {
    let mut hub = harness();
    let content = noise(20 << 20, 0x9e37_79b9_7f4a_7c15);
    // Chunks of an odd size, so they never line up with the download's.
    let result = hub.upload(1, "src/data.bin", &content, 100_003).await;
    assert_eq!(
        result,
        FileResult::Transferred {
            bytes: content.len() as u64
        }
    );
    assert!(
        std::fs::read(hub.root.join("src/data.bin")).expect("read") == content,
        "uploaded bytes differ"
    );
    let leftovers: Vec<String> = snapshot_names(&hub.root.join("src"))
        .into_iter()
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let (bytes, result) = hub.download(2, "src/data.bin").await;
    assert_eq!(
        result,
        FileResult::Transferred {
            bytes: content.len() as u64
        }
    );
    assert!(bytes == content, "downloaded bytes differ");

    // An upload replaces an existing file whole, keeping its mode.
    std::fs::set_permissions(
        hub.root.join("a.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    assert_eq!(
        hub.upload(3, "a.txt", b"replaced", 3).await,
        FileResult::Transferred { bytes: 8 }
    );
    assert_eq!(
        std::fs::read(hub.root.join("a.txt")).expect("read"),
        b"replaced"
    );
    assert_eq!(
        std::fs::metadata(hub.root.join("a.txt"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // An empty upload makes an empty file; an empty download sends no chunk.
    assert_eq!(
        hub.upload(4, "empty", b"", 1).await,
        FileResult::Transferred { bytes: 0 }
    );
    assert_eq!(
        hub.download(5, "empty").await,
        (Vec::new(), FileResult::Transferred { bytes: 0 })
    );
}

#[tokio::test]
async fn a_download_through_a_short_queue_waits_for_its_reader() {
    // A queue of four frames: every send of the download has to wait for the reader.
    let mut hub = harness_with(4, MAX_UPLOAD_BYTES);
    let content = noise(2 << 20, 11);
    std::fs::write(hub.root.join("data.bin"), &content).expect("write");
    hub.send(
        1,
        FileOp::Download {
            path: "data.bin".into(),
        },
    )
    .await;
    let mut bytes = Vec::new();
    loop {
        let frame = hub.frames.recv().await.expect("a frame");
        if frame.kind == kind::FILE_RESPONSE {
            let response: FileResponse = frame.parse().expect("response");
            assert_eq!(
                response.result,
                FileResult::Transferred {
                    bytes: content.len() as u64
                }
            );
            break;
        }
        bytes.extend_from_slice(read_varint(&frame.body).expect("id").1);
        tokio::task::yield_now().await;
    }
    assert!(bytes == content);
}

#[tokio::test]
async fn an_abandoned_upload_leaves_nothing() {
    let mut hub = harness();
    let before = hub.tree();
    hub.send(
        1,
        FileOp::Upload {
            path: "src/partial.bin".into(),
        },
    )
    .await;
    hub.data(1, &noise(200_000, 5)).await;
    hub.send(
        2,
        FileOp::Upload {
            path: "a.txt".into(),
        },
    )
    .await;
    hub.data(2, b"half of a new a.txt").await;
    assert_ne!(
        hub.tree(),
        before,
        "the uploads' temporary files exist while they run"
    );
    let files = std::mem::replace(
        &mut hub.files,
        FileChannel::new(PathBuf::new(), sink_nowhere()),
    );
    files.close().await;
    assert_eq!(hub.tree(), before);

    // A channel dropped without close (its connection task ended) leaves nothing either.
    let (tx, _frames) = mpsc::channel(8);
    let mut files = FileChannel::new(hub.root.clone(), ChannelSink::new(1, CHANNEL, tx));
    files
        .handle(&Frame::json(
            CHANNEL,
            kind::FILE_REQUEST,
            &FileRequest {
                id: 3,
                op: FileOp::Upload { path: "x".into() },
            },
        ))
        .await
        .expect("upload");
    drop(files);
    assert_eq!(hub.tree(), before);
}

#[tokio::test]
async fn upload_bookkeeping_answers_each_request_once() {
    let mut hub = harness();
    // Data for an upload that never started: one answer, then silence for the rest of it.
    hub.data(9, b"stray").await;
    let response = hub.response().await;
    assert_eq!(
        (response.id, error_code(&response.result)),
        (9, Some(ErrorCode::NotFound))
    );
    hub.data(9, b"more").await;
    hub.send(9, FileOp::UploadEnd).await;
    assert!(hub.frames.try_recv().is_err());
    // Starting an upload under an id already running drops the first: one error, no file.
    hub.send(
        1,
        FileOp::Upload {
            path: "twice.txt".into(),
        },
    )
    .await;
    hub.data(1, b"first").await;
    let result = hub
        .request(
            1,
            FileOp::Upload {
                path: "twice.txt".into(),
            },
        )
        .await;
    assert_eq!(error_code(&result), Some(ErrorCode::AlreadyExists));
    hub.data(1, b"ignored").await;
    hub.send(1, FileOp::UploadEnd).await;
    assert!(hub.frames.try_recv().is_err());
    assert!(!hub.root.join("twice.txt").exists());
    // The id can then be used again.
    assert_eq!(
        hub.upload(1, "twice.txt", b"second", 4).await,
        FileResult::Transferred { bytes: 6 }
    );
    assert_eq!(
        std::fs::read(hub.root.join("twice.txt")).expect("read"),
        b"second"
    );
}

#[tokio::test]
async fn special_files_are_refused_without_blocking() {
    let mut hub = harness();
    nix::unistd::mkfifo(
        &hub.root.join("pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .expect("mkfifo");
    let result = hub
        .request(
            1,
            FileOp::Read {
                path: "pipe".into(),
            },
        )
        .await;
    assert_eq!(error_code(&result), Some(ErrorCode::Refused));
    let (bytes, result) = hub.download(2, "pipe").await;
    assert_eq!(
        (bytes.len(), error_code(&result)),
        (0, Some(ErrorCode::Refused))
    );
    match hub
        .request(
            3,
            FileOp::Stat {
                path: "pipe".into(),
            },
        )
        .await
    {
        FileResult::Stat { entry } => assert_eq!(entry.kind, EntryKind::Other),
        other => panic!("unexpected stat {other:?}"),
    }
}

#[test]
fn varints_round_trip() {
    for value in [0, 1, 127, 128, 300, 1 << 35, u64::MAX] {
        let mut bytes = Vec::new();
        write_varint(&mut bytes, value);
        bytes.push(0xaa);
        assert_eq!(read_varint(&bytes), Some((value, [0xaa].as_slice())));
    }
    assert_eq!(read_varint(&[]), None);
    assert_eq!(read_varint(&[0x80, 0x80]), None);
    assert_eq!(read_varint(&[0xff; 11]), None);
    assert_eq!(
        read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
        None
    );
}
