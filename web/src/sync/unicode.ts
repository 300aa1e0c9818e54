/**
 * Code points over JS strings. The protocol counts Unicode code points; a JS string index counts UTF-16 units,
 * so every position that crosses the boundary goes through these helpers.
 */

import { SyncError } from "./errors";

const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when the string has no surrogate unit at all, so UTF-16 indices are code point indices. */
export function isBmpOnly(text: string): boolean {
  return !SURROGATE.test(text);
}

/** Fails with `BadUtf8` when the string holds an unpaired surrogate (it has no UTF-8 form, and Rust cannot hold it). */
export function assertWellFormed(text: string): void {
  if (SURROGATE.test(text) && LONE_SURROGATE.test(text)) {
    throw new SyncError("BadUtf8", "an unpaired surrogate");
  }
}

/** Length in code points. */
export function cpLength(text: string): number {
  const units = text.length;
  let count = units;
  for (let i = 0; i < units; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < units) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        count--;
        i++;
      }
    }
  }
  return count;
}

/** The UTF-16 index of code point `cp` (clamped to the end of the string). */
export function cpToUnit(text: string, cp: number): number {
  const units = text.length;
  let i = 0;
  for (let k = 0; k < cp && i < units; k++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < units) {
      const low = text.charCodeAt(i + 1);
      i += low >= 0xdc00 && low <= 0xdfff ? 2 : 1;
    } else {
      i++;
    }
  }
  return i;
}

/** The code point index of UTF-16 index `unit` (an index inside a pair counts as the pair's end). */
export function unitToCp(text: string, unit: number): number {
  return cpLength(text.slice(0, unit));
}

/** Code points `start..end` of a string. */
export function cpSlice(text: string, start: number, end?: number): string {
  const from = cpToUnit(text, start);
  if (end === undefined) return text.slice(from);
  return text.slice(from, from + cpToUnit(text.slice(from), end - start));
}

/** Length of the UTF-8 encoding. */
export function utf8Length(text: string): number {
  let bytes = 0;
  const units = text.length;
  for (let i = 0; i < units; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < units) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
