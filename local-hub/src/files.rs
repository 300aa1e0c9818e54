//! The file service: list, stat, read, write, mkdir, rename, delete, upload and download inside the project root.
//!
//! Every path goes through [`crate::paths`] first, so `..`, absolute paths and symlinks that leave the root are
//! refused before anything is touched. Every request gets exactly one `FileResponse` with its id: the result, or
//! `FileResult::Error`, in which case nothing changed. Operations that name an entry itself (stat, rename, delete)
//! act on a symlink, never on what it points to; operations that open a file's content (list, read, write, upload,
//! download) follow symlinks that stay inside the project.
//!
//! The project's `.orrery/` folder holds document history, which only the hub writes: it can be listed, read and
//! downloaded here, but writing, uploading or making folders inside it, and renaming or deleting it or anything in
//! it, are refused.
//!
//! Uploads are written to a hidden temporary file in the target's folder and renamed over the target when
//! `UploadEnd` arrives, so readers see the old file or the whole new one; an upload that fails or is abandoned
//! (the channel or connection closes first) leaves nothing behind. Downloads stream from their own task, so a
//! slow reader holds back only its own download (through the connection's bounded queue), not the connection.

mod download;
mod operations;
mod upload;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;

use tokio::task::JoinSet;

use crate::protocol::{
    kind, ErrorCode, FileOp, FileRequest, FileResponse, FileResult, Frame, MAX_FRAME,
};
use crate::{ChannelSink, Error};

use upload::Upload;

/// Largest file `read` returns whole, and largest text `write` takes; larger files go through download and upload.
pub const MAX_READ_BYTES: u64 = 16 << 20;
/// Largest upload.
pub const MAX_UPLOAD_BYTES: u64 = 1 << 30;
/// Size of each FILE_DATA chunk of a download.
pub const CHUNK_BYTES: usize = 64 << 10;
/// Uploads one channel may have in progress at once (each holds an open file).
const MAX_UPLOADS: usize = 16;
/// Downloads one channel may stream at once.
const MAX_DOWNLOADS: usize = 8;
/// How many failed upload ids are remembered so their remaining data is dropped without another answer.
const MAX_REMEMBERED_FAILURES: usize = 1024;

/// One open file channel.
#[derive(Debug)]
pub struct FileChannel {
    root: PathBuf,
    sink: ChannelSink,
    upload_limit: u64,
    uploads: HashMap<u64, Upload>,
    failed_uploads: FailedUploads,
    downloads: JoinSet<()>,
}

impl FileChannel {
    /// A file channel on the project at `root` (which should be canonical; it is made so when it can be).
    pub fn new(root: PathBuf, sink: ChannelSink) -> FileChannel {
        let root = root.canonicalize().unwrap_or(root);
        FileChannel {
            root,
            sink,
            upload_limit: MAX_UPLOAD_BYTES,
            uploads: HashMap::new(),
            failed_uploads: FailedUploads::default(),
            downloads: JoinSet::new(),
        }
    }

    /// The same channel with another upload limit (tests use a small one).
    #[cfg(test)]
    fn with_upload_limit(mut self, bytes: u64) -> FileChannel {
        self.upload_limit = bytes;
        self
    }

    /// Handles a request or upload data. Failures of a request are answered on the channel as its response; an
    /// `Err` means the frame could not be tied to any request (wrong kind, unparseable without an id).
    pub async fn handle(&mut self, frame: &Frame) -> Result<(), Error> {
        match frame.kind {
            kind::FILE_REQUEST => self.request(frame).await,
            kind::FILE_DATA => self.data(frame).await,
            other => Err(Error::new(
                ErrorCode::UnknownChannel,
                format!("the file service takes FILE_REQUEST and FILE_DATA frames, not kind {other:#04x}"),
            )),
        }
    }

    /// Abandons unfinished uploads (their temporary files are removed) and stops downloads.
    pub async fn close(mut self) {
        self.uploads.clear();
        self.downloads.shutdown().await;
    }

    async fn request(&mut self, frame: &Frame) -> Result<(), Error> {
        let request: FileRequest = match frame.parse() {
            Ok(request) => request,
            Err(error) => {
                // Answer under the request's id when it has one, so the client can tell which request failed.
                let id = serde_json::from_slice::<serde_json::Value>(&frame.body)
                    .ok()
                    .and_then(|value| value.get("id")?.as_u64());
                let error = Error::from(error);
                return match id {
                    Some(id) => {
                        answer(&self.sink, id, Err(error)).await;
                        Ok(())
                    }
                    None => Err(error),
                };
            }
        };
        let id = request.id;
        let root = self.root.clone();
        let result = match request.op {
            FileOp::List { path } => blocking(move || operations::list(&root, &path)).await,
            FileOp::Stat { path } => blocking(move || operations::stat(&root, &path)).await,
            FileOp::Read { path } => blocking(move || operations::read(&root, &path)).await,
            FileOp::Write { path, text } => {
                blocking(move || operations::write(&root, &path, &text)).await
            }
            FileOp::Mkdir { path } => blocking(move || operations::mkdir(&root, &path)).await,
            FileOp::Rename { from, to } => {
                blocking(move || operations::rename(&root, &from, &to)).await
            }
            FileOp::Delete { path } => blocking(move || operations::delete(&root, &path)).await,
            FileOp::Upload { path } => match self.start_upload(id, path).await {
                Ok(()) => return Ok(()),
                Err(error) => Err(error),
            },
            FileOp::UploadEnd => match self.finish_upload(id).await {
                Some(result) => result,
                None => return Ok(()),
            },
            FileOp::Download { path } => match self.start_download(id, path) {
                Ok(()) => return Ok(()),
                Err(error) => Err(error),
            },
        };
        answer(&self.sink, id, result).await;
        Ok(())
    }

    /// Opens the temporary file of an upload. Nothing is answered until `UploadEnd`, unless this fails.
    async fn start_upload(&mut self, id: u64, path: String) -> Result<(), Error> {
        self.failed_uploads.forget(id);
        if self.uploads.remove(&id).is_some() {
            // A second start under a running id: the first upload is dropped, and this answer is its one answer.
            self.failed_uploads.remember(id);
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("upload {id} was already in progress"),
            ));
        }
        if self.uploads.len() >= MAX_UPLOADS {
            return Err(Error::new(
                ErrorCode::Refused,
                format!("at most {MAX_UPLOADS} uploads may be in progress on one channel"),
            ));
        }
        let root = self.root.clone();
        let limit = self.upload_limit;
        let upload = blocking(move || Upload::create(&root, &path, limit)).await;
        match upload {
            Ok(upload) => {
                self.uploads.insert(id, upload);
                Ok(())
            }
            Err(error) => {
                self.failed_uploads.remember(id);
                Err(error)
            }
        }
    }

    /// Renames a finished upload into place; `None` when the upload already failed and was answered.
    async fn finish_upload(&mut self, id: u64) -> Option<Result<FileResult, Error>> {
        match self.uploads.remove(&id) {
            Some(upload) => Some(
                upload
                    .finish()
                    .await
                    .map(|bytes| FileResult::Transferred { bytes }),
            ),
            None if self.failed_uploads.forget(id) => None,
            None => Some(Err(Error::new(
                ErrorCode::NotFound,
                format!("no upload {id} is in progress"),
            ))),
        }
    }

    /// Upload data: `varint request id` + bytes.
    async fn data(&mut self, frame: &Frame) -> Result<(), Error> {
        let (id, bytes) = read_varint(&frame.body)
            .ok_or_else(|| Error::malformed("FILE_DATA must start with its request id"))?;
        if let Some(upload) = self.uploads.get_mut(&id) {
            if let Err(error) = upload.write(bytes).await {
                // Dropping the upload removes its temporary file.
                self.uploads.remove(&id);
                self.failed_uploads.remember(id);
                answer(&self.sink, id, Err(error)).await;
            }
        } else if !self.failed_uploads.contains(id) {
            self.failed_uploads.remember(id);
            let error = Error::new(
                ErrorCode::NotFound,
                format!("data for upload {id}, which is not in progress"),
            );
            answer(&self.sink, id, Err(error)).await;
        }
        Ok(())
    }

    fn start_download(&mut self, id: u64, path: String) -> Result<(), Error> {
        while self.downloads.try_join_next().is_some() {}
        if self.downloads.len() >= MAX_DOWNLOADS {
            return Err(Error::new(
                ErrorCode::Refused,
                format!("at most {MAX_DOWNLOADS} downloads may stream at once on one channel"),
            ));
        }
        self.downloads.spawn(download::run(
            self.root.clone(),
            id,
            path,
            self.sink.clone(),
        ));
        Ok(())
    }
}

/// Ids of uploads that failed and were answered, oldest first, so their remaining frames get no second answer.
#[derive(Debug, Default)]
struct FailedUploads {
    ids: HashSet<u64>,
    order: VecDeque<u64>,
}

impl FailedUploads {
    fn remember(&mut self, id: u64) {
        if self.ids.insert(id) {
            self.order.push_back(id);
        }
        while self.order.len() > MAX_REMEMBERED_FAILURES {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
    }

    fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }

    /// Forgets `id`; true if it was remembered.
    fn forget(&mut self, id: u64) -> bool {
        let known = self.ids.remove(&id);
        if known {
            self.order.retain(|&other| other != id);
        }
        known
    }
}

/// Runs blocking file-system work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|error| Err(Error::internal(format!("file operation failed: {error}"))))
}

/// Sends the one response to request `id`; false when the connection is gone.
async fn answer(sink: &ChannelSink, id: u64, result: Result<FileResult, Error>) -> bool {
    let result = result.unwrap_or_else(|error| FileResult::Error {
        code: error.code,
        message: error.message,
    });
    let mut body = serde_json::to_vec(&FileResponse { id, result }).unwrap_or_default();
    // Room for the frame's channel varint and kind byte.
    let room = MAX_FRAME - 6;
    if body.is_empty() || body.len() > room {
        let (code, message) = if body.is_empty() {
            (
                ErrorCode::Internal,
                "the response could not be encoded".to_owned(),
            )
        } else {
            let size = body.len();
            (
                ErrorCode::TooLargeToEdit,
                format!("the response would be {size} bytes, over the frame limit of {room}; use download"),
            )
        };
        body = serde_json::to_vec(&FileResponse {
            id,
            result: FileResult::Error { code, message },
        })
        .unwrap_or_default();
    }
    sink.send(kind::FILE_RESPONSE, body).await
}

pub use crate::protocol::{read_varint, write_varint};

#[cfg(test)]
mod tests;
