/**
 * Syntax highlighting by file name. Each language's parser is loaded on first use (its own bundle chunk), so opening
 * a Python file does not download the HTML grammar.
 */

import type { LanguageSupport } from "@codemirror/language";

export type LanguageName = "python" | "javascript" | "typescript" | "jsx" | "tsx" | "markdown" | "rust" | "json" | "html" | "css" | "plain";

const BY_EXTENSION: Record<string, LanguageName> = {
  py: "python",
  pyw: "python",
  pyi: "python",
  js: "javascript",
  mjs: "javascript",
  cjs: "javascript",
  jsx: "jsx",
  ts: "typescript",
  mts: "typescript",
  cts: "typescript",
  tsx: "tsx",
  md: "markdown",
  markdown: "markdown",
  rs: "rust",
  json: "json",
  ipynb: "json",
  html: "html",
  htm: "html",
  css: "css",
};

export function languageFor(path: string): LanguageName {
  const name = path.split("/").pop() ?? path;
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return "plain";
  return BY_EXTENSION[name.slice(dot + 1).toLowerCase()] ?? "plain";
}

/** A label for the status bar. */
export function languageLabel(language: LanguageName): string {
  const labels: Record<LanguageName, string> = {
    python: "Python",
    javascript: "JavaScript",
    typescript: "TypeScript",
    jsx: "JavaScript (JSX)",
    tsx: "TypeScript (TSX)",
    markdown: "Markdown",
    rust: "Rust",
    json: "JSON",
    html: "HTML",
    css: "CSS",
    plain: "Plain text",
  };
  return labels[language];
}

export async function loadLanguage(language: LanguageName): Promise<LanguageSupport | undefined> {
  switch (language) {
    case "python":
      return (await import("@codemirror/lang-python")).python();
    case "javascript":
      return (await import("@codemirror/lang-javascript")).javascript();
    case "jsx":
      return (await import("@codemirror/lang-javascript")).javascript({ jsx: true });
    case "typescript":
      return (await import("@codemirror/lang-javascript")).javascript({ typescript: true });
    case "tsx":
      return (await import("@codemirror/lang-javascript")).javascript({ typescript: true, jsx: true });
    case "markdown":
      return (await import("@codemirror/lang-markdown")).markdown();
    case "rust":
      return (await import("@codemirror/lang-rust")).rust();
    case "json":
      return (await import("@codemirror/lang-json")).json();
    case "html":
      return (await import("@codemirror/lang-html")).html();
    case "css":
      return (await import("@codemirror/lang-css")).css();
    case "plain":
      return undefined;
  }
}
