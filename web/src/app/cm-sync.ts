/**
 * Between CodeMirror and the sync engine: CodeMirror counts UTF-16 units, the protocol counts code points. These
 * turn a CodeMirror change set into a code point delta and back, and convert positions, touching only the text up to
 * the last change (the length past it is known), so typing near the top of a large file stays cheap.
 */

import type { ChangeSet, ChangeSpec, Text } from "@codemirror/state";
import { cpLength, normalize, type Delta, type Op } from "../sync";

/** Code points in `doc` between two UTF-16 positions. */
export function countCodePoints(doc: Text, from: number, to: number): number {
  return from >= to ? 0 : cpLength(doc.sliceString(from, to));
}

/** The UTF-16 position `count` code points after `from` (clamped to the end). */
export function advanceCodePoints(doc: Text, from: number, count: number): number {
  if (count <= 0) return from;
  // `count` code points span at most 2 * count units.
  const text = doc.sliceString(from, Math.min(doc.length, from + 2 * count));
  let unit = 0;
  for (let seen = 0; seen < count && unit < text.length; seen++) {
    const code = text.charCodeAt(unit);
    const pair = code >= 0xd800 && code <= 0xdbff && unit + 1 < text.length && (text.charCodeAt(unit + 1) & 0xfc00) === 0xdc00;
    unit += pair ? 2 : 1;
  }
  return from + unit;
}

/** A CodeMirror position as a code point offset. */
export function toCodePoint(doc: Text, pos: number): number {
  return countCodePoints(doc, 0, Math.min(pos, doc.length));
}

/** A code point offset as a CodeMirror position (clamped to the document). */
export function fromCodePoint(doc: Text, cp: number): number {
  return advanceCodePoints(doc, 0, cp);
}

/**
 * The delta for `changes` made to `doc`, whose length in code points is `docCodePoints` (the sync client knows it,
 * so the text after the last change is never scanned).
 */
export function changesToDelta(changes: ChangeSet, doc: Text, docCodePoints: number): Delta {
  const ops: Op[] = [];
  let unit = 0;
  let consumed = 0;
  changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    const gap = countCodePoints(doc, unit, fromA);
    if (gap > 0) ops.push({ kind: "retain", n: gap });
    const removed = countCodePoints(doc, fromA, toA);
    if (removed > 0) ops.push({ kind: "delete", n: removed });
    const text = inserted.toString();
    if (text.length > 0) ops.push({ kind: "insert", text, n: cpLength(text) });
    consumed += gap + removed;
    unit = toA;
  });
  const rest = docCodePoints - consumed;
  if (rest > 0) ops.push({ kind: "retain", n: rest });
  return normalize(ops);
}

/** CodeMirror changes that apply `delta` to `doc` (which must be the text the delta starts from). */
export function deltaToChanges(delta: Delta, doc: Text): ChangeSpec[] {
  const changes: ChangeSpec[] = [];
  let unit = 0;
  for (const op of delta) {
    switch (op.kind) {
      case "retain":
        unit = advanceCodePoints(doc, unit, op.n);
        break;
      case "delete": {
        const to = advanceCodePoints(doc, unit, op.n);
        changes.push({ from: unit, to });
        unit = to;
        break;
      }
      case "insert":
        changes.push({ from: unit, insert: op.text });
        break;
    }
  }
  return changes;
}
