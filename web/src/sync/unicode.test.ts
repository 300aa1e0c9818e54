/** The emoji, astral and CRLF set: every place a UTF-16 index could leak into a code point protocol. */
import { describe, expect, test } from "vitest";

import { SyncClient } from "./client";
import { applyToString, decodeDelta, encodeDelta, splice } from "./delta";
import { diff } from "./dmp";
import { isSyncError } from "./errors";
import { hashText } from "./hash";
import { ServerDocument } from "./server";
import { referenceHash } from "./test-util";
import { assertWellFormed, cpLength, cpSlice, cpToUnit, unitToCp, utf8Length } from "./unicode";

const SAMPLES = [
  "",
  "plain ascii",
  "\r\n",
  "a\r\nb\rc\n",
  "🍊",
  "🍊, aah orange is the new black!",
  "👨‍👩‍👧‍👦 family (one grapheme, seven code points)",
  "🇫🇷 flag (two regional indicators)",
  "e\u0301 combining acute",
  "𝒳𝒴𝒵 mathematical script",
  "\u{10FFFF}\u{10000}",
  "\uFEFFBOM first",
  "\u0000nul\u0000",
  "中文 日本語 한국어",
  "\uFFFD replacement",
];

describe("code points", () => {
  test("lengths, offsets and slices count code points", () => {
    expect(cpLength("🍊")).toBe(1);
    expect(cpLength("👨‍👩‍👧‍👦")).toBe(7);
    expect(cpLength("\r\n")).toBe(2);
    expect(cpToUnit("a🍊b", 2)).toBe(3);
    expect(unitToCp("a🍊b", 3)).toBe(2);
    expect(cpSlice("a🍊b🌊c", 1, 4)).toBe("🍊b🌊");
    for (const sample of SAMPLES) {
      expect(cpLength(sample)).toBe(Array.from(sample).length);
      expect(utf8Length(sample)).toBe(new TextEncoder().encode(sample).length);
    }
  });

  test("unpaired surrogates are refused, paired ones accepted", () => {
    for (const bad of ["\uD83C", "\uDF4A", "a\uD83Cb", "\uDF4A\uD83C", "🍊\uD83C"]) {
      try {
        assertWellFormed(bad);
        expect.unreachable(bad);
      } catch (error) {
        expect(isSyncError(error, "BadUtf8")).toBe(true);
      }
    }
    for (const good of SAMPLES) expect(() => assertWellFormed(good)).not.toThrow();
  });

  test("the hash steps once per code point", () => {
    for (const sample of SAMPLES) expect(hashText(sample)).toEqual(referenceHash(sample));
  });
});

describe("deltas over emoji and CRLF", () => {
  test("splices inside and around astral characters", () => {
    expect(applyToString(splice(3, 1, 1, ""), "🍊🌊🍊")).toBe("🍊🍊");
    expect(applyToString(splice(3, 3, 0, "🌊"), "🍊🌊🍊")).toBe("🍊🌊🍊🌊");
    expect(applyToString(splice(7, 2, 3, "X"), "👨‍👩‍👧‍👦")).toBe("👨‍X‍👦");
    expect(applyToString(splice(2, 1, 0, "\n"), "\r\n")).toBe("\r\n\n");
    expect(applyToString(splice(2, 0, 1, ""), "\r\n")).toBe("\n");
  });

  test("the codec carries them byte for byte", () => {
    for (const sample of SAMPLES) {
      const delta = splice(cpLength(sample), 0, 0, sample + "x");
      expect(decodeDelta(encodeDelta(delta))).toEqual(delta);
    }
  });

  test("diffs between emoji that share a high surrogate stay whole code points", () => {
    // 🍊 (U+1F34A) and 🌊 (U+1F30A) share the high surrogate D83C: a UTF-16 diff splits them.
    const pairs: [string, string][] = [
      ["🍊", "🌊"],
      ["a🍊b", "a🌊b"],
      ["🍊, aah orange is the new black!", "Aah orange!🌊is the new 🌊"],
      ["🍊🌊", "\u{1F70A}"],
      ["👨‍👩‍👧‍👦", "👨‍👩‍👦"],
      ["line\r\nline\r\n", "line\nline\r\n"],
    ];
    for (const [before, after] of pairs) {
      const delta = diff(before, after);
      expect(applyToString(delta, before)).toBe(after);
      for (const op of delta) if (op.kind === "insert") expect(() => assertWellFormed(op.text)).not.toThrow();
    }
    expect(diff("🍊", "🌊")).toEqual([
      { kind: "delete", n: 1 },
      { kind: "insert", text: "🌊", n: 1 },
    ]);
  });
});

describe("a client and a server over emoji and CRLF", () => {
  test("converge on the exact text, CRLF untouched", () => {
    const server = new ServerDocument("a\r\nb 🍊\r\n");
    const alice = new SyncClient();
    const bob = new SyncClient();
    const clients = new Map([
      [1, alice],
      [2, bob],
    ]);
    const cycle = () => {
      for (let round = 0; round < 6; round++) {
        for (const [id, client] of clients) {
          const bytes = client.poll();
          if (bytes === undefined) continue;
          for (const out of server.receive(id, bytes, 0)) clients.get(out.to)!.receive(out.bytes);
        }
      }
    };
    cycle();
    alice.splice(5, 0, "🌊🌊"); // after "a\r\nb "
    bob.splice(0, 1, "👨‍👩‍👧‍👦");
    cycle();
    expect(server.text).toBe("👨‍👩‍👧‍👦\r\nb 🌊🌊🍊\r\n");
    expect(alice.text).toBe(server.text);
    expect(bob.text).toBe(server.text);
    expect(alice.length).toBe(cpLength(server.text));
  });
});
