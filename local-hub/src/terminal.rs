//! Shared terminals: one PTY running the user's shell per terminal name, shared by every viewer that opens the name,
//! alive with no viewer until it is killed, idle-culled, or its shell exits.
//!
//! A viewer that attaches is sent the PTY size and a snapshot of the screen and scrollback from a server-side
//! emulator (`terminal/screen.rs`), then live output. Each viewer has its own credit window and its own pump task
//! (`terminal/stream.rs`): the PTY is read at the pace of the fastest viewer (or freely, with none, or when all of
//! them have stalled for a second), and a viewer slower than that falls behind without slowing anyone and is sent a
//! fresh snapshot when it catches up. ACKs return credit for OUTPUT and SNAPSHOT bytes alike. The PTY size is the
//! smallest of the viewers'. `terminal/process.rs` owns the PTY, the shell and its signals, `terminal/prompt.rs` the
//! prompt.
//!
//! Every shell has an instance id, unique across restarts of the local hub (`<boot>-<n>`); a viewer is told it on
//! attach (ATTACHED) and gives it back when it reattaches, so a viewer coming back to a shell that is gone (the local
//! hub restarted, the shell exited, someone ended it) is told so and why, instead of silently finding a fresh shell.
//! The registry is live: [`Terminals::subscribe`] wakes on every start, end, and viewer coming or going.

mod process;
mod prompt;
mod screen;
mod stream;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::protocol::{
    self, kind, Attached, ErrorCode, Exited, Frame, Someone, TerminalEnd, TerminalInfo,
    TerminalSize,
};
use crate::{Activity, ChannelSink, Error};
use stream::Stream;

pub(crate) use prompt::prompt;

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
/// The longest instance id a viewer may ask to resume.
const MAX_INSTANCE: usize = 64;
/// How many ended shells are remembered, to tell returning viewers why theirs is gone.
const REMEMBERED_ENDS: usize = 1024;

/// How terminals are started.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// The program every terminal runs.
    pub shell: PathBuf,
    /// Where it starts: the project directory.
    pub cwd: PathBuf,
    /// End a terminal after this long with no viewer and no output; zero: never.
    pub idle_cull: Duration,
    /// Where the local hub keeps its own files in the project (`.orrery/`): bash's rc file goes there.
    pub state_dir: PathBuf,
}

/// Every terminal of the project, by name.
#[derive(Debug)]
pub struct Terminals {
    config: TerminalConfig,
    activity: Arc<Activity>,
    registry: Mutex<Registry>,
    /// This run of the local hub, the first part of every instance id.
    boot: String,
    /// Bash's rc file (`prompt.rs`), once written.
    bashrc: std::sync::OnceLock<Option<PathBuf>>,
    /// Bumped whenever a terminal starts or ends or a viewer comes or goes.
    changes: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Registry {
    terminals: HashMap<String, Arc<Terminal>>,
    next_viewer: u64,
    next_instance: u64,
    /// The shells that ended during this run, newest last: instance and why.
    ended: VecDeque<(String, TerminalEnd)>,
    shut_down: bool,
}

/// One running terminal.
#[derive(Debug)]
struct Terminal {
    name: String,
    instance: String,
    started_ms: u64,
    opened_by: Someone,
    /// Who watches it, by viewer id.
    viewers: Mutex<Vec<(u64, Someone)>>,
    /// Why it was asked to end (KILL, idle, shutdown); a shell that exits by itself leaves it empty.
    ending: Mutex<Option<TerminalEnd>>,
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
    terminals: Arc<Terminals>,
    terminal: Arc<Terminal>,
    id: u64,
    pump: JoinHandle<()>,
}

/// What a viewer asks for when it attaches.
#[derive(Debug)]
pub struct Attach<'a> {
    pub name: &'a str,
    pub size: TerminalSize,
    /// The instance it saw last, when it comes back to it.
    pub resume: Option<&'a str>,
    /// Who is attaching.
    pub who: Someone,
    /// The prompt a shell started for this viewer shows (`prompt::prompt`).
    pub prompt: &'a str,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

impl Registry {
    /// Why the shell `instance` is gone, as far as this run knows.
    fn why_gone(&self, instance: &str, boot: &str) -> TerminalEnd {
        let same_run = instance
            .rsplit_once('-')
            .is_some_and(|(run, _)| run == boot);
        if !same_run {
            return TerminalEnd::ServerRestarted;
        }
        self.ended
            .iter()
            .rev()
            .find(|(ended, _)| ended == instance)
            .map_or(TerminalEnd::Exited { code: None }, |(_, why)| *why)
    }
}

impl Terminals {
    pub fn new(config: TerminalConfig, activity: Arc<Activity>) -> Arc<Terminals> {
        let (changes, _) = watch::channel(0);
        Arc::new(Terminals {
            config,
            activity,
            registry: Mutex::new(Registry::default()),
            boot: format!("{:x}.{:x}", now_ms(), std::process::id()),
            bashrc: std::sync::OnceLock::new(),
            changes,
        })
    }

    /// Wakes on every change to [`Terminals::list`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|version| *version += 1);
    }

    /// The running terminals, oldest first.
    pub fn list(&self) -> Vec<TerminalInfo> {
        let mut terminals: Vec<TerminalInfo> = lock(&self.registry)
            .terminals
            .values()
            .filter(|terminal| !terminal.ended.is_cancelled())
            .map(|terminal| TerminalInfo {
                name: terminal.name.clone(),
                instance: terminal.instance.clone(),
                started_ms: terminal.started_ms,
                opened_by: terminal.opened_by.clone(),
                viewers: lock(&terminal.viewers)
                    .iter()
                    .map(|(_, who)| who.clone())
                    .collect(),
            })
            .collect();
        terminals.sort_by(|a, b| (a.started_ms, &a.name).cmp(&(b.started_ms, &b.name)));
        terminals
    }

    /// Attaches a viewer to a terminal, starting its shell if it is not running. The viewer is sent ATTACHED, SIZE
    /// and SNAPSHOT, then OUTPUT as it comes, on `sink`.
    pub async fn attach(
        self: &Arc<Self>,
        request: Attach<'_>,
        sink: ChannelSink,
    ) -> Result<TerminalViewer, Error> {
        let Attach {
            name,
            size,
            resume,
            who,
            prompt,
        } = request;
        if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(Error::malformed(format!(
                "a terminal name is 1 to {MAX_NAME} bytes without control characters"
            )));
        }
        if resume.is_some_and(|instance| instance.len() > MAX_INSTANCE) {
            return Err(Error::malformed(format!(
                "a terminal instance id is at most {MAX_INSTANCE} bytes"
            )));
        }
        let (terminal, id, restarted) = {
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
                    registry.next_instance += 1;
                    let instance = format!("{}-{}", self.boot, registry.next_instance);
                    let terminal = self.start(name, instance, initial, who.clone(), prompt)?;
                    registry
                        .terminals
                        .insert(name.to_string(), terminal.clone());
                    terminal
                }
            };
            let restarted = resume
                .filter(|instance| *instance != terminal.instance)
                .map(|instance| registry.why_gone(instance, &self.boot));
            registry.next_viewer += 1;
            (terminal, registry.next_viewer, restarted)
        };
        lock(&terminal.viewers).push((id, who));
        self.changed();
        let attached = Attached {
            instance: terminal.instance.clone(),
            started_ms: terminal.started_ms,
            restarted,
        };
        sink.json(kind::ATTACHED, &attached).await;
        let wake = terminal.stream.add_viewer(id, size);
        let pump = tokio::spawn(stream::pump(terminal.stream.clone(), id, sink, wake));
        Ok(TerminalViewer {
            terminals: self.clone(),
            terminal,
            id,
            pump,
        })
    }

    /// Starts a shell for terminal `name` and the tasks that serve it.
    fn start(
        self: &Arc<Self>,
        name: &str,
        instance: String,
        size: TerminalSize,
        opened_by: Someone,
        prompt: &str,
    ) -> Result<Arc<Terminal>, Error> {
        let bashrc = self
            .bashrc
            .get_or_init(|| prompt::write_bashrc(&self.config.state_dir));
        let spawned = process::spawn(&process::Launch {
            shell: &self.config.shell,
            cwd: &self.config.cwd,
            size,
            prompt,
            bashrc: bashrc.as_deref(),
        })?;
        let (stream, pty_size) = Stream::new(size);
        let stream = Arc::new(stream);
        let (input, keystrokes) = mpsc::channel(INPUT_QUEUE);
        let terminal = Arc::new(Terminal {
            name: name.to_string(),
            instance,
            started_ms: now_ms(),
            opened_by,
            viewers: Mutex::new(Vec::new()),
            ending: Mutex::new(None),
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
            terminal.end(TerminalEnd::ServerRestarted);
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

    /// The terminal's shell has exited: forget it, so that the next attach to its name starts a new one, and remember
    /// why, for viewers that come back to it.
    fn forget(&self, terminal: &Arc<Terminal>, why: TerminalEnd) {
        {
            let mut registry = lock(&self.registry);
            if registry
                .terminals
                .get(&terminal.name)
                .is_some_and(|registered| Arc::ptr_eq(registered, terminal))
            {
                registry.terminals.remove(&terminal.name);
            }
            if registry.ended.len() >= REMEMBERED_ENDS {
                registry.ended.pop_front();
            }
            registry.ended.push_back((terminal.instance.clone(), why));
        }
        self.changed();
    }
}

impl Terminal {
    /// Ends the shell and everything it started, remembering why (the first reason given wins).
    fn end(&self, why: TerminalEnd) {
        lock(&self.ending).get_or_insert(why);
        self.kill.cancel();
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
                    terminal.end(TerminalEnd::Idle);
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
    let why = lock(&terminal.ending)
        .take()
        .unwrap_or(TerminalEnd::Exited { code });
    terminals.forget(&terminal, why);
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
                self.terminal.end(TerminalEnd::Killed);
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
        lock(&self.terminal.viewers).retain(|(id, _)| *id != self.id);
        self.terminals.changed();
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
