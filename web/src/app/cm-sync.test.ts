import { ChangeSet, EditorState, Text, type ChangeSpec } from "@codemirror/state";
import { describe, expect, it } from "vitest";
import { applyToString, cpLength, cpSlice, normalize, type Op } from "../sync";
import { Rng } from "../sync/test-util";
import { TextMap } from "./cm-sync";

/**
 * What real files hold: every kind of line break, a BOM (at the start and astray), tabs and trailing blanks, astral
 * characters, combining marks, emoji with joiners and flags.
 */
const PIECES = [
  "a", "b", "x", " ", "  ", "\t", "é", "中", "e\u0301", "🍊", "𝒳", "👩\u200d👩\u200d👧", "🇫🇷",
  "\n", "\r\n", "\r", "\r\n", "\r\n", "\uFEFF",
];

function randomText(rng: Rng, pieces: number): string {
  let text = rng.chance(0.3) ? "\uFEFF" : "";
  for (let index = 0; index < pieces; index++) text += rng.pick(PIECES);
  return text;
}

/** A random UTF-16 position of `doc` that is not inside a surrogate pair. */
function boundary(rng: Rng, doc: Text): number {
  const text = doc.toString();
  const positions = [0];
  let unit = 0;
  for (const char of text) {
    unit += char.length;
    positions.push(unit);
  }
  return rng.pick(positions);
}

/**
 * An editor as the pane runs it (a CodeMirror state and the map beside it), the text the engine holds, and the checks
 * that the two always mean the same bytes.
 */
class Editor {
  state: EditorState;
  map: TextMap;

  constructor(public engine: string) {
    const { map, shown } = TextMap.open(engine);
    this.map = map;
    this.state = EditorState.create({ doc: shown });
    this.check("open");
  }

  /** A change typed in the editor: returns what the engine must hold after it, computed without the map's arithmetic. */
  local(specs: ChangeSpec[]): void {
    const transaction = this.state.update({ changes: specs });
    const before = this.state.doc;
    // The engine position of a view position, by spelling out the engine text of everything before it.
    const reference = (pos: number) => cpLength(this.map.engineText(before.slice(0, pos)));
    let expected = this.engine;
    const edits: [number, number, string][] = [];
    transaction.changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
      edits.push([reference(fromA), reference(toA), inserted.sliceString(0, inserted.length, this.map.lineBreak)]);
    });
    for (const [from, to, text] of edits.reverse()) expected = cpSlice(expected, 0, from) + text + cpSlice(expected, to);

    const delta = this.map.localChange(transaction.changes, before);
    this.engine = applyToString(delta, this.engine);
    this.state = transaction.state;
    expect(this.engine).toBe(expected);
    this.check("local edit");
  }

  /** A change from elsewhere (a collaborator, the disk) applied to the engine's text. */
  remote(ops: Op[]): void {
    const delta = normalize(ops);
    // A local edit can leave a view that a fresh open would cut differently (Enter before a lone \n in a file of
    // lone \r breaks); the bytes are still exact. From a view cut as a fresh open would, others' edits keep it so.
    const wasFresh = this.state.doc.toString() === TextMap.open(this.engine).shown;
    this.engine = applyToString(delta, this.engine);
    const specs = this.map.remoteChange(delta, this.state.doc);
    this.state = this.state.update({ changes: specs }).state;
    this.check("remote edit");
    if (wasFresh) expect(JSON.stringify(this.state.doc.toString())).toBe(JSON.stringify(TextMap.open(this.engine).shown));
  }

  private check(after: string): void {
    const doc = this.state.doc;
    expect(JSON.stringify(this.map.engineText(doc)), `bytes after ${after}`).toBe(JSON.stringify(this.engine));
    expect(this.map.engineLength(doc)).toBe(cpLength(this.engine));
    expect(doc.toString()).not.toMatch(/\r/);
    // Every view position maps to where the engine text spelled out up to it ends, and back.
    for (let pos = 0; pos <= Math.min(doc.length, 200); pos++) {
      const code = doc.sliceString(pos - 1, pos).charCodeAt(0);
      if (code >= 0xd800 && code <= 0xdbff) continue; // inside a pair
      const cp = cpLength(this.map.engineText(doc.slice(0, pos)));
      expect(this.map.toEngine(doc, pos)).toBe(cp);
      expect(this.map.fromEngine(doc, cp)).toBe(pos);
    }
  }
}

function randomLocal(rng: Rng, editor: Editor): ChangeSpec[] {
  const doc = editor.state.doc;
  const count = 1 + rng.int(3);
  const points = Array.from({ length: count * 2 }, () => boundary(rng, doc)).sort((a, b) => a - b);
  const specs: ChangeSpec[] = [];
  for (let index = 0; index < count; index++) {
    const from = points[2 * index]!;
    const to = rng.chance(0.5) ? points[2 * index + 1]! : from;
    // What typing makes: a character, Enter, a pasted block with Windows line endings (CodeMirror splits it).
    const insert = rng.pick(["", "z", "\n", "ab\ncd", "p\r\nq\r\n", "🙂", "\t"]);
    specs.push({ from, to, insert });
  }
  return specs;
}

function randomRemote(rng: Rng, engine: string): Op[] {
  const length = cpLength(engine);
  const from = rng.int(length + 1);
  const to = rng.chance(0.5) ? from : from + rng.int(Math.min(4, length - from) + 1);
  const text = rng.chance(0.7) ? randomText(new Rng(rng.int(1 << 30)), rng.int(3)) : "";
  return [
    { kind: "retain", n: from },
    { kind: "delete", n: to - from },
    { kind: "insert", text, n: cpLength(text) },
    { kind: "retain", n: length - to },
  ];
}

describe("the editor's view of a file and the engine's bytes", () => {
  it("opens a Windows file as lines and keeps every \\r\\n", () => {
    const editor = new Editor("line1\r\nline2\r\nline3\r\n");
    expect(editor.state.doc.toString()).toBe("line1\nline2\nline3\n");
    // The outside tester's edit: "-EDITED" typed at the end of line 2.
    const end = editor.state.doc.line(2).to;
    editor.local([{ from: end, insert: "-EDITED" }]);
    expect(editor.engine).toBe("line1\r\nline2-EDITED\r\nline3\r\n");
    // Enter makes a Windows line break in a Windows file.
    editor.local([{ from: editor.state.doc.line(3).to, insert: "\n" }]);
    expect(editor.engine).toBe("line1\r\nline2-EDITED\r\nline3\r\n\r\n");
  });

  it("keeps a BOM, classic Mac breaks and mixed breaks byte for byte", () => {
    const editor = new Editor("\uFEFFa\rb\nc\r\nd");
    expect(editor.state.doc.toString()).toBe("a\nb\nc\nd");
    editor.local([{ from: 0, to: editor.state.doc.length, insert: "" }]);
    expect(editor.engine).toBe("\uFEFF");
    editor.local([{ from: 0, insert: "new" }]);
    expect(editor.engine).toBe("\uFEFFnew");
  });

  it("shows another's edit that splits a \\r\\n without losing a byte", () => {
    const editor = new Editor("ab\r\ncd");
    editor.remote([{ kind: "retain", n: 3 }, { kind: "insert", text: "X", n: 1 }, { kind: "retain", n: 3 }]);
    expect(editor.engine).toBe("ab\rX\ncd");
    expect(editor.state.doc.toString()).toBe("ab\nX\ncd");
    editor.remote([{ kind: "retain", n: 3 }, { kind: "delete", n: 1 }, { kind: "retain", n: 3 }]);
    expect(editor.engine).toBe("ab\r\ncd");
    expect(editor.state.doc.toString()).toBe("ab\ncd");
  });

  it("maps collaborators' cursors inside a \\r\\n to the line's end", () => {
    const { map, shown } = TextMap.open("ab\r\ncd");
    const doc = Text.of(shown.split("\n"));
    expect(map.fromEngine(doc, 3)).toBe(2);
    expect(map.toEngine(doc, 3)).toBe(4);
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`random local and remote edits keep the bytes exact (seed ${seed})`, () => {
      const rng = new Rng(seed);
      for (let round = 0; round < 60; round++) {
        const editor = new Editor(randomText(rng, rng.int(25)));
        for (let step = 0; step < 12; step++) {
          if (rng.chance(0.5)) editor.local(randomLocal(rng, editor));
          else editor.remote(randomRemote(rng, editor.engine));
        }
      }
    });
  }

  it("stays exact on a large file with few astral characters and many Windows breaks", () => {
    const line = "some code = value; // comment\r\n";
    let text = line.repeat(5_000) + "🙂 end";
    const editor = new Editor(text);
    const rng = new Rng(99);
    for (let step = 0; step < 200; step++) {
      const doc = editor.state.doc;
      const at = doc.line(1 + rng.int(doc.lines)).from;
      editor.local([{ from: at, insert: rng.pick(["x", "\n", "🙂"]) }]);
    }
    text = editor.engine;
    expect(TextMap.open(text).map.engineText(editor.state.doc)).toBe(text);
  });
});

describe("the map alone", () => {
  it("changesets from the map apply to the view exactly", () => {
    const { map, shown } = TextMap.open("x\r\ny");
    const doc = Text.of(shown.split("\n"));
    const changes = ChangeSet.of(map.remoteChange(normalize([{ kind: "retain", n: 4 }, { kind: "insert", text: "\r\nz", n: 3 }]), doc), doc.length);
    expect(changes.apply(doc).toString()).toBe("x\ny\nz");
  });
});
