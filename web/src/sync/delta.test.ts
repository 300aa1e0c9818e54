import { describe, expect, test } from "vitest";

import {
  applyToString,
  baseLength,
  compose,
  decodeDelta,
  deltaFromJson,
  deltaToJson,
  encodeDelta,
  identity,
  insert,
  isCanonical,
  isIdentity,
  normalize,
  remove,
  retain,
  splice,
  targetLength,
  transform,
  type Delta,
  type Op,
} from "./delta";
import { isSyncError, type SyncErrorKind } from "./errors";
import { fromHex, randomText, referenceSplice, Rng, toHex } from "./test-util";
import { cpLength } from "./unicode";

function kindOf(work: () => unknown): SyncErrorKind | "none" {
  try {
    work();
    return "none";
  } catch (error) {
    if (isSyncError(error)) return error.kind;
    throw error;
  }
}

/** A random canonical delta on a base of `length` code points. */
function randomDelta(rng: Rng, length: number): Op[] {
  const ops: Op[] = [];
  let left = length;
  while (left > 0 || rng.chance(0.3)) {
    const choice = rng.int(3);
    if (choice === 2 || left === 0) {
      const text = randomText(rng, 4);
      if (text !== "") ops.push(insert(text));
      if (left === 0) break;
    } else {
      const n = 1 + rng.int(Math.min(left, 6));
      ops.push(choice === 0 ? retain(n) : remove(n));
      left -= n;
    }
  }
  return normalize(ops);
}

describe("normalize", () => {
  test("drops empty ops, merges runs, puts the delete first", () => {
    expect(normalize([insert("x"), remove(2), insert("y"), retain(1)])).toEqual([remove(2), insert("xy"), retain(1)]);
    expect(normalize([retain(0), retain(2), retain(3), insert(""), remove(0)])).toEqual([retain(5)]);
    expect(normalize([remove(1), retain(1), remove(1), remove(2), insert("🍊"), insert("a")])).toEqual([
      remove(1),
      retain(1),
      remove(3),
      insert("🍊a"),
    ]);
    expect(normalize([])).toEqual([]);
  });

  test("counts inserts in code points", () => {
    expect(insert("🍊\r\n").n).toBe(3);
    expect(normalize([insert("🍊"), insert("🌊")])[0]).toEqual({ kind: "insert", text: "🍊🌊", n: 2 });
  });

  test("identity is [Retain(L)], or [] on the empty text", () => {
    expect(identity(3)).toEqual([retain(3)]);
    expect(identity(0)).toEqual([]);
    expect(isIdentity(identity(0))).toBe(true);
    expect(isIdentity([retain(2)])).toBe(true);
    expect(isIdentity([retain(1), insert("a")])).toBe(false);
  });
});

describe("splice", () => {
  test("builds the canonical delta in code points", () => {
    expect(splice(4, 1, 2, "🌊")).toEqual([retain(1), remove(2), insert("🌊"), retain(1)]);
    expect(splice(0, 0, 0, "")).toEqual([]);
    expect(splice(3, 3, 0, "")).toEqual([retain(3)]);
    expect(splice(3, 0, 3, "")).toEqual([remove(3)]);
    expect(applyToString(splice(4, 1, 2, "🌊"), "a🍊bc")).toBe("a🌊c");
  });

  test("outside the text is OutOfRange", () => {
    expect(kindOf(() => splice(3, 2, 2, ""))).toBe("OutOfRange");
    expect(kindOf(() => splice(3, 4, 0, "x"))).toBe("OutOfRange");
    expect(kindOf(() => splice(3, -1, 0, "x"))).toBe("OutOfRange");
    expect(kindOf(() => splice(3, 0.5, 0, "x"))).toBe("OutOfRange");
  });

  test("an unpaired surrogate is BadUtf8", () => {
    expect(kindOf(() => splice(0, 0, 0, "\uD83C"))).toBe("BadUtf8");
    expect(kindOf(() => splice(0, 0, 0, "a\uDF4Ab"))).toBe("BadUtf8");
  });

  test("matches a code point splice of the string", () => {
    const rng = new Rng(11);
    for (let i = 0; i < 300; i++) {
      const text = randomText(rng, 20);
      const length = cpLength(text);
      const pos = rng.int(length + 1);
      const del = rng.int(length - pos + 1);
      const ins = randomText(rng, 3);
      expect(applyToString(splice(length, pos, del, ins), text)).toBe(referenceSplice(text, pos, del, ins));
    }
  });
});

describe("apply", () => {
  test("the delta must cover the text exactly", () => {
    expect(kindOf(() => applyToString([retain(2)], "abc"))).toBe("LengthMismatch");
    expect(kindOf(() => applyToString([retain(4)], "abc"))).toBe("LengthMismatch");
    expect(kindOf(() => applyToString([retain(2)], "a🍊"))).toBe("none");
    expect(applyToString([], "")).toBe("");
  });

  test("CRLF is two code points and is never normalized", () => {
    expect(applyToString([retain(1), remove(1), retain(1)], "\r\nx")).toBe("\rx");
    expect(applyToString([retain(2), insert("\r\n"), retain(1)], "a\rb")).toBe("a\r\r\nb");
  });
});

describe("compose", () => {
  test("equals applying one delta after the other", () => {
    const rng = new Rng(12);
    for (let i = 0; i < 500; i++) {
      const text = randomText(rng, 15);
      const a = randomDelta(rng, cpLength(text));
      const middle = applyToString(a, text);
      const b = randomDelta(rng, cpLength(middle));
      const ab = compose(a, b);
      expect(isCanonical(ab)).toBe(true);
      expect(applyToString(ab, text)).toBe(applyToString(b, middle));
    }
  });

  test("splits an insert at a code point, not a UTF-16 unit", () => {
    const a = [insert("🍊🌊x")];
    const b = [retain(1), remove(1), retain(1)];
    expect(compose(a, b)).toEqual([insert("🍊x")]);
  });

  test("mismatched lengths are LengthMismatch", () => {
    expect(kindOf(() => compose([retain(2)], [retain(3)]))).toBe("LengthMismatch");
    expect(kindOf(() => compose([retain(3)], [retain(2)]))).toBe("LengthMismatch");
    expect(kindOf(() => compose([insert("ab")], [retain(1)]))).toBe("LengthMismatch");
  });
});

describe("transform", () => {
  test("both orders converge (TP1) and the tie puts the first side first", () => {
    const rng = new Rng(13);
    for (let i = 0; i < 500; i++) {
      const text = randomText(rng, 15);
      const length = cpLength(text);
      const a = randomDelta(rng, length);
      const b = randomDelta(rng, length);
      const aAfterB = transform(a, b, true);
      const bAfterA = transform(b, a, false);
      expect(isCanonical(aAfterB)).toBe(true);
      expect(isCanonical(bAfterA)).toBe(true);
      expect(applyToString(aAfterB, applyToString(b, text))).toBe(applyToString(bAfterA, applyToString(a, text)));
    }
  });

  test("concurrent inserts at one position", () => {
    const a = [retain(2), insert("XY"), retain(4)];
    const b = [retain(2), insert("12"), retain(4)];
    expect(applyToString(transform(a, b, true), "ab12cdef")).toBe("abXY12cdef");
    expect(applyToString(transform(a, b, false), "ab12cdef")).toBe("ab12XYcdef");
  });

  test("a delete of text the other side deleted vanishes", () => {
    expect(transform([remove(3)], [remove(3)], true)).toEqual([]);
    expect(transform([retain(1), remove(2)], [remove(2), retain(1)], true)).toEqual([remove(1)]);
  });

  test("different bases are LengthMismatch", () => {
    expect(kindOf(() => transform([retain(2)], [retain(3)], true))).toBe("LengthMismatch");
    expect(kindOf(() => transform([remove(3)], [insert("x"), retain(2)], false))).toBe("LengthMismatch");
  });
});

describe("binary codec", () => {
  test("encodes headers as (len << 2) | kind and inserts as UTF-8", () => {
    expect(toHex(encodeDelta([retain(5), remove(2), insert("é"), retain(1)]))).toBe("14090ac3a904");
    expect(toHex(encodeDelta([]))).toBe("");
    expect(toHex(encodeDelta([insert("🍊")]))).toBe("12f09f8d8a");
  });

  test("round trips random canonical deltas", () => {
    const rng = new Rng(14);
    for (let i = 0; i < 300; i++) {
      const delta = randomDelta(rng, rng.int(30));
      expect(decodeDelta(encodeDelta(delta))).toEqual(delta);
    }
  });

  test("rejects every malformed input with its own kind", () => {
    const cases: [string, SyncErrorKind][] = [
      ["03", "BadOp"], // kind 3 with zero length
      ["07", "BadOp"], // kind 3
      ["00", "BadOp"], // Retain(0)
      ["01", "BadOp"], // Delete(0)
      ["02", "BadOp"], // Insert of 0 bytes
      ["0404", "NonCanonical"], // Retain Retain
      ["0505", "NonCanonical"], // Delete Delete
      ["06610662", "NonCanonical"], // Insert Insert
      ["066105", "NonCanonical"], // Insert then Delete
      ["06ff", "BadUtf8"],
      ["0aeda080", "BadUtf8"], // an encoded surrogate
      ["0a61", "Truncated"],
      ["80", "Truncated"],
      ["8000", "BadVarint"],
      ["80808004", "DocumentTooLarge"], // Retain(2^21), above the limit of 100
    ];
    for (const [hex, kind] of cases) {
      expect([hex, kindOf(() => decodeDelta(fromHex(hex), 100))]).toEqual([hex, kind]);
    }
    expect(kindOf(() => decodeDelta(fromHex("9003"), 100))).toBe("none"); // Retain(100): header 0x190
    expect(kindOf(() => decodeDelta(fromHex("9403"), 100))).toBe("DocumentTooLarge"); // Retain(101)
  });

  test("the limit applies to the larger of base and target", () => {
    expect(kindOf(() => decodeDelta(encodeDelta([retain(3), insert("ab")]), 4))).toBe("DocumentTooLarge");
    expect(kindOf(() => decodeDelta(encodeDelta([remove(3), insert("ab")]), 3))).toBe("none");
    expect(kindOf(() => decodeDelta(encodeDelta([remove(5)]), 4))).toBe("DocumentTooLarge");
  });

  test("non-canonical deltas are never produced", () => {
    expect(isCanonical([retain(1), retain(1)])).toBe(false);
    expect(isCanonical([insert("a"), remove(1)])).toBe(false);
    expect(isCanonical([retain(0)])).toBe(false);
    expect(isCanonical([remove(1), insert("a"), retain(1)])).toBe(true);
  });
});

describe("JSON form", () => {
  test("round trips", () => {
    const delta: Delta = [retain(2), remove(1), insert("🍊\r\n"), retain(3)];
    expect(deltaToJson(delta)).toEqual([
      ["r", 2],
      ["d", 1],
      ["i", "🍊\r\n"],
      ["r", 3],
    ]);
    expect(deltaFromJson(deltaToJson(delta))).toEqual(delta);
    expect(baseLength(delta)).toBe(6);
    expect(targetLength(delta)).toBe(8);
    expect(kindOf(() => deltaFromJson([["x", 1]]))).toBe("BadOp");
  });
});
