import { describe, expect, it } from "vitest";
import { restartNotice } from "./terminal-notice";

const at = () => "14:02";

describe("restartNotice", () => {
  it("says nothing when the viewer is back on the same shell, or on a new terminal", () => {
    expect(restartNotice({ instance: "a-1", started_ms: 1 }, at)).toBeUndefined();
  });

  it("says when and why the shell was replaced, and what was lost", () => {
    expect(restartNotice({ instance: "b-1", started_ms: 1, restarted: { why: "server_restarted" } }, at)).toBe(
      "This terminal restarted at 14:02 because the project's server restarted: its earlier output and running programs are gone.",
    );
    expect(restartNotice({ instance: "a-2", started_ms: 1, restarted: { why: "exited", code: 4 } }, at)).toContain("its shell exited (code 4)");
    expect(restartNotice({ instance: "a-2", started_ms: 1, restarted: { why: "exited", code: null } }, at)).toContain("its shell was stopped");
    expect(restartNotice({ instance: "a-2", started_ms: 1, restarted: { why: "killed" } }, at)).toContain("someone ended its shell");
    expect(restartNotice({ instance: "a-2", started_ms: 1, restarted: { why: "idle" } }, at)).toContain("unused for a long time");
  });
});
