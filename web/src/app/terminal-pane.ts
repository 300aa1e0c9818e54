/**
 * One shared terminal on screen: xterm.js (its default DOM renderer, so the text is in the page) bound to a
 * `TerminalSession`. This viewer asks for the size that fits its pane; the terminal shows the PTY's actual size,
 * which is the smallest of everyone's, so every viewer sees the same screen. When the shell this viewer saw is gone
 * (the project's server restarted, the shell exited while the page was away), a notice above the terminal says when
 * and why, and that its output and programs are gone. The shell last seen is remembered across reloads.
 */

import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import type { Connection } from "../net/connection";
import { TerminalSession, type TerminalState } from "../net/terminal";
import { h, replaceChildren } from "./dom";
import { describeEnd } from "./errors";
import { restartNotice } from "./terminal-notice";
import { showError } from "./toast";

const STATE_TEXT: Record<TerminalState, string> = {
  opening: "Starting…",
  open: "",
  reconnecting: "Reconnecting…",
  exited: "The shell has ended. Press Enter to start a new one.",
  ended: "Closed",
};

export class TerminalPane {
  readonly element: HTMLElement;
  private readonly host: HTMLElement;
  private readonly status: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly terminal: Terminal;
  private readonly fit = new FitAddon();
  private session: TerminalSession | undefined;
  private readonly observer: ResizeObserver;

  constructor(
    private readonly connection: Connection,
    private readonly project: string,
    readonly name: string,
    /** Where the instance of the shell this viewer saw is kept (localStorage), so a reload can tell it was replaced. */
    private readonly memoryKey?: string,
  ) {
    this.host = h("div", { class: "xterm-host" });
    this.notice = h("div", { class: "terminal-notice", testid: "terminal-restarted", hidden: true, attrs: { role: "status" } });
    this.status = h("span", { class: "terminal-status", testid: "terminal-state", data: { state: "opening" }, text: STATE_TEXT.opening });
    this.element = h(
      "section",
      { class: "terminal-pane", testid: "terminal", data: { terminal: name } },
      h(
        "div",
        { class: "pane-toolbar" },
        h("span", { class: "pane-path", text: name }),
        h("span", { class: "pane-language", text: "Shared terminal" }),
        h("span", { class: "spacer" }),
        this.status,
        h("button", {
          class: "button small ghost",
          text: "End shell",
          title: "End the shell and everything running in it, for everyone",
          onclick: () => this.session?.kill(),
        }),
      ),
      this.notice,
      this.host,
    );
    this.terminal = new Terminal({
      fontFamily: 'ui-monospace, "SF Mono", "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace',
      fontSize: 13,
      cursorBlink: true,
      scrollback: 5000,
      allowProposedApi: false,
      theme: { background: "#1e2230", foreground: "#e6e9f0", cursor: "#f5c26b", selectionBackground: "#44506a" },
    });
    this.terminal.loadAddon(this.fit);
    // The session starts once the pane is on screen and can be measured (`attached`).
    this.observer = new ResizeObserver(() => this.resize());
  }

  /** Call once the element is in the document: measures, then opens the shared terminal at that size. */
  attached(): void {
    if (this.session !== undefined) return;
    this.terminal.open(this.host);
    const size = this.proposed() ?? { rows: 24, cols: 80 };
    this.session = new TerminalSession(this.connection, this.project, this.name, size, {
      attached: (attached) => {
        this.remember(attached.instance);
        const notice = restartNotice(attached);
        if (notice !== undefined) this.showNotice(notice);
      },
      output: (data, done) => this.terminal.write(data, done),
      snapshot: (data, done) => {
        this.terminal.reset();
        this.terminal.write(data, done);
      },
      size: (pty) => {
        if (pty.cols !== this.terminal.cols || pty.rows !== this.terminal.rows) this.terminal.resize(pty.cols, pty.rows);
      },
      exited: (code) => {
        const how = code === null ? "was stopped" : `exited with code ${code}`;
        this.terminal.write(`\r\n\x1b[2m[The shell ${how}. Press Enter to start a new one.]\x1b[0m\r\n`);
      },
      state: (state) => this.showState(state),
      failed: (end) => {
        if (end.by === "connection-closed") return;
        const message = describeEnd(end);
        this.terminal.write(`\r\n\x1b[31m[${message}]\x1b[0m\r\n`);
        showError(`Terminal ${this.name}: ${message}`);
      },
    }, this.recalled());
    this.terminal.onData((data) => {
      if (this.session?.state === "exited") {
        if (data === "\r") this.session.restart();
        return;
      }
      this.session?.input(data);
    });
    this.terminal.onBinary((data) => this.session?.input(Uint8Array.from(data, (char) => char.charCodeAt(0) & 0xff)));
    this.observer.observe(this.host);
  }

  focus(): void {
    this.terminal.focus();
  }

  /** The pane became visible again: its size may have changed while hidden. */
  shown(): void {
    this.resize();
  }

  destroy(): void {
    this.observer.disconnect();
    this.session?.close();
    this.terminal.dispose();
    this.element.remove();
  }

  private proposed(): { rows: number; cols: number } | undefined {
    if (this.host.clientWidth === 0 || this.host.clientHeight === 0) return undefined;
    const dimensions = this.fit.proposeDimensions();
    if (dimensions === undefined || !Number.isFinite(dimensions.cols) || !Number.isFinite(dimensions.rows)) return undefined;
    return { rows: Math.max(2, dimensions.rows), cols: Math.max(10, dimensions.cols) };
  }

  private resize(): void {
    const size = this.proposed();
    if (size === undefined || this.session === undefined) return;
    this.session.resize(size);
    // Until the PTY's size comes back, show what fits; SIZE then settles it for every viewer.
    if (size.cols < this.terminal.cols || size.rows < this.terminal.rows || this.session.state !== "open") {
      this.terminal.resize(size.cols, size.rows);
    }
  }

  private showNotice(message: string): void {
    replaceChildren(
      this.notice,
      h("span", { class: "terminal-notice-text", text: message }),
      h("button", { class: "button small ghost", text: "OK", title: "Hide this notice", onclick: () => (this.notice.hidden = true) }),
    );
    this.notice.hidden = false;
  }

  private recalled(): string | undefined {
    if (this.memoryKey === undefined) return undefined;
    try {
      return localStorage.getItem(this.memoryKey) ?? undefined;
    } catch {
      return undefined;
    }
  }

  private remember(instance: string): void {
    if (this.memoryKey === undefined) return;
    try {
      localStorage.setItem(this.memoryKey, instance);
    } catch {
      // Only a convenience: without it, a reload after a restart shows no notice.
    }
  }

  private showState(state: TerminalState): void {
    this.status.dataset.state = state;
    this.status.textContent = STATE_TEXT[state];
  }
}
