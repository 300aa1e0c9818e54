import { ChangeSet, EditorState, Text } from "@codemirror/state";
import { describe, expect, it } from "vitest";
import { applyToString, cpLength } from "../sync";
import { Rng } from "../sync/test-util";
import { changesToDelta, deltaToChanges, fromCodePoint, toCodePoint } from "./cm-sync";

const PIECES = ["a", "b", " ", "\n", "é", "中", "🍊", "𝒳", "e\u0301", "\t"];

function randomText(rng: Rng, pieces: number): string {
  let text = "";
  for (let index = 0; index < pieces; index++) text += rng.pick(PIECES);
  return text;
}

/** A random UTF-16 position that is not inside a surrogate pair. */
function boundary(rng: Rng, text: string): number {
  const positions = [0];
  let unit = 0;
  for (const char of text) {
    unit += char.length;
    positions.push(unit);
  }
  return rng.pick(positions);
}

describe("CodeMirror changes and code point deltas", () => {
  it("convert positions around astral characters", () => {
    const doc = Text.of(["a🍊b", "𝒳"]);
    expect(toCodePoint(doc, 0)).toBe(0);
    expect(toCodePoint(doc, 3)).toBe(2); // after the orange
    expect(toCodePoint(doc, 4)).toBe(3);
    expect(toCodePoint(doc, doc.length)).toBe(5);
    expect(fromCodePoint(doc, 2)).toBe(3);
    expect(fromCodePoint(doc, 5)).toBe(doc.length);
    expect(fromCodePoint(doc, 99)).toBe(doc.length);
  });

  for (const seed of [1, 2, 3, 4, 5]) {
    it(`agree with each other on random edits (seed ${seed})`, () => {
      const rng = new Rng(seed);
      for (let round = 0; round < 200; round++) {
        const before = randomText(rng, rng.int(30));
        const state = EditorState.create({ doc: before });
        const specs = [];
        // Several changes in one transaction, as multi-cursor typing or a paste over a selection makes.
        const count = 1 + rng.int(3);
        const points = Array.from({ length: count * 2 }, () => boundary(rng, before)).sort((a, b) => a - b);
        for (let index = 0; index < count; index++) {
          specs.push({ from: points[2 * index]!, to: rng.chance(0.5) ? points[2 * index + 1]! : points[2 * index]!, insert: rng.chance(0.7) ? randomText(rng, 3) : "" });
        }
        const changes = ChangeSet.of(specs, before.length);
        const after = changes.apply(state.doc).toString();
        const delta = changesToDelta(changes, state.doc, cpLength(before));
        expect(applyToString(delta, before)).toBe(after);
        const back = ChangeSet.of(deltaToChanges(delta, state.doc), before.length);
        expect(back.apply(state.doc).toString()).toBe(after);
      }
    });
  }
});
