/** What a terminal viewer is told when the shell it was watching is gone and it now sees a new one. */

import type { Attached, TerminalEnd } from "../protocol/local-hub";

/** "14:02" in the reader's own clock. */
export function clockTime(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function because(end: TerminalEnd): string {
  switch (end.why) {
    case "server_restarted":
      return "the project's server restarted";
    case "exited":
      return end.code === null ? "its shell was stopped" : `its shell exited (code ${end.code})`;
    case "killed":
      return "someone ended its shell";
    case "idle":
      return "it had been unused for a long time";
  }
}

/** The notice for a new shell that replaced the one the viewer saw; undefined when nothing was lost. */
export function restartNotice(attached: Attached, time: (ms: number) => string = clockTime): string | undefined {
  if (attached.restarted === undefined) return undefined;
  return `This terminal restarted at ${time(attached.started_ms)} because ${because(attached.restarted)}: its earlier output and running programs are gone.`;
}
