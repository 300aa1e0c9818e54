/**
 * Grapheme cluster boundaries as merges see them (PROTOCOL.md §2, "Clusters"): extended grapheme cluster boundaries
 * (UAX #29, here `Intl.Segmenter`) of a window of at most `WINDOW` code points either side of the position, the
 * window's ends counting as text ends. Mirrors `sync/src/grapheme.rs`; the shared vectors check that both agree.
 */

import type { Text } from "./text";
import { cpLength, cpSlice } from "./unicode";

/** Code points of context on each side of a position. */
export const WINDOW = 32;

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** The cluster boundaries of a string, in code points, 0 and its length included. */
export function boundaries(text: string): number[] {
  const out = [0];
  let at = 0;
  for (const { segment } of segmenter.segment(text)) {
    at += cpLength(segment);
    out.push(at);
  }
  return out;
}

/** Anything a window can be cut from: a document text or a string's code points. */
export interface CodePoints {
  readonly length: number;
  /** Code points `start..end` as a string. */
  slice(start: number, end: number): string;
}

/** A string's code points as `CodePoints`. */
export function codePointsOf(chars: readonly string[]): CodePoints {
  return { length: chars.length, slice: (start, end) => chars.slice(start, end).join("") };
}

function around(text: CodePoints, pos: number): number[] {
  const start = Math.max(0, pos - WINDOW);
  const end = Math.min(text.length, pos + WINDOW);
  return boundaries(text.slice(start, end)).map((offset) => start + offset);
}

/** True when `pos` is a cluster boundary of `text` (both ends are). */
export function isBoundary(text: CodePoints, pos: number): boolean {
  return pos === 0 || pos >= text.length || around(text, pos).includes(pos);
}

/** The first boundary at or after `pos`: the end of the cluster `pos` is inside, or `pos` itself. */
export function clusterEnd(text: CodePoints, pos: number): number {
  if (isBoundary(text, pos)) return Math.min(pos, text.length);
  return around(text, pos).find((boundary) => boundary >= pos) ?? text.length;
}

/** The last boundary at or before `pos`: the start of the cluster `pos` is inside, or `pos` itself. */
export function clusterStart(text: CodePoints, pos: number): number {
  if (isBoundary(text, pos)) return Math.min(pos, text.length);
  const found = around(text, pos).filter((boundary) => boundary <= pos);
  return found[found.length - 1] ?? 0;
}

/**
 * True when `piece`, inserted at `gap` of `text`, would continue the cluster before the gap (it starts with a
 * combining mark, a joiner, a modifier, the second half of a flag…) rather than start a cluster of its own.
 */
export function continues(text: Text, gap: number, piece: string): boolean {
  if (gap === 0 || piece.length === 0) return false;
  const start = Math.max(0, gap - WINDOW);
  const window = text.slice(start, gap) + cpSlice(piece, 0, WINDOW);
  return !boundaries(window).includes(gap - start);
}
