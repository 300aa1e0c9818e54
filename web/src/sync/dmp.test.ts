import { DiffMatchPatch } from "@cocalc/diff-match-patch";
import { describe, expect, test } from "vitest";

import { applyToString, splice } from "./delta";
import { Alphabet, diff, fuzzyApply, merge } from "./dmp";
import { randomText, Rng } from "./test-util";
import { cpLength } from "./unicode";

const HIGH = /[\uD800-\uDBFF]$/;
const LOW = /^[\uDC00-\uDFFF]/;

describe("the @cocalc/diff-match-patch fork", () => {
  test("its diff_main does split surrogate pairs, which is why we map texts first", () => {
    const diffs = new DiffMatchPatch().diff_main("a🍊b", "a🌊b");
    const splits = diffs.some(([, text]) => HIGH.test(text) || LOW.test(text));
    expect(splits).toBe(true);
  });

  test("its patch_apply does not crash on emoji (the stock package's encodeURI would)", () => {
    const dmp = new DiffMatchPatch();
    const patches = dmp.patch_make("a🍊b", "a🌊b");
    expect(dmp.patch_toText(patches)).toContain("%F0%9F%8C%8A");
    expect(dmp.patch_apply(patches, "a🍊b")[0]).toBe("a🌊b");
  });
});

describe("Alphabet", () => {
  test("maps each astral code point to one unused BMP unit and back", () => {
    const texts = ["🍊x🌊", "\uE000 is used", "𝒳"];
    const alphabet = Alphabet.for(texts)!;
    for (const text of texts) {
      const mapped = alphabet.encode(text);
      expect(mapped.length).toBe(cpLength(text));
      expect(/[\uD800-\uDFFF]/.test(mapped)).toBe(false);
      expect(alphabet.decode(mapped)).toBe(text);
    }
    expect(alphabet.encode("🍊")).not.toBe("\uE000");
    expect(/\s/.test(alphabet.encode("🍊🌊𝒳"))).toBe(false);
  });

  test("is the identity on BMP-only texts", () => {
    const alphabet = Alphabet.for(["plain", "中文"])!;
    expect(alphabet.encode("plain 中文")).toBe("plain 中文");
  });

  test("gives up (so callers fall back) when the texts use more code points than the BMP has free units", () => {
    let text = "";
    for (let cp = 0x10000; cp < 0x10000 + 64_000; cp++) text += String.fromCodePoint(cp);
    expect(Alphabet.for([text])).toBeUndefined();
    const delta = diff(text, text.slice(2) + "z");
    expect(applyToString(delta, text)).toBe(text.slice(2) + "z");
  });
});

describe("diff", () => {
  test("produces code point deltas that apply exactly, on random texts", () => {
    const rng = new Rng(31);
    for (let i = 0; i < 300; i++) {
      const before = randomText(rng, 40);
      const chars = Array.from(before);
      const after = rng.chance(0.5)
        ? randomText(rng, 40)
        : chars.slice(0, chars.length >> 1).join("") + randomText(rng, 5) + chars.slice(chars.length >> 1).join("");
      const delta = diff(before, after);
      expect(applyToString(delta, before)).toBe(after);
    }
  });

  test("of equal texts is the identity", () => {
    expect(diff("abc", "abc")).toEqual([{ kind: "retain", n: 3 }]);
    expect(diff("", "")).toEqual([]);
  });
});

describe("fuzzyApply", () => {
  test("lands an edit on a drifted text", () => {
    const base = "The quick brown fox jumps over the lazy dog.";
    const delta = splice(cpLength(base), 10, 5, "red");
    const result = fuzzyApply(base, delta, "Look: The quick brown fox jumps over the lazy dog.");
    expect(result).toEqual({ text: "Look: The quick red fox jumps over the lazy dog.", dropped: [] });
  });

  test("reports a hunk it cannot place with the text it would have inserted", () => {
    const base = "alpha beta gamma delta epsilon";
    const delta = splice(cpLength(base), 11, 5, "GAMMA");
    const target = "something else entirely, with no shared context at all";
    expect(fuzzyApply(base, delta, target)).toEqual({ text: target, dropped: ["GAMMA"] });
  });

  test("reports failures per split hunk, as patch_apply counts them", () => {
    // One patch longer than Match_MaxBits (32) is split into several hunks by patch_apply.
    const base = "0123456789".repeat(10);
    const inserted = "ABCDEFGHIJ".repeat(6);
    const delta = splice(100, 20, 60, inserted);
    const result = fuzzyApply(base, delta, "completely different text that shares nothing with the base at all, truly");
    expect(result.dropped.length).toBeGreaterThan(1);
    expect(result.dropped.join("")).toBe(inserted);
  });

  test("an exact base applies exactly", () => {
    const rng = new Rng(32);
    for (let i = 0; i < 100; i++) {
      const base = randomText(rng, 30);
      const length = cpLength(base);
      const pos = rng.int(length + 1);
      const delta = splice(length, pos, rng.int(length - pos + 1), randomText(rng, 3));
      const result = fuzzyApply(base, delta, base);
      expect(result.dropped).toEqual([]);
      expect(result.text).toBe(applyToString(delta, base));
    }
  });
});

describe("merge", () => {
  test("carries local edits onto a text that changed elsewhere", () => {
    const base = "Hello world, this is a shared document.\nSecond line here.\n";
    const local = base.replace("world", "there 🍊");
    const remote = base.replace("Second line", "2nd line");
    expect(merge(base, local, remote)).toEqual({
      text: "Hello there 🍊, this is a shared document.\n2nd line here.\n",
      dropped: [],
    });
  });
});
