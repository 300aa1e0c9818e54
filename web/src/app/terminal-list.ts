/**
 * The project's running terminals, under the file tree: each with its name, who opened it and when, and who has it
 * open now; one click joins it (everyone who opens a terminal shares its shell). "New" opens a fresh one with the next
 * free name. Live: it follows the project channel's TERMINALS.
 */

import type { TerminalInfo } from "../protocol/local-hub";
import { initials } from "../net/project";
import { h, relativeTime, replaceChildren } from "./dom";
import { icon } from "./file-tree";
import { safeColor } from "./remote-cursors";
import { clockTime } from "./terminal-notice";
import "./presence.css";

export interface TerminalListOptions {
  /** Joins (or opens) the terminal of this name. */
  open(name: string): void;
  /** Opens a new terminal under a fresh name. */
  create(): void;
}

export class TerminalList {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private terminals: TerminalInfo[] = [];
  private active: string | undefined;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(private readonly options: TerminalListOptions) {
    this.list = h("ul", { class: "terminal-list", testid: "terminal-list", attrs: { "aria-label": "Running terminals" } });
    this.element = h(
      "section",
      { class: "terminals-section" },
      h(
        "div",
        { class: "terminals-heading" },
        h("span", { text: "Terminals" }),
        h("button", { class: "link-button", testid: "terminal-list-new", text: "New", title: "Open a new terminal", onclick: () => options.create() }),
      ),
      this.list,
    );
    this.render();
    // "3 minutes ago" moves on by itself.
    this.timer = setInterval(() => this.render(), 30_000);
  }

  /** The names of the running terminals. */
  get names(): string[] {
    return this.terminals.map((terminal) => terminal.name);
  }

  show(terminals: TerminalInfo[]): void {
    this.terminals = terminals;
    this.render();
  }

  /** Marks the terminal shown in front, if any. */
  setActive(name: string | undefined): void {
    this.active = name;
    this.render();
  }

  destroy(): void {
    clearInterval(this.timer);
    this.element.remove();
  }

  private render(): void {
    if (this.terminals.length === 0) {
      replaceChildren(this.list, h("li", { class: "terminal-empty", text: "No terminal is running." }));
      return;
    }
    replaceChildren(
      this.list,
      this.terminals.map((terminal) => {
        const watching = terminal.viewers.length;
        const opened = `opened by ${terminal.opened_by.name || "someone"} ${relativeTime(terminal.started_ms)}`;
        return h(
          "li",
          {},
          h(
            "button",
            {
              class: terminal.name === this.active ? "terminal-row active" : "terminal-row",
              testid: "terminal-row",
              data: { terminal: terminal.name, viewers: watching },
              title: `Join ${terminal.name}: ${opened} (at ${clockTime(terminal.started_ms)}); ${watching === 0 ? "nobody has it open" : `open for ${terminal.viewers.map((viewer) => viewer.name).join(", ")}`}`,
              onclick: () => this.options.open(terminal.name),
            },
            icon("terminal"),
            h("span", { class: "terminal-row-text" }, h("span", { class: "terminal-row-name", text: terminal.name }), h("span", { class: "terminal-row-meta", text: opened })),
            h(
              "span",
              { class: "terminal-row-viewers" },
              distinct(terminal.viewers).map((viewer) =>
                h("span", { class: "avatar small", text: initials(viewer.name), title: viewer.name, attrs: { style: `background-color: ${safeColor(viewer.color)}` } }),
              ),
            ),
          ),
        );
      }),
    );
  }
}

/** One avatar per person, however many tabs they watch from. */
function distinct(viewers: TerminalInfo["viewers"]): TerminalInfo["viewers"] {
  const seen = new Set<string>();
  return viewers.filter((viewer) => {
    const key = viewer.user !== "" ? viewer.user : `${viewer.name}\u0000${viewer.color}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
