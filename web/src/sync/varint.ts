/**
 * Unsigned LEB128 varints limited to 2^53 - 1 (so a JS number holds them exactly), a growable byte writer and a
 * bounds-checked reader. Rejections match the Rust reader (`sync/src/varint.rs`) input for input.
 */

import { SyncError } from "./errors";

/** The largest value a varint may carry. */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER; // 2^53 - 1

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of a string (the caller guarantees it has no unpaired surrogate). */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Strict UTF-8 decoding: invalid sequences, overlong forms and encoded surrogates are `BadUtf8`; a BOM is kept. */
export function utf8Decode(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new SyncError("BadUtf8");
  }
}

/** An append-only byte buffer. */
export class ByteWriter {
  private buffer: Uint8Array;
  private used = 0;

  constructor(capacity = 64) {
    this.buffer = new Uint8Array(Math.max(capacity, 16));
  }

  get length(): number {
    return this.used;
  }

  private reserve(extra: number): void {
    const needed = this.used + extra;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.buffer.subarray(0, this.used));
    this.buffer = bigger;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.used++] = value;
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buffer.set(data, this.used);
    this.used += data.length;
  }

  /** Appends `value` (an integer in 0..=2^53-1) as an unsigned LEB128 varint. */
  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`varint out of range: ${value}`);
    }
    this.reserve(8);
    // Below 2^31 bit operations are exact; above, plain arithmetic is (every step stays an exact double).
    while (value >= 0x80) {
      this.buffer[this.used++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buffer[this.used++] = value;
  }

  /** Appends a varint byte length and the UTF-8 bytes of `text`. */
  string(text: string): void {
    const data = utf8Encode(text);
    this.varint(data.length);
    this.bytes(data);
  }

  /** Appends a 32-bit unsigned integer, little-endian. */
  u32le(value: number): void {
    this.reserve(4);
    this.buffer[this.used++] = value & 0xff;
    this.buffer[this.used++] = (value >>> 8) & 0xff;
    this.buffer[this.used++] = (value >>> 16) & 0xff;
    this.buffer[this.used++] = (value >>> 24) & 0xff;
  }

  /** The bytes written so far (a copy, so the writer may be reused). */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.used);
  }
}

/** A cursor over untrusted bytes; every read is bounds-checked. */
export class Reader {
  private pos = 0;

  constructor(private readonly data: Uint8Array) {}

  get isEmpty(): boolean {
    return this.pos >= this.data.length;
  }

  get remaining(): number {
    return this.data.length - this.pos;
  }

  byte(): number {
    if (this.pos >= this.data.length) throw new SyncError("Truncated");
    return this.data[this.pos++]!;
  }

  take(length: number): Uint8Array {
    if (length > this.remaining) throw new SyncError("Truncated");
    const slice = this.data.subarray(this.pos, this.pos + length);
    this.pos += length;
    return slice;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let index = 0; index < 8; index++) {
      const byte = this.byte();
      if (index > 0 && byte === 0) throw new SyncError("BadVarint", "overlong encoding");
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        // Up to 8 groups of 7 bits the sum is below 2^56; a value past 2^53 is rejected before precision matters,
        // because every value an exact double cannot hold is itself above 2^53 - 1.
        if (value > MAX_VARINT) throw new SyncError("BadVarint", "value above 2^53 - 1");
        return value;
      }
      scale *= 128;
    }
    throw new SyncError("BadVarint", "longer than 8 bytes");
  }

  /** A varint that must fit a length bounded by `limit`. */
  length(limit: number): number {
    const value = this.varint();
    if (value > limit) throw new SyncError("DocumentTooLarge", `${value} bytes, the limit is ${limit}`);
    return value;
  }

  /** A count or length that must fit in the bytes left (each item takes at least one byte), else `Truncated`. */
  count(): number {
    const value = this.varint();
    if (value > this.remaining) throw new SyncError("Truncated");
    return value;
  }

  /** A varint-length-prefixed UTF-8 string of at most `limit` bytes. */
  string(limit: number): string {
    const length = this.length(limit);
    return utf8Decode(this.take(length));
  }

  finish(): void {
    const extra = this.remaining;
    if (extra !== 0) throw new SyncError("TrailingBytes", `${extra} trailing bytes`);
  }
}
