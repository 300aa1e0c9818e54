/**
 * How a file is indented: the file's own way when it has indented lines (tabs or spaces, and how many), otherwise
 * its language's convention (PEP 8's 4 spaces for Python, 2 for the web languages, tabs for Go and Makefiles).
 * The editor's Tab, Enter and auto-indent then write what the file already uses, so a shared file stays consistent.
 */

import { indentUnit } from "@codemirror/language";
import { EditorState, type Extension } from "@codemirror/state";

export interface Indentation {
  /** Indent with tab characters rather than spaces. */
  tabs: boolean;
  /** Columns per level: the number of spaces, or how wide a tab is shown. */
  width: number;
}

/** How wide a tab is shown when nothing says otherwise. */
const TAB_WIDTH = 4;
const SPACES_4: Indentation = { tabs: false, width: 4 };
const SPACES_2: Indentation = { tabs: false, width: 2 };
const TABS: Indentation = { tabs: true, width: TAB_WIDTH };

/** Each language's own convention, by extension. */
const BY_EXTENSION: Record<string, Indentation> = {
  py: SPACES_4,
  pyw: SPACES_4,
  pyi: SPACES_4,
  rs: SPACES_4,
  go: TABS,
  mk: TABS,
  js: SPACES_2,
  mjs: SPACES_2,
  cjs: SPACES_2,
  jsx: SPACES_2,
  ts: SPACES_2,
  mts: SPACES_2,
  cts: SPACES_2,
  tsx: SPACES_2,
  json: SPACES_2,
  ipynb: SPACES_2,
  css: SPACES_2,
  scss: SPACES_2,
  html: SPACES_2,
  htm: SPACES_2,
  xml: SPACES_2,
  svg: SPACES_2,
  vue: SPACES_2,
  yaml: SPACES_2,
  yml: SPACES_2,
  rb: SPACES_2,
};

/** Files named like this are Makefiles, whose recipes must be indented with tabs. */
const MAKEFILES = new Set(["makefile", "gnumakefile", "bsdmakefile"]);

/** The convention of the file's language, from its name; 4 spaces when nothing is known. */
export function conventionFor(path: string): Indentation {
  const name = (path.split("/").pop() ?? path).toLowerCase();
  if (MAKEFILES.has(name)) return TABS;
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return SPACES_4;
  return BY_EXTENSION[name.slice(dot + 1)] ?? SPACES_4;
}

/** How many lines are looked at: enough to tell, and opening a large file stays quick. */
const MAX_LINES = 5000;

/**
 * The indentation a text uses, or `undefined` when it has no indented lines to tell from.
 *
 * Tabs or spaces: whichever starts more indented lines. The width of a space indent is the most common step between
 * one indented line and the line before it (a block opening adds one level, so steps are one level far more often
 * than anything else); steps of one space (a comment's ` * ` continuation, an alignment) count only when there is no
 * other step.
 */
export function detectIndentation(text: string): Indentation | undefined {
  let tabLines = 0;
  let spaceLines = 0;
  const steps = new Map<number, number>();
  let previous = 0;
  let lines = 0;
  for (const line of text.split(/\r\n|\r|\n/, MAX_LINES)) {
    lines++;
    const indent = /^[ \t]*/.exec(line)![0];
    if (indent.length === line.length) continue; // blank, or only whitespace: says nothing
    if (indent.startsWith("\t")) {
      tabLines++;
      previous = -1;
      continue;
    }
    const spaces = /^ */.exec(indent)![0].length;
    if (spaces > 0) spaceLines++;
    if (previous >= 0 && spaces !== previous) {
      const step = Math.abs(spaces - previous);
      steps.set(step, (steps.get(step) ?? 0) + 1);
    }
    previous = spaces;
  }
  if (lines === 0 || (tabLines === 0 && spaceLines === 0)) return undefined;
  if (tabLines > spaceLines) return { tabs: true, width: TAB_WIDTH };
  let width = 0;
  let best = 0;
  for (const [step, count] of steps) {
    if (step === 1 || step > 8) continue;
    if (count > best || (count === best && step < width)) {
      width = step;
      best = count;
    }
  }
  if (width === 0) width = steps.has(1) ? 1 : 0;
  return width === 0 ? undefined : { tabs: false, width };
}

/** The file's own indentation when it has one, else its language's convention. */
export function indentationFor(path: string, text: string): Indentation {
  const convention = conventionFor(path);
  const found = detectIndentation(text);
  if (found === undefined) return convention;
  // A tab-indented file is shown with its language's tab width when that language uses tabs.
  return found.tabs && convention.tabs ? convention : found;
}

/** The editor settings for an indentation: the unit Tab and Enter insert, and how wide a tab is shown. */
export function indentationExtension(indentation: Indentation): Extension {
  return [
    indentUnit.of(indentation.tabs ? "\t" : " ".repeat(indentation.width)),
    EditorState.tabSize.of(indentation.tabs ? indentation.width : TAB_WIDTH),
  ];
}
