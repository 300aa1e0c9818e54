//! One browser socket's connection to one project's local hub: a Unix socket speaking the local hub protocol.
//!
//! The write half stays with the browser session, which writes browser frames with their length prefix put back on.
//! A reader task relays every frame the local hub sends to the browser's outgoing queue, unchanged, and keeps the
//! session's channel table right when the local hub closes a channel; when the local hub goes away it tells the session.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::Message;
use orrery_local_hub::protocol::{self, kind, Close, Frame, Hello, Welcome, MAX_FRAME};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// Which project each open channel of a browser socket belongs to; shared by the session and its reader tasks.
pub(crate) type Channels = Arc<Mutex<HashMap<u32, Arc<str>>>>;

/// The session hears of a local hub that went away through this.
#[derive(Debug)]
pub(crate) struct Ended {
    pub project: Arc<str>,
    pub generation: u64,
}

/// A live connection to a local hub.
#[derive(Debug)]
pub(crate) struct Upstream {
    writer: OwnedWriteHalf,
    reader: JoinHandle<()>,
    pub generation: u64,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// What a reader task needs from its session.
pub(crate) struct Relay {
    pub project: Arc<str>,
    pub generation: u64,
    pub channels: Channels,
    pub out: mpsc::Sender<Message>,
    pub ended: mpsc::UnboundedSender<Ended>,
    pub state: AppState,
}

impl Upstream {
    /// Connects to the local hub at `socket`, says Hello as `hello`, and starts relaying what it sends.
    pub(crate) async fn connect(
        socket: &Path,
        hello: &Hello,
        relay: Relay,
    ) -> Result<Upstream, String> {
        let handshake = async {
            let stream = UnixStream::connect(socket)
                .await
                .map_err(|error| format!("cannot reach the project's server: {error}"))?;
            let (reader, mut writer) = stream.into_split();
            let mut reader = BufReader::with_capacity(64 * 1024, reader);
            writer
                .write_all(&Frame::json(protocol::CONTROL, kind::HELLO, hello).encode())
                .await
                .map_err(|error| format!("cannot greet the project's server: {error}"))?;
            let welcome = read_frame(&mut reader)
                .await
                .map_err(|error| format!("the project's server did not answer: {error}"))?
                .ok_or("the project's server closed the connection")?;
            let frame = Frame::decode(&welcome)
                .map_err(|error| format!("the project's server: {error}"))?;
            if frame.kind != kind::WELCOME || frame.parse::<Welcome>().is_err() {
                return Err(format!(
                    "the project's server refused: {}",
                    String::from_utf8_lossy(&frame.body)
                ));
            }
            Ok((reader, writer))
        };
        let (reader, writer) = tokio::time::timeout(Duration::from_secs(10), handshake)
            .await
            .map_err(|_| "the project's server did not answer within 10 s".to_string())??;
        let generation = relay.generation;
        let reader = tokio::spawn(relay_from(reader, relay));
        Ok(Upstream {
            writer,
            reader,
            generation,
        })
    }

    /// Writes one browser frame (channel + kind + body) to the local hub.
    pub(crate) async fn send(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(frame.len() + 4);
        bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        bytes.extend_from_slice(frame);
        self.writer.write_all(&bytes).await
    }
}

/// Reads one frame after its length prefix; `None` at a clean end of stream.
async fn read_frame(reader: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 4];
    match reader.read_exact(&mut length).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let length = u32::from_le_bytes(length) as usize;
    if length == 0 || length > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {length} bytes from the local hub"),
        ));
    }
    let mut frame = vec![0u8; length];
    reader.read_exact(&mut frame).await?;
    Ok(Some(frame))
}

/// Relays the local hub's frames to the browser until either side goes away.
async fn relay_from(mut reader: BufReader<OwnedReadHalf>, relay: Relay) {
    loop {
        let frame = match read_frame(&mut reader).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => {
                tracing::warn!(project = %relay.project, %error, "local hub connection failed");
                break;
            }
        };
        let Some((channel, rest)) = protocol::read_varint(&frame) else {
            break;
        };
        let frame_kind = rest.first().copied().unwrap_or(0);
        let body = rest.get(1..).unwrap_or_default();
        if channel == u64::from(protocol::CONTROL) && frame_kind == kind::CLOSE {
            if let Ok(close) = serde_json::from_slice::<Close>(body) {
                let mut channels = relay
                    .channels
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if channels.get(&close.channel) == Some(&relay.project) {
                    channels.remove(&close.channel);
                    relay.state.metrics.channel_closed();
                }
            }
        }
        relay
            .state
            .metrics
            .relayed_to_browser(frame_kind, body, frame.len());
        if relay
            .out
            .send(Message::Binary(Bytes::from(frame)))
            .await
            .is_err()
        {
            return;
        }
    }
    let _ = relay.ended.send(Ended {
        project: relay.project,
        generation: relay.generation,
    });
}
