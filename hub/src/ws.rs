//! `/ws`: the browser's one WebSocket, many channels over it, each relayed to its project's local hub.
//! The protocol is specified in `browser.rs`; this module enforces it: the upgrade needs a sign-in and a same-site
//! `Origin`, every channel open is authorized against the metadata store (and the sign-in re-checked), frames are
//! size- and rate-limited, and a silent socket is dropped after three heartbeats.

mod sockets;
mod upstream;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use orrery_db::{Account, ProjectId, Store, TokenHash};
use orrery_local_hub::protocol::{self as local, Frame, Hello};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::browser::{self, kind, Close, HubError, HubErrorCode, Open, Service};
use crate::session::SignedIn;
use crate::state::AppState;
use crate::{Error, Result};

pub(crate) use sockets::Sockets;
use upstream::{Channels, Ended, Relay, Upstream};

/// Frames waiting to be written to one browser; a slow browser holds its local hub readers back, no one else.
const OUTGOING_QUEUE: usize = 256;

/// Bytes read from a socket at a time, and written before a flush; small enough that idle sockets stay cheap.
const READ_BUFFER: usize = 8 * 1024;
const WRITE_BUFFER: usize = 16 * 1024;

/// `GET /ws`.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
    upgrade: WebSocketUpgrade,
) -> Result<Response> {
    check_origin(&headers, &state.allowed_origins)?;
    let SignedIn { account, token } = signed_in;
    let limit = 2 * browser::MAX_MESSAGE;
    Ok(upgrade
        // The default 128 KiB read buffer per socket would dwarf everything else an idle socket holds.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| run(socket, state, account, token)))
}

/// A browser page may open the socket only from this hub's own origin (or one configured as allowed). Clients that send
/// no `Origin` are not browsers, which is what the check protects, and may connect.
fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<()> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    if allowed.iter().any(|allowed| allowed == origin) {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match (host, authority) {
        (Some(host), Some(authority)) if host.eq_ignore_ascii_case(authority) => Ok(()),
        _ => Err(Error::BadOrigin {
            origin: origin.chars().take(200).collect(),
        }),
    }
}

/// A cursor colour per account, the same on every hub.
pub(crate) fn color_of(account: &str) -> &'static str {
    const PALETTE: [&str; 12] = [
        "#d33682", "#268bd2", "#2aa198", "#859900", "#b58900", "#cb4b16", "#6c71c4", "#dc322f",
        "#1b9e77", "#7570b3", "#e7298a", "#66a61e",
    ];
    let digest = Sha256::digest(account.as_bytes());
    PALETTE[usize::from(digest[0]) % PALETTE.len()]
}

/// The sync view id the local hub sees for a browser's editor: the browser's id, namespaced by account, so one
/// collaborator cannot resume (or disturb) another's view by sending the same number. Below 2^53, like every id.
fn view_id(account: &str, client: u64) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(b"orrery sync view\0");
    hasher.update(account.as_bytes());
    hasher.update(client.to_le_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes) & ((1 << 53) - 1)
}

/// One browser socket.
struct Session {
    state: AppState,
    account: Account,
    account_id: String,
    token: TokenHash,
    out: mpsc::Sender<Message>,
    channels: Channels,
    upstreams: HashMap<Arc<str>, Upstream>,
    ended: mpsc::UnboundedSender<Ended>,
    generation: u64,
    /// When the browser last answered one of our PINGs, once it asked to be probed (`PROBE`).
    answered: Option<Instant>,
    /// Token bucket for the message rate.
    budget: f64,
    refilled: Instant,
}

/// A socket in [`Sockets`] while its session runs.
struct Listed {
    state: AppState,
    account: orrery_db::AccountId,
    id: u64,
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.state.sockets.remove(self.account, self.id);
    }
}

/// Why a session ends early.
enum Stop {
    /// The sign-in is gone: close with [`browser::CLOSE_NOT_SIGNED_IN`].
    SignedOut,
}

async fn run(socket: WebSocket, state: AppState, account: Account, token: TokenHash) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(OUTGOING_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.feed(message).await.is_err() {
                return;
            }
            while let Ok(message) = outgoing.try_recv() {
                if sink.feed(message).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() || closing {
                return;
            }
        }
    });
    let (ended, mut ended_rx) = mpsc::unbounded_channel();
    let account_id = account.id.to_string();
    let mut session = Session {
        state: state.clone(),
        account_id,
        account,
        token,
        out,
        channels: Channels::default(),
        upstreams: HashMap::new(),
        ended,
        generation: 0,
        answered: None,
        budget: f64::from(browser::RATE_BURST),
        refilled: Instant::now(),
    };
    state.metrics.socket_opened();
    let _listed = Listed {
        id: state.sockets.add(session.account.id, session.out.clone()),
        account: session.account.id,
        state: state.clone(),
    };
    session.welcome().await;

    let heartbeat = Duration::from_millis(browser::HEARTBEAT_MS);
    let mut ticker = tokio::time::interval(heartbeat);
    ticker.tick().await;
    let mut heard = Instant::now();
    let probe = Duration::from_millis(browser::PROBE_MS);
    let mut prober = tokio::time::interval(probe);
    prober.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    prober.tick().await;
    // Access is checked at every OPEN and again on this timer, so a sign-out elsewhere or a removal from a project (made
    // through any hub) also ends what is already open.
    let mut recheck = tokio::time::interval(state.access_recheck);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recheck.tick().await;
    let close = loop {
        tokio::select! {
            () = state.closing.cancelled() => break Some((1001, "the server is restarting; reconnect")),
            Some(ended) = ended_rx.recv() => session.upstream_ended(ended).await,
            _ = recheck.tick() => {
                if let Err(Stop::SignedOut) = session.recheck_access().await {
                    break Some((browser::CLOSE_NOT_SIGNED_IN, "your sign-in has ended; sign in again"));
                }
            }
            _ = ticker.tick() => {
                if heard.elapsed() > 3 * heartbeat {
                    break Some((1001, "nothing heard for three heartbeats"));
                }
                let _ = session.out.try_send(Message::Ping(Bytes::new()));
            }
            _ = prober.tick(), if session.answered.is_some() => {
                if session.answered.is_some_and(|answered| answered.elapsed() > browser::PROBE_MISSES * probe) {
                    break Some((1001, "no answer to the hub's pings"));
                }
                // Never waits: a socket too clogged to take a PING is as good as one that does not answer.
                let ping = Frame::new(0, kind::PING, Vec::new()).encode();
                let _ = session.out.try_send(Message::Binary(Bytes::copy_from_slice(&ping[4..])));
            }
            incoming = stream.next() => {
                let Some(Ok(message)) = incoming else { break None };
                heard = Instant::now();
                match message {
                    Message::Binary(frame) => {
                        session.pace().await;
                        if let Err(Stop::SignedOut) = session.frame(frame).await {
                            break Some((browser::CLOSE_NOT_SIGNED_IN, "your sign-in has expired; sign in again"));
                        }
                    }
                    Message::Text(_) => session.error(0, HubErrorCode::Malformed, "frames are binary messages, not text").await,
                    Message::Ping(_) | Message::Pong(_) => {}
                    Message::Close(_) => break None,
                }
            }
        }
    };
    if let Some((code, reason)) = close {
        let _ = session
            .out
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    }
    let open = session.channels().len();
    state.metrics.socket_closed(open);
    drop(session);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

impl Session {
    /// The channel table, shared with the reader tasks (a panic elsewhere leaves it usable: every change is one step).
    fn channels(&self) -> MutexGuard<'_, HashMap<u32, Arc<str>>> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn welcome(&self) {
        let welcome = browser::Welcome {
            version: browser::VERSION,
            account: self.account_id.clone(),
            name: self.account.display_name.clone(),
            email: self.account.email.clone(),
            color: color_of(&self.account_id).to_string(),
            heartbeat_ms: browser::HEARTBEAT_MS,
        };
        self.send(Frame::json(local::CONTROL, kind::WELCOME, &welcome))
            .await;
    }

    async fn send(&self, frame: Frame) {
        let bytes = frame.encode();
        let _ = self
            .out
            .send(Message::Binary(Bytes::copy_from_slice(&bytes[4..])))
            .await;
    }

    async fn error(&self, channel: u32, code: HubErrorCode, message: impl Into<String>) {
        let error = HubError {
            code,
            message: message.into(),
        };
        self.send(Frame::json(channel, kind::ERROR, &error)).await;
    }

    /// An open that failed: the error on the channel asked for, then a Close saying it never opened.
    async fn refuse(&self, channel: u32, code: HubErrorCode, message: String) {
        self.state.metrics.channel_refused();
        self.error(channel, code, message.clone()).await;
        let close = Close {
            channel,
            reason: Some(message),
        };
        self.send(Frame::json(local::CONTROL, kind::CLOSE, &close))
            .await;
    }

    /// Waits, if the socket has used up its message budget, until it has earned one message back.
    async fn pace(&mut self) {
        let rate = f64::from(browser::RATE_PER_SECOND);
        let burst = f64::from(browser::RATE_BURST);
        let now = Instant::now();
        self.budget =
            (self.budget + now.duration_since(self.refilled).as_secs_f64() * rate).min(burst);
        self.refilled = now;
        if self.budget < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - self.budget) / rate);
            self.state.metrics.throttled();
            tokio::time::sleep(wait).await;
            self.budget = 1.0;
            self.refilled = Instant::now();
        }
        self.budget -= 1.0;
    }

    async fn frame(&mut self, frame: Bytes) -> std::result::Result<(), Stop> {
        self.state.metrics.relayed_to_local_hub(frame.len());
        if frame.len() > browser::MAX_MESSAGE {
            let message = format!(
                "a message of {} bytes is over the limit of {} bytes; it was dropped",
                frame.len(),
                browser::MAX_MESSAGE
            );
            self.error(0, HubErrorCode::TooLarge, message).await;
            return Ok(());
        }
        let header = local::read_varint(&frame).and_then(|(channel, rest)| {
            let channel = u32::try_from(channel).ok()?;
            Some((channel, *rest.first()?, rest.len() - 1))
        });
        let Some((channel, frame_kind, body_len)) = header else {
            self.error(
                0,
                HubErrorCode::Malformed,
                "a frame must start with a channel number and a kind",
            )
            .await;
            return Ok(());
        };
        if channel != local::CONTROL {
            self.relay(channel, &frame).await;
            return Ok(());
        }
        let body = &frame[frame.len() - body_len..];
        match frame_kind {
            kind::PING => self.send(Frame::new(0, kind::PONG, Vec::new())).await,
            kind::PROBE => {
                self.answered.get_or_insert_with(Instant::now);
            }
            kind::PONG => {
                if let Some(answered) = &mut self.answered {
                    *answered = Instant::now();
                }
            }
            kind::OPEN => match serde_json::from_slice::<Open>(body) {
                Ok(open) => self.open(open).await?,
                Err(error) => {
                    self.error(0, HubErrorCode::Malformed, format!("an OPEN must be JSON like {{\"channel\": 1, \"project\": \"…\", \"service\": \"files\"}}: {error}")).await;
                }
            },
            kind::CLOSE => match serde_json::from_slice::<Close>(body) {
                Ok(close) => self.close(close.channel).await,
                Err(error) => {
                    self.error(
                        0,
                        HubErrorCode::Malformed,
                        format!("a CLOSE must be JSON like {{\"channel\": 1}}: {error}"),
                    )
                    .await;
                }
            },
            other => {
                let message = format!("frame kind 0x{other:02x} is not a control message");
                self.error(0, HubErrorCode::UnknownChannel, message).await;
            }
        }
        Ok(())
    }

    /// A frame on an open channel goes to its project's local hub as it is.
    async fn relay(&mut self, channel: u32, frame: &[u8]) {
        let project = self.channels().get(&channel).cloned();
        let Some(project) = project else {
            let message = format!("channel {channel} is not open");
            self.error(0, HubErrorCode::UnknownChannel, message).await;
            return;
        };
        let failed = match self.upstreams.get_mut(&project) {
            Some(upstream) => upstream.send(frame).await.is_err(),
            None => true,
        };
        if failed {
            // The reader notices too and closes the project's channels; this frame is lost with the connection, which
            // the protocols above recover from (sync resends, terminals resnapshot).
            tracing::debug!(%project, channel, "local hub connection lost while relaying");
        }
    }

    async fn open(&mut self, open: Open) -> std::result::Result<(), Stop> {
        let channel = open.channel;
        if channel == 0 || channel > browser::MAX_CHANNEL {
            let message = format!("channel numbers go from 1 to {}", browser::MAX_CHANNEL);
            self.error(0, HubErrorCode::ChannelInUse, message).await;
            return Ok(());
        }
        if self.channels().contains_key(&channel) {
            let message = format!("channel {channel} is already open");
            self.error(0, HubErrorCode::ChannelInUse, message).await;
            return Ok(());
        }
        // The sign-in may have ended (signed out elsewhere, expired) since the socket opened.
        match self.state.db.token(&self.token).await {
            Ok(_) => {}
            Err(orrery_db::Error::NotFound(_)) => {
                let message = "your sign-in has expired; sign in again";
                self.error(0, HubErrorCode::NotSignedIn, message).await;
                return Err(Stop::SignedOut);
            }
            Err(error) => {
                self.refuse(
                    channel,
                    HubErrorCode::Unavailable,
                    format!("cannot check your access right now: {error}"),
                )
                .await;
                return Ok(());
            }
        }
        let no_project = "there is no such project, or you are not one of its collaborators";
        let Ok(project_id) = open.project.parse::<ProjectId>() else {
            self.refuse(channel, HubErrorCode::NoProject, no_project.into())
                .await;
            return Ok(());
        };
        match self
            .state
            .db
            .is_collaborator(project_id, self.account.id)
            .await
        {
            Ok(true) => {}
            Ok(false) | Err(orrery_db::Error::NotFound(_)) => {
                self.refuse(channel, HubErrorCode::NoProject, no_project.into())
                    .await;
                return Ok(());
            }
            Err(error) => {
                self.refuse(
                    channel,
                    HubErrorCode::Unavailable,
                    format!("cannot check your access right now: {error}"),
                )
                .await;
                return Ok(());
            }
        }
        let project: Arc<str> = project_id.to_string().into();
        if !self.upstreams.contains_key(&project) {
            match self.connect(&project).await {
                Ok(upstream) => {
                    self.upstreams.insert(project.clone(), upstream);
                }
                Err(message) => {
                    self.refuse(
                        channel,
                        HubErrorCode::Unavailable,
                        format!("the project could not be started: {message}"),
                    )
                    .await;
                    return Ok(());
                }
            }
        }
        let service = match open.service {
            Service::Document { path, client } => Service::Document {
                path,
                client: view_id(&self.account_id, client),
            },
            other => other,
        };
        self.channels().insert(channel, project.clone());
        self.state.metrics.channel_opened();
        let frame = Frame::json(
            local::CONTROL,
            kind::OPEN,
            &local::Open { channel, service },
        )
        .encode();
        if let Some(upstream) = self.upstreams.get_mut(&project) {
            if upstream.send(&frame[4..]).await.is_err() {
                tracing::debug!(%project, channel, "local hub connection lost while opening");
            }
        }
        Ok(())
    }

    async fn connect(&mut self, project: &Arc<str>) -> std::result::Result<Upstream, String> {
        let host = self
            .state
            .host
            .as_ref()
            .ok_or("this hub does not run projects")?;
        let socket = host
            .socket_for(project)
            .await
            .map_err(|error| error.to_string())?;
        self.generation += 1;
        // The title goes into the prompt of the terminals this connection starts; without it they say "project".
        let title = match project.parse::<ProjectId>() {
            Ok(id) => self.state.db.project(id).await.map(|project| project.title),
            Err(error) => Err(error),
        };
        let hello = Hello {
            version: local::VERSION,
            name: self.account.display_name.clone(),
            color: color_of(&self.account_id).to_string(),
            user: self.account_id.clone(),
            project: title.unwrap_or_default(),
        };
        let relay = Relay {
            project: project.clone(),
            generation: self.generation,
            channels: self.channels.clone(),
            out: self.out.clone(),
            ended: self.ended.clone(),
            state: self.state.clone(),
        };
        Upstream::connect(&socket, &hello, relay).await
    }

    async fn close(&mut self, channel: u32) {
        let project = self.channels().remove(&channel);
        let Some(project) = project else {
            // Closing a channel that is not open (or already closed by the other side) is not an error.
            return;
        };
        self.state.metrics.channel_closed();
        let frame = Frame::json(
            local::CONTROL,
            kind::CLOSE,
            &Close {
                channel,
                reason: None,
            },
        )
        .encode();
        if let Some(upstream) = self.upstreams.get_mut(&project) {
            let _ = upstream.send(&frame[4..]).await;
        }
        let still_used = self.channels().values().any(|open| *open == project);
        if !still_used {
            // Nothing of this project is open on this socket: let go, so an idle local hub can stop.
            self.upstreams.remove(&project);
        }
    }

    /// While channels are open, checks again that the sign-in is valid (`Stop::SignedOut` when it is not) and that the
    /// account is still a collaborator of each project it has channels on, closing the channels of a project it may no
    /// longer use.
    /// A store that cannot answer right now changes nothing: people are not cut off by a metadata hiccup.
    async fn recheck_access(&mut self) -> std::result::Result<(), Stop> {
        let projects: HashSet<Arc<str>> = self.channels().values().cloned().collect();
        if projects.is_empty() {
            // Nothing is open to take away, and the next OPEN checks everything: an idle socket costs the store nothing.
            return Ok(());
        }
        if let Err(orrery_db::Error::NotFound(_)) = self.state.db.token(&self.token).await {
            return Err(Stop::SignedOut);
        }
        for project in projects {
            let Ok(id) = project.parse::<ProjectId>() else {
                continue;
            };
            match self.state.db.is_collaborator(id, self.account.id).await {
                Ok(false) | Err(orrery_db::Error::NotFound(_)) => self.revoke(&project).await,
                Ok(true) | Err(_) => {}
            }
        }
        Ok(())
    }

    /// Closes every channel of `project` on this socket, telling the browser why, and lets go of its local hub.
    async fn revoke(&mut self, project: &Arc<str>) {
        let channels: Vec<u32> = self
            .channels()
            .iter()
            .filter(|(_, open)| *open == project)
            .map(|(channel, _)| *channel)
            .collect();
        let reason = "you are no longer a collaborator of this project";
        for channel in channels {
            self.error(channel, HubErrorCode::NoProject, reason).await;
            let close = Close {
                channel,
                reason: Some(reason.into()),
            };
            self.send(Frame::json(local::CONTROL, kind::CLOSE, &close))
                .await;
            self.close(channel).await;
        }
    }

    /// A local hub connection ended (the local hub crashed or was stopped): every channel of it is closed, and the next
    /// open of the project connects (and starts it) again.
    async fn upstream_ended(&mut self, ended: Ended) {
        if self
            .upstreams
            .get(&ended.project)
            .is_none_or(|upstream| upstream.generation != ended.generation)
        {
            return;
        }
        self.upstreams.remove(&ended.project);
        let closed: Vec<u32> = {
            let mut channels = self.channels();
            let closed = channels
                .iter()
                .filter(|(_, project)| **project == ended.project)
                .map(|(channel, _)| *channel)
                .collect();
            channels.retain(|_, project| *project != ended.project);
            closed
        };
        for channel in closed {
            self.state.metrics.channel_closed();
            let close = Close {
                channel,
                reason: Some("the project's server stopped; open it again to continue".into()),
            };
            self.send(Frame::json(local::CONTROL, kind::CLOSE, &close))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_pages_of_this_hub_may_open_the_socket() {
        assert!(check_origin(
            &headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
            &[]
        )
        .is_ok());
        assert!(check_origin(
            &headers(Some("https://Orrery.example"), "orrery.example"),
            &[]
        )
        .is_ok());
        assert!(check_origin(&headers(None, "127.0.0.1:8080"), &[]).is_ok());
        assert!(
            check_origin(&headers(Some("http://evil.example"), "127.0.0.1:8080"), &[]).is_err()
        );
        assert!(check_origin(&headers(Some("null"), "127.0.0.1:8080"), &[]).is_err());
        assert!(check_origin(
            &headers(Some("http://127.0.0.1:8081"), "127.0.0.1:8080"),
            &[]
        )
        .is_err());
        let allowed = ["https://app.example".to_string()];
        assert!(check_origin(
            &headers(Some("https://app.example"), "10.0.0.5:8080"),
            &allowed
        )
        .is_ok());
    }

    #[test]
    fn view_ids_are_namespaced_by_account() {
        assert_eq!(view_id("a", 7), view_id("a", 7));
        assert_ne!(view_id("a", 7), view_id("b", 7));
        assert_ne!(view_id("a", 7), view_id("a", 8));
        assert!(view_id("a", u64::MAX) < 1 << 53);
    }
}
