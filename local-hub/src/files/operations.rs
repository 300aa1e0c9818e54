//! The file service's one-shot operations, each blocking and each run off the async threads: they check everything
//! they can before changing anything, so a refused request leaves the tree as it was.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use base64::Engine;
use nix::errno::Errno;
use nix::fcntl::{open, openat, renameat, renameat2, OFlag, RenameFlags, AT_FDCWD};
use nix::sys::stat::{mkdirat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::MAX_READ_BYTES;
use crate::paths::resolve;
use crate::protocol::{Entry, EntryKind, ErrorCode, FileResult};
use crate::{atomic, Error};

/// The folder inside the project that holds document history; only the hub changes it.
pub const HISTORY_FOLDER: &str = ".orrery";

/// The entries of a folder, sorted by name; symlinks are listed as symlinks.
pub fn list(root: &Path, relative: &str) -> Result<FileResult, Error> {
    let folder = resolve(root, relative)?;
    let reader = std::fs::read_dir(&folder).map_err(|error| Error::io(&shown(relative), &error))?;
    let mut entries = Vec::new();
    for entry in reader {
        // An entry removed while we list it is simply not listed.
        let Ok(entry) = entry else { continue };
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        entries.push(describe(
            entry.file_name().to_string_lossy().into_owned(),
            &metadata,
        ));
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(FileResult::Entries { entries })
}

/// The entry itself: a symlink is described as a symlink, not as what it points to.
pub fn stat(root: &Path, relative: &str) -> Result<FileResult, Error> {
    let path = locate(root, relative)?;
    let metadata =
        std::fs::symlink_metadata(&path).map_err(|error| Error::io(&shown(relative), &error))?;
    let name = if path == root {
        String::new()
    } else {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    Ok(FileResult::Stat {
        entry: describe(name, &metadata),
    })
}

/// A whole regular file of at most [`MAX_READ_BYTES`]: as text when it is UTF-8, else as base64.
pub fn read(root: &Path, relative: &str) -> Result<FileResult, Error> {
    let path = resolve(root, relative)?;
    let metadata = std::fs::metadata(&path).map_err(|error| Error::io(&shown(relative), &error))?;
    regular_file(relative, &metadata)?;
    let too_large = |size: u64| {
        Error::new(
            ErrorCode::TooLargeToEdit,
            format!(
                "{} is {size} bytes; read takes files up to {MAX_READ_BYTES} bytes: use download",
                shown(relative)
            ),
        )
    };
    if metadata.len() > MAX_READ_BYTES {
        return Err(too_large(metadata.len()));
    }
    let file = std::fs::File::open(&path).map_err(|error| Error::io(&shown(relative), &error))?;
    // The file may grow between the stat and the read: never take more than the limit.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_READ_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| Error::io(&shown(relative), &error))?;
    if bytes.len() as u64 > MAX_READ_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(match String::from_utf8(bytes) {
        Ok(text) => FileResult::Text { text },
        Err(error) => FileResult::Base64 {
            data: base64::engine::general_purpose::STANDARD.encode(error.into_bytes()),
        },
    })
}

/// Replaces (or creates) a file with `text`, atomically. Its folder must exist.
pub fn write(root: &Path, relative: &str, text: &str) -> Result<FileResult, Error> {
    if text.len() as u64 > MAX_READ_BYTES {
        return Err(Error::new(
            ErrorCode::TooLargeToEdit,
            format!(
                "{} bytes is over the write limit of {MAX_READ_BYTES}: use upload",
                text.len()
            ),
        ));
    }
    let path = resolve(root, relative)?;
    changeable(root, &path, relative)?;
    writable_target(relative, &path)?;
    atomic::write(&path, text.as_bytes()).map_err(|error| Error::io(&shown(relative), &error))?;
    Ok(FileResult::Done)
}

/// Makes a folder and any missing folders above it. If one of them cannot be made, the ones made are removed again.
pub fn mkdir(root: &Path, relative: &str) -> Result<FileResult, Error> {
    let path = resolve(root, relative)?;
    changeable(root, &path, relative)?;
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("{} already exists", shown(relative)),
        ));
    }
    Folders::make(root, &path, relative)?.keep();
    Ok(FileResult::Done)
}

/// Renames an entry (a symlink is renamed, not what it points to), making the folders it moves into when they are
/// missing. Never replaces an existing entry; when the rename fails, the folders it made are removed again.
pub fn rename(root: &Path, from: &str, to: &str) -> Result<FileResult, Error> {
    let source = locate(root, from)?;
    changeable(root, &source, from)?;
    std::fs::symlink_metadata(&source).map_err(|error| Error::io(&shown(from), &error))?;
    let destination = locate(root, to)?;
    changeable(root, &destination, to)?;
    if std::fs::symlink_metadata(&destination).is_ok() {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("{} already exists", shown(to)),
        ));
    }
    if destination.starts_with(&source) {
        return Err(Error::new(
            ErrorCode::Refused,
            format!("{} cannot be moved inside itself", shown(from)),
        ));
    }
    let (Some(folder), Some(name)) = (destination.parent(), destination.file_name()) else {
        return Err(Error::new(
            ErrorCode::Refused,
            "the project folder itself cannot be changed here",
        ));
    };
    let folders = Folders::make(root, folder, to)?;
    rename_no_replace(&source, folders.last(), name)
        .map_err(|error| Error::io(&shown(from), &error))?;
    folders.keep();
    Ok(FileResult::Done)
}

/// Deletes a file, a symlink (never what it points to) or a folder with everything in it.
pub fn delete(root: &Path, relative: &str) -> Result<FileResult, Error> {
    let path = locate(root, relative)?;
    changeable(root, &path, relative)?;
    let metadata =
        std::fs::symlink_metadata(&path).map_err(|error| Error::io(&shown(relative), &error))?;
    // `remove_dir_all` does not follow symlinks inside the folder either: it deletes the links.
    let removed = if metadata.is_dir() {
        std::fs::remove_dir_all(&path)
    } else {
        std::fs::remove_file(&path)
    };
    removed.map_err(|error| Error::io(&shown(relative), &error))?;
    Ok(FileResult::Done)
}

/// Where `relative` names an entry itself: its folder is resolved (and must be inside the project), its last
/// component is not followed, so a symlink there is the link, wherever it points.
pub fn locate(root: &Path, relative: &str) -> Result<PathBuf, Error> {
    let outside = |why: &str| {
        Error::new(
            ErrorCode::OutsideProject,
            format!("{} is outside the project: {why}", shown(relative)),
        )
    };
    if relative.contains('\0') {
        return Err(outside("it contains a NUL byte"));
    }
    let mut components = Path::new(relative).components();
    match components.next_back() {
        None | Some(Component::CurDir) => Ok(root.to_path_buf()),
        Some(Component::Normal(name)) => {
            let folder = resolve(root, &components.as_path().to_string_lossy())?;
            Ok(folder.join(name))
        }
        Some(Component::ParentDir) => Err(outside("it uses `..`")),
        Some(Component::RootDir | Component::Prefix(_)) => Err(outside("it is absolute")),
    }
}

/// Refuses changes to the project folder itself and to the history folder.
pub fn changeable(root: &Path, path: &Path, relative: &str) -> Result<(), Error> {
    if path == root {
        return Err(Error::new(
            ErrorCode::Refused,
            "the project folder itself cannot be changed here",
        ));
    }
    if path.starts_with(root.join(HISTORY_FOLDER)) {
        return Err(Error::new(
            ErrorCode::Refused,
            format!(
                "{} is in {HISTORY_FOLDER}/, the project's history, which only the hub changes",
                shown(relative)
            ),
        ));
    }
    Ok(())
}

/// A path a file may be written to: not a folder, and in a folder that exists.
pub fn writable_target(relative: &str, path: &Path) -> Result<(), Error> {
    if path.is_dir() {
        return Err(Error::new(
            ErrorCode::Refused,
            format!("{} is a folder", shown(relative)),
        ));
    }
    if !path.parent().is_some_and(Path::is_dir) {
        return Err(Error::new(
            ErrorCode::NotFound,
            format!("the folder of {} does not exist", shown(relative)),
        ));
    }
    Ok(())
}

/// Refuses anything but a regular file (a folder, a FIFO that would block, a device).
pub fn regular_file(relative: &str, metadata: &std::fs::Metadata) -> Result<(), Error> {
    if metadata.is_dir() {
        return Err(Error::new(
            ErrorCode::Refused,
            format!("{} is a folder", shown(relative)),
        ));
    }
    if !metadata.is_file() {
        return Err(Error::new(
            ErrorCode::Refused,
            format!("{} is not a regular file", shown(relative)),
        ));
    }
    Ok(())
}

/// A client's path as quoted in messages.
pub fn shown(relative: &str) -> String {
    let mut end = relative.len().min(200);
    while !relative.is_char_boundary(end) {
        end -= 1;
    }
    let ellipsis = if end < relative.len() { "…" } else { "" };
    format!("{:?}{ellipsis}", &relative[..end])
}

fn describe(name: String, metadata: &std::fs::Metadata) -> Entry {
    let file_type = metadata.file_type();
    let kind = if file_type.is_symlink() {
        EntryKind::Symlink
    } else if file_type.is_dir() {
        EntryKind::Directory
    } else if file_type.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    };
    let modified_ms = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_millis() as u64);
    Entry {
        name,
        kind,
        size: metadata.len(),
        modified_ms,
    }
}

/// `rename` into the folder open as `folder` that fails rather than replace an existing entry, where the file system
/// can promise that.
fn rename_no_replace(source: &Path, folder: &OwnedFd, name: &OsStr) -> std::io::Result<()> {
    match renameat2(
        AT_FDCWD,
        source,
        folder,
        name,
        RenameFlags::RENAME_NOREPLACE,
    ) {
        Ok(()) => Ok(()),
        // File systems without RENAME_NOREPLACE (some FUSE ones): we checked the destination was free just before.
        Err(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => {
            renameat(AT_FDCWD, source, folder, name).map_err(std::io::Error::from)
        }
        Err(errno) => Err(std::io::Error::from(errno)),
    }
}

/// The folders down to one inside the project, each opened from the one above it without following symlinks, and
/// made when missing. Nothing here follows a path from the root again after it was checked, so a symlink swapped in
/// meanwhile (the project's own programs can do that) cannot lead the walk, or what is made or moved, out of the project.
pub(super) struct Folders {
    /// The root, then each folder down to the last, open.
    opened: Vec<OwnedFd>,
    /// The folders this walk made, as (index of the folder above it in `opened`, name), to undo them.
    made: Vec<(usize, OsString)>,
}

impl Folders {
    /// Opens (making what is missing) every folder from `root` down to `folder`, which `resolve` or `locate` gave, so
    /// it is inside the root and its existing part has no symlink; `relative` is the client's path, for messages.
    pub(super) fn make(root: &Path, folder: &Path, relative: &str) -> Result<Folders, Error> {
        let inside = folder.strip_prefix(root).map_err(|_| {
            Error::new(
                ErrorCode::OutsideProject,
                format!("{} is outside the project", shown(relative)),
            )
        })?;
        // O_PATH: a folder one may pass through but not list is still a folder to move into.
        let directory = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let root_folder = open(root, directory, Mode::empty())
            .map_err(|errno| Error::io("the project folder", &std::io::Error::from(errno)))?;
        let mut folders = Folders {
            opened: vec![root_folder],
            made: Vec::new(),
        };
        let mut walked = PathBuf::new();
        for component in inside.components() {
            let Component::Normal(name) = component else {
                return Err(Error::new(
                    ErrorCode::OutsideProject,
                    format!("{} is outside the project: it uses `..`", shown(relative)),
                ));
            };
            walked.push(name);
            let above = folders.opened.len() - 1;
            let parent = &folders.opened[above];
            let opened = match openat(parent, name, directory, Mode::empty()) {
                Err(Errno::ENOENT) => {
                    // Made with the usual mode (the umask applies), as `create_dir` would.
                    match mkdirat(parent, name, Mode::from_bits_truncate(0o777)) {
                        Ok(()) => folders.made.push((above, name.to_owned())),
                        // Made by someone else meanwhile: theirs, so never removed here.
                        Err(Errno::EEXIST) => {}
                        Err(errno) => {
                            return Err(Error::io(&shown(relative), &std::io::Error::from(errno)))
                        }
                    }
                    openat(parent, name, directory, Mode::empty())
                }
                other => other,
            };
            match opened {
                Ok(folder) => folders.opened.push(folder),
                Err(Errno::ENOTDIR | Errno::ELOOP) => {
                    return Err(Error::new(
                        ErrorCode::Refused,
                        format!(
                            "{} is not a folder, so {} cannot go inside it",
                            shown(&walked.to_string_lossy()),
                            shown(relative)
                        ),
                    ))
                }
                Err(errno) => {
                    return Err(Error::io(&shown(relative), &std::io::Error::from(errno)))
                }
            }
        }
        Ok(folders)
    }

    /// The deepest folder, open.
    fn last(&self) -> &OwnedFd {
        // `make` always opens the root first.
        &self.opened[self.opened.len() - 1]
    }

    /// Keeps the folders made (they are removed again when this is dropped without it).
    pub(super) fn keep(mut self) {
        self.made.clear();
    }
}

impl Drop for Folders {
    fn drop(&mut self) {
        for (above, name) in self.made.iter().rev() {
            // Only empty folders go, and never through a symlink: what this walk made and nothing else is in them.
            let _ = unlinkat(
                &self.opened[*above],
                name.as_os_str(),
                UnlinkatFlags::RemoveDir,
            );
        }
    }
}
