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

/// Removes temporary files beside `path` that a killed process left behind (`.NAME.orrery-[upload-]PID-….tmp` with a
/// PID other than ours): a crash mid-save leaves the target whole, but its temporary file would stay forever.
pub fn sweep(path: &Path) {
    let (Some(directory), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.orrery-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        if !file_name.ends_with(".tmp") {
            continue;
        }
        let rest = rest.strip_prefix("upload-").unwrap_or(rest);
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if pid
            .parse::<u32>()
            .is_ok_and(|pid| pid != std::process::id())
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
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
    fn sweep_removes_only_other_processes_leftovers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "text").expect("write");
        let ours = dir
            .path()
            .join(format!(".a.txt.orrery-{}-1-0.tmp", std::process::id()));
        for name in [".a.txt.orrery-1-ff-0.tmp", ".a.txt.orrery-upload-2-0.tmp"] {
            std::fs::write(dir.path().join(name), "left by a dead process").expect("write");
        }
        std::fs::write(&ours, "being written").expect("write");
        std::fs::write(dir.path().join(".b.txt.orrery-1-0-0.tmp"), "another file's")
            .expect("write");
        super::sweep(&path);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        left.sort();
        let ours_name = ours
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let mut expected = vec![
            ".b.txt.orrery-1-0-0.tmp".to_owned(),
            ours_name,
            "a.txt".to_owned(),
        ];
        expected.sort();
        assert_eq!(left, expected);
    }

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
