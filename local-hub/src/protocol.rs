//! The local hub's wire protocol, version 1: one Unix-socket connection carries many channels.
//!
//! A frame on the socket is `u32 little-endian length` + `varint channel` + `u8 kind` + body; the length counts
//! everything after itself and may not exceed [`MAX_FRAME`]. Channel 0 is the connection's control channel; a
//! client opens numbered channels on it, each bound to one service (a document, a terminal, the file service).
//! Bodies are JSON for control messages and raw bytes on the hot paths (sync messages, terminal data, file data).
//! The JSON types derive `ts_rs::TS`; `web/src/protocol/local-hub.ts` is generated from them and a test keeps it current.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Protocol version spoken by this build; a Hello with another version is refused.
pub const VERSION: u32 = 1;
/// Largest frame, length prefix excluded: a whole sync message of the largest document fits, with room for framing.
pub const MAX_FRAME: usize = 17 << 20;
/// The control channel.
pub const CONTROL: u32 = 0;

/// Frame kinds. Each channel's service decides which it accepts; anything else is answered with an `Error`.
pub mod kind {
    // Control channel.
    /// client → hub, JSON [`super::Hello`]: the first frame of every connection.
    pub const HELLO: u8 = 0x01;
    /// hub → client, JSON [`super::Welcome`].
    pub const WELCOME: u8 = 0x02;
    /// client → hub, JSON [`super::Open`]: open a channel.
    pub const OPEN: u8 = 0x03;
    /// hub → client, JSON [`super::Opened`]: the channel is open.
    pub const OPENED: u8 = 0x04;
    /// hub → client, JSON [`super::ErrorBody`]: a request failed; on channel 0 when it concerns the connection or an open.
    pub const ERROR: u8 = 0x05;
    /// either way, JSON [`super::Close`]: the channel is closed (by the client, or by the hub when its service ends).
    pub const CLOSE: u8 = 0x06;

    // Document channels.
    /// client → hub: an `orrery_sync` client message in its binary wire form.
    pub const SYNC: u8 = 0x10;
    /// hub → client: an `orrery_sync` server message in its binary wire form.
    pub const SYNC_REPLY: u8 = 0x11;
    /// client → hub, JSON [`super::Presence`]: my cursor and selection.
    pub const PRESENCE: u8 = 0x12;
    /// hub → client, JSON [`super::Presences`]: everyone's cursors, sent whenever one changes.
    pub const PRESENCES: u8 = 0x13;
    /// client → hub, JSON [`super::HistoryRequest`].
    pub const HISTORY: u8 = 0x14;
    /// hub → client, JSON [`super::HistoryResponse`].
    pub const HISTORY_REPLY: u8 = 0x15;
    /// hub → client, JSON [`super::Notice`]: something the user should see (an edit was refused, the file is read-only).
    pub const NOTICE: u8 = 0x16;

    // Terminal channels.
    /// client → hub: keystrokes, raw bytes.
    pub const INPUT: u8 = 0x20;
    /// client → hub, JSON [`super::TerminalSize`]: this viewer's size.
    pub const RESIZE: u8 = 0x21;
    /// client → hub, varint: bytes of OUTPUT and SNAPSHOT consumed since the last ack (credit returned).
    pub const ACK: u8 = 0x22;
    /// hub → client: terminal output, raw bytes.
    pub const OUTPUT: u8 = 0x23;
    /// hub → client: bytes that, written to a fresh terminal of the current size, reproduce the screen and scrollback.
    pub const SNAPSHOT: u8 = 0x24;
    /// hub → client, JSON [`super::TerminalSize`]: the PTY's size (the smallest of the viewers').
    pub const SIZE: u8 = 0x25;
    /// hub → client, JSON [`super::Exited`]: the shell ended; nothing more comes on the channel, and the client closes it
    /// (opening the same name again starts a new shell).
    pub const EXITED: u8 = 0x26;
    /// client → hub, empty: end the terminal's process group for every viewer.
    pub const KILL: u8 = 0x27;
    /// hub → client, JSON [`super::Attached`]: which shell this viewer is attached to, sent before SIZE; says so when
    /// the shell the viewer asked to resume is gone and this is a new one.
    pub const ATTACHED: u8 = 0x28;

    // File channel.
    /// client → hub, JSON [`super::FileRequest`].
    pub const FILE_REQUEST: u8 = 0x30;
    /// hub → client, JSON [`super::FileResponse`].
    pub const FILE_RESPONSE: u8 = 0x31;
    /// either way: `varint request id` + a chunk of file bytes (upload or download).
    pub const FILE_DATA: u8 = 0x32;

    // Project channel.
    /// client → hub, JSON [`super::Focus`]: what this connection's user is looking at.
    pub const FOCUS: u8 = 0x40;
    /// hub → client, JSON [`super::People`]: everyone connected to the project; sent at open and on every change.
    pub const PEOPLE: u8 = 0x41;
    /// hub → client, JSON [`super::TerminalList`]: the running terminals; sent at open and on every change.
    pub const TERMINALS: u8 = 0x42;
}

/// Appends `value` as an unsigned LEB128 varint.
pub fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Splits an unsigned LEB128 varint off the front of `bytes`; `None` when it is missing, unterminated or over 64 bits.
pub fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value: u64 = 0;
    for (index, &byte) in bytes.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if index == 9 && bits > 1 {
            return None;
        }
        value |= bits << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[index + 1..]));
        }
    }
    None
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub channel: u32,
    pub kind: u8,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn new(channel: u32, kind: u8, body: Vec<u8>) -> Frame {
        Frame {
            channel,
            kind,
            body,
        }
    }

    /// A frame with a JSON body.
    pub fn json<T: Serialize>(channel: u32, kind: u8, value: &T) -> Frame {
        // Serializing our own plain structs cannot fail; an empty body would be refused by the peer.
        Frame::new(channel, kind, serde_json::to_vec(value).unwrap_or_default())
    }

    /// An error frame.
    pub fn error(channel: u32, code: ErrorCode, message: impl Into<String>) -> Frame {
        Frame::json(
            channel,
            kind::ERROR,
            &ErrorBody {
                code,
                message: message.into(),
                request: None,
            },
        )
    }

    /// Parses the JSON body.
    pub fn parse<T: for<'de> Deserialize<'de>>(&self) -> Result<T, ProtocolError> {
        serde_json::from_slice(&self.body)
            .map_err(|error| ProtocolError::Malformed(error.to_string()))
    }

    /// The whole frame as written on the socket, length prefix included.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 10);
        out.extend_from_slice(&[0; 4]);
        let mut channel = self.channel;
        loop {
            let byte = (channel & 0x7f) as u8;
            channel >>= 7;
            if channel == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.push(self.kind);
        out.extend_from_slice(&self.body);
        let len = (out.len() - 4) as u32;
        out[..4].copy_from_slice(&len.to_le_bytes());
        out
    }

    /// Parses what follows a length prefix.
    pub fn decode(bytes: &[u8]) -> Result<Frame, ProtocolError> {
        let mut channel: u32 = 0;
        let mut index = 0;
        loop {
            let byte = *bytes
                .get(index)
                .ok_or_else(|| ProtocolError::Malformed("frame ends inside its channel".into()))?;
            if index > 4 || (index == 4 && byte > 0x0f) {
                return Err(ProtocolError::Malformed("channel number too large".into()));
            }
            channel |= u32::from(byte & 0x7f) << (7 * index);
            index += 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let kind = *bytes
            .get(index)
            .ok_or_else(|| ProtocolError::Malformed("frame has no kind".into()))?;
        Ok(Frame {
            channel,
            kind,
            body: bytes[index + 1..].to_vec(),
        })
    }
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("frame of {size} bytes is over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Stable error codes, for clients and for the hub to map onto its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A frame or its body could not be parsed.
    Malformed,
    /// A frame was over the size limit.
    TooLarge,
    /// The Hello was missing or spoke another version.
    Version,
    /// No such channel, or a kind the channel's service does not take.
    UnknownChannel,
    /// The channel number is already open.
    ChannelInUse,
    /// A path is outside the project (`..`, absolute, or a symlink that leaves it).
    OutsideProject,
    /// The file or directory does not exist.
    NotFound,
    /// It exists already.
    AlreadyExists,
    /// A file too large to edit, or a message over its limit.
    TooLargeToEdit,
    /// Binary content where text is required.
    Binary,
    /// The operating system refused (permissions, not a directory, ...).
    Refused,
    /// A sync message the document could not take.
    Sync,
    /// Anything else; the message says what.
    Internal,
}

/// An error, on the channel it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// The file request this answers, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<u64>,
}

/// Who is connecting: the first frame on channel 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Hello {
    pub version: u32,
    /// The collaborator, shown beside their cursor.
    pub name: String,
    /// A CSS colour for their cursor, e.g. `#d33682`.
    pub color: String,
    /// Who the collaborator is, stably (the hub sends the account id): one person's several tabs are one person.
    #[serde(default)]
    pub user: String,
    /// The project's title as the hub knows it now; the terminals this connection starts show it in their prompt.
    #[serde(default)]
    pub project: String,
}

impl Default for Hello {
    /// A Hello of this version from no one in particular; fill in at least `name` and `color`.
    fn default() -> Self {
        Hello {
            version: VERSION,
            name: String::new(),
            color: String::new(),
            user: String::new(),
            project: String::new(),
        }
    }
}

/// The hub's answer to a Hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Welcome {
    pub version: u32,
    /// This connection's id; sync views and presence are keyed by it.
    pub connection: u64,
}

/// What a channel is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "service", rename_all = "snake_case")]
pub enum Service {
    /// A text file, relative to the project root, opened for live editing.
    Document {
        path: String,
        /// The sync client id: stable across reconnects of the same editor so its view and unacknowledged edits resume.
        client: u64,
    },
    /// A named terminal; everyone who opens the same name shares it.
    Terminal {
        name: String,
        /// This viewer's size.
        size: TerminalSize,
        /// The shell this viewer saw last ([`Attached::instance`]), when it is coming back to it: if that shell is gone,
        /// [`Attached::restarted`] says why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        resume: Option<String>,
    },
    /// File operations on the project.
    Files,
    /// The project as a whole, live: who is connected and what each looks at (PEOPLE), the running terminals
    /// (TERMINALS); the client says what its user looks at with FOCUS.
    Project,
}

/// Open a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Open {
    pub channel: u32,
    #[serde(flatten)]
    pub service: Service,
}

/// A channel is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Opened {
    pub channel: u32,
    /// For documents: true when the file can only be read (too large to edit).
    #[serde(default)]
    pub read_only: bool,
    /// For documents: true when the file is not on disk and the document is empty with nothing waiting to be saved,
    /// so a client says the file does not exist instead of "saved"; an edit sent anyway creates the file.
    #[serde(default)]
    pub missing: bool,
}

/// Close a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Close {
    pub channel: u32,
    /// Why the hub closed it, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A collaborator's cursor: positions in code points of the document text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Presence {
    pub cursor: u64,
    /// The other end of the selection; equal to `cursor` when nothing is selected.
    pub anchor: u64,
}

/// One collaborator's presence, as broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PeerPresence {
    pub connection: u64,
    pub name: String,
    pub color: String,
    pub cursor: u64,
    pub anchor: u64,
}

/// Everyone's presence in a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Presences {
    pub peers: Vec<PeerPresence>,
}

/// A document history request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum HistoryRequest {
    /// List the versions.
    List,
    /// The text at `version` (0 is the text before the first recorded change).
    Fetch { version: u64 },
    /// Make the text what it was at `version`, as a new change.
    Revert { version: u64 },
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Version {
    /// The version this change produced (1-based).
    pub version: u64,
    pub time_ms: u64,
    /// "disk", "server", or the collaborator's name.
    pub author: String,
}

/// The answer to a history request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum HistoryResponse {
    List { versions: Vec<Version> },
    Fetch { version: u64, text: String },
    Revert { version: u64, new_version: u64 },
}

/// Something to show the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Notice {
    pub message: String,
    /// The text that did not make it into the document, when an edit was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
}

/// A terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TerminalSize {
    pub rows: u16,
    pub cols: u16,
}

/// The terminal's process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Exited {
    /// The exit code, or none when a signal ended it.
    pub code: Option<i32>,
}

/// Which shell a terminal viewer is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Attached {
    /// This shell's id, unique across local hub restarts: give it as `resume` when opening the name again.
    pub instance: String,
    /// When this shell started, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// Set when the viewer asked to resume a shell that is gone: this is a new shell, and this is why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub restarted: Option<TerminalEnd>,
}

/// Why a terminal's shell is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum TerminalEnd {
    /// The project's server (this local hub) stopped or crashed and was started again: every shell went with it.
    ServerRestarted,
    /// The shell exited by itself (`exit`, Ctrl-D), with this code, or none when a signal ended it.
    Exited { code: Option<i32> },
    /// Someone ended it (KILL).
    Killed,
    /// It had no viewer and printed nothing for the idle time, and was ended.
    Idle,
}

/// Someone, as the project's lists show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Someone {
    /// The person's stable id ([`Hello::user`]); empty when their client did not give one.
    pub user: String,
    pub name: String,
    pub color: String,
}

/// What someone is looking at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Focus {
    Nothing,
    /// A file, by its path relative to the project root.
    File {
        path: String,
    },
    Terminal {
        name: String,
    },
}

/// One connection to the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Person {
    /// The connection ([`Welcome::connection`]): one person in two tabs is two entries with the same `who.user`.
    pub connection: u64,
    pub who: Someone,
    /// What they said they look at, else the last document they opened that is still open.
    pub focus: Focus,
    /// When this connection began, milliseconds since the Unix epoch.
    pub since_ms: u64,
}

/// Everyone connected to the project who has a project, document or terminal channel open, earliest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct People {
    pub people: Vec<Person>,
}

/// One running terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TerminalInfo {
    pub name: String,
    /// Its shell's id ([`Attached::instance`]).
    pub instance: String,
    /// When its shell started, milliseconds since the Unix epoch.
    pub started_ms: u64,
    pub opened_by: Someone,
    /// Who has it open now, one entry per viewer.
    pub viewers: Vec<Someone>,
}

/// The project's running terminals, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TerminalList {
    pub terminals: Vec<TerminalInfo>,
}

/// A file service request; `id` pairs it with its response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FileRequest {
    pub id: u64,
    #[serde(flatten)]
    pub op: FileOp,
}

/// The file operations. Paths are relative to the project root; anything leading out of it is `OutsideProject`.
/// `.orrery/` (the history) can be listed and read but not changed. Every request gets exactly one response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FileOp {
    List {
        path: String,
    },
    Stat {
        path: String,
    },
    /// A whole small file (at most 16 MiB) in the response, as UTF-8 text or base64 when it is not; larger: download it.
    Read {
        path: String,
    },
    /// Replace a file's content atomically with `text`.
    Write {
        path: String,
        text: String,
    },
    Mkdir {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    /// A file, or a directory with everything in it.
    Delete {
        path: String,
    },
    /// Start an upload to `path` (at most 1 GiB): FILE_DATA frames with this id follow, then `UploadEnd`. No response
    /// until `UploadEnd` (unless it fails); the file appears atomically at the end, and an abandoned upload leaves nothing.
    Upload {
        path: String,
    },
    UploadEnd,
    /// Stream a file: FILE_DATA frames with this id, then the response with the total size.
    Download {
        path: String,
    },
}

/// One directory entry, or a stat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Entry {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    /// Modification time, milliseconds since the Unix epoch.
    pub modified_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    Other,
}

/// The answer to a file request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FileResponse {
    pub id: u64,
    #[serde(flatten)]
    pub result: FileResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum FileResult {
    Done,
    Entries {
        entries: Vec<Entry>,
    },
    Stat {
        entry: Entry,
    },
    Text {
        text: String,
    },
    Base64 {
        data: String,
    },
    /// An upload finished or a download was sent: its size in bytes.
    Transferred {
        bytes: u64,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// The generated TypeScript declarations of every JSON type above, in one module.
pub fn typescript() -> String {
    let mut out = String::from(
        "// Generated from local-hub/src/protocol.rs by `UPDATE_PROTOCOL_TS=1 cargo test -p orrery-local-hub --test protocol_ts`.\n// Do not edit by hand.\n\n",
    );
    // Every integer here fits a JavaScript number exactly (ids and sizes stay below 2^53), and JSON parses numbers.
    let config = ts_rs::Config::default().with_large_int("number");
    let declarations = [
        ErrorCode::decl(&config),
        ErrorBody::decl(&config),
        Hello::decl(&config),
        Welcome::decl(&config),
        Service::decl(&config),
        Open::decl(&config),
        Opened::decl(&config),
        Close::decl(&config),
        Presence::decl(&config),
        PeerPresence::decl(&config),
        Presences::decl(&config),
        HistoryRequest::decl(&config),
        Version::decl(&config),
        HistoryResponse::decl(&config),
        Notice::decl(&config),
        TerminalSize::decl(&config),
        Exited::decl(&config),
        Attached::decl(&config),
        TerminalEnd::decl(&config),
        Someone::decl(&config),
        Focus::decl(&config),
        Person::decl(&config),
        People::decl(&config),
        TerminalInfo::decl(&config),
        TerminalList::decl(&config),
        FileRequest::decl(&config),
        FileOp::decl(&config),
        Entry::decl(&config),
        EntryKind::decl(&config),
        FileResponse::decl(&config),
        FileResult::decl(&config),
    ];
    for declaration in declarations {
        out.push_str("export ");
        out.push_str(&declaration);
        out.push_str("\n\n");
    }
    out.push_str(&format!(
        "export const VERSION = {VERSION};\nexport const MAX_FRAME = {MAX_FRAME};\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        for channel in [0, 1, 127, 128, 300, u32::MAX] {
            let frame = Frame::new(channel, kind::INPUT, b"ls\r".to_vec());
            let bytes = frame.encode();
            assert_eq!(
                u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize,
                bytes.len() - 4
            );
            assert_eq!(Frame::decode(&bytes[4..]), Ok(frame));
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        assert!(Frame::decode(&[]).is_err());
        assert!(Frame::decode(&[0x80]).is_err());
        assert!(Frame::decode(&[0x01]).is_err());
        assert!(Frame::decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01]).is_err());
    }
}
