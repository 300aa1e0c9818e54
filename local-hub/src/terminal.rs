//! Shared terminals: one PTY running the user's shell per terminal name, shared by every viewer that opens the name,
//! alive with no viewer until it is killed, idle-culled, or its shell exits.
//!
//! A viewer that attaches is sent the PTY size and a snapshot of the screen and scrollback from a server-side
//! emulator (`terminal/screen.rs`), then live output. Each viewer has its own credit window and its own pump task
//! (`terminal/stream.rs`): the PTY is read at the pace of the fastest viewer (or freely, with none, or when all of
//! them have stalled for a second), and a viewer slower than that falls behind without slowing anyone and is sent a
//! fresh snapshot when it catches up. ACKs return credit for OUTPUT and SNAPSHOT bytes alike. The PTY size is the
//! smallest of the viewers'. `terminal/process.rs` owns the PTY, the shell and its signals.

mod process;
mod screen;
mod stream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::protocol::{self, kind, ErrorCode, Exited, Frame, TerminalSize};
use crate::{Activity, ChannelSink, Error};
use stream::Stream;

/// The size a terminal starts at when its first viewer reports none.
const DEFAULT_SIZE: TerminalSize = TerminalSize { rows: 24, cols: 80 };
/// How long a terminal's processes get between SIGHUP and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(1);
/// How long the PTY is drained after the shell exits (a background job may hold it open for ever).
const DRAIN: Duration = Duration::from_millis(200);
/// Keystroke frames queued for a PTY that is not reading its input before more are refused.
const INPUT_QUEUE: usize = 256;
/// The longest terminal name.
const MAX_NAME: usize = 256;

/// How terminals are started.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// The program every terminal runs.
    pub shell: PathBuf,
    /// Where it starts: the project directory.
    pub cwd: PathBuf,
    /// End a terminal after this long with no viewer and no output; zero: never.
    pub idle_cull: Duration,
}

/// Every terminal of the project, by name.
#[derive(Debug)]
pub struct Terminals {
    config: TerminalConfig,
    activity: Arc<Activity>,
    registry: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    terminals: HashMap<String, Arc<Terminal>>,
    next_viewer: u64,
    shut_down: bool,
}

/// One running terminal.
#[derive(Debug)]
struct Terminal {
    name: String,
    stream: Arc<Stream>,
    input: mpsc::Sender<Vec<u8>>,
    /// Fired to end the shell and everything it started.
    kill: CancellationToken,
    /// Fired once the shell has exited and the terminal is gone from the registry.
    ended: CancellationToken,
}

/// One viewer's attachment to one terminal.
#[derive(Debug)]
pub struct TerminalViewer {
    terminal: Arc<Terminal>,
    id: u64,
    pump: JoinHandle<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Terminals {
    pub fn new(config: TerminalConfig, activity: Arc<Activity>) -> Arc<Terminals> {
        Arc::new(Terminals {
            config,
            activity,
            registry: Mutex::new(Registry::default()),
        })
    }

    /// Attaches a viewer to terminal `name`, starting its shell if it is not running. The viewer is sent SIZE and
    /// SNAPSHOT, then OUTPUT as it comes, on `sink`.
    pub async fn attach(
        self: &Arc<Self>,
        name: &str,
        size: TerminalSize,
        sink: ChannelSink,
    ) -> Result<TerminalViewer, Error> {
        if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(Error::malformed(format!(
                "a terminal name is 1 to {MAX_NAME} bytes without control characters"
            )));
        }
        let (terminal, id) = {
            let mut registry = lock(&self.registry);
            if registry.shut_down {
                return Err(Error::internal("the local hub is shutting down"));
            }
            let running = registry
                .terminals
                .get(name)
                .filter(|terminal| !terminal.ended.is_cancelled())
                .cloned();
            let terminal = match running {
                Some(terminal) => terminal,
                None => {
                    let initial = stream::preference(size).unwrap_or(DEFAULT_SIZE);
                    let terminal = self.start(name, initial)?;
                    registry
                        .terminals
                        .insert(name.to_string(), terminal.clone());
                    terminal
                }
            };
            registry.next_viewer += 1;
            (terminal, registry.next_viewer)
        };
        let wake = terminal.stream.add_viewer(id, size);
        let pump = tokio::spawn(stream::pump(terminal.stream.clone(), id, sink, wake));
        Ok(TerminalViewer { terminal, id, pump })
    }

    /// Starts a shell for terminal `name` and the tasks that serve it.
    fn start(self: &Arc<Self>, name: &str, size: TerminalSize) -> Result<Arc<Terminal>, Error> {
        let spawned = process::spawn(&self.config.shell, &self.config.cwd, size)?;
        let (stream, pty_size) = Stream::new(size);
        let stream = Arc::new(stream);
        let (input, keystrokes) = mpsc::channel(INPUT_QUEUE);
        let terminal = Arc::new(Terminal {
            name: name.to_string(),
            stream: stream.clone(),
            input,
            kill: CancellationToken::new(),
            ended: CancellationToken::new(),
        });
        let reader = tokio::spawn(process::read_output(
            spawned.reader,
            stream,
            self.activity.clone(),
        ));
        let writer = tokio::spawn(process::write_input(spawned.writer, keystrokes, pty_size));
        tokio::spawn(supervise(
            self.clone(),
            terminal.clone(),
            spawned.child,
            spawned.session,
            reader,
            writer,
        ));
        tracing::info!(name, session = spawned.session, "terminal started");
        Ok(terminal)
    }

    /// Ends every terminal: SIGHUP to each one's processes, SIGKILL to what is left after a grace period.
    pub async fn shutdown(&self) {
        let terminals: Vec<Arc<Terminal>> = {
            let mut registry = lock(&self.registry);
            registry.shut_down = true;
            registry.terminals.values().cloned().collect()
        };
        for terminal in &terminals {
            terminal.kill.cancel();
        }
        let all_ended = async {
            for terminal in &terminals {
                terminal.ended.cancelled().await;
            }
        };
        if tokio::time::timeout(KILL_GRACE * 3, all_ended)
            .await
            .is_err()
        {
            tracing::warn!("some terminals did not end after SIGKILL");
        }
    }

    /// The terminal's shell has exited: forget it, so that the next attach to its name starts a new one.
    fn forget(&self, terminal: &Arc<Terminal>) {
        let mut registry = lock(&self.registry);
        if registry
            .terminals
            .get(&terminal.name)
            .is_some_and(|registered| Arc::ptr_eq(registered, terminal))
        {
            registry.terminals.remove(&terminal.name);
        }
    }
}

/// Watches one terminal's shell: ends it when asked or when it has been idle too long, and when it exits, tells the
/// viewers and forgets the terminal.
async fn supervise(
    terminals: Arc<Terminals>,
    terminal: Arc<Terminal>,
    mut child: tokio::process::Child,
    session: i32,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
) {
    let idle_cull = terminals.config.idle_cull;
    let check_every = (idle_cull / 2).clamp(Duration::from_millis(10), Duration::from_secs(30));
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            () = terminal.kill.cancelled() => break end_session(&mut child, session).await,
            () = tokio::time::sleep(check_every), if !idle_cull.is_zero() => {
                if terminal.stream.unwatched_for().is_some_and(|idle| idle >= idle_cull) {
                    tracing::info!(name = terminal.name, "terminal idle: ending it");
                    terminal.kill.cancel();
                }
            }
        }
    };
    // What the shell printed last is still in the PTY; a job it left behind may keep the PTY open, so not for long.
    let mut reader = reader;
    if tokio::time::timeout(DRAIN, &mut reader).await.is_err() {
        reader.abort();
    }
    writer.abort();
    let code = status.ok().and_then(|status| status.code());
    tracing::info!(name = terminal.name, ?code, "terminal ended");
    terminals.forget(&terminal);
    terminal.stream.exited(Exited { code });
    terminal.ended.cancel();
}

/// SIGHUP to every process of the session; SIGKILL to whatever is left of it after [`KILL_GRACE`] (a shell that
/// traps SIGHUP, a job started with `nohup`). Returns the shell's exit status.
async fn end_session(
    child: &mut tokio::process::Child,
    session: i32,
) -> std::io::Result<std::process::ExitStatus> {
    process::signal_session(session, Signal::SIGHUP);
    let grace_end = tokio::time::Instant::now() + KILL_GRACE;
    let status = tokio::time::timeout_at(grace_end, child.wait()).await;
    while process::session_alive(session) && tokio::time::Instant::now() < grace_end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if process::session_alive(session) {
        process::signal_session(session, Signal::SIGKILL);
    }
    match status {
        Ok(status) => status,
        Err(_) => child.wait().await,
    }
}

/// The LEB128 number an ACK carries, alone.
fn ack_bytes(body: &[u8]) -> Option<u64> {
    match protocol::read_varint(body)? {
        (value, []) => Some(value),
        _ => None,
    }
}

impl TerminalViewer {
    /// Handles a frame from this viewer: keystrokes, its size, returned credit, or a request to kill the terminal.
    pub async fn handle(&mut self, frame: &Frame) -> Result<(), Error> {
        match frame.kind {
            kind::INPUT => {
                if frame.body.is_empty() || self.terminal.ended.is_cancelled() {
                    return Ok(());
                }
                self.terminal
                    .input
                    .try_send(frame.body.clone())
                    .map_err(|error| match error {
                        mpsc::error::TrySendError::Full(_) => Error::new(
                            ErrorCode::Refused,
                            "the terminal is not reading its input; keystrokes dropped",
                        ),
                        // The shell is exiting; the viewer is about to hear so.
                        mpsc::error::TrySendError::Closed(_) => {
                            Error::new(ErrorCode::Refused, "the terminal has ended")
                        }
                    })
            }
            kind::RESIZE => {
                let size: TerminalSize = frame.parse()?;
                self.terminal.stream.resize_viewer(self.id, size);
                Ok(())
            }
            kind::ACK => {
                let bytes = ack_bytes(&frame.body)
                    .ok_or_else(|| Error::malformed("an ACK carries one LEB128 number"))?;
                self.terminal.stream.ack(self.id, bytes);
                Ok(())
            }
            kind::KILL => {
                self.terminal.kill.cancel();
                Ok(())
            }
            other => Err(Error::new(
                ErrorCode::UnknownChannel,
                format!(
                    "frame kind 0x{other:02x} is not for a terminal (INPUT, RESIZE, ACK or KILL)"
                ),
            )),
        }
    }

    /// Detaches this viewer; the terminal keeps running.
    pub async fn detach(self) {
        // Drop does the work, so a viewer dropped without detaching is detached too.
    }
}

impl Drop for TerminalViewer {
    fn drop(&mut self) {
        self.pump.abort();
        self.terminal.stream.remove_viewer(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_are_one_leb128_number() {
        assert_eq!(ack_bytes(&[0x00]), Some(0));
        assert_eq!(ack_bytes(&[0x80, 0x80, 0x10]), Some(256 << 10));
        assert_eq!(ack_bytes(&[]), None);
        assert_eq!(ack_bytes(&[0x80]), None);
        assert_eq!(ack_bytes(&[0x01, 0x02]), None);
    }
}
