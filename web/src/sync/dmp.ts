/**
 * The only door to diff-match-patch (the surrogate-safe fork `@cocalc/diff-match-patch`): a bounded character diff
 * in code points, turned into our deltas. Nothing is fuzzy-patched (see PROTOCOL.md).
 *
 * diff-match-patch counts UTF-16 units, and its `diff_main` does split surrogate pairs (a common prefix of "🍊" and
 * "🌊" is one unit, their shared high surrogate). So texts go through an `Alphabet` first: every astral code point is
 * mapped to one BMP unit that none of the texts uses, chosen outside ASCII and whitespace so dmp's word and line
 * boundary scores see the same classes as before. In that mapped space one unit is one code point, as in
 * diff-match-patch-rs's Compat mode, and nothing can split a pair.
 */

import { DiffMatchPatch, DiffOperation, type Diff } from "@cocalc/diff-match-patch";

import { identity, insert, normalize, remove, retain, type Delta, type Op } from "./delta";
import { codePointsOf, isBoundary, type CodePoints } from "./grapheme";
import { cpLength, isBmpOnly } from "./unicode";

/** How far a pure insertion or deletion may slide to reach cluster boundaries before it is widened instead. */
const MAX_SLIDE = 8;

const WHITESPACE = /\s/;

/** A bijection between the code points of some texts and single UTF-16 units, identity on the BMP. */
export class Alphabet {
  private readonly toUnit = new Map<number, string>();
  private readonly fromUnit = new Map<number, string>();

  /** Builds the mapping for every astral code point in `texts`; `undefined` when there are more than free units. */
  static for(texts: readonly string[]): Alphabet | undefined {
    const alphabet = new Alphabet();
    if (texts.every(isBmpOnly)) return alphabet;
    const used = new Set<number>();
    const astral = new Set<number>();
    for (const text of texts) {
      for (let i = 0; i < text.length; i++) {
        const cp = text.codePointAt(i)!;
        if (cp > 0xffff) {
          astral.add(cp);
          i++;
        } else used.add(cp); // a lone surrogate (never in valid text) just stays as it is
      }
    }
    let candidate = 0xe000; // the Private Use Area first, then the rest of the BMP above Latin-1
    const next = (): number | undefined => {
      for (;;) {
        if (candidate === 0xfffe) candidate = 0x0100;
        else if (candidate === 0xd800) return undefined;
        const c = candidate++;
        if (!used.has(c) && !WHITESPACE.test(String.fromCharCode(c))) return c;
      }
    };
    for (const cp of astral) {
      const unit = next();
      if (unit === undefined) return undefined;
      alphabet.toUnit.set(cp, String.fromCharCode(unit));
      alphabet.fromUnit.set(unit, String.fromCodePoint(cp));
    }
    return alphabet;
  }

  /** Maps a real text into one unit per code point. */
  encode(text: string): string {
    if (this.toUnit.size === 0 || isBmpOnly(text)) return text;
    return text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, (pair) => this.toUnit.get(pair.codePointAt(0)!)!);
  }

  /** Maps a mapped text back. */
  decode(text: string): string {
    if (this.fromUnit.size === 0) return text;
    let out = "";
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const real = this.fromUnit.get(text.charCodeAt(i));
      if (real !== undefined) {
        out += text.slice(start, i) + real;
        start = i + 1;
      }
    }
    return start === 0 ? text : out + text.slice(start);
  }
}

/** Turns dmp diffs over mapped texts into a canonical delta. */
function diffsToDelta(diffs: readonly Diff[], alphabet: Alphabet): Op[] {
  return normalize(
    diffs.map(([operation, text]): Op => {
      switch (operation) {
        case DiffOperation.DIFF_EQUAL:
          return retain(text.length);
        case DiffOperation.DIFF_DELETE:
          return remove(text.length);
        default:
          return { kind: "insert", text: alphabet.decode(text), n: text.length };
      }
    }),
  );
}

/** A coarse but correct delta (common prefix and suffix, the middle replaced), for when no alphabet fits. */
function coarseDiff(oldText: string, newText: string): Op[] {
  const a = Array.from(oldText);
  const b = Array.from(newText);
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (
    suffix < a.length - prefix &&
    suffix < b.length - prefix &&
    a[a.length - 1 - suffix] === b[b.length - 1 - suffix]
  ) {
    suffix++;
  }
  return normalize([
    retain(prefix),
    remove(a.length - prefix - suffix),
    { kind: "insert", text: b.slice(prefix, b.length - suffix).join(""), n: b.length - prefix - suffix },
    retain(suffix),
  ]);
}

/** The delta from `oldText` to `newText`, by a character diff bounded by `timeoutMs` (a timed-out diff is still correct). */
export function diff(oldText: string, newText: string, timeoutMs = 150): Op[] {
  if (oldText === newText) return identity(cpLength(oldText));
  const alphabet = Alphabet.for([oldText, newText]);
  const delta =
    alphabet === undefined
      ? coarseDiff(oldText, newText)
      : diffsToDelta(
          new DiffMatchPatch({ diffTimeout: timeoutMs / 1000 }).diff_main(alphabet.encode(oldText), alphabet.encode(newText)),
          alphabet,
        );
  return align(Array.from(oldText), Array.from(newText), delta);
}

/** A changed stretch: `old[oldStart..oldEnd]` became `new[newStart..newEnd]`. */
interface Region {
  oldStart: number;
  oldEnd: number;
  newStart: number;
  newEnd: number;
}

/**
 * Rewrites a diff so that every change starts and ends on grapheme cluster boundaries of both texts (PROTOCOL.md §2,
 * "Clusters"): diff-match-patch cuts between code points, so it may insert half a flag next to an equal half. A pure
 * insertion or deletion first slides along equal text (at most `MAX_SLIDE` places, nearest first, left before right);
 * otherwise the change widens to whole clusters, merging with its neighbours when it reaches them.
 * Mirrors `align` in `sync/src/dmp.rs`.
 */
function align(oldChars: readonly string[], newChars: readonly string[], delta: Delta): Op[] {
  const old: CodePoints = codePointsOf(oldChars);
  const neu: CodePoints = codePointsOf(newChars);
  const regions: Region[] = [];
  let atOld = 0;
  let atNew = 0;
  for (const op of delta) {
    if (op.kind === "retain") {
      atOld += op.n;
      atNew += op.n;
      continue;
    }
    const oldLen = op.kind === "delete" ? op.n : 0;
    const newLen = op.kind === "insert" ? op.n : 0;
    const last = regions[regions.length - 1];
    if (last !== undefined && last.oldEnd === atOld && last.newEnd === atNew) {
      last.oldEnd += oldLen;
      last.newEnd += newLen;
    } else regions.push({ oldStart: atOld, oldEnd: atOld + oldLen, newStart: atNew, newEnd: atNew + newLen });
    atOld += oldLen;
    atNew += newLen;
  }
  const aligned = (region: Region) =>
    isBoundary(old, region.oldStart) &&
    isBoundary(old, region.oldEnd) &&
    isBoundary(neu, region.newStart) &&
    isBoundary(neu, region.newEnd);
  const out: Region[] = [];
  let index = 0;
  while (index < regions.length) {
    let region = { ...regions[index]! };
    index += 1;
    if (aligned(region)) {
      out.push(region);
      continue;
    }
    const floor = out[out.length - 1]?.oldEnd ?? 0;
    const ceiling = regions[index]?.oldStart ?? oldChars.length;
    const slid = slide(oldChars, newChars, region, floor, ceiling, aligned);
    if (slid !== undefined) {
      out.push(slid);
      continue;
    }
    // Widen to whole clusters; the text outside a change is equal in both, so both sides move together.
    for (;;) {
      while (!(isBoundary(old, region.oldStart) && isBoundary(neu, region.newStart))) {
        region.oldStart -= 1;
        region.newStart -= 1;
      }
      while (!(isBoundary(old, region.oldEnd) && isBoundary(neu, region.newEnd))) {
        region.oldEnd += 1;
        region.newEnd += 1;
      }
      const previous = out[out.length - 1];
      if (previous !== undefined && previous.oldEnd >= region.oldStart) {
        out.pop();
        region = { ...region, oldStart: previous.oldStart, newStart: previous.newStart };
        continue;
      }
      const next = regions[index];
      if (next !== undefined && next.oldStart <= region.oldEnd) {
        index += 1;
        region = { ...region, oldEnd: next.oldEnd, newEnd: next.newEnd };
        continue;
      }
      break;
    }
    out.push(region);
  }
  const ops: Op[] = [];
  let at = 0;
  for (const region of out) {
    ops.push(
      retain(region.oldStart - at),
      remove(region.oldEnd - region.oldStart),
      insert(newChars.slice(region.newStart, region.newEnd).join("")),
    );
    at = region.oldEnd;
  }
  ops.push(retain(oldChars.length - at));
  return normalize(ops);
}

/**
 * Slides a pure insertion or deletion along equal text, between `floor` and `ceiling` of the old text, to the nearest
 * place where `aligned` holds.
 */
function slide(
  old: readonly string[],
  neu: readonly string[],
  region: Region,
  floor: number,
  ceiling: number,
  aligned: (region: Region) => boolean,
): Region | undefined {
  const inserts = region.oldStart === region.oldEnd;
  const deletes = region.newStart === region.newEnd;
  if (!inserts && !deletes) return undefined;
  const shifted = (r: Region, by: number): Region => ({
    oldStart: r.oldStart + by,
    oldEnd: r.oldEnd + by,
    newStart: r.newStart + by,
    newEnd: r.newEnd + by,
  });
  // One step left or right, if the text moved over equals the text moved into.
  const step = (r: Region, left: boolean): Region | undefined => {
    const [text, start, end] = inserts ? [neu, r.newStart, r.newEnd] : [old, r.oldStart, r.oldEnd];
    if (left) return r.oldStart > floor && start > 0 && text[start - 1] === text[end - 1] ? shifted(r, -1) : undefined;
    return r.oldEnd < ceiling && end < text.length && text[start] === text[end] ? shifted(r, 1) : undefined;
  };
  let left: Region | undefined = region;
  let right: Region | undefined = region;
  for (let i = 0; i < MAX_SLIDE; i++) {
    left = left === undefined ? undefined : step(left, true);
    if (left !== undefined && aligned(left)) return left;
    right = right === undefined ? undefined : step(right, false);
    if (right !== undefined && aligned(right)) return right;
  }
  return undefined;
}
