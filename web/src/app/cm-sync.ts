/**
 * Between CodeMirror and the sync engine. The engine holds the file's text exactly as it is on disk and counts code
 * points; CodeMirror counts UTF-16 units and normalises what it shows: every line break (`\r\n`, `\r` or `\n`) is one
 * `\n` to it, and we hide a leading byte order mark. `TextMap` remembers what CodeMirror forgets (the kind of every
 * line break, the BOM, where the astral characters are), so every position and change maps exactly both ways and an
 * edit never moves a byte it did not touch.
 *
 * Work per change is proportional to the change plus a logarithm of the document (and to the number of line breaks of
 * a minority kind and of astral characters, which real files have few of), never to the whole text: typing in a
 * 5 MB file costs what typing in a small one does.
 */

import type { ChangeSet, ChangeSpec, Text } from "@codemirror/state";
import { cpLength, normalize, type Delta, type Op } from "../sync";

/** A line break as the file has it. */
export type LineBreak = "\n" | "\r\n" | "\r";

const BOM = "\uFEFF";
const BREAKS = /\r\n|\r|\n/g;
const ASTRAL = /[\uD800-\uDBFF][\uDC00-\uDFFF]/g;

/** Engine text cut into what CodeMirror shows (lines joined by `\n`) and what it does not. */
interface Parsed {
  /** The text as CodeMirror holds it. */
  readonly shown: string;
  /** The kind of each line break, in order. */
  readonly breaks: LineBreak[];
  /** Positions (UTF-16, in `shown`) of the high surrogate of every surrogate pair. */
  readonly astral: number[];
}

function parse(text: string): Parsed {
  const breaks: LineBreak[] = [];
  const shown = text.replace(BREAKS, (lineBreak) => {
    breaks.push(lineBreak as LineBreak);
    return "\n";
  });
  const astral: number[] = [];
  for (const match of shown.matchAll(ASTRAL)) astral.push(match.index);
  return { shown, breaks, astral };
}

/** The first index in sorted `values` whose value is at least `value`. */
function lowerBound(values: readonly number[], value: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (values[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** One change in engine coordinates: code points `[from, to)` replaced by `text`. */
interface EngineChange {
  from: number;
  to: number;
  text: string;
}

export class TextMap {
  /** 1 when the text starts with a BOM that CodeMirror does not show. */
  private bom: number;
  /** The break new lines get: the file's most common one (`\n` for a file without any). */
  readonly lineBreak: LineBreak;
  /** Indices (0-based, in document order) of the line breaks that are not `lineBreak`, sorted, and their kinds. */
  private exceptionIndices: number[] = [];
  private exceptionKinds: LineBreak[] = [];
  /** `exceptionExtra[i]`: the code points the first `i` exceptions add beyond `lineBreak`'s length; rebuilt lazily. */
  private exceptionExtra: number[] | undefined;
  /** CodeMirror positions of the high surrogates of surrogate pairs, sorted. */
  private astral: number[];

  private constructor(bom: boolean, parsed: Parsed) {
    this.bom = bom ? 1 : 0;
    this.lineBreak = mostCommon(parsed.breaks);
    this.astral = parsed.astral;
    this.addExceptions(0, parsed.breaks);
  }

  /** The map for a text as the engine holds it, and the text CodeMirror should show for it. */
  static open(text: string): { map: TextMap; shown: string } {
    const bom = text.startsWith(BOM);
    const parsed = parse(bom ? text.slice(1) : text);
    return { map: new TextMap(bom, parsed), shown: parsed.shown };
  }

  /** The engine's text for what CodeMirror shows in `doc` (whole-text; for checks and tests, not for every keystroke). */
  engineText(doc: Text): string {
    const lines = doc.toJSON();
    let text = this.bom ? BOM : "";
    let exception = 0;
    for (let index = 0; index < lines.length; index++) {
      text += lines[index];
      if (index === lines.length - 1) break;
      if (this.exceptionIndices[exception] === index) text += this.exceptionKinds[exception++];
      else text += this.lineBreak;
    }
    return text;
  }

  /** The engine position (code points) of CodeMirror position `pos` in `doc`. */
  toEngine(doc: Text, pos: number): number {
    const clamped = Math.max(0, Math.min(pos, doc.length));
    const breaksBefore = doc.lineAt(clamped).number - 1;
    // A pair counts one code point once both its units are behind `pos`.
    const pairsBefore = lowerBound(this.astral, clamped - 1);
    return this.bom + clamped - pairsBefore + breaksBefore * (this.lineBreak.length - 1) + this.extraBefore(breaksBefore);
  }

  /**
   * The last CodeMirror position whose engine position is at most `cp`: exact for a position between characters; for a
   * position inside a `\r\n` (or before a hidden BOM) the CodeMirror position just before it.
   */
  fromEngine(doc: Text, cp: number): number {
    let low = 0;
    let high = doc.length;
    if (this.toEngine(doc, high) <= cp) return high;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.toEngine(doc, middle) <= cp) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** The engine's length, in code points, of what `doc` shows. */
  engineLength(doc: Text): number {
    return this.toEngine(doc, doc.length);
  }

  /**
   * The engine delta for a CodeMirror change set made to `doc`, and the map updated to the document after it. New
   * line breaks are the file's kind, so a Windows file keeps `\r\n` wherever the user presses Enter or pastes lines.
   */
  localChange(changes: ChangeSet, doc: Text): Delta {
    const ops: Op[] = [];
    const edits: { from: number; to: number; shown: string; lines: number }[] = [];
    let consumed = 0;
    changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
      const from = this.toEngine(doc, fromA);
      const to = this.toEngine(doc, toA);
      const text = inserted.sliceString(0, inserted.length, this.lineBreak);
      ops.push({ kind: "retain", n: from - consumed }, { kind: "delete", n: to - from }, { kind: "insert", text, n: cpLength(text) });
      consumed = to;
      edits.push({ from: fromA, to: toA, shown: inserted.toString(), lines: inserted.lines });
    });
    ops.push({ kind: "retain", n: this.engineLength(doc) - consumed });
    for (let index = edits.length - 1; index >= 0; index--) {
      const edit = edits[index]!;
      const added = new Array<LineBreak>(edit.lines - 1).fill(this.lineBreak);
      this.replace(doc, edit.from, edit.to, edit.shown, added, astralIn(edit.shown));
    }
    return normalize(ops);
  }

  /**
   * The CodeMirror changes that apply engine `delta` to `doc` (whose engine text the delta starts from), and the map
   * updated to the document after them. A change that splits a `\r\n` (or touches the hidden BOM) is widened to the
   * whole break, so what CodeMirror shows is always the engine text cut the same way.
   */
  remoteChange(delta: Delta, doc: Text): ChangeSpec[] {
    const changes = this.widen(engineChanges(delta), doc);
    const specs: ChangeSpec[] = [];
    const updates: (() => void)[] = [];
    for (const change of changes) {
      const from = change.from === 0 ? 0 : this.fromEngine(doc, change.from);
      const to = change.to === 0 ? 0 : this.fromEngine(doc, change.to);
      let text = change.text;
      let bom: number | undefined;
      if (change.from === 0) {
        bom = text.startsWith(BOM) ? 1 : 0;
        text = text.slice(bom);
      }
      const parsed = parse(text);
      specs.push({ from, to, insert: parsed.shown });
      updates.push(() => {
        this.replace(doc, from, to, parsed.shown, parsed.breaks, parsed.astral);
        if (bom !== undefined) this.bom = bom;
      });
    }
    // Later changes first, so the positions of earlier ones still refer to `doc`.
    for (let index = updates.length - 1; index >= 0; index--) updates[index]!();
    return specs;
  }

  /**
   * Widens engine changes so that each starts and ends between whole line breaks and outside the hidden BOM, and so that
   * the text after them reads the way a fresh open would show it: a `\r` that comes to stand before a `\n` joins it
   * into one `\r\n` break, and a BOM that comes to stand first is hidden. Changes that then touch are merged.
   */
  private widen(changes: EngineChange[], doc: Text): EngineChange[] {
    const widened: EngineChange[] = [];
    for (const original of changes) {
      let change = { ...original };
      if (change.from === 0 && this.bom === 1) {
        // The hidden BOM goes with the change; an insertion before it keeps it after the inserted text.
        if (change.to === 0) change.text += BOM;
        change.to = Math.max(change.to, 1);
      } else if (this.insideBreak(doc, change.from)) {
        change.from -= 1;
        change.text = "\r" + change.text;
      }
      if (this.insideBreak(doc, original.to)) {
        change.to = original.to + 1;
        change.text += "\n";
      }
      const last = widened[widened.length - 1];
      if (last !== undefined && change.from <= last.to) {
        last.to = change.to;
        last.text += change.text;
        change = last;
      } else {
        widened.push(change);
      }
      this.settleSeams(change, doc);
    }
    return widened;
  }

  /** Widens `change` until the characters on either side of it cannot combine with its text into one break or a BOM. */
  private settleSeams(change: EngineChange, doc: Text): void {
    for (;;) {
      const before = change.from > 0 ? this.charAt(doc, change.from - 1) : undefined;
      const after = this.charAt(doc, change.to);
      const first = change.text.length > 0 ? change.text[0] : after;
      const last = change.text.length > 0 ? change.text[change.text.length - 1] : before;
      if (before === "\r" && first === "\n") {
        change.from -= 1;
        change.text = "\r" + change.text;
      } else if (last === "\r" && after === "\n") {
        change.to += 1;
        change.text += "\n";
      } else if (change.from === 0 && change.text === "" && after === BOM) {
        change.to += 1;
        change.text = BOM;
      } else {
        return;
      }
    }
  }

  /** The engine's character at code point `cp` as far as line breaks and BOMs go (`undefined` at the end). */
  private charAt(doc: Text, cp: number): string | undefined {
    if (cp < this.bom) return BOM;
    const pos = this.fromEngine(doc, cp);
    if (this.toEngine(doc, pos) < cp) return "\n"; // the second half of a \r\n
    if (pos >= doc.length) return undefined;
    const char = doc.sliceString(pos, pos + 1);
    if (char !== "\n") return char;
    return this.breakKind(doc.lineAt(pos).number - 1)[0];
  }

  /** The kind of line break number `index`. */
  private breakKind(index: number): LineBreak {
    const at = lowerBound(this.exceptionIndices, index);
    return this.exceptionIndices[at] === index ? this.exceptionKinds[at]! : this.lineBreak;
  }

  /** True when engine position `cp` falls between the `\r` and the `\n` of a line break. */
  private insideBreak(doc: Text, cp: number): boolean {
    if (cp <= this.bom) return false;
    return this.toEngine(doc, this.fromEngine(doc, cp)) !== cp;
  }

  /**
   * Records that CodeMirror positions `[from, to)` of `doc` become `shown`, whose line breaks are `breaks` and whose
   * surrogate pairs start at `astral` (relative to `from`).
   */
  private replace(doc: Text, from: number, to: number, shown: string, breaks: LineBreak[], astral: number[]): void {
    const firstBreak = doc.lineAt(from).number - 1;
    const endBreak = doc.lineAt(to).number - 1;
    const start = lowerBound(this.exceptionIndices, firstBreak);
    const end = lowerBound(this.exceptionIndices, endBreak);
    const shift = breaks.length - (endBreak - firstBreak);
    for (let index = end; index < this.exceptionIndices.length; index++) this.exceptionIndices[index]! += shift;
    this.exceptionIndices = spliced(this.exceptionIndices, start, end, []);
    this.exceptionKinds = spliced(this.exceptionKinds, start, end, []);
    this.addExceptions(firstBreak, breaks, start);

    const astralStart = lowerBound(this.astral, from);
    const astralEnd = lowerBound(this.astral, to);
    const unitShift = shown.length - (to - from);
    for (let index = astralEnd; index < this.astral.length; index++) this.astral[index]! += unitShift;
    this.astral = spliced(
      this.astral,
      astralStart,
      astralEnd,
      astral.map((position) => from + position),
    );
  }

  /** Records breaks `breaks` as breaks number `first`, `first + 1`, ..., inserting exceptions at `at`. */
  private addExceptions(first: number, breaks: readonly LineBreak[], at = this.exceptionIndices.length): void {
    const indices: number[] = [];
    const kinds: LineBreak[] = [];
    breaks.forEach((kind, offset) => {
      if (kind === this.lineBreak) return;
      indices.push(first + offset);
      kinds.push(kind);
    });
    this.exceptionIndices = spliced(this.exceptionIndices, at, at, indices);
    this.exceptionKinds = spliced(this.exceptionKinds, at, at, kinds);
    this.exceptionExtra = undefined;
  }

  /** The code points the exceptions among the first `breaks` line breaks add beyond `lineBreak`'s length. */
  private extraBefore(breaks: number): number {
    if (this.exceptionIndices.length === 0) return 0;
    if (this.exceptionExtra === undefined) {
      const extra = [0];
      for (const kind of this.exceptionKinds) extra.push(extra[extra.length - 1]! + kind.length - this.lineBreak.length);
      this.exceptionExtra = extra;
    }
    return this.exceptionExtra[lowerBound(this.exceptionIndices, breaks)]!;
  }
}

/** `values` with `[start, end)` replaced by `items`: in place when small (no spread of a huge argument list). */
function spliced<T>(values: T[], start: number, end: number, items: T[]): T[] {
  if (items.length <= 1024) {
    values.splice(start, end - start, ...items);
    return values;
  }
  return values.slice(0, start).concat(items, values.slice(end));
}

function mostCommon(breaks: readonly LineBreak[]): LineBreak {
  const counts = new Map<LineBreak, number>();
  for (const kind of breaks) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  let best: LineBreak = "\n";
  let bestCount = 0;
  for (const [kind, count] of counts) {
    if (count > bestCount) [best, bestCount] = [kind, count];
  }
  return best;
}

function astralIn(text: string): number[] {
  const positions: number[] = [];
  for (const match of text.matchAll(ASTRAL)) positions.push(match.index);
  return positions;
}

/** The changes a delta makes, in the coordinates of the text it applies to. */
function engineChanges(delta: Delta): EngineChange[] {
  const changes: EngineChange[] = [];
  let position = 0;
  let current: EngineChange | undefined;
  for (const op of delta) {
    if (op.kind === "retain") {
      if (current !== undefined) changes.push(current);
      current = undefined;
      position += op.n;
      continue;
    }
    current ??= { from: position, to: position, text: "" };
    if (op.kind === "delete") {
      current.to += op.n;
      position += op.n;
    } else {
      current.text += op.text;
    }
  }
  if (current !== undefined) changes.push(current);
  return changes;
}
