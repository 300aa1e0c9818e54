/**
 * A project: the file tree on the left with the running terminals under it, tabs of open files and terminals on the
 * right, and who else is in the project in the header. Panes stay alive while their tab is open (switching tabs does
 * not reopen a document or a terminal). The open tabs are remembered per project, so a reload brings them back; the
 * route says which one is in front, and the project channel tells everyone else.
 */

import { ApiError } from "../net/api";
import { FilesSession } from "../net/files";
import { nextTerminalName, ProjectSession } from "../net/project";
import type { Focus } from "../protocol/local-hub";
import type { AppContext } from "./context";
import { persistHooks } from "./context";
import { h, replaceChildren } from "./dom";
import { EditorPane } from "./editor-pane";
import { describeEnd, describeError } from "./errors";
import { FileTree, icon } from "./file-tree";
import { PresenceBar } from "./presence-bar";
import { navigate, type Route } from "./router";
import { TerminalList } from "./terminal-list";
import { TerminalPane } from "./terminal-pane";
import { showError } from "./toast";

const NOT_A_MEMBER = "This project does not exist, or you are not one of its collaborators. Ask its owner to invite you.";

type TabKey = { kind: "file"; path: string } | { kind: "terminal"; name: string };

interface Tab {
  key: TabKey;
  pane: EditorPane | TerminalPane;
  element: HTMLElement;
  /** A file that could not be opened: its tab stays until closed but is not brought back after a reload. */
  failed?: boolean;
}

function sameKey(a: TabKey, b: TabKey): boolean {
  return a.kind === b.kind && (a.kind === "file" ? a.path === (b as typeof a).path : a.name === (b as { name: string }).name);
}

function routeOf(project: string, key: TabKey): Route {
  return key.kind === "file" ? { page: "project", project, file: key.path } : { page: "project", project, terminal: key.name };
}

export class ProjectView {
  readonly element: HTMLElement;
  /** Set once the hub confirmed this account may open the project; nothing of it is shown before. */
  private files: FilesSession | undefined;
  private tree: FileTree | undefined;
  /** Who is here and the running terminals, live. */
  private live: ProjectSession | undefined;
  private terminalList: TerminalList | undefined;
  private presence: PresenceBar | undefined;
  private readonly tabBar: HTMLElement;
  private readonly panes: HTMLElement;
  private readonly empty: HTMLElement;
  private tabs: Tab[] = [];
  private active: Tab | undefined;
  private title = "";
  /** The route to show once the project is loaded. */
  private pending: (Route & { page: "project" }) | undefined;
  private state: "loading" | "ready" | "failed" = "loading";
  private destroyed = false;
  private readonly persist = () => {
    for (const tab of this.tabs) if (tab.pane instanceof EditorPane) tab.pane.persist();
  };

  constructor(
    private readonly context: AppContext,
    readonly project: string,
  ) {
    this.tabBar = h("div", { class: "tab-bar", attrs: { role: "tablist" } });
    this.empty = h(
      "div",
      { class: "pane-empty" },
      h("div", { class: "pane-empty-inner" }, icon("file"), h("h2", { text: "Open a file to start" }), h("p", { text: "Pick a file on the left, create one, or open a terminal. Everyone in the project sees changes as they happen." })),
    );
    this.panes = h("div", { class: "panes" }, this.empty);
    this.element = h("main", { class: "project-page" }, h("div", { class: "loading", text: "Opening the project…" }));
    context.setBreadcrumb([{ text: "Projects", href: "#/" }, "…"]);
    persistHooks.add(this.persist);
    void this.load();
  }

  /** Shows what the route asks for (once the project is loaded). */
  route(route: Route & { page: "project" }): void {
    if (this.state === "loading") {
      this.pending = route;
      return;
    }
    if (this.state === "failed") return;
    let key: TabKey | undefined;
    if (route.file !== undefined) key = { kind: "file", path: route.file };
    else if (route.terminal !== undefined) key = { kind: "terminal", name: route.terminal };
    if (key === undefined) {
      // The project itself: bring back the tab that was in front, if any.
      const last = this.loadActive();
      const tab = this.tabs.find((candidate) => last !== undefined && sameKey(candidate.key, last)) ?? this.tabs[0];
      if (tab !== undefined) navigate(routeOf(this.project, tab.key), { replace: true });
      else this.activate(undefined);
      return;
    }
    this.activate(this.openTab(key));
  }

  destroy(): void {
    this.destroyed = true;
    this.persist();
    persistHooks.delete(this.persist);
    for (const tab of this.tabs) tab.pane.destroy();
    this.tabs = [];
    this.closeLive();
    this.tree?.destroy();
    this.files?.close();
    this.element.remove();
  }

  private closeLive(): void {
    this.live?.close();
    this.live = undefined;
    this.terminalList?.destroy();
    this.terminalList = undefined;
    if (this.presence !== undefined) this.context.setHeaderExtra(undefined);
    this.presence = undefined;
  }

  /** Asks the hub whether this account may open the project; only then opens its files and tabs. */
  private async load(): Promise<void> {
    let title: string;
    try {
      title = (await this.context.api.project(this.project)).title;
    } catch (error) {
      if (this.destroyed) return;
      this.fail(error instanceof ApiError && error.status === 404 ? NOT_A_MEMBER : describeError(error));
      return;
    }
    if (this.destroyed) return;
    this.title = title;
    this.state = "ready";
    this.context.setBreadcrumb([{ text: "Projects", href: "#/" }, title]);
    document.title = `${title} · Orrery`;
    const project = this.project;
    this.files = new FilesSession(this.context.connection, project);
    this.files.onEnd((end) => {
      // Removed from the project (or it was deleted) while looking at it.
      if (end.by === "refused") this.fail(end.code === "no_project" ? NOT_A_MEMBER : describeEnd(end));
    });
    this.tree = new FileTree({
      files: this.files,
      storageKey: `orrery.tree.v1/${this.context.account.id}/${project}`,
      openFile: (path) => this.show({ kind: "file", path }),
      newTerminal: () => this.newTerminal(),
      renamed: (from, to) => this.renamed(from, to),
      deleted: (path) => this.deleted(path),
    });
    this.terminalList = new TerminalList({
      open: (name) => this.show({ kind: "terminal", name }),
      create: () => this.newTerminal(),
    });
    this.tree.element.appendChild(this.terminalList.element);
    this.presence = new PresenceBar({ self: this.context.account.id, open: (focus) => this.showFocus(focus) });
    this.context.setHeaderExtra(this.presence.element);
    const presence = this.presence;
    const terminalList = this.terminalList;
    this.live = new ProjectSession(this.context.connection, project, {
      people: (people) => presence.show(people),
      terminals: (terminals) => terminalList.show(terminals),
    });
    this.element.replaceChildren(this.tree.element, h("div", { class: "workspace" }, this.tabBar, this.panes));
    for (const key of this.loadTabs()) this.openTab(key);
    this.renderTabs();
    this.route(this.pending ?? { page: "project", project });
    this.pending = undefined;
  }

  /** Shows why the project cannot be shown, and nothing of it. */
  private fail(message: string): void {
    if (this.destroyed || this.state === "failed") return;
    this.state = "failed";
    this.persist();
    for (const tab of this.tabs) tab.pane.destroy();
    this.tabs = [];
    this.active = undefined;
    this.closeLive();
    this.tree?.destroy();
    this.files?.close();
    this.context.setBreadcrumb([{ text: "Projects", href: "#/" }, "Project not available"]);
    this.element.replaceChildren(
      h(
        "div",
        { class: "pane-message" },
        h("h2", { text: "This project can't be opened" }),
        h("p", { text: message }),
        h("p", {}, h("a", { attrs: { href: "#/" }, text: "Back to your projects" })),
      ),
    );
    showError(message);
  }

  private openTab(key: TabKey): Tab {
    const existing = this.tabs.find((tab) => sameKey(tab.key, key));
    if (existing !== undefined) return existing;
    const pane =
      key.kind === "file"
        ? new EditorPane({
            connection: this.context.connection,
            saved: this.context.saved,
            files: this.files!,
            project: this.project,
            path: key.path,
            failed: () => {
              tab.failed = true;
              this.saveTabs();
            },
            create: () => void this.createMissing(tab, key.path),
          })
        : new TerminalPane(this.context.connection, this.project, key.name, `orrery.terminal.v1/${this.context.account.id}/${this.project}/${key.name}`);
    pane.element.hidden = true;
    this.panes.appendChild(pane.element);
    const tab: Tab = { key, pane, element: h("div") };
    this.tabs.push(tab);
    this.saveTabs();
    this.renderTabs();
    return tab;
  }

  /**
   * Brings a tab to the front at once, with the focus in it, then puts it in the address. Waiting for the address
   * change to do it would leave the focus, for a moment, on whatever button or dialog led here: keys typed then
   * would press that button again.
   */
  private show(key: TabKey): void {
    this.activate(this.openTab(key));
    navigate(routeOf(this.project, key));
  }

  /** Creates a file its tab said does not exist, and opens it again. */
  private async createMissing(tab: Tab, path: string): Promise<void> {
    try {
      await this.tree?.createFile(path);
    } catch (error) {
      showError(`Could not create ${path}: ${describeError(error)}`);
      return;
    }
    if (!this.tabs.includes(tab)) return;
    const active = tab === this.active;
    this.closeTabQuietly(tab);
    const reopened = this.openTab({ kind: "file", path });
    if (active) this.activate(reopened);
  }

  private activate(tab: Tab | undefined): void {
    this.active = tab;
    for (const other of this.tabs) other.pane.element.hidden = other !== tab;
    this.empty.hidden = tab !== undefined;
    if (tab !== undefined) {
      if (tab.pane instanceof TerminalPane) {
        tab.pane.attached();
        tab.pane.shown();
      }
      tab.pane.focus();
      this.saveActive(tab.key);
      document.title = `${tab.key.kind === "file" ? tab.key.path.split("/").pop() : tab.key.name} · ${this.title || "Orrery"}`;
    }
    this.tree?.setActive(tab?.key.kind === "file" ? tab.key.path : undefined);
    this.terminalList?.setActive(tab?.key.kind === "terminal" ? tab.key.name : undefined);
    const focus: Focus =
      tab === undefined ? { what: "nothing" } : tab.key.kind === "file" ? { what: "file", path: tab.key.path } : { what: "terminal", name: tab.key.name };
    this.live?.focus(focus);
    this.renderTabs();
  }

  /** Opens what someone else is looking at. */
  private showFocus(focus: Focus): void {
    if (focus.what === "file") this.show({ kind: "file", path: focus.path });
    else if (focus.what === "terminal") this.show({ kind: "terminal", name: focus.name });
  }

  private closeTab(tab: Tab): void {
    const index = this.tabs.indexOf(tab);
    if (index < 0) return;
    tab.pane.destroy();
    this.tabs.splice(index, 1);
    this.saveTabs();
    if (this.active === tab) {
      const next = this.tabs[index] ?? this.tabs[index - 1];
      this.active = undefined;
      navigate(next !== undefined ? routeOf(this.project, next.key) : { page: "project", project: this.project }, { replace: true });
      if (next === undefined) this.activate(undefined);
    }
    this.renderTabs();
  }

  private renderTabs(): void {
    for (const tab of this.tabs) {
      const label = tab.key.kind === "file" ? (tab.key.path.split("/").pop() ?? tab.key.path) : tab.key.name;
      const isActive = tab === this.active;
      const close = h("button", {
        class: "tab-close",
        title: "Close tab",
        attrs: { "aria-label": `Close ${label}` },
        text: "×",
        onclick: (event) => {
          event.stopPropagation();
          this.closeTab(tab);
        },
      });
      tab.element = h(
        "div",
        {
          class: isActive ? "tab active" : "tab",
          testid: "tab",
          data: tab.key.kind === "file" ? { path: tab.key.path, active: isActive } : { terminal: tab.key.name, active: isActive },
          attrs: { role: "tab", "aria-selected": String(isActive), tabindex: 0, title: tab.key.kind === "file" ? tab.key.path : `Terminal ${tab.key.name}` },
          onclick: () => navigate(routeOf(this.project, tab.key)),
        },
        icon(tab.key.kind === "file" ? "file" : "terminal"),
        h("span", { class: "tab-label", text: label }),
        close,
      );
    }
    replaceChildren(this.tabBar, this.tabs.map((tab) => tab.element));
  }

  /**
   * Opens a new terminal at once, under the first `terminal-N` that is neither running nor open here. Others join it
   * from the list of running terminals (or by clicking the avatar of someone looking at it).
   */
  private newTerminal(): void {
    const open = this.tabs.flatMap((tab) => (tab.key.kind === "terminal" ? [tab.key.name] : []));
    const name = nextTerminalName(this.terminalList?.names ?? [], open);
    this.show({ kind: "terminal", name });
  }

  private renamed(from: string, to: string): void {
    const wasActive = this.active?.key;
    for (const tab of [...this.tabs]) {
      if (tab.key.kind !== "file") continue;
      const path = tab.key.path;
      if (path !== from && !path.startsWith(`${from}/`)) continue;
      const moved = to + path.slice(from.length);
      const active = tab === this.active;
      this.closeTabQuietly(tab);
      const reopened = this.openTab({ kind: "file", path: moved });
      if (active) navigate(routeOf(this.project, reopened.key), { replace: true });
    }
    if (wasActive === undefined) this.renderTabs();
  }

  private deleted(path: string): void {
    for (const tab of [...this.tabs]) {
      if (tab.key.kind === "file" && (tab.key.path === path || tab.key.path.startsWith(`${path}/`))) this.closeTab(tab);
    }
  }

  /** Closes a tab without moving to another (a rename reopens it under its new name). */
  private closeTabQuietly(tab: Tab): void {
    tab.pane.destroy();
    this.tabs.splice(this.tabs.indexOf(tab), 1);
    if (this.active === tab) this.active = undefined;
    this.saveTabs();
  }

  private storageKey(what: string): string {
    return `orrery.${what}.v1/${this.context.account.id}/${this.project}`;
  }

  private loadTabs(): TabKey[] {
    try {
      const value = JSON.parse(localStorage.getItem(this.storageKey("tabs")) ?? "[]") as unknown;
      if (!Array.isArray(value)) return [];
      return value.filter(
        (key): key is TabKey =>
          typeof key === "object" && key !== null && ((key.kind === "file" && typeof key.path === "string") || (key.kind === "terminal" && typeof key.name === "string")),
      );
    } catch {
      return [];
    }
  }

  private saveTabs(): void {
    try {
      const kept = this.tabs.filter((tab) => tab.failed !== true).map((tab) => tab.key);
      localStorage.setItem(this.storageKey("tabs"), JSON.stringify(kept));
    } catch {
      // Only a convenience.
    }
  }

  private loadActive(): TabKey | undefined {
    try {
      return (JSON.parse(localStorage.getItem(this.storageKey("active")) ?? "null") as TabKey | null) ?? undefined;
    } catch {
      return undefined;
    }
  }

  private saveActive(key: TabKey): void {
    try {
      localStorage.setItem(this.storageKey("active"), JSON.stringify(key));
    } catch {
      // Only a convenience.
    }
  }
}
