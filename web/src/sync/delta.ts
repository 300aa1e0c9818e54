/**
 * Deltas (PROTOCOL.md §2): canonical edit scripts over code points, with normalize, apply, compose, transform,
 * splice and the strict binary codec. Every function returns canonical deltas; the decoder accepts nothing else.
 */

import { SyncError } from "./errors";
import { assertWellFormed, cpLength, cpToUnit, isBmpOnly } from "./unicode";
import { ByteWriter, Reader, utf8Decode, utf8Encode } from "./varint";

/** Keep the next `n` code points. */
export interface Retain {
  readonly kind: "retain";
  readonly n: number;
}
/** Drop the next `n` code points. */
export interface Delete {
  readonly kind: "delete";
  readonly n: number;
}
/** Insert `text`, which is `n` code points long. */
export interface Insert {
  readonly kind: "insert";
  readonly text: string;
  readonly n: number;
}
export type Op = Retain | Delete | Insert;

/** A delta is a list of ops; the functions of this module only ever build canonical ones. */
export type Delta = readonly Op[];

export function retain(n: number): Retain {
  return { kind: "retain", n };
}
export function remove(n: number): Delete {
  return { kind: "delete", n };
}
export function insert(text: string): Insert {
  return { kind: "insert", text, n: cpLength(text) };
}

/**
 * The canonical delta doing what `ops` do: empty ops dropped, each run of non-retain ops merged into one Delete
 * followed by one Insert, adjacent retains merged.
 */
export function normalize(ops: Iterable<Op>): Op[] {
  const out: Op[] = [];
  let deleted = 0;
  let inserted: string[] = [];
  let insertedLength = 0;
  const flush = () => {
    if (deleted > 0) out.push(remove(deleted));
    if (insertedLength > 0) out.push({ kind: "insert", text: inserted.join(""), n: insertedLength });
    deleted = 0;
    inserted = [];
    insertedLength = 0;
  };
  for (const op of ops) {
    if (op.n === 0) continue;
    switch (op.kind) {
      case "retain": {
        flush();
        const last = out[out.length - 1];
        if (last !== undefined && last.kind === "retain") out[out.length - 1] = retain(last.n + op.n);
        else out.push(op);
        break;
      }
      case "delete":
        deleted += op.n;
        break;
      case "insert":
        inserted.push(op.text);
        insertedLength += op.n;
        break;
    }
  }
  flush();
  return out;
}

/** The delta that changes nothing in a text of `length` code points: `[Retain(L)]`, or `[]` on the empty text. */
export function identity(length: number): Op[] {
  return length > 0 ? [retain(length)] : [];
}

/** True when the delta changes nothing. */
export function isIdentity(delta: Delta): boolean {
  return delta.every((op) => op.kind === "retain");
}

/** The length of the text the delta applies to. */
export function baseLength(delta: Delta): number {
  let total = 0;
  for (const op of delta) if (op.kind !== "insert") total += op.n;
  return total;
}

/** The length of the text the delta produces. */
export function targetLength(delta: Delta): number {
  let total = 0;
  for (const op of delta) if (op.kind !== "delete") total += op.n;
  return total;
}

/** Fails with `LengthMismatch` unless the delta applies to a text of `length` code points. */
export function checkBase(delta: Delta, length: number): void {
  const base = baseLength(delta);
  if (base !== length) {
    throw new SyncError("LengthMismatch", `delta covers ${base} code points but the text has ${length}`);
  }
}

/** True when `delta` is canonical (the form every function here returns and the decoder requires). */
export function isCanonical(delta: Delta): boolean {
  let previous: Op | undefined;
  for (const op of delta) {
    if (!Number.isSafeInteger(op.n) || op.n <= 0) return false;
    if (op.kind === "insert" && cpLength(op.text) !== op.n) return false;
    if (previous !== undefined) {
      if (previous.kind === op.kind) return false;
      if (previous.kind === "insert" && op.kind === "delete") return false;
    }
    previous = op;
  }
  return true;
}

/** Replace `del` code points at `pos` by `ins`, in a text of `length` code points. */
export function splice(length: number, pos: number, del: number, ins: string): Op[] {
  if (
    !Number.isSafeInteger(pos) ||
    !Number.isSafeInteger(del) ||
    pos < 0 ||
    del < 0 ||
    pos + del > length
  ) {
    throw new SyncError("OutOfRange", `edit at ${pos}+${del} is outside a text of ${length} code points`);
  }
  assertWellFormed(ins);
  return normalize([retain(pos), remove(del), insert(ins), retain(length - pos - del)]);
}

/** Applies the delta to a string. */
export function applyToString(delta: Delta, text: string): string {
  const bmp = isBmpOnly(text);
  checkBase(delta, bmp ? text.length : cpLength(text));
  const out: string[] = [];
  let unit = 0;
  for (const op of delta) {
    switch (op.kind) {
      case "retain": {
        const end = bmp ? unit + op.n : unit + cpToUnit(text.slice(unit), op.n);
        out.push(text.slice(unit, end));
        unit = end;
        break;
      }
      case "delete":
        unit = bmp ? unit + op.n : unit + cpToUnit(text.slice(unit), op.n);
        break;
      case "insert":
        out.push(op.text);
        break;
    }
  }
  return out.join("");
}

/** Walks a delta's ops, splitting the head op when only part of it is taken. */
class Stream {
  private index = 0;
  /** The head op (undefined when exhausted) and how much of it is left. */
  head: Op | undefined;
  left = 0;
  /** For an insert head: the UTF-16 offset of what is left of its text. */
  private unit = 0;

  constructor(private readonly ops: Delta) {
    this.advance();
  }

  private advance(): void {
    this.head = this.ops[this.index++];
    this.left = this.head === undefined ? 0 : this.head.n;
    this.unit = 0;
  }

  /** The rest of the head op, whole. */
  nextWhole(): Op {
    const head = this.head!;
    const op: Op =
      head.kind === "insert"
        ? this.unit === 0
          ? head
          : { kind: "insert", text: head.text.slice(this.unit), n: this.left }
        : head.n === this.left
          ? head
          : { kind: head.kind, n: this.left };
    this.advance();
    return op;
  }

  /** Takes `k <= left` code points off the head op. */
  take(k: number): Op {
    const head = this.head!;
    let op: Op;
    if (head.kind === "insert") {
      const rest = head.text.length - this.unit === this.left; // BMP-only from here on
      const end = rest ? this.unit + k : this.unit + cpToUnit(head.text.slice(this.unit), k);
      op = { kind: "insert", text: head.text.slice(this.unit, end), n: k };
      this.unit = end;
    } else {
      op = { kind: head.kind, n: k };
    }
    this.left -= k;
    if (this.left === 0) this.advance();
    return op;
  }
}

function lengthMismatch(what: string): SyncError {
  return new SyncError("LengthMismatch", what);
}

/** The delta that does `a` then `b` (a: S→T, b: T→U; the result is S→U). */
export function compose(a: Delta, b: Delta): Op[] {
  const sa = new Stream(a);
  const sb = new Stream(b);
  const out: Op[] = [];
  for (;;) {
    const ha = sa.head;
    const hb = sb.head;
    if (ha !== undefined && ha.kind === "delete") out.push(sa.nextWhole());
    else if (hb !== undefined && hb.kind === "insert") out.push(sb.nextWhole());
    else if (ha === undefined && hb === undefined) break;
    else if (ha === undefined || hb === undefined) {
      throw lengthMismatch(`compose: second delta covers ${baseLength(b)}, first produces ${targetLength(a)}`);
    } else {
      const k = Math.min(sa.left, sb.left);
      const ta = sa.take(k);
      const tb = sb.take(k);
      if (ta.kind === "retain") out.push(tb.kind === "retain" ? retain(k) : remove(k));
      else if (tb.kind === "retain") out.push(ta); // (Insert, Retain): the first k code points of a's text
      // (Insert, Delete): nothing
    }
  }
  return normalize(out);
}

/**
 * Where a side's text sat before an insertion: its left origin, the last base character that side kept before it
 * (Fugue's and RGA's left origin), at `base` in the base and at `out` in that side's own result.
 */
export interface Origin {
  base: number;
  out: number;
}

/**
 * Both sides insert at one base position: `a` (the delta being transformed) and `b` (the one it goes after), each
 * between its left origin and its right origin (the base character after the gap, when the side keeps one).
 */
export interface Tie {
  gap: number;
  a: string;
  b: string;
  aLeft: Origin | undefined;
  bLeft: Origin | undefined;
  aRight: Origin | undefined;
  bRight: Origin | undefined;
}

/** The same tie seen from the other side. */
export function swapTie(tie: Tie): Tie {
  return { gap: tie.gap, a: tie.b, b: tie.a, aLeft: tie.bLeft, bLeft: tie.aLeft, aRight: tie.bRight, bRight: tie.aRight };
}

/**
 * An insertion or a deleted stretch of a transformed delta: at `at` in the text it applies to, from `base` in the
 * base, `len` code points; `tie` when the other side inserted at the same base position.
 */
export interface Placed {
  at: number;
  base: number;
  len: number;
  tie: boolean;
}

/** What a transform placed where. */
export interface Trail {
  inserts: Placed[];
  deletes: Placed[];
}

/**
 * Rewrites `a` (made against the same base as `b`) to apply after `b`.
 * When both insert at one position, `aFirst` puts a's text first.
 */
export function transform(a: Delta, b: Delta, aFirst: boolean): Op[] {
  return transformWith(a, b, () => aFirst);
}

/**
 * `transform` with the order of every tie (both insert at one base position) decided by `aFirst`, and, when asked,
 * a trail of where the result inserts and deletes in b's result and in the base.
 */
export function transformWith(a: Delta, b: Delta, aFirst: (tie: Tie) => boolean, trail?: Trail): Op[] {
  const sa = new Stream(a);
  const sb = new Stream(b);
  const out: Op[] = [];
  const baseLen = baseLength(a);
  // Positions: in the base, in b's result (where the output applies) and in a's own result.
  let base = 0;
  let at = 0;
  let aOut = 0;
  let aLeft: Origin | undefined;
  let bLeft: Origin | undefined;
  for (;;) {
    const ha = sa.head;
    const hb = sb.head;
    const bInserts = hb !== undefined && hb.kind === "insert";
    if (ha !== undefined && ha.kind === "insert") {
      let first = true;
      if (bInserts) {
        // Canonical deltas keep the base character after an insertion (or end there).
        const right = (position: number, n: number): Origin | undefined =>
          base < baseLen ? { base, out: position + n } : undefined;
        first = aFirst({ gap: base, a: ha.text, b: hb.text, aLeft, bLeft, aRight: right(aOut, ha.n), bRight: right(at, hb.n) });
      }
      if (first) {
        trail?.inserts.push({ at, base, len: ha.n, tie: bInserts });
        aOut += ha.n;
        out.push(sa.nextWhole());
        continue;
      }
    }
    if (bInserts) {
      const n = sb.nextWhole().n;
      at += n;
      out.push(retain(n));
    } else if (ha === undefined && hb === undefined) break;
    else if (ha === undefined || hb === undefined) {
      throw lengthMismatch(`transform: deltas cover ${baseLength(a)} and ${baseLength(b)} code points`);
    } else {
      const k = Math.min(sa.left, sb.left);
      const ta = sa.take(k);
      const tb = sb.take(k);
      if (tb.kind === "retain") {
        if (ta.kind === "retain") {
          out.push(retain(k));
          aLeft = { base: base + k - 1, out: aOut + k - 1 };
          aOut += k;
        } else {
          out.push(remove(k));
          trail?.deletes.push({ at, base, len: k, tie: false });
        }
        bLeft = { base: base + k - 1, out: at + k - 1 };
        at += k;
      } else if (ta.kind === "retain") {
        aLeft = { base: base + k - 1, out: aOut + k - 1 };
        aOut += k;
      }
      // (Retain, Delete) and (Delete, Delete) emit nothing
      base += k;
    }
  }
  return normalize(out);
}

/** Appends the binary form (PROTOCOL.md §2) without a length prefix. */
export function writeDelta(delta: Delta, out: ByteWriter): void {
  for (const op of delta) {
    switch (op.kind) {
      case "retain":
        out.varint(op.n * 4);
        break;
      case "delete":
        out.varint(op.n * 4 + 1);
        break;
      case "insert": {
        const bytes = utf8Encode(op.text);
        out.varint(bytes.length * 4 + 2);
        out.bytes(bytes);
        break;
      }
    }
  }
}

/** The binary form of a delta, without a length prefix. */
export function encodeDelta(delta: Delta): Uint8Array {
  const out = new ByteWriter();
  writeDelta(delta, out);
  return out.finish();
}

/** Appends the binary form with its byte-length prefix, as messages carry it. */
export function writeDeltaPrefixed(delta: Delta, out: ByteWriter): void {
  const body = encodeDelta(delta);
  out.varint(body.length);
  out.bytes(body);
}

/** The default limit on a delta's lengths: the document size limit. */
export const MAX_DOCUMENT_BYTES = 8 * 1024 * 1024;

/**
 * Decodes a whole byte array as one delta, rejecting anything non-canonical or whose base or target exceeds
 * `limit` code points. The base length is not checked here (see `checkBase`).
 */
export function decodeDelta(bytes: Uint8Array, limit: number = MAX_DOCUMENT_BYTES): Op[] {
  const reader = new Reader(bytes);
  const ops: Op[] = [];
  let base = 0;
  let target = 0;
  while (!reader.isEmpty) {
    const header = reader.varint();
    const value = Math.floor(header / 4);
    const kind = header % 4;
    if (kind === 3) throw new SyncError("BadOp", "op kind 3");
    if (value === 0) throw new SyncError("BadOp", "zero length");
    let op: Op;
    switch (kind) {
      case 0:
        op = retain(value);
        break;
      case 1:
        op = remove(value);
        break;
      default:
        op = insert(utf8Decode(reader.take(value)));
        break;
    }
    const last = ops[ops.length - 1];
    if (last !== undefined) {
      if (last.kind === op.kind) throw new SyncError("NonCanonical", "adjacent ops of one kind");
      if (last.kind === "insert" && op.kind === "delete") throw new SyncError("NonCanonical", "insert before delete");
    }
    if (op.kind !== "insert") base += op.n;
    if (op.kind !== "delete") target += op.n;
    const size = Math.max(base, target);
    if (size > limit) throw new SyncError("DocumentTooLarge", `${size} bytes, the limit is ${limit}`);
    ops.push(op);
  }
  return ops;
}

/** A delta in JSON vectors: `[["r", n] | ["d", n] | ["i", "text"]]`. */
export type JsonOp = ["r", number] | ["d", number] | ["i", string];

export function deltaToJson(delta: Delta): JsonOp[] {
  return delta.map((op): JsonOp => {
    switch (op.kind) {
      case "retain":
        return ["r", op.n];
      case "delete":
        return ["d", op.n];
      case "insert":
        return ["i", op.text];
    }
  });
}

/** Reads the JSON form as written, without normalizing (so a vector may hold a non-canonical list on purpose). */
export function deltaFromJson(json: unknown): Op[] {
  if (!Array.isArray(json)) throw new SyncError("BadOp", "a delta is a JSON array");
  return json.map((item: unknown): Op => {
    if (!Array.isArray(item) || item.length !== 2) throw new SyncError("BadOp", `bad JSON op ${JSON.stringify(item)}`);
    const [tag, value] = item as [unknown, unknown];
    if ((tag === "r" || tag === "d") && typeof value === "number" && Number.isSafeInteger(value) && value >= 0) {
      return tag === "r" ? retain(value) : remove(value);
    }
    if (tag === "i" && typeof value === "string") return insert(value);
    throw new SyncError("BadOp", `bad JSON op ${JSON.stringify(item)}`);
  });
}
