import { indentUnit } from "@codemirror/language";
import { EditorState } from "@codemirror/state";
import { describe, expect, it } from "vitest";
import { conventionFor, detectIndentation, indentationExtension, indentationFor } from "./indentation";

describe("each language's convention", () => {
  it("is 4 spaces for Python and Rust, 2 for the web languages, tabs for Go and Makefiles", () => {
    expect(conventionFor("src/main.py")).toEqual({ tabs: false, width: 4 });
    expect(conventionFor("lib.rs")).toEqual({ tabs: false, width: 4 });
    for (const path of ["app.js", "App.TSX", "package.json", "style.css", "index.html", "config.yaml"]) {
      expect(conventionFor(path), path).toEqual({ tabs: false, width: 2 });
    }
    for (const path of ["Makefile", "sub/GNUmakefile", "rules.mk", "main.go"]) {
      expect(conventionFor(path).tabs, path).toBe(true);
    }
    expect(conventionFor("notes.txt")).toEqual({ tabs: false, width: 4 });
    expect(conventionFor(".bashrc")).toEqual({ tabs: false, width: 4 });
  });
});

describe("a file's own indentation", () => {
  it("is found from its lines: tabs or spaces, and how many", () => {
    expect(detectIndentation("def f():\n    if x:\n        return 1\n    return 2\n")).toEqual({ tabs: false, width: 4 });
    expect(detectIndentation("def f():\n  if x:\n    return 1\n  return 2\n")).toEqual({ tabs: false, width: 2 });
    expect(detectIndentation("int main() {\n\tif (x) {\n\t\treturn 1;\n\t}\n}\n")).toEqual({ tabs: true, width: 4 });
    expect(detectIndentation("a:\n   b:\n      c: 1\n   d: 2\n")).toEqual({ tabs: false, width: 3 });
  });

  it("is not fooled by doc comments, alignment, blank lines or line endings", () => {
    const js = "/**\n * Adds.\n * @param a\n */\nfunction add(a, b) {\n  if (a) {\n    return a +\n           b;\n  }\n\n  return b;\n}\n";
    expect(detectIndentation(js)).toEqual({ tabs: false, width: 2 });
    expect(detectIndentation("class A:\r\n    def f(self):\r\n        pass\r\n    \r\n    def g(self):\r\n        pass\r\n")).toEqual({ tabs: false, width: 4 });
    expect(detectIndentation("\ufeffif x:\r    y\r")).toEqual({ tabs: false, width: 4 });
  });

  it("follows the majority when a file mixes tabs and spaces", () => {
    expect(detectIndentation("a\n\tb\n\tc\n    d\n")).toEqual({ tabs: true, width: 4 });
    expect(detectIndentation("a\n    b\n    c\n\td\n")).toEqual({ tabs: false, width: 4 });
  });

  it("is unknown when no line is indented", () => {
    expect(detectIndentation("")).toBeUndefined();
    expect(detectIndentation("print('hi')\nprint('there')\n")).toBeUndefined();
    expect(detectIndentation("\n   \n\t\n")).toBeUndefined();
  });
});

describe("the indentation used", () => {
  it("is the file's own when it has one, else the convention", () => {
    expect(indentationFor("new.py", "")).toEqual({ tabs: false, width: 4 });
    expect(indentationFor("old.py", "if x:\n  y\n")).toEqual({ tabs: false, width: 2 });
    expect(indentationFor("app.js", "if (x) {\n    y();\n}\n")).toEqual({ tabs: false, width: 4 });
    expect(indentationFor("Makefile", "all:\n\tcc main.c\n")).toEqual({ tabs: true, width: 4 });
    expect(indentationFor("main.go", "")).toEqual({ tabs: true, width: 4 });
  });

  it("becomes the editor's indent unit and tab size", () => {
    const spaces = EditorState.create({ extensions: indentationExtension({ tabs: false, width: 4 }) });
    expect(spaces.facet(indentUnit)).toBe("    ");
    const tabs = EditorState.create({ extensions: indentationExtension({ tabs: true, width: 8 }) });
    expect(tabs.facet(indentUnit)).toBe("\t");
    expect(tabs.tabSize).toBe(8);
  });
});
