import { describe, expect, it } from "vitest";
import { languageFor, loadLanguage } from "./languages";

describe("languages", () => {
  it("are chosen by extension, case-insensitively, with plain text otherwise", () => {
    expect(languageFor("src/main.py")).toBe("python");
    expect(languageFor("App.TSX")).toBe("tsx");
    expect(languageFor("lib.rs")).toBe("rust");
    expect(languageFor("README.md")).toBe("markdown");
    expect(languageFor("data.json")).toBe("json");
    expect(languageFor("index.html")).toBe("html");
    expect(languageFor("style.css")).toBe("css");
    expect(languageFor("a/b/script.js")).toBe("javascript");
    expect(languageFor("Makefile")).toBe("plain");
    expect(languageFor(".bashrc")).toBe("plain");
    expect(languageFor("notes.txt")).toBe("plain");
  });

  it("load a parser for every named language", async () => {
    for (const language of ["python", "javascript", "typescript", "markdown", "rust", "json", "html", "css"] as const) {
      expect(await loadLanguage(language), language).toBeDefined();
    }
    expect(await loadLanguage("plain")).toBeUndefined();
  });
});
