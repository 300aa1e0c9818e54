// Generated from hub/src/browser.rs by `UPDATE_PROTOCOL_TS=1 cargo test -p orrery-hub --test protocol_ts`.
// Do not edit by hand.

import type { TerminalSize } from "./local-hub";

export type Welcome = { version: number, 
/**
 * The signed-in account's id.
 */
account: string, name: string, email: string, 
/**
 * This account's cursor colour, as collaborators see it.
 */
color: string, 
/**
 * How often to send `PING`.
 */
heartbeat_ms: number, };

export type Open = { channel: number, 
/**
 * The project's id.
 */
project: string, } & ({ "service": "document", path: string, 
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

export type HubErrorCode = "not_signed_in" | "no_project" | "unavailable" | "malformed" | "too_large" | "unknown_channel" | "channel_in_use";

export type HubError = { code: HubErrorCode, message: string, };

export const VERSION = 1;
export const MAX_MESSAGE = 17825792;
export const MAX_CHANNEL = 268435455;
export const HEARTBEAT_MS = 15000;
export const CLOSE_NOT_SIGNED_IN = 4401;
export const PING = 7;
export const PONG = 8;
export const PROJECTS_CHANGED = 9;
export const PROBE = 10;
export const PROBE_MS = 3000;
export const PROBE_MISSES = 3;
