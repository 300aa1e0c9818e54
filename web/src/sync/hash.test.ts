import { describe, expect, test } from "vitest";

import {
  B1,
  EMPTY_POLY,
  hashFromBytes,
  hashFromHex,
  hashText,
  hashToBytes,
  hashToHex,
  mulmod,
  P1,
  P2,
  polyConcat,
  polyOf,
} from "./hash";
import { randomText, referenceHash, Rng, toHex } from "./test-util";

describe("mulmod", () => {
  test("matches BigInt on edge values and random values below 2^31", () => {
    const rng = new Rng(1);
    const values = [0, 1, 2, 65535, 65536, 65537, P1 - 1, P2 - 1, B1, 2 ** 31 - 1];
    for (let i = 0; i < 2000; i++) values.push(rng.int(2 ** 31));
    for (const p of [P1, P2]) {
      for (let i = 0; i < values.length; i++) {
        const a = values[i]! % p;
        const b = values[(i * 7 + 3) % values.length]! % p;
        expect(mulmod(a, b, p)).toBe(Number((BigInt(a) * BigInt(b)) % BigInt(p)));
      }
    }
  });
});

describe("shadow hash", () => {
  test("the empty text hashes to 0", () => {
    expect(hashToHex(hashText(""))).toBe("0000000000000000");
  });

  test("one code point c hashes to c + 1 in both halves", () => {
    expect(hashToHex(hashText("a"))).toBe("0000006200000062");
    // An astral code point is one step of the polynomial, not two UTF-16 units.
    const orange = 0x1f34a + 1;
    expect(hashText("🍊")).toEqual({ h1: orange, h2: orange });
  });

  test("matches the BigInt reference on random texts with astral characters and CRLF", () => {
    const rng = new Rng(2);
    for (let i = 0; i < 300; i++) {
      const text = randomText(rng, 60);
      expect(hashText(text)).toEqual(referenceHash(text));
    }
  });

  test("composes: hash(a ++ b) from hash(a), hash(b) and len(b)", () => {
    const rng = new Rng(3);
    for (let i = 0; i < 200; i++) {
      const a = randomText(rng, 40);
      const b = randomText(rng, 40);
      const joined = polyConcat(polyOf(a), polyOf(b));
      expect(joined).toEqual(polyOf(a + b));
    }
    expect(polyConcat(EMPTY_POLY, polyOf("x"))).toEqual(polyOf("x"));
  });

  test("differs on one changed, swapped or appended character", () => {
    expect(hashText("abc")).not.toEqual(hashText("abd"));
    expect(hashText("ab")).not.toEqual(hashText("ba"));
    expect(hashText("a")).not.toEqual(hashText("a\0"));
    expect(hashText("\r\n")).not.toEqual(hashText("\n"));
  });

  test("wire form is 8 bytes little-endian of (h1 << 32) | h2", () => {
    const hash = { h1: 0x01234567, h2: 0x09abcdef };
    expect(toHex(hashToBytes(hash))).toBe("efcdab0967452301");
    expect(hashFromBytes(hashToBytes(hash))).toEqual(hash);
    expect(hashToHex(hash)).toBe("0123456709abcdef");
    expect(hashFromHex("0123456709abcdef")).toEqual(hash);
    expect(hashFromBytes(hashToBytes({ h1: 0xffffffff, h2: 0xfffffffe }))).toEqual({ h1: 0xffffffff, h2: 0xfffffffe });
    expect(() => hashFromHex("123")).toThrow(RangeError);
  });
});
