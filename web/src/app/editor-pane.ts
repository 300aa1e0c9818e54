/**
 * One open file: a CodeMirror view bound to a `DocumentSession`, its sync state, collaborators' cursors, notices and
 * the history panel. Local transactions become code point deltas for the session; remote deltas are dispatched as
 * transactions marked remote (kept out of undo), so CodeMirror maps the cursor and selection through them.
 */

import { Annotation, Compartment, EditorState, Transaction } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import type { ChannelEnd, Connection } from "../net/connection";
import { DocumentSession, type SyncState } from "../net/document";
import type { FilesSession } from "../net/files";
import type { SavedDocuments } from "../net/saved-documents";
import type { PeerPresence } from "../protocol/local-hub";
import { baseLength, type Delta } from "../sync";
import { TextMap } from "./cm-sync";
import { h, replaceChildren } from "./dom";
import { baseExtensions } from "./editor-setup";
import { describeEnd } from "./errors";
import { HistoryPanel } from "./history-panel";
import { indentationExtension, indentationFor } from "./indentation";
import { languageFor, languageLabel, loadLanguage } from "./languages";
import { remoteCursors, setRemoteCursors } from "./remote-cursors";
import { showError, showInfo } from "./toast";
import { downloadFile } from "./transfer";

/** Marks transactions that carry others' changes, so they are not sent back. */
const remote = Annotation.define<boolean>();

const STATE_TEXT: Record<SyncState, string> = {
  saved: "Saved",
  syncing: "Saving…",
  offline: "Offline · your changes are kept here",
  reconnecting: "Reconnecting… · your changes are kept here",
};

/** True when the start of a text is more than a tenth control characters (other than tab, newline, return). */
export function looksBinary(text: string): boolean {
  const sample = text.slice(0, 65_536);
  if (sample.length === 0) return false;
  let control = 0;
  for (let index = 0; index < sample.length; index++) {
    const code = sample.charCodeAt(index);
    if ((code < 32 && code !== 9 && code !== 10 && code !== 13) || code === 0x7f) control++;
  }
  return control * 10 > sample.length;
}

export interface EditorPaneOptions {
  connection: Connection;
  saved: SavedDocuments;
  files: FilesSession;
  project: string;
  path: string;
  /** The file cannot be opened here (not text, gone, too large). */
  failed?: () => void;
  /** Creates the file when it does not exist (the pane offers it). */
  create?: () => void;
}

export class EditorPane {
  readonly element: HTMLElement;
  private readonly host: HTMLElement;
  private readonly body: HTMLElement;
  private readonly stateBadge: HTMLElement;
  private readonly notices: HTMLElement;
  private readonly historyButton: HTMLButtonElement;
  private view: EditorView | undefined;
  /** What the view does not show of the engine's text (line break kinds, a BOM), so positions map exactly. */
  private textMap: TextMap | undefined;
  private session: DocumentSession | undefined;
  private history: HistoryPanel | undefined;
  private readonly language = new Compartment();
  private readonly editable = new Compartment();
  private readOnly = false;
  private pendingPeers: PeerPresence[] = [];
  private destroyed = false;
  /** Set when the document was closed for good (the text is data, or the file does not exist). */
  private closedForGood = false;
  /** Focus was asked for before the editor existed: it goes to the editor once there is one. */
  private wantsFocus = false;
  /** What was typed while the file was opening, typed into the editor once it is open. */
  private typedAhead = "";

  constructor(private readonly options: EditorPaneOptions) {
    const language = languageFor(options.path);
    this.stateBadge = h("span", { class: "sync-state", testid: "sync-state", data: { state: "syncing" }, text: "Opening…" });
    this.historyButton = h("button", { class: "button small", testid: "history-button", text: "History", title: "Browse and restore earlier versions", onclick: () => this.toggleHistory() });
    this.notices = h("div", { class: "editor-notices" });
    this.host = h("div", { class: "cm-host", attrs: { tabindex: -1 }, onkeydown: (event) => this.typeAhead(event) }, h("div", { class: "loading", text: "Opening the file…" }));
    this.body = h("div", { class: "editor-body" }, this.host);
    this.element = h(
      "section",
      { class: "editor-pane", testid: "editor", data: { path: options.path } },
      h(
        "div",
        { class: "pane-toolbar" },
        h("span", { class: "pane-path", text: options.path, title: options.path }),
        h("span", { class: "pane-language", text: languageLabel(language) }),
        h("span", { class: "spacer" }),
        this.stateBadge,
        this.historyButton,
      ),
      this.notices,
      this.body,
    );
    void this.open(language);
  }

  get path(): string {
    return this.options.path;
  }

  focus(): void {
    if (this.view !== undefined) {
      this.view.focus();
      return;
    }
    // Still opening: hold the focus here, so what the user types next is neither lost nor sent to the button or
    // dialog they just used; it is typed into the editor once it opens.
    this.wantsFocus = true;
    this.host.focus({ preventScroll: true });
  }

  /** Saves the unsent state now (the page is going away). */
  persist(): void {
    this.session?.persist();
  }

  destroy(): void {
    this.destroyed = true;
    this.history?.destroy();
    this.session?.close();
    this.view?.destroy();
    this.element.remove();
  }

  private async open(language: ReturnType<typeof languageFor>): Promise<void> {
    const support = loadLanguage(language).catch(() => undefined);
    const session = await DocumentSession.open({
      connection: this.options.connection,
      saved: this.options.saved,
      project: this.options.project,
      path: this.options.path,
      events: {
        ready: (text) => this.ready(text, support),
        remoteChange: (delta) => this.remoteChange(delta),
        state: (state) => this.showState(state),
        presences: (peers) => this.showPeers(peers),
        readOnly: (readOnly) => this.setReadOnly(readOnly),
        notice: (message, dropped) => this.notice(message, dropped),
        failed: (end) => this.failed(end),
        missing: () => this.missing(),
      },
    });
    if (this.destroyed || this.closedForGood) {
      session.close();
      return;
    }
    this.session = session;
    this.showState(session.state);
  }

  private ready(text: string, support: Promise<Awaited<ReturnType<typeof loadLanguage>>>): void {
    if (this.destroyed || this.view !== undefined) return;
    if (looksBinary(text)) {
      // Valid UTF-8 that is mostly control characters (a data file): an editor would only freeze the page on it.
      this.closedForGood = true;
      this.session?.close();
      this.failed({ by: "refused", code: "binary", message: "not text" });
      return;
    }
    const { map, shown } = TextMap.open(text);
    this.textMap = map;
    const state = EditorState.create({
      doc: shown,
      extensions: [
        baseExtensions(),
        indentationExtension(indentationFor(this.options.path, shown)),
        this.language.of([]),
        this.editable.of(this.editableExtensions()),
        remoteCursors(),
        // Everything is saved as it is typed; Ctrl-S only says so instead of opening the browser's "save page".
        keymap.of([{ key: "Mod-s", preventDefault: true, run: () => (showInfo("Saved automatically: every change is kept as you type."), true) }]),
        EditorView.updateListener.of((update) => {
          for (const transaction of update.transactions) {
            if (!transaction.docChanged || transaction.annotation(remote) === true) continue;
            this.localChange(transaction);
          }
          if (update.selectionSet || update.docChanged || update.focusChanged) this.sendPresence(update.view);
        }),
      ],
    });
    this.view = new EditorView({ state, parent: this.host });
    this.host.querySelector(".loading")?.remove();
    this.typeAheadInto(this.view);
    void support.then((extension) => {
      if (extension !== undefined && this.view !== undefined) this.view.dispatch({ effects: this.language.reconfigure(extension) });
    });
    if (this.pendingPeers.length > 0) this.showPeers(this.pendingPeers);
  }

  private localChange(transaction: Transaction): void {
    const session = this.session;
    const map = this.textMap;
    if (session === undefined || map === undefined) return;
    const delta = map.localChange(transaction.changes, transaction.startState.doc);
    if (baseLength(delta) !== session.length) {
      // The view and the engine disagree about the text: sending this edit could put it in the wrong place. The
      // engine's text is the truth; show it again (the user's last keystroke is the only thing that can be lost).
      console.error(`editor: the view's text (${baseLength(delta)} code points) is not the engine's (${session.length}); showing the engine's again`);
      this.showText(session.text);
      return;
    }
    session.edit(delta);
  }

  private remoteChange(delta: Delta): void {
    const view = this.view;
    const map = this.textMap;
    if (view === undefined || map === undefined) return;
    view.dispatch({
      changes: map.remoteChange(delta, view.state.doc),
      annotations: [remote.of(true), Transaction.addToHistory.of(false)],
    });
  }

  /** Replaces the whole view with the engine's `text` (kept out of undo, like others' changes). */
  private showText(text: string): void {
    const view = this.view;
    if (view === undefined) return;
    const { map, shown } = TextMap.open(text);
    view.dispatch({
      changes: { from: 0, to: view.state.doc.length, insert: shown },
      annotations: [remote.of(true), Transaction.addToHistory.of(false)],
    });
    this.textMap = map;
  }

  private sendPresence(view: EditorView): void {
    if (this.session === undefined || !view.hasFocus) return;
    const map = this.textMap;
    if (map === undefined) return;
    const { head, anchor } = view.state.selection.main;
    const doc = view.state.doc;
    this.session.setPresence(map.toEngine(doc, head), map.toEngine(doc, anchor));
  }

  private showPeers(peers: PeerPresence[]): void {
    const view = this.view;
    const map = this.textMap;
    if (view === undefined || map === undefined) {
      this.pendingPeers = peers;
      return;
    }
    const doc = view.state.doc;
    const cursors = peers.map((peer) => ({
      id: peer.connection,
      name: peer.name,
      color: peer.color,
      head: map.fromEngine(doc, peer.cursor),
      anchor: map.fromEngine(doc, peer.anchor),
    }));
    view.dispatch({ effects: setRemoteCursors.of(cursors) });
  }

  private showState(state: SyncState): void {
    // A pane that shows a message instead of the file has no sync state to show.
    if (this.closedForGood) return;
    this.stateBadge.dataset.state = state;
    this.stateBadge.textContent = this.session?.isReady === false && state === "syncing" ? "Opening…" : STATE_TEXT[state];
  }

  private editableExtensions() {
    return [EditorState.readOnly.of(this.readOnly), EditorView.editable.of(!this.readOnly)];
  }

  private setReadOnly(readOnly: boolean): void {
    if (readOnly === this.readOnly) return;
    this.readOnly = readOnly;
    this.view?.dispatch({ effects: this.editable.reconfigure(this.editableExtensions()) });
    if (readOnly) this.notice("This file is too large to edit in the browser, so it is open read-only.");
  }

  private notice(message: string, dropped?: string): void {
    const close = h("button", { class: "notice-close", text: "×", title: "Dismiss" });
    const notice = h(
      "div",
      { class: "notice", attrs: { role: "status" } },
      h("div", { class: "notice-text", text: message }),
      dropped !== undefined && dropped !== "" ? h("pre", { class: "notice-dropped", text: dropped }) : null,
      close,
    );
    close.addEventListener("click", () => notice.remove());
    this.notices.appendChild(notice);
  }

  private failed(end: ChannelEnd): void {
    if (end.by === "connection-closed") return;
    this.showClosed();
    const message = describeEnd(end);
    // The pane says it too, and keeps saying it; the toast only draws the eye.
    showError(`${this.options.path}: ${message}`, { transient: true });
    this.options.failed?.();
    const canDownload = end.by === "refused" && (end.code === "binary" || end.code === "too_large_to_edit");
    replaceChildren(
      this.host,
      h(
        "div",
        { class: "pane-message" },
        h("p", { text: message }),
        canDownload ? h("button", { class: "button", text: "Download", onclick: () => void downloadFile(this.options.files, this.options.path) }) : null,
      ),
    );
  }

  /** The file is not on disk (a mistyped address, or deleted): say so and offer to create it; never show "Saved". */
  private missing(): void {
    if (this.destroyed || this.closedForGood) return;
    this.session?.close();
    this.showClosed();
    const name = this.options.path.split("/").pop() ?? this.options.path;
    replaceChildren(
      this.host,
      h(
        "div",
        { class: "pane-message", testid: "missing-file" },
        h("p", { text: `${this.options.path} does not exist.` }),
        this.options.create !== undefined ? h("button", { class: "button primary", testid: "create-missing", text: `Create ${name}`, onclick: () => this.options.create?.() }) : null,
      ),
    );
  }

  /** The editor is gone for good: no sync state to show (the connection may well be fine), no history to browse. */
  private showClosed(): void {
    this.closedForGood = true;
    this.view?.destroy();
    this.view = undefined;
    this.history?.destroy();
    this.history = undefined;
    this.historyButton.disabled = true;
    this.historyButton.classList.remove("active");
    this.stateBadge.hidden = true;
  }

  /** Keeps what is typed while the file opens (see `focus`). */
  private typeAhead(event: KeyboardEvent): void {
    if (this.view !== undefined || this.closedForGood || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.key === "Enter") this.typedAhead += "\n";
    else if (event.key === "Backspace") this.typedAhead = [...this.typedAhead].slice(0, -1).join("");
    else if ([...event.key].length === 1) this.typedAhead += event.key;
    else return;
    event.preventDefault();
  }

  /** Moves the focus held while opening into the editor, with what was typed meanwhile. */
  private typeAheadInto(view: EditorView): void {
    const active = document.activeElement;
    if (this.wantsFocus && (active === this.host || active === null || active === document.body)) view.focus();
    this.wantsFocus = false;
    if (this.typedAhead !== "" && !this.readOnly) {
      view.dispatch(view.state.replaceSelection(this.typedAhead), { userEvent: "input.type", scrollIntoView: true });
    }
    this.typedAhead = "";
  }

  private toggleHistory(): void {
    if (this.history !== undefined) {
      this.history.destroy();
      this.history = undefined;
      this.historyButton.classList.remove("active");
      return;
    }
    if (this.session === undefined) return;
    this.history = new HistoryPanel(this.session, () => this.toggleHistory());
    this.historyButton.classList.add("active");
    this.body.appendChild(this.history.element);
  }
}
