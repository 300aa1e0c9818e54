import { describe, expect, test } from "vitest";

import { applyToString, splice, type Delta } from "./delta";
import { isSyncError } from "./errors";
import { hashText } from "./hash";
import { Text } from "./text";
import { Rng } from "./test-util";
import { cpLength, cpToUnit, utf8Length } from "./unicode";

describe("Text", () => {
  test("random splices keep text, length, UTF-8 size and hash right", () => {
    const rng = new Rng(21);
    let reference = "";
    let referenceLength = 0;
    let text = Text.empty;
    for (let step = 0; step < 2000; step++) {
      const pos = rng.int(referenceLength + 1);
      const del = step % 3 === 0 ? Math.min(rng.int(40), referenceLength - pos) : 0;
      const ins = step % 5 === 0 ? "🍊\r\n".repeat(rng.int(300)) : "xé".repeat(rng.int(5));
      const start = cpToUnit(reference, pos);
      const end = start + cpToUnit(reference.slice(start), del);
      reference = reference.slice(0, start) + ins + reference.slice(end);
      referenceLength += cpLength(ins) - del;
      text = text.apply(splice(text.length, pos, del, ins));
      expect(text.length).toBe(referenceLength);
      if (step % 97 === 0) expect(text.hash()).toEqual(hashText(reference));
    }
    expect(referenceLength).toBe(cpLength(reference));
    expect(text.toString()).toBe(reference);
    expect(text.hash()).toEqual(hashText(reference));
    expect(text.utf8Length).toBe(utf8Length(reference));
    expect(text.utf8Length).toBe(new TextEncoder().encode(reference).length);
  });

  test("applying a multi-op delta equals applying it to the string", () => {
    const rng = new Rng(22);
    const base = Array.from({ length: 5000 }, () => rng.pick(["a", "🌊", "\r\n", "ß"])).join("");
    const text = Text.from(base);
    const delta: Delta = [
      { kind: "retain", n: 10 },
      { kind: "delete", n: 1500 },
      { kind: "insert", text: "NEW🍊", n: 4 },
      { kind: "retain", n: 2000 },
      { kind: "delete", n: 3 },
      { kind: "retain", n: cpLength(base) - 3513 },
    ];
    const result = text.apply(delta);
    const expected = applyToString(delta, base);
    expect(result.toString()).toBe(expected);
    expect(result.hash()).toEqual(hashText(expected));
    expect(text.toString()).toBe(base); // immutable
  });

  test("an identity apply shares every chunk and equals the original", () => {
    const text = Text.from("x".repeat(10_000));
    const same = text.apply([{ kind: "retain", n: 10_000 }]);
    expect(same.equals(text)).toBe(true);
    expect(same.hash()).toEqual(text.hash());
  });

  test("a wrong base length is LengthMismatch and an unpaired surrogate is BadUtf8", () => {
    const text = Text.from("abc");
    expect(() => text.apply([{ kind: "retain", n: 2 }])).toThrow(expect.objectContaining({ kind: "LengthMismatch" }));
    try {
      Text.from("a\uD800");
      expect.unreachable();
    } catch (error) {
      expect(isSyncError(error, "BadUtf8")).toBe(true);
    }
  });

  test("equals compares contents, not chunking", () => {
    const a = Text.from("hello world".repeat(300));
    const b = Text.from("").apply([{ kind: "insert", text: "hello world".repeat(300), n: 3300 }]);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(Text.from("hello world".repeat(299) + "hello worle"))).toBe(false);
  });
});
