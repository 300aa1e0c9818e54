//! Confinement to the project root: every path a client names is resolved here, and anything that would leave the
//! root (`..`, an absolute path, a symlink pointing outside) is refused before any file is touched.

use std::path::{Component, Path, PathBuf};

use crate::protocol::ErrorCode;
use crate::Error;

/// Resolves `relative` (as a client sent it) inside `root`, which must be canonical.
///
/// The path is taken lexically first (no `..`, no absolute paths, no empty or NUL-containing names), then every
/// existing ancestor is canonicalised so a symlink anywhere along the way must still land inside the root. The last
/// component may not exist yet (a file about to be created); if it exists and is a symlink, its target must be inside too.
pub fn resolve(root: &Path, relative: &str) -> Result<PathBuf, Error> {
    let outside = |why: &str| {
        Error::new(
            ErrorCode::OutsideProject,
            format!("{relative:?} is outside the project: {why}"),
        )
    };
    if relative.contains('\0') {
        return Err(outside("it contains a NUL byte"));
    }
    if relative.len() > 4096 {
        return Err(Error::malformed("path longer than 4096 bytes"));
    }
    let mut lexical = PathBuf::new();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(name) => lexical.push(name),
            Component::CurDir => {}
            Component::ParentDir => return Err(outside("it uses `..`")),
            Component::RootDir | Component::Prefix(_) => return Err(outside("it is absolute")),
        }
    }
    let joined = root.join(&lexical);
    // Canonicalise the longest existing prefix; whatever follows does not exist yet and so cannot be a link.
    let mut existing = joined.clone();
    let mut rest = Vec::new();
    loop {
        match std::fs::symlink_metadata(&existing) {
            Ok(_) => break,
            Err(_) => match (
                existing.file_name().map(|name| name.to_owned()),
                existing.parent(),
            ) {
                (Some(name), Some(parent)) => {
                    rest.push(name);
                    existing = parent.to_path_buf();
                }
                _ => break,
            },
        }
    }
    let canonical = existing
        .canonicalize()
        .map_err(|error| Error::io(relative, &error))?;
    if !canonical.starts_with(root) {
        return Err(outside("a symlink leads out of it"));
    }
    let mut resolved = canonical;
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    Ok(resolved)
}

/// The path of `absolute` relative to `root`, with `/` separators, for messages and history file names.
pub fn relative(root: &Path, absolute: &Path) -> String {
    absolute
        .strip_prefix(root)
        .unwrap_or(absolute)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir(root.join("src")).expect("mkdir");
        std::fs::write(root.join("src/main.rs"), "fn main() {}").expect("write");
        (dir, root)
    }

    #[test]
    fn paths_inside_resolve() {
        let (_dir, root) = project();
        assert_eq!(resolve(&root, "src/main.rs"), Ok(root.join("src/main.rs")));
        assert_eq!(
            resolve(&root, "./src/new.txt"),
            Ok(root.join("src/new.txt"))
        );
        assert_eq!(
            resolve(&root, "new/dir/file"),
            Ok(root.join("new/dir/file"))
        );
        assert_eq!(resolve(&root, ""), Ok(root.clone()));
    }

    #[test]
    fn escapes_are_refused() {
        let (_dir, root) = project();
        for path in ["../etc/passwd", "src/../../x", "/etc/passwd", "a\0b"] {
            assert_eq!(
                resolve(&root, path).map_err(|error| error.code),
                Err(ErrorCode::OutsideProject),
                "{path}"
            );
        }
        std::os::unix::fs::symlink("/etc", root.join("etc")).expect("symlink");
        assert_eq!(
            resolve(&root, "etc/passwd").map_err(|error| error.code),
            Err(ErrorCode::OutsideProject)
        );
        assert_eq!(
            resolve(&root, "etc").map_err(|error| error.code),
            Err(ErrorCode::OutsideProject)
        );
        std::os::unix::fs::symlink(root.join("src"), root.join("inner")).expect("symlink");
        assert_eq!(
            resolve(&root, "inner/main.rs"),
            Ok(root.join("src/main.rs"))
        );
    }
}
