/**
 * History versions grouped for people: the server records one version per applied change (often one per keystroke),
 * so consecutive changes by the same author close together in time are shown as one entry.
 */

import type { Version } from "../protocol/local-hub";

export interface VersionGroup {
  /** The first and last version in the group; the group is the change from `first - 1` to `last`. */
  first: number;
  last: number;
  author: string;
  startMs: number;
  endMs: number;
  count: number;
}

/** A pause longer than this starts a new group. */
export const GROUP_GAP_MS = 60_000;
/** No group spans more than this. */
export const GROUP_SPAN_MS = 10 * 60_000;

/** Groups versions (in any order); the result is newest first. */
export function groupVersions(versions: readonly Version[]): VersionGroup[] {
  const sorted = [...versions].sort((a, b) => a.version - b.version);
  const groups: VersionGroup[] = [];
  for (const version of sorted) {
    const current = groups.at(-1);
    if (
      current !== undefined &&
      current.author === version.author &&
      current.last + 1 === version.version &&
      version.time_ms - current.endMs <= GROUP_GAP_MS &&
      version.time_ms - current.startMs <= GROUP_SPAN_MS
    ) {
      current.last = version.version;
      current.endMs = version.time_ms;
      current.count += 1;
    } else {
      groups.push({ first: version.version, last: version.version, author: version.author, startMs: version.time_ms, endMs: version.time_ms, count: 1 });
    }
  }
  return groups.reverse();
}
