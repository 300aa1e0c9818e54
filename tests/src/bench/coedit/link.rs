//! How a simulated editor reaches a document: a browser's WebSocket to the hub (`/ws`, browser protocol v1, see
//! `hub/src/browser.rs`), or, for the baseline, a connection straight to a local hub over its Unix socket. Both carry
//! the same frames (`varint channel` + `u8 kind` + body); the WebSocket drops the local hub's length prefix.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use orrery_local_hub::client::Connection;
use orrery_local_hub::protocol::{kind, Frame, Hello, Opened, Service, CONTROL};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, COOKIE};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The browser protocol version this client speaks.
const VERSION: u64 = 1;
/// Browser → hub on channel 0, empty: are you there? (`hub/src/browser.rs` `kind::PING`)
const PING: u8 = 0x07;
/// How long a channel open may take (the first one starts the project's local hub).
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// A WebSocket to the hub, signed in by cookie.
#[derive(Debug)]
pub struct BrowserSocket {
    socket: WebSocketStream<TcpStream>,
    /// How often the hub wants a PING, from its WELCOME.
    pub heartbeat: Duration,
}

/// A connection that carries frames to documents.
#[derive(Debug)]
pub enum Link {
    /// Through the hub, as a browser.
    Browser(Box<BrowserSocket>),
    /// Straight to a local hub.
    LocalHub(Connection),
}

impl BrowserSocket {
    /// Opens `/ws` on `hub` with the sign-in `cookie` and reads the WELCOME.
    pub async fn connect(hub: SocketAddr, cookie: &str) -> Result<BrowserSocket> {
        let stream = TcpStream::connect(hub)
            .await
            .with_context(|| format!("connecting to the hub at {hub}"))?;
        // A keystroke is one small message: it must leave at once, not wait for an acknowledgement (Nagle).
        stream.set_nodelay(true)?;
        let mut request = format!("ws://{hub}/ws").into_client_request()?;
        request
            .headers_mut()
            .insert(COOKIE, HeaderValue::from_str(cookie)?);
        // Small buffers: a thousand idle clients live in this process too.
        let config = WebSocketConfig::default()
            .read_buffer_size(16 << 10)
            .write_buffer_size(0);
        let (socket, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .context("the WebSocket upgrade of /ws")?;
        let mut browser = BrowserSocket {
            socket,
            heartbeat: Duration::from_secs(15),
        };
        let welcome = tokio::time::timeout(OPEN_TIMEOUT, browser.recv())
            .await
            .map_err(|_| anyhow!("no WELCOME within {OPEN_TIMEOUT:?}"))??
            .ok_or_else(|| anyhow!("the hub closed the socket before its WELCOME"))?;
        if welcome.channel != CONTROL || welcome.kind != kind::WELCOME {
            bail!("the first message is not a WELCOME: {welcome:?}");
        }
        let body: serde_json::Value = welcome.parse()?;
        if body["version"].as_u64() != Some(VERSION) {
            bail!("the hub speaks another version: {body}");
        }
        if let Some(ms) = body["heartbeat_ms"].as_u64() {
            browser.heartbeat = Duration::from_millis(ms.max(100));
        }
        Ok(browser)
    }

    pub async fn send(&mut self, frame: &Frame) -> Result<()> {
        let mut bytes = frame.encode();
        bytes.drain(..4);
        self.socket
            .send(Message::binary(bytes))
            .await
            .context("sending on the WebSocket")
    }

    /// The next frame, or `None` when the hub closed the socket. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<Frame>> {
        loop {
            match self.socket.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Binary(bytes))) => return Ok(Some(Frame::decode(&bytes)?)),
                // The library answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Text(text))) => bail!("the hub sent a text message: {text}"),
                Some(Err(error)) => return Err(error).context("reading the WebSocket"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

impl Link {
    pub async fn send(&mut self, frame: &Frame) -> Result<()> {
        match self {
            Link::Browser(socket) => socket.send(frame).await,
            Link::LocalHub(connection) => connection
                .send(frame)
                .await
                .map_err(|error| anyhow!("sending to the local hub: {error}")),
        }
    }

    /// The next frame, or `None` when the other end closed. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<Frame>> {
        match self {
            Link::Browser(socket) => socket.recv().await,
            Link::LocalHub(connection) => connection
                .recv()
                .await
                .map_err(|error| anyhow!("receiving from the local hub: {error}")),
        }
    }

    /// How often to tell the hub we are here; `None` when nobody asks.
    pub fn heartbeat(&self) -> Option<Duration> {
        match self {
            Link::Browser(socket) => Some(socket.heartbeat),
            Link::LocalHub(_) => None,
        }
    }

    pub async fn ping(&mut self) -> Result<()> {
        match self {
            Link::Browser(socket) => socket.send(&Frame::new(CONTROL, PING, Vec::new())).await,
            Link::LocalHub(_) => Ok(()),
        }
    }

    /// Connects to the local hub at `socket` as a client named `name`.
    pub async fn local_hub(socket: &Path, name: &str) -> Result<Link> {
        let hello = Hello {
            version: orrery_local_hub::protocol::VERSION,
            name: name.into(),
            color: "#859900".into(),
            ..Default::default()
        };
        let connection = Connection::connect(socket, hello)
            .await
            .map_err(|error| anyhow!("connecting to the local hub: {error}"))?;
        Ok(Link::LocalHub(connection))
    }

    /// Opens document `path` as sync client `client` on channel 1; returns the channel.
    pub async fn open_document(&mut self, project: &str, path: &str, client: u64) -> Result<u32> {
        let service = Service::Document {
            path: path.into(),
            client,
        };
        match self {
            Link::LocalHub(connection) => {
                let (channel, opened) = connection
                    .open(service)
                    .await
                    .map_err(|error| anyhow!("opening {path}: {error}"))?;
                if opened.read_only {
                    bail!("{path} opened read-only");
                }
                Ok(channel)
            }
            Link::Browser(socket) => {
                let channel = 1;
                let open = json!({
                    "channel": channel,
                    "project": project,
                    "service": "document",
                    "path": path,
                    "client": client,
                });
                socket
                    .send(&Frame::new(CONTROL, kind::OPEN, serde_json::to_vec(&open)?))
                    .await?;
                let deadline = tokio::time::Instant::now() + OPEN_TIMEOUT;
                loop {
                    let frame = tokio::time::timeout_at(deadline, socket.recv())
                        .await
                        .map_err(|_| anyhow!("no OPENED for {path} within {OPEN_TIMEOUT:?}"))??
                        .ok_or_else(|| anyhow!("the hub closed the socket while opening {path}"))?;
                    match (frame.channel, frame.kind) {
                        (CONTROL, kind::OPENED) => {
                            let opened: Opened = frame.parse()?;
                            if opened.channel != channel {
                                continue;
                            }
                            if opened.read_only {
                                bail!("{path} opened read-only");
                            }
                            return Ok(channel);
                        }
                        (CONTROL | 1, kind::ERROR) => {
                            bail!("opening {path}: {}", String::from_utf8_lossy(&frame.body))
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Ends the connection politely.
    pub async fn close(self) {
        if let Link::Browser(socket) = self {
            socket.close().await;
        }
    }
}
