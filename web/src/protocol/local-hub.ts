// Generated from local-hub/src/protocol.rs by `UPDATE_PROTOCOL_TS=1 cargo test -p orrery-local-hub --test protocol_ts`.
// Do not edit by hand.

export type ErrorCode = "malformed" | "too_large" | "version" | "unknown_channel" | "channel_in_use" | "outside_project" | "not_found" | "already_exists" | "too_large_to_edit" | "binary" | "refused" | "sync" | "internal";

export type ErrorBody = { code: ErrorCode, message: string, 
/**
 * The file request this answers, if any.
 */
request?: number | null, };

export type Hello = { version: number, 
/**
 * The collaborator, shown beside their cursor.
 */
name: string, 
/**
 * A CSS colour for their cursor, e.g. `#d33682`.
 */
color: string, 
/**
 * Who the collaborator is, stably (the hub sends the account id): one person's several tabs are one person.
 */
user: string, 
/**
 * The project's title as the hub knows it now; the terminals this connection starts show it in their prompt.
 */
project: string, };

export type Welcome = { version: number, 
/**
 * This connection's id; sync views and presence are keyed by it.
 */
connection: number, };

export type Service = { "service": "document", path: string, 
/**
 * The sync client id: stable across reconnects of the same editor so its view and unacknowledged edits resume.
 */
client: number, } | { "service": "terminal", name: string, 
/**
 * This viewer's size.
 */
size: TerminalSize, 
/**
 * The shell this viewer saw last ([`Attached::instance`]), when it is coming back to it: if that shell is gone,
 * [`Attached::restarted`] says why.
 */
resume?: string, } | { "service": "files" } | { "service": "project" };

export type Open = { channel: number, } & ({ "service": "document", path: string, 
/**
 * The sync client id: stable across reconnects of the same editor so its view and unacknowledged edits resume.
 */
client: number, } | { "service": "terminal", name: string, 
/**
 * This viewer's size.
 */
size: TerminalSize, 
/**
 * The shell this viewer saw last ([`Attached::instance`]), when it is coming back to it: if that shell is gone,
 * [`Attached::restarted`] says why.
 */
resume?: string, } | { "service": "files" } | { "service": "project" });

export type Opened = { channel: number, 
/**
 * For documents: true when the file can only be read (too large to edit).
 */
read_only: boolean, 
/**
 * For documents: true when the file is not on disk and the document is empty with nothing waiting to be saved,
 * so a client says the file does not exist instead of "saved"; an edit sent anyway creates the file.
 */
missing: boolean, };

export type Close = { channel: number, 
/**
 * Why the hub closed it, if it did.
 */
reason?: string | null, };

export type Presence = { cursor: number, 
/**
 * The other end of the selection; equal to `cursor` when nothing is selected.
 */
anchor: number, };

export type PeerPresence = { connection: number, name: string, color: string, cursor: number, anchor: number, };

export type Presences = { peers: Array<PeerPresence>, };

export type HistoryRequest = { "op": "list" } | { "op": "fetch", version: number, } | { "op": "revert", version: number, };

export type Version = { 
/**
 * The version this change produced (1-based).
 */
version: number, time_ms: number, 
/**
 * "disk", "server", or the collaborator's name.
 */
author: string, };

export type HistoryResponse = { "op": "list", versions: Array<Version>, } | { "op": "fetch", version: number, text: string, } | { "op": "revert", version: number, new_version: number, };

export type Notice = { message: string, 
/**
 * The text that did not make it into the document, when an edit was refused.
 */
dropped?: string | null, };

export type TerminalSize = { rows: number, cols: number, };

export type Exited = { 
/**
 * The exit code, or none when a signal ended it.
 */
code: number | null, };

export type Attached = { 
/**
 * This shell's id, unique across local hub restarts: give it as `resume` when opening the name again.
 */
instance: string, 
/**
 * When this shell started, milliseconds since the Unix epoch.
 */
started_ms: number, 
/**
 * Set when the viewer asked to resume a shell that is gone: this is a new shell, and this is why.
 */
restarted?: TerminalEnd, };

export type TerminalEnd = { "why": "server_restarted" } | { "why": "exited", code: number | null, } | { "why": "killed" } | { "why": "idle" };

export type Someone = { 
/**
 * The person's stable id ([`Hello::user`]); empty when their client did not give one.
 */
user: string, name: string, color: string, };

export type Focus = { "what": "nothing" } | { "what": "file", path: string, } | { "what": "terminal", name: string, };

export type Person = { 
/**
 * The connection ([`Welcome::connection`]): one person in two tabs is two entries with the same `who.user`.
 */
connection: number, who: Someone, 
/**
 * What they said they look at, else the last document they opened that is still open.
 */
focus: Focus, 
/**
 * When this connection began, milliseconds since the Unix epoch.
 */
since_ms: number, };

export type People = { people: Array<Person>, };

export type TerminalInfo = { name: string, 
/**
 * Its shell's id ([`Attached::instance`]).
 */
instance: string, 
/**
 * When its shell started, milliseconds since the Unix epoch.
 */
started_ms: number, opened_by: Someone, 
/**
 * Who has it open now, one entry per viewer.
 */
viewers: Array<Someone>, };

export type TerminalList = { terminals: Array<TerminalInfo>, };

export type FileRequest = { id: number, } & ({ "op": "list", path: string, } | { "op": "stat", path: string, } | { "op": "read", path: string, } | { "op": "write", path: string, text: string, } | { "op": "mkdir", path: string, } | { "op": "rename", from: string, to: string, } | { "op": "delete", path: string, } | { "op": "upload", path: string, } | { "op": "upload_end" } | { "op": "download", path: string, });

export type FileOp = { "op": "list", path: string, } | { "op": "stat", path: string, } | { "op": "read", path: string, } | { "op": "write", path: string, text: string, } | { "op": "mkdir", path: string, } | { "op": "rename", from: string, to: string, } | { "op": "delete", path: string, } | { "op": "upload", path: string, } | { "op": "upload_end" } | { "op": "download", path: string, };

export type Entry = { name: string, kind: EntryKind, size: number, 
/**
 * Modification time, milliseconds since the Unix epoch.
 */
modified_ms: number, };

export type EntryKind = "file" | "directory" | "symlink" | "other";

export type FileResponse = { id: number, } & ({ "result": "done" } | { "result": "entries", entries: Array<Entry>, } | { "result": "stat", entry: Entry, } | { "result": "text", text: string, } | { "result": "base64", data: string, } | { "result": "transferred", bytes: number, } | { "result": "error", code: ErrorCode, message: string, });

export type FileResult = { "result": "done" } | { "result": "entries", entries: Array<Entry>, } | { "result": "stat", entry: Entry, } | { "result": "text", text: string, } | { "result": "base64", data: string, } | { "result": "transferred", bytes: number, } | { "result": "error", code: ErrorCode, message: string, };

export const VERSION = 1;
export const MAX_FRAME = 17825792;
