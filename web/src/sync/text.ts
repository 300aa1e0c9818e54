/**
 * A document text as an immutable list of shared chunks, each with its length in code points, its UTF-8 size and
 * its polynomial hash. Applying a delta rebuilds only the chunks it touches, so an edit costs O(chunk + chunks)
 * and the shadow hash is a fold over chunks instead of a pass over the whole text.
 */

import { checkBase, type Delta } from "./delta";
import { EMPTY_POLY, polyConcat, polyOf, type Hash, type Poly } from "./hash";
import { assertWellFormed, cpToUnit } from "./unicode";

/** Chunks are rebuilt around an edit and split to at most this many code points. */
const CHUNK_MAX = 1024;
/** A rebuilt run shorter than this absorbs its right neighbour, so edits leave no slivers behind. */
const CHUNK_MIN = 256;

interface Chunk {
  readonly text: string;
  /** Length in code points. */
  readonly n: number;
  /** UTF-8 size in bytes. */
  readonly bytes: number;
  /** The chunk's hash, computed when first asked for: texts nobody hashes (the editor's) never pay for it. */
  poly: Poly | undefined;
}

/** Measures one chunk (code points and UTF-8 bytes) in a single pass. */
function makeChunk(text: string): Chunk {
  let n = 0;
  let bytes = 0;
  const units = text.length;
  for (let i = 0; i < units; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < units) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        i++;
        bytes += 4;
      } else bytes += 3;
    } else bytes += 3;
    n++;
  }
  return { text, n, bytes, poly: undefined };
}

function chunkPoly(chunk: Chunk): Poly {
  if (chunk.poly === undefined) chunk.poly = polyOf(chunk.text);
  return chunk.poly;
}

/** Splits a string of `n` code points into chunks of at most CHUNK_MAX code points, on code point boundaries. */
function chunked(text: string, n: number, out: Chunk[]): void {
  if (n === 0) return;
  const pieces = Math.ceil(n / CHUNK_MAX);
  const size = Math.ceil(n / pieces);
  const bmp = text.length === n;
  let unit = 0;
  for (let left = n; left > 0; ) {
    const take = Math.min(size, left);
    const end = bmp ? unit + take : unit + cpToUnit(text.slice(unit), take);
    out.push(makeChunk(text.slice(unit, end)));
    unit = end;
    left -= take;
  }
}

/** Code points `start..end` of a chunk. */
function chunkSlice(chunk: Chunk, start: number, end: number): string {
  if (start === 0 && end === chunk.n) return chunk.text;
  if (chunk.text.length === chunk.n) return chunk.text.slice(start, end);
  const from = cpToUnit(chunk.text, start);
  return chunk.text.slice(from, from + cpToUnit(chunk.text.slice(from), end - start));
}

/** An immutable document text: chunked, hashed, cheap to copy (a copy shares every chunk). */
export class Text {
  /** Length in code points. */
  readonly length: number;
  /** Length of the UTF-8 form in bytes. */
  readonly utf8Length: number;
  private poly: Poly | undefined;
  private flat: string | undefined;

  private constructor(private readonly chunks: readonly Chunk[]) {
    let n = 0;
    let bytes = 0;
    for (const chunk of chunks) {
      n += chunk.n;
      bytes += chunk.bytes;
    }
    this.length = n;
    this.utf8Length = bytes;
  }

  static readonly empty: Text = new Text([]);

  /** Builds a text from a string; an unpaired surrogate is `BadUtf8`. */
  static from(text: string): Text {
    assertWellFormed(text);
    if (text.length === 0) return Text.empty;
    const whole = makeChunk(text);
    if (whole.n <= CHUNK_MAX) return new Text([whole]);
    const chunks: Chunk[] = [];
    chunked(text, whole.n, chunks);
    const result = new Text(chunks);
    result.flat = text;
    return result;
  }

  /** The shadow hash (PROTOCOL.md §1). */
  hash(): Hash {
    if (this.poly === undefined) {
      let poly = EMPTY_POLY;
      for (const chunk of this.chunks) poly = polyConcat(poly, chunkPoly(chunk));
      this.poly = poly;
    }
    return { h1: this.poly.h1, h2: this.poly.h2 };
  }

  toString(): string {
    if (this.flat === undefined) {
      this.flat = this.chunks.length === 1 ? this.chunks[0]!.text : this.chunks.map((chunk) => chunk.text).join("");
    }
    return this.flat;
  }

  /** Code points `start..end` (clamped to the text) as a string; costs O(chunks + end - start). */
  slice(start: number, end: number): string {
    const stop = Math.min(end, this.length);
    const out: string[] = [];
    let at = 0;
    for (const chunk of this.chunks) {
      if (at >= stop) break;
      const next = at + chunk.n;
      if (next > start) out.push(chunkSlice(chunk, Math.max(0, start - at), Math.min(stop, next) - at));
      at = next;
    }
    return out.join("");
  }

  /** True when both texts are equal (cheap when they share chunks or differ in length or hash). */
  equals(other: Text): boolean {
    if (this === other) return true;
    if (this.length !== other.length || this.utf8Length !== other.utf8Length) return false;
    if (this.chunks.length === other.chunks.length && this.chunks.every((chunk, i) => chunk === other.chunks[i])) {
      return true;
    }
    const a = this.hash();
    const b = other.hash();
    if (a.h1 !== b.h1 || a.h2 !== b.h2) return false;
    return this.toString() === other.toString();
  }

  /** Applies a delta whose base is this text (`LengthMismatch` otherwise). Unchanged chunks are shared. */
  apply(delta: Delta): Text {
    checkBase(delta, this.length);
    const source = this.chunks;
    const out: Chunk[] = [];
    let pending: string[] = [];
    let pendingN = 0;
    let index = 0; // current source chunk
    let offset = 0; // code points of it already consumed

    const flush = () => {
      if (pendingN > 0) chunked(pending.join(""), pendingN, out);
      pending = [];
      pendingN = 0;
    };
    // Called when the cursor reaches a chunk boundary: a long enough rebuilt run becomes chunks of its own.
    const boundary = () => {
      if (pendingN >= CHUNK_MIN) flush();
    };

    for (const op of delta) {
      if (op.kind === "insert") {
        pending.push(op.text);
        pendingN += op.n;
        continue;
      }
      let left = op.n;
      while (left > 0) {
        const chunk = source[index]!;
        const available = chunk.n - offset;
        if (op.kind === "retain" && offset === 0 && pendingN === 0 && left >= chunk.n) {
          out.push(chunk); // untouched: shared
        } else {
          const take = Math.min(left, available);
          if (op.kind === "retain") {
            pending.push(chunkSlice(chunk, offset, offset + take));
            pendingN += take;
          }
          if (take < available) {
            offset += take;
            left = 0;
            break;
          }
          left -= take;
          index++;
          offset = 0;
          boundary();
          continue;
        }
        left -= chunk.n;
        index++;
      }
    }
    // The delta covered the whole base, so we are at the end; a short tail merges into its left neighbour.
    if (pendingN > 0 && pendingN < CHUNK_MIN && out.length > 0) {
      const last = out.pop()!;
      pending.unshift(last.text);
      pendingN += last.n;
    }
    flush();
    return new Text(out);
  }
}
