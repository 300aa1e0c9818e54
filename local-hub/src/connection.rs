//! The listener and one task per connection: frames in, dispatch to the channel's service, frames out.
//!
//! A connection starts with a Hello; then the client opens channels on channel 0 and talks on them. A bad frame
//! (too large, malformed, for an unknown channel) gets an Error frame and changes nothing; the connection stays up.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::document::{DocumentChannel, Documents, Peer};
use crate::files::FileChannel;
use crate::presence::Presence;
use crate::project::ProjectChannel;
use crate::protocol::{
    self, kind, Close, ErrorCode, Frame, Hello, Open, Opened, Service, Someone, Welcome,
};
use crate::terminal::{self, Attach, TerminalConfig, TerminalViewer, Terminals};
use crate::{Activity, ChannelSink, Config, Error};

/// Frames a connection may have queued for writing before senders wait (each terminal viewer sends from its own task,
/// so a full queue never blocks this connection's reading or other viewers).
const OUTGOING_QUEUE: usize = 256;
/// A frame over the limit is skipped if it is at most this large; anything larger closes the connection.
const MAX_SKIP: usize = 64 << 20;

/// What every connection shares.
struct Shared {
    root: PathBuf,
    documents: Arc<Documents>,
    terminals: Arc<Terminals>,
    presence: Arc<Presence>,
    activity: Arc<Activity>,
    next_connection: AtomicU64,
}

/// Who is behind one connection, as its Hello said.
struct Caller {
    peer: Peer,
    someone: Someone,
    /// The prompt of the terminals it starts.
    prompt: String,
}

/// One open channel of a connection.
enum ChannelState {
    /// A document and its path as the client named it.
    Document(DocumentChannel, String),
    Terminal(TerminalViewer),
    Files(FileChannel),
    Project(ProjectChannel),
}

/// The inode of the socket file at `path`, to tell our socket from a successor's.
fn socket_inode(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|metadata| metadata.ino())
}

pub async fn serve(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let root = config
        .project
        .canonicalize()
        .map_err(|error| Error::io("project directory", &error))?;
    if config.socket.exists() {
        // A socket left by a hub that died; if another hub were alive, the host would not have started us.
        let _ = std::fs::remove_file(&config.socket);
    }
    let listener =
        UnixListener::bind(&config.socket).map_err(|error| Error::io("socket", &error))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&config.socket, std::fs::Permissions::from_mode(0o600));
    }
    let bound = socket_inode(&config.socket);
    let activity = Arc::new(Activity::default());
    let terminals = Terminals::new(
        TerminalConfig {
            shell: shell(&config),
            cwd: root.clone(),
            idle_cull: config.terminal_idle_cull,
            state_dir: root.join(".orrery"),
        },
        activity.clone(),
    );
    let documents = Documents::start(root.clone(), &config, shutdown.clone())?;
    let shared = Arc::new(Shared {
        root,
        documents,
        terminals,
        presence: Arc::new(Presence::default()),
        activity,
        next_connection: AtomicU64::new(1),
    });
    info!(project = %shared.root.display(), socket = %config.socket.display(), "local hub serving");

    let connections = TaskTracker::new();
    let closing = shutdown.child_token();
    let mut idle_check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = idle_check.tick() => {
                if !config.idle_timeout.is_zero() && shared.activity.idle_for() >= config.idle_timeout {
                    info!(idle = ?config.idle_timeout, "no clients and no terminal output: stopping");
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    let token = closing.clone();
                    connections.spawn(async move { connection(shared, stream, token).await });
                }
                Err(error) => warn!(%error, "accept failed"),
            },
        }
    }
    drop(listener);
    // Only our own socket: a successor may already be listening at the same path while this hub finishes saving.
    if bound.is_some() && socket_inode(&config.socket) == bound {
        let _ = std::fs::remove_file(&config.socket);
    }
    closing.cancel();
    connections.close();
    let finished = async {
        connections.wait().await;
        shared.documents.shutdown().await;
        shared.terminals.shutdown().await;
    };
    if tokio::time::timeout(config.shutdown_deadline, finished)
        .await
        .is_err()
    {
        warn!(deadline = ?config.shutdown_deadline, "shutdown deadline passed; abandoning what is left");
    }
    info!("local hub stopped");
    Ok(())
}

/// The shell terminals run: configured, else the user's login shell, else bash, else sh.
fn shell(config: &Config) -> PathBuf {
    if let Some(shell) = &config.shell {
        return shell.clone();
    }
    let login = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|user| user.shell);
    [login, Some(PathBuf::from("/bin/bash"))]
        .into_iter()
        .flatten()
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("/bin/sh"))
}

/// Reads one frame; `Ok(None)` at a clean end of stream. A frame over the limit is skipped and reported as `Err`.
async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<Result<Frame, Error>>> {
    let mut length = [0u8; 4];
    match reader.read_exact(&mut length).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let length = u32::from_le_bytes(length) as usize;
    if length > protocol::MAX_FRAME {
        if length > MAX_SKIP {
            return Err(std::io::Error::other(format!(
                "frame of {length} bytes: closing the connection"
            )));
        }
        let skipped =
            tokio::io::copy(&mut reader.take(length as u64), &mut tokio::io::sink()).await?;
        if skipped < length as u64 {
            return Ok(None);
        }
        let error = protocol::ProtocolError::TooLarge {
            size: length,
            limit: protocol::MAX_FRAME,
        };
        return Ok(Some(Err(error.into())));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    Ok(Some(Frame::decode(&body).map_err(Error::from)))
}

async fn connection(shared: Arc<Shared>, stream: UnixStream, closing: CancellationToken) {
    let (mut reader, writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Frame>(OUTGOING_QUEUE);
    let writing = tokio::spawn(async move {
        let mut writer = BufWriter::with_capacity(256 << 10, writer);
        while let Some(frame) = rx.recv().await {
            if writer.write_all(&frame.encode()).await.is_err() {
                return;
            }
            // Batch what is already queued into one write; flush when the queue runs dry.
            if rx.is_empty() && writer.flush().await.is_err() {
                return;
            }
        }
        let _ = writer.flush().await;
    });

    // The Hello.
    let hello = tokio::select! {
        () = closing.cancelled() => None,
        frame = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut reader)) => match frame {
            Ok(Ok(Some(Ok(frame)))) if frame.channel == protocol::CONTROL && frame.kind == kind::HELLO => {
                match frame.parse::<Hello>() {
                    Ok(hello) if hello.version == protocol::VERSION => Some(hello),
                    Ok(hello) => {
                        let message = format!("this local hub speaks protocol {}, not {}", protocol::VERSION, hello.version);
                        let _ = tx.send(Frame::error(0, ErrorCode::Version, message)).await;
                        None
                    }
                    Err(error) => {
                        let _ = tx.send(Error::from(error).frame(0)).await;
                        None
                    }
                }
            }
            _ => {
                let _ = tx.send(Frame::error(0, ErrorCode::Version, "the first frame must be a Hello on channel 0")).await;
                None
            }
        },
    };
    let Some(hello) = hello else {
        drop(tx);
        let _ = writing.await;
        return;
    };
    let connection = shared.next_connection.fetch_add(1, Ordering::SeqCst);
    let peer = Peer {
        connection,
        name: limit_text(&hello.name, 100),
        color: limit_text(&hello.color, 40),
    };
    let caller = Caller {
        someone: Someone {
            user: limit_text(&hello.user, 100),
            name: peer.name.clone(),
            color: peer.color.clone(),
        },
        prompt: terminal::prompt(&hello.name, &hello.project),
        peer,
    };
    shared.presence.joined(connection, caller.someone.clone());
    shared.activity.connected();
    let _ = tx
        .send(Frame::json(
            0,
            kind::WELCOME,
            &Welcome {
                version: protocol::VERSION,
                connection,
            },
        ))
        .await;

    let mut channels: HashMap<u32, ChannelState> = HashMap::new();
    loop {
        let frame = tokio::select! {
            () = closing.cancelled() => break,
            frame = read_frame(&mut reader) => frame,
        };
        let frame = match frame {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(error))) => {
                let _ = tx.send(error.frame(0)).await;
                continue;
            }
            Ok(None) => break,
            Err(error) => {
                warn!(connection, %error, "connection failed");
                break;
            }
        };
        if frame.channel == protocol::CONTROL {
            control(&shared, &caller, &tx, &mut channels, frame).await;
            continue;
        }
        let channel = frame.channel;
        let result = match channels.get_mut(&channel) {
            Some(ChannelState::Document(document, _)) => document.handle(&frame).await,
            Some(ChannelState::Terminal(viewer)) => viewer.handle(&frame).await,
            Some(ChannelState::Files(files)) => files.handle(&frame).await,
            Some(ChannelState::Project(project)) => project.handle(&frame).await,
            None => Err(Error::new(
                ErrorCode::UnknownChannel,
                format!("channel {channel} is not open"),
            )),
        };
        if let Err(error) = result {
            let _ = tx.send(error.frame(channel)).await;
        }
    }
    for (_, state) in channels.drain() {
        close_channel(&shared, connection, state).await;
    }
    shared.presence.left(connection);
    shared.activity.disconnected();
    drop(tx);
    let _ = writing.await;
}

async fn control(
    shared: &Arc<Shared>,
    caller: &Caller,
    tx: &mpsc::Sender<Frame>,
    channels: &mut HashMap<u32, ChannelState>,
    frame: Frame,
) {
    match frame.kind {
        kind::OPEN => {
            let open = match frame.parse::<Open>() {
                Ok(open) => open,
                Err(error) => {
                    let _ = tx.send(Error::from(error).frame(0)).await;
                    return;
                }
            };
            let channel = open.channel;
            if channel == protocol::CONTROL || channels.contains_key(&channel) {
                let message = format!("channel {channel} is already open");
                let _ = tx
                    .send(Frame::error(0, ErrorCode::ChannelInUse, message))
                    .await;
                return;
            }
            let connection = caller.peer.connection;
            let sink = ChannelSink::new(connection, channel, tx.clone());
            let opened = match open.service {
                Service::Document { path, client } => {
                    match shared
                        .documents
                        .open(&path, client, sink, caller.peer.clone())
                        .await
                    {
                        Ok((document, status)) => {
                            let opened = Opened {
                                channel,
                                read_only: status.read_only,
                                missing: status.missing,
                            };
                            let _ = tx.send(Frame::json(0, kind::OPENED, &opened)).await;
                            document.start().await;
                            shared.presence.opened(connection, Some(&path));
                            Ok(ChannelState::Document(document, path))
                        }
                        Err(error) => Err(error),
                    }
                }
                Service::Terminal { name, size, resume } => {
                    let _ = tx
                        .send(Frame::json(
                            0,
                            kind::OPENED,
                            &Opened {
                                channel,
                                read_only: false,
                                missing: false,
                            },
                        ))
                        .await;
                    let request = Attach {
                        name: &limit_text(&name, 200),
                        size,
                        resume: resume.as_deref(),
                        who: caller.someone.clone(),
                        prompt: &caller.prompt,
                    };
                    match shared.terminals.attach(request, sink).await {
                        Ok(viewer) => {
                            shared.presence.opened(connection, None);
                            Ok(ChannelState::Terminal(viewer))
                        }
                        Err(error) => {
                            let close = Close {
                                channel,
                                reason: Some(error.message.clone()),
                            };
                            let _ = tx.send(error.frame(channel)).await;
                            let _ = tx.send(Frame::json(0, kind::CLOSE, &close)).await;
                            return;
                        }
                    }
                }
                Service::Files => {
                    let _ = tx
                        .send(Frame::json(
                            0,
                            kind::OPENED,
                            &Opened {
                                channel,
                                read_only: false,
                                missing: false,
                            },
                        ))
                        .await;
                    Ok(ChannelState::Files(FileChannel::new(
                        shared.root.clone(),
                        sink,
                    )))
                }
                Service::Project => {
                    let _ = tx
                        .send(Frame::json(
                            0,
                            kind::OPENED,
                            &Opened {
                                channel,
                                read_only: false,
                                missing: false,
                            },
                        ))
                        .await;
                    shared.presence.opened(connection, None);
                    Ok(ChannelState::Project(ProjectChannel::open(
                        shared.presence.clone(),
                        shared.terminals.clone(),
                        sink,
                    )))
                }
            };
            match opened {
                Ok(state) => {
                    channels.insert(channel, state);
                }
                Err(error) => {
                    // The error goes on the channel the client asked for, then a Close says it never opened.
                    let close = Close {
                        channel,
                        reason: Some(error.message.clone()),
                    };
                    let _ = tx.send(error.frame(channel)).await;
                    let _ = tx.send(Frame::json(0, kind::CLOSE, &close)).await;
                }
            }
        }
        kind::CLOSE => match frame.parse::<Close>() {
            Ok(close) => {
                if let Some(state) = channels.remove(&close.channel) {
                    close_channel(shared, caller.peer.connection, state).await;
                }
            }
            Err(error) => {
                let _ = tx.send(Error::from(error).frame(0)).await;
            }
        },
        other => {
            let message = format!("frame kind 0x{other:02x} is not a control message");
            let _ = tx
                .send(Frame::error(0, ErrorCode::UnknownChannel, message))
                .await;
        }
    }
}

async fn close_channel(shared: &Shared, connection: u64, state: ChannelState) {
    match state {
        ChannelState::Document(document, path) => {
            document.close().await;
            shared.presence.closed(connection, Some(&path));
        }
        ChannelState::Terminal(viewer) => {
            viewer.detach().await;
            shared.presence.closed(connection, None);
        }
        ChannelState::Files(files) => files.close().await,
        ChannelState::Project(project) => {
            drop(project);
            shared.presence.closed(connection, None);
        }
    }
}

/// Client-supplied labels are shown to other collaborators: keep them short.
fn limit_text(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}
