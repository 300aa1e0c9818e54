import { describe, expect, it } from "vitest";
import { formatRoute, parseRoute, type Route } from "./router";

describe("routes", () => {
  const cases: [string, Route][] = [
    ["#/", { page: "projects" }],
    ["#/p/abc", { page: "project", project: "abc" }],
    ["#/p/abc/f/src/main.py", { page: "project", project: "abc", file: "src/main.py" }],
    ["#/p/abc/f/notes%20and%20%23tags.md", { page: "project", project: "abc", file: "notes and #tags.md" }],
    ["#/p/abc/t/terminal-1", { page: "project", project: "abc", terminal: "terminal-1" }],
  ];
  for (const [hash, route] of cases) {
    it(`round-trip ${hash}`, () => {
      expect(parseRoute(hash)).toEqual(route);
      expect(formatRoute(route)).toBe(hash);
    });
  }

  it("treat anything unknown as the project list", () => {
    expect(parseRoute("")).toEqual({ page: "projects" });
    expect(parseRoute("#/nowhere")).toEqual({ page: "projects" });
    expect(parseRoute("#/p/")).toEqual({ page: "projects" });
    expect(parseRoute("#/p/abc/f/")).toEqual({ page: "project", project: "abc" });
  });
});
