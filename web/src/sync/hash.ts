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

/** Hashes a string's code points (a lone surrogate, which valid text never holds, hashes as its own unit). */
export function polyOf(text: string): Poly {
  let h1 = 0;
  let h2 = 0;
  let pow1 = 1;
  let pow2 = 1;
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
    h1 = (mulmod(h1, B1, P1) + c + 1) % P1;
    h2 = (mulmod(h2, B2, P2) + c + 1) % P2;
    pow1 = mulmod(pow1, B1, P1);
    pow2 = mulmod(pow2, B2, P2);
  }
  return { h1, h2, pow1, pow2 };
}

/** The hash of `a ++ b`. */
export function polyConcat(a: Poly, b: Poly): Poly {
  return {
    h1: (mulmod(a.h1, b.pow1, P1) + b.h1) % P1,
    h2: (mulmod(a.h2, b.pow2, P2) + b.h2) % P2,
    pow1: mulmod(a.pow1, b.pow1, P1),
    pow2: mulmod(a.pow2, b.pow2, P2),
  };
}

/** A 64-bit shadow hash, kept as its two 31-bit halves. */
export interface Hash {
  readonly h1: number;
  readonly h2: number;
}

/** The 64-bit shadow hash of a string. */
export function hashText(text: string): Hash {
  const { h1, h2 } = polyOf(text);
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
