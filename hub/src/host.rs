//! The host role on one machine: projects are plain directories under the data directory, and each project's local
//! hub is started on demand as a child process (`orrery local-hub`), reached over its Unix socket, started again if
//! it died, and left to stop itself when idle.
//!
//! Started as root, each project gets its own Unix user (`orrery-` + the first 20 characters of its id without dashes,
//! made with `useradd` the first time), owning its directory (mode 0700); the local hub drops to that user before it
//! serves, so projects cannot read each other's files. The data directory is then traversable but not listable (0711).
//! Started as anyone else, local hubs run as that user.
//!
//! This is the narrow interface the ZFS, replication and overlay issues will replace: callers ask for a project's
//! socket with [`LocalHost::socket_for`] and never see how the project is stored or where its local hub runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tracing::{info, warn};

/// How a machine's projects and local hubs are laid out and started.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Projects live in `data/projects/<id>`, sockets in `data/run/<id>/hub.sock`.
    pub data: PathBuf,
    /// The `orrery` executable that serves `local-hub`.
    pub binary: PathBuf,
    /// Passed to each local hub: it stops itself after this long with no client and no terminal output.
    pub idle_timeout: Duration,
    /// How long a starting local hub may take to open its socket.
    pub start_timeout: Duration,
}

/// Why a project's local hub could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("project id {0:?} is not a plain name")]
    BadProject(String),
    #[error("cannot prepare the project's folders: {0}")]
    Io(#[from] std::io::Error),
    #[error("the local hub did not open its socket within {0:?}")]
    StartTimeout(Duration),
    #[error("the local hub exited while starting: {0}")]
    Exited(String),
    #[error("cannot make the project's Unix user: {0}")]
    User(String),
}

/// The local hubs this machine runs.
#[derive(Debug)]
pub struct LocalHost {
    config: HostConfig,
    running: Mutex<HashMap<String, Child>>,
    /// Local hub starts and their total time, for `/metrics`.
    starts: std::sync::atomic::AtomicU64,
    start_micros: std::sync::atomic::AtomicU64,
}

impl LocalHost {
    pub fn new(config: HostConfig) -> LocalHost {
        LocalHost {
            config,
            running: Mutex::new(HashMap::new()),
            starts: 0.into(),
            start_micros: 0.into(),
        }
    }

    /// The project's directory.
    pub fn project_dir(&self, project: &str) -> Result<PathBuf, HostError> {
        Ok(self.config.data.join("projects").join(plain(project)?))
    }

    fn socket_path(&self, project: &str) -> Result<PathBuf, HostError> {
        Ok(self
            .config
            .data
            .join("run")
            .join(plain(project)?)
            .join("hub.sock"))
    }

    /// The socket of the project's local hub, starting it (again) if it is not running.
    pub async fn socket_for(&self, project: &str) -> Result<PathBuf, HostError> {
        let socket = self.socket_path(project)?;
        let mut running = self.running.lock().await;
        if let Some(child) = running.get_mut(project) {
            match child.try_wait() {
                Ok(None) if socket.exists() => return Ok(socket),
                Ok(None) => {
                    // Alive but without a socket: it is stopping; let it finish and start a fresh one.
                    let _ = child.wait().await;
                }
                Ok(Some(status)) => {
                    info!(project, %status, "local hub had exited; starting it again")
                }
                Err(error) => {
                    warn!(project, %error, "cannot check on the local hub; starting it again")
                }
            }
            running.remove(project);
        }
        let started = Instant::now();
        let child = self.start(project, &socket).await?;
        running.insert(project.to_owned(), child);
        self.starts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.start_micros.fetch_add(
            started.elapsed().as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(socket)
    }

    async fn start(&self, project: &str, socket: &Path) -> Result<Child, HostError> {
        let directory = self.project_dir(project)?;
        tokio::fs::create_dir_all(&directory).await?;
        let socket_folder = socket.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut command = Command::new(&self.config.binary);
        if nix::unistd::geteuid().is_root() {
            // The local hub makes its socket folder itself, for its user; only the folder above is ours.
            if let Some(run) = socket_folder.parent() {
                tokio::fs::create_dir_all(run).await?;
            }
            let user = project_user(project);
            let data = self.config.data.clone();
            let directory = directory.clone();
            let name = user.clone();
            tokio::task::spawn_blocking(move || {
                give_to_user(&data, &directory, &socket_folder, &name)
            })
            .await
            .map_err(|error| HostError::User(error.to_string()))??;
            command.arg("local-hub").arg("--user").arg(user);
        } else {
            tokio::fs::create_dir_all(&socket_folder).await?;
            command.arg("local-hub");
        }
        let _ = tokio::fs::remove_file(socket).await;
        let mut child = command
            .arg("--project")
            .arg(&directory)
            .arg("--socket")
            .arg(socket)
            .arg("--parent")
            .arg(std::process::id().to_string())
            .arg("--idle-timeout")
            .arg(self.config.idle_timeout.as_secs().max(1).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(false)
            .spawn()?;
        let deadline = Instant::now() + self.config.start_timeout;
        while !socket.exists() {
            if let Some(status) = child.try_wait()? {
                return Err(HostError::Exited(status.to_string()));
            }
            if Instant::now() >= deadline {
                let _ = child.kill().await;
                return Err(HostError::StartTimeout(self.config.start_timeout));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        info!(project, pid = child.id(), "local hub started");
        Ok(child)
    }

    /// The process id of the project's local hub, if one was started and has not been reaped.
    pub async fn pid_of(&self, project: &str) -> Option<u32> {
        self.running.lock().await.get(project).and_then(Child::id)
    }

    /// Local hub starts so far, and their mean time to an open socket.
    pub fn start_stats(&self) -> (u64, Duration) {
        let starts = self.starts.load(std::sync::atomic::Ordering::Relaxed);
        let micros = self.start_micros.load(std::sync::atomic::Ordering::Relaxed);
        (
            starts,
            Duration::from_micros(micros.checked_div(starts).unwrap_or(0)),
        )
    }

    /// Stops every local hub (SIGTERM, so each saves its documents) and waits for them.
    pub async fn shutdown(&self) {
        let mut running = self.running.lock().await;
        for (project, mut child) in running.drain() {
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            if tokio::time::timeout(Duration::from_secs(15), child.wait())
                .await
                .is_err()
            {
                warn!(project, "local hub did not stop on SIGTERM; killing it");
                let _ = child.kill().await;
            }
        }
    }
}

/// The Unix user a project's local hub runs as when the host runs as root.
pub fn project_user(project: &str) -> String {
    let id: String = project.chars().filter(|c| *c != '-').take(20).collect();
    format!("orrery-{}", id.to_ascii_lowercase())
}

/// Makes the project's user if it does not exist, and gives it the project's directory (0700); the folders above are
/// made traversable (0711) so the user can reach its directory without listing anyone else's.
fn give_to_user(
    data: &Path,
    directory: &Path,
    socket_folder: &Path,
    name: &str,
) -> Result<(), HostError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let user = match nix::unistd::User::from_name(name) {
        Ok(Some(user)) => user,
        Ok(None) => {
            let output = std::process::Command::new("useradd")
                // Not --system: that range (below 1000) holds a few hundred ids, far fewer than a host's projects.
                .args([
                    "--user-group",
                    "--no-create-home",
                    "--shell",
                    "/bin/bash",
                    "--home-dir",
                ])
                .arg(directory)
                .arg(name)
                .output()
                .map_err(|error| HostError::User(format!("running useradd: {error}")))?;
            if !output.status.success() {
                return Err(HostError::User(format!(
                    "useradd {name}: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
            nix::unistd::User::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| HostError::User(format!("{name} was made but cannot be found")))?
        }
        Err(error) => return Err(HostError::User(format!("looking up {name}: {error}"))),
    };
    for folder in [data.to_path_buf(), data.join("projects"), data.join("run")] {
        if folder.is_dir() {
            std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o711))?;
        }
    }
    if let Ok(metadata) = std::fs::symlink_metadata(socket_folder) {
        // Left by a run without project users: it holds nothing but a stale socket, and the local hub wants its own.
        if metadata.uid() != user.uid.as_raw() {
            std::fs::remove_dir_all(socket_folder)?;
        }
    }
    if std::fs::metadata(directory)?.uid() != user.uid.as_raw() {
        // A new directory, or one made before projects had users: everything in it becomes the user's.
        chown_tree(directory, user.uid, user.gid)?;
    }
    std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

fn chown_tree(path: &Path, uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> std::io::Result<()> {
    // lchown: a symlink in the project is the project's, never what it points at.
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        path,
        Some(uid),
        Some(gid),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(std::io::Error::from)?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// A project id used as a folder name must be one plain component.
fn plain(project: &str) -> Result<&str, HostError> {
    let ok = !project.is_empty()
        && project.len() <= 64
        && project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(project)
    } else {
        Err(HostError::BadProject(project.to_owned()))
    }
}
