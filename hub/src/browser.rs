//! The browser protocol, version 1: what a browser tab (or any client) speaks over its one WebSocket to a hub, `/ws`.
//!
//! Every WebSocket message is binary and is one frame: `varint channel` + `u8 kind` + body. That is exactly a local
//! hub frame ([`orrery_local_hub::protocol::Frame`]) without its length prefix, because the WebSocket already frames
//! it: the hub relays the frames of open channels to and from the project's local hub without re-encoding them.
//!
//! Channel 0 is the connection's control channel:
//! - hub → browser `WELCOME` (JSON [`Welcome`]) is the first message; a client that does not know its `version` must
//!   close.
//! - browser → hub `OPEN` (JSON [`Open`]): a channel number the browser picks (1 ≤ n < 2^28, unused on this socket),
//!   the project and the service. The hub checks that the account is a collaborator, has the project's local hub
//!   started if it is not running, and answers `OPENED` (JSON [`Opened`]) on channel 0; or an `ERROR` on the channel
//!   asked for followed by `CLOSE` on channel 0.
//! - `CLOSE` (JSON [`Close`]) either way: the browser closes a channel, or the hub says a channel ended (the shell
//!   exited, the project's local hub stopped, the collaborator was removed). A closed channel's number may be reused.
//!   Access is checked again every few seconds (the hub's `access_recheck`, 10 s by default), not only at `OPEN`: an
//!   account removed from a project (or whose project was deleted) gets `ERROR no_project` on each of that project's
//!   channels, each followed by `CLOSE`; a sign-in that ended (signed out elsewhere, expired) closes a socket that has
//!   channels open with [`CLOSE_NOT_SIGNED_IN`] (an idle socket learns it at its next `OPEN`).
//! - browser → hub `PING` (empty); the hub answers `PONG` (empty) at once. Browsers send one every
//!   [`Welcome::heartbeat_ms`] and treat a socket silent for three heartbeats as dead. The hub closes a socket it heard
//!   nothing from (no frame, no WebSocket pong to its own pings) for three heartbeats.
//! - browser → hub `PROBE` (empty), once: "check that I am still here". From then on the hub sends `PING` (empty) on
//!   channel 0 every [`PROBE_MS`] and the browser answers `PONG` (empty) at once, from its message handler (which
//!   browsers run for hidden tabs too, unlike their throttled timers); a probed socket that answers none of them for
//!   [`PROBE_MISSES`] periods is closed (1001) as gone. So a collaborator whose network went away, or whose page is
//!   gone without closing its socket, leaves the project (its cursors, its place among the people present) within
//!   seconds rather than after three heartbeats, which a WebSocket pong answered below the page can postpone for ever.
//! - hub → browser `PROJECTS_CHANGED` (empty): the account's project list changed (it was invited to a project or
//!   removed from one, or one of its projects was created, renamed or deleted): fetch `GET /api/projects` again. Sent
//!   at once to the account's sockets on the hub that made the change; a page learns of changes made through another
//!   hub by fetching the list again now and then (the web app does every 15 s while it shows the list).
//! - `ERROR` on channel 0 concerns the connection: a malformed frame, a frame on a channel that is not open, a frame
//!   over [`MAX_MESSAGE`]. Nothing changes and the socket stays open.
//!
//! Open channels carry the local hub's frames unchanged (documents: `SYNC`, `SYNC_REPLY`, `PRESENCE`, `PRESENCES`,
//! `HISTORY`, `HISTORY_REPLY`, `NOTICE`; terminals: `INPUT`, `RESIZE`, `ACK`, `OUTPUT`, `SNAPSHOT`, `SIZE`, `EXITED`,
//! `KILL`; files: `FILE_REQUEST`, `FILE_RESPONSE`, `FILE_DATA`), see `local-hub/src/protocol.rs`. Two things differ:
//! a document's sync `client` id is namespaced by the hub per account (a collaborator cannot take over another's
//! view), and the local hub is told the account's name and colour, not whatever the browser claims.
//!
//! Resuming after a reconnect (to this hub or any other): open the same channels again. A document opened with the
//! same `client` id continues its sync view (unacknowledged edits are resent through the sync handshake); a terminal
//! opened by name again sends a `SNAPSHOT` of its screen first.
//!
//! Limits: a message over [`MAX_MESSAGE`] is refused with an `ERROR` (`too_large`) and dropped; one over twice that
//! ends the socket (close code 1009). A client sending more than [`RATE_PER_SECOND`] frames a second on average (with
//! bursts of [`RATE_BURST`]) is slowed down: the hub stops reading from it until its budget recovers. The upgrade
//! itself needs a valid sign-in cookie (401 otherwise) and, when the request has an `Origin`, one that names this hub
//! (403 otherwise).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use orrery_local_hub::protocol::{
    read_varint, write_varint, Close, ErrorCode, Opened, Service, TerminalSize,
};

/// Protocol version spoken by this build.
pub const VERSION: u32 = 1;
/// Largest WebSocket message a hub relays: the local hub's frame limit.
pub const MAX_MESSAGE: usize = orrery_local_hub::protocol::MAX_FRAME;
/// Sustained frames per second a socket may send before the hub slows it down.
pub const RATE_PER_SECOND: u32 = 2_000;
/// Frames a socket may send at once, above the sustained rate.
pub const RATE_BURST: u32 = 4_000;
/// How often browsers ping, and how the hub measures silence.
pub const HEARTBEAT_MS: u64 = 15_000;
/// How often the hub pings a socket that asked to be probed.
pub const PROBE_MS: u64 = 3_000;
/// Probe periods without a `PONG` after which a probed socket is closed.
pub const PROBE_MISSES: u32 = 3;
/// WebSocket close code when the sign-in is no longer valid: sign in again, do not just reconnect.
pub const CLOSE_NOT_SIGNED_IN: u16 = 4401;

/// Frame kinds: the local hub's (see [`orrery_local_hub::protocol::kind`]) plus the hub's own on channel 0.
pub mod kind {
    pub use orrery_local_hub::protocol::kind::*;
    /// browser → hub, empty: are you there?
    pub const PING: u8 = 0x07;
    /// hub → browser, empty: yes.
    pub const PONG: u8 = 0x08;
    /// hub → browser, empty: this account's project list changed; fetch it again.
    pub const PROJECTS_CHANGED: u8 = 0x09;
    /// browser → hub, empty: send me PINGs to answer, and close me when I stop answering.
    pub const PROBE: u8 = 0x0a;
}

/// The first message on every socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Welcome {
    pub version: u32,
    /// The signed-in account's id.
    pub account: String,
    pub name: String,
    pub email: String,
    /// This account's cursor colour, as collaborators see it.
    pub color: String,
    /// How often to send `PING`.
    pub heartbeat_ms: u64,
}

/// Open a channel of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Open {
    pub channel: u32,
    /// The project's id.
    pub project: String,
    #[serde(flatten)]
    pub service: Service,
}

/// Error codes the hub itself sends; errors relayed from the local hub use its [`ErrorCode`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum HubErrorCode {
    /// The sign-in expired or was revoked since the socket opened: sign in again.
    NotSignedIn,
    /// No such project, or this account is not one of its collaborators (the two are not told apart).
    NoProject,
    /// The project's local hub could not be started or reached; trying again later may work.
    Unavailable,
    /// A frame or its body could not be parsed.
    Malformed,
    /// A message over [`MAX_MESSAGE`].
    TooLarge,
    /// A frame on a channel that is not open, or a kind the hub does not take on channel 0.
    UnknownChannel,
    /// The channel number is open already, or out of range.
    ChannelInUse,
}

/// An error the hub sends, on the channel it concerns (0 for the connection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct HubError {
    pub code: HubErrorCode,
    pub message: String,
}

/// Largest channel number a browser may open (the hub keeps the ones above for itself).
pub const MAX_CHANNEL: u32 = (1 << 28) - 1;

/// The generated TypeScript declarations of the hub's own JSON types; the relayed ones are in `local-hub.ts`.
pub fn typescript() -> String {
    let mut out = String::from(
        "// Generated from hub/src/browser.rs by `UPDATE_PROTOCOL_TS=1 cargo test -p orrery-hub --test protocol_ts`.\n// Do not edit by hand.\n\nimport type { TerminalSize } from \"./local-hub\";\n\n",
    );
    let config = ts_rs::Config::default().with_large_int("number");
    for declaration in [
        Welcome::decl(&config),
        Open::decl(&config),
        HubErrorCode::decl(&config),
        HubError::decl(&config),
    ] {
        out.push_str("export ");
        out.push_str(&declaration);
        out.push_str("\n\n");
    }
    out.push_str(&format!(
        "export const VERSION = {VERSION};\nexport const MAX_MESSAGE = {MAX_MESSAGE};\nexport const MAX_CHANNEL = {MAX_CHANNEL};\nexport const HEARTBEAT_MS = {HEARTBEAT_MS};\nexport const CLOSE_NOT_SIGNED_IN = {CLOSE_NOT_SIGNED_IN};\nexport const PING = {};\nexport const PONG = {};\nexport const PROJECTS_CHANGED = {};\nexport const PROBE = {};\nexport const PROBE_MS = {PROBE_MS};\nexport const PROBE_MISSES = {PROBE_MISSES};\n",
        kind::PING,
        kind::PONG,
        kind::PROJECTS_CHANGED,
        kind::PROBE,
    ));
    out
}
