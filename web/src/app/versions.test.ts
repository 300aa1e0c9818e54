import { describe, expect, it } from "vitest";
import { groupVersions } from "./versions";

const v = (version: number, author: string, seconds: number) => ({ version, author, time_ms: seconds * 1000 });

describe("groupVersions", () => {
  it("joins bursts of one author and splits on another author, a pause or a long span", () => {
    const groups = groupVersions([
      v(1, "Ada", 0),
      v(2, "Ada", 1),
      v(3, "Ada", 2),
      v(4, "Bob", 3),
      v(5, "Ada", 4),
      v(6, "Ada", 200), // after a pause
      ...Array.from({ length: 12 }, (_, index) => v(7 + index, "Ada", 230 + index * 59)), // a long steady stream
    ]);
    expect(groups.map((group) => [group.first, group.last, group.author])).toEqual([
      [17, 18, "Ada"],
      [6, 16, "Ada"],
      [5, 5, "Ada"],
      [4, 4, "Bob"],
      [1, 3, "Ada"],
    ]);
    expect(groups.at(-1)!.count).toBe(3);
  });

  it("is empty for no versions", () => {
    expect(groupVersions([])).toEqual([]);
  });
});
