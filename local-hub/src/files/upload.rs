//! One upload in progress: a hidden temporary file beside its target, renamed over the target only when the whole
//! upload has arrived and reached the disk. Dropping an unfinished upload removes its temporary file.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::operations::{changeable, shown, writable_target};
use crate::paths::resolve;
use crate::protocol::ErrorCode;
use crate::Error;

#[derive(Debug)]
pub struct Upload {
    /// As the client named it, for messages.
    relative: String,
    target: PathBuf,
    temporary: PathBuf,
    file: tokio::fs::File,
    bytes: u64,
    limit: u64,
    /// Set once the temporary file has become the target.
    finished: bool,
}

impl Upload {
    /// Checks the target and creates the temporary file (blocking).
    pub fn create(root: &Path, relative: &str, limit: u64) -> Result<Upload, Error> {
        let target = resolve(root, relative)?;
        changeable(root, &target, relative)?;
        writable_target(relative, &target)?;
        let (temporary, file) =
            temporary_beside(&target).map_err(|error| Error::io(&shown(relative), &error))?;
        Ok(Upload {
            relative: relative.to_owned(),
            target,
            temporary,
            file: tokio::fs::File::from_std(file),
            bytes: 0,
            limit,
            finished: false,
        })
    }

    /// Appends a chunk; refuses to go over the limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let total = self.bytes + chunk.len() as u64;
        if total > self.limit {
            return Err(Error::new(
                ErrorCode::TooLarge,
                format!(
                    "the upload of {} is over the limit of {} bytes",
                    shown(&self.relative),
                    self.limit
                ),
            ));
        }
        self.file
            .write_all(chunk)
            .await
            .map_err(|error| self.failed(&error))?;
        self.bytes = total;
        Ok(())
    }

    /// Puts the whole upload on disk, then in place of the target; its size in bytes.
    pub async fn finish(mut self) -> Result<u64, Error> {
        self.file
            .flush()
            .await
            .map_err(|error| self.failed(&error))?;
        self.file
            .sync_all()
            .await
            .map_err(|error| self.failed(&error))?;
        let temporary = self.temporary.clone();
        let target = self.target.clone();
        let relative = self.relative.clone();
        super::blocking(move || {
            // The target may have become a folder since the upload started.
            writable_target(&relative, &target)?;
            if let Ok(metadata) = std::fs::metadata(&target) {
                std::fs::set_permissions(&temporary, metadata.permissions())
                    .map_err(|error| Error::io(&shown(&relative), &error))?;
            }
            std::fs::rename(&temporary, &target)
                .map_err(|error| Error::io(&shown(&relative), &error))?;
            if let Some(folder) = target.parent() {
                // The rename reaches the disk with the folder; failing that is not worth failing a finished upload.
                let _ = std::fs::File::open(folder).and_then(|folder| folder.sync_all());
            }
            Ok(())
        })
        .await?;
        self.finished = true;
        Ok(self.bytes)
    }

    fn failed(&self, error: &std::io::Error) -> Error {
        Error::io(&format!("uploading {}", shown(&self.relative)), error)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// A new, exclusively created hidden file in the target's folder, so the final rename stays on one file system.
fn temporary_beside(target: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    // What a killed hub left of an earlier upload to the same name goes first.
    crate::atomic::sweep(target);
    let folder = target
        .parent()
        .ok_or_else(|| std::io::Error::other("an upload target has a folder"))?;
    let mut name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Keep the temporary name under the file system's 255-byte limit however long the target's name is.
    let mut end = name.len().min(100);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    let pid = std::process::id();
    for attempt in 0u32..1000 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let path = folder.join(format!(
            ".{name}.orrery-upload-{pid}-{nanos:x}-{attempt}.tmp"
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::other(
        "could not create a temporary file for the upload",
    ))
}
