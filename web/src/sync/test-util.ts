/** Helpers shared by the tests: a seeded random generator and a reference implementation of the hash. */

import { B1, B2, P1, P2, type Hash } from "./hash";

/** A small seeded generator (mulberry32), so every random test replays from its printed seed. */
export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** Characters random texts are made of: ASCII, CRLF, Latin-1, BMP, astral (emoji), combining marks. */
export const ALPHABET = ["a", "b", "c", " ", "\n", "\r\n", "é", "ß", "中", "🍊", "🌊", "𝒳", "e\u0301", "\u{10FFFF}", "\t"];

export function randomText(rng: Rng, maxPieces: number, alphabet: readonly string[] = ALPHABET): string {
  const count = rng.int(maxPieces + 1);
  let out = "";
  for (let i = 0; i < count; i++) out += rng.pick(alphabet);
  return out;
}

/** The spec's hash computed with BigInt, straight from the formula: an independent reference. */
export function referenceHash(text: string): Hash {
  let h1 = 0n;
  let h2 = 0n;
  for (const char of text) {
    const c = BigInt(char.codePointAt(0)!);
    h1 = (h1 * BigInt(B1) + c + 1n) % BigInt(P1);
    h2 = (h2 * BigInt(B2) + c + 1n) % BigInt(P2);
  }
  return { h1: Number(h1), h2: Number(h2) };
}

/** Hex helpers for byte vectors. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new RangeError(`bad hex: ${hex}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Code point splice on a plain string: the reference the engine is checked against. */
export function referenceSplice(text: string, pos: number, del: number, ins: string): string {
  const chars = Array.from(text);
  chars.splice(pos, del, ins);
  return chars.join("");
}
