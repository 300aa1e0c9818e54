//! Shared terminals (being built: see the local-hub issue). This file fixes the interface the connection uses.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::{ErrorCode, Frame, TerminalSize};
use crate::{Activity, ChannelSink, Error};

/// How terminals are started.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    pub shell: PathBuf,
    pub cwd: PathBuf,
    /// End a terminal after this long with no viewer and no output; zero: never.
    pub idle_cull: Duration,
}

/// Every terminal of the project, by name.
#[derive(Debug)]
pub struct Terminals {
    _config: TerminalConfig,
    _activity: Arc<Activity>,
}

/// One viewer's attachment to one terminal.
#[derive(Debug)]
pub struct TerminalViewer;

impl Terminals {
    pub fn new(config: TerminalConfig, activity: Arc<Activity>) -> Arc<Terminals> {
        Arc::new(Terminals {
            _config: config,
            _activity: activity,
        })
    }

    /// Attaches a viewer to terminal `name`, starting its shell if it is not running.
    pub async fn attach(
        self: &Arc<Self>,
        _name: &str,
        _size: TerminalSize,
        _sink: ChannelSink,
    ) -> Result<TerminalViewer, Error> {
        Err(Error::new(
            ErrorCode::Internal,
            "terminals are not available in this build yet",
        ))
    }

    /// Ends every terminal.
    pub async fn shutdown(&self) {}
}

impl TerminalViewer {
    /// Handles a frame from this viewer.
    pub async fn handle(&mut self, _frame: &Frame) -> Result<(), Error> {
        Err(Error::new(
            ErrorCode::UnknownChannel,
            "not a terminal channel",
        ))
    }

    /// Detaches this viewer; the terminal keeps running.
    pub async fn detach(self) {}
}
