//! The database's files on disk: readable and writable by this process's user only (mode 0600), from the moment they
//! exist, and moved whole when a data directory's layout changes.
//!
//! SQLite creates a new database file with mode 0644 (less the umask), and gives the write-ahead log (`-wal`) and
//! shared-memory index (`-shm`) it creates later the database file's mode. So the database file is made here, 0600,
//! before SQLite opens it, and both companions follow; an existing file that others can read is made private on open.

use std::fs::{OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::{Error, Result};

/// The mode of every file of the database.
pub const PRIVATE_FILE: u32 = 0o600;

/// The files SQLite keeps for the database at `path`: the database itself, its write-ahead log, its shared-memory index.
pub fn files_of(path: &Path) -> [PathBuf; 3] {
    let with_suffix = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_path_buf(), with_suffix("-wal"), with_suffix("-shm")]
}

fn io_error(what: String, error: std::io::Error) -> Error {
    Error::Unavailable {
        message: format!("{what}: {error}"),
        source: Some(Box::new(error)),
    }
}

/// Creates the database file, empty and mode 0600, if it does not exist.
pub(super) fn create_private(path: &Path) -> Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(io_error(
            format!("cannot create the SQLite database {}", path.display()),
            error,
        )),
    }
}

/// Makes every existing file of the database private, logging each one whose mode let other users in. Called once
/// SQLite has read the file as a database, so a mistyped `--db /etc/passwd` is refused rather than made private.
pub(super) fn make_private(path: &Path) -> Result<()> {
    for file in files_of(path) {
        tighten(&file)?;
    }
    Ok(())
}

/// Makes `file` mode 0600 if its mode gives anyone but its owner any access; a missing file is left missing.
pub fn tighten(file: &Path) -> Result<()> {
    let mode = match std::fs::metadata(file) {
        Ok(metadata) => metadata.permissions().mode() & 0o7777,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(io_error(
                format!("cannot read the mode of {}", file.display()),
                error,
            ))
        }
    };
    if mode & 0o7077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(file, Permissions::from_mode(PRIVATE_FILE)).map_err(|error| {
        io_error(
            format!(
                "{} has mode {mode:04o}, which lets other users read Orrery's accounts, and it cannot be made 0600",
                file.display()
            ),
            error,
        )
    })?;
    tracing::warn!(
        "{} had mode {mode:04o}, which let other users read it; it is now {PRIVATE_FILE:04o}",
        file.display()
    );
    Ok(())
}

/// Moves the database at `from`, which no process may have open, to `to`, which must not exist: its write-ahead log is
/// first written into the database file, so the move is one rename and nothing committed stays behind.
///
/// `from`'s files are made private before anything else. Fails with `Unavailable` when another process has the
/// database open (a running Orrery), and with `Conflict` when `to` already exists, touching neither file beyond
/// making `from` private. The two paths must be on one file system.
pub fn relocate(from: &Path, to: &Path) -> Result<()> {
    for file in files_of(from) {
        tighten(&file)?;
    }
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(Error::Conflict(format!(
            "both {} and {} exist; Orrery keeps its database in the second now: keep one of them (move the other away) and start again",
            from.display(),
            to.display()
        )));
    }
    checkpoint_alone(from)?;
    let [_, wal, shm] = files_of(from);
    match std::fs::metadata(&wal) {
        Ok(metadata) if metadata.len() > 0 => {
            return Err(Error::Unavailable {
                message: format!(
                    "{} still holds transactions after a checkpoint; start the Orrery that wrote it once, stop it, then try again",
                    wal.display()
                ),
                source: None,
            })
        }
        _ => {}
    }
    for leftover in [wal, shm] {
        match std::fs::remove_file(&leftover) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => {
                return Err(io_error(
                    format!("cannot remove {}", leftover.display()),
                    error,
                ))
            }
        }
    }
    std::fs::rename(from, to).map_err(|error| {
        io_error(
            format!("cannot move {} to {}", from.display(), to.display()),
            error,
        )
    })?;
    for folder in [from.parent(), to.parent()].into_iter().flatten() {
        sync_folder(folder)?;
    }
    Ok(())
}

/// Opens the database as its only user (an exclusive lock, taken without waiting), writes its write-ahead log into the
/// database file and closes it, which removes the log.
fn checkpoint_alone(path: &Path) -> Result<()> {
    let busy = |error: rusqlite::Error| {
        Error::Unavailable {
        message: format!(
            "{} is in use by another process (an Orrery still running on this data directory?); stop it and start again",
            path.display()
        ),
        source: Some(Box::new(error)),
    }
    };
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|error| Error::Unavailable {
        message: format!("cannot open the SQLite database {}", path.display()),
        source: Some(Box::new(error)),
    })?;
    connection.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    // Reading inside an exclusive transaction takes the lock; another process's open connection holds a shared lock,
    // so this fails at once instead of moving a file from under a running server.
    connection
        .execute_batch("BEGIN EXCLUSIVE; SELECT count(*) FROM sqlite_master; COMMIT;")
        .map_err(|error| match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                busy(error)
            }
            _ => Error::from(error),
        })?;
    connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    connection
        .close()
        .map_err(|(_, error)| Error::from(error))?;
    Ok(())
}

/// Makes a rename in `folder` durable.
fn sync_folder(folder: &Path) -> Result<()> {
    std::fs::File::open(folder)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| io_error(format!("cannot sync {}", folder.display()), error))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

    use std::sync::Arc;

    use super::*;
    use crate::{NewAccount, SqliteStore, Store, SystemClock};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o7777
    }

    fn account(email: &str) -> NewAccount {
        NewAccount {
            email: email.into(),
            display_name: "Ada".into(),
            password_hash: "$argon2id$stand-in".into(),
        }
    }

    #[tokio::test]
    async fn a_new_database_and_its_log_are_private_whatever_the_umask() {
        // The umask is the process's: 022, as most services start with, lets SQLite make 0644 files.
        let previous = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("orrery.db");
        let store = SqliteStore::open(&path, Arc::new(SystemClock))
            .await
            .expect("open");
        store
            .create_account(account("ada@example.org"))
            .await
            .expect("a write, so the log and index exist");
        nix::sys::stat::umask(previous);
        for file in files_of(&path) {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    #[tokio::test]
    async fn an_open_makes_a_readable_database_private() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("orrery.db");
        drop(
            SqliteStore::open(&path, Arc::new(SystemClock))
                .await
                .expect("create"),
        );
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).expect("chmod");
        let store = SqliteStore::open(&path, Arc::new(SystemClock))
            .await
            .expect("open");
        assert_eq!(mode(&path), 0o600);
        drop(store);
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_refused_and_left_as_it_was() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("passwd");
        std::fs::write(&path, "root:x:0:0:root:/root:/bin/bash\n".repeat(200)).expect("write");
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).expect("chmod");
        assert!(SqliteStore::open(&path, Arc::new(SystemClock))
            .await
            .is_err());
        assert_eq!(mode(&path), 0o644, "a mistyped --db changes nothing");
    }

    #[tokio::test]
    async fn relocating_keeps_what_only_the_log_held() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let from = folder.path().join("orrery.db");
        let to = folder.path().join("private.db");
        let store = SqliteStore::open(&from, Arc::new(SystemClock))
            .await
            .expect("create");
        store
            .create_account(account("ada@example.org"))
            .await
            .expect("write");
        assert!(
            std::fs::metadata(&files_of(&from)[1]).expect("log").len() > 0,
            "the account is in the write-ahead log"
        );
        // While the store is open the move is refused: a running server keeps its file.
        match relocate(&from, &to) {
            Err(Error::Unavailable { message, .. }) => {
                assert!(message.contains("in use"), "{message}")
            }
            other => panic!("a database in use was moved: {other:?}"),
        }
        assert!(from.exists() && !to.exists());
        // A crash leaves the log behind: forget the store without closing it.
        std::mem::forget(store);
        let copy = folder.path().join("crashed.db");
        for (file, target) in files_of(&from).iter().zip(files_of(&copy)) {
            std::fs::copy(file, target).expect("copy");
        }
        std::fs::set_permissions(&copy, Permissions::from_mode(0o644)).expect("chmod");
        relocate(&copy, &to).expect("relocate");
        for file in files_of(&copy) {
            assert!(!file.exists(), "{} is left behind", file.display());
        }
        assert_eq!(mode(&to), 0o600);
        let moved = SqliteStore::open(&to, Arc::new(SystemClock))
            .await
            .expect("open the moved database");
        let found = moved
            .account_by_email("ada@example.org")
            .await
            .expect("the account that was only in the log");
        assert_eq!(found.display_name, "Ada");
    }

    #[tokio::test]
    async fn relocating_onto_an_existing_database_is_refused() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let from = folder.path().join("old.db");
        let to = folder.path().join("new.db");
        for path in [&from, &to] {
            drop(
                SqliteStore::open(path, Arc::new(SystemClock))
                    .await
                    .expect("create"),
            );
        }
        std::fs::set_permissions(&from, Permissions::from_mode(0o644)).expect("chmod");
        match relocate(&from, &to) {
            Err(Error::Conflict(message)) => assert!(message.contains("both"), "{message}"),
            other => panic!("expected Conflict, got {other:?}"),
        }
        assert!(from.exists(), "nothing is removed");
        assert_eq!(mode(&from), 0o600, "but the old one is made private");
    }
}
