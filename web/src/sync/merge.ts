/**
 * Merges as people mean them (PROTOCOL.md §2, "Merging"): the transform of one side's delta past the other's, with
 * ties ordered so that runs typed at one place stay whole and positions never land inside a grapheme cluster.
 * Mirrors `sync/src/merge.rs` step for step, so both engines send the same bytes.
 *
 * Every merge has an `a` side, whose change is applied onto the other side's text (the client's edit onto the master
 * on the server, the server's edit onto the editor's text on a client), and a `b` side, which carries the text a
 * person is typing into. `Runs` remembers what that person typed recently.
 */

import {
  baseLength,
  compose,
  identity,
  insert,
  isIdentity,
  normalize,
  remove,
  retain,
  swapTie,
  targetLength,
  transformWith,
  checkBase,
  type Delta,
  type Op,
  type Origin,
  type Tie,
  type Trail,
} from "./delta";
import { clusterEnd, clusterStart, continues, isBoundary } from "./grapheme";
import type { Text } from "./text";

/** Most runs remembered per person; the oldest is forgotten first. */
export const MAX_RUNS = 8;

/** Adjustment rounds a merge makes at most to keep positions out of clusters. */
const MAX_ROUNDS = 4;

/**
 * The run rule (PROTOCOL.md §2): at a tie, a person's insertion goes right after its left origin, before what others
 * inserted at that spot concurrently, unless it was typed in front of that person's own recent text (its right origin
 * is theirs and its left origin is not): then it stays attached to that text and goes after the others.
 * `position` reads an origin in the coordinates `runs` are kept in.
 */
export function personFirst(
  runs: Runs,
  left: Origin | undefined,
  right: Origin | undefined,
  position: (origin: Origin) => number,
): boolean {
  const own = (origin: Origin | undefined) => origin !== undefined && runs.contains(position(origin));
  return !(own(right) && !own(left));
}

/** The stretches of a text that one person inserted, most recent first (PROTOCOL.md §2, "Own runs"). */
export class Runs {
  private ranges: [number, number][] = [];

  /** A copy, to change without touching this one. */
  clone(): Runs {
    const copy = new Runs();
    copy.ranges = this.ranges.map(([start, end]) => [start, end]);
    return copy;
  }

  /** True when the character at `pos` is one the person typed. */
  contains(pos: number): boolean {
    return this.ranges.some(([start, end]) => start <= pos && pos < end);
  }

  /** Follows the text through `delta`; with `own`, the person made it and its insertions join their runs. */
  map(delta: Delta, own: boolean): void {
    if (!own && isIdentity(delta)) return;
    let mapped: [number, number][] = [];
    for (const [start, end] of this.ranges) mapRange(delta, start, end, mapped);
    if (own) {
      let at = 0;
      for (const op of delta) {
        if (op.kind === "retain") at += op.n;
        else if (op.kind === "insert") {
          let start = at;
          let end = at + op.n;
          at = end;
          mapped = mapped.filter(([otherStart, otherEnd]) => {
            const touches = otherEnd >= start && otherStart <= end;
            if (touches) {
              start = Math.min(start, otherStart);
              end = Math.max(end, otherEnd);
            }
            return !touches;
          });
          mapped.unshift([start, end]);
        }
      }
    }
    this.ranges = mapped.slice(0, MAX_RUNS);
  }
}

/** The pieces of `start..end` that survive `delta`, split where someone else's text was inserted inside. */
function mapRange(delta: Delta, start: number, end: number, out: [number, number][]): void {
  let base = 0;
  let at = 0;
  let piece: [number, number] | undefined;
  for (const op of delta) {
    if (base >= end) break;
    if (op.kind === "retain") {
      const from = Math.max(start, base);
      const to = Math.min(end, base + op.n);
      if (from < to) {
        const pieceStart = at + from - base;
        const pieceEnd = at + to - base;
        if (piece !== undefined && piece[1] === pieceStart) piece = [piece[0], pieceEnd];
        else {
          if (piece !== undefined) out.push(piece);
          piece = [pieceStart, pieceEnd];
        }
      }
      base += op.n;
      at += op.n;
    } else if (op.kind === "delete") base += op.n;
    else at += op.n;
  }
  if (piece !== undefined) out.push(piece);
}

/** A merge's two results: `a` applies to the b side's text, `b` to the a side's; both end at the same text. */
export interface Merged {
  a: Op[];
  b: Op[];
}

/** One maximal run of non-retain ops of a delta: delete `del` at `pos` of the base, then insert `ins`. */
interface Splice {
  pos: number;
  del: number;
  ins: string;
}

function splices(delta: Delta): Splice[] {
  const out: Splice[] = [];
  let base = 0;
  let open: Splice | undefined;
  for (const op of delta) {
    if (op.kind === "retain") {
      base += op.n;
      open = undefined;
      continue;
    }
    if (open === undefined) {
      open = { pos: base, del: 0, ins: "" };
      out.push(open);
    }
    if (op.kind === "delete") {
      open.del += op.n;
      base += op.n;
    } else open.ins += op.text;
  }
  return out;
}

function rebuild(list: readonly Splice[], baseLen: number): Op[] {
  const ops: Op[] = [];
  let at = 0;
  for (const splice of list) {
    ops.push(retain(splice.pos - at), remove(splice.del), insert(splice.ins));
    at = splice.pos + splice.del;
  }
  ops.push(retain(baseLen - at));
  return normalize(ops);
}

/** Where base position `gap` is in the delta's result, before anything the delta inserts at that gap. */
function outBefore(list: readonly Splice[], gap: number): number {
  let out = gap;
  for (const splice of list) {
    out -= Math.min(splice.del, Math.max(0, gap - splice.pos));
    if (splice.pos + splice.del < gap) out += insert(splice.ins).n;
  }
  return out;
}

type Mend = { kind: "flip"; gap: number } | { kind: "adjust"; adjusted: Op[]; shift: Op[] };

/**
 * Merges `a` and `b`, both made against `base`; `bText` is b's result (the text a will be applied to).
 * `aFirst` orders a tie neither side's clusters decide (the run rule of the caller).
 */
export function merge(base: Text, bText: Text, a: Delta, b: Delta, aFirst: (tie: Tie) => boolean): Merged {
  // Nothing to merge: the one change applies as it is.
  if (isIdentity(b)) {
    checkBase(a, baseLength(b));
    return { a: [...a], b: identity(targetLength(a)) };
  }
  if (isIdentity(a)) {
    checkBase(b, baseLength(a));
    return { a: identity(targetLength(b)), b: [...b] };
  }
  const flips = new Set<number>();
  const decide = (tie: Tie): boolean => {
    // A piece that continues the cluster before the gap stays attached to it; then the caller's run rule.
    let first: boolean;
    if (continues(base, tie.gap, tie.b)) first = false;
    else if (continues(base, tie.gap, tie.a)) first = true;
    else first = aFirst(tie);
    return first !== flips.has(tie.gap);
  };
  let current: Delta = a;
  let shift: Op[] = identity(targetLength(a));
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const trail: Trail = { inserts: [], deletes: [] };
    transformWith(current, b, decide, trail);
    const mend = findMend(base, bText, current, trail, flips);
    if (mend === undefined) break;
    if (mend.kind === "flip") flips.add(mend.gap);
    else {
      shift = compose(shift, mend.shift);
      current = mend.adjusted;
    }
  }
  const ontoB = transformWith(current, b, decide);
  const ontoA = transformWith(b, current, (tie) => !decide(swapTie(tie)));
  return { a: ontoB, b: compose(shift, ontoA) };
}

/**
 * The first position of the transformed `a` that lands inside a cluster of `bText` although `a` put it on a boundary
 * of the base, and how to mend it: flip a tie, move an insertion past the next base cluster, or keep the base cluster
 * at the edge of a deletion.
 */
function findMend(base: Text, bText: Text, a: Delta, trail: Trail, flips: Set<number>): Mend | undefined {
  for (const placed of trail.inserts) {
    if (isBoundary(bText, placed.at) || !isBoundary(base, placed.base)) continue;
    if (placed.tie && !flips.has(placed.base)) return { kind: "flip", gap: placed.base };
    const list = splices(a);
    const index = list.findIndex((splice) => splice.pos + splice.del === placed.base && splice.ins.length > 0);
    if (index < 0) continue;
    const gap = placed.base;
    const to = clusterEnd(base, gap + 1);
    const next = list[index + 1];
    if (gap >= base.length || (next !== undefined && next.pos <= to)) continue;
    const out = outBefore(list, gap);
    const inserted = list[index]!.ins;
    const movedLen = insert(inserted).n;
    list[index] = { ...list[index]!, ins: "" };
    list.splice(index + 1, 0, { pos: to, del: 0, ins: inserted });
    const kept = list.filter((splice) => splice.del > 0 || splice.ins.length > 0);
    // Move the base characters in front of the inserted text, not the text behind them, so the typist's cursor
    // (after what they typed) stays after it.
    const shift = normalize([
      retain(out),
      insert(base.slice(gap, to)),
      retain(movedLen),
      remove(to - gap),
      retain(targetLength(a) - out - movedLen - (to - gap)),
    ]);
    return { kind: "adjust", adjusted: rebuild(kept, base.length), shift };
  }
  // Deleted stretches, joined where they touch in `bText`.
  const runs: { atStart: number; atEnd: number; baseStart: number; baseEnd: number }[] = [];
  for (const placed of trail.deletes) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.atEnd === placed.at) {
      last.atEnd += placed.len;
      last.baseEnd = placed.base + placed.len;
    } else {
      runs.push({ atStart: placed.at, atEnd: placed.at + placed.len, baseStart: placed.base, baseEnd: placed.base + placed.len });
    }
  }
  for (const run of runs) {
    const badStart = !isBoundary(bText, run.atStart) && isBoundary(base, run.baseStart);
    const badEnd = !isBoundary(bText, run.atEnd) && isBoundary(base, run.baseEnd);
    if (!badStart && !badEnd) continue;
    const list = splices(a);
    // Keep the base cluster at the bad edge, so the cluster the other side changed survives whole.
    const [keepFrom, keepTo] = badEnd
      ? [clusterStart(base, run.baseEnd - 1), run.baseEnd]
      : [run.baseStart, clusterEnd(base, run.baseStart + 1)];
    const index = list.findIndex((splice) => splice.pos <= keepFrom && keepTo <= splice.pos + splice.del);
    if (index < 0) continue;
    const splice = list[index]!;
    const out = outBefore(list, splice.pos);
    const replacement: Splice[] = [];
    if (keepFrom > splice.pos) replacement.push({ pos: splice.pos, del: keepFrom - splice.pos, ins: "" });
    replacement.push({ pos: keepTo, del: splice.pos + splice.del - keepTo, ins: splice.ins });
    list.splice(index, 1, ...replacement);
    const kept = list.filter((item) => item.del > 0 || item.ins.length > 0);
    const shift = normalize([retain(out), insert(base.slice(keepFrom, keepTo)), retain(targetLength(a) - out)]);
    return { kind: "adjust", adjusted: rebuild(kept, base.length), shift };
  }
  return undefined;
}
