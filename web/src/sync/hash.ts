/**
 * The shadow hash (PROTOCOL.md §1): two polynomial hashes over code points, composable so that a chunked text keeps
 * its hash per chunk. Every product stays below 2^53, so plain doubles compute it exactly; no BigInt.
 */

export const P1 = 2147483647;
export const B1 = 911382323;
export const P2 = 2147483629;
export const B2 = 972663749;

/** `a * b mod p` for `a, b < 2^31`, exact in doubles: every intermediate stays below 2^53. */
export function mulmod(a: number, b: number, p: number): number {
  return (((a * (b >>> 16)) % p) * 65536 + a * (b & 0xffff)) % p;
}

/**
 * The hash of a run of code points: both residues and both powers `B^len` needed to append it to something else.
 * The 64-bit value is `(h1 << 32) | h2`.
 */
export interface Poly {
  readonly h1: number;
  readonly h2: number;
  readonly pow1: number;
  readonly pow2: number;
}

/** The hash of the empty text. */
export const EMPTY_POLY: Poly = Object.freeze({ h1: 0, h2: 0, pow1: 1, pow2: 1 });

const B1_HIGH = B1 >>> 16;
const B1_LOW = B1 & 0xffff;
const B2_HIGH = B2 >>> 16;
const B2_LOW = B2 & 0xffff;
const INVERSE_P1 = 1 / P1;
const INVERSE_P2 = 1 / P2;

/**
 * The two residues of a string's code points: the hot loop. It computes exactly what the spec's `mulmod` does, with
 * B's halves hoisted and `x mod p` done as `x - floor(x / p) * p` (every x < 2^49, so the quotient is off by at
 * most one, which the final comparison corrects). About four times faster than `%` on doubles in V8.
 */
export function residues(text: string): { h1: number; h2: number; n: number } {
  let h1 = 0;
  let h2 = 0;
  let n = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = (c - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
        i++;
      }
    }
    c += 1;
    n++;
    let t = h1 * B1_HIGH;
    t -= Math.floor(t * INVERSE_P1) * P1;
    let x = t * 65536 + h1 * B1_LOW + c;
    x -= Math.floor(x * INVERSE_P1) * P1;
    if (x < 0) x += P1;
    else if (x >= P1) x -= P1;
    h1 = x;
    t = h2 * B2_HIGH;
    t -= Math.floor(t * INVERSE_P2) * P2;
    x = t * 65536 + h2 * B2_LOW + c;
    x -= Math.floor(x * INVERSE_P2) * P2;
    if (x < 0) x += P2;
    else if (x >= P2) x -= P2;
    h2 = x;
  }
  return { h1, h2, n };
}

/** `base^exponent mod p` by squaring. */
export function powmod(base: number, exponent: number, p: number): number {
  let result = 1;
  let square = base % p;
  let e = exponent;
  while (e > 0) {
    if (e % 2 === 1) result = mulmod(result, square, p);
    square = mulmod(square, square, p);
    e = Math.floor(e / 2);
  }
  return result;
}

const POWERS = 1025;
const POW1: number[] = [1];
const POW2: number[] = [1];
for (let k = 1; k < POWERS; k++) {
  POW1.push(mulmod(POW1[k - 1]!, B1, P1));
  POW2.push(mulmod(POW2[k - 1]!, B2, P2));
}

/** `B1^n mod P1` and `B2^n mod P2`. */
export function powers(n: number): { pow1: number; pow2: number } {
  if (n < POWERS) return { pow1: POW1[n]!, pow2: POW2[n]! };
  return { pow1: powmod(B1, n, P1), pow2: powmod(B2, n, P2) };
}

/** Hashes a string's code points (a lone surrogate, which valid text never holds, hashes as its own unit). */
export function polyOf(text: string): Poly {
  const { h1, h2, n } = residues(text);
  const { pow1, pow2 } = powers(n);
  return { h1, h2, pow1, pow2 };
}

/** `mulmod` with the reductions done by multiplying with `1 / p` (same value, faster; see `residues`). */
function mulmodFast(a: number, b: number, p: number, inverse: number): number {
  let t = a * (b >>> 16);
  t -= Math.floor(t * inverse) * p;
  let x = t * 65536 + a * (b & 0xffff);
  x -= Math.floor(x * inverse) * p;
  if (x < 0) x += p;
  else if (x >= p) x -= p;
  return x;
}

/** The hash of `a ++ b`. */
export function polyConcat(a: Poly, b: Poly): Poly {
  let h1 = mulmodFast(a.h1, b.pow1, P1, INVERSE_P1) + b.h1;
  if (h1 >= P1) h1 -= P1;
  let h2 = mulmodFast(a.h2, b.pow2, P2, INVERSE_P2) + b.h2;
  if (h2 >= P2) h2 -= P2;
  return {
    h1,
    h2,
    pow1: mulmodFast(a.pow1, b.pow1, P1, INVERSE_P1),
    pow2: mulmodFast(a.pow2, b.pow2, P2, INVERSE_P2),
  };
}

/** A 64-bit shadow hash, kept as its two 31-bit halves. */
export interface Hash {
  readonly h1: number;
  readonly h2: number;
}

/** The 64-bit shadow hash of a string. */
export function hashText(text: string): Hash {
  const { h1, h2 } = residues(text);
  return { h1, h2 };
}

export function hashEquals(a: Hash, b: Hash): boolean {
  return a.h1 === b.h1 && a.h2 === b.h2;
}

/** 16 lowercase hex digits, as JSON vectors write a hash. */
export function hashToHex(hash: Hash): string {
  return hash.h1.toString(16).padStart(8, "0") + hash.h2.toString(16).padStart(8, "0");
}

/** Parses 16 hex digits. The halves need not be reduced residues: a received hash is just 64 bits. */
export function hashFromHex(hex: string): Hash {
  if (!/^[0-9a-fA-F]{16}$/.test(hex)) throw new RangeError(`not a 64-bit hex hash: ${hex}`);
  return { h1: parseInt(hex.slice(0, 8), 16), h2: parseInt(hex.slice(8), 16) };
}

/** The 8 wire bytes, little-endian: the low word (h2) first. */
export function hashToBytes(hash: Hash): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, hash.h2 >>> 0, true);
  view.setUint32(4, hash.h1 >>> 0, true);
  return out;
}

export function hashFromBytes(bytes: Uint8Array): Hash {
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  return { h1: view.getUint32(4, true), h2: view.getUint32(0, true) };
}
