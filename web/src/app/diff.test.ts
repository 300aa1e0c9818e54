import { describe, expect, it } from "vitest";
import { Rng } from "../sync/test-util";
import { diffLines, hunks } from "./diff";

function rebuild(lines: NonNullable<ReturnType<typeof diffLines>>, side: "old" | "new"): string {
  return lines
    .filter((line) => line.kind === "same" || line.kind === (side === "old" ? "removed" : "added"))
    .map((line) => line.text)
    .join("\n");
}

describe("diffLines", () => {
  it("marks added and removed lines with their numbers", () => {
    const lines = diffLines("a\nb\nc", "a\nB\nc\nd")!;
    expect(lines).toEqual([
      { kind: "same", text: "a", oldLine: 1, newLine: 1 },
      { kind: "removed", text: "b", oldLine: 2 },
      { kind: "added", text: "B", newLine: 2 },
      { kind: "same", text: "c", oldLine: 3, newLine: 3 },
      { kind: "added", text: "d", newLine: 4 },
    ]);
  });

  it("handles empty texts", () => {
    expect(diffLines("", "")).toEqual([]);
    expect(diffLines("", "x")).toEqual([{ kind: "added", text: "x", newLine: 1 }]);
    expect(diffLines("x", "")).toEqual([{ kind: "removed", text: "x", oldLine: 1 }]);
  });

  it("finds a shortest script on random texts, and both sides rebuild", () => {
    const rng = new Rng(11);
    for (let round = 0; round < 300; round++) {
      const a = Array.from({ length: rng.int(12) }, () => rng.pick(["x", "y", "z", ""])).join("\n");
      const b = Array.from({ length: rng.int(12) }, () => rng.pick(["x", "y", "z", ""])).join("\n");
      const lines = diffLines(a, b)!;
      expect(rebuild(lines, "old")).toBe(a);
      expect(rebuild(lines, "new")).toBe(b);
    }
  });

  it("gives up past its bound", () => {
    const a = Array.from({ length: 100 }, (_, index) => `a${index}`).join("\n");
    const b = Array.from({ length: 100 }, (_, index) => `b${index}`).join("\n");
    expect(diffLines(a, b, 50)).toBeUndefined();
    expect(diffLines(a, b, 500)).toBeDefined();
  });
});

describe("hunks", () => {
  it("keeps context around changes and folds the rest", () => {
    const before = Array.from({ length: 20 }, (_, index) => `line ${index}`).join("\n");
    const after = before.replace("line 10", "changed");
    const rows = hunks(diffLines(before, after)!, 2);
    expect(rows[0]).toEqual({ kind: "skipped", count: 8 });
    expect(rows.filter((row) => row.kind !== "skipped").length).toBe(6);
    expect(rows.at(-1)).toEqual({ kind: "skipped", count: 7 });
  });
});
