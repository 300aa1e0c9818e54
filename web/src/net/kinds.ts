/**
 * Frame kinds of the browser protocol v1 (`hub/src/browser.rs`), which are the local hub's (`local-hub/src/protocol.rs`,
 * module `kind`) plus PING, PONG, PROJECTS_CHANGED and PROBE on channel 0. The generated protocol types carry the JSON bodies, not these numbers,
 * so they are spelled out here once.
 */

import { PING as HUB_PING, PONG as HUB_PONG, PROBE as HUB_PROBE, PROJECTS_CHANGED as HUB_PROJECTS_CHANGED } from "../protocol/hub";

/** The connection's control channel. */
export const CONTROL = 0;

// Channel 0.
export const WELCOME = 0x02;
export const OPEN = 0x03;
export const OPENED = 0x04;
export const ERROR = 0x05;
export const CLOSE = 0x06;
export const PING = HUB_PING;
export const PONG = HUB_PONG;
export const PROJECTS_CHANGED = HUB_PROJECTS_CHANGED;
export const PROBE = HUB_PROBE;

// Documents.
export const SYNC = 0x10;
export const SYNC_REPLY = 0x11;
export const PRESENCE = 0x12;
export const PRESENCES = 0x13;
export const HISTORY = 0x14;
export const HISTORY_REPLY = 0x15;
export const NOTICE = 0x16;

// Terminals.
export const INPUT = 0x20;
export const RESIZE = 0x21;
export const ACK = 0x22;
export const OUTPUT = 0x23;
export const SNAPSHOT = 0x24;
export const SIZE = 0x25;
export const EXITED = 0x26;
export const KILL = 0x27;
export const ATTACHED = 0x28;

// Files.
export const FILE_REQUEST = 0x30;
export const FILE_RESPONSE = 0x31;
export const FILE_DATA = 0x32;

// The project channel.
export const FOCUS = 0x40;
export const PEOPLE = 0x41;
export const TERMINALS = 0x42;
