import { DiffMatchPatch } from "@cocalc/diff-match-patch";
import { describe, expect, test } from "vitest";

import { applyToString } from "./delta";
import { Alphabet, diff } from "./dmp";
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

  test("its patch text does not crash on emoji (the stock package's encodeURI would)", () => {
    const dmp = new DiffMatchPatch();
    const patches = dmp.patch_make("a🍊b", "a🌊b");
    expect(dmp.patch_toText(patches)).toContain("%F0%9F%8C%8A");
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

describe("diff timeout", () => {
  test("a timed-out diff is still correct", () => {
    const rng = new Rng(33);
    const before = randomText(rng, 4000);
    const after = randomText(rng, 4000);
    const delta = diff(before, after, 1);
    expect(applyToString(delta, before)).toBe(after);
  });
});
