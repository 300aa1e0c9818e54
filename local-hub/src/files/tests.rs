//! The file service against real files, through a channel whose frames land in an mpsc queue: the harness here,
//! the tests in the submodules.

mod confinement;
mod moves;
mod operations;
mod transfers;

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
