/**
 * One WebSocket message of the browser protocol: `varint channel` + `u8 kind` + body (a local hub frame without its
 * length prefix, since the WebSocket frames it). Also the varints that ACK and FILE_DATA bodies start with, and the
 * JSON bodies of control messages.
 */

export interface Frame {
  channel: number;
  kind: number;
  body: Uint8Array;
}

/** A message that is not a frame; the connection reports it and carries on. */
export class FrameError extends Error {
  override readonly name = "FrameError";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Appends `value` (a safe non-negative integer) as an unsigned LEB128 varint. */
export function pushVarint(out: number[], value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`);
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

/** A varint off the front of `bytes`: its value and where the rest starts; `undefined` when missing or too long. */
export function readVarint(bytes: Uint8Array, start = 0): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let index = start; index < bytes.length && index < start + 8; index++) {
    const byte = bytes[index]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return Number.isSafeInteger(value) ? { value, next: index + 1 } : undefined;
    scale *= 128;
  }
  return undefined;
}

/** The bytes of one varint. */
export function varintBytes(value: number): Uint8Array {
  const out: number[] = [];
  pushVarint(out, value);
  return Uint8Array.from(out);
}

/** `varint prefix` + `rest`, as FILE_DATA bodies are. */
export function withVarintPrefix(prefix: number, rest: Uint8Array): Uint8Array {
  const head: number[] = [];
  pushVarint(head, prefix);
  const out = new Uint8Array(head.length + rest.length);
  out.set(head, 0);
  out.set(rest, head.length);
  return out;
}

export function encodeFrame(channel: number, kind: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const head: number[] = [];
  pushVarint(head, channel);
  head.push(kind);
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

export function decodeFrame(bytes: Uint8Array): Frame {
  const channel = readVarint(bytes);
  if (channel === undefined || channel.value > 0xffffffff) throw new FrameError("a frame with a bad channel number");
  if (channel.next >= bytes.length) throw new FrameError("a frame with no kind");
  return { channel: channel.value, kind: bytes[channel.next]!, body: bytes.subarray(channel.next + 1) };
}

export function jsonBody(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses a JSON body; malformed JSON is a `FrameError`. */
export function parseBody<T>(body: Uint8Array): T {
  try {
    return JSON.parse(decoder.decode(body)) as T;
  } catch {
    throw new FrameError("a frame whose body is not JSON");
  }
}

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
