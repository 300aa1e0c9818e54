//! The operating-system side of one terminal: starting the shell on a new PTY, reading its output in coalesced
//! chunks, writing keystrokes and sizes to it, and signalling every process of its session.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{getsid, getuid, Pid, User};
use pty_process::{OwnedReadPty, OwnedWritePty};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::process::Child;
use tokio::sync::{mpsc, watch};

use super::stream::Stream;
use crate::protocol::{ErrorCode, TerminalSize};
use crate::{Activity, Error};

/// The largest chunk read from a PTY and sent on as one frame.
pub(crate) const CHUNK: usize = 64 << 10;
/// How long a stream of output is gathered into one chunk.
const COALESCE: Duration = Duration::from_millis(4);
/// A read this large means output is streaming (a PTY hands over at most about 4 KiB at a time): worth waiting a
/// moment for more. Smaller reads, a keystroke's echo, go out at once.
const STREAMING: usize = 2048;

/// A shell running on a fresh PTY.
pub(crate) struct Spawned {
    pub child: Child,
    /// The shell's pid, which is also its session and process group id.
    pub session: i32,
    pub reader: OwnedReadPty,
    pub writer: OwnedWritePty,
}

fn pty_error(what: &str, error: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Internal, format!("{what}: {error}"))
}

/// How a terminal's shell starts.
pub(crate) struct Launch<'a> {
    pub shell: &'a Path,
    pub cwd: &'a Path,
    pub size: TerminalSize,
    /// `name@project`, already reduced to letters, digits and dashes (`prompt.rs`).
    pub prompt: &'a str,
    /// Bash's rc file that sets the prompt, when it could be written.
    pub bashrc: Option<&'a Path>,
}

/// Starts the shell on a new PTY, as the leader of a new session with the PTY as its terminal.
pub(crate) fn spawn(launch: &Launch<'_>) -> Result<Spawned, Error> {
    let Launch {
        shell,
        cwd,
        size,
        prompt,
        bashrc,
    } = *launch;
    let (pty, pts) = pty_process::open().map_err(|error| pty_error("opening a PTY", error))?;
    pty.resize(pty_process::Size::new(size.rows, size.cols))
        .map_err(|error| pty_error("sizing the PTY", error))?;
    let mut command = pty_process::Command::new(shell);
    match bashrc {
        Some(bashrc) if super::prompt::is_bash(shell) => {
            command = command.arg("--rcfile").arg(bashrc);
        }
        // A shell that reads no rc file of ours takes the prompt as it is (the value holds no expansions).
        _ => command = command.env("PS1", format!("{prompt}$ ")),
    }
    let mut command = command
        .current_dir(cwd)
        .env("TERM", "xterm-256color")
        .env("COLORTERM", "truecolor")
        .env("SHELL", shell)
        .env("ORRERY_PROMPT", prompt);
    // Who the shell runs as, not whoever started the hub (it may have dropped from root to the project's user).
    if let Ok(Some(user)) = User::from_uid(getuid()) {
        command = command
            .env("HOME", &user.dir)
            .env("USER", &user.name)
            .env("LOGNAME", &user.name);
    }
    let child = command
        .spawn(pts)
        .map_err(|error| pty_error(&format!("starting {}", shell.display()), error))?;
    let session = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .ok_or_else(|| Error::internal("the shell exited as it started"))?;
    let (reader, writer) = pty.into_split();
    Ok(Spawned {
        child,
        session,
        reader,
        writer,
    })
}

/// Reads output until the PTY closes, handing it to `stream` in chunks of up to [`CHUNK`] bytes, whenever the stream
/// has room. Output that streams is gathered for up to [`COALESCE`] into one chunk; a lone small read (an echo) is
/// delivered at once.
pub(crate) async fn read_output(
    mut reader: OwnedReadPty,
    stream: Arc<Stream>,
    activity: Arc<Activity>,
) {
    let mut buffer = vec![0u8; CHUNK];
    loop {
        stream.room().await;
        let mut len = match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        let mut closed = false;
        // One timer for the whole chunk: arming one per read would cost more than the reads.
        let coalesced = tokio::time::sleep(COALESCE);
        tokio::pin!(coalesced);
        while len < buffer.len() {
            // Once streaming, wait out the rest of the coalescing time; otherwise take only what is already there
            // (without a timer: tokio's have a millisecond's granularity, which would delay every echo).
            let read = if len >= STREAMING {
                tokio::select! {
                    biased;
                    read = reader.read(&mut buffer[len..]) => Some(read),
                    () = &mut coalesced => None,
                }
            } else {
                read_now(&mut reader, &mut buffer[len..]).await
            };
            match read {
                Some(Ok(0)) | Some(Err(_)) => {
                    closed = true;
                    break;
                }
                Some(Ok(read)) => len += read,
                None => break,
            }
        }
        activity.touch();
        stream.output(&buffer[..len]);
        if closed {
            return;
        }
    }
}

/// A read that returns at once: `None` when nothing is ready.
async fn read_now(reader: &mut OwnedReadPty, buffer: &mut [u8]) -> Option<std::io::Result<usize>> {
    std::future::poll_fn(|context| {
        let mut buffer = ReadBuf::new(buffer);
        match Pin::new(&mut *reader).poll_read(context, &mut buffer) {
            Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(buffer.filled().len()))),
            Poll::Ready(Err(error)) => Poll::Ready(Some(Err(error))),
            Poll::Pending => Poll::Ready(None),
        }
    })
    .await
}

/// Writes keystrokes to the PTY in order and applies size changes, until both senders are gone.
pub(crate) async fn write_input(
    mut writer: OwnedWritePty,
    mut input: mpsc::Receiver<Vec<u8>>,
    mut size: watch::Receiver<TerminalSize>,
) {
    loop {
        tokio::select! {
            keys = input.recv() => match keys {
                Some(bytes) => {
                    if writer.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            changed = size.changed() => {
                if changed.is_err() {
                    return;
                }
                let size = *size.borrow_and_update();
                if let Err(error) = writer.resize(pty_process::Size::new(size.rows, size.cols)) {
                    tracing::warn!(%error, "resizing a PTY failed");
                }
            }
        }
    }
}

/// Every process of the terminal's session: the shell, and the jobs it started in process groups of their own.
fn session_members(session: i32) -> Vec<Pid> {
    let leader = Pid::from_raw(session);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .filter(|pid| getsid(Some(*pid)) == Ok(leader))
        .collect()
}

/// True while any process of the session is left.
pub(crate) fn session_alive(session: i32) -> bool {
    !session_members(session).is_empty()
}

/// Sends `signal` to every process of the terminal's session.
pub(crate) fn signal_session(session: i32, signal: Signal) {
    let _ = killpg(Pid::from_raw(session), signal);
    for pid in session_members(session) {
        let _ = kill(pid, signal);
    }
}
