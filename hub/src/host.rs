//! The host role on one machine: projects are plain directories under the data directory, and each project's local
//! hub is started on demand as a child process (`orrery local-hub`), reached over its Unix socket, started again if
//! it died, and left to stop itself when idle.
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
        if let Some(parent) = socket.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let _ = tokio::fs::remove_file(socket).await;
        let mut child = Command::new(&self.config.binary)
            .arg("local-hub")
            .arg("--project")
            .arg(&directory)
            .arg("--socket")
            .arg(socket)
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
