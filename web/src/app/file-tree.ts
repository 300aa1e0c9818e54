/**
 * The project's files as a tree: folders open and close in place, files open in a tab. New file, new folder, upload
 * and new terminal sit above it; rename, delete and download sit on each entry. Listings come from the file service
 * and are refreshed after every change made here, when the channel (re)opens, and every few seconds while the page is
 * visible (others, and the terminal, change files too).
 */

import { FileError, type FilesSession } from "../net/files";
import type { Entry } from "../protocol/local-hub";
import { confirm, prompt } from "./dialog";
import { formatBytes, h, relativeTime, replaceChildren } from "./dom";
import { describeError } from "./errors";
import { showError, showInfo } from "./toast";
import { downloadFile, uploadFiles } from "./transfer";

export interface FileTreeOptions {
  files: FilesSession;
  /** Where the tree keeps which folders are open, per project. */
  storageKey: string;
  /** Opens a file in a tab in front, with the focus in it. */
  openFile(path: string): void;
  newTerminal(): void;
  /** A file or folder was renamed (open tabs follow it). */
  renamed(from: string, to: string): void;
  /** A file or folder was deleted (its tabs close). */
  deleted(path: string): void;
}

/** The folder the history lives in: not the user's to browse or change. */
const HIDDEN = new Set([".orrery"]);
const REFRESH_MS = 5000;

/** A path as the file service wants it: relative, `/`-separated, without empty or `.` parts. */
export function cleanPath(path: string): string {
  return path
    .split("/")
    .map((part) => part.trim())
    .filter((part) => part !== "" && part !== ".")
    .join("/");
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

function join(folder: string, name: string): string {
  return folder === "" ? name : `${folder}/${name}`;
}

function sortEntries(entries: Entry[]): Entry[] {
  return [...entries].sort((a, b) => {
    const aDir = a.kind === "directory" ? 0 : 1;
    const bDir = b.kind === "directory" ? 0 : 1;
    return aDir - bDir || a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: "base" });
  });
}

export class FileTree {
  readonly element: HTMLElement;
  private readonly tree: HTMLElement;
  private readonly status: HTMLElement;
  private readonly uploadInput: HTMLInputElement;
  private readonly listings = new Map<string, Entry[]>();
  private readonly expanded: Set<string>;
  /** The folder new files, folders and uploads go into. */
  private folder = "";
  private active: string | undefined;
  private timer: ReturnType<typeof setInterval>;
  private refreshing = false;
  private readonly stopOnOpen: () => void;

  constructor(private readonly options: FileTreeOptions) {
    this.expanded = new Set(this.loadExpanded());
    this.uploadInput = h("input", { type: "file", hidden: true, attrs: { multiple: true } });
    this.uploadInput.addEventListener("change", () => {
      const chosen = [...(this.uploadInput.files ?? [])];
      this.uploadInput.value = "";
      if (chosen.length === 0) return;
      if (this.folder !== "" && !this.expanded.has(this.folder)) {
        this.expanded.add(this.folder);
        this.saveExpanded();
      }
      void uploadFiles(options.files, this.folder, chosen, (text) => this.setStatus(text)).then(() => this.refresh());
    });
    this.status = h("div", { class: "tree-status", hidden: true });
    this.tree = h("div", { class: "tree", testid: "file-tree", attrs: { role: "tree", "aria-label": "Files", tabindex: -1 } }, h("div", { class: "tree-empty", text: "Loading files…" }));
    this.element = h(
      "aside",
      { class: "sidebar" },
      h(
        "div",
        { class: "sidebar-toolbar" },
        h("button", { class: "tool", testid: "new-file", title: "New file", onclick: () => void this.newFile() }, icon("file-plus"), h("span", { text: "File" })),
        h("button", { class: "tool", testid: "new-folder", title: "New folder", onclick: () => void this.newFolder() }, icon("folder-plus"), h("span", { text: "Folder" })),
        h("button", { class: "tool", testid: "upload", title: "Upload files from your computer", onclick: () => this.uploadInput.click() }, icon("upload"), h("span", { text: "Upload" })),
        h("button", { class: "tool", testid: "new-terminal", title: "Open a terminal", onclick: () => options.newTerminal() }, icon("terminal"), h("span", { text: "Terminal" })),
        this.uploadInput,
      ),
      this.status,
      this.tree,
    );
    this.stopOnOpen = options.files.onOpen(() => void this.refresh());
    this.timer = setInterval(() => {
      if (document.visibilityState === "visible" && options.files.isOpen) void this.refresh();
    }, REFRESH_MS);
    void this.refresh();
  }

  destroy(): void {
    clearInterval(this.timer);
    this.stopOnOpen();
    this.element.remove();
  }

  /** Highlights the file shown in the editor, and opens the folders leading to it. */
  setActive(path: string | undefined): void {
    this.active = path;
    if (path !== undefined) {
      let folder = parentOf(path);
      let opened = false;
      while (folder !== "") {
        if (!this.expanded.has(folder)) {
          this.expanded.add(folder);
          opened = true;
        }
        folder = parentOf(folder);
      }
      if (opened) {
        this.saveExpanded();
        void this.refresh();
      }
    }
    this.render();
  }

  /** Lists the top folder and every open one, then draws the tree. */
  async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      const folders = ["", ...[...this.expanded].sort()];
      const results = await Promise.allSettled(folders.map((folder) => this.options.files.list(folder)));
      results.forEach((result, index) => {
        const folder = folders[index]!;
        if (result.status === "fulfilled") this.listings.set(folder, sortEntries(result.value));
        else if (folder !== "") {
          // A folder that is gone (renamed, deleted elsewhere) closes.
          const code = (result.reason as { code?: string }).code;
          if (code === "not_found" || code === "refused") {
            this.expanded.delete(folder);
            this.listings.delete(folder);
          }
        } else if ((result.reason as { code?: string }).code !== "disconnected") {
          this.tree.dataset.problem = describeError(result.reason);
        }
      });
      this.render();
    } finally {
      this.refreshing = false;
    }
  }

  private render(): void {
    const root = this.listings.get("");
    if (root === undefined) return;
    const rows: HTMLElement[] = [];
    this.renderFolder("", 0, rows);
    if (rows.length === 0) {
      rows.push(h("div", { class: "tree-empty" }, "This project has no files yet. Create one with ", h("strong", { text: "File" }), " above, or upload some."));
    }
    replaceChildren(this.tree, rows);
  }

  private renderFolder(folder: string, depth: number, rows: HTMLElement[]): void {
    for (const entry of this.listings.get(folder) ?? []) {
      if (depth === 0 && HIDDEN.has(entry.name)) continue;
      const path = join(folder, entry.name);
      const isFolder = entry.kind === "directory";
      const open = isFolder && this.expanded.has(path);
      rows.push(this.renderEntry(entry, path, depth, open));
      if (open) this.renderFolder(path, depth + 1, rows);
    }
  }

  private renderEntry(entry: Entry, path: string, depth: number, open: boolean): HTMLElement {
    const isFolder = entry.kind === "directory";
    const action = (testid: string, label: string, iconName: string, run: () => void) =>
      h("button", {
        class: "entry-action",
        testid,
        title: label,
        attrs: { "aria-label": `${label} ${entry.name}` },
        onclick: (event) => {
          event.stopPropagation();
          run();
        },
      }, icon(iconName));
    const classes = ["file-entry", isFolder ? "is-folder" : "is-file"];
    if (path === this.active) classes.push("active");
    if (isFolder && path === this.folder) classes.push("target");
    const row = h(
      "div",
      {
        class: classes.join(" "),
        testid: "file-entry",
        data: { path, kind: entry.kind },
        attrs: { role: "treeitem", tabindex: 0, "aria-expanded": isFolder ? String(open) : undefined, title: isFolder ? path : `${path} · ${formatBytes(entry.size)} · changed ${relativeTime(entry.modified_ms)}` },
        onclick: () => this.activate(path, isFolder),
        onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            this.activate(path, isFolder);
          }
        },
      },
      h("span", { class: "entry-indent", attrs: { style: `width: ${depth * 14}px` } }),
      h("span", { class: "entry-twisty", text: isFolder ? (open ? "▾" : "▸") : "" }),
      icon(isFolder ? (open ? "folder-open" : "folder") : "file"),
      h("span", { class: "entry-name", text: entry.name }),
      h(
        "span",
        { class: "entry-actions" },
        isFolder ? null : action("entry-download", "Download", "download", () => void downloadFile(this.options.files, path)),
        action("entry-rename", "Rename", "edit", () => void this.rename(path)),
        action("entry-delete", "Delete", "trash", () => void this.remove(path, isFolder)),
      ),
    );
    return row;
  }

  private activate(path: string, isFolder: boolean): void {
    if (isFolder) {
      this.folder = path;
      if (this.expanded.has(path)) this.expanded.delete(path);
      else this.expanded.add(path);
      this.saveExpanded();
      this.render();
      void this.refresh();
    } else {
      this.folder = parentOf(path);
      this.options.openFile(path);
    }
  }

  private async newFile(): Promise<void> {
    const prefix = this.folder === "" ? "" : `${this.folder}/`;
    const path = await prompt({
      title: "New file",
      label: "File name (folders are separated by /)",
      value: prefix,
      placeholder: "e.g. hello.py",
      okText: "Create",
      select: [prefix.length, prefix.length],
      submit: async (value) => {
        const clean = cleanPath(value);
        if (clean === "") throw new Error("Please enter a file name.");
        if (await this.exists(clean)) throw new Error(`${clean} already exists. Choose another name.`);
        const folder = parentOf(clean);
        if (folder !== "" && !(await this.exists(folder))) await this.makeFolders(folder);
        await this.options.files.write(clean, "");
      },
    });
    if (path === undefined) return;
    // At once, before anything else is awaited: the focus goes to the new file's editor, where the user types next.
    this.options.openFile(cleanPath(path));
    await this.refresh();
  }

  /** Makes an empty file (and the folders it goes in); one that exists meanwhile is left as it is. */
  async createFile(path: string): Promise<void> {
    const folder = parentOf(path);
    if (folder !== "" && !(await this.exists(folder))) await this.makeFolders(folder);
    if (!(await this.exists(path))) await this.options.files.write(path, "");
    await this.refresh();
  }

  private async newFolder(): Promise<void> {
    const prefix = this.folder === "" ? "" : `${this.folder}/`;
    const path = await prompt({
      title: "New folder",
      label: "Folder name",
      value: prefix,
      okText: "Create",
      select: [prefix.length, prefix.length],
      submit: async (value) => {
        const clean = cleanPath(value);
        if (clean === "") throw new Error("Please enter a folder name.");
        await this.makeFolders(clean);
      },
    });
    if (path === undefined) return;
    const clean = cleanPath(path);
    this.folder = clean;
    this.expanded.add(clean);
    this.saveExpanded();
    await this.refresh();
  }

  private async makeFolders(path: string): Promise<void> {
    const parts = path.split("/");
    for (let index = 1; index <= parts.length; index++) {
      const prefix = parts.slice(0, index).join("/");
      if (index < parts.length && (await this.exists(prefix))) continue;
      await this.options.files.mkdir(prefix);
    }
  }

  private async exists(path: string): Promise<boolean> {
    try {
      await this.options.files.stat(path);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === "not_found") return false;
      throw error;
    }
  }

  private async rename(path: string): Promise<void> {
    const slash = path.lastIndexOf("/") + 1;
    const dot = path.lastIndexOf(".");
    const nameEnd = dot > slash ? dot : path.length;
    /** The folder the entry moved into, when the rename had to make it. */
    let madeFolder: string | undefined;
    const to = await prompt({
      title: "Rename",
      label: "New name (you can also move it by changing the folder)",
      value: path,
      okText: "Rename",
      select: [slash, nameEnd],
      submit: async (value) => {
        const clean = cleanPath(value);
        if (clean === "" || clean === path) return;
        const alreadyExists = new Error(`${clean} already exists. Choose another name.`);
        if (await this.exists(clean)) throw alreadyExists;
        // The file service makes the folders it moves into; this only says so afterwards.
        const folder = parentOf(clean);
        madeFolder = folder !== "" && !(await this.exists(folder)) ? folder : undefined;
        try {
          await this.options.files.rename(path, clean);
        } catch (error) {
          throw error instanceof FileError && error.code === "already_exists" ? alreadyExists : error;
        }
      },
    });
    const clean = to === undefined ? path : cleanPath(to);
    if (clean !== path) {
      if (this.expanded.delete(path)) this.expanded.add(clean);
      // Show where it went: every folder down to it opens.
      for (let folder = parentOf(clean); folder !== ""; folder = parentOf(folder)) this.expanded.add(folder);
      this.saveExpanded();
      this.options.renamed(path, clean);
      if (madeFolder !== undefined) showInfo(`Made the folder ${madeFolder} and moved ${path} into it.`);
    }
    await this.refresh();
    // The row the dialog came from was drawn again meanwhile: the focus goes back to it, under its new name.
    this.focusEntry(clean);
  }

  /** Moves the keyboard focus to the entry at `path`, if it is shown and nothing else took the focus since. */
  private focusEntry(path: string): void {
    const active = document.activeElement;
    if (active !== null && active !== document.body && this.element.contains(active) === false && active.isConnected) return;
    for (const row of this.tree.querySelectorAll<HTMLElement>('[data-testid="file-entry"]')) {
      if (row.dataset.path === path) {
        row.focus({ preventScroll: false });
        return;
      }
    }
    this.tree.focus();
  }

  private async remove(path: string, isFolder: boolean): Promise<void> {
    const ok = await confirm(
      isFolder ? "Delete folder" : "Delete file",
      isFolder
        ? `Delete the folder ${path} and everything in it? This deletes it for everyone in the project.`
        : `Delete ${path}? This deletes it for everyone in the project.`,
      "Delete",
      true,
    );
    if (!ok) {
      this.focusEntry(path);
      return;
    }
    try {
      await this.options.files.remove(path);
      this.expanded.delete(path);
      this.saveExpanded();
      if (this.folder === path || this.folder.startsWith(`${path}/`)) this.folder = parentOf(path);
      this.options.deleted(path);
    } catch (error) {
      showError(`Could not delete ${path}: ${describeError(error)}`);
    }
    await this.refresh();
    this.focusEntry(parentOf(path));
  }

  private setStatus(text: string | undefined): void {
    this.status.hidden = text === undefined;
    this.status.textContent = text ?? "";
  }

  private loadExpanded(): string[] {
    try {
      const value = JSON.parse(localStorage.getItem(this.options.storageKey) ?? "[]") as unknown;
      return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
    } catch {
      return [];
    }
  }

  private saveExpanded(): void {
    try {
      localStorage.setItem(this.options.storageKey, JSON.stringify([...this.expanded]));
    } catch {
      // Only a convenience.
    }
  }
}

/** Small line icons, drawn inline so they need no font or request. */
export function icon(name: string): SVGSVGElement {
  const paths: Record<string, string> = {
    file: "M6 2h7l5 5v13a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zM13 2v5h5",
    "file-plus": "M6 2h7l5 5v13a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zM13 2v5h5M11 11v6M8 14h6",
    folder: "M3 6a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z",
    "folder-open": "M3 6a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v2H7l-4 8zM3 18l4-8h16l-4 8z",
    "folder-plus": "M3 6a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2zM12 10v6M9 13h6",
    upload: "M12 16V4M7 9l5-5 5 5M4 20h16",
    download: "M12 4v12M7 11l5 5 5-5M4 20h16",
    terminal: "M4 5h16v14H4zM7 9l3 3-3 3M12 15h5",
    edit: "M4 20h4L19 9l-4-4L4 16zM14 6l4 4",
    trash: "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13",
  };
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon icon-${name}`);
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", paths[name] ?? paths.file!);
  svg.appendChild(path);
  return svg;
}
