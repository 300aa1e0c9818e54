/**
 * The only door to diff-match-patch (the surrogate-safe fork `@cocalc/diff-match-patch`): diffs become our deltas,
 * deltas become patches, and fuzzy application reports what it dropped.
 *
 * diff-match-patch counts UTF-16 units, and its `diff_main` does split surrogate pairs (a common prefix of "🍊" and
 * "🌊" is one unit). So texts go through an `Alphabet` first: every astral code point is mapped to one BMP unit that
 * none of the texts uses, chosen outside ASCII and whitespace so dmp's word and line boundary scores see the same
 * classes as before. In that mapped space one unit is one code point: dmp's offsets, its Match_MaxBits and its
 * patch margins all count code points (as diff-match-patch-rs in Compat mode does), and nothing can split a pair.
 */

import { DiffMatchPatch, DiffOperation, type Diff, type PatchObject } from "@cocalc/diff-match-patch";

import { checkBase, identity, normalize, remove, retain, type Delta, type Op } from "./delta";
import { SyncError } from "./errors";
import { cpLength, isBmpOnly } from "./unicode";

/** dmp settings both engines use (PROTOCOL.md §5). */
export interface DmpSettings {
  /** Seconds before a diff gives up refining (the result stays correct, only larger). */
  diffTimeout: number;
  matchThreshold: number;
  matchDistance: number;
  patchMargin: number;
}

export const DEFAULT_DMP: DmpSettings = {
  diffTimeout: 0.15,
  matchThreshold: 0.5,
  matchDistance: 1000,
  patchMargin: 4,
};

function engine(settings: DmpSettings): DiffMatchPatch {
  return new DiffMatchPatch({
    diffTimeout: settings.diffTimeout,
    matchThreshold: settings.matchThreshold,
    matchDistance: settings.matchDistance,
    patchMargin: settings.patchMargin,
  });
}

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
        const c = text.charCodeAt(i);
        const cp = text.codePointAt(i)!;
        if (cp > 0xffff) {
          astral.add(cp);
          i++;
        } else used.add(c); // a lone surrogate (never in valid text) just stays as it is
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
      const unitChar = String.fromCharCode(unit);
      const real = String.fromCodePoint(cp);
      alphabet.toUnit.set(cp, unitChar);
      alphabet.fromUnit.set(unit, real);
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

/** The delta from `oldText` to `newText`, by a character diff bounded by the diff timeout. */
export function diff(oldText: string, newText: string, settings: DmpSettings = DEFAULT_DMP): Op[] {
  if (oldText === newText) return identity(cpLength(oldText));
  const alphabet = Alphabet.for([oldText, newText]);
  if (alphabet === undefined) return coarseDiff(oldText, newText);
  const diffs = engine(settings).diff_main(alphabet.encode(oldText), alphabet.encode(newText));
  return diffsToDelta(diffs, alphabet);
}

/** The dmp diffs (over mapped texts) that `delta` makes against `mappedBase`. */
function deltaToDiffs(delta: Delta, mappedBase: string, alphabet: Alphabet): Diff[] {
  const diffs: Diff[] = [];
  let pos = 0;
  for (const op of delta) {
    switch (op.kind) {
      case "retain":
        diffs.push([DiffOperation.DIFF_EQUAL, mappedBase.slice(pos, pos + op.n)]);
        pos += op.n;
        break;
      case "delete":
        diffs.push([DiffOperation.DIFF_DELETE, mappedBase.slice(pos, pos + op.n)]);
        pos += op.n;
        break;
      case "insert":
        diffs.push([DiffOperation.DIFF_INSERT, alphabet.encode(op.text)]);
        break;
    }
  }
  return diffs;
}

/** What a fuzzy patch did: the new text, and the inserted text of every hunk that could not be placed. */
export interface FuzzyResult {
  text: string;
  dropped: string[];
}

/**
 * Applies `delta` (made against `base`) onto `target`, which may have drifted from `base`:
 * `patch_make(base, diffs(delta))`, then dmp's fuzzy `patch_apply`. A hunk is what `patch_apply` works on after
 * splitting patches to Match_MaxBits; each one that fails is reported with the text it would have inserted.
 */
export function fuzzyApply(base: string, delta: Delta, target: string, settings: DmpSettings = DEFAULT_DMP): FuzzyResult {
  checkBase(delta, cpLength(base));
  const insertedTexts = delta.flatMap((op) => (op.kind === "insert" ? [op.text] : []));
  const alphabet = Alphabet.for([base, target, ...insertedTexts]);
  if (alphabet === undefined) {
    // More distinct code points than BMP units: place nothing rather than risk splitting a pair.
    return { text: target, dropped: delta.some((op) => op.kind !== "retain") ? [insertedTexts.join("")] : [] };
  }
  const dmp = engine(settings);
  const mappedBase = alphabet.encode(base);
  const patches = dmp.patch_make(mappedBase, deltaToDiffs(delta, mappedBase, alphabet));
  const [text, applied] = dmp.patch_apply(patches, alphabet.encode(target));
  const dropped: string[] = [];
  if (applied.some((ok) => !ok)) {
    const hunks = splitLikePatchApply(dmp, patches);
    if (hunks.length !== applied.length) throw new SyncError("Diff", "hunk count differs from patch_apply's");
    applied.forEach((ok, index) => {
      if (!ok) dropped.push(insertedText(hunks[index]!, alphabet));
    });
  }
  return { text: alphabet.decode(text), dropped };
}

/** The hunks `patch_apply` works on: the same deep copy, padding and split it does internally. */
function splitLikePatchApply(dmp: DiffMatchPatch, patches: PatchObject[]): PatchObject[] {
  const copy = dmp.patch_deepCopy(patches);
  dmp.patch_addPadding(copy);
  dmp.patch_splitMax(copy);
  return copy;
}

function insertedText(patch: PatchObject, alphabet: Alphabet): string {
  return alphabet.decode(
    patch.diffs
      .filter(([operation]) => operation === DiffOperation.DIFF_INSERT)
      .map(([, text]) => text)
      .join(""),
  );
}

/**
 * The client's resync merge (PROTOCOL.md §4): `patch_make(base, diff(base, text))` fuzzily applied onto `onto`.
 * Returns the merged text and the inserted text of every local hunk that could not be placed.
 */
export function merge(base: string, text: string, onto: string, settings: DmpSettings = DEFAULT_DMP): FuzzyResult {
  return fuzzyApply(base, diff(base, text, settings), onto, settings);
}
