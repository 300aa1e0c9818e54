/**
 * The history of one document, beside its editor: every version, newest first, under headings that gather a burst of
 * changes by one author; what a version changed or how it differs from now, as a line diff; and revert, which makes
 * the text what it was as a new version (so a revert can itself be reverted).
 */

import type { DocumentSession } from "../net/document";
import { hunks, diffLines, type DiffRow } from "./diff";
import { h, relativeTime, replaceChildren } from "./dom";
import { describeError } from "./errors";
import { showError, showInfo } from "./toast";
import { groupVersions, type VersionGroup } from "./versions";

type Mode = "changes" | "now";

/** Versions of one burst listed before "show earlier changes". */
const VISIBLE_PER_GROUP = 8;

export class HistoryPanel {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly detail: HTMLElement;
  private readonly revertButton: HTMLButtonElement;
  private readonly modeButtons: Record<Mode, HTMLButtonElement>;
  private groups: VersionGroup[] = [];
  private times = new Map<number, number>();
  /** Groups shown in full, by their last version. */
  private readonly open = new Set<number>();
  /** The selected entry, by its last version. */
  private selected: number | undefined;
  private mode: Mode = "changes";
  /** Texts fetched so far, by version. */
  private readonly texts = new Map<number, string>();
  private destroyed = false;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly session: DocumentSession,
    onClose: () => void,
  ) {
    this.list = h("ol", { class: "history-list", attrs: { "aria-label": "Versions" } });
    this.detail = h("div", { class: "history-detail" }, h("p", { class: "muted", text: "Choose a version to see what changed." }));
    this.revertButton = h("button", { class: "button primary small", testid: "history-revert", text: "Restore this version", disabled: true, onclick: () => void this.revert() });
    this.modeButtons = {
      changes: h("button", { class: "segment active", text: "Its changes", title: "What this version changed", onclick: () => this.setMode("changes") }),
      now: h("button", { class: "segment", text: "Versus now", title: "How this version differs from the text now", onclick: () => this.setMode("now") }),
    };
    this.element = h(
      "aside",
      { class: "history-panel", testid: "history-panel", attrs: { "aria-label": "History" } },
      h(
        "div",
        { class: "history-header" },
        h("h3", { text: "History" }),
        h("button", { class: "button small ghost", testid: "history-close", text: "Close", onclick: onClose }),
      ),
      this.list,
      h("div", { class: "history-actions" }, h("div", { class: "segments" }, this.modeButtons.changes, this.modeButtons.now), this.revertButton),
      this.detail,
    );
    void this.refresh();
    // Others keep editing while the panel is open: new versions appear without a click.
    this.timer = setInterval(() => {
      if (document.visibilityState === "visible") void this.refresh({ quiet: true });
    }, 5000);
  }

  destroy(): void {
    this.destroyed = true;
    clearInterval(this.timer);
    this.element.remove();
  }

  private async refresh(options: { quiet?: boolean } = {}): Promise<void> {
    if (options.quiet !== true) replaceChildren(this.list, h("li", { class: "muted", text: "Loading…" }));
    try {
      const response = await this.session.history({ op: "list" });
      if (this.destroyed || response.op !== "list") return;
      const known = this.groups[0]?.last;
      const newest = response.versions.reduce((max, version) => Math.max(max, version.version), 0);
      if (options.quiet === true && newest === (known ?? 0)) return;
      this.groups = groupVersions(response.versions);
      this.times = new Map(response.versions.map((version) => [version.version, version.time_ms]));
      this.texts.clear();
      this.renderList();
    } catch (error) {
      if (this.destroyed || options.quiet === true) return;
      replaceChildren(this.list, h("li", { class: "muted", text: describeError(error) }));
    }
  }

  private renderList(): void {
    if (this.groups.length === 0) {
      replaceChildren(this.list, h("li", { class: "muted", text: "No changes recorded yet." }));
      return;
    }
    const latest = this.groups[0]!.last;
    const rows: HTMLElement[] = [];
    for (const group of this.groups) {
      const changes = group.count === 1 ? "1 change" : `${group.count} changes`;
      rows.push(
        h(
          "li",
          { class: "history-group" },
          h("span", { class: "history-author", text: group.author }),
          h("span", { class: "history-meta", text: `${changes} · ${relativeTime(group.endMs)}`, title: new Date(group.endMs).toLocaleString() }),
        ),
      );
      // Every version stays selectable; a long burst shows its newest few until it is opened.
      const shown = this.open.has(group.last) ? group.count : Math.min(group.count, VISIBLE_PER_GROUP);
      for (let version = group.last; version > group.last - shown; version--) rows.push(this.entry(version, latest));
      if (shown < group.count) {
        const more = group.count - shown;
        rows.push(
          h("li", {}, h("button", { class: "history-more", text: `Show ${more} earlier change${more === 1 ? "" : "s"}`, onclick: () => this.expand(group.last) })),
        );
      }
    }
    replaceChildren(this.list, rows);
  }

  private entry(version: number, latest: number): HTMLElement {
    const time = this.times.get(version);
    return h(
      "li",
      {},
      h(
        "button",
        {
          class: version === this.selected ? "history-entry selected" : "history-entry",
          testid: "history-entry",
          data: { version, selected: version === this.selected },
          onclick: () => void this.select(version),
        },
        h("span", { class: "history-version", text: `Version ${version}${version === latest ? " (current)" : ""}` }),
        time !== undefined ? h("span", { class: "history-time", text: new Date(time).toLocaleTimeString() }) : null,
      ),
    );
  }

  private expand(last: number): void {
    this.open.add(last);
    this.renderList();
  }

  private async text(version: number): Promise<string> {
    const known = this.texts.get(version);
    if (known !== undefined) return known;
    const response = await this.session.history({ op: "fetch", version });
    if (response.op !== "fetch") throw new Error("The server answered with something else.");
    this.texts.set(version, response.text);
    return response.text;
  }

  private async select(version: number): Promise<void> {
    this.selected = version;
    this.renderList();
    this.revertButton.disabled = false;
    await this.showDiff();
  }

  private setMode(mode: Mode): void {
    this.mode = mode;
    this.modeButtons.changes.classList.toggle("active", mode === "changes");
    this.modeButtons.now.classList.toggle("active", mode === "now");
    void this.showDiff();
  }

  private async showDiff(): Promise<void> {
    const version = this.selected;
    if (version === undefined) return;
    replaceChildren(this.detail, h("p", { class: "muted", text: "Loading…" }));
    try {
      let before: string;
      let after: string;
      let caption: string;
      if (this.mode === "changes") {
        [before, after] = await Promise.all([this.text(Math.max(0, version - 1)), this.text(version)]);
        caption = `What version ${version} changed`;
      } else {
        before = await this.text(version);
        after = this.session.text;
        caption = `From version ${version} to the text now`;
      }
      if (this.destroyed || this.selected !== version) return;
      this.renderDiff(caption, before, after);
    } catch (error) {
      if (!this.destroyed) replaceChildren(this.detail, h("p", { class: "muted", text: describeError(error) }));
    }
  }

  private renderDiff(caption: string, before: string, after: string): void {
    const lines = diffLines(before, after);
    if (lines === undefined) {
      replaceChildren(this.detail, h("p", { class: "muted", text: `${caption}: too many lines changed to show here.` }));
      return;
    }
    const rows = hunks(lines);
    const changed = lines.some((line) => line.kind !== "same");
    replaceChildren(
      this.detail,
      h("p", { class: "history-caption", text: caption }),
      changed ? h("div", { class: "diff", testid: "history-diff" }, rows.map(renderRow)) : h("p", { class: "muted", text: "No differences." }),
    );
  }

  private async revert(): Promise<void> {
    const version = this.selected;
    if (version === undefined) return;
    this.revertButton.disabled = true;
    try {
      const response = await this.session.history({ op: "revert", version });
      if (response.op === "revert") showInfo(`Restored version ${version} (saved as version ${response.new_version})`);
      await this.refresh();
      this.selected = undefined;
      this.renderList();
      replaceChildren(this.detail, h("p", { class: "muted", text: "Choose a version to see what changed." }));
    } catch (error) {
      showError(`Could not restore version ${version}: ${describeError(error)}`);
      this.revertButton.disabled = false;
    }
  }
}

function renderRow(row: DiffRow): HTMLElement {
  if (row.kind === "skipped") return h("div", { class: "diff-row diff-skipped", text: `⋯ ${row.count} unchanged line${row.count === 1 ? "" : "s"}` });
  const sign = row.kind === "added" ? "+" : row.kind === "removed" ? "−" : " ";
  return h(
    "div",
    { class: `diff-row diff-${row.kind}` },
    h("span", { class: "diff-number", text: row.oldLine === undefined ? "" : String(row.oldLine) }),
    h("span", { class: "diff-number", text: row.newLine === undefined ? "" : String(row.newLine) }),
    h("span", { class: "diff-sign", text: sign }),
    h("span", { class: "diff-text", text: row.text }),
  );
}
