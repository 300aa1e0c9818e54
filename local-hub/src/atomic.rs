//! Whole-or-nothing file writes: a temporary file beside the target, fsync, rename over it, fsync the directory.
//! A reader (or a crash) sees the old content or the new, never half of either.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically, keeping the old file's permissions when it had one.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let directory = path
        .parent()
        .ok_or_else(|| std::io::Error::other("a file path has a parent"))?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("a file path has a name"))?;
    let mut temporary = tempfile_in(directory, &name.to_string_lossy())?;
    let result = (|| {
        temporary.1.write_all(bytes)?;
        if let Ok(metadata) = std::fs::metadata(path) {
            temporary.1.set_permissions(metadata.permissions())?;
        }
        temporary.1.sync_all()?;
        std::fs::rename(&temporary.0, path)?;
        std::fs::File::open(directory)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary.0);
    }
    result
}

/// A new, exclusively created hidden file in `directory`.
fn tempfile_in(
    directory: &Path,
    name: &str,
) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let pid = std::process::id();
    for attempt in 0u32..1000 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = directory.join(format!(".{name}.orrery-{pid}-{nanos:x}-{attempt}.tmp"));
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
    Err(std::io::Error::other("could not create a temporary file"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.txt");
        super::write(&path, b"one").expect("first write");
        super::write(&path, b"two").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }
}
