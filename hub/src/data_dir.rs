//! The data directory of a machine that runs projects (`orrery up`, `orrery hub --data`), laid out so that what a
//! project's Unix user may pass through is apart from what only Orrery may read:
//!
//! ```text
//! DATA/            0700, or 0711 once projects run as their own users (they pass through; nobody else can list it)
//! DATA/private/    0700, the service's user only: orrery.db (+ -wal, -shm), and every key and credential Orrery keeps
//! DATA/projects/   0711: one folder per project, 0700 and owned by the project's user
//! DATA/run/        0711: one folder per project for its local hub's socket, 0700 and owned by the project's user
//! ```
//!
//! [`DataDir::prepare`] makes this layout and repairs an older one: Orrery once kept `orrery.db` directly in `DATA/`
//! with mode 0644, where any project's user could read it. Each repair is logged.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use orrery_db::SqliteStore;
use tracing::warn;

use crate::{Error, Result};

/// The metadata database's file name, in `DATA/private/` (and, before this layout, in `DATA/`).
const DATABASE: &str = "orrery.db";
const PRIVATE_DIR: u32 = 0o700;

/// A prepared data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Makes (or repairs) the layout under `root`, creating `root` if needed, and returns it with `root` made absolute.
    ///
    /// Repairs, each logged: `root`, `projects/` and `run/` lose any read or write access for others (projects keep
    /// passing through); `private/` becomes 0700; a database left in `root` by an older Orrery is moved into
    /// `private/` with its write-ahead log folded in (refused while another process has it open); and every file in
    /// `private/` becomes 0600. Blocking: call it before the runtime starts or on a blocking thread.
    pub fn prepare(root: &Path) -> Result<DataDir> {
        create_private_dir(root)?;
        let root = root
            .canonicalize()
            .map_err(|error| Error::io(format!("reading {}", root.display()), error))?;
        let data = DataDir { root };
        for folder in [
            data.root.clone(),
            data.root.join("projects"),
            data.root.join("run"),
        ] {
            close_to_others(&folder)?;
        }
        let private = data.private();
        create_private_dir(&private)?;
        let metadata = std::fs::symlink_metadata(&private)
            .map_err(|error| Error::io(format!("reading {}", private.display()), error))?;
        if !metadata.is_dir() || metadata.uid() != nix::unistd::geteuid().as_raw() {
            return Err(Error::Config(format!(
                "{} must be a directory owned by the user Orrery runs as (uid {}); it is not",
                private.display(),
                nix::unistd::geteuid()
            )));
        }
        set_mode(&private, metadata.mode() & 0o7777, PRIVATE_DIR)?;
        data.move_old_database()?;
        for entry in std::fs::read_dir(&private)
            .map_err(|error| Error::io(format!("listing {}", private.display()), error))?
        {
            let entry = entry
                .map_err(|error| Error::io(format!("listing {}", private.display()), error))?;
            if entry.file_type().is_ok_and(|kind| kind.is_file()) {
                orrery_db::sqlite::file::tighten(&entry.path())?;
            }
        }
        Ok(data)
    }

    /// The data directory itself (absolute): what [`crate::host::HostConfig::data`] takes.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `DATA/private/`: only the service's user may enter it.
    pub fn private(&self) -> PathBuf {
        self.root.join("private")
    }

    /// The embedded metadata database, `DATA/private/orrery.db`.
    pub fn database(&self) -> PathBuf {
        self.private().join(DATABASE)
    }

    /// Refuses a SQLite database file that a project's user could reach: one inside the data directory but outside
    /// `private/` (e.g. `--db DATA/orrery.db`, the place an older Orrery used).
    pub fn check_database_path(&self, file: &Path) -> Result<()> {
        let absolute = std::path::absolute(file)
            .map_err(|error| Error::io(format!("reading {}", file.display()), error))?;
        // The folder may not exist yet; then nothing is in it to protect, and SQLite will say it cannot create the file.
        let Some(folder) = absolute
            .parent()
            .and_then(|parent| parent.canonicalize().ok())
        else {
            return Ok(());
        };
        if folder.starts_with(&self.root) && !folder.starts_with(self.private()) {
            return Err(Error::Config(format!(
                "{} is inside the data directory {}, where projects can reach it; keep the database in {} (the default) or outside {}",
                file.display(),
                self.root.display(),
                self.private().display(),
                self.root.display()
            )));
        }
        Ok(())
    }

    /// Moves `DATA/orrery.db`, where an older Orrery kept it, to `DATA/private/orrery.db`.
    fn move_old_database(&self) -> Result<()> {
        let old = self.root.join(DATABASE);
        if std::fs::symlink_metadata(&old).is_err() {
            // Only a log or index left beside no database: nothing to keep, and the mode must not stay readable.
            for leftover in orrery_db::sqlite::file::files_of(&old) {
                orrery_db::sqlite::file::tighten(&leftover)?;
            }
            return Ok(());
        }
        let new = self.database();
        SqliteStore::relocate(&old, &new)?;
        warn!(
            "moved the metadata database {} to {} (mode 0600 in a 0700 folder): in the data directory, projects could read it",
            old.display(),
            new.display()
        );
        Ok(())
    }
}

/// Makes `path` (and its parents) a folder only its owner can enter, if it does not exist.
fn create_private_dir(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(path)
        .map_err(|error| Error::io(format!("creating {}", path.display()), error))
}

/// Takes away others' and the group's read and write access to a folder, keeping the right to pass through.
fn close_to_others(folder: &Path) -> Result<()> {
    let mode = match std::fs::metadata(folder) {
        Ok(metadata) => metadata.mode() & 0o7777,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(Error::io(format!("reading {}", folder.display()), error)),
    };
    set_mode(folder, mode, mode & !0o066)
}

fn set_mode(path: &Path, mode: u32, wanted: u32) -> Result<()> {
    if mode == wanted {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted)).map_err(|error| {
        Error::io(
            format!("making {} mode {wanted:04o}", path.display()),
            error,
        )
    })?;
    warn!(
        "{} had mode {mode:04o}; it is now {wanted:04o}, so other users cannot list or change it",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").mode() & 0o7777
    }

    #[test]
    fn a_new_data_directory_keeps_its_secrets_in_a_private_folder() {
        let parent = tempfile::tempdir().expect("temporary folder");
        let root = parent.path().join("data");
        let data = DataDir::prepare(&root).expect("prepare");
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&data.private()), 0o700);
        assert_eq!(data.database(), data.private().join("orrery.db"));
        assert_eq!(DataDir::prepare(&root).expect("again"), data, "idempotent");
    }

    #[test]
    fn a_database_in_the_data_directory_is_refused_and_private_ones_are_not() {
        let parent = tempfile::tempdir().expect("temporary folder");
        let data = DataDir::prepare(parent.path()).expect("prepare");
        let refused = data
            .check_database_path(&data.root().join("orrery.db"))
            .expect_err("in the data directory");
        assert!(
            refused.to_string().contains("projects can reach it"),
            "{refused}"
        );
        std::fs::create_dir_all(data.root().join("projects/x")).expect("a project folder");
        assert!(data
            .check_database_path(&data.root().join("projects/x/o.db"))
            .is_err());
        data.check_database_path(&data.database())
            .expect("the default");
        data.check_database_path(Path::new("/nowhere/o.db"))
            .expect("outside");
    }

    #[test]
    fn open_folders_are_closed_to_others() {
        let parent = tempfile::tempdir().expect("temporary folder");
        let root = parent.path();
        for folder in ["projects", "run", "private"] {
            std::fs::create_dir(root.join(folder)).expect("mkdir");
            std::fs::set_permissions(root.join(folder), std::fs::Permissions::from_mode(0o777))
                .expect("chmod");
        }
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let data = DataDir::prepare(root).expect("prepare");
        assert_eq!(mode(data.root()), 0o711);
        assert_eq!(mode(&root.join("projects")), 0o711);
        assert_eq!(mode(&root.join("run")), 0o711);
        assert_eq!(mode(&data.private()), 0o700);
    }
}
