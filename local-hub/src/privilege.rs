//! Becoming the project user, before the async runtime starts (so no other thread exists yet).
//!
//! Started as root with `config.user`, the hub makes the socket's folder the user's with mode 0700 (so only the user
//! and root, its host, can reach the socket), makes sure the project folder exists and is the user's, then drops
//! to the user for good: supplementary groups, group and user ids (real, effective and saved), and `HOME`, `USER`,
//! `LOGNAME` and `SHELL`, and checks that the drop took (root cannot be regained). Started as anyone else, it runs
//! as that user, and `config.user` may only name that same user.
//!
//! As root the hub only changes the owner of folders it may rightly give away: a socket folder it creates or one the
//! user already owns (never an existing shared one like `/tmp` or `/run`), and a project folder it creates or one
//! owned by root (made by the host for this project); a project folder owned by another user is refused. Symlinks
//! are never followed when changing an owner or mode.

use std::ffi::CString;
use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{self, Uid, User};

use crate::protocol::ErrorCode;
use crate::{Config, Error};

/// Before the async runtime starts: creates the socket's folder and, when running as root with `config.user`,
/// drops to that user. Runs as the current user otherwise.
pub fn prepare(config: &Config) -> Result<(), Error> {
    let running_as_root = unistd::geteuid().is_root();
    let user = match &config.user {
        Some(name) => Some(lookup(name)?),
        None => None,
    };
    match user {
        // Root asked to run as root: nothing to drop.
        Some(user) if running_as_root && !user.uid.is_root() => {
            socket_folder(&config.socket, Some(&user))?;
            project_folder(&config.project, Some(&user))?;
            become_user(&user)?;
            check_dropped(&user, &config.project)
        }
        Some(user) if !running_as_root && user.uid != unistd::geteuid() => {
            let current = unistd::geteuid();
            let current_name = User::from_uid(current)
                .ok()
                .flatten()
                .map_or_else(|| current.to_string(), |user| user.name);
            Err(Error::new(
                ErrorCode::Refused,
                format!(
                    "only root can switch users: running as {current_name} (uid {current}), asked to run as {} (uid {})",
                    user.name, user.uid
                ),
            ))
        }
        _ => {
            socket_folder(&config.socket, None)?;
            project_folder(&config.project, None)?;
            Ok(())
        }
    }
}

fn lookup(name: &str) -> Result<User, Error> {
    match User::from_name(name) {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(Error::new(
            ErrorCode::NotFound,
            format!("no Unix user is named {name:?}"),
        )),
        Err(errno) => Err(Error::internal(format!(
            "looking up the Unix user {name:?}: {errno}"
        ))),
    }
}

/// Creates the socket's folder (mode 0700) if missing; as root for `owner`, gives it to the owner.
fn socket_folder(socket: &Path, owner: Option<&User>) -> Result<(), Error> {
    let Some(folder) = socket
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
    else {
        return Ok(());
    };
    let failed = |error: std::io::Error| {
        let mut error = Error::io(&format!("socket folder {}", folder.display()), &error);
        error.code = ErrorCode::Refused;
        error
    };
    let created = create_private_folder(folder).map_err(failed)?;
    let handle = open_folder(folder).map_err(failed)?;
    let Some(owner) = owner else { return Ok(()) };
    let metadata = handle.metadata().map_err(failed)?;
    if !created && metadata.uid() != owner.uid.as_raw() {
        return Err(Error::new(
            ErrorCode::Refused,
            format!(
                "socket folder {} exists and belongs to uid {}: give the hub a folder of its own (it makes the folder {}'s, mode 0700)",
                folder.display(),
                metadata.uid(),
                owner.name
            ),
        ));
    }
    unistd::fchown(&handle, Some(owner.uid), Some(owner.gid))
        .map_err(|errno| failed(std::io::Error::from_raw_os_error(errno as i32)))?;
    handle
        .set_permissions(Permissions::from_mode(0o700))
        .map_err(failed)
}

/// Makes sure the project folder exists; as root for `owner`, that it is the owner's.
fn project_folder(project: &Path, owner: Option<&User>) -> Result<(), Error> {
    let failed =
        |error: std::io::Error| Error::io(&format!("project folder {}", project.display()), &error);
    let created = match std::fs::symlink_metadata(project) {
        Ok(_) => false,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // Folders above the project stay root's (other projects may live there); only the project is given away.
            if let Some(parent) = project
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(failed)?;
            }
            match std::fs::create_dir(project) {
                Ok(()) => true,
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => false,
                Err(error) => return Err(failed(error)),
            }
        }
        Err(error) => return Err(failed(error)),
    };
    let canonical: PathBuf = project.canonicalize().map_err(failed)?;
    let handle = open_folder(&canonical).map_err(failed)?;
    let Some(owner) = owner else { return Ok(()) };
    let metadata = handle.metadata().map_err(failed)?;
    if metadata.uid() == owner.uid.as_raw() {
        return Ok(());
    }
    if !created && (metadata.uid() != 0 || canonical == Path::new("/")) {
        return Err(Error::new(
            ErrorCode::Refused,
            format!(
                "project folder {} belongs to uid {}, not to {} (uid {})",
                canonical.display(),
                metadata.uid(),
                owner.name,
                owner.uid
            ),
        ));
    }
    unistd::fchown(&handle, Some(owner.uid), Some(owner.gid))
        .map_err(|errno| failed(std::io::Error::from_raw_os_error(errno as i32)))
}

/// Creates `folder` with mode 0700 (and any missing folders above it); true if this call created it.
fn create_private_folder(folder: &Path) -> std::io::Result<bool> {
    match std::fs::symlink_metadata(folder) {
        Ok(metadata) if metadata.file_type().is_symlink() => Err(std::io::Error::other(
            "it is a symlink; the hub needs a real folder",
        )),
        Ok(metadata) if !metadata.is_dir() => Err(std::io::Error::other("it is not a folder")),
        Ok(_) => Ok(false),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = folder
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent)?;
            }
            match DirBuilder::new().mode(0o700).create(folder) {
                Ok(()) => Ok(true),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(error) => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// Opens a folder without following a symlink in its last component, to change its owner and mode through the handle.
fn open_folder(folder: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(folder)
}

/// Takes the user's groups, group id and user id (real, effective and saved), and the user's environment.
fn become_user(user: &User) -> Result<(), Error> {
    let name = CString::new(user.name.as_bytes()).map_err(|_| {
        Error::malformed(format!("the user name {:?} contains a NUL byte", user.name))
    })?;
    let failed = |step: &str, errno: nix::errno::Errno| {
        Error::internal(format!(
            "becoming {} (uid {}): {step} failed: {errno}",
            user.name, user.uid
        ))
    };
    unistd::initgroups(&name, user.gid).map_err(|errno| failed("initgroups", errno))?;
    unistd::setresgid(user.gid, user.gid, user.gid).map_err(|errno| failed("setresgid", errno))?;
    unistd::setresuid(user.uid, user.uid, user.uid).map_err(|errno| failed("setresuid", errno))?;
    // Single-threaded here (before the runtime starts), so changing the environment races with nothing.
    std::env::set_var("HOME", &user.dir);
    std::env::set_var("USER", &user.name);
    std::env::set_var("LOGNAME", &user.name);
    std::env::set_var("SHELL", &user.shell);
    tracing::info!(user = %user.name, uid = %user.uid, gid = %user.gid, "running as the project user");
    Ok(())
}

/// Refuses to go on unless the drop took for good and the user can open the project.
fn check_dropped(user: &User, project: &Path) -> Result<(), Error> {
    let ids = (
        unistd::getuid(),
        unistd::geteuid(),
        unistd::getgid(),
        unistd::getegid(),
    );
    if ids != (user.uid, user.uid, user.gid, user.gid) {
        return Err(Error::internal(format!(
            "becoming {} did not take: uid {}, euid {}, gid {}, egid {}",
            user.name, ids.0, ids.1, ids.2, ids.3
        )));
    }
    if unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(Error::internal(format!(
            "after becoming {} the process could become root again",
            user.name
        )));
    }
    std::fs::read_dir(project).map_err(|error| {
        Error::new(
            ErrorCode::Refused,
            format!(
                "{} cannot open the project folder {}: {error}",
                user.name,
                project.display()
            ),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, user: Option<String>) -> Config {
        let mut config = Config::new(dir.join("project"), dir.join("sockets/hub.sock"));
        config.user = user;
        config
    }

    #[test]
    fn makes_the_socket_folder_private_and_the_project_folder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = config(dir.path(), None);
        prepare(&config).expect("prepare");
        let socket_folder = std::fs::metadata(dir.path().join("sockets")).expect("socket folder");
        assert!(socket_folder.is_dir());
        assert_eq!(socket_folder.permissions().mode() & 0o777, 0o700);
        assert!(dir.path().join("project").is_dir());
        // A second start finds both in place.
        prepare(&config).expect("prepare again");
    }

    #[test]
    fn an_unknown_user_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = prepare(&config(dir.path(), Some("no-such-user-orrery".into())))
            .expect_err("unknown user");
        assert_eq!(error.code, ErrorCode::NotFound);
        assert!(
            error
                .message
                .contains("no Unix user is named \"no-such-user-orrery\""),
            "{error}"
        );
    }

    #[test]
    fn naming_the_current_user_is_allowed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let me = User::from_uid(unistd::geteuid())
            .expect("lookup")
            .expect("current user has an entry");
        // As root this names root, which needs no drop; as anyone else it names oneself.
        prepare(&config(dir.path(), Some(me.name))).expect("prepare as oneself");
        assert_eq!(unistd::geteuid(), unistd::getuid());
    }

    #[test]
    fn a_symlink_as_socket_folder_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::os::unix::fs::symlink(dir.path(), dir.path().join("sockets")).expect("symlink");
        let error = prepare(&config(dir.path(), None)).expect_err("symlink");
        assert_eq!(error.code, ErrorCode::Refused);
        assert!(error.message.contains("symlink"), "{error}");
    }
}
