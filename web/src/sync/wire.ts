/**
 * Wire format v1 (PROTOCOL.md §3): the messages, their binary codec and their JSON form for test vectors.
 * Decoders take untrusted bytes: every field is bounds-checked and every length limited, and the error kinds
 * match the Rust decoder's (`sync/src/wire.rs`) input for input.
 */

import {
  decodeDelta,
  deltaFromJson,
  deltaToJson,
  MAX_DOCUMENT_BYTES,
  writeDeltaPrefixed,
  type Delta,
} from "./delta";
import { SyncError } from "./errors";
import { hashFromBytes, hashFromHex, hashToBytes, hashToHex, type Hash } from "./hash";
import { assertWellFormed } from "./unicode";
import { ByteWriter, Reader } from "./varint";

/** Size limits a decoder enforces. */
export interface Limits {
  /** A document's UTF-8 size; also the bound on a delta's lengths in code points. */
  maxDocumentBytes: number;
  /** A whole message. */
  maxMessageBytes: number;
  /** Most unacknowledged edits a view or client keeps; past it the view is resynced. */
  maxStack: number;
  /** Time budget of one diff, in milliseconds (a timed-out diff is correct, only larger). */
  diffTimeoutMs: number;
  /** How many recent master changes the server keeps to catch views up without diffing. */
  maxLog: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxDocumentBytes: MAX_DOCUMENT_BYTES,
  maxMessageBytes: 16 * 1024 * 1024,
  maxStack: 1024,
  diffTimeoutMs: 150,
  maxLog: 1024,
});

export const RESYNC_REQUEST = 0x01;
export const SYNC = 0x02;
export const REPLY = 0x81;
export const RESYNC = 0x82;
export const NUDGE = 0x83;
export const ERROR = 0x84;

/** "Send me the whole text." */
export interface ResyncRequest {
  type: "ResyncRequest";
  seq: number;
}
/** The client's unacknowledged edits (versions `nFirst..`) and its acknowledgement of server versions below `mAck`. */
export interface Sync {
  type: "Sync";
  seq: number;
  mAck: number;
  nFirst: number;
  edits: Delta[];
  hash: Hash;
}
export type ClientMessage = ResyncRequest | Sync;

/** An edit the server could not apply to the master text: the client version and the text that was dropped. */
export interface Failure {
  n: number;
  dropped: string;
}
/** The answer to a Sync: client versions below `nAck` are applied; server edits `mFirst..` follow. */
export interface Reply {
  type: "Reply";
  seq: number;
  nAck: number;
  mFirst: number;
  edits: Delta[];
  hash: Hash;
  failures: Failure[];
}
/** The whole text with fresh versions: client versions below `n` are in it. */
export interface Resync {
  type: "Resync";
  seq: number;
  n: number;
  m: number;
  text: string;
  hash: Hash;
}
/** The master changed: sync when nothing is in flight. */
export interface Nudge {
  type: "Nudge";
}
/** The server refused a message; `code` is an error code (see `ERROR_CODES`). */
export interface ErrorMessage {
  type: "Error";
  code: number;
  message: string;
}
export type ServerMessage = Reply | Resync | Nudge | ErrorMessage;
export type Message = ClientMessage | ServerMessage;

function writeEdits(out: ByteWriter, edits: readonly Delta[]): void {
  out.varint(edits.length);
  for (const delta of edits) writeDeltaPrefixed(delta, out);
}

function readEdits(reader: Reader, limits: Limits): Delta[] {
  // Every delta takes at least its one-byte length prefix, which bounds the count.
  const count = reader.count();
  const edits: Delta[] = [];
  for (let i = 0; i < count; i++) {
    const length = reader.count();
    edits.push(decodeDelta(reader.take(length), limits.maxDocumentBytes));
  }
  return edits;
}

function writeString(out: ByteWriter, text: string): void {
  assertWellFormed(text);
  out.string(text);
}

function checkSize(bytes: Uint8Array, limits: Limits): void {
  if (bytes.length > limits.maxMessageBytes) {
    throw new SyncError("MessageTooLarge", `${bytes.length} bytes, the limit is ${limits.maxMessageBytes}`);
  }
}

/** Encodes any message. */
export function encodeMessage(message: Message): Uint8Array {
  const out = new ByteWriter(32);
  switch (message.type) {
    case "ResyncRequest":
      out.byte(RESYNC_REQUEST);
      out.varint(message.seq);
      break;
    case "Sync":
      out.byte(SYNC);
      out.varint(message.seq);
      out.varint(message.mAck);
      out.varint(message.nFirst);
      writeEdits(out, message.edits);
      out.bytes(hashToBytes(message.hash));
      break;
    case "Reply":
      out.byte(REPLY);
      out.varint(message.seq);
      out.varint(message.nAck);
      out.varint(message.mFirst);
      writeEdits(out, message.edits);
      out.bytes(hashToBytes(message.hash));
      out.varint(message.failures.length);
      for (const failure of message.failures) {
        out.varint(failure.n);
        writeString(out, failure.dropped);
      }
      break;
    case "Resync":
      out.byte(RESYNC);
      out.varint(message.seq);
      out.varint(message.n);
      out.varint(message.m);
      writeString(out, message.text);
      out.bytes(hashToBytes(message.hash));
      break;
    case "Nudge":
      out.byte(NUDGE);
      break;
    case "Error":
      out.byte(ERROR);
      out.varint(message.code);
      writeString(out, message.message);
      break;
  }
  return out.finish();
}

/** Decodes a client → server message. */
export function decodeClient(bytes: Uint8Array, limits: Limits = DEFAULT_LIMITS): ClientMessage {
  checkSize(bytes, limits);
  const reader = new Reader(bytes);
  let message: ClientMessage;
  const type = reader.byte();
  switch (type) {
    case RESYNC_REQUEST:
      message = { type: "ResyncRequest", seq: reader.varint() };
      break;
    case SYNC: {
      const seq = reader.varint();
      const mAck = reader.varint();
      const nFirst = reader.varint();
      const edits = readEdits(reader, limits);
      const hash = hashFromBytes(reader.take(8));
      message = { type: "Sync", seq, mAck, nFirst, edits, hash };
      break;
    }
    default:
      throw new SyncError("UnknownMessage", `unknown message type 0x${type.toString(16).padStart(2, "0")}`);
  }
  reader.finish();
  return message;
}

/** Decodes a server → client message. */
export function decodeServer(bytes: Uint8Array, limits: Limits = DEFAULT_LIMITS): ServerMessage {
  checkSize(bytes, limits);
  const reader = new Reader(bytes);
  let message: ServerMessage;
  const type = reader.byte();
  switch (type) {
    case REPLY: {
      const seq = reader.varint();
      const nAck = reader.varint();
      const mFirst = reader.varint();
      const edits = readEdits(reader, limits);
      const hash = hashFromBytes(reader.take(8));
      const count = reader.count();
      const failures: Failure[] = [];
      for (let i = 0; i < count; i++) {
        const n = reader.varint();
        failures.push({ n, dropped: reader.string(limits.maxDocumentBytes) });
      }
      message = { type: "Reply", seq, nAck, mFirst, edits, hash, failures };
      break;
    }
    case RESYNC: {
      const seq = reader.varint();
      const n = reader.varint();
      const m = reader.varint();
      const text = reader.string(limits.maxDocumentBytes);
      const hash = hashFromBytes(reader.take(8));
      message = { type: "Resync", seq, n, m, text, hash };
      break;
    }
    case NUDGE:
      message = { type: "Nudge" };
      break;
    case ERROR: {
      const code = reader.varint();
      message = { type: "Error", code, message: reader.string(limits.maxMessageBytes) };
      break;
    }
    default:
      throw new SyncError("UnknownMessage", `unknown message type 0x${type.toString(16).padStart(2, "0")}`);
  }
  reader.finish();
  return message;
}

/** Decodes either direction, by the first byte (types 0x80 and up come from the server). */
export function decodeMessage(bytes: Uint8Array, limits: Limits = DEFAULT_LIMITS): Message {
  checkSize(bytes, limits);
  if (bytes.length > 0 && bytes[0]! >= 0x80) return decodeServer(bytes, limits);
  return decodeClient(bytes, limits);
}

/** The JSON form the Rust engine writes (serde, `type` tag, snake_case fields, hashes as 16 hex digits). */
export function messageToJson(message: Message): Record<string, unknown> {
  switch (message.type) {
    case "ResyncRequest":
      return { type: message.type, seq: message.seq };
    case "Sync":
      return {
        type: message.type,
        seq: message.seq,
        m_ack: message.mAck,
        n_first: message.nFirst,
        edits: message.edits.map(deltaToJson),
        hash: hashToHex(message.hash),
      };
    case "Reply":
      return {
        type: message.type,
        seq: message.seq,
        n_ack: message.nAck,
        m_first: message.mFirst,
        edits: message.edits.map(deltaToJson),
        hash: hashToHex(message.hash),
        failures: message.failures.map((failure) => ({ n: failure.n, dropped: failure.dropped })),
      };
    case "Resync":
      return {
        type: message.type,
        seq: message.seq,
        n: message.n,
        m: message.m,
        text: message.text,
        hash: hashToHex(message.hash),
      };
    case "Nudge":
      return { type: message.type };
    case "Error":
      return { type: message.type, code: message.code, message: message.message };
  }
}

function field<T>(json: Record<string, unknown>, name: string, check: (value: unknown) => value is T): T {
  const value = json[name];
  if (!check(value)) throw new SyncError("Unexpected", `JSON message field ${name} is missing or malformed`);
  return value;
}
const isCount = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
const isString = (value: unknown): value is string => typeof value === "string";
const isArray = (value: unknown): value is unknown[] => Array.isArray(value);

/** Reads the JSON form written by `messageToJson` or by the Rust engine. */
export function messageFromJson(input: unknown): Message {
  if (typeof input !== "object" || input === null) throw new SyncError("Unexpected", "a JSON message is an object");
  const json = input as Record<string, unknown>;
  const hash = () => hashFromHex(field(json, "hash", isString));
  const edits = () => field(json, "edits", isArray).map(deltaFromJson);
  switch (json["type"]) {
    case "ResyncRequest":
      return { type: "ResyncRequest", seq: field(json, "seq", isCount) };
    case "Sync":
      return {
        type: "Sync",
        seq: field(json, "seq", isCount),
        mAck: field(json, "m_ack", isCount),
        nFirst: field(json, "n_first", isCount),
        edits: edits(),
        hash: hash(),
      };
    case "Reply":
      return {
        type: "Reply",
        seq: field(json, "seq", isCount),
        nAck: field(json, "n_ack", isCount),
        mFirst: field(json, "m_first", isCount),
        edits: edits(),
        hash: hash(),
        failures: field(json, "failures", isArray).map((item) => {
          const failure = item as Record<string, unknown>;
          return { n: field(failure, "n", isCount), dropped: field(failure, "dropped", isString) };
        }),
      };
    case "Resync":
      return {
        type: "Resync",
        seq: field(json, "seq", isCount),
        n: field(json, "n", isCount),
        m: field(json, "m", isCount),
        text: field(json, "text", isString),
        hash: hash(),
      };
    case "Nudge":
      return { type: "Nudge" };
    case "Error":
      return { type: "Error", code: field(json, "code", isCount), message: field(json, "message", isString) };
    default:
      throw new SyncError("UnknownMessage", `unknown JSON message type ${String(json["type"])}`);
  }
}
