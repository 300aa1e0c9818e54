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

import { identity, normalize, remove, retain, type Op } from "./delta";
import { cpLength, isBmpOnly } from "./unicode";

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
  if (alphabet === undefined) return coarseDiff(oldText, newText);
  const dmp = new DiffMatchPatch({ diffTimeout: timeoutMs / 1000 });
  return diffsToDelta(dmp.diff_main(alphabet.encode(oldText), alphabet.encode(newText)), alphabet);
}
