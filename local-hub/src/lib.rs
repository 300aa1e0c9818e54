//! Orrery's per-project server: open documents (sync master copies), shared terminals, file operations and presence (who is in the project, what each looks at) for one project, reached by its host over a Unix socket.
//! It must not depend on `hub`, `db` or `vpn`: it only ever talks to its host over a local socket.
//! `protocol` is the one versioned wire module (the hub relays its frames and the web app speaks them); everything
//! else is internal. Entry points: [`prepare`] (as root: make the socket directory, drop to the project user) and
//! [`run`] (serve until the shutdown token fires or the hub has been idle too long).

mod atomic;
mod channel;
pub mod client;
mod connection;
mod document;
mod error;
mod files;
mod history;
mod paths;
mod presence;
mod privilege;
mod project;
pub mod protocol;
mod terminal;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use channel::{ChannelSink, TrySendError};
pub use error::Error;
pub use privilege::prepare;

/// Everything a local hub needs to know; `orrery local-hub --help` lists the same with their defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// The project's directory; every path a client names is confined to it.
    pub project: PathBuf,
    /// The Unix socket to listen on. Its directory is created if missing, owned by the project user, mode 0700.
    pub socket: PathBuf,
    /// When started as root: the project's Unix user to become before serving. Ignored otherwise.
    pub user: Option<String>,
    /// Stop after this long with no connection and no terminal output. Zero: never.
    pub idle_timeout: Duration,
    /// How long after the last change a document is written to disk.
    pub save_delay: Duration,
    /// Largest file opened for editing, in bytes; larger text files open read-only (up to `max_read_only_bytes`).
    pub max_document_bytes: usize,
    /// Largest file opened read-only as a document (it must fit one frame).
    pub max_read_only_bytes: usize,
    /// The shell terminals run; default: the user's login shell, else `/bin/bash`, else `/bin/sh`.
    pub shell: Option<PathBuf>,
    /// End a terminal after this long with no viewer and no output. Zero: never.
    pub terminal_idle_cull: Duration,
    /// How long a shutdown may take before the remaining work is abandoned.
    pub shutdown_deadline: Duration,
}

impl Config {
    /// The defaults for a project directory and socket.
    pub fn new(project: PathBuf, socket: PathBuf) -> Config {
        Config {
            project,
            socket,
            user: None,
            idle_timeout: Duration::from_secs(600),
            save_delay: Duration::from_millis(300),
            max_document_bytes: 8 << 20,
            max_read_only_bytes: 16 << 20,
            shell: None,
            terminal_idle_cull: Duration::from_secs(24 * 3600),
            shutdown_deadline: Duration::from_secs(10),
        }
    }
}

/// What keeps the hub from stopping itself: connections, and recent terminal output.
#[derive(Debug)]
pub struct Activity {
    connections: AtomicUsize,
    last: Mutex<Instant>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            connections: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }
    }
}

impl Activity {
    /// Something happened (a connection came or went, a terminal printed).
    pub fn touch(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = Instant::now();
        }
    }

    pub fn connected(&self) {
        self.connections.fetch_add(1, Ordering::SeqCst);
        self.touch();
    }

    pub fn disconnected(&self) {
        self.connections.fetch_sub(1, Ordering::SeqCst);
        self.touch();
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How long nothing has happened, or zero while a connection is open.
    pub fn idle_for(&self) -> Duration {
        if self.connections() > 0 {
            return Duration::ZERO;
        }
        self.last
            .lock()
            .map_or(Duration::ZERO, |last| last.elapsed())
    }
}

/// Serves the project until `shutdown` fires or the hub is idle for `config.idle_timeout`; then saves every
/// document, ends every terminal and removes the socket.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    connection::serve(config, shutdown).await
}
