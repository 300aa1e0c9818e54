/**
 * Line diffs for the history panel: Myers' O(ND) shortest edit script over lines, after trimming the common head
 * and tail, and bounded so a huge change gives up with a message instead of freezing the page.
 */

export type LineKind = "same" | "added" | "removed";

export interface DiffLine {
  kind: LineKind;
  text: string;
  /** 1-based line number in the old text (same and removed lines). */
  oldLine?: number;
  /** 1-based line number in the new text (same and added lines). */
  newLine?: number;
}

/** A run of lines to show; `skipped` is set on a gap of unchanged lines left out between hunks. */
export type DiffRow = DiffLine | { kind: "skipped"; count: number };

function splitLines(text: string): string[] {
  return text === "" ? [] : text.split("\n");
}

/** The line diff of `before` and `after`, or `undefined` when more than `maxEdits` lines changed. */
export function diffLines(before: string, after: string, maxEdits = 4000): DiffLine[] | undefined {
  const a = splitLines(before);
  const b = splitLines(after);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const middle = script(a.slice(head, a.length - tail), b.slice(head, b.length - tail), maxEdits);
  if (middle === undefined) return undefined;
  const lines: DiffLine[] = [];
  let oldLine = 1;
  let newLine = 1;
  const same = (text: string) => lines.push({ kind: "same", text, oldLine: oldLine++, newLine: newLine++ });
  for (let index = 0; index < head; index++) same(a[index]!);
  for (const [kind, text] of middle) {
    if (kind === "same") same(text);
    else if (kind === "removed") lines.push({ kind, text, oldLine: oldLine++ });
    else lines.push({ kind, text, newLine: newLine++ });
  }
  for (let index = a.length - tail; index < a.length; index++) same(a[index]!);
  return lines;
}

/** Myers' greedy algorithm with the V vectors kept for the walk back. */
function script(a: string[], b: string[], maxEdits: number): [LineKind, string][] | undefined {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  if (max === 0) return [];
  const offset = max + 1;
  const trace: Int32Array[] = [];
  let v = new Int32Array(2 * max + 3);
  let found = -1;
  for (let d = 0; d <= Math.min(max, maxEdits); d++) {
    const next = v.slice();
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      next[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
    trace.push(next);
    v = next;
    if (found >= 0) break;
  }
  if (found < 0) return undefined;
  const out: [LineKind, string][] = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const previous = trace[d - 1]!;
    const k = x - y;
    const down = k === -d || (k !== d && previous[offset + k - 1]! < previous[offset + k + 1]!);
    const previousK = down ? k + 1 : k - 1;
    const previousX = previous[offset + previousK]!;
    const previousY = previousX - previousK;
    while (x > previousX && y > previousY) out.push(["same", a[--x]!]), y--;
    if (down) out.push(["added", b[--y]!]);
    else out.push(["removed", a[--x]!]);
  }
  while (x > 0 && y > 0) out.push(["same", a[--x]!]), y--;
  return out.reverse();
}

/** Changed lines with `context` unchanged lines around them; longer unchanged runs become one `skipped` row. */
export function hunks(lines: DiffLine[], context = 3): DiffRow[] {
  const keep = new Array<boolean>(lines.length).fill(false);
  lines.forEach((line, index) => {
    if (line.kind === "same") return;
    for (let near = Math.max(0, index - context); near <= Math.min(lines.length - 1, index + context); near++) keep[near] = true;
  });
  const rows: DiffRow[] = [];
  let skipped = 0;
  lines.forEach((line, index) => {
    if (keep[index]) {
      if (skipped > 0) rows.push({ kind: "skipped", count: skipped });
      skipped = 0;
      rows.push(line);
    } else skipped++;
  });
  if (skipped > 0) rows.push({ kind: "skipped", count: skipped });
  return rows;
}
